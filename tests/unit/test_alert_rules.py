"""The threshold alerts' state machine (orderhub.insights.alerts.step) and rule validation: pure, no hub."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orderhub.errors import ValidationFailed
from orderhub.insights.alerts import AlertRuleIn, Limits, RuleState, step, validate_rule

T0 = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


def _run(limits: Limits, values: list[float | None], *, every: float = 30) -> list[str | None]:
    state, actions = RuleState(), list[str | None]()
    for i, value in enumerate(values):
        nxt = step(limits, state, value, T0 + timedelta(seconds=every * i))
        state = nxt.state
        actions.append(nxt.action)
    return actions


def test_above_fires_once_per_crossing_and_rearms_only_below_the_clear_level() -> None:
    limits = Limits(comparison="above", threshold=100, clear_level=80)
    values: list[float | None] = [50, 100, 101, 150, 99, 90, 80, 101, 120, 79, 81, 101]
    assert _run(limits, values) == [
        None, None, "fire", None, None, None, None, None, None, "clear", None, "fire",
    ]


def test_below_mirrors_above() -> None:
    limits = Limits(comparison="below", threshold=0.95, clear_level=0.97)
    assert _run(limits, [0.99, 0.94, 0.90, 0.96, 0.98, 0.96, 0.94]) == [
        None, "fire", None, None, "clear", None, "fire",
    ]


def test_no_data_changes_nothing() -> None:
    limits = Limits(comparison="above", threshold=10, clear_level=5)
    assert _run(limits, [None, 11, None, None, 4, None]) == [None, "fire", None, None, "clear", None]


def test_a_clear_level_equal_to_the_threshold_still_needs_a_crossing_back() -> None:
    limits = Limits(comparison="above", threshold=10, clear_level=10)
    assert _run(limits, [11, 10, 10, 9, 10, 11]) == ["fire", None, None, "clear", None, "fire"]


def test_min_duration_waits_and_a_dip_resets_the_wait() -> None:
    limits = Limits(comparison="above", threshold=10, clear_level=5, min_duration_s=60)
    # every 30 s: 11 (t=0, pending), 12 (t=30), 9 (dip: reset), 11 (t=90), 11 (t=120), 11 (t=150: 60 s past) …
    assert _run(limits, [11, 12, 9, 11, 11, 11, 11]) == [None, None, None, None, None, "fire", None]
    state = step(limits, RuleState(), 11, T0).state
    assert state.state == "armed" and state.pending_since == T0


def _rule(**kw: object) -> AlertRuleIn:
    base: dict[str, object] = {"name": "积压", "metric": "backlog", "comparison": "above", "threshold": 100.0}
    return AlertRuleIn(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"metric": "gmv"}, "alert_unknown_metric", "metric"),
        ({"metric": "kpi:happiness"}, "alert_unknown_metric", "metric"),
        ({"metric": "inflow_per_min", "warehouse_id": 3}, "alert_hub_only_metric", "warehouse_id"),
        ({"threshold": None}, "alert_threshold_required", "threshold"),
        ({"clear_level": 120.0}, "alert_bad_clear_level", "clear_level"),
        ({"comparison": "below", "clear_level": 90.0}, "alert_bad_clear_level", "clear_level"),
    ],
)
def test_rules_that_cannot_be_evaluated_are_refused(changes: dict[str, object], code: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        validate_rule(_rule(**changes))
    assert refused.value.code == code and refused.value.field == field


def test_valid_rules_pass() -> None:
    validate_rule(_rule(clear_level=80.0, warehouse_id=3))
    validate_rule(_rule(metric="inflow_per_min", threshold=2000.0, clear_level=1500.0))
    validate_rule(_rule(metric="kpi:on_time_rate", comparison="below", threshold=None))
    validate_rule(_rule(metric="exception_rate", comparison="above", threshold=0.05, clear_level=0.03))
