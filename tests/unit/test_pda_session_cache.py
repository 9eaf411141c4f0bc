"""The handhelds' sessions as an API process keeps them (orderhub/picking/sessions.py): read from Redis once, then
from memory for SESSION_CACHE_SECONDS at most — and only while the ended-sessions listener is subscribed; ending a
session drops it at once; a session ended where this process did not hear of it is refused after the bound."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import msgspec
import pytest

from orderhub import redis as redis_mod
from orderhub.errors import AuthenticationFailed
from orderhub.picking import sessions
from orderhub.picking.sessions import PdaSession

SESSION = PdaSession(
    user_id=7,
    username="picker-7",
    name="小李",
    role="picker",
    warehouse_id=1,
    warehouse="WH1",
    device="DEV-1",
    device_kind="pda",
    started_at=datetime(2026, 12, 8, tzinfo=UTC),
)


class FakeRedis:
    """GET, DELETE, SMEMBERS and PUBLISH, counted."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.sets: dict[str, set[bytes]] = {}
        self.gets = 0
        self.published: list[tuple[str, bytes]] = []
        self.during_get: Any = None  # called inside the next GET (something happening while it is on the wire)

    async def get(self, key: str) -> bytes | None:
        self.gets += 1
        if self.during_get is not None:
            self.during_get, hook = None, self.during_get
            hook()
        return self.values.get(key)

    async def delete(self, *keys: str | bytes) -> int:
        gone = 0
        for key in keys:
            name = key.decode() if isinstance(key, bytes) else key
            gone += self.values.pop(name, None) is not None or self.sets.pop(name, None) is not None
        return gone

    async def smembers(self, key: str) -> set[bytes]:
        return set(self.sets.get(key, set()))

    async def publish(self, channel: str, data: bytes) -> int:
        self.published.append((channel, data))
        return 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeRedis, Clock]]:
    redis = FakeRedis()
    clock = Clock()
    monkeypatch.setattr(sessions, "monotonic", clock)
    monkeypatch.setattr(sessions, "_cache", sessions._SessionCache())
    previous = redis_mod.get_client() if redis_mod.has_client() else None
    redis_mod.set_client(cast(Any, redis))
    try:
        yield redis, clock
    finally:
        redis_mod.set_client(previous)


def _signed_in(redis: FakeRedis, token: str, user_id: int = 7) -> None:
    key = sessions._key(token)
    redis.values[key] = msgspec.json.encode(SESSION)
    redis.sets.setdefault(sessions._user_key(user_id), set()).add(key.encode())


async def test_without_the_listener_every_request_reads_redis(fake: tuple[FakeRedis, Clock]) -> None:
    redis, _ = fake
    _signed_in(redis, "t1")
    for _ in range(3):
        assert await sessions.session_for("t1") == SESSION
    assert redis.gets == 3


async def test_with_the_listener_a_session_is_read_once_per_bound(fake: tuple[FakeRedis, Clock]) -> None:
    redis, clock = fake
    sessions._cache.live = True
    _signed_in(redis, "t1")
    for _ in range(5):
        assert await sessions.session_for("t1") == SESSION
        clock.now += 0.9
    assert redis.gets == 1
    clock.now += sessions.SESSION_CACHE_SECONDS  # past the bound: read again
    assert await sessions.session_for("t1") == SESSION
    assert redis.gets == 2


async def test_a_session_ended_unheard_of_is_refused_within_the_bound(fake: tuple[FakeRedis, Clock]) -> None:
    """The worst case: another process ended it and this one missed the message (a connection that died silently)."""
    redis, clock = fake
    sessions._cache.live = True
    _signed_in(redis, "t1")
    assert await sessions.session_for("t1") == SESSION
    redis.values.clear()  # ended elsewhere, no message heard here
    clock.now += sessions.SESSION_CACHE_SECONDS - 0.01
    assert await sessions.session_for("t1") == SESSION  # still inside the bound
    clock.now += 0.02
    with pytest.raises(AuthenticationFailed) as refused:
        await sessions.session_for("t1")
    assert refused.value.code == "session_expired"


async def test_ending_sessions_drops_them_here_and_tells_the_other_processes(fake: tuple[FakeRedis, Clock]) -> None:
    redis, _ = fake
    sessions._cache.live = True
    _signed_in(redis, "t1")
    _signed_in(redis, "t2")
    assert await sessions.session_for("t1") == SESSION and await sessions.session_for("t2") == SESSION
    await sessions.end_session("t1")
    with pytest.raises(AuthenticationFailed):
        await sessions.session_for("t1")
    assert redis.published == [(sessions.SESSIONS_ENDED_CHANNEL, msgspec.json.encode([sessions._key("t1")]))]
    assert await sessions.end_sessions_of(7) == 2  # t1's key is still listed for the user: ended twice, harmless
    with pytest.raises(AuthenticationFailed):
        await sessions.session_for("t2")
    ended = msgspec.json.decode(redis.published[-1][1], type=list[str])
    assert sessions._key("t2") in ended


async def test_a_message_heard_drops_the_session(fake: tuple[FakeRedis, Clock]) -> None:
    redis, _ = fake
    sessions._cache.live = True
    _signed_in(redis, "t1")
    assert await sessions.session_for("t1") == SESSION
    redis.values.clear()
    sessions._cache.drop([sessions._key("t1")])  # what the listener does with a message
    with pytest.raises(AuthenticationFailed):
        await sessions.session_for("t1")


async def test_a_read_that_spans_an_ending_is_not_kept(fake: tuple[FakeRedis, Clock]) -> None:
    """The GET answered before the session was deleted; the message arrived before the answer: not cached."""
    redis, _ = fake
    sessions._cache.live = True
    _signed_in(redis, "t1")
    redis.during_get = lambda: sessions._cache.drop([sessions._key("t1")])
    assert await sessions.session_for("t1") == SESSION  # this request was in flight: it passes, as before
    redis.values.clear()
    with pytest.raises(AuthenticationFailed):
        await sessions.session_for("t1")  # but nothing stale was kept
    assert redis.gets == 2


async def test_the_cache_is_bounded(fake: tuple[FakeRedis, Clock], monkeypatch: pytest.MonkeyPatch) -> None:
    redis, _ = fake
    monkeypatch.setattr(sessions, "SESSION_CACHE_SIZE", 3)
    sessions._cache.live = True
    for i in range(5):
        _signed_in(redis, f"t{i}")
        await sessions.session_for(f"t{i}")
    assert list(sessions._cache.entries) == [sessions._key(f"t{i}") for i in (2, 3, 4)]


async def test_losing_the_listener_forgets_everything(fake: tuple[FakeRedis, Clock]) -> None:
    redis, _ = fake
    sessions._cache.live = True
    _signed_in(redis, "t1")
    await sessions.session_for("t1")
    sessions._cache.live = False
    sessions._cache.clear()  # what the listener does when its subscription is lost
    await sessions.session_for("t1")
    await sessions.session_for("t1")
    assert redis.gets == 3
