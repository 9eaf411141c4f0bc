"""Surge mode: when orders pour in faster than a threshold, the pipeline takes a light path.

Inflow is counted at intake (orders newly accepted, in 5-second Redis buckets; the rate is the sum over the last
minute). A monitor in every worker looks at it every few seconds; the first to see a crossing switches the mode
with a compare-and-set in Redis, so a switch is recorded once however many workers run:

* inflow ≥ threshold (default 500/min) → ``surge``: a ``surge_started`` event;
* inflow ≥ the alert line (default 2000/min) while surging → one ``inflow_alert`` per climb (re-armed when the
  rate falls below 80 % of the line), published on the alerts topic for the notification capability;
* inflow below 80 % of the threshold for the cool-down (default 60 s) → ``normal``: a ``surge_ended`` event and
  a backfill job.

On the light path exactly one step is deferred: **merge detection (合单)**. An order in surge gets its own
shipment without looking for an open shipment of the same receiver (the lookup and the row lock on a shared
shipment are what a surge cannot afford), and it is marked ``needs_backfill``. Everything else runs as usual:
address standardisation, the duplicate check, rules and gift lines, SKU validation, routing, splitting,
reservation, packing line, ship-by. When the surge ends the backfill pass merges those orders' shipments with
open shipments for the same receiver (as the merge would have done) and clears the mark.

Switches and alerts are rows in ``surge_event`` and events on the alerts topic. Thresholds come from the
environment (ORDERHUB_SURGE_*) and can be changed at run time through the API (``pipeline_setting``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub import redis as redis_mod
from orderhub.events import Topic, publish_after_commit
from orderhub.orders.tables import Order, PipelineSetting, SurgeEvent, awaiting_backfill
from orderhub.registry import Hooks
from orderhub.settings import Settings, get_settings

__all__ = [
    "DEFERRED_STEPS",
    "SURGE_HOOKS",
    "Mode",
    "SurgeConfig",
    "SurgeEventType",
    "SurgeStatus",
    "current_mode",
    "inflow_per_min",
    "load_config",
    "monitor_forever",
    "record_inflow",
    "save_config",
    "status",
    "tick",
]

log = logging.getLogger("orderhub.surge")

BUCKET_SECONDS = 5
BUCKETS_PER_MIN = 60 // BUCKET_SECONDS
INFLOW_KEY = "orderhub:inflow:{}"
STATE_KEY = "orderhub:surge"
CONFIG_KEY = "surge"
EXIT_RATIO = 0.8  # leave surge / re-arm the alert below this share of the line (hysteresis)
# What the light path defers, by name (recorded on each order it touched and in the surge events).
DEFERRED_STEPS = ("merge_detection",)
MODE_CACHE_SECONDS = 1.0


class Mode(StrEnum):
    NORMAL = "normal"
    SURGE = "surge"


class SurgeEventType(StrEnum):
    STARTED = "pipeline.surge_started"
    ENDED = "pipeline.surge_ended"
    INFLOW_ALERT = "pipeline.inflow_alert"


class SurgeConfig(msgspec.Struct, frozen=True, kw_only=True):
    threshold_per_min: int
    alert_per_min: int
    cooldown_seconds: int


class SurgeSwitched(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Published on the alerts topic (tag = the SurgeEventType value)."""

    mode: str
    inflow_per_min: int
    threshold: int
    deferred: list[str]
    at: datetime


class SurgeStatus(msgspec.Struct, frozen=True, kw_only=True):
    mode: str
    since: datetime | None
    inflow_per_min: int
    config: SurgeConfig
    deferred_steps: list[str]
    backfill_pending: int


# -- configuration -------------------------------------------------------------------------------------------


def _defaults(settings: Settings) -> SurgeConfig:
    return SurgeConfig(
        threshold_per_min=settings.surge_threshold_per_min,
        alert_per_min=settings.surge_alert_per_min,
        cooldown_seconds=settings.surge_cooldown_seconds,
    )


async def load_config(settings: Settings | None = None) -> SurgeConfig:
    settings = settings or get_settings()
    row = await PipelineSetting.select(PipelineSetting.value).where(PipelineSetting.key == CONFIG_KEY).first()
    if row is None:
        return _defaults(settings)
    return msgspec.json.decode(row["value"], type=SurgeConfig)


async def save_config(config: SurgeConfig, *, actor: str) -> SurgeConfig:
    value = msgspec.json.encode(config).decode()
    now = clock.now()
    async with db.transaction():
        updated = await (
            PipelineSetting.update(
                {PipelineSetting.value: value, PipelineSetting.updated_by: actor, PipelineSetting.updated_at: now}
            )
            .where(PipelineSetting.key == CONFIG_KEY)
            .returning(PipelineSetting.id)
        )
        if not updated:
            await PipelineSetting.insert(PipelineSetting(key=CONFIG_KEY, value=value, updated_by=actor, updated_at=now))
    return config


# -- inflow ----------------------------------------------------------------------------------------------------


async def record_inflow(count: int) -> None:
    """Count ``count`` newly accepted orders (called after the intake commits; never fails the intake)."""
    if count <= 0:
        return
    key = INFLOW_KEY.format(int(time.time()) // BUCKET_SECONDS)
    try:
        async with redis_mod.get_client().pipeline(transaction=False) as pipe:
            pipe.incrby(key, count)
            pipe.expire(key, 120)
            await pipe.execute()
    except Exception as exc:  # the rate is advisory; the order is stored and queued
        log.warning("inflow count failed", extra={"error": repr(exc)})


async def inflow_per_min() -> int:
    """Orders accepted in the last minute (the current 5-second bucket and the eleven before it)."""
    now_bucket = int(time.time()) // BUCKET_SECONDS
    keys = [INFLOW_KEY.format(now_bucket - i) for i in range(BUCKETS_PER_MIN)]
    values = await redis_mod.get_client().mget(keys)
    return sum(int(v) for v in values if v)


# -- mode --------------------------------------------------------------------------------------------------------

# Compare-and-set of the mode: only the first monitor to see a crossing switches (and records it). A surge that
# starts above the alert line is born alerted, so that the same winner records both, in order.
_CAS = """
local mode = redis.call('HGET', KEYS[1], 'mode') or 'normal'
if mode ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'mode', ARGV[2], 'since', ARGV[3], 'alerted', ARGV[4], 'below_since', '')
return 1
"""
# Set a field only if it still has the value we read (alert once per climb).
_SET_IF = """
local value = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if value ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""

_mode_cache: tuple[float, Mode] | None = None


async def current_mode() -> Mode:
    """The pipeline's mode, as the monitor last set it (cached for a second per process)."""
    global _mode_cache
    now = time.monotonic()
    if _mode_cache is not None and now - _mode_cache[0] < MODE_CACHE_SECONDS:
        return _mode_cache[1]
    try:
        raw = await redis_mod.awaited(redis_mod.get_client().hget(STATE_KEY, "mode"))
    except Exception as exc:  # Redis down: the full path is always safe
        log.warning("surge mode unavailable", extra={"error": repr(exc)})
        return Mode.NORMAL
    mode = Mode(raw.decode()) if raw else Mode.NORMAL
    _mode_cache = (now, mode)
    return mode


async def _state() -> dict[str, str]:
    raw = await redis_mod.awaited(redis_mod.get_client().hgetall(STATE_KEY))
    return {k.decode(): v.decode() for k, v in raw.items()}


# Called inside the transaction that records a surge switch or inflow alert (notifications tell the managers).
SurgeHook = Callable[[int, SurgeEventType, int, int], Awaitable[None]]
SURGE_HOOKS: Hooks[SurgeHook] = Hooks("surge event")


async def _record(kind: SurgeEventType, mode: Mode, rate: int, threshold: int, **data: Any) -> None:
    now = clock.now()
    async with db.transaction():
        inserted = await SurgeEvent.insert(
            SurgeEvent(
                type=kind.value,
                mode=mode.value,
                inflow_per_min=rate,
                threshold=threshold,
                data=msgspec.json.encode(data).decode(),
                created_at=now,
            )
        ).returning(SurgeEvent.id)
        for hook in SURGE_HOOKS:
            await hook(int(inserted[0]["id"]), kind, rate, threshold)
        publish_after_commit(
            _EVENT_TYPES[kind](
                mode=mode.value, inflow_per_min=rate, threshold=threshold, deferred=list(DEFERRED_STEPS), at=now
            ),
            Topic.ALERTS,
        )
    log.info(kind.value, extra={"mode": mode.value, "inflow_per_min": rate, "threshold": threshold})


class _Started(SurgeSwitched, frozen=True, kw_only=True, tag=SurgeEventType.STARTED.value):
    pass


class _Ended(SurgeSwitched, frozen=True, kw_only=True, tag=SurgeEventType.ENDED.value):
    pass


class _Alert(SurgeSwitched, frozen=True, kw_only=True, tag=SurgeEventType.INFLOW_ALERT.value):
    pass


_EVENT_TYPES: dict[SurgeEventType, type[SurgeSwitched]] = {
    SurgeEventType.STARTED: _Started,
    SurgeEventType.ENDED: _Ended,
    SurgeEventType.INFLOW_ALERT: _Alert,
}


async def tick(config: SurgeConfig | None = None, *, on_ended: Any = None) -> Mode:
    """One look at the inflow: switch the mode or fire the alert when a line is crossed. Returns the mode."""
    global _mode_cache
    config = config or await load_config()
    client = redis_mod.get_client()
    rate = await inflow_per_min()
    state = await _state()
    mode = Mode(state.get("mode") or Mode.NORMAL.value)
    now = time.time()
    if mode == Mode.NORMAL:
        alert_now = rate >= config.alert_per_min
        if rate < config.threshold_per_min or not await redis_mod.awaited(
            client.eval(_CAS, 1, STATE_KEY, "normal", "surge", str(now), "1" if alert_now else "0")
        ):
            return mode
        _mode_cache = None
        await _record(SurgeEventType.STARTED, Mode.SURGE, rate, config.threshold_per_min)
        if alert_now:
            await _record(SurgeEventType.INFLOW_ALERT, Mode.SURGE, rate, config.alert_per_min)
        return Mode.SURGE
    alerted = state.get("alerted", "0")
    if rate >= config.alert_per_min and alerted == "0":
        if await redis_mod.awaited(client.eval(_SET_IF, 1, STATE_KEY, "alerted", "0", "1")):
            await _record(SurgeEventType.INFLOW_ALERT, Mode.SURGE, rate, config.alert_per_min)
    elif rate < config.alert_per_min * EXIT_RATIO and alerted == "1":
        await redis_mod.awaited(client.eval(_SET_IF, 1, STATE_KEY, "alerted", "1", "0"))
    below_since = state.get("below_since", "")
    if rate >= config.threshold_per_min * EXIT_RATIO:
        if below_since:
            await redis_mod.awaited(client.eval(_SET_IF, 1, STATE_KEY, "below_since", below_since, ""))
        return mode
    if not below_since:
        await redis_mod.awaited(client.eval(_SET_IF, 1, STATE_KEY, "below_since", "", str(now)))
        return mode
    if now - float(below_since) < config.cooldown_seconds:
        return mode
    if await redis_mod.awaited(client.eval(_CAS, 1, STATE_KEY, "surge", "normal", str(now), "0")):
        _mode_cache = None
        await _record(SurgeEventType.ENDED, Mode.NORMAL, rate, config.threshold_per_min)
        if on_ended is not None:
            await on_ended()
    return Mode.NORMAL


async def monitor_forever(settings: Settings, *, on_ended: Any = None) -> None:
    """The worker's background watcher (one per worker; the compare-and-set makes them agree)."""
    while True:
        try:
            await tick(await load_config(settings), on_ended=on_ended)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("surge monitor tick failed", extra={"error": repr(exc)})
        await asyncio.sleep(settings.surge_check_seconds)


async def status() -> SurgeStatus:
    state = await _state()
    since = state.get("since")
    mode = Mode(state.get("mode") or Mode.NORMAL.value)
    pending = await Order.count().where(awaiting_backfill())
    return SurgeStatus(
        mode=mode.value,
        since=datetime.fromtimestamp(float(since), tz=UTC) if since and mode == Mode.SURGE else None,
        inflow_per_min=await inflow_per_min(),
        config=await load_config(),
        deferred_steps=list(DEFERRED_STEPS),
        backfill_pending=int(pending),
    )
