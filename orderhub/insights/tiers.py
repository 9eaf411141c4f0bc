"""The managers' three dashboard tiers (issue 16 item 3) as read models, and the drill-downs behind their figures.

- 战略层 :func:`strategic` — hub-wide orders and GMV today against yesterday and the same weekday last week (both to
  the same time of day), hourly, the average order value over seven days, each channel's share, the refund rate and
  *why* the orders moved (:func:`explain_change`); the approvals card (``orderhub.insights.approvals``).
- 战术层 :func:`tactical` — per warehouse: the funnel by status, backlog against the day's capacity, at-risk and
  overdue orders with the next carrier pick-up, exceptions by reason, open waves and the on-time ship rate; the
  warehouse's approval requests pending and overdue.
- 执行层 :func:`operations` / :func:`my_day` — each picker's and packer's current task, units per hour, errors; the
  operator's own to-do list.

Figures come from the rollups (``orderhub.insights.queries``), never from scanning orders; the few exceptions read
small, indexed sets (open waves, claimed tasks, the overdue count on ``sales_order (warehouse, status, …)``). A
drill-down (:func:`drill`) returns the orders (or tasks) behind a figure with an indexed, keyset-paginated query.
docs/dashboards.md says how each figure is computed and which drill metric shows its orders.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import CommonError, NotFound, PermissionDenied, ValidationFailed
from orderhub.insights import approvals as approval_metrics
from orderhub.insights import health as health_index
from orderhub.insights import queries
from orderhub.insights.errors import DashError
from orderhub.insights.queries import OrderFigures

log = logging.getLogger("orderhub.insights")

__all__ = [
    "BACKLOG_STATUSES",
    "DRILL_METRICS",
    "MAX_LIMIT",
    "OPEN_STATUSES",
    "DrillOrder",
    "DrillPage",
    "DrillTask",
    "MyDay",
    "OperationsBoard",
    "StrategicBoard",
    "TacticalBoard",
    "drill",
    "explain_change",
    "my_day",
    "operations",
    "parse_day",
    "strategic",
    "tactical",
    "today",
    "warehouse_ids_in_scope",
    "warehouses_exist",
]

OPEN_STATUSES = ("received", "validated", "reserved", "ready", "picking", "packed", "held", "exception")
BACKLOG_STATUSES = ("ready", "picking", "packed")  # in the warehouse, waiting for the floor to ship them
FUNNEL_STATUSES = OPEN_STATUSES
# Drill metric → the order event that counts it (type, to_status).
_EVENT_METRICS: dict[str, tuple[str, str | None]] = {
    "shipped": ("order.status_changed", "shipped"),
    "cancelled": ("order.status_changed", "cancelled"),
    "exceptions": ("order.status_changed", "exception"),
    "held": ("order.status_changed", "held"),
}
DRILL_METRICS = (
    "orders",
    *_EVENT_METRICS,
    "at_risk",
    "overdue",
    "backlog",
    *(f"status:{s}" for s in OPEN_STATUSES),
    "operator_tasks",
)
MAX_LIMIT = 200
MAX_TOTAL = 10_000  # a drill-down's first page counts at most this many (null: more)


# -- shapes ------------------------------------------------------------------------------------------------------


class Totals(msgspec.Struct, kw_only=True):
    orders: int
    gmv_fen: int
    aov_fen: int | None


class Today(Totals, kw_only=True):
    refund_rate: float | None
    cancelled: int


class HourPoint(msgspec.Struct, kw_only=True):
    hour: datetime
    orders: int
    gmv_fen: int
    aov_fen: int | None


class AovPoint(msgspec.Struct, kw_only=True):
    day: date
    aov_fen: int | None


class ChannelShare(msgspec.Struct, kw_only=True):
    channel_id: int
    name: str
    orders: int
    gmv_fen: int
    share: float | None


class Why(msgspec.Struct, kw_only=True):
    text: str
    dimension: str  # channel | warehouse
    id: int
    name: str
    delta: int  # orders (channel: received; warehouse: routed to it)
    delta_gmv_fen: int
    before: int
    after: int
    share_of_change: float | None  # delta ÷ the total change of that dimension's measure


class StrategicBoard(msgspec.Struct, kw_only=True):
    day: date
    as_of: datetime
    today: Today
    yesterday_same_time: Totals
    last_week_same_time: Totals
    hourly: list[HourPoint]
    aov_trend: list[AovPoint]
    channels: list[ChannelShare]
    why: list[Why]
    health: dict[str, Any] | None = None
    approvals: approval_metrics.ApprovalSummary | None = None  # hub-wide approvals (docs/dashboards.md#审批--approvals)


class Cutoff(msgspec.Struct, kw_only=True):
    carrier: str | None
    at: datetime


class ReasonRow(msgspec.Struct, kw_only=True):
    reason: str
    orders: int


class WaveRow(msgspec.Struct, kw_only=True):
    wave_id: int
    code: str
    status: str
    tasks: int
    done: int
    progress: float | None


class WarehouseBoard(msgspec.Struct, kw_only=True):
    warehouse_id: int
    name: str
    funnel: dict[str, int]
    shipped_today: int
    backlog: int
    capacity: int
    backlog_ratio: float | None
    at_risk: int
    overdue: int
    next_cutoff: Cutoff | None
    exceptions_by_reason: list[ReasonRow]
    waves: list[WaveRow]
    on_time_rate: float | None
    approvals: approval_metrics.WarehouseApprovals | None = None  # the warehouse's approval requests pending, overdue


class TacticalBoard(msgspec.Struct, kw_only=True):
    day: date
    as_of: datetime
    warehouses: list[WarehouseBoard]


class CurrentTask(msgspec.Struct, kw_only=True):
    task_id: int
    kind: str  # pick | pack
    started_at: datetime | None
    running_s: int | None


class OperatorRow(msgspec.Struct, kw_only=True):
    user_id: int
    name: str
    role: str  # pick | pack
    warehouse_id: int | None
    current_task: CurrentTask | None
    units: int
    units_per_hour: float | None
    errors: int
    scans: int
    orders_packed: int
    working_s: int


class OperationsBoard(msgspec.Struct, kw_only=True):
    day: date
    as_of: datetime
    warehouse_id: int | None
    operators: list[OperatorRow]


class Todo(msgspec.Struct, kw_only=True):
    kind: str  # pick_task | pack
    id: int
    title: str


class MyDay(OperatorRow, kw_only=True):
    day: date
    as_of: datetime
    todo: list[Todo]


class DrillOrder(msgspec.Struct, kw_only=True, tag_field="item", tag="order"):
    order_id: int
    external_id: str
    channel_id: int
    status: str
    warehouse_id: int | None
    paid_amount: int
    created_at: datetime
    ship_by: datetime | None


class DrillTask(msgspec.Struct, kw_only=True, tag_field="item", tag="task"):
    task_id: int
    kind: str  # pick | pack
    status: str
    warehouse_id: int
    wave_id: int | None
    order_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class DrillPage(msgspec.Struct, kw_only=True):
    metric: str
    items: list[DrillOrder | DrillTask]  # "item": "order" | "task"
    next_cursor: str | None
    total: int | None


# -- days and scope -----------------------------------------------------------------------------------------------


def today() -> date:
    return clock.to_shanghai(clock.now()).date()


def parse_day(value: str | None) -> date:
    """``day`` (YYYY-MM-DD, an Asia/Shanghai date, not after today); today when absent."""
    if value is None or value == "":
        return today()
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(DashError.DASH_BAD_DAY, field="day") from exc
    if day > today() or day.year < 2000:
        raise ValidationFailed(DashError.DASH_BAD_DAY, field="day")
    return day


def _window(day: date, now: datetime) -> tuple[datetime, datetime]:
    """The day's [start, end) in UTC; today ends now."""
    start, end = queries.day_window(day, day)
    return start, min(end, now)


def warehouse_ids_in_scope(bound_warehouse_id: int | None, asked: int | None) -> list[int] | None:
    """The warehouses a caller's figures cover: a user bound to a warehouse only theirs (asking for another is
    refused), else the one asked for, else every warehouse (None)."""
    if bound_warehouse_id is not None:
        if asked is not None and asked != bound_warehouse_id:
            raise PermissionDenied("只能查看本仓库的数据", code=CommonError.FORBIDDEN_WAREHOUSE, field="warehouse_id")
        return [bound_warehouse_id]
    return None if asked is None else [asked]


class _Named(msgspec.Struct):
    id: int
    name: str


async def _names(table: str, ids: Sequence[int], column: str = "name") -> dict[int, str]:
    values = sorted({i for i in ids if i})
    if not values:
        return {}
    found: dict[int, str] = {}
    for chunk in db.chunks(values):  # every operator of the hub may be named at once
        rows = await db.fetch_as(
            _Named, f"SELECT id, {column} AS name FROM {table} WHERE id IN ({db.placeholders(len(chunk))})", *chunk
        )
        found.update((r.id, r.name) for r in rows)
    return found


def _totals(f: OrderFigures | None) -> Totals:
    if f is None:
        return Totals(orders=0, gmv_fen=0, aov_fen=None)
    return Totals(orders=f.received, gmv_fen=f.received_fen, aov_fen=f.average_order_fen())


def _one(rows: list[OrderFigures]) -> OrderFigures | None:
    return rows[0] if rows else None


# -- 战略层 -------------------------------------------------------------------------------------------------------


async def strategic(
    day: date, *, channel_ids: Sequence[int] | None = None, now: datetime | None = None
) -> StrategicBoard:
    """Hub-wide figures of ``day`` (today: until now; comparisons to the same time of day)."""
    now = now or clock.now()
    start, end = _window(day, now)
    elapsed = end - start
    yesterday_start = start - timedelta(days=1)
    week_start = start - timedelta(days=7)
    sold = ("received", "received_fen")  # the charts need orders and GMV only
    # Independent reads, run at once (each on its own connection on PostgreSQL): the board costs its slowest query.
    # Today and the same time last week per (channel, warehouse): the totals, the channel split and the "why" all
    # fold from these two reads.
    split: tuple[queries.Dimension, ...] = ("channel", "warehouse")
    today_rows, yesterday, week_rows, hourly_figures, by_day, health, approvals = await db.read_together(
        queries.order_figures(start, end, channel_ids=channel_ids, by=split),
        queries.order_figures(yesterday_start, yesterday_start + elapsed, channel_ids=channel_ids),
        queries.order_figures(week_start, week_start + elapsed, channel_ids=channel_ids, by=split),
        queries.order_figures(start, end, channel_ids=channel_ids, step="hour", counters=sold),
        queries.order_figures_by_day(day - timedelta(days=6), day, channel_ids=channel_ids, step="day", counters=sold),
        _health(day),
        _approvals(day, now),
    )
    by_channel = queries.fold(today_rows, by=("channel",))
    last_week = queries.fold(week_rows)
    why = await _explain(today_rows, week_rows)
    current = _one(queries.fold(today_rows))
    totals = _totals(current)
    today_figures = Today(
        orders=totals.orders,
        gmv_fen=totals.gmv_fen,
        aov_fen=totals.aov_fen,
        refund_rate=current.cancel_rate() if current else None,
        cancelled=current.cancelled if current else 0,
    )
    hours = {f.period: f for f in hourly_figures}
    hourly = []
    cursor = start
    while cursor < end:
        f = hours.get(cursor)
        hourly.append(
            HourPoint(
                hour=cursor,
                orders=f.received if f else 0,
                gmv_fen=f.received_fen if f else 0,
                aov_fen=f.average_order_fen() if f else None,
            )
        )
        cursor += timedelta(hours=1)
    days = {f.period: f for f in by_day}
    trend = []
    for offset in range(6, -1, -1):
        d = day - timedelta(days=offset)
        f = days.get(queries.day_window(d, d)[0])
        trend.append(AovPoint(day=d, aov_fen=f.average_order_fen() if f else None))
    names = await _names("channel", [f.channel or 0 for f in by_channel])
    channels = [
        ChannelShare(
            channel_id=f.channel or 0,
            name=names.get(f.channel or 0, ""),
            orders=f.received,
            gmv_fen=f.received_fen,
            share=round(f.received / totals.orders, 4) if totals.orders else None,
        )
        for f in by_channel
        if f.received or f.received_fen
    ]
    channels.sort(key=lambda c: (-c.orders, c.channel_id))
    return StrategicBoard(
        day=day,
        as_of=now,
        today=today_figures,
        yesterday_same_time=_totals(_one(yesterday)),
        last_week_same_time=_totals(_one(last_week)),
        hourly=hourly,
        aov_trend=trend,
        channels=channels,
        why=why,
        health=health,
        approvals=approvals,
    )


# The health index changes with the day's KPIs, not with each order: each process keeps the overview for a minute,
# so the strategic board (polled and re-read on every live hint) does not recompute it every time.
_HEALTH_TTL_S = 60.0
_health_cache: dict[tuple[str, date], tuple[float, dict[str, Any]]] = {}


def _database() -> str:
    """Which database the process reads (a test process opens many, one after another)."""
    engine = db.get_engine()
    return repr(getattr(engine, "path", None) or getattr(engine, "config", None) or id(engine))


async def _health(day: date) -> dict[str, Any] | None:
    now = monotonic()
    key = (_database(), day)
    hit = _health_cache.get(key)
    if hit is not None and now - hit[0] < _HEALTH_TTL_S:
        return hit[1]
    try:
        value = await health_index.overview(day)
    except Exception:  # the board without its health card rather than no board
        log.warning("health overview failed; the strategic board shows none", exc_info=True)
        return None
    if value.get("parts"):  # an index with nothing to say yet (a new shop's first minutes) is cheap: not kept
        _health_cache.clear()
        _health_cache[key] = (now, value)
    return value


async def _approvals(day: date, now: datetime) -> approval_metrics.ApprovalSummary | None:
    try:
        return await approval_metrics.summary(day, now=now)
    except Exception:  # the board without its approvals card rather than no board
        log.warning("approval metrics failed; the strategic board shows none", exc_info=True)
        return None


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else (f"−{-n}" if n < 0 else "0")


def _yuan(fen: int) -> str:
    sign = "+" if fen > 0 else ("−" if fen < 0 else "")
    return f"{sign}¥{abs(fen) / 100:,.2f}"


def _percent(after: int, before: int) -> str | None:
    if not before:
        return None
    change = (after - before) / before * 100
    return f"{'+' if change > 0 else ('−' if change < 0 else '')}{abs(change):.0f}%"


async def explain_change(
    start: datetime,
    end: datetime,
    base_start: datetime,
    base_end: datetime,
    *,
    channel_ids: Sequence[int] | None = None,
    limit: int = 5,
) -> list[Why]:
    """Why the orders moved from [base_start, base_end) to [start, end): each channel's contribution to the change
    in orders received (and GMV), then each warehouse's contribution to the change in orders routed to it; biggest
    contribution first within each, the first one marked 主要原因 with the overall change. zh-CN text plus the
    numbers."""
    now_rows, base_rows = await db.read_together(
        queries.order_figures(start, end, channel_ids=channel_ids, by=("channel", "warehouse")),
        queries.order_figures(base_start, base_end, channel_ids=channel_ids, by=("channel", "warehouse")),
    )
    return await _explain(now_rows, base_rows, limit=limit)


async def _explain(now_rows: list[OrderFigures], base_rows: list[OrderFigures], *, limit: int = 5) -> list[Why]:
    """:func:`explain_change` from the two windows' figures per (channel, warehouse)."""
    # channel: orders received, GMV; warehouse: orders routed to it (received orders count for no warehouse).
    acc: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # before, after, gmv before, after
    for rows, slot in ((base_rows, 0), (now_rows, 1)):
        for f in rows:
            ch = acc[("channel", f.channel or 0)]
            ch[slot] += f.received
            ch[slot + 2] += f.received_fen
            if f.warehouse:
                acc[("warehouse", f.warehouse)][slot] += f.routed
    channel_names, warehouse_names = await db.read_together(
        _names("channel", [k[1] for k in acc if k[0] == "channel"]),
        _names("warehouse", [k[1] for k in acc if k[0] == "warehouse"]),
    )
    result: list[Why] = []
    for dimension, names, unit in (("channel", channel_names, "单"), ("warehouse", warehouse_names, "单（分配到仓）")):
        items = [(k[1], v) for k, v in acc.items() if k[0] == dimension and v[1] != v[0]]
        before_total = sum(v[0] for k, v in acc.items() if k[0] == dimension)
        after_total = sum(v[1] for k, v in acc.items() if k[0] == dimension)
        change = after_total - before_total
        items.sort(key=lambda kv: (-abs(kv[1][1] - kv[1][0]), -abs(kv[1][3] - kv[1][2]), kv[0]))
        for n, (ident, (before, after, gmv_before, gmv_after)) in enumerate(items[:limit]):
            delta = after - before
            name = names.get(ident, f"#{ident}")
            text = f"{name} {_signed(delta)} {unit}"
            if dimension == "channel":
                text += f"，GMV {_yuan(gmv_after - gmv_before)}"
            if n == 0:
                pct = _percent(after_total, before_total)
                measure = "订单" if dimension == "channel" else "分配到仓的订单"
                head = f"{measure}较上周同期 {pct}" if pct else f"{measure}较上周同期 {_signed(change)} 单"
                text = f"{head}（{before_total} → {after_total}）：{text}（主要原因）"
            result.append(
                Why(
                    text=text,
                    dimension=dimension,
                    id=ident,
                    name=name,
                    delta=delta,
                    delta_gmv_fen=gmv_after - gmv_before if dimension == "channel" else 0,
                    before=before,
                    after=after,
                    share_of_change=round(delta / change, 4) if change else None,
                )
            )
    return result


# -- 战术层 -------------------------------------------------------------------------------------------------------


class _WarehouseRow(msgspec.Struct):
    id: int
    name: str
    daily_capacity: int = 0


class _Count(msgspec.Struct):
    n: int


async def _warehouses(ids: Sequence[int] | None) -> list[_WarehouseRow]:
    if ids is None:
        return await db.fetch_as(
            _WarehouseRow, "SELECT id, name, daily_capacity FROM warehouse WHERE active = {} ORDER BY id", True
        )
    found = await db.fetch_as(
        _WarehouseRow,
        f"SELECT id, name, daily_capacity FROM warehouse WHERE id IN ({db.placeholders(len(ids))}) ORDER BY id",
        *ids,
    )
    if len(found) != len(set(ids)):
        raise NotFound("仓库不存在", field="warehouse_id")
    return found


async def warehouses_exist(ids: Sequence[int]) -> None:
    """``NotFound`` unless every warehouse exists."""
    await _warehouses(ids)


class _Risk(msgspec.Struct):
    warehouse: int
    at_risk: int | None
    overdue: int | None


async def risk_counts(warehouse_ids: Sequence[int], now: datetime) -> dict[int, tuple[int, int]]:
    """Per warehouse, (at risk, overdue) open orders now: at risk = the SLA watcher flagged them (``at_risk_at``) and
    ``ship_by`` has not passed yet; overdue = ``ship_by`` passed. Counted from the index
    ``sales_order (warehouse, status, ship_by, at_risk_at)`` alone, one grouped query per chunk of warehouses."""
    found: dict[int, tuple[int, int]] = {}
    for chunk in db.chunks(sorted(set(warehouse_ids)), db.MAX_PARAMS - len(OPEN_STATUSES) - 3):
        rows = await db.fetch_as(
            _Risk,
            "SELECT warehouse, SUM(CASE WHEN ship_by < {} THEN 1 ELSE 0 END) AS overdue, "
            "SUM(CASE WHEN ship_by >= {} AND at_risk_at IS NOT NULL THEN 1 ELSE 0 END) AS at_risk FROM sales_order "
            f"WHERE status IN ({db.placeholders(len(OPEN_STATUSES))}) AND ship_by IS NOT NULL "
            f"AND warehouse IN ({db.placeholders(len(chunk))}) AND (ship_by < {{}} OR at_risk_at IS NOT NULL) "
            "GROUP BY warehouse",
            now,
            now,
            *OPEN_STATUSES,
            *chunk,
            now,
        )
        found.update((r.warehouse, (r.at_risk or 0, r.overdue or 0)) for r in rows)
    return {w: found.get(w, (0, 0)) for w in warehouse_ids}


class _Pickups(msgspec.Struct):
    warehouse: int
    carrier: str
    pickups: str


class _Cutoffs(msgspec.Struct):
    warehouse: int
    cutoffs: str


def _next_time(times: list[str], now: datetime) -> datetime | None:
    local = clock.to_shanghai(now)
    best: datetime | None = None
    for text in times:
        try:
            at = time.fromisoformat(text)
        except (TypeError, ValueError):
            continue
        for add in (0, 1):
            moment = datetime.combine(local.date() + timedelta(days=add), at, tzinfo=clock.SHANGHAI)
            if moment > local:
                if best is None or moment < best:
                    best = moment
                break
    return best.astimezone(UTC) if best else None


async def next_cutoffs(warehouse_ids: Sequence[int], now: datetime) -> dict[int, Cutoff | None]:
    """Per warehouse, the next carrier pick-up: the rate cards' pick-up times (per carrier), else the picking
    settings' cut-offs."""
    best: dict[int, Cutoff | None] = dict.fromkeys(warehouse_ids)
    for chunk in db.chunks(sorted(set(warehouse_ids))):
        marks = db.placeholders(len(chunk))
        for row in await db.fetch_as(
            _Pickups, f"SELECT warehouse, carrier, pickups FROM carrier_rate_card WHERE warehouse IN ({marks})", *chunk
        ):
            at = _next_time(msgspec.json.decode(row.pickups or "[]"), now)
            seen = best.get(row.warehouse)
            if at is not None and (seen is None or at < seen.at):
                best[row.warehouse] = Cutoff(carrier=row.carrier, at=at)
        without = [w for w in chunk if best.get(w) is None]
        if without:
            for config in await db.fetch_as(
                _Cutoffs,
                f"SELECT warehouse, cutoffs FROM picking_config WHERE warehouse IN ({db.placeholders(len(without))})",
                *without,
            ):
                at = _next_time(msgspec.json.decode(config.cutoffs or "[]"), now)
                if at is not None:
                    best[config.warehouse] = Cutoff(carrier=None, at=at)
    return best


class _WaveRow(msgspec.Struct):
    warehouse: int
    id: int
    code: str
    status: str
    tasks: int
    done: int


async def open_waves(warehouse_ids: Sequence[int], limit: int = 20) -> dict[int, list[WaveRow]]:
    """Per warehouse, its latest ``limit`` waves released and not done yet, with their pick tasks done (withdrawn
    tasks count as done)."""
    found: dict[int, list[WaveRow]] = {w: [] for w in warehouse_ids}
    for chunk in db.chunks(sorted(set(warehouse_ids))):
        rows = await db.fetch_as(
            _WaveRow,
            "SELECT w.warehouse, w.id, w.code, w.status, COUNT(t.id) AS tasks, "
            "SUM(CASE WHEN t.status IN ('done', 'withdrawn') THEN 1 ELSE 0 END) AS done "
            "FROM wave w LEFT JOIN pick_task t ON t.wave = w.id "
            f"WHERE w.warehouse IN ({db.placeholders(len(chunk))}) AND w.status = 'released' "
            "GROUP BY w.warehouse, w.id, w.code, w.status ORDER BY w.warehouse, w.id DESC",
            *chunk,
        )
        for r in rows:
            waves = found[r.warehouse]
            if len(waves) < limit:
                waves.append(
                    WaveRow(
                        wave_id=r.id,
                        code=r.code,
                        status=r.status,
                        tasks=r.tasks,
                        done=r.done or 0,
                        progress=round((r.done or 0) / r.tasks, 4) if r.tasks else None,
                    )
                )
    return found


async def tactical(day: date, warehouse_ids: Sequence[int] | None, *, now: datetime | None = None) -> TacticalBoard:
    """Per warehouse (``None``: every active warehouse) the supervisor's figures of ``day``."""
    now = now or clock.now()
    start, end = _window(day, now)
    warehouses = await _warehouses(warehouse_ids)
    scope = None if warehouse_ids is None else [wh.id for wh in warehouses]
    # One grouped query per figure for every warehouse at once (in chunks where the warehouses are listed):
    # independent reads, run at once.
    ids = [wh.id for wh in warehouses]
    statuses, figures, reasons, risks, cutoffs, waves_of, approvals = await db.read_together(
        queries.status_counts(warehouse_ids=scope, by=("warehouse",)),
        queries.order_figures(start, end, warehouse_ids=scope, by=("warehouse",)),
        queries.reason_counts(start, end, kind="exception", warehouse_ids=scope, by=("warehouse",)),
        risk_counts(ids, now),
        next_cutoffs(ids, now),
        open_waves(ids),
        approval_metrics.warehouse_counts(ids, now),
    )
    figures_of = {f.warehouse: f for f in figures}
    # Rows by warehouse once (a board of every warehouse would otherwise scan every row per warehouse).
    statuses_of: dict[int | None, list[Any]] = defaultdict(list)
    for row in statuses:
        statuses_of[row.warehouse].append(row)
    reasons_of: dict[int | None, list[ReasonRow]] = defaultdict(list)
    for r in reasons:
        reasons_of[r.warehouse].append(ReasonRow(reason=r.reason, orders=r.orders))
    boards = []
    for wh in warehouses:
        at_risk, overdue = risks[wh.id]
        funnel = {s: 0 for s in FUNNEL_STATUSES}
        for row in statuses_of[wh.id]:
            if row.status in funnel:
                funnel[row.status] = row.orders
        fig = figures_of.get(wh.id)
        backlog = sum(funnel[s] for s in BACKLOG_STATUSES)
        boards.append(
            WarehouseBoard(
                warehouse_id=wh.id,
                name=wh.name,
                funnel=funnel,
                shipped_today=fig.shipped if fig else 0,
                backlog=backlog,
                capacity=wh.daily_capacity,
                backlog_ratio=round(backlog / wh.daily_capacity, 4) if wh.daily_capacity else None,
                at_risk=at_risk,
                overdue=overdue,
                next_cutoff=cutoffs[wh.id],
                exceptions_by_reason=reasons_of[wh.id],
                waves=waves_of[wh.id],
                on_time_rate=fig.on_time_rate() if fig else None,
                approvals=approvals[wh.id],
            )
        )
    return TacticalBoard(day=day, as_of=now, warehouses=boards)


# -- 执行层 -------------------------------------------------------------------------------------------------------


class _Running(msgspec.Struct):
    user_id: int
    task_id: int
    warehouse: int
    started_at: datetime | None


async def _running_tasks(
    warehouse_ids: Sequence[int] | None, user_ids: Sequence[int] | None
) -> dict[tuple[int, str], _Running]:
    """Claimed pick tasks and open pack records, per (user, pick | pack)."""
    found: dict[tuple[int, str], _Running] = {}
    for kind, sql in (
        (
            "pick",
            "SELECT picker AS user_id, id AS task_id, warehouse, claimed_at AS started_at FROM pick_task "
            "WHERE status = 'claimed' AND picker IS NOT NULL",
        ),
        (
            "pack",
            "SELECT packer AS user_id, id AS task_id, warehouse, started_at FROM pack_record "
            "WHERE status = 'open' AND packer IS NOT NULL",
        ),
    ):
        args: list[Any] = []
        if warehouse_ids is not None:
            sql += f" AND warehouse IN ({db.placeholders(len(warehouse_ids))})"
            args.extend(warehouse_ids)
        if user_ids is not None:
            column = "picker" if kind == "pick" else "packer"
            sql += f" AND {column} IN ({db.placeholders(len(user_ids))})"
            args.extend(user_ids)
        for row in await db.fetch_as(_Running, sql + " ORDER BY id", *args):
            found[(row.user_id, kind)] = row  # the latest one
    return found


def _current(running: _Running | None, kind: str, now: datetime) -> CurrentTask | None:
    if running is None:
        return None
    seconds = int((now - running.started_at).total_seconds()) if running.started_at else None
    return CurrentTask(task_id=running.task_id, kind=kind, started_at=running.started_at, running_s=seconds)


async def _operator_rows(
    day: date, warehouse_ids: Sequence[int] | None, user_ids: Sequence[int] | None, now: datetime
) -> list[OperatorRow]:
    days = await queries.operator_days(day, day, warehouse_ids=warehouse_ids, user_ids=user_ids)
    running = await _running_tasks(warehouse_ids, user_ids) if day == today() else {}
    merged: dict[tuple[int, str], list[queries.OperatorDay]] = defaultdict(list)
    for d in days:
        merged[(d.user_id, d.role)].append(d)
    for key in running:
        merged.setdefault(key, [])
    names = await _names("app_user", [k[0] for k in merged], column="display_name")
    rows = []
    for (user_id, role), parts in merged.items():
        working = sum(p.working_seconds() for p in parts)
        units = sum(p.units for p in parts)
        task = running.get((user_id, role))
        warehouses = {p.warehouse for p in parts} | ({task.warehouse} if task else set())
        rows.append(
            OperatorRow(
                user_id=user_id,
                name=names.get(user_id, ""),
                role=role,
                warehouse_id=next(iter(warehouses)) if len(warehouses) == 1 else None,
                current_task=_current(task, role, now),
                units=units,
                units_per_hour=round(units * 3600 / working, 1) if working else None,
                errors=sum(p.errors() for p in parts),
                scans=sum(p.scans for p in parts),
                orders_packed=sum(p.orders_packed for p in parts),
                working_s=working,
            )
        )
    rows.sort(key=lambda r: (r.role, -r.units, r.user_id))
    return rows


async def operations(day: date, warehouse_ids: Sequence[int] | None, *, now: datetime | None = None) -> OperationsBoard:
    """Each operator's day in the warehouses (None: all): current task, units, units per hour, errors."""
    now = now or clock.now()
    rows = await _operator_rows(day, warehouse_ids, None, now)
    single = warehouse_ids[0] if warehouse_ids is not None and len(warehouse_ids) == 1 else None
    return OperationsBoard(day=day, as_of=now, warehouse_id=single, operators=rows)


class _TodoRow(msgspec.Struct):
    id: int
    code: str
    orders: int


async def my_day(user_id: int, name: str, role: str, day: date, *, now: datetime | None = None) -> MyDay:
    """The caller's own figures of ``day`` (pick and pack summed) and to-do list: their claimed or assigned pick
    tasks, their open pack records."""
    now = now or clock.now()
    rows = await _operator_rows(day, None, [user_id], now)
    kind = {"picker": "pick", "packer": "pack"}.get(role) or (max(rows, key=lambda r: r.units).role if rows else "pick")
    working = sum(r.working_s for r in rows)
    units = sum(r.units for r in rows)
    current = next((r.current_task for r in rows if r.role == kind and r.current_task), None) or next(
        (r.current_task for r in rows if r.current_task), None
    )
    todo: list[Todo] = []
    tasks = await db.fetch_as(
        _TodoRow,
        "SELECT t.id, w.code, (SELECT COUNT(*) FROM pick_task_order o WHERE o.task = t.id AND o.status = 'active') "
        "AS orders FROM pick_task t JOIN wave w ON w.id = t.wave WHERE t.picker = {} AND t.status IN ('open', "
        "'claimed') ORDER BY t.priority DESC, t.id LIMIT 20",
        user_id,
    )
    todo += [Todo(kind="pick_task", id=t.id, title=f"拣货任务 #{t.id}（波次 {t.code}，{t.orders} 单）") for t in tasks]
    packs = await db.fetch_as(
        _TodoRow,
        'SELECT id, CAST("order" AS VARCHAR(20)) AS code, 1 AS orders FROM pack_record WHERE packer = {} '
        "AND status = 'open' ORDER BY id LIMIT 20",
        user_id,
    )
    todo += [Todo(kind="pack", id=p.id, title=f"打包订单 {p.code}") for p in packs]
    warehouses = {r.warehouse_id for r in rows}
    return MyDay(
        day=day,
        as_of=now,
        user_id=user_id,
        name=name,
        role=kind,
        warehouse_id=next(iter(warehouses)) if len(warehouses) == 1 else None,
        current_task=current,
        units=units,
        units_per_hour=round(units * 3600 / working, 1) if working else None,
        errors=sum(r.errors for r in rows),
        scans=sum(r.scans for r in rows),
        orders_packed=sum(r.orders_packed for r in rows),
        working_s=working,
        todo=todo,
    )


# -- drill-down ---------------------------------------------------------------------------------------------------


class _OrderRow(msgspec.Struct):
    key: int
    order_id: int
    external_id: str
    channel_id: int
    status: str
    warehouse_id: int | None
    paid_amount: int
    created_at: datetime
    ship_by: datetime | None


_ORDER_COLUMNS = (
    "o.id AS order_id, o.external_id, o.channel AS channel_id, o.status, o.warehouse AS warehouse_id, "
    "o.paid_amount, o.received_at AS created_at, o.ship_by"
)


def _cursor(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 18:
        raise ValidationFailed(DashError.DASH_BAD_CURSOR, field="cursor")
    return int(value)


async def drill(
    metric: str,
    day: date,
    *,
    warehouse_ids: Sequence[int] | None,
    channel_ids: Sequence[int] | None = None,
    reason: str | None = None,
    user_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> DrillPage:
    """The orders (``operator_tasks``: the tasks) behind a figure, newest first, ``limit`` a page; ``total`` on the
    first page. Orders are matched to a warehouse by the warehouse they are in now."""
    if metric not in DRILL_METRICS:
        raise ValidationFailed(
            f"不支持的下钻指标：{metric[:40]}（可用：{'、'.join(DRILL_METRICS)}）",
            code=DashError.DASH_BAD_METRIC,
            field="metric",
        )
    now = now or clock.now()
    limit = max(1, min(limit, MAX_LIMIT))
    after = _cursor(cursor)
    if metric == "operator_tasks":
        if user_id is None:
            raise ValidationFailed(DashError.DASH_NEEDS_USER, field="user_id")
        return await _drill_tasks(day, user_id, warehouse_ids, after, limit)
    start, end = _window(day, now)
    where: list[str] = []
    args: list[Any] = []
    if metric in _EVENT_METRICS:
        event_type, to_status = _EVENT_METRICS[metric]
        key = "e.id"
        source = 'order_event e JOIN sales_order o ON o.id = e."order"'
        where += ["e.type = {}", "e.to_status = {}" if to_status else "e.to_status IS NULL"]
        args += [event_type, *([to_status] if to_status else [])]
        where += ["e.created_at >= {}", "e.created_at < {}"]
        args += [start, end]
        if reason and metric in ("exceptions", "cancelled"):
            where.append("e.reason = {}")
            args.append(reason)
    else:
        key = "o.id"
        source = "sales_order o"
        if metric == "orders":
            where += ["o.received_at >= {}", "o.received_at < {}"]
            args += [start, end]
        else:
            statuses: Sequence[str]
            if metric == "backlog":
                statuses = BACKLOG_STATUSES
            elif metric in ("overdue", "at_risk"):
                statuses = OPEN_STATUSES
            else:
                statuses = (metric.partition(":")[2],)
            where.append(f"o.status IN ({db.placeholders(len(statuses))})")
            args.extend(statuses)
            if metric == "overdue":
                where.append("o.ship_by < {}")
                args.append(now)
            elif metric == "at_risk":  # flagged by the SLA watcher, not overdue yet
                where += ["o.at_risk_at IS NOT NULL", "o.ship_by >= {}"]
                args.append(now)
    if warehouse_ids is not None:
        where.append(f"o.warehouse IN ({db.placeholders(len(warehouse_ids))})" if warehouse_ids else "1 = 0")
        args.extend(warehouse_ids)
    if channel_ids is not None:
        where.append(f"o.channel IN ({db.placeholders(len(channel_ids))})" if channel_ids else "1 = 0")
        args.extend(channel_ids)
    page_where = [*where, f"{key} < {{}}"] if after is not None else where
    page_args = [*args, after] if after is not None else args
    page = db.fetch_as(
        _OrderRow,
        f"SELECT {key} AS key, {_ORDER_COLUMNS} FROM {source} WHERE {' AND '.join(page_where)} "
        f"ORDER BY {key} DESC LIMIT {{}}",
        *page_args,
        limit + 1,
    )
    total = None
    if after is None:
        # Counted up to MAX_TOTAL (a busy day ships tens of thousands: the first page must not wait for all of them);
        # more than that answers total null. Event metrics without an order filter count the event index alone.
        # The count and the page are read at once.
        counted_from = source
        if metric in _EVENT_METRICS and warehouse_ids is None and channel_ids is None:
            counted_from = "order_event e"
        count = db.fetch_one_as(
            _Count,
            f"SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM {counted_from} WHERE {' AND '.join(where)} "
            "LIMIT {}) AS c",
            *args,
            MAX_TOTAL + 1,
        )
        counted, rows = await db.read_together(count, page)
        total = counted.n if counted and counted.n <= MAX_TOTAL else None
    else:
        rows = await page
    more = len(rows) > limit
    rows = rows[:limit]
    items: list[DrillOrder | DrillTask] = [
        DrillOrder(
            order_id=r.order_id,
            external_id=r.external_id,
            channel_id=r.channel_id,
            status=r.status,
            warehouse_id=r.warehouse_id,
            paid_amount=r.paid_amount,
            created_at=r.created_at,
            ship_by=r.ship_by,
        )
        for r in rows
    ]
    return DrillPage(metric=metric, items=items, next_cursor=str(rows[-1].key) if more else None, total=total)


class _TaskRow(msgspec.Struct):
    key: int
    task_id: int
    kind: str
    status: str
    warehouse_id: int
    wave_id: int | None
    order_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


async def _drill_tasks(
    day: date, user_id: int, warehouse_ids: Sequence[int] | None, after: int | None, limit: int
) -> DrillPage:
    """The operator's pick tasks and pack records touched that day (claimed, started or finished in it, or still
    running), newest first; the cursor walks pack records (even keys) and pick tasks (odd keys) as one list."""
    start, end = queries.day_window(day, day)
    scope = ""
    scope_args: list[Any] = []
    if warehouse_ids is not None:
        scope = f" AND warehouse IN ({db.placeholders(len(warehouse_ids))})" if warehouse_ids else " AND 1 = 0"
        scope_args = list(warehouse_ids)
    picks = (
        "SELECT id * 2 + 1 AS key, id AS task_id, 'pick' AS kind, status, warehouse AS warehouse_id, wave AS wave_id, "
        "NULL AS order_id, created_at, claimed_at AS started_at, completed_at AS finished_at FROM pick_task "
        "WHERE picker = {} AND (status = 'claimed' OR (claimed_at >= {} AND claimed_at < {}) "
        "OR (completed_at >= {} AND completed_at < {}))" + scope
    )
    packs = (
        "SELECT id * 2 AS key, id AS task_id, 'pack' AS kind, status, warehouse AS warehouse_id, NULL AS wave_id, "
        '"order" AS order_id, started_at AS created_at, started_at, packed_at AS finished_at FROM pack_record '
        "WHERE packer = {} AND (status = 'open' OR (started_at >= {} AND started_at < {}) "
        "OR (packed_at >= {} AND packed_at < {}))" + scope
    )
    args = [user_id, start, end, start, end, *scope_args]
    union = f"SELECT * FROM ({picks} UNION ALL {packs}) AS tasks"
    total = None
    if after is None:
        counted = await db.fetch_one_as(_Count, f"SELECT COUNT(*) AS n FROM ({union}) AS c", *args, *args)
        total = counted.n if counted else 0
    tail = " WHERE key < {}" if after is not None else ""
    rows = await db.fetch_as(
        _TaskRow,
        f"{union}{tail} ORDER BY key DESC LIMIT {{}}",
        *args,
        *args,
        *([after] if after is not None else []),
        limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items: list[DrillOrder | DrillTask] = [
        DrillTask(
            task_id=r.task_id,
            kind=r.kind,
            status=r.status,
            warehouse_id=r.warehouse_id,
            wave_id=r.wave_id,
            order_id=r.order_id,
            created_at=r.created_at,
            started_at=r.started_at,
            finished_at=r.finished_at,
        )
        for r in rows
    ]
    return DrillPage(metric="operator_tasks", items=items, next_cursor=str(rows[-1].key) if more else None, total=total)
