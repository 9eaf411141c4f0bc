"""The worker's order pipeline: validate SKUs → reserve stock → ready (or exception with a reason).

Each step is its own transaction and is idempotent: a step only runs from the status it expects, so a job
retried after a crash (or run twice by the sweeper) continues where the order is and never double-reserves.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import msgspec

from orderhub import clock, db
from orderhub.address import normalise_phone, standardise
from orderhub.catalog.tables import Sku
from orderhub.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from orderhub.inventory.service import StockShortage, release, reserve
from orderhub.inventory.tables import Warehouse
from orderhub.orders import surge
from orderhub.orders.commands import Receiver
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import (
    enqueue_processing,
    full_address,
    process_after_commit,
    receiver_signature,
    record_event,
    transition,
)
from orderhub.orders.state import PROCESSING, RELEASABLE, ExceptionReason, OrderStatus
from orderhub.orders.tables import Order, OrderLine
from orderhub.routing.service import Allocation, SplitPolicy, availability, packing_line, plan, rank_warehouses
from orderhub.routing.tables import Shipment
from orderhub.rules.model import OrderFacts
from orderhub.rules.service import GiftLine, HoldRequest, evaluate, load_enabled_rules, memo_gift_candidates
from orderhub.settings import get_settings

__all__ = [
    "Processed",
    "backfill_after_surge",
    "batch_scope",
    "cancel_order",
    "fix_receiver",
    "process_order",
    "release_hold",
    "release_reservation",
    "replace_receiver",
    "retry_exception",
    "sweep_stuck_orders",
]

log = logging.getLogger("orderhub.pipeline")
S = OrderStatus


class Processed(NamedTuple):
    status: str  # where the order is now ("missing" if there is no such order)
    advanced: bool  # whether this run moved it


# Everything the pipeline reads of an order, in one query (validation updates it in memory for routing).
# Raw SQL on the worker's hot path: the query builder's cost per row was a tenth of the worker's time.
_ORDER_COLUMNS = (
    "status",
    "buyer_nick",
    "buyer_phone",
    "buyer_memo",
    "seller_memo",
    "receiver_name",
    "receiver_phone",
    "receiver_province",
    "receiver_city",
    "receiver_district",
    "receiver_detail",
    "receiver_address",
    "receiver_division_code",
    "goods_amount",
    "paid_amount",
    "tags",
    "priority",
    "fingerprint",
    "received_at",
    "rules_applied_at",
    "placed_at",
    "paid_at",
    "ship_by",
    "preferred_warehouse",
)
_CHANNEL_COLUMNS = ("code", "ship_within_hours", "default_warehouse", "split_policy", "merge_scope")
_ORDER_SQL = (
    "SELECT "
    + ", ".join([f"o.{c}" for c in _ORDER_COLUMNS] + [f'c.{c} AS "channel.{c}"' for c in _CHANNEL_COLUMNS])
    + " FROM sales_order o JOIN channel c ON c.id = o.channel WHERE o.id = {}"
)
_LINES_SQL = (
    'SELECT l.id, l.sku, l.sku_code, l.qty, s.weight_g AS "sku.weight_g", s.volume_cm3 AS "sku.volume_cm3" '
    'FROM order_line l JOIN sku s ON s.id = l.sku WHERE l."order" = {} ORDER BY l.id'
)


async def process_order(order_id: int) -> Processed:
    """Drive one order as far as the pipeline goes."""
    rows = await db.fetch(_ORDER_SQL, order_id)
    if not rows:
        return Processed("missing", False)
    order = rows[0]
    start = status = S(order["status"])
    if status == S.RECEIVED:
        try:
            status = await _validate(order_id, order)
        except _FastPathLost:
            # Another order took the last units while this one was being validated: nothing was kept; do it
            # again in two steps (validate, then reserve with re-planning) from what is stored.
            rows = await db.fetch(_ORDER_SQL, order_id)
            order = rows[0]
            status = S(order["status"])
            if status == S.RECEIVED:
                status = await _validate(order_id, order, fast=False)
    if status == S.VALIDATED:
        status = await _reserve(order_id, order)
    if status == S.RESERVED:  # left by an earlier version between its two transitions
        async with db.transaction():
            await transition(order_id, S.READY, expected=S.RESERVED)
        status = S.READY
    return Processed(status.value, status != start)


# -- per-batch caches ------------------------------------------------------------------------------------------
# A worker job that processes a batch of orders reads the rules and the warehouse list once for the batch.
_batch_cache: ContextVar[dict[Any, Any] | None] = ContextVar("orderhub_pipeline_batch", default=None)


@asynccontextmanager
async def batch_scope() -> AsyncIterator[None]:
    """Within this block rules and warehouse rankings are read once (a batch takes a second or so)."""
    token = _batch_cache.set({})
    try:
        yield
    finally:
        _batch_cache.reset(token)


async def _cached(key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
    cache = _batch_cache.get()
    if cache is None:
        return await load()
    if key not in cache:
        cache[key] = await load()
    return cache[key]


DUPLICATE_WINDOW = timedelta(minutes=5)
AWAITING_STOCK = "awaiting_stock"


class _FastPathLost(Exception):
    """The reservation inside the validation transaction lost a race for stock (the transaction is undone)."""


async def _validate(order_id: int, order: dict[str, Any], *, fast: bool = True) -> OrderStatus:
    """RECEIVED → VALIDATED, HELD or EXCEPTION, in one transaction.

    On the first pass the rules run (tags, priority, gifts, holds, preferences) and the duplicate check is
    made; an order re-entering after a released hold or a resolved exception skips both. What validation
    learns (standardised receiver, rule outcomes) is written with the status change, in one UPDATE.

    ``fast``: when the order is valid and a warehouse plan covers it, reserve in the same transaction
    (RECEIVED → VALIDATED → READY in one commit); anything else (short stock, no warehouse) is left to
    :func:`_reserve`, which re-plans and applies the channel's split policy.
    """
    first_pass = order["rules_applied_at"] is None
    values: dict[Any, Any] = {}
    # What validation decides holds for the receiver it read; a change made meanwhile (the platform's new
    # address) makes the UPDATE miss, and the job runs again on the new receiver.
    guard = {
        Order.receiver_name: order["receiver_name"],
        Order.receiver_phone: order["receiver_phone"],
        Order.receiver_address: order["receiver_address"],
    }
    async with db.transaction():
        if not order["receiver_division_code"]:
            problem = _standardise_receiver(order, values)
            if problem is not None:
                reason, data = problem
                await transition(order_id, S.EXCEPTION, expected=S.RECEIVED, reason=reason, data=data, guard=guard)
                return S.EXCEPTION
        lines = await OrderLine.select(
            OrderLine.id, OrderLine.sku_code, OrderLine.is_gift, OrderLine.qty, OrderLine.line_no
        ).where(OrderLine.order == order_id)
        holds: list[HoldRequest] = []
        if first_pass:
            duplicate_of = await _suspected_duplicate(order_id, order["fingerprint"], order["received_at"])
            if duplicate_of is not None:
                holds.append(
                    HoldRequest(queue="duplicate", reason="suspected_duplicate", data={"duplicate_of": duplicate_of})
                )
            holds += await _apply_rules(order_id, order, lines, values)
        codes = sorted({line["sku_code"] for line in lines})
        skus = {
            row["code"]: row
            for row in await Sku.select(Sku.id, Sku.code, Sku.weight_g, Sku.volume_cm3).where(
                Sku.code.is_in(codes) & (Sku.active == True)  # noqa: E712
            )
        }
        known = {code: int(row["id"]) for code, row in skus.items()}
        unknown = [code for code in codes if code not in known]
        if unknown:
            gifts = sorted({line["sku_code"] for line in lines if line["is_gift"] and line["sku_code"] in unknown})
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
        for code in codes:  # one UPDATE per distinct SKU (usually one or two)
            await OrderLine.update({OrderLine.sku: known[code]}).where(
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
        if fast and await _reserve_inline(order_id, order, lines, skus, values, guard):
            return S.READY
        await transition(order_id, S.VALIDATED, expected=S.RECEIVED, values=values, guard=guard)
    return S.VALIDATED


async def _reserve_inline(
    order_id: int,
    order: dict[str, Any],
    lines: list[dict[str, Any]],
    skus: dict[str, dict[str, Any]],
    values: dict[Any, Any],
    guard: dict[Any, Any],
) -> bool:
    """Inside the validation transaction: reserve and make shipments if a plan covers the order; False (and
    nothing written) otherwise. Raises _FastPathLost when the stock went between the plan and the UPDATE."""
    full = [
        {
            "id": line["id"],
            "sku": int(skus[line["sku_code"]]["id"]),
            "sku_code": line["sku_code"],
            "qty": int(line["qty"]),
            "sku.weight_g": int(skus[line["sku_code"]]["weight_g"]),
            "sku.volume_cm3": int(skus[line["sku_code"]]["volume_cm3"]),
        }
        for line in lines
    ]
    wanted, codes = _wanted(full)
    ranked = await _ranked(order)
    if not ranked:
        return False
    policy = SplitPolicy(order["channel.split_policy"] or SplitPolicy.EXCEPTION.value)
    available = await availability([c.id for c in ranked], list(wanted))
    chosen = plan(wanted, ranked, available, allow_split=policy == SplitPolicy.SPLIT, codes=codes)
    if not isinstance(chosen, Allocation):
        return False
    merge, deferred = await _merge_mode(order)
    try:
        await _commit_allocation(
            order_id,
            chosen,
            full,
            codes,
            receiver_key=_receiver_key_of(order),
            channel_code=order["channel.code"],
            merge=merge,
            deferred=deferred,
            expected=S.RECEIVED,
            via=S.VALIDATED,
            values=values,
            guard=guard,
        )
    except StockShortage as exc:
        raise _FastPathLost from exc
    return True


def _wanted(lines: list[dict[str, Any]]) -> tuple[dict[int, int], dict[int, str]]:
    wanted: dict[int, int] = defaultdict(int)
    codes: dict[int, str] = {}
    for line in lines:
        wanted[int(line["sku"])] += int(line["qty"])
        codes[int(line["sku"])] = line["sku_code"]
    return dict(wanted), codes


async def _ranked(order: dict[str, Any]) -> Any:
    province, preferred, default = (
        order["receiver_province"],
        order["preferred_warehouse"],
        order["channel.default_warehouse"],
    )
    return await _cached(
        ("rank", province, preferred, default),
        lambda: rank_warehouses(province=province, preferred_id=preferred, default_id=default),
    )


async def _merge_mode(order: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """The merge scope to use now, and the steps deferred (merge detection, during a surge)."""
    merge = None if order["channel.merge_scope"] == "off" else order["channel.merge_scope"]
    if merge is not None and await surge.current_mode() == surge.Mode.SURGE:
        return None, surge.DEFERRED_STEPS
    return merge, ()


def _receiver_key_of(order: dict[str, Any]) -> str:
    return receiver_key(
        order["receiver_name"], order["receiver_phone"], order["receiver_division_code"], order["receiver_detail"]
    )


def _standardise_receiver(order: dict[str, Any], values: dict[Any, Any]) -> tuple[str, dict[str, Any]] | None:
    """Fill 省/市/区县/详细地址 + division code and the normalised phone into ``values`` (and ``order``, which
    the rules and routing read); or say what is wrong with them."""
    if order["receiver_province"]:
        address = standardise(
            province=order["receiver_province"],
            city=order["receiver_city"],
            district=order["receiver_district"],
            detail=order["receiver_detail"],
        )
    else:
        address = standardise(address=order["receiver_address"])
    if not address.ok:
        return ExceptionReason.BAD_ADDRESS.value, {
            "message": address.message or "无法识别收货地址",
            "understood": address.understood,
            "candidates": list(address.candidates),
        }
    phone = normalise_phone(order["receiver_phone"])
    if not phone.ok:
        return ExceptionReason.BAD_PHONE.value, {"message": phone.message or "无法识别收货电话"}
    fields: dict[Any, Any] = {
        Order.receiver_province: address.province,
        Order.receiver_city: address.city,
        Order.receiver_district: address.district,
        Order.receiver_detail: address.detail,
        Order.receiver_division_code: address.code or "",
        Order.receiver_phone: phone.number,
        Order.receiver_phone_ext: phone.extension or "",
    }
    values.update(fields)
    order.update({column._meta.name: value for column, value in fields.items()})
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


async def _apply_rules(
    order_id: int, order: dict[str, Any], lines: list[dict[str, Any]], values: dict[Any, Any]
) -> list[HoldRequest]:
    """Evaluate the rules once for this order; gift lines are inserted (and appended to ``lines``), the order's
    new fields go into ``values``, each rule that fired is recorded. Returns the holds the rules asked for."""
    sku_qty: dict[str, int] = defaultdict(int)
    for line in lines:
        if not line["is_gift"]:
            sku_qty[line["sku_code"]] += int(line["qty"])
    facts = OrderFacts(
        channel=order["channel.code"],
        buyer_nick=order["buyer_nick"],
        buyer_phone=order["buyer_phone"],
        buyer_memo=order["buyer_memo"],
        seller_memo=order["seller_memo"],
        province=order["receiver_province"],
        goods_amount=order["goods_amount"],
        paid_amount=order["paid_amount"],
        sku_qty=dict(sku_qty),
        tags=msgspec.json.decode(order["tags"] or "[]"),
        priority=order["priority"],
    )
    outcome = evaluate(facts, await _cached("rules", load_enabled_rules))
    gifts = list(outcome.gifts)
    if outcome.memo_gift_rules:
        candidates = memo_gift_candidates(f"{order['seller_memo']}\n{order['buyer_memo']}")
        if candidates:
            known = {
                row["code"] for row in await Sku.select(Sku.code).where(Sku.code.is_in([c for c, _ in candidates]))
            }
            gifts += [
                GiftLine(sku=code, qty=qty, rule_id=outcome.memo_gift_rules[0])
                for code, qty in candidates
                if code in known
            ]
    next_line = max((int(line["line_no"]) for line in lines), default=0) + 1
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
            {"id": row["id"], "sku_code": gift.sku, "is_gift": True, "qty": gift.qty, "line_no": next_line + i}
            for i, (row, gift) in enumerate(zip(inserted, gifts, strict=True))
        ]
    values[Order.ship_by] = order["ship_by"] or (  # the platform's (presale) date wins; else the channel's SLA
        (order["paid_at"] or order["placed_at"]) + timedelta(hours=int(order["channel.ship_within_hours"]))
    )
    values[Order.tags] = msgspec.json.encode(outcome.tags).decode()
    values[Order.priority] = outcome.priority
    values[Order.rules_applied_at] = clock.now()
    if outcome.preferred_carrier:
        values[Order.preferred_carrier] = outcome.preferred_carrier
    if outcome.preferred_warehouse:
        code = outcome.preferred_warehouse
        warehouse = await _cached(
            ("warehouse", code), lambda: Warehouse.select(Warehouse.id).where(Warehouse.code == code).first()
        )
        if warehouse is not None:
            values[Order.preferred_warehouse] = warehouse["id"]
            order["preferred_warehouse"] = warehouse["id"]
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
    return outcome.holds


async def _reserve(order_id: int, order: dict[str, Any]) -> OrderStatus:
    """VALIDATED → READY (stock reserved, shipments made) or exception/held when stock is short.

    Warehouses are ranked (rule preference, served province, region distance, channel default); the order goes
    whole to the first that has everything, else it is split by warehouse, waits, or becomes an exception,
    as its channel's split policy says. A lost race for the last units re-plans a few times.
    """
    lines = await db.fetch(_LINES_SQL, order_id)
    wanted, codes = _wanted(lines)
    ranked = await _ranked(order)
    if not ranked:
        async with db.transaction():
            await transition(
                order_id,
                S.EXCEPTION,
                expected=S.VALIDATED,
                reason=ExceptionReason.NO_WAREHOUSE.value,
                data={"message": "没有可用的发货仓"},
            )
        return S.EXCEPTION
    policy = SplitPolicy(order["channel.split_policy"] or SplitPolicy.EXCEPTION.value)
    merge, deferred = await _merge_mode(order)
    for _attempt in range(3):
        available = await availability([c.id for c in ranked], list(wanted))
        chosen = plan(wanted, ranked, available, allow_split=policy == SplitPolicy.SPLIT, codes=codes)
        if not isinstance(chosen, Allocation):
            return await _short(order_id, chosen, policy)
        try:
            await _commit_allocation(
                order_id,
                chosen,
                lines,
                codes,
                receiver_key=_receiver_key_of(order),
                channel_code=order["channel.code"],
                merge=merge,
                deferred=deferred,
            )
        except StockShortage:
            continue  # another order took the last units between our read and our reservation
        return S.READY
    # Lost the race three times in a row: let the job's retry (with backoff) try again later.
    raise StockContention(f"order {order_id}: stock changed under three allocation attempts")


class StockContention(RuntimeError):
    """Retryable: the job fails and SAQ runs it again after a backoff."""


async def _short(order_id: int, shortfalls: Any, policy: SplitPolicy) -> OrderStatus:
    data = {
        "shortfalls": msgspec.to_builtins(shortfalls),
        "message": "库存不足：" + "，".join(f"{s.sku} 需要 {s.requested} 可用 {s.available}" for s in shortfalls),
    }
    async with db.transaction():
        if policy == SplitPolicy.WAIT:
            await transition(
                order_id,
                S.HELD,
                expected=S.VALIDATED,
                reason=ExceptionReason.OUT_OF_STOCK.value,
                hold_queue=AWAITING_STOCK,
                data=data,
            )
            return S.HELD
        await transition(
            order_id, S.EXCEPTION, expected=S.VALIDATED, reason=ExceptionReason.OUT_OF_STOCK.value, data=data
        )
    return S.EXCEPTION


async def _commit_allocation(
    order_id: int,
    allocation: Allocation,
    lines: list[dict[str, Any]],
    codes: dict[int, str],
    *,
    receiver_key: str,
    channel_code: str,
    merge: str | None,
    deferred: tuple[str, ...] = (),
    expected: OrderStatus = S.VALIDATED,
    via: OrderStatus | None = None,
    values: dict[Any, Any] | None = None,
    guard: dict[Any, Any] | None = None,
) -> None:
    """Reserve, and put the lines in shipments: an open shipment for the same receiver (合单) or a new one.

    ``deferred`` names the steps the surge light path skipped (merge detection): the order is marked for the
    backfill pass that runs them when the surge ends."""
    settings = get_settings()
    async with db.transaction():
        # Status first: it locks the order row, so a second runner waits here and then finds nothing to do.
        # VALIDATED → READY in one step: reservation and shipments commit with it or not at all.
        single = next(iter(allocation.by_warehouse)) if not allocation.split else None
        await transition(
            order_id,
            S.READY,
            expected=expected,
            via=via,
            data={"warehouse_ids": sorted(allocation.by_warehouse)},
            values={**(values or {}), Order.warehouse: single, Order.needs_backfill: bool(deferred)},
            guard=guard,
        )
        home = {sku: wh for wh, skus in allocation.by_warehouse.items() for sku in skus}
        shipments: dict[int, int] = {}
        merged: dict[int, list[int]] = {}
        for warehouse_id in sorted(allocation.by_warehouse):
            found = await _open_shipment_for(warehouse_id, receiver_key, merge, channel_code) if merge else None
            if found is not None:
                shipments[warehouse_id], merged[warehouse_id] = found
                continue
            mine = [line for line in lines if home[int(line["sku"])] == warehouse_id]
            weight = sum(int(line["qty"]) * int(line["sku.weight_g"]) for line in mine)
            volume = sum(int(line["qty"]) * int(line["sku.volume_cm3"]) for line in mine)
            inserted = await Shipment.insert(
                Shipment(
                    warehouse=warehouse_id,
                    status="open",
                    receiver_key=receiver_key,
                    channel=channel_code,
                    created_at=clock.now(),
                    weight_g=weight,
                    volume_cm3=volume,
                    packing_line=packing_line(
                        weight_g=weight,
                        volume_cm3=volume,
                        max_item_volume_cm3=max(int(line["sku.volume_cm3"]) for line in mine),
                        b_weight_g=settings.packing_b_weight_g,
                        b_volume_cm3=settings.packing_b_volume_cm3,
                    ),
                )
            ).returning(Shipment.id)
            shipments[warehouse_id] = int(inserted[0]["id"])
        for warehouse_id, skus in sorted(allocation.by_warehouse.items()):
            await OrderLine.update(
                {
                    OrderLine.reserved_qty: OrderLine.qty,
                    OrderLine.warehouse: warehouse_id,
                    OrderLine.shipment: shipments[warehouse_id],
                }
            ).where((OrderLine.order == order_id) & OrderLine.sku.is_in(sorted(skus)))
        for warehouse_id, others in sorted(merged.items()):
            shipment_id = shipments[warehouse_id]
            await recompute_shipment(shipment_id)
            await record_event(order_id, OrderEventType.MERGED, data={"shipment": shipment_id, "with": others})
            for other in others:
                await record_event(other, OrderEventType.MERGED, data={"shipment": shipment_id, "with": [order_id]})
        await record_event(
            order_id,
            OrderEventType.STOCK_RESERVED,
            data={
                "deferred": list(deferred),
                "split": allocation.split,
                "warehouses": {
                    str(wh): {codes[sku]: qty for sku, qty in skus.items()}
                    for wh, skus in sorted(allocation.by_warehouse.items())
                },
                "shipments": sorted(shipments.values()),
            },
        )
        # Stock last: the hot stock rows stay locked only for the end of the transaction.
        for warehouse_id in sorted(allocation.by_warehouse):  # (warehouse, row id) order: no deadlocks
            await reserve(warehouse_id, allocation.by_warehouse[warehouse_id], codes)


def receiver_key(name: str, phone: str, division_code: str, detail: str) -> str:
    """Same person at the same standardised address → same key (what 合单 matches on)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    key = msgspec.json.encode([name.strip(), digits, division_code, "".join(detail.split())])
    return hashlib.sha256(key).hexdigest()


async def _open_shipment_for(
    warehouse_id: int, key: str, scope: str, channel_code: str
) -> tuple[int, list[int]] | None:
    """An open (not yet picked) shipment for this receiver in this warehouse, created within the merge
    window, locked for the rest of the transaction; with the orders already in it."""
    cutoff = clock.now() - timedelta(minutes=get_settings().merge_window_minutes)
    query = (
        Shipment.select(Shipment.id, Shipment.channel)
        .where(
            (Shipment.warehouse == warehouse_id)
            & (Shipment.receiver_key == key)
            & (Shipment.status == "open")
            & (Shipment.created_at >= cutoff)
        )
        .order_by(Shipment.id)
    )
    for candidate in await query:
        if scope == "channel" and candidate["channel"] != channel_code:
            continue
        locked = await db.fetch(f"SELECT status FROM shipment WHERE id = {{}}{db.for_update()}", candidate["id"])
        if not locked or locked[0]["status"] != "open":
            continue
        orders = await OrderLine.select(OrderLine.order).where(OrderLine.shipment == candidate["id"])
        return int(candidate["id"]), sorted({int(row["order"]) for row in orders})
    return None


async def backfill_after_surge(batch: int = 200) -> int:
    """Run the steps the surge light path deferred, for every order it marked; returns how many were done.

    Today that is merge detection: the order's open shipment joins an open shipment for the same receiver
    (the oldest within the merge window, in the channel's merge scope), as it would have outside a surge.
    Orders no longer waiting to be picked just lose the mark."""
    done = 0
    after = 0
    while True:
        rows = await (
            Order.select(Order.id, Order.channel.code, Order.channel.merge_scope)
            .where((Order.needs_backfill == True) & (Order.id > after))  # noqa: E712
            .order_by(Order.id)
            .limit(batch)
        )
        if not rows:
            return done
        for row in rows:
            after = int(row["id"])
            await _backfill_one(after, row["channel.code"], row["channel.merge_scope"])
            done += 1


async def _backfill_one(order_id: int, channel_code: str, scope: str) -> None:
    async with db.transaction():
        locked = await db.fetch(
            f"SELECT status, needs_backfill FROM sales_order WHERE id = {{}}{db.for_update()}", order_id
        )
        if not locked or not locked[0]["needs_backfill"]:
            return
        merged_into: dict[int, int] = {}
        if locked[0]["status"] == S.READY.value and scope != "off":
            own = await (
                Shipment.select(Shipment.id, Shipment.warehouse, Shipment.receiver_key)
                .where(
                    Shipment.id.is_in(
                        OrderLine.select(OrderLine.shipment).where(
                            (OrderLine.order == order_id) & OrderLine.shipment.is_not_null()
                        )
                    )
                    & (Shipment.status == "open")
                )
                .order_by(Shipment.id)
            )
            for shipment in own:
                found = await _open_shipment_for(shipment["warehouse"], shipment["receiver_key"], scope, channel_code)
                if found is None or found[0] >= shipment["id"]:
                    continue  # this shipment is the oldest for its receiver: later ones merge into it
                target, already = found
                moved = await OrderLine.select(OrderLine.order).where(OrderLine.shipment == shipment["id"])
                movers = sorted({int(r["order"]) for r in moved})
                await OrderLine.update({OrderLine.shipment: target}).where(OrderLine.shipment == shipment["id"])
                await recompute_shipment(target)
                await recompute_shipment(shipment["id"])
                await Shipment.update({Shipment.status: "merged"}).where(Shipment.id == shipment["id"])
                merged_into[int(shipment["id"])] = target
                for mover in movers:
                    await record_event(
                        mover, OrderEventType.MERGED, data={"shipment": target, "with": already, "backfill": True}
                    )
                for other in already:
                    await record_event(
                        other, OrderEventType.MERGED, data={"shipment": target, "with": movers, "backfill": True}
                    )
        await Order.update({Order.needs_backfill: False}).where(Order.id == order_id)
        await record_event(
            order_id,
            OrderEventType.BACKFILLED,
            data={
                "steps": list(surge.DEFERRED_STEPS),
                "merged": {str(k): v for k, v in merged_into.items()},
                "status": locked[0]["status"],
            },
        )


async def recompute_shipment(shipment_id: int) -> None:
    """Weight, volume and packing line from the shipment's current lines (cancelled when none are left)."""
    settings = get_settings()
    rows = await OrderLine.select(OrderLine.qty, OrderLine.sku.weight_g, OrderLine.sku.volume_cm3).where(
        OrderLine.shipment == shipment_id
    )
    weight = sum(int(r["qty"]) * int(r["sku.weight_g"]) for r in rows)
    volume = sum(int(r["qty"]) * int(r["sku.volume_cm3"]) for r in rows)
    biggest = max((int(r["sku.volume_cm3"]) for r in rows), default=0)
    values: dict[Any, Any] = {
        Shipment.weight_g: weight,
        Shipment.volume_cm3: volume,
        Shipment.packing_line: packing_line(
            weight_g=weight,
            volume_cm3=volume,
            max_item_volume_cm3=biggest,
            b_weight_g=settings.packing_b_weight_g,
            b_volume_cm3=settings.packing_b_volume_cm3,
        ),
    }
    if not rows:
        values[Shipment.status] = "cancelled"
    await Shipment.update(values).where(Shipment.id == shipment_id)


async def cancel_order(order_id: int, *, reason: str, actor: str) -> None:
    """Cancel an order not yet picked; stock it holds is released in the same transaction."""
    async with db.transaction():
        row = await Order.select(Order.status).where(Order.id == order_id).first()
        if row is None:
            raise NotFound("订单不存在", field="id")
        status = S(row["status"])
        await transition(order_id, S.CANCELLED, expected=status, reason="cancelled", data={"note": reason}, actor=actor)
        if status in RELEASABLE:
            await release_reservation(order_id, actor=actor)


async def release_reservation(order_id: int, *, actor: str) -> None:
    """Give back the stock the order holds and take its lines out of their shipments (a merged shipment goes on
    with the other orders' lines). Call inside a transaction."""
    lines = await OrderLine.select(OrderLine.id, OrderLine.sku, OrderLine.warehouse, OrderLine.reserved_qty).where(
        (OrderLine.order == order_id) & (OrderLine.reserved_qty > 0)
    )
    by_warehouse: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for line in lines:
        by_warehouse[int(line["warehouse"])][int(line["sku"])] += int(line["reserved_qty"])
    for warehouse_id in sorted(by_warehouse):
        await release(warehouse_id, by_warehouse[warehouse_id])
    if lines:
        await OrderLine.update({OrderLine.reserved_qty: 0}).where(OrderLine.order == order_id)
        await record_event(
            order_id,
            OrderEventType.STOCK_RELEASED,
            data={"warehouses": {str(w): dict(s) for w, s in by_warehouse.items()}},
            actor=actor,
        )
    shipment_ids = {
        int(r["shipment"])
        for r in await OrderLine.select(OrderLine.shipment).where(
            (OrderLine.order == order_id) & OrderLine.shipment.is_not_null()
        )
    }
    if shipment_ids:
        await OrderLine.update({OrderLine.shipment: None, OrderLine.warehouse: None}).where(OrderLine.order == order_id)
        for shipment_id in sorted(shipment_ids):
            await recompute_shipment(shipment_id)


async def retry_awaiting_stock(older_than_seconds: int = 60, limit: int = 500) -> int:
    """Orders of "wait" channels held for stock go back through routing now and then (stock may have come)."""
    cutoff = clock.now() - timedelta(seconds=older_than_seconds)
    rows = await (
        Order.select(Order.id)
        .where((Order.status == S.HELD.value) & (Order.hold_queue == AWAITING_STOCK) & (Order.updated_at < cutoff))
        .order_by(Order.updated_at)
        .limit(limit)
    )
    retried = 0
    for row in rows:
        try:
            async with db.transaction():
                await transition(int(row["id"]), S.RECEIVED, expected=S.HELD, data={"note": "重新检查库存"})
        except Conflict:
            continue  # released or cancelled meanwhile
        retried += 1
    if rows:
        await enqueue_processing([int(row["id"]) for row in rows])
    return retried


async def sweep_stuck_orders(stuck_after_seconds: int, limit: int = 1000) -> int:
    """Re-enqueue orders left in a processing status (lost job, dead worker, Redis restart)."""
    cutoff = clock.now() - timedelta(seconds=stuck_after_seconds)
    rows = await (
        Order.select(Order.id)
        .where(Order.status.is_in([s.value for s in PROCESSING]) & (Order.updated_at < cutoff))
        .order_by(Order.updated_at)
        .limit(limit)
    )
    ids = [int(row["id"]) for row in rows]
    if ids:
        log.info("re-enqueueing stuck orders", extra={"count": len(ids)})
        await enqueue_processing(ids)
    return len(ids)


async def release_hold(order_id: int, *, note: str, actor: str) -> str:
    """Release the current hold. The next pending hold (if any) takes its place; otherwise the order
    re-enters the pipeline (rules and the duplicate check are not run again)."""
    async with db.transaction():
        row = (
            await Order.select(Order.status, Order.hold_queue, Order.pending_holds).where(Order.id == order_id).first()
        )
        if row is None:
            raise NotFound("订单不存在", field="id")
        if row["status"] != S.HELD.value:
            raise InvalidTransition("只有已挂起的订单可以放行", field="status", extra={"status": row["status"]})
        pending = msgspec.json.decode(row["pending_holds"] or "[]", type=list[HoldRequest])
        await record_event(
            order_id, OrderEventType.HOLD_RELEASED, reason=row["hold_queue"], data={"note": note}, actor=actor
        )
        if pending:
            nxt, rest = pending[0], pending[1:]
            await Order.update(
                {
                    Order.hold_queue: nxt.queue,
                    Order.hold_reason: nxt.reason,
                    Order.pending_holds: msgspec.json.encode(rest).decode(),
                    Order.updated_at: clock.now(),
                }
            ).where(Order.id == order_id)
            return S.HELD.value
        await release_reservation(order_id, actor=actor)  # (a no-op unless the hold kept stock)
        await transition(order_id, S.RECEIVED, expected=S.HELD, data={"note": note}, actor=actor)

        process_after_commit(order_id)
    return S.RECEIVED.value


async def fix_receiver(order_id: int, receiver: Receiver, *, actor: str) -> None:
    """Correct the receiver of an order in exception and send it through the pipeline again."""
    if not receiver.name.strip() or not receiver.phone.strip() or not full_address(receiver):
        raise ValidationFailed("请填写收货人、电话和地址", field="receiver")
    async with db.transaction():
        await replace_receiver(order_id, receiver, actor=actor)
        await retry_exception(order_id, note="修改收货信息", actor=actor)


async def replace_receiver(order_id: int, receiver: Receiver, *, actor: str, from_source: bool = False) -> None:
    """Put a new receiver on the order, as given (standardised again when the order next passes validation).
    ``from_source``: the platform sent it, so it is also what later re-reads are compared with. Call inside a
    transaction."""
    structured = not receiver.address.strip()
    values: dict[Any, Any] = {
        Order.receiver_name: receiver.name.strip(),
        Order.receiver_phone: receiver.phone.strip(),
        Order.receiver_province: receiver.province.strip() if structured else "",
        Order.receiver_city: receiver.city.strip() if structured else "",
        Order.receiver_district: receiver.district.strip() if structured else "",
        Order.receiver_detail: receiver.detail.strip() if structured else "",
        Order.receiver_address: full_address(receiver),
        Order.receiver_division_code: "",
        Order.receiver_phone_ext: "",
        Order.updated_at: clock.now(),
    }
    if from_source:
        values[Order.source_receiver] = receiver_signature(receiver)
    await Order.update(values).where(Order.id == order_id)
    await record_event(
        order_id,
        OrderEventType.RECEIVER_CHANGED,
        data={"address": full_address(receiver), "name": receiver.name},
        actor=actor,
    )


async def retry_exception(order_id: int, *, note: str, actor: str) -> None:
    """Send an order in exception back through the pipeline (after the cause was fixed: stock arrived,
    SKU created, address corrected)."""
    async with db.transaction():
        row = await Order.select(Order.status).where(Order.id == order_id).first()
        if row is None:
            raise NotFound("订单不存在", field="id")
        if row["status"] != S.EXCEPTION.value:
            raise InvalidTransition("只有异常订单可以重新处理", field="status", extra={"status": row["status"]})
        # An order intercepted in the warehouse still holds its stock: give it back before routing again.
        await release_reservation(order_id, actor=actor)
        await transition(order_id, S.RECEIVED, expected=S.EXCEPTION, data={"note": note}, actor=actor)
        await record_event(order_id, OrderEventType.RETRIED, data={"note": note}, actor=actor)

        process_after_commit(order_id)
