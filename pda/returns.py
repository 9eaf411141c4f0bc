"""Receiving returned goods at the warehouse (退货收货, ``/pda/v1/returns``): a scan per SKU and condition for an
after-sale case waiting for its goods (docs/aftersales.md). Idempotent by ``client_id`` like the other PDA scans."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, post
from litestar.di import Provide

from api.common import PathId
from orderhub.orders import aftersales
from orderhub.picking.sessions import PdaSession
from pda.controllers import ClientId, device_guard, pda_session

__all__ = ["ReturnsController"]


class ReturnReceiveIn(msgspec.Struct, kw_only=True):
    client_id: ClientId
    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]  # the SKU code or a unit's barcode
    qty: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1
    condition: Literal["good", "damaged"] = "good"


class ReturnsController(Controller):
    path = "/pda/v1"
    tags = ["pda"]
    dependencies = {"session": Provide(pda_session)}
    guards = [device_guard]

    @post(
        "/returns/{after_sale_id:int}/receive",
        status_code=200,
        summary="Receive returned goods for an after-sale case (idempotent per client_id)",
        description="Scan the returned units of a return or exchange waiting for its goods: `sku` (code or "
        "barcode), `qty`, `condition` `good` (back to available stock in this device's warehouse, an audited "
        "adjustment) or `damaged` (counted as damaged, not available). When every unit is back the case is "
        "`received` (an exchange then gets its replacement order). A repeated `client_id` answers the first answer "
        "(`duplicate: true`); refusals: 409 `after_sale_not_returning`, `after_sale_receipt_mismatch` (`expected`: "
        "units still awaited), `after_sale_client_id_reused`.",
    )
    async def receive(
        self, session: PdaSession, after_sale_id: PathId, data: ReturnReceiveIn
    ) -> aftersales.ReceiptResult:
        return await aftersales.receive(
            after_sale_id,
            client_id=data.client_id,
            sku=data.sku,
            qty=data.qty,
            condition=data.condition,
            warehouse_id=session.warehouse_id,
            actor=f"pda:{session.username}",
        )
