"""Shipping an order: the goods leave the warehouse with a carrier and a waybill number.

``ship_order`` moves a packed order (or a ready one shipped by hand, 手工发货) to ``shipped`` in one transaction:
stock is consumed (on hand and reserved both go down), its shipments are closed, an ``order.shipped`` event is
recorded and published, and — for orders from a platform — a write-back row is written so the platform is told
(sent by a job, retried until the platform accepts); a replacement order (补发单, ``reship_of``) has none.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Final

import msgspec

from orderhub import clock, db
from orderhub.carriers import catalogue as carrier_catalogue
from orderhub.channels import catalogue as platform_catalogue
from orderhub.errors import NotFound, ValidationFailed
from orderhub.events import Topic, order_topic, publish_after_commit
from orderhub.inventory.service import consume
from orderhub.orders.events import OrderEventType, OrderShipped
from orderhub.orders.pipeline.merge import recompute_shipment
from orderhub.orders.service import record_event, transition
from orderhub.orders.state import OrderStatus
from orderhub.orders.tables import Order, OrderLine, PlatformWriteback
from orderhub.queue import JobName, enqueue
from orderhub.routing.tables import Shipment

__all__ = ["CARRIERS", "PLATFORMS_WITH_WRITEBACK", "ShippedView", "ship_order", "writeback_key"]

S = OrderStatus
# The hub's carrier codes, from the carrier catalogue (platform adapters map them to each platform's own codes).
CARRIERS: Final = carrier_catalogue.CODES
# Orders from these platforms are confirmed back to the platform when they ship (the platform catalogue).
PLATFORMS_WITH_WRITEBACK: Final = platform_catalogue.WRITEBACK_PLATFORMS


class ShippedView(msgspec.Struct, frozen=True, kw_only=True):
    order_id: int
    carrier: str
    waybill_no: str
    writeback_id: int | None
    at: datetime


def writeback_key(writeback_id: int) -> str:
    return f"writeback:{writeback_id}"


async def ship_order(order_id: int, *, carrier: str, waybill_no: str, actor: str) -> ShippedView:
    carrier = carrier.strip().upper()
    waybill_no = waybill_no.strip()
    if carrier not in CARRIERS:
        raise ValidationFailed(f"未知承运商，可选：{'、'.join(CARRIERS)}", field="carrier")
    if not waybill_no or len(waybill_no) > 64 or not waybill_no.replace("-", "").isalnum():
        raise ValidationFailed("运单号为 1–64 位字母、数字或 -", field="waybill_no")
    now = clock.now()
    writeback_id: int | None = None
    async with db.transaction():
        row = (
            await Order.select(
                Order.status,
                Order.external_id,
                Order.channel,
                Order.channel.code,
                Order.channel.platform,
                Order.reship_of,
            )
            .where(Order.id == order_id)
            .first()
        )
        if row is None:
            raise NotFound("订单不存在", field="order_id")
        status = S(row["status"])
        await transition(
            order_id,
            S.SHIPPED,
            expected=status,
            data={"carrier": carrier, "waybill_no": waybill_no},
            actor=actor,
            values={Order.shipped_waybill_no: waybill_no},
        )
        lines = await OrderLine.select(
            OrderLine.sku, OrderLine.warehouse, OrderLine.reserved_qty, OrderLine.shipment
        ).where((OrderLine.order == order_id) & (OrderLine.reserved_qty > 0))
        by_warehouse: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for line in lines:
            by_warehouse[int(line["warehouse"])][int(line["sku"])] += int(line["reserved_qty"])
        for warehouse_id in sorted(by_warehouse):
            await consume(warehouse_id, by_warehouse[warehouse_id])
        await OrderLine.update({OrderLine.reserved_qty: 0}).where(OrderLine.order == order_id)
        shipment_ids = sorted({int(line["shipment"]) for line in lines if line["shipment"] is not None})
        for shipment_id in shipment_ids:
            others = await OrderLine.exists().where((OrderLine.shipment == shipment_id) & (OrderLine.order != order_id))
            if others:  # a merged shipment (合单) goes on with the other orders; this one leaves it
                await OrderLine.update({OrderLine.shipment: None}).where(
                    (OrderLine.order == order_id) & (OrderLine.shipment == shipment_id)
                )
                await recompute_shipment(shipment_id)
            else:
                await Shipment.update({Shipment.status: "shipped"}).where(Shipment.id == shipment_id)
        await record_event(
            order_id, OrderEventType.SHIPPED, data={"carrier": carrier, "waybill_no": waybill_no}, actor=actor
        )
        # A replacement order (补发单) is the hub's own: the platform has no such order to confirm.
        if row["channel.platform"] in PLATFORMS_WITH_WRITEBACK and row["reship_of"] is None:
            inserted = await PlatformWriteback.insert(
                PlatformWriteback(
                    order=order_id,
                    channel=row["channel"],
                    external_id=row["external_id"],
                    carrier=carrier,
                    waybill_no=waybill_no,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            ).returning(PlatformWriteback.id)
            writeback_id = int(inserted[0]["id"])
            new_id = writeback_id

            async def _send() -> None:
                await enqueue(JobName.WRITE_BACK_SHIPMENT, key=writeback_key(new_id), timeout=300, writeback_id=new_id)

            db.after_commit(_send)
        publish_after_commit(
            OrderShipped(
                order_id=order_id,
                channel=row["channel.code"],
                external_id=row["external_id"],
                carrier=carrier,
                waybill_no=waybill_no,
                at=now,
            ),
            Topic.ORDERS,
            order_topic(order_id),
        )
    return ShippedView(order_id=order_id, carrier=carrier, waybill_no=waybill_no, writeback_id=writeback_id, at=now)
