"""Shipments: what leaves one warehouse in one parcel (a split order has several; merged orders share one)."""

from __future__ import annotations

from piccolo.columns import ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

from orderhub.inventory.tables import Warehouse

__all__ = ["Shipment"]


class Shipment(Table, tablename="shipment"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    warehouse = ForeignKey(references=Warehouse, index=True)
    # Packing line: "A" small/light, "B" bulky/heavy (thresholds in settings).
    packing_line = Varchar(length=1, default="A")
    weight_g = Integer(default=0)
    volume_cm3 = Integer(default=0)
    status = Varchar(length=16, default="open", index=True)
    # Orders for the same receiver (name, phone, standardised address) merge into one open shipment (合单).
    receiver_key = Varchar(length=64, default="", index=True)
    channel = Varchar(length=32, default="")
    created_at = Timestamptz()
