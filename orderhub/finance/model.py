"""The finance context's shared shapes: cause codes, the daily reconciliation report, stored batches."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Final

import msgspec

__all__ = [
    "CAUSE_NAMES",
    "Cause",
    "CauseTotal",
    "DailyReport",
    "DailyReportRow",
    "StoreResult",
]


class Cause(StrEnum):
    """Why an order's settled amount differs from what the hub expected (stable codes; zh-CN in CAUSE_NAMES)."""

    COMMISSION = "commission_diff"
    SHIPPING_SUBSIDY = "shipping_subsidy"
    COUPON = "coupon_diff"
    REFUND_BEFORE_SETTLEMENT = "refund_before_settlement"
    REFUND_AFTER_SETTLEMENT = "refund_after_settlement"
    REFUND_NOT_SYNCED = "refund_not_synced"
    SHIPPING_INSURANCE = "shipping_insurance"
    PENALTY = "platform_penalty"
    DAY_BOUNDARY = "day_boundary"
    UNMATCHED_LINE = "unmatched_line"
    UNEXPLAINED = "unexplained"


CAUSE_NAMES: Final[dict[str, str]] = {
    Cause.COMMISSION: "佣金差异",
    Cause.SHIPPING_SUBSIDY: "运费补贴未计入",
    Cause.COUPON: "优惠券抵扣方式不同",
    Cause.REFUND_BEFORE_SETTLEMENT: "结算前退款",
    Cause.REFUND_AFTER_SETTLEMENT: "结算后退款",
    Cause.REFUND_NOT_SYNCED: "退款延迟同步",
    Cause.SHIPPING_INSURANCE: "运费险",
    Cause.PENALTY: "平台罚款",
    Cause.DAY_BOUNDARY: "时区/日切差异",
    Cause.UNMATCHED_LINE: "无对应订单",
    Cause.UNEXPLAINED: "未解释差额",
}


class StoreResult(msgspec.Struct, frozen=True, kw_only=True):
    """What storing one batch of settlement lines did (``orderhub.finance.settlements.store_lines``)."""

    batch_id: int
    lines: int  # lines in the batch
    inserted: int  # new lines
    replaced: int  # lines a corrected bill changed (same line key, another amount or kind)
    unchanged: int  # lines already stored as they are (a re-run)
    orders: int  # orders whose reconciliation was re-run
    superseded: int = 0  # lines of the same bill days stored from another source (a pull, a file), now replaced


class CauseTotal(msgspec.Struct, frozen=True, kw_only=True):
    cause: str  # Cause code
    name: str  # zh-CN
    amount: int  # fen, signed (settled − expected)
    orders: int


class DailyReportRow(msgspec.Struct, frozen=True, kw_only=True):
    """One channel's day, as the seed's reconciliation table has it."""

    channel_id: int
    channel_name: str
    platform: str
    day: date  # the bill day (Beijing calendar)
    orders: int  # orders with a settlement line that day
    settled: int  # fen: what the platform settled that day (every line, matched or not)
    expected: int  # fen: what the hub recorded (expected payout) for those orders
    difference: int  # settled − expected
    causes: list[CauseTotal]  # largest |amount| first; their amounts add up to difference
    flagged: int  # orders (and unmatched lines) with an unexplained part
    # What the platform's own bill of that day adds up to (its lines dated that day): the rows above are the orders
    # first settled that day with all their lines, including a refund booked on a later bill day.
    bill_total: int = 0


class DailyReport(msgspec.Struct, frozen=True, kw_only=True):
    day: date
    generated_at: datetime
    rows: list[DailyReportRow]
    settled: int  # = sum of rows
    expected: int
    difference: int
