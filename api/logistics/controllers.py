"""Carrier accounts, waybills for packed orders and their labels (PDF 76 × 130 mm or ZPL)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post, put

from api.common import Str32, Str100
from api.security import requires
from orderhub.auth.service import Role, UserView
from orderhub.carriers.kuaidi100.client import callback_reply
from orderhub.carriers.kuaidi100.mapper import Kuaidi100PayloadError
from orderhub.logistics import tracking, waybills
from orderhub.logistics.labels import label_pdf, label_zpl

__all__ = ["CarrierAccountController", "TrackingController", "TrackingWebhookController", "WaybillController"]

MANAGERS = (Role.ADMIN, Role.MANAGER)
FLOOR = (Role.ADMIN, Role.MANAGER, Role.PACKER)


class CarrierAccountIn(msgspec.Struct, kw_only=True):
    code: Str32
    carrier: str
    credentials: dict[str, Annotated[str, msgspec.Meta(max_length=500)]]
    warehouse: Str32 | None = None
    sender_name: Str100 = ""
    sender_phone: Str32 = ""
    priority: Annotated[int, msgspec.Meta(ge=-1000, le=1000)] = 0


class CarrierAccountController(Controller):
    path = "/api/v1/carrier-accounts"
    tags = ["logistics"]

    @post("/", guards=[requires(Role.ADMIN)], summary="Add a carrier account (credentials are sealed, never shown)")
    async def create(self, data: CarrierAccountIn) -> waybills.CarrierAccountView:
        return await waybills.create_account(msgspec.convert(msgspec.to_builtins(data), waybills.NewCarrierAccount))

    @get("/", guards=[requires(*MANAGERS)], summary="Carrier accounts")
    async def list(self) -> list[waybills.CarrierAccountView]:
        return await waybills.list_accounts()


class WaybillController(Controller):
    path = "/api/v1/orders"
    tags = ["logistics"]

    @post("/{order_id:int}/waybill", status_code=200, guards=[requires(*FLOOR)],
          summary="The packed order's waybill (idempotent: the same waybill however often it is asked)")
    async def waybill(self, request: Request[UserView, Any, Any], order_id: int) -> waybills.WaybillView:
        return await waybills.request_waybill(order_id, actor=f"user:{request.user.username}")

    @post("/{order_id:int}/handover", status_code=200, guards=[requires(*FLOOR)],
          summary="Handed to the courier: the order ships with its waybill (platform write-back queued)")
    async def handover(self, request: Request[UserView, Any, Any], order_id: int) -> waybills.WaybillView:
        return await waybills.hand_over(order_id, actor=f"user:{request.user.username}")

    @get("/{order_id:int}/label", guards=[requires(*FLOOR)], summary="The shipping label: PDF (default) or ZPL")
    async def label(self, order_id: int, format: Literal["pdf", "zpl"] = "pdf") -> Response[bytes]:
        data = await waybills.label_data(order_id)
        if format == "zpl":
            return Response(label_zpl(data).encode(), media_type="text/plain; charset=utf-8")
        return Response(
            label_pdf([data]),
            media_type="application/pdf",
            headers={"content-disposition": f'inline; filename="{data.waybill_no}.pdf"'},
        )


class TrackingProviderIn(msgspec.Struct, kw_only=True):
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    customer: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    callback_base_url: Annotated[str, msgspec.Meta(min_length=8, max_length=500)]
    base_url: Annotated[str, msgspec.Meta(max_length=500)] = "https://poll.kuaidi100.com"


class TrackingController(Controller):
    path = "/api/v1"
    tags = ["logistics"]

    @put("/logistics/tracking-provider", status_code=204, guards=[requires(Role.ADMIN)],
         summary="The 快递100 account for parcel tracking (sealed; never returned)")
    async def configure(self, request: Request[UserView, Any, Any], data: TrackingProviderIn) -> None:
        provider = msgspec.convert(msgspec.to_builtins(data), tracking.TrackingProvider)
        await tracking.configure_provider(provider, actor=f"user:{request.user.username}")

    @get("/orders/{order_id:int}/tracking", guards=[requires(*MANAGERS, Role.PACKER)], summary="The parcel's route")
    async def order_tracking(self, order_id: int) -> tracking.TrackingView:
        return await tracking.tracking_of_order(order_id)


class TrackingWebhookController(Controller):
    path = "/api/v1/webhooks/kuaidi100"
    tags = ["webhooks"]

    @post("/{tracking_id:int}", status_code=200, summary="快递100 push (sign = upper(md5(param + salt)))")
    async def push(self, request: Request[Any, Any, Any], tracking_id: int) -> Response[bytes]:
        form = await request.form()
        param, sign = str(form.get("param") or ""), str(form.get("sign") or "")
        try:
            ok = await tracking.apply_callback(tracking_id, param, sign)
        except Kuaidi100PayloadError:
            ok = False
        return Response(callback_reply(ok), media_type="application/json")
