"""Splitting one order's difference (settled − expected) into cause-coded parts: pure arithmetic, no database.

The expected payout (:class:`Expected`) and the platform's lines (:class:`Line`) are compared component by component:

* **fees** — commission, promotion (colonel / 达人 / channel), payment and service fees as settled against the
  rates the channel's fee settings gave → ``commission_diff``;
* **shipping subsidy** — any subsidy the platform paid (the hub never books one in advance) → ``shipping_subsidy``;
* **platform coupons** — what the platform paid back for its coupons against the discount the order carried →
  ``coupon_diff``;
* **shipping insurance** and **penalties** → ``shipping_insurance`` / ``platform_penalty``;
* **the goods and their refunds**, netted (a platform may take a refund out of the sale line or book it as a line of
  its own): less paid than expected is a refund the hub does not know of — ``refund_before_settlement`` when the
  platform says it took it before settling (抖店 ``refund_before_settle``), ``refund_not_synced`` otherwise; more paid
  than expected is a refund the hub recorded after the platform settled (its deduction comes on a later bill) —
  ``refund_after_settlement``;
* what is left: ``day_boundary`` when the order's sale has not settled yet but its other lines settled in the last
  eight hours of a Beijing day, or a line sits on a bill day other than its settlement time's Beijing date (the sale
  is on the neighbouring day's bill); otherwise ``unexplained``.

The parts always add up to the difference exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from orderhub.clock import to_shanghai
from orderhub.finance.model import Cause
from orderhub.finance.port import LineKind

__all__ = ["Expected", "Line", "Part", "Split", "split", "split_unmatched"]

_FEES = (LineKind.COMMISSION, LineKind.PROMOTION_FEE, LineKind.PAYMENT_FEE, LineKind.SERVICE_FEE)
_ACCOUNT_CAUSES: dict[str, str] = {LineKind.PENALTY: Cause.PENALTY, LineKind.INSURANCE: Cause.SHIPPING_INSURANCE}
_LATE_IN_DAY = timedelta(hours=16)  # Beijing 16:00: a line settled after it sits within 8 h of the day's end


class Refund(msgspec.Struct, frozen=True):
    amount: int  # fen, positive
    at: datetime | None


class Expected(msgspec.Struct, frozen=True, kw_only=True):
    """An order's expected payout (fees and refunds negative), as ``order_payout`` holds it."""

    paid: int = 0
    platform_discount: int = 0
    commission: int = 0
    payment_fee: int = 0
    service_fee: int = 0
    insurance: int = 0
    refunded: int = 0
    refunds: tuple[Refund, ...] = ()

    @property
    def total(self) -> int:
        return (
            self.paid
            + self.platform_discount
            + self.commission
            + self.payment_fee
            + self.service_fee
            + self.insurance
            + self.refunded
        )


class Line(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    amount: int
    settled_at: datetime
    bill_date: str
    refund_before_settle: bool = False


class Part(msgspec.Struct, frozen=True, kw_only=True):
    cause: str
    amount: int
    fields: dict[str, Any] = {}


class Split(msgspec.Struct, frozen=True, kw_only=True):
    expected: int
    settled: int
    difference: int
    parts: list[Part]
    status: str  # balanced | explained | flagged
    main_cause: str
    settled_at: datetime | None  # the first sale line's settlement time


def _status(parts: Sequence[Part]) -> tuple[str, str]:
    if not parts:
        return "balanced", ""
    main = max(parts, key=lambda p: abs(p.amount)).cause
    flagged = any(p.cause in (Cause.UNEXPLAINED, Cause.UNMATCHED_LINE) for p in parts)
    return ("flagged" if flagged else "explained"), main


def _on_other_day(line: Line) -> bool:
    return to_shanghai(line.settled_at).date().isoformat() != line.bill_date


def split(expected: Expected, lines: Sequence[Line]) -> Split:
    """One order's parts (see the module's docstring)."""
    sums: dict[str, int] = {}
    for line in lines:
        sums[line.kind] = sums.get(line.kind, 0) + line.amount
    settled = sum(sums.values())
    difference = settled - expected.total
    sales = [line for line in lines if line.kind == LineKind.SALE]
    settled_at = min((line.settled_at for line in sales), default=None)
    parts: list[Part] = []

    def add(cause: str, amount: int, **fields: Any) -> None:
        if amount:
            parts.append(Part(cause=cause, amount=amount, fields=fields))

    settled_fees = sum(sums.get(kind, 0) for kind in _FEES)
    expected_fees = expected.commission + expected.payment_fee + expected.service_fee
    add(
        Cause.COMMISSION,
        settled_fees - expected_fees,
        expected_fees=expected_fees,
        settled_commission=sums.get(LineKind.COMMISSION, 0),
        settled_promotion_fee=sums.get(LineKind.PROMOTION_FEE, 0),
        settled_payment_fee=sums.get(LineKind.PAYMENT_FEE, 0),
        settled_service_fee=sums.get(LineKind.SERVICE_FEE, 0),
    )
    subsidy = sums.get(LineKind.SHIPPING_SUBSIDY, 0)
    add(Cause.SHIPPING_SUBSIDY, subsidy, settled_subsidy=subsidy)
    coupon = sums.get(LineKind.PLATFORM_COUPON, 0)
    add(
        Cause.COUPON,
        coupon - expected.platform_discount,
        expected_platform_discount=expected.platform_discount,
        settled_platform_coupon=coupon,
    )
    add(
        Cause.SHIPPING_INSURANCE,
        sums.get(LineKind.INSURANCE, 0) - expected.insurance,
        expected_insurance=expected.insurance,
        settled_insurance=sums.get(LineKind.INSURANCE, 0),
    )
    add(Cause.PENALTY, sums.get(LineKind.PENALTY, 0), settled_penalty=sums.get(LineKind.PENALTY, 0))

    # The goods and their refunds, netted.
    sale = sums.get(LineKind.SALE, 0)
    platform_refunds = -sums.get(LineKind.REFUND, 0)
    goods = sale - platform_refunds - (expected.paid + expected.refunded)
    facts = {
        "expected_paid": expected.paid,
        "hub_refunded": -expected.refunded,
        "settled_sale": sale,
        "platform_refunded": platform_refunds,
    }
    if sales and goods < 0:
        # A sale line marked refund_before_settle had the refund taken out of it; refund lines may say so too.
        before = -goods if any(line.refund_before_settle for line in sales) else 0
        before += sum(-line.amount for line in lines if line.kind == LineKind.REFUND and line.refund_before_settle)
        taken_before = min(-goods, before)
        add(Cause.REFUND_BEFORE_SETTLEMENT, -taken_before, **facts)
        rest = -goods - taken_before
        unsynced = min(rest, max(0, platform_refunds - (-expected.refunded)))
        add(Cause.REFUND_NOT_SYNCED, -unsynced, **facts)
        goods += taken_before + unsynced
    elif sales and goods > 0 and settled_at is not None:
        after = sum(r.amount for r in expected.refunds if r.at is None or r.at >= settled_at)
        owed = min(goods, after)
        add(Cause.REFUND_AFTER_SETTLEMENT, owed, settled_at=settled_at.isoformat(), **facts)
        goods -= owed
    explained = sum(part.amount for part in parts)
    remainder = difference - explained
    if remainder:
        boundary = [line for line in lines if _on_other_day(line)]
        late = [
            line
            for line in lines
            if to_shanghai(line.settled_at) - to_shanghai(line.settled_at).replace(hour=0, minute=0, second=0)
            >= _LATE_IN_DAY
        ]
        if boundary or (not sales and late):
            shown = (boundary or late)[0]
            add(
                Cause.DAY_BOUNDARY,
                remainder,
                bill_date=shown.bill_date,
                settled_at_beijing=to_shanghai(shown.settled_at).isoformat(),
                sale_settled=bool(sales),
            )
        else:
            add(Cause.UNEXPLAINED, remainder, **facts)
    status, main = _status(parts)
    return Split(
        expected=expected.total,
        settled=settled,
        difference=difference,
        parts=parts,
        status=status,
        main_cause=main,
        settled_at=settled_at,
    )


def split_unmatched(lines: Sequence[Line], *, external_id: str) -> Split:
    """Lines with no order of the hub's: penalties and insurance on the shop's account are what they say; anything
    else is an unmatched line."""
    parts: list[Part] = []
    by_cause: dict[str, int] = {}
    for line in lines:
        cause: str = Cause.UNMATCHED_LINE
        if external_id == "":  # a line on the shop's account, on no order
            cause = _ACCOUNT_CAUSES.get(line.kind, Cause.UNMATCHED_LINE)
        by_cause[cause] = by_cause.get(cause, 0) + line.amount
    for cause, amount in by_cause.items():
        if amount:
            parts.append(Part(cause=cause, amount=amount, fields={"external_id": external_id}))
    settled = sum(line.amount for line in lines)
    status, main = _status(parts)
    if not parts and lines:  # lines that add up to nothing on no order are still not the hub's
        status, main = "flagged", Cause.UNMATCHED_LINE
    return Split(
        expected=0,
        settled=settled,
        difference=settled,
        parts=parts,
        status=status,
        main_cause=main,
        settled_at=min((line.settled_at for line in lines), default=None),
    )
