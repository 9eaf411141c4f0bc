"""Keeping the rollups up to date.

**Order events** are counted by :func:`catch_up`, a batched job the worker runs every half second (and anyone may run:
it is idempotent): it reads the ``order_event`` rows after a cursor, turns them into counter deltas summed per row,
writes them as chunked multi-row UPSERTs and moves the cursor, all in one transaction — so an event is counted
exactly once whether the job fails, is retried or runs in two workers at once (the cursor row is locked; a second
runner skips). The pipeline's transactions pay nothing for the dashboards.

Which events are "after the cursor": on PostgreSQL a transaction's event ids are taken before it commits, so ids do
not arrive in order. Each row records its transaction id (``txid``, filled by the column's default); the job reads the
events of transactions older than the oldest one still running (``pg_snapshot_xmin``), ordered by (txid, id), and the
cursor is a (txid, id) pair. SQLite has one writer at a time (the job's own transaction is ``BEGIN IMMEDIATE``), so
ids are in commit order and the cursor is the last id.

**PDA scans** are counted in the scan's own transaction (:func:`on_scan`): a scan is recorded once per device +
client id, and the floor's scan rate is far below the pipeline's. Its rows are upserted by the statement that
records the scan (``picking.scans.with_scan_row``: a data-modifying CTE on PostgreSQL), so counting it costs the
scan no round trip of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import lru_cache

import msgspec

from orderhub import db
from orderhub.insights.deltas import (
    COUNTED_EVENTS,
    Deltas,
    EventIn,
    OrderFacts,
    ScanIn,
    apply_order_event,
    apply_scan,
    needs_warehouse,
    routed_to,
)
from orderhub.insights.tables import OPERATOR_COUNTERS, ORDER_BUCKET_COUNTERS
from orderhub.orders.events import OrderEventType
from orderhub.picking.scans import ScanLogged, ScanWrite, row_upsert, with_scan_row
from orderhub.registry import Hooks

__all__ = [
    "CAUGHT_UP_HOOKS",
    "CURSOR",
    "EVENT_COLUMNS",
    "FACTS_COLUMNS",
    "CatchUp",
    "EventRow",
    "FactsRow",
    "catch_up",
    "count_events",
    "event_in",
    "keep_up",
    "load_facts",
    "on_scan",
    "pg_horizon",
    "write",
]

log = logging.getLogger("orderhub.insights")

_STATUS_CHANGED = OrderEventType.STATUS_CHANGED.value
_RECEIVED = OrderEventType.RECEIVED.value
_DATA_NEEDED = frozenset({"ready", "held"})  # status changes whose data the rollups read (warehouse_ids, queue)


class _Pending:
    """The rollup deltas of one transaction, written just before it commits (after its order events)."""

    def __init__(self) -> None:
        self.deltas = Deltas()
        self.done = False

    async def __call__(self) -> None:
        self.done = True
        if self.deltas:
            await write(self.deltas)


def _pending() -> _Pending | None:
    """This transaction's deltas (None outside a transaction); a fresh one, queued last, once the first was written
    (order events are flushed after the writes a scan queued)."""
    flushes = db.pending_before_commit()
    if flushes is None:
        return None
    for flush in reversed(flushes):
        if isinstance(flush, _Pending):
            if not flush.done:
                return flush
            break
    pending = _Pending()
    flushes.append(pending)
    return pending


def event_in(
    order_id: int,
    type_: str,
    from_status: str | None,
    to_status: str | None,
    reason: str | None,
    data: str | None,
    at: datetime,
) -> EventIn:
    """One ``order_event`` row as the mapping reads it (its JSON data decoded only where a figure needs it)."""
    warehouse_ids: tuple[int, ...] | None = None
    queue: str | None = None
    if type_ == _STATUS_CHANGED and to_status in _DATA_NEEDED and data and data != "{}":
        decoded = msgspec.json.decode(data)
        if isinstance(decoded, dict):
            ids = decoded.get("warehouse_ids")
            if isinstance(ids, list) and to_status == "ready":
                warehouse_ids = tuple(int(i) for i in ids)
            held_in = decoded.get("queue")
            if isinstance(held_in, str):
                queue = held_in
    return EventIn(
        order_id=order_id,
        type=type_,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        warehouse_ids=warehouse_ids,
        queue=queue,
        at=at,
    )


class FactsRow(msgspec.Struct):
    """What the rollups read of an order (``sales_order``): the catch-up by id, the rebuild by range."""

    id: int
    channel: int
    paid_amount: int
    paid_at: datetime | None
    ship_by: datetime | None

    def facts(self) -> OrderFacts:
        return OrderFacts(channel=self.channel, paid_fen=self.paid_amount, paid_at=self.paid_at, ship_by=self.ship_by)


FACTS_COLUMNS = "id, channel, paid_amount, paid_at, ship_by"


async def load_facts(order_ids: Sequence[int]) -> dict[int, OrderFacts]:
    """Per order: what the rollups need of it."""
    found: dict[int, OrderFacts] = {}
    for chunk in db.chunks(order_ids):
        rows = await db.fetch_as(
            FactsRow,
            f"SELECT {FACTS_COLUMNS} FROM sales_order WHERE id IN ({db.placeholders(len(chunk))})",
            *chunk,
        )
        found.update((row.id, row.facts()) for row in rows)
    return found


class EventRow(msgspec.Struct):
    """An ``order_event`` row as the rollups read it (``txid``: see the module's docstring; SQLite: the id)."""

    id: int
    order_id: int
    type: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    data: str | None
    created_at: datetime
    txid: int = 0


class CatchUp(msgspec.Struct, frozen=True, kw_only=True):
    """What one :func:`catch_up` counted."""

    events: int
    batches: int
    warehouses: frozenset[int]  # the warehouses whose figures moved (0: before routing / hub-wide)
    busy: bool = False  # another process held the cursor: nothing was done


class _Cursor(msgspec.Struct):
    txid: int
    event_id: int


class _Horizon(msgspec.Struct):
    horizon: int


class _RoutedRow(msgspec.Struct):
    order_id: int
    id: int
    data: str


CURSOR = "order_events"
EVENT_COLUMNS = (
    'id, "order" AS order_id, type, from_status, to_status, reason, data, created_at'  # + txid on PostgreSQL
)

# Called after a catch-up counted something, outside its transaction, with the warehouses whose figures moved:
# the live dashboards tell their watchers to re-read (insights.live).
CaughtUpHook = Callable[[frozenset[int]], Awaitable[None]]
CAUGHT_UP_HOOKS: Hooks[CaughtUpHook] = Hooks("rollups caught up")


def event_of(row: EventRow) -> EventIn:
    return event_in(row.order_id, row.type, row.from_status, row.to_status, row.reason, row.data, row.created_at)


async def pg_horizon() -> int:
    """The oldest transaction still running (PostgreSQL): every transaction with a smaller id has ended."""
    row = await db.fetch_one_as(_Horizon, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon")
    assert row is not None
    return row.horizon


async def _warehouses_before(firsts: dict[int, int]) -> dict[int, int]:
    """Per order (→ the id of its first event in this batch): its warehouse just before that event, from the
    committed log (the latest → ready change with a single warehouse before it; 0 if none)."""
    found: dict[int, int] = {}
    for chunk in db.chunks(sorted(firsts)):
        rows = await db.fetch_as(
            _RoutedRow,
            'SELECT "order" AS order_id, id, data FROM order_event '
            f'WHERE "order" IN ({db.placeholders(len(chunk))}) AND type = {{}} AND to_status = {{}} '
            'ORDER BY "order", id',
            *chunk,
            _STATUS_CHANGED,
            "ready",
        )
        for row in rows:
            if row.id >= firsts[row.order_id]:
                continue
            routed = routed_to(event_in(row.order_id, _STATUS_CHANGED, None, "ready", None, row.data, datetime.min))
            if routed is not None:
                found[row.order_id] = routed
    return found


async def count_events(rows: Sequence[EventRow], deltas: Deltas) -> int:
    """Add what these events count to ``deltas``; each order's events are applied in id order, starting from its
    warehouse before the first of them. Returns how many were counted."""
    by_order: defaultdict[int, list[EventRow]] = defaultdict(list)
    for row in rows:
        by_order[row.order_id].append(row)
    facts = await load_facts(sorted(by_order))
    firsts: dict[int, int] = {}
    for order_id, events in by_order.items():
        events.sort(key=lambda r: r.id)
        if events[0].type == _RECEIVED:
            continue  # a new order: nowhere yet
        mapped = [event_of(e) for e in events]
        first_route = next((i for i, e in enumerate(mapped) if e.warehouse_ids is not None), len(mapped))
        if any(needs_warehouse(e) for e in mapped[:first_route]):
            firsts[order_id] = events[0].id
    before = await _warehouses_before(firsts) if firsts else {}
    counted = 0
    for order_id, events in by_order.items():
        order = facts.get(order_id)
        if order is None:
            log.warning("order %s of a logged event not found; not counted", order_id)
            continue
        warehouse = before.get(order_id, 0)
        for event in events:
            warehouse = apply_order_event(deltas, order, event_of(event), warehouse)
            counted += 1
    return counted


def _touched(deltas: Deltas) -> set[int]:
    return {key[2] for key in deltas.buckets} | {key[1] for key in deltas.statuses}


class _Found(msgspec.Struct):
    found: int


async def _anything_new() -> bool:
    """Whether any event was logged after the cursor (read without a transaction or a lock): an idle hub's catch-up
    then takes no write lock at all (SQLite has one writer; every worker asks twice a second)."""
    cursor = await db.fetch_one_as(_Cursor, "SELECT txid, event_id FROM rollup_cursor WHERE name = {}", CURSOR)
    if cursor is None:
        return False
    if db.is_sqlite():
        row = await db.fetch_one_as(_Found, "SELECT 1 AS found FROM order_event WHERE id > {} LIMIT 1", cursor.event_id)
    else:
        row = await db.fetch_one_as(
            _Found,
            # ORDER BY the index's own order: asyncpg prepares the statement, and after five runs PostgreSQL's generic
            # plan for "any row past ($1, $2) … LIMIT 1" was a sequential scan of the whole log (380 ms a peek over 3
            # million events, twice a second per worker); sorted, the index is the only cheap plan.
            "SELECT 1 AS found FROM order_event WHERE (txid, id) > ({}, {}) "
            "AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint ORDER BY txid, id LIMIT 1",
            cursor.txid,
            cursor.event_id,
        )
    return row is not None


async def _one_batch(limit: int) -> tuple[int, set[int], bool] | None:
    """Count up to ``limit`` events after the cursor in one transaction: (events, warehouses, more to do), or None
    when another process holds the cursor."""
    if not await _anything_new():
        return 0, set(), False
    async with db.transaction():
        sqlite = db.is_sqlite()
        cursor = await db.fetch_one_as(
            _Cursor,
            "SELECT txid, event_id FROM rollup_cursor WHERE name = {}" + ("" if sqlite else " FOR UPDATE SKIP LOCKED"),
            CURSOR,
        )
        if cursor is None:
            return None
        # Every event type is read (and the ones no figure counts skipped here), so the cursor passes them too.
        if sqlite:
            rows = await db.fetch_as(
                EventRow,
                f"SELECT {EVENT_COLUMNS}, id AS txid FROM order_event WHERE id > {{}} ORDER BY id LIMIT {{}}",
                cursor.event_id,
                limit,
            )
            more = len(rows) == limit
            if not rows:
                return 0, set(), False
            after = _Cursor(txid=0, event_id=rows[-1].id)
        else:
            horizon = await pg_horizon()
            rows = await db.fetch_as(
                EventRow,
                f"SELECT {EVENT_COLUMNS}, txid FROM order_event WHERE (txid, id) > ({{}}, {{}}) AND txid < {{}} "
                "ORDER BY txid, id LIMIT {}",
                cursor.txid,
                cursor.event_id,
                horizon,
                limit,
            )
            more = len(rows) == limit
            after = _Cursor(txid=rows[-1].txid, event_id=rows[-1].id) if more else _Cursor(txid=horizon, event_id=0)
            if not rows and after.txid == cursor.txid:
                return 0, set(), False
        deltas = Deltas()
        counted = await count_events([r for r in rows if r.type in COUNTED_EVENTS], deltas)
        await write(deltas)
        await db.execute(
            "UPDATE rollup_cursor SET txid = {}, event_id = {} WHERE name = {}", after.txid, after.event_id, CURSOR
        )
        return counted, _touched(deltas), more


async def catch_up(*, batch: int = 2_000, max_batches: int = 50) -> CatchUp:
    """Count the order events logged since the last catch-up (at most ``batch`` × ``max_batches`` of them), each
    batch in its own short transaction, then tell :data:`CAUGHT_UP_HOOKS` which warehouses' figures moved."""
    events = batches = 0
    touched: set[int] = set()
    for _ in range(max_batches):
        done = await _one_batch(batch)
        if done is None:
            return CatchUp(events=events, batches=batches, warehouses=frozenset(touched), busy=True)
        counted, warehouses, more = done
        events += counted
        batches += 1
        touched |= warehouses
        if not more:
            break
    result = CatchUp(events=events, batches=batches, warehouses=frozenset(touched))
    if events:
        for hook in CAUGHT_UP_HOOKS:
            try:
                await hook(result.warehouses)
            except Exception:  # a live hint lost must not stop the counting
                log.exception("rollups caught-up hook failed")
    return result


async def keep_up(stop: asyncio.Event, *, every: float = 0.5) -> None:
    """Run :func:`catch_up` every ``every`` seconds until ``stop`` is set (the worker runs this)."""
    while not stop.is_set():
        try:
            await catch_up()
        except Exception:  # the database may be away for a while: try again next time
            log.warning("rollups catch-up failed; retrying", exc_info=True)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass


class _QualityRow(msgspec.Struct):
    errors: int
    packs: int


async def on_scan(scan: ScanLogged) -> None:
    """SCAN_HOOKS listener: count a recorded PDA scan into its operator's day."""
    pending = _pending()
    deltas = pending.deltas if pending is not None else Deltas()
    quality: dict[int, list[int]] = {}
    if scan.ok and scan.kind == "weigh" and scan.order_id is not None:
        row = await db.fetch_one_as(
            _QualityRow, "SELECT errors, packs FROM rollup_order_quality WHERE order_id = {}", scan.order_id
        )
        mine = deltas.quality.get(scan.order_id, [0, 0])
        quality[scan.order_id] = [(row.errors if row else 0) + mine[0], (row.packs if row else 0) + mine[1]]
    counted = ScanIn(
        user_id=scan.user_id,
        warehouse_id=scan.warehouse_id,
        kind=scan.kind,
        ok=scan.ok,
        error=scan.error,
        qty=scan.qty,
        order_id=scan.order_id,
        at=scan.received_at,
    )
    if pending is not None and not pending.deltas:
        # the transaction's first scan, recorded by picking.scans.once: its rows go with the scan's own row (in the
        # same statement on PostgreSQL) instead of a write of their own before the commit
        own = Deltas()
        apply_scan(own, counted, {order_id: list(known) for order_id, known in quality.items()})
        upserts = _row_upserts(own)
        if upserts and with_scan_row(upserts[0]):
            for upsert in upserts[1:]:
                with_scan_row(upsert)
            return
    apply_scan(deltas, counted, quality)
    if pending is None:
        async with db.transaction():
            await write(deltas)


# -- writing ------------------------------------------------------------------------------------------------------


def _upsert(table: str, keys: Sequence[str], counters: Sequence[str], rows: int, extra: Sequence[str] = ()) -> str:
    columns = [*keys, *counters, *extra]
    row = "(" + ", ".join(["{}"] * len(columns)) + ")"
    sets = [f"{c} = {table}.{c} + EXCLUDED.{c}" for c in counters]
    for c in extra:  # first_* keeps the smaller value, last_* the larger
        op = "<" if c.startswith("first_") else ">"
        sets.append(f"{c} = CASE WHEN EXCLUDED.{c} {op} {table}.{c} THEN EXCLUDED.{c} ELSE {table}.{c} END")
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * rows)} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(sets)}"
    )


# PostgreSQL: a batch's rows go as one array per column (``unnest``), so a statement binds a few dozen values whatever
# its row count — binding every value one by one (VALUES lists) cost more in building the statement than in running
# it once a catch-up spans many buckets (a backfilled history).
_ARRAY_OF = {"bucket_start": "timestamptz[]", "day": "date[]", "kind": "text[]", "reason": "text[]"}
_ARRAY_OF |= {"status": "text[]", "role": "text[]"}
_UNNEST_ROWS = 5_000


def _upsert_unnest(table: str, keys: Sequence[str], counters: Sequence[str], extra: Sequence[str] = ()) -> str:
    columns = [*keys, *counters, *extra]
    arrays = ", ".join(f"{{}}::{_ARRAY_OF.get(c, 'bigint[]')}" for c in columns)
    head = _upsert(table, keys, counters, 1, extra)
    conflict = head[head.index(" ON CONFLICT") :]
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays}){conflict}"


# PostgreSQL: up to this many rows go as a VALUES list of plain parameters, not as arrays. A PDA scan writes one row
# (its operator's day) in the scan's transaction: encoding a dozen one-element arrays and building the unnest
# statement cost about as much API CPU as the scan's own UPDATE and INSERT (py-spy under a 6,000/min peak).
_VALUES_ROWS = 4


@lru_cache(maxsize=64)
def _upsert_sql(
    table: str, keys: tuple[str, ...], counters: tuple[str, ...], rows: int, extra: tuple[str, ...], unnest: bool
) -> str:
    """The statement text, built once per shape (a scan's upsert runs hundreds of times a second)."""
    return _upsert_unnest(table, keys, counters, extra) if unnest else _upsert(table, keys, counters, rows, extra)


async def _write_rows(
    table: str, keys: Sequence[str], counters: Sequence[str], rows: list[tuple[object, ...]], extra: Sequence[str] = ()
) -> None:
    shape = (table, tuple(keys), tuple(counters))
    if not db.is_sqlite() and len(rows) > _VALUES_ROWS:
        for chunk in db.chunks(rows, _UNNEST_ROWS):
            await db.execute(
                _upsert_sql(*shape, 0, tuple(extra), True), *(list(col) for col in zip(*chunk, strict=True))
            )
        return
    width = len(keys) + len(counters) + len(extra)
    for chunk in db.chunks(rows, db.rows_per_statement(width)):
        args = [value for row in chunk for value in row]
        await db.execute(_upsert_sql(*shape, len(chunk), tuple(extra), False), *args)


_BUCKET_KEYS = ("bucket_start", "channel", "warehouse", "shard")
_REASON_KEYS = ("bucket_start", "channel", "warehouse", "shard", "kind", "reason")
_STATUS_KEYS = ("channel", "warehouse", "shard", "status")
_OPERATOR_KEYS = ("day", "warehouse", "user_id", "role")
_SPAN = ("first_scan_s", "last_scan_s")


# The upserts' parameter types on PostgreSQL, by column (bigint otherwise).
_TYPE_OF = {column: kind.removesuffix("[]") for column, kind in _ARRAY_OF.items()}


@lru_cache(maxsize=16)
def _on_conflict(table: str, keys: tuple[str, ...], counters: tuple[str, ...], extra: tuple[str, ...]) -> str:
    head = _upsert(table, keys, counters, 1, extra)
    return head[head.index("ON CONFLICT") :]


def _row_upserts(deltas: Deltas) -> list[ScanWrite]:
    """``deltas`` as one upsert per row (what :func:`write` writes), for a scan's rows to go with its own row."""
    upserts: list[ScanWrite] = []
    for table, keys, counters, rows, extra in _tables(deltas):
        columns = (*keys, *counters, *extra)
        on_conflict = _on_conflict(table, tuple(keys), tuple(counters), tuple(extra))
        types = tuple(_TYPE_OF.get(c, "bigint") for c in columns)
        upserts += [row_upsert(table, columns, types, on_conflict, row) for row in rows]
    return upserts


_Rows = tuple[str, Sequence[str], Sequence[str], list[tuple[object, ...]], Sequence[str]]


def _tables(deltas: Deltas) -> list[_Rows]:
    """What ``deltas`` writes: (table, key columns, counter columns, rows, extra columns), rows in key order, in the
    order the tables are written."""
    tables: list[_Rows] = []
    if deltas.buckets:
        bucket_rows: list[tuple[object, ...]] = [
            (*key, *(counters.get(name, 0) for name in ORDER_BUCKET_COUNTERS))
            for key, counters in sorted(deltas.buckets.items())
            if any(counters.values())
        ]
        tables.append(("rollup_order_bucket", _BUCKET_KEYS, ORDER_BUCKET_COUNTERS, bucket_rows, ()))
    if deltas.reasons:
        reason_rows: list[tuple[object, ...]] = [(*k, n) for k, n in sorted(deltas.reasons.items()) if n]
        tables.append(("rollup_reason_bucket", _REASON_KEYS, ("orders",), reason_rows, ()))
    if deltas.statuses:
        status_rows: list[tuple[object, ...]] = [(*k, n) for k, n in sorted(deltas.statuses.items()) if n]
        tables.append(("rollup_status_count", _STATUS_KEYS, ("orders",), status_rows, ()))
    if deltas.operators:
        operator_rows: list[tuple[object, ...]] = [
            (*key, *(counters.get(name, 0) for name in OPERATOR_COUNTERS), *deltas.first_last[key])
            for key, counters in sorted(deltas.operators.items())
        ]
        tables.append(("rollup_operator_day", _OPERATOR_KEYS, OPERATOR_COUNTERS, operator_rows, _SPAN))
    if deltas.quality:
        quality_rows: list[tuple[object, ...]] = [
            (order_id, errors, packs) for order_id, (errors, packs) in sorted(deltas.quality.items())
        ]
        tables.append(("rollup_order_quality", ("order_id",), ("errors", "packs"), quality_rows, ()))
    return tables


async def write(deltas: Deltas) -> None:
    """Add ``deltas`` to the rollup tables (in the current transaction), rows in key order, table by table."""
    for table, keys, counters, rows, extra in _tables(deltas):
        if rows:
            await _write_rows(table, keys, counters, rows, extra)

