"""International waybills: what a parcel to a receiver outside China carries to the carrier port.

The receiver's country and postcode come from the order (``receiver_country``, ``receiver_postcode``; a foreign
receiver keeps its region in ``receiver_province``, its city in ``receiver_city`` and its address lines, joined with
"\\n", in ``receiver_detail``). The declaration comes from the customs context
(:func:`orderhub.customs.service.declaration_for`), turned into the port's :class:`CustomsDeclaration` here. Only
carriers with an international service (:data:`orderhub.carriers.catalogue.INTERNATIONAL_CARRIERS`) are offered
such an order.
"""

from __future__ import annotations

from orderhub.carriers.catalogue import INTERNATIONAL_CARRIERS
from orderhub.carriers.port import CustomsDeclaration, CustomsLine
from orderhub.customs.model import Declaration

__all__ = ["INTERNATIONAL_CARRIERS", "customs_declaration", "declaration_of_order", "is_foreign"]


def is_foreign(country: str | None) -> bool:
    """Whether an order's receiver country (ISO 3166-1 alpha-2, "" / None = China) is outside China."""
    return (country or "CN").strip().upper() != "CN"


def customs_declaration(declaration: Declaration) -> CustomsDeclaration:
    """The customs context's declaration of an order in the carrier port's terms (lines with nothing to ship left
    out; money stays in minor units of the declaration's currency)."""
    return CustomsDeclaration(
        currency=declaration.currency,
        total_value=declaration.total_value,
        category=declaration.category,
        lines=[
            CustomsLine(
                sku=line.sku,
                name_en=line.name_en,
                name_local=line.name_local,
                name_zh=line.name_zh,
                hs_code=line.hs_code,
                origin_country=line.origin_country,
                qty=line.qty,
                unit_weight_g=line.unit_weight_g,
                unit_value=line.unit_value,
                material=line.material,
                usage=line.usage,
            )
            for line in declaration.lines
            if line.qty > 0
        ],
    )


async def declaration_of_order(order_id: int, warehouse_id: int | None = None) -> CustomsDeclaration | None:
    """The order's declaration as the carrier takes it, or None when the customs context has none for it (the
    carrier adapter then refuses the parcel as incomplete rather than ship it undeclared). ``warehouse_id``: the
    parcel's warehouse — an order split over several declares in each parcel only what that parcel holds."""
    from orderhub.customs.service import declaration_for  # the customs context's read (helper-owned module)

    declaration = await declaration_for(order_id, warehouse_id=warehouse_id)  # this parcel's lines only
    return customs_declaration(declaration) if declaration is not None else None
