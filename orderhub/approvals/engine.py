"""The approval engine: opening a request on a flow version, the actions people take on it, and expiry.

**Exactly one decision.** Every action runs in one transaction that first bumps the request's ``version`` with a
conditional ``UPDATE … WHERE id = … AND status = 'pending'`` (on PostgreSQL that row lock queues every other action
on the request until this one commits; the next one then re-reads it, finds it decided and is refused with
``approval_closed``) and then changes the actor's task with ``UPDATE … WHERE id = … AND assignee = … AND status =
'pending'`` (a transferred or escalated task matches nothing: ``approval_task_not_pending``). An action given an
idempotency ``key`` (a WeCom TaskId + ResponseCode, a client's key) first claims it (``INSERT … ON CONFLICT
(idem_key) DO NOTHING``): a second delivery of the same key waits for the first to commit and answers with its
outcome, ``duplicate=True``.

**A request keeps its flow version.** It stores the version's id when opened and reads that definition for its
whole life; a new version of the flow changes only requests opened after it.

**Decided elsewhere.** A request whose flow runs in WeCom's own 审批 app (``runs_in: wecom_oa``) gets no task in
the hub: opening it queues its submission (:mod:`orderhub.approvals.oa_plan`, :mod:`orderhub.approvals.oa`) and it
waits; WeCom's outcome closes it through :func:`decide_external` — the same conditional close, kind effect, trail
and hooks, exactly once per idempotency key. People cannot decide or withdraw it in the hub.

**Never silent.** Each change writes an entry to the request's hash chain (:mod:`orderhub.approvals.audit`), calls
the :data:`~orderhub.approvals.live.APPROVAL_HOOKS` and publishes the people's inbox deltas after commit; the kind's
effect (:mod:`orderhub.approvals.kinds`) runs in the same transaction as the decision.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from orderhub import clock, db
from orderhub.approvals import audit, live, oa_plan, people
from orderhub.approvals.errors import ApprovalError
from orderhub.approvals.model import (
    ByRole,
    FlowDefinition,
    RequestFacts,
    SlotTask,
    StepDef,
    conditions_match,
    step_verdict,
)
from orderhub.approvals.people import Person
from orderhub.approvals.port import KINDS, Decision, KindHandler
from orderhub.errors import CommonError, Conflict, NotFound, OrderHubError, PermissionDenied, ValidationFailed
from orderhub.registry import UnknownAdapter

__all__ = [
    "REMIND_INTERVAL",
    "SWEEP_CRON",
    "ActionResult",
    "NewRequest",
    "SweepReport",
    "add_signer",
    "approve",
    "cancel_for_order",
    "comment",
    "decide_external",
    "open_request",
    "reject",
    "remind",
    "sweep_due",
    "transfer",
    "withdraw",
]

log = logging.getLogger("orderhub.approvals")

SWEEP_CRON = "* * * * * */30"  # the worker's expiry sweep (reminders, escalations, final actions)
REMIND_INTERVAL = timedelta(minutes=5)  # a person may remind a request at most this often
SYSTEM = "system"
MAX_COMMENT = 1000
OPEN = ("waiting", "pending")


class NewRequest(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    order_id: int | None = None
    payload: dict[str, Any] = {}
    flow: str | None = None  # the flow's code; None: the first active flow of this kind whose entry matches
    requester_id: int | None = None  # None: the hub itself (a rule held the order)
    reason: str = ""  # why it needs approval (zh-CN, shown to the approvers)


class ActionResult(msgspec.Struct, frozen=True, kw_only=True):
    request_id: int
    action: str
    status: str  # the request's status after the action
    step: int
    task_id: int | None = None
    duplicate: bool = False  # the same key was delivered before: this is that delivery's outcome


class SweepReport(msgspec.Struct, kw_only=True):
    reminded: int = 0
    escalated: int = 0
    auto_approved: int = 0
    auto_rejected: int = 0
    kept: int = 0  # nobody above to escalate to: reminded again, the limit re-armed
    failed: int = 0


# ------------------------------------------------------------------------------------------------------- rows


class _Req(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    flow: int
    flow_code: str
    flow_version: int
    version_no: int
    order_id: int | None
    status: str
    step: int
    title: str
    reason: str
    amount: int
    payload: str
    facts: str
    requester: int | None
    requester_name: str
    outcome_reason: str
    decided_by: int | None
    decided_by_name: str
    reminded_at: datetime | None
    version: int


class _Task(msgspec.Struct, kw_only=True):
    id: int
    request: int
    step: int
    step_name: str
    slot: int
    seq: int
    role: str
    assignee: int
    assignee_name: str
    status: str
    origin: str
    escalation: int
    due_at: datetime | None
    remind_at: datetime | None
    comment: str


class _Flow(msgspec.Struct, kw_only=True):
    id: int
    code: str
    active: bool
    version_id: int
    version: int
    definition: str


class _Ctx:
    """One change being made to one request (inside its transaction)."""

    def __init__(
        self,
        req: _Req,
        definition: FlowDefinition,
        handler: KindHandler,
        actor: Person | None,
        now: datetime,
        action: str,
    ) -> None:
        self.req = req
        self.definition = definition
        self.facts = msgspec.json.decode(req.facts, type=RequestFacts)
        self.handler = handler
        self.actor = actor
        self.now = now
        self.action = action
        self.comment = ""
        self.opened: list[live.TaskRef] = []
        self.closed: list[live.TaskRef] = []
        self.told: list[live.TaskRef] = []
        self.reminded: list[live.TaskRef] = []
        self.by_name: str | None = None  # decided elsewhere by someone the hub does not know ("企业微信用户 x")
        self.by_label: str | None = None

    @property
    def actor_name(self) -> str:
        if self.actor is None and self.by_name:
            return self.by_name
        return self.actor.name if self.actor is not None else "系统"

    @property
    def actor_label(self) -> str:
        if self.actor is None and self.by_label:
            return self.by_label
        return f"{self.actor.username}#{self.actor.id}" if self.actor is not None else SYSTEM

    def step_def(self) -> StepDef:
        return self.definition.steps[self.req.step]


def _ref(task: _Task) -> live.TaskRef:
    return live.TaskRef(
        task_id=task.id,
        user_id=task.assignee,
        user_name=task.assignee_name,
        role=task.role,
        status=task.status,
        step=task.step,
        step_name=task.step_name,
        due_at=task.due_at,
    )


def _who(p: Person) -> dict[str, Any]:
    return {"id": p.id, "name": p.name}


def _handler(kind: str) -> KindHandler:
    try:
        return KINDS.get(kind)
    except UnknownAdapter:
        raise ValidationFailed(ApprovalError.APPROVAL_UNKNOWN_KIND, field="kind") from None


async def _definition(version_id: int) -> FlowDefinition:
    row = await db.fetch_one_as(_Def, "SELECT definition FROM approval_flow_version WHERE id = {}", version_id)
    assert row is not None, f"approval_flow_version {version_id} is gone"
    return msgspec.json.decode(row.definition, type=FlowDefinition)


class _Def(msgspec.Struct):
    definition: str


async def _audit(ctx: _Ctx, action: str, data: dict[str, Any]) -> None:
    await audit.append(
        audit.request_chain(ctx.req.id), action, actor=ctx.actor_label, request_id=ctx.req.id, data=data, at=ctx.now
    )


async def _emit(ctx: _Ctx) -> None:
    change = live.ApprovalChange(
        request_id=ctx.req.id,
        kind=ctx.req.kind,
        title=ctx.req.title,
        order_id=ctx.req.order_id,
        amount=ctx.req.amount,
        reason=ctx.req.reason,
        status=ctx.req.status,
        action=ctx.action,
        actor_id=ctx.actor.id if ctx.actor is not None else None,
        actor_name=ctx.actor_name,
        at=ctx.now,
        comment=ctx.comment,
        opened=ctx.opened,
        closed=ctx.closed,
        told=ctx.told,
        reminded=ctx.reminded,
        requester_id=ctx.req.requester,
        decided_by_name=ctx.req.decided_by_name if ctx.req.status != "pending" else "",
    )
    for hook in live.APPROVAL_HOOKS:
        await hook(change)
    live.publish(change)


# ------------------------------------------------------------------------------------------------- flows, steps


async def _choose_flow(kind: str, code: str | None, facts: RequestFacts) -> tuple[_Flow, FlowDefinition]:
    sql = (
        "SELECT f.id, f.code, f.active, v.id AS version_id, v.version, v.definition FROM approval_flow f "
        "JOIN approval_flow_version v ON v.flow = f.id AND v.version = f.current_version"
    )
    if code is not None:
        flow = await db.fetch_one_as(_Flow, sql + " WHERE f.code = {}", code)
        if flow is None:
            raise NotFound(f"审批流程 {code} 不存在", code=ApprovalError.APPROVAL_FLOW_NOT_FOUND, field="flow")
        if not flow.active:
            raise Conflict(f"审批流程 {code} 已停用", code=ApprovalError.APPROVAL_FLOW_INACTIVE, field="flow")
        definition = msgspec.json.decode(flow.definition, type=FlowDefinition)
        if kind not in definition.kinds or not conditions_match(facts, definition.entry):
            raise Conflict(
                f"审批流程 {code} 不适用于该申请（类型或进入条件不符）",
                code=ApprovalError.APPROVAL_NO_FLOW,
                field="flow",
            )
        return flow, definition
    for flow in await db.fetch_as(_Flow, sql + " WHERE f.active = {} ORDER BY f.id", True):
        definition = msgspec.json.decode(flow.definition, type=FlowDefinition)
        if kind in definition.kinds and conditions_match(facts, definition.entry):
            return flow, definition
    raise Conflict(ApprovalError.APPROVAL_NO_FLOW, field="kind")


class _Plan(msgspec.Struct, kw_only=True):
    index: int
    step: StepDef
    approvers: list[Person]
    cc: list[Person]
    fallback: bool
    skipped: list[int]


async def _plan(
    definition: FlowDefinition, start: int, facts: RequestFacts, requester: Person | None
) -> tuple[_Plan | None, list[int]]:
    """The next step that applies from ``start`` on, with its people resolved now (steps whose ``when`` does not
    match are skipped); None when no step is left."""
    skipped: list[int] = []
    for index in range(start, len(definition.steps)):
        step = definition.steps[index]
        if not conditions_match(facts, step.when):
            skipped.append(index)
            continue
        approvers = await people.resolve(step.approvers, facts, requester)
        fallback = not approvers
        if fallback:
            approvers = await people.resolve([ByRole(role=definition.fallback_role)], facts, None)
            if not approvers:
                raise Conflict(
                    f"步骤「{step.name}」找不到可以审批的人员", code=ApprovalError.APPROVAL_NO_APPROVER, field="flow"
                )
        deciding = {p.id for p in approvers}
        cc = [p for p in await people.resolve(step.cc, facts, requester) if p.id not in deciding]
        return _Plan(index=index, step=step, approvers=approvers, cc=cc, fallback=fallback, skipped=skipped), skipped
    return None, skipped


def _timers(step: StepDef, now: datetime) -> tuple[datetime | None, datetime | None]:
    if step.time_limit_s is None:
        return None, None
    due = now + timedelta(seconds=step.time_limit_s)
    remind = due - timedelta(seconds=step.remind_before_s) if step.remind_before_s else None
    return due, remind


_TASK_COLUMNS = (
    "id, request, step, step_name, slot, seq, role, assignee, assignee_name, status, origin, escalation, due_at, "
    "remind_at, comment"
)


async def _insert_task(
    ctx: _Ctx,
    *,
    who: Person,
    step: int,
    step_name: str,
    slot: int,
    seq: int,
    status: str,
    origin: str,
    role: str = "approver",
    origin_task: int | None = None,
    escalation: int = 0,
) -> _Task:
    due, remind = _timers(ctx.definition.steps[step], ctx.now) if status == "pending" else (None, None)
    (task,) = await db.execute_returning(
        _Task,
        "INSERT INTO approval_task (request, step, step_name, slot, seq, role, assignee, assignee_name, status, "
        "origin, origin_task, added_by, escalation, due_at, remind_at, comment, decided_at, created_at, updated_at) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, NULL, {}, {}) "
        f"RETURNING {_TASK_COLUMNS}",
        ctx.req.id,
        step,
        step_name[:100],
        slot,
        seq,
        role,
        who.id,
        who.name[:100],
        status,
        origin,
        origin_task,
        ctx.actor.id if ctx.actor is not None else None,
        escalation,
        due,
        remind,
        "",
        ctx.now,
        ctx.now,
    )
    return task


async def _start_step(ctx: _Ctx, plan: _Plan) -> None:
    step = plan.step
    for slot, who in enumerate(plan.approvers):
        status = "pending" if step.mode != "sequential" or slot == 0 else "waiting"
        task = await _insert_task(
            ctx,
            who=who,
            step=plan.index,
            step_name=step.name,
            slot=slot,
            seq=0,
            status=status,
            origin="fallback" if plan.fallback else "flow",
        )
        if status == "pending":
            ctx.opened.append(_ref(task))
    for who in plan.cc:
        task = await _insert_task(
            ctx, who=who, step=plan.index, step_name=step.name, slot=-1, seq=0, status="told", origin="flow", role="cc"
        )
        ctx.told.append(_ref(task))
    await db.execute("UPDATE approval_request SET step = {} WHERE id = {}", plan.index, ctx.req.id)
    ctx.req.step = plan.index
    needed = min(step.n or 1, len(plan.approvers)) if step.mode == "n_of_m" else None
    await _audit(
        ctx,
        "step_started",
        {
            "step": plan.index,
            "name": step.name,
            "mode": step.mode,
            "n": step.n,
            "needed": needed,
            "approvers": [_who(p) for p in plan.approvers],
            "cc": [_who(p) for p in plan.cc],
            "fallback": plan.fallback,
            "skipped": plan.skipped,
            "time_limit_s": step.time_limit_s,
        },
    )


async def _step_tasks(request_id: int, step: int) -> list[_Task]:
    return await db.fetch_as(
        _Task,
        f"SELECT {_TASK_COLUMNS} FROM approval_task WHERE request = {{}} AND step = {{}} AND role = 'approver' "
        "ORDER BY slot, seq, id",
        request_id,
        step,
    )


async def _close_open(ctx: _Ctx, *, step: int | None = None) -> None:
    """Tasks still waiting or pending are no longer needed (the step or the request was decided)."""
    where, args = ("", []) if step is None else (" AND step = {}", [step])
    closed = await db.execute_returning(
        _Task,
        "UPDATE approval_task SET status = 'cancelled', due_at = NULL, remind_at = NULL, updated_at = {} "
        "WHERE request = {} AND role = 'approver' AND status IN ('waiting', 'pending')"
        + where
        + f" RETURNING {_TASK_COLUMNS}",
        ctx.now,
        ctx.req.id,
        *args,
    )
    ctx.closed += [_ref(t) for t in closed]


async def _settle(ctx: _Ctx) -> None:
    """After a task changed: wake the tasks now up to decide; when the step is decided, close its other tasks and
    start the next step (or finish the request)."""
    step = ctx.step_def()
    tasks = await _step_tasks(ctx.req.id, ctx.req.step)
    verdict = step_verdict(
        step.mode, step.n, [SlotTask(id=t.id, slot=t.slot, seq=t.seq, status=t.status) for t in tasks]
    )
    due, remind = _timers(step, ctx.now)
    for task_id in verdict.activate:
        woken = await db.execute_returning(
            _Task,
            "UPDATE approval_task SET status = 'pending', due_at = {}, remind_at = {}, updated_at = {} "
            f"WHERE id = {{}} AND status = 'waiting' RETURNING {_TASK_COLUMNS}",
            due,
            remind,
            ctx.now,
            task_id,
        )
        ctx.opened += [_ref(t) for t in woken]
    if verdict.outcome == "open":
        return
    await _close_open(ctx, step=ctx.req.step)
    summary = {
        "step": ctx.req.step,
        "name": step.name,
        "approvals": verdict.approvals,
        "rejections": verdict.rejections,
        "needed": verdict.needed,
    }
    if verdict.outcome == "approved":
        await _audit(ctx, "step_approved", summary)
        requester = await people.person(ctx.req.requester)
        plan, _ = await _plan(ctx.definition, ctx.req.step + 1, ctx.facts, requester)
        if plan is not None:
            await _start_step(ctx, plan)
        else:
            await _finish(ctx, "approved", reason="")
        return
    rejected = [t for t in tasks if t.status == "rejected"]
    reason = rejected[-1].comment if rejected else ""
    await _audit(ctx, "step_rejected", summary)
    await _finish(ctx, "rejected", reason=reason)


async def _finish(ctx: _Ctx, outcome: str, *, reason: str) -> None:
    """Close the request (approved, rejected, withdrawn, cancelled) and run its kind's effect."""
    decided = await db.execute_returning(
        db.IdRow,
        "UPDATE approval_request SET status = {}, pending_key = NULL, outcome_reason = {}, decided_by = {}, "
        "decided_by_name = {}, decided_at = {}, updated_at = {} WHERE id = {} AND status = 'pending' RETURNING id",
        outcome,
        reason,
        ctx.actor.id if ctx.actor is not None else None,
        ctx.actor_name[:100],
        ctx.now,
        ctx.now,
        ctx.req.id,
    )
    if not decided:  # we hold the request's lock: only a bug gets here
        raise Conflict(ApprovalError.APPROVAL_CLOSED, field="request_id")
    ctx.req.status, ctx.req.outcome_reason, ctx.req.decided_by_name = outcome, reason, ctx.actor_name
    await _close_open(ctx)
    await _audit(ctx, "decided", {"outcome": outcome, "reason": reason, "by": ctx.actor_name})
    effect = {
        "approved": ctx.handler.on_approve,
        "rejected": ctx.handler.on_reject,
        "withdrawn": ctx.handler.on_withdraw,
    }.get(outcome)
    if effect is None:
        return
    done = await effect(_decision(ctx, outcome, reason))
    if done:
        await _audit(ctx, "effect", {"outcome": outcome, "done": done})


def _decision(ctx: _Ctx, outcome: str, reason: str) -> Decision:
    return Decision(
        request_id=ctx.req.id,
        kind=ctx.req.kind,
        outcome=outcome,
        order_id=ctx.req.order_id,
        payload=msgspec.json.decode(ctx.req.payload),
        reason=reason,
        by_user_id=ctx.actor.id if ctx.actor is not None else None,
        by_name=ctx.actor_name,
        actor=ctx.actor.username[:64] if ctx.actor is not None else SYSTEM,
        at=ctx.now,
        flow_code=ctx.req.flow_code,
        on_reject=ctx.definition.on_reject,
    )


# ------------------------------------------------------------------------------------------------------ opening


async def open_request(cmd: NewRequest, *, now: datetime | None = None) -> int:
    """Open a request on its flow's current version and start its first step that applies; returns its id.

    Joins the caller's transaction when there is one (an order held by a rule opens its request in the transaction
    that holds it). Everything that can refuse the request (unknown kind, bad payload, no flow, nobody to approve,
    one of its kind already pending) is checked before anything is written."""
    now = now or clock.now()
    handler = _handler(cmd.kind)
    payload = handler.validate(dict(cmd.payload))
    if handler.needs_order and cmd.order_id is None:
        raise ValidationFailed("该类审批需要指定订单", code=ApprovalError.APPROVAL_BAD_PAYLOAD, field="order_id")
    async with db.transaction():
        requester = await people.person(cmd.requester_id)
        if cmd.requester_id is not None and (requester is None or not requester.active):
            raise NotFound("申请人不存在或已停用", field="requester_id")
        facts = await handler.facts(cmd.kind, cmd.order_id, payload)
        flow, definition = await _choose_flow(cmd.kind, cmd.flow, facts)
        plan, skipped = await _plan(definition, 0, facts, requester)
        key = handler.pending_key(cmd.kind, cmd.order_id, payload)
        reason = cmd.reason.strip()[:255]
        title = f"{handler.label}：{facts.subject}"[:200] if facts.subject else handler.label
        inserted = await db.execute_returning(
            db.IdRow,
            "INSERT INTO approval_request (kind, flow, flow_code, flow_version, version_no, order_id, status, step, "
            "title, reason, amount, payload, facts, requester, requester_name, warehouse, region, pending_key, "
            "outcome_reason, decided_by, decided_by_name, decided_at, reminded_at, version, created_at, updated_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, 'pending', -1, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, '', NULL, '', "
            "NULL, NULL, 0, {}, {}) ON CONFLICT (pending_key) DO NOTHING RETURNING id",
            cmd.kind,
            flow.id,
            flow.code,
            flow.version_id,
            flow.version,
            cmd.order_id,
            title,
            reason,
            facts.amount,
            msgspec.json.encode(payload).decode(),
            msgspec.json.encode(facts).decode(),
            cmd.requester_id,
            requester.name[:100] if requester is not None else "",
            facts.warehouse_id,
            facts.region,
            key,
            now,
            now,
        )
        if not inserted:
            raise Conflict(ApprovalError.APPROVAL_ALREADY_PENDING, field="order_id")
        req = await _request(inserted[0].id)
        ctx = _Ctx(req, definition, handler, requester, now, "opened")
        ctx.comment = reason
        await _audit(
            ctx,
            "opened",
            {
                "kind": cmd.kind,
                "flow": flow.code,
                "flow_version": flow.version,
                "flow_version_id": flow.version_id,
                "order_id": cmd.order_id,
                "payload": payload,
                "amount": facts.amount,
                "reason": reason,
                "requester": _who(requester) if requester is not None else None,
            },
        )
        if handler.on_open is not None:
            await handler.on_open(_decision(ctx, "pending", reason))
        if definition.runs_in == "wecom_oa":
            await _open_native(ctx, plan, skipped, requester, handler.label)
        elif plan is not None:
            await _start_step(ctx, plan)
        else:
            await _audit(ctx, "no_step_applies", {"skipped": skipped})
            await _finish(ctx, "approved", reason="没有适用的审批步骤，自动通过")
        await _emit(ctx)
    return req.id


async def _open_native(ctx: _Ctx, plan: _Plan | None, skipped: list[int], requester: Person | None, label: str) -> None:
    """A flow that runs in WeCom's 审批 app: every step that applies becomes approval nodes there (people resolved
    now), the submission is written and queued (:mod:`orderhub.approvals.oa_plan`), and the request waits with no task
    in the hub."""
    settings = ctx.definition.wecom_oa
    assert settings is not None  # decode_definition() requires it for runs_in wecom_oa
    steps: list[oa_plan.PlannedStep] = []
    while plan is not None:
        steps.append(
            oa_plan.PlannedStep(
                index=plan.index, name=plan.step.name, mode=plan.step.mode, approvers=plan.approvers, cc=plan.cc
            )
        )
        plan, more = await _plan(ctx.definition, plan.index + 1, ctx.facts, requester)
        skipped += more
    if not steps and not settings.use_template_approver:
        await _audit(ctx, "no_step_applies", {"skipped": skipped})
        await _finish(ctx, "approved", reason="没有适用的审批步骤，自动通过")
        return
    submission = await oa_plan.prepare(
        ctx.req.id,
        settings=settings,
        steps=steps,
        requester=requester,
        facts=ctx.facts,
        kind_label=label,
        title=ctx.req.title,
        reason=ctx.req.reason,
        order_id=ctx.req.order_id,
        now=ctx.now,
    )
    if steps:
        await db.execute("UPDATE approval_request SET step = {} WHERE id = {}", steps[0].index, ctx.req.id)
        ctx.req.step = steps[0].index
    await _audit(
        ctx,
        "sent_to_wecom",
        {
            "template_id": submission.template_id,
            "creator": submission.creator,
            "use_template_approver": submission.use_template_approver,
            "nodes": [msgspec.to_builtins(node) for node in submission.nodes],
            "notify": submission.notify,
            "skipped": skipped,
        },
    )


_REQ_COLUMNS = (
    "id, kind, flow, flow_code, flow_version, version_no, order_id, status, step, title, reason, amount, payload, "
    "facts, requester, requester_name, outcome_reason, decided_by, decided_by_name, reminded_at, version"
)


async def _request(request_id: int) -> _Req:
    req = await db.fetch_one_as(_Req, f"SELECT {_REQ_COLUMNS} FROM approval_request WHERE id = {{}}", request_id)
    if req is None:
        raise NotFound(ApprovalError.APPROVAL_NOT_FOUND, field="request_id")
    return req


_STATUS_TEXT = {"approved": "已通过", "rejected": "已驳回", "withdrawn": "已撤回", "cancelled": "已取消"}


async def _lock(request_id: int, now: datetime, *, pending_only: bool = True) -> _Req:
    """Take the request for this change: its version bumped (the row locked until commit on PostgreSQL)."""
    rows = await db.execute_returning(  # raw: the conditional UPDATE that lets exactly one decision through
        _Req,
        "UPDATE approval_request SET version = version + 1, updated_at = {} WHERE id = {}"
        + (" AND status = 'pending'" if pending_only else "")
        + f" RETURNING {_REQ_COLUMNS}",
        now,
        request_id,
    )
    if rows:
        return rows[0]
    req = await _request(request_id)
    by = f"，{req.decided_by_name}" if req.decided_by_name else ""
    raise Conflict(
        f"该审批已结束（{_STATUS_TEXT.get(req.status, req.status)}{by}）",
        code=ApprovalError.APPROVAL_CLOSED,
        field="request_id",
        extra={"request_status": req.status, "decided_by": req.decided_by_name},
    )


async def _context(request_id: int, now: datetime, actor: Person | None, action: str, *, pending_only: bool) -> _Ctx:
    req = await _lock(request_id, now, pending_only=pending_only)
    return _Ctx(req, await _definition(req.flow_version), _handler(req.kind), actor, now, action)


# ------------------------------------------------------------------------------------------------------ actions


class _Claimed(msgspec.Struct):
    request: int
    action: str
    actor: int | None
    outcome: str


async def _claim(key: str, request_id: int, action: str, actor_id: int | None, now: datetime) -> int | ActionResult:
    """Claim an idempotency key for this action: its action row's id, or the outcome of the delivery that claimed
    it first (waiting for that one to commit)."""
    if not key.strip() or len(key) > 128:
        raise ValidationFailed("操作标识不能为空，且不超过 128 个字符", field="key")
    rows = await db.execute_returning(  # raw: INSERT … ON CONFLICT DO NOTHING — one delivery per key wins
        db.IdRow,
        "INSERT INTO approval_action (request, task, action, actor, actor_name, idem_key, comment, outcome, "
        "created_at) VALUES ({}, NULL, {}, {}, '', {}, '', {}, {}) ON CONFLICT (idem_key) DO NOTHING RETURNING id",
        request_id,
        action,
        actor_id,
        key,
        "{}",
        now,
    )
    if rows:
        return rows[0].id
    first = await db.fetch_one_as(
        _Claimed, "SELECT request, action, actor, outcome FROM approval_action WHERE idem_key = {}", key
    )
    if first is None or (first.request, first.action, first.actor) != (request_id, action, actor_id):
        raise Conflict(ApprovalError.APPROVAL_KEY_REUSED, field="key")
    return msgspec.structs.replace(msgspec.json.decode(first.outcome, type=ActionResult), duplicate=True)


Body = Callable[[_Ctx], Awaitable[int | None]]
# What people cannot do in the hub to a request whose flow runs in WeCom's 审批 app (comments and reminders stay).
_DECIDED_ELSEWHERE = frozenset({"approve", "reject", "add_signer", "transfer", "withdraw"})


async def _act(
    request_id: int, actor_id: int, action: str, key: str | None, note: str, body: Body, *, pending_only: bool = True
) -> ActionResult:
    now = clock.now()
    async with db.transaction():
        claimed: int | None = None
        if key is not None:
            first = await _claim(key, request_id, action, actor_id, now)
            if isinstance(first, ActionResult):
                return first
            claimed = first
        actor = await people.person(actor_id)
        if actor is None or not actor.active:
            raise PermissionDenied("账号不存在或已停用", code=CommonError.FORBIDDEN, field="actor")
        ctx = await _context(request_id, now, actor, action, pending_only=pending_only)
        if ctx.definition.runs_in != "hub" and action in _DECIDED_ELSEWHERE:  # WeCom's 审批 app decides it
            if action == "withdraw":
                raise Conflict(ApprovalError.APPROVAL_WITHDRAW_IN_WECOM, field="request_id")
            raise Conflict(ApprovalError.APPROVAL_RUNS_IN_WECOM, field="request_id")
        ctx.comment = note
        task_id = await body(ctx)
        await _emit(ctx)
        result = ActionResult(
            request_id=request_id, action=action, status=ctx.req.status, step=ctx.req.step, task_id=task_id
        )
        outcome = msgspec.json.encode(result).decode()
        if claimed is not None:
            await db.execute(
                "UPDATE approval_action SET task = {}, actor_name = {}, comment = {}, outcome = {} WHERE id = {}",
                task_id,
                actor.name[:100],
                note,
                outcome,
                claimed,
            )
        else:
            await db.execute(
                "INSERT INTO approval_action (request, task, action, actor, actor_name, idem_key, comment, outcome, "
                "created_at) VALUES ({}, {}, {}, {}, {}, NULL, {}, {}, {})",
                request_id,
                task_id,
                action,
                actor_id,
                actor.name[:100],
                note,
                outcome,
                now,
            )
    return result


def _text(value: str, field: str, *, required: ApprovalError | None = None) -> str:
    """The text trimmed; ``required``: the error when it is empty (a rejection's reason, a comment's text)."""
    text = (value or "").strip()
    if required is not None and not text:
        raise ValidationFailed(required, field=field)
    if len(text) > MAX_COMMENT:
        raise ValidationFailed(f"不超过 {MAX_COMMENT} 个字符", field=field)
    return text


async def _take(
    ctx: _Ctx, task_id: int | None, to_status: str, comment: str, *, decided: bool = True, pending: bool = True
) -> _Task:
    """The actor's pending task (the one named, or their first on the request), moved to ``to_status`` by a
    conditional UPDATE: refused when it is not theirs or not pending any more."""
    assert ctx.actor is not None
    if task_id is None:
        row = await db.fetch_one_as(
            db.IdRow,
            "SELECT id FROM approval_task WHERE request = {} AND assignee = {} AND role = 'approver' "
            "AND status = 'pending' ORDER BY id LIMIT 1",
            ctx.req.id,
            ctx.actor.id,
        )
        if row is None:
            raise Conflict(ApprovalError.APPROVAL_TASK_NOT_PENDING, field="task_id")
        task_id = row.id
    if not pending:  # only check that it is theirs and pending
        found = await db.fetch_as(
            _Task,
            f"SELECT {_TASK_COLUMNS} FROM approval_task WHERE id = {{}} AND request = {{}} AND assignee = {{}} "
            "AND role = 'approver' AND status = 'pending'",
            task_id,
            ctx.req.id,
            ctx.actor.id,
        )
    else:
        found = await db.execute_returning(  # raw: conditional on the task still being the actor's and pending
            _Task,
            "UPDATE approval_task SET status = {}, comment = {}, decided_at = {}, due_at = NULL, remind_at = NULL, "
            "updated_at = {} WHERE id = {} AND request = {} AND assignee = {} AND role = 'approver' "
            f"AND status = 'pending' RETURNING {_TASK_COLUMNS}",
            to_status,
            comment,
            ctx.now if decided else None,
            ctx.now,
            task_id,
            ctx.req.id,
            ctx.actor.id,
        )
    if not found:
        raise Conflict(ApprovalError.APPROVAL_TASK_NOT_PENDING, field="task_id")
    return found[0]


async def approve(
    request_id: int, actor_id: int, *, task_id: int | None = None, comment: str = "", key: str | None = None
) -> ActionResult:
    """Approve the actor's pending task (同意). The step passes when its mode says so; the request is approved
    after its last step, and its kind's effect runs."""
    note = _text(comment, "comment")

    async def body(ctx: _Ctx) -> int:
        task = await _take(ctx, task_id, "approved", note)
        ctx.closed.append(_ref(task))
        await _audit(ctx, "approved", {"task": task.id, "step": task.step, "comment": note})
        await _settle(ctx)
        return task.id

    return await _act(request_id, actor_id, "approve", key, note, body)


async def reject(
    request_id: int, actor_id: int, *, reason: str, task_id: int | None = None, key: str | None = None
) -> ActionResult:
    """Reject (驳回), with a reason. In 或签 / 会签 / 依次 one rejection rejects the request; in N-of-M only when
    ``n`` approvals can no longer be reached."""
    why = _text(reason, "reason", required=ApprovalError.APPROVAL_REASON_REQUIRED)

    async def body(ctx: _Ctx) -> int:
        task = await _take(ctx, task_id, "rejected", why)
        ctx.closed.append(_ref(task))
        await _audit(ctx, "rejected", {"task": task.id, "step": task.step, "reason": why})
        await _settle(ctx)
        return task.id

    return await _act(request_id, actor_id, "reject", key, why, body)


async def _signers(ctx: _Ctx, user_ids: list[int]) -> list[Person]:
    """People who may be added to (or handed) the current step: known, active, not the actor, not already
    deciding it."""
    assert ctx.actor is not None
    if not user_ids or len(user_ids) > 10 or len(set(user_ids)) != len(user_ids):
        raise ValidationFailed(
            "请选择 1 至 10 位不重复的人员", code=ApprovalError.APPROVAL_BAD_SIGNER, field="user_ids"
        )
    found = await people.persons(user_ids)
    deciding = {t.assignee for t in await _step_tasks(ctx.req.id, ctx.req.step) if t.status in OPEN}
    chosen: list[Person] = []
    for user_id in user_ids:
        who = found.get(user_id)
        if who is None or not who.active or who.id == ctx.actor.id or who.id in deciding:
            raise ValidationFailed(
                f"人员 {who.name if who else user_id} 不存在、已停用、是你自己或已在审批本步骤",
                code=ApprovalError.APPROVAL_BAD_SIGNER,
                field="user_ids",
            )
        chosen.append(who)
    return chosen


async def add_signer(
    request_id: int,
    actor_id: int,
    *,
    user_ids: list[int],
    position: Literal["before", "after", "parallel"],
    comment: str = "",
    task_id: int | None = None,
    key: str | None = None,
) -> ActionResult:
    """加签 by the holder of a pending task: ``before`` — the people added decide first, the actor's task waits
    and comes back to them; ``after`` — the actor approves now and the people added must approve after them;
    ``parallel`` — the people added decide alongside the actor (their slot needs every one of them)."""
    if position not in ("before", "after", "parallel"):
        raise ValidationFailed("position 只能是 before、after 或 parallel", field="position")
    note = _text(comment, "comment")

    async def body(ctx: _Ctx) -> int:
        added = await _signers(ctx, user_ids)
        if position == "before":
            task = await _take(ctx, task_id, "waiting", note, decided=False)
            ctx.closed.append(_ref(task))
            seq, status = task.seq - 1, "pending"
        elif position == "after":
            task = await _take(ctx, task_id, "approved", note)
            ctx.closed.append(_ref(task))
            await db.execute(
                "UPDATE approval_task SET seq = seq + 1 WHERE request = {} AND step = {} AND slot = {} "
                "AND role = 'approver' AND seq > {}",
                ctx.req.id,
                task.step,
                task.slot,
                task.seq,
            )
            seq, status = task.seq + 1, "waiting"
        else:
            task = await _take(ctx, task_id, "pending", note, pending=False)
            seq, status = task.seq, "pending"
        for who in added:
            new = await _insert_task(
                ctx,
                who=who,
                step=task.step,
                step_name=task.step_name,
                slot=task.slot,
                seq=seq,
                status=status,
                origin=position,
                origin_task=task.id,
                escalation=task.escalation,
            )
            if status == "pending":
                ctx.opened.append(_ref(new))
        await _audit(
            ctx,
            "signer_added",
            {
                "task": task.id,
                "step": task.step,
                "position": position,
                "added": [_who(p) for p in added],
                "comment": note,
            },
        )
        await _settle(ctx)
        return task.id

    return await _act(request_id, actor_id, "add_signer", key, note, body)


async def transfer(
    request_id: int,
    actor_id: int,
    *,
    to_user_id: int,
    comment: str = "",
    task_id: int | None = None,
    key: str | None = None,
) -> ActionResult:
    """转交: the actor's pending task goes to another person; the actor loses it (their later taps are refused)."""
    note = _text(comment, "comment")

    async def body(ctx: _Ctx) -> int:
        (target,) = await _signers(ctx, [to_user_id])
        task = await _take(ctx, task_id, "transferred", note)
        ctx.closed.append(_ref(task))
        new = await _insert_task(
            ctx,
            who=target,
            step=task.step,
            step_name=task.step_name,
            slot=task.slot,
            seq=task.seq,
            status="pending",
            origin="transfer",
            origin_task=task.id,
            escalation=task.escalation,
        )
        ctx.opened.append(_ref(new))
        await _audit(ctx, "transferred", {"task": task.id, "new_task": new.id, "to": _who(target), "comment": note})
        return task.id

    return await _act(request_id, actor_id, "transfer", key, note, body)


async def _involved(ctx: _Ctx) -> bool:
    assert ctx.actor is not None
    if ctx.actor.id == ctx.req.requester or ctx.actor.role in ("admin", "manager"):
        return True
    row = await db.fetch_one_as(
        db.IdRow, "SELECT id FROM approval_task WHERE request = {} AND assignee = {} LIMIT 1", ctx.req.id, ctx.actor.id
    )
    return row is not None


async def comment(request_id: int, actor_id: int, *, text: str, key: str | None = None) -> ActionResult:
    """A comment on the request by anyone involved (requester, approvers, people copied, managers); also after
    it was decided."""
    note = _text(text, "text", required=ApprovalError.APPROVAL_TEXT_REQUIRED)

    async def body(ctx: _Ctx) -> None:
        if not await _involved(ctx):
            raise PermissionDenied(ApprovalError.APPROVAL_NOT_INVOLVED, field="request_id")
        await _audit(ctx, "commented", {"text": note})

    return await _act(request_id, actor_id, "comment", key, note, body, pending_only=False)


async def withdraw(request_id: int, actor_id: int, *, reason: str = "", key: str | None = None) -> ActionResult:
    """The requester takes the request back while it is pending (its kind's on_withdraw runs, if any)."""
    why = _text(reason, "reason")

    async def body(ctx: _Ctx) -> None:
        assert ctx.actor is not None
        if ctx.req.requester is None or ctx.actor.id != ctx.req.requester:
            raise PermissionDenied(ApprovalError.APPROVAL_NOT_REQUESTER, field="request_id")
        await _finish(ctx, "withdrawn", reason=why)

    return await _act(request_id, actor_id, "withdraw", key, why, body)


async def remind(request_id: int, actor_id: int, *, key: str | None = None) -> ActionResult:
    """催办: the people whose task is pending are reminded (at most every five minutes per request)."""

    async def body(ctx: _Ctx) -> None:
        if not await _involved(ctx):
            raise PermissionDenied(ApprovalError.APPROVAL_NOT_INVOLVED, field="request_id")
        last = ctx.req.reminded_at
        if last is not None and ctx.now - last < REMIND_INTERVAL:
            raise Conflict(ApprovalError.APPROVAL_REMIND_TOO_SOON, field="request_id")
        await db.execute("UPDATE approval_request SET reminded_at = {} WHERE id = {}", ctx.now, ctx.req.id)
        pending = [t for t in await _step_tasks(ctx.req.id, ctx.req.step) if t.status == "pending"]
        ctx.reminded += [_ref(t) for t in pending]
        await _audit(ctx, "reminded", {"by": ctx.actor_name, "tasks": [t.id for t in pending]})

    return await _act(request_id, actor_id, "remind", key, "", body)


# ------------------------------------------------------------------------------------------ decided elsewhere


async def decide_external(
    request_id: int,
    *,
    outcome: Literal["approved", "rejected", "withdrawn", "cancelled"],
    key: str,
    actor_id: int | None,
    actor_name: str = "",
    actor_label: str = "",
    reason: str = "",
    action: str = "decided_in_wecom",
    data: dict[str, Any] | None = None,
) -> ActionResult:
    """A request that runs in WeCom's 审批 app, decided there (or given up on): closed through the normal decision
    path — the conditional close, the kind's effect (``approved`` / ``rejected`` / ``withdrawn``; none for
    ``cancelled``), the trail and the hooks — by ``actor_id`` (the staff member WeCom's approver maps to; None: someone
    the hub does not know, shown as ``actor_name``). ``key`` makes it once: a second delivery of the same outcome
    answers the first (``duplicate``). Raises ``approval_closed`` when the request was closed meanwhile."""
    now = clock.now()
    async with db.transaction():
        first = await _claim(key, request_id, "decide", actor_id, now)
        if isinstance(first, ActionResult):
            return first
        actor = await people.person(actor_id)
        ctx = await _context(request_id, now, actor, action, pending_only=True)
        if actor is None:
            ctx.by_name, ctx.by_label = actor_name or "系统", actor_label or SYSTEM
        note = (reason or "").strip()[:MAX_COMMENT]
        ctx.comment = note
        await _audit(ctx, action, {"outcome": outcome, "by": ctx.actor_name, "reason": note, **(data or {})})
        await _finish(ctx, outcome, reason=note)
        await _emit(ctx)
        result = ActionResult(request_id=request_id, action="decide", status=ctx.req.status, step=ctx.req.step)
        await db.execute(
            "UPDATE approval_action SET actor_name = {}, comment = {}, outcome = {} WHERE id = {}",
            ctx.actor_name[:100],
            note,
            msgspec.json.encode(result).decode(),
            first,
        )
    return result


# ---------------------------------------------------------------------------------------- the order moved on


async def cancel_for_order(order_id: int, kind: str | None, *, why: str, now: datetime | None = None) -> list[int]:
    """Cancel the pending requests of ``kind`` (None: of every kind) on an order that no longer needs them (released
    or cancelled meanwhile); inside the caller's transaction. Their effects do not run."""
    now = now or clock.now()
    where, args = ("", []) if kind is None else (" AND kind = {}", [kind])
    ids = await db.fetch_as(
        db.IdRow,
        "SELECT id FROM approval_request WHERE order_id = {} AND status = 'pending'" + where + " ORDER BY id",
        order_id,
        *args,
    )
    for row in ids:
        async with db.transaction():
            ctx = await _context(row.id, now, None, "cancelled", pending_only=True)
            ctx.comment = why
            await _finish(ctx, "cancelled", reason=why)
            await _emit(ctx)
    return [row.id for row in ids]


# ------------------------------------------------------------------------------------------------------- expiry


class _Due(msgspec.Struct):
    id: int
    request: int


async def sweep_due(now: datetime | None = None, *, limit: int = 200) -> SweepReport:
    """The worker's cron: pending tasks whose reminder or time limit has come. A reminder goes to the holder; at
    the limit the task escalates to the holder's manager (up to the step's ``escalations``), then the step's
    ``on_expiry`` applies: ``auto_approve`` / ``auto_reject`` decide the task as the hub, ``keep_escalating``
    goes on up the managers and, with nobody above, reminds again and re-arms the limit. Each task in its own
    transaction, conditional like a person's action (a task decided meanwhile is left alone)."""
    now = now or clock.now()
    report = SweepReport()
    due = await db.fetch_as(
        _Due,
        "SELECT id, request FROM approval_task WHERE status = 'pending' AND role = 'approver' AND "
        "((due_at IS NOT NULL AND due_at <= {}) OR (remind_at IS NOT NULL AND remind_at <= {})) ORDER BY id LIMIT {}",
        now,
        now,
        max(1, limit),
    )
    for row in due:
        try:
            await _expire(row.id, row.request, now, report)
        except OrderHubError as exc:
            report.failed += 1
            log.warning("approval expiry not applied", extra={"task": row.id, "code": str(exc.code)})
            await _expiry_failed(row.id, row.request, now, exc)
    if any(msgspec.structs.astuple(report)):
        log.info("approvals swept", extra=msgspec.structs.asdict(report))
    return report


async def _expire(task_id: int, request_id: int, now: datetime, report: SweepReport) -> None:
    async with db.transaction():
        try:
            ctx = await _context(request_id, now, None, "expired", pending_only=True)
        except Conflict:
            return  # decided meanwhile
        task = await db.fetch_one_as(
            _Task, f"SELECT {_TASK_COLUMNS} FROM approval_task WHERE id = {{}} AND status = 'pending'", task_id
        )
        if task is None:
            return
        if task.due_at is not None and task.due_at <= now:
            await _on_due(ctx, task, report)
        elif task.remind_at is not None and task.remind_at <= now:
            await db.execute(
                "UPDATE approval_task SET remind_at = NULL, updated_at = {} WHERE id = {} AND status = 'pending'",
                now,
                task.id,
            )
            ctx.action = "reminded"
            ctx.reminded.append(_ref(task))
            await _audit(
                ctx, "time_reminder", {"task": task.id, "due_at": task.due_at.isoformat() if task.due_at else None}
            )
            report.reminded += 1
        else:
            return
        await _emit(ctx)


async def _on_due(ctx: _Ctx, task: _Task, report: SweepReport) -> None:
    step = ctx.definition.steps[task.step]
    boss = await people.manager_of(task.assignee)
    may_escalate = step.on_expiry == "keep_escalating" or task.escalation < step.escalations
    if may_escalate and boss is not None:
        moved = await db.execute_returning(
            _Task,
            "UPDATE approval_task SET status = 'escalated', due_at = NULL, remind_at = NULL, decided_at = {}, "
            f"updated_at = {{}} WHERE id = {{}} AND status = 'pending' RETURNING {_TASK_COLUMNS}",
            ctx.now,
            ctx.now,
            task.id,
        )
        if not moved:
            return
        ctx.action = "escalated"
        ctx.closed.append(_ref(moved[0]))
        new = await _insert_task(
            ctx,
            who=boss,
            step=task.step,
            step_name=task.step_name,
            slot=task.slot,
            seq=task.seq,
            status="pending",
            origin="escalation",
            origin_task=task.id,
            escalation=task.escalation + 1,
        )
        ctx.opened.append(_ref(new))
        await _audit(
            ctx,
            "escalated",
            {
                "task": task.id,
                "new_task": new.id,
                "from": {"id": task.assignee, "name": task.assignee_name},
                "to": _who(boss),
                "level": task.escalation + 1,
            },
        )
        report.escalated += 1
        return
    nobody = "无上级可升级" if boss is None else "升级次数已用完"
    if step.on_expiry in ("auto_approve", "auto_reject"):
        approve_ = step.on_expiry == "auto_approve"
        note = f"超时自动{'同意' if approve_ else '驳回'}（{nobody}）"
        decided = await db.execute_returning(
            _Task,
            "UPDATE approval_task SET status = {}, comment = {}, decided_at = {}, due_at = NULL, remind_at = NULL, "
            f"updated_at = {{}} WHERE id = {{}} AND status = 'pending' RETURNING {_TASK_COLUMNS}",
            "approved" if approve_ else "rejected",
            note,
            ctx.now,
            ctx.now,
            task.id,
        )
        if not decided:
            return
        ctx.action = "expired"
        ctx.comment = note
        ctx.closed.append(_ref(decided[0]))
        await _audit(ctx, step.on_expiry, {"task": task.id, "step": task.step, "note": note})
        await _settle(ctx)
        if approve_:
            report.auto_approved += 1
        else:
            report.auto_rejected += 1
        return
    # keep_escalating with nobody above: remind the holder again and give them another period.
    due = ctx.now + timedelta(seconds=step.time_limit_s or 0)
    await db.execute(
        "UPDATE approval_task SET due_at = {}, updated_at = {} WHERE id = {} AND status = 'pending'",
        due,
        ctx.now,
        task.id,
    )
    ctx.action = "reminded"
    ctx.reminded.append(_ref(task))
    await _audit(
        ctx, "kept_waiting", {"task": task.id, "note": f"已超时，{nobody}，继续催办", "due_at": due.isoformat()}
    )
    report.kept += 1


async def _expiry_failed(task_id: int, request_id: int, now: datetime, exc: OrderHubError) -> None:
    """The final action could not be carried out (its effect was refused): recorded, and tried again a period
    later — never dropped silently."""
    try:
        async with db.transaction():
            ctx = await _context(request_id, now, None, "expired", pending_only=True)
            task = await db.fetch_one_as(
                _Task, f"SELECT {_TASK_COLUMNS} FROM approval_task WHERE id = {{}} AND status = 'pending'", task_id
            )
            if task is None:
                return
            step = ctx.definition.steps[task.step]
            await db.execute(
                "UPDATE approval_task SET due_at = {}, updated_at = {} WHERE id = {} AND status = 'pending'",
                now + timedelta(seconds=step.time_limit_s or 3600),
                now,
                task_id,
            )
            await _audit(ctx, "expiry_failed", {"task": task_id, "code": str(exc.code), "message": exc.message})
    except OrderHubError:
        log.exception("approval expiry failure not recorded", extra={"task": task_id})
