"""Each order's expected payout: what the platform should pay the seller for it, computed when it ships and again
after every refund.

The order's events mark it (:func:`on_order_event`, an ``ORDER_EVENT_HOOKS`` listener: one upsert of the order's
``order_payout`` row with ``stale`` set, in the transaction that shipped or refunded it); :func:`compute`
(run by ``orderhub.finance.reconcile.refresh_stale``, a worker cron, and by the reconciliation before it compares)
computes the marked rows in batches, set-based:

* ``paid`` — what the buyer paid (``sales_order.paid_amount``), and ``platform_discount`` — the platform-funded
  coupons the order carried, which the platform pays back;
* ``commission`` — the channel's rate for each line's SKU category (the default rate for the rest) on the goods
  (what was paid plus the platform's discount, less shipping), spread over the lines by their amounts, after refunds;
* ``payment_fee`` on what the buyer paid, ``service_fee`` (a rate on the goods plus a fixed fee per order) and
  ``insurance`` (运费险 per order) from the channel's fee settings (:mod:`orderhub.finance.fees`);
* ``refunded`` — the order's ``order.refund_recorded`` events (after-sales, approvals, platform refunds).

Every fee is rounded half up to the fen; the expected payout is their exact sum.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.finance.causes import Expected, Refund
from orderhub.finance.fees import FeeRates, rates_for
from orderhub.orders.events import OrderEventType

__all__ = ["MARKING_EVENTS", "Payout", "compute", "expected_of", "on_order_event"]

MARKING_EVENTS = frozenset({OrderEventType.SHIPPED, OrderEventType.REFUND_RECORDED})
_SHIPPED = OrderEventType.SHIPPED.value
_REFUND = OrderEventType.REFUND_RECORDED.value


async def on_order_event(order_id: int, event_type: OrderEventType, reason: str | None, data: dict[str, Any]) -> None:
    """ORDER_EVENT_HOOKS listener: a shipped or refunded order's payout is (re)computed by the next run."""
    if event_type not in MARKING_EVENTS:
        return
    await db.execute(
        'INSERT INTO order_payout ("order", channel, stale) VALUES ({}, 0, TRUE) '
        'ON CONFLICT ("order") DO UPDATE SET stale = TRUE',
        order_id,
    )


def _fee(base: int, bp: int) -> int:
    """``base`` × ``bp`` / 10 000, rounded half up to the fen (``base`` ≥ 0)."""
    return (base * bp + 5_000) // 10_000


class _OrderRow(msgspec.Struct):
    id: int
    channel: int
    external_id: str
    paid_amount: int
    platform_discount: int
    shipping_fee: int
    reship_of: int | None


class _LineRow(msgspec.Struct):
    order_id: int
    amount: int
    category: str | None


class _EventRow(msgspec.Struct):
    order_id: int
    type: str
    data: str | None
    created_at: datetime


class Payout(msgspec.Struct, frozen=True, kw_only=True):
    order_id: int
    channel: int
    external_id: str
    shipped_at: datetime | None
    paid: int
    platform_discount: int
    commission: int
    payment_fee: int
    service_fee: int
    insurance: int
    refunded: int
    refunds: tuple[Refund, ...]
    basis: dict[str, Any]

    @property
    def expected(self) -> int:
        return expected_of(self).total


def expected_of(payout: Payout) -> Expected:
    return Expected(
        paid=payout.paid,
        platform_discount=payout.platform_discount,
        commission=payout.commission,
        payment_fee=payout.payment_fee,
        service_fee=payout.service_fee,
        insurance=payout.insurance,
        refunded=payout.refunded,
        refunds=payout.refunds,
    )


def _payout(
    order: _OrderRow,
    lines: Sequence[_LineRow],
    events: Sequence[_EventRow],
    rates: FeeRates,
) -> Payout:
    refunds: list[Refund] = []
    shipped_at: datetime | None = None
    for event in events:
        if event.type == _SHIPPED:
            shipped_at = shipped_at or event.created_at
        elif event.type == _REFUND:
            data = msgspec.json.decode(event.data or "{}")
            at = data.get("at") if isinstance(data, dict) else None
            refunds.append(
                Refund(
                    int(data.get("amount", 0)) if isinstance(data, dict) else 0,
                    clock.from_db(at) if isinstance(at, str) else event.created_at,
                )
            )
    refunded = sum(r.amount for r in refunds)
    goods = max(0, order.paid_amount + order.platform_discount - order.shipping_fee)
    # Commission is charged on what was kept: the platforms hand the commission on a refund back.
    base = max(0, goods - refunded)
    weights = [(max(0, line.amount), rates.commission_for(line.category or "")) for line in lines]
    total_weight = sum(w for w, _ in weights)
    commission = 0
    if total_weight:
        spread = 0
        for i, (weight, bp) in enumerate(weights):
            # the last line takes the rounding remainder of the spread, so the parts add up to the base
            part = base - spread if i == len(weights) - 1 else base * weight // total_weight
            spread += part
            commission += _fee(part, bp)
    else:
        commission = _fee(base, rates.commission_bp)
    return Payout(
        order_id=order.id,
        channel=order.channel,
        external_id=order.external_id,
        shipped_at=shipped_at,
        paid=order.paid_amount,
        platform_discount=order.platform_discount,
        commission=-commission,
        payment_fee=-_fee(order.paid_amount, rates.payment_fee_bp),
        service_fee=-(_fee(goods, rates.service_fee_bp) + rates.service_fee_fixed),
        insurance=-rates.insurance_fee,
        refunded=-refunded,
        refunds=tuple(refunds),
        basis={
            "commission_base": base,
            "rates": msgspec.to_builtins(rates),
            "refunds": [{"amount": r.amount, "at": r.at.isoformat() if r.at else None} for r in refunds],
        },
    )


async def compute(order_ids: Sequence[int], *, locked: bool = False) -> dict[int, Payout]:
    """The payouts of these orders from their current data, written to ``order_payout`` (stale cleared). Call it in
    a transaction: on PostgreSQL the payout rows are locked (in order) before the order's events are read, so a
    refund committing meanwhile waits and marks the row stale again after this write instead of being overwritten
    by figures that never saw it (``locked``: the caller holds them already).

    A replacement order (补发单, ``reship_of``) has no payout of its own: the platform pays nothing for it."""
    payouts: dict[int, Payout] = {}
    for chunk in db.chunks(sorted(set(order_ids)), 2_000):
        marks = db.placeholders(len(chunk))
        if not locked and not db.is_sqlite():
            await db.execute(
                f'SELECT "order" FROM order_payout WHERE "order" IN ({marks}) ORDER BY "order" FOR UPDATE', *chunk
            )
        rows = await db.fetch_as(
            _OrderRow,
            "SELECT id, channel, external_id, paid_amount, platform_discount, shipping_fee, reship_of "
            f"FROM sales_order WHERE id IN ({marks})",
            *chunk,
        )
        reships = [o.id for o in rows if o.reship_of is not None]
        if reships:
            await db.execute(f'DELETE FROM order_payout WHERE "order" IN ({db.placeholders(len(reships))})', *reships)
        orders = [o for o in rows if o.reship_of is None]
        lines = await db.fetch_as(
            _LineRow,
            'SELECT l."order" AS order_id, l.amount, s.category FROM order_line l LEFT JOIN sku s ON s.id = l.sku '
            f'WHERE l."order" IN ({marks}) AND l.is_gift = FALSE ORDER BY l."order", l.line_no',
            *chunk,
        )
        events = await db.fetch_as(
            _EventRow,
            'SELECT "order" AS order_id, type, data, created_at FROM order_event '
            f'WHERE "order" IN ({marks}) AND type IN ({{}}, {{}}) ORDER BY id',
            *chunk,
            _SHIPPED,
            _REFUND,
        )
        lines_of: dict[int, list[_LineRow]] = defaultdict(list)
        for line in lines:
            lines_of[line.order_id].append(line)
        events_of: dict[int, list[_EventRow]] = defaultdict(list)
        for event in events:
            events_of[event.order_id].append(event)
        rates = await rates_for({o.channel for o in orders})
        for order in orders:
            payouts[order.id] = _payout(order, lines_of[order.id], events_of[order.id], rates[order.channel])
        await _write([payouts[o.id] for o in orders])
    return payouts


_COLUMNS = (
    '"order"',
    "channel",
    "external_id",
    "shipped_at",
    "paid",
    "platform_discount",
    "commission",
    "payment_fee",
    "service_fee",
    "insurance",
    "refunded",
    "expected",
    "basis",
    "stale",
    "computed_at",
)


async def _write(payouts: Sequence[Payout]) -> None:
    now = clock.now()
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
    per = db.rows_per_statement(len(_COLUMNS))
    for chunk in db.chunks(payouts, per):
        row = "(" + ", ".join(["{}"] * len(_COLUMNS)) + ")"
        args: list[Any] = []
        for p in chunk:
            args += [
                p.order_id,
                p.channel,
                p.external_id,
                p.shipped_at,
                p.paid,
                p.platform_discount,
                p.commission,
                p.payment_fee,
                p.service_fee,
                p.insurance,
                p.refunded,
                p.expected,
                msgspec.json.encode(p.basis).decode(),
                False,
                now,
            ]
        await db.execute(
            f"INSERT INTO order_payout ({', '.join(_COLUMNS)}) VALUES {', '.join([row] * len(chunk))} "
            f'ON CONFLICT ("order") DO UPDATE SET {updates}',
            *args,
        )
