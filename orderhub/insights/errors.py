"""The insights context's error codes (see :class:`orderhub.errors.ErrorCode`). Other parts of the context (KPIs,
the health index, alerts) add their own catalogue class below."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["AlertError", "DashError", "HealthError", "MiningError"]


class DashError(ErrorCode):
    """The three-tier dashboards and their drill-downs (``/api/v1/dash/…``)."""

    DASH_BAD_DAY = (
        "dash_bad_day",
        "日期格式应为 YYYY-MM-DD，且不能晚于今天",
        "`day` is not a YYYY-MM-DD date up to today.",
    )
    DASH_BAD_METRIC = (
        "dash_bad_metric",
        "不支持的下钻指标",
        "`metric` of a drill-down is not one of the documented metrics (docs/dashboards.md).",
    )
    DASH_BAD_CURSOR = "dash_bad_cursor", "分页游标无效，请从第一页重新查询", "`cursor` is not one this drill-down gave."
    DASH_NEEDS_USER = (
        "dash_needs_user",
        "下钻 operator_tasks 需要 user_id",
        "The `operator_tasks` drill-down needs a `user_id`.",
    )


class AlertError(ErrorCode):
    """Threshold alerts: their rules and the alerts they fire (``orderhub.insights.alerts``, docs/alerts.md)."""

    ALERT_RULE_NOT_FOUND = (
        "alert_rule_not_found",
        "告警规则不存在",
        "No such alert rule (or it belongs to another warehouse).",
    )
    ALERT_NOT_FOUND = "alert_not_found", "告警不存在", "No such alert (or it belongs to another warehouse)."
    ALERT_UNKNOWN_METRIC = (
        "alert_unknown_metric",
        "不支持的告警指标",
        "`metric` is not one of inflow_per_min, at_risk_count, exception_rate, backlog, kpi:<name>.",
    )
    ALERT_HUB_ONLY_METRIC = (
        "alert_hub_only_metric",
        "该指标只能用于全局告警，不能指定仓库",
        "inflow_per_min is hub-wide: no warehouse_id.",
    )
    ALERT_BAD_CLEAR_LEVEL = (
        "alert_bad_clear_level",
        "解除线必须在阈值的恢复一侧（高于阈值告警：解除线不高于阈值；低于阈值告警：解除线不低于阈值）",
        "`clear_level` must lie on the healthy side of `threshold` (the hysteresis).",
    )
    ALERT_THRESHOLD_REQUIRED = (
        "alert_threshold_required",
        "请填写阈值",
        "Only kpi:<name> rules may leave `threshold` out (the KPI's target).",
    )


class HealthError(ErrorCode):
    """The order health index, its 整改 (rectification) tasks and customer inquiries (``orderhub.insights.health``,
    ``orderhub.insights.inquiries``; docs/health.md)."""

    HEALTH_BAD_SETTINGS = (
        "health_bad_settings",
        "健康指数设置无效",
        "A target, zero point, weight, threshold or day count is out of range (the field says which).",
    )
    HEALTH_BAD_KIND = (
        "health_bad_kind",
        "范围类型应为 region、warehouse 或 channel（历史分数还可为 hub）",
        "`kind` is not one of region / warehouse / channel (the ranking) or hub / region / warehouse / channel (the "
        "history).",
    )
    HEALTH_BAD_RANGE = "health_bad_range", "开始日期不能晚于结束日期", "`since` is after `until`."
    RECTIFICATION_NOT_FOUND = (
        "rectification_not_found",
        "整改任务不存在",
        "No such rectification (or it belongs to another warehouse).",
    )
    RECTIFICATION_CLOSED = "rectification_closed", "整改任务已关闭", "The rectification is closed already."


class MiningError(ErrorCode):
    """Co-purchase mining and time-of-week peaks (``orderhub.insights.copurchase``, ``orderhub.insights.peaks``;
    docs/insights-mining.md)."""

    COPURCHASE_RUN_NOT_FOUND = "copurchase_run_not_found", "挖掘任务不存在", "No co-purchase mining run with this id."
    COPURCHASE_PATTERN_NOT_FOUND = (
        "copurchase_pattern_not_found",
        "关联规则不存在",
        "No mined co-purchase pattern with this id.",
    )
    INSIGHTS_BAD_PERIOD = (
        "insights_bad_period",
        "时间范围无效：开始须早于结束，且不超过 366 天",
        "`since` is not before `until`, or the period is longer than 366 days (the field says which end).",
    )
    COPURCHASE_BAD_THRESHOLD = (
        "copurchase_bad_threshold",
        "挖掘阈值超出范围",
        "min_support outside 0–1, min_count below 1, max_qty outside 1–5 or max_patterns outside 1–100,000 (the "
        "field says which).",
    )
    COPURCHASE_UNKNOWN_CHANNEL = (
        "copurchase_unknown_channel",
        "渠道不存在",
        "A channel code in `channels` is not a channel (`codes` lists them), or more than 50 were given.",
    )
    COPURCHASE_UNKNOWN_REGION = (
        "copurchase_unknown_region",
        "没有属于该区域的仓库",
        "`region` is not the region of any warehouse.",
    )
    COPURCHASE_RUN_DUPLICATE = (
        "copurchase_run_duplicate",
        "相同的挖掘任务已在排队或运行中",
        "A run with the same period, scope and thresholds is queued or running: `run_id` names it.",
    )
    PEAKS_BAD_TARGET = (
        "peaks_bad_target",
        "请指定 sku 或 category 其中之一",
        "Peaks need exactly one of `sku` and `category`.",
    )
    PEAKS_UNKNOWN_SKU = "peaks_unknown_sku", "商品不存在", "`sku` is not a SKU code."
    PEAKS_UNKNOWN_CATEGORY = "peaks_unknown_category", "没有该类目的商品", "No SKU has this `category`."
