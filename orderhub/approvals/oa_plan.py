"""What a request whose flow runs in WeCom's own 审批 app submits (docs/approvals.md#wecoms-own-审批-app), fixed when
it opens: the engine calls :func:`prepare` inside the transaction that opens the request, with every step that
applies and its people resolved then. It maps them to WeCom userids (app_user.wecom_userid) — each step one approval
node, ``any`` 或签, ``all`` 会签, ``sequential`` one node per approver in turn; the steps' copies become the notified
(抄送) —, fills the template's controls and the summary lines from the request, picks who submits (the requester's
WeCom userid, else the flow's ``creator_userid``), writes the ``approval_oa`` row and queues the submission after
commit (:mod:`orderhub.approvals.oa` sends it). Anything that makes the request impossible to submit refuses it here,
before anything is written: WeCom not set up, nobody to submit as, a node whose approvers have no WeCom account."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

import msgspec

from orderhub import db
from orderhub.approvals.errors import ApprovalError
from orderhub.approvals.model import OaControl, RequestFacts, WeComOaSettings
from orderhub.approvals.oa_port import OaField, OaNode, OaSubmission
from orderhub.approvals.people import Person
from orderhub.errors import Conflict
from orderhub.notifications import config
from orderhub.notifications.port import NotifierChannel
from orderhub.queue import JobName, enqueue

__all__ = ["LABELS", "SUMMARY_MAX", "PlannedStep", "prepare", "submit_key", "summary_line"]

PROVIDER = NotifierChannel.WECOM.value  # the WeCom account (notify settings) the approvals go through
SUMMARY_MAX = 20  # 提交审批申请 (91853) summary_info.text: 不要超过20个字符
# A summary line's label per value (docs/approvals.md).
LABELS = {
    "subject": "申请",
    "order_no": "订单",
    "amount": "金额",
    "reason": "原因",
    "title": "事项",
    "kind": "类型",
    "requester": "申请人",
    "skus": "商品",
    "ref": "单号",
}
_background: set[asyncio.Task[None]] = set()


def submit_key(request_id: int) -> str:
    return f"approval_oa:{request_id}:submit"


class PlannedStep(msgspec.Struct, frozen=True, kw_only=True):
    """A step that applies to the request, its people resolved."""

    index: int
    name: str
    mode: str  # any, all, sequential (n_of_m is refused when the flow is saved)
    approvers: list[Person]
    cc: list[Person]


class _WeComId(msgspec.Struct):
    id: int
    wecom_userid: str


async def _wecom_ids(user_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(user_ids))
    found: dict[int, str] = {}
    for chunk in db.chunks(ids):  # a role can name every member of the staff
        rows = await db.fetch_as(
            _WeComId,
            f"SELECT id, wecom_userid FROM app_user WHERE id IN ({db.placeholders(len(chunk))}) AND active = {{}}",
            *chunk,
            True,
        )
        found.update((r.id, r.wecom_userid.strip()) for r in rows if r.wecom_userid.strip())
    return found


class _OrderNo(msgspec.Struct):
    channel: str
    external_id: str


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def _decimal(fen: int) -> str:
    """Fen as WeCom's Money / Number controls take it: yuan with two decimals ("5001.00")."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def _cut(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary_line(value: str, text: str) -> str:
    """One summary line, ``金额：¥5,001.00``, at most :data:`SUMMARY_MAX` characters."""
    return _cut(f"{LABELS.get(value, value)}：{text}", SUMMARY_MAX)


def _nodes(steps: Sequence[PlannedStep], ids: dict[int, str]) -> list[OaNode]:
    nodes: list[OaNode] = []
    for step in steps:
        userids = list(dict.fromkeys(ids[p.id] for p in step.approvers if p.id in ids))
        if not userids:
            raise Conflict(
                f"步骤「{step.name}」的审批人都没有企业微信账号，无法在企业微信审批中发起",
                code=ApprovalError.APPROVAL_NO_APPROVER,
                field="flow",
            )
        if step.mode == "sequential" and len(userids) > 1:  # 依次: one node per approver, in the order named
            nodes += [OaNode(step=step.index, name=step.name, mode="any", userids=[u]) for u in userids]
            continue
        mode: Literal["any", "all"] = "all" if step.mode == "all" and len(userids) > 1 else "any"
        nodes.append(OaNode(step=step.index, name=step.name, mode=mode, userids=userids))
    return nodes


async def prepare(
    request_id: int,
    *,
    settings: WeComOaSettings,
    steps: Sequence[PlannedStep],
    requester: Person | None,
    facts: RequestFacts,
    kind_label: str,
    title: str,
    reason: str,
    order_id: int | None,
    now: datetime,
) -> OaSubmission:
    """Write what the request submits to WeCom (``approval_oa``) and queue it after commit; inside the transaction
    that opens the request. Raises ``Conflict`` when it cannot be submitted (nothing written)."""
    if await config.provider_config(PROVIDER) is None:
        raise Conflict(ApprovalError.APPROVAL_WECOM_OA_UNAVAILABLE, field="flow")
    people = [p.id for step in steps for p in (*step.approvers, *step.cc)]
    ids = await _wecom_ids([*people, *([requester.id] if requester is not None else [])])
    creator = (ids.get(requester.id, "") if requester is not None else "") or settings.creator_userid
    if not creator:
        raise Conflict(ApprovalError.APPROVAL_WECOM_OA_NO_CREATOR, field="flow")
    nodes = [] if settings.use_template_approver else _nodes(steps, ids)
    deciding = {u for node in nodes for u in node.userids}
    notify = list(
        dict.fromkeys(ids[p.id] for step in steps for p in step.cc if p.id in ids and ids[p.id] not in deciding)
    )
    order_no = ""
    if order_id is not None:
        row = await db.fetch_one_as(
            _OrderNo,
            "SELECT c.code AS channel, o.external_id FROM sales_order o JOIN channel c ON c.id = o.channel "
            "WHERE o.id = {}",
            order_id,
        )
        order_no = f"{row.channel}/{row.external_id}" if row is not None else ""
    texts = {
        "subject": facts.subject or title,
        "order_no": order_no or facts.subject or title,
        "amount": _yuan(facts.amount),
        "reason": reason or "需要审批",
        "title": title,
        "kind": kind_label,
        "requester": requester.name if requester is not None else "系统（规则）",
        "skus": "、".join(facts.sku_names),
        "ref": f"订单中枢 #{request_id}",
    }

    def value(control: OaControl) -> str:
        if control.control in ("Number", "Money"):  # only the amount (checked when the flow is saved)
            return _decimal(facts.amount)
        return texts[control.value] or "无"

    submission = OaSubmission(
        template_id=settings.template_id,
        creator=creator,
        use_template_approver=settings.use_template_approver,
        nodes=nodes,
        notify=[] if settings.use_template_approver else notify,
        notify_type=settings.notify_type,
        fields=[OaField(id=c.id, control=c.control, title=c.title, value=value(c)) for c in settings.controls],
        summary=[summary_line(v, texts[v] or "无") for v in settings.summary],
        ref_control=next((c.id for c in settings.controls if c.value == "ref"), ""),
    )
    await db.execute(
        "INSERT INTO approval_oa (request, status, submission, attempts, not_before, lease_until, claim, uncertain, "
        "first_try_at, wecom_status, check_at, checks, error_code, error_message, created_at, submitted_at, "
        "updated_at) VALUES ({}, 'pending', {}, 0, {}, NULL, '', {}, NULL, 0, NULL, 0, '', '', {}, NULL, {})",
        request_id,
        msgspec.json.encode(submission).decode(),
        now,
        False,
        now,
        now,
    )
    _after_commit(request_id)
    return submission


def _after_commit(request_id: int) -> None:
    async def go() -> None:
        try:
            await enqueue(JobName.SUBMIT_APPROVAL_OA, key=submit_key(request_id), request_id=request_id)
        except RuntimeError:  # no queue in this process (a script, a test): the reconciliation cron queues it
            pass

    if db.pending_after_commit() is not None:
        db.after_commit(go)
    else:  # pragma: no cover - prepare() runs inside the transaction that opens the request
        task = asyncio.get_running_loop().create_task(go())
        _background.add(task)
        task.add_done_callback(_background.discard)
