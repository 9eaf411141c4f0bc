"""Approvals decided in WeCom's own 审批 app (docs/approvals.md#wecoms-own-审批-app): the domain half of the native
path. A flow with ``runs_in: wecom_oa`` opens its requests without tasks in the hub (the engine and
:mod:`orderhub.approvals.oa_plan` write what to submit); from then on:

* **Submitting** (:func:`submit`, the ``submit_approval_oa`` job) — the request's ``approval_oa`` row is claimed by one
  conditional UPDATE (a job delivered twice submits once), the approval is submitted (``oa/applyevent`` through the
  :class:`~orderhub.approvals.oa_port.OaClient`) and the number WeCom gives it is stored on the request
  (``approval_request.sp_no``, unique). Transient failures are retried with backoff; one that leaves it unknown
  whether WeCom created the approval (a timeout, a lost answer) marks the row ``uncertain`` and the next attempt first
  looks for that approval (``oa/getapprovalinfo`` + ``oa/getapprovaldetail``): never two approvals for one request.
  A refusal for good (or every attempt failing) cancels the request — nothing waits on it — and the order's log
  says why.
* **Deciding** (:func:`apply`) — WeCom's callback (``sys_approval_change``, through ``api/wecom``) or a read
  reports the approval's state. A final one (已通过 / 已驳回 / 已撤销 / 通过后撤销 / 已删除 / 已支付) closes the
  request through :func:`orderhub.approvals.engine.decide_external` as the staff member WeCom's approver maps to (by
  ``app_user.wecom_userid``), with the key ``wecom_oa:{sp_no}:{status}``: the same state delivered three times, or
  by the callback and a read at once, is one decision; a state older than the request's outcome changes nothing.
* **Reconciling** (:func:`reconcile_due`, a unique cron every 30 s) — re-queues submissions due (backoff, a dead
  worker's lease) and, for native requests still open a while after submission, queues a read of their state
  (:func:`check`), so a lost callback never leaves an approval hanging.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.approvals import audit, engine
from orderhub.approvals.errors import ApprovalError, OaDelivery
from orderhub.approvals.oa_plan import PROVIDER, submit_key
from orderhub.approvals.oa_port import FINAL, OA_CLIENTS, OaClient, OaState, OaSubmission, OaUncertain
from orderhub.errors import OrderHubError
from orderhub.notifications import config
from orderhub.notifications.port import (
    NotifyError,
    PermanentNotifyError,
    ThrottledNotifyError,
    TransientNotifyError,
)
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import record_event
from orderhub.queue import JobName, enqueue

__all__ = [
    "CHECK_AFTER",
    "CHECK_EVERY",
    "CLIENT",
    "RECONCILE_CRON",
    "Applied",
    "OaView",
    "apply",
    "check",
    "check_key",
    "get_oa",
    "reconcile_due",
    "submit",
    "submit_key",
]

log = logging.getLogger("orderhub.approvals.oa")

CLIENT = "wecom_oa"  # the OA_CLIENTS code of WeCom's 审批 app
RECONCILE_CRON = "* * * * * */30"
CHECK_AFTER = timedelta(minutes=2)  # a native request still open this long after its submission is read from WeCom
CHECK_EVERY = timedelta(minutes=10)  # … and again this often while it stays open
LEASE = timedelta(seconds=120)
LOOKBACK = timedelta(minutes=5)  # an uncertain attempt's approval is looked for from a little before the first try
SYSTEM_NAME = "系统"

# The hub's outcome for a final state, and who decided: the last approver to approve / reject, the submitter for a
# withdrawal (4 已撤销, 6 通过后撤销), nobody for 7 已删除. 10 已支付 comes after 已通过 (payment approvals).
_OUTCOME = {
    "approved": "approved",
    "paid": "approved",
    "rejected": "rejected",
    "withdrawn": "withdrawn",
    "withdrawn_after_approval": "withdrawn",
    "deleted": "cancelled",
}
_REASON = {
    "approved": "企业微信审批通过",
    "paid": "企业微信审批通过（已支付）",
    "rejected": "企业微信驳回",
    "withdrawn": "申请人在企业微信中撤销",
    "withdrawn_after_approval": "申请人在企业微信中撤销（通过后撤销）",
    "deleted": "企业微信审批单已删除",
}


def check_key(request_id: int) -> str:
    return f"approval_oa:{request_id}:check"


def _client(provider: Mapping[str, str]) -> OaClient:
    return OA_CLIENTS.get(CLIENT)(provider, config.token_redis())


# ------------------------------------------------------------------------------------------------------- rows


class _Row(msgspec.Struct, kw_only=True):
    id: int
    request: int
    status: str
    submission: str
    attempts: int
    claim: str
    uncertain: bool
    first_try_at: datetime | None
    wecom_status: int


_COLUMNS = "id, request, status, submission, attempts, claim, uncertain, first_try_at, wecom_status"


class OaView(msgspec.Struct, frozen=True, kw_only=True):
    request_id: int
    sp_no: str | None
    status: str  # pending, submitting, submitted, failed, superseded
    attempts: int
    uncertain: bool
    wecom_status: int
    check_at: datetime | None
    checks: int
    error_code: str
    error_message: str
    submission: OaSubmission


class _ViewRow(msgspec.Struct, kw_only=True):
    request: int
    sp_no: str | None
    status: str
    attempts: int
    uncertain: bool
    wecom_status: int
    check_at: datetime | None
    checks: int
    error_code: str
    error_message: str
    submission: str


async def get_oa(request_id: int) -> OaView | None:
    """A native request's submission and what became of it (None for a request the hub decides itself)."""
    row = await db.fetch_one_as(
        _ViewRow,
        "SELECT o.request, r.sp_no, o.status, o.attempts, o.uncertain, o.wecom_status, o.check_at, o.checks, "
        "o.error_code, o.error_message, o.submission FROM approval_oa o JOIN approval_request r ON r.id = o.request "
        "WHERE o.request = {}",
        request_id,
    )
    if row is None:
        return None
    return OaView(
        request_id=row.request,
        sp_no=row.sp_no,
        status=row.status,
        attempts=row.attempts,
        uncertain=row.uncertain,
        wecom_status=row.wecom_status,
        check_at=row.check_at,
        checks=row.checks,
        error_code=row.error_code,
        error_message=row.error_message,
        submission=msgspec.json.decode(row.submission, type=OaSubmission),
    )


# ------------------------------------------------------------------------------------------------- submitting


async def _claim(request_id: int, now: datetime) -> _Row | None:
    rows = await db.execute_returning(  # raw: the claim is one conditional UPDATE … RETURNING
        _Row,
        "UPDATE approval_oa SET status = 'submitting', lease_until = {}, attempts = attempts + 1, claim = {}, "
        "first_try_at = COALESCE(first_try_at, {}), updated_at = {} WHERE request = {} AND "
        "((status = 'pending' AND not_before <= {}) OR (status = 'submitting' AND lease_until < {})) "
        f"RETURNING {_COLUMNS}",
        now + LEASE,
        uuid.uuid4().hex,
        now,
        now,
        request_id,
        now,
        now,
    )
    return rows[0] if rows else None


def _error_columns(error: NotifyError | None, reason: OaDelivery | None) -> tuple[str, str]:
    if reason is not None:
        return reason.value, reason.message[:255]
    if error is not None:
        return str(error.code)[:64], str(error.message)[:255]
    return "", ""


async def _settle(
    row: _Row,
    status: str,
    now: datetime,
    *,
    not_before: datetime | None = None,
    error: NotifyError | None = None,
    reason: OaDelivery | None = None,
    uncertain: bool | None = None,
    give_back_attempt: bool = False,
    submitted: bool = False,
) -> bool:
    """Record an attempt's outcome while this job holds the row (False: the claim was lost meanwhile)."""
    rows = await db.execute_returning(  # raw: settles only while this claim holds the row
        db.IdRow,
        "UPDATE approval_oa SET status = {}, not_before = {}, lease_until = NULL, error_code = {}, error_message = {}, "
        "uncertain = {}, attempts = attempts - {}, submitted_at = {}, check_at = {}, updated_at = {} "
        "WHERE id = {} AND status = 'submitting' AND claim = {} RETURNING id",
        status,
        not_before or now,
        *_error_columns(error, reason),
        row.uncertain if uncertain is None else uncertain,
        1 if give_back_attempt else 0,
        now if submitted else None,
        now + CHECK_AFTER if submitted else None,
        now,
        row.id,
        row.claim,
    )
    if not rows:
        log.warning("approval submission claim lost before settling", extra={"request": row.request})
    return bool(rows)


def _backoff(attempts: int) -> timedelta:
    base = min(30 * 2 ** max(0, attempts - 1), 1800)
    return timedelta(seconds=base * (0.8 + 0.4 * random.random()))


class _Req(msgspec.Struct):
    status: str
    sp_no: str | None
    order_id: int | None


async def _request(request_id: int) -> _Req | None:
    return await db.fetch_one_as(_Req, "SELECT status, sp_no, order_id FROM approval_request WHERE id = {}", request_id)


class _Known(msgspec.Struct):
    sp_no: str


async def _first_unknown(candidates: list[str]) -> str | None:
    """The first number no request holds yet (another request's approval has the same contents: a second request
    about the same order)."""
    known: set[str] = set()
    for chunk in db.chunks(candidates):
        rows = await db.fetch_as(
            _Known, f"SELECT sp_no FROM approval_request WHERE sp_no IN ({db.placeholders(len(chunk))})", *chunk
        )
        known.update(r.sp_no for r in rows)
    return next((c for c in candidates if c not in known), None)


async def submit(request_id: int, *, now: datetime | None = None) -> str:
    """The job: submit the request to WeCom's 审批 app once. Returns submitted, found (an earlier attempt's
    approval), retry, throttled, failed, superseded or skipped."""
    now = now or clock.now()
    row = await _claim(request_id, now)
    if row is None:
        return "skipped"
    req = await _request(request_id)
    if req is not None and req.sp_no:  # a dead worker stored it and lost its lease: done
        await _settle(row, "submitted", now, submitted=True)
        return "submitted"
    if req is None or req.status != "pending":
        await _settle(row, "superseded", now, reason=OaDelivery.OA_REQUEST_CLOSED)
        return "superseded"
    provider = await config.provider_config(PROVIDER)
    attempts = (await config.load_settings()).max_attempts
    if provider is None:
        if row.attempts >= attempts:
            await _give_up(row, now, OaDelivery.OA_NOT_CONFIGURED.value, OaDelivery.OA_NOT_CONFIGURED.message)
            return "failed"
        await _settle(row, "pending", now, not_before=now + _backoff(row.attempts), reason=OaDelivery.OA_NOT_CONFIGURED)
        return "retry"
    submission = msgspec.json.decode(row.submission, type=OaSubmission)
    found = False
    try:
        client = _client(provider)
        sp_no: str | None = None
        if row.uncertain and row.first_try_at is not None:
            candidates = await client.find(submission, since=row.first_try_at - LOOKBACK, until=now + LOOKBACK)
            sp_no = await _first_unknown(candidates)
            found = sp_no is not None
        if sp_no is None:
            sp_no = await client.submit(submission)
    except OaUncertain as exc:  # it may have gone through: the next attempt looks for it first
        if row.attempts >= attempts:
            await _give_up(row, now, str(exc.code), exc.message)
            return "failed"
        await _settle(row, "pending", now, not_before=now + _backoff(row.attempts), error=exc, uncertain=True)
        log.warning("approval submission outcome unknown; looked for before retrying", extra={"request": request_id})
        return "retry"
    except ThrottledNotifyError as exc:
        # 全局错误码 45009 接口调用超过限制 / 45033 并发 (https://developer.work.weixin.qq.com/document/path/90313):
        # a minute later, the attempt not counted (提交审批申请 allows 60 calls a minute, 91853).
        until = now + timedelta(seconds=max(60.0, exc.retry_after))
        await _settle(row, "pending", now, not_before=until, error=exc, give_back_attempt=True)
        return "throttled"
    except PermanentNotifyError as exc:
        await _give_up(row, now, str(exc.code), exc.message)
        return "failed"
    except (TransientNotifyError, Exception) as exc:
        if _is_db_error(exc):
            raise  # the lease runs out and the reconciliation tries again
        error = exc if isinstance(exc, NotifyError) else TransientNotifyError("error", repr(exc)[:200])
        if row.attempts >= attempts:
            await _give_up(row, now, str(error.code), error.message)
            return "failed"
        await _settle(row, "pending", now, not_before=now + _backoff(row.attempts), error=error)
        log.warning("approval submission failed; retried later", extra={"request": request_id, "code": error.code})
        return "retry"
    await _store(row, sp_no, now, found=found)
    return "found" if found else "submitted"


def _is_db_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("asyncpg", "sqlite3", "piccolo"))


async def _store(row: _Row, sp_no: str, now: datetime, *, found: bool) -> None:
    """The approval's number onto the request (once: the column is unique and only an empty one is set)."""
    async with db.transaction():
        stored = await db.execute_returning(
            db.IdRow,
            "UPDATE approval_request SET sp_no = {}, updated_at = {} WHERE id = {} AND sp_no IS NULL RETURNING id",
            sp_no,
            now,
            row.request,
        )
        settled = await _settle(
            row,
            "submitted",
            now,
            submitted=True,
            uncertain=False,
            reason=OaDelivery.OA_FOUND_AFTER_RETRY if found else None,
        )
        if stored and settled:
            await audit.append(
                audit.request_chain(row.request),
                "submitted_to_wecom",
                actor="system",
                request_id=row.request,
                at=now,
                data={"sp_no": sp_no, "attempts": row.attempts, "found_after_retry": found},
            )
    log.info("approval submitted to WeCom", extra={"request": row.request, "sp_no": sp_no, "found": found})


async def _give_up(row: _Row, now: datetime, code: str, message: str) -> None:
    """WeCom refused the submission for good (or every attempt failed): the request is cancelled — nothing may wait on
    an approval that does not exist — and the order's log says why (it waits for a person, as before flows)."""
    text = f"企业微信审批提交失败（{code}）：{message}"[:255]
    req = await _request(row.request)
    try:  # its own transaction: a refusal (closed meanwhile) must leave nothing of it behind
        await engine.decide_external(
            row.request,
            outcome="cancelled",
            key=f"wecom_oa:{row.request}:failed",
            actor_id=None,
            actor_name=SYSTEM_NAME,
            reason=text,
            action="wecom_submit_failed",
            data={"code": code, "failure": OaDelivery.OA_SUBMIT_FAILED.value},
        )
    except OrderHubError as exc:
        log.info("failed submission's request already closed", extra={"request": row.request, "code": exc.code})
    async with db.transaction():
        await db.execute(
            "UPDATE approval_oa SET status = 'failed', lease_until = NULL, error_code = {}, error_message = {}, "
            "updated_at = {} WHERE id = {} AND claim = {}",
            code[:64],
            message[:255],
            now,
            row.id,
            row.claim,
        )
        if req is not None and req.status == "pending" and req.order_id is not None:
            await record_event(
                req.order_id,
                OrderEventType.APPROVAL_NOT_STARTED,
                reason=OaDelivery.OA_SUBMIT_FAILED.value,
                data={"request_id": row.request, "code": code, "message": text},
            )
    log.warning("approval submission given up", extra={"request": row.request, "code": code})


# ---------------------------------------------------------------------------------------------------- deciding


class Applied(msgspec.Struct, frozen=True, kw_only=True):
    outcome: str  # decided, duplicate, pending (not final yet), closed (decided before), ignored (not ours)
    request_id: int | None = None
    status: str = ""  # the request's status after it


class _Native(msgspec.Struct):
    id: int
    status: str


class _Staff(msgspec.Struct):
    id: int


def _decider(state: OaState) -> tuple[str, str]:
    """Who decided (their WeCom userid) and what they said."""
    if state.status in ("approved", "paid", "rejected"):
        wanted = 3 if state.status == "rejected" else 2
        done = [d for d in state.decisions if d.status == wanted]
        if done:
            last = max(done, key=lambda d: d.at)
            return last.userid, last.speech
        return "", ""
    if state.status in ("withdrawn", "withdrawn_after_approval"):
        return state.creator, ""
    return "", ""


async def _staff(userid: str) -> int | None:
    if not userid:
        return None
    row = await db.fetch_one_as(
        _Staff,
        "SELECT id FROM app_user WHERE LOWER(wecom_userid) = {} AND active = {} ORDER BY id LIMIT 1",
        userid.lower(),
        True,
    )
    return row.id if row is not None else None


async def apply(state: OaState, *, source: str) -> Applied:
    """WeCom reports an approval's state (``source``: callback, reconcile): a final one decides its request, once."""
    req = await db.fetch_one_as(_Native, "SELECT id, status FROM approval_request WHERE sp_no = {}", state.sp_no[:64])
    if req is None:
        log.info("WeCom approval not ours", extra={"sp_no": state.sp_no[:64], "source": source})
        return Applied(outcome="ignored")
    moved = await db.execute_returning(  # the last state seen (a repeated delivery changes nothing here)
        db.IdRow,
        "UPDATE approval_oa SET wecom_status = {}, updated_at = {} WHERE request = {} AND wecom_status <> {} "
        "RETURNING id",
        state.raw_status,
        clock.now(),
        req.id,
        state.raw_status,
    )
    if state.status not in FINAL:
        return Applied(outcome="pending", request_id=req.id, status=req.status)
    if req.status != "pending":
        if moved and state.status == "withdrawn_after_approval" and req.status == "approved":
            # 通过后撤销: WeCom took back an approval whose effect already ran here — recorded, not undone.
            async with db.transaction():
                await audit.append(
                    audit.request_chain(req.id),
                    "wecom_revoked_after_approval",
                    actor="system",
                    request_id=req.id,
                    at=clock.now(),
                    data={"sp_no": state.sp_no, "note": "企业微信中通过后撤销；订单中枢已执行的结果未撤回，请人工处理"},
                )
            log.warning("approval revoked in WeCom after it was carried out", extra={"request": req.id})
        return Applied(outcome="closed", request_id=req.id, status=req.status)
    userid, speech = _decider(state)
    actor_id = await _staff(userid)
    reason = _REASON[state.status] + (f"：{speech.strip()}" if speech.strip() else "")
    key = f"wecom_oa:{state.sp_no}:{state.raw_status}"
    decided = {"sp_no": state.sp_no, "wecom_status": state.raw_status, "wecom_userid": userid, "source": source}
    outcome = _OUTCOME[state.status]
    try:
        result = await engine.decide_external(
            req.id,
            outcome=outcome,  # type: ignore[arg-type]
            key=key,
            actor_id=actor_id,
            actor_name=f"企业微信用户 {userid}" if userid else "企业微信",
            actor_label=f"wecom:{userid}" if userid else "wecom",
            reason=reason,
            data=decided,
        )
    except OrderHubError as exc:
        if exc.code == ApprovalError.APPROVAL_EFFECT_REFUSED:  # e.g. the order shipped meanwhile: cannot be done
            return await _refused(req.id, state, key, exc, decided)
        if exc.code in (ApprovalError.APPROVAL_CLOSED, ApprovalError.APPROVAL_KEY_REUSED):
            return Applied(outcome="closed", request_id=req.id)
        raise
    if result.duplicate:
        log.info("WeCom approval state delivered again: answered as before", extra={"request": req.id})
    return Applied(outcome="duplicate" if result.duplicate else "decided", request_id=req.id, status=result.status)


async def _refused(request_id: int, state: OaState, key: str, exc: OrderHubError, data: dict[str, Any]) -> Applied:
    """Decided in WeCom, but what it should do can no longer be done here: the request is closed as cancelled with
    why, rather than waiting for ever."""
    try:
        result = await engine.decide_external(
            request_id,
            outcome="cancelled",
            key=f"{key}:refused",
            actor_id=None,
            actor_name=SYSTEM_NAME,
            reason=f"{_REASON[state.status]}，但无法执行：{exc.message}",
            action="wecom_effect_refused",
            data={**data, "code": str(exc.code)},
        )
    except OrderHubError:
        return Applied(outcome="closed", request_id=request_id)
    return Applied(outcome="decided", request_id=request_id, status=result.status)


# ------------------------------------------------------------------------------------------------- reconciling


async def check(request_id: int) -> str:
    """The job: read a native request's approval from WeCom and apply what it says (a lost callback)."""
    req = await _request(request_id)
    if req is None or req.status != "pending" or not req.sp_no:
        return "skipped"
    provider = await config.provider_config(PROVIDER)
    if provider is None:
        return "not_configured"
    try:
        state = await _client(provider).state(req.sp_no)
    except NotifyError as exc:  # the next check comes CHECK_EVERY later (check_at moved when it was queued)
        log.warning("WeCom approval not read", extra={"request": request_id, "code": exc.code})
        return "error"
    return (await apply(state, source="reconcile")).outcome


async def reconcile_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """The cron: queue the submissions due again (backoff, a dead worker's lease) and a read of every native request
    still open whose check is due (each moved CHECK_EVERY on, so it is queued once per period)."""
    now = now or clock.now()
    submits = await db.fetch_as(
        _Request,
        "SELECT request FROM approval_oa WHERE (status = 'pending' AND not_before <= {}) "
        "OR (status = 'submitting' AND lease_until < {}) ORDER BY not_before, id LIMIT {}",
        now,
        now,
        limit,
    )
    due = await db.fetch_as(
        _Request,
        "SELECT o.request FROM approval_oa o JOIN approval_request r ON r.id = o.request WHERE o.status = 'submitted' "
        "AND r.status = 'pending' AND o.check_at IS NOT NULL AND o.check_at <= {} ORDER BY o.check_at, o.id LIMIT {}",
        now,
        limit,
    )
    checks: list[int] = []
    for row in due:
        moved = await db.execute_returning(  # raw: one read per period, whichever worker runs the cron
            db.IdRow,
            "UPDATE approval_oa SET check_at = {}, checks = checks + 1, updated_at = {} WHERE request = {} "
            "AND check_at <= {} RETURNING id",
            now + CHECK_EVERY,
            now,
            row.request,
            now,
        )
        if moved:
            checks.append(row.request)
    for row in submits:
        await enqueue(JobName.SUBMIT_APPROVAL_OA, key=submit_key(row.request), request_id=row.request)
    for request_id in checks:
        await enqueue(JobName.CHECK_APPROVAL_OA, key=check_key(request_id), request_id=request_id)
    return len(submits) + len(checks)


class _Request(msgspec.Struct):
    request: int
