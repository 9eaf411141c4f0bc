"""Picking and packing: where SKUs are picked from, waves, pick tasks and their lines, PDA scans, pack records.

A wave groups ready orders of one warehouse and packing line; releasing it creates pick tasks (one per order in
order picking, one per cart of tote slots in batch picking). A task's lines are its stops: location, SKU, quantity
and the tote slot the units go to, in route order. Every scan a PDA sends is stored with the device's own id for
it, so a replayed scan returns the first answer and changes nothing.
"""

from __future__ import annotations

from piccolo.columns import Boolean, Float, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from orderhub.auth.tables import User
from orderhub.catalog.tables import Sku
from orderhub.inventory.tables import Location, Warehouse
from orderhub.orders.tables import Order, OrderLine

__all__ = [
    "PackRecord",
    "PdaDevice",
    "PdaScan",
    "PickLine",
    "PickTask",
    "PickTaskOrder",
    "PickingConfig",
    "SkuLocation",
    "Wave",
]


class PickingConfig(Table, tablename="picking_config"):
    """Wave rules, walking model and pack checks of one warehouse (a row is created with defaults on first use)."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    warehouse = ForeignKey(references=Warehouse, unique=True)
    auto_waves = Boolean(default=True)
    max_orders = Integer(default=20)
    max_items = Integer(default=200)
    cutoffs = Text(default='["11:00", "16:00"]')  # carrier pick-up times, Asia/Shanghai
    release_before_cutoff_minutes = Integer(default=60)
    max_wait_minutes = Integer(default=30)
    single_item_waves = Boolean(default=True)  # 一单一品 orders in waves of their own
    pick_mode = Varchar(length=8, default="batch")  # "batch" (cart of tote slots) or "order"
    cart_slots = Integer(default=12)
    aisle_spacing_m = Float(default=3.0)
    bay_length_m = Float(default=1.0)
    cross_aisles = Integer(default=2)
    depot_x_m = Float(default=0.0)
    packaging_g = Integer(default=50)
    weight_tolerance_g = Integer(default=50)
    weight_tolerance_pct = Float(default=5.0)
    require_location_scan = Boolean(default=True)  # an item scan must name the location confirmed before it
    updated_at = Timestamptz()


class SkuLocation(Table, tablename="sku_location"):
    """The pick face of a SKU in a warehouse (one per SKU and warehouse)."""

    id: Serial
    warehouse = ForeignKey(references=Warehouse, index=True)
    sku = ForeignKey(references=Sku, index=True)
    location = ForeignKey(references=Location)
    updated_at = Timestamptz()


class PdaDevice(Table, tablename="pda_device"):
    id: Serial
    code = Varchar(length=32, unique=True, index=True)
    name = Varchar(length=100, default="")
    warehouse = ForeignKey(references=Warehouse, index=True)
    kind = Varchar(length=16, default="pda")  # "pda" or "pack_station"
    # A pack station's labels: "pdf" (the browser prints the PDF) or "zpl" (the hub sends ZPL to printer_address,
    # "host:port", port 9100 when left out)
    label_format = Varchar(length=8, default="pdf")
    printer_address = Varchar(length=255, default="")
    active = Boolean(default=True)
    last_seen_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class Wave(Table, tablename="wave"):
    id: Serial
    code = Varchar(length=32, unique=True)
    warehouse = ForeignKey(references=Warehouse, index=True)
    packing_line = Varchar(length=1, default="A")
    pick_mode = Varchar(length=8, default="batch")
    single_item = Boolean(default=False)
    status = Varchar(length=16, default="released", index=True)  # released → done (or cancelled)
    reason = Varchar(length=32, default="")  # why it was released: full, cutoff, waited, urgent, manual
    cutoff = Timestamptz(null=True, default=None)
    orders = Integer(default=0)
    items = Integer(default=0)
    created_by = Varchar(length=64, default="system")
    created_at = Timestamptz()
    completed_at = Timestamptz(null=True, default=None)


class PickTask(Table, tablename="pick_task"):
    id: Serial
    wave = ForeignKey(references=Wave, index=True)
    warehouse = ForeignKey(references=Warehouse, index=True)
    status = Varchar(length=16, default="open", index=True)  # open → claimed → done; withdrawn
    priority = Integer(default=0)  # higher first
    picker = ForeignKey(references=User, null=True, index=True)
    device = Varchar(length=32, default="")
    route_m = Float(default=0.0)
    naive_route_m = Float(default=0.0)
    created_at = Timestamptz()
    claimed_at = Timestamptz(null=True, default=None)
    completed_at = Timestamptz(null=True, default=None)


class PickTaskOrder(Table, tablename="pick_task_order"):
    """An order in a task, with the tote slot its units go to (1 in order picking)."""

    id: Serial
    task = ForeignKey(references=PickTask, index=True)
    order = ForeignKey(references=Order, index=True)
    tote_slot = Integer(default=1)
    status = Varchar(length=16, default="active")  # active; withdrawn (cancelled, intercepted, short picked)
    withdrawn_reason = Varchar(length=32, default="")


class PickLine(Table, tablename="pick_line"):
    """One stop: take ``qty`` of a SKU at a location into a tote slot, for one order line."""

    id: Serial
    task = ForeignKey(references=PickTask, index=True)
    seq = Integer()  # route order
    order = ForeignKey(references=Order, index=True)
    order_line = ForeignKey(references=OrderLine)
    sku = ForeignKey(references=Sku)
    location = ForeignKey(references=Location, null=True)
    qty = Integer()
    picked = Integer(default=0)
    tote_slot = Integer(default=1)
    status = Varchar(length=16, default="pending")  # pending, picked, short, withdrawn
    short_reason = Varchar(length=64, default="")
    skipped = Integer(default=0)  # times the picker skipped it (skipped lines come last)
    picked_at = Timestamptz(null=True, default=None)


class PdaScan(Table, tablename="pda_scan"):
    """Every scan a handheld sent, with the answer it got (replays return it unchanged).

    An append-only log written on every scan: its references are plain ids, not foreign keys, so 300 handhelds
    scanning do not all take key-share locks on the same warehouse, SKU and task rows."""

    id: Serial
    device = Varchar(length=32)
    client_id = Varchar(length=64)
    picker = Integer(null=True, default=None, index=True)  # app_user id of whoever was signed in
    warehouse = Integer()
    task = Integer(null=True, default=None)
    line = Integer(null=True, default=None)
    order = Integer(null=True, default=None)
    sku = Integer(null=True, default=None)
    kind = Varchar(length=16)  # location, item, short, skip, pack_item, weigh
    barcode = Varchar(length=64, default="")
    qty = Integer(default=0)
    ok = Boolean(default=True)
    error = Varchar(length=32, default="")  # wrong_location, wrong_item, over_pick, …
    answer = Text(default="{}")
    scanned_at = Timestamptz()  # on the device
    received_at = Timestamptz(index=True)


class PackRecord(Table, tablename="pack_record"):
    """One order at a pack station: what was verified, the weights, who packed it and when."""

    id: Serial
    order = ForeignKey(references=Order, index=True)
    warehouse = ForeignKey(references=Warehouse)
    status = Varchar(length=16, default="open")  # open → packed; abandoned
    verified = Text(default="{}")  # order line id → units scanned
    expected_g = Integer(default=0)
    measured_g = Integer(null=True, default=None)
    packer = ForeignKey(references=User, null=True)
    device = Varchar(length=32, default="")
    started_at = Timestamptz()
    packed_at = Timestamptz(null=True, default=None)
