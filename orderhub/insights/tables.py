"""The rollup tables: counters kept up to date as orders move and operators scan (docs/insights.md).

Every row is keyed by a unique index, and every write is an ``INSERT … ON CONFLICT (key) DO UPDATE SET c = c +
EXCLUDED.c`` of the deltas one transaction made (:mod:`orderhub.insights.upkeep`). References are plain ids (0 = none),
not foreign keys: the rows are hot, and a counter must survive whatever happens to what it counted.

The order-flow tables carry a ``shard`` (``order id % SHARDS``) in their key, from when counting ran in the pipeline's
own transactions; the catch-up job is now their only writer and ``SHARDS`` is 1. A reader sums over the shards.
"""

from __future__ import annotations

from piccolo.columns import BigInt, Date, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

__all__ = [
    "CYCLE_EDGES_MIN",
    "OPERATOR_COUNTERS",
    "ORDER_BUCKET_COUNTERS",
    "RollupOperatorDay",
    "RollupOrderBucket",
    "RollupOrderQuality",
    "RollupReasonBucket",
    "RollupStatusCount",
]

# Upper edges (minutes, inclusive) of the paid → shipped cycle-time histogram; the last column counts the rest.
CYCLE_EDGES_MIN: tuple[int, ...] = (15, 30, 60, 90, 120, 180, 240, 360, 480, 720, 1440, 2880)


class RollupOrderBucket(Table, tablename="rollup_order_bucket"):
    """What happened to orders in one 15-minute bucket (UTC start), per channel and warehouse (0: not yet routed,
    or split over several warehouses)."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    bucket_start = Timestamptz()
    channel = Integer()
    warehouse = Integer()
    shard = Integer(default=0)
    received = Integer(default=0)  # order.received
    received_fen = BigInt(default=0)  # Σ paid_amount of those orders (GMV)
    routed = Integer(default=0)  # → ready with a warehouse (stock reserved)
    packed = Integer(default=0)  # → packed
    shipped = Integer(default=0)  # → shipped
    shipped_with_sla = Integer(default=0)  # shipped orders that have a ship_by
    shipped_on_time = Integer(default=0)  # … shipped at or before ship_by
    delivered = Integer(default=0)  # → delivered
    cancelled = Integer(default=0)  # → cancelled
    cancelled_fen = BigInt(default=0)  # Σ paid_amount of those orders
    exceptions = Integer(default=0)  # → exception
    held = Integer(default=0)  # → held
    at_risk = Integer(default=0)  # order.at_risk (the SLA watcher's alert)
    short_picked = Integer(default=0)  # order.short_picked
    cycle_count = Integer(default=0)  # shipped orders with a paid_at
    cycle_seconds = BigInt(default=0)  # Σ (shipped at − paid_at), seconds
    # The histogram of those cycle times: cycle_le_<m> counts cycles ≤ m minutes (and > the previous edge).
    cycle_le_15 = Integer(default=0)
    cycle_le_30 = Integer(default=0)
    cycle_le_60 = Integer(default=0)
    cycle_le_90 = Integer(default=0)
    cycle_le_120 = Integer(default=0)
    cycle_le_180 = Integer(default=0)
    cycle_le_240 = Integer(default=0)
    cycle_le_360 = Integer(default=0)
    cycle_le_480 = Integer(default=0)
    cycle_le_720 = Integer(default=0)
    cycle_le_1440 = Integer(default=0)
    cycle_le_2880 = Integer(default=0)
    cycle_gt_2880 = Integer(default=0)


ORDER_BUCKET_COUNTERS: tuple[str, ...] = (
    "received",
    "received_fen",
    "routed",
    "packed",
    "shipped",
    "shipped_with_sla",
    "shipped_on_time",
    "delivered",
    "cancelled",
    "cancelled_fen",
    "exceptions",
    "held",
    "at_risk",
    "short_picked",
    "cycle_count",
    "cycle_seconds",
    *(f"cycle_le_{edge}" for edge in CYCLE_EDGES_MIN),
    f"cycle_gt_{CYCLE_EDGES_MIN[-1]}",
)


class RollupReasonBucket(Table, tablename="rollup_reason_bucket"):
    """Orders that went to exception, were held or were cancelled in one 15-minute bucket, by reason (the exception
    reason, the hold queue, the cancellation reason), per channel and warehouse."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    bucket_start = Timestamptz()
    channel = Integer()
    warehouse = Integer()
    shard = Integer(default=0)
    kind = Varchar(length=16)  # exception | held | cancelled
    reason = Varchar(length=32)
    orders = Integer(default=0)


class RollupStatusCount(Table, tablename="rollup_status_count"):
    """How many orders are in each status now, per channel and warehouse (the funnel and the backlog): +1 when an
    order enters a status, −1 when it leaves it."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    channel = Integer()
    warehouse = Integer()
    shard = Integer(default=0)
    status = Varchar(length=16)
    orders = Integer(default=0)


class RollupOperatorDay(Table, tablename="rollup_operator_day"):
    """One operator's work on one day (Asia/Shanghai) in one warehouse, as a picker or as a packer, from their PDA
    scans."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    day = Date()
    warehouse = Integer()
    user_id = Integer()
    role = Varchar(length=8)  # pick | pack
    scans = Integer(default=0)  # every scan the hub answered (replays not counted)
    item_scans = Integer(default=0)  # accepted item scans (pick: item; pack: pack_item)
    units = Integer(default=0)  # units those scans confirmed
    wrong_scans = Integer(default=0)  # scans refused as a mistake (wrong location / item, over-pick, extra item …)
    short_picks = Integer(default=0)  # accepted short-pick reports
    weight_mismatches = Integer(default=0)  # weighings refused for the weight
    orders_packed = Integer(default=0)  # accepted weighings: the order (or its part) is packed
    first_pass_ok = Integer(default=0)  # … with no wrong scan, short pick, weight mismatch or earlier pack before it
    first_scan_s = BigInt(default=0)  # epoch seconds of the day's first and last scan (working span)
    last_scan_s = BigInt(default=0)


OPERATOR_COUNTERS: tuple[str, ...] = (
    "scans",
    "item_scans",
    "units",
    "wrong_scans",
    "short_picks",
    "weight_mismatches",
    "orders_packed",
    "first_pass_ok",
)


class RollupOrderQuality(Table, tablename="rollup_order_quality"):
    """Per order: mistakes made on it on the floor and packs so far, to tell a first-pass pack from the rest."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    order_id = BigInt()
    errors = Integer(default=0)
    packs = Integer(default=0)
