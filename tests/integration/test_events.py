"""Every status change is published after commit on the orders topic (what live screens fan out)."""

from __future__ import annotations

import asyncio
import time

import msgspec

from orderhub.events import Topic, order_topic
from orderhub.redis import create_client
from tests.support.factories import Api, create_channel, create_sku, create_warehouse, order_payload, set_stock
from tests.support.hub import Hub


async def test_status_changes_are_published_after_commit(api: Api, store: Hub) -> None:
    warehouse = (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    await set_stock(api, sku=sku, warehouse=warehouse, qty=5)
    channel, _ = await create_channel(api, warehouse=warehouse)
    redis = create_client(store.env["ORDERHUB_REDIS_URL"])
    pubsub = redis.pubsub()
    await pubsub.subscribe(Topic.ORDERS.value)
    try:
        order = order_payload(lines=[(sku, 2)])
        async with api.client() as client:
            r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": [order]})
        order_id = r.json()["results"][0]["order_id"]
        seen: list[tuple[str, str | None]] = []
        deadline = time.monotonic() + 30
        while ("status_changed", "ready") not in seen and time.monotonic() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            event = msgspec.json.decode(message["data"])
            if event.get("order_id") != order_id:
                continue
            seen.append((event["type"].split(".")[-1], event.get("to_status")))
    finally:
        await pubsub.aclose()
        await redis.aclose()
    assert seen == [
        ("received", None),
        ("status_changed", "validated"),
        ("status_changed", "ready"),
    ]
    assert order_topic(order_id) == f"orderhub.order.{order_id}"


async def test_metrics_aggregate_api_and_worker_processes(api: Api) -> None:
    async with api.client() as client:
        for _ in range(20):
            text = (await client.get("/metrics")).text
            if "orderhub_job_seconds_count" in text:
                break
            await asyncio.sleep(0.5)
    assert 'orderhub_job_seconds_count{job="process_order"' in text
    assert "orderhub_order_ack_to_ready_seconds_count" in text
    assert 'orderhub_ingest_orders_total{channel="' in text
