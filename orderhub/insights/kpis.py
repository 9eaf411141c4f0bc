"""The KPIs, each with one written definition (docs/kpis.md): computed only from the rollup tables, over a range of
Asia/Shanghai days and the caller's warehouse / channel scope.

=====================  ===================================================================================  ======
name                   value                                                                                 target
=====================  ===================================================================================  ======
cycle_time             p90 of paid → shipped minutes of the orders shipped in the days (histogram)           ≤ 120
first_pass_accuracy    Σ first_pass_ok ÷ Σ orders_packed (rollup_operator_day)                               ≥ 0.99
orders_per_person      Σ orders_packed ÷ person-days (Σ operators' working seconds ÷ 8 h)                    ≥ 150
query_rate             orders first asked about before delivery ÷ orders shipped                             ≤ 0.05
on_time_rate           shipped at or before ship_by ÷ shipped orders that have a ship_by                     ≥ 0.98
exception_rate         orders sent to exception ÷ orders received (a warehouse scope: ÷ orders routed to it)  ≤ 0.02
=====================  ===================================================================================  ======

Targets are the health index's settings (``orderhub.insights.health_settings``; the defaults above).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import msgspec

from orderhub import db
from orderhub.insights import queries
from orderhub.insights.health_settings import BETTER, HealthSettings, load_settings

__all__ = ["KPI_NAMES", "PERSON_DAY_SECONDS", "KpiValue", "compute_kpis", "inquired_orders", "kpis_for_days"]

KPI_NAMES = ("cycle_time", "first_pass_accuracy", "orders_per_person", "query_rate", "on_time_rate", "exception_rate")
PERSON_DAY_SECONDS = 8 * 3600  # one person-day of floor work
UNITS = {
    "cycle_time": "min",
    "first_pass_accuracy": "ratio",
    "orders_per_person": "orders",
    "query_rate": "ratio",
    "on_time_rate": "ratio",
    "exception_rate": "ratio",
}


class KpiValue(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    value: float | None  # None: no denominator yet (or not defined for the scope, e.g. floor KPIs per channel)
    numerator: float
    denominator: float
    target: float
    unit: str  # "min", "ratio", "orders"
    better: str  # "lower" | "higher"
    # Extra figures: cycle_time p50 / p90 / mean; orders_per_person per role (pick, pack) and person-days.
    detail: dict[str, float | None] = msgspec.field(default_factory=dict)

    def meets_target(self) -> bool | None:
        """Whether the value is on the good side of the target (None without a value)."""
        if self.value is None:
            return None
        return self.value <= self.target if self.better == "lower" else self.value >= self.target


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _kpi(
    name: str,
    settings: HealthSettings,
    value: float | None,
    numerator: float,
    denominator: float,
    detail: dict[str, float | None] | None = None,
) -> KpiValue:
    target = settings.orders_per_person_target if name == "orders_per_person" else settings.metrics[name].target
    return KpiValue(
        name=name,
        value=value,
        numerator=numerator,
        denominator=denominator,
        target=target,
        unit=UNITS[name],
        better=BETTER[name],
        detail=detail or {},
    )


def compute_kpis(
    figures: queries.OrderFigures,
    operators: Sequence[queries.OperatorDay] | None,
    inquired: int,
    settings: HealthSettings,
    *,
    warehouse_scope: bool,
) -> dict[str, KpiValue]:
    """The KPIs from summed rollup figures (pure): ``operators`` None when the floor KPIs are not defined for the
    scope (a channel filter: operators' days have no channel); ``warehouse_scope`` when the caller named warehouses
    (the exception rate is then over orders routed to them, not orders received)."""
    p50, p90 = figures.cycle_minutes(0.5), figures.cycle_minutes(0.9)
    cycle_minutes_total = figures.cycle_seconds / 60
    result = {
        "cycle_time": _kpi(
            "cycle_time",
            settings,
            p90,
            cycle_minutes_total,
            figures.cycle_count,
            {"p50": p50, "p90": p90, "mean": _ratio(cycle_minutes_total, figures.cycle_count)},
        )
    }
    if operators is None:
        result["first_pass_accuracy"] = _kpi("first_pass_accuracy", settings, None, 0, 0)
        result["orders_per_person"] = _kpi("orders_per_person", settings, None, 0, 0)
    else:
        packed = sum(o.orders_packed for o in operators)
        first_pass = sum(o.first_pass_ok for o in operators)
        result["first_pass_accuracy"] = _kpi(
            "first_pass_accuracy", settings, _ratio(first_pass, packed), first_pass, packed
        )
        seconds = {role: sum(o.working_seconds() for o in operators if o.role == role) for role in ("pick", "pack")}
        person_days = sum(o.working_seconds() for o in operators) / PERSON_DAY_SECONDS
        detail: dict[str, float | None] = {"person_days": person_days}
        for role, secs in seconds.items():
            detail[f"{role}_person_days"] = secs / PERSON_DAY_SECONDS
            detail[role] = _ratio(packed, secs / PERSON_DAY_SECONDS)
        result["orders_per_person"] = _kpi(
            "orders_per_person", settings, _ratio(packed, person_days), packed, person_days, detail
        )
    result["query_rate"] = _kpi("query_rate", settings, _ratio(inquired, figures.shipped), inquired, figures.shipped)
    result["on_time_rate"] = _kpi(
        "on_time_rate",
        settings,
        _ratio(figures.shipped_on_time, figures.shipped_with_sla),
        figures.shipped_on_time,
        figures.shipped_with_sla,
    )
    base = figures.routed if warehouse_scope else figures.received
    result["exception_rate"] = _kpi(
        "exception_rate", settings, _ratio(figures.exceptions, base), figures.exceptions, base
    )
    return {name: result[name] for name in KPI_NAMES}


class _Sum(msgspec.Struct):
    orders: int | None = None


async def inquired_orders(
    since: date,
    until: date,
    *,
    warehouse_ids: Sequence[int] | None = None,
    channel_ids: Sequence[int] | None = None,
) -> int:
    """Orders first asked about (before delivery) on Asia/Shanghai days ``since`` … ``until`` (rollup_inquiry_day)."""
    where = ["day >= {}", "day <= {}"]
    args: list[Any] = [since, until]
    queries.scope_filter("warehouse", warehouse_ids, where, args)
    queries.scope_filter("channel", channel_ids, where, args)
    row = await db.fetch_one_as(
        _Sum, f"SELECT SUM(orders) AS orders FROM rollup_inquiry_day WHERE {' AND '.join(where)}", *args
    )
    return int(row.orders or 0) if row else 0


async def kpis_for_days(
    since: date,
    until: date,
    *,
    warehouse_ids: Sequence[int] | None = None,
    channel_ids: Sequence[int] | None = None,
    settings: HealthSettings | None = None,
) -> dict[str, KpiValue]:
    """Every KPI over Asia/Shanghai days ``since`` … ``until`` (both included) for the scope (None: everything),
    in :data:`KPI_NAMES` order. Reads the rollups only (docs/kpis.md)."""
    settings = settings or await load_settings()
    rows = await queries.order_figures_by_day(since, until, warehouse_ids=warehouse_ids, channel_ids=channel_ids)
    figures = rows[0] if rows else queries.OrderFigures()
    operators = (
        None if channel_ids is not None else await queries.operator_days(since, until, warehouse_ids=warehouse_ids)
    )
    inquired = await inquired_orders(since, until, warehouse_ids=warehouse_ids, channel_ids=channel_ids)
    return compute_kpis(figures, operators, inquired, settings, warehouse_scope=warehouse_ids is not None)
