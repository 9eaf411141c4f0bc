"""Rebuilding the rollups from the event logs (``order_event``, ``pda_scan``): empty them and replay every event
through the same mapping the incremental upkeep uses, in one transaction (``orderhub rollups-rebuild``).

Order events are read one range of orders at a time (each order's events in id order), scans in id order, both in
chunks; deltas are written whenever enough rows have gathered. On PostgreSQL the rollup tables are locked first, so a
transaction that records events while the rebuild runs waits for it and then adds its own deltas on top.

The catch-up job's cursor (``orderhub.insights.upkeep``) is locked too and left where the rebuild stopped: on
PostgreSQL the rebuild counts the events of transactions that had ended when it began (``txid`` below the horizon)
and the job counts the rest; on SQLite it counts every event and the cursor moves to the last one.
"""

from __future__ import annotations

import time
from datetime import datetime

import msgspec

from orderhub import db
from orderhub.insights.deltas import COUNTED_EVENTS, Deltas, ScanIn, apply_order_event, apply_scan
from orderhub.insights.upkeep import (
    CURSOR,
    EVENT_COLUMNS,
    FACTS_COLUMNS,
    EventRow,
    FactsRow,
    event_in,
    pg_horizon,
    write,
)

__all__ = ["ROLLUP_TABLES", "RebuildReport", "rebuild_rollups"]

ROLLUP_TABLES: tuple[str, ...] = (
    "rollup_order_bucket",
    "rollup_reason_bucket",
    "rollup_status_count",
    "rollup_operator_day",
    "rollup_order_quality",
)
_WRITE_EVERY = 20_000  # rows of deltas gathered before they are written


class RebuildReport(msgspec.Struct, frozen=True, kw_only=True):
    orders: int
    order_events: int
    scans: int
    seconds: float


class _Last(msgspec.Struct):
    id: int


class _ScanRow(msgspec.Struct):
    id: int
    picker: int | None
    warehouse: int
    kind: str
    ok: bool | int
    error: str
    qty: int
    order_id: int | None
    received_at: datetime


def _size(deltas: Deltas) -> int:
    return (
        len(deltas.buckets) + len(deltas.reasons) + len(deltas.statuses) + len(deltas.operators) + len(deltas.quality)
    )


async def rebuild_rollups(*, orders_per_chunk: int = 2_000, scans_per_chunk: int = 5_000) -> RebuildReport:
    """Empty every rollup table and count every order event and PDA scan again, in one transaction."""
    started = time.monotonic()
    orders = events = scans = 0
    types = sorted(COUNTED_EVENTS)
    async with db.transaction():
        sqlite = db.is_sqlite()
        await db.execute("SELECT txid FROM rollup_cursor WHERE name = {}" + db.for_update(), CURSOR)
        horizon = 0
        if not sqlite:
            await db.execute(f"LOCK TABLE {', '.join(ROLLUP_TABLES)} IN EXCLUSIVE MODE")
            horizon = await pg_horizon()
        for table in ROLLUP_TABLES:
            await db.execute(f"DELETE FROM {table}")
        deltas = Deltas()
        last = 0
        while True:
            batch = await db.fetch_as(
                FactsRow,
                f"SELECT {FACTS_COLUMNS} FROM sales_order WHERE id > {{}} ORDER BY id LIMIT {{}}",
                last,
                orders_per_chunk,
            )
            if not batch:
                break
            facts = {r.id: r.facts() for r in batch}
            rows = await db.fetch_as(
                EventRow,
                f"SELECT {EVENT_COLUMNS} FROM order_event "
                f'WHERE "order" >= {{}} AND "order" <= {{}} AND type IN ({db.placeholders(len(types))})'
                + ("" if sqlite else " AND txid < {}")
                + ' ORDER BY "order", id',
                batch[0].id,
                batch[-1].id,
                *types,
                *(() if sqlite else (horizon,)),
            )
            current, warehouse = 0, 0
            for row in rows:
                if row.order_id != current:
                    current, warehouse = row.order_id, 0
                event = event_in(
                    row.order_id, row.type, row.from_status, row.to_status, row.reason, row.data, row.created_at
                )
                warehouse = apply_order_event(deltas, facts[row.order_id], event, warehouse)
            orders += len(batch)
            events += len(rows)
            last = batch[-1].id
            if _size(deltas) >= _WRITE_EVERY:
                await write(deltas)
                deltas = Deltas()
        quality: dict[int, list[int]] = {}
        last = 0
        while True:
            scan_rows = await db.fetch_as(
                _ScanRow,
                'SELECT id, picker, warehouse, kind, ok, error, qty, "order" AS order_id, received_at FROM pda_scan '
                "WHERE id > {} ORDER BY id LIMIT {}",
                last,
                scans_per_chunk,
            )
            if not scan_rows:
                break
            for scan in scan_rows:
                if scan.picker is None:
                    continue
                apply_scan(
                    deltas,
                    ScanIn(
                        user_id=scan.picker,
                        warehouse_id=scan.warehouse,
                        kind=scan.kind,
                        ok=bool(scan.ok),
                        error=scan.error,
                        qty=scan.qty,
                        order_id=scan.order_id,
                        at=scan.received_at,
                    ),
                    quality,
                )
                scans += 1
            last = scan_rows[-1].id
            if _size(deltas) >= _WRITE_EVERY:
                await write(deltas)
                deltas = Deltas()
        await write(deltas)
        if sqlite:  # every event is counted (this transaction is the only writer): the job goes on after the last
            last_row = await db.fetch_one_as(_Last, "SELECT COALESCE(MAX(id), 0) AS id FROM order_event")
            await db.execute(
                "UPDATE rollup_cursor SET txid = 0, event_id = {} WHERE name = {}",
                last_row.id if last_row else 0,
                CURSOR,
            )
        else:  # the events of transactions from the horizon on are the job's
            await db.execute("UPDATE rollup_cursor SET txid = {}, event_id = 0 WHERE name = {}", horizon, CURSOR)
    return RebuildReport(orders=orders, order_events=events, scans=scans, seconds=round(time.monotonic() - started, 3))
