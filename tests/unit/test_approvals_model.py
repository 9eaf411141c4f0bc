"""A step's arithmetic (或签, 会签, 依次, N-of-M, signers added before / after) and the flow definition's checks,
without a database."""

from __future__ import annotations

from typing import Any

import pytest

from orderhub.approvals.errors import ApprovalError
from orderhub.approvals.model import RequestFacts, SlotTask, conditions_match, decode_definition, step_verdict
from orderhub.errors import ValidationFailed
from orderhub.rules.model import Condition, OrderFacts

ROLES = frozenset({"admin", "manager", "approver"})


def _tasks(*spec: tuple[int, int, str]) -> list[SlotTask]:
    return [SlotTask(id=i + 1, slot=slot, seq=seq, status=status) for i, (slot, seq, status) in enumerate(spec)]


@pytest.mark.parametrize(
    ("mode", "n", "statuses", "outcome"),
    [
        ("any", None, ["pending", "approved", "pending"], "approved"),
        ("any", None, ["rejected", "pending"], "rejected"),
        ("all", None, ["approved", "approved", "pending"], "open"),
        ("all", None, ["approved", "rejected", "pending"], "rejected"),
        ("all", None, ["approved", "approved"], "approved"),
        ("n_of_m", 2, ["rejected", "approved", "pending"], "open"),
        ("n_of_m", 2, ["rejected", "approved", "approved"], "approved"),
        ("n_of_m", 2, ["rejected", "rejected", "pending"], "rejected"),
        ("n_of_m", 5, ["approved", "approved"], "approved"),  # n above the people found: all of them
        ("all", None, ["approved", "transferred", "approved"], "approved"),  # a handed-on task does not count
    ],
)
def test_step_outcomes(mode: str, n: int | None, statuses: list[str], outcome: str) -> None:
    tasks = _tasks(*[(slot, 0, status) for slot, status in enumerate(statuses)])
    assert step_verdict(mode, n, tasks).outcome == outcome


def test_sequential_wakes_the_next_slot_only() -> None:
    verdict = step_verdict("sequential", None, _tasks((0, 0, "approved"), (1, 0, "waiting"), (2, 0, "waiting")))
    assert (verdict.outcome, verdict.activate) == ("open", [2])


def test_signers_in_a_slot_decide_in_seq_order() -> None:
    before = _tasks((0, -1, "pending"), (0, 0, "waiting"))  # x added before a: a waits
    assert step_verdict("all", None, before).activate == []
    after_x = _tasks((0, -1, "approved"), (0, 0, "waiting"))
    assert step_verdict("all", None, after_x).activate == [2]
    added_after = _tasks((0, 0, "approved"), (0, 1, "waiting"), (1, 0, "approved"))
    verdict = step_verdict("any", None, added_after)
    assert (verdict.outcome, verdict.activate) == ("approved", [])  # any: the other slot decided already
    verdict = step_verdict("all", None, added_after)
    assert (verdict.outcome, verdict.activate) == ("open", [2])


def _facts(**order: Any) -> RequestFacts:
    base: dict[str, Any] = {
        "channel": "taobao",
        "buyer_nick": "",
        "buyer_phone": "",
        "buyer_memo": "",
        "seller_memo": "",
        "province": "上海市",
        "goods_amount": 500100,
        "paid_amount": 500100,
        "sku_qty": {"DZ-1": 1},
        "tags": [],
        "priority": "normal",
    }
    return RequestFacts(kind="order_hold", order=OrderFacts(**{**base, **order}), sku_names=["定制刻字保温杯"])


def test_conditions_read_the_order_and_the_approvals_own_fields() -> None:
    facts = _facts()
    assert conditions_match(facts, [Condition(field="paid_amount", op=">", value=500000)])
    assert conditions_match(facts, [Condition(field="sku_name", op="contains", value="定制")])
    assert not conditions_match(facts, [Condition(field="kind", op="in", value=["stock_writeoff"])])
    assert conditions_match(facts, [Condition(field="kind", op="not_in", value=["stock_writeoff"])])
    assert not conditions_match(_facts(paid_amount=100), [Condition(field="paid_amount", op=">", value=500000)])


def test_a_definition_is_checked_as_a_whole() -> None:
    good = {"steps": [{"name": "审批", "approvers": [{"by": "role_in_region", "role": "manager"}]}]}
    definition = decode_definition(good, roles=ROLES)
    assert definition.kinds == ["order_hold"] and definition.steps[0].mode == "any"
    for bad in (
        {"steps": [{"name": "审批", "approvers": [{"by": "role", "role": "nobody"}]}]},
        {"steps": [{"name": "审批", "approvers": [{"by": "user", "user_ids": []}]}]},
        {"steps": [{"name": "审批", "approvers": [{"by": "manager", "levels": 9}]}]},
        {"steps": [{"name": "审批", "approvers": [{"by": "user", "user_ids": [1]}], "mode": "all", "n": 2}]},
        {"steps": [{"name": "审批", "approvers": [{"by": "user", "user_ids": [1]}], "time_limit_s": 5}]},
        {"steps": [{"name": "审批", "approvers": [{"by": "user", "user_ids": [1]}]}], "entry": [{"field": "x"}]},
        {"steps": [{"name": "审批", "approvers": [{"by": "user", "user_ids": [1]}]}], "surprise": 1},
    ):
        with pytest.raises(ValidationFailed) as caught:
            decode_definition(bad, roles=ROLES)
        assert caught.value.code == ApprovalError.APPROVAL_BAD_DEFINITION, bad
