"""After-sale cases (售后单) as records of their own (:mod:`orderhub.orders.aftersales`): one ``after_sale`` per case
with its ``after_sale_line`` rows, the ``after_sale_change`` audit (every status change and action, who and when),
the warehouse's receiving scans of returned goods (``after_sale_receipt``, one per PDA ``client_id``) and the
returned units that came back damaged (``damaged_stock`` per warehouse and SKU: counted, never available).

References are plain ids, like ``putback``'s: the rows are written in the command's transaction and read by the
back office and the floor. Composite unique indexes (one case per channel and platform refund id, one per approval
request) are in migration ``2026-12-08T02:00:01``."""

from __future__ import annotations

from piccolo.columns import Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["AfterSale", "AfterSaleChange", "AfterSaleLine", "AfterSaleReceipt", "DamagedStock"]


class AfterSale(Table, tablename="after_sale"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    order = Integer(index=True)  # sales_order id
    channel = Integer()  # the order's channel (the platform refund id is unique per channel)
    kind = Varchar(length=16)  # refund_only, return_refund, exchange, reship
    status = Varchar(length=16, index=True)  # requested, approved, returning, received, refunded, closed, rejected
    source = Varchar(length=16)  # platform, api, approval
    platform_refund_id = Varchar(length=64, null=True, default=None)
    refund_amount = Integer(default=0)  # fen, what the case refunds (asked for, then as refunded)
    refunded_amount = Integer(default=0)  # fen, recorded on the order (order.refund_recorded), 0 until refunded
    reason = Varchar(length=255, default="")
    note = Varchar(length=255, default="")
    request_id = Integer(null=True, default=None)  # the approval request that decides it, if one does
    reship_order_id = Integer(null=True, default=None)  # the replacement order (reship, exchange)
    requested_at = Timestamptz()
    approved_at = Timestamptz(null=True, default=None)
    received_at = Timestamptz(null=True, default=None)
    refunded_at = Timestamptz(null=True, default=None)  # when the money moved (the platform's time when it says)
    closed_at = Timestamptz(null=True, default=None)
    created_by = Varchar(length=64, default="system")
    updated_at = Timestamptz()


class AfterSaleLine(Table, tablename="after_sale_line"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    after_sale = Integer(index=True)
    sku_code = Varchar(length=64)
    qty = Integer()
    received_good = Integer(default=0)
    received_damaged = Integer(default=0)


class AfterSaleChange(Table, tablename="after_sale_change"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    after_sale = Integer(index=True)
    action = Varchar(length=32)  # created, approved, rejected, returning, received, refunded, reshipped, closed …
    from_status = Varchar(length=16, default="")
    to_status = Varchar(length=16, default="")
    actor = Varchar(length=64, default="system")
    data = Text(default="{}")
    at = Timestamptz()


class AfterSaleReceipt(Table, tablename="after_sale_receipt"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    after_sale = Integer(index=True)
    client_id = Varchar(length=64, unique=True)  # the PDA's scan id: a resent scan answers the first answer
    warehouse = Integer()
    sku_code = Varchar(length=64)
    qty = Integer()
    condition = Varchar(length=8)  # good, damaged
    actor = Varchar(length=64, default="")
    at = Timestamptz()


class DamagedStock(Table, tablename="damaged_stock"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    warehouse = Integer()
    sku = Integer()  # sku id
    qty = Integer(default=0)
    updated_at = Timestamptz()
