"""The customs context's entry points for the rest of the hub: an order's check against its destination's rule
pack (the pipeline calls :func:`check_order`), and the declaration the documents and the carrier are drawn from
(:func:`declaration_for`)."""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec

from orderhub import clock
from orderhub.catalog.tables import Sku
from orderhub.customs import rules
from orderhub.customs.model import (
    CheckLine,
    CustomsCheck,
    Declaration,
    DeclarationLine,
    DutyEstimate,
    RulePack,
    SkuCustoms,
)
from orderhub.customs.packs import pack_in_force
from orderhub.customs.skus import customs_for
from orderhub.inventory.tables import Warehouse
from orderhub.logistics.tables import CarrierAccount
from orderhub.orders.service import receiver_from_row
from orderhub.orders.tables import Order, OrderLine

__all__ = ["BASELINE_FIELDS", "check_order", "declaration_for", "documents_for"]

_DOMESTIC = "CN"
# What a carrier's cross-border service needs of every line whatever the destination (SF: cargoDetails' name in
# English, hsCode, sourceArea, amount — docs/logistics.md): required even where no rule pack says more.
BASELINE_FIELDS = ("hs_code", "name_en", "origin_country", "unit_value")


def documents_for(pack: RulePack, goods_value: int) -> list[str]:
    """The pack's documents, a CN 23 instead of the CN 22 when the goods value is above the pack's limit (else the
    UPU's 300 SDR, :func:`orderhub.customs.rules.cn22_limit`)."""
    over = goods_value > rules.cn22_limit(pack)
    documents: list[str] = []
    for kind in pack.documents:
        kind = "cn23" if kind == "cn22" and over else kind
        if kind not in documents:
            documents.append(kind)
    return documents


async def check_order(
    *, country: str, placed_on: date, lines: list[CheckLine], postcode: str, shipping_fen: int
) -> CustomsCheck:
    """What the order lacks for its destination — each SKU's missing fields and certificates, the receiver's
    postcode — and its duty and VAT estimate, by the pack in force on ``placed_on`` (the Asia/Shanghai date the
    order was placed). A domestic order: no pack, nothing missing, no estimate. A country without a pack: what
    every cross-border carrier declares (:data:`BASELINE_FIELDS`) is still required, and there is no estimate."""
    destination = (country or _DOMESTIC).strip().upper()
    if destination == _DOMESTIC:
        return CustomsCheck(destination=destination, pack=None)
    pack = await pack_in_force(destination, placed_on)
    skus = await customs_for(line.sku for line in lines)
    if pack is None:
        baseline = RulePack(
            destination=destination,
            effective_from=placed_on,
            currency="CNY",
            fx_per_cny=1.0,
            required_fields=list(BASELINE_FIELDS),
        )
        missing = rules.missing_fields(baseline, (line.sku for line in lines), skus, postcode)
        return CustomsCheck(destination=destination, pack=None, missing=missing)
    missing, estimate = rules.check(pack, lines, skus, postcode, shipping_fen)
    return CustomsCheck(
        destination=destination,
        pack=pack,
        missing=missing,
        estimate=estimate,
        documents=documents_for(pack, estimate.goods_value),
    )


# --------------------------------------------------------------------------------------------------------------
# The declaration
# --------------------------------------------------------------------------------------------------------------


def _declared_currency(lines: list[dict[str, Any]], skus: dict[str, SkuCustoms], pack: RulePack | None) -> str:
    """The SKUs' own currency when they all declare in one that converts (CNY or the pack's), else CNY."""
    currencies = {
        skus[line["sku_code"]].currency
        for line in lines
        if line["sku_code"] in skus and skus[line["sku_code"]].unit_value > 0
    }
    if len(currencies) == 1:
        (currency,) = currencies
        if currency == _DOMESTIC or (pack is not None and currency == pack.currency):
            return currency
    return "CNY"


def _in(amount_fen: int, currency: str, pack: RulePack | None) -> int:
    """Fen in ``currency`` (CNY, or the pack's currency through its rate)."""
    if currency == "CNY" or pack is None:
        return amount_fen
    return rules.convert(amount_fen, "CNY", pack) or 0


def _unit_value(line: dict[str, Any], sku: SkuCustoms | None, currency: str, pack: RulePack | None) -> int:
    """As :func:`orderhub.customs.rules.declared_unit_value`, in the declaration's currency: the SKU's declared
    value (a gift's too), else the unit price paid."""
    if sku is not None and sku.unit_value > 0:
        if sku.currency == currency:
            return sku.unit_value
        if sku.currency == "CNY":
            return _in(sku.unit_value, currency, pack)
    if line["is_gift"] or line["unit_price"] <= 0:
        return 0
    return _in(int(line["unit_price"]), currency, pack)


async def _sender(warehouse_id: int | None) -> tuple[str, str, str]:
    """(name, phone, address) of the shipping warehouse: the carrier account's shipping contact (as the waybill
    has it, ``logistics.waybills``), else the warehouse's name; empty when the order has no warehouse yet."""
    if warehouse_id is None:
        return "", "", ""
    wh = await Warehouse.select(Warehouse.name, Warehouse.address).where(Warehouse.id == warehouse_id).first()
    if wh is None:
        return "", "", ""
    account = await (
        CarrierAccount.select(CarrierAccount.sender_name, CarrierAccount.sender_phone)
        .where(
            CarrierAccount.active.eq(True),
            (CarrierAccount.warehouse == warehouse_id) | CarrierAccount.warehouse.is_null(),
        )
        .order_by(CarrierAccount.priority, ascending=False)
        .order_by(CarrierAccount.id)
        .first()
    )
    name = (account or {}).get("sender_name") or wh["name"]
    return name, (account or {}).get("sender_phone") or "", wh["address"] or ""


async def declaration_for(order_id: int, *, warehouse_id: int | None = None) -> Declaration | None:
    """The order's declaration: receiver (opened from its sealed columns), lines with their SKUs' customs data
    and weights, the destination's pack in force on its placing date (documents, local language), the sender from
    its shipping warehouse, and its duty and VAT estimate. None for an unknown or a domestic order. With
    ``warehouse_id``, only the lines that warehouse ships (one parcel of a split order), valued and weighed alone.

    Values are in the SKUs' declared currency when they all share one that converts (CNY or the destination's),
    else in CNY; a line without a declared value is declared at the unit price paid; a gift at its SKU's declared
    value."""
    row = await Order.select().where(Order.id == order_id).first()
    if row is None:
        return None
    receiver = receiver_from_row(row)
    destination = (receiver.country or _DOMESTIC).upper()
    if destination == _DOMESTIC:
        return None
    placed_on = clock.to_shanghai(row["placed_at"]).date()
    query = OrderLine.select(
        OrderLine.sku_code, OrderLine.qty, OrderLine.unit_price, OrderLine.is_gift, OrderLine.warehouse
    ).where(OrderLine.order == order_id)
    if warehouse_id is not None:
        # one parcel of an order split over warehouses declares what that parcel holds (and lines not allocated to
        # any warehouse yet, which travel with it)
        query = query.where((OrderLine.warehouse == warehouse_id) | OrderLine.warehouse.is_null())
    lines = await query.order_by(OrderLine.line_no)
    # By code, not through the line's SKU id: that is resolved only when the order is validated, and the documents
    # of an order still waiting (or stopped at customs_data_missing) need the names and weights too.
    codes = sorted({line["sku_code"] for line in lines})  # at most an order's lines (MAX_LINES)
    catalog = {
        row["code"]: row
        for row in await Sku.select(Sku.code, Sku.name, Sku.weight_g).where(
            Sku.code.is_in(codes or [""])  # bounded: one order's lines (≤ MAX_LINES)
        )
    }
    for line in lines:
        known = catalog.get(line["sku_code"], {})
        line["sku.name"], line["sku.weight_g"] = known.get("name"), known.get("weight_g")
    skus = await customs_for(line["sku_code"] for line in lines)
    pack = await pack_in_force(destination, placed_on)
    currency = _declared_currency(lines, skus, pack)
    local_language = pack.local_language if pack is not None else ""
    declared: list[DeclarationLine] = []
    for line in lines:
        sku = skus.get(line["sku_code"])
        declared.append(
            DeclarationLine(
                sku=line["sku_code"],
                name_zh=(sku.name_zh if sku is not None else "") or line["sku.name"] or line["sku_code"],
                name_en=sku.name_en if sku is not None else "",
                name_local=sku.names.get(local_language, "") if sku is not None and local_language else "",
                hs_code=sku.hs_code if sku is not None else "",
                material=sku.material if sku is not None else "",
                usage=sku.usage if sku is not None else "",
                origin_country=sku.origin_country if sku is not None else "",
                qty=line["qty"],
                unit_weight_g=int(line["sku.weight_g"] or 0),
                unit_value=_unit_value(line, sku, currency, pack),
                certificates=dict(sku.certificates) if sku is not None else {},
                is_gift=bool(line["is_gift"]),
            )
        )
    estimate: DutyEstimate | None = None
    if row.get("customs_estimate") and warehouse_id is None:  # the whole order's, as the pipeline stored it
        estimate = msgspec.json.decode(row["customs_estimate"], type=DutyEstimate)
    elif pack is not None:
        check_lines = [
            CheckLine(sku=ln["sku_code"], qty=ln["qty"], unit_price=int(ln["unit_price"]), is_gift=bool(ln["is_gift"]))
            for ln in lines
        ]
        estimate = rules.estimate(pack, check_lines, skus, int(row["shipping_fee"]))
    warehouse_id = row["warehouse"] or next((ln["warehouse"] for ln in lines if ln["warehouse"]), None)
    sender_name, sender_phone, sender_address = await _sender(warehouse_id)
    address_lines = [part.strip() for part in receiver.detail.split("\n") if part.strip()]
    if pack is not None:
        documents = documents_for(pack, estimate.goods_value if estimate is not None else 0)
    else:  # no rule pack: a packing list and the UPU form the value calls for (declared in CNY here)
        total = sum(d.qty * d.unit_value for d in declared)
        documents = ["packing_list", "cn23" if total > rules.DEFAULT_CN22_MAX_CNY_FEN else "cn22"]
    return Declaration(
        order_id=order_id,
        external_id=row["external_id"],
        destination=destination,
        local_language=local_language,
        currency=currency,
        sender_name=sender_name,
        sender_phone=sender_phone,
        sender_address=sender_address,
        sender_country=_DOMESTIC,
        receiver_name=receiver.name,
        receiver_phone=receiver.phone,
        receiver_address=", ".join(address_lines) or receiver.address,
        receiver_city=receiver.city,
        receiver_region=receiver.province,
        receiver_postcode=receiver.postcode,
        receiver_country=destination,
        lines=declared,
        total_weight_g=max(1, sum(d.qty * d.unit_weight_g for d in declared)),
        total_value=sum(d.qty * d.unit_value for d in declared),
        shipping=_in(int(row["shipping_fee"]), currency, pack),
        category="gift" if declared and all(d.is_gift for d in declared) else "sale_of_goods",
        documents=documents,
        estimate=estimate,
        placed_on=placed_on,
    )
