"""The set-based pipeline decides exactly as the per-order path: the same mix of orders processed both ways ends the
same (status, reasons, tags, priority, warehouse, lines, shipments, events), and parallel batches over a hot SKU
never oversell (PostgreSQL, truly parallel connections).

The orders are stored through the service in this process with no job queue bound, so the hub's workers never see
them: this test drives the pipeline itself."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from orderhub import db
from orderhub.inventory.service import reserve_many
from orderhub.orders import pipeline
from orderhub.orders.commands import NewOrder, NewOrderLine, Receiver, ReceiverCipher
from orderhub.orders.pipeline import batch as batch_module
from orderhub.orders.pipeline import reservation
from orderhub.orders.pipeline.rows import load_order
from orderhub.orders.pipeline.validation import check_receiver, validate
from orderhub.orders.service import _insert_order, _insert_orders, ingest, make_receiver, transition
from orderhub.orders.state import OrderStatus
from tests.support.factories import KETTLE, Api, create_channel, create_sku, create_warehouse, set_stock, unique
from tests.support.hub import Hub


class _Shop(msgspec.Struct):
    channel_id: int
    channel: str
    skus: list[str]


async def _shop(
    api: Api, warehouse: str, stock: list[int], *, merge: str = "channel", split: str = "exception"
) -> _Shop:
    channel, _ = await create_channel(api, warehouse=warehouse)
    async with api.client() as client:
        r = await client.patch(f"/api/v1/channels/{channel}", json={"merge_scope": merge, "split_policy": split})
        assert r.status_code == 200, r.text
    skus = []
    for qty, weight in zip(stock, (100, 2500, 300), strict=True):  # a heavy one: packing line B
        sku = await create_sku(api, weight_g=weight)
        await set_stock(api, sku=sku, warehouse=warehouse, qty=qty)
        skus.append(sku)
    row = await db.fetch_one_as(db.IdRow, "SELECT id FROM channel WHERE code = {}", channel)
    assert row is not None
    return _Shop(channel_id=row.id, channel=channel, skus=skus)


def _order(
    lines: list[tuple[str, int]], *, phone: str, address: str = "上海市浦东新区世纪大道100号", memo: str = ""
) -> NewOrder:
    now = datetime.now(UTC)
    return NewOrder(
        external_id=unique("B"),
        placed_at=now,
        paid_at=now,
        buyer_nick="买家",
        buyer_phone="13800138000",
        receiver=Receiver(name="王小明", phone=phone, address=address),
        lines=tuple(NewOrderLine(sku=sku, qty=qty, unit_price=1990) for sku, qty in lines),
        shipping_fee=0,
        discount=0,
        paid_amount=sum(qty for _, qty in lines) * 1990,
        buyer_memo=memo,
        seller_memo="",
        raw={},
    )


def _mix(shop: _Shop, tag: str) -> list[NewOrder]:
    """One of each way through, for one shop (its own SKUs and phones: the two shops' orders never look alike)."""
    a, b, c = shop.skus
    p = "137" if tag == "x" else "136"
    same_receiver = f"{p}00000011"
    mix = [
        _order([(a, 1)], phone=f"{p}00000001"),  # plain
        _order([(a, 2), (b, 1)], phone=f"{p}00000002"),  # two SKUs
        _order([(b, 1)], phone=f"{p}00000003", memo="请加急发货"),  # a memo the default rules may act on
        _order([(a, 1)], phone=same_receiver),  # these two go to one receiver: merged (合单)
        _order([(b, 1)], phone=same_receiver),
        _order([("NO-SUCH-SKU", 1)], phone=f"{p}00000004"),  # unknown SKU: exception
        _order([(c, 50)], phone=f"{p}00000005"),  # more than the stock: exception out_of_stock
        _order([(a, 1)], phone=f"{p}00000006", address="火星市某某区"),  # an address nobody can read
        _order([(a, 1), (c, 1)], phone=f"{p}00000007"),  # plain, two SKUs
        _order([(a, 1), (c, 1)], phone=f"{p}00000007"),  # the same content again: a suspected duplicate, held
        _order([(c, 1)], phone=f"{p}00000008", memo="要开发票"),  # invoice memo: a default rule may hold it
    ]
    # External ids in the mix's order: the intake stores a request in external-id order, so ids follow the mix
    # and both paths meet the orders in the same order (the worker takes a batch in id order).
    prefix = unique("B")
    return [msgspec.structs.replace(order, external_id=f"{prefix}-{i:02d}") for i, order in enumerate(mix)]


async def _store_in_order(shop: _Shop, orders: list[NewOrder]) -> list[int]:
    """Store ``orders`` with ids in the list's order: the intake stores a request in external-id order, and these
    are numbered so (both paths then meet the orders in the same order: the worker takes a batch in id order)."""
    prefix = unique("B")
    return await _store(
        shop, [msgspec.structs.replace(o, external_id=f"{prefix}-{i:03d}") for i, o in enumerate(orders)]
    )


async def _store(shop: _Shop, orders: list[NewOrder]) -> list[int]:
    outcomes = await ingest(shop.channel_id, shop.channel, orders, actor="test")
    assert all(o.status == "accepted" for o in outcomes), outcomes
    by_external = {o.external_id: o.order_id for o in outcomes}
    return [int(by_external[o.external_id] or 0) for o in orders]


class _Side(msgspec.Struct):
    """One side of a comparison: its shop's SKU codes and its orders' ids, named by their place in the mix."""

    skus: list[str]
    ids: list[int]


def _plain(value: Any, side: _Side, key: str = "") -> Any:
    """An event's data with one side's own names taken out: SKU codes by their place, order ids by theirs, shipment
    ids by their number (each side's are its own)."""
    if key == "duplicate_of":
        return f"order#{side.ids.index(value)}"
    if key == "with":  # the orders merged with
        return [f"order#{side.ids.index(other)}" for other in value]
    if key == "shipments":
        return len(value)
    if key == "shipment":
        return "shipment"
    if isinstance(value, dict):
        return {_plain(k, side): _plain(v, side, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, side) for v in value]
    if isinstance(value, str):
        for i, code in enumerate(side.skus):
            value = value.replace(code, f"SKU{i}")
    return value


async def _state(order_id: int, side: _Side | None = None) -> dict[str, Any]:
    """What the pipeline decided for an order, without ids, times or the shop's own codes; with ``side``, the events'
    data too (its own names taken out)."""
    order = (
        await db._raw(
            "SELECT status, exception_reason, hold_queue, hold_reason, pending_holds, tags, priority, warehouse, "
            "needs_backfill, preferred_warehouse, preferred_carrier, receiver_phone_ext, "
            "receiver_province, receiver_city, receiver_district, receiver_division_code, rules_applied_at IS NULL AS "
            "no_rules, ship_by IS NULL AS no_ship_by FROM sales_order WHERE id = {}",
            order_id,
        )
    )[0]
    lines = await db._raw(
        "SELECT l.qty, l.reserved_qty, l.sku IS NULL AS no_sku, l.warehouse, s.packing_line, s.weight_g, s.status "
        'AS shipment_status, (SELECT count(DISTINCT m."order") FROM order_line m WHERE m.shipment = l.shipment) AS '
        'orders_in_shipment FROM order_line l LEFT JOIN shipment s ON s.id = l.shipment WHERE l."order" = {} '
        "ORDER BY l.line_no",
        order_id,
    )
    events = await db._raw(
        'SELECT type, from_status, to_status, reason, actor, data FROM order_event WHERE "order" = {} '
        "AND type <> 'order.received' ORDER BY id",
        order_id,
    )
    return {
        "order": {k: bool(v) if isinstance(v, bool | int) and k.startswith("no") else v for k, v in order.items()},
        "lines": [{k: (bool(v) if k == "no_sku" else v) for k, v in line.items()} for line in lines],
        "events": [
            (e["type"], e["from_status"], e["to_status"], e["reason"], e["actor"])
            + ((_plain(msgspec.json.decode(e["data"]), side),) if side is not None else ())
            for e in events
        ],
    }


async def _per_order(ids: list[int]) -> None:
    async with pipeline.batch_scope():
        for order_id in ids:
            await pipeline.process_order(order_id)


async def _batched(ids: list[int]) -> pipeline.BatchResult:
    async with pipeline.batch_scope():
        result = await pipeline.process_batch(ids)
        for order_id in result.rest:
            await pipeline.process_order(order_id)
    return result


@pytest.mark.postgres_only  # the set-based path is PostgreSQL's: on SQLite both sides would be the per-order path
async def test_a_batch_decides_as_the_per_order_path(api: Api, store: Hub, backend: str) -> None:
    warehouse = (await create_warehouse(api))["code"]
    batch_shop = await _shop(api, warehouse, [20, 20, 10])
    single_shop = await _shop(api, warehouse, [20, 20, 10])
    batch_ids = await _store(batch_shop, _mix(batch_shop, "x"))
    single_ids = await _store(single_shop, _mix(single_shop, "y"))

    result = await _batched(batch_ids)
    await _per_order(single_ids)

    mine_side, their_side = _Side(batch_shop.skus, batch_ids), _Side(single_shop.skus, single_ids)
    for i, (mine, theirs) in enumerate(zip(batch_ids, single_ids, strict=True)):
        got, want = await _state(mine, mine_side), await _state(theirs, their_side)
        if got["order"]["warehouse"] is not None:  # the same warehouse for both shops
            assert got["order"]["warehouse"] == want["order"]["warehouse"], i
        assert got == want, f"order #{i} of the mix differs between the set-based and the per-order path"
    statuses = Counter([(await _state(i))["order"]["status"] for i in batch_ids])
    assert statuses["ready"] >= 5 and statuses["exception"] >= 3 and statuses["held"] >= 1, statuses
    if backend == "postgres":
        # The plain orders were made ready set-based; the merge's second order was not (the per-order path merges).
        plain = {batch_ids[i] for i in (0, 1, 3, 8)}
        assert plain <= set(result.ready), (sorted(result.ready), plain)
        assert batch_ids[4] in result.rest
        # Unknown SKU, out of stock, unreadable address, suspected duplicate, invoice hold: ended set-based too.
        ended = {batch_ids[i]: status for i, status in ((5, "exception"), (6, "exception"), (7, "exception"))}
        ended |= {batch_ids[9]: "held", batch_ids[10]: "held"}
        assert result.settled == ended, result.settled
    else:  # SQLite keeps the per-order path
        assert result.ready == {} and result.settled == {}
    stock = await db._raw(
        "SELECT s.code, l.reserved FROM stock_level l JOIN sku s ON s.id = l.sku WHERE s.code = ANY({}::varchar[])"
        if backend == "postgres"
        else "SELECT s.code, l.reserved FROM stock_level l JOIN sku s ON s.id = l.sku",
        *([batch_shop.skus + single_shop.skus] if backend == "postgres" else []),
    )
    reserved = {row["code"]: row["reserved"] for row in stock}
    assert [reserved[s] for s in batch_shop.skus] == [reserved[s] for s in single_shop.skus]


@pytest.mark.postgres_only  # the set-based path is PostgreSQL's: on SQLite both sides would be the per-order path
async def test_holds_and_waits_end_set_based_as_the_per_order_path_ends_them(api: Api, store: Hub) -> None:
    """A channel that waits for stock (held in ``awaiting_stock``), a suspected duplicate that a rule would also hold
    (the second hold kept for later: ``pending_holds``), and a plain order after them that takes what is left."""
    warehouse = (await create_warehouse(api))["code"]
    sides: list[_Side] = []
    for p in ("139", "158"):
        shop = await _shop(api, warehouse, [20, 2, 10], split="wait")
        a, b, _ = shop.skus
        orders = [
            _order([(a, 1), (b, 3)], phone=f"{p}00000001"),  # 3 of b wanted, 2 on hand: waits
            _order([(a, 2)], phone=f"{p}00000002", memo="要发票"),  # invoice hold
            _order([(a, 2)], phone=f"{p}00000002", memo="要发票"),  # the same again: duplicate first, invoice pending
            _order([(b, 2)], phone=f"{p}00000003"),  # the last two of b
        ]
        ids = await _store_in_order(shop, orders)
        sides.append(_Side(shop.skus, ids))
    mine, theirs = sides
    result = await _batched(mine.ids)
    await _per_order(theirs.ids)
    for i, (m, t) in enumerate(zip(mine.ids, theirs.ids, strict=True)):
        assert await _state(m, mine) == await _state(t, theirs), f"order #{i} differs between the two paths"
    got = [await _state(i) for i in mine.ids]
    assert [(g["order"]["status"], g["order"]["hold_queue"]) for g in got] == [
        ("held", "awaiting_stock"),
        ("held", "invoice"),
        ("held", "duplicate"),
        ("ready", None),
    ]
    assert msgspec.json.decode(got[2]["order"]["pending_holds"])[0]["queue"] == "invoice"
    assert set(result.ready) == {mine.ids[3]} and set(result.settled) == set(mine.ids[:3]), result


@pytest.mark.postgres_only
async def test_parallel_batches_over_a_hot_sku_never_oversell(api: Api, store: Hub) -> None:
    warehouse = (await create_warehouse(api))["code"]
    shop = await _shop(api, warehouse, [30, 1000, 1000], merge="off")
    hot, other, _ = shop.skus
    orders = [_order([(hot, 1), (other, 1)], phone=f"135{i:08d}") for i in range(100)]
    ids = await _store(shop, orders)
    batches = [ids[i::4] for i in range(4)]  # four workers' batches, interleaved, at once on four connections
    results = await asyncio.gather(*[_batched(batch) for batch in batches])

    assert sum(len(r.ready) for r in results) > 0
    rows = await db._raw(
        "SELECT o.status, o.exception_reason, l.sku_code, l.reserved_qty FROM sales_order o "
        'JOIN order_line l ON l."order" = o.id WHERE o.id = ANY({}::bigint[])',
        ids,
    )
    ready = {r["sku_code"]: 0 for r in rows}
    for r in rows:
        ready[r["sku_code"]] += r["reserved_qty"]
    statuses = Counter(r["status"] for r in rows if r["sku_code"] == hot)
    assert statuses == {"ready": 30, "exception": 70}, statuses
    assert {r["exception_reason"] for r in rows if r["status"] == "exception"} == {"out_of_stock"}
    levels = {
        r["code"]: (r["on_hand"], r["reserved"])
        for r in await db._raw(
            "SELECT s.code, l.on_hand, l.reserved FROM stock_level l JOIN sku s ON s.id = l.sku "
            "WHERE s.code = ANY({}::varchar[])",
            [hot, other],
        )
    }
    assert levels[hot] == (30, 30) and ready[hot] == 30
    assert levels[other] == (1000, 30) and ready[other] == 30


async def _same_both_ways(batch_ids: list[int], single_ids: list[int]) -> pipeline.BatchResult:
    """Process ``batch_ids`` the worker's way (set-based, the rest per order) and ``single_ids`` per order; the two
    lists are the same orders of two look-alike shops, and each order ends the same both ways."""
    result = await _batched(batch_ids)
    await _per_order(single_ids)
    for i, (mine, theirs) in enumerate(zip(batch_ids, single_ids, strict=True)):
        assert await _state(mine) == await _state(theirs), f"order #{i} differs between the two paths"
    return result


async def test_an_order_the_batch_hands_back_still_comes_first(api: Api, store: Hub) -> None:
    """An order handed back to the per-order path that will still reserve (here the second order to a receiver:
    it merges) keeps its place: a later order wanting the same SKU is not served before it from the last unit."""
    warehouse = (await create_warehouse(api))["code"]
    sides = []
    for p in ("134", "133"):
        shop = await _shop(api, warehouse, [20, 1, 10])  # one unit of the second SKU
        a, b, _ = shop.skus
        receiver = f"{p}00000001"
        orders = [
            _order([(a, 1)], phone=receiver),
            _order([(b, 1)], phone=receiver),  # merges with the first: the per-order path's, takes the unit
            _order([(b, 1)], phone=f"{p}00000002"),  # nothing left for it
        ]
        sides.append(await _store_in_order(shop, orders))
    await _same_both_ways(*sides)
    assert (await _state(sides[0][2]))["order"]["exception_reason"] == "out_of_stock"


async def test_merge_across_shops_with_an_earlier_order_of_the_batch(api: Api, store: Hub) -> None:
    """A shop that does not merge makes the receiver's first shipment; a later order of the same batch, from a shop
    merging across shops (seller), joins it as the per-order path would."""
    warehouse = (await create_warehouse(api))["code"]
    sides = []
    for p in ("132", "131"):
        solo = await _shop(api, warehouse, [20, 20, 20], merge="off")
        seller = await _shop(api, warehouse, [20, 20, 20], merge="seller")
        first = await _store(solo, [_order([(solo.skus[0], 1)], phone=f"{p}00000001")])
        second = await _store(seller, [_order([(seller.skus[0], 1)], phone=f"{p}00000001")])
        sides.append(first + second)
    await _same_both_ways(*sides)
    assert (await _state(sides[0][1]))["lines"][0]["orders_in_shipment"] == 2


class _Undo(Exception):
    """Rolls a test's transaction back."""


@pytest.mark.postgres_only
async def test_a_batch_locks_stock_rows_in_the_per_order_paths_order(api: Api, store: Hub) -> None:
    """reserve() locks one order's stock rows warehouse by warehouse (each warehouse's in id order); the batch's
    reserve_many must take them in that same order, or an order and a batch deadlock. Here the later warehouse's
    row has the smaller id: while an order holds the first warehouse's row, the batch waits for it without holding
    the second's."""
    first = await create_warehouse(api)
    second = await create_warehouse(api)
    early, late = await create_sku(api), await create_sku(api)
    await set_stock(api, sku=early, warehouse=second["code"], qty=5)  # the smaller stock row id, second warehouse
    await set_stock(api, sku=late, warehouse=first["code"], qty=5)
    rows = await db._raw(
        "SELECT l.id, l.warehouse, l.sku, s.code FROM stock_level l JOIN sku s ON s.id = l.sku "
        "WHERE s.code = ANY({}::varchar[])",
        [early, late],
    )
    level = {r["code"]: r for r in rows}
    assert level[early]["id"] < level[late]["id"] and level[late]["warehouse"] < level[early]["warehouse"]
    wanted = {(r["warehouse"], r["sku"]): 1 for r in rows}
    held, release = asyncio.Event(), asyncio.Event()

    async def an_order() -> None:  # reserve()'s first row: the first warehouse's
        async with db.transaction():
            await db._raw("SELECT id FROM stock_level WHERE id = {} FOR UPDATE", level[late]["id"])
            held.set()
            await release.wait()

    async def a_batch() -> None:
        with pytest.raises(_Undo):
            async with db.transaction():
                assert await reserve_many(wanted) == []
                raise _Undo

    order_task = asyncio.create_task(an_order())
    await held.wait()
    batch_task = asyncio.create_task(a_batch())
    await asyncio.sleep(0.5)  # the batch is waiting now
    try:
        async with db.transaction():  # the order's next row (the second warehouse's) is free
            await db._raw("SELECT id FROM stock_level WHERE id = {} FOR UPDATE NOWAIT", level[early]["id"])
    finally:
        release.set()
        await asyncio.gather(order_task, batch_task)


async def test_a_validated_order_of_the_batch_keeps_its_place(api: Api, store: Hub) -> None:
    """An order of the batch already validated (left between its two steps) is the per-order path's, which reserves
    it in id order: a later order wanting the same last unit does not get it first."""
    warehouse = (await create_warehouse(api))["code"]
    sides = []
    for p in ("130", "138"):
        shop = await _shop(api, warehouse, [20, 1, 10])
        b = shop.skus[1]
        orders = [_order([(b, 1)], phone=f"{p}00000001"), _order([(b, 1)], phone=f"{p}00000002")]
        ids = await _store_in_order(shop, orders)
        first = await load_order(ids[0])
        assert first is not None
        assert await validate(ids[0], first, fast=False) == OrderStatus.VALIDATED
        sides.append(ids)
    await _same_both_ways(*sides)
    assert (await _state(sides[0][0]))["order"]["status"] == "ready"


async def test_an_order_the_steps_fail_on_fails_alone(
    api: Api, store: Hub, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order the set-based pass cannot decide (here the receiver check raises for it) goes to the per-order path;
    the batch's other orders are still made ready together."""
    warehouse = (await create_warehouse(api))["code"]
    shop = await _shop(api, warehouse, [20, 20, 10])
    a, b, _ = shop.skus
    # The last one wants another SKU: what the failing one may still take stays its own (it comes first).
    orders = [_order([(sku, 1)], phone=f"1590000{i:04d}") for i, sku in enumerate((a, a, b))]
    ids = await _store_in_order(shop, orders)

    def broken(order: Any, values: dict[Any, Any]) -> Any:
        if order.receiver_phone.endswith("001"):
            raise RuntimeError("a bug in one order's receiver check")
        return check_receiver(order, values)

    monkeypatch.setattr(batch_module, "check_receiver", broken)
    result = await _batched(ids)
    assert [(await _state(i))["order"]["status"] for i in ids] == ["ready"] * 3
    if backend == "postgres":
        assert set(result.ready) == {ids[0], ids[2]} and result.rest == [ids[1]]


@pytest.mark.postgres_only
async def test_the_intake_statement_stores_what_one_insert_per_order_did(api: Api, store: Hub) -> None:
    """The PostgreSQL intake (one statement for a request) stores every column of an order and its lines as the
    one-INSERT-per-order intake (SQLite's) does; only the lines' SKU is resolved now (validation did it later)."""
    warehouse = (await create_warehouse(api))["code"]
    old, new = await _shop(api, warehouse, [5, 5, 5]), await _shop(api, warehouse, [5, 5, 5])
    now = datetime.now(UTC)
    cipher = ReceiverCipher(
        platform="douyin", name="#enc#", phone="#enc#", phone_masked="138****0000", phone_index="i1"
    )
    orders = [
        _order([(old.skus[0], 2), ("NO-SUCH-SKU", 1), (old.skus[1], 3)], phone="13900000001", memo="备注"),
        msgspec.structs.replace(
            _order([(old.skus[2], 1)], phone="138****0000"),
            receiver=Receiver(name="张*", phone="138****0000", address="上海市浦东新区某某路**号", cipher=cipher),
            paid_at=None,
            ship_by=now,
            platform_discount=300,
            raw={"k": "v"},
        ),
        msgspec.structs.replace(
            _order([(old.skus[0], 1)], phone="+66 81 234 5678"),
            receiver=Receiver(
                name="Somchai",
                phone="+66 81 234 5678",
                country="TH",
                province="Bangkok",
                city="Bang Rak",
                detail="1 Silom Rd",
                address="1 Silom Rd, Bang Rak, Bangkok 10500",
                postcode="10500",
            ),
        ),
    ]
    async with db.transaction():
        one_by_one = [await _insert_order(old.channel_id, order, now) for order in orders]
        together = [order_id for _, order_id in await _insert_orders(new.channel_id, orders, now)]
        again = await _insert_orders(new.channel_id, orders, now)  # the same orders again: nothing stored
    assert None not in one_by_one and None not in together and [i for _, i in again] == [None] * len(orders)

    async def stored(order_id: int | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        order = (await db._raw("SELECT * FROM sales_order WHERE id = {}", order_id))[0]
        lines = await db._raw('SELECT * FROM order_line WHERE "order" = {} ORDER BY id', order_id)
        for key in ("id", "channel"):
            del order[key]
        return order, [{k: v for k, v in line.items() if k not in ("id", "order", "sku")} for line in lines]

    for mine, theirs in zip(together, one_by_one, strict=True):
        assert await stored(mine) == await stored(theirs)
    lines = await db._raw(
        "SELECT l.line_no, l.sku_code, l.sku, s.id AS known FROM order_line l LEFT JOIN sku s ON s.code = l.sku_code "
        'WHERE l."order" = {} ORDER BY l.id',
        together[0],
    )
    assert [line["line_no"] for line in lines] == [1, 2, 3]  # numbered and inserted in the order given
    assert [line["sku"] for line in lines] == [line["known"] for line in lines] and lines[1]["sku"] is None


async def _shared_rule(api: Api, channels: list[str], conditions: list[Any], actions: list[Any]) -> int:
    """A rule for these channels only (rules are global): one rule for both sides, so its id and name are the same
    in both sides' events."""
    scoped = [{"field": "channel", "op": "in", "value": channels}, *conditions]
    async with api.client() as client:
        r = await client.post("/api/v1/rules", json={"name": unique("规则"), "conditions": scoped, "actions": actions})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _drop_rules(api: Api, rule_ids: list[int]) -> None:
    async with api.client() as client:
        for rule_id in rule_ids:
            assert (await client.delete(f"/api/v1/rules/{rule_id}")).status_code == 204


async def _reenter(order_ids: list[int]) -> None:
    """Held orders back to RECEIVED (as a released hold or the awaiting-stock retry sends them): the rules ran."""
    for order_id in order_ids:
        async with db.transaction():
            await transition(order_id, OrderStatus.RECEIVED, expected=OrderStatus.HELD, data={"note": "再处理"})


@pytest.mark.postgres_only  # the set-based path is PostgreSQL's: on SQLite both sides would be the per-order path
async def test_more_ends_set_based_as_the_per_order_path(api: Api, store: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other ways to end held or in exception, both ways alike: a memo naming no SKU (made ready) or an inactive
    one (handed back: its gift is an unknown SKU), an unknown SKU after rules that fired, a rule asking two holds, a
    phone nobody can read, short stock under the split policy, no warehouse, orders re-entering after a hold (the
    rules ran: short, or ready), and a duplicate that rules also hold (three holds)."""
    warehouse = (await create_warehouse(api))["code"]
    shops = [await _shop(api, warehouse, [20, 2, 10], split="split") for _ in range(2)]
    channels = [shop.channel for shop in shops]
    rules = [
        await _shared_rule(
            api, channels, [],
            [{"type": "gifts_from_memo"}, {"type": "add_tag", "tag": "memo"},
             {"type": "prefer_carrier", "carrier": "SF"}, {"type": "prefer_warehouse", "warehouse": warehouse}],
        ),
        await _shared_rule(
            api, channels, [{"field": "memo", "op": "contains", "value": "复核"}],
            [{"type": "hold", "queue": "review", "reason": "needs_review"}, {"type": "require_approval"}],
        ),
    ]  # fmt: skip
    real_ranked = reservation._ranked

    async def ranked(order: Any) -> Any:  # no warehouse for the receiver …0006 (both paths rank through this)
        return [] if order.receiver_phone.endswith("0006") else await real_ranked(order)

    monkeypatch.setattr(reservation, "_ranked", ranked)
    monkeypatch.setattr(batch_module, "_ranked", ranked)
    try:
        sides: list[_Side] = []
        for shop, p in zip(shops, ("186", "187"), strict=True):
            a, b, c = shop.skus
            inactive = await create_sku(api)
            await db._raw("UPDATE sku SET active = false WHERE code = {}", inactive)
            orders = [
                _order([(a, 1)], phone=f"{p}00000001", memo="赠品：NOPE-404×2"),  # a memo naming no SKU: ready
                _order([(a, 1)], phone=f"{p}00000002", memo=f"赠品：{inactive}×1"),  # an inactive gift: unknown SKU
                _order([("NO-SUCH-SKU", 1), (a, 1)], phone=f"{p}00000003", memo="复核"),  # unknown after the rules
                _order([(a, 1)], phone=f"{p}00000004", memo="复核"),  # two holds: review, then approval pending
                _order([(a, 1)], phone="12345"),  # a phone nobody can read
                _order([(b, 3)], phone=f"{p}00000005"),  # 3 wanted, 2 anywhere: short even split
                _order([(c, 1)], phone=f"{p}00000006"),  # no warehouse
                _order([(c, 11)], phone=f"{p}00000007", memo="要发票"),  # held first; re-entering: short
                _order([(c, 1)], phone=f"{p}00000008", memo="要发票"),  # held first; re-entering: ready
                _order([(a, 1)], phone=f"{p}00000001", memo="复核"),  # the first again: duplicate, review, approval
            ]
            ids = await _store_in_order(shop, orders)
            await _per_order(ids[7:9])
            await _reenter(ids[7:9])
            sides.append(_Side([*shop.skus, inactive], ids))
        mine, theirs = sides
        result = await _batched(mine.ids)
        await _per_order(theirs.ids)
        for i, (m, t) in enumerate(zip(mine.ids, theirs.ids, strict=True)):
            assert await _state(m, mine) == await _state(t, theirs), f"order #{i} differs between the two paths"
        got = [(await _state(i))["order"] for i in mine.ids]
        assert [(g["status"], g["exception_reason"] or g["hold_queue"]) for g in got] == [
            ("ready", None),
            ("exception", "unknown_sku"),
            ("exception", "unknown_sku"),
            ("held", "review"),
            ("exception", "bad_phone"),
            ("exception", "out_of_stock"),
            ("exception", "no_warehouse"),
            ("exception", "out_of_stock"),
            ("ready", None),
            ("held", "duplicate"),
        ]
        assert [h["queue"] for h in msgspec.json.decode(got[9]["pending_holds"])] == ["review", "approval"]
        assert set(result.ready) == {mine.ids[0], mine.ids[8]}, result
        assert set(result.settled) == {mine.ids[i] for i in (2, 3, 4, 5, 6, 7, 9)}, result
        assert result.rest == [mine.ids[1]], result
    finally:
        await _drop_rules(api, rules)


@pytest.mark.postgres_only
async def test_an_order_ended_meanwhile_is_not_ended_twice(
    api: Api, store: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order the batch would end (here an unknown SKU) that another worker ends between the batch's reads and
    its writes: the batch's UPDATE misses it, the batch plans again without it, and it keeps one ending."""
    warehouse = (await create_warehouse(api))["code"]
    shop = await _shop(api, warehouse, [20, 20, 10])
    a, b, _ = shop.skus
    orders = [
        _order([(a, 1)], phone="18800000001"),
        _order([("NO-SUCH-SKU", 1)], phone="18800000002"),
        _order([(b, 1)], phone="18800000003", memo="要发票"),
    ]
    ids = await _store_in_order(shop, orders)
    real_write = batch_module._write
    writes = 0

    async def write(planned: Any, settled: Any) -> None:
        nonlocal writes
        writes += 1
        if writes == 1:  # another worker, between this batch's reads and its writes
            await _per_order([ids[1]])
        await real_write(planned, settled)

    monkeypatch.setattr(batch_module, "_write", write)
    result = await _batched(ids)
    assert writes == 2
    assert set(result.ready) == {ids[0]} and result.settled == {ids[2]: "held"} and result.rest == [ids[1]]
    states = [await _state(i) for i in ids]
    assert [s["order"]["status"] for s in states] == ["ready", "exception", "held"]
    for state in states:
        changes = [e for e in state["events"] if e[0] == "order.status_changed"]
        assert len(changes) == len({(e[1], e[2]) for e in changes}), changes  # no step recorded twice
    assert [s["lines"][0]["reserved_qty"] for s in states] == [1, 0, 0]


async def test_an_order_abroad_keeps_its_place_for_the_gift_its_rules_add(api: Api, store: Hub) -> None:
    """An order abroad is the per-order path's (customs), where its rules add a gift line: a later order wanting that
    gift's last unit is not served before it (the per-order path reserves the gift first)."""
    warehouse = (await create_warehouse(api))["code"]
    sides, rules = [], []
    try:
        for p in ("181", "182"):
            shop = await _shop(api, warehouse, [20, 1, 10])  # one unit of the gift
            a, gift, _ = shop.skus
            async with api.client() as client:
                for sku in (a, gift):
                    r = await client.put(f"/api/v1/catalog/skus/{sku}/customs", json=KETTLE)
                    assert r.status_code == 200, r.text
            rules.append(
                await _shared_rule(
                    api, [shop.channel], [{"field": "sku", "op": "contains_any", "value": [a]}],
                    [{"type": "add_gift", "sku": gift}],
                )
            )  # fmt: skip
            receiver = make_receiver(
                name="Somchai Jaidee", phone=f"+66 8{p}00001", country="TH", city="Watthana", region="Bangkok",
                postcode="10110", address_lines=["99/1 Sukhumvit Road", "Khlong Toei Nuea"],
            )  # fmt: skip
            abroad = msgspec.structs.replace(_order([(a, 1)], phone=receiver.phone), receiver=receiver)
            orders = [abroad, _order([(gift, 1)], phone=f"{p}00000002")]
            sides.append(await _store_in_order(shop, orders))
        await _same_both_ways(*sides)
        assert [(await _state(i))["order"]["status"] for i in sides[0]] == ["ready", "exception"]
    finally:
        await _drop_rules(api, rules)


async def test_an_order_with_rule_and_memo_gifts_keeps_its_place_for_both(api: Api, store: Hub) -> None:
    """Rules that add a gift and take gifts from the memo too: the order's memo gift is reserved by the per-order
    path before a later order wanting its last unit, as the per-order path alone would."""
    warehouse = (await create_warehouse(api))["code"]
    sides, rules = [], []
    try:
        for p in ("183", "184"):
            shop = await _shop(api, warehouse, [20, 20, 1])  # one unit of the memo's gift
            a, gift, memo_gift = shop.skus
            rules.append(
                await _shared_rule(
                    api, [shop.channel], [{"field": "sku", "op": "contains_any", "value": [a]}],
                    [{"type": "add_gift", "sku": gift}, {"type": "gifts_from_memo"}],
                )
            )  # fmt: skip
            orders = [
                _order([(a, 1)], phone=f"{p}00000001", memo=f"赠品：{memo_gift}×1"),
                _order([(memo_gift, 1)], phone=f"{p}00000002"),
            ]
            sides.append(await _store_in_order(shop, orders))
        await _same_both_ways(*sides)
        assert [(await _state(i))["order"]["status"] for i in sides[0]] == ["ready", "exception"]
    finally:
        await _drop_rules(api, rules)
