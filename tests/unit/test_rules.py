"""Rule evaluation (pure): each condition and action type, ordering, stop, gift scaling."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orderhub.errors import ValidationFailed
from orderhub.rules.model import OrderFacts, decode_actions, decode_conditions
from orderhub.rules.service import RuleView, evaluate, memo_gift_candidates


def facts(**overrides: Any) -> OrderFacts:
    base: dict[str, Any] = {
        "channel": "tmall",
        "buyer_nick": "小王",
        "buyer_phone": "13800138000",
        "buyer_memo": "",
        "seller_memo": "",
        "province": "浙江省",
        "goods_amount": 10000,
        "paid_amount": 9000,
        "sku_qty": {"A": 2, "B": 1},
        "tags": [],
        "priority": "normal",
    }
    base.update(overrides)
    return OrderFacts(**base)


def rule(rule_id: int, conditions: list[dict[str, Any]], actions: list[dict[str, Any]], stop: bool = False) -> RuleView:
    return RuleView(
        id=rule_id,
        name=f"r{rule_id}",
        priority=rule_id,
        enabled=True,
        stop=stop,
        conditions=decode_conditions(conditions),
        actions=decode_actions(actions),
        updated_at=datetime.now(UTC),
    )


@pytest.mark.parametrize(
    ("condition", "hit"),
    [
        ({"field": "memo", "op": "contains", "value": "发票"}, True),
        ({"field": "seller_memo", "op": "contains", "value": "发票"}, False),
        ({"field": "buyer_memo", "op": "contains_any", "value": ["加急", "发票"]}, True),
        ({"field": "memo", "op": "not_contains", "value": "赠品"}, True),
        ({"field": "paid_amount", "op": ">=", "value": 9000}, True),
        ({"field": "goods_amount", "op": "<", "value": 10000}, False),
        ({"field": "quantity", "op": "==", "value": 3}, True),
        ({"field": "sku_qty", "sku": "A", "op": ">=", "value": 2}, True),
        ({"field": "sku_qty", "sku": "C", "op": ">", "value": 0}, False),
        ({"field": "channel", "op": "in", "value": ["tmall", "jd"]}, True),
        ({"field": "province", "op": "not_in", "value": ["浙江省"]}, False),
        ({"field": "buyer", "op": "in", "value": ["13800138000"]}, True),
        ({"field": "sku", "op": "contains_all", "value": ["A", "B"]}, True),
        ({"field": "sku", "op": "contains_all", "value": ["A", "C"]}, False),
        ({"field": "sku", "op": "contains_any", "value": ["C", "B"]}, True),
        ({"field": "tags", "op": "contains", "value": "vip"}, False),
    ],
)
def test_each_condition(condition: dict[str, Any], hit: bool) -> None:
    outcome = evaluate(facts(buyer_memo="请开发票"), [rule(1, [condition], [{"type": "add_tag", "tag": "x"}])])
    assert (outcome.tags == ["x"]) is hit


def test_actions_in_priority_order_and_later_rules_see_earlier_tags() -> None:
    rules = [
        rule(1, [{"field": "memo", "op": "contains", "value": "加急"}], [{"type": "add_tag", "tag": "rush"}]),
        rule(
            2, [{"field": "tags", "op": "contains", "value": "rush"}], [{"type": "set_priority", "priority": "urgent"}]
        ),
        rule(3, [], [{"type": "require_approval"}, {"type": "hold", "queue": "invoice", "reason": "invoice"}]),
        rule(4, [], [{"type": "prefer_warehouse", "warehouse": "GZ"}, {"type": "prefer_carrier", "carrier": "sf"}]),
    ]
    outcome = evaluate(facts(seller_memo="加急发货"), rules)
    assert outcome.tags == ["rush"] and outcome.priority == "urgent"
    assert [(h.queue, h.reason) for h in outcome.holds] == [("approval", "needs_approval"), ("invoice", "invoice")]
    assert (outcome.preferred_warehouse, outcome.preferred_carrier) == ("GZ", "sf")
    assert [f.rule_id for f in outcome.fired] == [1, 2, 3, 4]
    assert outcome.fired[0].did == ["添加标签 rush"]


def test_stop_ends_evaluation() -> None:
    rules = [rule(1, [], [{"type": "add_tag", "tag": "a"}], stop=True), rule(2, [], [{"type": "add_tag", "tag": "b"}])]
    assert evaluate(facts(), rules).tags == ["a"]


@pytest.mark.parametrize(("bought", "gifts"), [(1, 0), (2, 1), (5, 2), (6, 3)])
def test_buy_x_get_y_scales_with_quantity(bought: int, gifts: int) -> None:
    gift = rule(1, [], [{"type": "add_gift", "sku": "G", "qty": 1, "per_sku": "A", "per_qty": 2}])
    outcome = evaluate(facts(sku_qty={"A": bought}), [gift])
    assert [(g.sku, g.qty) for g in outcome.gifts] == ([("G", gifts)] if gifts else [])
    assert [f.rule_id for f in outcome.fired] == [1]


def test_threshold_and_combination_gifts() -> None:
    rules = [
        rule(1, [{"field": "paid_amount", "op": ">=", "value": 20000}], [{"type": "add_gift", "sku": "BIG"}]),
        rule(
            2,
            [{"field": "sku", "op": "contains_all", "value": ["A", "B"]}],
            [{"type": "add_gift", "sku": "AB", "qty": 2}],
        ),
    ]
    assert [(g.sku, g.qty) for g in evaluate(facts(paid_amount=9000), rules).gifts] == [("AB", 2)]
    assert [(g.sku, g.qty) for g in evaluate(facts(paid_amount=20000), rules).gifts] == [("BIG", 1), ("AB", 2)]


def test_memo_gift_candidates() -> None:
    assert memo_gift_candidates("赠品：SKU-1×2，另外送 TS-002-BLK-M 谢谢") == [("SKU-1", 2), ("TS-002-BLK-M", 1)]
    assert memo_gift_candidates("请尽快发货") == []


@pytest.mark.parametrize(
    ("conditions", "actions", "field"),
    [
        ([{"field": "colour", "op": "==", "value": 1}], [{"type": "add_tag", "tag": "x"}], "conditions[0].field"),
        (
            [{"field": "paid_amount", "op": "contains", "value": 1}],
            [{"type": "add_tag", "tag": "x"}],
            "conditions[0].op",
        ),
        (
            [{"field": "paid_amount", "op": ">=", "value": "100"}],
            [{"type": "add_tag", "tag": "x"}],
            "conditions[0].value",
        ),
        ([{"field": "sku_qty", "op": ">=", "value": 1}], [{"type": "add_tag", "tag": "x"}], "conditions[0].sku"),
        ([], [], "actions"),
        ([], [{"type": "teleport"}], "actions"),
        ([], [{"type": "add_gift", "sku": "G", "qty": 0}], "actions[0].qty"),
        ([], [{"type": "set_priority", "priority": "whenever"}], "actions"),
    ],
)
def test_bad_rules_are_refused_with_the_field(
    conditions: list[dict[str, Any]], actions: list[dict[str, Any]], field: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        decode_conditions(conditions)
        decode_actions(actions)
    assert info.value.field == field
