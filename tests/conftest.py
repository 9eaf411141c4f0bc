"""Fixtures: every integration test runs against a real hub on each back end.

Back ends: ``sqlite`` (SQLite file + the embedded redis-server) and ``postgres`` (PostgreSQL and Redis on
127.0.0.1, as on CI). Choose with ORDERHUB_TEST_BACKENDS=sqlite,postgres (default: both). Outside CI the
``[postgres]`` cases skip, with the reason, when PostgreSQL or its Redis is not reachable; with CI=true they fail.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from saq.queue.redis import RedisQueue
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling

from orderhub import db
from orderhub.queue import set_queue
from orderhub.redis import create_client
from orderhub.settings import get_settings, reset_settings
from sandbox.carriers.server import CarrierServer, running_carriers
from sandbox.kuaidi100 import Kuaidi100Server, running_kuaidi100
from server.wiring import wire
from tests.support.factories import Api
from tests.support.hub import ADMIN_PASSWORD, ADMIN_USER, Hub, postgres_unavailable, provision, running

# This process records order events and sends messages too (direct database assertions): wired like the hub.
wire()

BACKENDS = [b.strip() for b in os.environ.get("ORDERHUB_TEST_BACKENDS", "sqlite,postgres").split(",") if b.strip()]
_redis_db = iter(range(1, 16))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        # a marker's own reason (its first argument) says why one back end is enough
        if (marker := item.get_closest_marker("postgres_only")) and "[sqlite]" in item.nodeid:
            reason = marker.args[0] if marker.args else "concurrency claim: proven on PostgreSQL"
            item.add_marker(pytest.mark.skip(reason=reason))
        if (marker := item.get_closest_marker("sqlite_only")) and "[postgres]" in item.nodeid:
            reason = marker.args[0] if marker.args else "a browser test of a page: the API under it is tested on both"
            item.add_marker(pytest.mark.skip(reason=reason))


_BACKEND_ID = re.compile(r"\[(?:[^\]]*-)?(sqlite|postgres)(?:-[^\]]*)?\]$")


class ByBackend(LoadScopeScheduling):
    """./scripts/test's two pytest-xdist workers: every case of one back end in one worker, so each back end's session
    hub starts once and the hubs on the shared Redis (127.0.0.1:6379, whose pub/sub channels every db number shares)
    never run side by side; the cases of neither back end go one by one to whichever worker is free. (xdist's own
    ``--dist loadgroup`` renames node ids, which pytest 9 no longer allows.)"""

    def _split_scope(self, nodeid: str) -> str:
        match = _BACKEND_ID.search(nodeid)
        return match.group(1) if match else nodeid


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> ByBackend:
    return ByBackend(config, log)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and (missing := postgres_unavailable()):
        if os.environ.get("CI") == "true":  # CI has both stores: a missing one is a failure, never a skip
            pytest.fail(f"{missing}; CI needs PostgreSQL and Redis for the [postgres] cases", pytrace=False)
        pytest.skip(f"{missing} — start it, or run ORDERHUB_TEST_BACKENDS=sqlite (CI fails instead of skipping)")
    return str(request.param)


def use_hub_env(hub: Hub) -> None:
    """Point this test process at the hub's stores (for direct database assertions)."""
    for key in [k for k in os.environ if k.startswith("ORDERHUB_")]:
        del os.environ[key]
    os.environ.update({k: v for k, v in hub.env.items() if k.startswith("ORDERHUB_")})
    reset_settings()


@asynccontextmanager
async def bound_to(other: Hub, back: Hub) -> AsyncIterator[Hub]:
    """Bind this test process to ``other``'s database (a hub a test starts for itself), then back to ``back``'s."""
    await db.close()
    use_hub_env(other)
    await db.open_engine(get_settings())
    try:
        yield other
    finally:
        await db.close()
        use_hub_env(back)
        await db.open_engine(get_settings())


@pytest.fixture(scope="session")
def hub(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running(provision(backend, tmp_path_factory.mktemp(f"hub-{backend}"), redis_db=next(_redis_db))) as hub:
        hub.start_api(workers=2 if backend == "postgres" else 1)
        hub.start_worker("worker-1")
        if backend == "postgres":
            hub.start_worker("worker-2")
        yield hub


@pytest.fixture(scope="session")
async def store(hub: Hub) -> AsyncIterator[Hub]:
    """The hub, with this test process's engine bound to the same database."""
    use_hub_env(hub)
    await db.open_engine(get_settings())
    from orderhub import redis as redis_mod

    client = redis_mod.create_client(hub.env["ORDERHUB_REDIS_URL"])
    redis_mod.set_client(client)
    try:
        yield hub
    finally:
        redis_mod.set_client(None)
        await client.aclose()
        await db.close()


@pytest.fixture
async def queue(store: Hub) -> AsyncIterator[RedisQueue]:
    """This process enqueues jobs for the hub's workers too (as an API process does)."""
    redis = create_client(store.env["ORDERHUB_REDIS_URL"])
    q = RedisQueue(redis, name=store.env["ORDERHUB_QUEUE_NAME"])
    set_queue(q)
    try:
        yield q
    finally:
        set_queue(None)
        await redis.aclose()


@pytest.fixture(scope="session")
async def api(store: Hub) -> Api:
    async with httpx.AsyncClient(base_url=store.url, timeout=30) as client:
        r = await client.post("/api/v1/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        return Api(store.url, r.json()["access_token"])


@pytest.fixture(scope="module")
def carriers() -> Iterator[CarrierServer]:
    """The SF / ZTO / J&T simulators, for one test module."""
    with running_carriers() as server:
        yield server


@pytest.fixture(scope="module")
def kd100() -> Iterator[Kuaidi100Server]:
    """The 快递100 simulator, for one test module."""
    with running_kuaidi100() as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """One HTTP client per test, for the integrations' clients under test."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture(scope="module")
def sim(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The simulator the test module names at its top — ``SIMULATOR = running_platforms`` (or ``running_carriers``,
    ``running_kuaidi100``, ``running_wechat`` … from ``sandbox/``) — running for the whole module. Credentials for the
    simulators: ``tests.support.simulators``."""
    running = getattr(request.module, "SIMULATOR", None)
    assert running is not None, f"{request.module.__name__} takes `sim` but names no SIMULATOR"
    with running() as server:
        yield server
