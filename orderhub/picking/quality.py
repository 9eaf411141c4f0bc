"""Picker quality (拣货质量): per picker and per SKU — tasks, lines, units, scans, wrong scans, short picks, time per
line — and the monthly error analysis (差错分析报告): errors by picker, by SKU and by type, pick and pack alike."""

from __future__ import annotations

import re
from datetime import datetime, time

import msgspec

from orderhub import clock, db
from orderhub.auth.tables import User
from orderhub.errors import ValidationFailed
from orderhub.picking.errors import ScanRefusal

__all__ = ["ErrorReport", "PickerQuality", "SkuQuality", "error_report", "month_range", "picker_quality", "sku_quality"]

# The refused scans (orderhub.picking.errors.ScanRefusal) and short picks, in the report's order.
ERROR_TYPES: tuple[str, ...] = (
    ScanRefusal.WRONG_LOCATION, ScanRefusal.LOCATION_NOT_SCANNED, ScanRefusal.WRONG_ITEM, ScanRefusal.OVER_PICK,
    "short_pick",
    ScanRefusal.EXTRA_ITEM, ScanRefusal.ITEMS_MISSING, ScanRefusal.WEIGHT_MISMATCH,
)


class PickerQuality(msgspec.Struct, frozen=True, kw_only=True):
    picker_id: int
    picker: str
    tasks: int
    lines: int
    units: int
    scans: int
    wrong_scans: int
    short_picks: int
    seconds_per_line: float | None
    error_rate: float  # wrong scans + short picks per line


class SkuQuality(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    name: str
    lines: int
    units: int
    wrong_scans: int  # scans that were wrong while this SKU was the one to pick
    short_picks: int


class ErrorRow(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str
    errors: dict[str, int]
    total: int


class ErrorReport(msgspec.Struct, frozen=True, kw_only=True):
    month: str
    since: datetime
    until: datetime
    totals: dict[str, int]
    scans: int
    by_picker: list[ErrorRow]
    by_sku: list[ErrorRow]


_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_range(month: str) -> tuple[datetime, datetime]:
    """A calendar month in Asia/Shanghai as [start, end) in UTC."""
    match = _MONTH.match(month)
    if not match:
        raise ValidationFailed("月份格式应为 YYYY-MM", field="month")
    year, number = int(match.group(1)), int(match.group(2))
    start = datetime.combine(datetime(year, number, 1).date(), time(), tzinfo=clock.SHANGHAI)
    after = datetime(year + (number == 12), number % 12 + 1, 1).date()
    end = datetime.combine(after, time(), tzinfo=clock.SHANGHAI)
    return start.astimezone(clock.now().tzinfo), end.astimezone(clock.now().tzinfo)


class _PickerTotals(msgspec.Struct):
    picker: int | None
    tasks: int
    lines: int
    units: int
    shorts: int | None


class _TaskTime(msgspec.Struct):
    picker: int | None
    claimed_at: datetime | None
    completed_at: datetime | None
    lines: int


class _ScanTotals(msgspec.Struct):
    picker: int | None
    scans: int
    wrong: int | None


class _SkuTotals(msgspec.Struct):
    id: int
    code: str
    name: str
    lines: int
    units: int
    shorts: int | None


class _SkuWrong(msgspec.Struct):
    sku: int
    n: int


class _ScanError(msgspec.Struct):
    picker: int | None
    display_name: str | None
    username: str | None
    sku: str | None
    sku_name: str | None
    error: str
    kind: str
    ok: bool


def _scope(warehouse_id: int | None, alias: str) -> tuple[str, list[object]]:
    return (f" AND {alias}.warehouse = {{}}", [warehouse_id]) if warehouse_id is not None else ("", [])


async def picker_quality(since: datetime, until: datetime, *, warehouse_id: int | None = None) -> list[PickerQuality]:
    scope, args = _scope(warehouse_id, "t")
    # Raw SQL: a grouped join with conditional aggregates.
    tasks = await db.fetch_as(
        _PickerTotals,
        # withdrawn tasks count too (a short pick in order picking withdraws the whole task): their lines, not them
        "SELECT t.picker, COUNT(DISTINCT CASE WHEN t.status = 'done' THEN t.id END) AS tasks, COUNT(l.id) AS lines, "
        "COALESCE(SUM(l.picked), 0) AS units, SUM(CASE WHEN l.status = 'short' THEN 1 ELSE 0 END) AS shorts "
        "FROM pick_task t JOIN pick_line l ON l.task = t.id AND l.status IN ('picked', 'short') "
        "WHERE t.status IN ('done', 'withdrawn') AND t.completed_at >= {} AND t.completed_at < {}" + scope
        + " GROUP BY t.picker",
        since, until, *args,
    )
    # Raw SQL: a correlated COUNT subquery per task.
    durations = await db.fetch_as(
        _TaskTime,
        "SELECT t.picker, t.claimed_at, t.completed_at, "
        "(SELECT COUNT(*) FROM pick_line l WHERE l.task = t.id AND l.status IN ('picked', 'short')) AS lines "
        "FROM pick_task t WHERE t.status = 'done' AND t.completed_at >= {} AND t.completed_at < {}" + scope,
        since, until, *args,
    )
    seconds: dict[int, list[float]] = {}
    for d in durations:
        if d.picker is not None and d.claimed_at is not None and d.completed_at is not None and d.lines:
            took = (d.completed_at - d.claimed_at).total_seconds()
            seconds.setdefault(d.picker, []).append(took / d.lines)
    scope_s, args_s = _scope(warehouse_id, "s")
    # Raw SQL: a grouped count with a conditional SUM.
    scans = await db.fetch_as(
        _ScanTotals,
        "SELECT s.picker, COUNT(*) AS scans, SUM(CASE WHEN s.ok THEN 0 ELSE 1 END) AS wrong FROM pda_scan s "
        "WHERE s.kind IN ('location', 'item') AND s.received_at >= {} AND s.received_at < {}" + scope_s
        + " GROUP BY s.picker",
        since, until, *args_s,
    )
    names = {r["id"]: str(r["display_name"] or r["username"])
             for r in await User.select(User.id, User.display_name, User.username)}
    by_scan = {r.picker: r for r in scans if r.picker is not None}
    result = []
    for row in tasks:
        if row.picker is None:
            continue
        picker = row.picker
        s = by_scan.get(picker, _ScanTotals(picker=picker, scans=0, wrong=0))
        lines = row.lines
        per_line = seconds.get(picker)
        wrong, shorts = s.wrong or 0, row.shorts or 0
        result.append(
            PickerQuality(
                picker_id=picker,
                picker=names.get(picker, str(picker)),
                tasks=row.tasks,
                lines=lines,
                units=row.units,
                scans=s.scans,
                wrong_scans=wrong,
                short_picks=shorts,
                seconds_per_line=round(sum(per_line) / len(per_line), 1) if per_line else None,
                error_rate=round((wrong + shorts) / lines, 4) if lines else 0.0,
            )
        )
    return sorted(result, key=lambda q: (-q.error_rate, q.picker))


async def sku_quality(since: datetime, until: datetime, *, warehouse_id: int | None = None) -> list[SkuQuality]:
    scope, args = _scope(warehouse_id, "t")
    # Raw SQL: a grouped join of three tables with conditional aggregates.
    lines = await db.fetch_as(
        _SkuTotals,
        "SELECT k.id, k.code, k.name, COUNT(l.id) AS lines, COALESCE(SUM(l.picked), 0) AS units, "
        "SUM(CASE WHEN l.status = 'short' THEN 1 ELSE 0 END) AS shorts "
        "FROM pick_line l JOIN pick_task t ON t.id = l.task JOIN sku k ON k.id = l.sku "
        "WHERE t.status IN ('done', 'withdrawn') AND t.completed_at >= {} AND t.completed_at < {} "
        "AND l.status IN ('picked', 'short')"
        + scope + " GROUP BY k.id, k.code, k.name",
        since, until, *args,
    )
    scope_s, args_s = _scope(warehouse_id, "s")
    # Raw SQL: a grouped join.
    wrong = await db.fetch_as(
        _SkuWrong,
        "SELECT l.sku, COUNT(*) AS n FROM pda_scan s JOIN pick_line l ON l.id = s.line "
        "WHERE s.ok = {} AND s.kind IN ('location', 'item') AND s.received_at >= {} AND s.received_at < {}" + scope_s
        + " GROUP BY l.sku",
        False, since, until, *args_s,
    )
    wrong_by_sku = {r.sku: r.n for r in wrong}
    return sorted(
        (
            SkuQuality(
                sku=r.code,
                name=r.name,
                lines=r.lines,
                units=r.units,
                wrong_scans=wrong_by_sku.get(r.id, 0),
                short_picks=r.shorts or 0,
            )
            for r in lines
        ),
        key=lambda q: (-(q.wrong_scans + q.short_picks), q.sku),
    )


async def error_report(month: str, *, warehouse_id: int | None = None) -> ErrorReport:
    """Every error of the month: rejected scans (pick and pack) by their code, and short picks."""
    since, until = month_range(month)
    scope, args = _scope(warehouse_id, "s")
    # Raw SQL: a join of five tables, two of them the same one.
    rows = await db.fetch_as(
        _ScanError,
        "SELECT s.picker, u.display_name, u.username, COALESCE(ls.code, ss.code) AS sku, "
        "COALESCE(ls.name, ss.name) AS sku_name, s.error, s.kind, s.ok "
        "FROM pda_scan s LEFT JOIN app_user u ON u.id = s.picker "
        "LEFT JOIN pick_line l ON l.id = s.line LEFT JOIN sku ls ON ls.id = l.sku LEFT JOIN sku ss ON ss.id = s.sku "
        "WHERE s.received_at >= {} AND s.received_at < {}" + scope,
        since, until, *args,
    )
    totals = dict.fromkeys(ERROR_TYPES, 0)
    pickers: dict[str, tuple[str, dict[str, int]]] = {}
    skus: dict[str, tuple[str, dict[str, int]]] = {}
    for r in rows:
        kind = "short_pick" if r.kind == "short" and r.ok else (r.error if not r.ok else "")
        if not kind:
            continue
        totals[kind] = totals.get(kind, 0) + 1
        who = str(r.picker or "")
        name = r.display_name or r.username or ""
        entry = pickers.setdefault(who, (name, {}))
        entry[1][kind] = entry[1].get(kind, 0) + 1
        if r.sku:
            sku_entry = skus.setdefault(r.sku, (str(r.sku_name), {}))
            sku_entry[1][kind] = sku_entry[1].get(kind, 0) + 1

    def table(data: dict[str, tuple[str, dict[str, int]]]) -> list[ErrorRow]:
        out = [ErrorRow(key=k, name=n, errors=e, total=sum(e.values())) for k, (n, e) in data.items()]
        return sorted(out, key=lambda row: (-row.total, row.key))

    return ErrorReport(
        month=month,
        since=clock.to_shanghai(since),
        until=clock.to_shanghai(until),
        totals=totals,
        scans=len(rows),
        by_picker=table(pickers),
        by_sku=table(skus),
    )
