"""Carrier choice, stored: rate cards per warehouse and carrier, carrier rules, and the choice for one order.

:mod:`orderhub.logistics.choice` is the pure decision; this module keeps its inputs in the database and builds
the :class:`~orderhub.logistics.choice.Parcel` of an order (warehouse, destination province, weight, declared
value = paid amount, channel, the customer's or a rule's carrier, ship-by). Only carriers the warehouse has an
active account for are considered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import msgspec

from orderhub import clock, db
from orderhub.carriers.catalogue import WAYBILL_CARRIERS
from orderhub.errors import NotFound, ValidationFailed
from orderhub.inventory.tables import Warehouse
from orderhub.logistics.choice import CarrierRule, Choice, NoCarrier, Parcel, RateCard, RateRow, choose
from orderhub.logistics.errors import LogisticsError
from orderhub.logistics.tables import CarrierAccount, CarrierRateCard, CarrierRuleRow
from orderhub.orders import pii
from orderhub.orders.tables import Order

__all__ = [
    "CARRIERS",
    "NewCarrierRule",
    "RateCardIn",
    "RateCardView",
    "RuleView",
    "ShippingOrder",
    "choice_for_order",
    "create_rule",
    "delete_rate_card",
    "delete_rule",
    "list_rate_cards",
    "list_rules",
    "parcel_of_order",
    "put_rate_card",
    "quote",
    "shipping_order",
]

# The carriers the hub orders waybills from (rate cards, carrier rules, carrier accounts), from the catalogue.
CARRIERS = WAYBILL_CARRIERS


class RateCardIn(msgspec.Struct, frozen=True, kw_only=True):
    rows: list[RateRow]
    pickups: list[str] = msgspec.field(default_factory=lambda: ["17:00"])
    max_declared_fen: int | None = None
    max_weight_g: int | None = None


class RateCardView(msgspec.Struct, frozen=True, kw_only=True):
    warehouse: str
    carrier: str
    rows: list[RateRow]
    pickups: list[str]
    max_declared_fen: int | None
    max_weight_g: int | None
    updated_by: str
    updated_at: datetime


class NewCarrierRule(CarrierRule, frozen=True, kw_only=True):
    name: str


class RuleView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    rule: CarrierRule
    active: bool
    created_at: datetime


class ShippingOrder(msgspec.Struct, kw_only=True):
    """What carrier choice and waybills read of an order (``sales_order``)."""

    id: int
    external_id: str
    status: str
    warehouse: int | None
    paid_amount: int  # fen: the parcel's declared value
    preferred_carrier: str | None
    ship_by: datetime | None
    receiver_name: str
    receiver_phone: str
    receiver_province: str
    receiver_city: str
    receiver_district: str
    receiver_detail: str
    receiver_address: str
    receiver_cipher: str  # JSON of the platform's protected receiver ("" for a clear one)
    channel: int
    receiver_country: str = "CN"  # ISO 3166-1 alpha-2; outside China the 省/市 fields hold region and city
    receiver_postcode: str = ""


async def shipping_order(order_id: int) -> ShippingOrder:
    """The order as carrier choice and waybills read it, the customer's sealed fields opened."""
    rows = await Order.select().where(Order.id == order_id)
    if not rows:
        raise NotFound("订单不存在", field="order_id")
    order = db.rows_as(ShippingOrder, rows)[0]
    for name in ("receiver_name", "receiver_phone", "receiver_detail", "receiver_address"):
        setattr(order, name, pii.open_(getattr(order, name)))
    return order


class _CardRow(msgspec.Struct, kw_only=True):
    """A ``carrier_rate_card`` row with its warehouse's code."""

    warehouse_code: str
    carrier: str
    zones: str  # JSON list of RateRow
    pickups: str  # JSON list of HH:MM
    max_declared_fen: int | None
    max_weight_g: int | None
    updated_by: str
    updated_at: datetime


class _RuleRow(msgspec.Struct, kw_only=True):
    """A ``carrier_rule`` row."""

    id: int
    name: str
    carrier: str
    effect: Literal["exclude", "require"]
    conditions: str  # JSON of CarrierRule without carrier / effect
    active: bool
    created_at: datetime


class _Place(msgspec.Struct):
    warehouse_code: str
    channel_code: str


def _no_warehouse() -> ValidationFailed:
    return ValidationFailed("订单还没有分配仓库", code=LogisticsError.NO_WAREHOUSE, field="order_id")


def _carrier(code: str) -> str:
    carrier = code.strip().upper()
    if carrier not in CARRIERS:
        raise ValidationFailed(f"快递公司只能是 {'、'.join(CARRIERS)}", field="carrier")
    return carrier


def _check_card(card: RateCardIn) -> None:
    if not card.rows:
        raise ValidationFailed("价目表至少需要一行", field="rows")
    seen: set[str] = set()
    for i, row in enumerate(card.rows):
        where = f"rows[{i}]"
        if not row.provinces:
            raise ValidationFailed("每行至少写一个目的省份（或 *）", field=f"{where}.provinces")
        again = seen.intersection(row.provinces)
        if again:
            raise ValidationFailed(f"省份重复出现在多行：{'、'.join(sorted(again))}", field=f"{where}.provinces")
        seen.update(row.provinces)
        if row.first_weight_g <= 0 or row.additional_unit_g <= 0:
            raise ValidationFailed("首重与续重单位须大于 0 克", field=f"{where}.first_weight_g")
        if row.first_fen < 0 or row.additional_fen < 0:
            raise ValidationFailed("价格（分）不能为负", field=f"{where}.first_fen")
        if row.transit_days < 0:
            raise ValidationFailed("时效天数不能为负", field=f"{where}.transit_days")
    if not card.pickups:
        raise ValidationFailed("至少需要一个揽收时间", field="pickups")
    for text in card.pickups:
        parts = text.split(":")
        ok = len(parts) == 2 and all(p.isdigit() and len(p) == 2 for p in parts)
        if not ok or int(parts[0]) > 23 or int(parts[1]) > 59:
            raise ValidationFailed(f"揽收时间 {text!r} 应为 HH:MM（北京时间）", field="pickups")


async def _warehouse_id(code: str) -> int:
    ids: list[int] = await Warehouse.select(Warehouse.id).where(Warehouse.code == code).output(as_list=True)
    if not ids:
        raise NotFound(f"仓库 {code} 不存在", field="warehouse")
    return ids[0]


async def put_rate_card(warehouse: str, carrier: str, card: RateCardIn, *, actor: str) -> RateCardView:
    """Set (or replace) what ``carrier`` charges from ``warehouse``."""
    carrier = _carrier(carrier)
    _check_card(card)
    warehouse_id = await _warehouse_id(warehouse)
    values = {
        "rows": msgspec.json.encode(card.rows).decode(),
        "pickups": msgspec.json.encode(sorted(card.pickups)).decode(),
        "max_declared_fen": card.max_declared_fen,
        "max_weight_g": card.max_weight_g,
    }
    # Raw SQL: an upsert (INSERT … ON CONFLICT DO UPDATE).
    await db.execute(
        "INSERT INTO carrier_rate_card (warehouse, carrier, zones, pickups, max_declared_fen, max_weight_g, "
        "updated_by, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}) "
        "ON CONFLICT (warehouse, carrier) DO UPDATE SET zones = EXCLUDED.zones, pickups = EXCLUDED.pickups, "
        "max_declared_fen = EXCLUDED.max_declared_fen, max_weight_g = EXCLUDED.max_weight_g, "
        "updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at",
        warehouse_id,
        carrier,
        values["rows"],
        values["pickups"],
        values["max_declared_fen"],
        values["max_weight_g"],
        actor[:64],
        clock.now(),
    )
    return next(c for c in await list_rate_cards(warehouse) if c.carrier == carrier)


async def delete_rate_card(warehouse: str, carrier: str) -> None:
    warehouse_id = await _warehouse_id(warehouse)
    deleted = await CarrierRateCard.delete().where(
        CarrierRateCard.warehouse == warehouse_id, CarrierRateCard.carrier == _carrier(carrier)
    ).returning(CarrierRateCard.id)
    if not deleted:
        raise NotFound("该仓库没有这家快递的价目表", code=LogisticsError.RATE_CARD_NOT_FOUND, field="carrier")


def _card_view(row: _CardRow) -> RateCardView:
    return RateCardView(
        warehouse=row.warehouse_code,
        carrier=row.carrier,
        rows=msgspec.json.decode(row.zones, type=list[RateRow]),
        pickups=msgspec.json.decode(row.pickups, type=list[str]),
        max_declared_fen=row.max_declared_fen,
        max_weight_g=row.max_weight_g,
        updated_by=row.updated_by,
        updated_at=clock.to_shanghai(row.updated_at),
    )


async def list_rate_cards(warehouse: str | None = None) -> list[RateCardView]:
    sql = (
        "SELECT c.*, w.code AS warehouse_code FROM carrier_rate_card c JOIN warehouse w ON w.id = c.warehouse"
    )
    args: list[Any] = []
    if warehouse:
        sql += " WHERE w.code = {}"
        args.append(warehouse)
    rows = await db.fetch_as(_CardRow, sql + " ORDER BY w.code, c.carrier", *args)  # raw: a join (warehouse code)
    return [_card_view(r) for r in rows]


async def create_rule(cmd: NewCarrierRule, *, actor: str) -> RuleView:
    name = cmd.name.strip()
    if not name:
        raise ValidationFailed("规则名称不能为空", field="name")
    carrier = _carrier(cmd.carrier)
    for field_name in ("min_weight_g", "max_weight_g", "min_declared_fen"):
        value = getattr(cmd, field_name)
        if value is not None and value < 0:
            raise ValidationFailed("不能为负数", field=field_name)
    if cmd.min_weight_g is not None and cmd.max_weight_g is not None and cmd.min_weight_g > cmd.max_weight_g:
        raise ValidationFailed("最小重量大于最大重量", field="min_weight_g")
    for code in cmd.warehouses:
        await _warehouse_id(code)
    conditions = {
        "warehouses": cmd.warehouses,
        "provinces": cmd.provinces,
        "channels": cmd.channels,
        "min_weight_g": cmd.min_weight_g,
        "max_weight_g": cmd.max_weight_g,
        "min_declared_fen": cmd.min_declared_fen,
    }
    async with db.transaction():
        rows = await CarrierRuleRow.insert(
            CarrierRuleRow(
                name=name[:100],
                carrier=carrier,
                effect=cmd.effect,
                conditions=msgspec.json.encode(conditions).decode(),
                active=True,
                created_by=actor[:64],
                created_at=clock.now(),
            )
        )
    rule_id = int(rows[0]["id"])
    return next(r for r in await list_rules() if r.id == rule_id)


async def delete_rule(rule_id: int) -> None:
    deleted = await CarrierRuleRow.delete().where(CarrierRuleRow.id == rule_id).returning(CarrierRuleRow.id)
    if not deleted:
        raise NotFound("快递规则不存在", code=LogisticsError.CARRIER_RULE_NOT_FOUND, field="rule_id")


async def list_rules() -> list[RuleView]:
    rows = db.rows_as(_RuleRow, await CarrierRuleRow.select().order_by(CarrierRuleRow.id))
    return [
        RuleView(
            id=r.id,
            name=r.name,
            rule=CarrierRule(carrier=r.carrier, effect=r.effect, **msgspec.json.decode(r.conditions or "{}")),
            active=r.active,
            created_at=clock.to_shanghai(r.created_at),
        )
        for r in rows
    ]


async def _inputs(warehouse_id: int, carriers: Sequence[str]) -> tuple[list[RateCard], list[CarrierRule]]:
    rows = await db.fetch_as(  # raw: a join (each card with its warehouse's code)
        _CardRow,
        "SELECT c.*, w.code AS warehouse_code FROM carrier_rate_card c JOIN warehouse w ON w.id = c.warehouse "
        "WHERE c.warehouse = {} ORDER BY c.carrier",
        warehouse_id,
    )
    cards = [
        RateCard(
            carrier=v.carrier,
            warehouse=v.warehouse,
            rows=v.rows,
            pickups=v.pickups,
            max_declared_fen=v.max_declared_fen,
            max_weight_g=v.max_weight_g,
        )
        for v in map(_card_view, rows)
        if v.carrier in carriers
    ]
    rules = [r.rule for r in await list_rules() if r.active]
    return cards, rules


async def parcel_of_order(order: ShippingOrder, weight_g: int) -> Parcel:
    """The order's parcel as carrier choice sees it (the order row as read from ``sales_order``)."""
    place = (
        await db.fetch_as(  # raw: a three-table join (the order's warehouse and channel codes)
            _Place,
            "SELECT w.code AS warehouse_code, c.code AS channel_code FROM sales_order o "
            "JOIN warehouse w ON w.id = o.warehouse JOIN channel c ON c.id = o.channel WHERE o.id = {}",
            order.id,
        )
    )[0]
    return Parcel(
        warehouse=place.warehouse_code,
        province=order.receiver_province or "",
        weight_g=weight_g,
        declared_value_fen=order.paid_amount,
        channel=place.channel_code,
        preferred_carrier=order.preferred_carrier or None,
        ship_by=order.ship_by,
    )


async def choice_for_order(order: ShippingOrder, weight_g: int, carriers: Sequence[str]) -> Choice | None:
    """The carrier for the order among ``carriers`` (those with an account), or None when the warehouse has no
    rate card for any of them (the caller falls back to the account priority). Raises :class:`NoCarrier` when
    cards exist but rules and limits leave none."""
    if order.warehouse is None:
        raise _no_warehouse()
    cards, rules = await _inputs(order.warehouse, carriers)
    if not cards:
        return None
    return choose(await parcel_of_order(order, weight_g), cards, rules)


async def quote(order_id: int, weight_g: int | None = None) -> Choice:
    """What carrier choice would pick for the order now, with every option (a preview for the back office)."""
    order = await shipping_order(order_id)
    if order.warehouse is None:
        raise _no_warehouse()
    from orderhub.logistics.waybills import order_weight

    weight = weight_g or await order_weight(order_id, order.warehouse)
    carriers: list[str] = await (
        CarrierAccount.select(CarrierAccount.carrier)
        .where(
            CarrierAccount.active.eq(True),
            (CarrierAccount.warehouse == order.warehouse) | CarrierAccount.warehouse.is_null(),
        )
        .distinct()
        .output(as_list=True)
    )
    cards, rules = await _inputs(order.warehouse, carriers)
    if not cards:
        raise ValidationFailed("本仓还没有可用快递的价目表", code=LogisticsError.NO_RATE_CARD, field="order_id")
    try:
        return choose(await parcel_of_order(order, weight), cards, rules)
    except NoCarrier as exc:
        raise ValidationFailed(str(exc), code=LogisticsError.NO_CARRIER, field="order_id") from exc
