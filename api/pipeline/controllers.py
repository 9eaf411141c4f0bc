"""The pipeline's surge mode: current mode and inflow, its thresholds, and the history of switches and alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, put
from litestar.params import Parameter

from api.common import MAX_INT, present
from orderhub.auth.service import UserView
from orderhub.errors import ValidationFailed
from orderhub.orders import surge
from orderhub.orders.tables import SurgeEvent

__all__ = ["PipelineController"]

PerMinute = Annotated[int, msgspec.Meta(ge=1, le=MAX_INT)]
Seconds = Annotated[int, msgspec.Meta(ge=0, le=86_400)]


class SurgeConfigIn(msgspec.Struct, kw_only=True):
    """``threshold_per_min``: inflow that starts a surge; ``alert_per_min``: inflow that fires the inflow alert
    (≥ the threshold); ``cooldown_seconds``: how long inflow must stay below 80 % of the threshold to end it."""

    threshold_per_min: PerMinute
    alert_per_min: PerMinute
    cooldown_seconds: Seconds = 60


class SurgeConfigOut(msgspec.Struct, kw_only=True):
    threshold_per_min: int
    alert_per_min: int
    cooldown_seconds: int


class SurgeStatusOut(msgspec.Struct, kw_only=True):
    mode: str
    since: datetime | None
    inflow_per_min: int
    config: SurgeConfigOut
    deferred_steps: list[str]
    backfill_pending: int


class SurgeEventOut(msgspec.Struct, kw_only=True):
    id: int
    type: str
    mode: str
    inflow_per_min: int
    threshold: int
    created_at: datetime


class PipelineController(Controller):
    path = "/api/v1/pipeline"
    tags = ["pipeline"]

    @get(
        "/surge",
        summary="Surge mode: current mode, inflow per minute, thresholds, what the light path defers",
        description="Whether the pipeline is in surge (light) mode, the order inflow per minute it measures and the "
        "thresholds that switch it.",
    )
    async def surge_status(self) -> SurgeStatusOut:
        return present(await surge.status(), SurgeStatusOut)

    @put(
        "/surge",
        summary="Change the surge thresholds (takes effect within seconds)",
        description="`threshold_per_min`: the inflow that starts a surge (the light path); `alert_per_min` (not "
        "below it): the inflow that alerts staff; `cooldown_seconds`: how long inflow must stay below 80 % of the "
        "threshold to end it.",
    )
    async def set_surge(self, request: Request[UserView, Any, Any], data: SurgeConfigIn) -> SurgeConfigOut:
        if data.alert_per_min < data.threshold_per_min:
            raise ValidationFailed("告警阈值不能低于进入高峰模式的阈值", field="alert_per_min")
        config = surge.SurgeConfig(
            threshold_per_min=data.threshold_per_min,
            alert_per_min=data.alert_per_min,
            cooldown_seconds=data.cooldown_seconds,
        )
        return present(await surge.save_config(config, actor=f"user:{request.user.username}"), SurgeConfigOut)

    @get(
        "/surge/events",
        summary="Surge switches and inflow alerts",
        description="Every switch into and out of surge mode and every inflow alert, with the inflow measured, up to "
        "`limit`.",
    )
    async def surge_events(self, limit: Annotated[int, Parameter(ge=1, le=500)] = 100) -> list[SurgeEventOut]:
        rows = await SurgeEvent.select().order_by(SurgeEvent.id, ascending=False).limit(limit)
        return present(rows, list[SurgeEventOut])
