"""An international order's customs documents as PDF: the packing list and the UPU customs declaration (CN 22 / CN 23),
drawn from the order's declaration (``orderhub.customs.service.declaration_for``) by ``orderhub.customs.documents``."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from api.common import PathId
from orderhub.auth.policy import check_warehouse
from orderhub.auth.service import UserView
from orderhub.customs import documents
from orderhub.customs.model import Declaration
from orderhub.customs.service import declaration_for
from orderhub.errors import NotFound
from orderhub.orders import pii
from orderhub.orders.service import ensure_in_scope
from orderhub.picking.config import warehouse_id_of

__all__ = ["CustomsDocumentController"]

WarehouseCode = Annotated[
    str | None, Parameter(max_length=32, description="the shipping warehouse's code: declare only its parcel")
]

_NOT_INTERNATIONAL = (
    " An order shipped from several warehouses has a declaration per parcel: `?warehouse=SH` declares only what that "
    "warehouse ships (a user bound to a warehouse gets that warehouse's). The receiver's name and phone are shown in "
    "clear to admins and managers only, masked for everyone else. 404 `not_found` (field `order_id`) when the order "
    "does not exist, is outside your warehouse, or ships within China (no declaration)."
)


async def _declaration(
    request: Request[UserView, Any, Any], order_id: int, warehouse: str | None = None
) -> Declaration:
    await ensure_in_scope(order_id, request.user.warehouse_id)
    warehouse_id = request.user.warehouse_id
    if warehouse is not None:
        warehouse_id = await warehouse_id_of(warehouse)
        check_warehouse(request.user.warehouse_id, warehouse_id, field="warehouse")
    declaration = await declaration_for(order_id, warehouse_id=warehouse_id)
    if declaration is None:
        raise NotFound("该订单不是跨境订单，没有报关单据", field="order_id")
    if request.user.role not in pii.CLEAR_READERS:
        # The receiver as everyone but admins and managers sees it (docs/privacy.md): the street and city stay — the
        # parcel must reach them, as on the label — the name and phone are masked.
        declaration = msgspec.structs.replace(
            declaration,
            receiver_name=pii.mask_name(declaration.receiver_name),
            receiver_phone=pii.mask_phone(declaration.receiver_phone),
        )
    return declaration


def _pdf(content: bytes, filename: str, **headers: str) -> Response[bytes]:
    return Response(
        content,
        media_type="application/pdf",
        headers={"content-disposition": f'inline; filename="{filename}"', **headers},
    )


def _name(declaration: Declaration) -> str:
    """The order's reference, safe in a header's quoted filename."""
    ref = declaration.external_id or str(declaration.order_id)
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in ref)


class CustomsDocumentController(Controller):
    path = "/api/v1/orders"
    tags = ["customs"]

    @get(
        "/{order_id:int}/customs/packing-list.pdf",
        summary="The order's packing list (A4, Chinese / English / the destination's language)",
        description="Sender and receiver, order number and date, a line per SKU with its names (Chinese, English and "
        "the destination's language where its rule pack names one — Thai for Thailand), HS code, origin, quantity, "
        "unit and total weight (kg), unit and total value in the declared currency, certificate numbers (TISI …), "
        "totals and the duty and VAT estimate. Thai is drawn with the server's Thai font (TLWG Garuda), Chinese with "
        "its CJK font; a missing font is said on the page." + _NOT_INTERNATIONAL,
        media_type="application/pdf",
    )
    async def packing_list(
        self, request: Request[UserView, Any, Any], order_id: PathId, warehouse: WarehouseCode = None
    ) -> Response[bytes]:
        declaration = await _declaration(request, order_id, warehouse)
        content = await asyncio.to_thread(documents.packing_list_pdf, declaration)
        return _pdf(content, f"packing-list-{_name(declaration)}.pdf")

    @get(
        "/{order_id:int}/customs/cn22.pdf",
        summary="The order's UPU customs declaration: CN 22, or CN 23 above the destination's CN 22 limit",
        description="The form the order's value calls for: a CN 22 (100 × 150 mm label) while the goods value is "
        "within the destination rule pack's `cn22_max_value`, else a CN 23 (A4); the `x-customs-form` header says "
        "which (`cn22` / `cn23`). Category boxes, each article's description (English and the destination's "
        "language), quantity, net weight, value, HS tariff number and country of origin, totals, and the sender's "
        "date and signature line." + _NOT_INTERNATIONAL,
        media_type="application/pdf",
    )
    async def cn22(
        self, request: Request[UserView, Any, Any], order_id: PathId, warehouse: WarehouseCode = None
    ) -> Response[bytes]:
        declaration = await _declaration(request, order_id, warehouse)
        form, content = await asyncio.to_thread(documents.customs_form_pdf, declaration, None)
        return _pdf(content, f"{form}-{_name(declaration)}.pdf", **{"x-customs-form": form})

    @get(
        "/{order_id:int}/customs/cn23.pdf",
        summary="The order's CN 23 customs declaration (A4), whatever its value",
        description="The CN 23 (A4): From / To, the contents (1)–(8), postal charges (9), category (10), comments "
        "(11), licence, certificate and invoice numbers (12)–(14), date and sender's signature (15). Any parcel may "
        "travel with a CN 23; `cn22.pdf` gives the form the value calls for." + _NOT_INTERNATIONAL,
        media_type="application/pdf",
    )
    async def cn23(
        self, request: Request[UserView, Any, Any], order_id: PathId, warehouse: WarehouseCode = None
    ) -> Response[bytes]:
        declaration = await _declaration(request, order_id, warehouse)
        content = await asyncio.to_thread(documents.cn23_pdf, declaration)
        return _pdf(content, f"cn23-{_name(declaration)}.pdf", **{"x-customs-form": "cn23"})
