"""The KPIs' arithmetic and the health index's scoring (pure: no database): docs/kpis.md, docs/health.md."""

from __future__ import annotations

from datetime import date

import msgspec
import pytest

from orderhub.errors import ValidationFailed
from orderhub.insights.health_settings import DEFAULT_SETTINGS, HealthSettings, MetricSetting, validate
from orderhub.insights.kpis import KPI_NAMES, compute_kpis
from orderhub.insights.queries import OperatorDay, OrderFigures
from orderhub.insights.scoring import metric_score, score_kpis

# 10 shipped orders: 5 within 15 min, 3 within 30–60, 2 within 120–180 minutes.
HISTOGRAM = (5, 0, 3, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0)
FIGURES = OrderFigures(
    received=50,
    routed=40,
    shipped=10,
    shipped_with_sla=8,
    shipped_on_time=6,
    exceptions=2,
    cycle_count=10,
    cycle_seconds=10 * 3600,
    cycle_histogram=HISTOGRAM,
)
OPERATORS = [
    OperatorDay(day=date(2026, 12, 1), warehouse=1, user_id=7, role="pick", first_scan_s=0, last_scan_s=8 * 3600),
    OperatorDay(
        day=date(2026, 12, 1),
        warehouse=1,
        user_id=8,
        role="pack",
        orders_packed=20,
        first_pass_ok=19,
        first_scan_s=0,
        last_scan_s=4 * 3600,
    ),
]


def test_every_kpi_on_known_figures() -> None:
    k = compute_kpis(FIGURES, OPERATORS, 1, DEFAULT_SETTINGS, warehouse_scope=False)
    assert tuple(k) == KPI_NAMES
    # p90: rank 9 of 10 falls in the 120–180 bucket (2 orders, 8 before): 120 + 60 × (9 − 8) / 2 = 150
    assert k["cycle_time"].value == pytest.approx(150.0)
    assert k["cycle_time"].detail["p50"] == pytest.approx(15.0)  # rank 5 of the 5 in ≤ 15
    assert k["cycle_time"].detail["mean"] == pytest.approx(60.0)
    assert (k["cycle_time"].target, k["cycle_time"].unit, k["cycle_time"].better) == (120.0, "min", "lower")
    assert k["first_pass_accuracy"].value == pytest.approx(0.95)
    # 20 orders packed over 12 h of floor work = 1.5 person-days
    assert k["orders_per_person"].value == pytest.approx(20 / 1.5)
    assert k["orders_per_person"].detail["pack"] == pytest.approx(40.0)
    assert k["orders_per_person"].detail["pick"] == pytest.approx(20.0)
    assert k["query_rate"].value == pytest.approx(0.1)
    assert k["on_time_rate"].value == pytest.approx(0.75)
    assert k["exception_rate"].value == pytest.approx(2 / 50)
    # a warehouse scope: exceptions over the orders routed to it
    scoped = compute_kpis(FIGURES, OPERATORS, 1, DEFAULT_SETTINGS, warehouse_scope=True)
    assert scoped["exception_rate"].value == pytest.approx(2 / 40)
    assert scoped["exception_rate"].meets_target() is False


def test_no_denominator_no_value() -> None:
    k = compute_kpis(OrderFigures(), None, 0, DEFAULT_SETTINGS, warehouse_scope=False)
    assert all(v.value is None for v in k.values())
    assert all(v.meets_target() is None for v in k.values())


def test_the_scoring_line() -> None:
    assert metric_score(0.99, 0.99, 0.90) == 100.0
    assert metric_score(1.0, 0.99, 0.90) == 100.0
    assert metric_score(0.945, 0.99, 0.90) == pytest.approx(50.0)
    assert metric_score(0.80, 0.99, 0.90) == 0.0
    # lower is better: zero point above the target
    assert metric_score(120, 120, 480) == 100.0
    assert metric_score(300, 120, 480) == pytest.approx(50.0)
    assert metric_score(600, 120, 480) == 0.0
    assert metric_score(None, 120, 480) is None


def test_the_index_and_its_losses() -> None:
    k = compute_kpis(FIGURES, OPERATORS, 1, DEFAULT_SETTINGS, warehouse_scope=False)
    scored = score_kpis(k, DEFAULT_SETTINGS)
    by_name = {p.name: p for p in scored.parts}
    # cycle p90 150 → (480 − 150) / 360 = 91.67; first pass 0.95 → 55.56; query 0.1 → 66.67;
    # on time 0.75 → 0; exceptions 0.04 → 75
    assert by_name["cycle_time"].score == pytest.approx(91.67)
    assert by_name["first_pass_accuracy"].score == pytest.approx(55.56)
    assert by_name["query_rate"].score == pytest.approx(66.67)
    assert by_name["on_time_rate"].score == 0.0
    assert by_name["exception_rate"].score == pytest.approx(75.0)
    assert scored.score == pytest.approx((91.67 + 55.56 + 66.67 + 0 + 75) / 5, abs=0.05)
    assert scored.parts[0].name == "on_time_rate" and scored.parts[0].lost == pytest.approx(20.0)
    assert scored.score is not None
    assert sum(p.lost for p in scored.parts) == pytest.approx(100 - scored.score, abs=0.1)
    assert "准时发货率 75.0%" in by_name["on_time_rate"].text and "2 单发货晚了" in by_name["on_time_rate"].text
    assert "扣" in by_name["first_pass_accuracy"].text and "1 单有错扫" in by_name["first_pass_accuracy"].text


def test_missing_metrics_leave_the_weights_to_the_rest() -> None:
    k = compute_kpis(FIGURES, None, 1, DEFAULT_SETTINGS, warehouse_scope=False)  # a channel: no floor KPIs
    scored = score_kpis(k, DEFAULT_SETTINGS)
    by_name = {p.name: p for p in scored.parts}
    assert by_name["first_pass_accuracy"].weight == 0 and by_name["first_pass_accuracy"].score is None
    assert sum(p.weight for p in scored.parts) == pytest.approx(1.0)
    assert (
        score_kpis(
            compute_kpis(OrderFigures(), None, 0, DEFAULT_SETTINGS, warehouse_scope=False), DEFAULT_SETTINGS
        ).score
        is None
    )


def test_weights_count() -> None:
    metrics = dict(DEFAULT_SETTINGS.metrics)
    metrics["on_time_rate"] = MetricSetting(target=0.98, zero_at=0.80, weight=0.0)
    settings = msgspec.structs.replace(DEFAULT_SETTINGS, metrics=metrics)
    scored = score_kpis(compute_kpis(FIGURES, OPERATORS, 1, settings, warehouse_scope=False), settings)
    assert scored.score == pytest.approx((91.67 + 55.56 + 66.67 + 75) / 4, abs=0.05)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"first_pass_accuracy": MetricSetting(target=0.9, zero_at=0.99, weight=1)},
            "metrics.first_pass_accuracy.zero_at",
        ),
        ({"cycle_time": MetricSetting(target=120, zero_at=60, weight=1)}, "metrics.cycle_time.zero_at"),
        ({"query_rate": MetricSetting(target=0.05, zero_at=0.2, weight=-1)}, "metrics.query_rate.weight"),
    ],
)
def test_bad_settings_are_refused(change: dict[str, MetricSetting], field: str) -> None:
    bad = HealthSettings(metrics={**DEFAULT_SETTINGS.metrics, **change})
    with pytest.raises(ValidationFailed) as caught:
        validate(bad)
    assert caught.value.field == field


def test_threshold_and_days_are_bounded() -> None:
    with pytest.raises(ValidationFailed):
        validate(msgspec.structs.replace(DEFAULT_SETTINGS, threshold=120))
    with pytest.raises(ValidationFailed):
        validate(msgspec.structs.replace(DEFAULT_SETTINGS, close_after_days=0))
    assert validate(DEFAULT_SETTINGS) is DEFAULT_SETTINGS
