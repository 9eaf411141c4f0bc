"""The health index's arithmetic, pure (docs/health.md#scoring): each metric scored 0–100 on a straight line between
its target (100) and its zero point (0), the index the weighted mean of the metrics that have a value, and what each
metric cost in points, explained in zh-CN."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from orderhub.insights.health_settings import INDEX_METRICS, HealthSettings
from orderhub.insights.kpis import KpiValue

__all__ = ["LABELS", "Part", "Scored", "explain", "metric_score", "score_kpis"]

LABELS = {
    "cycle_time": "发货时长（付款→发货 p90）",
    "first_pass_accuracy": "一次通过率",
    "orders_per_person": "人均单量",
    "query_rate": "客户查询率",
    "on_time_rate": "准时发货率",
    "exception_rate": "异常率",
}


class Part(msgspec.Struct, kw_only=True):
    """One metric's share of the index: its score, its normalised weight and the points it lost (weight × (100 −
    score)); ``text`` says why in zh-CN; ``order_ids`` the orders that pulled it down, where known."""

    name: str
    label: str
    value: float | None
    target: float
    zero_at: float
    better: str
    unit: str
    numerator: float
    denominator: float
    weight: float  # normalised over the metrics that have a value (0 for one without)
    score: float | None
    lost: float
    text: str
    order_ids: list[int] = msgspec.field(default_factory=list)


class Scored(msgspec.Struct, kw_only=True):
    score: float | None  # None: no metric has a value (no orders)
    parts: list[Part]  # biggest loss first

    def worst(self) -> list[Part]:
        return [p for p in self.parts if p.lost > 0]


def metric_score(value: float | None, target: float, zero_at: float) -> float | None:
    """100 at the target or better, 0 at the zero point or worse, a straight line in between (either direction:
    ``zero_at`` > ``target`` for a lower-is-better metric). None without a value."""
    if value is None:
        return None
    if target == zero_at:
        return 100.0 if value == target else 0.0
    share = (value - zero_at) / (target - zero_at)
    return round(100.0 * min(1.0, max(0.0, share)), 2)


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def explain(kpi: KpiValue, score: float | None, lost: float) -> str:
    """Why the metric scored what it did, in zh-CN, with its own counts."""
    label = LABELS[kpi.name]
    if kpi.value is None:
        return f"{label}：当天没有可计算的数据，不计分"
    num, den = round(kpi.numerator), round(kpi.denominator)
    if kpi.name == "cycle_time":
        head = f"{label} {kpi.value:.0f} 分钟（目标 ≤ {kpi.target:.0f} 分钟）"
        p50 = kpi.detail.get("p50")
        why = f"发货 {den} 单，p50 {p50:.0f} 分钟、p90 {kpi.value:.0f} 分钟" if p50 is not None else f"发货 {den} 单"
    elif kpi.name == "first_pass_accuracy":
        head = f"{label} {_pct(kpi.value)}（目标 ≥ {_pct(kpi.target)}）"
        why = f"打包 {den} 单，其中 {den - num} 单有错扫、短拣、称重不符或重复打包"
    elif kpi.name == "query_rate":
        head = f"{label} {_pct(kpi.value)}（目标 ≤ {_pct(kpi.target)}）"
        why = f"发货 {den} 单，{num} 单的客户在签收前查询过物流"
    elif kpi.name == "on_time_rate":
        head = f"{label} {_pct(kpi.value)}（目标 ≥ {_pct(kpi.target)}）"
        why = f"有最晚发货时间的 {den} 单中 {den - num} 单发货晚了"
    elif kpi.name == "exception_rate":
        head = f"{label} {_pct(kpi.value)}（目标 ≤ {_pct(kpi.target)}）"
        why = f"{den} 单中 {num} 单进入异常"
    else:
        head, why = f"{label} {kpi.value:.1f}", ""
    if lost <= 0:
        return f"{head}，达标，不扣分"
    return f"{head}，扣 {lost:.1f} 分：{why}"


def score_kpis(kpis: Mapping[str, KpiValue], settings: HealthSettings) -> Scored:
    """The index from the KPIs: the five metrics' scores, weighted (weights normalised over the metrics that have a
    value), rounded to 0.1; each part's ``lost`` = normalised weight × (100 − its score), so the parts' losses add up
    to 100 − the index."""
    scores = {
        name: metric_score(kpis[name].value, settings.metrics[name].target, settings.metrics[name].zero_at)
        for name in INDEX_METRICS
    }
    total_weight = sum(settings.metrics[n].weight for n in INDEX_METRICS if scores[n] is not None)
    parts: list[Part] = []
    index = 0.0
    for name in INDEX_METRICS:
        kpi, score, setting = kpis[name], scores[name], settings.metrics[name]
        weight = setting.weight / total_weight if score is not None and total_weight > 0 else 0.0
        lost = round(weight * (100.0 - score), 2) if score is not None else 0.0
        if score is not None:
            index += weight * score
        parts.append(
            Part(
                name=name,
                label=LABELS[name],
                value=kpi.value,
                target=setting.target,
                zero_at=setting.zero_at,
                better=kpi.better,
                unit=kpi.unit,
                numerator=kpi.numerator,
                denominator=kpi.denominator,
                weight=round(weight, 4),
                score=score,
                lost=lost,
                text=explain(kpi, score, lost),
            )
        )
    parts.sort(key=lambda p: (-p.lost, INDEX_METRICS.index(p.name)))
    return Scored(score=round(index, 1) if total_weight > 0 else None, parts=parts)
