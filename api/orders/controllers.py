"""Orders API: generic ingest, reads, cancellation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.di import Provide
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody
from litestar.params import Parameter
from litestar.response import Stream
from litestar.status_codes import HTTP_202_ACCEPTED

from api.common import MAX_INT, present
from api.decoding import decode_json, peek_field, validation_error
from api.orders.schemas import (
    CancelRequest,
    DecryptedReceiverOut,
    DecryptIn,
    IngestEnvelope,
    IngestError,
    IngestRequest,
    IngestResponse,
    IngestResult,
    OrderOut,
    OrderPageOut,
    ReceiverIn,
    ResolveRequest,
    ShipRequest,
    UnifiedOrder,
)
from api.security import Tokens
from orderhub.auth.policy import POLICY, check_warehouse
from orderhub.auth.service import UserView
from orderhub.channels import decrypt
from orderhub.channels.errors import ChannelError
from orderhub.channels.service import (
    ChannelRef,
    get_channel_ref,
    release_signature,
    settle_signature,
    verify_signature,
)
from orderhub.errors import AuthenticationFailed, PermissionDenied, ValidationFailed
from orderhub.metrics import INGEST_RESULTS
from orderhub.orders import export, pipeline, search, service, shipping, sla
from orderhub.orders.commands import IngestOutcome, NewOrder, NewOrderLine, OrderView, Receiver
from orderhub.orders.search import OrderFilter
from orderhub.settings import get_settings

__all__ = ["OrderController"]

MAX_BATCH = 500
OrderId = Annotated[int, Parameter(ge=1, le=MAX_INT)]


def _inline_schema(type_: Any) -> dict[str, Any]:
    """msgspec's JSON schema for ``type_`` with its ``$defs`` inlined (the spec's components are generated)."""
    schema = msgspec.json.schema(type_)
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


@dataclass
class _IngestOperation(Operation):
    """The handler reads the raw body (it is signed), so the documented body is set here."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="1–500 orders; money in fen; times ISO 8601 with offset",
            content={"application/json": OpenAPIMediaType(schema=_inline_schema(IngestRequest))},  # type: ignore[arg-type]
        )


def receiver_in(data: ReceiverIn) -> Receiver:
    return service.make_receiver(
        name=data.name,
        phone=data.phone,
        country=data.country,
        address=data.address,
        province=data.province,
        city=data.city,
        district=data.district,
        detail=data.detail,
        region=data.region,
        postcode=data.postcode,
        address_lines=data.address_lines,
    )


def _to_command(order: UnifiedOrder, raw: msgspec.Raw) -> NewOrder:
    return NewOrder(
        external_id=order.external_id,
        placed_at=order.created_at,
        paid_at=order.paid_at,
        ship_by=order.ship_by,
        buyer_nick=order.buyer.nick,
        buyer_phone=order.buyer.phone,
        receiver=receiver_in(order.receiver),
        lines=tuple(NewOrderLine(sku=line.sku, qty=line.qty, unit_price=line.unit_price) for line in order.lines),
        shipping_fee=order.shipping_fee,
        discount=order.discount,
        paid_amount=order.paid_amount,
        platform_discount=order.platform_discount,
        buyer_memo=order.buyer_memo,
        seller_memo=order.seller_memo,
        raw=msgspec.json.decode(raw),
    )


def _decode_orders(envelope: IngestEnvelope) -> list[NewOrder | IngestOutcome]:
    decoded: list[NewOrder | IngestOutcome] = []
    for index, raw in enumerate(envelope.orders):
        try:
            order = msgspec.json.decode(raw, type=UnifiedOrder)
        except msgspec.ValidationError as exc:
            error = validation_error(exc)
            external_id = peek_field(raw, "external_id")
            decoded.append(
                IngestOutcome(
                    external_id=external_id if isinstance(external_id, str) else f"#{index}",
                    status="rejected",
                    error_code=error.code,
                    error_message=error.message,
                    error_field=error.field,
                )
            )
            continue
        decoded.append(_to_command(order, raw))
    return decoded


async def _ingest(channel: ChannelRef, body: bytes, actor: str, *, signed: bool) -> list[IngestOutcome]:
    envelope = decode_json(body, IngestEnvelope)
    if signed and envelope.channel != channel.code:
        raise AuthenticationFailed(
            "请求体中的 channel 与 X-OrderHub-Channel 不一致", code=ChannelError.CHANNEL_MISMATCH, field="channel"
        )
    if not channel.active:
        raise ValidationFailed("渠道已停用", code=ChannelError.CHANNEL_INACTIVE, field="channel")
    if not 1 <= len(envelope.orders) <= MAX_BATCH:
        raise ValidationFailed(f"每次推送 1–{MAX_BATCH} 个订单", field="orders")
    return await service.ingest(channel.id, channel.code, _decode_orders(envelope), actor=actor)


def order_out(user: UserView, view: OrderView) -> OrderOut:
    """The order as this user may see it: the receiver in clear for admins and managers (what the hub holds in
    clear), masked for everyone else and masked for everyone while the platform keeps it encrypted."""
    shown = service.shown_to(view, user.role)
    out = present(shown, OrderOut)
    out.receiver.encrypted = view.receiver.cipher is not None
    out.receiver.masked = shown is not view
    return out


async def _order_filter(
    request: Request[UserView, Any, Any],
    channel: str | None = None,
    external_id: Annotated[str | None, Parameter(description="the platform's order number")] = None,
    status: str | None = None,
    hold_queue: str | None = None,
    reason: str | None = None,
    warehouse: Annotated[str | None, Parameter(description="warehouse code or id")] = None,
    created_from: Annotated[str | None, Parameter(description="ISO 8601 with offset, inclusive")] = None,
    created_to: Annotated[str | None, Parameter(description="ISO 8601 with offset, exclusive")] = None,
    paid_from: Annotated[str | None, Parameter(description="ISO 8601 with offset, inclusive")] = None,
    paid_to: Annotated[str | None, Parameter(description="ISO 8601 with offset, exclusive")] = None,
    phone: Annotated[str | None, Parameter(description="receiver phone: all digits, or the last four")] = None,
    waybill_no: str | None = None,
    sku: Annotated[str | None, Parameter(description="SKU code: orders with a line of it")] = None,
    tag: str | None = None,
) -> OrderFilter:
    """The search filters of the order list and its export, from the query string."""
    return OrderFilter(
        channel=channel,
        external_id=external_id,
        status=status,
        hold_queue=hold_queue,
        reason=reason,
        warehouse=warehouse,
        created_from=created_from,
        created_to=created_to,
        paid_from=paid_from,
        paid_to=paid_to,
        phone=phone,
        waybill_no=waybill_no,
        sku=sku,
        tag=tag,
        scope_warehouse_id=request.user.warehouse_id,
    )


class OrderController(Controller):
    path = "/api/v1/orders"
    tags = ["orders"]

    @post(
        "/ingest",
        status_code=HTTP_202_ACCEPTED,
        operation_class=_IngestOperation,
        summary="Push orders (own store / ERP contract)",
        description=(
            "Authenticate with an admin bearer token, or sign with the channel's key: headers "
            "`X-OrderHub-Channel`, `X-OrderHub-Timestamp` (unix seconds) and `X-OrderHub-Signature` = hex "
            'HMAC-SHA256(channel secret, timestamp + "\\n" + raw body). Signatures are accepted within 5 minutes '
            "and once only. Idempotent on (channel, external_id). Orders are validated and stored here; the "
            "worker does the rest."
        ),
    )
    async def ingest(self, request: Request[Any, Any, Any], tokens: Tokens) -> IngestResponse:
        body = await request.body()
        headers = request.headers
        signature = None
        if authorization := headers.get("authorization"):
            user = await tokens.user_for(authorization)
            if not POLICY["POST /api/v1/orders/ingest"].allows(user.role):
                raise PermissionDenied("只有管理员令牌或渠道签名可以推送订单")
            envelope = decode_json(body, IngestEnvelope)
            channel = await get_channel_ref(envelope.channel)
            check_warehouse(user.warehouse_id, channel.default_warehouse_id, field="channel")
            actor = f"user:{user.username}"
        else:
            signature = headers.get("x-orderhub-signature")
            channel = await verify_signature(
                channel_code=headers.get("x-orderhub-channel"),
                timestamp=headers.get("x-orderhub-timestamp"),
                signature=signature,
                body=body,
            )
            actor = f"channel:{channel.code}"
        try:
            outcomes = await _ingest(channel, body, actor, signed=signature is not None)
        except BaseException:
            # Nothing was stored: the sender may send the very same signed request again.
            if signature is not None:
                await release_signature(channel.code, signature)
            raise
        if signature is not None:  # its answer is stored: the same signature is a replay from now on
            await settle_signature(channel.code, signature)
        results = [
            IngestResult(
                external_id=o.external_id,
                status=o.status,
                order_id=o.order_id,
                error=IngestError(code=o.error_code, message=o.error_message or "", field=o.error_field)
                if o.error_code
                else None,
            )
            for o in outcomes
        ]
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for o in outcomes:
            counts[o.status] += 1
        for result, count in counts.items():
            if count:
                INGEST_RESULTS.labels(channel.code, result).inc(count)
        return IngestResponse(channel=channel.code, results=results, **counts)

    @get(
        "/",
        summary="Find orders: every filter ANDed, newest first, keyset pagination",
        dependencies={"order_filter": Provide(_order_filter)},
        description=(
            "Filters: `channel`, `external_id` (platform order number), `status`, `hold_queue`, `reason`, "
            "`warehouse` (code or id), `created_from`/`created_to` and `paid_from`/`paid_to` (ISO 8601 with an "
            "offset; from inclusive, to exclusive; a time without an offset is refused), `phone` (the receiver's "
            "full number or its last four digits), `waybill_no`, `sku` (orders with a line of that SKU code), `tag`. "
            "`sort`: `received` (default, newest received first) or `created` (newest placed first). Page on with "
            "`cursor` = the previous page's `next_cursor` (same filters and sort)."
        ),
    )
    async def list_orders(
        self,
        request: Request[UserView, Any, Any],
        order_filter: OrderFilter,
        sort: Annotated[str | None, Parameter(description="received (default) | created")] = None,
        cursor: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> OrderPageOut:
        page = await search.search_orders(order_filter, sort=sort, cursor=cursor, limit=limit)
        return OrderPageOut(items=[order_out(request.user, v) for v in page.items], next_cursor=page.next_cursor)

    @get(
        "/export",
        summary="Export the orders a search finds as CSV or XLSX (zh-CN headers, Beijing time, yuan)",
        dependencies={"order_filter": Provide(_order_filter)},
        description=(
            "The same filters and `sort` as `GET /api/v1/orders`; every matching order, streamed (at most "
            f"{export.MAX_ROWS} rows: a larger result is refused with `export_too_large`). CSV is UTF-8 with a BOM; "
            "times are Asia/Shanghai, money is yuan with two decimals, the receiver's name and phone are masked."
        ),
    )
    async def export_orders(
        self,
        order_filter: OrderFilter,
        export_format: Annotated[str | None, Parameter(query="format", description="csv (default) | xlsx")] = None,
        sort: Annotated[str | None, Parameter(description="received (default) | created")] = None,
    ) -> Stream:
        chosen = await export.prepare_export(order_filter, export_format, sort=sort)
        return Stream(
            export.stream_export(order_filter, chosen, sort=sort),
            media_type=chosen.media_type,
            headers={"Content-Disposition": f'attachment; filename="{export.export_filename(chosen)}"'},
        )

    @get(
        "/at-risk",
        summary="Open orders that will miss ship_by at the current pace (soonest first; overdue included)",
        description="Orders not yet shipped whose ship-by deadline falls within `margin_minutes` (default "
        "ORDERHUB_AT_RISK_MARGIN_MINUTES) of now at the current pace, plus those already overdue; a user bound to a "
        "warehouse sees its orders only.",
    )
    async def at_risk(
        self,
        request: Request[UserView, Any, Any],
        margin_minutes: Annotated[int | None, Parameter(ge=0, le=7 * 24 * 60)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 200,
    ) -> list[OrderOut]:
        margin = get_settings().at_risk_margin_minutes if margin_minutes is None else margin_minutes
        views = await sla.list_at_risk(margin_minutes=margin, warehouse_id=request.user.warehouse_id, limit=limit)
        return [order_out(request.user, v) for v in views]

    @get(
        "/{order_id:int}",
        summary="One order with its lines and events",
        description="The order with its receiver, lines (SKU, quantity, prices in fen), status and the audit trail "
        "of its events; a user bound to a warehouse sees its orders only.",
    )
    async def get_order(self, request: Request[UserView, Any, Any], order_id: OrderId) -> OrderOut:
        view = await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        return order_out(request.user, view)

    @post(
        "/{order_id:int}/ship",
        status_code=200,
        summary="Ship a packed order (or a ready one, shipped by hand) with its carrier and waybill number",
        description="Consumes the reserved stock, closes the shipment, and queues the platform write-back.",
    )
    async def ship(self, request: Request[UserView, Any, Any], order_id: OrderId, data: ShipRequest) -> OrderOut:
        await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        await shipping.ship_order(
            order_id, carrier=data.carrier, waybill_no=data.waybill_no, actor=f"user:{request.user.username}"
        )
        return order_out(request.user, await service.get_order(order_id))

    @post(
        "/{order_id:int}/cancel",
        summary="Cancel an order not yet picked; reserved stock is released",
        description="Allowed until picking starts; the `reason` is recorded in the order's events and its reserved "
        "stock becomes available again.",
    )
    async def cancel(self, request: Request[UserView, Any, Any], order_id: OrderId, data: CancelRequest) -> OrderOut:
        await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        await pipeline.cancel_order(order_id, reason=data.reason, actor=f"user:{request.user.username}")
        return order_out(request.user, await service.get_order(order_id))

    @post(
        "/{order_id:int}/release",
        summary="Release a held order (next pending hold, or back into the pipeline)",
        description="For an order held by a rule or for approval: clears the current hold (with an optional `note`); "
        "the order waits on its next hold, if any, or goes on through the pipeline.",
    )
    async def release(self, request: Request[UserView, Any, Any], order_id: OrderId, data: ResolveRequest) -> OrderOut:
        await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        await pipeline.release_hold(order_id, note=data.note, actor=f"user:{request.user.username}")
        return order_out(request.user, await service.get_order(order_id))

    @post(
        "/{order_id:int}/retry",
        summary="Send an order in exception through the pipeline again (after fixing the cause)",
        description="For an order in exception (unknown SKU, out of stock, no warehouse …): after fixing the cause, "
        "the pipeline runs the order again from the start.",
    )
    async def retry(self, request: Request[UserView, Any, Any], order_id: OrderId, data: ResolveRequest) -> OrderOut:
        await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        await pipeline.retry_exception(order_id, note=data.note, actor=f"user:{request.user.username}")
        return order_out(request.user, await service.get_order(order_id))

    @patch(
        "/{order_id:int}/receiver",
        summary="Correct the receiver of an order in exception (bad_address, bad_phone …) and retry it",
        description="Give the corrected name, phone and address (one line `address`, or province, city, district and "
        "detail); the address is standardised again and the order is retried.",
    )
    async def fix_receiver(self, request: Request[UserView, Any, Any], order_id: OrderId, data: ReceiverIn) -> OrderOut:
        await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        receiver = receiver_in(data)
        await pipeline.fix_receiver(order_id, receiver, actor=f"user:{request.user.username}")
        return order_out(request.user, await service.get_order(order_id))

    @post(
        "/{order_id:int}/receiver/decrypt",
        status_code=200,
        summary="Decrypt an encrypted receiver through its platform, to look at it (audited)",
        description="For an order whose platform keeps the receiver encrypted (抖店, 拼多多, 淘宝/天猫): asks the "
        "platform's decrypt API (`pdd.open.decrypt.batch`, `order.batchDecrypt`, `top.oaid.decrypt`) and answers the "
        "clear name, phone and address — never stored; the decrypt is recorded (who, why, when: "
        "`GET …/receiver/decrypts`) and counts against the shop's daily budget (`ORDERHUB_DECRYPT_DAILY_LIMIT`) and "
        "the platform's quota. An order the hub holds in clear answers what it holds. A `reason` is required. Errors: "
        "409 `platform_decrypt_refused` (the platform or the budget refused; print through the platform's e-waybill "
        "service instead), 502 for the platform's other refusals, 503 `platform_unavailable`.",
    )
    async def decrypt_receiver(
        self, request: Request[UserView, Any, Any], order_id: OrderId, data: DecryptIn
    ) -> DecryptedReceiverOut:
        await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        clear = await decrypt.decrypt_receiver(
            order_id, scene="view", actor=f"user:{request.user.username}", reason=data.reason
        )
        return DecryptedReceiverOut(
            name=clear.name,
            phone=clear.phone,
            province=clear.province,
            city=clear.city,
            district=clear.district,
            detail=clear.detail,
            address=clear.address,
        )

    @get(
        "/{order_id:int}/receiver/decrypts",
        summary="Who decrypted the order's receiver, when and why",
        description="The order's recorded decrypts through its platform, newest first (scene `waybill`: a carrier's "
        "own API needed the clear receiver; `view`: a person asked), with the platform's answer — never the values.",
    )
    async def receiver_decrypts(
        self, request: Request[UserView, Any, Any], order_id: OrderId
    ) -> list[decrypt.DecryptView]:
        await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        return present(await decrypt.decrypts_of_order(order_id), list[decrypt.DecryptView])
