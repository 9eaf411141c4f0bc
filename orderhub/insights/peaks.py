"""Time-of-week peaks: when a SKU, or a category of SKUs, sells — units by weekday × hour in Asia/Shanghai over a
period, normalised, with the peak windows (docs/insights-mining.md#time-of-week-peaks).

Counted from ``order_line`` ⋈ ``sales_order`` by the order's ``placed_at`` (when the buyer ordered), over orders not
cancelled and not replacements, non-gift lines only. A period of N weeks and a few days holds some weekday-hours
once more than others, so each cell's *rate* is its units per occurrence of that weekday-hour in the period, and its
*ratio* the rate over the period's mean hourly rate (1 = an average hour). The windows are the ``top`` best
non-overlapping runs of ``window`` consecutive hours of the week (Friday 23:00 runs on into Saturday), by rate.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import ValidationFailed
from orderhub.insights.errors import MiningError
from orderhub.insights.queries import day_window
from orderhub.orders.state import OrderStatus

__all__ = ["WEEKDAYS", "PeakCell", "PeakWindow", "Peaks", "peaks", "week_slots", "windows_from_cells"]

WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")  # ISO weekday 1 … 7
MAX_PERIOD_DAYS = 366
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)  # days outside are mistakes (and overflow date arithmetic)


class PeakCell(msgspec.Struct, frozen=True, kw_only=True):
    weekday: int  # ISO: 1 Monday … 7 Sunday (Asia/Shanghai)
    hour: int  # 0 … 23 (Asia/Shanghai)
    units: int
    lines: int
    occurrences: int  # how many times this weekday-hour falls in the period
    share: float  # units ÷ the period's units
    rate: float  # units per occurrence
    ratio: float  # rate ÷ the period's mean units per hour


class PeakWindow(msgspec.Struct, frozen=True, kw_only=True):
    weekday: int
    start_hour: int
    hours: int
    label: str  # 周五 20–22 点
    units: int
    share: float
    ratio: float  # the window's mean rate ÷ the period's mean units per hour


class Peaks(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # sku | category
    target: str
    since: date
    until: date
    units: int
    lines: int
    mean_rate: float  # units per hour over the period
    peak_ratio: float  # the best window's ratio (0 when nothing sold)
    top: list[PeakWindow]
    cells: list[PeakCell]  # 168, Monday 0:00 first


class _Cell(msgspec.Struct):
    wd: int
    hr: int
    units: int
    lines: int


def _buckets() -> tuple[str, str]:
    """The Asia/Shanghai ISO weekday and hour of ``so.placed_at`` per back end. SQLite keeps times as UTC ISO text:
    a fixed +8 hours is Asia/Shanghai (no daylight saving since 1991)."""
    if db.is_sqlite():
        return (
            "((CAST(strftime('%w', so.placed_at, '+8 hours') AS INTEGER) + 6) % 7 + 1)",
            "CAST(strftime('%H', so.placed_at, '+8 hours') AS INTEGER)",
        )
    return (
        "CAST(EXTRACT(ISODOW FROM so.placed_at AT TIME ZONE 'Asia/Shanghai') AS INTEGER)",
        "CAST(EXTRACT(HOUR FROM so.placed_at AT TIME ZONE 'Asia/Shanghai') AS INTEGER)",
    )


def week_slots(start: datetime, end: datetime) -> dict[tuple[int, int], int]:
    """How many times each (ISO weekday, hour) of Asia/Shanghai begins in [start, end)."""
    slots: dict[tuple[int, int], int] = {(d, h): 0 for d in range(1, 8) for h in range(24)}
    at = start.astimezone(clock.SHANGHAI).replace(minute=0, second=0, microsecond=0)
    if at < start:
        at += timedelta(hours=1)
    while at < end:
        slots[(at.isoweekday(), at.hour)] += 1
        at += timedelta(hours=1)
    return slots


async def peaks(
    *,
    sku: str | None = None,
    category: str | None = None,
    since: date | None = None,
    until: date | None = None,
    window: int = 2,
    top: int = 3,
) -> Peaks:
    """Units of ``sku`` (or of every SKU of ``category``) by weekday × hour over the Asia/Shanghai days ``since`` …
    ``until`` (default the 28 days to today), and the ``top`` peak windows of ``window`` hours."""
    if (sku is None) == (category is None) or (sku == "" or category == ""):
        raise ValidationFailed(MiningError.PEAKS_BAD_TARGET, field="sku")
    until = until or clock.now().astimezone(clock.SHANGHAI).date()
    if not FIRST_DAY <= until <= LAST_DAY:
        raise ValidationFailed(MiningError.INSIGHTS_BAD_PERIOD, field="until")
    since = since or until - timedelta(days=27)
    if not FIRST_DAY <= since <= until:
        raise ValidationFailed(MiningError.INSIGHTS_BAD_PERIOD, field="since")
    if (until - since).days >= MAX_PERIOD_DAYS:
        raise ValidationFailed(MiningError.INSIGHTS_BAD_PERIOD, field="until")
    start, end = day_window(since, until)
    weekday, hour = _buckets()
    where = [
        "so.placed_at >= {}",
        "so.placed_at < {}",
        "so.status <> {}",
        "so.reship_of IS NULL",
        "l.is_gift = FALSE",
    ]
    args: list[Any] = [start, end, OrderStatus.CANCELLED.value]
    join = ""
    if sku is not None:
        if not await db.fetch_as(db.IdRow, "SELECT id FROM sku WHERE code = {}", sku):
            raise ValidationFailed(MiningError.PEAKS_UNKNOWN_SKU, field="sku")
        where.append("l.sku_code = {}")
        args.append(sku)
    else:
        if not await db.fetch_as(db.IdRow, "SELECT id FROM sku WHERE category = {} LIMIT 1", category):
            raise ValidationFailed(MiningError.PEAKS_UNKNOWN_CATEGORY, field="category")
        join = " JOIN sku k ON k.code = l.sku_code"
        where.append("k.category = {}")
        args.append(category)
    rows = await db.fetch_as(
        _Cell,
        f"SELECT {weekday} AS wd, {hour} AS hr, COALESCE(SUM(l.qty), 0) AS units, COUNT(*) AS lines "
        f'FROM order_line l JOIN sales_order so ON so.id = l."order"{join} '
        f"WHERE {' AND '.join(where)} GROUP BY 1, 2",
        *args,
    )
    found = {(r.wd, r.hr): r for r in rows}
    slots = week_slots(start, end)
    units = sum(r.units for r in rows)
    hours = sum(slots.values())
    mean = units / hours if hours else 0.0
    cells: list[PeakCell] = []
    for d in range(1, 8):
        for h in range(24):
            r = found.get((d, h))
            u, n = (r.units, r.lines) if r else (0, 0)
            occ = slots[(d, h)]
            rate = u / occ if occ else 0.0
            cells.append(
                PeakCell(
                    weekday=d,
                    hour=h,
                    units=u,
                    lines=n,
                    occurrences=occ,
                    share=u / units if units else 0.0,
                    rate=rate,
                    ratio=rate / mean if mean else 0.0,
                )
            )
    windows = windows_from_cells(cells, window=window, top=top, mean_rate=mean, total=units)
    return Peaks(
        kind="sku" if sku is not None else "category",
        target=sku if sku is not None else str(category),
        since=since,
        until=until,
        units=units,
        lines=sum(r.lines for r in rows),
        mean_rate=mean,
        peak_ratio=windows[0].ratio if windows else 0.0,
        top=windows,
        cells=cells,
    )


def _label(weekday: int, start_hour: int, hours: int) -> str:
    end = start_hour + hours
    if end <= 24:
        return f"{WEEKDAYS[weekday - 1]} {start_hour}–{end} 点"
    return f"{WEEKDAYS[weekday - 1]} {start_hour} 点–{WEEKDAYS[weekday % 7]} {end - 24} 点"


def windows_from_cells(
    cells: list[PeakCell], *, window: int, top: int, mean_rate: float, total: int
) -> list[PeakWindow]:
    """The ``top`` non-overlapping runs of ``window`` consecutive hours of the week with the highest rate (cells in
    week order, 168 of them); runs that sold nothing are left out."""
    if mean_rate <= 0 or not cells:
        return []
    n = len(cells)
    window = max(1, min(window, 24))
    scored = []
    for i in range(n):
        span = [cells[(i + j) % n] for j in range(window)]
        rate = sum(c.rate for c in span)
        units = sum(c.units for c in span)
        if units > 0:
            scored.append((rate, i, units))
    scored.sort(key=lambda s: (-s[0], s[1]))
    taken: set[int] = set()
    out: list[PeakWindow] = []
    for rate, i, units in scored:
        covered = {(i + j) % n for j in range(window)}
        if covered & taken:
            continue
        taken |= covered
        cell = cells[i]
        out.append(
            PeakWindow(
                weekday=cell.weekday,
                start_hour=cell.hour,
                hours=window,
                label=_label(cell.weekday, cell.hour, window),
                units=units,
                share=units / total if total else 0.0,
                ratio=(rate / window) / mean_rate,
            )
        )
        if len(out) >= top:
            break
    return out
