"""The wave builder on a peak day (issue 15, item 10): 20,000 ready orders in one warehouse are released in one
``build_waves`` run — the order events it buffers go to the database in chunks, never as one statement with more
bound parameters than PostgreSQL (32,767) or SQLite (32,766) take.

Creating 20,000 orders through the API would take minutes, so they are seeded with set-based SQL as the pipeline
leaves a ready order: the order (status ``ready``, its warehouse), its lines (warehouse, shipment, reserved), an open
shipment with its packing line, and the stock reserved for it. Everything else (warehouse, locations, SKUs and
their pick faces, stock, picking settings, channel) is made through the API.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from piccolo.querystring import QueryString

from orderhub import clock, db
from orderhub.orders.events import OrderEventType
from orderhub.picking import waves
from tests.support.factories import Api, create_channel, create_warehouse, set_stock, unique
from tests.support.hub import Hub

ORDERS = 20_000


async def _floor(api: Api) -> tuple[str, list[str]]:
    """A warehouse with two pick faces, two SKUs stocked there, automatic waves off (the hub's cron must not race
    this test) and a channel."""
    warehouse = (await create_warehouse(api))["code"]
    skus = [unique("PEAK-"), unique("PEAK-")]
    async with api.client() as client:
        for i, sku in enumerate(skus, start=1):
            r = await client.post(
                "/api/v1/locations",
                json={"warehouse": warehouse, "code": f"A01-{i:02d}", "zone": "A", "aisle": "01", "bay": f"{i:02d}",
                      "level": "1"},
            )
            assert r.status_code == 201, r.text
            r = await client.post("/api/v1/skus", json={"code": sku, "name": f"爆款{i}", "weight_g": 100})
            assert r.status_code == 201, r.text
            await set_stock(api, sku=sku, warehouse=warehouse, qty=100_000)
        r = await client.put(
            f"/api/v1/picking/{warehouse}/sku-locations",
            json={"items": [{"sku": sku, "location": f"A01-{i:02d}"} for i, sku in enumerate(skus, start=1)]},
        )
        assert r.status_code == 200, r.text
        r = await client.patch(f"/api/v1/picking/{warehouse}/settings", json={"auto_waves": False})
        assert r.status_code == 200, r.text
    await create_channel(api, warehouse=warehouse)
    return warehouse, skus


async def _id(sql: str, *args: object) -> int:
    row = await db.fetch_one_as(db.IdRow, sql, *args)
    assert row is not None, sql
    return row.id


async def _seed_ready_orders(warehouse: str, skus: list[str], count: int) -> str:
    """``count`` ready orders in ``warehouse`` as the pipeline leaves them, in a few set-based statements. Odd
    orders are one unit of the first SKU (一单一品), even ones add a line of the second; every fifth goes to packing
    line B. They became ready an hour ago (a partial wave is due: ``waited``). Returns their external id prefix."""
    warehouse_id = await _id("SELECT id FROM warehouse WHERE code = {}", warehouse)
    channel_id = await _id("SELECT id FROM channel WHERE default_warehouse = {}", warehouse_id)
    sku_a = await _id("SELECT id FROM sku WHERE code = {}", skus[0])
    sku_b = await _id("SELECT id FROM sku WHERE code = {}", skus[1])
    prefix = f"PK{uuid.uuid4().hex[:10]}-"  # hex: safe to write into the SQL text
    at = clock.now() - timedelta(hours=1)
    ts = "{}" if db.is_sqlite() else "CAST({} AS TIMESTAMPTZ)"  # PostgreSQL types a bare SELECT-list parameter text
    numbers = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {int(count)}) "
    mine = f"o.external_id LIKE '{prefix}%'"
    async with db.transaction():
        await db.execute(
            numbers + "INSERT INTO sales_order (channel, external_id, status, pending_holds, fingerprint, "
            "source_receiver, buyer_nick, buyer_phone, receiver_name, receiver_phone, receiver_province, "
            "receiver_city, receiver_district, receiver_detail, receiver_address, receiver_division_code, "
            "receiver_phone_ext, goods_amount, shipping_fee, discount, paid_amount, buyer_memo, seller_memo, tags, "
            "priority, placed_at, paid_at, needs_backfill, warehouse, raw_payload, received_at, updated_at, "
            "rules_applied_at) "
            f"SELECT {int(channel_id)}, '{prefix}' || CAST(i AS TEXT), 'ready', '[]', '', '', '买家', '', '王小明', "
            "'1390000' || CAST(i AS TEXT), '上海市', '上海市', '浦东新区', '世纪大道100号', "
            "'上海市浦东新区世纪大道100号', '310115', '', 1990, 0, 0, 1990, '', '', '[]', 'normal', "
            f"{ts}, {ts}, FALSE, {int(warehouse_id)}, {{}}, {ts}, {ts}, {ts} FROM n",
            at, at, "{}", at, at, at,
        )
        await db.execute(
            "INSERT INTO shipment (warehouse, packing_line, weight_g, volume_cm3, status, receiver_key, channel, "
            f"created_at) SELECT {int(warehouse_id)}, CASE WHEN o.id % 5 = 0 THEN 'B' ELSE 'A' END, 100, 500, 'open', "
            f"o.external_id, 'own_store', {ts} FROM sales_order o WHERE {mine}",
            at,
        )
        lines = (
            "INSERT INTO order_line (\"order\", line_no, sku_code, sku, qty, unit_price, amount, is_gift, warehouse, "
            "shipment, reserved_qty) SELECT o.id, {line}, '{code}', {sku}, 1, 1990, 1990, FALSE, {wh}, s.id, 1 "
            "FROM sales_order o JOIN shipment s ON s.receiver_key = o.external_id WHERE " + mine + "{only}"
        )
        await db.execute(lines.format(line=1, code=skus[0], sku=int(sku_a), wh=int(warehouse_id), only=""))
        await db.execute(
            lines.format(line=2, code=skus[1], sku=int(sku_b), wh=int(warehouse_id), only=" AND o.id % 2 = 0")
        )
        await db.execute(
            "UPDATE stock_level SET reserved = reserved + (SELECT COUNT(*) FROM order_line l "
            "WHERE l.warehouse = stock_level.warehouse AND l.sku = stock_level.sku) WHERE warehouse = {}",
            warehouse_id,
        )
    return prefix


async def _count(sql: str, *args: object) -> int:
    """``SELECT COUNT(…) AS id …``."""
    return await _id(sql, *args)


@pytest.mark.postgres_only  # a Double 11 backlog is the production store's; the embedded default is a small shop's
async def test_peak_day_wave_build_releases_twenty_thousand_ready_orders(
    store: Hub, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse, skus = await _floor(api)
    started = time.monotonic()
    prefix = await _seed_ready_orders(warehouse, skus, ORDERS)
    seeded = time.monotonic()
    mine = f"o.external_id LIKE '{prefix}%'"
    assert await _count(f"SELECT COUNT(*) AS id FROM sales_order o WHERE {mine} AND o.status = 'ready'") == ORDERS
    warehouse_id = await _id("SELECT id FROM warehouse WHERE code = {}", warehouse)

    # The cron's and the API's code: one transaction for the whole run, order events buffered to its end. Every
    # statement it sends is measured: SQLite builds may allow more parameters than PostgreSQL (Debian's: 250,000).
    engine_class = type(db.get_engine())
    run = engine_class.run_querystring
    widest = 0

    async def measured(self: Any, querystring: QueryString, in_pool: bool = True) -> Any:
        nonlocal widest
        widest = max(widest, len(querystring.compile_string(engine_type=self.engine_type)[1]))
        return await run(self, querystring, in_pool=in_pool)

    monkeypatch.setattr(engine_class, "run_querystring", measured)
    results = await waves.build_waves(warehouse_id)
    built = time.monotonic()
    monkeypatch.undo()
    assert 0 < widest <= db.MAX_PARAMS

    assert sum(r.orders for r in results) == ORDERS
    assert {r.reason for r in results} <= {"full", "waited"}
    assert all(r.orders <= 20 for r in results)  # the default max_orders: waves stay pickable, only more of them
    # Every order is in exactly one active task of this run, and each got its `waved` event.
    assert await _count(
        "SELECT COUNT(DISTINCT p.\"order\") AS id FROM pick_task_order p JOIN pick_task t ON t.id = p.task "
        f"JOIN sales_order o ON o.id = p.\"order\" WHERE {mine} AND p.status = 'active' AND t.warehouse = {{}}",
        warehouse_id,
    ) == ORDERS
    assert await _count(
        f"SELECT COUNT(*) AS id FROM pick_task_order p JOIN sales_order o ON o.id = p.\"order\" WHERE {mine}"
    ) == ORDERS
    assert await _count(
        "SELECT COUNT(*) AS id FROM order_event e JOIN sales_order o ON o.id = e.\"order\" "
        f"WHERE {mine} AND e.type = {{}}",
        OrderEventType.WAVED.value,
    ) == ORDERS
    # Both lines of a two-line order are on its task.
    assert await _count(
        f"SELECT COUNT(*) AS id FROM pick_line p JOIN sales_order o ON o.id = p.\"order\" WHERE {mine}"
    ) == ORDERS + ORDERS // 2
    # Nothing is left for the next run.
    assert await waves.build_waves(warehouse_id) == []
    print(f"\nseeded {ORDERS} ready orders in {seeded - started:.1f}s; build_waves released {len(results)} waves "
          f"in {built - seeded:.1f}s (widest statement: {widest} parameters)")
