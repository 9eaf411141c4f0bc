"""Carrier accounts (one per express company and warehouse, credentials sealed) and the waybills they issued."""

from __future__ import annotations

from piccolo.columns import Boolean, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from orderhub.inventory.tables import Warehouse
from orderhub.orders.tables import Order

__all__ = ["CarrierAccount", "CarrierRateCard", "CarrierRuleRow", "ParcelTracking", "Waybill"]


class CarrierAccount(Table, tablename="carrier_account"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    code = Varchar(length=32, unique=True, index=True)
    carrier = Varchar(length=16)  # "SF", "ZTO", "JT"
    warehouse = ForeignKey(references=Warehouse, null=True, index=True)  # null: every warehouse
    credentials = Text(default="")  # sealed (orderhub.crypto), never returned
    sender_name = Varchar(length=100, default="")  # who ships (the warehouse's shipping contact)
    sender_phone = Varchar(length=32, default="")
    priority = Integer(default=0)  # higher first when no rule or customer picks a carrier
    active = Boolean(default=True)
    # Issued through a sales platform's e-waybill service (抖音电子面单 "douyin", 拼多多电子面单 "pdd", 菜鸟 "taobao")
    # rather than the carrier's own API: it prints that platform's encrypted receivers; "" for the carrier's own.
    via = Varchar(length=16, default="")
    # The shop whose platform authorisation the service is called with (its orders' ciphertext is accepted).
    channel = Integer(null=True, default=None, index=True)
    created_at = Timestamptz()


class CarrierRateCard(Table, tablename="carrier_rate_card"):
    """What one carrier charges from one warehouse: per destination zone, first weight + each additional unit
    (``zones``: JSON list of :class:`orderhub.logistics.choice.RateRow`), its pick-up times and limits."""

    id: Serial
    warehouse = ForeignKey(references=Warehouse, index=True)
    carrier = Varchar(length=16)
    zones = Text(default="[]")
    pickups = Text(default='["17:00"]')  # Asia/Shanghai HH:MM
    max_declared_fen = Integer(null=True, default=None)
    max_weight_g = Integer(null=True, default=None)
    updated_by = Varchar(length=64, default="system")
    updated_at = Timestamptz()


class CarrierRuleRow(Table, tablename="carrier_rule"):
    """A carrier rule: parcels matching the conditions (JSON of :class:`orderhub.logistics.choice.CarrierRule`
    without ``carrier`` / ``effect``) must not go with (``exclude``) or must go with (``require``) the carrier."""

    id: Serial
    name = Varchar(length=100)
    carrier = Varchar(length=16)
    effect = Varchar(length=8)
    conditions = Text(default="{}")
    active = Boolean(default=True)
    created_by = Varchar(length=64, default="system")
    created_at = Timestamptz()


class Waybill(Table, tablename="waybill"):
    """One electronic waybill (电子面单). ``order_ref`` is what the carrier deduplicates on: one per order and
    warehouse, so pressing the button twice, or a retried job, gets the same waybill."""

    id: Serial
    order_ref = Varchar(length=64, unique=True)
    order = ForeignKey(references=Order, index=True)
    warehouse = ForeignKey(references=Warehouse)
    account = ForeignKey(references=CarrierAccount)
    carrier = Varchar(length=16)
    waybill_no = Varchar(length=64, index=True)
    sort_code = Varchar(length=64, default="")
    destination_code = Varchar(length=64, default="")
    reason = Varchar(length=255, default="")  # why this carrier (zh-CN)
    price_fen = Integer(null=True, default=None)  # the rate card's price for this parcel, when one priced it
    weight_g = Integer(default=0)
    status = Varchar(length=16, default="issued")  # issued, cancelled
    # "privacy": issued through a platform's e-waybill service for an encrypted receiver — the label prints the
    # privacy layout (the platform's masked receiver); "" for an ordinary waybill.
    privacy = Varchar(length=8, default="")
    # The platform service's print data for its own print component (encrypted; the clear address is printed from
    # it); "" for an ordinary waybill.
    print_data = Text(default="")
    created_by = Varchar(length=64, default="system")
    created_at = Timestamptz()


class ParcelTracking(Table, tablename="parcel_tracking"):
    """A shipped parcel followed through 快递100: pushed updates (verified with this parcel's salt), polling when
    pushes stop, the state, and the unguessable token of the customer's tracking page."""

    id: Serial
    waybill = ForeignKey(references=Waybill, unique=True)
    order = ForeignKey(references=Order, index=True)
    carrier = Varchar(length=16)
    waybill_no = Varchar(length=64, index=True)
    state = Varchar(length=24, default="pending")  # pending, or a TrackingState value
    events = Text(default="[]")  # oldest first: [{at, state, description, location}]
    salt = Varchar(length=64)
    token = Varchar(length=64, unique=True)
    subscribed_at = Timestamptz(null=True, default=None)
    last_event_at = Timestamptz(null=True, default=None)
    last_checked_at = Timestamptz(null=True, default=None)
    stalled_at = Timestamptz(null=True, default=None)
    delivered_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
