"""The dashboard tiers on the live feed (``/ws/dash``, docs/live-feed.md, docs/dashboards.md#live):

- ``dash.strategic`` — hub-wide; admin, manager, finance not bound to a warehouse;
- ``dash.tactical:{warehouse_id}`` and ``dash.operations:{warehouse_id}`` — admin and manager; a user bound to a
  warehouse only their own.

The snapshot is the same JSON as the REST endpoint (``GET /api/v1/dash/strategic`` …, times in +08:00). Deltas are
hints, ``{"changed": ["figures"]}``: the rollups moved, re-read the snapshot (subscribe again) or the endpoint. The
rollup catch-up job calls :func:`after_catch_up` with the warehouses it touched; each topic gets at most
:data:`HINTS_PER_SECOND` hints a second across every process (a Redis ``SET NX PX`` per topic), and a hint held
back by the throttle goes out when the window ends, so the last change is never left without one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from datetime import date, datetime
from typing import Any

import msgspec

from orderhub import clock, feed, redis
from orderhub.errors import CommonError, NotFound, PermissionDenied, ValidationFailed
from orderhub.insights import tiers

__all__ = [
    "HINT",
    "HINTS_PER_SECOND",
    "OPERATIONS",
    "STRATEGIC",
    "STRATEGIC_ROLES",
    "TACTICAL",
    "WAREHOUSE_ROLES",
    "after_catch_up",
    "allow_strategic",
    "allow_warehouse",
    "as_json",
    "snapshot_operations",
    "snapshot_strategic",
    "snapshot_tactical",
]

log = logging.getLogger("orderhub.insights.live")

STRATEGIC = "dash.strategic"
TACTICAL = "dash.tactical"
OPERATIONS = "dash.operations"
STRATEGIC_ROLES = frozenset({"admin", "manager", "finance"})
WAREHOUSE_ROLES = frozenset({"admin", "manager"})
HINT: dict[str, Any] = {"changed": ["figures"]}
HINTS_PER_SECOND = 1  # a board a second is live for a person; each hint is one message to every watching screen
_WINDOW_MS = 1000 // HINTS_PER_SECOND
_THROTTLE_KEY = "orderhub:dash:hint:{}"


def as_json(value: Any) -> Any:
    """A read model as the API answers it: builtins, times in Asia/Shanghai (+08:00), dates as YYYY-MM-DD."""

    def convert(node: Any) -> Any:
        if isinstance(node, datetime):
            return clock.to_shanghai(node).isoformat()
        if isinstance(node, date):
            return node.isoformat()
        if isinstance(node, dict):
            return {k: convert(v) for k, v in node.items()}
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node

    return convert(msgspec.to_builtins(value, builtin_types=(datetime, date)))


# -- scope ---------------------------------------------------------------------------------------------------------

allow_strategic = feed.readers(STRATEGIC_ROLES)


def _warehouse_arg(family: str, arg: str | None) -> int:
    if arg is None or not arg.isdigit() or len(arg) > 9:
        raise ValidationFailed(f"仓库频道应为 {family}:<仓库ID>", field="topics")
    return int(arg)


def allow_warehouse(family: str) -> feed.AllowFn:
    """Admin and manager; a user bound to a warehouse only ``{family}:{their warehouse id}``."""

    async def allow(viewer: feed.Viewer, arg: str | None) -> None:
        if viewer.role not in WAREHOUSE_ROLES:
            raise PermissionDenied("没有权限查看该看板", code=CommonError.FORBIDDEN, field="topics")
        warehouse_id = _warehouse_arg(family, arg)
        if viewer.warehouse_id is not None and warehouse_id != viewer.warehouse_id:
            raise PermissionDenied(
                f"只能查看本仓库的数据（{family}:{viewer.warehouse_id}）",
                code=CommonError.FORBIDDEN_WAREHOUSE,
                field="topics",
            )
        try:
            await tiers.warehouses_exist([warehouse_id])
        except NotFound as exc:
            raise NotFound("仓库不存在", field="topics") from exc

    return allow


# -- snapshots: the endpoints' JSON ----------------------------------------------------------------------------------


async def snapshot_strategic(viewer: feed.Viewer, arg: str | None) -> dict[str, Any]:
    data: dict[str, Any] = as_json(await tiers.strategic(tiers.today()))
    return data


async def snapshot_tactical(viewer: feed.Viewer, arg: str | None) -> dict[str, Any]:
    data: dict[str, Any] = as_json(await tiers.tactical(tiers.today(), [_warehouse_arg(TACTICAL, arg)]))
    return data


async def snapshot_operations(viewer: feed.Viewer, arg: str | None) -> dict[str, Any]:
    data: dict[str, Any] = as_json(await tiers.operations(tiers.today(), [_warehouse_arg(OPERATIONS, arg)]))
    return data


# -- hints -----------------------------------------------------------------------------------------------------------

# A hint carries the board itself (``board``: what the snapshot would say), computed once here rather than re-read by
# every watching screen: 2,000 consoles re-reading the tactical board on each hint would be 4,000 requests a second.
# Only while someone watches (Redis PUBSUB NUMSUB of the topic's channel: one subscription per API process); the stream
# keeps fewer of these bigger deltas (a client further behind gets a snapshot, which says the same).
HINT_STREAM_LEN = 200


class _System:
    """The hub itself as the viewer of a board it computes for everyone allowed to watch the topic."""

    id = 0
    role = "admin"
    warehouse_id: int | None = None


_BOARDS: dict[str, Callable[[feed.Viewer, str | None], Awaitable[dict[str, Any]]]] = {}


async def _hint_data(topic: str) -> dict[str, Any]:
    family, _, arg = topic.partition(":")
    board = _BOARDS.get(family)
    if board is None:
        return HINT
    try:
        watched = await redis.awaited(redis.get_client().pubsub_numsub(feed.channel_for(topic)))
        if not any(int(count) for _, count in watched):
            return HINT
        return {**HINT, "board": await board(_System(), arg or None)}
    except Exception as exc:  # the hint alone still tells screens to re-read
        log.warning("dashboard board for a hint failed", extra={"topic": topic, "error": repr(exc)})
        return HINT

_held_back: set[str] = set()  # topics with a trailing hint scheduled in this process
_tasks: set[asyncio.Task[None]] = set()


async def _hint(topic: str) -> bool:
    """Publish the hint unless the topic had one in the last window (any process); a held-back hint goes out when
    the window ends. True when published now."""
    client = redis.get_client()
    key = _THROTTLE_KEY.format(topic)
    if await redis.awaited(client.set(key, b"1", nx=True, px=_WINDOW_MS)):
        await feed.publish(topic, await _hint_data(topic), maxlen=HINT_STREAM_LEN)
        return True
    if topic not in _held_back:
        _held_back.add(topic)
        ttl = int(await redis.awaited(client.pttl(key)))
        task = asyncio.create_task(_trailing(topic, max(ttl, 1) / 1000))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
    return False


async def _trailing(topic: str, delay: float) -> None:
    await asyncio.sleep(delay)
    _held_back.discard(topic)
    try:
        await _hint(topic)
    except Exception as exc:  # Redis away: the next catch-up hints again
        log.warning("dashboard hint failed", extra={"topic": topic, "error": repr(exc)})


async def after_catch_up(warehouse_ids: AbstractSet[int]) -> None:
    """The rollup catch-up job counted events of these warehouses (0: orders not routed yet): hint the strategic
    topic and each warehouse's tactical and operations topics that their figures changed."""
    topics = [STRATEGIC]
    for warehouse_id in sorted(w for w in warehouse_ids if w):
        topics += [feed.topic_for(TACTICAL, warehouse_id), feed.topic_for(OPERATIONS, warehouse_id)]
    for topic in topics:
        try:
            await _hint(topic)
        except Exception as exc:  # a hint is best effort: the job's work is done
            log.warning("dashboard hint failed", extra={"topic": topic, "error": repr(exc)})


_BOARDS.update({STRATEGIC: snapshot_strategic, TACTICAL: snapshot_tactical, OPERATIONS: snapshot_operations})
