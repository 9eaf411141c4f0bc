"""Surge mode: inflow above the threshold switches the pipeline to the light path (merge detection deferred),
reservation / duplicate check / gifts still run, the switches and the inflow alert are events, and the backfill
pass merges what the surge left apart once it ends."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from orderhub import db
from orderhub import redis as redis_mod
from orderhub.events import Topic
from orderhub.orders.tables import Order, awaiting_backfill
from tests.support.factories import Api, create_channel, create_sku, order_payload, set_stock, unique, wait_for_orders
from tests.support.hub import Hub

OFF = {"threshold_per_min": 1_000_000, "alert_per_min": 1_000_000, "cooldown_seconds": 0}


async def _surge(api: Api) -> dict[str, Any]:
    async with api.client() as client:
        r = await client.get("/api/v1/pipeline/surge")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _wait_mode(api: Api, mode: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = await _surge(api)
        if status["mode"] == mode:
            return status
        assert time.monotonic() < deadline, f"mode stayed {status}"
        await asyncio.sleep(0.3)


async def _push(api: Api, channel: str, orders: list[dict[str, Any]]) -> list[int]:
    async with api.client() as client:
        r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": orders})
    assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
    return [res["order_id"] for res in r.json()["results"]]


@pytest.fixture
async def alerts() -> AsyncIterator[list[dict[str, Any]]]:
    """Events published on the alerts topic while the test runs (a real Redis subscription)."""
    received: list[dict[str, Any]] = []
    pubsub = redis_mod.get_client().pubsub()
    await pubsub.subscribe(Topic.ALERTS.value)

    async def reader() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                received.append(json.loads(message["data"]))

    task = asyncio.create_task(reader())
    try:
        yield received
    finally:
        task.cancel()
        await pubsub.unsubscribe()
        await pubsub.aclose()


async def test_surge_defers_merge_detection_and_backfills_it_when_the_surge_ends(
    api: Api, alerts: list[dict[str, Any]]
) -> None:
    sku, gift = await create_sku(api), await create_sku(api)
    warehouse = unique("SW")
    async with api.client() as client:
        r = await client.post("/api/v1/warehouses", json={"code": warehouse, "name": "高峰仓"})
        assert r.status_code == 201, r.text
        r = await client.post(
            "/api/v1/rules",
            json={
                "name": "买就送",
                "conditions": [{"field": "sku", "op": "contains_any", "value": [sku]}],
                "actions": [{"type": "add_gift", "sku": gift, "qty": 1, "per_sku": sku, "per_qty": 1}],
            },
        )
        assert r.status_code == 201, r.text
        rule_id = r.json()["id"]
    await set_stock(api, sku=sku, warehouse=warehouse, qty=500)
    await set_stock(api, sku=gift, warehouse=warehouse, qty=500)
    channel, _ = await create_channel(api, warehouse=warehouse)
    try:
        async with api.client() as client:
            r = await client.put(
                "/api/v1/pipeline/surge", json={"threshold_per_min": 20, "alert_per_min": 30, "cooldown_seconds": 1}
            )
            assert r.status_code == 200, r.text
            bad = await client.put(
                "/api/v1/pipeline/surge", json={"threshold_per_min": 50, "alert_per_min": 10, "cooldown_seconds": 1}
            )
            assert bad.status_code == 422 and bad.json()["field"] == "alert_per_min", bad.text
        # A burst of 35 orders (each to its own receiver) crosses both lines.
        burst = await _push(api, channel, [order_payload(lines=[(sku, 1)]) for _ in range(35)])
        status = await _wait_mode(api, "surge")
        assert status["inflow_per_min"] >= 20 and status["deferred_steps"] == ["merge_detection"]
        await asyncio.sleep(1.5)  # every worker sees the new mode within a second (it caches the mode that long)

        # During the surge: three orders for one receiver, the third a copy of the first (a suspected duplicate).
        receiver = {
            "name": "高峰客",
            "phone": f"135{random.randrange(10**8):08d}",
            "address": "上海市浦东新区世纪大道8号",
        }
        first = order_payload(lines=[(sku, 1)], receiver=receiver)
        second = order_payload(lines=[(sku, 2)], receiver=receiver)
        copy = {**first, "external_id": unique("EXT")}
        ids = await _push(api, channel, [first, second])
        ids += await _push(api, channel, [copy])  # later: the newer of the two is the one held
        orders = await wait_for_orders(api, ids + burst)
        a, b, dup = (orders[i] for i in ids)
        assert (a["status"], b["status"], dup["status"]) == ("ready", "ready", "held")
        assert dup["hold_queue"] == "duplicate"  # the duplicate check is never skipped
        # merge detection deferred: each order in a shipment of its own, marked for backfill
        assert a["shipments"][0]["id"] != b["shipments"][0]["id"]
        assert a["needs_backfill"] and b["needs_backfill"]
        reserved = next(e for e in b["events"] if e["type"] == "order.stock_reserved")
        assert reserved["data"]["deferred"] == ["merge_detection"]
        # gifts and reservation run as usual: 2 × sku → 2 × gift, all reserved
        assert sorted((line["sku"], line["qty"], line["reserved_qty"]) for line in b["lines"]) == sorted(
            [(sku, 2, 2), (gift, 2, 2)]
        )
        async with api.client() as client:
            stock = (await client.get("/api/v1/stock", params={"sku": sku})).json()
        level = next(row for row in stock["items"] if row["warehouse"] == warehouse)
        assert level["reserved"] == 35 + 1 + 2  # the held duplicate reserves nothing yet

        # End the surge: the rate falls under the (raised) line, the cool-down passes, the backfill merges.
        async with api.client() as client:
            r = await client.put("/api/v1/pipeline/surge", json=OFF)
            assert r.status_code == 200, r.text
        await _wait_mode(api, "normal")
        deadline = time.monotonic() + 30
        while True:
            merged = await wait_for_orders(api, ids[:2])
            if not any(o["needs_backfill"] for o in merged.values()):
                break
            assert time.monotonic() < deadline, "backfill did not run"
            await asyncio.sleep(0.3)
        a, b = merged[ids[0]], merged[ids[1]]
        assert a["shipments"][0]["id"] == b["shipments"][0]["id"]
        assert sorted(a["shipments"][0]["order_ids"]) == sorted(ids[:2])
        assert any(e["type"] == "order.merged" and e["data"]["backfill"] for e in b["events"])
        assert [e["data"]["steps"] for e in b["events"] if e["type"] == "order.backfilled"] == [["merge_detection"]]
        # the burst orders had nobody to merge with: backfilled, each still on its own
        assert not (await wait_for_orders(api, burst[:1]))[burst[0]]["needs_backfill"]

        async with api.client() as client:
            r = await client.get("/api/v1/pipeline/surge/events")
        kinds = [e["type"] for e in reversed(r.json())]
        assert kinds[-3:] == ["pipeline.surge_started", "pipeline.inflow_alert", "pipeline.surge_ended"], kinds
        published = [e["type"] for e in alerts if e["type"].startswith("pipeline.")]
        assert published == ["pipeline.surge_started", "pipeline.inflow_alert", "pipeline.surge_ended"]
        started = next(e for e in alerts if e["type"] == "pipeline.surge_started")
        assert started["deferred"] == ["merge_detection"] and started["threshold"] == 20
    finally:
        async with api.client() as client:
            await client.put("/api/v1/pipeline/surge", json=OFF)
            await client.delete(f"/api/v1/rules/{rule_id}")
        await _wait_mode(api, "normal")


async def test_surge_settings_need_an_admin_and_sane_values(api: Api) -> None:
    async with api.client() as client:
        r = await client.put("/api/v1/pipeline/surge", json={"threshold_per_min": 0, "alert_per_min": 10})
        assert r.status_code in (400, 422) and r.headers["content-type"].startswith("application/problem+json")
        status = await client.get("/api/v1/pipeline/surge")
        assert status.status_code == 200 and status.json()["mode"] in ("normal", "surge")
    async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
        assert (await anonymous.get("/api/v1/pipeline/surge")).status_code == 401


async def test_the_orders_awaiting_a_backfill_are_found_through_their_partial_index(store: Hub) -> None:
    """Migration 2026-12-08T14 indexes only the orders a surge marked (``sales_order_backfill_ids``). The backfill's
    walk and the surge status's count must read that index on both back ends, not every order — SQLite uses a
    partial index only when the query says the index's condition as it is written."""
    walk = Order.select(Order.id).where(awaiting_backfill() & (Order.id > 0)).order_by(Order.id).limit(200)
    count = Order.count().where(awaiting_backfill())
    async with db.transaction():
        if not db.is_sqlite():  # the test database is nearly empty: make the planner show what it can use
            await Order.raw("SET LOCAL enable_seqscan = off")
        for query in (walk, count):
            sql = str(query)
            explain = "EXPLAIN QUERY PLAN " if db.is_sqlite() else "EXPLAIN "
            plan = " ".join(str(v) for row in await Order.raw(explain + sql) for v in row.values())
            assert "sales_order_backfill_ids" in plan, (sql, plan)
