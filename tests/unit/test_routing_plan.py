"""Allocation planning (pure): whole order first, split per SKU, shortfalls against the closest warehouse."""

from __future__ import annotations

from orderhub.inventory.service import Shortfall
from orderhub.routing.geo import region_distance
from orderhub.routing.service import Allocation, Candidate, packing_line, plan

CODES = {1: "A", 2: "B"}
RANKED = [Candidate(id=w, code=f"W{w}", distance=0, preferred=False, default=False) for w in (10, 20, 30)]


def test_first_warehouse_with_everything_wins_even_if_not_first_ranked() -> None:
    available = {(10, 1): 5, (20, 1): 5, (20, 2): 5}
    assert plan({1: 2, 2: 1}, RANKED, available, allow_split=False, codes=CODES) == Allocation(
        by_warehouse={20: {1: 2, 2: 1}}
    )


def test_split_places_each_sku_whole_in_the_best_ranked_warehouse_having_it() -> None:
    available = {(10, 1): 5, (30, 2): 5, (20, 2): 1}
    result = plan({1: 2, 2: 3}, RANKED, available, allow_split=True, codes=CODES)
    assert result == Allocation(by_warehouse={10: {1: 2}, 30: {2: 3}})
    assert isinstance(result, Allocation) and result.split


def test_shortfalls_are_reported_against_the_closest_warehouse() -> None:
    available = {(10, 1): 0, (20, 1): 5, (20, 2): 1}
    result = plan({1: 2, 2: 3}, RANKED, available, allow_split=False, codes=CODES)
    assert result == [Shortfall(sku="B", requested=3, available=1)]
    split = plan({1: 2, 2: 9}, RANKED, available, allow_split=True, codes=CODES)
    assert split == [Shortfall(sku="B", requested=9, available=1)]


def test_region_distance_and_packing_line() -> None:
    assert region_distance("广东省", "华南") == 0 and region_distance("黑龙江省", "华北") == 1
    assert (
        packing_line(weight_g=4000, volume_cm3=1000, max_item_volume_cm3=500, b_weight_g=5000, b_volume_cm3=30000)
        == "A"
    )
    assert (
        packing_line(weight_g=5001, volume_cm3=1000, max_item_volume_cm3=500, b_weight_g=5000, b_volume_cm3=30000)
        == "B"
    )
    assert (
        packing_line(weight_g=10, volume_cm3=40000, max_item_volume_cm3=40000, b_weight_g=5000, b_volume_cm3=30000)
        == "B"
    )
