"""Approval flows as data, and the pure arithmetic of a step (docs/approvals.md).

A flow's **definition** (:class:`FlowDefinition`, stored as JSON in an immutable version) says which requests it
takes (``kinds``, ``entry`` conditions) and its ordered **steps**. A step names its approvers (by user, role, role
within the order's warehouse or region, or the requester's manager), its mode — ``any`` (或签: the first decision
decides), ``all`` (会签: everyone approves, one rejection rejects), ``sequential`` (依次: one after the other) or
``n_of_m`` (``n`` approvals pass; more rejections than ``m - n`` reject) — the people copied (知会), and its time
limit: a reminder ``remind_before_s`` ahead, then escalation to the approver's manager (``escalations`` times), then
``on_expiry``: ``auto_approve``, ``auto_reject`` or ``keep_escalating``.

Conditions are the rules engine's (:class:`orderhub.rules.model.Condition` over :class:`OrderFacts`: amount, SKU,
tags, channel, province, memo …) plus two of the approvals' own: ``kind`` (the request kind: in / not_in) and
``sku_name`` (any line's SKU name: contains / contains_any, e.g. "定制").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from orderhub.approvals.errors import ApprovalError
from orderhub.errors import ValidationFailed
from orderhub.rules.model import Condition, OrderFacts, decode_conditions, matches

__all__ = [
    "MODES",
    "REQUEST_KINDS",
    "Approvers",
    "ByManager",
    "ByRole",
    "ByRoleInRegion",
    "ByRoleInWarehouse",
    "ByUser",
    "FlowDefinition",
    "RequestFacts",
    "SlotTask",
    "StepDef",
    "StepVerdict",
    "conditions_match",
    "decode_definition",
    "encode_definition",
    "front",
    "step_verdict",
]

REQUEST_KINDS = ("order_hold", "refund_reship", "address_change", "stock_writeoff", "cancel_after_pick")
MODES = ("any", "all", "sequential", "n_of_m")
EXPIRY_ACTIONS = ("auto_reject", "auto_approve", "keep_escalating")
MAX_STEPS = 20
MAX_TIME_LIMIT_S = 30 * 24 * 3600

Mode = Literal["any", "all", "sequential", "n_of_m"]
ExpiryAction = Literal["auto_reject", "auto_approve", "keep_escalating"]


# ------------------------------------------------------------------------------------------------------- facts


class RequestFacts(msgspec.Struct, kw_only=True):
    """What a flow's conditions look at: the order's facts as the rules engine sees them (empty for a request
    without an order), the request kind, the SKU names, and where it belongs (warehouse, region)."""

    kind: str
    order: OrderFacts
    sku_names: list[str] = msgspec.field(default_factory=list)
    warehouse_id: int | None = None
    region: str = ""
    amount: int = 0  # fen: the order's paid amount, or what the request is worth
    subject: str = ""  # for people: "订单 taobao/123", "SKU-1 @ SH"


# ------------------------------------------------------------------------------------------------- approvers


class _Spec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="by"):
    when: list[Condition] = msgspec.field(default_factory=list)  # only when these match the request's facts


class ByUser(_Spec, frozen=True, tag="user"):
    user_ids: list[int]


class ByRole(_Spec, frozen=True, tag="role"):
    role: str


class ByRoleInWarehouse(_Spec, frozen=True, tag="role_in_warehouse"):
    """Active users of ``role`` bound to the order's warehouse (routed, preferred, or its channel's default)."""

    role: str


class ByRoleInRegion(_Spec, frozen=True, tag="role_in_region"):
    """Active users of ``role`` bound to a warehouse of the order's region (the receiver province's logistics
    region, e.g. 华东)."""

    role: str


class ByManager(_Spec, frozen=True, tag="manager"):
    """The requester's manager (``levels`` = 2: the manager's manager)."""

    levels: int = 1


Approvers = ByUser | ByRole | ByRoleInWarehouse | ByRoleInRegion | ByManager


class StepDef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    approvers: list[Approvers]
    mode: Mode = "any"
    n: int | None = None  # n_of_m only
    cc: list[Approvers] = msgspec.field(default_factory=list)  # 知会: told, they don't decide
    when: list[Condition] = msgspec.field(default_factory=list)  # the step applies only when these match
    time_limit_s: int | None = None  # per task; None: no limit
    remind_before_s: int | None = None  # remind the approver this long before the limit
    escalations: int = 1  # how many times a task escalates to the approver's manager before on_expiry
    on_expiry: ExpiryAction = "keep_escalating"


class FlowDefinition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    steps: list[StepDef]
    kinds: list[str] = msgspec.field(default_factory=lambda: ["order_hold"])
    entry: list[Condition] = msgspec.field(default_factory=list)
    fallback_role: str = "admin"  # a step whose approvers resolve to nobody goes to this role
    on_reject: Literal["cancel", "keep_held"] = "cancel"  # an order hold rejected: cancel it, or keep it held


_EXTRA_OPS: dict[str, set[str]] = {"kind": {"in", "not_in"}, "sku_name": {"contains", "contains_any"}}


def _check_conditions(conditions: Sequence[Condition], field: str) -> None:
    standard = [c for c in conditions if c.field not in _EXTRA_OPS]
    try:
        decode_conditions(msgspec.to_builtins(standard))
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, code=ApprovalError.APPROVAL_BAD_DEFINITION, field=field) from exc
    for c in conditions:
        ops = _EXTRA_OPS.get(c.field)
        if ops is None:
            continue
        if c.op not in ops:
            raise ValidationFailed(
                f"字段 {c.field} 支持的比较：{'、'.join(sorted(ops))}",
                code=ApprovalError.APPROVAL_BAD_DEFINITION,
                field=field,
            )
        many = c.op in ("in", "not_in", "contains_any")
        ok = (
            isinstance(c.value, list) and bool(c.value) and all(isinstance(v, str) and v for v in c.value)
            if many
            else isinstance(c.value, str) and bool(c.value)
        )
        if not ok:
            raise ValidationFailed(
                "该条件的值必须是非空字符串列表" if many else "该条件的值必须是非空字符串",
                code=ApprovalError.APPROVAL_BAD_DEFINITION,
                field=field,
            )


def conditions_match(facts: RequestFacts, conditions: Sequence[Condition]) -> bool:
    """All conditions hold (none: true). The rules engine's fields read the order's facts."""
    standard = [c for c in conditions if c.field not in _EXTRA_OPS]
    if standard and not matches(facts.order, standard):
        return False
    for c in conditions:
        if c.field == "kind":
            hit = facts.kind in c.value
            if hit != (c.op == "in"):
                return False
        elif c.field == "sku_name":
            wanted = c.value if isinstance(c.value, list) else [c.value]
            if not any(w in name for name in facts.sku_names for w in wanted):
                return False
    return True


def _bad(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, code=ApprovalError.APPROVAL_BAD_DEFINITION, field=field)


def _check_specs(specs: Sequence[Approvers], field: str, roles: frozenset[str]) -> None:
    for i, spec in enumerate(specs):
        where = f"{field}[{i}]"
        _check_conditions(spec.when, f"{where}.when")
        if isinstance(spec, ByUser):
            if not spec.user_ids or len(spec.user_ids) > 50 or any(not 0 < u < 2**31 for u in spec.user_ids):
                raise _bad("请指定 1 至 50 个审批人", f"{where}.user_ids")
        elif isinstance(spec, ByManager):
            if not 1 <= spec.levels <= 5:
                raise _bad("上级层级应为 1 至 5", f"{where}.levels")
        elif spec.role not in roles:
            raise _bad(f"未知角色 {spec.role}，可选：{'、'.join(sorted(roles))}", f"{where}.role")


def decode_definition(raw: Any, *, roles: frozenset[str]) -> FlowDefinition:
    """A flow definition from JSON-like data (or a :class:`FlowDefinition`), checked as a whole; ``roles`` are the
    staff roles an approver spec may name. Raises ``ValidationFailed`` (``approval_bad_definition``)."""
    try:
        definition = msgspec.convert(msgspec.to_builtins(raw), FlowDefinition)
    except msgspec.ValidationError as exc:
        raise _bad(f"审批流程定义格式不正确：{exc}", "definition") from exc
    if not definition.steps or len(definition.steps) > MAX_STEPS:
        raise _bad(f"审批流程需要 1 至 {MAX_STEPS} 个步骤", "definition.steps")
    if not definition.kinds or any(k not in REQUEST_KINDS for k in definition.kinds):
        raise _bad(f"kinds 只能是：{'、'.join(REQUEST_KINDS)}", "definition.kinds")
    if definition.fallback_role not in roles:
        raise _bad(f"未知角色 {definition.fallback_role}", "definition.fallback_role")
    _check_conditions(definition.entry, "definition.entry")
    for i, step in enumerate(definition.steps):
        where = f"definition.steps[{i}]"
        if not step.name.strip() or len(step.name) > 100:
            raise _bad("步骤名称不能为空，且不超过 100 个字符", f"{where}.name")
        if not step.approvers or len(step.approvers) > 20:
            raise _bad("每个步骤需要 1 至 20 条审批人规则", f"{where}.approvers")
        _check_specs(step.approvers, f"{where}.approvers", roles)
        _check_specs(step.cc, f"{where}.cc", roles)
        _check_conditions(step.when, f"{where}.when")
        if step.mode == "n_of_m":
            if step.n is None or step.n < 1:
                raise _bad("N 选 M 模式需要 n ≥ 1", f"{where}.n")
        elif step.n is not None:
            raise _bad("只有 N 选 M 模式可以设置 n", f"{where}.n")
        if step.time_limit_s is not None and not 60 <= step.time_limit_s <= MAX_TIME_LIMIT_S:
            raise _bad("时限应在 60 秒至 30 天之间", f"{where}.time_limit_s")
        if step.remind_before_s is not None and (
            step.time_limit_s is None or not 0 < step.remind_before_s < step.time_limit_s
        ):
            raise _bad("提前提醒时间必须小于时限（且需设置时限）", f"{where}.remind_before_s")
        if not 0 <= step.escalations <= 5:
            raise _bad("升级次数应为 0 至 5", f"{where}.escalations")
    return definition


def encode_definition(definition: FlowDefinition) -> str:
    return msgspec.json.encode(definition).decode()


# ------------------------------------------------------------------------------------------- a step's arithmetic

LIVE = frozenset({"waiting", "pending", "approved", "rejected"})  # a task that counts in its slot


class SlotTask(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    slot: int
    seq: int
    status: str


class StepVerdict(msgspec.Struct, frozen=True, kw_only=True):
    outcome: Literal["approved", "rejected", "open"]
    activate: list[int]  # waiting tasks that are now up to decide
    approvals: int
    rejections: int
    slots: int
    needed: int  # approvals the step needs (for n_of_m: n, at most the number of slots)


def _slot_state(tasks: Sequence[SlotTask]) -> str:
    live = [t for t in tasks if t.status in LIVE]
    if any(t.status == "rejected" for t in live):
        return "rejected"
    if live and all(t.status == "approved" for t in live):
        return "approved"
    return "open"


def front(tasks: Sequence[SlotTask]) -> list[SlotTask]:
    """A slot's tasks that decide next: those at the lowest ``seq`` not yet approved."""
    open_ = [t for t in tasks if t.status in ("waiting", "pending")]
    if not open_:
        return []
    first = min(t.seq for t in open_)
    return [t for t in open_ if t.seq == first]


def step_verdict(mode: str, n: int | None, tasks: Sequence[SlotTask]) -> StepVerdict:
    """Where a step stands given its approver tasks: decided (approved / rejected) or open, and which waiting tasks
    must now become pending (the front of each slot; in ``sequential`` mode only the first slot not approved)."""
    slots: dict[int, list[SlotTask]] = {}
    for task in sorted(tasks, key=lambda t: (t.slot, t.seq, t.id)):
        slots.setdefault(task.slot, []).append(task)
    states = {slot: _slot_state(ts) for slot, ts in slots.items()}
    counted = [s for s, ts in slots.items() if any(t.status in LIVE for t in ts)]
    approvals = sum(1 for s in counted if states[s] == "approved")
    rejections = sum(1 for s in counted if states[s] == "rejected")
    m = len(counted)
    if mode == "any":
        needed = 1 if m else 0
        outcome = "approved" if approvals else "rejected" if rejections else "open"
    elif mode == "n_of_m":
        needed = max(1, min(n or 1, m))
        outcome = "approved" if approvals >= needed else "rejected" if rejections > m - needed else "open"
    else:  # all, sequential
        needed = m
        outcome = "rejected" if rejections else "approved" if m and approvals == m else "open"
    if m == 0:
        outcome = "open"
    activate: list[int] = []
    if outcome == "open":
        active = sorted(s for s in counted if states[s] == "open")
        if mode == "sequential":
            active = active[:1]
        for slot in active:
            activate += [t.id for t in front(slots[slot]) if t.status == "waiting"]
    return StepVerdict(
        outcome=outcome,  # type: ignore[arg-type]
        activate=activate,
        approvals=approvals,
        rejections=rejections,
        slots=m,
        needed=needed,
    )
