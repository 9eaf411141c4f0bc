"""Reading approvals: a person's inbox (pending for me, copied to me, done by me, requested by me) a page at a time,
a request with its tasks and its trail, the requests about an order, and the ``approvals:{user_id}`` feed topic's
snapshot."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from orderhub import db, feed
from orderhub.approvals import audit
from orderhub.approvals.errors import ApprovalError
from orderhub.errors import NotFound, ValidationFailed
from orderhub.orders import pii

__all__ = [
    "Box",
    "InboxItem",
    "InboxPage",
    "RequestView",
    "TaskView",
    "feed_snapshot",
    "get_request",
    "inbox",
    "inbox_counts",
    "list_requests",
]

Box = Literal["pending", "cc", "done", "mine"]
BOXES: tuple[str, ...] = ("pending", "cc", "done", "mine")
_BOX_WHERE: dict[str, str] = {  # the task boxes; ``mine`` lists requests (:func:`_mine`)
    "pending": "t.role = 'approver' AND t.status = 'pending'",
    "cc": "t.role = 'cc'",
    "done": "t.role = 'approver' AND t.status IN ('approved', 'rejected', 'transferred')",
}


class InboxItem(msgspec.Struct, frozen=True, kw_only=True):
    task_id: int | None  # None in ``mine``: a request of the caller's, not a task
    request_id: int
    kind: str
    title: str
    reason: str
    amount: int  # fen
    order_id: int | None
    request_status: str
    task_status: str
    role: str  # approver, cc; requester (``mine``)
    step: int
    step_name: str
    requester_name: str
    due_at: datetime | None
    created_at: datetime  # the task's (``mine``: the request's)
    decided_at: datetime | None  # the task's (``mine``: the request's)
    waiting_on: list[str] = []  # ``mine``, pending: the names of those whose decision the current step waits for


class InboxPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[InboxItem]
    next_cursor: str | None  # pass back as ``cursor`` for the next page; None: the last page


class _ItemRow(msgspec.Struct, kw_only=True):
    task_id: int
    request_id: int
    kind: str
    title: str
    reason: str
    amount: int
    order_id: int | None
    request_status: str
    task_status: str
    role: str
    step: int
    step_name: str
    requester_name: str
    due_at: datetime | None
    created_at: datetime
    decided_at: datetime | None


_ITEM_SELECT = (
    "SELECT t.id AS task_id, r.id AS request_id, r.kind, r.title, r.reason, r.amount, r.order_id, "
    "r.status AS request_status, t.status AS task_status, t.role, t.step, t.step_name, r.requester_name, t.due_at, "
    "t.created_at, t.decided_at FROM approval_task t JOIN approval_request r ON r.id = t.request"
)


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise ValidationFailed(ApprovalError.APPROVAL_BAD_CURSOR, field="cursor")
    return int(cursor)


async def inbox(user_id: int, box: Box = "pending", *, cursor: str | None = None, limit: int = 20) -> InboxPage:
    """One person's approvals, newest first: ``pending`` — tasks waiting for their decision; ``cc`` — copied to
    them (知会); ``done`` — decided (or handed on) by them; ``mine`` — the requests they opened (我发起的), whatever
    their status, with the current step and whom it waits for. A page at a time, keyset on the task's id (the
    request's in ``mine``)."""
    if box not in BOXES:
        raise ValidationFailed("box 只能是 pending、cc、done 或 mine", field="box")
    limit = max(1, min(limit, 100))
    before = _cursor(cursor)
    if box == "mine":
        return await _mine(user_id, before, limit)
    where = f" WHERE t.assignee = {{}} AND {_BOX_WHERE[box]}"
    args: list[Any] = [user_id]
    if before is not None:
        where += " AND t.id < {}"
        args.append(before)
    rows = await db.fetch_as(_ItemRow, _ITEM_SELECT + where + " ORDER BY t.id DESC LIMIT {}", *args, limit + 1)
    items = [InboxItem(**msgspec.structs.asdict(r)) for r in rows[:limit]]
    return InboxPage(items=items, next_cursor=str(items[-1].task_id) if len(rows) > limit else None)


class _MineRow(msgspec.Struct, kw_only=True):
    request_id: int
    kind: str
    title: str
    reason: str
    amount: int
    order_id: int | None
    request_status: str
    step: int
    requester_name: str
    created_at: datetime
    decided_at: datetime | None


class _StepTask(msgspec.Struct, kw_only=True):
    request: int
    step: int
    step_name: str
    assignee_name: str
    status: str
    due_at: datetime | None


async def _mine(user_id: int, before: int | None, limit: int) -> InboxPage:
    """The requests the person opened, newest first; each with its current step's name and, while pending, the
    people that step waits for and their earliest time limit (one read of the page's approver tasks)."""
    where = " WHERE requester = {}"
    args: list[Any] = [user_id]
    if before is not None:
        where += " AND id < {}"
        args.append(before)
    rows = await db.fetch_as(
        _MineRow,
        "SELECT id AS request_id, kind, title, reason, amount, order_id, status AS request_status, step, "
        "requester_name, created_at, decided_at FROM approval_request" + where + " ORDER BY id DESC LIMIT {}",
        *args,
        limit + 1,
    )
    page = rows[:limit]
    tasks: dict[int, list[_StepTask]] = {}
    for chunk in db.chunks([r.request_id for r in page]):
        for t in await db.fetch_as(
            _StepTask,
            "SELECT request, step, step_name, assignee_name, status, due_at FROM approval_task "
            f"WHERE role = 'approver' AND request IN ({db.placeholders(len(chunk))}) ORDER BY id",
            *chunk,
        ):
            tasks.setdefault(t.request, []).append(t)
    items: list[InboxItem] = []
    for r in page:
        at_step = [t for t in tasks.get(r.request_id, []) if t.step == r.step]
        waiting = [t for t in at_step if t.status == "pending"] if r.request_status == "pending" else []
        dues = [t.due_at for t in waiting if t.due_at is not None]
        items.append(
            InboxItem(
                task_id=None,
                request_id=r.request_id,
                kind=r.kind,
                title=r.title,
                reason=r.reason,
                amount=r.amount,
                order_id=r.order_id,
                request_status=r.request_status,
                task_status="",
                role="requester",
                step=r.step,
                step_name=at_step[0].step_name if at_step else "",
                requester_name=r.requester_name,
                due_at=min(dues) if dues else None,
                created_at=r.created_at,
                decided_at=r.decided_at,
                waiting_on=list(dict.fromkeys(t.assignee_name for t in waiting)),
            )
        )
    return InboxPage(items=items, next_cursor=str(page[-1].request_id) if len(rows) > limit else None)


class _Count(msgspec.Struct):
    role: str
    n: int


async def inbox_counts(user_id: int) -> dict[str, int]:
    """How many tasks wait for the person's decision, how many copies they got, and how many of the requests they
    opened are still pending (one statement)."""
    rows = await db.fetch_as(
        _Count,
        "SELECT role, COUNT(*) AS n FROM approval_task WHERE assignee = {} AND "
        "((role = 'approver' AND status = 'pending') OR role = 'cc') GROUP BY role "
        "UNION ALL SELECT 'requester' AS role, COUNT(*) AS n FROM approval_request "
        "WHERE requester = {} AND status = 'pending'",
        user_id,
        user_id,
    )
    counts = {r.role: r.n for r in rows}
    return {"pending": counts.get("approver", 0), "cc": counts.get("cc", 0), "mine": counts.get("requester", 0)}


class TaskView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    step: int
    step_name: str
    slot: int
    seq: int
    role: str
    assignee_id: int
    assignee_name: str
    status: str
    origin: str
    origin_task: int | None
    escalation: int
    due_at: datetime | None
    comment: str
    decided_at: datetime | None
    created_at: datetime


class RequestView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: str
    title: str
    reason: str
    amount: int
    order_id: int | None
    status: str
    step: int
    flow_code: str
    flow_version: int  # the version's number
    flow_version_id: int
    payload: dict[str, Any]
    requester_id: int | None
    requester_name: str
    outcome_reason: str
    decided_by_id: int | None
    decided_by_name: str
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime
    tasks: list[TaskView] = []
    trail: list[audit.AuditEntry] = []
    warehouse_id: int | None = None  # where it belongs (the order's warehouse, the stock's), as opened
    runs_in: str = "hub"  # "wecom_oa": decided in WeCom's 审批 app (people act there, not in the hub)
    wecom_sp_no: str | None = None  # its approval number there, once submitted


class _ReqRow(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    title: str
    reason: str
    amount: int
    order_id: int | None
    status: str
    step: int
    flow_code: str
    version_no: int
    flow_version: int
    payload: str
    requester: int | None
    requester_name: str
    outcome_reason: str
    decided_by: int | None
    decided_by_name: str
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime
    warehouse: int | None = None
    sp_no: str | None = None
    native: bool = False


class _TaskRow(msgspec.Struct, kw_only=True):
    id: int
    step: int
    step_name: str
    slot: int
    seq: int
    role: str
    assignee: int
    assignee_name: str
    status: str
    origin: str
    origin_task: int | None
    escalation: int
    due_at: datetime | None
    comment: str
    decided_at: datetime | None
    created_at: datetime


_REQ_SELECT = (
    "SELECT id, kind, title, reason, amount, order_id, status, step, flow_code, version_no, flow_version, payload, "
    "requester, requester_name, outcome_reason, decided_by, decided_by_name, decided_at, created_at, updated_at, "
    "warehouse, sp_no, EXISTS (SELECT 1 FROM approval_oa o WHERE o.request = approval_request.id) AS native "
    "FROM approval_request"
)


def _request_view(row: _ReqRow, tasks: list[TaskView], trail: list[audit.AuditEntry]) -> RequestView:
    return RequestView(
        id=row.id,
        kind=row.kind,
        title=row.title,
        reason=row.reason,
        amount=row.amount,
        order_id=row.order_id,
        status=row.status,
        step=row.step,
        flow_code=row.flow_code,
        flow_version=row.version_no,
        flow_version_id=row.flow_version,
        payload=pii.masked(msgspec.json.decode(row.payload)),  # a sealed receiver shown masked
        requester_id=row.requester,
        requester_name=row.requester_name,
        outcome_reason=row.outcome_reason,
        decided_by_id=row.decided_by,
        decided_by_name=row.decided_by_name,
        decided_at=row.decided_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        tasks=tasks,
        trail=trail,
        warehouse_id=row.warehouse,
        runs_in="wecom_oa" if row.native else "hub",
        wecom_sp_no=row.sp_no,
    )


async def get_request(request_id: int, *, trail: bool = True) -> RequestView:
    """The request, every task of it (in step, slot, order), and its audit trail (oldest first)."""
    row = await db.fetch_one_as(_ReqRow, _REQ_SELECT + " WHERE id = {}", request_id)
    if row is None:
        raise NotFound(ApprovalError.APPROVAL_NOT_FOUND, field="request_id")
    tasks = await db.fetch_as(
        _TaskRow,
        "SELECT id, step, step_name, slot, seq, role, assignee, assignee_name, status, origin, origin_task, "
        "escalation, due_at, comment, decided_at, created_at FROM approval_task WHERE request = {} "
        "ORDER BY step, role, slot, seq, id",
        request_id,
    )
    entries: list[audit.AuditEntry] = []
    if trail:
        after = 0
        while True:
            page = await audit.export(request_id, after_id=after)
            entries += page.entries
            if page.next_after is None:
                break
            after = page.next_after
    views = [
        TaskView(
            id=t.id,
            step=t.step,
            step_name=t.step_name,
            slot=t.slot,
            seq=t.seq,
            role=t.role,
            assignee_id=t.assignee,
            assignee_name=t.assignee_name,
            status=t.status,
            origin=t.origin,
            origin_task=t.origin_task,
            escalation=t.escalation,
            due_at=t.due_at,
            comment=t.comment,
            decided_at=t.decided_at,
            created_at=t.created_at,
        )
        for t in tasks
    ]
    return _request_view(row, views, entries)


async def list_requests(
    *,
    order_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
    involving: int | None = None,
    or_warehouse: int | None = None,
    requester: int | None = None,
) -> list[RequestView]:
    """Requests, newest first (without tasks and trail), filtered by order, status, kind, requester; with ``involving``,
    only those the user takes part in (requester, or a task of theirs: approver or copied) — or, with
    ``or_warehouse``, that belong to that warehouse."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in (("order_id", order_id), ("status", status), ("kind", kind), ("requester", requester)):
        if value is not None:
            where.append(f"{column} = {{}}")
            args.append(value)
    if involving is not None:
        seen = "requester = {} OR id IN (SELECT request FROM approval_task WHERE assignee = {})"
        args += [involving, involving]
        if or_warehouse is not None:
            seen += " OR warehouse = {}"
            args.append(or_warehouse)
        where.append(f"({seen})")
    if before_id is not None:
        where.append("id < {}")
        args.append(before_id)
    sql = _REQ_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT {}"
    rows = await db.fetch_as(_ReqRow, sql, *args, max(1, min(limit, 200)))
    return [_request_view(r, [], []) for r in rows]


async def feed_snapshot(viewer: feed.Viewer, arg: str | None) -> dict[str, Any]:
    """``approvals:{user_id}``: the person's counts and their first page of pending tasks."""
    page = await inbox(viewer.id, "pending")
    return {"counts": await inbox_counts(viewer.id), "pending": msgspec.to_builtins(page)}
