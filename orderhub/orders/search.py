"""Finding orders the way people look for them: by created / paid time range, channel, platform order number, status,
warehouse, receiver phone (all digits or the last four), waybill number, SKU and tag — every filter combined with
AND — newest first, keyset-paginated (an opaque cursor, no OFFSET: stable while orders keep arriving).

Every filter is an equality on an indexed column (or an EXISTS on an indexed column of a child table), except the
tag, which is a substring test on the order's JSON list of tags (``strpos`` / ``instr``: no LIKE, so nothing in a
tag acts as a wildcard). Times must carry an offset (``2026-11-11T00:00:00+08:00``); ``*_from`` is inclusive and
``*_to`` exclusive.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec
from piccolo.query import WhereRaw

from orderhub import db
from orderhub.address import phone_digits
from orderhub.channels.tables import Channel
from orderhub.errors import ValidationFailed
from orderhub.inventory.tables import Warehouse
from orderhub.orders.commands import OrderPage, OrderView
from orderhub.orders.phone_index import phone_key
from orderhub.orders.service import ORDER_COLUMNS, order_view
from orderhub.orders.state import OrderStatus
from orderhub.orders.tables import Order

__all__ = [
    "MAX_LIMIT",
    "OrderFilter",
    "OrderSort",
    "check_sort",
    "count_orders",
    "iter_orders",
    "parse_time",
    "search_orders",
]

MAX_LIMIT = 200


class OrderSort(StrEnum):
    """``received``: newest received first (the order's id; the default). ``created``: newest placed first
    (the platform's created time, then id)."""

    RECEIVED = "received"
    CREATED = "created"


class OrderFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What the caller asked for, as given (times as ISO 8601 text); checked by :func:`search_orders`."""

    channel: str | None = None
    external_id: str | None = None
    status: str | None = None
    hold_queue: str | None = None
    reason: str | None = None
    warehouse: str | None = None  # code or id
    created_from: str | None = None
    created_to: str | None = None
    paid_from: str | None = None
    paid_to: str | None = None
    phone: str | None = None
    waybill_no: str | None = None
    sku: str | None = None
    tag: str | None = None
    # The warehouse the signed-in user is bound to: they see its orders only, whatever else they ask for.
    scope_warehouse_id: int | None = None


class _NoMatch(Exception):
    """A filter names something that does not exist (an unknown channel or warehouse): nothing can match."""


# A '+' in an unencoded query string arrives as a space: "2026-11-11T00:00:00 08:00".
_SPACED_OFFSET = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?) (\d{2}:?\d{2})$")
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def parse_time(value: str, field: str) -> datetime:
    """An ISO 8601 time with an offset (``Z`` or ``+08:00``); a time without one is refused (422), not guessed."""
    text = value.strip()
    if match := _SPACED_OFFSET.match(text):
        text = f"{match.group(1)}+{match.group(2)}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(f"{field} 不是有效的时间，例如 2026-11-11T00:00:00+08:00", field=field) from exc
    if parsed.tzinfo is None:
        raise ValidationFailed(f"{field} 必须带时区偏移，例如 2026-11-11T00:00:00+08:00", field=field)
    try:
        in_range = _EARLIEST <= parsed <= _LATEST
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is past what a datetime can hold in UTC
        in_range = False
    if not in_range:
        raise ValidationFailed(f"{field} 超出合理范围（2000–2100 年）", field=field)
    return parsed.astimezone(UTC)


def _text(value: str | None, field: str, max_length: int = 64) -> str | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if len(text) > max_length or "\x00" in text:
        raise ValidationFailed(f"{field} 不能超过 {max_length} 个字符", field=field)
    return text


def _range(query_from: str | None, query_to: str | None, name: str) -> tuple[datetime | None, datetime | None]:
    start = parse_time(query_from, f"{name}_from") if query_from else None
    end = parse_time(query_to, f"{name}_to") if query_to else None
    if start is not None and end is not None and start >= end:
        raise ValidationFailed(f"{name}_to 必须晚于 {name}_from", field=f"{name}_to")
    return start, end


async def _conditions(f: OrderFilter) -> list[Any]:
    """The filter as WHERE conditions (ANDed). Raises ValidationFailed (with the field) or _NoMatch."""
    conditions: list[Any] = []
    created = _range(f.created_from, f.created_to, "created")
    paid = _range(f.paid_from, f.paid_to, "paid")
    if status := _text(f.status, "status", 16):
        try:
            OrderStatus(status)
        except ValueError as exc:
            raise ValidationFailed("未知的订单状态", field="status") from exc
        conditions.append(Order.status == status)
    if (phone := _text(f.phone, "phone", 32)) is not None:
        digits = phone_digits(phone)
        if len(digits) == 4 and len(phone.replace(" ", "")) == 4:
            conditions.append(Order.receiver_phone_tail == digits)
        elif len(digits) >= 7:
            conditions.append(Order.receiver_phone_key == phone_key(phone))
        else:
            raise ValidationFailed("按收货电话查找：请输入完整号码或后四位", field="phone")
    if channel := _text(f.channel, "channel"):
        row = await Channel.select(Channel.id).where(Channel.code == channel).first()
        if row is None:
            raise _NoMatch
        conditions.append(Order.channel == row["id"])
    if warehouse := _text(f.warehouse, "warehouse"):
        match: Any = Warehouse.code == warehouse
        if warehouse.isascii() and warehouse.isdigit() and int(warehouse) < 2**31:
            match = match | (Warehouse.id == int(warehouse))
        ids = [int(row["id"]) for row in await Warehouse.select(Warehouse.id).where(match).limit(2)]
        if not ids:
            raise _NoMatch
        conditions.append(Order.warehouse.is_in(ids))  # bounded: at most 2 (the .limit(2) above)
    if f.scope_warehouse_id is not None:
        conditions.append(Order.warehouse == f.scope_warehouse_id)
    if external_id := _text(f.external_id, "external_id"):
        conditions.append(Order.external_id == external_id)
    if hold_queue := _text(f.hold_queue, "hold_queue", 32):
        conditions.append(Order.hold_queue == hold_queue)
    if reason := _text(f.reason, "reason"):
        conditions.append((Order.exception_reason == reason) | (Order.hold_reason == reason))
    if created[0] is not None:
        conditions.append(Order.placed_at >= created[0])
    if created[1] is not None:
        conditions.append(Order.placed_at < created[1])
    if paid[0] is not None:
        conditions.append(Order.paid_at >= paid[0])
    if paid[1] is not None:
        conditions.append(Order.paid_at < paid[1])
    if sku := _text(f.sku, "sku"):
        conditions.append(
            WhereRaw('EXISTS (SELECT 1 FROM order_line l WHERE l."order" = sales_order.id AND l.sku_code = {})', sku)
        )
    if waybill_no := _text(f.waybill_no, "waybill_no"):
        conditions.append(
            (Order.shipped_waybill_no == waybill_no)
            | WhereRaw(
                'EXISTS (SELECT 1 FROM waybill w WHERE w."order" = sales_order.id AND w.waybill_no = {})', waybill_no
            )
        )
    if tag := _text(f.tag, "tag"):
        # The tags are a JSON list of strings: look for the tag as one whole, quoted member.
        needle = msgspec.json.encode(tag).decode()
        position = "instr(sales_order.tags, {})" if db.is_sqlite() else "strpos(sales_order.tags, {})"
        conditions.append(WhereRaw(f"{position} > 0", needle))
    return conditions


def _where(query: Any, conditions: list[Any]) -> Any:
    for condition in conditions:
        query = query.where(condition)
    return query


# Cursors: "o:<id>" (received; the format this endpoint always had) and "c:<placed_at, µs since epoch>:<id>".
def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _cursor_for(view: OrderView, sort: OrderSort) -> str:
    if sort is OrderSort.CREATED:
        micros = (view.placed_at - datetime(1970, 1, 1, tzinfo=UTC)) // _MICROSECOND
        return _encode(f"c:{micros}:{view.id}")
    return _encode(f"o:{view.id}")


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)


def _after(cursor: str, sort: OrderSort) -> Any:
    """The keyset condition "after this cursor" in ``sort`` order. A cursor that is not one of ours → 422."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = text.split(":")
        order_id = int(parts[-1])
        if not 0 < order_id < 2**31:
            raise ValueError(cursor)
        if sort is OrderSort.RECEIVED and parts[0] == "o" and len(parts) == 2:
            return Order.id < order_id
        if sort is OrderSort.CREATED and parts[0] == "c" and len(parts) == 3:
            placed_at = datetime(1970, 1, 1, tzinfo=UTC) + int(parts[1]) * _MICROSECOND
            return (Order.placed_at < placed_at) | ((Order.placed_at == placed_at) & (Order.id < order_id))
        raise ValueError(cursor)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("分页游标无效（请从第一页重新开始）", field="cursor") from exc


def _ordered(query: Any, sort: OrderSort) -> Any:
    if sort is OrderSort.CREATED:
        return query.order_by(Order.placed_at, Order.id, ascending=False)
    return query.order_by(Order.id, ascending=False)


async def _page(conditions: list[Any], sort: OrderSort, cursor: str | None, limit: int) -> OrderPage:
    query = _where(_ordered(Order.select(*ORDER_COLUMNS), sort), conditions).limit(limit + 1)
    if cursor:
        query = query.where(_after(cursor, sort))
    rows = await query
    items = [order_view(row) for row in rows[:limit]]
    next_cursor = _cursor_for(items[-1], sort) if len(rows) > limit else None
    return OrderPage(items=items, next_cursor=next_cursor)


def check_sort(sort: str | None) -> OrderSort:
    try:
        return OrderSort(sort or OrderSort.RECEIVED)
    except ValueError as exc:
        raise ValidationFailed("sort 只能是 received 或 created", field="sort") from exc


async def search_orders(
    f: OrderFilter, *, sort: str | None = None, cursor: str | None = None, limit: int = 50
) -> OrderPage:
    """One page of the orders matching every filter, newest first; ``next_cursor`` continues it (None: the end)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit 取值范围为 1–{MAX_LIMIT}", field="limit")
    order = check_sort(sort)
    if cursor:
        _after(cursor, order)  # a bad cursor is a 422 even when nothing can match
    try:
        conditions = await _conditions(f)
    except _NoMatch:
        return OrderPage(items=[], next_cursor=None)
    return await _page(conditions, order, cursor, limit)


async def count_orders(f: OrderFilter) -> int:
    """How many orders match (for the export's cap)."""
    try:
        conditions = await _conditions(f)
    except _NoMatch:
        return 0
    return int(await _where(Order.count(), conditions))


async def iter_orders(
    f: OrderFilter, *, sort: str | None = None, page_size: int = 500
) -> AsyncIterator[list[OrderView]]:
    """Every matching order, a keyset page at a time (memory bounded by ``page_size``, whatever the total)."""
    order = check_sort(sort)
    try:
        conditions = await _conditions(f)
    except _NoMatch:
        return
    cursor: str | None = None
    while True:
        page = await _page(conditions, order, cursor, page_size)
        if page.items:
            yield page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
