"""Typed events published after commit, and the topic names they go to.

Events go out on Redis pub/sub. Topic names are built here (not in ``realtime/``) because workers publish too
and the platform floor cannot import the transport floor; ``realtime/topics.py`` re-exports these. API processes
fan them out to websockets through litestar Channels (same channel names, ``realtime.fanout``'s pub/sub backend).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, TypeVar

import msgspec
import redis.asyncio as aioredis

from orderhub import db
from orderhub.registry import Registry

__all__ = [
    "FEED_MIRRORS",
    "EventBus",
    "Topic",
    "get_bus",
    "live_seq_key",
    "order_topic",
    "picker_topic",
    "publish_after_commit",
    "publish_live_after_commit",
    "redis_after_commit",
    "redis_after_commit_batch",
    "set_bus",
    "warehouse_floor_topic",
]

log = logging.getLogger("orderhub.events")


class Topic(StrEnum):
    ORDERS = "orderhub.orders"
    STOCK = "orderhub.stock"
    ALERTS = "orderhub.alerts"


def order_topic(order_id: int) -> str:
    return f"orderhub.order.{order_id}"


# Live topics of the warehouse floor (PDAs, pack stations). Their messages are envelopes
# ``{"topic": …, "seq": n, "event": {…}}`` numbered per topic (see publish_live_after_commit).
def picker_topic(user_id: int) -> str:
    """What one picker or packer must hear: a task assigned to them, a task of theirs withdrawn."""
    return f"orderhub.picker.{user_id}"


def warehouse_floor_topic(warehouse_id: int) -> str:
    """What every handheld of a warehouse hears: waves released, tasks opened, claimed or withdrawn."""
    return f"orderhub.floor.{warehouse_id}"


def live_seq_key(topic: str) -> str:
    return f"orderhub:seq:{topic}"


# INCR the topic's sequence and publish the envelope in one step, so sequence order is publish order.
_PUBLISH_LIVE = """
local n = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], '{"topic":"' .. ARGV[1] .. '","seq":' .. n .. ',"event":' .. ARGV[2] .. '}')
return n
"""


class EventBus:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def publish(self, event: msgspec.Struct, *topics: str) -> None:
        # Tagged Structs carry their name under "type" (e.g. "order.status_changed").
        data = msgspec.json.encode(event)
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.publish(topic, data)
            await pipe.execute()


_bus: EventBus | None = None

# Topics whose after-commit events are also appended to a live dashboard feed (``orderhub.feed``), by topic name:
# ``mirror(pipeline, event_json)`` queues the append in the same round trip. Filled by ``server.wiring.wire()``.
FEED_MIRRORS: Registry[Callable[[Any, bytes], None]] = Registry("feed mirror")


def set_bus(bus: EventBus | None) -> None:
    global _bus
    _bus = bus


def get_bus() -> EventBus | None:
    return _bus


def publish_after_commit(event: msgspec.Struct, *topics: str) -> None:
    """Queue ``event`` to be published once the current transaction commits (dropped if it rolls back).

    All the events of one transaction go out in one Redis round trip, in the order they were queued."""
    _batch().items.append((event, topics))


def publish_live_after_commit(event: msgspec.Struct, *topics: str) -> None:
    """Like :func:`publish_after_commit`, for live topics: each message is numbered per topic (1, 2, 3 …) so a
    client that sees a gap knows it missed something and re-syncs from a snapshot."""
    data = msgspec.json.encode(event).decode()

    def build(pipe: Any) -> None:
        for topic in topics:
            pipe.eval(_PUBLISH_LIVE, 1, live_seq_key(topic), topic, data)

    redis_after_commit(build)


def redis_after_commit(
    build: Callable[[Any], None], then: Callable[[list[Any]], Awaitable[None]] | None = None
) -> None:
    """Queue Redis commands (``build(pipeline)``) to run after commit in the same round trip as the
    transaction's events; ``then`` receives their results. Failures are logged, never raised."""
    _batch().extra.append((build, then))


B = TypeVar("B")


def redis_after_commit_batch(kind: type[B], make: Callable[[], B]) -> B:
    """The one ``kind`` queued in this transaction's Redis round trip, made (``make()``) and queued the first time:
    a caller gathers many commands into one (e.g. every live-feed delta of a topic into one script call). ``kind``
    is called with the pipeline after commit, like ``redis_after_commit``'s ``build``."""
    batch = _batch()
    for build, _ in batch.extra:
        if isinstance(build, kind):
            return build
    made = make()
    batch.extra.append((made, None))  # type: ignore[arg-type]  # a B is callable with the pipeline
    return made


def _batch() -> _PublishBatch:
    pending = db.pending_after_commit()
    batch = pending[-1] if pending and isinstance(pending[-1], _PublishBatch) else None
    if batch is None:
        batch = _PublishBatch()
        db.after_commit(batch)
    return batch


class _PublishBatch:
    """An after-commit callback that sends one transaction's events (and queued commands) in one pipeline."""

    def __init__(self) -> None:
        self.items: list[tuple[msgspec.Struct, tuple[str, ...]]] = []
        self.extra: list[tuple[Callable[[Any], None], Callable[[list[Any]], Awaitable[None]] | None]] = []

    async def __call__(self) -> None:
        bus = _bus
        if bus is None or not (self.items or self.extra):
            return
        spans: list[tuple[int, int, Callable[[list[Any]], Awaitable[None]] | None]] = []
        try:
            async with bus.redis.pipeline(transaction=False) as pipe:
                for event, topics in self.items:
                    data = msgspec.json.encode(event)
                    for topic in topics:
                        pipe.publish(topic, data)
                        if topic in FEED_MIRRORS:
                            FEED_MIRRORS.get(topic)(pipe, data)
                for build, then in self.extra:
                    start = len(pipe)
                    build(pipe)
                    spans.append((start, len(pipe), then))
                results = await pipe.execute()
        except Exception as exc:  # live screens may miss it; the order_event row is the record
            log.warning("event publish failed", extra={"error": repr(exc), "events": len(self.items)})
            return
        for start, end, then in spans:
            if then is not None:
                try:
                    await then(list(results[start:end]))
                except Exception as exc:
                    log.warning("after-commit follow-up failed", extra={"error": repr(exc)})
