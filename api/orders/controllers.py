"""Orders API: generic ingest, reads, cancellation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody
from litestar.params import Parameter
from litestar.status_codes import HTTP_202_ACCEPTED

from api.common import MAX_INT, present
from api.decoding import decode_json, peek_field, validation_error
from api.orders.schemas import (
    CancelRequest,
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
from api.security import Tokens, requires
from orderhub.auth.service import Role, UserView
from orderhub.channels.errors import ChannelError
from orderhub.channels.service import ChannelRef, get_channel_ref, release_signature, verify_signature
from orderhub.errors import AuthenticationFailed, PermissionDenied, ValidationFailed
from orderhub.metrics import INGEST_RESULTS
from orderhub.orders import pipeline, service, shipping, sla
from orderhub.orders.commands import IngestOutcome, NewOrder, NewOrderLine, Receiver
from orderhub.settings import get_settings

__all__ = ["OrderController"]

MAX_BATCH = 500
OrderId = Annotated[int, Parameter(ge=1, le=MAX_INT)]
READERS = (Role.ADMIN, Role.MANAGER, Role.FINANCE, Role.APPROVER)


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


def _to_command(order: UnifiedOrder, raw: msgspec.Raw) -> NewOrder:
    return NewOrder(
        external_id=order.external_id,
        placed_at=order.created_at,
        paid_at=order.paid_at,
        ship_by=order.ship_by,
        buyer_nick=order.buyer.nick,
        buyer_phone=order.buyer.phone,
        receiver=Receiver(
            name=order.receiver.name,
            phone=order.receiver.phone,
            province=order.receiver.province,
            city=order.receiver.city,
            district=order.receiver.district,
            detail=order.receiver.detail,
            address=order.receiver.address,
        ),
        lines=tuple(NewOrderLine(sku=line.sku, qty=line.qty, unit_price=line.unit_price) for line in order.lines),
        shipping_fee=order.shipping_fee,
        discount=order.discount,
        paid_amount=order.paid_amount,
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
            if user.role != Role.ADMIN.value:
                raise PermissionDenied("只有管理员令牌或渠道签名可以推送订单")
            envelope = decode_json(body, IngestEnvelope)
            channel = await get_channel_ref(envelope.channel)
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

    @get("/", guards=[requires(*READERS)], summary="List orders (newest first, keyset pagination)")
    async def list_orders(
        self,
        request: Request[UserView, Any, Any],
        channel: str | None = None,
        external_id: str | None = None,
        status: str | None = None,
        hold_queue: str | None = None,
        reason: str | None = None,
        cursor: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> OrderPageOut:
        page = await service.list_orders(
            channel=channel,
            external_id=external_id,
            status=status,
            hold_queue=hold_queue,
            reason=reason,
            warehouse_id=request.user.warehouse_id,
            cursor=cursor,
            limit=limit,
        )
        return present(page, OrderPageOut)

    @get(
        "/at-risk",
        guards=[requires(*READERS)],
        summary="Open orders that will miss ship_by at the current pace (soonest first; overdue included)",
    )
    async def at_risk(
        self,
        request: Request[UserView, Any, Any],
        margin_minutes: Annotated[int | None, Parameter(ge=0, le=7 * 24 * 60)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 200,
    ) -> list[OrderOut]:
        margin = get_settings().at_risk_margin_minutes if margin_minutes is None else margin_minutes
        views = await sla.list_at_risk(margin_minutes=margin, warehouse_id=request.user.warehouse_id, limit=limit)
        return present(views, list[OrderOut])

    @get("/{order_id:int}", guards=[requires(*READERS)], summary="One order with its lines and events")
    async def get_order(self, request: Request[UserView, Any, Any], order_id: OrderId) -> OrderOut:
        view = await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        return present(view, OrderOut)

    @post(
        "/{order_id:int}/ship",
        guards=[requires(Role.ADMIN, Role.MANAGER, Role.PACKER)],
        status_code=200,
        summary="Ship a packed order (or a ready one, shipped by hand) with its carrier and waybill number",
        description="Consumes the reserved stock, closes the shipment, and queues the platform write-back.",
    )
    async def ship(self, request: Request[UserView, Any, Any], order_id: OrderId, data: ShipRequest) -> OrderOut:
        await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        await shipping.ship_order(
            order_id, carrier=data.carrier, waybill_no=data.waybill_no, actor=f"user:{request.user.username}"
        )
        return present(await service.get_order(order_id), OrderOut)

    @post(
        "/{order_id:int}/cancel",
        guards=[requires(Role.ADMIN, Role.MANAGER)],
        summary="Cancel an order not yet picked; reserved stock is released",
    )
    async def cancel(self, request: Request[UserView, Any, Any], order_id: OrderId, data: CancelRequest) -> OrderOut:
        await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        await pipeline.cancel_order(order_id, reason=data.reason, actor=f"user:{request.user.username}")
        return present(await service.get_order(order_id), OrderOut)

    @post(
        "/{order_id:int}/release",
        guards=[requires(Role.ADMIN, Role.MANAGER, Role.APPROVER)],
        summary="Release a held order (next pending hold, or back into the pipeline)",
    )
    async def release(self, request: Request[UserView, Any, Any], order_id: OrderId, data: ResolveRequest) -> OrderOut:
        await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        await pipeline.release_hold(order_id, note=data.note, actor=f"user:{request.user.username}")
        return present(await service.get_order(order_id), OrderOut)

    @post(
        "/{order_id:int}/retry",
        guards=[requires(Role.ADMIN, Role.MANAGER)],
        summary="Send an order in exception through the pipeline again (after fixing the cause)",
    )
    async def retry(self, request: Request[UserView, Any, Any], order_id: OrderId, data: ResolveRequest) -> OrderOut:
        await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        await pipeline.retry_exception(order_id, note=data.note, actor=f"user:{request.user.username}")
        return present(await service.get_order(order_id), OrderOut)

    @patch(
        "/{order_id:int}/receiver",
        guards=[requires(Role.ADMIN, Role.MANAGER)],
        summary="Correct the receiver of an order in exception (bad_address, bad_phone …) and retry it",
    )
    async def fix_receiver(self, request: Request[UserView, Any, Any], order_id: OrderId, data: ReceiverIn) -> OrderOut:
        await service.get_order(order_id, warehouse_id=request.user.warehouse_id)
        receiver = Receiver(
            name=data.name,
            phone=data.phone,
            province=data.province,
            city=data.city,
            district=data.district,
            detail=data.detail,
            address=data.address,
        )
        await pipeline.fix_receiver(order_id, receiver, actor=f"user:{request.user.username}")
        return present(await service.get_order(order_id), OrderOut)
