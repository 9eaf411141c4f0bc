"""Waves as supervisors see them: found by id or by code (``W251203-00012`` — what tasks, events and the floor
show), listed with filters, newest first (keyset: ``next_cursor`` is the last wave's id), each with its progress —
tasks open / claimed / done, orders still in it, lines and units picked of the total."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import NotFound, ValidationFailed
from orderhub.picking.errors import PickingError
from orderhub.picking.tables import Wave
from orderhub.picking.tasks import TaskSummary, list_tasks

__all__ = [
    "WAVE_STATUSES",
    "WaveDetail",
    "WavePage",
    "WaveProgress",
    "WaveRef",
    "WaveSummary",
    "find_wave",
    "get_wave",
    "list_waves",
]

WAVE_STATUSES = ("released", "done", "cancelled")
_MAX_ID = 2**31 - 1  # PostgreSQL INTEGER: a longer number names no wave (and must not reach the database)


class WaveRef(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    code: str
    warehouse_id: int


async def find_wave(ref: str | int, *, warehouse_id: int | None = None) -> WaveRef:
    """The wave a path names: its number (digits) or its code (any case). Unknown, or in another warehouse than
    ``warehouse_id`` (a warehouse-bound user or device): 404 ``wave_not_found``."""
    text = str(ref).strip()
    query = Wave.select(Wave.id, Wave.code, Wave.warehouse)
    row: dict[str, Any] | None = None
    if text.isascii() and text.isdigit():
        number = int(text)
        if 1 <= number <= _MAX_ID:
            row = await query.where(Wave.id == number).first()
    elif 0 < len(text) <= 32:
        row = await query.where(Wave.code == text.upper()).first()
    if row is None or (warehouse_id is not None and int(row["warehouse"]) != warehouse_id):
        raise NotFound(f"波次 {text[:32]} 不存在", code=PickingError.WAVE_NOT_FOUND, field="wave")
    return WaveRef(id=int(row["id"]), code=str(row["code"]), warehouse_id=int(row["warehouse"]))


class WaveProgress(msgspec.Struct, frozen=True, kw_only=True):
    tasks: int  # every task the wave released, withdrawn ones included
    tasks_open: int
    tasks_claimed: int
    tasks_done: int
    tasks_withdrawn: int
    orders: int  # still in the wave
    orders_withdrawn: int  # cancelled, intercepted or short picked out of it
    lines: int  # lines still to be picked or handled (withdrawn lines left out)
    lines_picked: int
    lines_short: int
    units: int
    units_picked: int
    percent: float  # lines handled (picked or short) of lines, 0–100


class WaveSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    code: str
    warehouse: str
    packing_line: str
    pick_mode: str
    single_item: bool
    status: str  # released → done (or cancelled)
    reason: str  # full, cutoff, waited, urgent, manual
    cutoff: datetime | None
    released_orders: int  # orders and units when it was released
    released_items: int
    created_by: str
    created_at: datetime
    completed_at: datetime | None
    progress: WaveProgress


class WaveDetail(WaveSummary, frozen=True, kw_only=True):
    tasks: list[TaskSummary]


class WavePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[WaveSummary]
    next_cursor: int | None


class _TaskCounts(msgspec.Struct):
    wave: int
    tasks: int
    open: int
    claimed: int
    done: int
    withdrawn: int


class _LineCounts(msgspec.Struct):
    wave: int
    lines: int
    picked: int
    short: int
    units: int
    units_picked: int


class _OrderCounts(msgspec.Struct):
    wave: int
    active: int
    withdrawn: int


# Raw SQL: conditional aggregates grouped by wave (three queries for a whole page of waves); {ids} is a bound list.
_TASKS_SQL = (
    "SELECT t.wave, COUNT(*) AS tasks, "
    "SUM(CASE WHEN t.status = 'open' THEN 1 ELSE 0 END) AS open, "
    "SUM(CASE WHEN t.status = 'claimed' THEN 1 ELSE 0 END) AS claimed, "
    "SUM(CASE WHEN t.status = 'done' THEN 1 ELSE 0 END) AS done, "
    "SUM(CASE WHEN t.status = 'withdrawn' THEN 1 ELSE 0 END) AS withdrawn "
    "FROM pick_task t WHERE t.wave IN ({ids}) GROUP BY t.wave"
)
_LINES_SQL = (
    "SELECT t.wave, "
    "SUM(CASE WHEN l.status <> 'withdrawn' THEN 1 ELSE 0 END) AS lines, "
    "SUM(CASE WHEN l.status = 'picked' THEN 1 ELSE 0 END) AS picked, "
    "SUM(CASE WHEN l.status = 'short' THEN 1 ELSE 0 END) AS short, "
    "SUM(CASE WHEN l.status <> 'withdrawn' THEN l.qty ELSE 0 END) AS units, "
    "SUM(CASE WHEN l.status <> 'withdrawn' THEN l.picked ELSE 0 END) AS units_picked "
    "FROM pick_line l JOIN pick_task t ON t.id = l.task WHERE t.wave IN ({ids}) GROUP BY t.wave"
)
_ORDERS_SQL = (
    "SELECT t.wave, "
    "SUM(CASE WHEN p.status = 'active' THEN 1 ELSE 0 END) AS active, "
    "SUM(CASE WHEN p.status <> 'active' THEN 1 ELSE 0 END) AS withdrawn "
    "FROM pick_task_order p JOIN pick_task t ON t.id = p.task WHERE t.wave IN ({ids}) GROUP BY t.wave"
)


async def _progress(wave_ids: Sequence[int]) -> dict[int, WaveProgress]:
    """Progress of each wave (a page of them: at most 200 ids, bound in chunks all the same)."""
    tasks: dict[int, _TaskCounts] = {}
    lines: dict[int, _LineCounts] = {}
    orders: dict[int, _OrderCounts] = {}
    for chunk in db.chunks(list(wave_ids)):
        marks = db.placeholders(len(chunk))
        for t in await db.fetch_as(_TaskCounts, _TASKS_SQL.replace("{ids}", marks), *chunk):
            tasks[t.wave] = t
        for li in await db.fetch_as(_LineCounts, _LINES_SQL.replace("{ids}", marks), *chunk):
            lines[li.wave] = li
        for o in await db.fetch_as(_OrderCounts, _ORDERS_SQL.replace("{ids}", marks), *chunk):
            orders[o.wave] = o
    out: dict[int, WaveProgress] = {}
    for wave_id in wave_ids:
        t = tasks.get(wave_id) or _TaskCounts(wave_id, 0, 0, 0, 0, 0)
        li = lines.get(wave_id) or _LineCounts(wave_id, 0, 0, 0, 0, 0)
        o = orders.get(wave_id) or _OrderCounts(wave_id, 0, 0)
        handled = li.picked + li.short
        out[wave_id] = WaveProgress(
            tasks=t.tasks,
            tasks_open=t.open,
            tasks_claimed=t.claimed,
            tasks_done=t.done,
            tasks_withdrawn=t.withdrawn,
            orders=o.active,
            orders_withdrawn=o.withdrawn,
            lines=li.lines,
            lines_picked=li.picked,
            lines_short=li.short,
            units=li.units,
            units_picked=li.units_picked,
            percent=round(100 * handled / li.lines, 1) if li.lines else (100.0 if t.tasks else 0.0),
        )
    return out


def _day_start(day: date) -> datetime:
    """Midnight of a calendar day in Asia/Shanghai, as UTC."""
    return datetime.combine(day, time(0), tzinfo=clock.SHANGHAI).astimezone(UTC)


def _summary(row: dict[str, Any], progress: WaveProgress) -> WaveSummary:
    cutoff, completed = row["cutoff"], row["completed_at"]
    return WaveSummary(
        id=int(row["id"]),
        code=str(row["code"]),
        warehouse=str(row["warehouse.code"]),
        packing_line=str(row["packing_line"]),
        pick_mode=str(row["pick_mode"]),
        single_item=bool(row["single_item"]),
        status=str(row["status"]),
        reason=str(row["reason"]),
        cutoff=clock.to_shanghai(cutoff) if cutoff else None,
        released_orders=int(row["orders"]),
        released_items=int(row["items"]),
        created_by=str(row["created_by"]),
        created_at=clock.to_shanghai(row["created_at"]),
        completed_at=clock.to_shanghai(completed) if completed else None,
        progress=progress,
    )


async def list_waves(
    *,
    warehouse_id: int | None = None,
    status: str | None = None,
    packing_line: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> WavePage:
    """Waves newest first, with their progress. ``created_from`` / ``created_to`` are calendar days in
    Asia/Shanghai, both included; ``after_id`` is the previous page's ``next_cursor``."""
    if not 1 <= limit <= 200:
        raise ValidationFailed("limit 取值范围为 1–200", field="limit")
    if status is not None and status not in WAVE_STATUSES:
        raise ValidationFailed(f"波次状态只能是 {', '.join(WAVE_STATUSES)}", field="status")
    if created_from is not None and created_to is not None and created_to < created_from:
        raise ValidationFailed("结束日期不能早于开始日期", field="created_to")
    query = Wave.select(*Wave.all_columns(), Wave.warehouse.code).order_by(Wave.id, ascending=False).limit(limit + 1)
    if warehouse_id is not None:
        query = query.where(Wave.warehouse == warehouse_id)
    if status is not None:
        query = query.where(Wave.status == status)
    if packing_line:
        query = query.where(Wave.packing_line == packing_line.strip().upper())
    if created_from is not None:
        query = query.where(Wave.created_at >= _day_start(created_from))
    if created_to is not None:
        query = query.where(Wave.created_at < _day_start(created_to + timedelta(days=1)))
    if after_id is not None:
        query = query.where(Wave.id < after_id)
    rows = (await query)[: limit + 1]
    page = rows[:limit]
    progress = await _progress([int(r["id"]) for r in page])
    items = [_summary(r, progress[int(r["id"])]) for r in page]
    return WavePage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


async def get_wave(ref: str | int, *, warehouse_id: int | None = None) -> WaveDetail:
    """One wave (by id or code) with its progress and its tasks."""
    wave = await find_wave(ref, warehouse_id=warehouse_id)
    row = await Wave.select(*Wave.all_columns(), Wave.warehouse.code).where(Wave.id == wave.id).first()
    assert row is not None
    summary = _summary(row, (await _progress([wave.id]))[wave.id])
    tasks = await list_tasks(None, wave_id=wave.id, limit=500)
    return WaveDetail(**msgspec.structs.asdict(summary), tasks=tasks)
