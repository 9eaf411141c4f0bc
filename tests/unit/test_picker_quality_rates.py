"""The fair part of the error analysis (issue 20 B4, orderhub.picking.rates): the Wilson score interval against
published values, the ranking by its lower bound with small samples set apart, and the location clusters."""

from __future__ import annotations

import pytest

from orderhub.picking.rates import (
    INSUFFICIENT,
    Z_95,
    LocationCount,
    RateCount,
    location_clusters,
    rank_rates,
    wilson_interval,
)

# Newcombe, "Two-sided confidence intervals for the single proportion: comparison of seven methods", Statistics in
# Medicine 17 (1998) 857–872, Table II, method 3 (Wilson score interval without continuity correction), to 4 places —
# the same values R's prop.test(x, n, correct = FALSE)$conf.int and statsmodels'
# proportion_confint(x, n, method="wilson") give.
NEWCOMBE_1998 = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("k", "n", "low", "high"), NEWCOMBE_1998)
def test_wilson_interval_matches_newcombe_1998(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n)
    assert (round(got[0], 4), round(got[1], 4)) == (low, high)


def test_wilson_interval_edges() -> None:
    assert Z_95 == pytest.approx(1.959964, abs=1e-6)
    assert wilson_interval(0, 0) == (0.0, 1.0)  # nothing known
    low, high = wilson_interval(5, 5)
    assert high == 1.0 and 0.5 < low < 1.0  # not of zero width at k = n, unlike the Wald interval
    # 1 of 3 and 40 of 2,000 (the constructed month of the integration test), worked by hand from the formula
    assert wilson_interval(1, 3) == pytest.approx((0.061492, 0.792340), abs=1e-6)
    assert wilson_interval(40, 2000) == pytest.approx((0.014722, 0.027119), abs=1e-6)
    with pytest.raises(ValueError):
        wilson_interval(4, 3)
    with pytest.raises(ValueError):
        wilson_interval(-1, 3)


def test_three_lines_with_one_error_are_not_the_worst_picker() -> None:
    rates = rank_rates(
        [
            RateCount(key="1", name="新人小王", lines=3, error_lines=1),
            RateCount(key="2", name="老手老张", lines=2000, error_lines=40),
            RateCount(key="3", name="稳健小李", lines=1500, error_lines=6),
            RateCount(key="4", name="粗心小赵", lines=400, error_lines=20),
        ]
    )
    by_key = {r.key: r for r in rates}
    assert [r.key for r in rates] == ["4", "2", "3", "1"]  # ranked by the lower bound, the small sample last
    assert (by_key["4"].rank, by_key["2"].rank, by_key["3"].rank) == (1, 2, 3)
    newcomer = by_key["1"]
    assert newcomer.rank is None and newcomer.insufficient and newcomer.note == INSUFFICIENT
    assert newcomer.per_1000 == 333.33 and newcomer.lines == 3  # shown with its lines, not hidden
    veteran = by_key["2"]
    assert (veteran.per_1000, veteran.low_per_1000, veteran.high_per_1000) == (20.0, 14.72, 27.12)
    # 20/400 (5 %) has a higher rate and a lower bound above 2 %'s upper bound: worse, significantly
    assert by_key["4"].low_per_1000 > veteran.low_per_1000
    # the threshold is a parameter: with min_lines=3 the newcomer is ranked — first, by 1/3's lower bound of 6.1 %
    assert rank_rates([RateCount(key="1", name="", lines=3, error_lines=1)], min_lines=3)[0].rank == 1


def test_errors_clustered_at_one_location_are_flagged_and_spread_ones_are_not() -> None:
    clusters = location_clusters(
        [
            # picked half at A01, half at B07; 9 of 10 error lines at B07
            ("SKU-CLUSTER", "蓝色保温杯", [
                LocationCount(location="A01-01", warehouse="W1", lines=500, error_lines=1),
                LocationCount(location="B07-03", warehouse="W1", lines=500, error_lines=9),
            ]),
            # errors in proportion to the picks: 6 of 10 at a location holding 60 % of the picks — not a cluster
            ("SKU-SPREAD", "红色保温杯", [
                LocationCount(location="A02-01", warehouse="W1", lines=600, error_lines=6),
                LocationCount(location="C03-02", warehouse="W1", lines=400, error_lines=4),
            ]),
            # one location only: its share of the picks is 1, never a cluster
            ("SKU-ONE", "绿色保温杯", [LocationCount(location="A03-01", warehouse="W1", lines=80, error_lines=8)]),
            # two errors, both at one location of several: too few to call it a pattern
            ("SKU-FEW", "黄色保温杯", [
                LocationCount(location="A04-01", warehouse="W1", lines=300, error_lines=2),
                LocationCount(location="A04-02", warehouse="W1", lines=300, error_lines=0),
            ]),
            ("SKU-CLEAN", "白色保温杯", [LocationCount(location="A05-01", warehouse="W1", lines=90, error_lines=0)]),
        ]
    )  # fmt: skip
    by_sku = {c.sku: c for c in clusters}
    assert "SKU-CLEAN" not in by_sku  # no errors, no row
    cluster = by_sku["SKU-CLUSTER"]
    assert clusters[0] is cluster and cluster.flagged and cluster.hint
    assert (cluster.location, cluster.location_error_lines, cluster.error_lines) == ("B07-03", 9, 10)
    assert (cluster.error_share, cluster.pick_share, cluster.locations) == (0.9, 0.5, 2)
    assert cluster.share_low > cluster.pick_share
    spread = by_sku["SKU-SPREAD"]
    assert not spread.flagged and spread.error_share == 0.6 and spread.pick_share == 0.6 and spread.hint == ""
    assert not by_sku["SKU-ONE"].flagged and by_sku["SKU-ONE"].pick_share == 1.0
    assert not by_sku["SKU-FEW"].flagged and by_sku["SKU-FEW"].error_share == 1.0
    assert [c.flagged for c in clusters] == [True, False, False, False]
