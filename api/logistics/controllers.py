"""Carrier accounts, waybills for packed orders and their labels (PDF 76 × 130 mm or ZPL)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post

from api.common import Str32, Str100
from api.security import requires
from orderhub.auth.service import Role, UserView
from orderhub.logistics import waybills
from orderhub.logistics.labels import label_pdf, label_zpl

__all__ = ["CarrierAccountController", "WaybillController"]

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
