"""Rebuilding the rollups from the event logs (``order_event``, ``pda_scan``): empty them and replay every event
through the same mapping the incremental upkeep uses, in one transaction (``orderhub rollups-rebuild``).

Order events are read one range of orders at a time (each order's events in id order), scans in id order, both in
chunks; deltas are written whenever enough rows have gathered. On PostgreSQL the rollup tables are locked first, so a
transaction that records events while the rebuild runs waits for it and then adds its own deltas on top.
"""

from __future__ import annotations

import time
from datetime import datetime

import msgspec

from orderhub import db
from orderhub.insights.deltas import COUNTED_EVENTS, Deltas, OrderFacts, ScanIn, apply_order_event, apply_scan
from orderhub.insights.upkeep import event_in, write

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


class _OrderRow(msgspec.Struct):
    id: int
    channel: int
    paid_amount: int
    paid_at: datetime | None
    ship_by: datetime | None


class _EventRow(msgspec.Struct):
    order_id: int
    type: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    data: str | None
    created_at: datetime


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
        if not db.is_sqlite():
            await db.execute(f"LOCK TABLE {', '.join(ROLLUP_TABLES)} IN EXCLUSIVE MODE")
        for table in ROLLUP_TABLES:
            await db.execute(f"DELETE FROM {table}")
        deltas = Deltas()
        last = 0
        while True:
            batch = await db.fetch_as(
                _OrderRow,
                "SELECT id, channel, paid_amount, paid_at, ship_by FROM sales_order WHERE id > {} ORDER BY id LIMIT {}",
                last,
                orders_per_chunk,
            )
            if not batch:
                break
            facts = {
                r.id: OrderFacts(channel=r.channel, paid_fen=r.paid_amount, paid_at=r.paid_at, ship_by=r.ship_by)
                for r in batch
            }
            rows = await db.fetch_as(
                _EventRow,
                'SELECT "order" AS order_id, type, from_status, to_status, reason, data, created_at FROM order_event '
                f'WHERE "order" >= {{}} AND "order" <= {{}} AND type IN ({db.placeholders(len(types))}) '
                'ORDER BY "order", id',
                batch[0].id,
                batch[-1].id,
                *types,
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
    return RebuildReport(orders=orders, order_events=events, scans=scans, seconds=round(time.monotonic() - started, 3))
