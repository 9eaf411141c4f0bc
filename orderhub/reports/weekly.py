"""The weekly report's data (issue 18 item 7): one Monday–Sunday week in Asia/Shanghai.

- the four headline KPIs of the first seed — cycle time (p90 paid → shipped), first-pass accuracy, orders per person
  per day, customer query rate — against their targets and last week (``orderhub.insights.kpis.kpis_for_days``: the
  rollups, docs/kpis.md);
- the health index per region over the week (each region's KPIs over the seven days scored like a day,
  ``orderhub.insights.scoring.score_kpis``; per warehouse when no warehouse has a region), and the hub's;
- orders received per channel per day (the rollups), with last week's total;
- reconciliation: each day's ``orderhub.finance.reports_data.daily_report`` summed per channel, and the week's top
  causes of differences (:func:`daily_reports`, :func:`summarise_reconciliation`);
- the month's error analysis (the month of the week's Sunday, to date): errors by picker and by SKU
  (``orderhub.picking.quality.error_report``) and the pickers' error rate per line (``picker_quality``); the pickers'
  error lines per 1,000 with Wilson intervals, the top wrong-item pairs and the flagged location clusters.
- the add-on offers switched on by the week's end: the offered SKU's attach rate against the hold-out, with 95 %
  intervals, measured at the week's end (``orderhub.offers.effect.enabled_effects``, docs/offers.md).

Only reads; the charts (:mod:`orderhub.reports.charts`) and the PDF (:mod:`orderhub.reports.pdf`) draw it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.finance.model import DailyReport
from orderhub.finance.reports_data import daily_report
from orderhub.insights import health, queries
from orderhub.insights.health_settings import HealthSettings, load_settings
from orderhub.insights.kpis import KpiValue, kpis_for_days
from orderhub.insights.scoring import score_kpis
from orderhub.offers import effect as offer_effect
from orderhub.offers.effect import OfferEffect
from orderhub.picking import quality

__all__ = [
    "HEADLINE_KPIS",
    "KPI_LABELS",
    "ChannelVolume",
    "ErrorAnalysis",
    "ErrorLine",
    "KpiLine",
    "ReconCause",
    "ReconChannel",
    "ReconSummary",
    "RegionHealth",
    "WeeklyData",
    "daily_reports",
    "gather",
    "last_full_week",
    "summarise_reconciliation",
    "week_label",
    "week_start",
]

log = logging.getLogger("orderhub.reports")

HEADLINE_KPIS = ("cycle_time", "first_pass_accuracy", "orders_per_person", "query_rate")
KPI_LABELS = {
    "cycle_time": "订单处理时效（付款→发货 p90，分钟）",
    "first_pass_accuracy": "一次通过率（拣货/打包准确率）",
    "orders_per_person": "人均日处理单量",
    "query_rate": "客户查询率",
}
TOP_CAUSES = 5
TOP_ROWS = 10


class KpiLine(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    label: str  # zh-CN
    unit: str  # min | ratio | orders
    better: str  # lower | higher
    target: float
    value: float | None  # this week
    last_week: float | None
    meets_target: bool | None

    @property
    def change(self) -> float | None:
        return None if self.value is None or self.last_week is None else self.value - self.last_week


class RegionHealth(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # hub | region | warehouse
    id: str
    name: str
    score: float | None
    last_week: float | None
    worst: str  # zh-CN label of the metric that lost the most points ("" when none)


class ChannelVolume(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: int
    name: str
    per_day: list[int]  # orders received each day, Monday first
    orders: int  # = sum(per_day)
    gmv_fen: int
    shipped: int
    last_week_orders: int


class ReconChannel(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: int
    name: str
    orders: int
    settled: int  # fen
    expected: int
    difference: int
    flagged: int


class ReconCause(msgspec.Struct, frozen=True, kw_only=True):
    cause: str
    name: str
    amount: int  # fen, signed
    orders: int


class ReconSummary(msgspec.Struct, frozen=True, kw_only=True):
    available: bool  # False: the finance context gave no daily reports (the section says so)
    note: str  # zh-CN, shown when not available
    channels: list[ReconChannel]
    causes: list[ReconCause]  # the week's largest |amount| first (at most TOP_CAUSES)
    settled: int  # = sum of channels
    expected: int
    difference: int
    flagged: int


class ErrorLine(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str
    total: int
    errors: dict[str, int]
    error_rate: float | None = None  # pickers: (wrong scans + short picks) per pick line


class ErrorAnalysis(msgspec.Struct, frozen=True, kw_only=True):
    month: str  # YYYY-MM
    totals: dict[str, int]  # per error type
    by_picker: list[ErrorLine]  # most errors first (at most TOP_ROWS)
    by_sku: list[ErrorLine]
    # issue 20 B4: error lines per 1,000 pick lines with Wilson intervals (ranked first, then 样本不足), the top
    # "expected A, scanned B" pairs and the SKUs whose errors cluster at one location (flagged ones only)
    min_lines: int = quality.MIN_LINES  # fewer pick lines: 样本不足
    picker_rates: list[quality.LineRate] = msgspec.field(default_factory=list)  # at most TOP_ROWS
    confusions: list[quality.ConfusionPair] = msgspec.field(default_factory=list)  # at most TOP_ROWS
    confusion_hint: str = ""
    clusters: list[quality.LocationCluster] = msgspec.field(default_factory=list)  # at most TOP_ROWS


class WeeklyData(msgspec.Struct, frozen=True, kw_only=True):
    week_start: date  # Monday (Asia/Shanghai)
    week_end: date  # Sunday
    label: str  # ISO week, e.g. 2026-W50
    generated_at: datetime
    days: list[date]
    kpis: list[KpiLine]
    regions: list[RegionHealth]  # the hub first, then regions (or warehouses) best first
    region_kind: str  # region | warehouse
    channels: list[ChannelVolume]
    reconciliation: ReconSummary
    errors: ErrorAnalysis
    # issue 20 B3: each add-on offer switched on by the week's end, measured at the week's end (orderhub.offers.effect)
    offers: list[OfferEffect] = msgspec.field(default_factory=list)


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def last_full_week(now: datetime | None = None) -> date:
    """The Monday of the last week that has ended (Asia/Shanghai): on Monday 08:00 the week that ended at midnight."""
    today = clock.to_shanghai(now or clock.now()).date()
    return week_start(today) - timedelta(days=7)


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


# -- KPIs --------------------------------------------------------------------------------------------------------------


def _kpi_lines(now: dict[str, KpiValue], before: dict[str, KpiValue]) -> list[KpiLine]:
    return [
        KpiLine(
            name=name,
            label=KPI_LABELS[name],
            unit=now[name].unit,
            better=now[name].better,
            target=now[name].target,
            value=now[name].value,
            last_week=before[name].value,
            meets_target=now[name].meets_target(),
        )
        for name in HEADLINE_KPIS
    ]


# -- health by region --------------------------------------------------------------------------------------------------


async def _scope_score(scope: health.HealthScope, since: date, until: date, settings: HealthSettings) -> Any:
    kpis = await kpis_for_days(
        since, until, warehouse_ids=scope.warehouse_ids, channel_ids=scope.channel_ids, settings=settings
    )
    return score_kpis(kpis, settings)


async def _regions(monday: date, settings: HealthSettings) -> tuple[str, list[RegionHealth]]:
    sunday = monday + timedelta(days=6)
    before = monday - timedelta(days=7)
    found = await health.scopes(("hub", "region"))
    kind = "region"
    if not any(s.kind == "region" for s in found):
        found = await health.scopes(("hub", "warehouse"))
        kind = "warehouse"
    rows: list[RegionHealth] = []
    for scope in found:
        now = await _scope_score(scope, monday, sunday, settings)
        last = await _scope_score(scope, before, before + timedelta(days=6), settings)
        if now.score is None and last.score is None:
            continue  # a scope without orders either week
        worst = now.worst()
        rows.append(
            RegionHealth(
                kind=scope.kind,
                id=scope.id,
                name=scope.name,
                score=now.score,
                last_week=last.score,
                worst=worst[0].label if worst else "",
            )
        )
    hub = [r for r in rows if r.kind == "hub"]
    others = sorted((r for r in rows if r.kind != "hub"), key=lambda r: (-(r.score or -1), r.id))
    return kind, hub + others


# -- volume by channel -------------------------------------------------------------------------------------------------


class _Named(msgspec.Struct):
    id: int
    name: str


async def _channel_names() -> dict[int, str]:
    return {r.id: r.name for r in await db.fetch_as(_Named, "SELECT id, name FROM channel")}


async def _channels(monday: date, names: dict[int, str]) -> list[ChannelVolume]:
    sunday = monday + timedelta(days=6)
    counters = ("received", "received_fen", "shipped")
    rows = await queries.order_figures_by_day(monday, sunday, by=("channel",), step="day", counters=counters)
    before = await queries.order_figures_by_day(
        monday - timedelta(days=7), monday - timedelta(days=1), by=("channel",), counters=("received",)
    )
    per_day: dict[int, list[int]] = defaultdict(lambda: [0] * 7)
    gmv: dict[int, int] = defaultdict(int)
    shipped: dict[int, int] = defaultdict(int)
    for r in rows:
        channel = r.channel or 0
        if r.period is not None:
            index = (clock.to_shanghai(r.period).date() - monday).days
            if 0 <= index < 7:
                per_day[channel][index] += r.received
        gmv[channel] += r.received_fen
        shipped[channel] += r.shipped
    last = {r.channel or 0: r.received for r in before}
    result = [
        ChannelVolume(
            channel_id=channel,
            name=names.get(channel, f"渠道 {channel}"),
            per_day=list(per_day[channel]),
            orders=sum(per_day[channel]),
            gmv_fen=gmv[channel],
            shipped=shipped[channel],
            last_week_orders=last.get(channel, 0),
        )
        for channel in sorted(set(per_day) | set(gmv) | set(last))
    ]
    return sorted(
        (c for c in result if c.orders or c.shipped or c.last_week_orders), key=lambda c: (-c.orders, c.channel_id)
    )


# -- reconciliation ----------------------------------------------------------------------------------------------------


async def daily_reports(days: Sequence[date]) -> list[DailyReport]:
    """Each day's reconciliation report for every channel (``orderhub.finance.reports_data.daily_report``)."""
    return [await daily_report(day, channel_id=None) for day in days]


def summarise_reconciliation(reports: Sequence[DailyReport] | None) -> ReconSummary:
    """The week's reconciliation from daily reports (pure): per channel the sums of its days, the causes summed over
    every channel and day (largest |amount| first). Every total is the sum of its lines."""
    if reports is None:
        return ReconSummary(
            available=False,
            note="对账数据尚未接入（结算对账模块未提供日报）",
            channels=[],
            causes=[],
            settled=0,
            expected=0,
            difference=0,
            flagged=0,
        )
    channels: dict[int, dict[str, Any]] = {}
    causes: dict[str, list[Any]] = {}
    for report in reports:
        for row in report.rows:
            acc = channels.setdefault(
                row.channel_id,
                {"name": row.channel_name, "orders": 0, "settled": 0, "expected": 0, "difference": 0, "flagged": 0},
            )
            for key in ("orders", "settled", "expected", "difference", "flagged"):
                acc[key] += int(getattr(row, key))
            for cause in row.causes:
                entry = causes.setdefault(cause.cause, [cause.name, 0, 0])
                entry[1] += int(cause.amount)
                entry[2] += int(cause.orders)
    lines = [
        ReconChannel(channel_id=cid, **acc)
        for cid, acc in sorted(channels.items(), key=lambda kv: (-abs(kv[1]["difference"]), kv[0]))
    ]
    top = sorted(
        (ReconCause(cause=code, name=n, amount=amount, orders=orders) for code, (n, amount, orders) in causes.items()),
        key=lambda c: (-abs(c.amount), c.cause),
    )
    return ReconSummary(
        available=True,
        note="" if lines else "本周没有结算数据",
        channels=lines,
        causes=[c for c in top if c.amount][:TOP_CAUSES],
        settled=sum(c.settled for c in lines),
        expected=sum(c.expected for c in lines),
        difference=sum(c.difference for c in lines),
        flagged=sum(c.flagged for c in lines),
    )


# -- errors of the month -----------------------------------------------------------------------------------------------


async def _errors(month: str) -> ErrorAnalysis:
    report = await quality.error_report(month)
    since, until = quality.month_range(month)
    rates = {str(q.picker_id): q.error_rate for q in await quality.picker_quality(since, until)}
    return ErrorAnalysis(
        month=month,
        totals={k: v for k, v in report.totals.items() if v},
        by_picker=[
            ErrorLine(
                key=r.key, name=r.name or r.key or "—", total=r.total, errors=r.errors, error_rate=rates.get(r.key)
            )
            for r in report.by_picker[:TOP_ROWS]
        ],
        by_sku=[ErrorLine(key=r.key, name=r.name, total=r.total, errors=r.errors) for r in report.by_sku[:TOP_ROWS]],
        min_lines=report.min_lines,
        picker_rates=report.picker_rates[:TOP_ROWS],
        confusions=report.confusions[:TOP_ROWS],
        confusion_hint=report.confusion_hint,
        clusters=[c for c in report.location_clusters if c.flagged][:TOP_ROWS],
    )


# -- everything --------------------------------------------------------------------------------------------------------


async def gather(monday: date, *, now: datetime | None = None) -> WeeklyData:
    """The week starting ``monday`` (any day is taken back to its Monday)."""
    monday = week_start(monday)
    sunday = monday + timedelta(days=6)
    days = [monday + timedelta(days=n) for n in range(7)]
    settings = await load_settings()
    this_week = await kpis_for_days(monday, sunday, settings=settings)
    last_week = await kpis_for_days(monday - timedelta(days=7), monday - timedelta(days=1), settings=settings)
    region_kind, regions = await _regions(monday, settings)
    names = await _channel_names()
    reconciliation = summarise_reconciliation(await daily_reports(days))
    errors = await _errors(f"{sunday.year:04d}-{sunday.month:02d}")
    # the add-on offers' effect as it stood at the week's end (Monday 00:00 Asia/Shanghai after ``sunday``)
    week_end = datetime.combine(sunday + timedelta(days=1), datetime.min.time(), tzinfo=clock.SHANGHAI)
    offers = await offer_effect.enabled_effects(now=week_end)  # switched on before week_end, measured as at it
    return WeeklyData(
        week_start=monday,
        week_end=sunday,
        label=week_label(monday),
        generated_at=now or clock.now(),
        days=days,
        kpis=_kpi_lines(this_week, last_week),
        regions=regions,
        region_kind=region_kind,
        channels=await _channels(monday, names),
        reconciliation=reconciliation,
        errors=errors,
        offers=offers,
    )
