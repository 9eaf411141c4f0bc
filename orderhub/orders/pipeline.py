"""The worker's order pipeline: validate SKUs → reserve stock → ready (or exception with a reason).

Each step is its own transaction and is idempotent: a step only runs from the status it expects, so a job
retried after a crash (or run twice by the sweeper) continues where the order is and never double-reserves.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from typing import NamedTuple

from orderhub import clock, db
from orderhub.catalog.tables import Sku
from orderhub.errors import NotFound
from orderhub.inventory.service import StockShortage, release, reserve
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import enqueue_processing, record_event, transition
from orderhub.orders.state import PROCESSING, RELEASABLE, ExceptionReason, OrderStatus
from orderhub.orders.tables import Order, OrderLine

__all__ = ["Processed", "cancel_order", "process_order", "sweep_stuck_orders"]

log = logging.getLogger("orderhub.pipeline")
S = OrderStatus


class Processed(NamedTuple):
    status: str  # where the order is now ("missing" if there is no such order)
    advanced: bool  # whether this run moved it


async def process_order(order_id: int) -> Processed:
    """Drive one order as far as the pipeline goes."""
    row = await Order.select(Order.status).where(Order.id == order_id).first()
    if row is None:
        return Processed("missing", False)
    start = status = S(row["status"])
    if status == S.RECEIVED:
        status = await _validate(order_id)
    if status == S.VALIDATED:
        status = await _reserve(order_id)
    if status == S.RESERVED:  # only if a previous run died between the two transitions
        async with db.transaction():
            await transition(order_id, S.READY, expected=S.RESERVED)
        status = S.READY
    return Processed(status.value, status != start)


async def _validate(order_id: int) -> OrderStatus:
    lines = await OrderLine.select(OrderLine.id, OrderLine.sku_code).where(OrderLine.order == order_id)
    codes = sorted({line["sku_code"] for line in lines})
    known = {
        row["code"]: int(row["id"])
        for row in await Sku.select(Sku.id, Sku.code).where(Sku.code.is_in(codes) & (Sku.active == True))  # noqa: E712
    }
    unknown = [code for code in codes if code not in known]
    async with db.transaction():
        if unknown:
            await transition(
                order_id,
                S.EXCEPTION,
                expected=S.RECEIVED,
                reason=ExceptionReason.UNKNOWN_SKU.value,
                data={"skus": unknown, "message": f"未知商品编码：{'、'.join(unknown)}"},
            )
            return S.EXCEPTION
        for line in lines:
            await OrderLine.update({OrderLine.sku: known[line["sku_code"]]}).where(OrderLine.id == line["id"])
        await transition(order_id, S.VALIDATED, expected=S.RECEIVED)
    return S.VALIDATED


async def _reserve(order_id: int) -> OrderStatus:
    order = await Order.select(Order.channel.default_warehouse).where(Order.id == order_id).first()
    assert order is not None
    warehouse_id = order["channel.default_warehouse"]
    if warehouse_id is None:
        async with db.transaction():
            await transition(
                order_id,
                S.EXCEPTION,
                expected=S.VALIDATED,
                reason=ExceptionReason.NO_WAREHOUSE.value,
                data={"message": "渠道未设置默认发货仓"},
            )
        return S.EXCEPTION
    lines = await OrderLine.select(OrderLine.id, OrderLine.sku, OrderLine.sku_code, OrderLine.qty).where(
        OrderLine.order == order_id
    )
    wanted: dict[int, int] = defaultdict(int)
    codes: dict[int, str] = {}
    for line in lines:
        wanted[int(line["sku"])] += int(line["qty"])
        codes[int(line["sku"])] = line["sku_code"]
    try:
        async with db.transaction():
            # Status first: it locks the order row, so a second runner waits here and then finds nothing to do.
            await transition(order_id, S.RESERVED, expected=S.VALIDATED, data={"warehouse_id": warehouse_id})
            await reserve(warehouse_id, wanted, codes)
            for line in lines:
                await OrderLine.update({OrderLine.reserved_qty: line["qty"], OrderLine.warehouse: warehouse_id}).where(
                    OrderLine.id == line["id"]
                )
            await Order.update({Order.warehouse: warehouse_id}).where(Order.id == order_id)
            await record_event(
                order_id,
                OrderEventType.STOCK_RESERVED,
                data={"warehouse_id": warehouse_id, "skus": {codes[s]: q for s, q in wanted.items()}},
            )
            await transition(order_id, S.READY, expected=S.RESERVED)
    except StockShortage as shortage:
        async with db.transaction():
            await transition(
                order_id,
                S.EXCEPTION,
                expected=S.VALIDATED,
                reason=ExceptionReason.OUT_OF_STOCK.value,
                data={"warehouse_id": warehouse_id, **shortage.extra, "message": shortage.message},
            )
        return S.EXCEPTION
    return S.READY


async def cancel_order(order_id: int, *, reason: str, actor: str) -> None:
    """Cancel an order not yet picked; stock it holds is released in the same transaction."""
    async with db.transaction():
        row = await Order.select(Order.status).where(Order.id == order_id).first()
        if row is None:
            raise NotFound("订单不存在", field="id")
        status = S(row["status"])
        await transition(order_id, S.CANCELLED, expected=status, reason="cancelled", data={"note": reason}, actor=actor)
        if status in RELEASABLE:
            lines = await OrderLine.select(
                OrderLine.id, OrderLine.sku, OrderLine.warehouse, OrderLine.reserved_qty
            ).where((OrderLine.order == order_id) & (OrderLine.reserved_qty > 0))
            by_warehouse: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
            for line in lines:
                by_warehouse[int(line["warehouse"])][int(line["sku"])] += int(line["reserved_qty"])
            for warehouse_id in sorted(by_warehouse):
                await release(warehouse_id, by_warehouse[warehouse_id])
            if lines:
                await OrderLine.update({OrderLine.reserved_qty: 0}).where(OrderLine.order == order_id)
                await record_event(
                    order_id,
                    OrderEventType.STOCK_RELEASED,
                    data={"warehouses": {str(w): dict(s) for w, s in by_warehouse.items()}},
                    actor=actor,
                )


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
