"""Carrier accounts, waybills for packed orders and their labels (PDF 76 × 130 mm or ZPL)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import Parameter

from api.common import MAX_INT, Count, Id, PathId, PathWave, Str32, Str100
from orderhub.auth.service import UserView
from orderhub.carriers.port import TrackingPayloadError
from orderhub.errors import NotFound
from orderhub.logistics import rates, tracking, waybills
from orderhub.logistics.choice import Choice, RateRow
from orderhub.logistics.errors import LogisticsError
from orderhub.logistics.labels import LabelData, label_pdf, label_zpl, labels_document
from orderhub.orders.service import ensure_in_scope

__all__ = [
    "CarrierAccountController",
    "CarrierChoiceController",
    "TrackingController",
    "TrackingWebhookController",
    "WaveLabelController",
    "WaybillController",
    "labels_response",
]


class CarrierAccountIn(msgspec.Struct, kw_only=True):
    code: Str32
    carrier: str
    credentials: dict[str, Annotated[str, msgspec.Meta(max_length=500)]]
    warehouse: Str32 | None = None
    sender_name: Str100 = ""
    sender_phone: Str32 = ""
    priority: Annotated[int, msgspec.Meta(ge=-1000, le=1000)] = 0
    # Issued through a sales platform's e-waybill service (douyin 抖音电子面单, pdd 拼多多电子面单): it prints that
    # platform's encrypted receivers; ``channel`` is the shop whose authorisation it uses and ``credentials`` hold the
    # service's own settings (网点, 月结 …), not the carrier's keys.
    via: Annotated[str, msgspec.Meta(max_length=16)] = ""
    channel: Str32 | None = None


class CarrierAccountPatch(msgspec.Struct, kw_only=True):
    active: bool | None = None
    priority: Annotated[int, msgspec.Meta(ge=-1000, le=1000)] | None = None
    sender_name: Str100 | None = None
    sender_phone: Str32 | None = None
    credentials: dict[str, Annotated[str, msgspec.Meta(max_length=500)]] | None = None


class CarrierAccountController(Controller):
    path = "/api/v1/carrier-accounts"
    tags = ["logistics"]

    @post(
        "/",
        summary="Add a carrier account (credentials are sealed, never shown)",
        description="An account at SF, ZTO or J&T (monthly account, customer code, keys, sender), or — with `via` "
        "(`douyin`, `pdd`) and `channel` — an e-waybill account at a sales platform's own service, which prints that "
        "platform's encrypted receivers (its `credentials` are the service's settings, e.g. 网点 / 月结). Credentials "
        "are sealed at rest; the answer and every later read show only which keys are set.",
    )
    async def create(self, data: CarrierAccountIn) -> waybills.CarrierAccountView:
        return await waybills.create_account(msgspec.convert(msgspec.to_builtins(data), waybills.NewCarrierAccount))

    @get("/", summary="List the carrier accounts", description="Each account, its preference and sender; no secrets.")
    async def list(self) -> list[waybills.CarrierAccountView]:
        return await waybills.list_accounts()

    @patch(
        "/{code:str}",
        summary="Stop or resume an account, reorder it, fix its sender, or give it new keys",
        description="Only the fields sent change. A stopped account is skipped by carrier choice; requests already "
        "held there say so instead of retrying.",
    )
    async def update(self, code: str, data: CarrierAccountPatch) -> waybills.CarrierAccountView:
        return await waybills.update_account(code, msgspec.convert(msgspec.to_builtins(data), waybills.AccountChanges))


class WaybillController(Controller):
    path = "/api/v1/orders"
    tags = ["logistics"]

    @post(
        "/{order_id:int}/waybill",
        status_code=200,
        summary="The packed order's waybill (idempotent: the same waybill however often it is asked)",
        description="Chooses the carrier (rate cards, carrier rules) and asks it for an 电子面单 waybill number. "
        "Asking again answers the same waybill; a carrier's refusal comes back as a problem with its code.",
    )
    async def waybill(self, request: Request[UserView, Any, Any], order_id: PathId) -> waybills.WaybillView:
        await ensure_in_scope(order_id, request.user.warehouse_id)
        return await waybills.request_waybill(order_id, actor=f"user:{request.user.username}")

    @delete(
        "/{order_id:int}/waybill-request",
        summary="Free a carrier choice whose request never got an answer (after checking at the carrier)",
        description="When a waybill request timed out and the carrier shows no waybill for it: forgets the held "
        "choice so the next request may choose again.",
    )
    async def release(self, request: Request[UserView, Any, Any], order_id: PathId) -> None:
        await ensure_in_scope(order_id, request.user.warehouse_id)
        await waybills.release_choice(order_id, actor=f"user:{request.user.username}")

    @post(
        "/{order_id:int}/handover",
        status_code=200,
        summary="Handed to the courier: the order ships with its waybill (platform write-back queued)",
        description="The courier took the parcel: the order moves to shipped, reserved stock is consumed, parcel "
        "tracking starts and the platform write-back is queued.",
    )
    async def handover(self, request: Request[UserView, Any, Any], order_id: PathId) -> waybills.WaybillView:
        await ensure_in_scope(order_id, request.user.warehouse_id)
        return await waybills.hand_over(order_id, actor=f"user:{request.user.username}")

    @get(
        "/{order_id:int}/label",
        summary="The shipping label: PDF (default) or ZPL",
        description="The 76 × 130 mm 电子面单 with the waybill barcode, sender and receiver: `format=pdf` for "
        "printers with a driver, `format=zpl` for thermal printers.",
    )
    async def label(
        self, request: Request[UserView, Any, Any], order_id: PathId, format: Literal["pdf", "zpl"] = "pdf"
    ) -> Response[bytes]:
        await ensure_in_scope(order_id, request.user.warehouse_id)
        data = await waybills.label_data(order_id, actor=f"user:{request.user.username}")
        if format == "zpl":
            return Response(label_zpl(data).encode(), media_type="text/plain; charset=utf-8")
        return Response(
            label_pdf([data]),
            media_type="application/pdf",
            headers={"content-disposition": f'inline; filename="{data.waybill_no}.pdf"'},
        )


Fen = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)]
Grams = Annotated[int, msgspec.Meta(ge=1, le=MAX_INT)]
Province = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Pickup = Annotated[str, msgspec.Meta(pattern=r"^\d{2}:\d{2}$")]  # HH:MM, Asia/Shanghai


class RateRowIn(msgspec.Struct, kw_only=True):
    provinces: Annotated[list[Province], msgspec.Meta(min_length=1, max_length=40)]
    first_fen: Fen
    additional_fen: Fen
    first_weight_g: Grams = 1000
    additional_unit_g: Grams = 1000
    transit_days: Annotated[int, msgspec.Meta(ge=0, le=30)] = 2


class RateCardBody(msgspec.Struct, kw_only=True):
    rows: Annotated[list[RateRowIn], msgspec.Meta(min_length=1, max_length=40)]
    pickups: Annotated[list[Pickup], msgspec.Meta(min_length=1, max_length=12)] = msgspec.field(
        default_factory=lambda: ["17:00"]
    )
    max_declared_fen: Fen | None = None
    max_weight_g: Grams | None = None


class CarrierRuleIn(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    carrier: Str32
    effect: Literal["exclude", "require"]
    warehouses: Annotated[list[Str32], msgspec.Meta(max_length=50)] = []
    provinces: Annotated[list[Province], msgspec.Meta(max_length=40)] = []
    channels: Annotated[list[Str32], msgspec.Meta(max_length=50)] = []
    min_weight_g: Count | None = None
    max_weight_g: Count | None = None
    min_declared_fen: Fen | None = None


class CarrierChoiceController(Controller):
    path = "/api/v1/logistics"
    tags = ["logistics"]

    @put(
        "/rate-cards/{warehouse:str}/{carrier:str}",
        summary="Set a carrier's prices from a warehouse: per zone, first weight + additional unit (fen)",
        description="Replaces the card for this warehouse and carrier: rows of provinces with the first-weight and "
        "additional-unit prices in fen, the pickup times, and optional value and weight limits.",
    )
    async def put_card(
        self, request: Request[UserView, Any, Any], warehouse: str, carrier: str, data: RateCardBody
    ) -> rates.RateCardView:
        card = rates.RateCardIn(
            rows=[msgspec.convert(msgspec.to_builtins(r), RateRow) for r in data.rows],
            pickups=data.pickups,
            max_declared_fen=data.max_declared_fen,
            max_weight_g=data.max_weight_g,
        )
        return await rates.put_rate_card(warehouse, carrier, card, actor=f"user:{request.user.username}")

    @get(
        "/rate-cards",
        summary="Rate cards (optionally of one warehouse)",
        description="Every rate card, or one warehouse's (`warehouse`); a user bound to a warehouse sees that "
        "warehouse's.",
    )
    async def list_cards(
        self, request: Request[UserView, Any, Any], warehouse: str | None = None
    ) -> list[rates.RateCardView]:
        return await rates.list_rate_cards(warehouse or request.user.warehouse)  # a bound user: their warehouse's

    @delete(
        "/rate-cards/{warehouse:str}/{carrier:str}",
        summary="Remove a rate card",
        description="The carrier is no longer priced from this warehouse, so carrier choice stops offering it there.",
    )
    async def delete_card(self, warehouse: str, carrier: str) -> None:
        await rates.delete_rate_card(warehouse, carrier)

    @post(
        "/carrier-rules",
        summary="A carrier rule: matching parcels (warehouse, province, channel, weight, value) exclude/require it",
        description="`effect: exclude` keeps the carrier off matching parcels, `require` allows only it; a rule "
        "matches when every condition given (warehouses, provinces, channels, weight, declared value) holds.",
    )
    async def create_rule(self, request: Request[UserView, Any, Any], data: CarrierRuleIn) -> rates.RuleView:
        cmd = msgspec.convert(msgspec.to_builtins(data), rates.NewCarrierRule)
        return await rates.create_rule(cmd, actor=f"user:{request.user.username}")

    @get(
        "/carrier-rules",
        summary="List the carrier rules",
        description="Every carrier rule with its effect and conditions.",
    )
    async def list_rules(self) -> list[rates.RuleView]:
        return await rates.list_rules()

    @delete(
        "/carrier-rules/{rule_id:int}",
        summary="Remove a carrier rule",
        description="Carrier choice stops applying the rule from the next waybill request.",
    )
    async def delete_rule(self, rule_id: PathId) -> None:
        await rates.delete_rule(rule_id)

    @get(
        "/quote/{order_id:int}",
        summary="Which carrier the order would go with now, every option priced, and why",
        description="A dry run of carrier choice for the order (with `weight_g` to override the weight): each carrier "
        "priced from the rate cards, the ones the rules or limits excluded and the reason, and the winner. Nothing is "
        "requested.",
    )
    async def quote(
        self, request: Request[UserView, Any, Any], order_id: PathId, weight_g: Grams | None = None
    ) -> Choice:
        await ensure_in_scope(order_id, request.user.warehouse_id)
        return await rates.quote(order_id, weight_g)


class BatchWaybillIn(msgspec.Struct, kw_only=True):
    order_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=500)]


def labels_response(labels: list[LabelData], missing: list[int], *, format: str, name: str) -> Response[bytes]:
    """One document for many labels (a wave); the orders left out (no waybill yet) are named in
    ``X-OrderHub-Missing-Waybills``. Shared by the back office and the PDA surface."""
    if not labels:
        raise NotFound("这些订单还没有运单号，请先取号", code=LogisticsError.NO_WAYBILL, field="wave_id")
    document = labels_document(labels, format=format, name=name)
    headers = {"content-disposition": f'inline; filename="{document.filename}"'}
    if missing:
        headers["x-orderhub-missing-waybills"] = ",".join(map(str, missing))
    return Response(document.body, media_type=document.media_type, headers=headers)


class WaveLabelController(Controller):
    path = "/api/v1"
    tags = ["logistics"]

    @post(
        "/waybills/batch",
        status_code=200,
        summary="Waybills for many packed orders at once (each idempotent; refusals reported per order)",
        description="Up to 500 orders; each answered on its own (waybill number or the refusal's code and message), "
        "so one refusal does not stop the rest.",
    )
    async def batch(self, request: Request[UserView, Any, Any], data: BatchWaybillIn) -> list[waybills.BatchResult]:
        return await waybills.request_waybills(
            data.order_ids, actor=f"user:{request.user.username}", warehouse_id=request.user.warehouse_id
        )

    @post(
        "/picking/waves/{wave:str}/waybills",
        status_code=200,
        summary="Waybills for every order of a wave",
        description="Requests a waybill for each order of the wave that has none yet, reporting each order's result.",
    )
    async def wave_waybills(
        self, request: Request[UserView, Any, Any], wave: PathWave
    ) -> list[waybills.BatchResult]:
        order_ids = await waybills.wave_orders(wave, warehouse_id=request.user.warehouse_id)
        return await waybills.request_waybills(order_ids, actor=f"user:{request.user.username}")

    @get(
        "/picking/waves/{wave:str}/labels",
        summary="Every label of a wave in one PDF (or ZPL)",
        description="One document with a label per order that has a waybill; orders still without one are named in "
        "the `X-OrderHub-Missing-Waybills` header.",
    )
    async def wave_labels(
        self, request: Request[UserView, Any, Any], wave: PathWave, format: Literal["pdf", "zpl"] = "pdf"
    ) -> Response[bytes]:
        labels, missing = await waybills.wave_labels(wave, warehouse_id=request.user.warehouse_id)
        return labels_response(labels, missing, format=format, name=f"wave-{wave}")


class TrackingProviderIn(msgspec.Struct, kw_only=True):
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    customer: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    callback_base_url: Annotated[str, msgspec.Meta(min_length=8, max_length=500)]
    base_url: Annotated[str, msgspec.Meta(max_length=500)] = "https://poll.kuaidi100.com"


class TrackingController(Controller):
    path = "/api/v1"
    tags = ["logistics"]

    @put(
        "/logistics/tracking-provider",
        status_code=204,
        summary="The 快递100 account for parcel tracking (sealed; never returned)",
        description="The 快递100 key and customer id used to subscribe parcels, and the public base URL 快递100 pushes "
        "updates to. Sealed at rest; never returned.",
    )
    async def configure(self, request: Request[UserView, Any, Any], data: TrackingProviderIn) -> None:
        provider = msgspec.convert(msgspec.to_builtins(data), tracking.TrackingProvider)
        await tracking.configure_provider(provider, actor=f"user:{request.user.username}")

    @get(
        "/logistics/parcels",
        summary="Parcels by tracking state, or the stalled ones (no movement for 48 h)",
        description="Filter by `state` (pending … signed, exception, returned) or `stalled=true` (no movement for 48 "
        "hours), newest first, up to `limit`.",
    )
    async def parcels(
        self,
        request: Request[UserView, Any, Any],
        parcel_state: Annotated[
            Literal["pending", "collected", "in_transit", "out_for_delivery", "signed", "exception", "returned"] | None,
            Parameter(query="state"),
        ] = None,
        stalled: bool | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[tracking.TrackingView]:
        return await tracking.list_parcels(
            state=parcel_state, stalled=stalled, limit=limit, warehouse_id=request.user.warehouse_id
        )

    @get(
        "/orders/{order_id:int}/tracking",
        summary="The parcel's route",
        description="The order's parcel: carrier, waybill number, tracking state and every route event 快递100 "
        "reported, latest first.",
    )
    async def order_tracking(self, request: Request[UserView, Any, Any], order_id: PathId) -> tracking.TrackingView:
        await ensure_in_scope(order_id, request.user.warehouse_id)
        return await tracking.tracking_of_order(order_id)


class TrackingWebhookController(Controller):
    path = "/api/v1/webhooks/kuaidi100"
    tags = ["webhooks"]

    @post(
        "/{tracking_id:int}",
        status_code=200,
        summary="快递100 push (sign = upper(md5(param + salt)))",
        description="Called by 快递100, not by people: a form with `param` (the route JSON) and `sign`, checked with "
        "the parcel's own salt. Answers in 快递100's reply format, so it stops re-sending once accepted.",
    )
    async def push(self, request: Request[Any, Any, Any], tracking_id: PathId) -> Response[bytes]:
        form = await request.form()
        param, sign = str(form.get("param") or ""), str(form.get("sign") or "")
        try:
            ok = await tracking.apply_callback(tracking_id, param, sign)
        except TrackingPayloadError:
            ok = False
        return Response(tracking.callback_reply(ok), media_type="application/json")
