"""Allocation planning (pure): whole order first, split per SKU, shortfalls against the closest warehouse."""

from __future__ import annotations

import msgspec

from orderhub.inventory.service import Shortfall
from orderhub.routing.geo import region_distance
from orderhub.routing.service import (
    Allocation,
    Candidate,
    RoutingDecision,
    RoutingReason,
    SplitPolicy,
    StockCover,
    explain,
    packing_line,
    plan,
)

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


# -- why: the ranking's reasons and the decision (order.routed) ----------------------------------------------------

WAREHOUSES = [  # as routing.rank orders them for a receiver in 上海市
    Candidate(id=7, code="BJ", distance=2, preferred=True, default=False, region="华北"),  # a rule prefers it
    Candidate(id=3, code="SH", distance=0, preferred=False, default=False, region="华东"),  # serves 上海市
    Candidate(id=5, code="GZ", distance=2, preferred=False, default=True, region="华南"),  # the channel's default
    Candidate(id=9, code="XX", distance=10, preferred=False, default=False, region="海外"),  # region unknown
]


def _why(
    available: dict[tuple[int, int], int], policy: SplitPolicy, wanted: dict[int, int] | None = None
) -> RoutingDecision:
    wanted = wanted or {1: 2, 2: 1}
    result = plan(wanted, WAREHOUSES, available, allow_split=policy == SplitPolicy.SPLIT, codes=CODES)
    return explain(wanted, WAREHOUSES, available, result, province="上海市", policy=policy, codes=CODES)


def test_the_ranking_records_each_warehouses_reasons_and_the_chosen_one() -> None:
    why = _why({(7, 1): 1, (3, 1): 5, (3, 2): 5, (5, 2): 1}, SplitPolicy.EXCEPTION)
    assert (why.decision, why.reason, why.chosen, why.candidates) == (
        "single",
        RoutingReason.FIRST_WITH_ALL_STOCK,
        [3],
        4,
    )
    assert why.lines == {"A": "SH", "B": "SH"}
    assert why.message == "排名更靠前的 BJ 库存不全；SH 排名第 2，库存齐全，整单从此仓发出"
    facts = [
        (r.rank, r.code, r.preferred, r.serves_province, r.default, r.region_hops, r.stock, r.chosen)
        for r in why.ranking
    ]
    assert facts == [
        (1, "BJ", True, False, False, 1, StockCover.NONE, False),  # (1 of 2 units of A: not covered)
        (2, "SH", False, True, False, 0, StockCover.FULL, True),
        (3, "GZ", False, False, True, 1, StockCover.PARTIAL, False),
        (4, "XX", False, False, False, None, StockCover.NONE, False),
    ]
    assert why.ranking[0].why == "规则指定仓库；不服务收货省份，相距 1 个大区（华北）；无货"
    assert why.ranking[1].why == "服务收货省份（上海市）；库存齐全；整单从此仓发出"
    assert why.ranking[2].why == "不服务收货省份，相距 1 个大区（华南）；渠道默认仓；部分有货（1/2 个 SKU）"
    assert why.ranking[3].why == "不服务收货省份，大区未知；无货"
    data = msgspec.to_builtins(why)  # what the order's event log keeps: English keys and codes, zh-CN text
    assert data["reason"] == "first_with_all_stock" and data["ranking"][1]["stock"] == "full"
    assert data["policy"] == "exception"


def test_the_best_ranked_warehouse_with_everything_says_so() -> None:
    why = _why({(7, 1): 5, (7, 2): 5, (3, 1): 5, (3, 2): 5}, SplitPolicy.EXCEPTION)
    assert why.chosen == [7] and why.message == "BJ 排名第 1，库存齐全，整单从此仓发出"
    assert why.ranking[0].why.startswith("规则指定仓库；") and why.ranking[0].chosen


def test_a_split_records_where_each_sku_ships_from() -> None:
    why = _why({(3, 1): 5, (5, 2): 5}, SplitPolicy.SPLIT)
    assert (why.decision, why.reason, why.chosen) == ("split", RoutingReason.SPLIT, [3, 5])
    assert why.lines == {"A": "SH", "B": "GZ"}
    assert why.message == "没有一个仓库存齐全，渠道允许拆单：A 从 SH，B 从 GZ"
    assert why.ranking[1].why.endswith("拆单：发 A") and why.ranking[2].why.endswith("拆单：发 B")


def test_short_stock_records_why_under_each_policy() -> None:
    available = {(3, 1): 5}
    wait = _why(available, SplitPolicy.WAIT)
    assert (wait.decision, wait.reason, wait.chosen) == ("short", RoutingReason.SHORT_NO_SPLIT, [])
    assert wait.message == "没有一个仓库存齐全（缺 B），渠道不拆单：等待补货"
    assert _why(available, SplitPolicy.EXCEPTION).message.endswith("渠道不拆单：转异常处理")
    split = _why(available, SplitPolicy.SPLIT)
    assert (split.reason, split.message) == (RoutingReason.SHORT_EVEN_SPLIT, "拆单后仍缺货：B")


def test_a_long_ranking_keeps_the_first_ten_and_the_chosen() -> None:
    many = [
        Candidate(id=i, code=f"W{i}", distance=3, preferred=False, default=False, region="西北") for i in range(1, 15)
    ]
    available = {(14, 1): 1}
    result = plan({1: 1}, many, available, allow_split=False, codes=CODES)
    why = explain({1: 1}, many, available, result, province="上海市", policy=SplitPolicy.EXCEPTION, codes=CODES)
    assert [r.rank for r in why.ranking] == [*range(1, 11), 14] and why.candidates == 14 and why.chosen == [14]
