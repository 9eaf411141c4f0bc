"""Back-office commands on one order, each in one transaction: cancel it, release its hold, fix or replace its
receiver, send an exception back through the pipeline, and give back the stock and shipment places an order holds
(:func:`release_reservation`, which platform changes use too)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import InvalidTransition, NotFound, ValidationFailed
from orderhub.inventory.service import release
from orderhub.orders import pii
from orderhub.orders.commands import Receiver
from orderhub.orders.events import OrderEventType
from orderhub.orders.pipeline.merge import recompute_shipment
from orderhub.orders.service import (
    full_address,
    process_after_commit,
    receiver_columns,
    receiver_signature,
    record_event,
    transition,
)
from orderhub.orders.state import RELEASABLE, OrderStatus
from orderhub.orders.tables import Order, OrderLine
from orderhub.rules.service import HoldRequest

__all__ = [
    "cancel_order",
    "fix_receiver",
    "release_hold",
    "release_reservation",
    "replace_receiver",
    "retry_exception",
]

S = OrderStatus


async def cancel_order(order_id: int, *, reason: str, actor: str) -> None:
    """Cancel an order not yet picked; stock it holds is released in the same transaction."""
    async with db.transaction():
        row = await Order.select(Order.status).where(Order.id == order_id).first()
        if row is None:
            raise NotFound("订单不存在", field="id")
        status = S(row["status"])
        await transition(order_id, S.CANCELLED, expected=status, reason="cancelled", data={"note": reason}, actor=actor)
        if status in RELEASABLE:
            await release_reservation(order_id, actor=actor)


async def release_reservation(order_id: int, *, actor: str) -> None:
    """Give back the stock the order holds and take its lines out of their shipments (a merged shipment goes on
    with the other orders' lines). Call inside a transaction."""
    lines = await OrderLine.select(OrderLine.id, OrderLine.sku, OrderLine.warehouse, OrderLine.reserved_qty).where(
        (OrderLine.order == order_id) & (OrderLine.reserved_qty > 0)
    )
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
    shipment_ids = {
        int(r["shipment"])
        for r in await OrderLine.select(OrderLine.shipment).where(
            (OrderLine.order == order_id) & OrderLine.shipment.is_not_null()
        )
    }
    if shipment_ids:
        await OrderLine.update({OrderLine.shipment: None, OrderLine.warehouse: None}).where(OrderLine.order == order_id)
        for shipment_id in sorted(shipment_ids):
            await recompute_shipment(shipment_id)


async def release_hold(order_id: int, *, note: str, actor: str) -> str:
    """Release the current hold. The next pending hold (if any) takes its place; otherwise the order
    re-enters the pipeline (rules and the duplicate check are not run again)."""
    async with db.transaction():
        row = (
            await Order.select(Order.status, Order.hold_queue, Order.pending_holds).where(Order.id == order_id).first()
        )
        if row is None:
            raise NotFound("订单不存在", field="id")
        if row["status"] != S.HELD.value:
            raise InvalidTransition("只有已挂起的订单可以放行", field="status", extra={"status": row["status"]})
        pending = msgspec.json.decode(row["pending_holds"] or "[]", type=list[HoldRequest])
        await record_event(
            order_id, OrderEventType.HOLD_RELEASED, reason=row["hold_queue"], data={"note": note}, actor=actor
        )
        if pending:
            nxt, rest = pending[0], pending[1:]
            await Order.update(
                {
                    Order.hold_queue: nxt.queue,
                    Order.hold_reason: nxt.reason,
                    Order.pending_holds: msgspec.json.encode(rest).decode(),
                    Order.updated_at: clock.now(),
                }
            ).where(Order.id == order_id)
            return S.HELD.value
        await release_reservation(order_id, actor=actor)  # (a no-op unless the hold kept stock)
        await transition(order_id, S.RECEIVED, expected=S.HELD, data={"note": note}, actor=actor)

        process_after_commit(order_id)
    return S.RECEIVED.value


async def fix_receiver(order_id: int, receiver: Receiver, *, actor: str) -> None:
    """Correct the receiver of an order in exception and send it through the pipeline again."""
    if not receiver.name.strip() or not receiver.phone.strip() or not full_address(receiver):
        raise ValidationFailed("请填写收货人、电话和地址", field="receiver")
    for field in ("name", "phone"):  # a platform's masked form (张*, 138****0000) is nobody's name or phone
        if "*" in getattr(receiver, field):
            raise ValidationFailed(
                "收货人姓名和电话不能是脱敏信息（含 *）：请先解密查看或向客户核实后填写完整信息",
                field=f"receiver.{field}",
            )
    async with db.transaction():
        await replace_receiver(order_id, receiver, actor=actor)
        await retry_exception(order_id, note="修改收货信息", actor=actor)


async def replace_receiver(order_id: int, receiver: Receiver, *, actor: str, from_source: bool = False) -> None:
    """Put a new receiver on the order, as given (standardised again when the order next passes validation).
    ``from_source``: the platform sent it, so it is also what later re-reads are compared with. Call inside a
    transaction."""
    # Outside China the one-line address is made from the structured fields, which stay the truth.
    structured = not receiver.address.strip() or receiver.country != "CN"
    stored = receiver if structured else msgspec.structs.replace(receiver, province="", city="", district="", detail="")
    values: dict[Any, Any] = {getattr(Order, name): value for name, value in receiver_columns(stored).items()}
    values.update(
        # the duty estimate belonged to the old destination: the pipeline estimates again for the new one
        {Order.receiver_division_code: "", Order.receiver_phone_ext: "", Order.customs_estimate: "",
         Order.updated_at: clock.now()}
    )
    if from_source:
        values[Order.source_receiver] = receiver_signature(receiver)
    await Order.update(values).where(Order.id == order_id)
    # The event says where to (province, city, district) and to whom, masked: events are never a copy of the
    # customer's clear data.
    await record_event(
        order_id,
        OrderEventType.RECEIVER_CHANGED,
        data={
            "place": "".join(p.strip() for p in (receiver.province, receiver.city, receiver.district)),
            "name": pii.mask_name(receiver.name),
        },
        actor=actor,
    )


async def retry_exception(order_id: int, *, note: str, actor: str) -> None:
    """Send an order in exception back through the pipeline (after the cause was fixed: stock arrived,
    SKU created, address corrected)."""
    async with db.transaction():
        row = await Order.select(Order.status).where(Order.id == order_id).first()
        if row is None:
            raise NotFound("订单不存在", field="id")
        if row["status"] != S.EXCEPTION.value:
            raise InvalidTransition("只有异常订单可以重新处理", field="status", extra={"status": row["status"]})
        # An order intercepted in the warehouse still holds its stock: give it back before routing again.
        await release_reservation(order_id, actor=actor)
        await transition(order_id, S.RECEIVED, expected=S.EXCEPTION, data={"note": note}, actor=actor)
        await record_event(order_id, OrderEventType.RETRIED, data={"note": note}, actor=actor)

        process_after_commit(order_id)
