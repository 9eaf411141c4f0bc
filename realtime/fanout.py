"""The live fan-out's Redis pub/sub backend for litestar Channels, supervised: it survives a Redis restart.

Litestar's ``RedisChannelsPubSubBackend`` listens in one task that dies on the first ``ConnectionError`` and is never
started again: after a three-second Redis blip an API process stayed not ready (``/readyz`` 503) and its websockets
heard nothing until the process was restarted. This backend owns its listening connection and its reconnect policy:

- the listener reads with no hidden retries (redis-py's own retry would reconnect silently and hide the outage);
- on a lost connection it backs off exponentially with jitter (0.1 s doubling to 5 s), opens a new connection and
  subscribes again to every channel wanted *now* (websockets come and go while Redis is down);
- while it is down :attr:`status` says so (``/readyz`` reports ``fanout`` as an error), and ``ok`` again after;
- after a reconnect it hands every wanted channel a :data:`RESUMED` notice (``{"type":"fanout.resumed","n":…}``):
  events published while it was away are gone, so the floor websocket answers it with a fresh snapshot.

A subscribe or unsubscribe while Redis is away is remembered, never raised: the websocket that asked keeps going and
is subscribed as soon as Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import msgspec
import redis.asyncio as aioredis
from litestar.channels.backends.base import ChannelsBackend
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

__all__ = ["KEEPALIVE_CHANNEL", "RESUMED_TYPE", "ReconnectingPubSubBackend", "resumed_generation"]

log = logging.getLogger("orderhub.fanout")

RESUMED_TYPE = "fanout.resumed"
# The one channel an API process listens to always (nothing is published on it): the listener stays connected, so
# ``/readyz`` tells whether this process can hear Redis. Every other channel is subscribed while a websocket wants
# it and dropped after the last one leaves — listening to every order's status change with nobody watching cost an
# API process a fifth of its CPU at a peak (py-spy, 9,000 orders/min).
KEEPALIVE_CHANNEL = "orderhub.fanout.keepalive"
_RESUMED_PREFIX = b'{"type":"' + RESUMED_TYPE.encode() + b'"'
_SUBSCRIBE_CHUNK = 500  # channels per SUBSCRIBE command when (re)subscribing many


class _Resumed(msgspec.Struct, tag_field="type", tag=RESUMED_TYPE):
    n: int


def resumed_generation(data: bytes) -> int | None:
    """The reconnect number of a :data:`RESUMED` notice, or None for any other message (a cheap prefix check)."""
    if not data.startswith(_RESUMED_PREFIX):
        return None
    try:
        return msgspec.json.decode(data, type=_Resumed).n
    except msgspec.DecodeError:
        return None


class ReconnectingPubSubBackend(ChannelsBackend):
    """Redis pub/sub for ``ChannelsPlugin`` whose listener reconnects with backoff and re-subscribes by itself."""

    def __init__(
        self,
        url: str,
        *,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        poll_seconds: float = 1.0,
        health_check_seconds: int = 10,
    ) -> None:
        # No retries inside redis-py: a lost connection must reach the loop below (which owns the policy).
        self._redis = aioredis.Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=health_check_seconds,  # a PING when idle: a half-open socket is noticed
            socket_connect_timeout=2,
        )
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._poll_seconds = poll_seconds
        self._wanted: set[str] = set()
        self._pubsub: PubSub | None = None
        self._wake: asyncio.Event | None = None
        self._down_since: float | None = None
        self.reconnects = 0  # how many times the listener came back after losing Redis

    @property
    def status(self) -> str:
        """``ok`` when listening, else why not (for ``/readyz``)."""
        if self._pubsub is not None:
            return "ok"
        return "error: reconnecting" if self._down_since is not None else "error: not connected"

    def _event(self) -> asyncio.Event:
        if self._wake is None:  # created inside the running loop
            self._wake = asyncio.Event()
        return self._wake

    async def on_startup(self) -> None:
        pass

    async def on_shutdown(self) -> None:
        await self._drop()
        await self._redis.aclose()

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel in set(channels):
                    pipe.publish(channel, data)
                await pipe.execute()
        except (RedisError, OSError) as exc:  # a live event is best effort; the database is the record
            log.warning("fan-out publish failed", extra={"error": repr(exc)})

    async def subscribe(self, channels: Iterable[str]) -> None:
        new = set(channels) - self._wanted
        self._wanted |= new
        pubsub = self._pubsub
        if new and pubsub is not None:
            try:
                await pubsub.subscribe(*new)
            except (RedisError, OSError) as exc:  # the listener reconnects and subscribes every wanted channel
                await self._lost(exc)
        self._event().set()

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        gone = set(channels) & self._wanted
        self._wanted -= gone
        pubsub = self._pubsub
        if gone and pubsub is not None:
            try:
                await pubsub.unsubscribe(*gone)
            except (RedisError, OSError) as exc:  # a new connection subscribes only what is wanted
                await self._lost(exc)

    async def get_history(self, channel: str, limit: int | None = None) -> list[bytes]:
        raise NotImplementedError("pub/sub keeps no history")

    async def _connect(self) -> PubSub:
        pubsub = self._redis.pubsub()
        done: set[str] = set()
        try:
            while todo := sorted(self._wanted - done):  # channels wanted while we subscribed are taken too
                for start in range(0, len(todo), _SUBSCRIBE_CHUNK):
                    await pubsub.subscribe(*todo[start : start + _SUBSCRIBE_CHUNK])
                done.update(todo)
            if stale := sorted(done - self._wanted):
                await pubsub.unsubscribe(*stale)
        except BaseException:
            await _close_quietly(pubsub)
            raise
        return pubsub

    async def _lost(self, exc: BaseException) -> None:
        """The connection is gone (or unusable): drop it; the listener reconnects after a pause."""
        await self._drop()
        if self._down_since is None:
            self._down_since = time.monotonic()
            if isinstance(exc, RedisError | OSError):
                log.warning("fan-out lost Redis; reconnecting", extra={"error": repr(exc)})
            else:
                log.error("fan-out listener failed; restarting it", exc_info=exc)

    async def _drop(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await _close_quietly(pubsub)

    def _backoff(self, failures: int) -> float:
        ceiling = min(self._max_backoff, self._min_backoff * 2 ** min(failures, 30))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter": API processes do not stampede

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        failures = 0
        while True:
            if not self._wanted:
                wake = self._event()
                wake.clear()
                await wake.wait()
                continue
            try:
                if self._pubsub is None:
                    self._pubsub = await self._connect()
                    if self._down_since is not None:
                        self.reconnects += 1
                        log.info(
                            "fan-out reconnected to Redis",
                            extra={"down_seconds": round(time.monotonic() - self._down_since, 1), "tries": failures},
                        )
                        self._down_since = None
                        notice = msgspec.json.encode(_Resumed(n=self.reconnects))
                        for channel in sorted(self._wanted):
                            yield channel, notice
                    failures = 0
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=self._poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # supervise: whatever broke the listener, start it again after a pause
                await self._lost(exc)
                failures += 1
                await asyncio.sleep(self._backoff(failures))
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"].decode()
            if channel in self._wanted:  # an unsubscribe is acknowledged later than it is asked
                yield channel, message["data"]


async def _close_quietly(pubsub: PubSub) -> None:
    try:
        await pubsub.aclose()
    except Exception:  # the connection is already gone; nothing to tell anyone
        pass
