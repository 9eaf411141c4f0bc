"""The worker's order pipeline: validate SKUs → reserve stock → ready (or exception with a reason).

Owns :func:`process_order`, the job step that drives one order as far as it goes. Each step is its own
transaction and is idempotent: a step only runs from the status it expects, so a job retried after a crash (or run
twice by the sweeper) continues where the order is and never double-reserves.
"""

from __future__ import annotations

from typing import NamedTuple

from orderhub import db
from orderhub.orders.pipeline.reservation import FastPathLost, reserve_order
from orderhub.orders.pipeline.rows import load_order
from orderhub.orders.pipeline.validation import validate
from orderhub.orders.service import transition
from orderhub.orders.state import OrderStatus

__all__ = ["Processed", "process_order"]

S = OrderStatus


class Processed(NamedTuple):
    status: str  # where the order is now ("missing" if there is no such order)
    advanced: bool  # whether this run moved it


async def process_order(order_id: int) -> Processed:
    """Drive one order as far as the pipeline goes."""
    order = await load_order(order_id)
    if order is None:
        return Processed("missing", False)
    start = status = S(order.status)
    if status == S.RECEIVED:
        try:
            status = await validate(order_id, order)
        except FastPathLost:
            # Another order took the last units while this one was being validated: nothing was kept; do it
            # again in two steps (validate, then reserve with re-planning) from what is stored.
            reread = await load_order(order_id)
            if reread is None:
                return Processed("missing", False)
            order = reread
            status = S(order.status)
            if status == S.RECEIVED:
                status = await validate(order_id, order, fast=False)
    if status == S.VALIDATED:
        status = await reserve_order(order_id, order)
    if status == S.RESERVED:  # left by an earlier version between its two transitions
        async with db.transaction():
            await transition(order_id, S.READY, expected=S.RESERVED)
        status = S.READY
    return Processed(status.value, status != start)
