"""Threshold alerts (docs/alerts.md): rules kept as data, evaluated every 30 seconds from the rollups and cheap
counters, firing once per crossing with hysteresis.

* **Rules** (:class:`AlertRuleIn`): a metric — ``inflow_per_min`` (hub-wide, the intake's Redis counter),
  ``at_risk_count`` (orders the SLA watcher marked at risk today), ``exception_rate`` (orders sent to exception ÷
  orders received today; for a warehouse ÷ orders routed to it today), ``backlog`` (open orders now, from
  ``rollup_status_count``) or ``kpi:<name>`` (today's KPI, :func:`orderhub.insights.kpis.kpis_for_days`) — a scope
  (hub, or one warehouse), ``above`` / ``below`` a ``threshold``, a ``clear_level`` on the healthy side of it, and
  an optional minimum duration.
* **The state machine** (:func:`step`, pure): ``armed`` → ``firing`` when the value is past the threshold (for the
  minimum duration); ``firing`` → ``armed`` only once it is back past the clear level. A value between the two
  changes nothing, so a metric hovering at the line fires once.
* **Exactly once** (:func:`evaluate`): each rule's ``alert_state`` row carries a ``version``; a transition is one
  conditional ``UPDATE … WHERE version = <read>``, and the alert row, the WeCom messages (the notification outbox)
  and the live-feed delta (``alerts`` topic — and ``alerts:{warehouse_id}`` for a warehouse's rule — published
  after commit) are written in that same transaction. Two
  evaluators that saw the same crossing: one UPDATE matches, the other's matches nothing and it writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

import msgspec

from orderhub import clock, db, feed
from orderhub.auth.policy import check_warehouse
from orderhub.errors import CommonError, NotFound, PermissionDenied, ValidationFailed
from orderhub.insights import queries
from orderhub.insights.alert_tables import Alert, AlertRule, AlertState
from orderhub.insights.errors import AlertError
from orderhub.inventory.tables import Warehouse

__all__ = [
    "FEED_TOPIC",
    "KPI_PREFIX",
    "METRICS",
    "AlertRuleIn",
    "AlertRuleView",
    "AlertView",
    "Comparison",
    "EvaluationReport",
    "Limits",
    "RuleState",
    "Step",
    "acknowledge",
    "create_rule",
    "delete_rule",
    "evaluate",
    "feed_allow",
    "feed_snapshot",
    "get_rule",
    "list_alerts",
    "list_rules",
    "metric_text",
    "metric_value",
    "step",
    "update_rule",
    "validate_rule",
]

log = logging.getLogger("orderhub.alerts")

FEED_TOPIC = "alerts"
METRICS = ("inflow_per_min", "at_risk_count", "exception_rate", "backlog")
HUB_ONLY = frozenset({"inflow_per_min"})
KPI_PREFIX = "kpi:"
# The KPIs of docs/kpis.md (orderhub.insights.kpis.KPI_NAMES, when that module is there, is the truth).
_KPI_NAMES = ("cycle_time", "first_pass_accuracy", "orders_per_person", "query_rate", "on_time_rate", "exception_rate")
# Open statuses: what a warehouse still has to ship (the backlog). Received / validated / reserved orders count for
# warehouse 0 until routed (docs/insights.md), so only a hub-wide backlog includes them.
OPEN_STATUSES = ("received", "validated", "reserved", "ready", "picking", "packed", "held", "exception")
METRIC_TEXT = {
    "inflow_per_min": "每分钟进单",
    "at_risk_count": "今日即将超时订单数",
    "exception_rate": "今日异常率",
    "backlog": "积压订单",
}
KPI_TEXT = {
    "cycle_time": "订单处理时长（分钟）",
    "first_pass_accuracy": "一次通过率",
    "orders_per_person": "人均单量",
    "query_rate": "客户查件率",
    "on_time_rate": "准时发货率",
    "exception_rate": "异常率",
}


class Comparison(StrEnum):
    ABOVE = "above"
    BELOW = "below"


# ------------------------------------------------------------------------------------------ the state machine (pure)


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """A rule's lines as evaluated: ``above``: fire when value > threshold, re-arm when value < clear_level
    (clear_level ≤ threshold); ``below`` mirrored."""

    comparison: str
    threshold: float
    clear_level: float
    min_duration_s: int = 0

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.comparison == Comparison.ABOVE else value < self.threshold

    def recovered(self, value: float) -> bool:
        return value < self.clear_level if self.comparison == Comparison.ABOVE else value > self.clear_level


class RuleState(msgspec.Struct, frozen=True, kw_only=True):
    state: Literal["armed", "firing"] = "armed"
    pending_since: datetime | None = None  # armed, past the threshold since then (waiting out min_duration_s)


class Step(msgspec.Struct, frozen=True, kw_only=True):
    state: RuleState
    action: Literal["fire", "clear"] | None = None


def step(limits: Limits, current: RuleState, value: float | None, now: datetime) -> Step:
    """The next state of a rule given the metric's value now (None: no data yet — nothing changes)."""
    if value is None:
        return Step(state=current)
    if current.state == "firing":
        if limits.recovered(value):
            return Step(state=RuleState(), action="clear")
        return Step(state=current)
    if not limits.breached(value):
        return Step(state=RuleState())
    since = current.pending_since or now
    if (now - since).total_seconds() >= limits.min_duration_s:
        return Step(state=RuleState(state="firing"), action="fire")
    return Step(state=RuleState(pending_since=since))


# ---------------------------------------------------------------------------------------------------- rules


class AlertRuleIn(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    metric: str
    comparison: str
    warehouse_id: int | None = None  # None: hub-wide
    threshold: float | None = None  # None only for kpi:<name>: the KPI's target
    clear_level: float | None = None  # None: the threshold itself
    min_duration_s: int = 0
    enabled: bool = True


class AlertRuleView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    metric: str
    warehouse_id: int | None
    comparison: str
    threshold: float | None
    clear_level: float | None
    min_duration_s: int
    enabled: bool
    state: str  # armed, firing
    pending_since: datetime | None
    open_alert_id: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class _RuleRow(msgspec.Struct, kw_only=True):
    id: int
    name: str
    metric: str
    warehouse: int | None
    comparison: str
    threshold: float | None
    clear_level: float | None
    min_duration_s: int
    enabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    state: str | None = None
    pending_since: datetime | None = None
    alert: int | None = None
    version: int | None = None


_RULE_SELECT = (
    "SELECT r.id, r.name, r.metric, r.warehouse, r.comparison, r.threshold, r.clear_level, r.min_duration_s, "
    "r.enabled, r.created_by, r.created_at, r.updated_at, s.state, s.pending_since, s.alert, s.version "
    "FROM alert_rule r LEFT JOIN alert_state s ON s.rule = r.id"
)


def _kpi_names() -> tuple[str, ...]:
    try:
        from orderhub.insights.kpis import KPI_NAMES  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return _KPI_NAMES
    return tuple(KPI_NAMES)


def validate_rule(rule: AlertRuleIn) -> None:
    """Refuse a rule that cannot be evaluated: unknown metric, a hub-only metric for a warehouse, no threshold, a
    clear level on the wrong side of the threshold."""
    kpi = rule.metric.startswith(KPI_PREFIX)
    if (kpi and rule.metric[len(KPI_PREFIX) :] not in _kpi_names()) or (not kpi and rule.metric not in METRICS):
        raise ValidationFailed(AlertError.ALERT_UNKNOWN_METRIC, field="metric")
    if rule.metric in HUB_ONLY and rule.warehouse_id is not None:
        raise ValidationFailed(AlertError.ALERT_HUB_ONLY_METRIC, field="warehouse_id")
    if rule.comparison not in (Comparison.ABOVE, Comparison.BELOW):
        raise ValidationFailed("comparison 只能是 above 或 below", field="comparison")
    if rule.threshold is None:
        if not kpi:
            raise ValidationFailed(AlertError.ALERT_THRESHOLD_REQUIRED, field="threshold")
        if rule.clear_level is not None:  # the target moves with the KPI's configuration: no fixed clear level
            raise ValidationFailed(AlertError.ALERT_BAD_CLEAR_LEVEL, field="clear_level")
    elif rule.clear_level is not None:
        wrong = rule.clear_level > rule.threshold if rule.comparison == Comparison.ABOVE else (
            rule.clear_level < rule.threshold
        )
        if wrong:
            raise ValidationFailed(AlertError.ALERT_BAD_CLEAR_LEVEL, field="clear_level")
    if rule.min_duration_s < 0:
        raise ValidationFailed("min_duration_s 不能为负数", field="min_duration_s")


def _view(row: _RuleRow) -> AlertRuleView:
    return AlertRuleView(
        id=row.id,
        name=row.name,
        metric=row.metric,
        warehouse_id=row.warehouse,
        comparison=row.comparison,
        threshold=row.threshold,
        clear_level=row.clear_level,
        min_duration_s=row.min_duration_s,
        enabled=row.enabled,
        state=row.state or "armed",
        pending_since=row.pending_since,
        open_alert_id=row.alert,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _rule_row(rule_id: int, bound_warehouse_id: int | None) -> _RuleRow:
    row = await db.fetch_one_as(_RuleRow, _RULE_SELECT + " WHERE r.id = {}", rule_id)
    if row is None or (bound_warehouse_id is not None and row.warehouse != bound_warehouse_id):
        raise NotFound(AlertError.ALERT_RULE_NOT_FOUND, field="rule_id")
    return row


async def _check_warehouse_exists(warehouse_id: int | None) -> None:
    if warehouse_id is not None and not await Warehouse.exists().where(Warehouse.id == warehouse_id):
        raise NotFound("仓库不存在", field="warehouse_id")


async def list_rules(*, bound_warehouse_id: int | None = None) -> list[AlertRuleView]:
    """Every rule (a user bound to a warehouse: that warehouse's)."""
    where, args = ("", []) if bound_warehouse_id is None else (" WHERE r.warehouse = {}", [bound_warehouse_id])
    rows = await db.fetch_as(_RuleRow, _RULE_SELECT + where + " ORDER BY r.id", *args)
    return [_view(r) for r in rows]


async def get_rule(rule_id: int, *, bound_warehouse_id: int | None = None) -> AlertRuleView:
    return _view(await _rule_row(rule_id, bound_warehouse_id))


async def create_rule(rule: AlertRuleIn, *, actor: str, bound_warehouse_id: int | None = None) -> AlertRuleView:
    """A new rule (armed). A user bound to a warehouse creates rules of that warehouse only."""
    validate_rule(rule)
    check_warehouse(bound_warehouse_id, rule.warehouse_id, field="warehouse_id")
    await _check_warehouse_exists(rule.warehouse_id)
    now = clock.now()
    async with db.transaction():
        rows = await AlertRule.insert(
            AlertRule(
                name=rule.name, metric=rule.metric, warehouse=rule.warehouse_id, comparison=rule.comparison,
                threshold=rule.threshold, clear_level=rule.clear_level, min_duration_s=rule.min_duration_s,
                enabled=rule.enabled, created_by=actor[:64], created_at=now, updated_at=now,
            )
        ).returning(AlertRule.id)
        rule_id = int(rows[0]["id"])
        await AlertState.insert(AlertState(rule=rule_id, state="armed", version=0, changed_at=now))
    return await get_rule(rule_id)


async def update_rule(
    rule_id: int, changes: Mapping[str, Any], *, bound_warehouse_id: int | None = None
) -> AlertRuleView:
    """Change some of a rule's fields (validated as a whole). A firing rule keeps firing until its value clears
    the new clear level; a rule switched off closes its open alert."""
    row = await _rule_row(rule_id, bound_warehouse_id)
    current = AlertRuleIn(
        name=row.name, metric=row.metric, comparison=row.comparison, warehouse_id=row.warehouse,
        threshold=row.threshold, clear_level=row.clear_level, min_duration_s=row.min_duration_s, enabled=row.enabled,
    )
    merged = msgspec.structs.replace(current, **dict(changes))
    validate_rule(merged)
    check_warehouse(bound_warehouse_id, merged.warehouse_id, field="warehouse_id")
    await _check_warehouse_exists(merged.warehouse_id)
    now = clock.now()
    async with db.transaction():
        await AlertRule.update(
            {
                AlertRule.name: merged.name, AlertRule.metric: merged.metric, AlertRule.warehouse: merged.warehouse_id,
                AlertRule.comparison: merged.comparison, AlertRule.threshold: merged.threshold,
                AlertRule.clear_level: merged.clear_level, AlertRule.min_duration_s: merged.min_duration_s,
                AlertRule.enabled: merged.enabled, AlertRule.updated_at: now,
            }
        ).where(AlertRule.id == rule_id)
        scope_changed = (merged.metric, merged.warehouse_id) != (row.metric, row.warehouse)
        if not merged.enabled or scope_changed:
            await _retire(rule_id, now)
    return await get_rule(rule_id)


async def delete_rule(rule_id: int, *, bound_warehouse_id: int | None = None) -> None:
    """Delete a rule; its open alert is closed (the history stays)."""
    await _rule_row(rule_id, bound_warehouse_id)
    now = clock.now()
    async with db.transaction():
        await _retire(rule_id, now)
        await AlertState.delete().where(AlertState.rule == rule_id)
        await AlertRule.delete().where(AlertRule.id == rule_id)


async def _retire(rule_id: int, now: datetime) -> None:
    """Back to armed (in the caller's transaction), closing the open alert: the rule stopped watching."""
    await db.execute(
        "UPDATE alert_state SET state = 'armed', pending_since = NULL, alert = NULL, version = version + 1, "
        "changed_at = {} WHERE rule = {}",
        now,
        rule_id,
    )
    closed = await db.execute_returning(
        _AlertRow,
        "UPDATE alert SET cleared_at = {} WHERE rule = {} AND cleared_at IS NULL RETURNING *",
        now,
        rule_id,
    )
    for alert in closed:
        _publish(_feed_data("alert.cleared", alert, now, reason="rule_retired"))


# ---------------------------------------------------------------------------------------------------- metrics


class _Cache:
    """One evaluation's reads: each rollup query once per scope, whatever number of rules use it."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.today: date = clock.to_shanghai(now).date()
        self.figures: dict[int | None, queries.OrderFigures] = {}
        self.backlog: dict[int | None, int] = {}
        self.kpis: dict[int | None, Mapping[str, Any] | None] = {}
        self.inflow: int | None = None


def _scope_ids(warehouse_id: int | None) -> list[int] | None:
    return None if warehouse_id is None else [warehouse_id]


async def _figures(cache: _Cache, warehouse_id: int | None) -> queries.OrderFigures:
    if warehouse_id not in cache.figures:
        start, end = queries.day_window(cache.today, cache.today)
        rows = await queries.order_figures(start, end, warehouse_ids=_scope_ids(warehouse_id))
        cache.figures[warehouse_id] = rows[0] if rows else queries.OrderFigures()
    return cache.figures[warehouse_id]


async def _kpis(cache: _Cache, warehouse_id: int | None) -> Mapping[str, Any] | None:
    if warehouse_id not in cache.kpis:
        try:
            from orderhub.insights.kpis import kpis_for_days  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            log.warning("kpi alert rules skipped: orderhub.insights.kpis is not there")
            cache.kpis[warehouse_id] = None
        else:
            cache.kpis[warehouse_id] = await kpis_for_days(
                cache.today, cache.today, warehouse_ids=_scope_ids(warehouse_id)
            )
    return cache.kpis[warehouse_id]


class _Skip(Exception):
    """The metric cannot be read now (e.g. the KPI module is missing): the rule is skipped this round."""


async def metric_value(metric: str, warehouse_id: int | None, cache: _Cache) -> tuple[float | None, float | None]:
    """The metric's value now (None: no data yet, e.g. a rate without a denominator) and, for a KPI, its target."""
    if metric == "inflow_per_min":
        if cache.inflow is None:
            from orderhub.orders.surge import inflow_per_min

            cache.inflow = await inflow_per_min()
        return float(cache.inflow), None
    if metric == "backlog":
        if warehouse_id not in cache.backlog:
            counts = await queries.status_counts(warehouse_ids=_scope_ids(warehouse_id))
            cache.backlog[warehouse_id] = sum(c.orders for c in counts if c.status in OPEN_STATUSES)
        return float(cache.backlog[warehouse_id]), None
    if metric == "at_risk_count":
        return float((await _figures(cache, warehouse_id)).at_risk), None
    if metric == "exception_rate":
        figures = await _figures(cache, warehouse_id)
        base = figures.received if warehouse_id is None else figures.routed
        return (figures.exceptions / base if base else None), None
    if metric.startswith(KPI_PREFIX):
        kpis = await _kpis(cache, warehouse_id)
        if kpis is None:
            raise _Skip(metric)
        kpi = kpis.get(metric[len(KPI_PREFIX) :])
        if kpi is None:
            raise _Skip(metric)
        value = kpi.value
        return (None if value is None else float(value)), float(kpi.target)
    raise _Skip(metric)


# ---------------------------------------------------------------------------------------------------- evaluation


class EvaluationReport(msgspec.Struct, kw_only=True):
    rules: int = 0
    fired: list[int] = msgspec.field(default_factory=list)  # alert ids
    cleared: list[int] = msgspec.field(default_factory=list)  # alert ids
    skipped: list[int] = msgspec.field(default_factory=list)  # rule ids (metric unavailable)
    lost: int = 0  # transitions another evaluator made first


class _AlertRow(msgspec.Struct, kw_only=True):
    id: int
    rule: int
    rule_name: str
    metric: str
    warehouse: int | None
    comparison: str
    value: float
    threshold: float
    clear_level: float
    clear_value: float | None
    fired_at: datetime
    cleared_at: datetime | None
    acknowledged_by: str
    acknowledged_at: datetime | None


def _limits(row: _RuleRow, target: float | None) -> Limits | None:
    threshold = row.threshold if row.threshold is not None else target
    if threshold is None:
        return None
    clear = row.clear_level if row.clear_level is not None else threshold
    return Limits(comparison=row.comparison, threshold=threshold, clear_level=clear, min_duration_s=row.min_duration_s)


async def evaluate(*, now: datetime | None = None) -> EvaluationReport:
    """The cron (every 30 s): every enabled rule against its metric now; transitions written exactly once."""
    now = now or clock.now()
    rows = await db.fetch_as(_RuleRow, _RULE_SELECT + " WHERE r.enabled = {} ORDER BY r.id", True)
    report = EvaluationReport(rules=len(rows))
    cache = _Cache(now)
    for row in rows:
        if row.version is None:  # a rule written without its state row: give it one
            await db.execute(
                "INSERT INTO alert_state (rule, state, alert, version, changed_at) VALUES ({}, 'armed', NULL, 0, {}) "
                "ON CONFLICT (rule) DO NOTHING",
                row.id,
                now,
            )
            row.state, row.version = "armed", 0
        try:
            value, target = await metric_value(row.metric, row.warehouse, cache)
        except _Skip:
            report.skipped.append(row.id)
            continue
        limits = _limits(row, target)
        if limits is None:
            report.skipped.append(row.id)
            continue
        current = RuleState(state="firing" if row.state == "firing" else "armed", pending_since=row.pending_since)
        nxt = step(limits, current, value, now)
        if nxt.state == current and nxt.action is None:
            continue
        try:
            outcome = await _transition(row, limits, nxt, value, now)
        except Exception:
            log.exception("alert rule transition failed", extra={"rule": row.id})
            continue
        if outcome is None:
            report.lost += 1
        elif nxt.action == "fire":
            report.fired.append(outcome)
        elif nxt.action == "clear":
            report.cleared.append(outcome)
    if report.fired or report.cleared or report.lost:
        log.info("alerts evaluated", extra={"rules": report.rules, "fired": report.fired, "cleared": report.cleared,
                                            "lost": report.lost})
    return report


async def _transition(row: _RuleRow, limits: Limits, nxt: Step, value: float | None, now: datetime) -> int | None:
    """Write one transition if the rule's state is still the one read (else None: another evaluator did it);
    returns the alert fired or cleared (0 for a pending-only change)."""
    assert row.version is not None
    async with db.transaction():
        won = await db.execute_returning(  # raw: the compare-and-set that makes a crossing fire once
            db.IdRow,
            "UPDATE alert_state SET state = {}, pending_since = {}, version = version + 1, changed_at = {} "
            "WHERE rule = {} AND version = {} RETURNING id",
            nxt.state.state,
            nxt.state.pending_since,
            now,
            row.id,
            row.version,
        )
        if not won:
            return None
        if nxt.action == "fire":
            assert value is not None
            return await _fire(row, limits, value, now)
        if nxt.action == "clear":
            return await _clear(row, value, now)
        return 0


async def _fire(row: _RuleRow, limits: Limits, value: float, now: datetime) -> int:
    inserted = await Alert.insert(
        Alert(
            rule=row.id, rule_name=row.name, metric=row.metric, warehouse=row.warehouse, comparison=row.comparison,
            value=value, threshold=limits.threshold, clear_level=limits.clear_level, fired_at=now,
        )
    ).returning(Alert.id)
    alert_id = int(inserted[0]["id"])
    await AlertState.update({AlertState.alert: alert_id}).where(AlertState.rule == row.id)
    alert = await db.fetch_one_as(_AlertRow, "SELECT * FROM alert WHERE id = {}", alert_id)
    assert alert is not None
    await _tell(alert, "staff_alert", now)
    _publish(_feed_data("alert.fired", alert, now))
    return alert_id


async def _clear(row: _RuleRow, value: float | None, now: datetime) -> int:
    await AlertState.update({AlertState.alert: None}).where(AlertState.rule == row.id)
    if row.alert is None:
        return 0
    closed = await db.execute_returning(
        _AlertRow,
        "UPDATE alert SET cleared_at = {}, clear_value = {} WHERE id = {} AND cleared_at IS NULL RETURNING *",
        now,
        value,
        row.alert,
    )
    for alert in closed:
        await _tell(alert, "staff_alert_cleared", now)
        _publish(_feed_data("alert.cleared", alert, now))
    return row.alert


def _number(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if metric == "exception_rate" or metric in ("kpi:first_pass_accuracy", "kpi:query_rate", "kpi:on_time_rate",
                                                 "kpi:exception_rate"):
        return f"{value * 100:.1f}%"
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def metric_text(metric: str) -> str:
    if metric.startswith(KPI_PREFIX):
        return KPI_TEXT.get(metric[len(KPI_PREFIX) :], metric)
    return METRIC_TEXT.get(metric, metric)


async def _tell(alert: _AlertRow, event: str, now: datetime) -> None:
    """The scope's supervisors hear it in WeCom (outbox rows in this transaction, sent after commit)."""
    from orderhub.notifications.outbox import write_scope_alert
    from orderhub.notifications.templates import shanghai_text

    names: list[str] = (
        await Warehouse.select(Warehouse.name).where(Warehouse.id == alert.warehouse).output(as_list=True)
        if alert.warehouse is not None
        else []
    )
    context = {
        "rule": alert.rule_name,
        "scope": f"{names[0]} " if names else "全局 ",
        "metric_text": metric_text(alert.metric),
        "value": _number(alert.metric, alert.clear_value if event == "staff_alert_cleared" else alert.value),
        "comparison_text": "高于" if alert.comparison == Comparison.ABOVE else "低于",
        "threshold": _number(alert.metric, alert.threshold),
        "clear_level": _number(alert.metric, alert.clear_level),
        "fired_at": shanghai_text(alert.fired_at),
        "alert_id": alert.id,
    }
    try:
        why = await write_scope_alert(f"alert:{alert.id}", event, alert.warehouse, context)
    except Exception as exc:
        if type(exc).__module__.split(".")[0] in ("asyncpg", "sqlite3", "aiosqlite"):
            raise
        log.exception("alert notifications not written", extra={"alert": alert.id})
        return
    if why:
        log.warning("alert reached nobody in WeCom", extra={"alert": alert.id, "why": why})


def _publish(data: dict[str, Any]) -> None:
    """An alert delta goes out after commit on the hub's ``alerts`` topic and, for a warehouse's alert, on
    ``alerts:{warehouse_id}`` too (what that warehouse's supervisors watch)."""
    feed.publish_after_commit(FEED_TOPIC, data)
    if data.get("warehouse_id") is not None:
        feed.publish_after_commit(feed.topic_for(FEED_TOPIC, data["warehouse_id"]), data)


def feed_allow(roles: frozenset[str]) -> feed.AllowFn:
    """The ``alerts`` topic family's scope check: ``alerts`` (hub-wide) for ``roles`` not bound to a warehouse;
    ``alerts:{warehouse_id}`` for the same roles, a user bound to a warehouse only their own."""
    hub_wide = feed.readers(roles)

    async def allow(viewer: feed.Viewer, arg: str | None) -> None:
        if arg is None:
            await hub_wide(viewer, None)
            return
        if viewer.role not in roles:
            raise PermissionDenied("没有权限查看告警", code=CommonError.FORBIDDEN, field="topics")
        if not arg.isdigit() or len(arg) > 9:
            raise ValidationFailed(f"仓库告警频道应为 {FEED_TOPIC}:<仓库ID>", field="topics")
        warehouse_id = int(arg)
        if viewer.warehouse_id is not None and warehouse_id != viewer.warehouse_id:
            raise PermissionDenied(
                f"只能查看本仓库的告警（{FEED_TOPIC}:{viewer.warehouse_id}）",
                code=CommonError.FORBIDDEN_WAREHOUSE,
                field="topics",
            )
        if not await Warehouse.exists().where(Warehouse.id == warehouse_id):
            raise NotFound("仓库不存在", field="topics")

    return allow


async def feed_snapshot(viewer: feed.Viewer, arg: str | None) -> dict[str, Any]:
    """``alerts`` / ``alerts:{warehouse_id}``: the topic's last 20 deltas, newest first (``feed.recent``)."""
    return await feed.recent(feed.topic_for(FEED_TOPIC, arg))(viewer, arg)


def _feed_data(kind: str, alert: _AlertRow, now: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "alert_id": alert.id,
        "rule_id": alert.rule,
        "rule": alert.rule_name,
        "metric": alert.metric,
        "warehouse_id": alert.warehouse,
        "comparison": alert.comparison,
        "value": alert.value if kind == "alert.fired" else alert.clear_value,
        "threshold": alert.threshold,
        "clear_level": alert.clear_level,
        "at": clock.to_shanghai(now).isoformat(),
        **extra,
    }


# ---------------------------------------------------------------------------------------------------- alerts


class AlertView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    rule_id: int
    rule_name: str
    metric: str
    warehouse_id: int | None  # None: hub-wide
    comparison: str
    value: float  # when it fired
    threshold: float
    clear_level: float
    clear_value: float | None
    state: str  # open, acknowledged, cleared
    fired_at: datetime
    cleared_at: datetime | None
    acknowledged_by: str
    acknowledged_at: datetime | None


AlertStateFilter = Literal["open", "acknowledged", "cleared"]
_STATE_WHERE: dict[str, str] = {
    "open": "cleared_at IS NULL AND acknowledged_at IS NULL",
    "acknowledged": "cleared_at IS NULL AND acknowledged_at IS NOT NULL",
    "cleared": "cleared_at IS NOT NULL",
}


def _alert_view(row: _AlertRow) -> AlertView:
    state = "cleared" if row.cleared_at is not None else "acknowledged" if row.acknowledged_at else "open"
    return AlertView(
        id=row.id, rule_id=row.rule, rule_name=row.rule_name, metric=row.metric, warehouse_id=row.warehouse,
        comparison=row.comparison, value=row.value, threshold=row.threshold, clear_level=row.clear_level,
        clear_value=row.clear_value, state=state, fired_at=row.fired_at, cleared_at=row.cleared_at,
        acknowledged_by=row.acknowledged_by, acknowledged_at=row.acknowledged_at,
    )


async def list_alerts(
    *,
    state: AlertStateFilter | None = None,
    warehouse_id: int | None = None,
    bound_warehouse_id: int | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AlertView]:
    """Newest first. A user bound to a warehouse sees that warehouse's alerts only (asking for another is refused);
    ``warehouse_id`` filters."""
    if warehouse_id is not None:
        check_warehouse(bound_warehouse_id, warehouse_id, field="warehouse_id")
    scope = warehouse_id if warehouse_id is not None else bound_warehouse_id
    where: list[str] = []
    args: list[Any] = []
    if state is not None:
        where.append(_STATE_WHERE[state])
    if scope is not None:
        where.append("warehouse = {}")
        args.append(scope)
    if before_id is not None:
        where.append("id < {}")
        args.append(before_id)
    sql = "SELECT * FROM alert" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT {}"
    rows = await db.fetch_as(_AlertRow, sql, *args, limit)
    return [_alert_view(r) for r in rows]


async def acknowledge(alert_id: int, *, actor: str, bound_warehouse_id: int | None = None) -> AlertView:
    """Record who acknowledged the alert (idempotent: acknowledging again keeps the first person and time)."""
    now = clock.now()
    scope, scope_args = ("", []) if bound_warehouse_id is None else (" AND warehouse = {}", [bound_warehouse_id])
    async with db.transaction():
        rows = await db.execute_returning(  # raw: a conditional UPDATE … RETURNING * (the first one wins)
            _AlertRow,
            "UPDATE alert SET acknowledged_by = {}, acknowledged_at = {} WHERE id = {} AND acknowledged_at IS NULL"
            + scope
            + " RETURNING *",
            actor[:64],
            now,
            alert_id,
            *scope_args,
        )
        if rows:
            _publish({**_feed_data("alert.acknowledged", rows[0], now), "value": rows[0].value, "by": actor[:64]})
            return _alert_view(rows[0])
    row = await db.fetch_one_as(_AlertRow, "SELECT * FROM alert WHERE id = {}" + scope, alert_id, *scope_args)
    if row is None:
        raise NotFound(AlertError.ALERT_NOT_FOUND, field="alert_id")
    return _alert_view(row)
