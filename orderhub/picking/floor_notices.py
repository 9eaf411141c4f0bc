"""What the warehouse floor is told about after-sale changes to orders it holds (published after commit on the
warehouse's floor topic and, for a task's picker, their picker topic, like :mod:`orderhub.picking.events`):
put-back work opened and closed (返架, :mod:`orderhub.picking.putback`), and a receiver changed while the order is
being picked or is packed (its label must be printed with the new address)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec

from orderhub import clock, db
from orderhub.events import picker_topic, publish_live_after_commit, warehouse_floor_topic

__all__ = [
    "FloorNoticeType",
    "PutbackCreated",
    "PutbackDone",
    "ReceiverChanged",
    "publish_notice",
    "tell_receiver_changed",
]


class FloorNoticeType(StrEnum):
    PUTBACK_CREATED = "putback.created"
    PUTBACK_DONE = "putback.done"
    RECEIVER_CHANGED = "order.receiver_changed"


class PutbackCreated(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=FloorNoticeType.PUTBACK_CREATED.value
):
    """Units of a cancelled order are to be put back on their locations."""

    putback_id: int
    order_id: int
    source: str  # tote, pack
    units: int
    message: str  # zh-CN
    at: datetime


class PutbackDone(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=FloorNoticeType.PUTBACK_DONE.value):
    putback_id: int
    order_id: int
    by: str
    missing: int
    at: datetime


class ReceiverChanged(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=FloorNoticeType.RECEIVER_CHANGED.value
):
    """The receiver of an order being picked or packed changed: its label (waybill) is taken with the new one."""

    order_id: int
    status: str  # picking, packed
    voided_waybill: str  # the old waybill's number when one was voided (tear its label off), else ""
    message: str  # zh-CN
    at: datetime


FloorNotice = PutbackCreated | PutbackDone | ReceiverChanged


def publish_notice(notice: FloorNotice, warehouse_id: int, *, picker_ids: list[int] | None = None) -> None:
    topics = [warehouse_floor_topic(warehouse_id), *(picker_topic(p) for p in sorted(set(picker_ids or [])))]
    publish_live_after_commit(notice, *topics)


class _Holder(msgspec.Struct):
    warehouse: int
    picker: int | None


async def tell_receiver_changed(
    order_id: int, warehouse_id: int | None, *, status: str, voided: str, message: str
) -> None:
    """Tell the order's warehouse floor, and the pickers of the tasks still holding it, after commit."""
    # Raw SQL: a join (the tasks holding the order, with their pickers).
    holders = await db.fetch_as(
        _Holder,
        'SELECT t.warehouse, t.picker FROM pick_task_order p JOIN pick_task t ON t.id = p.task WHERE p."order" = {} '
        "AND p.status = 'active'",
        order_id,
    )
    warehouses = {h.warehouse for h in holders} | ({warehouse_id} if warehouse_id is not None else set())
    notice = ReceiverChanged(order_id=order_id, status=status, voided_waybill=voided, message=message, at=clock.now())
    for warehouse in sorted(warehouses):
        pickers = [h.picker for h in holders if h.warehouse == warehouse and h.picker is not None]
        publish_notice(notice, warehouse, picker_ids=pickers)
