"""Approval cards in the approvers' chat app (企业微信, "one tap"; docs/approvals.md#enterprise-wechat-one-tap).

* **Writing** — :func:`on_change` listens on :data:`~orderhub.approvals.live.APPROVAL_HOOKS` (``server.wiring``),
  inside the change's transaction: each approver task now up to decide gets a ``decide`` card (buttons 同意 / 驳回
  / 转交…) when the approver has a WeCom userid and WeCom is set up with a callback (else a read-only ``notice``);
  each copy (知会) a ``cc`` notice; each reminder a ``remind`` text. Tasks that closed mark their cards to be updated
  (``want_text``: "已由张三同意", "已转交给李四" …); when the request is decided every card of it is. A card still
  queued for a task that closed is never sent (``superseded``). Jobs are queued after commit.
* **Sending** (:func:`send`, the ``send_approval_card`` job) — the row is claimed by one conditional UPDATE (a job
  delivered twice sends once); the per-member limit (WeCom drops what passes 30 a minute / 1,000 an hour per member,
  https://developer.work.weixin.qq.com/document/path/90454) is a Redis sliding window shared by every worker and
  with the outbox's staff messages (:mod:`orderhub.notifications.wecom_window`): a card over it is rescheduled for
  when the window has room — queued, never dropped. What sending answered (the card's
  ``response_code``) is stored per (task, person).
* **Updating** (:func:`update`, ``update_approval_card``) — spends one of the card's update handles (the last tap's
  ``click_code``, then the ``response_code`` from sending; each once, 72 h) to grey the buttons out with the text.
* **Tapping** (:func:`on_click`, from the callback) — the tap's card, person and button are checked and the engine
  action runs with the idempotency key ``wecom:{card_id}:{digest of ResponseCode}``: WeCom's retries and duplicate
  deliveries of one tap carry the same ResponseCode, so they are one decision (the engine answers ``duplicate``).
* **Dispatching** (:func:`dispatch_due`, a unique cron every 10 s) — queues cards due again (rate-limited, backed
  off, abandoned by a dead worker) and updates still owed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

import msgspec

from orderhub import clock, db
from orderhub.approvals import engine, live
from orderhub.approvals.card_port import (
    CARD_SENDERS,
    CallbacksUnavailable,
    CardButton,
    CardClick,
    CardContent,
    CardIdTaken,
    CardOption,
    SentCard,
    UpdateCodeUnusable,
)
from orderhub.approvals.errors import CardDelivery
from orderhub.approvals.model import RequestFacts
from orderhub.approvals.port import KINDS
from orderhub.errors import OrderHubError
from orderhub.notifications import config, wecom_window
from orderhub.notifications.port import (
    NotifierChannel,
    NotifyError,
    PermanentNotifyError,
    ThrottledNotifyError,
    TransientNotifyError,
)
from orderhub.queue import JobName, enqueue
from orderhub.registry import UnknownAdapter

__all__ = [
    "DISPATCH_CRON",
    "MEMBER_PER_HOUR",
    "MEMBER_PER_MINUTE",
    "REJECT_REASONS",
    "REQUEST_PAGE",
    "CardView",
    "ClickOutcome",
    "button_key",
    "dispatch_due",
    "list_cards",
    "on_change",
    "on_click",
    "send",
    "send_key",
    "update",
    "update_key",
]

log = logging.getLogger("orderhub.approvals.cards")

PROVIDER = NotifierChannel.WECOM.value  # the provider account the cards go out through (notify settings)
DISPATCH_CRON = "* * * * * */10"
LEASE = timedelta(seconds=120)
# WeCom drops what passes 30 a minute / 1,000 an hour per member (90454): the window is shared with the outbox's staff
# messages (orderhub.notifications.wecom_window, which quotes the page).
MEMBER_PER_MINUTE = wecom_window.MEMBER_PER_MINUTE
MEMBER_PER_HOUR = wecom_window.MEMBER_PER_HOUR
# The request's page in the H5 console (the card's tap and its 转交… button open it; docs/console.md).
REQUEST_PAGE = "/m/#/approvals/{request_id}"
REJECT_KEY = "reject_reason"  # the drop-down a 驳回 tap submits (button_selection)
REJECT_DEFAULT = "none"
REJECT_REASONS: list[tuple[str, str]] = [
    (REJECT_DEFAULT, "未注明原因"),
    ("amount", "金额或价格有误"),
    ("schedule", "定制或排期无法满足"),
    ("customer", "客户或收货信息存疑"),
    ("stock", "库存或货源不足"),
    ("other", "其他（详见审批台）"),
]
REJECT_PREFIX = "企业微信驳回"
_background: set[asyncio.Task[None]] = set()


def send_key(card_row_id: int) -> str:
    return f"approval_card:{card_row_id}:send"


def update_key(card_row_id: int) -> str:
    return f"approval_card:{card_row_id}:update"


def button_key(action: str, task_id: int) -> str:
    """A callback button's key: the action and the approval task it decides (``oh:approve:12``)."""
    return f"oh:{action}:{task_id}"


# ------------------------------------------------------------------------------------------------------- rows


class CardRow(msgspec.Struct, kw_only=True):
    id: int
    request: int
    task: int
    kind: str
    assignee: int
    wecom_userid: str
    card_id: str
    status: str
    attempts: int
    not_before: datetime
    claim: str
    msgid: str
    response_code: str | None
    click_code: str | None
    want_text: str
    want_final: bool
    shown_text: str
    update_status: str
    update_attempts: int


class CardView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    request_id: int
    task_id: int
    kind: str  # decide, notice, cc, remind
    assignee_id: int
    wecom_userid: str
    card_id: str
    status: str  # pending, sending, sent, failed, superseded
    not_before: datetime
    sent_at: datetime | None
    want_text: str
    shown_text: str
    update_status: str  # "", pending, sending, done, failed
    error_code: str
    error_message: str


class ClickOutcome(msgspec.Struct, frozen=True, kw_only=True):
    outcome: str  # decided, duplicate, refused, ignored
    reason: str = ""  # why it was refused (the engine's error code) or ignored
    request_id: int | None = None
    status: str = ""  # the request's status after the tap


class _Setup(msgspec.Struct, frozen=True, kw_only=True):
    config: dict[str, str]
    app: str  # "corp_id/agent_id": the per-member window is per app
    callbacks: bool  # the app's callback is configured: cards may carry buttons that call back
    per_minute: int
    page_base: str  # the hub as people reach it ("" when unknown: no links)

    def page(self, request_id: int) -> str:
        return f"{self.page_base}{REQUEST_PAGE.format(request_id=request_id)}" if self.page_base else ""


async def _setup() -> _Setup | None:
    provider = await config.provider_config(PROVIDER)
    if provider is None:
        return None
    base = (await config.load_settings()).public_base_url.rstrip("/")
    return _Setup(
        config=provider,
        app=wecom_window.app_of(provider),
        callbacks=bool(provider.get("callback_token") and provider.get("callback_aes_key")),
        per_minute=wecom_window.per_minute_of(provider),
        page_base=base,
    )


# ---------------------------------------------------------------------------------------------------- writing


class _WeComId(msgspec.Struct):
    id: int
    wecom_userid: str


async def _wecom_ids(user_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
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


async def _insert(change: live.ApprovalChange, ref: live.TaskRef, kind: str, userid: str) -> int:
    (row,) = await db.execute_returning(
        db.IdRow,
        "INSERT INTO approval_card (request, task, kind, assignee, wecom_userid, card_id, status, attempts, "
        "not_before, lease_until, claim, msgid, response_code, click_code, want_text, want_final, shown_text, "
        "update_status, update_attempts, update_not_before, error_code, error_message, created_at, sent_at, "
        "updated_at) VALUES ({}, {}, {}, {}, {}, {}, 'pending', 0, {}, NULL, '', '', NULL, NULL, '', {}, '', '', 0, "
        "NULL, '', '', {}, NULL, {}) RETURNING id",
        change.request_id,
        ref.task_id,
        kind,
        ref.user_id,
        userid[:64],
        _new_card_id(change.request_id, ref.task_id),
        change.at,
        False,
        change.at,
        change.at,
    )
    return row.id


def _new_card_id(request_id: int, task_id: int) -> str:
    """WeCom's task_id: [0-9A-Za-z_-@], at most 128, never used before by the app (90236). The random part keeps
    it unique when ids repeat (a hub restored from a backup, a second hub on the same app)."""
    return f"oh{request_id}-{task_id}-{secrets.token_hex(5)}"


def _short(name: str, limit: int = 10) -> str:
    name = (name or "").strip()
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _final_text(change: live.ApprovalChange) -> str:
    """What every card of a request says once it is decided."""
    by = _short(change.decided_by_name or change.actor_name)
    expired = change.action == "expired"
    if change.status == "approved":
        return "超时自动同意" if expired else f"已由{by}同意"
    if change.status == "rejected":
        return "超时自动驳回" if expired else f"已由{by}驳回"
    if change.status == "withdrawn":
        return "申请人已撤回"
    return "审批已取消"


def _closed_text(change: live.ApprovalChange, ref: live.TaskRef) -> str:
    """What a card says once its task closed while the request goes on (or the request's outcome)."""
    if change.status != "pending":
        return _final_text(change)
    actor = _short(change.actor_name)
    mine = ref.user_id == change.actor_id
    new = _short(change.opened[0].user_name) if change.opened else ""
    if ref.status == "transferred":
        return f"已转交给{new}" if new else "已转交"
    if ref.status == "escalated":
        return f"已超时，转交{new}" if new else "已超时，已转交上级"
    if ref.status == "waiting":
        return "已加签，待加签人先审批"
    if ref.status == "approved":
        if change.actor_id is None:
            return "超时自动同意"
        return "已同意，等待他人审批" if mine else f"已由{actor}同意"
    if ref.status == "rejected":
        return "已驳回，等待他人审批" if mine else f"已由{actor}驳回"
    return f"已由{actor}同意" if change.action in ("approved", "signer_added") else f"已由{actor}处理"


class _Marked(msgspec.Struct):
    id: int
    status: str


_UPDATE_PENDING = (
    "update_status = CASE WHEN update_status = 'sending' THEN 'sending' ELSE 'pending' END, "
    "update_not_before = {}, updated_at = {}"
)


async def on_change(change: live.ApprovalChange) -> None:
    """The APPROVAL_HOOKS listener (inside the change's transaction): cards to write, cards to update."""
    sends: list[int] = []
    updates: list[int] = []
    wanted = [r for r in change.opened if r.role == "approver"] + list(change.told) + list(change.reminded)
    if wanted:
        setup = await _setup()
        if setup is not None:
            userids = await _wecom_ids(r.user_id for r in wanted)
            for ref in change.opened:
                if ref.role == "approver" and ref.user_id in userids:
                    kind = "decide" if setup.callbacks else "notice"
                    sends.append(await _insert(change, ref, kind, userids[ref.user_id]))
            for ref in change.told:
                if ref.user_id in userids:
                    sends.append(await _insert(change, ref, "cc", userids[ref.user_id]))
            for ref in change.reminded:
                if ref.user_id in userids:
                    sends.append(await _insert(change, ref, "remind", userids[ref.user_id]))
    closed = {ref.task_id: ref for ref in change.closed}
    final = change.status != "pending"
    if closed:
        task_of: list[_CardTask] = []
        for chunk in db.chunks(sorted(closed), db.MAX_PARAMS - 2):  # a step may have named many approvers
            marks = db.placeholders(len(chunk))
            # A card whose task closed before it went out is never sent.
            await db.execute(
                "UPDATE approval_card SET status = 'superseded', error_code = {}, updated_at = {} "
                f"WHERE task IN ({marks}) AND kind IN ('decide', 'notice', 'remind') AND status = 'pending'",
                CardDelivery.CARD_TASK_CLOSED.value,
                change.at,
                *chunk,
            )
            task_of += await db.fetch_as(
                _CardTask,
                f"SELECT id, task FROM approval_card WHERE task IN ({marks}) AND kind = 'decide' "
                "AND status IN ('sending', 'sent') ORDER BY id",
                *chunk,
            )
        for card in task_of:
            ref = closed[card.task]
            text = _closed_text(change, ref)
            # Final for this person unless their own decision waits for others (会签, N-of-M) or for signers added
            # before them: then the request's outcome comes later, on the card's other update code.
            last = final or not (ref.user_id == change.actor_id and ref.status in ("approved", "rejected", "waiting"))
            marked = await db.execute_returning(
                _Marked,
                "UPDATE approval_card SET want_text = {}, want_final = {}, " + _UPDATE_PENDING + " "
                "WHERE id = {} AND status IN ('sending', 'sent') RETURNING id, status",
                text[:64],
                last,
                change.at,
                change.at,
                card.id,
            )
            updates += [m.id for m in marked if m.status == "sent"]
    if final:
        marked = await db.execute_returning(
            _Marked,
            "UPDATE approval_card SET want_text = {}, want_final = {}, " + _UPDATE_PENDING + " "
            "WHERE request = {} AND kind = 'decide' AND status IN ('sending', 'sent') AND want_final = {} "
            "AND (response_code IS NOT NULL OR click_code IS NOT NULL) RETURNING id, status",
            _final_text(change)[:64],
            True,
            change.at,
            change.at,
            change.request_id,
            False,
        )
        updates += [m.id for m in marked if m.status == "sent"]
        await db.execute(
            "UPDATE approval_card SET status = 'superseded', error_code = {}, updated_at = {} "
            "WHERE request = {} AND status = 'pending' AND kind IN ('decide', 'notice', 'remind')",
            CardDelivery.CARD_REQUEST_CLOSED.value,
            change.at,
            change.request_id,
        )
    for card_row_id in sends:
        _after_commit(JobName.SEND_APPROVAL_CARD, send_key(card_row_id), card_row_id)
    for card_row_id in sorted(set(updates)):
        _after_commit(JobName.UPDATE_APPROVAL_CARD, update_key(card_row_id), card_row_id)


class _CardTask(msgspec.Struct):
    id: int
    task: int


def _after_commit(job: JobName, key: str, card_row_id: int) -> None:
    async def go() -> None:
        try:
            await enqueue(job, key=key, card_row_id=card_row_id)
        except RuntimeError:  # no queue in this process (a script, a test): the dispatcher cron sends it
            pass

    if db.pending_after_commit() is not None:
        db.after_commit(go)
    else:
        task = asyncio.get_running_loop().create_task(go())
        _background.add(task)  # held until done (the loop keeps only a weak reference)
        task.add_done_callback(_background.discard)


# ---------------------------------------------------------------------------------------------------- content


class _Req(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    title: str
    reason: str
    amount: int
    facts: str
    requester_name: str
    status: str


class _Task(msgspec.Struct, kw_only=True):
    id: int
    status: str
    step_name: str
    due_at: datetime | None


def yuan(fen: int) -> str:
    """Fen as people read money: ``¥5,001.00``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def _label(kind: str) -> str:
    try:
        return KINDS.get(kind).label
    except UnknownAdapter:
        return "审批"


async def _content(row: CardRow, setup: _Setup) -> CardContent | None:
    req = await db.fetch_one_as(
        _Req,
        "SELECT id, kind, title, reason, amount, facts, requester_name, status FROM approval_request WHERE id = {}",
        row.request,
    )
    task = await db.fetch_one_as(
        _Task, "SELECT id, status, step_name, due_at FROM approval_task WHERE id = {}", row.task
    )
    if req is None or task is None:
        return None
    facts = msgspec.json.decode(req.facts or "{}", type=RequestFacts) if req.facts else None
    label = _label(req.kind)
    subject = (facts.subject if facts is not None else "") or req.title
    rows: list[tuple[str, str]] = [("申请", subject)]
    if req.amount:
        rows.append(("金额", yuan(req.amount)))
    if facts is not None and facts.sku_names:
        rows.append(("商品", "、".join(facts.sku_names)))
    rows.append(("申请人", req.requester_name or "系统（规则）"))
    if task.due_at is not None and row.kind in ("decide", "notice", "remind"):
        rows.append(("截止", clock.to_shanghai(task.due_at).strftime("%m-%d %H:%M")))
    url = setup.page(req.id)
    reason = req.reason or "需要你的审批"
    if row.kind == "decide":
        buttons = [
            CardButton(text="同意", key=button_key("approve", row.task), style=1),
            CardButton(text="驳回", key=button_key("reject", row.task), style=2),
        ]
        if url:  # 转交 needs a person chosen: it opens the request's page, where 转交 / 加签 / comments are
            buttons.append(CardButton(text="转交…", url=url, style=3))
        return CardContent(
            kind="decide",
            card_id=row.card_id,
            recipient=row.wecom_userid,
            title=label,
            subtitle=task.step_name,
            summary=f"原因：{reason}",
            rows=rows,
            url=url,
            buttons=buttons,
            selection_key=REJECT_KEY,
            selection_title="驳回原因",
            options=[CardOption(id=i, text=t) for i, t in REJECT_REASONS],
            selected=REJECT_DEFAULT,
        )
    if row.kind == "remind":
        head, summary = f"催办：{label}", f"请尽快处理（{task.step_name}）"
    elif row.kind == "cc":
        head, summary = f"{label}（知会）", f"抄送给你，无需审批。原因：{reason}"
    else:
        head, summary = label, f"请在审批台处理。原因：{reason}"
    if url:
        return CardContent(
            kind="notice",
            card_id=row.card_id,
            recipient=row.wecom_userid,
            title=head,
            subtitle=task.step_name,
            summary=summary,
            rows=rows,
            url=url,
        )
    text = "\n".join([f"【{head}】", summary, *(f"{k}：{v}" for k, v in rows)])
    return CardContent(kind="text", card_id=row.card_id, recipient=row.wecom_userid, title=head, text=text)


# ---------------------------------------------------------------------------------------------------- sending

_COLUMNS = (
    "id, request, task, kind, assignee, wecom_userid, card_id, status, attempts, not_before, claim, msgid, "
    "response_code, click_code, want_text, want_final, shown_text, update_status, update_attempts"
)


async def _member_wait(setup: _Setup, userid: str, now: datetime) -> timedelta | None:
    """Reserve a slot in the member's window (None), or how long until there is one. The window is the one the
    outbox's staff messages count in too (:mod:`orderhub.notifications.wecom_window`)."""
    return await wecom_window.reserve(setup.app, userid, now, setup.per_minute, MEMBER_PER_HOUR)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def _error_columns(error: NotifyError | None, reason: CardDelivery | None, message: str = "") -> tuple[str, str]:
    """The row's error_code and error_message: the provider's code as it came, or ours."""
    if error is not None:
        return error.code[:64], error.message[:255]
    if reason is not None:
        return reason.value[:64], (message or reason.message)[:255]
    return "", ""


async def _claim_send(card_row_id: int, now: datetime) -> CardRow | None:
    rows = await db.execute_returning(  # raw: the claim is one conditional UPDATE … RETURNING
        CardRow,
        "UPDATE approval_card SET status = 'sending', lease_until = {}, attempts = attempts + 1, claim = {}, "
        "updated_at = {} WHERE id = {} AND ((status = 'pending' AND not_before <= {}) "
        f"OR (status = 'sending' AND lease_until < {{}})) RETURNING {_COLUMNS}",
        now + LEASE,
        uuid.uuid4().hex,
        now,
        card_row_id,
        now,
        now,
    )
    return rows[0] if rows else None


class _Settled(msgspec.Struct):
    id: int
    update_status: str


async def _settle_send(
    row: CardRow,
    status: str,
    now: datetime,
    *,
    not_before: datetime | None = None,
    error: NotifyError | None = None,
    reason: CardDelivery | None = None,
    message: str = "",
    give_back_attempt: bool = False,
    sent: SentCard | None = None,
    card_id: str | None = None,
    kind: str | None = None,
) -> _Settled | None:
    """Record the outcome of a claimed send, only while this job still holds the row."""
    settled = await db.execute_returning(  # raw: settles only while this claim holds the row
        _Settled,
        "UPDATE approval_card SET status = {}, not_before = {}, lease_until = NULL, error_code = {}, "
        "error_message = {}, attempts = attempts - {}, card_id = {}, kind = {}, msgid = {}, response_code = {}, "
        "sent_at = {}, updated_at = {} WHERE id = {} AND status = 'sending' AND claim = {} "
        "RETURNING id, update_status",
        status,
        not_before or row.not_before,
        *_error_columns(error, reason, message),
        1 if give_back_attempt else 0,
        card_id or row.card_id,
        kind or row.kind,
        (sent.message_id if sent is not None else row.msgid)[:128],
        (sent.update_code or None) if sent is not None else row.response_code,
        now if status == "sent" else None,
        now,
        row.id,
        row.claim,
    )
    if not settled:
        log.warning("card claim lost before settling", extra={"card": row.id, "outcome": status})
        return None
    return settled[0]


async def send(card_row_id: int, *, now: datetime | None = None) -> str:
    """The job: send the card once. Returns what happened (sent, failed, superseded, retry, throttled,
    rate_limited, or skipped when it is not due, already sent, or another job holds it)."""
    now = now or clock.now()
    row = await _claim_send(card_row_id, now)
    if row is None:
        return "skipped"
    setup = await _setup()
    if setup is None:
        await _settle_send(row, "failed", now, reason=CardDelivery.CARD_NOT_CONFIGURED)
        return "failed"
    task = await db.fetch_one_as(
        _Task, "SELECT id, status, step_name, due_at FROM approval_task WHERE id = {}", row.task
    )
    if task is None or (row.kind != "cc" and task.status != "pending"):
        await _settle_send(row, "superseded", now, reason=CardDelivery.CARD_TASK_CLOSED)
        return "superseded"
    wait = await _member_wait(setup, row.wecom_userid, now)
    if wait is not None:
        await _settle_send(
            row,
            "pending",
            now,
            not_before=now + wait,
            reason=CardDelivery.CARD_MEMBER_RATE,
            give_back_attempt=True,
        )
        log.info("approval card queued for the member's limit", extra={"card": row.id, "wait_s": wait.seconds})
        return "rate_limited"
    content = await _content(row, setup)
    if content is None:
        await _settle_send(row, "superseded", now, reason=CardDelivery.CARD_REQUEST_CLOSED)
        return "superseded"
    attempts = (await config.load_settings()).max_attempts
    try:
        sender = CARD_SENDERS.get(PROVIDER)(setup.config, config.token_redis())
        sent = await sender.send(content)
    except CardIdTaken as exc:
        if row.attempts > 1:  # our earlier attempt went through, its answer was lost: sent, without an update code
            settled = await _settle_send(row, "sent", now, reason=CardDelivery.CARD_SENT_BEFORE)
            log.warning("approval card id taken on a retry: sent before", extra={"card": row.id})
            await _after_sent(settled)
            return "sent"
        await _settle_send(  # a collision on the first attempt: a new id, at once
            row,
            "pending",
            now,
            not_before=now,
            error=exc,
            give_back_attempt=True,
            card_id=_new_card_id(row.request, row.task),
        )
        return await send(card_row_id)  # this job holds the send key: go again here
    except CallbacksUnavailable as exc:  # the app has no callback URL at WeCom: the card goes as a read-only notice
        log.warning("WeCom app has no callback URL: approval card sent as a notice", extra={"card": row.id})
        if await _settle_send(row, "pending", now, not_before=now, error=exc, give_back_attempt=True, kind="notice"):
            return await send(card_row_id)  # a notice needs no callback: this cannot come back
        return "skipped"
    except ThrottledNotifyError as exc:
        # 90313 45009 接口调用超过限制 / 45033 接口并发调用超过限制: try again in a minute (an approval should not
        # wait for a daily quota's midnight; the attempt is not used up).
        until = now + timedelta(seconds=max(60.0, exc.retry_after))
        await _settle_send(row, "pending", now, not_before=until, error=exc, give_back_attempt=True)
        return "throttled"
    except PermanentNotifyError as exc:
        await _settle_send(row, "failed", now, error=exc)
        log.warning("approval card refused", extra={"card": row.id, "code": exc.code})
        return "failed"
    except (TransientNotifyError, Exception) as exc:
        if _is_db_error(exc):
            raise  # the lease runs out and the dispatcher tries again
        error = exc if isinstance(exc, NotifyError) else TransientNotifyError("error", repr(exc)[:200])
        if row.attempts >= attempts:
            await _settle_send(row, "failed", now, error=error)
            return "failed"
        await _settle_send(row, "pending", now, not_before=now + _backoff(row.attempts), error=error)
        log.warning("approval card not sent; retried later", extra={"card": row.id, "code": error.code})
        return "retry"
    if row.wecom_userid.lower() in {r.lower() for r in sent.refused}:
        await _settle_send(
            row,
            "failed",
            now,
            sent=sent,
            reason=CardDelivery.CARD_RECIPIENT_REFUSED,
            message=f"{CardDelivery.CARD_RECIPIENT_REFUSED.message}：{row.wecom_userid}",
        )
        return "failed"
    await _after_sent(await _settle_send(row, "sent", now, sent=sent))
    return "sent"


async def _after_sent(settled: _Settled | None) -> None:
    """A card whose task closed while it was being sent is updated now."""
    if settled is not None and settled.update_status == "pending":
        _after_commit(JobName.UPDATE_APPROVAL_CARD, update_key(settled.id), settled.id)


def _is_db_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("asyncpg", "sqlite3", "piccolo"))


# --------------------------------------------------------------------------------------------------- updating


async def _claim_update(card_row_id: int, now: datetime) -> CardRow | None:
    rows = await db.execute_returning(  # raw: the claim is one conditional UPDATE … RETURNING
        CardRow,
        "UPDATE approval_card SET update_status = 'sending', lease_until = {}, update_attempts = update_attempts + 1, "
        "claim = {}, updated_at = {} WHERE id = {} AND status = 'sent' AND ((update_status = 'pending' AND "
        f"update_not_before <= {{}}) OR (update_status = 'sending' AND lease_until < {{}})) RETURNING {_COLUMNS}",
        now + LEASE,
        uuid.uuid4().hex,
        now,
        card_row_id,
        now,
        now,
    )
    return rows[0] if rows else None


async def _settle_update(
    row: CardRow,
    status: str,
    now: datetime,
    *,
    shown: str | None = None,
    spent: Iterable[str] = (),
    not_before: datetime | None = None,
    error: NotifyError | None = None,
    reason: CardDelivery | None = None,
    give_back_attempt: bool = False,
) -> str | None:
    """Record an update's outcome while this job holds the row; spent codes are forgotten. A text shown that is no
    longer the one wanted (the card changed again meanwhile) leaves the update pending."""
    forget = "".join(f"{name} = NULL, " for name in ("click_code", "response_code") if name in set(spent))
    status_sql = "{}" if shown is None else "CASE WHEN want_text = {} THEN 'done' ELSE 'pending' END"
    rows = await db.execute_returning(  # raw: settles only while this claim holds the row
        _Settled,
        f"UPDATE approval_card SET {forget}update_status = {status_sql}, shown_text = {{}}, "
        "update_not_before = {}, lease_until = NULL, error_code = {}, error_message = {}, "
        "update_attempts = update_attempts - {}, updated_at = {} "
        "WHERE id = {} AND update_status = 'sending' AND claim = {} RETURNING id, update_status",
        status if shown is None else shown,
        row.shown_text if shown is None else shown,
        not_before or now,
        *_error_columns(error, reason),
        1 if give_back_attempt else 0,
        now,
        row.id,
        row.claim,
    )
    if not rows:
        log.warning("card update claim lost before settling", extra={"card": row.id})
        return None
    return rows[0].update_status


async def update(card_row_id: int, *, now: datetime | None = None) -> str:
    """The job: make the card's buttons say ``want_text`` (greyed out). Returns done, pending (the text changed
    again: queued again), failed, retry, throttled, or skipped."""
    now = now or clock.now()
    row = await _claim_update(card_row_id, now)
    if row is None:
        return "skipped"
    text = row.want_text
    setup = await _setup()
    if setup is None or not text:
        await _settle_update(row, "failed", now, reason=CardDelivery.CARD_NOT_CONFIGURED)
        return "failed"
    codes = [
        (name, value) for name, value in (("click_code", row.click_code), ("response_code", row.response_code)) if value
    ]
    spent: list[str] = []
    attempts = (await config.load_settings()).max_attempts
    try:
        sender = CARD_SENDERS.get(PROVIDER)(setup.config, config.token_redis())
        for name, value in codes:
            try:
                await sender.update(update_code=value, recipient=row.wecom_userid, replace_name=text)
            except UpdateCodeUnusable as exc:
                spent.append(name)
                log.info("card update code unusable", extra={"card": row.id, "code": exc.code, "which": name})
                continue
            spent.append(name)
            outcome = await _settle_update(row, "done", now, shown=text, spent=spent)
            if outcome == "pending":  # the card changed again meanwhile: this job holds the key, so go on here
                return await update(card_row_id)
            return outcome or "skipped"
    except ThrottledNotifyError as exc:  # 90313 45009 / 45033: in a minute (see send)
        until = now + timedelta(seconds=max(60.0, exc.retry_after))
        await _settle_update(row, "pending", now, spent=spent, not_before=until, error=exc, give_back_attempt=True)
        return "throttled"
    except PermanentNotifyError as exc:
        await _settle_update(row, "failed", now, spent=spent, error=exc)
        log.warning("approval card update refused", extra={"card": row.id, "code": exc.code})
        return "failed"
    except (TransientNotifyError, Exception) as exc:
        if _is_db_error(exc):
            raise
        error = exc if isinstance(exc, NotifyError) else TransientNotifyError("error", repr(exc)[:200])
        if row.update_attempts >= attempts:
            await _settle_update(row, "failed", now, spent=spent, error=error)
            return "failed"
        await _settle_update(
            row, "pending", now, spent=spent, not_before=now + _backoff(row.update_attempts), error=error
        )
        return "retry"
    await _settle_update(
        row,
        "failed",
        now,
        spent=spent,
        reason=CardDelivery.CARD_NO_UPDATE_CODE,
    )
    return "failed"


# ------------------------------------------------------------------------------------------------ dispatching


async def dispatch_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """The cron: queue the cards due to be sent again and the updates still owed."""
    now = now or clock.now()
    sends = await db.fetch_as(
        db.IdRow,
        "SELECT id FROM approval_card WHERE (status = 'pending' AND not_before <= {}) "
        "OR (status = 'sending' AND lease_until < {}) ORDER BY not_before, id LIMIT {}",
        now,
        now,
        limit,
    )
    updates = await db.fetch_as(
        db.IdRow,
        "SELECT id FROM approval_card WHERE status = 'sent' AND ((update_status = 'pending' AND "
        "update_not_before <= {}) OR (update_status = 'sending' AND lease_until < {})) ORDER BY id LIMIT {}",
        now,
        now,
        limit,
    )
    for row in sends:
        await enqueue(JobName.SEND_APPROVAL_CARD, key=send_key(row.id), card_row_id=row.id)
    for row in updates:
        await enqueue(JobName.UPDATE_APPROVAL_CARD, key=update_key(row.id), card_row_id=row.id)
    return len(sends) + len(updates)


# ---------------------------------------------------------------------------------------------------- tapping


def _click_key(card_id: str, update_code: str) -> str:
    """The engine's idempotency key for one tap: the card and the tap's ResponseCode (digested: it is long)."""
    digest = hashlib.sha256(update_code.encode("utf-8")).hexdigest()[:32]
    return f"wecom:{card_id}:{digest}"


def _reject_reason(selected: dict[str, list[str]]) -> str:
    chosen = (selected.get(REJECT_KEY) or [REJECT_DEFAULT])[0]
    text = dict(REJECT_REASONS).get(chosen)
    if chosen == REJECT_DEFAULT or text is None:
        return REJECT_PREFIX
    return f"{REJECT_PREFIX}：{text}"


async def on_click(click: CardClick) -> ClickOutcome:
    """A person tapped 同意 or 驳回 on their card (the callback verified it came from WeCom): decide their task.
    Every delivery of the same tap gives the same answer and one decision."""
    card = await db.fetch_one_as(
        CardRow, f"SELECT {_COLUMNS} FROM approval_card WHERE card_id = {{}}", click.card_id[:128]
    )
    if card is None or card.kind != "decide":
        log.info("tap on an unknown card", extra={"card_id": click.card_id[:128]})
        return ClickOutcome(outcome="ignored", reason="unknown_card")
    parts = click.button_key.split(":")
    if len(parts) != 3 or parts[0] != "oh" or parts[1] not in ("approve", "reject") or parts[2] != str(card.task):
        log.warning("tap on an unknown button", extra={"card": card.id, "key": click.button_key[:64]})
        return ClickOutcome(outcome="ignored", reason="unknown_button", request_id=card.request)
    if click.recipient.lower() != card.wecom_userid.lower():
        log.warning("tap by someone the card was not sent to", extra={"card": card.id})
        return ClickOutcome(outcome="ignored", reason="not_the_recipient", request_id=card.request)
    staff = await db.fetch_as(
        db.IdRow,
        "SELECT id FROM app_user WHERE LOWER(wecom_userid) = {} AND active = {}",
        click.recipient.lower(),
        True,
    )
    if card.assignee not in {s.id for s in staff}:  # the WeCom id moved to someone else, or the account was closed
        log.warning("tap by a WeCom user no longer this task's approver", extra={"card": card.id})
        return ClickOutcome(outcome="ignored", reason="unknown_user", request_id=card.request)
    if click.update_code:  # the tap's own handle: the next update of this card spends it first
        await db.execute(
            "UPDATE approval_card SET click_code = {}, updated_at = {} WHERE id = {}",
            click.update_code,
            clock.now(),
            card.id,
        )
    key = _click_key(card.card_id, click.update_code or f"{click.created_at}")
    try:
        if parts[1] == "approve":
            result = await engine.approve(card.request, card.assignee, task_id=card.task, key=key)
        else:
            reason = _reject_reason(click.selected)
            result = await engine.reject(card.request, card.assignee, task_id=card.task, reason=reason, key=key)
    except OrderHubError as exc:
        log.info("tap refused", extra={"card": card.id, "code": str(exc.code)})
        return ClickOutcome(outcome="refused", reason=str(exc.code), request_id=card.request)
    if result.duplicate:
        log.info("tap delivered again: answered as before", extra={"card": card.id, "status": result.status})
    return ClickOutcome(
        outcome="duplicate" if result.duplicate else "decided", request_id=card.request, status=result.status
    )


# ---------------------------------------------------------------------------------------------------- reading


async def list_cards(request_id: int) -> list[CardView]:
    """A request's cards, oldest first (what was sent to whom, and what each shows now)."""
    rows = await db.fetch_as(
        _ViewRow,
        "SELECT id, request, task, kind, assignee, wecom_userid, card_id, status, not_before, sent_at, want_text, "
        "shown_text, update_status, error_code, error_message FROM approval_card WHERE request = {} ORDER BY id",
        request_id,
    )
    return [
        CardView(
            id=r.id,
            request_id=r.request,
            task_id=r.task,
            kind=r.kind,
            assignee_id=r.assignee,
            wecom_userid=r.wecom_userid,
            card_id=r.card_id,
            status=r.status,
            not_before=r.not_before,
            sent_at=r.sent_at,
            want_text=r.want_text,
            shown_text=r.shown_text,
            update_status=r.update_status,
            error_code=r.error_code,
            error_message=r.error_message,
        )
        for r in rows
    ]


class _ViewRow(msgspec.Struct, kw_only=True):
    id: int
    request: int
    task: int
    kind: str
    assignee: int
    wecom_userid: str
    card_id: str
    status: str
    not_before: datetime
    sent_at: datetime | None
    want_text: str
    shown_text: str
    update_status: str
    error_code: str
    error_message: str
