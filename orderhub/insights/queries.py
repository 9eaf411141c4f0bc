"""Reading the rollups: order figures over a time window or a range of Asia/Shanghai days, reasons, the orders in
each status now, operators' days. Every function reads only the rollup tables (never ``sales_order``), sums the
shards, and takes the caller's warehouse scope (``warehouse_ids``: None = every warehouse, including 0 — orders not
routed yet or split; a list = only those warehouses).

The derived figures (average order value, rates, cycle-time percentiles) are methods of the rows, so every caller
computes them one way; docs/insights.md says what each counter counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import msgspec

from orderhub import clock, db
from orderhub.insights.tables import CYCLE_EDGES_MIN, OPERATOR_COUNTERS, ORDER_BUCKET_COUNTERS

__all__ = [
    "OperatorDay",
    "OrderFigures",
    "ReasonCount",
    "StatusCount",
    "day_window",
    "fold",
    "operator_days",
    "order_figures",
    "order_figures_by_day",
    "reason_counts",
    "scope_filter",
    "status_counts",
]

Dimension = Literal["channel", "warehouse"]
Step = Literal["total", "bucket", "hour", "day"]
_HISTOGRAM = ORDER_BUCKET_COUNTERS[-(len(CYCLE_EDGES_MIN) + 1) :]
_PLAIN = ORDER_BUCKET_COUNTERS[: -(len(CYCLE_EDGES_MIN) + 1)]


class OrderFigures(msgspec.Struct, frozen=True, kw_only=True):
    """Order counters summed over a period (``period``: its start, UTC; None for the whole window) and, when asked,
    per channel and / or warehouse (None: all of them)."""

    period: datetime | None = None
    channel: int | None = None
    warehouse: int | None = None
    received: int = 0
    received_fen: int = 0
    routed: int = 0
    packed: int = 0
    shipped: int = 0
    shipped_with_sla: int = 0
    shipped_on_time: int = 0
    delivered: int = 0
    cancelled: int = 0
    cancelled_fen: int = 0
    exceptions: int = 0
    held: int = 0
    at_risk: int = 0
    short_picked: int = 0
    cycle_count: int = 0
    cycle_seconds: int = 0
    cycle_histogram: tuple[int, ...] = ()  # counts per CYCLE_EDGES_MIN upper edge (minutes), then the overflow

    def average_order_fen(self) -> int | None:
        """GMV ÷ orders received (fen, rounded down); None without orders."""
        return self.received_fen // self.received if self.received else None

    def on_time_rate(self) -> float | None:
        """Shipped at or before ship_by ÷ shipped orders that have a ship_by."""
        return self.shipped_on_time / self.shipped_with_sla if self.shipped_with_sla else None

    def cancel_rate(self) -> float | None:
        """Cancelled ÷ received in the same window (the refund rate until refunds have events of their own)."""
        return self.cancelled / self.received if self.received else None

    def exception_rate(self) -> float | None:
        """Orders sent to exception ÷ received in the same window."""
        return self.exceptions / self.received if self.received else None

    def cycle_minutes(self, quantile: float) -> float | None:
        """The paid → shipped cycle time (minutes) at ``quantile`` (0.5 = p50), interpolated in the histogram;
        None without shipped orders. Beyond the last edge it answers the last edge (a lower bound)."""
        total = sum(self.cycle_histogram)
        if not total:
            return None
        rank = quantile * total
        seen = 0
        lower = 0.0
        for edge, count in zip(CYCLE_EDGES_MIN, self.cycle_histogram, strict=False):
            if count and seen + count >= rank:
                return lower + (edge - lower) * max(0.0, rank - seen) / count
            seen += count
            lower = float(edge)
        return float(CYCLE_EDGES_MIN[-1])


class ReasonCount(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # exception | held | cancelled
    reason: str
    channel: int | None = None
    warehouse: int | None = None
    orders: int


class StatusCount(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    channel: int | None = None
    warehouse: int | None = None
    orders: int


class OperatorDay(msgspec.Struct, frozen=True, kw_only=True):
    """One operator's day (Asia/Shanghai) in one warehouse and role (pick / pack)."""

    day: date
    warehouse: int
    user_id: int
    role: str
    scans: int = 0
    item_scans: int = 0
    units: int = 0
    wrong_scans: int = 0
    short_picks: int = 0
    weight_mismatches: int = 0
    orders_packed: int = 0
    first_pass_ok: int = 0
    first_scan_s: int = 0
    last_scan_s: int = 0

    def working_seconds(self) -> int:
        """From the day's first scan to its last."""
        return max(0, self.last_scan_s - self.first_scan_s)

    def errors(self) -> int:
        return self.wrong_scans + self.short_picks + self.weight_mismatches


def day_window(since: date, until: date) -> tuple[datetime, datetime]:
    """Asia/Shanghai days ``since`` … ``until`` (both included) as [start, end) in UTC."""
    start = datetime.combine(since, time(), tzinfo=clock.SHANGHAI)
    end = datetime.combine(until + timedelta(days=1), time(), tzinfo=clock.SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


def scope_filter(column: str, ids: Sequence[int] | None, where: list[str], args: list[Any]) -> None:
    """Add ``column IN (ids)`` to ``where`` / ``args`` (None: no filter; empty: nothing matches). Scope lists are
    warehouses or channels: a handful, never an unbounded list."""
    if ids is None:
        return
    values = sorted(set(ids))
    if not values:
        where.append("1 = 0")
        return
    where.append(f"{column} IN ({db.placeholders(len(values))})")
    args.extend(values)


def _period(start: datetime, step: Step) -> datetime | None:
    if step == "total":
        return None
    if step == "bucket":
        return start
    local = clock.to_shanghai(start)
    local = local.replace(minute=0) if step == "hour" else local.replace(hour=0, minute=0)
    return local.astimezone(UTC)


_SECONDS = {"hour": 3600, "day": 86400}
_SHANGHAI_OFFSET_S = 8 * 3600  # Asia/Shanghai has kept +08:00 all year since 1991: no daylight saving


def _period_key(step: Step) -> str | None:
    """The SQL that numbers a bucket's period (Asia/Shanghai hours and days), so the database folds the buckets and
    only one row per period travels (a week's chart was 672 bucket rows, each decoded in Python)."""
    if step == "total":
        return None
    if step not in _SECONDS:
        return "bucket_start"
    size = _SECONDS[step]
    if db.is_sqlite():
        return f"((CAST(strftime('%s', bucket_start) AS INTEGER) + {_SHANGHAI_OFFSET_S}) / {size})"
    return f"((CAST(EXTRACT(EPOCH FROM bucket_start) AS BIGINT) + {_SHANGHAI_OFFSET_S}) / {size})"


class _BucketRow(msgspec.Struct):
    bucket_start: datetime
    channel: int
    warehouse: int


async def order_figures(
    start: datetime,
    end: datetime,
    *,
    warehouse_ids: Sequence[int] | None = None,
    channel_ids: Sequence[int] | None = None,
    by: Sequence[Dimension] = (),
    step: Step = "total",
    counters: Sequence[str] | None = None,
) -> list[OrderFigures]:
    """Order counters of the 15-minute buckets starting in [start, end), per ``step`` (periods in Asia/Shanghai) and
    per the dimensions in ``by``; rows in (period, channel, warehouse) order. ``counters``: sum only these (the rest
    read 0), e.g. a week's trend of orders and GMV need not add up thirty columns over thousands of rows."""
    where = ["bucket_start >= {}", "bucket_start < {}"]
    args: list[Any] = [start.astimezone(UTC), end.astimezone(UTC)]
    scope_filter("warehouse", warehouse_ids, where, args)
    scope_filter("channel", channel_ids, where, args)
    wanted = set(counters) if counters is not None else set(ORDER_BUCKET_COUNTERS)
    summed = [(i, c) for i, c in enumerate(ORDER_BUCKET_COUNTERS) if c in wanted]
    # Only the wanted sums travel: a week's chart is hundreds of bucket rows, and each column is decoded in Python.
    sums = ", ".join(f"SUM({c}) AS {c}" for _, c in summed) or "COUNT(*) AS buckets"
    # Raw SQL: a GROUP BY over the rollup (never the orders); the shards fold here, and so do the buckets and the
    # dimensions the caller did not ask for (a week of buckets of every channel and warehouse is thousands of rows).
    period_sql = _period_key(step)
    grouped = [*([period_sql] if period_sql else []), *(d for d in ("channel", "warehouse") if d in by)]
    picked = ", ".join(
        [
            "bucket_start" if step == "bucket" else "MIN(bucket_start) AS bucket_start",
            "channel" if "channel" in by else "0 AS channel",
            "warehouse" if "warehouse" in by else "0 AS warehouse",
        ]
    )
    raw = await db.fetch_as(
        dict[str, Any],
        f"SELECT {picked}, {sums} FROM rollup_order_bucket WHERE {' AND '.join(where)}"
        + (f" GROUP BY {', '.join(grouped)}" if grouped else "")
        + " HAVING COUNT(*) > 0",
        *args,
    )
    keys = db.rows_as(_BucketRow, [dict(r) for r in raw])
    totals: dict[tuple[datetime | None, int | None, int | None], list[int]] = defaultdict(
        lambda: [0] * len(ORDER_BUCKET_COUNTERS)
    )
    for key, row in zip(keys, raw, strict=True):
        group = (
            _period(key.bucket_start, step),
            key.channel if "channel" in by else None,
            key.warehouse if "warehouse" in by else None,
        )
        acc = totals[group]
        for i, name in summed:
            acc[i] += int(row[name] or 0)
    result = []
    for (period, channel, warehouse), values in sorted(
        totals.items(), key=lambda kv: (kv[0][0] or start, kv[0][1] or 0, kv[0][2] or 0)
    ):
        named = dict(zip(ORDER_BUCKET_COUNTERS, values, strict=True))
        result.append(
            OrderFigures(
                period=period,
                channel=channel,
                warehouse=warehouse,
                cycle_histogram=tuple(named[n] for n in _HISTOGRAM),
                **{n: named[n] for n in _PLAIN},
            )
        )
    return result


def fold(rows: Sequence[OrderFigures], *, by: Sequence[Dimension] = ()) -> list[OrderFigures]:
    """Rows of one period summed again per the dimensions in ``by`` (none: one row, or none without rows), e.g. a
    board's total and its per-channel split from the one (channel, warehouse) read it needs anyway."""
    groups: dict[tuple[int | None, int | None], list[int]] = {}
    width = len(_PLAIN) + len(_HISTOGRAM)
    for r in rows:
        key = (r.channel if "channel" in by else None, r.warehouse if "warehouse" in by else None)
        acc = groups.setdefault(key, [0] * width)
        values = [getattr(r, n) for n in _PLAIN] + list(r.cycle_histogram or (0,) * len(_HISTOGRAM))
        for i, v in enumerate(values):
            acc[i] += v
    period = rows[0].period if rows else None
    return [
        OrderFigures(
            period=period,
            channel=channel,
            warehouse=warehouse,
            cycle_histogram=tuple(acc[len(_PLAIN) :]),
            **dict(zip(_PLAIN, acc[: len(_PLAIN)], strict=True)),
        )
        for (channel, warehouse), acc in sorted(groups.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] or 0))
    ]


async def order_figures_by_day(
    since: date,
    until: date,
    *,
    warehouse_ids: Sequence[int] | None = None,
    channel_ids: Sequence[int] | None = None,
    by: Sequence[Dimension] = (),
    step: Step = "total",
    counters: Sequence[str] | None = None,
) -> list[OrderFigures]:
    """:func:`order_figures` over Asia/Shanghai days ``since`` … ``until`` (both included)."""
    start, end = day_window(since, until)
    return await order_figures(
        start, end, warehouse_ids=warehouse_ids, channel_ids=channel_ids, by=by, step=step, counters=counters
    )


async def reason_counts(
    start: datetime,
    end: datetime,
    *,
    kind: str | None = None,
    warehouse_ids: Sequence[int] | None = None,
    channel_ids: Sequence[int] | None = None,
    by: Sequence[Dimension] = (),
) -> list[ReasonCount]:
    """Orders sent to exception / held / cancelled in [start, end), per kind and reason (most first)."""
    where = ["bucket_start >= {}", "bucket_start < {}"]
    args: list[Any] = [start.astimezone(UTC), end.astimezone(UTC)]
    if kind is not None:
        where.append("kind = {}")
        args.append(kind)
    scope_filter("warehouse", warehouse_ids, where, args)
    scope_filter("channel", channel_ids, where, args)
    dims = [d for d in ("channel", "warehouse") if d in by]
    columns = ", ".join(["kind", "reason", *dims])
    rows = await db.fetch_as(
        ReasonCount,
        f"SELECT {columns}, SUM(orders) AS orders FROM rollup_reason_bucket WHERE {' AND '.join(where)} "
        f"GROUP BY {columns} HAVING SUM(orders) <> 0",
        *args,
    )
    return sorted(rows, key=lambda r: (-r.orders, r.kind, r.reason, r.channel or 0, r.warehouse or 0))


async def status_counts(
    *,
    warehouse_ids: Sequence[int] | None = None,
    channel_ids: Sequence[int] | None = None,
    by: Sequence[Dimension] = (),
) -> list[StatusCount]:
    """How many orders are in each status now (received / validated / reserved orders under warehouse 0)."""
    where = ["1 = 1"]
    args: list[Any] = []
    scope_filter("warehouse", warehouse_ids, where, args)
    scope_filter("channel", channel_ids, where, args)
    dims = [d for d in ("channel", "warehouse") if d in by]
    columns = ", ".join(["status", *dims])
    rows = await db.fetch_as(
        StatusCount,
        f"SELECT {columns}, SUM(orders) AS orders FROM rollup_status_count WHERE {' AND '.join(where)} "
        f"GROUP BY {columns} HAVING SUM(orders) <> 0",
        *args,
    )
    return sorted(rows, key=lambda r: (r.status, r.channel or 0, r.warehouse or 0))


async def operator_days(
    since: date,
    until: date,
    *,
    warehouse_ids: Sequence[int] | None = None,
    user_ids: Sequence[int] | None = None,
    role: str | None = None,
) -> list[OperatorDay]:
    """Operators' days ``since`` … ``until`` (Asia/Shanghai dates, both included), by day, warehouse, user, role."""
    where = ["day >= {}", "day <= {}"]
    args: list[Any] = [since, until]
    scope_filter("warehouse", warehouse_ids, where, args)
    scope_filter("user_id", user_ids, where, args)
    if role is not None:
        where.append("role = {}")
        args.append(role)
    columns = ", ".join(("day", "warehouse", "user_id", "role", *OPERATOR_COUNTERS, "first_scan_s", "last_scan_s"))
    rows = await db.fetch_as(
        dict[str, Any], f"SELECT {columns} FROM rollup_operator_day WHERE {' AND '.join(where)}", *args
    )
    days = []
    for row in rows:
        value = row["day"]
        row["day"] = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        days.append(msgspec.convert(row, OperatorDay, strict=False))
    return sorted(days, key=lambda d: (d.day, d.warehouse, d.user_id, d.role))
