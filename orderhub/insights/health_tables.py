"""The tables of the KPIs' customer query rate and of the order health index (docs/kpis.md, docs/health.md).

- ``order_inquiry``: every time a customer asked about an order that counted (or a customer-service agent logged an
  inquiry): the order, the source (tracking_page / miniprogram / phone / im / other), a note, who logged it.
- ``rollup_inquiry_order``: the per-order marker — one row per order whose customer asked about the parcel before
  delivery (unique ``order_id``; written insert-if-absent, so an order counts once however often it is asked about).
- ``rollup_inquiry_day``: the count of those markers per Asia/Shanghai day of the first inquiry, sales channel,
  warehouse and source (key ``(day, channel, warehouse, source)``), the query rate's numerator.
- ``health_setting``: the index's settings (one row, JSON).
- ``health_score_day``: the daily history, key ``(day, scope_kind, scope_id)``.
- ``rectification`` and ``rectification_comment``: the 整改 tasks a low score opens.

References are plain ids (0 = none), not foreign keys, as in the rollups.
"""

from __future__ import annotations

from piccolo.columns import BigInt, Date, Float, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

__all__ = [
    "HealthScoreDay",
    "HealthSetting",
    "OrderInquiry",
    "Rectification",
    "RectificationComment",
    "RollupInquiryDay",
    "RollupInquiryOrder",
]


class OrderInquiry(Table, tablename="order_inquiry"):
    """A customer asking about an order's parcel: opening the tracking page or the mini-program parcel page (recorded
    once per order, the first time before delivery), or an inquiry customer service logged through the API."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    order_id = BigInt(index=True)
    source = Varchar(length=16)  # tracking_page | miniprogram | phone | im | other
    note = Varchar(length=255, default="")
    actor = Varchar(length=64, default="")  # user:<name>, or customer for the pages
    counted = Integer(default=0)  # 1: this inquiry made the order count in the query rate (its first, before delivery)
    created_at = Timestamptz()


class RollupInquiryOrder(Table, tablename="rollup_inquiry_order"):
    """One row per order whose customer asked about the parcel while it was shipped and not yet delivered."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    order_id = BigInt()  # unique (raw migration): insert-if-absent
    day = Date(index=True)  # Asia/Shanghai date of the first such inquiry
    channel = Integer(default=0)
    warehouse = Integer(default=0)
    source = Varchar(length=16)


class RollupInquiryDay(Table, tablename="rollup_inquiry_day"):
    """Orders first asked about (before delivery) per Asia/Shanghai day, sales channel, warehouse and source."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    day = Date()
    channel = Integer(default=0)
    warehouse = Integer(default=0)
    source = Varchar(length=16)
    orders = Integer(default=0)


class HealthSetting(Table, tablename="health_setting"):
    """The health index's settings: one row (``id`` 1), a JSON :class:`orderhub.insights.health.HealthSettings`."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    settings = Text(default="{}")
    updated_by = Varchar(length=64, default="")
    updated_at = Timestamptz()


class HealthScoreDay(Table, tablename="health_score_day"):
    """A scope's health score on one Asia/Shanghai day: ``scope_kind`` hub / warehouse / region / channel,
    ``scope_id`` the warehouse or channel id, the region's name, or ``all``; ``parts`` the JSON explanation."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    day = Date()
    scope_kind = Varchar(length=16)
    scope_id = Varchar(length=64)
    scope_name = Varchar(length=100, default="")
    score = Float(default=0.0)
    parts = Text(default="{}")
    computed_at = Timestamptz()


class Rectification(Table, tablename="rectification"):
    """整改: a task opened when a scope's daily score fell below the threshold; closed automatically after the
    score stayed at or above it for the configured number of days, or resolved by hand with a note."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    scope_kind = Varchar(length=16)
    scope_id = Varchar(length=64)
    scope_name = Varchar(length=100, default="")
    status = Varchar(length=16, index=True)  # open | closed | resolved
    assignee_id = Integer(default=0)  # the scope's manager (0: nobody found)
    opened_day = Date()
    last_bad_day = Date()
    score = Float(default=0.0)  # the latest score below the line
    threshold = Float(default=80.0)
    metrics = Text(default="[]")  # JSON: the metrics that lost points (name, lost, text), most first
    order_ids = Text(default="[]")  # JSON: orders that pulled the score down (where known)
    good_days = Integer(default=0)  # days in a row at or above the line since the last bad one
    note = Text(default="")  # the resolution note
    opened_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)


class RectificationComment(Table, tablename="rectification_comment"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    rectification_id = Integer(index=True)
    author_id = Integer(default=0)
    author = Varchar(length=64, default="")
    body = Text(default="")
    created_at = Timestamptz()
