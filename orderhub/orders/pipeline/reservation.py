"""Reservation and shipments: VALIDATED → READY. Ranks the warehouses, plans the allocation under the channel's
split policy, reserves the stock and puts the lines in shipments (a new one, or an open one for the same receiver:
合单), in one transaction; short stock waits (``awaiting_stock``) or becomes an exception. Also the fast path
validation takes when a plan covers the order (:func:`reserve_inline`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.inventory.service import StockShortage, reserve
from orderhub.orders import surge
from orderhub.orders.events import OrderEventType
from orderhub.orders.pipeline.cache import cached
from orderhub.orders.pipeline.merge import open_shipment_for, receiver_key, recompute_shipment
from orderhub.orders.pipeline.rows import LineRow, OrderRow, ShipLine, SkuRow, load_ship_lines
from orderhub.orders.service import decode_cipher, record_event, transition
from orderhub.orders.state import ExceptionReason, OrderStatus
from orderhub.orders.tables import Order, OrderLine
from orderhub.routing.service import (
    Allocation,
    Candidate,
    RoutingDecision,
    SplitPolicy,
    active_warehouses,
    availability,
    explain,
    packing_line,
    plan,
    rank,
)
from orderhub.routing.tables import Shipment
from orderhub.settings import get_settings

__all__ = ["AWAITING_STOCK", "FastPathLost", "StockContention", "reserve_inline", "reserve_order"]

S = OrderStatus
AWAITING_STOCK = "awaiting_stock"


class StockContention(RuntimeError):
    """Retryable: the job fails and SAQ runs it again after a backoff."""


class FastPathLost(Exception):
    """The reservation inside the validation transaction lost a race for stock (the transaction is undone)."""


async def reserve_inline(
    order_id: int,
    order: OrderRow,
    lines: list[LineRow],
    skus: dict[str, SkuRow],
    values: dict[Any, Any],
    guard: dict[Any, Any],
) -> bool:
    """Inside the validation transaction: reserve and make shipments if a plan covers the order; False (and
    nothing written) otherwise. Raises FastPathLost when the stock went between the plan and the UPDATE."""
    full = [
        ShipLine(
            id=line.id,
            sku=skus[line.sku_code].id,
            sku_code=line.sku_code,
            qty=line.qty,
            weight_g=skus[line.sku_code].weight_g,
            volume_cm3=skus[line.sku_code].volume_cm3,
        )
        for line in lines
    ]
    wanted, codes = _wanted(full)
    ranked = await _ranked(order)
    if not ranked:
        return False
    policy = SplitPolicy(order.channel_split_policy or SplitPolicy.EXCEPTION.value)
    available = await availability([c.id for c in ranked], list(wanted))
    chosen = plan(wanted, ranked, available, allow_split=policy == SplitPolicy.SPLIT, codes=codes)
    if not isinstance(chosen, Allocation):
        return False
    merge, deferred = await _merge_mode(order)
    why = explain(wanted, ranked, available, chosen, province=order.receiver_province, policy=policy, codes=codes)
    # The stock is reserved last, when validation's transaction commits: a shortage then comes out of that
    # transaction as FastPathLost (everything undone), and process_order takes the two-step way.
    await _commit_allocation(
        order_id,
        chosen,
        full,
        codes,
        routing=why,
        receiver_key=_receiver_key_of(order),
        channel_code=order.channel_code,
        merge=merge,
        deferred=deferred,
        expected=S.RECEIVED,
        via=S.VALIDATED,
        values=values,
        guard=guard,
        short=FastPathLost,
    )
    return True


async def reserve_order(order_id: int, order: OrderRow) -> OrderStatus:
    """VALIDATED → READY (stock reserved, shipments made) or exception/held when stock is short.

    Warehouses are ranked (rule preference, served province, region distance, channel default); the order goes
    whole to the first that has everything, else it is split by warehouse, waits, or becomes an exception,
    as its channel's split policy says. A lost race for the last units re-plans a few times.
    """
    lines = await load_ship_lines(order_id)
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
    policy = SplitPolicy(order.channel_split_policy or SplitPolicy.EXCEPTION.value)
    merge, deferred = await _merge_mode(order)
    for _attempt in range(3):
        available = await availability([c.id for c in ranked], list(wanted))
        chosen = plan(wanted, ranked, available, allow_split=policy == SplitPolicy.SPLIT, codes=codes)
        why = explain(wanted, ranked, available, chosen, province=order.receiver_province, policy=policy, codes=codes)
        if not isinstance(chosen, Allocation):
            return await _short(order_id, chosen, policy, why)
        try:
            await _commit_allocation(
                order_id,
                chosen,
                lines,
                codes,
                routing=why,
                receiver_key=_receiver_key_of(order),
                channel_code=order.channel_code,
                merge=merge,
                deferred=deferred,
            )
        except StockShortage:
            continue  # another order took the last units between our read and our reservation
        return S.READY
    # Lost the race three times in a row: let the job's retry (with backoff) try again later.
    raise StockContention(f"order {order_id}: stock changed under three allocation attempts")


def _wanted(lines: list[ShipLine]) -> tuple[dict[int, int], dict[int, str]]:
    wanted: dict[int, int] = defaultdict(int)
    codes: dict[int, str] = {}
    for line in lines:
        wanted[line.sku] += line.qty
        codes[line.sku] = line.sku_code
    return dict(wanted), codes


async def _ranked(order: OrderRow) -> list[Candidate]:
    province, preferred, default = order.receiver_province, order.preferred_warehouse, order.channel_default_warehouse
    # The warehouses are read once per batch, and ranked for each receiver's province from that read.
    warehouses = await cached("warehouses", active_warehouses)

    async def ranked_here() -> list[Candidate]:
        return rank(warehouses, province=province, preferred_id=preferred, default_id=default)

    ranked: list[Candidate] = await cached(("rank", province, preferred, default), ranked_here)
    return ranked


async def _merge_mode(order: OrderRow) -> tuple[str | None, tuple[str, ...]]:
    """The merge scope to use now, and the steps deferred (merge detection, during a surge)."""
    merge = None if order.channel_merge_scope == "off" else order.channel_merge_scope
    if merge is not None and await surge.current_mode() == surge.Mode.SURGE:
        return None, surge.DEFERRED_STEPS
    return merge, ()


def _receiver_key_of(order: OrderRow) -> str:
    # An encrypted receiver: the platform's index (or open id) stands in for the phone, the masked forms for the
    # rest — the same phone at the same masked address in the same district is the same parcel.
    phone = order.receiver_match_key or order.receiver_phone
    detail = order.receiver_detail
    if order.receiver_cipher:  # the street's index where the platform gives one: masked streets look alike
        cipher = decode_cipher(order.receiver_cipher)
        if cipher is not None and cipher.detail_index:
            detail = f"{detail}#{cipher.detail_index}"
    return receiver_key(order.receiver_name, phone, order.receiver_division_code, detail)


async def _short(order_id: int, shortfalls: Any, policy: SplitPolicy, routing: RoutingDecision) -> OrderStatus:
    data = {
        "shortfalls": msgspec.to_builtins(shortfalls),
        "message": "库存不足：" + "，".join(f"{s.sku} 需要 {s.requested} 可用 {s.available}" for s in shortfalls),
    }
    async with db.transaction():
        await _record_routing(order_id, routing)
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


async def _record_routing(order_id: int, routing: RoutingDecision) -> None:
    """Why the order is (or is not yet) in its warehouse: the ranking with each warehouse's reasons, the decision."""
    await record_event(order_id, OrderEventType.ROUTED, reason=routing.reason.value, data=msgspec.to_builtins(routing))


async def _commit_allocation(
    order_id: int,
    allocation: Allocation,
    lines: list[ShipLine],
    codes: dict[int, str],
    *,
    routing: RoutingDecision,
    receiver_key: str,
    channel_code: str,
    merge: str | None,
    deferred: tuple[str, ...] = (),
    expected: OrderStatus = S.VALIDATED,
    via: OrderStatus | None = None,
    values: dict[Any, Any] | None = None,
    guard: dict[Any, Any] | None = None,
    short: type[Exception] | None = None,
) -> None:
    """Reserve, and put the lines in shipments: an open shipment for the same receiver (合单) or a new one.

    ``deferred`` names the steps the surge light path skipped (merge detection): the order is marked for the
    backfill pass that runs them when the surge ends.

    The stock is reserved by the transaction's last statements, just before COMMIT (the hot rows stay locked that
    long only): StockShortage — or ``short``, raised from it — comes out of the outermost transaction."""
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
        await _record_routing(order_id, routing)
        home = {sku: wh for wh, skus in allocation.by_warehouse.items() for sku in skus}
        shipments: dict[int, int] = {}
        merged: dict[int, list[int]] = {}
        for warehouse_id in sorted(allocation.by_warehouse):
            found = await open_shipment_for(warehouse_id, receiver_key, merge, channel_code) if merge else None
            if found is not None:
                shipments[warehouse_id], merged[warehouse_id] = found
                continue
            mine = [line for line in lines if home[line.sku] == warehouse_id]
            weight = sum(line.qty * line.weight_g for line in mine)
            volume = sum(line.qty * line.volume_cm3 for line in mine)
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
                        max_item_volume_cm3=max(line.volume_cm3 for line in mine),
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
            ).where((OrderLine.order == order_id) & OrderLine.sku.is_in(sorted(skus)))  # bounded: one order's SKUs
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

        async def reserve_stock() -> None:
            try:
                for warehouse_id in sorted(allocation.by_warehouse):  # (warehouse, row id) order: no deadlocks
                    await reserve(warehouse_id, allocation.by_warehouse[warehouse_id], codes)
            except StockShortage as exc:
                if short is None:
                    raise
                raise short(str(exc)) from exc

        # Stock last, after the events' INSERT: the hot stock rows stay locked only until the COMMIT right after.
        db.last_before_commit(reserve_stock)
