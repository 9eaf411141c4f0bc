"""Live feeds for dashboards: numbered deltas per topic, kept in a Redis Stream so a client can resume.

A *topic* is a family name, optionally with one argument: ``orders`` (the whole hub), ``orders:12`` (warehouse 12),
``alerts``. Topic families are registered in :data:`FEED_TOPICS` (by ``server.wiring.wire()``) with a snapshot
function and a scope check; the websocket ``/ws/dash`` (``realtime.dashboard``) serves them.

Each :func:`publish` (or :func:`publish_after_commit`, the usual way: nothing goes out for a rolled-back
transaction) runs one Lua script that

- takes the topic's next sequence number (``INCR orderhub:feed:seq:{topic}``: 1, 2, 3 …),
- appends the delta to the topic's stream ``orderhub:feed:{topic}`` with the stream id ``{seq}-0``, trimmed to about
  :data:`MAXLEN` entries (``MAXLEN ~``: Redis trims whole nodes, cheaply),
- publishes the client's message ``{"type":"delta","topic":…,"seq":…,"data":…}`` on the pub/sub channel
  ``orderhub.feed.{topic}``, which litestar Channels fans out to every API process's sockets,

so sequence order is publish order, every process sees the same numbers, and :func:`since` can hand a client that
comes back exactly the deltas it missed — or ``None`` when they were trimmed (the client gets a fresh snapshot).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from orderhub import events
from orderhub import redis as redis_mod
from orderhub.errors import CommonError, NotFound, PermissionDenied, ValidationFailed
from orderhub.registry import Registry

__all__ = [
    "FEED_TOPICS",
    "MAXLEN",
    "MAX_REPLAY",
    "Entry",
    "FeedTopic",
    "Viewer",
    "channel_for",
    "current_seq",
    "delta_message",
    "mirror_into",
    "parse_topic",
    "publish",
    "publish_after_commit",
    "readers",
    "recent",
    "seq_key",
    "since",
    "stream_key",
    "topic_for",
]

MAXLEN = 10_000  # entries kept per topic (approximately): about the last few hours of a busy warehouse's orders
MAX_REPLAY = 2_000  # a client further behind than this gets a snapshot (cheaper than replaying)
_CHUNK = 500  # entries per XRANGE
_TOPIC = re.compile(r"^[a-z][a-z0-9_.]{0,39}(:[A-Za-z0-9_.-]{1,40})?$")

# INCR the topic's number, append to its stream (id "{n}-0"), publish the client's message: one step, so the
# numbers are the order of publishing. Should the counter ever fall behind the stream (a restored dump), it jumps
# past the stream's last id instead of failing the XADD.
_PUBLISH = """
local n = redis.call('INCR', KEYS[1])
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if top[1] then
  local last = tonumber(string.match(top[1][1], '^(%d+)'))
  if last >= n then
    n = last + 1
    redis.call('SET', KEYS[1], n)
  end
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], n .. '-0', 'd', ARGV[2])
redis.call('PUBLISH', ARGV[4],
  '{"type":"delta","topic":"' .. ARGV[1] .. '","seq":' .. n .. ',"data":' .. ARGV[2] .. '}')
return n
"""


class Viewer(Protocol):
    """Who is watching (the back office's ``UserView`` is one): what a scope check needs."""

    @property
    def id(self) -> int: ...

    @property
    def role(self) -> str: ...

    @property
    def warehouse_id(self) -> int | None: ...


SnapshotFn = Callable[[Viewer, str | None], Awaitable[dict[str, Any]]]
AllowFn = Callable[[Viewer, str | None], Awaitable[None]]


@dataclass(frozen=True)
class FeedTopic:
    """A topic family: ``allow(viewer, arg)`` raises ``PermissionDenied`` (or ``NotFound``) when the viewer may not
    watch ``family[:arg]``; ``snapshot(viewer, arg)`` returns its current state (a JSON-able dict, bounded)."""

    allow: AllowFn
    snapshot: SnapshotFn


FEED_TOPICS: Registry[FeedTopic] = Registry("feed topic")


class Entry(msgspec.Struct, frozen=True):
    seq: int
    data: bytes  # the delta's JSON, as published


def parse_topic(topic: str) -> tuple[FeedTopic, str | None]:
    """The registered family of ``topic`` and its argument; ``NotFound`` for a malformed or unknown topic."""
    if not isinstance(topic, str) or not _TOPIC.match(topic):
        raise ValidationFailed(f"频道名称不合法：{str(topic)[:50]}", field="topics")
    family, _, arg = topic.partition(":")
    if family not in FEED_TOPICS:
        raise NotFound(f"没有这个数据频道：{topic}", field="topics")
    return FEED_TOPICS.get(family), arg or None


def topic_for(family: str, arg: object | None = None) -> str:
    return family if arg is None else f"{family}:{arg}"


def stream_key(topic: str) -> str:
    return f"orderhub:feed:{topic}"


def seq_key(topic: str) -> str:
    return f"orderhub:feed:seq:{topic}"


def channel_for(topic: str) -> str:
    """The pub/sub channel the topic's deltas go out on (what a websocket subscribes to)."""
    return f"orderhub.feed.{topic}"


def delta_message(topic: str, seq: int, data: bytes) -> bytes:
    """The client's message for one delta: byte for byte what :func:`publish` sends live."""
    return b'{"type":"delta","topic":"%s","seq":%d,"data":%s}' % (topic.encode(), seq, data)


def _args(topic: str, data: dict[str, Any] | bytes, maxlen: int) -> tuple[Any, ...]:
    if not _TOPIC.match(topic):
        raise ValueError(f"bad feed topic {topic!r}")
    payload = (data if isinstance(data, bytes) else msgspec.json.encode(data)).decode()
    return (_PUBLISH, 2, seq_key(topic), stream_key(topic), topic, payload, maxlen, channel_for(topic))


async def publish(topic: str, data: dict[str, Any], *, maxlen: int = MAXLEN) -> int:
    """Append a delta to ``topic`` now and fan it out; returns its sequence number."""
    return int(await redis_mod.awaited(redis_mod.get_client().eval(*_args(topic, data, maxlen))))


def publish_after_commit(topic: str, data: dict[str, Any], *, maxlen: int = MAXLEN) -> None:
    """Queue a delta for ``topic`` to go out once the current transaction commits (in the same Redis round trip as
    the transaction's events; dropped if it rolls back). A failure is logged, never raised: the database is the
    truth and a client that misses a delta gets a snapshot. A transaction's deltas of one topic go out in one script
    call, numbered in the order they were queued (a pipeline batch moves dozens of orders at once)."""
    args = _args(topic, data, maxlen)
    events.redis_after_commit_batch(_TopicBatch, _TopicBatch).add(topic, args[5], maxlen)


# Several deltas of one topic in one step: the numbers n-k+1 … n, in the order given (as _PUBLISH, k times).
_PUBLISH_MANY = """
local count = #ARGV - 3
local first = redis.call('INCRBY', KEYS[1], count) - count + 1
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if top[1] then
  local last = tonumber(string.match(top[1][1], '^(%d+)'))
  if last >= first then
    first = last + 1
    redis.call('SET', KEYS[1], first + count - 1)
  end
end
for i = 1, count do
  local seq = first + i - 1
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'd', ARGV[3 + i])
  redis.call('PUBLISH', ARGV[3],
    '{"type":"delta","topic":"' .. ARGV[1] .. '","seq":' .. seq .. ',"data":' .. ARGV[3 + i] .. '}')
end
return first + count - 1
"""


class _TopicBatch:
    """One transaction's live-feed deltas, per topic in the order queued; after commit, one script call a topic."""

    def __init__(self) -> None:
        self.topics: dict[str, tuple[int, list[str]]] = {}

    def add(self, topic: str, payload: str, maxlen: int) -> None:
        self.topics.setdefault(topic, (maxlen, []))[1].append(payload)

    def __call__(self, pipe: Any) -> None:
        for topic, (maxlen, payloads) in self.topics.items():
            pipe.eval(_PUBLISH_MANY, 2, seq_key(topic), stream_key(topic), topic, maxlen, channel_for(topic), *payloads)


def mirror_into(topic: str, *, maxlen: int = MAXLEN) -> Callable[[Any, bytes], None]:
    """For ``events.FEED_MIRRORS``: append every event published on an event topic (its JSON, as is) to ``topic``."""
    _args(topic, b"{}", maxlen)  # a bad topic fails at wiring, not at the first event

    def append(pipe: Any, event: bytes) -> None:
        pipe.eval(*_args(topic, event, maxlen))

    return append


def readers(roles: frozenset[str], *, hub_wide: bool = True) -> AllowFn:
    """A scope check for a topic without argument: these roles; ``hub_wide``: not a user bound to a warehouse."""

    async def allow(viewer: Viewer, arg: str | None) -> None:
        if viewer.role not in roles:
            raise PermissionDenied("没有权限查看该频道", code=CommonError.FORBIDDEN, field="topics")
        if hub_wide and viewer.warehouse_id is not None:
            raise PermissionDenied(
                "绑定仓库的账号不能查看全局频道", code=CommonError.FORBIDDEN_WAREHOUSE, field="topics"
            )
        if arg is not None:
            raise NotFound("该频道没有参数", field="topics")

    return allow


def recent(topic: str, limit: int = 20) -> SnapshotFn:
    """A snapshot made of the topic's own last ``limit`` deltas, newest first: ``{"recent": [{"seq", "data"}…]}``
    (for topics whose state is their latest events, such as alerts)."""

    async def snapshot(viewer: Viewer, arg: str | None) -> dict[str, Any]:
        rows = await redis_mod.awaited(redis_mod.get_client().xrevrange(stream_key(topic), count=limit))
        items = []
        for raw_id, fields in rows:
            data = fields.get(b"d", fields.get("d"))
            seq = int((raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)).split("-", 1)[0])
            items.append({"seq": seq, "data": msgspec.json.decode(data)})
        return {"recent": items}

    return snapshot


async def current_seq(topic: str) -> int:
    """The number of the topic's last delta (0 before the first)."""
    return int(await redis_mod.awaited(redis_mod.get_client().get(seq_key(topic))) or 0)


async def since(topic: str, seq: int, *, limit: int = MAX_REPLAY) -> list[Entry] | None:
    """The deltas after ``seq``, in order, read in chunks — or ``None`` when they cannot all be given: trimmed from
    the stream, more than ``limit``, or ``seq`` from another life of the counter (ahead of it). ``[]`` when the
    client is up to date. Deltas published while reading are included (the caller drops duplicates by number)."""
    client = redis_mod.get_client()
    current = await current_seq(topic)
    if seq < 0 or seq > current or current - seq > limit:
        return None
    out: list[Entry] = []
    expected, start = seq + 1, f"{seq + 1}-0"
    while expected <= current:
        rows = await redis_mod.awaited(client.xrange(stream_key(topic), min=start, max="+", count=_CHUNK))
        if not rows:
            return None  # trimmed or deleted
        for raw_id, fields in rows:
            n = int(raw_id.split(b"-", 1)[0] if isinstance(raw_id, bytes) else str(raw_id).split("-", 1)[0])
            if n != expected:
                return None  # the oldest ones are gone (trimmed): not everything can be given
            data = fields.get(b"d", fields.get("d"))
            out.append(Entry(n, data if isinstance(data, bytes) else str(data).encode()))
            expected += 1
        start = f"{expected}-0"
        if len(rows) < _CHUNK:
            break
    return out if expected > current else None
