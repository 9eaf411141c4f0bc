"""Ship-by SLA: which unshipped orders will miss ``ship_by``, and a one-time alert when one becomes at risk.

"At risk" = not yet shipped (nor cancelled) and ``ship_by`` falls within the margin
(ORDERHUB_AT_RISK_MARGIN_MINUTES, default 4 h: roughly what picking, packing and handover take at the
current pace); overdue orders are at risk too.
"""

from __future__ import annotations

from datetime import timedelta

from orderhub import clock, db
from orderhub.events import Topic, order_topic, publish_after_commit
from orderhub.orders.commands import OrderView
from orderhub.orders.events import OrderAtRisk, OrderEventType
from orderhub.orders.service import ORDER_COLUMNS, order_view, record_event
from orderhub.orders.state import OrderStatus
from orderhub.orders.tables import Order

__all__ = ["OPEN", "list_at_risk", "mark_at_risk"]

S = OrderStatus
# Statuses in which an order can still be shipped on time.
OPEN = [s.value for s in (S.RECEIVED, S.VALIDATED, S.RESERVED, S.READY, S.PICKING, S.PACKED, S.HELD, S.EXCEPTION)]


async def list_at_risk(*, margin_minutes: int, warehouse_id: int | None = None, limit: int = 200) -> list[OrderView]:
    """Open orders whose ship_by is within the margin (or past), soonest first."""
    horizon = clock.now() + timedelta(minutes=margin_minutes)
    query = (
        Order.select(*ORDER_COLUMNS)
        .where(Order.status.is_in(OPEN) & (Order.ship_by <= horizon))
        .order_by(Order.ship_by)
        .limit(limit)
    )
    if warehouse_id is not None:
        query = query.where(Order.warehouse == warehouse_id)
    return [order_view(row) for row in await query]


async def mark_at_risk(*, margin_minutes: int, limit: int = 1000) -> int:
    """Flag newly at-risk orders once each: an order_event and an alert on the alerts topic."""
    now = clock.now()
    horizon = now + timedelta(minutes=margin_minutes)
    async with db.transaction():
        rows = await (
            Order.select(Order.id, Order.status, Order.ship_by, Order.external_id, Order.channel.code)
            .where(Order.status.is_in(OPEN) & (Order.ship_by <= horizon) & Order.at_risk_at.is_null())
            .order_by(Order.ship_by)
            .limit(limit)
        )
        for row in rows:
            await Order.update({Order.at_risk_at: now}).where(Order.id == row["id"])
            overdue = row["ship_by"] <= now
            await record_event(
                row["id"],
                OrderEventType.AT_RISK,
                reason="overdue" if overdue else "due_soon",
                data={"ship_by": row["ship_by"].isoformat(), "status": row["status"]},
            )
            publish_after_commit(
                OrderAtRisk(
                    order_id=row["id"],
                    channel=row["channel.code"],
                    external_id=row["external_id"],
                    status=row["status"],
                    ship_by=row["ship_by"],
                    at=now,
                ),
                Topic.ALERTS,
                order_topic(row["id"]),
            )
    return len(rows)
