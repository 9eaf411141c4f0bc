"""After-sale commands on an order (售后), as an approved request carries them out (``orderhub.approvals.kinds``):

* :func:`record_refund` — a refund written on the order as an ``order.refund_recorded`` event (amount in fen,
  reason, the request), never more in total than the order's paid amount. The money moves on the platform; the hub
  records it so finance (settlement reconciliation) and the dashboards can read it.
* :func:`create_reship` — a replacement order (补发单) for some lines: same channel and receiver, lines at price 0,
  ``reship_of`` naming the original, an order number derived from the original's and the request's (so approving
  twice or a retried decision never makes two), created through :func:`orderhub.orders.service.ingest` like any
  new order — reserved, routed and waved by the normal pipeline. It skips the rules (gifts, approval holds) and the
  duplicate check: an approved reship is neither a new sale nor a duplicate. Both orders' logs name the other.
* :func:`replace_receiver_in_place` — a new receiver for an order already in the warehouse (picking / packed),
  standardised at once: it will not pass validation again, and its waybill is asked for with these fields.

Each joins the caller's transaction (or runs in its own)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.address import normalise_phone, standardise
from orderhub.address.international import DOMESTIC, validate_international
from orderhub.catalog.tables import Sku
from orderhub.errors import Conflict, NotFound, ValidationFailed
from orderhub.orders import pii
from orderhub.orders.commands import NewOrder, NewOrderLine, Receiver
from orderhub.orders.errors import OrderError
from orderhub.orders.events import OrderEventType
from orderhub.orders.pipeline.commands import replace_receiver
from orderhub.orders.service import MAX_LINES, decode_cipher, full_address, ingest, record_event
from orderhub.orders.state import OrderStatus
from orderhub.orders.tables import Order

__all__ = [
    "MAX_RESHIP_LINES",
    "Reship",
    "ReshipLine",
    "check_refund",
    "check_reship",
    "create_reship",
    "record_refund",
    "refunded_total",
    "replace_receiver_in_place",
    "reship_external_id",
    "standardised_receiver",
]

MAX_RESHIP_LINES = MAX_LINES
RESHIP_TAG = "补发"
_EXTERNAL_ID_MAX = 64


class ReshipLine(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    qty: int


class Reship(msgspec.Struct, frozen=True, kw_only=True):
    order_id: int
    external_id: str
    created: bool  # False: it existed already (the same request's reship)


def reship_external_id(original: str, request_id: int, *, tag: str = "BF") -> str:
    """The reship's order number: the original's with ``-BF{request}`` (补发; ``-SH{after-sale id}`` for an
    after-sale case decided without an approval request). Within the 64 characters an order number may have: a long
    original keeps its head and a short hash of the whole, so two originals sharing a prefix never share a reship
    number."""
    suffix = f"-{tag}{request_id}"
    if len(original) + len(suffix) <= _EXTERNAL_ID_MAX:
        return f"{original}{suffix}"
    digest = hashlib.sha1(original.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{original[: _EXTERNAL_ID_MAX - len(suffix) - 9]}~{digest}{suffix}"


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


# ------------------------------------------------------------------------------------------------------ refunds


class _EventData(msgspec.Struct):
    data: str


class _Paid(msgspec.Struct):
    paid_amount: int
    status: str


async def refunded_total(order_id: int) -> int:
    """What the order's recorded refunds add up to (fen)."""
    rows = await db.fetch_as(
        _EventData,
        'SELECT data FROM order_event WHERE "order" = {} AND type = {}',
        order_id,
        OrderEventType.REFUND_RECORDED.value,
    )
    return sum(int(msgspec.json.decode(r.data or "{}").get("amount", 0)) for r in rows)


async def _paid(order_id: int, *, lock: bool = False) -> _Paid:
    # Raw SQL: the order's row lock (PostgreSQL) while a refund is counted against it.
    row = await db.fetch_one_as(
        _Paid,
        f"SELECT paid_amount, status FROM sales_order WHERE id = {{}}{db.for_update() if lock else ''}",
        order_id,
    )
    if row is None:
        raise NotFound("订单不存在", field="order_id")
    return row


async def check_refund(order_id: int, amount: int) -> int:
    """Refuse a refund of ``amount`` fen the order cannot take (with what it already refunded); returns what was
    refunded before."""
    if amount <= 0:
        raise ValidationFailed("退款金额（分）必须大于 0", field="refund_amount")
    paid = await _paid(order_id)
    before = await refunded_total(order_id)
    if before + amount > paid.paid_amount:
        left = max(0, paid.paid_amount - before)
        raise Conflict(
            f"退款金额 {_yuan(amount)} 超过订单可退金额 {_yuan(left)}（实付 {_yuan(paid.paid_amount)}，"
            f"已退 {_yuan(before)}）",
            code=OrderError.REFUND_EXCEEDS_PAID,
            field="refund_amount",
            extra={"paid_amount": paid.paid_amount, "refunded": before},
        )
    return before


async def record_refund(
    order_id: int,
    *,
    amount: int,
    reason: str,
    request_id: int | None,
    actor: str,
    at: datetime | None = None,
    after_sale_id: int | None = None,
    source: str | None = None,
    kind: str | None = None,
) -> int:
    """Write a refund on the order (``order.refund_recorded``: ``amount`` fen, ``reason``, ``request_id``, the
    total refunded after it, ``at`` — when the money moved, ISO 8601 UTC — and, for an after-sale case
    (:mod:`orderhub.orders.aftersales`), its ``after_sale_id``, ``source`` and ``kind``); returns that total."""
    async with db.transaction():
        paid = await _paid(order_id, lock=True)
        before = await check_refund(order_id, amount)
        total = before + amount
        data: dict[str, Any] = {
            "amount": amount,
            "reason": reason,
            "request_id": request_id,
            "refunded_total": total,
            "paid_amount": paid.paid_amount,
            "at": (at or clock.now()).isoformat(),
        }
        if after_sale_id is not None:
            data.update(after_sale_id=after_sale_id, source=source, kind=kind)
        await record_event(
            order_id,
            OrderEventType.REFUND_RECORDED,
            reason="approval" if request_id is not None else ("after_sale" if after_sale_id is not None else None),
            data=data,
            actor=actor,
        )
    return total


# ------------------------------------------------------------------------------------------------------ reships


class _SkuCode(msgspec.Struct):
    code: str


async def check_reship(order_id: int, lines: Sequence[ReshipLine]) -> None:
    """Refuse a reship the order cannot have: a cancelled order, no lines or too many, an unknown or inactive SKU
    (the field names the first)."""
    if not lines:
        raise ValidationFailed(OrderError.RESHIP_NO_LINES, field="reship_lines")
    if len(lines) > MAX_RESHIP_LINES:
        raise ValidationFailed(
            f"一次最多补发 {MAX_RESHIP_LINES} 行商品", code=OrderError.RESHIP_TOO_MANY_LINES, field="reship_lines"
        )
    for i, line in enumerate(lines):
        if not line.sku.strip() or line.qty <= 0:
            raise ValidationFailed(OrderError.RESHIP_BAD_LINE, field=f"reship_lines[{i}]")
    if (await _paid(order_id)).status == OrderStatus.CANCELLED.value:
        raise Conflict(OrderError.RESHIP_NOT_ALLOWED, field="order_id")
    codes = sorted({line.sku.strip() for line in lines})
    known: set[str] = set()
    for chunk in db.chunks(codes):  # at most MAX_RESHIP_LINES codes: one chunk
        known.update(
            r.code
            for r in db.rows_as(
                _SkuCode,
                await Sku.select(Sku.code).where(Sku.code.is_in(list(chunk)) & (Sku.active == True)),  # noqa: E712
            )
        )
    for i, line in enumerate(lines):
        if line.sku.strip() not in known:
            raise NotFound(
                f"补发商品 {line.sku} 不存在或已停用",
                code=OrderError.RESHIP_UNKNOWN_SKU,
                field=f"reship_lines[{i}].sku",
            )


class _Original(msgspec.Struct, kw_only=True):
    id: int
    external_id: str
    status: str
    channel: int
    channel_code: str
    ship_within_hours: int
    buyer_nick: str
    buyer_phone: str
    receiver_name: str
    receiver_phone: str
    receiver_phone_ext: str
    receiver_province: str
    receiver_city: str
    receiver_district: str
    receiver_detail: str
    receiver_address: str
    receiver_cipher: str
    receiver_country: str
    receiver_postcode: str
    preferred_carrier: str | None


class _ReshipOf(msgspec.Struct):
    reship_of: int | None


async def create_reship(
    original_id: int,
    lines: Sequence[ReshipLine],
    *,
    request_id: int | None,
    reason: str,
    approved_by: str,
    actor: str,
    after_sale_id: int | None = None,
) -> Reship:
    """The replacement order for ``lines`` of ``original_id`` on approval ``request_id`` (or, decided without one,
    after-sale case ``after_sale_id``): created once (the same request again answers the order made the first
    time), queued for the pipeline after commit."""
    if request_id is None and after_sale_id is None:
        raise ValueError("a reship needs its approval request or its after-sale case")
    await check_reship(original_id, lines)
    async with db.transaction():
        original = await db.fetch_one_as(
            _Original,
            "SELECT o.id, o.external_id, o.status, o.channel, c.code AS channel_code, c.ship_within_hours, "
            "o.buyer_nick, o.buyer_phone, o.receiver_name, o.receiver_phone, o.receiver_phone_ext, "
            "o.receiver_province, o.receiver_city, o.receiver_district, o.receiver_detail, o.receiver_address, "
            "o.receiver_cipher, o.receiver_country, o.receiver_postcode, o.preferred_carrier "
            "FROM sales_order o JOIN channel c ON c.id = o.channel WHERE o.id = {}",
            original_id,
        )
        if original is None:
            raise NotFound("订单不存在", field="order_id")
        if request_id is not None:
            external_id = reship_external_id(original.external_id, request_id)
        else:
            assert after_sale_id is not None
            external_id = reship_external_id(original.external_id, after_sale_id, tag="SH")
        now = clock.now()
        new = _new_order(
            original, lines, external_id, now, request_id=request_id, after_sale_id=after_sale_id, reason=reason
        )
        (outcome,) = await ingest(original.channel, original.channel_code, [new], actor=actor)
        if outcome.status == "rejected" or outcome.order_id is None:
            raise ValidationFailed(
                f"无法创建补发单：{outcome.error_message or '订单数据不完整'}",
                field=outcome.error_field or "order_id",
            )
        reship_id = outcome.order_id
        if outcome.status == "duplicate":
            found = await db.fetch_one_as(_ReshipOf, "SELECT reship_of FROM sales_order WHERE id = {}", reship_id)
            if found is None or found.reship_of != original_id:
                raise Conflict(
                    f"补发单号 {external_id} 已被其他订单占用", code=OrderError.RESHIP_ID_TAKEN, field="order_id"
                )
            return Reship(order_id=reship_id, external_id=external_id, created=False)
        # Rules (gifts, approval holds, tags) and the duplicate check are a sale's: marked done for the reship.
        await Order.update(
            {
                Order.reship_of: original_id,
                Order.rules_applied_at: now,
                Order.tags: msgspec.json.encode([RESHIP_TAG]).decode(),
                Order.preferred_carrier: original.preferred_carrier,
            }
        ).where(Order.id == reship_id)
        shown = [{"sku": line.sku.strip(), "qty": line.qty} for line in lines]
        await record_event(
            reship_id,
            OrderEventType.CREATED_AS_RESHIP,
            reason="reship",
            data={
                "original_order_id": original_id,
                "original_external_id": original.external_id,
                "request_id": request_id,
                "after_sale_id": after_sale_id,
                "reason": reason,
                "approved_by": approved_by,
                "lines": shown,
                "note": "补发单：不执行赠品/审批等规则，不做重复订单检查",
            },
            actor=actor,
        )
        await record_event(
            original_id,
            OrderEventType.RESHIP_CREATED,
            data={
                "reship_order_id": reship_id,
                "reship_external_id": external_id,
                "request_id": request_id,
                "after_sale_id": after_sale_id,
                "lines": shown,
            },
            actor=actor,
        )
    return Reship(order_id=reship_id, external_id=external_id, created=True)


def _new_order(
    original: _Original,
    lines: Sequence[ReshipLine],
    external_id: str,
    now: datetime,
    *,
    request_id: int | None,
    after_sale_id: int | None,
    reason: str,
) -> NewOrder:
    phone = pii.open_(original.receiver_phone)
    if original.receiver_phone_ext:
        phone = f"{phone}转{original.receiver_phone_ext}"
    structured = bool(original.receiver_province and original.receiver_detail)
    receiver = Receiver(
        name=pii.open_(original.receiver_name),
        phone=phone,
        province=original.receiver_province,
        city=original.receiver_city,
        district=original.receiver_district,
        detail=pii.open_(original.receiver_detail),
        address="" if structured else pii.open_(original.receiver_address),
        cipher=decode_cipher(original.receiver_cipher),  # an encrypted receiver stays the platform's to print
        country=original.receiver_country or "CN",  # a reship abroad goes to the same country and postcode
        postcode=original.receiver_postcode,
    )
    merged: dict[str, int] = {}
    for line in lines:
        merged[line.sku.strip()] = merged.get(line.sku.strip(), 0) + line.qty
    basis = f"审批 #{request_id}" if request_id is not None else f"售后单 #{after_sale_id}"
    memo = f"补发：原订单 {original.external_id}（{basis}）{reason}".strip()
    return NewOrder(
        external_id=external_id,
        placed_at=now,
        paid_at=now,
        ship_by=now + timedelta(hours=original.ship_within_hours),
        buyer_nick=original.buyer_nick,
        buyer_phone=pii.open_(original.buyer_phone),
        receiver=receiver,
        lines=tuple(NewOrderLine(sku=sku, qty=qty, unit_price=0) for sku, qty in merged.items()),
        shipping_fee=0,
        discount=0,
        paid_amount=0,
        buyer_memo="",
        seller_memo=memo[:500],
        raw={
            "reship_of": original.id,
            "original_external_id": original.external_id,
            "request_id": request_id,
            "after_sale_id": after_sale_id,
        },
    )


# --------------------------------------------------------------------------------------- receiver in the warehouse


def standardised_receiver(receiver: Receiver) -> tuple[Receiver, str, str]:
    """The receiver with its address split into 省/市/区县/详细地址 and its phone normalised, with the division code and
    the phone's extension; :class:`ValidationFailed` (``receiver_unrecognised``) saying what is not understood. A
    receiver abroad is checked against its country's address rules instead and kept as given."""
    if receiver.country != DOMESTIC:
        checked = validate_international(
            country=receiver.country,
            region=receiver.province,
            city=receiver.city,
            postcode=receiver.postcode,
            lines=receiver.detail.splitlines(),
            phone=receiver.phone,
        )
        if not checked.ok:
            raise ValidationFailed(
                f"新收货地址无法识别：{checked.message}", code=OrderError.RECEIVER_UNRECOGNISED, field=checked.field
            )
        standard = msgspec.structs.replace(
            receiver, name=receiver.name.strip(), postcode=checked.postcode, district="", division_code=""
        )
        return standard, "", ""
    if receiver.province.strip():
        address = standardise(
            province=receiver.province, city=receiver.city, district=receiver.district, detail=receiver.detail
        )
    else:
        address = standardise(address=full_address(receiver))
    if not address.ok:
        raise ValidationFailed(
            f"新收货地址无法识别：{address.message or '请填写省、市、区县和详细地址'}",  # never the address itself
            code=OrderError.RECEIVER_UNRECOGNISED,
            field="receiver.address",
        )
    phone = normalise_phone(receiver.phone)
    if not phone.ok:
        raise ValidationFailed(
            f"新收货电话无法识别：{phone.message or '请填写手机号或带区号的固定电话'}",  # never the number itself
            code=OrderError.RECEIVER_UNRECOGNISED,
            field="receiver.phone",
        )
    standard = Receiver(
        name=receiver.name.strip(),
        phone=phone.number,
        province=address.province,
        city=address.city,
        district=address.district,
        detail=address.detail,
    )
    return standard, address.code or "", phone.extension or ""


async def replace_receiver_in_place(order_id: int, receiver: Receiver, *, actor: str) -> Receiver:
    """Put a new, standardised receiver on an order that will not pass validation again (it is being picked or is
    packed); returns it as stored. Call inside a transaction."""
    standard, division_code, extension = standardised_receiver(receiver)
    await replace_receiver(order_id, standard, actor=actor)
    values: dict[Any, Any] = {Order.receiver_division_code: division_code, Order.receiver_phone_ext: extension}
    await Order.update(values).where(Order.id == order_id)
    return standard
