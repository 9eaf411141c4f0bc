"""The KPIs' targets and the health index's settings (docs/kpis.md, docs/health.md): per metric a target (scores
100), a zero point (scores 0) and a weight; the threshold below which a rectification opens and the number of good
days that close it. Stored as one JSON row (``health_setting``, id 1); defaults until an admin saves some."""

from __future__ import annotations

import math
from typing import Literal

import msgspec

from orderhub import clock, db
from orderhub.errors import ValidationFailed
from orderhub.insights.errors import HealthError
from orderhub.insights.health_tables import HealthSetting

__all__ = [
    "DEFAULT_SETTINGS",
    "INDEX_METRICS",
    "HealthSettings",
    "MetricSetting",
    "load_settings",
    "save_settings",
    "validate",
]

# The five metrics of the index (orders per person is a KPI, not part of the index: docs/health.md).
INDEX_METRICS: tuple[str, ...] = ("cycle_time", "first_pass_accuracy", "query_rate", "on_time_rate", "exception_rate")
BETTER: dict[str, Literal["lower", "higher"]] = {
    "cycle_time": "lower",
    "first_pass_accuracy": "higher",
    "orders_per_person": "higher",
    "query_rate": "lower",
    "on_time_rate": "higher",
    "exception_rate": "lower",
}


class MetricSetting(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    target: float  # the value that scores 100 (and anything better)
    zero_at: float  # the value that scores 0 (and anything worse); straight line in between
    weight: float  # relative weight in the index (the weights of the metrics with a value are normalised)


class HealthSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    metrics: dict[str, MetricSetting]
    orders_per_person_target: float = 150.0  # orders packed per 8-hour person-day (a KPI target, not in the index)
    threshold: float = 80.0  # a daily score below this opens a rectification
    close_after_days: int = 3  # days in a row at or above the threshold that close it


DEFAULT_SETTINGS = HealthSettings(
    metrics={
        "cycle_time": MetricSetting(target=120.0, zero_at=480.0, weight=0.2),  # p90 minutes paid → shipped
        "first_pass_accuracy": MetricSetting(target=0.99, zero_at=0.90, weight=0.2),
        "query_rate": MetricSetting(target=0.05, zero_at=0.20, weight=0.2),
        "on_time_rate": MetricSetting(target=0.98, zero_at=0.80, weight=0.2),
        "exception_rate": MetricSetting(target=0.02, zero_at=0.10, weight=0.2),
    }
)


def _bad(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, code=HealthError.HEALTH_BAD_SETTINGS, field=field)


def validate(settings: HealthSettings) -> HealthSettings:
    """The settings if they make sense: all five metrics, finite numbers, a zero point on the bad side of the target,
    weights ≥ 0 with a positive sum, threshold 0–100, 1–90 good days. Raises ``health_bad_settings`` (the field)."""
    unknown = sorted(set(settings.metrics) - set(INDEX_METRICS))
    if unknown:
        raise _bad(f"未知指标：{'、'.join(unknown)}", "metrics")
    missing = [m for m in INDEX_METRICS if m not in settings.metrics]
    if missing:
        raise _bad(f"缺少指标：{'、'.join(missing)}", "metrics")
    for name, metric in settings.metrics.items():
        field = f"metrics.{name}"
        if not all(math.isfinite(v) for v in (metric.target, metric.zero_at, metric.weight)):
            raise _bad("数值必须是有限数", field)
        if metric.target < 0 or metric.zero_at < 0:
            raise _bad("目标值和零分值不能为负数", field)
        if BETTER[name] == "higher" and metric.zero_at >= metric.target:
            raise _bad("越高越好的指标：零分值必须低于目标值", f"{field}.zero_at")
        if BETTER[name] == "lower" and metric.zero_at <= metric.target:
            raise _bad("越低越好的指标：零分值必须高于目标值", f"{field}.zero_at")
        if metric.weight < 0 or metric.weight > 100:
            raise _bad("权重应在 0 到 100 之间", f"{field}.weight")
    if sum(m.weight for m in settings.metrics.values()) <= 0:
        raise _bad("权重之和必须大于 0", "metrics")
    if not math.isfinite(settings.threshold) or not 0 <= settings.threshold <= 100:
        raise _bad("阈值应在 0 到 100 之间", "threshold")
    if not 1 <= settings.close_after_days <= 90:
        raise _bad("连续达标天数应在 1 到 90 之间", "close_after_days")
    if not math.isfinite(settings.orders_per_person_target) or settings.orders_per_person_target < 0:
        raise _bad("人均单量目标不能为负数", "orders_per_person_target")
    return settings


class _Row(msgspec.Struct):
    settings: str


async def load_settings() -> HealthSettings:
    """The saved settings, or :data:`DEFAULT_SETTINGS` (a metric missing from a saved row takes its default)."""
    row = await db.fetch_one_as(_Row, "SELECT settings FROM health_setting WHERE id = 1")
    if row is None:
        return DEFAULT_SETTINGS
    try:
        saved = msgspec.json.decode(row.settings)
        metrics = {**msgspec.to_builtins(DEFAULT_SETTINGS.metrics), **saved.get("metrics", {})}
        return msgspec.convert({**saved, "metrics": metrics}, HealthSettings)
    except (msgspec.DecodeError, msgspec.ValidationError, AttributeError):
        return DEFAULT_SETTINGS


async def save_settings(settings: HealthSettings, *, actor: str) -> HealthSettings:
    validate(settings)
    text = msgspec.json.encode(settings).decode()
    async with db.transaction():
        if await HealthSetting.exists().where(HealthSetting.id == 1):
            await HealthSetting.update(
                {HealthSetting.settings: text, HealthSetting.updated_by: actor, HealthSetting.updated_at: clock.now()}
            ).where(HealthSetting.id == 1)
        else:
            await HealthSetting.insert(HealthSetting(id=1, settings=text, updated_by=actor, updated_at=clock.now()))
    return settings
