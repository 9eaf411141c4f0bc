"""Outages of the stores, caused for real: a redis-server killed with SIGKILL and started again, a PostgreSQL
connection path cut by killing the TCP proxy the hub talks through. The hub must say "unavailable, retry" (503,
Retry-After, a stable code) while they are down, and come back by itself — readiness, the live floor websocket,
requests — without restarting the API."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis as sync_redis
import websockets

from tests.support.factories import Api, create_warehouse, unique
from tests.support.hub import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    PG_ADMIN_DSN,
    Hub,
    free_port,
    postgres_unavailable,
    provision,
    running,
)
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture(scope="module")
def redis_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub of its own (SQLite + an embedded redis-server this test kills): the shared stores stay up."""
    with running(provision("sqlite", tmp_path_factory.mktemp("outage-redis"), redis_db=0)) as hub:
        hub.start_api()
        yield hub


async def _admin(url: str) -> Api:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        r = await client.post("/api/v1/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        return Api(url, r.json()["access_token"])


async def _pda_token(api: Api) -> str:
    """A picker signed in on a PDA of a new warehouse: the token the floor websocket takes."""
    warehouse = (await create_warehouse(api))["code"]
    badge, device = unique("BADGE-"), unique("DEV-")
    async with api.client() as client:
        r = await client.post(
            "/api/v1/users",
            json={
                "username": unique("picker"),
                "password": "floor-pass-1",
                "role": "picker",
                "display_name": "拣货员小李",
                "warehouse": warehouse,
                "badge": badge,
            },
        )
        assert r.status_code == 201, r.text
        r = await client.post("/api/v1/picking/devices", json={"code": device, "warehouse": warehouse, "kind": "pda"})
        assert r.status_code == 201, r.text
        r = await client.post("/pda/v1/login", json={"device": device, "badge": badge})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])


class _Socket:
    def __init__(self, url: str, token: str) -> None:
        self.uri, self.token = url.replace("http://", "ws://") + "/ws/floor", token  # never in the URL (logged)
        self.messages: list[dict[str, Any]] = []
        self.conn: Any = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Socket:
        self.conn = await websockets.connect(self.uri, additional_headers={"authorization": f"Bearer {self.token}"})
        self.messages.append(json.loads(await self.conn.recv()))  # the snapshot
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for raw in self.conn:
            self.messages.append(json.loads(raw))

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await self.conn.close()

    async def wait_for(self, check: Any, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages if check(m)]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"not received; got {self.messages}"
            await asyncio.sleep(0.05)


async def _ready_within(url: str, seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while True:
            r = await client.get("/readyz")
            if r.status_code == 200 or time.monotonic() > deadline:
                return r
            await asyncio.sleep(0.2)


async def test_redis_killed_and_restarted_the_api_comes_back_by_itself(redis_hub: Hub) -> None:
    api = await _admin(redis_hub.url)
    token = await _pda_token(api)
    assert redis_hub.embedded is not None and redis_hub.embedded.process is not None
    url = redis_hub.env["ORDERHUB_REDIS_URL"]
    async with _Socket(redis_hub.url, token) as before:
        topic = next(t for t in before.messages[0]["seq"] if t.startswith("orderhub.floor."))
        await asyncio.sleep(1.2)  # the append-only file is synced every second: the session survives a SIGKILL

        redis_hub.embedded.process.kill()  # SIGKILL: no shutdown, every connection dropped at once
        redis_hub.embedded.process.wait(10)
        async with httpx.AsyncClient(base_url=redis_hub.url, timeout=10) as client:
            down = await client.get("/readyz")
            assert down.status_code == 503, down.text
            # a request that needs Redis: "unavailable, retry", not a bug
            refused = await client.get("/pda/v1/tasks/next", headers={"authorization": f"Bearer {token}"})
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "redis_unavailable"
        assert int(refused.headers["retry-after"]) >= 1
        await asyncio.sleep(3)  # a three-second blip

        redis_hub.embedded.start()  # the same socket path, the same data (append-only file)
        ready = await _ready_within(redis_hub.url, 15)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["fanout"] == "ok"

        # a connected device is handed a fresh snapshot (it may have missed events while Redis was down) …
        await before.wait_for(lambda m: m.get("type") == "snapshot" and m is not before.messages[0])
        # … and hears what is published after the restart; so does a device that connects now
        async with _Socket(redis_hub.url, token) as after:
            publisher = sync_redis.Redis.from_url(url)
            event = {"type": "wave.released", "code": unique("WAVE-")}
            publisher.publish(topic, json.dumps({"topic": topic, "seq": 999, "event": event}))
            publisher.close()
            for socket in (before, after):
                got = await socket.wait_for(lambda m: (m.get("event") or {}).get("code") == event["code"])
                assert got["topic"] == topic
    assert "Traceback" not in redis_hub.log_tail("api", 400)


@pytest.fixture(scope="module")
def pg_proxy_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, TcpProxy]]:
    """A hub on a PostgreSQL database of its own, reached through a TCP proxy this test kills (the shared
    PostgreSQL stays up; Redis is the hub's embedded one)."""
    if missing := postgres_unavailable():
        pytest.skip(missing)
    pg = urlsplit(PG_ADMIN_DSN)
    proxy = TcpProxy(free_port(), pg.hostname or "127.0.0.1", pg.port or 5432)
    proxy.start()
    name = f"orderhub_outage_{uuid.uuid4().hex[:10]}"
    _create_database(name)
    dsn = f"postgresql://{pg.username or 'postgres'}@127.0.0.1:{proxy.listen_port}/{name}"
    try:
        hub = provision(
            "sqlite", tmp_path_factory.mktemp("outage-pg"), redis_db=0, extra_env={"ORDERHUB_DATABASE_URL": dsn}
        )
    except BaseException:
        proxy.kill()
        raise
    hub.database = name  # dropped when the hub stops
    try:
        with running(hub):
            hub.start_api()
            yield hub, proxy
    finally:
        proxy.kill()


def _create_database(name: str) -> None:
    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())


async def test_postgresql_cut_off_answers_503_with_retry_after_and_recovers(pg_proxy_hub: tuple[Hub, TcpProxy]) -> None:
    hub, proxy = pg_proxy_hub
    api = await _admin(hub.url)
    async with api.client() as client:
        assert (await client.get("/api/v1/warehouses")).status_code == 200

        proxy.kill()  # every pooled connection drops mid-life; new ones are refused
        answers = [await client.get("/api/v1/warehouses") for _ in range(3)]  # a dead pooled one, then refusals
        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["code"] == "database_unavailable"
            assert answer.json()["message"] == "数据库暂不可用，请稍后重试"
            assert int(answer.headers["retry-after"]) >= 1
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("error")
        assert (await client.get("/healthz")).status_code == 200

        proxy.start()  # PostgreSQL is reachable again: the pool reconnects, no restart of the API
        ready = await _ready_within(hub.url, 15)
        assert ready.status_code == 200, ready.text
        assert (await client.get("/api/v1/warehouses")).status_code == 200
    log = hub.log_tail("api", 400)
    assert "Traceback" not in log and '"unhandled error"' not in log
    assert '"store unavailable"' in log and "database_unavailable" in log
