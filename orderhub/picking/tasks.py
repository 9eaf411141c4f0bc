"""Pick tasks on the PDA: next / claim, the ordered stops, scan-confirmed picking, short picks, skip, complete; and
the withdrawal of orders that leave the pick flow (cancelled, intercepted) from the tasks that hold them.

Every scan carries the device's own id for it (``client_id``). The scan row is written in the same transaction
as its effect, unique per (device, client_id): a replay — the PDA lost the answer on a Wi-Fi drop, or replays its
offline queue — returns the first answer and changes nothing. Effects do not depend on arrival order: an item
scan names the location it was confirmed at (checked on its own; naming none is ``location_not_scanned`` unless the
warehouse turned ``require_location_scan`` off), quantities add up to the line's quantity and never beyond
(``over_pick``), a short marks the line short whatever was picked before or after it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import CommonError, Conflict, NotFound, PermissionDenied, ValidationFailed
from orderhub.events import Topic, publish_after_commit
from orderhub.inventory.service import write_off_reserved
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import record_event, recorded_in_transaction, transition
from orderhub.orders.state import OrderStatus
from orderhub.picking.config import PickingSettings, get_settings
from orderhub.picking.errors import PickingError, ScanOutcome, ScanRefusal
from orderhub.picking.events import ShortPicked, TaskAssigned, TaskCompleted, TaskWithdrawn, publish_floor
from orderhub.picking.route import Stop, walk_to_depot
from orderhub.picking.scans import (
    REPLAY_ID_SQL,
    SKU_BY_BARCODE_SQL,
    Fingerprint,
    ScanRecord,
    ScanWrite,
    once,
    replay_binds,
    replayed,
    with_scan_row,
)
from orderhub.picking.sessions import PdaSession
from orderhub.picking.tables import PickLine, PickTask, PickTaskOrder, Wave
from orderhub.picking.waves import aisle_index, bay_number

__all__ = [
    "ScanCommand",
    "ScanKind",
    "ScanResult",
    "StopView",
    "TaskSummary",
    "TaskView",
    "assign_task",
    "claim_task",
    "complete_task",
    "get_task",
    "list_tasks",
    "next_task",
    "scan",
    "withdraw_order",
]

log = logging.getLogger("orderhub.picking")

ACTIVE = ("open", "claimed")
TASK_STATUSES = ("open", "claimed", "done", "withdrawn")
_WITHDRAW_MESSAGES = {
    "cancelled": "订单已取消，已从任务中撤回",
    "intercepted": "订单被拦截，已从任务中撤回",
    "short_picked": "订单缺货，已从任务中撤回",
}


class ScanKind:
    LOCATION = "location"
    ITEM = "item"
    SHORT = "short"
    SKIP = "skip"
    ALL = ("location", "item", "short", "skip")


class StopView(msgspec.Struct, frozen=True, kw_only=True):
    line_id: int
    seq: int
    location: str | None
    sku: str
    name: str
    qty: int
    picked: int
    tote_slot: int
    order_id: int
    status: str  # pending, picked, short, withdrawn
    skipped: int
    # The SKU's barcodes, so a handheld can check an item scan while offline (the hub also takes the SKU code
    # itself, ``sku``); defaults keep answers stored before these fields were added readable on replay.
    barcodes: list[str] = []
    image_url: str | None = None  # the SKU's picture (an http(s) URL or a path on the hub), if it has one


class TaskOrderView(msgspec.Struct, frozen=True, kw_only=True):
    order_id: int
    tote_slot: int
    status: str
    withdrawn_reason: str


class TaskView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    wave: str  # its code; wave endpoints take the code or wave_id
    wave_id: int
    status: str
    pick_mode: str
    picker: str | None
    route_m: float
    naive_route_m: float
    orders: list[TaskOrderView]
    stops: list[StopView]  # route order; the next stop is next_line
    next_line: int | None
    remaining: int
    # Metres still to walk: from the next pending stop through the other pending stops in the order the picker gets
    # them (skipped ones last, as next_line) back to the depot, by the walking model route_m was planned with; 0
    # when nothing is pending. Without coordinates for them: route_m × pending / lines.
    remaining_m: float = 0.0
    # The warehouse's require_location_scan: an item scan is refused until the shelf is scanned (a handheld predicting
    # answers offline asks the same)
    require_location: bool = True
    picker_id: int | None = None  # who holds it (a handheld whose picker it no longer is stops: names may repeat)


class TaskSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    wave: str  # its code; wave endpoints take the code or wave_id
    wave_id: int
    status: str
    priority: int
    orders: int
    lines: int
    units: int
    route_m: float
    picker: str | None
    created_at: datetime


class ScanCommand(msgspec.Struct, frozen=True, kw_only=True):
    client_id: str
    kind: str
    task_id: int
    line_id: int
    barcode: str = ""
    qty: int = 1
    # item scans: the location barcode confirmed just before (checked on its own); required unless the warehouse
    # turned require_location_scan off
    location: str | None = None
    reason: str = ""  # short picks
    scanned_at: datetime | None = None


class ScanResult(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    code: str  # a ScanOutcome (ok, line_withdrawn) or the ScanRefusal (wrong_location, location_not_scanned, …)
    message: str  # zh-CN, for the picker
    expected: dict[str, Any] | None = None
    line: StopView | None = None
    remaining: int = 0
    replayed: bool = False


# ----------------------------------------------------------------------------------------------- reading


class _StopRow(msgspec.Struct):
    id: int
    seq: int
    qty: int
    picked: int
    tote_slot: int
    order: int
    status: str
    skipped: int
    location: str | None
    sku: str
    name: str
    barcodes: str | None  # the SKU's JSON array
    image_url: str | None
    zone: str | None  # where the location is (the walking model's aisle and bay)
    aisle: str | None
    bay: str | None


# The columns of a stop (pick_line l, sku s, location loc).
_STOP_COLUMNS = (
    "l.id, l.seq, l.qty, l.picked, l.tote_slot, l.\"order\", l.status, l.skipped, "
    "loc.code AS location, s.code AS sku, s.name, s.barcodes, s.image_url, loc.zone, loc.aisle, loc.bay"
)


async def _stop_rows(task_id: int) -> list[_StopRow]:
    # Raw SQL: a three-table join.
    return await db.fetch_as(
        _StopRow,
        f"SELECT {_STOP_COLUMNS} "
        "FROM pick_line l JOIN sku s ON s.id = l.sku LEFT JOIN location loc ON loc.id = l.location "
        "WHERE l.task = {} ORDER BY l.seq",
        task_id,
    )


async def _stops(task_id: int) -> list[StopView]:
    return [_stop(r) for r in await _stop_rows(task_id)]


def _barcodes(raw: str | None) -> list[str]:
    try:
        found = msgspec.json.decode(raw or "[]")
    except msgspec.DecodeError:
        return []
    return [str(b) for b in found] if isinstance(found, list) else []


def _stop(r: _StopRow) -> StopView:
    return StopView(
        line_id=r.id,
        seq=r.seq,
        location=r.location,
        sku=r.sku,
        name=r.name,
        qty=r.qty,
        picked=r.picked,
        tote_slot=r.tote_slot,
        order_id=r.order,
        status=r.status,
        skipped=r.skipped,
        barcodes=_barcodes(r.barcodes),
        image_url=r.image_url or None,
    )


def _next_line(stops: Sequence[StopView]) -> int | None:
    pending = [s for s in stops if s.status == "pending"]
    return min(pending, key=lambda s: (s.skipped, s.seq)).line_id if pending else None


async def _remaining_m(
    warehouse_id: int, route_m: float, rows: Sequence[_StopRow], settings: PickingSettings
) -> float:
    """The walk still ahead (:attr:`TaskView.remaining_m`): the pending stops in the order the picker gets them
    (:func:`_next_line`'s), through the same walking model and layout the route was planned with
    (:func:`orderhub.picking.waves.aisle_index`, the warehouse's settings). A stop without a location is not walked
    to; when no pending stop has one, or the layout no longer holds a stop (locations changed since the wave), the
    planned length is shared out by lines instead."""
    pending = sorted((r for r in rows if r.status == "pending"), key=lambda r: (r.skipped, r.seq))
    if not pending:
        return 0.0
    lines = sum(1 for r in rows if r.status != "withdrawn") or len(pending)
    share = round(route_m * len(pending) / lines, 1)
    located = [r for r in pending if r.location is not None]
    if not located:
        return share
    aisles, deepest = await aisle_index(warehouse_id)
    layout = settings.layout(max(len(aisles), 1), deepest)
    try:
        stops = [Stop(aisle=aisles.get((r.zone or "", r.aisle or ""), 0), bay=bay_number(r.bay)) for r in located]
        return round(walk_to_depot(layout, stops), 1)
    except ValueError:
        return share


class _TaskRow(msgspec.Struct):
    id: int
    status: str
    warehouse: int
    picker: int | None
    route_m: float
    naive_route_m: float
    priority: int
    created_at: datetime
    wave: str
    pick_mode: str
    wave_id: int
    picker_name: str | None
    picker_username: str | None


async def _task_row(task_id: int) -> _TaskRow:
    # Raw SQL: a three-table join.
    row = await db.fetch_one_as(
        _TaskRow,
        "SELECT t.id, t.status, t.warehouse, t.picker, t.route_m, t.naive_route_m, t.priority, t.created_at, "
        "w.code AS wave, w.pick_mode, w.id AS wave_id, u.display_name AS picker_name, u.username AS picker_username "
        "FROM pick_task t JOIN wave w ON w.id = t.wave LEFT JOIN app_user u ON u.id = t.picker WHERE t.id = {}",
        task_id,
    )
    if row is None:
        raise NotFound("拣货任务不存在", code=PickingError.TASK_NOT_FOUND, field="task_id")
    return row


async def get_task(task_id: int, *, warehouse_id: int | None = None) -> TaskView:
    task = await _task_row(task_id)
    if warehouse_id is not None and task.warehouse != warehouse_id:
        raise NotFound("拣货任务不存在", code=PickingError.TASK_NOT_FOUND, field="task_id")
    rows = await _stop_rows(task_id)
    stops = [_stop(r) for r in rows]
    orders = await PickTaskOrder.select(
        PickTaskOrder.order, PickTaskOrder.tote_slot, PickTaskOrder.status, PickTaskOrder.withdrawn_reason
    ).where(PickTaskOrder.task == task_id).order_by(PickTaskOrder.tote_slot)
    settings = await get_settings(task.warehouse)
    return TaskView(
        id=task.id,
        wave=task.wave,
        wave_id=task.wave_id,
        status=task.status,
        pick_mode=task.pick_mode,
        picker=task.picker_name or task.picker_username,
        route_m=task.route_m,
        naive_route_m=task.naive_route_m,
        orders=[
            TaskOrderView(
                order_id=int(o["order"]),
                tote_slot=int(o["tote_slot"]),
                status=str(o["status"]),
                withdrawn_reason=str(o["withdrawn_reason"]),
            )
            for o in orders
        ],
        stops=stops,
        next_line=_next_line(stops),
        remaining=sum(1 for s in stops if s.status == "pending"),
        remaining_m=await _remaining_m(task.warehouse, task.route_m, rows, settings),
        require_location=settings.require_location_scan,
        picker_id=task.picker,
    )


class _SummaryRow(msgspec.Struct):
    id: int
    status: str
    priority: int
    route_m: float
    created_at: datetime
    wave: str
    wave_id: int
    picker_name: str | None
    picker_username: str | None
    orders: int
    lines: int
    units: int


# Raw SQL: a join with three correlated aggregate subqueries.
_SUMMARY_SQL = (
    "SELECT t.id, t.status, t.priority, t.route_m, t.created_at, w.code AS wave, w.id AS wave_id, "
    "u.display_name AS picker_name, u.username AS picker_username, "
    "(SELECT COUNT(*) FROM pick_task_order p WHERE p.task = t.id AND p.status = 'active') AS orders, "
    "(SELECT COUNT(*) FROM pick_line l WHERE l.task = t.id AND l.status <> 'withdrawn') AS lines, "
    "(SELECT COALESCE(SUM(l.qty), 0) FROM pick_line l WHERE l.task = t.id AND l.status <> 'withdrawn') AS units "
    "FROM pick_task t JOIN wave w ON w.id = t.wave LEFT JOIN app_user u ON u.id = t.picker "
)


def _summary(r: _SummaryRow) -> TaskSummary:
    return TaskSummary(
        id=r.id,
        wave=r.wave,
        wave_id=r.wave_id,
        status=r.status,
        priority=r.priority,
        orders=r.orders,
        lines=r.lines,
        units=r.units,
        route_m=r.route_m,
        picker=r.picker_name or r.picker_username,
        created_at=clock.to_shanghai(r.created_at),
    )


async def list_tasks(
    warehouse_id: int | None,
    *,
    status: str | None = None,
    picker_id: int | None = None,
    wave_id: int | None = None,
    limit: int = 100,
) -> list[TaskSummary]:
    if status is not None and status not in TASK_STATUSES:
        raise ValidationFailed(f"任务状态只能是 {', '.join(TASK_STATUSES)}", field="status")
    where: list[str] = ["1 = 1"]
    args: list[Any] = []
    if warehouse_id is not None:
        where.append("t.warehouse = {}")
        args.append(warehouse_id)
    if status:
        where.append("t.status = {}")
        args.append(status)
    if picker_id is not None:
        where.append("t.picker = {}")
        args.append(picker_id)
    if wave_id is not None:
        where.append("t.wave = {}")
        args.append(wave_id)
    rows = await db.fetch_as(
        _SummaryRow,
        _SUMMARY_SQL + "WHERE " + " AND ".join(where) + " ORDER BY t.priority DESC, t.id LIMIT {}",
        *args,
        min(max(limit, 1), 500),
    )
    return [_summary(r) for r in rows]


async def next_task(session: PdaSession) -> TaskSummary | None:
    """The picker's task in progress, else the most urgent open task of the warehouse (not claimed by this)."""
    mine = await list_tasks(session.warehouse_id, status="claimed", picker_id=session.user_id, limit=1)
    if mine:
        return mine[0]
    row = await db.fetch_one_as(
        _SummaryRow,
        _SUMMARY_SQL + "WHERE t.warehouse = {} AND t.status = 'open' "
        "ORDER BY t.priority DESC, w.cutoff IS NULL, w.cutoff, t.id LIMIT 1",
        session.warehouse_id,
    )
    return _summary(row) if row else None


# ------------------------------------------------------------------------------------- claim and assign


class _OrderStatusRow(msgspec.Struct):
    id: int
    status: str


async def _lock_orders(order_ids: list[int]) -> dict[int, str]:
    """Lock orders (id order) and return their statuses. Everything that changes an order and a pick task takes
    the order first — transition()'s withdrawal hook runs with the order already locked — so a claim, a short pick
    and a cancellation can't deadlock on each other."""
    if not order_ids:
        return {}
    # Raw SQL: FOR UPDATE.
    rows = await db.fetch_as(
        _OrderStatusRow,
        f"SELECT id, status FROM sales_order WHERE id IN ({db.placeholders(len(order_ids))}) ORDER BY id"
        + db.for_update(),
        *sorted(order_ids),
    )
    return {r.id: r.status for r in rows}


async def _drop_from_task(task_id: int, order_id: int, why: str) -> None:
    await PickTaskOrder.update({PickTaskOrder.status: "withdrawn", PickTaskOrder.withdrawn_reason: why[:32]}).where(
        (PickTaskOrder.task == task_id) & (PickTaskOrder.order == order_id) & (PickTaskOrder.status == "active")
    )
    await PickLine.update({PickLine.status: "withdrawn"}).where(
        (PickLine.task == task_id) & (PickLine.order == order_id) & (PickLine.status == "pending")
    )


async def _take(task_id: int, warehouse_id: int, picker_id: int, device: str, *, by: str) -> bool:
    """Give an open task to a picker (inside a transaction). False when none of its orders can still be picked
    (the task is then withdrawn)."""
    now = clock.now()
    members = await PickTaskOrder.select(PickTaskOrder.order).where(
        (PickTaskOrder.task == task_id) & (PickTaskOrder.status == "active")
    )
    statuses = await _lock_orders([int(r["order"]) for r in members])
    updated = await PickTask.update(
        {PickTask.status: "claimed", PickTask.picker: picker_id, PickTask.device: device, PickTask.claimed_at: now}
    ).where(
        (PickTask.id == task_id) & (PickTask.warehouse == warehouse_id) & (PickTask.status == "open")
    ).returning(PickTask.id)
    if not updated:
        task = await _task_row(task_id)
        if task.warehouse != warehouse_id:
            raise NotFound("拣货任务不存在", code=PickingError.TASK_NOT_FOUND, field="task_id")
        if task.status == "claimed" and task.picker == picker_id:
            return True  # already theirs (a replayed claim)
        if task.status == "claimed":
            who = task.picker_name or task.picker_username
            raise Conflict(f"任务已被 {who} 领取", code=PickingError.TASK_TAKEN, field="task_id")
        if task.status == "withdrawn":
            raise Conflict("任务已撤回（订单取消或拦截）", code=PickingError.TASK_WITHDRAWN, field="task_id")
        raise Conflict("任务已完成", code=PickingError.TASK_DONE, field="task_id")
    left = 0
    for order_id, status in statuses.items():
        if status == OrderStatus.READY.value:
            data = {"task": task_id}
            await transition(order_id, OrderStatus.PICKING, expected=OrderStatus.READY, data=data, actor=by)
            left += 1
        elif status == OrderStatus.PICKING.value:
            left += 1  # a split order already being picked in another warehouse
        else:  # left the pick flow without its withdrawal reaching this task (defensive): drop it here
            await _drop_from_task(task_id, order_id, status)
    if left == 0:
        await PickTask.update({PickTask.status: "withdrawn", PickTask.completed_at: now}).where(PickTask.id == task_id)
        return False
    task = await _task_row(task_id)
    publish_floor(
        TaskAssigned(
            task_id=task_id,
            wave=task.wave,
            picker_id=picker_id,
            picker=str(task.picker_name or task.picker_username),
            by="claim" if by.startswith("pda:") else by,
            at=now,
        ),
        warehouse_id,
        picker_id=picker_id,
    )
    return True


_NOTHING_LEFT = "任务中的订单都已取消或拦截，任务已撤回"


async def claim_task(session: PdaSession, task_id: int) -> TaskView:
    """Claim an open task. Two PDAs claiming one task: the conditional UPDATE lets exactly one win."""
    async with db.transaction():
        taken = await _take(
            task_id, session.warehouse_id, session.user_id, session.device, by=f"pda:{session.username}"
        )
    if not taken:
        raise Conflict(_NOTHING_LEFT, code=PickingError.TASK_WITHDRAWN, field="task_id")
    return await get_task(task_id)


async def assign_task(task_id: int, picker_id: int, *, warehouse_id: int | None, actor: str) -> TaskView:
    """A supervisor hands a task to a picker (they hear it on their PDA): an open one, or one claimed by someone
    who left — what was picked stays picked, the new picker goes on from there, the old one hears it withdrawn."""
    from orderhub.auth.tables import User

    user = await User.select(User.id, User.role, User.warehouse, User.active).where(User.id == picker_id).first()
    if user is None or not user["active"]:
        raise NotFound("拣货员不存在或已停用", field="picker")
    task = await _task_row(task_id)
    if warehouse_id is not None and task.warehouse != warehouse_id:
        raise NotFound("拣货任务不存在", code=PickingError.TASK_NOT_FOUND, field="task_id")
    if user["warehouse"] is not None and user["warehouse"] != task.warehouse:
        raise ValidationFailed("该员工不属于任务所在仓库", code=PickingError.WRONG_WAREHOUSE, field="picker")
    if task.status == "claimed" and task.picker not in (None, picker_id):
        await _reassign(task, picker_id, actor=actor)
        return await get_task(task_id)
    async with db.transaction():
        taken = await _take(task_id, task.warehouse, picker_id, "", by=actor)
    if not taken:
        raise Conflict(_NOTHING_LEFT, code=PickingError.TASK_WITHDRAWN, field="task_id")
    return await get_task(task_id)


async def _reassign(task: _TaskRow, picker_id: int, *, actor: str) -> None:
    task_id, previous, warehouse_id = task.id, task.picker, task.warehouse
    assert previous is not None  # a claimed task
    now = clock.now()
    async with db.transaction():
        moved = await PickTask.update({PickTask.picker: picker_id, PickTask.device: ""}).where(
            (PickTask.id == task_id) & (PickTask.status == "claimed") & (PickTask.picker == previous)
        ).returning(PickTask.id)
        if not moved:
            raise Conflict("任务状态已变化，请刷新后重试", code=CommonError.CONCURRENT_UPDATE, field="task_id")
        fresh = await _task_row(task_id)
        publish_floor(
            TaskWithdrawn(
                task_id=task_id, order_ids=[], reason="reassigned", whole=True,
                message=f"任务已由主管转给 {fresh.picker_name or fresh.picker_username}", at=now,
            ),
            warehouse_id,
            picker_id=previous,
        )
        publish_floor(
            TaskAssigned(
                task_id=task_id, wave=fresh.wave, picker_id=picker_id,
                picker=str(fresh.picker_name or fresh.picker_username), by=actor, at=now,
            ),
            warehouse_id,
            picker_id=picker_id,
        )


# ------------------------------------------------------------------------------------------------ scans


class _LineRow(_StopRow):
    """A line as a scan sees it: the stop, its SKU and location ids, its task's owner and status, and how many
    lines of the task are still pending."""

    sku_id: int
    order_line_id: int
    location_id: int | None
    task_status: str
    task_picker: int | None
    task_warehouse: int
    remaining: int
    require_location: bool | None  # the warehouse's require_location_scan (None: no settings row, the default)
    scanned_sku: int | None = None  # the SKU the scanned barcode names (asked for item scans only)
    replay_id: int | None = None  # the scan recorded under this device + client id (asked by the scan's first read)


# The SKU a scanned code names, as a column of the line's query (scans.sku_by_barcode's own lookup).
_SCANNED_SKU = f"({SKU_BY_BARCODE_SQL} LIMIT 1) AS scanned_sku, "
# The replay check, as a column of the line's query (scans.once's own pre-check otherwise).
_REPLAY_ID = f"{REPLAY_ID_SQL}, "


async def _line(
    line_id: int, task_id: int, barcode: str | None = None, *, replay: bool = False, lock: bool = False
) -> _LineRow:
    """The line, its task's owner and status, how many lines of the task are still pending, whether its
    warehouse requires the location scan, given a scanned ``barcode`` the SKU it names and, with ``replay``, the scan
    already recorded under the device and client id :func:`~orderhub.picking.scans.once` runs (one query). ``lock``:
    the line row stays locked until the transaction ends (PostgreSQL; SQLite's write transaction holds it anyway)."""
    # Raw SQL: measured on the scan path (bench.pda); one query for the line, its task, the pending count, the
    # scanned item's SKU and the replay check — every round trip of a scan waits for the CPU again when the box is
    # busy (a peak).
    code = barcode.strip() if barcode is not None else None
    row = await db.fetch_one_as(
        _LineRow,
        f"SELECT {_STOP_COLUMNS}, l.sku AS sku_id, l.order_line AS order_line_id, l.location AS location_id, "
        "t.status AS task_status, t.picker AS task_picker, t.warehouse AS task_warehouse, "
        "(SELECT COUNT(*) FROM pick_line r WHERE r.task = l.task AND r.status = 'pending') AS remaining, "
        + (_SCANNED_SKU if code is not None else "")
        + (_REPLAY_ID if replay else "")
        + "c.require_location_scan AS require_location "
        "FROM pick_line l JOIN pick_task t ON t.id = l.task JOIN sku s ON s.id = l.sku "
        "LEFT JOIN location loc ON loc.id = l.location LEFT JOIN picking_config c ON c.warehouse = t.warehouse "
        "WHERE l.id = {} AND l.task = {}" + (" FOR UPDATE OF l" if lock and not db.is_sqlite() else ""),
        *((code, code) if code is not None else ()),
        *(replay_binds() if replay else ()),
        line_id,
        task_id,
    )
    if row is None:
        if await PickTask.select(PickTask.id).where(PickTask.id == task_id).first() is None:
            raise NotFound("拣货任务不存在", code=PickingError.TASK_NOT_FOUND, field="task_id")
        raise NotFound("任务中没有这一行", code=PickingError.LINE_NOT_FOUND, field="line_id")
    return row


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip().upper() == (b or "").strip().upper()


Applied = tuple[ScanResult, int | None, dict[str, Any] | None]


async def _apply(session: PdaSession, cmd: ScanCommand, line: _LineRow) -> Applied:
    """The scan's effect on the line: the answer, the SKU scanned (for quality figures) and what changed on the
    line ({} nothing; None: read it again)."""
    expected_location = {"location": line.location}
    expected_item = {"sku": line.sku, "name": line.name, "location": line.location}
    if cmd.kind == ScanKind.LOCATION:
        if line.location is not None and not _same(cmd.barcode, line.location):
            return _error(ScanRefusal.WRONG_LOCATION, f"库位不对，应到 {line.location}", expected_location), None, {}
        return ScanResult(ok=True, code=ScanOutcome.OK, message=f"库位正确，请扫描商品 {line.name}"), None, {}

    if cmd.kind == ScanKind.SKIP:
        if line.status == "pending":
            await PickLine.update({PickLine.skipped: PickLine.skipped + 1}).where(PickLine.id == line.id)
        return ScanResult(ok=True, code=ScanOutcome.OK, message="已跳过，稍后回来拣这一行"), None, None

    if cmd.kind == ScanKind.SHORT:
        return await _short(session, cmd, line), None, None

    # ITEM: the location it names is checked on its own — never against an earlier location scan — so an offline
    # queue replayed in any order gets the answers the online scans got.
    # the SKU the barcode names came with the line (_line's scanned_sku), one round trip fewer per item scan
    sku_id = line.scanned_sku
    if line.location is not None and not (cmd.location or "").strip() and line.require_location is not False:
        message = f"请先扫描库位 {line.location}，再扫描商品"
        return _error(ScanRefusal.LOCATION_NOT_SCANNED, message, expected_location), sku_id, {}
    if cmd.location is not None and line.location is not None and not _same(cmd.location, line.location):
        return _error(ScanRefusal.WRONG_LOCATION, f"库位不对，应到 {line.location}", expected_location), sku_id, {}
    if sku_id != line.sku_id:
        what = "未知条码" if sku_id is None else "商品不对"
        wrong = _error(ScanRefusal.WRONG_ITEM, f"{what}，应拣 {line.name}（{line.sku}）", expected_item)
        return wrong, sku_id, {}
    if line.status == "withdrawn":
        return await _withdrawn_scan(line.id, cmd.qty), sku_id, None
    result, changed = _picked_with_row(cmd, line, clock.now())
    return result, sku_id, changed


# An item scan's write to its line (binds: qty, qty, qty, now), and when it applies (binds: qty).
_PICKED_SET = (
    "picked = picked + {}, status = CASE WHEN status = 'pending' AND picked + {} = qty THEN 'picked' ELSE status END, "
    "picked_at = CASE WHEN picked + {} = qty THEN {} ELSE picked_at END"
)
_PICKED_IF = "picked + {} <= qty AND status <> 'withdrawn'"
_PICKED_WITH_ROW = ScanWrite(
    together=f"UPDATE pick_line SET {_PICKED_SET} FROM recorded WHERE pick_line.id = {{}} AND {_PICKED_IF}",
    alone=f"UPDATE pick_line SET {_PICKED_SET} WHERE id = {{}} AND {_PICKED_IF}",
    values=(),
)


def _picked_with_row(cmd: ScanCommand, line: _LineRow, now: datetime) -> tuple[ScanResult, dict[str, Any]]:
    """An item scan on a line read locked in the scan's transaction (``FOR UPDATE`` on PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` holds every row), not withdrawn. The units counted and the line finished as the conditional
    UPDATE will — its outcome known before it runs, so it goes with the scan's row (the same statement on
    PostgreSQL, right after it on SQLite); an over-pick writes nothing. A withdrawal (a cancellation listing the
    picked units for put-back) locks its lines first: the read waits for it and finds the line withdrawn."""
    picked = line.picked + cmd.qty
    if picked > line.qty:
        left = line.qty - line.picked
        message = f"数量超出：这一行还需 {left} 件" if left > 0 else "这一行已拣完，请扫下一行"
        return _error(ScanRefusal.OVER_PICK, message, {"remaining": max(left, 0)}), {}
    values = (cmd.qty, cmd.qty, cmd.qty, now, line.id, cmd.qty)
    if not with_scan_row(msgspec.structs.replace(_PICKED_WITH_ROW, values=values)):
        raise RuntimeError("an item scan's write outside scans.once")
    status = "picked" if line.status == "pending" and picked == line.qty else line.status
    slot = f"，放入 {line.tote_slot} 号格" if line.tote_slot else ""
    message = f"已拣 {picked}/{line.qty}{slot}" if picked < line.qty else f"本行完成 {picked}/{line.qty}{slot}"
    return ScanResult(ok=True, code=ScanOutcome.OK, message=message), {"picked": picked, "status": status}


async def _withdrawn_scan(line_id: int, qty: int) -> ScanResult:
    """An item scanned on a line whose order was withdrawn: counted (it is in the tote), so a reordered replay ends
    in the same state; the picker puts it back at once."""
    # Raw SQL: an UPDATE conditional on the row's own columns (picked + n <= qty).
    await db.execute(
        "UPDATE pick_line SET picked = picked + {} WHERE id = {} AND picked + {} <= qty", qty, line_id, qty
    )
    return ScanResult(ok=True, code=ScanOutcome.LINE_WITHDRAWN, message="该订单已撤回，请把商品放回原库位")


def _error(code: ScanRefusal, message: str, expected: dict[str, Any]) -> ScanResult:
    return ScanResult(ok=False, code=code, message=message, expected=expected)


async def _short(session: PdaSession, cmd: ScanCommand, line: _LineRow) -> ScanResult:
    reason = cmd.reason.strip()
    if not reason:
        raise ValidationFailed("请选择缺货原因", field="reason")
    if line.status in ("picked", "short"):
        return ScanResult(ok=True, code=ScanOutcome.OK, message="这一行已处理")
    withdrawn = ScanResult(ok=True, code=ScanOutcome.LINE_WITHDRAWN, message="该订单已撤回，无需登记缺货")
    if line.status == "withdrawn" or line.task_status != "claimed":
        return withdrawn  # a stale short (offline queue, old screen) must not touch the order's new life
    order_id = line.order
    statuses = await _lock_orders([order_id])
    # Raw SQL: UPDATE … RETURNING id says whether this short marked the line.
    marked = await db.execute_returning(
        db.IdRow,
        "UPDATE pick_line SET status = 'short', short_reason = {} WHERE id = {} AND status = 'pending' RETURNING id",
        reason[:64],
        line.id,
    )
    if not marked:
        return withdrawn
    now = clock.now()
    missing = line.qty - line.picked
    actor = f"pda:{session.username}"
    # The missing units are written off the books (on hand and this order's reservation), so a retry of the order
    # needs stock that is really there; the supervisor's alert asks for a count of the location.
    # Raw SQL: a conditional decrement; RETURNING id says whether the reservation was released.
    released = await db.execute_returning(
        db.IdRow,
        "UPDATE order_line SET reserved_qty = reserved_qty - {} WHERE id = {} AND reserved_qty >= {} RETURNING id",
        missing,
        line.order_line_id,
        missing,
    )
    if released and missing > 0:
        await write_off_reserved(
            line.task_warehouse,
            line.sku_id,
            missing,
            reason=f"拣货缺货（{reason[:40]}），待盘点库位 {line.location or '-'}",
            actor=actor,
        )
    details = {
        "task": cmd.task_id,
        "sku": line.sku,
        "location": line.location,
        "missing": missing,
        "why": reason,
        "written_off": bool(released) and missing > 0,
    }
    await record_event(order_id, OrderEventType.SHORT_PICKED, reason="short_picked", data=details, actor=actor)
    # the notifications hook writes the supervisors' alert with that event, or notes on the order that it found nobody
    alerted = not recorded_in_transaction(order_id, OrderEventType.STAFF_NOT_ALERTED)
    status = statuses.get(order_id)
    if status in (OrderStatus.PICKING.value, OrderStatus.READY.value):
        await transition(
            order_id, OrderStatus.EXCEPTION, expected=OrderStatus(status), reason="short_picked", data=details,
            actor=actor,
        )
    event = ShortPicked(
        task_id=cmd.task_id,
        order_id=order_id,
        sku=line.sku,
        location=line.location,
        missing=missing,
        reason=reason,
        picker=session.name,
        at=now,
    )
    publish_floor(event, session.warehouse_id)
    publish_after_commit(event, Topic.ALERTS)  # the supervisor's alert
    if not alerted:
        nobody = "已登记缺货，订单转异常；未找到可通知的主管，请当面告知"
        return ScanResult(ok=True, code=ScanOutcome.OK, message=nobody)
    return ScanResult(ok=True, code=ScanOutcome.OK, message="已登记缺货，订单转异常，主管已收到提醒")


async def scan(session: PdaSession, cmd: ScanCommand) -> ScanResult:
    """Apply one PDA scan (idempotent per device and client_id: :func:`orderhub.picking.scans.once`)."""
    if cmd.kind not in ScanKind.ALL:
        raise ValidationFailed(f"扫描类型只能是 {', '.join(ScanKind.ALL)}", field="kind")
    if not 1 <= cmd.qty <= 100_000:
        raise ValidationFailed("数量应为 1–100000", field="qty")
    if cmd.kind in (ScanKind.LOCATION, ScanKind.ITEM) and not cmd.barcode.strip():
        raise ValidationFailed("请扫描条码", field="barcode")

    async def apply() -> tuple[ScanResult, ScanRecord]:
        item = cmd.kind == ScanKind.ITEM
        # an item scan's line is locked as it is read: what its write will find is known, so the write goes with
        # the scan's row (_picked_with_row)
        line = await _line(cmd.line_id, cmd.task_id, cmd.barcode if item else None, replay=True, lock=item)
        replayed(line.replay_id)  # a scan recorded already: once answers with its answer, before anything else
        if line.task_warehouse != session.warehouse_id:
            raise NotFound("拣货任务不存在", code=PickingError.TASK_NOT_FOUND, field="task_id")
        if line.task_picker != session.user_id or line.task_status not in ("claimed", "done", "withdrawn"):
            raise PermissionDenied("这不是你的任务，请先领取", code=PickingError.TASK_NOT_CLAIMED)
        result, sku_id, changed = await _apply(session, cmd, line)
        if changed is None:
            after = await _line(cmd.line_id, cmd.task_id)
        else:
            if line.status == "pending" and changed.get("status", line.status) != "pending":
                changed["remaining"] = line.remaining - 1
            after = msgspec.structs.replace(line, **changed)
        result = msgspec.structs.replace(result, line=_stop(after), remaining=after.remaining)
        record = ScanRecord(order_id=line.order, task_id=cmd.task_id, sku_id=sku_id, scanned_at=cmd.scanned_at)
        return result, record

    fingerprint = Fingerprint(kind=cmd.kind, line_id=cmd.line_id, barcode=cmd.barcode, qty=cmd.qty)
    return await once(session, cmd.client_id, ScanResult, fingerprint, apply, checks_replay=True)


# --------------------------------------------------------------------------------------------- complete


async def complete_task(session: PdaSession, task_id: int) -> TaskView:
    async with db.transaction():
        task = await _task_row(task_id)
        if task.warehouse != session.warehouse_id:
            raise NotFound("拣货任务不存在", code=PickingError.TASK_NOT_FOUND, field="task_id")
        if task.picker != session.user_id:
            raise PermissionDenied("这不是你的任务", code=PickingError.TASK_NOT_CLAIMED)
        if task.status == "claimed":
            pending = [s for s in await _stops(task_id) if s.status == "pending"]
            if pending:
                raise Conflict(
                    f"还有 {len(pending)} 行未拣完（可登记缺货或继续拣货）",
                    code=PickingError.TASK_INCOMPLETE,
                    field="task_id",
                    extra={"remaining": [s.line_id for s in pending]},
                )
            now = clock.now()
            done = await PickTask.update({PickTask.status: "done", PickTask.completed_at: now}).where(
                (PickTask.id == task_id) & (PickTask.status == "claimed")
            ).returning(PickTask.id)
            if not done:  # withdrawn meanwhile: nothing to announce
                return await get_task(task_id)
            await _close_wave_if_finished(task.wave_id, now)
            publish_floor(
                TaskCompleted(task_id=task_id, picker_id=session.user_id, at=now),
                session.warehouse_id,
                picker_id=session.user_id,
            )
    return await get_task(task_id)


async def _close_wave_if_finished(wave_id: int, now: datetime) -> None:
    # The wave row first: two tasks finishing at once must not each see the other still open. Raw SQL: FOR UPDATE.
    await db.fetch_as(db.IdRow, "SELECT id FROM wave WHERE id = {}" + db.for_update(), wave_id)
    open_tasks = await PickTask.count().where((PickTask.wave == wave_id) & PickTask.status.is_in(["open", "claimed"]))
    if open_tasks == 0:
        await Wave.update({Wave.status: "done", Wave.completed_at: now}).where(
            (Wave.id == wave_id) & (Wave.status == "released")
        )


# ------------------------------------------------------------------------------------------- withdrawal


class _Held(msgspec.Struct):
    id: int
    task: int
    picker: int | None
    warehouse: int
    wave: int


class _Count(msgspec.Struct):
    n: int


async def withdraw_order(order_id: int, from_status: OrderStatus, to_status: OrderStatus, reason: str | None) -> None:
    """The order left the pick flow: take it out of the open or claimed tasks holding it (inside the caller's
    transaction) and tell the floor. A task with nothing left is withdrawn as a whole. A finished task keeps its
    status, but the order is no longer its (it may be waved again once it is back to ready)."""
    # Raw SQL: an UPDATE filtered by a subquery.
    await db.execute(
        "UPDATE pick_task_order SET status = 'withdrawn', withdrawn_reason = 'after_pick' WHERE \"order\" = {} "
        "AND status = 'active' AND task IN (SELECT id FROM pick_task WHERE status = 'done')",
        order_id,
    )
    # Raw SQL: a filtered join of two tables.
    held = await db.fetch_as(
        _Held,
        "SELECT p.id, p.task, t.picker, t.warehouse, t.wave FROM pick_task_order p JOIN pick_task t ON t.id = p.task "
        "WHERE p.\"order\" = {} AND p.status = 'active' AND t.status IN ('open', 'claimed')",
        order_id,
    )
    why = reason or to_status.value
    if to_status == OrderStatus.CANCELLED:
        why = "cancelled"
    now = clock.now()
    for row in held:
        task_id = row.task
        await PickTaskOrder.update(
            {PickTaskOrder.status: "withdrawn", PickTaskOrder.withdrawn_reason: why[:32]}
        ).where(PickTaskOrder.id == row.id)
        await PickLine.update({PickLine.status: "withdrawn"}).where(
            (PickLine.task == task_id) & (PickLine.order == order_id) & (PickLine.status == "pending")
        )
        left = await PickTaskOrder.count().where((PickTaskOrder.task == task_id) & (PickTaskOrder.status == "active"))
        whole = left == 0
        if whole:
            await PickTask.update({PickTask.status: "withdrawn", PickTask.completed_at: now}).where(
                (PickTask.id == task_id) & PickTask.status.is_in(list(ACTIVE))
            )
            await _close_wave_if_finished(row.wave, now)
        await record_event(
            order_id, OrderEventType.PICK_WITHDRAWN, reason=why[:64], data={"task": task_id, "whole_task": whole}
        )
        # Raw SQL: COALESCE over an aggregate.
        picked = await db.fetch_as(
            _Count,
            "SELECT COALESCE(SUM(picked), 0) AS n FROM pick_line WHERE task = {} AND \"order\" = {}",
            task_id,
            order_id,
        )
        message = _WITHDRAW_MESSAGES.get(why, "订单已从任务中撤回")
        if picked[0].n > 0:
            message += "，已拣商品请放回原库位"
        publish_floor(
            TaskWithdrawn(task_id=task_id, order_ids=[order_id], reason=why, whole=whole, message=message, at=now),
            row.warehouse,
            picker_id=row.picker,
        )


