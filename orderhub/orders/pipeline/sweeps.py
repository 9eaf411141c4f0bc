"""Sweeps the worker runs on a schedule: orders of "wait" channels held for stock go back through routing
(:func:`retry_awaiting_stock`), and orders left in a processing status are queued again
(:func:`sweep_stuck_orders`)."""

from __future__ import annotations

import logging
from datetime import timedelta

from orderhub import clock, db
from orderhub.errors import Conflict
from orderhub.orders.pipeline.reservation import AWAITING_STOCK
from orderhub.orders.service import enqueue_processing, transition
from orderhub.orders.state import PROCESSING, OrderStatus
from orderhub.orders.tables import Order

__all__ = ["retry_awaiting_stock", "sweep_stuck_orders"]

log = logging.getLogger("orderhub.pipeline")
S = OrderStatus


async def retry_awaiting_stock(older_than_seconds: int = 60, limit: int = 500) -> int:
    """Orders of "wait" channels held for stock go back through routing now and then (stock may have come)."""
    cutoff = clock.now() - timedelta(seconds=older_than_seconds)
    rows = await (
        Order.select(Order.id)
        .where((Order.status == S.HELD.value) & (Order.hold_queue == AWAITING_STOCK) & (Order.updated_at < cutoff))
        .order_by(Order.updated_at)
        .limit(limit)
    )
    retried = 0
    for row in rows:
        try:
            async with db.transaction():
                await transition(int(row["id"]), S.RECEIVED, expected=S.HELD, data={"note": "重新检查库存"})
        except Conflict:
            continue  # released or cancelled meanwhile
        retried += 1
    if rows:
        await enqueue_processing([int(row["id"]) for row in rows])
    return retried


async def sweep_stuck_orders(stuck_after_seconds: int, limit: int = 1000) -> int:
    """Re-enqueue orders left in a processing status (lost job, dead worker, Redis restart)."""
    cutoff = clock.now() - timedelta(seconds=stuck_after_seconds)
    rows = await (
        Order.select(Order.id)
        .where(Order.status.is_in([s.value for s in PROCESSING]) & (Order.updated_at < cutoff))
        .order_by(Order.updated_at)
        .limit(limit)
    )
    ids = [int(row["id"]) for row in rows]
    if ids:
        log.info("re-enqueueing stuck orders", extra={"count": len(ids)})
        await enqueue_processing(ids)
    return len(ids)
