"""The dashboards' rollups through the running hub: kept up to date by the API and worker processes as orders move and
operators scan, they equal a rebuild from the event logs after a mix of events — duplicates, cancellations,
exceptions and retries, a rolled-back transaction, picking with a wrong scan, packing, shipping."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from orderhub import clock, db
from orderhub.channels.tables import Channel
from orderhub.insights import kpis, queries
from orderhub.insights.rebuild import rebuild_rollups
from orderhub.inventory.tables import Warehouse
from orderhub.orders.service import transition
from orderhub.orders.state import OrderStatus
from orderhub.orders.tables import Order
from tests.integration.test_picking import Floor, Pda
from tests.support.factories import (
    Api,
    body_of,
    create_channel,
    order_payload,
    rollups_caught_up,
    signed_headers,
    wait_for_orders,
)
from tests.support.hub import Hub

_TABLES = {
    "rollup_order_bucket": "channel",
    "rollup_reason_bucket": "channel",
    "rollup_status_count": "channel",
}


async def _snapshot(channel_ids: list[int], warehouse_id: int, order_ids: list[int]) -> dict[str, Any]:
    """Every rollup row about these channels, this warehouse's operators and these orders, without all-zero rows."""
    found: dict[str, Any] = {}
    for table, column in _TABLES.items():
        rows = await db.fetch_as(
            dict[str, Any],
            f"SELECT * FROM {table} WHERE {column} IN ({db.placeholders(len(channel_ids))})",
            *channel_ids,
        )
        found[table] = _keyed(rows)
    rows = await db.fetch_as(dict[str, Any], "SELECT * FROM rollup_operator_day WHERE warehouse = {}", warehouse_id)
    found["rollup_operator_day"] = _keyed(rows)
    rows = await db.fetch_as(
        dict[str, Any],
        f"SELECT * FROM rollup_order_quality WHERE order_id IN ({db.placeholders(len(order_ids))})",
        *order_ids,
    )
    found["rollup_order_quality"] = _keyed(rows)
    return found


_KEYS = (
    "bucket_start",
    "channel",
    "warehouse",
    "shard",
    "kind",
    "reason",
    "status",
    "day",
    "user_id",
    "role",
    "order_id",
)


def _keyed(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, int]]:
    result = {}
    for row in rows:
        key = tuple(str(row[k]) for k in _KEYS if k in row)
        values = {k: int(v) for k, v in row.items() if k not in _KEYS and k != "id"}
        if any(v for k, v in values.items() if not k.endswith("_scan_s")):
            result[key] = values
    return result


async def _ingest(client: httpx.AsyncClient, channel: str, secret: str, orders: list[dict[str, Any]]) -> list[Any]:
    body = body_of(channel, orders)
    r = await client.post("/api/v1/orders/ingest", content=body, headers=signed_headers(channel, secret, body))
    assert r.status_code == 202, r.text
    return list(r.json()["results"])


async def test_incremental_rollups_equal_a_rebuild_from_the_event_log(api: Api, store: Hub) -> None:
    rng = random.Random(16)
    floor = await Floor(api, store.url).setup(pick_mode="order")
    sku, other = floor.codes[0], floor.codes[1]
    channel, secret = await create_channel(api, warehouse=floor.warehouse)

    # Signed pushes, each order sent again (a duplicate), one batch resent whole, and one order far over stock.
    payloads = [order_payload(lines=[(rng.choice([sku, other]), rng.randint(1, 3))]) for _ in range(8)]
    short = order_payload(lines=[(other, 5000)])
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        first = await _ingest(client, channel, secret, [*payloads[:5], payloads[0], short])
        again = await _ingest(client, channel, secret, payloads)
    assert [r["status"] for r in first] == ["accepted"] * 5 + ["duplicate", "accepted"]
    assert [r["status"] for r in again] == ["duplicate"] * 5 + ["accepted"] * 3
    pushed = sorted({int(r["order_id"]) for r in first + again})
    done = await wait_for_orders(api, pushed)
    ready = sorted(i for i, o in done.items() if o["status"] == "ready")
    assert len(pushed) == 9 and len(ready) == 8, {i: o["status"] for i, o in done.items()}
    (stuck,) = [i for i, o in done.items() if o["status"] != "ready"]

    # The floor: one order picked with a wrong scan first, packed, shipped; one picked and packed cleanly.
    picked = await floor.orders([(sku, 2)], [(sku, 1)])
    picker = await Pda.sign_in(floor.url, await floor.person("picker"))
    packer = await Pda.sign_in(floor.url, await floor.person("packer"))
    for n, order_id in enumerate(picked):
        qty = 2 if n == 0 else 1
        (task_id,) = (await floor.wave([order_id]))["task_ids"]
        task = (await picker.http.post(f"/pda/v1/tasks/{task_id}/claim")).json()
        stop = task["stops"][0]
        if n == 0:
            wrong = await picker.scan(
                task_id, stop["line_id"], "item", barcode=floor.skus[other]["barcode"], qty=1, location=stop["location"]
            )
            assert wrong.status_code == 422 and wrong.json()["code"] == "wrong_item", wrong.text
        scan = {"barcode": floor.skus[sku]["barcode"], "qty": qty, "location": stop["location"]}
        body = {"client_id": uuid.uuid4().hex, "task_id": task_id, "line_id": stop["line_id"], "kind": "item", **scan}
        for _ in range(2):  # the PDA replays the scan (lost answer): counted once
            r = await picker.http.post("/pda/v1/scans", json=body)
            assert r.status_code == 200 and r.json()["ok"], r.text
        assert (await picker.http.post(f"/pda/v1/tasks/{task_id}/complete")).status_code == 200
        pack = (await packer.http.post("/pda/v1/pack", json={"code": str(order_id)})).json()
        for _ in range(qty):
            scan_body = {"client_id": uuid.uuid4().hex, "barcode": floor.skus[sku]["barcode"]}
            assert (await packer.http.post(f"/pda/v1/pack/{pack['id']}/scans", json=scan_body)).status_code == 200
        weigh = {"client_id": uuid.uuid4().hex, "weight_g": pack["expected_g"]}
        assert (await packer.http.post(f"/pda/v1/pack/{pack['id']}/weigh", json=weigh)).json()["ok"]
    await picker.close()
    await packer.close()

    async with api.client() as client:
        r = await client.post(f"/api/v1/orders/{picked[0]}/ship", json={"carrier": "SF", "waybill_no": "SF1600000001"})
        assert r.status_code in (200, 201), r.text
        for order_id in ready[:3]:  # cancelled while ready: stock back, counted as cancelled
            r = await client.post(f"/api/v1/orders/{order_id}/cancel", json={"reason": "买家取消"})
            assert r.status_code in (200, 201), r.text
        r = await client.post(f"/api/v1/orders/{stuck}/retry", json={"note": "补货后重试"})
        assert r.status_code in (200, 201, 409), r.text
    await wait_for_orders(api, [stuck], done=frozenset({"exception", "held", "ready"}))

    # A job that fails after recording its events rolls back: its deltas go with it.
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await transition(ready[3], OrderStatus.CANCELLED, expected=OrderStatus.READY, reason="rolled_back")
            raise RuntimeError("the job failed")

    channel_ids = [
        int(c["id"]) for c in await Channel.select(Channel.id).where(Channel.code.is_in([channel, floor.channel]))
    ]
    warehouse = await Warehouse.select(Warehouse.id).where(Warehouse.code == floor.warehouse).first()
    assert warehouse is not None
    warehouse_id = int(warehouse["id"])
    order_ids = [*pushed, *picked]

    await rollups_caught_up()
    incremental = await _snapshot(channel_ids, warehouse_id, order_ids)
    report = await rebuild_rollups(orders_per_chunk=7, scans_per_chunk=5)  # small chunks: the chunking is exercised
    assert report.orders >= len(order_ids)
    rebuilt = await _snapshot(channel_ids, warehouse_id, order_ids)
    assert incremental == rebuilt

    # And the figures say what happened.
    today = clock.to_shanghai(clock.now()).date()
    start, end = queries.day_window(today - timedelta(days=1), today + timedelta(days=1))
    (totals,) = await queries.order_figures(start, end, channel_ids=channel_ids)
    assert totals.received == len(order_ids)  # duplicates not counted twice
    expected_fen = sum(int(p["paid_amount"]) for p in [*payloads, short]) + 2 * 1990 + 1 * 1990
    assert totals.received_fen == expected_fen
    assert totals.routed == 8 + 2 and totals.packed == 2 and totals.shipped == 1 and totals.cancelled == 3
    assert totals.exceptions + totals.held >= 1 and totals.cycle_count == 1
    assert totals.cycle_minutes(0.5) is not None
    statuses = {s.status: s.orders for s in await queries.status_counts(channel_ids=channel_ids)}
    actual: dict[str, int] = {}
    for row in await Order.select(Order.status).where(Order.id.is_in(order_ids)):
        actual[row["status"]] = actual.get(row["status"], 0) + 1
    assert statuses == actual
    scoped = await queries.order_figures(start, end, channel_ids=channel_ids, warehouse_ids=[warehouse_id])
    assert scoped[0].received == 0 and scoped[0].routed == 10  # received before routing: warehouse 0
    assert await queries.order_figures(start, end, channel_ids=channel_ids, warehouse_ids=[warehouse_id + 10**6]) == []
    days = await queries.operator_days(
        today - timedelta(days=1), today + timedelta(days=1), warehouse_ids=[warehouse_id]
    )
    pick = [d for d in days if d.role == "pick"]
    pack = [d for d in days if d.role == "pack"]
    assert sum(d.wrong_scans for d in pick) == 1 and sum(d.units for d in pick) == 3
    assert sum(d.orders_packed for d in pack) == 2 and sum(d.first_pass_ok for d in pack) == 1
    assert sum(d.units for d in pack) == 3

    # The day's KPIs for the floor's warehouse (docs/kpis.md), from these rollups, as the floor made them: two orders
    # packed, one of them after a wrong scan; ten routed here, none sent to exception after routing; one shipped, paid
    # before, nobody asked where it is.
    kpi = await kpis.kpis_for_days(today, today, warehouse_ids=[warehouse_id])
    accuracy = kpi["first_pass_accuracy"]
    assert (accuracy.numerator, accuracy.denominator, accuracy.value) == (1, 2, 0.5)
    assert (kpi["exception_rate"].numerator, kpi["exception_rate"].denominator) == (0, 10)
    assert kpi["cycle_time"].denominator == 1 and kpi["cycle_time"].detail["p50"] is not None
    assert (kpi["query_rate"].numerator, kpi["query_rate"].denominator, kpi["query_rate"].value) == (0, 1, 0.0)
    per_person = kpi["orders_per_person"]
    # packed ÷ person-days on the floor (first to last scan: a test's scans may all fall in one second, then none)
    assert per_person.numerator == 2 and (per_person.denominator > 0) == (per_person.value is not None)
    assert kpi["on_time_rate"].denominator <= 1


@pytest.mark.postgres_only
async def test_an_event_committed_after_a_later_one_is_counted_once(api: Api, store: Hub) -> None:
    """PostgreSQL takes an event's id when it is inserted, not when it commits: a transaction that inserted id n and
    commits after id n + 1 was counted must still be counted (a cursor on the id alone would skip it), and once."""
    import asyncpg

    floor = await Floor(api, store.url).setup(pick_mode="order")
    channel, secret = await create_channel(api, warehouse=floor.warehouse)
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        (pushed,) = await _ingest(client, channel, secret, [order_payload(lines=[(floor.codes[0], 1)])])
    order_id = int(pushed["order_id"])
    await wait_for_orders(api, [order_id], done=frozenset({"ready", "exception", "held"}))
    (row,) = await Order.select(Order.channel).where(Order.id == order_id)
    channel_ids = [int(row["channel"])]
    start, end = queries.day_window(
        clock.to_shanghai(clock.now()).date() - timedelta(days=1), clock.to_shanghai(clock.now()).date()
    )

    async def at_risk() -> int:
        await rollups_caught_up()
        rows = await queries.order_figures(start, end, channel_ids=channel_ids)
        return rows[0].at_risk if rows else 0

    insert = (
        'INSERT INTO order_event ("order", type, reason, data, actor, created_at) '
        "VALUES ($1, 'order.at_risk', 'late', '{}', 'test', now()) RETURNING id"
    )
    late = await asyncpg.connect(store.env["ORDERHUB_DATABASE_URL"])
    other = await asyncpg.connect(store.env["ORDERHUB_DATABASE_URL"])
    try:
        held = late.transaction()
        await held.start()
        held_id = await late.fetchval(insert, order_id)  # id n, not committed yet
        assert await at_risk() == 0
        assert await other.fetchval(insert, order_id) > held_id  # id n + 1, committed at once
        assert await at_risk() == 0  # the held transaction keeps the horizon back: nothing after it is counted yet
        await held.commit()
        assert await at_risk() == 2
        assert await at_risk() == 2  # counted once, however often the job runs
    finally:
        await late.close()
        await other.close()
    await rebuild_rollups()
    rows = await queries.order_figures(start, end, channel_ids=channel_ids)
    assert rows[0].at_risk == 2
