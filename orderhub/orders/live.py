"""The ``orders`` live feed: how many orders wait in each open status, hub-wide (``orders``) or in one warehouse
(``orders:{warehouse_id}``), with a delta for every new order and status change
(``orderhub.feed``; served by ``/ws/dash``).

Snapshot ``{"warehouse_id": …, "counts": {status: n}}`` over the open statuses (:data:`OPEN`; shipped, delivered and
cancelled orders are the rollups' business: counting them would scan the orders table). Delta
``{"order_id", "from", "to", "warehouse_id"}``: the client subtracts one from ``counts[from]`` and adds one to
``counts[to]`` for each key it has (``null`` or a status outside :data:`OPEN` changes nothing). When reservation
moves an order into a warehouse, that warehouse's topic gets ``from: null`` (it arrives) and the previous one's
``to: null`` (it leaves).
"""

from __future__ import annotations

from typing import Any

from piccolo.query.functions.aggregate import Count

from orderhub import feed
from orderhub.errors import CommonError, NotFound, PermissionDenied, ValidationFailed
from orderhub.inventory.tables import Warehouse
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import StatusChange
from orderhub.orders.state import OrderStatus
from orderhub.orders.tables import Order

__all__ = ["FAMILY", "OPEN", "WATCHERS", "allow", "on_order_event", "on_status_change", "snapshot"]

FAMILY = "orders"
S = OrderStatus
OPEN = [S.RECEIVED, S.VALIDATED, S.RESERVED, S.READY, S.PICKING, S.PACKED, S.HELD, S.EXCEPTION]
WATCHERS = frozenset({"admin", "manager", "finance", "approver"})  # the back office's readers


def _warehouse_arg(arg: str | None) -> int | None:
    if arg is None:
        return None
    if not arg.isdigit():
        raise ValidationFailed("仓库频道应为 orders:<仓库ID>", field="topics")
    return int(arg)


async def allow(viewer: feed.Viewer, arg: str | None) -> None:
    """Readers of the back office; a user bound to a warehouse only ``orders:{their warehouse id}``."""
    if viewer.role not in WATCHERS:
        raise PermissionDenied("没有权限查看订单看板", code=CommonError.FORBIDDEN)
    warehouse_id = _warehouse_arg(arg)
    if viewer.warehouse_id is not None and warehouse_id != viewer.warehouse_id:
        raise PermissionDenied(
            f"只能查看本仓库的数据（orders:{viewer.warehouse_id}）",
            code=CommonError.FORBIDDEN_WAREHOUSE,
            field="topics",
        )
    if warehouse_id is not None and not await Warehouse.exists().where(Warehouse.id == warehouse_id):
        raise NotFound("仓库不存在", field="topics")


async def snapshot(viewer: feed.Viewer, arg: str | None) -> dict[str, Any]:
    warehouse_id = _warehouse_arg(arg)
    where: Any = Order.status.is_in([s.value for s in OPEN])  # the status index: waiting orders only, never the history
    if warehouse_id is not None:
        where &= Order.warehouse == warehouse_id
    rows = await Order.select(Order.status, Count(alias="n")).where(where).group_by(Order.status)
    counts = {s.value: 0 for s in OPEN}
    for row in rows:
        counts[row["status"]] = int(row["n"])
    return {"warehouse_id": warehouse_id, "counts": counts}


async def on_order_event(order_id: int, event_type: OrderEventType, reason: str | None, data: dict[str, Any]) -> None:
    """The ``ORDER_EVENT_HOOKS`` listener: a new order arrives in ``received`` (no warehouse yet)."""
    if event_type == OrderEventType.RECEIVED:
        delta = {"order_id": order_id, "warehouse_id": None, "from": None, "to": OrderStatus.RECEIVED.value}
        feed.publish_after_commit(FAMILY, delta)


async def on_status_change(change: StatusChange) -> None:
    """The ``STATUS_CHANGE_HOOKS`` listener: queue the deltas, published after commit."""
    base = {"order_id": change.order_id, "warehouse_id": change.warehouse_id}
    delta = {**base, "from": change.from_status, "to": change.to_status}
    feed.publish_after_commit(FAMILY, delta)
    before, after = change.previous_warehouse_id, change.warehouse_id
    if before == after:
        if after is not None:
            feed.publish_after_commit(feed.topic_for(FAMILY, after), delta)
        return
    if before is not None:
        feed.publish_after_commit(feed.topic_for(FAMILY, before), {**delta, "to": None})
    if after is not None:
        feed.publish_after_commit(feed.topic_for(FAMILY, after), {**delta, "from": None})
