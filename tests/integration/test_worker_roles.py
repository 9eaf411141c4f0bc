"""Worker roles (issue 22, part 3): the pipeline's workers run the pipeline only; the background queue's jobs and
crons wait for a background worker, which runs them; /readyz and /metrics cover both queues."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from saq.job import Status
from saq.queue.redis import RedisQueue

from orderhub.redis import create_client
from orderhub.settings import background_queue_name
from tests.conftest import bound_to
from tests.support.factories import (
    Api,
    create_channel,
    create_sku,
    create_warehouse,
    order_payload,
    set_stock,
    wait_for_orders,
)
from tests.support.hub import ADMIN_PASSWORD, ADMIN_USER, Hub, provision, running


@pytest.fixture
def split_hub(backend: str, tmp_path: Path) -> Iterator[Hub]:
    """A hub of its own, API only: the test starts one worker per role itself."""
    hub = provision(
        backend,
        tmp_path / "hub",
        redis_db=15,
        extra_env={"ORDERHUB_STOCK_SYNC_DEBOUNCE_SECONDS": "1", "ORDERHUB_SAQ_SWEEP_INTERVAL": "2"},
    )
    with running(hub):
        hub.start_api()
        yield hub


@pytest.fixture
async def split(split_hub: Hub, store: Hub) -> AsyncIterator[Hub]:
    """Bind this process to the split hub's database for the test, then back to the shared hub."""
    async with bound_to(split_hub, store) as bound:
        yield bound


async def _jobs(queue: RedisQueue, key_prefix: str) -> list[str]:
    """Statuses of ``queue``'s jobs whose key starts with ``key_prefix`` (SAQ job ids are ``saq:job:<queue>:<key>``,
    saq/queue/redis.py ``RedisQueue.job_id``)."""
    ids = await queue.redis.keys(queue.job_id(key_prefix) + "*")
    jobs = [await queue.job(queue.job_key_from_id(i.decode())) for i in ids]
    return sorted(Status(job.status).value for job in jobs if job is not None)


@pytest.mark.postgres_only("the queues are Redis lists whatever the store: one run")
async def test_each_role_runs_its_own_queue(split: Hub) -> None:
    async with httpx.AsyncClient(base_url=split.url) as client:
        login = await client.post("/api/v1/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    api = Api(split.url, login.json()["access_token"])
    warehouse = (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    await set_stock(api, sku=sku, warehouse=warehouse, qty=10)
    channel, _ = await create_channel(api, warehouse=warehouse)

    redis = create_client(split.env["ORDERHUB_REDIS_URL"])
    name = split.env["ORDERHUB_QUEUE_NAME"]
    pipeline, background = RedisQueue(redis, name=name), RedisQueue(redis, name=background_queue_name(name))
    try:
        split.start_worker("pipeline", role="pipeline")
        async with api.client() as http:
            body = {"channel": channel, "orders": [order_payload(lines=[(sku, 3)])]}
            r = await http.post("/api/v1/orders/ingest", json=body)
        order_id = r.json()["results"][0]["order_id"]
        done = await wait_for_orders(api, [order_id], timeout=60)
        assert done[order_id]["status"] == "ready"  # the pipeline needs no background worker

        # the reservation scheduled a stock sync: on the background queue, where nobody runs it yet
        deadline = time.monotonic() + 10
        while not (waiting := await _jobs(background, "stock:sync:")):
            assert time.monotonic() < deadline, "no stock sync was queued on the background queue"
            await asyncio.sleep(0.2)
        assert await _jobs(pipeline, "stock:sync:") == []
        await asyncio.sleep(3)  # past its debounce: still waiting
        assert await _jobs(background, "stock:sync:") == waiting
        assert set(waiting) == {"queued"}  # (the stock set up through the API scheduled one too)
        # the pipeline worker scheduled its own cron only
        assert await pipeline.job("cron:sweep_stuck_orders") is not None
        assert await pipeline.job("cron:build_waves") is None
        assert await background.job("cron:build_waves") is None

        async with httpx.AsyncClient(base_url=split.url) as client:
            ready = await client.get("/readyz")
            metrics = await client.get("/metrics")
        assert ready.status_code == 200 and ready.json()["checks"]["queue"] == "ok"
        assert 'orderhub_queue_depth{queue="background",state="scheduled"}' in metrics.text
        assert 'orderhub_queue_depth{queue="pipeline",state="queued"}' in metrics.text

        split.start_worker("background", role="background")
        deadline = time.monotonic() + 30
        while set(statuses := await _jobs(background, "stock:sync:")) != {"complete"}:
            assert time.monotonic() < deadline, f"the stock sync never ran: {statuses}\n{split.log_tail('background')}"
            await asyncio.sleep(0.2)
        assert await background.job("cron:build_waves") is not None  # the background worker's crons
        assert await background.job("cron:sweep_stuck_orders") is None
    finally:
        await redis.aclose()
