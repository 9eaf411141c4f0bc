"""Carrier choice: which express company takes a parcel, and why.

Inputs are the parcel (warehouse, destination province, weight, declared value, channel, the customer's or a
rule's preferred carrier, ship-by) and, per carrier, its rate card (first weight + each additional weight unit,
per destination zone) and pick-up times. Rules narrow the field first — by warehouse, destination province,
weight, declared value and channel, a rule either excludes a carrier or requires one. Then:

1. a preferred carrier (the customer's, or a rule's) that is still in the field and picks up before ship-by wins;
2. otherwise the cheapest carrier that picks up before ship-by (ties: faster transit, then code);
3. if none makes ship-by, the one that picks up soonest (the order is late either way; it leaves first).

The result carries a zh-CN reason naming the price and the runner-up, recorded on the order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Literal

import msgspec

from orderhub import clock

__all__ = ["CarrierOption", "CarrierRule", "Choice", "NoCarrier", "Parcel", "RateCard", "RateRow", "choose", "price"]


class RateRow(msgspec.Struct, frozen=True, kw_only=True):
    provinces: list[str]  # destinations this row prices ("*" = everywhere else)
    first_weight_g: int = 1000
    first_fen: int
    additional_unit_g: int = 1000
    additional_fen: int
    transit_days: int = 2


class RateCard(msgspec.Struct, frozen=True, kw_only=True):
    carrier: str
    warehouse: str  # the origin these prices are for
    rows: list[RateRow]
    # the carrier's daily pick-up times at the warehouse, Asia/Shanghai
    pickups: list[str] = msgspec.field(default_factory=lambda: ["17:00"])
    max_declared_fen: int | None = None  # insured value the carrier accepts
    max_weight_g: int | None = None


class CarrierRule(msgspec.Struct, frozen=True, kw_only=True):
    """``exclude``: the carrier may not take matching parcels; ``require``: matching parcels go with it only."""

    carrier: str
    effect: Literal["exclude", "require"]
    warehouses: list[str] = []
    provinces: list[str] = []
    channels: list[str] = []
    min_weight_g: int | None = None
    max_weight_g: int | None = None
    min_declared_fen: int | None = None

    def matches(self, parcel: Parcel) -> bool:
        return (
            (not self.warehouses or parcel.warehouse in self.warehouses)
            and (not self.provinces or parcel.province in self.provinces)
            and (not self.channels or parcel.channel in self.channels)
            and (self.min_weight_g is None or parcel.weight_g >= self.min_weight_g)
            and (self.max_weight_g is None or parcel.weight_g <= self.max_weight_g)
            and (self.min_declared_fen is None or parcel.declared_value_fen >= self.min_declared_fen)
        )


class Parcel(msgspec.Struct, frozen=True, kw_only=True):
    warehouse: str
    province: str
    weight_g: int
    declared_value_fen: int = 0
    channel: str = ""
    preferred_carrier: str | None = None  # the customer's choice (or a pipeline rule's)
    ship_by: datetime | None = None
    ready_at: datetime | None = None  # when it will be packed (default: now)


class CarrierOption(msgspec.Struct, frozen=True, kw_only=True):
    carrier: str
    price_fen: int | None  # None: not available (see excluded)
    pickup_at: datetime | None
    transit_days: int | None
    excluded: str = ""  # why not (zh-CN), empty when available


class Choice(msgspec.Struct, frozen=True, kw_only=True):
    carrier: str
    price_fen: int
    pickup_at: datetime
    meets_ship_by: bool
    reason: str  # zh-CN, recorded on the order
    options: list[CarrierOption]


class NoCarrier(ValueError):
    """No carrier can take the parcel (every one excluded, or none serves the destination)."""


def _row(card: RateCard, province: str) -> RateRow | None:
    exact = next((r for r in card.rows if province in r.provinces), None)
    return exact or next((r for r in card.rows if "*" in r.provinces), None)


def price(row: RateRow, weight_g: int) -> int:
    """First weight, then each started additional unit (integer fen)."""
    extra = max(0, weight_g - row.first_weight_g)
    return row.first_fen + math.ceil(extra / row.additional_unit_g) * row.additional_fen


def _next_pickup(pickups: Sequence[str], after: datetime) -> datetime | None:
    local = clock.to_shanghai(after)
    for days in range(3):
        day = (local + timedelta(days=days)).date()
        for text in sorted(pickups):
            hour, minute = (int(part) for part in text.split(":"))
            moment = datetime.combine(day, time(hour, minute), tzinfo=local.tzinfo)
            if moment > local:
                return moment
    return None


def _yuan(fen: int) -> str:
    return f"¥{fen / 100:.2f}"


def choose(parcel: Parcel, cards: Sequence[RateCard], rules: Sequence[CarrierRule] = ()) -> Choice:
    ready = parcel.ready_at or clock.now()
    applicable = [r for r in rules if r.matches(parcel)]
    required = {r.carrier for r in applicable if r.effect == "require"}
    excluded_by_rule = {r.carrier for r in applicable if r.effect == "exclude"}
    options: list[CarrierOption] = []
    for card in (c for c in cards if c.warehouse == parcel.warehouse):
        why = ""
        row = _row(card, parcel.province)
        if card.carrier in excluded_by_rule:
            why = "规则排除"
        elif required and card.carrier not in required:
            why = "规则指定了其他快递"
        elif row is None:
            why = f"不配送{parcel.province}"
        elif card.max_weight_g is not None and parcel.weight_g > card.max_weight_g:
            why = "超重"
        elif card.max_declared_fen is not None and parcel.declared_value_fen > card.max_declared_fen:
            why = "保价超限"
        pickup = _next_pickup(card.pickups, ready)
        if not why and pickup is None:
            why = "没有揽收时间"
        options.append(
            CarrierOption(
                carrier=card.carrier,
                price_fen=price(row, parcel.weight_g) if row is not None and not why else None,
                pickup_at=pickup.astimezone(ready.tzinfo) if pickup else None,
                transit_days=row.transit_days if row is not None else None,
                excluded=why,
            )
        )
    available = [o for o in options if not o.excluded and o.price_fen is not None and o.pickup_at is not None]
    if not available:
        detail = "；".join(f"{o.carrier}：{o.excluded}" for o in options) or "本仓没有快递价目表"
        raise NoCarrier(f"没有可用的快递（{detail}）")

    def in_time(option: CarrierOption) -> bool:
        return parcel.ship_by is None or (option.pickup_at is not None and option.pickup_at <= parcel.ship_by)

    def cost(option: CarrierOption) -> tuple[int, int, str]:
        return (option.price_fen or 0, option.transit_days or 0, option.carrier)

    timely = sorted((o for o in available if in_time(o)), key=cost)
    preferred = next((o for o in timely if o.carrier == parcel.preferred_carrier), None)
    if preferred is not None:
        pick, why = preferred, f"客户指定{preferred.carrier}，{_yuan(preferred.price_fen or 0)}"
    elif timely:
        pick = timely[0]
        runner = f"（次选 {timely[1].carrier} {_yuan(timely[1].price_fen or 0)}）" if len(timely) > 1 else ""
        why = f"赶得上发货时限的最便宜快递：{pick.carrier} {_yuan(pick.price_fen or 0)}{runner}"
        if parcel.preferred_carrier and parcel.preferred_carrier not in {o.carrier for o in timely}:
            why += f"；客户指定的{parcel.preferred_carrier}不可用或赶不上"
    else:
        pick = min(available, key=lambda o: (o.pickup_at or ready, *cost(o)))
        why = f"没有快递赶得上发货时限，选最早揽收的 {pick.carrier}（{_yuan(pick.price_fen or 0)}）"
    assert pick.price_fen is not None and pick.pickup_at is not None
    return Choice(
        carrier=pick.carrier,
        price_fen=pick.price_fen,
        pickup_at=pick.pickup_at,
        meets_ship_by=in_time(pick),
        reason=why,
        options=options,
    )
