"""Threshold alerts over HTTP: rules managed by admins (and by a warehouse's manager for that warehouse), alerts
listed and acknowledged by the scope's supervisors (docs/alerts.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import Parameter

from api.common import MAX_INT, PathId, changes_of
from orderhub.auth.service import UserView
from orderhub.insights import alerts

__all__ = ["AlertController", "AlertRuleController"]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Metric = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[a-z_]+(:[a-z_]+)?$")]
Level = Annotated[float, msgspec.Meta(ge=-1e12, le=1e12)]
WarehouseId = Annotated[int, msgspec.Meta(ge=1, le=MAX_INT)]
Duration = Annotated[int, msgspec.Meta(ge=0, le=86_400)]
Comparison = Literal["above", "below"]

_METRICS_DOC = (
    "`metric`: `inflow_per_min` (orders accepted in the last minute, hub-wide only), `at_risk_count` (orders the SLA "
    "watcher marked at risk today), `exception_rate` (orders sent to exception ÷ orders received today; for a "
    "warehouse ÷ orders routed to it today), `backlog` (open orders now: ready, picking, packed, held, exception; "
    "hub-wide also received, validated, reserved) or `kpi:<name>` (today's KPI, docs/kpis.md; leave `threshold` out "
    "to use the KPI's target). All read from the rollups and the intake counter, Asia/Shanghai days. "
    "`comparison` `above`: fires when the value goes above `threshold`, re-arms only once it is below "
    "`clear_level` (default: the threshold; must not be above it); `below` mirrored. `min_duration_s`: the value "
    "must stay past the threshold that long (checked every 30 s) before it fires."
)


class AlertRuleBody(msgspec.Struct, kw_only=True):
    name: Name
    metric: Metric
    comparison: Comparison
    warehouse_id: WarehouseId | None = None  # None: hub-wide
    threshold: Level | None = None
    clear_level: Level | None = None
    min_duration_s: Duration = 0
    enabled: bool = True


class AlertRulePatch(msgspec.Struct, kw_only=True):
    """The fields to change; the others keep their values."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    metric: Metric | msgspec.UnsetType = msgspec.UNSET
    comparison: Comparison | msgspec.UnsetType = msgspec.UNSET
    warehouse_id: WarehouseId | msgspec.UnsetType | None = msgspec.UNSET
    threshold: Level | msgspec.UnsetType | None = msgspec.UNSET
    clear_level: Level | msgspec.UnsetType | None = msgspec.UNSET
    min_duration_s: Duration | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


def _actor(request: Request[UserView, Any, Any]) -> str:
    return f"user:{request.user.username}"


class AlertRuleController(Controller):
    path = "/api/v1/alert-rules"
    tags = ["alerts"]

    @get(
        "/",
        summary="The threshold alert rules, with where each stands (armed / firing)",
        description="Every rule with its state: `armed` (quiet; `pending_since` set while past the threshold but "
        "not yet for `min_duration_s`) or `firing` (`open_alert_id`). A user bound to a warehouse sees that "
        "warehouse's rules.",
    )
    async def list_rules(self, request: Request[UserView, Any, Any]) -> list[alerts.AlertRuleView]:
        return await alerts.list_rules(bound_warehouse_id=request.user.warehouse_id)

    @post(
        "/",
        summary="Create a threshold alert rule",
        description=_METRICS_DOC + " A manager bound to a warehouse creates rules for that warehouse only; "
        "`warehouse_id` null is a hub-wide rule.",
    )
    async def create_rule(self, request: Request[UserView, Any, Any], data: AlertRuleBody) -> alerts.AlertRuleView:
        rule = msgspec.convert(msgspec.to_builtins(data), alerts.AlertRuleIn)
        return await alerts.create_rule(rule, actor=_actor(request), bound_warehouse_id=request.user.warehouse_id)

    @patch(
        "/{rule_id:int}",
        summary="Change a threshold alert rule",
        description="Only the fields sent change; the rule is validated as a whole. A firing rule stays firing until "
        "the value is back past its (new) clear level; switching it off, or changing its metric or warehouse, "
        "closes its open alert and re-arms it.",
    )
    async def update_rule(
        self, request: Request[UserView, Any, Any], rule_id: PathId, data: AlertRulePatch
    ) -> alerts.AlertRuleView:
        return await alerts.update_rule(rule_id, changes_of(data), bound_warehouse_id=request.user.warehouse_id)

    @delete(
        "/{rule_id:int}",
        summary="Delete a threshold alert rule",
        description="Its open alert is closed; the alerts it fired stay in the history.",
    )
    async def delete_rule(self, request: Request[UserView, Any, Any], rule_id: PathId) -> None:
        await alerts.delete_rule(rule_id, bound_warehouse_id=request.user.warehouse_id)


class AlertController(Controller):
    path = "/api/v1/alerts"
    tags = ["alerts"]

    @get(
        "/",
        summary="Alerts fired, newest first (?state=open|acknowledged|cleared)",
        description="Each crossing of a rule: the value when it fired, the threshold and clear level, when it "
        "cleared (and the value then), who acknowledged it. `state`: `open` (not cleared, not acknowledged), "
        "`acknowledged` (not cleared), `cleared`. A user bound to a warehouse sees that warehouse's alerts only; "
        "`warehouse_id` filters; `before_id` pages.",
    )
    async def list_alerts(
        self,
        request: Request[UserView, Any, Any],
        wanted: Annotated[
            Literal["open", "acknowledged", "cleared"] | None,
            Parameter(query="state", description="open, acknowledged or cleared"),
        ] = None,
        warehouse_id: Annotated[int | None, Parameter(ge=1, le=MAX_INT)] = None,
        before_id: Annotated[int | None, Parameter(ge=1, le=MAX_INT)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[alerts.AlertView]:
        return await alerts.list_alerts(
            state=wanted,
            warehouse_id=warehouse_id,
            bound_warehouse_id=request.user.warehouse_id,
            before_id=before_id,
            limit=limit,
        )

    @post(
        "/{alert_id:int}/ack",
        status_code=200,
        summary="Acknowledge an alert (idempotent)",
        description="Records who acknowledged it and when; acknowledging again changes nothing and answers the alert "
        "as the first acknowledgement left it. Another warehouse's alert answers 404.",
    )
    async def acknowledge(self, request: Request[UserView, Any, Any], alert_id: PathId) -> alerts.AlertView:
        return await alerts.acknowledge(
            alert_id, actor=request.user.username, bound_warehouse_id=request.user.warehouse_id
        )
