"""A worker killed in the middle of a job loses nothing: another worker finishes the order, exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from saq.queue.redis import RedisQueue

from orderhub.channels.service import get_channel_ref
from orderhub.inventory.tables import StockLevel
from orderhub.orders.commands import NewOrder, NewOrderLine, Receiver
from orderhub.orders.service import enqueue_processing, ingest
from orderhub.queue import process_order_key, set_queue
from orderhub.redis import create_client
from tests.conftest import bound_to
from tests.support.factories import (
    Api,
    create_channel,
    create_sku,
    create_warehouse,
    order_payload,
    set_stock,
    unique,
    wait_for_orders,
)
from tests.support.hub import ADMIN_PASSWORD, ADMIN_USER, Hub, provision, running


@pytest.fixture
def lonely_hub(backend: str, tmp_path: Path) -> Iterator[Hub]:
    """A hub of its own, API only: this test starts and kills its workers itself."""
    hub = provision(
        backend,
        tmp_path / "hub",
        redis_db=15,
        extra_env={
            "ORDERHUB_JOB_TIMEOUT": "4",
            "ORDERHUB_SAQ_SWEEP_INTERVAL": "2",
            "ORDERHUB_STUCK_AFTER_SECONDS": "5",
            "ORDERHUB_SWEEPER_CRON": "* * * * * */3",
        },
    )
    with running(hub):
        hub.start_api()
        yield hub


@pytest.fixture
async def lonely(lonely_hub: Hub, store: Hub) -> AsyncIterator[Hub]:
    """Bind this process to the lonely hub's database for the test, then back to the shared hub."""
    async with bound_to(lonely_hub, store) as bound:
        yield bound


async def _hold_stock_row_lock(hub: Hub, level_id: int) -> tuple[object, object]:
    """Open a transaction that blocks the worker's reservation (the job is then provably mid-way)."""
    if hub.backend == "postgres":
        conn = await asyncpg.connect(hub.env["ORDERHUB_DATABASE_URL"])
        tx = conn.transaction()
        await tx.start()
        await conn.execute("SELECT 1 FROM stock_level WHERE id = $1 FOR UPDATE", level_id)
        return conn, tx
    conn = sqlite3.connect(Path(hub.env["ORDERHUB_DATA_DIR"]) / "orderhub.sqlite3", isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn, None


async def _release(hub: Hub, handle: tuple[object, object]) -> None:
    conn, tx = handle
    if hub.backend == "postgres":
        await tx.rollback()  # type: ignore[attr-defined]
        await conn.close()  # type: ignore[attr-defined]
    else:
        conn.execute("ROLLBACK")  # type: ignore[attr-defined]
        conn.close()  # type: ignore[attr-defined]


async def _shop(hub: Hub) -> tuple[Api, str, str]:
    """Admin API of ``hub``, a SKU with 10 in stock, and a channel shipping from that warehouse."""
    async with httpx.AsyncClient(base_url=hub.url) as client:
        login = await client.post("/api/v1/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    api = Api(hub.url, login.json()["access_token"])
    warehouse = (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    await set_stock(api, sku=sku, warehouse=warehouse, qty=10)
    channel, _ = await create_channel(api, warehouse=warehouse)
    return api, sku, channel


async def test_worker_killed_mid_job_order_still_reaches_ready(lonely: Hub) -> None:
    api, sku, channel = await _shop(lonely)
    level = await StockLevel.select(StockLevel.id).where(StockLevel.sku.code == sku).first()
    assert level is not None

    async with api.client() as client:
        r = await client.post(
            "/api/v1/orders/ingest", json={"channel": channel, "orders": [order_payload(lines=[(sku, 3)])]}
        )
    order_id = r.json()["results"][0]["order_id"]

    redis = create_client(lonely.env["ORDERHUB_REDIS_URL"])
    queue = RedisQueue(redis, name=lonely.env["ORDERHUB_QUEUE_NAME"])
    handle = await _hold_stock_row_lock(lonely, int(level["id"]))
    try:
        lonely.start_worker("doomed", concurrency=2)
        deadline = time.monotonic() + 30
        while True:
            job = await queue.job(process_order_key(order_id))
            if job is not None and job.status == "active":
                break
            assert time.monotonic() < deadline, f"job never became active: {job}\n{lonely.log_tail('doomed')}"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # the job is blocked on our lock: mid-way, nothing committed by it yet
        lonely.kill("doomed")
    finally:
        await _release(lonely, handle)
    assert (await queue.job(process_order_key(order_id))).status == "active"  # type: ignore[union-attr]

    lonely.start_worker("rescuer")
    done = await wait_for_orders(api, [order_id], timeout=60)
    assert done[order_id]["status"] == "ready"
    stock = await StockLevel.select(StockLevel.on_hand, StockLevel.reserved).where(StockLevel.id == level["id"]).first()
    assert stock == {"on_hand": 10, "reserved": 3}  # reserved once, not twice
    transitions = [e["to_status"] for e in done[order_id]["events"] if e["type"] == "order.status_changed"]
    assert transitions == ["validated", "ready"]
    await redis.aclose()


async def test_sweeper_recovers_a_lost_job_and_reruns_change_nothing(lonely: Hub) -> None:
    """Intake committed but its job never reached Redis (Redis down at that moment): the sweeper finds the
    order and finishes it. Running the finished order's job again reserves nothing twice."""
    api, sku, channel_code = await _shop(lonely)
    channel = await get_channel_ref(channel_code)
    lonely.start_worker("worker")

    redis = create_client(lonely.env["ORDERHUB_REDIS_URL"])
    queue = RedisQueue(redis, name=lonely.env["ORDERHUB_QUEUE_NAME"])
    set_queue(None)  # this process has no queue: the after-commit enqueue fails, as with Redis down
    [outcome] = await ingest(channel.id, channel.code, [_new_order(sku, 4)], actor="test")
    assert outcome.status == "accepted" and outcome.order_id
    order_id = outcome.order_id
    assert await queue.job(process_order_key(order_id)) is None  # no job anywhere

    done = await wait_for_orders(api, [order_id], timeout=60)
    assert done[order_id]["status"] == "ready"

    set_queue(queue)
    try:
        await enqueue_processing([order_id])
        deadline = time.monotonic() + 30
        while (job := await queue.job(process_order_key(order_id))) is None or job.status != "complete":
            assert time.monotonic() < deadline, f"re-run never completed: {job}"
            await asyncio.sleep(0.2)
        assert job.result == "ready"
    finally:
        set_queue(None)
        await redis.aclose()
    stock = await StockLevel.select(StockLevel.reserved).where(StockLevel.sku.code == sku).first()
    assert stock == {"reserved": 4}
    after = (await wait_for_orders(api, [order_id]))[order_id]
    assert len(after["events"]) == len(done[order_id]["events"])


def _new_order(sku: str, qty: int) -> NewOrder:
    now = datetime.now(UTC)
    return NewOrder(
        external_id=unique("LOST"),
        placed_at=now,
        paid_at=now,
        buyer_nick="",
        buyer_phone="",
        receiver=Receiver(name="李雷", phone="13700000000", address="北京市海淀区中关村大街1号"),
        lines=(NewOrderLine(sku=sku, qty=qty, unit_price=1000),),
        shipping_fee=0,
        discount=0,
        paid_amount=qty * 1000,
        buyer_memo="",
        seller_memo="",
        raw={},
    )
