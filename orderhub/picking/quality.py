"""Picker quality (拣货质量): per picker and per SKU — tasks, lines, units, scans, wrong scans, short picks, time per
line — and the monthly error analysis (差错分析报告): errors by picker, by SKU and by type, pick and pack alike; made
fair (issue 20 B4) with error lines per 1,000 pick lines and their Wilson intervals per picker and per SKU, ranked by
the lower bound with small samples set apart (:mod:`orderhub.picking.rates`), the most common "expected A, scanned B"
pairs of wrong-item scans, and the SKUs whose errors cluster at one location."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

import msgspec

from orderhub import clock, db
from orderhub.auth.tables import User
from orderhub.errors import ValidationFailed
from orderhub.picking.errors import ScanRefusal
from orderhub.picking.rates import (
    MIN_LINES,
    LineRate,
    LocationCluster,
    LocationCount,
    RateCount,
    location_clusters,
    rank_rates,
)

__all__ = [
    "MIN_LINES",
    "ConfusionPair",
    "ErrorReport",
    "LineRate",
    "LocationCluster",
    "PickerQuality",
    "SkuQuality",
    "confusion_pairs",
    "error_report",
    "month_range",
    "picker_quality",
    "picker_rates",
    "sku_quality",
    "sku_rates_and_clusters",
]

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


class ConfusionPair(msgspec.Struct, frozen=True, kw_only=True):
    """Wrong-item scans where the line wanted ``expected_sku`` and the barcode scanned belongs to ``scanned_sku``, in
    one warehouse; the locations are the two SKUs' pick faces there now (None: no pick face)."""

    warehouse: str
    expected_sku: str
    expected_name: str
    expected_location: str | None
    scanned_sku: str
    scanned_name: str
    scanned_location: str | None
    count: int


CONFUSION_HINT = (
    "以下商品常被拣错（应拣 A 却扫到 B），多为外观相近的商品：建议把它们调整到不相邻的储位，或加贴区分标识。"
)
TOP_PAIRS = 20  # confusion pairs listed
MAX_RATE_ROWS = 200  # SKU rates and location rows listed (pickers: all of them)


class ErrorReport(msgspec.Struct, frozen=True, kw_only=True):
    month: str
    since: datetime
    until: datetime
    totals: dict[str, int]
    scans: int
    by_picker: list[ErrorRow]
    by_sku: list[ErrorRow]
    # issue 20 B4 (additive): pick lines of the tasks finished in the month; an error line is a line with a refused
    # location/item scan or a short pick (pack-station errors are in the counts above, not in these rates)
    min_lines: int = MIN_LINES  # fewer lines than this: 样本不足, not ranked
    picker_rates: list[LineRate] = msgspec.field(default_factory=list)  # every picker with lines, ranked first
    sku_rates: list[LineRate] = msgspec.field(default_factory=list)  # SKUs with error lines (at most MAX_RATE_ROWS)
    confusions: list[ConfusionPair] = msgspec.field(default_factory=list)  # most scans first (at most TOP_PAIRS)
    confusion_hint: str = ""  # zh-CN, when there are pairs
    unknown_barcodes: int = 0  # wrong-item pick scans whose barcode belongs to no SKU (in no pair)
    location_clusters: list[LocationCluster] = msgspec.field(default_factory=list)  # flagged first


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


async def error_report(month: str, *, warehouse_id: int | None = None, min_lines: int = MIN_LINES) -> ErrorReport:
    """Every error of the month: rejected scans (pick and pack) by their code, and short picks; per picker and per
    SKU the error lines per 1,000 pick lines with their Wilson intervals (fewer than ``min_lines`` lines: 样本不足),
    the most common "expected A, scanned B" pairs and the SKUs whose errors cluster at one location."""
    if not 1 <= min_lines <= 100_000:
        raise ValidationFailed("最少拣货行数应为 1–100000", field="min_lines")
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

    picker_rows = await picker_rates(since, until, warehouse_id=warehouse_id, min_lines=min_lines)
    sku_rows, clusters = await sku_rates_and_clusters(since, until, warehouse_id=warehouse_id, min_lines=min_lines)
    pairs, unknown = await confusion_pairs(since, until, warehouse_id=warehouse_id)
    return ErrorReport(
        month=month,
        since=clock.to_shanghai(since),
        until=clock.to_shanghai(until),
        totals=totals,
        scans=len(rows),
        by_picker=table(pickers),
        by_sku=table(skus),
        min_lines=min_lines,
        picker_rates=picker_rows,
        sku_rates=sku_rows,
        confusions=pairs,
        confusion_hint=CONFUSION_HINT if pairs else "",
        unknown_barcodes=unknown,
        location_clusters=clusters,
    )


# -- issue 20 B4: rates with intervals, confusion pairs, location clusters ---------------------------------------------

# A line's error scans come before its task is finished (a replayed offline queue a little after): the scans of the
# week before the month to the day after it cover the month's tasks, and the window keeps the read on received_at's
# index.
_SCANS_BEFORE = timedelta(days=7)
_SCANS_AFTER = timedelta(days=1)

# Two reads per grouping: the finished tasks' lines (and their short picks), driven by the tasks; and the lines among
# them with a refused scan, driven by the month's scans (received_at's index, then primary keys) — not one join of the
# lines with a derived table of the scans, which PostgreSQL may run as a nested loop over the scans for every line
# when the tables' statistics are stale (measured on 200,000 lines right after a bulk load: that shape was cancelled
# at a 30 s statement timeout, these two reads take 0.3 s).
_FINISHED = "t.status IN ('done', 'withdrawn') AND t.completed_at >= {} AND t.completed_at < {}"
_LINES = (
    "COUNT(*) AS lines, SUM(CASE WHEN l.status = 'short' THEN 1 ELSE 0 END) AS shorts "
    "FROM pick_task t JOIN pick_line l ON l.task = t.id AND l.status IN ('picked', 'short') "
)
_REFUSED = (
    "COUNT(DISTINCT l.id) AS refused "
    "FROM pda_scan s JOIN pick_line l ON l.id = s.line JOIN pick_task t ON t.id = l.task "
    "WHERE s.ok = {} AND s.kind IN ('location', 'item') AND s.received_at >= {} AND s.received_at < {} "
    "AND l.status = 'picked' AND "  # a short line is an error line already
)


def _refused_args(since: datetime, until: datetime) -> list[object]:
    return [False, since - _SCANS_BEFORE, until + _SCANS_AFTER, since, until]


class _PickerLines(msgspec.Struct):
    picker: int | None
    lines: int
    shorts: int | None


class _PickerRefused(msgspec.Struct):
    picker: int | None
    refused: int


class _SkuLocationLines(msgspec.Struct):
    sku_id: int
    code: str
    name: str
    location_id: int | None
    location: str | None
    warehouse: str | None
    lines: int
    shorts: int | None


class _SkuLocationRefused(msgspec.Struct):
    sku_id: int
    location_id: int | None
    refused: int


class _Pair(msgspec.Struct):
    warehouse: int
    expected: int
    scanned: int | None
    n: int


class _SkuName(msgspec.Struct):
    id: int
    code: str
    name: str


class _Face(msgspec.Struct):
    warehouse: int
    sku: int
    location: str


class _Code(msgspec.Struct):
    id: int
    code: str


async def picker_rates(
    since: datetime, until: datetime, *, warehouse_id: int | None = None, min_lines: int = MIN_LINES
) -> list[LineRate]:
    """Per picker (the task's): pick lines of the tasks finished in [since, until), error lines, per 1,000 lines with
    the Wilson interval; ranked by its lower bound, fewer than ``min_lines`` lines after the ranked ones."""
    scope, args = _scope(warehouse_id, "t")
    # Raw SQL (both reads): grouped joins with conditional aggregates.
    lines, refused = await db.read_together(
        db.fetch_as(
            _PickerLines,
            "SELECT t.picker, " + _LINES + "WHERE " + _FINISHED + scope + " GROUP BY t.picker",
            since, until, *args,
        ),
        db.fetch_as(
            _PickerRefused,
            "SELECT t.picker, " + _REFUSED + _FINISHED + scope + " GROUP BY t.picker",
            *_refused_args(since, until), *args,
        ),
    )  # fmt: skip
    refused_by = {r.picker: r.refused for r in refused}
    names = {r["id"]: str(r["display_name"] or r["username"])
             for r in await User.select(User.id, User.display_name, User.username)}  # fmt: skip
    counts = [
        RateCount(key=str(r.picker), name=names.get(r.picker, str(r.picker)), lines=r.lines,
                  error_lines=(r.shorts or 0) + refused_by.get(r.picker, 0))
        for r in lines
        if r.picker is not None
    ]  # fmt: skip
    return rank_rates(counts, min_lines=min_lines)


async def sku_rates_and_clusters(
    since: datetime, until: datetime, *, warehouse_id: int | None = None, min_lines: int = MIN_LINES
) -> tuple[list[LineRate], list[LocationCluster]]:
    """Per SKU with error lines: the rate with its interval (ranked like the pickers'), and the location holding most
    of its error lines against that location's share of its pick lines
    (:func:`orderhub.picking.rates.location_clusters`)."""
    scope, args = _scope(warehouse_id, "t")
    # Raw SQL (both reads): grouped joins with conditional aggregates.
    lines, refused = await db.read_together(
        db.fetch_as(
            _SkuLocationLines,
            "SELECT l.sku AS sku_id, k.code, k.name, l.location AS location_id, loc.code AS location, "
            "w.code AS warehouse, " + _LINES
            + "JOIN sku k ON k.id = l.sku LEFT JOIN location loc ON loc.id = l.location "
            "LEFT JOIN warehouse w ON w.id = loc.warehouse WHERE " + _FINISHED + scope
            + " GROUP BY l.sku, k.code, k.name, l.location, loc.code, w.code",
            since, until, *args,
        ),
        db.fetch_as(
            _SkuLocationRefused,
            "SELECT l.sku AS sku_id, l.location AS location_id, " + _REFUSED + _FINISHED + scope
            + " GROUP BY l.sku, l.location",
            *_refused_args(since, until), *args,
        ),
    )  # fmt: skip
    refused_at = {(r.sku_id, r.location_id): r.refused for r in refused}
    per_sku: dict[int, tuple[str, str, list[LocationCount]]] = {}
    for r in lines:
        entry = per_sku.setdefault(r.sku_id, (r.code, r.name, []))
        errors = (r.shorts or 0) + refused_at.get((r.sku_id, r.location_id), 0)
        entry[2].append(
            LocationCount(location=r.location or "—", warehouse=r.warehouse or "", lines=r.lines, error_lines=errors)
        )
    with_errors = [(code, name, cs) for code, name, cs in per_sku.values() if any(c.error_lines for c in cs)]
    counts = [
        RateCount(key=code, name=name, lines=sum(c.lines for c in cs), error_lines=sum(c.error_lines for c in cs))
        for code, name, cs in with_errors
    ]
    rates = rank_rates(counts, min_lines=min_lines)[:MAX_RATE_ROWS]
    return rates, location_clusters(with_errors)[:MAX_RATE_ROWS]


async def confusion_pairs(
    since: datetime, until: datetime, *, warehouse_id: int | None = None, top: int = TOP_PAIRS
) -> tuple[list[ConfusionPair], int]:
    """The most common "expected A, scanned B" pairs of the month's wrong-item pick scans (B: the SKU the scanned
    barcode belongs to), with both SKUs' pick faces in the warehouse; and how many such scans named no SKU at all."""
    scope, args = _scope(warehouse_id, "s")
    # Raw SQL: a grouped join of the scans with their lines.
    rows = await db.fetch_as(
        _Pair,
        "SELECT s.warehouse, l.sku AS expected, s.sku AS scanned, COUNT(*) AS n "
        "FROM pda_scan s JOIN pick_line l ON l.id = s.line "
        "WHERE s.ok = {} AND s.kind = 'item' AND s.error = {} AND (s.sku IS NULL OR s.sku <> l.sku) "
        "AND s.received_at >= {} AND s.received_at < {}" + scope + " GROUP BY s.warehouse, l.sku, s.sku",
        False, ScanRefusal.WRONG_ITEM.value, since, until, *args,
    )  # fmt: skip
    unknown = sum(r.n for r in rows if r.scanned is None)
    pairs = sorted(
        (r for r in rows if r.scanned is not None), key=lambda r: (-r.n, r.warehouse, r.expected, r.scanned or 0)
    )[:top]
    if not pairs:
        return [], unknown
    sku_ids = sorted({r.expected for r in pairs} | {r.scanned for r in pairs if r.scanned is not None})
    warehouse_ids = sorted({r.warehouse for r in pairs})
    # Raw SQL (the three reads): IN lists of at most 2 × TOP_PAIRS ids.
    skus = {
        r.id: r
        for r in await db.fetch_as(
            _SkuName, f"SELECT id, code, name FROM sku WHERE id IN ({db.placeholders(len(sku_ids))})", *sku_ids
        )
    }
    faces = {
        (r.warehouse, r.sku): r.location
        for r in await db.fetch_as(
            _Face,
            "SELECT sl.warehouse, sl.sku, loc.code AS location FROM sku_location sl "
            f"JOIN location loc ON loc.id = sl.location WHERE sl.sku IN ({db.placeholders(len(sku_ids))})",
            *sku_ids,
        )
    }
    warehouses = {
        r.id: r.code
        for r in await db.fetch_as(
            _Code, f"SELECT id, code FROM warehouse WHERE id IN ({db.placeholders(len(warehouse_ids))})",
            *warehouse_ids,
        )
    }  # fmt: skip
    out = []
    for r in pairs:
        assert r.scanned is not None
        expected, scanned = skus.get(r.expected), skus.get(r.scanned)
        out.append(
            ConfusionPair(
                warehouse=warehouses.get(r.warehouse, str(r.warehouse)),
                expected_sku=expected.code if expected else str(r.expected),
                expected_name=expected.name if expected else "",
                expected_location=faces.get((r.warehouse, r.expected)),
                scanned_sku=scanned.code if scanned else str(r.scanned),
                scanned_name=scanned.name if scanned else "",
                scanned_location=faces.get((r.warehouse, r.scanned)),
                count=r.n,
            )
        )
    return out, unknown
