"""Keeping the rollups up to date: listeners on the order-event flush and on PDA scans turn what a transaction
recorded into counter deltas, summed per row, and write them as chunked multi-row UPSERTs just before it commits.

A transaction that rolls back (a job that failed and will be retried) takes its deltas with it; an order event or a
scan is recorded once (ingest is idempotent on channel + external id, scans on device + client id), so nothing is
counted twice. The writes are the transaction's last statements, rows in key order, so the hot counter rows are
locked only until the COMMIT that follows and always in the same order (no deadlock between two writers).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

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
from orderhub.orders.tables import OrderEvent
from orderhub.picking.scans import ScanLogged

__all__ = ["event_in", "load_facts", "on_order_events", "on_scan", "write"]

log = logging.getLogger("orderhub.insights")

_STATUS_CHANGED = OrderEventType.STATUS_CHANGED.value
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


class _FactsRow(msgspec.Struct):
    id: int
    channel: int
    warehouse: int | None
    paid_amount: int
    paid_at: datetime | None
    ship_by: datetime | None


async def load_facts(order_ids: Sequence[int]) -> dict[int, tuple[OrderFacts, int]]:
    """Per order: what the rollups need of it, and its warehouse now (0 for none)."""
    found: dict[int, tuple[OrderFacts, int]] = {}
    for chunk in db.chunks(order_ids):
        # Raw SQL: one round trip per transaction on the pipeline's hot path.
        rows = await db.fetch_as(
            _FactsRow,
            "SELECT id, channel, warehouse, paid_amount, paid_at, ship_by FROM sales_order "
            f"WHERE id IN ({db.placeholders(len(chunk))})",
            *chunk,
        )
        for row in rows:
            facts = OrderFacts(channel=row.channel, paid_fen=row.paid_amount, paid_at=row.paid_at, ship_by=row.ship_by)
            found[row.id] = (facts, row.warehouse or 0)
    return found


class _DataRow(msgspec.Struct):
    data: str


async def _routed_before(order_id: int) -> int:
    """The order's warehouse as its committed events say (the latest → ready change that routed it); read only when
    a transaction re-routes an order after counting something that needs its warehouse (rare)."""
    rows = await db.fetch_as(
        _DataRow,
        "SELECT data FROM order_event WHERE \"order\" = {} AND type = {} AND to_status = 'ready' ORDER BY id DESC",
        order_id,
        _STATUS_CHANGED,
    )
    for row in rows:
        routed = routed_to(event_in(order_id, _STATUS_CHANGED, None, "ready", None, row.data, datetime.min))
        if routed is not None:
            return routed
    return 0


async def on_order_events(rows: Sequence[OrderEvent]) -> None:
    """ORDER_EVENTS_FLUSH_HOOKS listener: count the order events a transaction is about to insert."""
    by_order: defaultdict[int, list[EventIn]] = defaultdict(list)
    for row in rows:
        if row.type in COUNTED_EVENTS:
            order_id = int(row.order)
            by_order[order_id].append(
                event_in(order_id, row.type, row.from_status, row.to_status, row.reason, row.data, row.created_at)
            )
    if not by_order:
        return
    facts = await load_facts(sorted(by_order))
    pending = _pending()
    deltas = pending.deltas if pending is not None else Deltas()
    for order_id, events in by_order.items():
        known = facts.get(order_id)
        if known is None:
            log.warning("order %s of a recorded event not found; not counted", order_id)
            continue
        order, warehouse = known
        first_route = next((i for i, e in enumerate(events) if e.warehouse_ids is not None), None)
        if first_route is not None:  # the column already says where this transaction routed it
            warehouse = 0
            if any(needs_warehouse(e) for e in events[:first_route]):
                warehouse = await _routed_before(order_id)
        for event in events:
            warehouse = apply_order_event(deltas, order, event, warehouse)
    if pending is None:
        async with db.transaction():
            await write(deltas)


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
    apply_scan(
        deltas,
        ScanIn(
            user_id=scan.user_id,
            warehouse_id=scan.warehouse_id,
            kind=scan.kind,
            ok=scan.ok,
            error=scan.error,
            qty=scan.qty,
            order_id=scan.order_id,
            at=scan.received_at,
        ),
        quality,
    )
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


async def _write_rows(
    table: str, keys: Sequence[str], counters: Sequence[str], rows: list[tuple[object, ...]], extra: Sequence[str] = ()
) -> None:
    width = len(keys) + len(counters) + len(extra)
    for chunk in db.chunks(rows, db.rows_per_statement(width)):
        args = [value for row in chunk for value in row]
        await db.execute(_upsert(table, keys, counters, len(chunk), extra), *args)


_BUCKET_KEYS = ("bucket_start", "channel", "warehouse", "shard")
_REASON_KEYS = ("bucket_start", "channel", "warehouse", "shard", "kind", "reason")
_STATUS_KEYS = ("channel", "warehouse", "shard", "status")
_OPERATOR_KEYS = ("day", "warehouse", "user_id", "role")
_SPAN = ("first_scan_s", "last_scan_s")


async def write(deltas: Deltas) -> None:
    """Add ``deltas`` to the rollup tables (in the current transaction), rows in key order, table by table."""
    if deltas.buckets:
        bucket_rows: list[tuple[object, ...]] = [
            (*key, *(counters.get(name, 0) for name in ORDER_BUCKET_COUNTERS))
            for key, counters in sorted(deltas.buckets.items())
            if any(counters.values())
        ]
        await _write_rows("rollup_order_bucket", _BUCKET_KEYS, ORDER_BUCKET_COUNTERS, bucket_rows)
    if deltas.reasons:
        reason_rows: list[tuple[object, ...]] = [(*k, n) for k, n in sorted(deltas.reasons.items()) if n]
        await _write_rows("rollup_reason_bucket", _REASON_KEYS, ("orders",), reason_rows)
    if deltas.statuses:
        status_rows: list[tuple[object, ...]] = [(*k, n) for k, n in sorted(deltas.statuses.items()) if n]
        await _write_rows("rollup_status_count", _STATUS_KEYS, ("orders",), status_rows)
    if deltas.operators:
        operator_rows: list[tuple[object, ...]] = [
            (*key, *(counters.get(name, 0) for name in OPERATOR_COUNTERS), *deltas.first_last[key])
            for key, counters in sorted(deltas.operators.items())
        ]
        await _write_rows("rollup_operator_day", _OPERATOR_KEYS, OPERATOR_COUNTERS, operator_rows, _SPAN)
    if deltas.quality:
        quality_rows: list[tuple[object, ...]] = [
            (order_id, errors, packs) for order_id, (errors, packs) in sorted(deltas.quality.items())
        ]
        await _write_rows("rollup_order_quality", ("order_id",), ("errors", "packs"), quality_rows)
