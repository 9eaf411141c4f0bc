"""The dashboard tiers on the live feed (``/ws/dash``, docs/live-feed.md, docs/dashboards.md#live):

- ``dash.strategic`` — hub-wide; admin, manager, finance not bound to a warehouse;
- ``dash.tactical:{warehouse_id}`` and ``dash.operations:{warehouse_id}`` — admin and manager; a user bound to a
  warehouse only their own.

The snapshot is the same JSON as the REST endpoint (``GET /api/v1/dash/strategic`` …, times in +08:00). Deltas are
hints, ``{"changed": ["figures"]}``: the rollups moved, re-read the snapshot (subscribe again) or the endpoint. The
rollup catch-up job calls :func:`after_catch_up` with the warehouses it touched; an approval request opened or
decided (:func:`on_approval_change`, an approvals listener) hints ``{"changed": ["approvals"]}`` on the strategic
topic (its approvals card) and the request's warehouse's tactical topic (pending / overdue), after its commit. Each
topic gets at most :data:`HINTS_PER_SECOND` hints a second across every process (a Redis ``SET NX PX`` per topic),
and a hint held back by the throttle goes out when the window ends, saying everything that changed meanwhile, so the
last change is never left without one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from collections.abc import Set as AbstractSet
from datetime import date, datetime
from typing import Any, Protocol

import msgspec

from orderhub import clock, db, feed, redis
from orderhub.errors import CommonError, NotFound, PermissionDenied, ValidationFailed
from orderhub.insights import tiers

__all__ = [
    "APPROVALS",
    "FIGURES",
    "HINT",
    "HINTS_PER_SECOND",
    "OPERATIONS",
    "STRATEGIC",
    "STRATEGIC_ROLES",
    "TACTICAL",
    "WAREHOUSE_ROLES",
    "ApprovalChanged",
    "after_approval_change",
    "after_catch_up",
    "allow_strategic",
    "allow_warehouse",
    "as_json",
    "on_approval_change",
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
FIGURES = "figures"  # the rollups moved
APPROVALS = "approvals"  # an approval request was opened or decided: the approvals card, pending / overdue
HINT: dict[str, Any] = {"changed": [FIGURES]}
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


async def _hint_data(topic: str, changed: AbstractSet[str]) -> dict[str, Any]:
    hint: dict[str, Any] = {"changed": sorted(changed)}
    family, _, arg = topic.partition(":")
    board = _BOARDS.get(family)
    if board is None:
        return hint
    try:
        watched = await redis.awaited(redis.get_client().pubsub_numsub(feed.channel_for(topic)))
        if not any(int(count) for _, count in watched):
            return hint
        return {**hint, "board": await board(_System(), arg or None)}
    except Exception as exc:  # the hint alone still tells screens to re-read
        log.warning("dashboard board for a hint failed", extra={"topic": topic, "error": repr(exc)})
        return hint


_held_back: dict[str, set[str]] = {}  # topics with a trailing hint scheduled in this process, and what changed
_tasks: set[asyncio.Task[None]] = set()


def _spawn(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _hint(topic: str, changed: Iterable[str] = (FIGURES,)) -> bool:
    """Publish the hint unless the topic had one in the last window (any process); a held-back hint goes out when
    the window ends, with everything held back meanwhile in its ``changed``. True when published now."""
    client = redis.get_client()
    key = _THROTTLE_KEY.format(topic)
    if await redis.awaited(client.set(key, b"1", nx=True, px=_WINDOW_MS)):
        await feed.publish(topic, await _hint_data(topic, set(changed)), maxlen=HINT_STREAM_LEN)
        return True
    if topic in _held_back:
        _held_back[topic].update(changed)
    else:
        _held_back[topic] = set(changed)
        ttl = int(await redis.awaited(client.pttl(key)))
        _spawn(_trailing(topic, max(ttl, 1) / 1000))
    return False


async def _trailing(topic: str, delay: float) -> None:
    await asyncio.sleep(delay)
    changed = _held_back.pop(topic, {FIGURES})
    try:
        await _hint(topic, changed)
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


# -- approvals ---------------------------------------------------------------------------------------------------

# What an approval change does to the approvals' figures: comments and reminders move none of them.
_QUIET_APPROVAL_ACTIONS = frozenset({"comment", "remind", "reminded"})


class ApprovalChanged(Protocol):
    """What the hint needs of an approval change (``orderhub.approvals.live.ApprovalChange``; the insights context
    reads the approvals' tables with plain SQL and imports nothing of them)."""

    @property
    def request_id(self) -> int: ...

    @property
    def action(self) -> str: ...


class _RequestWarehouse(msgspec.Struct):
    warehouse: int | None


async def on_approval_change(change: ApprovalChanged) -> None:
    """An approvals listener (``APPROVAL_HOOKS``, in the change's transaction): once the change has committed, the
    boards showing approvals are hinted (:func:`after_approval_change`) — in the background, so an approver's tap
    never waits for a board to be computed. Nothing when the change is rolled back, or only a comment or reminder."""
    if change.action in _QUIET_APPROVAL_ACTIONS:
        return
    request_id = change.request_id

    async def hint() -> None:
        if redis.has_client():  # a one-off command without Redis has no screens to tell
            _spawn(after_approval_change(request_id))

    db.after_commit(hint)


async def after_approval_change(request_id: int) -> None:
    """An approval request was opened or decided (or its tasks moved): hint the strategic topic (its approvals card)
    and the tactical topic of the request's warehouse (its pending and overdue requests), throttled as every hint."""
    topics = [STRATEGIC]
    try:
        row = await db.fetch_one_as(
            _RequestWarehouse, "SELECT warehouse FROM approval_request WHERE id = {}", request_id
        )
        if row is not None and row.warehouse:
            topics.append(feed.topic_for(TACTICAL, row.warehouse))
    except Exception as exc:  # the strategic hint still goes out
        log.warning("approval's warehouse for a hint failed", extra={"request_id": request_id, "error": repr(exc)})
    for topic in topics:
        try:
            await _hint(topic, (APPROVALS,))
        except Exception as exc:  # a hint is best effort: the decision is made
            log.warning("dashboard hint failed", extra={"topic": topic, "error": repr(exc)})


_BOARDS.update({STRATEGIC: snapshot_strategic, TACTICAL: snapshot_tactical, OPERATIONS: snapshot_operations})
