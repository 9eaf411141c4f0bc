"""Approval metrics for the managers' dashboards (issue 17 item 7, docs/dashboards.md#审批--approvals): per flow and
per step, for an Asia/Shanghai day and optionally some warehouses — requests opened and closed, how long deciding
took (p50 / p90), what is pending now, what has run past its time limit, and escalations.

The insights context reads the approvals' tables with plain SQL (it imports nothing of ``orderhub.approvals``: the
two contexts are siblings). Counts are grouped in SQL; cycle-time percentiles are computed here from the day's
decided rows, at most :data:`MAX_ROWS` of them (the latest; ``sampled`` says when there were more). Every query is
bounded by an index: requests by ``created_at`` / ``decided_at`` / ``status``, tasks by ``created_at`` /
``decided_at`` or through their pending requests, the trail through its pending requests.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.insights import queries

__all__ = [
    "MAX_ROWS",
    "ApprovalBoard",
    "ApprovalFigures",
    "ApprovalSummary",
    "FlowFigures",
    "SlowFlow",
    "StepFigures",
    "WarehouseApprovals",
    "board",
    "overdue_tasks",
    "percentile",
    "summary",
    "warehouse_counts",
]

MAX_ROWS = 10_000  # decided requests (and tasks) whose times make the day's percentiles; the latest ones
SLOWEST = 3  # flows the strategic board names as the slowest
CLOSED = ("approved", "rejected", "withdrawn", "cancelled")
# Trail entries that say a pending task ran past its time limit and stayed with its holder (nobody to escalate to:
# re-armed; or the final action's effect was refused: tried again later). Their data names the task.
_KEPT_ACTIONS = ("kept_waiting", "expiry_failed")


# -- shapes ------------------------------------------------------------------------------------------------------


class ApprovalFigures(msgspec.Struct, kw_only=True):
    """Figures of a set of requests (a flow, or all of them)."""

    opened: int = 0  # requests opened in the day
    approved: int = 0  # requests closed in the day, by outcome
    rejected: int = 0
    withdrawn: int = 0
    cancelled: int = 0
    closed: int = 0  # approved + rejected + withdrawn + cancelled
    decided: int = 0  # approved + rejected: the decisions whose cycle time is measured
    expired: int = 0  # of those, decided by the hub when a time limit ran out (auto-approve / auto-reject)
    cycle_p50_s: int | None = None  # opened → decided, of the day's decisions (nearest rank)
    cycle_p90_s: int | None = None
    pending: int = 0  # requests pending now
    overdue: int = 0  # pending requests with a task past its time limit now
    escalations: int = 0  # tasks escalated to the holder's manager in the day


class StepFigures(msgspec.Struct, kw_only=True):
    """One step of a flow (its index in the flow's steps and its name)."""

    step: int
    name: str
    opened: int = 0  # approver tasks created in the day (from the flow, 加签, 转交, escalation)
    approved: int = 0  # approver tasks decided in the day
    rejected: int = 0
    cycle_p50_s: int | None = None  # task created → decided, of the day's decided tasks
    cycle_p90_s: int | None = None
    pending: int = 0  # approver tasks pending now
    overdue: int = 0  # of those, past their time limit
    escalations: int = 0  # escalation tasks created in the day


class FlowFigures(ApprovalFigures, kw_only=True):
    flow_id: int
    code: str
    name: str
    steps: list[StepFigures] = []


class ApprovalBoard(msgspec.Struct, kw_only=True):
    day: date
    as_of: datetime
    warehouse_id: int | None  # the one warehouse the figures cover; null: every request (or several warehouses)
    totals: ApprovalFigures
    flows: list[FlowFigures]
    sampled: bool  # more than MAX_ROWS decisions in the day: cycle times are of the latest MAX_ROWS


class SlowFlow(msgspec.Struct, kw_only=True):
    flow_id: int
    code: str
    name: str
    decided: int
    cycle_p50_s: int | None
    cycle_p90_s: int | None


class ApprovalSummary(msgspec.Struct, kw_only=True):
    """The strategic board's approvals card: hub-wide."""

    pending: int
    overdue: int
    escalations: int
    decided: int
    cycle_p50_s: int | None
    cycle_p90_s: int | None
    slowest: list[SlowFlow]  # the flows with the longest median cycle time of the day, slowest first


class WarehouseApprovals(msgspec.Struct, kw_only=True):
    """The tactical board's approvals figures of one warehouse: its requests pending now, and overdue."""

    pending: int
    overdue: int


# -- rows ---------------------------------------------------------------------------------------------------------


class _FlowCount(msgspec.Struct):
    flow: int
    n: int


class _Closed(msgspec.Struct):
    flow: int
    status: str
    n: int
    expired: int | None


class _Cycle(msgspec.Struct):
    flow: int
    created_at: datetime
    decided_at: datetime


class _StepCount(msgspec.Struct):
    flow: int
    step: int
    step_name: str
    opened: int
    escalations: int | None


class _StepDecided(msgspec.Struct):
    flow: int
    step: int
    step_name: str
    status: str
    n: int


class _StepCycle(msgspec.Struct):
    flow: int
    step: int
    step_name: str
    created_at: datetime
    decided_at: datetime


class _StepPending(msgspec.Struct):
    flow: int
    step: int
    step_name: str
    n: int


class _Late(msgspec.Struct):
    id: int
    request: int
    flow: int
    step: int
    step_name: str
    warehouse: int | None


class _Entry(msgspec.Struct):
    entry: str


class _EntryData(msgspec.Struct):
    data: dict[str, Any] = {}


class _Named(msgspec.Struct):
    id: int
    code: str
    name: str


class _WarehouseCount(msgspec.Struct):
    warehouse: int
    n: int


_Key = tuple[int, int, str]  # flow, step, step name


# -- arithmetic ----------------------------------------------------------------------------------------------------


def percentile(values: Sequence[int], p: float) -> int | None:
    """The nearest-rank ``p`` percentile (0 < p ≤ 1) of ``values``: the smallest value with at least ``p`` of them
    at or below it; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))


# -- reads ---------------------------------------------------------------------------------------------------------


def _scope(column: str, warehouse_ids: Sequence[int] | None, where: list[str], args: list[Any]) -> None:
    queries.scope_filter(column, warehouse_ids, where, args)


async def _opened(start: datetime, end: datetime, scope: Sequence[int] | None) -> list[_FlowCount]:
    where, args = ["created_at >= {}", "created_at < {}"], [start, end]
    _scope("warehouse", scope, where, args)
    return await db.fetch_as(
        _FlowCount, f"SELECT flow, COUNT(*) AS n FROM approval_request WHERE {' AND '.join(where)} GROUP BY flow", *args
    )


async def _closed(start: datetime, end: datetime, scope: Sequence[int] | None) -> list[_Closed]:
    # Expired: decided by the hub (no person: decided_by null) after it opened — a step's time limit ran out and
    # its final action approved or rejected. (A request no step applies to is approved by the hub as it opens.)
    where, args = ["decided_at >= {}", "decided_at < {}"], [start, end]
    _scope("warehouse", scope, where, args)
    return await db.fetch_as(
        _Closed,
        "SELECT flow, status, COUNT(*) AS n, SUM(CASE WHEN decided_by IS NULL AND status IN ('approved', 'rejected') "
        f"AND decided_at > created_at THEN 1 ELSE 0 END) AS expired FROM approval_request WHERE {' AND '.join(where)} "
        "GROUP BY flow, status",
        *args,
    )


async def _cycles(start: datetime, end: datetime, scope: Sequence[int] | None) -> list[_Cycle]:
    where, args = ["decided_at >= {}", "decided_at < {}", "status IN ('approved', 'rejected')"], [start, end]
    _scope("warehouse", scope, where, args)
    return await db.fetch_as(
        _Cycle,
        f"SELECT flow, created_at, decided_at FROM approval_request WHERE {' AND '.join(where)} "
        "ORDER BY decided_at DESC LIMIT {}",
        *args,
        MAX_ROWS + 1,
    )


_STEP = "r.flow, t.step, t.step_name"
_TASKS = "approval_task t JOIN approval_request r ON r.id = t.request"


async def _step_counts(start: datetime, end: datetime, scope: Sequence[int] | None) -> list[_StepCount]:
    where, args = ["t.created_at >= {}", "t.created_at < {}", "t.role = 'approver'"], [start, end]
    _scope("r.warehouse", scope, where, args)
    return await db.fetch_as(
        _StepCount,
        f"SELECT {_STEP}, COUNT(*) AS opened, SUM(CASE WHEN t.origin = 'escalation' THEN 1 ELSE 0 END) AS escalations "
        f"FROM {_TASKS} WHERE {' AND '.join(where)} GROUP BY {_STEP}",
        *args,
    )


def _decided_where(start: datetime, end: datetime, scope: Sequence[int] | None) -> tuple[list[str], list[Any]]:
    where = ["t.decided_at >= {}", "t.decided_at < {}", "t.role = 'approver'", "t.status IN ('approved', 'rejected')"]
    args: list[Any] = [start, end]
    _scope("r.warehouse", scope, where, args)
    return where, args


async def _step_decided(start: datetime, end: datetime, scope: Sequence[int] | None) -> list[_StepDecided]:
    where, args = _decided_where(start, end, scope)
    return await db.fetch_as(
        _StepDecided,
        f"SELECT {_STEP}, t.status, COUNT(*) AS n FROM {_TASKS} WHERE {' AND '.join(where)} GROUP BY {_STEP}, t.status",
        *args,
    )


async def _step_cycles(start: datetime, end: datetime, scope: Sequence[int] | None) -> list[_StepCycle]:
    where, args = _decided_where(start, end, scope)
    return await db.fetch_as(
        _StepCycle,
        f"SELECT {_STEP}, t.created_at, t.decided_at FROM {_TASKS} WHERE {' AND '.join(where)} "
        "ORDER BY t.decided_at DESC LIMIT {}",
        *args,
        MAX_ROWS + 1,
    )


def _pending_where(scope: Sequence[int] | None) -> tuple[list[str], list[Any]]:
    where = ["r.status = 'pending'", "t.status = 'pending'", "t.role = 'approver'"]
    args: list[Any] = []
    _scope("r.warehouse", scope, where, args)
    return where, args


async def _pending_requests(scope: Sequence[int] | None) -> list[_FlowCount]:
    where: list[str] = ["status = 'pending'"]
    args: list[Any] = []
    _scope("warehouse", scope, where, args)
    return await db.fetch_as(
        _FlowCount, f"SELECT flow, COUNT(*) AS n FROM approval_request WHERE {' AND '.join(where)} GROUP BY flow", *args
    )


async def _pending_tasks(scope: Sequence[int] | None) -> list[_StepPending]:
    where, args = _pending_where(scope)
    return await db.fetch_as(
        _StepPending, f"SELECT {_STEP}, COUNT(*) AS n FROM {_TASKS} WHERE {' AND '.join(where)} GROUP BY {_STEP}", *args
    )


_LATE_COLUMNS = f"t.id, t.request, {_STEP}, r.warehouse"


async def overdue_tasks(scope: Sequence[int] | None, now: datetime) -> list[_Late]:
    """Pending approver tasks (of pending requests) that have run past their step's time limit now: their ``due_at``
    has come and the expiry sweep has not acted yet; or they reached their holder by escalation (the limit ran out
    before them); or the sweep kept them with their holder past the limit (nobody above: ``kept_waiting``, or the
    final action refused: ``expiry_failed``). The sweep acts within seconds of a limit, so ``due_at`` alone would
    almost never show anything overdue. At most :data:`MAX_ROWS` of each kind."""
    where, args = _pending_where(scope)
    late_read = db.fetch_as(
        _Late,
        f"SELECT {_LATE_COLUMNS} FROM {_TASKS} WHERE {' AND '.join(where)} "
        "AND (t.due_at <= {} OR t.escalation > 0) ORDER BY t.id LIMIT {}",
        *args,
        now,
        MAX_ROWS,
    )
    kept_where = ["r.status = 'pending'", f"a.action IN ({db.placeholders(len(_KEPT_ACTIONS))})"]
    kept_args: list[Any] = [*_KEPT_ACTIONS]
    _scope("r.warehouse", scope, kept_where, kept_args)
    kept_read = db.fetch_as(
        _Entry,
        "SELECT a.entry FROM approval_audit a JOIN approval_request r ON r.id = a.request "
        f"WHERE {' AND '.join(kept_where)} ORDER BY a.id DESC LIMIT {{}}",
        *kept_args,
        MAX_ROWS,
    )
    late, kept = await db.read_together(late_read, kept_read)
    seen = {t.id for t in late}
    kept_ids: set[int] = set()
    for row in kept:
        try:
            task = msgspec.json.decode(row.entry, type=_EntryData).data.get("task")
        except msgspec.DecodeError:
            continue
        if isinstance(task, int) and task not in seen:
            kept_ids.add(task)
    found = list(late)
    ids = sorted(kept_ids)
    for chunk in db.chunks(ids):
        found += await db.fetch_as(
            _Late,
            f"SELECT {_LATE_COLUMNS} FROM {_TASKS} WHERE {' AND '.join(where)} "
            f"AND t.id IN ({db.placeholders(len(chunk))})",
            *args,
            *chunk,
        )
    return found


async def _flow_names(ids: Sequence[int]) -> dict[int, _Named]:
    values = sorted(set(ids))
    found: dict[int, _Named] = {}
    for chunk in db.chunks(values):
        rows = await db.fetch_as(
            _Named, f"SELECT id, code, name FROM approval_flow WHERE id IN ({db.placeholders(len(chunk))})", *chunk
        )
        found.update((r.id, r) for r in rows)
    return found


# -- the board -----------------------------------------------------------------------------------------------------


async def board(day: date, warehouse_ids: Sequence[int] | None, *, now: datetime | None = None) -> ApprovalBoard:
    """Per flow and per step, the approvals of ``day`` (today: until now) in the warehouses (``None``: every
    request, also those of no warehouse): opened, closed by outcome, cycle times, pending and overdue now,
    escalations. docs/dashboards.md#审批--approvals says how each is computed."""
    now = now or clock.now()
    start, end = queries.day_window(day, day)
    end = min(end, now)
    (
        opened,
        closed,
        cycles,
        step_counts,
        step_decided,
        step_cycles,
        pending_requests,
        pending_tasks,
        late,
    ) = await db.read_together(
        _opened(start, end, warehouse_ids),
        _closed(start, end, warehouse_ids),
        _cycles(start, end, warehouse_ids),
        _step_counts(start, end, warehouse_ids),
        _step_decided(start, end, warehouse_ids),
        _step_cycles(start, end, warehouse_ids),
        _pending_requests(warehouse_ids),
        _pending_tasks(warehouse_ids),
        overdue_tasks(warehouse_ids, now),
    )
    sampled = len(cycles) > MAX_ROWS or len(step_cycles) > MAX_ROWS
    cycles, step_cycles = cycles[:MAX_ROWS], step_cycles[:MAX_ROWS]

    flows: dict[int, ApprovalFigures] = defaultdict(ApprovalFigures)
    steps: dict[_Key, StepFigures] = {}
    flow_seconds: dict[int, list[int]] = defaultdict(list)
    step_seconds: dict[_Key, list[int]] = defaultdict(list)

    def step_of(key: _Key) -> StepFigures:
        figures = steps.get(key)
        if figures is None:
            figures = steps[key] = StepFigures(step=key[1], name=key[2])
            _ = flows[key[0]]  # the flow shows even when only one of its steps has figures
        return figures

    for o in opened:
        flows[o.flow].opened += o.n
    for c in closed:
        f = flows[c.flow]
        if c.status in CLOSED:
            setattr(f, c.status, getattr(f, c.status) + c.n)
        f.expired += c.expired or 0
    for cy in cycles:
        flow_seconds[cy.flow].append(_seconds(cy.created_at, cy.decided_at))
    for sc in step_counts:
        s = step_of((sc.flow, sc.step, sc.step_name))
        s.opened += sc.opened
        s.escalations += sc.escalations or 0
        flows[sc.flow].escalations += sc.escalations or 0
    for sd in step_decided:
        s = step_of((sd.flow, sd.step, sd.step_name))
        if sd.status == "approved":
            s.approved += sd.n
        elif sd.status == "rejected":
            s.rejected += sd.n
    for st in step_cycles:
        step_seconds[(st.flow, st.step, st.step_name)].append(_seconds(st.created_at, st.decided_at))
    for pr in pending_requests:
        flows[pr.flow].pending += pr.n
    for pt in pending_tasks:
        step_of((pt.flow, pt.step, pt.step_name)).pending += pt.n
    overdue_requests: dict[int, set[int]] = defaultdict(set)
    for lt in late:
        step_of((lt.flow, lt.step, lt.step_name)).overdue += 1
        overdue_requests[lt.flow].add(lt.request)
    for flow_id, requests in overdue_requests.items():
        flows[flow_id].overdue = len(requests)
    for key, values in step_seconds.items():
        s = step_of(key)
        s.cycle_p50_s, s.cycle_p90_s = percentile(values, 0.5), percentile(values, 0.9)

    names = await _flow_names(list(flows))
    totals = ApprovalFigures()
    result: list[FlowFigures] = []
    for flow_id, f in flows.items():
        f.closed = f.approved + f.rejected + f.withdrawn + f.cancelled
        f.decided = f.approved + f.rejected
        seconds = flow_seconds.get(flow_id, [])
        f.cycle_p50_s, f.cycle_p90_s = percentile(seconds, 0.5), percentile(seconds, 0.9)
        for field in (
            "opened",
            "approved",
            "rejected",
            "withdrawn",
            "cancelled",
            "closed",
            "decided",
            "expired",
            "pending",
            "overdue",
            "escalations",
        ):
            setattr(totals, field, getattr(totals, field) + getattr(f, field))
        named = names.get(flow_id)
        result.append(
            FlowFigures(
                **msgspec.structs.asdict(f),
                flow_id=flow_id,
                code=named.code if named else f"#{flow_id}",
                name=named.name if named else "",
                steps=sorted((s for k, s in steps.items() if k[0] == flow_id), key=lambda s: (s.step, s.name)),
            )
        )
    every = [s for values in flow_seconds.values() for s in values]
    totals.cycle_p50_s, totals.cycle_p90_s = percentile(every, 0.5), percentile(every, 0.9)
    result.sort(key=lambda f: f.code)
    single = warehouse_ids[0] if warehouse_ids is not None and len(warehouse_ids) == 1 else None
    return ApprovalBoard(day=day, as_of=now, warehouse_id=single, totals=totals, flows=result, sampled=sampled)


async def summary(day: date, *, now: datetime | None = None) -> ApprovalSummary:
    """The strategic board's card, hub-wide: requests pending and overdue now, escalations and decisions of the
    day, the median (and p90) cycle time, and the :data:`SLOWEST` flows by median cycle time."""
    full = await board(day, None, now=now)
    t = full.totals
    timed = [f for f in full.flows if f.cycle_p50_s is not None]
    timed.sort(key=lambda f: (-(f.cycle_p50_s or 0), -(f.cycle_p90_s or 0), f.code))
    return ApprovalSummary(
        pending=t.pending,
        overdue=t.overdue,
        escalations=t.escalations,
        decided=t.decided,
        cycle_p50_s=t.cycle_p50_s,
        cycle_p90_s=t.cycle_p90_s,
        slowest=[
            SlowFlow(
                flow_id=f.flow_id,
                code=f.code,
                name=f.name,
                decided=f.decided,
                cycle_p50_s=f.cycle_p50_s,
                cycle_p90_s=f.cycle_p90_s,
            )
            for f in timed[:SLOWEST]
        ],
    )


async def warehouse_counts(warehouse_ids: Sequence[int], now: datetime | None = None) -> dict[int, WarehouseApprovals]:
    """Per warehouse, its requests pending now and, of those, the overdue ones (a task past its time limit: see
    :func:`overdue_tasks`). One grouped query per chunk of warehouses, and the overdue tasks of them all."""
    now = now or clock.now()
    ids = sorted(set(warehouse_ids))
    pending: dict[int, int] = {}
    late: list[_Late] = []
    for chunk in db.chunks(ids):
        rows, chunk_late = await db.read_together(
            db.fetch_as(
                _WarehouseCount,
                "SELECT warehouse, COUNT(*) AS n FROM approval_request WHERE status = 'pending' "
                f"AND warehouse IN ({db.placeholders(len(chunk))}) GROUP BY warehouse",
                *chunk,
            ),
            overdue_tasks(chunk, now),
        )
        pending.update((r.warehouse, r.n) for r in rows)
        late += chunk_late
    overdue: dict[int, set[int]] = defaultdict(set)
    for t in late:
        if t.warehouse is not None:
            overdue[t.warehouse].add(t.request)
    return {w: WarehouseApprovals(pending=pending.get(w, 0), overdue=len(overdue.get(w, ()))) for w in warehouse_ids}
