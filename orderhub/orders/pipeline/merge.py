"""合单 (merging) and the surge backfill: the receiver key orders are merged on, finding an open shipment for the
same receiver, the backfill pass that runs the merge detection a surge deferred, and recomputing a shipment's
weight, volume and packing line after lines moved in or out of it."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.orders import surge
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import record_event
from orderhub.orders.state import OrderStatus
from orderhub.orders.tables import Order, OrderLine, awaiting_backfill
from orderhub.routing.service import packing_line
from orderhub.routing.tables import Shipment
from orderhub.settings import get_settings

__all__ = ["backfill_after_surge", "open_shipment_for", "receiver_key", "recompute_shipment"]

S = OrderStatus


class _Locked(msgspec.Struct):
    status: str


class _LockedOrder(msgspec.Struct):
    status: str
    needs_backfill: bool


def receiver_key(name: str, phone: str, division_code: str, detail: str) -> str:
    """Same person at the same standardised address → same key (what 合单 matches on). ``phone`` may be a platform's
    match key (``douyin:idx:…``, ReceiverCipher.match_key) for an encrypted receiver: compared whole."""
    digits = phone if ":" in phone else "".join(ch for ch in phone if ch.isdigit())
    key = msgspec.json.encode([name.strip(), digits, division_code, "".join(detail.split())])
    return hashlib.sha256(key).hexdigest()


async def open_shipment_for(warehouse_id: int, key: str, scope: str, channel_code: str) -> tuple[int, list[int]] | None:
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
        # Raw SQL: the query builder has no FOR UPDATE (a row lock on PostgreSQL).
        locked = await db.fetch_one_as(
            _Locked, f"SELECT status FROM shipment WHERE id = {{}}{db.for_update()}", candidate["id"]
        )
        if locked is None or locked.status != "open":
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
            .where(awaiting_backfill() & (Order.id > after))
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
        # Raw SQL: the query builder has no FOR UPDATE (a row lock on PostgreSQL).
        locked = await db.fetch_one_as(
            _LockedOrder, f"SELECT status, needs_backfill FROM sales_order WHERE id = {{}}{db.for_update()}", order_id
        )
        if locked is None or not locked.needs_backfill:
            return
        merged_into: dict[int, int] = {}
        if locked.status == S.READY.value and scope != "off":
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
                found = await open_shipment_for(shipment["warehouse"], shipment["receiver_key"], scope, channel_code)
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
                "status": locked.status,
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
