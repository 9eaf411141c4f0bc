"""Customers asking about their parcel, the numerator of the KPIs' query rate (docs/kpis.md#query_rate).

An order counts once, on the Asia/Shanghai day of the first time its customer asked while it was shipped and not yet
delivered: they opened the tracking page (``/t/{token}``) or the mini-program's parcel page
(``GET /mp/v1/customer/parcels/{token}``), or customer service logged an inquiry
(``POST /api/v1/orders/{order_id}/inquiries``). The count is kept by an insert-if-absent on a per-order marker
(``rollup_inquiry_order``, unique ``order_id``) and, when the marker is new, +1 on ``rollup_inquiry_day`` in the same
transaction. A page opened again writes nothing; every inquiry customer service logs is kept (``order_inquiry``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum

import msgspec

from orderhub import clock, db
from orderhub.errors import NotFound

__all__ = ["InquiryView", "Source", "list_inquiries", "page_opened", "rebuild_inquiries", "record_inquiry"]

log = logging.getLogger("orderhub.insights.inquiries")

# Statuses in which a question about the parcel counts: shipped (handed to the carrier) and not yet delivered.
COUNTED_STATUSES = frozenset({"shipped"})


class Source(StrEnum):
    TRACKING_PAGE = "tracking_page"
    MINIPROGRAM = "miniprogram"
    PHONE = "phone"
    IM = "im"
    OTHER = "other"


class InquiryView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    order_id: int
    source: str
    note: str
    actor: str
    counted: bool  # this inquiry made the order count in the query rate (the first before delivery)
    created_at: datetime


class _Order(msgspec.Struct):
    id: int
    status: str
    channel: int | None = None
    warehouse: int | None = None


class _Marker(msgspec.Struct):
    order_id: int


async def _order(order_id: int) -> _Order | None:
    return await db.fetch_one_as(
        _Order, "SELECT id, status, channel, warehouse FROM sales_order WHERE id = {}", order_id
    )


async def _mark(order: _Order, source: str, at: datetime) -> bool:
    """Insert the order's marker if absent; when new, count it in rollup_inquiry_day. True when it was new."""
    day = clock.to_shanghai(at).date()
    channel, warehouse = order.channel or 0, order.warehouse or 0
    new = await db.execute_returning(
        _Marker,
        "INSERT INTO rollup_inquiry_order (order_id, day, channel, warehouse, source) VALUES ({}, {}, {}, {}, {}) "
        "ON CONFLICT (order_id) DO NOTHING RETURNING order_id",
        order.id,
        day,
        channel,
        warehouse,
        source,
    )
    if not new:
        return False
    await db.execute(
        "INSERT INTO rollup_inquiry_day (day, channel, warehouse, source, orders) VALUES ({}, {}, {}, {}, 1) "
        "ON CONFLICT (day, channel, warehouse, source) DO UPDATE SET orders = rollup_inquiry_day.orders + 1",
        day,
        channel,
        warehouse,
        source,
    )
    return True


async def _insert(order_id: int, source: str, note: str, actor: str, counted: bool, at: datetime) -> InquiryView:
    rows = await db.execute_returning(
        db.IdRow,
        "INSERT INTO order_inquiry (order_id, source, note, actor, counted, created_at) "
        "VALUES ({}, {}, {}, {}, {}, {}) RETURNING id",
        order_id,
        source,
        note,
        actor,
        1 if counted else 0,
        at,
    )
    return InquiryView(
        id=rows[0].id, order_id=order_id, source=source, note=note, actor=actor, counted=counted, created_at=at
    )


async def record_inquiry(order_id: int, *, source: Source, note: str = "", actor: str = "") -> InquiryView:
    """Customer service logs an inquiry (kept whatever the order's status); the order counts in the query rate if it
    is shipped and not yet delivered and has not counted before."""
    at = clock.now()
    async with db.transaction():
        order = await _order(order_id)
        if order is None:
            raise NotFound("订单不存在", field="order_id")
        counted = order.status in COUNTED_STATUSES and await _mark(order, source.value, at)
        return await _insert(order_id, source.value, note, actor, counted, at)


async def page_opened(order_id: int, *, source: Source, delivered: bool) -> bool:
    """The tracking page or the mini-program parcel page was opened for ``order_id``: count the order (once) if its
    parcel is not delivered yet. Never fails the page: an error is logged. True when the order counted now."""
    if delivered:
        return False
    try:
        # Asked before: a read, no write (the page is public and opened often).
        if await db.fetch_one_as(_Marker, "SELECT order_id FROM rollup_inquiry_order WHERE order_id = {}", order_id):
            return False
        at = clock.now()
        async with db.transaction():
            order = await _order(order_id)
            if order is None or order.status not in COUNTED_STATUSES:
                return False
            if not await _mark(order, source.value, at):
                return False
            await _insert(order_id, source.value, "", "customer", True, at)
            return True
    except Exception:
        log.exception("could not record a parcel page view", extra={"order_id": order_id})
        return False


async def rebuild_inquiries() -> int:
    """Recount ``rollup_inquiry_day`` from the per-order markers (``rollup_inquiry_order``, the record of which order
    counted on which day, channel, warehouse and source), in one transaction; what ``orderhub rollups-rebuild`` runs
    after the event-log rollups (the markers are written when an inquiry is recorded, not from an event log, so
    they are kept as they are). Returns the orders counted."""
    async with db.transaction():
        if not db.is_sqlite():  # no marker written (and counted) while the day rows are recounted
            await db.execute("LOCK TABLE rollup_inquiry_order, rollup_inquiry_day IN EXCLUSIVE MODE")
        await db.execute("DELETE FROM rollup_inquiry_day")
        await db.execute(
            "INSERT INTO rollup_inquiry_day (day, channel, warehouse, source, orders) "
            "SELECT day, channel, warehouse, source, COUNT(*) FROM rollup_inquiry_order "
            "GROUP BY day, channel, warehouse, source"
        )
        total = await db.fetch_one_as(_Count, "SELECT COUNT(*) AS n FROM rollup_inquiry_order")
    return total.n if total else 0


class _Count(msgspec.Struct):
    n: int


async def list_inquiries(order_id: int) -> list[InquiryView]:
    rows = await db.fetch_as(
        InquiryView,
        "SELECT id, order_id, source, note, actor, counted, created_at FROM order_inquiry WHERE order_id = {} "
        "ORDER BY id",
        order_id,
    )
    return rows
