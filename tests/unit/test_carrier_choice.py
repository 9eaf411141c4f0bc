"""Carrier choice: rules narrow the field, a customer's carrier wins when it makes ship-by, else the cheapest that
does, else the earliest pick-up; prices are first weight + started additional units, in fen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderhub.logistics.choice import CarrierRule, NoCarrier, Parcel, RateCard, RateRow, choose, price

# 2026-11-23 09:00 Asia/Shanghai
MORNING = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
CARDS = [
    RateCard(
        carrier="SF",
        warehouse="SH",
        pickups=["11:00", "18:00"],
        rows=[RateRow(provinces=["*"], first_fen=2300, additional_fen=1200, transit_days=1)],
    ),
    RateCard(
        carrier="ZTO",
        warehouse="SH",
        pickups=["16:00"],
        max_declared_fen=200_000,
        rows=[
            RateRow(provinces=["上海市", "江苏省", "浙江省"], first_fen=500, additional_fen=100, transit_days=1),
            RateRow(provinces=["*"], first_fen=800, additional_fen=400, transit_days=3),
        ],
    ),
    RateCard(
        carrier="JT",
        warehouse="SH",
        pickups=["16:30"],
        rows=[RateRow(provinces=["*"], first_fen=750, additional_fen=350, transit_days=3)],
    ),
    RateCard(carrier="ZTO", warehouse="GZ", rows=[RateRow(provinces=["*"], first_fen=1, additional_fen=1)]),
]


def parcel(**kwargs: object) -> Parcel:
    values: dict[str, object] = {"warehouse": "SH", "province": "广东省", "weight_g": 800, "ready_at": MORNING}
    values.update(kwargs)
    return Parcel(**values)  # type: ignore[arg-type]


def test_price_is_first_weight_then_each_started_unit() -> None:
    row = RateRow(provinces=["*"], first_fen=800, additional_fen=400)
    assert [price(row, w) for w in (1, 1000, 1001, 2000, 2500)] == [800, 800, 1200, 1200, 1600]


def test_the_cheapest_carrier_that_makes_ship_by_wins_with_its_reason() -> None:
    choice = choose(parcel(weight_g=2500), CARDS)
    assert (choice.carrier, choice.price_fen) == ("JT", 750 + 2 * 350)  # ZTO 800 + 2 × 400 = 1600
    assert choice.meets_ship_by and "JT ¥14.50" in choice.reason and "次选 ZTO ¥16.00" in choice.reason
    local = choose(parcel(province="江苏省"), CARDS)
    assert (local.carrier, local.price_fen) == ("ZTO", 500)


def test_ship_by_excludes_late_pickups_and_the_customer_choice_wins_when_in_time() -> None:
    noon = MORNING + timedelta(hours=3)  # 12:00 Shanghai: only SF's 11:00 pick-up makes it
    assert choose(parcel(ship_by=noon), CARDS).carrier == "SF"
    chosen = choose(parcel(preferred_carrier="SF"), CARDS)
    assert chosen.carrier == "SF" and chosen.reason.startswith("客户指定SF")
    too_early = MORNING + timedelta(minutes=30)  # nobody picks up by 09:30: the earliest pick-up leaves first
    late = choose(parcel(ship_by=too_early), CARDS)
    assert late.carrier == "SF" and not late.meets_ship_by and "没有快递赶得上" in late.reason


def test_rules_exclude_or_require_and_limits_apply() -> None:
    no_jt = [CarrierRule(carrier="JT", effect="exclude", provinces=["广东省"])]
    assert choose(parcel(), CARDS, no_jt).carrier == "ZTO"
    valuable = [CarrierRule(carrier="SF", effect="require", min_declared_fen=100_000)]
    assert choose(parcel(declared_value_fen=150_000), CARDS, valuable).carrier == "SF"
    assert choose(parcel(declared_value_fen=50_000), CARDS, valuable).carrier == "JT"  # rule does not match
    insured = choose(parcel(declared_value_fen=300_000), CARDS)  # over ZTO's insured limit
    assert next(o for o in insured.options if o.carrier == "ZTO").excluded == "保价超限"
    with pytest.raises(NoCarrier, match="规则排除"):
        choose(parcel(), CARDS, [CarrierRule(carrier=c, effect="exclude") for c in ("SF", "ZTO", "JT")])
    with pytest.raises(NoCarrier):
        choose(parcel(warehouse="BJ"), CARDS)
