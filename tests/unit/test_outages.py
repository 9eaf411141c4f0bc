"""Which errors are a store's outage (503 + Retry-After, one WARNING line) and which are bugs (500, a traceback)."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest
import redis.exceptions

from orderhub.errors import CommonError
from realtime.fanout import ReconnectingPubSubBackend, resumed_generation
from server.outages import outage_code


def _raised_by(module: str, exc: BaseException) -> BaseException:
    """``exc`` raised from code whose module is ``module`` (as a driver's socket code would raise it)."""
    namespace: dict[str, object] = {"__name__": module}
    exec("def fail(exc):\n    raise exc\n", namespace)
    try:
        namespace["fail"](exc)  # type: ignore[operator]
    except BaseException as raised:
        return raised
    raise AssertionError("not raised")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), "database"),
        (asyncpg.CannotConnectNowError("the database system is starting up"), "database"),
        (asyncpg.TooManyConnectionsError("sorry, too many clients already"), "database"),
        (asyncpg.AdminShutdownError("terminating connection due to administrator command"), "database"),
        (_raised_by("asyncpg.connect_utils", ConnectionRefusedError(111, "Connect call failed")), "database"),
        (_raised_by("asyncpg.pool", ConnectionResetError(104, "Connection reset by peer")), "database"),
        (sqlite3.OperationalError("database is locked"), "database"),
        (redis.exceptions.ConnectionError("Error 111 connecting to localhost:6379"), "redis"),
        (redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"), "redis"),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), "redis"),
        (redis.exceptions.ReadOnlyError("You can't write against a read only replica."), "redis"),
        (_raised_by("redis.asyncio.connection", ConnectionResetError(104, "reset")), "redis"),
    ],
)
def test_outages_of_the_stores_are_named(exc: BaseException, code: str) -> None:
    expected = CommonError.DATABASE_UNAVAILABLE if code == "database" else CommonError.REDIS_UNAVAILABLE
    assert outage_code(exc) == expected


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("a bug"),
        ConnectionRefusedError(111, "raised by our own code, not a store's driver"),
        _raised_by("httpx._transports.default", ConnectionResetError(104, "a platform's API, not a store")),
        asyncpg.UndefinedColumnError("column x does not exist"),
        sqlite3.OperationalError("no such column: x"),
        redis.exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
    ],
)
def test_bugs_stay_bugs(exc: BaseException) -> None:
    assert outage_code(exc) is None


def test_only_the_resumed_notice_is_taken_for_one() -> None:
    assert resumed_generation(b'{"type":"fanout.resumed","n":3}') == 3
    assert resumed_generation(b'{"topic":"orderhub.floor.1","seq":4,"event":{"type":"fanout.resumed"}}') is None
    assert resumed_generation(b'{"type":"fanout.resumed","n":"x"}') is None


async def test_the_fanout_reconnects_with_growing_jittered_pauses_and_remembers_subscriptions() -> None:
    backend = ReconnectingPubSubBackend("redis://127.0.0.1:1/0", min_backoff=0.1, max_backoff=5.0)
    pauses = [backend._backoff(n) for n in range(1, 12)]
    assert all(0.05 <= p <= 5.0 for p in pauses) and pauses[-1] >= 2.5  # doubles to the ceiling, never beyond
    # Redis is unreachable (port 1): subscribing is remembered, not raised, and readiness says why
    await backend.subscribe(["orderhub.floor.1", "orderhub.picker.2"])
    stream = backend.stream_events()
    listener = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0.3)
    assert backend.status == "error: reconnecting" and not listener.done()
    await backend.unsubscribe(["orderhub.picker.2"])
    assert backend._wanted == {"orderhub.floor.1"}
    listener.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listener
    await stream.aclose()
    await backend.on_shutdown()
