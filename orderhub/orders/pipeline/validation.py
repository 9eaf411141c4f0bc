"""Validation: RECEIVED → VALIDATED, HELD or EXCEPTION, in one transaction. Owns the receiver's standardisation
(address and phone), the duplicate check (same content within :data:`DUPLICATE_WINDOW`), the rules (tags,
priority, holds, preferences) and the gift lines they add, and resolving SKU codes; a valid order that a plan
covers is reserved in the same transaction (see :func:`~orderhub.orders.pipeline.reservation.reserve_inline`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.address import normalise_phone, standardise
from orderhub.address.international import DOMESTIC, validate_international
from orderhub.catalog.tables import Sku
from orderhub.customs.model import CheckLine
from orderhub.customs.service import check_order
from orderhub.inventory.tables import Warehouse
from orderhub.orders import pii
from orderhub.orders.events import OrderEventType
from orderhub.orders.pipeline.cache import cached
from orderhub.orders.pipeline.reservation import reserve_inline
from orderhub.orders.pipeline.rows import LineRow, OrderRow, SkuRow
from orderhub.orders.service import record_event, transition
from orderhub.orders.state import ExceptionReason, OrderStatus
from orderhub.orders.tables import Order, OrderLine
from orderhub.rules.model import OrderFacts
from orderhub.rules.service import (
    GiftLine,
    HoldRequest,
    RuleOutcome,
    evaluate,
    load_enabled_rules,
    memo_gift_candidates,
)

__all__ = [
    "DUPLICATE_WINDOW",
    "check_receiver",
    "record_fired",
    "rule_facts",
    "rule_outcome",
    "rule_values",
    "validate",
]

S = OrderStatus
DUPLICATE_WINDOW = timedelta(minutes=5)


async def validate(order_id: int, order: OrderRow, *, fast: bool = True) -> OrderStatus:
    """RECEIVED → VALIDATED, HELD or EXCEPTION, in one transaction.

    On the first pass the rules run (tags, priority, gifts, holds, preferences) and the duplicate check is
    made; an order re-entering after a released hold or a resolved exception skips both. What validation
    learns (standardised receiver, rule outcomes) is written with the status change, in one UPDATE.

    ``fast``: when the order is valid and a warehouse plan covers it, reserve in the same transaction
    (RECEIVED → VALIDATED → READY in one commit); anything else (short stock, no warehouse) is left to
    :func:`~orderhub.orders.pipeline.reservation.reserve_order`, which re-plans and applies the channel's split
    policy.
    """
    first_pass = order.rules_applied_at is None
    values: dict[Any, Any] = {}
    # What validation decides holds for the receiver it read; a change made meanwhile (the platform's new
    # address) makes the UPDATE miss, and the job runs again on the new receiver.
    guard = {  # as stored: sealed (deterministically, so sealing what was read gives the column's value)
        Order.receiver_name: pii.seal(order.receiver_name),
        Order.receiver_phone: pii.seal(order.receiver_phone),
        Order.receiver_address: pii.seal(order.receiver_address),
    }
    async with db.transaction():
        if not order.receiver_division_code:
            problem = check_receiver(order, values)
            if problem is not None:
                reason, data = problem
                await transition(order_id, S.EXCEPTION, expected=S.RECEIVED, reason=reason, data=data, guard=guard)
                return S.EXCEPTION
        lines = db.rows_as(
            LineRow,
            await OrderLine.select(
                OrderLine.id, OrderLine.sku_code, OrderLine.is_gift, OrderLine.qty, OrderLine.line_no,
                OrderLine.unit_price, OrderLine.sku,
            ).where(OrderLine.order == order_id),
        )
        holds: list[HoldRequest] = []
        if first_pass:
            duplicate_of = await _suspected_duplicate(order_id, order.fingerprint, order.received_at)
            if duplicate_of is not None:
                holds.append(
                    HoldRequest(queue="duplicate", reason="suspected_duplicate", data={"duplicate_of": duplicate_of})
                )
            holds += await _apply_rules(order_id, order, lines, values)
        codes = sorted({line.sku_code for line in lines})
        skus = {
            sku.code: sku
            for sku in db.rows_as(
                SkuRow,
                await Sku.select(Sku.id, Sku.code, Sku.weight_g, Sku.volume_cm3).where(
                    Sku.code.is_in(codes)  # bounded: one order's lines (≤ MAX_LINES)
                    & (Sku.active == True)  # noqa: E712
                ),
            )
        }
        unknown = [code for code in codes if code not in skus]
        if unknown:
            gifts = sorted({line.sku_code for line in lines if line.is_gift and line.sku_code in unknown})
            await transition(
                order_id,
                S.EXCEPTION,
                expected=S.RECEIVED,
                reason=ExceptionReason.UNKNOWN_SKU.value,
                data={"skus": unknown, "gift_skus": gifts, "message": f"未知商品编码：{'、'.join(unknown)}"},
                values=values,
                guard=guard,
            )
            return S.EXCEPTION
        # The intake resolves SKUs (PostgreSQL); a line still without its SKU (a gift line, the embedded default, a
        # SKU created or replaced since) gets it here: one UPDATE per such SKU code.
        for code in sorted({line.sku_code for line in lines if line.sku != skus[line.sku_code].id}):
            await OrderLine.update({OrderLine.sku: skus[code].id}).where(
                (OrderLine.order == order_id) & (OrderLine.sku_code == code)
            )
        if holds:
            first, rest = holds[0], holds[1:]
            values[Order.pending_holds] = msgspec.json.encode(rest).decode()
            await transition(
                order_id,
                S.HELD,
                expected=S.RECEIVED,
                reason=first.reason,
                hold_queue=first.queue,
                data=first.data,
                values=values,
                guard=guard,
            )
            return S.HELD
        # After the holds: a held order (suspected duplicate, a rule's hold, an approval) passes here when it is
        # released, so the check never drops a hold; and it comes before any reservation, so an order lacking
        # customs data is never waved.
        if order.receiver_country != DOMESTIC:
            missing = await _check_customs(order, lines, values)
            if missing is not None:
                await transition(
                    order_id,
                    S.EXCEPTION,
                    expected=S.RECEIVED,
                    reason=ExceptionReason.CUSTOMS_DATA_MISSING.value,
                    data=missing,
                    values=values,
                    guard=guard,
                )
                return S.EXCEPTION
        if fast and await reserve_inline(order_id, order, lines, skus, values, guard):
            return S.READY
        await transition(order_id, S.VALIDATED, expected=S.RECEIVED, values=values, guard=guard)
    return S.VALIDATED


def check_receiver(order: OrderRow, values: dict[Any, Any]) -> tuple[str, dict[str, Any]] | None:
    """Fill 省/市/区县/详细地址 + division code and the normalised phone into ``values`` (and ``order``, which
    the rules and routing read); or say what is wrong with them. An address outside China is checked against its
    country's rules instead (:mod:`orderhub.address.international`)."""
    if order.receiver_country != DOMESTIC:
        return _check_international(order, values)
    if order.receiver_province:
        address = standardise(
            province=order.receiver_province,
            city=order.receiver_city,
            district=order.receiver_district,
            detail=order.receiver_detail,
        )
    else:
        address = standardise(address=order.receiver_address)
    if not address.ok:
        return ExceptionReason.BAD_ADDRESS.value, {
            "message": address.message or "无法识别收货地址",
            "understood": address.understood,
            "candidates": list(address.candidates),
        }
    values.update(
        {
            Order.receiver_province: address.province,
            Order.receiver_city: address.city,
            Order.receiver_district: address.district,
            Order.receiver_detail: pii.seal(address.detail),
            Order.receiver_division_code: address.code or "",
        }
    )
    order.receiver_province = address.province
    order.receiver_city = address.city
    order.receiver_district = address.district
    order.receiver_detail = address.detail
    order.receiver_division_code = address.code or ""
    if order.receiver_cipher:
        # The platform keeps the phone encrypted: the masked form is all the hub has, and the platform vouches for
        # the number (its e-waybill service prints it). Nothing to normalise.
        return None
    phone = normalise_phone(order.receiver_phone)
    if not phone.ok:
        return ExceptionReason.BAD_PHONE.value, {"message": phone.message or "无法识别收货电话"}
    values.update({Order.receiver_phone: pii.seal(phone.number), Order.receiver_phone_ext: phone.extension or ""})
    order.receiver_phone = phone.number
    return None


def _check_international(order: OrderRow, values: dict[Any, Any]) -> tuple[str, dict[str, Any]] | None:
    checked = validate_international(
        country=order.receiver_country,
        region=order.receiver_province,
        city=order.receiver_city,
        postcode=order.receiver_postcode,
        lines=order.receiver_detail.splitlines(),
        phone=order.receiver_phone,
    )
    if not checked.ok:
        reason = ExceptionReason.BAD_PHONE if checked.field == "receiver.phone" else ExceptionReason.BAD_ADDRESS
        return reason.value, {"message": checked.message, "field": checked.field, "country": checked.country}
    values.update(
        {
            Order.receiver_province: checked.region,
            Order.receiver_city: checked.city,
            Order.receiver_postcode: checked.postcode,
        }
    )
    order.receiver_province, order.receiver_city = checked.region, checked.city
    order.receiver_postcode = checked.postcode
    return None


async def _check_customs(order: OrderRow, lines: list[LineRow], values: dict[Any, Any]) -> dict[str, Any] | None:
    """What the destination's rule pack (in force on the order's placing date, Beijing time) needs and the order's
    SKUs lack, as the exception's data naming each field per SKU; None when complete, with the duty and VAT estimate
    put into ``values``."""
    check = await check_order(
        country=order.receiver_country,
        placed_on=clock.to_shanghai(order.placed_at).date(),
        lines=[
            CheckLine(sku=line.sku_code, qty=line.qty, unit_price=line.unit_price, is_gift=line.is_gift)
            for line in lines
        ],
        postcode=order.receiver_postcode,
        shipping_fen=order.shipping_fee,
    )
    if check.missing:
        values[Order.customs_estimate] = ""  # an estimate from an earlier pass no longer holds
        by_sku: dict[str, list[str]] = defaultdict(list)
        for item in check.missing:
            by_sku[item.sku].append(item.message)
        summary = "；".join(f"{sku or '订单'}：{'、'.join(messages)}" for sku, messages in by_sku.items())
        pack = check.pack
        return {
            "message": f"报关资料不全（{check.destination}）：{summary}",
            "destination": check.destination,
            "pack": {"effective_from": pack.effective_from.isoformat(), "version": pack.version} if pack else None,
            "missing": [msgspec.to_builtins(item) for item in check.missing],
        }
    values[Order.customs_estimate] = msgspec.json.encode(check.estimate).decode() if check.estimate else ""
    return None


async def _suspected_duplicate(order_id: int, fingerprint: str, received_at: datetime) -> int | None:
    """An earlier order (any channel) with the same content within the window: this one is the newer."""
    if not fingerprint:
        return None
    row = await (
        Order.select(Order.id)
        .where(
            (Order.fingerprint == fingerprint)
            & (Order.id != order_id)
            & (Order.status != S.CANCELLED.value)
            & (Order.received_at >= received_at - DUPLICATE_WINDOW)
            & ((Order.received_at < received_at) | ((Order.received_at == received_at) & (Order.id < order_id)))
        )
        .order_by(Order.id)
        .first()
    )
    return int(row["id"]) if row else None


def rule_facts(order: OrderRow, lines: list[LineRow]) -> OrderFacts:
    """What the rules see of an order (its gift lines excluded)."""
    sku_qty: dict[str, int] = defaultdict(int)
    for line in lines:
        if not line.is_gift:
            sku_qty[line.sku_code] += line.qty
    return OrderFacts(
        channel=order.channel_code,
        buyer_nick=order.buyer_nick,
        buyer_phone=order.buyer_phone,
        buyer_memo=order.buyer_memo,
        seller_memo=order.seller_memo,
        province=order.receiver_province,
        goods_amount=order.goods_amount,
        paid_amount=order.paid_amount,
        sku_qty=dict(sku_qty),
        tags=msgspec.json.decode(order.tags or "[]"),
        priority=order.priority,
    )


async def rule_outcome(order: OrderRow, lines: list[LineRow]) -> RuleOutcome:
    return evaluate(rule_facts(order, lines), await cached("rules", load_enabled_rules))


async def _apply_rules(
    order_id: int, order: OrderRow, lines: list[LineRow], values: dict[Any, Any]
) -> list[HoldRequest]:
    """Evaluate the rules once for this order; gift lines are inserted (and appended to ``lines``), the order's
    new fields go into ``values``, each rule that fired is recorded. Returns the holds the rules asked for."""
    outcome = await rule_outcome(order, lines)
    gifts = list(outcome.gifts)
    if outcome.memo_gift_rules:
        candidates = memo_gift_candidates(f"{order.seller_memo}\n{order.buyer_memo}")
        if candidates:
            codes = [c for c, _ in candidates]
            known = {
                row["code"]
                for row in await Sku.select(Sku.code).where(Sku.code.is_in(codes))  # bounded: one order's memo
            }
            gifts += [
                GiftLine(sku=code, qty=qty, rule_id=outcome.memo_gift_rules[0])
                for code, qty in candidates
                if code in known
            ]
    next_line = max((line.line_no for line in lines), default=0) + 1
    if gifts:
        inserted = await OrderLine.insert(
            *[
                OrderLine(
                    order=order_id,
                    line_no=next_line + i,
                    sku_code=gift.sku,
                    qty=gift.qty,
                    unit_price=0,
                    amount=0,
                    is_gift=True,
                    gift_rule=gift.rule_id,
                    reserved_qty=0,
                )
                for i, gift in enumerate(gifts)
            ]
        ).returning(OrderLine.id)
        lines += [
            LineRow(id=int(row["id"]), sku_code=gift.sku, is_gift=True, qty=gift.qty, line_no=next_line + i)
            for i, (row, gift) in enumerate(zip(inserted, gifts, strict=True))
        ]
    await rule_values(order, outcome, values)
    await record_fired(order_id, outcome, gifts)
    return outcome.holds


async def rule_values(order: OrderRow, outcome: RuleOutcome, values: dict[Any, Any]) -> None:
    """The order's fields the first pass sets (ship-by, tags, priority, the rules' preferences) into ``values``;
    the preferred warehouse also into ``order``, which routing reads."""
    values[Order.ship_by] = order.ship_by or (  # the platform's (presale) date wins; else the channel's SLA
        (order.paid_at or order.placed_at) + timedelta(hours=order.channel_ship_within_hours)
    )
    values[Order.tags] = msgspec.json.encode(outcome.tags).decode()
    values[Order.priority] = outcome.priority
    values[Order.rules_applied_at] = clock.now()
    if outcome.preferred_carrier:
        values[Order.preferred_carrier] = outcome.preferred_carrier
    if outcome.preferred_warehouse:
        code = outcome.preferred_warehouse
        warehouse = await cached(
            ("warehouse", code), lambda: Warehouse.select(Warehouse.id).where(Warehouse.code == code).first()
        )
        if warehouse is not None:
            values[Order.preferred_warehouse] = warehouse["id"]
            order.preferred_warehouse = warehouse["id"]


async def record_fired(order_id: int, outcome: RuleOutcome, gifts: list[GiftLine]) -> None:
    """One ``rule_fired`` event per rule that fired (with the gift lines it added)."""
    for fired in outcome.fired:
        await record_event(
            order_id,
            OrderEventType.RULE_FIRED,
            data={
                "rule_id": fired.rule_id,
                "name": fired.name,
                "did": fired.did,
                "gifts": [msgspec.to_builtins(g) for g in gifts if g.rule_id == fired.rule_id],
            },
        )
