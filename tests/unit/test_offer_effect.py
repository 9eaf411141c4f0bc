"""The add-on offers' measurement (orderhub.offers.effect): intervals, the hold-out hash, and simulated A/B tests with a
known true effect."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from orderhub.offers.effect import EffectOrder, measure, newcombe_difference, wilson
from orderhub.offers.model import holdout_point, in_holdout, qualifies
from orderhub.offers.service import OfferView, parse_cart

ENABLED = datetime(2026, 11, 2, tzinfo=UTC)
UNTIL = ENABLED + timedelta(days=28)


def _offer(*, holdout: float = 0.1, offer_id: int = 7) -> OfferView:
    return OfferView(
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


def test_holdout_hash_is_stable_and_uniform() -> None:
    assert holdout_point("shop", "买家小王", 7) == holdout_point("shop", "买家小王", 7)
    assert holdout_point("shop", "买家小王", 7) != holdout_point("shop", "买家小王", 8)
    points = [holdout_point("shop", f"b{i}", 7) for i in range(20_000)]
    assert all(0 <= p < 1 for p in points)
    share = sum(p < 0.1 for p in points) / len(points)
    assert abs(share - 0.1) < 0.01  # 3 standard errors of 20,000 draws: 0.0064
    assert not in_holdout("shop", "b1", 7, 0.0) and in_holdout("shop", "b1", 7, 1.0)


def test_condition_and_cart() -> None:
    assert qualifies({"CHIPS": 2}, ["CHIPS"], 2) and not qualifies({"CHIPS": 1}, ["CHIPS"], 2)
    assert qualifies({"A": 2, "B": 3}, ["A", "B"], 2) and not qualifies({"A": 1, "B": 5}, ["A", "B"], 2)
    assert parse_cart("CHIPS:2,DRINK:1,CHIPS:1") == {"CHIPS": 3, "DRINK": 1}
    assert parse_cart("") == {}
    assert parse_cart("A:B:2") == {"A:B": 2}
    for bad in ("CHIPS", "CHIPS:0", "CHIPS:-1", ":2", "CHIPS:x"):
        with pytest.raises(Exception, match="offer_bad_cart"):
            parse_cart(bad)


def _simulate(
    seed: int, *, control: float, treatment: float, orders: int, holdout: float, before: bool = True
) -> list[EffectOrder]:
    """``orders`` qualifying orders after enabling (one buyer each) and as many before; a buyer's arm is decided by
    the offer's own hash, as the storefront decides it; Y attaches with the arm's true rate."""
    rng = random.Random(seed)
    offer = _offer(holdout=holdout)
    made: list[EffectOrder] = []
    for i in range(orders):
        buyer = f"s{seed}-b{i}"
        held = in_holdout("shop", buyer, offer.id, offer.holdout_share)
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
    result = measure(
        offer, _simulate(1, control=0.10, treatment=0.15, orders=6000, holdout=0.1), enabled_at=ENABLED, until=UNTIL
    )
    assert result.after.n == 6000 and result.before.n == 6000
    assert result.treatment.n + result.holdout.n == 6000 and result.unassigned == 0
    assert 450 < result.holdout.n < 750  # about 10 % of buyers
    assert result.effect is not None and result.effect.method == "newcombe_hybrid_score"
    assert result.effect.low <= 0.05 <= result.effect.high
    assert result.treatment.low is not None and result.treatment.high is not None
    assert result.treatment.low <= 0.15 <= result.treatment.high
    # the uncontrolled before/after change sees the same effect diluted by the hold-out: 0.9 × 0.05
    assert result.change is not None and result.change.low <= 0.045 <= result.change.high


def test_simulated_ab_coverage_is_near_95_percent() -> None:
    """Across 400 simulated A/B tests (seeds 0–399; 1,500 orders, 20 % hold-out) the interval holds the true
    difference in about 95 % of them: within 95 % ± 3 binomial standard errors (±3.3 points)."""
    offer = _offer(holdout=0.2)
    runs, covered = 400, 0
    for seed in range(runs):
        orders = _simulate(seed, control=0.10, treatment=0.15, orders=1500, holdout=0.2, before=False)
        effect = measure(offer, orders, enabled_at=ENABLED, until=UNTIL).effect
        assert effect is not None
        covered += effect.low <= 0.05 <= effect.high
    rate = covered / runs
    assert abs(rate - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / runs), rate


def test_no_orders_says_so() -> None:
    result = measure(_offer(), [], enabled_at=ENABLED, until=UNTIL)
    assert result.effect is None and result.after.n == 0 and result.after.rate is None
    assert "样本不足" in result.note
    never = measure(_offer(), [], enabled_at=None, until=None)
    assert never.before_since is None and never.effect is None
