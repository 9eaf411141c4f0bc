"""What the hub does when a platform says an order changed: cancelled, refund requested, receiver changed.

Where the order is decides:

* not yet picked (received … ready, held, exception): the hub acts — a cancellation cancels the order and
  releases its stock; a refund request releases the stock and holds the order in the ``refund`` queue for a
  person to decide; a new receiver replaces the old one and the order goes through the pipeline again (address
  standardisation, routing, reservation);
* in the warehouse (picking, packed): the order is **intercepted** — it goes to exception ``intercepted`` so the
  pick task is withdrawn and nobody ships it;
* shipped or delivered: nothing can be stopped; the order is tagged ``after_sale`` for the after-sales team.

Every change is recorded on the order (``order.platform_changed``) with what was done.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from orderhub import clock, db
from orderhub.errors import CommonError, Conflict, NotFound
from orderhub.orders.commands import Receiver
from orderhub.orders.events import OrderEventType
from orderhub.orders.pipeline.commands import release_reservation, replace_receiver
from orderhub.orders.service import process_after_commit, record_event, transition
from orderhub.orders.state import RELEASABLE, OrderStatus
from orderhub.orders.tables import Order

__all__ = ["AFTER_SALE_TAG", "REFUND_QUEUE", "Outcome", "PlatformChange", "apply_platform_change"]

S = OrderStatus
REFUND_QUEUE = "refund"
AFTER_SALE_TAG = "after_sale"
BEFORE_PICKING = frozenset({S.RECEIVED, S.VALIDATED, S.RESERVED, S.READY, S.HELD, S.EXCEPTION})
IN_WAREHOUSE = frozenset({S.PICKING, S.PACKED})


class PlatformChange(StrEnum):
    CANCELLED = "cancelled"
    REFUND_REQUESTED = "refund_requested"
    RECEIVER_CHANGED = "receiver_changed"


class Outcome(StrEnum):
    CANCELLED = "cancelled"
    HELD = "held"
    REROUTED = "rerouted"
    INTERCEPTED = "intercepted"
    AFTER_SALE = "after_sale"
    UNCHANGED = "unchanged"


async def apply_platform_change(
    order_id: int, change: PlatformChange, *, actor: str, receiver: Receiver | None = None
) -> Outcome:
    """Apply one platform change to an order (idempotent: a change already applied changes nothing).

    The worker may be moving the order at the same moment: every step is a conditional update on the status
    read, so a lost race is retried from the new status."""
    for _attempt in range(5):
        try:
            return await _apply(order_id, change, actor=actor, receiver=receiver)
        except Conflict:
            continue
    raise Conflict("订单正在被处理，请稍后重试", code=CommonError.CONCURRENT_UPDATE, field="status")


class _Locked(msgspec.Struct):
    """What a platform change reads of the order, under a row lock."""

    status: str
    hold_queue: str | None
    hold_reason: str | None
    pending_holds: str | None
    tags: str | None


async def _apply(order_id: int, change: PlatformChange, *, actor: str, receiver: Receiver | None) -> Outcome:
    async with db.transaction():
        # Raw SQL: the query builder has no FOR UPDATE (a row lock on PostgreSQL).
        row = await db.fetch_one_as(
            _Locked,
            f"SELECT status, hold_queue, hold_reason, pending_holds, tags FROM sales_order WHERE id = {{}}"
            f"{db.for_update()}",
            order_id,
        )
        if row is None:
            raise NotFound("订单不存在", field="order_id")
        status = S(row.status)
        if status == S.CANCELLED:
            return Outcome.UNCHANGED
        if status in IN_WAREHOUSE:
            await transition(
                order_id,
                S.EXCEPTION,
                expected=status,
                reason="intercepted",
                data={"change": change.value, "message": "平台订单已变更（取消/退款/改地址），请拦截，勿发货"},
                actor=actor,
            )
            outcome = Outcome.INTERCEPTED
        elif status not in BEFORE_PICKING:  # shipped, delivered
            tags = msgspec.json.decode(row.tags or "[]", type=list[str])
            if AFTER_SALE_TAG in tags:
                return Outcome.UNCHANGED  # flagged already (the same change seen again by a later pull)
            tags.append(AFTER_SALE_TAG)
            await Order.update({Order.tags: msgspec.json.encode(tags).decode(), Order.updated_at: clock.now()}).where(
                Order.id == order_id
            )
            outcome = Outcome.AFTER_SALE
        elif change == PlatformChange.CANCELLED:
            await transition(
                order_id, S.CANCELLED, expected=status, reason="cancelled", data={"note": "平台订单已取消"}, actor=actor
            )
            if status in RELEASABLE:
                await release_reservation(order_id, actor=actor)
            outcome = Outcome.CANCELLED
        elif change == PlatformChange.REFUND_REQUESTED:
            outcome = await _hold_for_refund(order_id, status, row, actor=actor)
        else:
            if receiver is None:
                raise ValueError("a receiver change needs the new receiver")
            await _change_receiver(order_id, status, receiver, actor=actor)
            outcome = Outcome.REROUTED
        await record_event(
            order_id,
            OrderEventType.PLATFORM_CHANGED,
            reason=change.value,
            data={"outcome": outcome.value, "status": status.value},
            actor=actor,
        )
    return outcome


async def _hold_for_refund(order_id: int, status: OrderStatus, row: _Locked, *, actor: str) -> Outcome:
    if status == S.HELD and row.hold_queue == REFUND_QUEUE:
        return Outcome.UNCHANGED
    if status in RELEASABLE:
        await release_reservation(order_id, actor=actor)
    data = {"message": "买家申请退款，请处理后放行或取消"}
    if status == S.HELD:  # the refund comes first; the hold it was in waits behind it
        pending = msgspec.json.decode(row.pending_holds or "[]")
        pending.insert(0, {"queue": row.hold_queue, "reason": row.hold_reason, "data": {}})
        await Order.update(
            {
                Order.hold_queue: REFUND_QUEUE,
                Order.hold_reason: "refund_requested",
                Order.pending_holds: msgspec.json.encode(pending).decode(),
                Order.updated_at: clock.now(),
            }
        ).where(Order.id == order_id)
        return Outcome.HELD
    await transition(
        order_id,
        S.HELD,
        expected=status,
        reason="refund_requested",
        hold_queue=REFUND_QUEUE,
        data=data,
        actor=actor,
    )
    return Outcome.HELD


async def _change_receiver(order_id: int, status: OrderStatus, receiver: Receiver, *, actor: str) -> None:
    """New receiver on the order; back through the pipeline unless a person holds it."""
    await replace_receiver(order_id, receiver, actor=actor, from_source=True)
    if status == S.HELD:
        return  # standardised when the hold is released
    if status in RELEASABLE:
        await release_reservation(order_id, actor=actor)
    if status != S.RECEIVED:
        await transition(
            order_id, S.RECEIVED, expected=status, data={"note": "平台修改了收货信息，重新处理"}, actor=actor
        )
    process_after_commit(order_id)
