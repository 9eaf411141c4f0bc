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

**Where a flow runs** (``runs_in``): ``hub`` (the engine decides, people act in the hub or on its WeCom cards) or
``wecom_oa`` — the request is submitted to WeCom's own 审批 app (``wecom_oa``: its template, how the request fills
the template's controls and summary lines, who submits it) and decided there (docs/approvals.md, "WeCom's own 审批
app"). A native flow's steps become WeCom approval nodes (``any`` 或签, ``all`` 会签, ``sequential`` one node per
approver); N-of-M and time limits have no WeCom equivalent and are refused at save. One of its text controls must
carry the hub's reference (``ref``, 订单中枢 #42): a submission whose answer was lost is recognised by it alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from orderhub.approvals.errors import ApprovalError
from orderhub.errors import ValidationFailed
from orderhub.rules.model import Condition, OrderFacts, decode_conditions, matches

__all__ = [
    "MODES",
    "OA_VALUES",
    "REQUEST_KINDS",
    "RUNS_IN",
    "Approvers",
    "ByManager",
    "ByRole",
    "ByRoleInRegion",
    "ByRoleInWarehouse",
    "ByUser",
    "FlowDefinition",
    "OaControl",
    "RequestFacts",
    "SlotTask",
    "StepDef",
    "StepVerdict",
    "WeComOaSettings",
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
RUNS_IN = ("hub", "wecom_oa")
# What a native request puts in a template control or a summary line (docs/approvals.md): the subject ("订单
# taobao/123"), the order's number, the amount, why it needs approval, the title, the kind's label, the requester, the
# SKU names, and the hub's reference ("订单中枢 #42").
OA_VALUES = ("subject", "order_no", "amount", "reason", "title", "kind", "requester", "skus", "ref")
OaValue = Literal["subject", "order_no", "amount", "reason", "title", "kind", "requester", "skus", "ref"]
# 提交审批申请 (https://developer.work.weixin.qq.com/document/path/91853): template_id as found in the template's
# editing page ("3TmmcVxSXNgmZJM8ZpbrZVuucxadbweg7pdtEmaQ", older ones "1910324946027731_…"); control ids from
# 获取审批模板详情 (91982) such as "Text-15111111111"; summary_list 最多3行; a member's UserID is 1~64 characters of
# letters, digits, "-", "_" and "." (全局错误码 40003, https://developer.work.weixin.qq.com/document/path/90313).
_OA_TEMPLATE_ID = re.compile(r"[A-Za-z0-9_]{1,128}")
_OA_CONTROL_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_OA_USERID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
OA_MAX_SUMMARY = 3
OA_MAX_CONTROLS = 20


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


class OaControl(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One control of the WeCom 审批 template that a native request fills: its id (获取审批模板详情), its type —
    ``Text`` / ``Textarea`` (text), ``Number`` / ``Money`` (the amount in yuan, for ``value: amount`` only) — and what
    goes in it."""

    id: str
    value: OaValue
    control: Literal["Text", "Textarea", "Number", "Money"] = "Text"
    title: str = ""  # shown in WeCom next to the value (the template's own title when empty)


class WeComOaSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a native flow's requests go to WeCom's 审批 app (``oa/applyevent``)."""

    template_id: str
    controls: list[OaControl]
    summary: list[OaValue] = msgspec.field(default_factory=lambda: ["subject", "amount", "reason"])  # ≤ 3 lines
    use_template_approver: bool = False  # WeCom's own approval process set in its admin console, not the steps'
    creator_userid: str = ""  # submits the requests that have no requester with a WeCom id (a rule held the order)
    notify_type: Literal[1, 2, 3] = 1  # the copies (cc): 1 when submitted, 2 once approved, 3 both


class FlowDefinition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    steps: list[StepDef]
    kinds: list[str] = msgspec.field(default_factory=lambda: ["order_hold"])
    entry: list[Condition] = msgspec.field(default_factory=list)
    fallback_role: str = "admin"  # a step whose approvers resolve to nobody goes to this role
    on_reject: Literal["cancel", "keep_held"] = "cancel"  # an order hold rejected: cancel it, or keep it held
    runs_in: Literal["hub", "wecom_oa"] = "hub"  # wecom_oa: decided in WeCom's own 审批 app (see wecom_oa)
    wecom_oa: WeComOaSettings | None = None


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
    _check_native(definition)
    return definition


def _check_native(definition: FlowDefinition) -> None:
    """A flow that runs in WeCom's 审批 app: its settings are complete and its steps have a WeCom equivalent."""
    oa = definition.wecom_oa
    if definition.runs_in == "hub":
        if oa is not None:
            raise _bad("只有 runs_in 为 wecom_oa 的流程才能设置 wecom_oa", "definition.wecom_oa")
        return
    where = "definition.wecom_oa"
    if oa is None:
        raise _bad("在企业微信审批中运行的流程需要 wecom_oa 设置（模板 ID 与控件）", where)
    if not _OA_TEMPLATE_ID.fullmatch(oa.template_id):
        raise _bad("企业微信审批模板 ID 不正确（字母、数字或下划线，不超过 128 个字符）", f"{where}.template_id")
    if not 1 <= len(oa.controls) <= OA_MAX_CONTROLS:
        raise _bad(f"请设置 1 至 {OA_MAX_CONTROLS} 个模板控件", f"{where}.controls")
    seen: set[str] = set()
    for i, control in enumerate(oa.controls):
        if not _OA_CONTROL_ID.fullmatch(control.id) or control.id in seen:
            raise _bad("控件 ID 不正确或重复（如 Text-15111111111）", f"{where}.controls[{i}].id")
        seen.add(control.id)
        if control.control in ("Number", "Money") and control.value != "amount":
            raise _bad("数字、金额控件只能填写金额（value: amount）", f"{where}.controls[{i}].value")
        if len(control.title) > 40:
            raise _bad("控件标题不超过 40 个字符", f"{where}.controls[{i}].title")
    if not any(c.value == "ref" and c.control in ("Text", "Textarea") for c in oa.controls):
        # A submission whose answer was lost is looked for in WeCom by this reference alone (orderhub.approvals.oa):
        # the other values (an order number, an amount, a rule's reason) are shared by many requests.
        raise _bad(
            "请将中枢单号（value: ref，如「订单中枢 #42」）填入模板的一个文本控件："
            "提交结果未知时靠它在企业微信中找回审批单",
            f"{where}.controls",
        )
    if not 1 <= len(oa.summary) <= OA_MAX_SUMMARY:
        raise _bad(f"摘要为 1 至 {OA_MAX_SUMMARY} 行", f"{where}.summary")
    if oa.creator_userid and not _OA_USERID.fullmatch(oa.creator_userid):
        raise _bad("企业微信 UserID 不正确（1 至 64 个字母、数字、-、_ 或 .）", f"{where}.creator_userid")
    if "order_hold" in definition.kinds and not oa.creator_userid:
        raise _bad(
            "订单审批由规则发起、没有申请人：请设置提交审批的企业微信账号（creator_userid）", f"{where}.creator_userid"
        )
    for i, step in enumerate(definition.steps):
        if step.mode == "n_of_m":
            raise _bad("企业微信审批只有或签与会签，不支持 N 选 M", f"definition.steps[{i}].mode")
        if step.time_limit_s is not None or step.remind_before_s is not None:
            raise _bad(
                "在企业微信审批中运行的流程不设时限（催办由企业微信处理）", f"definition.steps[{i}].time_limit_s"
            )


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
