"""The finance context's tables: fee settings, each order's expected payout, the platforms' settlement lines and the
reconciliation of each order (or unmatched line) against them."""

from __future__ import annotations

from piccolo.columns import BigInt, Boolean, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

__all__ = [
    "FeeSetting",
    "OrderPayout",
    "Reconciliation",
    "SettlementBatch",
    "SettlementLine",
    "SettlementPull",
    "SettlementSetting",
]


class FeeSetting(Table, tablename="fee_setting"):
    """What one channel's platform takes from an order (rates in basis points: 500 = 5 %), and how long it usually
    takes to settle. One row per channel; a channel without one expects the payout without fees."""

    id: Serial
    channel = Integer(unique=True)
    commission_bp = Integer(default=0)  # the default commission (技术服务费 / 佣金) rate
    category_commission = Text(default="{}")  # JSON {SKU category: bp} over the default
    payment_fee_bp = Integer(default=0)  # 支付手续费 on what the buyer paid
    service_fee_bp = Integer(default=0)  # a platform service fee on the goods
    service_fee_fixed = BigInt(default=0)  # fen per order
    insurance_fee = BigInt(default=0)  # 运费险 the seller pays, fen per order
    settle_delay_days = Integer(default=15)  # after shipping: later than this and unsettled is flagged
    updated_by = Varchar(length=64, default="system")
    updated_at = Timestamptz()


class OrderPayout(Table, tablename="order_payout"):
    """What the hub expects the platform to pay out for one order (fen; fees and refunds negative), computed when the
    order ships and again when a refund or after-sale changes it (``stale`` marks it for the next computation)."""

    id: Serial
    order = Integer(unique=True)
    channel = Integer(index=True)
    external_id = Varchar(length=64, default="")
    shipped_at = Timestamptz(null=True, default=None, index=True)
    paid = BigInt(default=0)  # what the buyer paid (sales_order.paid_amount)
    platform_discount = BigInt(default=0)  # platform-funded coupons the platform pays back
    commission = BigInt(default=0)
    payment_fee = BigInt(default=0)
    service_fee = BigInt(default=0)
    insurance = BigInt(default=0)
    refunded = BigInt(default=0)  # the recorded refunds (negative)
    expected = BigInt(default=0)  # the sum of the above
    # JSON: the rates used and each refund {amount, at}, so a difference can show what was assumed.
    basis = Text(default="{}")
    stale = Boolean(default=True, index=True)
    settled = BigInt(default=0)  # what the platform's lines add up to (reconciliation writes it)
    settled_at = Timestamptz(null=True, default=None)  # the first SALE line's settlement time
    computed_at = Timestamptz(null=True, default=None)


class SettlementSetting(Table, tablename="settlement_setting"):
    """A channel's settlement pull: on or off, and the settings only it needs (sealed: Alipay's app id and keys for a
    Taobao shop)."""

    id: Serial
    channel = Integer(unique=True)
    enabled = Boolean(default=True)
    extra = Text(default="")  # sealed JSON object (orderhub.crypto)
    first_day = Varchar(length=10, default="")  # the first bill day to pull (YYYY-MM-DD); "" = yesterday
    updated_at = Timestamptz()


class SettlementPull(Table, tablename="settlement_pull"):
    """One channel's pull of one bill day: where it is (the page cursor) and how it ended."""

    id: Serial
    channel = Integer(index=True)
    day = Varchar(length=10)  # YYYY-MM-DD, Beijing calendar
    status = Varchar(length=16, default="running")  # running | done | not_ready | failed
    cursor = Varchar(length=255, null=True, default=None)
    lines = Integer(default=0)
    error = Varchar(length=255, default="")
    attempts = Integer(default=0)
    updated_at = Timestamptz()


class SettlementBatch(Table, tablename="settlement_batch"):
    """One storing of settlement lines: a pulled page or an imported file."""

    id: Serial
    channel = Integer(index=True)
    source = Varchar(length=8)  # pull | file | api
    batch_key = Varchar(length=128)
    file_name = Varchar(length=255, default="")
    lines = Integer(default=0)
    total = BigInt(default=0)
    inserted = Integer(default=0)
    replaced = Integer(default=0)
    actor = Varchar(length=64, default="system")
    created_at = Timestamptz()


class SettlementLine(Table, tablename="settlement_line"):
    """One line of a platform's settlement, as mapped (:class:`orderhub.finance.port.SettlementLineIn`); unique per
    channel and line key, so a corrected bill replaces the lines it corrects and a re-run changes nothing."""

    id: Serial
    channel = Integer()
    line_key = Varchar(length=128)
    batch = Integer()
    external_id = Varchar(length=64, default="")
    sub_id = Varchar(length=64, default="")
    kind = Varchar(length=24)
    amount = BigInt(default=0)
    settled_at = Timestamptz()
    bill_date = Varchar(length=10)
    occurred_at = Timestamptz(null=True, default=None)
    refund_before_settle = Boolean(default=False)
    memo = Varchar(length=255, default="")
    payload = Text(default="{}")  # the platform's row as received
    updated_at = Timestamptz()


class Reconciliation(Table, tablename="reconciliation"):
    """One order's (or one unmatched line's) expected payout against what its settlement lines add up to, the
    difference split into cause-coded parts, and what finance did about it."""

    id: Serial
    channel = Integer()
    recon_key = Varchar(length=140)  # "o:<platform order id>" or "l:<line key>" (a line on no order)
    order = Integer(null=True, default=None, index=True)
    external_id = Varchar(length=64, default="")
    bill_date = Varchar(length=10, index=True)  # the day it is reported on (its first sale line's bill day)
    expected = BigInt(default=0)
    settled = BigInt(default=0)
    difference = BigInt(default=0)  # settled − expected = the sum of the parts
    status = Varchar(length=12, index=True)  # balanced | explained | flagged
    main_cause = Varchar(length=32, default="")
    parts = Text(default="[]")  # JSON [{cause, amount, fields}]
    resolution = Varchar(length=12, default="")  # "" | note | write_off | claim
    resolution_note = Varchar(length=500, default="")
    resolved_by = Varchar(length=64, default="")
    resolved_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()
