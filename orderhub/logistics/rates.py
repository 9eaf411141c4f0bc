"""Carrier choice, stored: rate cards per warehouse and carrier, carrier rules, and the choice for one order.

:mod:`orderhub.logistics.choice` is the pure decision; this module keeps its inputs in the database and builds
the :class:`~orderhub.logistics.choice.Parcel` of an order (warehouse, destination province, weight, declared
value = paid amount, channel, the customer's or a rule's carrier, ship-by). Only carriers the warehouse has an
active account for are considered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.carriers.catalogue import WAYBILL_CARRIERS
from orderhub.errors import NotFound, ValidationFailed
from orderhub.logistics.choice import CarrierRule, Choice, NoCarrier, Parcel, RateCard, RateRow, choose
from orderhub.logistics.errors import LogisticsError
from orderhub.logistics.tables import CarrierRuleRow

__all__ = [
    "CARRIERS",
    "NewCarrierRule",
    "RateCardIn",
    "RateCardView",
    "RuleView",
    "choice_for_order",
    "create_rule",
    "delete_rate_card",
    "delete_rule",
    "list_rate_cards",
    "list_rules",
    "parcel_of_order",
    "put_rate_card",
    "quote",
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
    rows = await db.fetch_as(db.IdRow, "SELECT id FROM warehouse WHERE code = {}", code)
    if not rows:
        raise NotFound(f"仓库 {code} 不存在", field="warehouse")
    return rows[0].id


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
    deleted = await db.execute_returning(
        db.IdRow,
        "DELETE FROM carrier_rate_card WHERE warehouse = {} AND carrier = {} RETURNING id",
        warehouse_id,
        _carrier(carrier),
    )
    if not deleted:
        raise NotFound("该仓库没有这家快递的价目表", code=LogisticsError.RATE_CARD_NOT_FOUND, field="carrier")


def _card_view(row: Mapping[str, Any]) -> RateCardView:
    return RateCardView(
        warehouse=str(row["warehouse_code"]),
        carrier=str(row["carrier"]),
        rows=msgspec.json.decode(row["zones"], type=list[RateRow]),
        pickups=msgspec.json.decode(row["pickups"], type=list[str]),
        max_declared_fen=row["max_declared_fen"],
        max_weight_g=row["max_weight_g"],
        updated_by=str(row["updated_by"]),
        updated_at=clock.to_shanghai(clock.from_db(row["updated_at"])),
    )


async def list_rate_cards(warehouse: str | None = None) -> list[RateCardView]:
    sql = (
        "SELECT c.*, w.code AS warehouse_code FROM carrier_rate_card c JOIN warehouse w ON w.id = c.warehouse"
    )
    args: list[Any] = []
    if warehouse:
        sql += " WHERE w.code = {}"
        args.append(warehouse)
    rows = await db.fetch(sql + " ORDER BY w.code, c.carrier", *args)
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
        rows = await db.execute_returning(
            db.IdRow,
            "INSERT INTO carrier_rule (name, carrier, effect, conditions, active, created_by, created_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}) RETURNING id",
            name[:100],
            carrier,
            cmd.effect,
            msgspec.json.encode(conditions).decode(),
            True,
            actor[:64],
            clock.now(),
        )
    rule_id = rows[0].id
    return next(r for r in await list_rules() if r.id == rule_id)


async def delete_rule(rule_id: int) -> None:
    deleted = await CarrierRuleRow.delete().where(CarrierRuleRow.id == rule_id).returning(CarrierRuleRow.id)
    if not deleted:
        raise NotFound("快递规则不存在", code=LogisticsError.CARRIER_RULE_NOT_FOUND, field="rule_id")


async def list_rules() -> list[RuleView]:
    rows = await db.fetch("SELECT * FROM carrier_rule ORDER BY id")
    return [
        RuleView(
            id=int(r["id"]),
            name=str(r["name"]),
            rule=CarrierRule(
                carrier=str(r["carrier"]), effect=r["effect"], **msgspec.json.decode(r["conditions"] or "{}")
            ),
            active=bool(r["active"]),
            created_at=clock.to_shanghai(clock.from_db(r["created_at"])),
        )
        for r in rows
    ]


async def _inputs(warehouse_id: int, carriers: Sequence[str]) -> tuple[list[RateCard], list[CarrierRule]]:
    rows = await db.fetch(
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


async def parcel_of_order(order: Mapping[str, Any], weight_g: int) -> Parcel:
    """The order's parcel as carrier choice sees it (the order row as read from ``sales_order``)."""
    extra = await db.fetch(
        "SELECT w.code AS warehouse_code, c.code AS channel_code FROM sales_order o "
        "JOIN warehouse w ON w.id = o.warehouse JOIN channel c ON c.id = o.channel WHERE o.id = {}",
        order["id"],
    )
    return Parcel(
        warehouse=str(extra[0]["warehouse_code"]),
        province=str(order["receiver_province"] or ""),
        weight_g=weight_g,
        declared_value_fen=int(order["paid_amount"] or 0),
        channel=str(extra[0]["channel_code"]),
        preferred_carrier=order.get("preferred_carrier") or None,
        ship_by=clock.from_db(order.get("ship_by")),
    )


async def choice_for_order(order: Mapping[str, Any], weight_g: int, carriers: Sequence[str]) -> Choice | None:
    """The carrier for the order among ``carriers`` (those with an account), or None when the warehouse has no
    rate card for any of them (the caller falls back to the account priority). Raises :class:`NoCarrier` when
    cards exist but rules and limits leave none."""
    cards, rules = await _inputs(int(order["warehouse"]), carriers)
    if not cards:
        return None
    return choose(await parcel_of_order(order, weight_g), cards, rules)


async def quote(order_id: int, weight_g: int | None = None) -> Choice:
    """What carrier choice would pick for the order now, with every option (a preview for the back office)."""
    rows = await db.fetch("SELECT * FROM sales_order WHERE id = {}", order_id)
    if not rows:
        raise NotFound("订单不存在", field="order_id")
    order = rows[0]
    if order["warehouse"] is None:
        raise ValidationFailed("订单还没有分配仓库", code=LogisticsError.NO_WAREHOUSE, field="order_id")
    from orderhub.logistics.waybills import order_weight

    weight = weight_g or await order_weight(order_id, int(order["warehouse"]))
    accounts = await db.fetch(
        "SELECT DISTINCT carrier FROM carrier_account WHERE active = {} AND (warehouse = {} OR warehouse IS NULL)",
        True,
        order["warehouse"],
    )
    cards, rules = await _inputs(int(order["warehouse"]), [str(a["carrier"]) for a in accounts])
    if not cards:
        raise ValidationFailed("本仓还没有可用快递的价目表", code=LogisticsError.NO_RATE_CARD, field="order_id")
    try:
        return choose(await parcel_of_order(order, weight), cards, rules)
    except NoCarrier as exc:
        raise ValidationFailed(str(exc), code=LogisticsError.NO_CARRIER, field="order_id") from exc
