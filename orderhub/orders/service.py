"""Order commands and queries: intake, state transitions, cancellation, reads."""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.address.international import DOMESTIC, country_code, country_known, format_lines
from orderhub.customs.model import DutyEstimate
from orderhub.errors import CommonError, Conflict, NotFound, ValidationFailed
from orderhub.events import Topic, order_topic, publish_after_commit
from orderhub.orders import pii, surge
from orderhub.orders.commands import (
    IngestOutcome,
    NewOrder,
    OrderEventView,
    OrderLineView,
    OrderView,
    Receiver,
    ReceiverCipher,
    ShipmentView,
)
from orderhub.orders.events import OrderEventType, OrderReceived, OrderStatusChanged
from orderhub.orders.phone_index import phone_key, search_digits
from orderhub.orders.state import OrderStatus, ensure_transition
from orderhub.orders.tables import Order, OrderEvent, OrderLine
from orderhub.queue import JobName, enqueue, process_batch_key, process_order_key
from orderhub.registry import Hooks
from orderhub.routing.tables import Shipment
from orderhub.settings import get_settings

__all__ = [
    "LEAVING_PICK_FLOW_HOOKS",
    "MAX_LINES",
    "ORDER_COLUMNS",
    "ORDER_EVENT_HOOKS",
    "STATUS_CHANGE_HOOKS",
    "StatusChange",
    "check_new_order",
    "decode_cipher",
    "encode_cipher",
    "enqueue_processing",
    "ensure_in_scope",
    "full_address",
    "get_order",
    "ingest",
    "make_receiver",
    "masked_receiver",
    "order_view",
    "process_after_commit",
    "receiver_columns",
    "receiver_from_row",
    "receiver_signature",
    "record_event",
    "recorded_in_transaction",
    "shown_to",
    "transition",
]

MAX_LINES = 200
_json = msgspec.json.encode


_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def _check_time(value: datetime | None, field: str) -> None:
    if value is None:
        return
    if value.tzinfo is None:
        raise ValidationFailed(f"{field} 必须带时区偏移，例如 2026-11-11T00:00:05+08:00", field=field)
    if not _EARLIEST <= value <= clock.now() + timedelta(days=1):
        raise ValidationFailed(f"{field} 超出合理范围（2000 年至今）", field=field)


def _check_text(value: Any, field: str) -> None:
    """NUL cannot be stored in PostgreSQL text; refuse it on every back end alike."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationFailed("文本中不能包含 NUL 字符", field=field)
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            _check_text(getattr(value, name), f"{field}.{name}" if field else name)
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            _check_text(item, f"{field}[{i}]")


def check_new_order(order: NewOrder) -> None:
    """Semantic checks the wire schema cannot express. Raises ValidationFailed naming the field."""
    if not order.external_id.strip() or len(order.external_id) > 64:
        raise ValidationFailed("external_id 不能为空，且不超过 64 个字符", field="external_id")
    _check_time(order.placed_at, "created_at")
    _check_time(order.paid_at, "paid_at")
    if order.ship_by is not None and (order.ship_by.tzinfo is None or order.ship_by < _EARLIEST):
        raise ValidationFailed("ship_by 必须带时区偏移且在 2000 年之后", field="ship_by")
    texts = msgspec.structs.replace(order, raw={})
    if b"\\u0000" in msgspec.json.encode(texts):  # a NUL somewhere (JSON writes it so): find the field
        _check_text(texts, "")
    if not order.lines:
        raise ValidationFailed("订单至少需要一行商品", field="lines")
    if len(order.lines) > MAX_LINES:
        raise ValidationFailed(f"一个订单最多 {MAX_LINES} 行商品", field="lines")
    for i, line in enumerate(order.lines):
        if not line.sku.strip():
            raise ValidationFailed("商品编码不能为空", field=f"lines[{i}].sku")
        if line.qty <= 0:
            raise ValidationFailed("数量必须大于 0", field=f"lines[{i}].qty")
        if line.unit_price < 0:
            raise ValidationFailed("单价（分）不能为负数", field=f"lines[{i}].unit_price")
    for name in ("shipping_fee", "discount", "paid_amount"):
        if getattr(order, name) < 0:
            raise ValidationFailed("金额（分）不能为负数", field=name)
    receiver = order.receiver
    if not receiver.name.strip():
        raise ValidationFailed("收货人姓名不能为空", field="receiver.name")
    if not receiver.phone.strip():
        raise ValidationFailed("收货人电话不能为空", field="receiver.phone")
    if receiver.country != DOMESTIC:
        if not country_known(receiver.country):
            raise ValidationFailed(
                f"无法识别的国家代码「{receiver.country}」（ISO 3166 两位字母，如 TH）", field="receiver.country"
            )
        if not receiver.detail.strip():  # the street lines (a one-line address is split into them)
            raise ValidationFailed("国际地址不能为空：请提供 address_lines", field="receiver.address_lines")
        for field, value, limit in (
            ("region", receiver.province, 32), ("city", receiver.city, 32), ("postcode", receiver.postcode, 16),
        ):  # fmt: skip
            if len(value) > limit:  # the columns' widths
                raise ValidationFailed(f"{field} 不能超过 {limit} 个字符", field=f"receiver.{field}")
    elif not receiver.address.strip() and not (receiver.province.strip() and receiver.detail.strip()):
        raise ValidationFailed(
            "收货地址不能为空：请提供 address，或 province/city/district/detail", field="receiver.address"
        )


def make_receiver(
    *,
    name: str,
    phone: str,
    country: str = DOMESTIC,
    address: str = "",
    province: str = "",
    city: str = "",
    district: str = "",
    detail: str = "",
    region: str = "",
    postcode: str = "",
    address_lines: Sequence[str] = (),
) -> Receiver:
    """The receiver from what a source sends: in China the 省/市/区县 form (or one line); elsewhere address lines,
    city, region and postcode, kept as ``province`` = region, ``detail`` = the lines joined with "\n" and ``address``
    = the whole address on one line (:func:`orderhub.address.international.format_lines`)."""
    # "", "CN", "中国" → CN; "TH", "泰国", "Thailand" → TH; anything else is kept for check_new_order to refuse
    country = country_code(country) or country.strip().upper()
    if country == DOMESTIC:
        return Receiver(
            name=name, phone=phone, province=province, city=city, district=district, detail=detail, address=address,
            postcode=postcode.strip(),
        )  # fmt: skip
    lines = [line.strip() for line in address_lines if line.strip()] or [
        line.strip() for line in (detail or address).splitlines() if line.strip()
    ]
    region = region or province
    return Receiver(
        name=name,
        phone=phone,
        province=region.strip(),
        city=city.strip(),
        detail="\n".join(lines),
        address=address.strip() or format_lines(country, lines, city, region, postcode),
        country=country,
        postcode=postcode.strip().upper(),
    )


def full_address(receiver: Receiver) -> str:
    """The receiver's address on one line, as the order stores it (``receiver_address``)."""
    if receiver.address.strip():
        return receiver.address.strip()
    if receiver.country != DOMESTIC:
        return format_lines(
            receiver.country, receiver.detail.splitlines(), receiver.city, receiver.province, receiver.postcode
        )
    parts = [receiver.province, receiver.city, receiver.district, receiver.detail]
    return "".join(p.strip() for p in parts if p.strip())


def process_after_commit(order_id: int) -> None:
    """Queue the pipeline for this order once the current transaction commits."""

    async def _enqueue() -> None:
        await enqueue_processing([order_id])

    db.after_commit(_enqueue)


async def enqueue_processing(order_ids: Sequence[int]) -> None:
    """Queue the pipeline for these orders: one job per order, or, for many at once (a batch pushed by a
    platform, a sweep), one job per ``pipeline_batch_size`` orders, so the job queue's own cost and the reads
    of rules and warehouses are paid once per batch. Each step is idempotent, so an order that is in two
    jobs (a sweep and a retry) is still processed once."""
    ids = sorted(set(order_ids))
    size = max(1, get_settings().pipeline_batch_size)
    if len(ids) == 1 or size == 1:
        jobs = [enqueue(JobName.PROCESS_ORDER, key=process_order_key(i), order_id=i) for i in ids]
    else:
        chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
        jobs = [enqueue(JobName.PROCESS_ORDERS, key=process_batch_key(chunk), order_ids=chunk) for chunk in chunks]
    await asyncio.gather(*jobs)


# Called for every order event, inside the transaction that records it: notifications write their outbox rows
# here, so a message exists exactly when the change that causes it commits (notify/ cannot be imported here).
EventHook = Callable[[int, OrderEventType, str | None, dict[str, Any]], Awaitable[None]]
ORDER_EVENT_HOOKS: Hooks[EventHook] = Hooks("order event")


class StatusChange(msgspec.Struct, frozen=True, kw_only=True):
    """One ``transition()``: the status the order left and the one it reached (a ``via`` step is not shown: no
    other transaction could see it), and its warehouse after and before the change (the same unless this change
    set it, as reservation does)."""

    order_id: int
    from_status: str
    to_status: str
    warehouse_id: int | None
    previous_warehouse_id: int | None


# Called once per status change, inside its transaction (live feeds queue their after-commit delta here).
StatusHook = Callable[[StatusChange], Awaitable[None]]
STATUS_CHANGE_HOOKS: Hooks[StatusHook] = Hooks("order status change")


async def record_event(
    order_id: int,
    event_type: OrderEventType,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    actor: str = "system",
) -> None:
    """Append to the order's audit log. Inside a transaction the rows are buffered and written just before it
    commits, all in one statement (an order's step records two to four events; a batch of orders, a hundred)."""
    row = _EventRow(
        order=order_id,
        type=event_type.value,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=_json(data or {}).decode(),
        actor=actor,
        created_at=clock.now(),
    )
    pending = db.pending_before_commit()
    for hook in ORDER_EVENT_HOOKS:
        await hook(order_id, event_type, reason, data or {})
    if pending is None:
        await _insert_events([row])
        return
    batch = next((flush for flush in pending if isinstance(flush, _EventBatch)), None)
    if batch is None:
        batch = _EventBatch()
        pending.append(batch)
    batch.rows.append(row)


class _EventRow(msgspec.Struct, frozen=True, kw_only=True):
    """An ``order_event`` row as buffered (a plain struct: a piccolo row object costs ten times as much to make)."""

    order: int
    type: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    data: str
    actor: str
    created_at: datetime


# PostgreSQL: the rows as one array per column, unnested — one prepared statement whatever the number of rows.
_EVENTS_SQL = (
    'INSERT INTO order_event ("order", type, from_status, to_status, reason, data, actor, created_at) '
    "SELECT * FROM unnest({}::bigint[], {}::varchar[], {}::varchar[], {}::varchar[], {}::varchar[], {}::text[], "
    "{}::varchar[], {}::timestamptz[])"
)
# Rows per statement: the arrays are 8 parameters whatever their length, but a statement's size stays bounded.
EVENTS_PER_STATEMENT = 5_000


async def _insert_events(rows: Sequence[_EventRow]) -> None:
    if db.is_sqlite():  # no arrays: multi-row INSERTs within the parameter limit
        size = db.rows_per_statement(len(OrderEvent._meta.columns))
        for chunk in db.chunks(rows, size):
            await OrderEvent.insert(*[OrderEvent(**msgspec.structs.asdict(row)) for row in chunk])
        return
    for chunk in db.chunks(rows, EVENTS_PER_STATEMENT):
        await db.execute(
            _EVENTS_SQL,
            [r.order for r in chunk],
            [r.type for r in chunk],
            [r.from_status for r in chunk],
            [r.to_status for r in chunk],
            [r.reason for r in chunk],
            [r.data for r in chunk],
            [r.actor for r in chunk],
            [r.created_at for r in chunk],
        )


class _EventBatch:
    """The order events one transaction recorded, inserted together before it commits."""

    def __init__(self) -> None:
        self.rows: list[_EventRow] = []

    async def __call__(self) -> None:
        await _insert_events(self.rows)


def recorded_in_transaction(order_id: int, event_type: OrderEventType) -> bool:
    """Whether the current transaction has recorded ``event_type`` for the order (its events are written when it
    commits) — e.g. whether a hook just noted that nobody could be alerted. False outside a transaction."""
    pending = db.pending_before_commit()
    if pending is None:
        return False
    return any(
        row.order == order_id and row.type == event_type.value
        for flush in pending
        if isinstance(flush, _EventBatch)
        for row in flush.rows
    )


def fingerprint(order: NewOrder) -> str:
    """Same receiver phone + address + lines + amount → same fingerprint, whatever the channel. For a receiver the
    platform keeps encrypted, its search index (or open id) stands in for the phone."""
    receiver = order.receiver
    match = receiver.cipher.match_key() if receiver.cipher is not None else ""
    phone = match or "".join(ch for ch in receiver.phone if ch.isdigit())
    address = "".join(full_address(receiver).split())
    if receiver.cipher is not None and receiver.cipher.detail_index:  # masked streets look alike
        address += f"#{receiver.cipher.detail_index}"
    lines = sorted((line.sku.strip(), line.qty) for line in order.lines)
    key = msgspec.json.encode([phone, address, lines, order.paid_amount])
    return hashlib.sha256(key).hexdigest()


def receiver_signature(receiver: Receiver) -> str:
    """The receiver exactly as the source sent it (name, phone digits, address), to tell a real change from the
    source apart from what the hub did to the order since (standardisation, a person's fix)."""
    parts = [
        "".join(receiver.name.split()),
        "".join(ch for ch in receiver.phone if ch.isdigit()),
        "".join(full_address(receiver).split()),
    ]
    if receiver.cipher is not None:  # the masked forms alone may stay the same when the receiver changed
        parts += receiver.cipher.stable()
    return hashlib.sha256(msgspec.json.encode(parts)).hexdigest()


def encode_cipher(receiver: Receiver) -> str:
    """``sales_order.receiver_cipher``: the platform's protected receiver as JSON ("" for a clear receiver)."""
    return _json(receiver.cipher).decode() if receiver.cipher is not None else ""


def decode_cipher(raw: str | None) -> ReceiverCipher | None:
    return msgspec.json.decode(raw, type=ReceiverCipher) if raw else None


def receiver_columns(receiver: Receiver) -> dict[str, Any]:
    """The order's receiver columns for ``receiver`` (name, phone and street sealed; the search index of a clear
    phone; the platform's protected form and its match key)."""
    encrypted = receiver.cipher is not None
    return {
        "receiver_name": pii.seal(receiver.name.strip()),
        "receiver_phone": pii.seal(receiver.phone.strip()),
        # A masked phone (138****0000) is no phone: no search key; its last four are the real last four.
        "receiver_phone_key": "" if encrypted else phone_key(receiver.phone),
        "receiver_phone_tail": search_digits(receiver.phone)[-4:],
        "receiver_province": receiver.province.strip(),
        "receiver_city": receiver.city.strip(),
        "receiver_district": receiver.district.strip(),
        "receiver_detail": pii.seal(receiver.detail.strip()),
        "receiver_address": pii.seal(full_address(receiver)),
        "receiver_cipher": encode_cipher(receiver),
        "receiver_country": receiver.country,
        "receiver_postcode": receiver.postcode,
        "receiver_match_key": receiver.cipher.match_key() if receiver.cipher is not None else "",
    }


def receiver_from_row(row: Mapping[str, Any]) -> Receiver:
    """The order's receiver from its row (sealed values opened)."""
    return Receiver(
        name=pii.open_(row["receiver_name"]),
        phone=pii.open_(row["receiver_phone"]),
        province=row["receiver_province"],
        city=row["receiver_city"],
        district=row["receiver_district"],
        detail=pii.open_(row["receiver_detail"]),
        address=pii.open_(row["receiver_address"]),
        division_code=row.get("receiver_division_code") or "",
        phone_ext=row.get("receiver_phone_ext") or "",
        cipher=decode_cipher(row.get("receiver_cipher")),
        country=row.get("receiver_country") or DOMESTIC,
        postcode=row.get("receiver_postcode") or "",
    )


async def _insert_order(channel_id: int, order: NewOrder, now: Any) -> int | None:
    """SQLite: store one new order and its lines (None when the channel already had it)."""
    row = Order(
        channel=channel_id,
        status=OrderStatus.RECEIVED.value,
        tags="[]",
        priority="normal",
        received_at=now,
        updated_at=now,
        **_order_row(order),
    )
    inserted = (
        await Order.insert(row)
        .on_conflict(target=(Order.channel, Order.external_id), action="DO NOTHING")
        .returning(Order.id)
    )
    if not inserted:
        return None
    order_id = int(inserted[0]["id"])
    await OrderLine.insert(
        *[
            OrderLine(
                order=order_id,
                line_no=i + 1,
                sku_code=line.sku.strip(),
                qty=line.qty,
                unit_price=line.unit_price,
                amount=line.qty * line.unit_price,
                is_gift=False,
                reserved_qty=0,
            )
            for i, line in enumerate(order.lines)
        ]
    )
    return order_id


def _order_row(order: NewOrder) -> dict[str, Any]:
    """The ``sales_order`` columns of a new order that depend on it (the rest: channel, status, times, defaults)."""
    receiver = order.receiver
    if receiver.cipher is not None and not receiver.cipher.order_id:  # the platform order the ciphertext is of
        receiver = msgspec.structs.replace(
            receiver, cipher=msgspec.structs.replace(receiver.cipher, order_id=order.external_id)
        )
    return {
        "external_id": order.external_id,
        "buyer_nick": order.buyer_nick,
        "buyer_phone": pii.seal(order.buyer_phone),
        **receiver_columns(receiver),
        "goods_amount": sum(line.qty * line.unit_price for line in order.lines),
        "shipping_fee": order.shipping_fee,
        "discount": order.discount,
        "paid_amount": order.paid_amount,
        "platform_discount": order.platform_discount,
        "buyer_memo": order.buyer_memo,
        "seller_memo": order.seller_memo,
        "placed_at": order.placed_at,
        "paid_at": order.paid_at,
        "ship_by": order.ship_by,
        "raw_payload": pii.seal(_json(order.raw).decode()),
        "fingerprint": fingerprint(order),
        "source_receiver": receiver_signature(order.receiver),
    }


# The intake's columns and their PostgreSQL types, in the order the arrays are bound.
_INTAKE_COLUMNS = (
    ("external_id", "varchar"), ("buyer_nick", "varchar"), ("buyer_phone", "text"), ("receiver_name", "text"),
    ("receiver_phone", "text"), ("receiver_phone_key", "varchar"), ("receiver_phone_tail", "varchar"),
    ("receiver_province", "varchar"), ("receiver_city", "varchar"), ("receiver_district", "varchar"),
    ("receiver_detail", "text"), ("receiver_address", "text"), ("receiver_cipher", "text"),
    ("receiver_country", "varchar"), ("receiver_postcode", "varchar"), ("receiver_match_key", "varchar"),
    ("goods_amount", "bigint"), ("shipping_fee", "bigint"), ("discount", "bigint"), ("paid_amount", "bigint"),
    ("platform_discount", "bigint"), ("buyer_memo", "text"), ("seller_memo", "text"), ("placed_at", "timestamptz"),
    ("paid_at", "timestamptz"), ("ship_by", "timestamptz"), ("raw_payload", "text"), ("fingerprint", "varchar"),
    ("source_receiver", "varchar"),
)  # fmt: skip
_INTAKE_NAMES = ", ".join(name for name, _ in _INTAKE_COLUMNS)
# One statement for the request's orders and their lines: the orders not already stored (channel, external_id) are
# inserted, and only their lines, each with its SKU resolved now (an active SKU of that code; validation checks it
# again). Each column is one array parameter, whatever the number of orders; the request's size is bounded
# (MAX_INGEST_BATCH orders of at most MAX_LINES lines). The lines are inserted (and numbered) in the order given, as
# one INSERT per order did: a join's output has no order of its own, ORDER BY gives it one.
_INTAKE_SQL = (
    "WITH o AS (INSERT INTO sales_order (channel, status, tags, priority, received_at, updated_at, "
    f"{_INTAKE_NAMES}) SELECT {{}}, {{}}, '[]', 'normal', {{}}, {{}}, {_INTAKE_NAMES} FROM unnest("
    + ", ".join(f"{{}}::{kind}[]" for _, kind in _INTAKE_COLUMNS)
    + f") AS v({_INTAKE_NAMES}) ON CONFLICT (channel, external_id) DO NOTHING RETURNING id, external_id), "
    'l AS (INSERT INTO order_line ("order", line_no, sku_code, sku, qty, unit_price, amount, is_gift, reserved_qty) '
    "SELECT o.id, u.line_no, u.sku_code, s.id, u.qty, u.unit_price, u.qty * u.unit_price, FALSE, 0 "
    "FROM unnest({}::varchar[], {}::integer[], {}::varchar[], {}::integer[], {}::bigint[]) WITH ORDINALITY "
    "AS u(external_id, line_no, sku_code, qty, unit_price, n) JOIN o ON o.external_id = u.external_id "
    "LEFT JOIN sku s ON s.code = u.sku_code AND s.active ORDER BY u.n) "
    "SELECT id, external_id FROM o"
)


class _Stored(msgspec.Struct):
    id: int
    external_id: str


async def _insert_orders(
    channel_id: int, orders: Sequence[NewOrder], now: datetime
) -> list[tuple[NewOrder, int | None]]:
    """PostgreSQL: store ``orders`` (distinct external ids) with their lines in one statement per
    ``INTAKE_ORDERS_PER_STATEMENT``; each with its new id, or None when the channel already had it."""
    stored: dict[str, int] = {}
    for chunk in db.chunks(orders, INTAKE_ORDERS_PER_STATEMENT):
        rows = [_order_row(order) for order in chunk]
        lines = [
            (order.external_id, i + 1, line.sku.strip(), line.qty, line.unit_price)
            for order in chunk
            for i, line in enumerate(order.lines)
        ]
        made = await db.fetch_as(
            _Stored,
            _INTAKE_SQL,
            channel_id,
            OrderStatus.RECEIVED.value,
            now,
            now,
            *[[row[name] for row in rows] for name, _ in _INTAKE_COLUMNS],
            *[list(column) for column in zip(*lines, strict=True)],
        )
        stored.update((row.external_id, row.id) for row in made)
    return [(order, stored.get(order.external_id)) for order in orders]


# Orders per intake statement (a request carries at most a few hundred; each column is one array parameter).
INTAKE_ORDERS_PER_STATEMENT = 1_000


async def ingest(
    channel_id: int, channel_code: str, orders: Sequence[NewOrder | IngestOutcome], *, actor: str
) -> list[IngestOutcome]:
    """Store each valid order once per (channel, external_id) and queue it for the pipeline.

    ``orders`` may already contain rejected outcomes (from wire decoding); they are passed through in place.
    Runs in one transaction; rows are inserted in external_id order so concurrent batches never deadlock.
    """
    outcomes: list[IngestOutcome | None] = [None] * len(orders)
    todo: list[tuple[int, NewOrder]] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(orders):
        if isinstance(item, IngestOutcome):
            outcomes[index] = item
            continue
        try:
            check_new_order(item)
        except ValidationFailed as exc:
            outcomes[index] = IngestOutcome(
                external_id=item.external_id,
                status="rejected",
                error_code=exc.code,
                error_message=exc.message,
                error_field=exc.field,
            )
            continue
        if item.external_id in first_index:
            continue  # same order twice in one batch: answered as a duplicate below
        first_index[item.external_id] = index
        todo.append((index, item))

    todo.sort(key=lambda pair: pair[1].external_id)
    accepted: list[int] = []
    ids: dict[str, tuple[int, bool]] = {}
    now = clock.now()
    async with db.transaction():
        if db.is_sqlite():
            stored = [(order, await _insert_order(channel_id, order, now)) for _, order in todo]
        else:  # PostgreSQL: every order and line of the request in one statement
            stored = await _insert_orders(channel_id, [order for _, order in todo], now)
        for order, order_id in stored:
            if order_id is None:
                continue
            ids[order.external_id] = (order_id, True)
            accepted.append(order_id)
            await record_event(order_id, OrderEventType.RECEIVED, to_status=OrderStatus.RECEIVED.value, actor=actor)
            publish_after_commit(
                OrderReceived(order_id=order_id, channel=channel_code, external_id=order.external_id, at=now),
                Topic.ORDERS,
            )
        known = [order.external_id for order, order_id in stored if order_id is None]
        for chunk in db.chunks(known):  # re-sent orders: the id they were stored under
            for row in await Order.select(Order.id, Order.external_id).where(
                (Order.channel == channel_id) & Order.external_id.is_in(list(chunk))
            ):
                ids[row["external_id"]] = (int(row["id"]), False)
        for external_id in known:
            ids.setdefault(external_id, (0, False))

        async def _enqueue() -> None:
            await enqueue_processing(accepted)
            await surge.record_inflow(len(accepted))

        db.after_commit(_enqueue)

    for index, item in enumerate(orders):
        if outcomes[index] is not None or isinstance(item, IngestOutcome):
            continue
        order_id, created = ids[item.external_id]
        created_here = created and first_index[item.external_id] == index
        outcomes[index] = IngestOutcome(
            external_id=item.external_id,
            status="accepted" if created_here else "duplicate",
            order_id=order_id or None,
        )
    return [outcome for outcome in outcomes if outcome is not None]


# Called inside the transaction when an order leaves the pick flow (ready / picking → anything but picking /
# packed): cancelled, intercepted, held, re-entering the pipeline. Picking registers one to withdraw pick tasks;
# the orders context cannot import picking (picking builds on orders).
LeaveHook = Callable[[int, OrderStatus, OrderStatus, str | None], Awaitable[None]]
LEAVING_PICK_FLOW_HOOKS: Hooks[LeaveHook] = Hooks("order leaving the pick flow")
_PICK_FLOW = frozenset({OrderStatus.READY, OrderStatus.PICKING})
_IN_PICK_FLOW = frozenset({OrderStatus.PICKING, OrderStatus.PACKED})


async def transition(
    order_id: int,
    target: OrderStatus,
    *,
    expected: OrderStatus | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    actor: str = "system",
    hold_queue: str | None = None,
    values: dict[Any, Any] | None = None,
    via: OrderStatus | None = None,
    guard: dict[Any, Any] | None = None,
) -> OrderStatus:
    """Move an order to ``target`` (inside the caller's transaction); returns the status it left.

    ``values`` are other columns written by the same UPDATE (what the step that moves the order learned).
    ``via``: pass through that status in the same UPDATE (both steps must be legal; both are recorded and
    published), for a step whose intermediate state no other transaction could ever see.
    ``guard``: columns that must still hold the values the caller decided on (else Conflict, like the status).

    ``reason`` is kept on the order while it is in exception (``exception_reason``) or held (``hold_reason``,
    with ``hold_queue``); leaving those statuses clears them.

    The UPDATE is conditional on the status we checked, so two writers racing on one order cannot both win.
    """
    if expected is None:
        row = await Order.select(Order.status).where(Order.id == order_id).first()
        if row is None:
            raise NotFound("订单不存在", field="order_id")
        expected = OrderStatus(row["status"])
    if via is not None:
        ensure_transition(expected, via)
        ensure_transition(via, target)
    else:
        ensure_transition(expected, target)
    now = clock.now()
    previous: int | None = None
    if STATUS_CHANGE_HOOKS and values and Order.warehouse in values:  # its warehouse before this UPDATE changes it
        row = await Order.select(Order.warehouse).where(Order.id == order_id).first()
        previous = row["warehouse"] if row else None
    updated = (
        await Order.update(
            {
                Order.status: target.value,
                Order.exception_reason: reason if target == OrderStatus.EXCEPTION else None,
                Order.hold_queue: (hold_queue or "default") if target == OrderStatus.HELD else None,
                Order.hold_reason: reason if target == OrderStatus.HELD else None,
                Order.updated_at: now,
                **(values or {}),
            }
        )
        .where(_guarded((Order.id == order_id) & (Order.status == expected.value), guard))
        .returning(Order.id, Order.warehouse)
    )
    if not updated:
        raise Conflict("订单已被其他操作修改，请刷新后重试", code=CommonError.CONCURRENT_UPDATE, field="status")
    if expected in _PICK_FLOW and target not in _IN_PICK_FLOW:
        for hook in LEAVING_PICK_FLOW_HOOKS:
            await hook(order_id, expected, target, reason)
    steps = [(expected, via), (via, target)] if via is not None else [(expected, target)]
    for src, dst in steps:
        assert src is not None and dst is not None
        last = dst == target
        await record_event(
            order_id,
            OrderEventType.STATUS_CHANGED,
            from_status=src.value,
            to_status=dst.value,
            reason=reason if last else None,
            data={**(data or {}), **({"queue": hold_queue} if target == OrderStatus.HELD else {})} if last else {},
            actor=actor,
        )
        publish_after_commit(
            OrderStatusChanged(
                order_id=order_id, from_status=src.value, to_status=dst.value, reason=reason if last else None, at=now
            ),
            Topic.ORDERS,
            order_topic(order_id),
        )
    if STATUS_CHANGE_HOOKS:
        warehouse_id = updated[0]["warehouse"]
        change = StatusChange(
            order_id=order_id,
            from_status=expected.value,
            to_status=target.value,
            warehouse_id=warehouse_id,
            previous_warehouse_id=previous if values and Order.warehouse in values else warehouse_id,
        )
        for status_hook in STATUS_CHANGE_HOOKS:
            await status_hook(change)
    return expected


def _guarded(condition: Any, guard: dict[Any, Any] | None) -> Any:
    """``condition`` and, for each guarded column, "still has the value the caller read"."""
    for column, value in (guard or {}).items():
        condition = condition & (column == value)
    return condition


def _decode_list(raw: str | None) -> list[Any]:
    return msgspec.json.decode(raw or "[]") if raw else []


def masked_receiver(receiver: Receiver) -> Receiver:
    """The receiver as a reader who may not see it in clear sees it: name, phone and street masked (province,
    city, district as they are); an encrypted receiver's masked forms are the platform's own."""
    cipher = receiver.cipher
    detail = cipher.detail_masked if cipher is not None and cipher.detail_masked else pii.mask_detail(receiver.detail)
    place = "".join(p for p in (receiver.province, receiver.city, receiver.district) if p)
    return msgspec.structs.replace(
        receiver,
        name=cipher.name_masked if cipher is not None and cipher.name_masked else pii.mask_name(receiver.name),
        phone=cipher.phone_masked if cipher is not None and cipher.phone_masked else pii.mask_phone(receiver.phone),
        detail=detail,
        address=place + detail if place or detail else pii.mask_detail(receiver.address),
        phone_ext="",
    )


def shown_to(view: OrderView, role: str) -> OrderView:
    """The order as a reader with ``role`` may see it (:data:`pii.CLEAR_READERS` see what the hub holds in clear;
    everyone sees an encrypted receiver masked until someone decrypts it through the platform)."""
    if role in pii.CLEAR_READERS and view.receiver.cipher is None:
        return view
    return msgspec.structs.replace(
        view, receiver=masked_receiver(view.receiver), buyer_phone=pii.mask_phone(view.buyer_phone)
    )


def order_view(row: dict[str, Any]) -> OrderView:
    return OrderView(
        id=row["id"],
        channel=row["channel.code"],
        external_id=row["external_id"],
        status=row["status"],
        exception_reason=row["exception_reason"],
        hold_queue=row["hold_queue"],
        hold_reason=row["hold_reason"],
        buyer_nick=row["buyer_nick"],
        buyer_phone=pii.open_(row["buyer_phone"]),
        receiver=receiver_from_row(row),
        goods_amount=row["goods_amount"],
        shipping_fee=row["shipping_fee"],
        discount=row["discount"],
        paid_amount=row["paid_amount"],
        buyer_memo=row["buyer_memo"],
        seller_memo=row["seller_memo"],
        tags=_decode_list(row["tags"]),
        priority=row["priority"],
        preferred_carrier=row["preferred_carrier"],
        placed_at=row["placed_at"],
        paid_at=row["paid_at"],
        ship_by=row["ship_by"],
        warehouse=row["warehouse.code"],
        received_at=row["received_at"],
        updated_at=row["updated_at"],
        needs_backfill=bool(row["needs_backfill"]),
        waybill_no=row.get("shipped_waybill_no") or "",
        customs_estimate=(
            msgspec.json.decode(row["customs_estimate"], type=DutyEstimate) if row.get("customs_estimate") else None
        ),
    )


ORDER_COLUMNS = (
    *Order.all_columns(exclude=[Order.channel, Order.warehouse, Order.raw_payload, Order.preferred_warehouse]),
    Order.channel.code,
    Order.warehouse.code,
)


async def ensure_in_scope(order_id: int, warehouse_id: int | None) -> None:
    """Raise NotFound unless the order exists and, for a user bound to a warehouse, is that warehouse's."""
    query = Order.exists().where(Order.id == order_id)
    if warehouse_id is not None:
        query = query.where(Order.warehouse == warehouse_id)
    if not await query:
        raise NotFound("订单不存在", field="order_id")


async def get_order(order_id: int, *, warehouse_id: int | None = None) -> OrderView:
    query = Order.select(*ORDER_COLUMNS).where(Order.id == order_id)
    if warehouse_id is not None:
        query = query.where(Order.warehouse == warehouse_id)
    row = await query.first()
    if row is None:
        raise NotFound("订单不存在", field="id")
    lines = await (
        OrderLine.select(*OrderLine.all_columns(exclude=[OrderLine.warehouse]), OrderLine.warehouse.code)
        .where(OrderLine.order == order_id)
        .order_by(OrderLine.line_no)
    )
    events = await OrderEvent.select().where(OrderEvent.order == order_id).order_by(OrderEvent.id)
    shipment_ids = sorted({int(line["shipment"]) for line in lines if line["shipment"] is not None})
    shipments = (
        await Shipment.select(*Shipment.all_columns(exclude=[Shipment.warehouse]), Shipment.warehouse.code)
        .where(Shipment.id.is_in(shipment_ids))  # bounded: one order's shipments (≤ its lines)
        .order_by(Shipment.id)
        if shipment_ids
        else []
    )
    members: dict[int, list[int]] = defaultdict(list)
    if shipment_ids:
        for member in await OrderLine.select(OrderLine.shipment, OrderLine.order).where(
            OrderLine.shipment.is_in(shipment_ids)  # bounded: one order's shipments (≤ its lines)
        ):
            if int(member["order"]) not in members[int(member["shipment"])]:
                members[int(member["shipment"])].append(int(member["order"]))
    view = order_view(row)
    return msgspec.structs.replace(
        view,
        lines=[
            OrderLineView(
                line_no=line["line_no"],
                sku=line["sku_code"],
                qty=line["qty"],
                unit_price=line["unit_price"],
                amount=line["amount"],
                is_gift=bool(line["is_gift"]),
                reserved_qty=line["reserved_qty"],
                warehouse=line["warehouse.code"],
                shipment=line["shipment"],
            )
            for line in lines
        ],
        shipments=[
            ShipmentView(
                id=s["id"],
                warehouse=s["warehouse.code"],
                packing_line=s["packing_line"],
                weight_g=s["weight_g"],
                volume_cm3=s["volume_cm3"],
                status=s["status"],
                order_ids=members.get(int(s["id"]), []),
            )
            for s in shipments
        ],
        events=[
            OrderEventView(
                id=event["id"],
                type=event["type"],
                from_status=event["from_status"],
                to_status=event["to_status"],
                reason=event["reason"],
                data=msgspec.json.decode(event["data"] or "{}"),
                actor=event["actor"],
                created_at=event["created_at"],
            )
            for event in events
        ],
    )
