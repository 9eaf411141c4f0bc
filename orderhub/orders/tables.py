"""Orders, their lines, and the audit log of every change."""

from __future__ import annotations

from piccolo.columns import (
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.combination import WhereRaw
from piccolo.table import Table

from orderhub.catalog.tables import Sku
from orderhub.channels.tables import Channel
from orderhub.inventory.tables import Warehouse
from orderhub.routing.tables import Shipment

__all__ = [
    "Order",
    "OrderEvent",
    "OrderLine",
    "PipelineSetting",
    "PlatformWriteback",
    "SurgeEvent",
    "awaiting_backfill",
]


class Order(Table, tablename="sales_order"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    channel = ForeignKey(references=Channel)  # indexed by the unique (channel, external_id)
    external_id = Varchar(length=64)
    status = Varchar(length=16)  # indexed by (status, updated_at)
    exception_reason = Varchar(length=32, null=True, default=None)
    # Held orders wait in a named queue (invoice, approval, duplicate …) for someone to release them.
    hold_queue = Varchar(length=32, null=True, default=None)  # partial index: held orders only
    hold_reason = Varchar(length=64, null=True, default=None)
    # Holds still to pass after the current one: JSON list of {"queue", "reason", "data"}.
    pending_holds = Text(default="[]")
    # Content fingerprint (receiver phone + address + lines + amount) for cross-channel duplicate detection; indexed
    # with received_at (the check's window) by migration 2026-12-08T13.
    fingerprint = Varchar(length=64, default="")
    # The receiver as the source last sent it (receiver_signature): a platform re-sending the same receiver is not
    # a change, whatever standardisation or a person's fix did to the order's fields.
    source_receiver = Varchar(length=64, default="")
    preferred_warehouse = ForeignKey(references=Warehouse, null=True)
    preferred_carrier = Varchar(length=32, null=True, default=None)
    # Set once rules (tags, priority, gifts, holds) have been applied, so re-entering the pipeline after a
    # hold is released does not apply them twice.
    rules_applied_at = Timestamptz(null=True, default=None)
    buyer_nick = Varchar(length=100, default="")
    # A customer's name, phone and street address are sealed at rest (orderhub.orders.pii): Text, as a sealed value is
    # longer than the clear one. Province, city and district stay clear (routing, rates and reports read them).
    buyer_phone = Text(default="")
    receiver_name = Text()
    receiver_phone = Text()
    receiver_province = Varchar(length=32, default="")
    receiver_city = Varchar(length=32, default="")
    receiver_district = Varchar(length=32, default="")
    receiver_detail = Text(default="")
    receiver_address = Text(default="")
    # The platform's protected receiver (orderhub.orders.commands.ReceiverCipher as JSON; "" for a clear one): its
    # ciphertexts, masked forms and search indexes. ``receiver_match_key`` is ReceiverCipher.match_key(): what
    # duplicate detection and 合单 compare for such an order instead of the phone.
    receiver_cipher = Text(default="")
    receiver_match_key = Varchar(length=160, default="", index=True)
    # 6-digit administrative division code (most specific level understood) and a phone extension
    # (platform privacy numbers like 13800138000-1234), filled by address standardisation.
    receiver_division_code = Varchar(length=12, default="")
    # ISO 3166-1 alpha-2 ("CN" for the 省/市/区县 form) and the postal code; see orders.commands.Receiver.
    receiver_country = Varchar(length=2, default="CN")
    receiver_postcode = Varchar(length=16, default="")
    # The destination's duty and VAT estimate (orderhub.customs.model.DutyEstimate as JSON; "" = domestic or none)
    customs_estimate = Text(default="")
    receiver_phone_ext = Varchar(length=16, default="")
    # The receiver phone's search index (orderhub/orders/phone_index.py): a keyed hash of its digits and the last
    # four, written with the phone, so a search by phone is an index lookup and never reads the phone itself.
    receiver_phone_key = Varchar(length=64, default="", index=True)
    receiver_phone_tail = Varchar(length=4, default="", index=True)
    # Money: integer fen (分).
    goods_amount = BigInt(default=0)
    shipping_fee = BigInt(default=0)
    discount = BigInt(default=0)
    paid_amount = BigInt(default=0)
    # Platform-funded coupons and discounts (平台优惠): not paid by the buyer, paid back to the seller by the platform.
    platform_discount = BigInt(default=0)
    buyer_memo = Text(default="")
    seller_memo = Text(default="")
    tags = Text(default="[]")
    priority = Varchar(length=16, default="normal")
    placed_at = Timestamptz(index=True)
    paid_at = Timestamptz(null=True, default=None, index=True)
    ship_by = Timestamptz(null=True, default=None)
    # When the SLA watcher found the order at risk of missing ship_by (the alert fires once).
    at_risk_at = Timestamptz(null=True, default=None)
    # Processed on the surge light path: the steps it deferred (merge detection) still have to run.
    needs_backfill = Boolean(default=False)  # partial index on id: these orders only
    warehouse = ForeignKey(references=Warehouse, null=True)  # indexed by (warehouse, status, ship_by, at_risk_at)
    # The waybill number the order was shipped with (also when shipped by hand, without a waybill of ours).
    shipped_waybill_no = Varchar(length=64, default="")  # partial index: shipped orders only
    # A replacement order (补发单) names the order it replaces (orderhub.orders.aftersale); null for every other order.
    reship_of = Integer(null=True, default=None)  # partial index: re-shipments only
    raw_payload = Text(default="{}")
    received_at = Timestamptz()
    updated_at = Timestamptz()


def awaiting_backfill() -> WhereRaw:
    """Orders a surge took without merge detection: ``needs_backfill`` as a bare condition, the one the partial index
    ``sales_order_backfill_ids`` is on, so both back ends use it (SQLite does not match ``needs_backfill = ?``)."""
    return WhereRaw("sales_order.needs_backfill")


class OrderLine(Table, tablename="order_line"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    order = ForeignKey(references=Order)  # indexed by the unique (order, line_no)
    line_no = Integer()
    sku_code = Varchar(length=64, index=True)
    sku = ForeignKey(references=Sku, null=True)
    qty = Integer()
    unit_price = BigInt(default=0)
    amount = BigInt(default=0)
    is_gift = Boolean(default=False)
    gift_rule = Integer(null=True, default=None)
    warehouse = ForeignKey(references=Warehouse, null=True)
    shipment = ForeignKey(references=Shipment, null=True, index=True)
    reserved_qty = Integer(default=0)


class OrderEvent(Table, tablename="order_event"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    order = ForeignKey(references=Order, index=True)
    type = Varchar(length=48)
    from_status = Varchar(length=16, null=True, default=None)
    to_status = Varchar(length=16, null=True, default=None)
    reason = Varchar(length=64, null=True, default=None)
    data = Text(default="{}")
    actor = Varchar(length=64, default="system")
    created_at = Timestamptz()


class SurgeEvent(Table, tablename="surge_event"):
    """The pipeline's mode switches and inflow alerts (surge started / ended, inflow above the alert line)."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    type = Varchar(length=32)
    mode = Varchar(length=16)
    inflow_per_min = Integer(default=0)
    threshold = Integer(default=0)
    data = Text(default="{}")
    created_at = Timestamptz(index=True)


class PipelineSetting(Table, tablename="pipeline_setting"):
    """Settings an operator changes at run time (through the API) over the environment's defaults."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    key = Varchar(length=64, unique=True)
    value = Text(default="{}")
    updated_by = Varchar(length=64, default="system")
    updated_at = Timestamptz()


class PlatformWriteback(Table, tablename="platform_writeback"):
    """A shipment the order's platform must be told about (carrier + waybill), until it confirms.

    Written in the same transaction as the order's ``shipped`` status; a job sends it and is retried with backoff
    until the platform accepts (or says it already knew)."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    order = ForeignKey(references=Order, index=True)
    channel = ForeignKey(references=Channel, index=True)
    external_id = Varchar(length=64)
    carrier = Varchar(length=16)
    waybill_no = Varchar(length=64)
    status = Varchar(length=16, default="pending", index=True)  # pending | done
    attempts = Integer(default=0)
    last_error = Text(default="")
    next_attempt_at = Timestamptz(index=True)
    created_at = Timestamptz()
    done_at = Timestamptz(null=True, default=None)
