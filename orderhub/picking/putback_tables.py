"""Put-back work (返架): units picked for an order that will no longer ship (cancelled after picking), to go back to
the locations they were picked from — one ``putback`` per order and warehouse, one ``putback_line`` per SKU,
location and tote slot. Closed by whoever put the units back (:mod:`orderhub.picking.putback`).

References are plain ids, like ``pda_scan``'s: the rows are written in the cancelling transaction and read by
the floor, never joined for integrity."""

from __future__ import annotations

from piccolo.columns import Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["Putback", "PutbackLine"]


class Putback(Table, tablename="putback"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    order = Integer(index=True)  # sales_order id
    warehouse = Integer(index=True)
    request_id = Integer(null=True, default=None)  # the approval request that cancelled the order, if one did
    source = Varchar(length=8, default="tote")  # where the units are now: tote (a pick cart's slot) or pack (station)
    reason = Varchar(length=255, default="")
    status = Varchar(length=8, default="open", index=True)  # open → done
    units = Integer(default=0)
    created_by = Varchar(length=64, default="system")
    created_at = Timestamptz()
    done_by = Varchar(length=64, default="")
    done_at = Timestamptz(null=True, default=None)
    note = Varchar(length=255, default="")


class PutbackLine(Table, tablename="putback_line"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    putback = Integer(index=True)
    sku = Integer()
    location = Integer(null=True, default=None)  # where it goes back to (the pick face it came from); null: none set
    task = Integer(null=True, default=None)  # the pick task whose tote holds the units
    tote_slot = Integer(default=1)
    qty = Integer()
    missing = Integer(default=0)  # reported not found when put back (written off the stock)
