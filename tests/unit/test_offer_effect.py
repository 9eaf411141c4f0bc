"""The add-on offers' measurement (orderhub.offers.effect): intervals, the hold-out hash, and simulated A/B tests with a
known true effect."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from orderhub.offers.effect import (
    MAX_WINDOW,
    EffectOrder,
    OfferEffect,
    buyers_of,
    measure,
    newcombe_difference,
    wilson,
    windows,
)
from orderhub.offers.model import derive_holdout_key, holdout_point, in_holdout, qualifies
from orderhub.offers.service import OfferView, parse_cart

ENABLED = datetime(2026, 11, 2, tzinfo=UTC)
UNTIL = ENABLED + timedelta(days=28)
BEFORE = ENABLED - (UNTIL - ENABLED)
KEY = derive_holdout_key("unit-test-secret-key-0123456789abcdef")


def _offer(*, holdout: float = 0.1, offer_id: int = 7, **changes: object) -> OfferView:
    offer = OfferView(
        id=offer_id,
        name="满 2 件薯片加购饮料",
        status="enabled",
        trigger_skus=["CHIPS"],
        min_qty=2,
        offer_sku="DRINK",
        price=990,
        holdout_share=holdout,
        pattern_id=None,
        pattern_support=None,
        pattern_confidence=None,
        pattern_lift=None,
        pattern_orders=None,
        created_by="t",
        reviewed_by="t",
        enabled_by="t",
        enabled_at=ENABLED,
        disabled_by="",
        disabled_at=None,
        gift_rule_id=None,
        created_at=ENABLED,
        updated_at=ENABLED,
    )
    return msgspec.structs.replace(offer, **changes) if changes else offer


def test_wilson_matches_published_values() -> None:
    # Newcombe (1998), Table I: 81/263 → 0.2553–0.3662; 15/148 → 0.0624–0.1605 (score method without correction).
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    low, high = wilson(15, 148)
    assert (round(low, 4), round(high, 4)) == (0.0624, 0.1605)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)


def test_newcombe_matches_published_example() -> None:
    # Newcombe (1998) example (a): 56/70 − 48/80 = 0.2000, hybrid score interval (method 10) 0.0524 to 0.3339.
    d = newcombe_difference(56, 70, 48, 80)
    assert round(d.estimate, 4) == 0.2 and (round(d.low, 4), round(d.high, 4)) == (0.0524, 0.3339)
    # (h) 10/10 − 0/10: 1.0, 0.6075 to 1.0000 (Wald would say 1.0 ± 0: a degenerate interval).
    d = newcombe_difference(10, 10, 0, 10)
    assert (round(d.low, 4), round(d.high, 4)) == (0.6075, 1.0)


def test_holdout_hash_is_keyed_stable_and_uniform() -> None:
    assert holdout_point(KEY, "shop", "买家小王", 7) == holdout_point(KEY, "shop", "买家小王", 7)
    assert holdout_point(KEY, "shop", "买家小王", 7) != holdout_point(KEY, "shop", "买家小王", 8)
    # keyed with the hub's secret: another key places the same buyer elsewhere (nobody without it can tell the arm)
    other = derive_holdout_key("another-hub-secret-key-0123456789abcdef")
    assert holdout_point(KEY, "shop", "买家小王", 7) != holdout_point(other, "shop", "买家小王", 7)
    points = [holdout_point(KEY, "shop", f"b{i}", 7) for i in range(20_000)]
    assert all(0 <= p < 1 for p in points)
    share = sum(p < 0.1 for p in points) / len(points)
    assert abs(share - 0.1) < 0.01  # 3 standard errors of 20,000 draws: 0.0064
    assert not in_holdout(KEY, "shop", "b1", 7, 0.0) and in_holdout(KEY, "shop", "b1", 7, 1.0)


def test_condition_and_cart() -> None:
    assert qualifies({"CHIPS": 2}, ["CHIPS"], 2) and not qualifies({"CHIPS": 1}, ["CHIPS"], 2)
    assert qualifies({"A": 2, "B": 3}, ["A", "B"], 2) and not qualifies({"A": 1, "B": 5}, ["A", "B"], 2)
    assert parse_cart("CHIPS:2,DRINK:1,CHIPS:1") == {"CHIPS": 3, "DRINK": 1}
    assert parse_cart("") == {}
    assert parse_cart("A:B:2") == {"A:B": 2}
    for bad in ("CHIPS", "CHIPS:0", "CHIPS:-1", ":2", "CHIPS:x"):
        with pytest.raises(Exception, match="offer_bad_cart"):
            parse_cart(bad)


def _measure(offer: OfferView, orders: list[EffectOrder], **kw: object) -> OfferEffect:
    units = buyers_of(offer, orders, before_since=BEFORE, enabled_at=ENABLED, until=UNTIL)
    return measure(offer, units, enabled_at=ENABLED, until=UNTIL, holdout_key=KEY, **kw)  # type: ignore[arg-type]


def _simulate(
    seed: int, *, control: float, treatment: float, orders: int, holdout: float, before: bool = True
) -> list[EffectOrder]:
    """``orders`` qualifying orders after enabling (one buyer each) and as many before; a buyer's arm is decided by
    the offer's own keyed hash, as the storefront decides it; Y attaches with the arm's true rate."""
    rng = random.Random(seed)
    offer = _offer(holdout=holdout)
    made: list[EffectOrder] = []
    for i in range(orders):
        buyer = f"s{seed}-b{i}"
        held = in_holdout(KEY, "shop", buyer, offer.id, offer.holdout_share)
        rate = control if held else treatment
        made.append(
            EffectOrder(
                order_id=i,
                channel="shop",
                buyer=buyer,
                placed_at=ENABLED + timedelta(minutes=rng.randrange(28 * 24 * 60)),
                sku_qty={"CHIPS": 2 + rng.randrange(3), **({"DRINK": 1} if rng.random() < rate else {})},
            )
        )
        if not before:
            continue
        made.append(
            EffectOrder(
                order_id=orders + i,
                channel="shop",
                buyer=f"s{seed}-p{i}",
                placed_at=ENABLED - timedelta(minutes=1 + rng.randrange(28 * 24 * 60 - 1)),
                sku_qty={"CHIPS": 2, **({"DRINK": 1} if rng.random() < control else {})},
            )
        )
    # Noise the measurement must ignore: orders below N, a gift-less order of Y alone, an order outside the windows.
    made.append(
        EffectOrder(order_id=-1, channel="shop", buyer="x", placed_at=ENABLED, sku_qty={"CHIPS": 1, "DRINK": 1})
    )
    made.append(EffectOrder(order_id=-2, channel="shop", buyer="x", placed_at=ENABLED, sku_qty={"DRINK": 1}))
    made.append(EffectOrder(order_id=-3, channel="shop", buyer="x", placed_at=UNTIL, sku_qty={"CHIPS": 5, "DRINK": 1}))
    return made


def test_simulated_ab_interval_contains_the_true_effect() -> None:
    offer = _offer(holdout=0.1)
    result = _measure(offer, _simulate(1, control=0.10, treatment=0.15, orders=6000, holdout=0.1))
    assert result.after.n == 6000 and result.before.n == 6000 and result.unit == "buyer"
    assert result.treatment.n + result.holdout.n == 6000 and result.unassigned == 0
    assert 450 < result.holdout.n < 750  # about 10 % of buyers
    assert result.effect is not None and result.effect.method == "newcombe_hybrid_score"
    assert result.effect.low <= 0.05 <= result.effect.high
    assert result.treatment.low is not None and result.treatment.high is not None
    assert result.treatment.low <= 0.15 <= result.treatment.high
    # the uncontrolled before/after change sees the same effect diluted by the hold-out: 0.9 × 0.05
    assert result.change is not None and result.change.low <= 0.045 <= result.change.high


# Repeat buyers with different tastes: a buyer's per-order chance of adding Y is LIGHT (70 % of buyers) or HEAVY
# (30 %); every buyer places ORDERS qualifying orders. A buyer attaches when any of them has Y: 1 − (1 − p)^ORDERS.
BUYERS, ORDERS, LIGHT, HEAVY, HEAVY_SHARE = 150, 10, 0.01, 0.30, 0.3


def _buyer_rate(lift: float) -> float:
    """The true share of buyers who attach, when the offer multiplies each buyer's per-order chance by ``lift``."""
    return sum(
        share * (1 - (1 - min(1.0, p * lift)) ** ORDERS)
        for share, p in ((1 - HEAVY_SHARE, LIGHT), (HEAVY_SHARE, HEAVY))
    )


def _repeat_buyers(seed: int, *, lift: float) -> list[EffectOrder]:
    rng = random.Random(seed)
    offer = _offer(holdout=0.2)
    made: list[EffectOrder] = []
    for b in range(BUYERS):
        buyer = f"r{seed}-b{b}"
        p = HEAVY if rng.random() < HEAVY_SHARE else LIGHT
        if not in_holdout(KEY, "shop", buyer, offer.id, offer.holdout_share):
            p = min(1.0, p * lift)
        for k in range(ORDERS):
            made.append(
                EffectOrder(
                    order_id=b * ORDERS + k,
                    channel="shop",
                    buyer=buyer,
                    placed_at=ENABLED + timedelta(minutes=rng.randrange(28 * 24 * 60)),
                    sku_qty={"CHIPS": 2, **({"DRINK": 1} if rng.random() < p else {})},
                )
            )
    return made


def _order_level(orders: list[EffectOrder]) -> tuple[float, float]:
    """What the old measurement did: every order an independent trial (for comparison only)."""
    counts = {True: [0, 0], False: [0, 0]}
    for o in orders:
        arm = counts[in_holdout(KEY, "shop", o.buyer, 7, 0.2)]
        arm[0] += "DRINK" in o.sku_qty
        arm[1] += 1
    d = newcombe_difference(counts[False][0], counts[False][1], counts[True][0], counts[True][1])
    return d.low, d.high


def test_repeat_buyers_no_effect_false_positives_near_5_percent() -> None:
    """150 buyers × 10 orders, buyers differ (1 % or 30 % per order), no true effect, 400 seeds: measured per buyer,
    the interval excludes 0 in about 5 % of tests (within 3 binomial standard errors, ±3.3 points). Counting orders
    as independent trials (the old measurement) excludes 0 far more often on the same data."""
    offer = _offer(holdout=0.2)
    runs, false_pos, order_level_false_pos = 400, 0, 0
    for seed in range(runs):
        orders = _repeat_buyers(seed, lift=1.0)
        result = _measure(offer, orders)
        assert result.after.n == BUYERS and result.after.orders == BUYERS * ORDERS
        assert result.effect is not None
        false_pos += result.effect.significant
        low, high = _order_level(orders)
        order_level_false_pos += not low <= 0 <= high
    assert abs(false_pos / runs - 0.05) <= 3 * math.sqrt(0.05 * 0.95 / runs), false_pos / runs
    assert order_level_false_pos / runs > 0.10, order_level_false_pos / runs


def test_repeat_buyers_coverage_near_95_percent() -> None:
    """The same repeat buyers with a true effect (the offer multiplies each buyer's per-order chance by 2): the
    buyer-level interval holds the true difference of buyer attach rates in about 95 % of 400 tests."""
    offer = _offer(holdout=0.2)
    true_difference = _buyer_rate(2.0) - _buyer_rate(1.0)
    assert 0.05 < true_difference < 0.10  # about 6.9 points
    runs, covered = 400, 0
    for seed in range(runs):
        effect = _measure(offer, _repeat_buyers(1000 + seed, lift=2.0)).effect
        assert effect is not None
        covered += effect.low <= true_difference <= effect.high
    assert abs(covered / runs - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / runs), covered / runs


def test_one_buyer_many_orders_is_one_unit() -> None:
    offer = _offer()
    orders = [
        EffectOrder(order_id=i, channel="shop", buyer="b", placed_at=ENABLED, sku_qty={"CHIPS": 2, "DRINK": i % 2})
        for i in range(4)
    ]
    orders += [  # two buyer-less orders: each a unit of its own, in neither arm
        EffectOrder(order_id=10 + i, channel="shop", buyer="", placed_at=ENABLED, sku_qty={"CHIPS": 2})
        for i in range(2)
    ]
    result = _measure(offer, orders)
    assert (result.after.hits, result.after.n, result.after.orders) == (1, 3, 6)
    assert result.treatment.n + result.holdout.n == 1 and result.unassigned == 2
    assert not result.contaminated
    flagged = _measure(offer, orders, contaminated=True)
    assert flagged.contaminated and "赠品规则已启用" in flagged.note


def test_windows_as_at_a_moment_and_after_re_enabling() -> None:
    # the weekly report of the week ending 16 Nov, for an offer switched off only on 5 Dec: measured to the week's end
    week_end = datetime(2026, 11, 16, tzinfo=UTC)
    offer = _offer(
        status="disabled",
        enabled_at=datetime(2026, 11, 10, tzinfo=UTC),
        disabled_at=datetime(2026, 12, 5, tzinfo=UTC),
    )
    since, enabled_at, until = windows(offer, week_end)
    assert (enabled_at, until) == (datetime(2026, 11, 10, tzinfo=UTC), week_end)
    assert since == datetime(2026, 11, 4, tzinfo=UTC)
    # switched on after the moment: not measured at all
    assert windows(offer, datetime(2026, 11, 9, tzinfo=UTC)) == (None, None, None)
    # switched off before the moment: to when it was switched off; never more than MAX_WINDOW
    assert windows(offer, datetime(2026, 12, 20, tzinfo=UTC))[2] == datetime(2026, 12, 5, tzinfo=UTC)
    running = msgspec.structs.replace(offer, status="enabled", disabled_at=None)
    assert windows(running, datetime(2027, 6, 1, tzinfo=UTC))[2] == datetime(2026, 11, 10, tzinfo=UTC) + MAX_WINDOW
    # re-enabled on 10 Nov after a run that ended on 8 Nov: the before window starts at that end, not 6 days back
    since, _, _ = windows(offer, week_end, last_disabled=datetime(2026, 11, 8, tzinfo=UTC))
    assert since == datetime(2026, 11, 8, tzinfo=UTC)


def test_no_orders_says_so() -> None:
    result = measure(_offer(), [], enabled_at=ENABLED, until=UNTIL, holdout_key=KEY)
    assert result.effect is None and result.after.n == 0 and result.after.rate is None
    assert "样本不足" in result.note
    never = measure(_offer(), [], enabled_at=None, until=None, holdout_key=KEY)
    assert never.before_since is None and never.effect is None
