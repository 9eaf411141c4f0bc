"""Approvals decided in WeCom's own 审批 app (docs/approvals.md#wecoms-own-审批-app): the domain half of the native
path. A flow with ``runs_in: wecom_oa`` opens its requests without tasks in the hub (the engine and
:mod:`orderhub.approvals.oa_plan` write what to submit); from then on:

* **Submitting** (:func:`submit`, the ``submit_approval_oa`` job) — the request's ``approval_oa`` row is claimed by one
  conditional UPDATE (a job delivered twice submits once), the approval is submitted (``oa/applyevent`` through the
  :class:`~orderhub.approvals.oa_port.OaClient`) and the number WeCom gives it is stored on the request
  (``approval_request.sp_no``, unique). Transient failures are retried with backoff; one that leaves it unknown
  whether WeCom created the approval (a timeout, a lost answer — or an attempt that never finished: its job cancelled
  or its worker gone while it held the row, a database error after WeCom answered) marks the row ``uncertain`` with
  the span that attempt ran in, and the next attempt first looks there for the approval carrying the request's
  reference (``oa/getapprovalinfo`` + ``oa/getapprovaldetail``, within a time budget): never two approvals for one
  request. A refusal for good (or every attempt failing, after one last look) cancels the request — nothing waits on
  it — and the order's log says why, in words people read.
* **Deciding** (:func:`apply`) — WeCom's callback (``sys_approval_change``, through ``api/wecom``) or a read
  reports the approval's state. A final one (已通过 / 已驳回 / 已撤销 / 通过后撤销 / 已删除 / 已支付) closes the
  request through :func:`orderhub.approvals.engine.decide_external` as the staff member WeCom's approver maps to (by
  ``app_user.wecom_userid``), with the key ``wecom_oa:{sp_no}:{status}``: the same state delivered three times, or
  by the callback and a read at once, is one decision; a state older than the request's outcome changes nothing.
  An effect refused for now (:data:`TEMPORARY_CODES`: a waybill request in flight …) leaves the request open and the
  reconciliation reads the approval again soon; any other refusal closes the request as cancelled with why.
* **Reconciling** (:func:`reconcile_due`, a unique cron every 30 s) — re-queues submissions due (backoff, a dead
  worker's lease) and, for native requests still open a while after submission, queues a read of their state
  (:func:`check`), so a lost callback never leaves an approval hanging.
"""

from __future__ import annotations

import logging
import random
import re
import sqlite3
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.approvals import audit, engine
from orderhub.approvals.errors import ApprovalError, OaDelivery
from orderhub.approvals.oa_plan import PROVIDER, submit_key
from orderhub.approvals.oa_port import FINAL, OA_CLIENTS, OaClient, OaState, OaSubmission, OaUncertain
from orderhub.errors import CommonError, OrderHubError, ServiceUnavailable
from orderhub.logistics.errors import LogisticsError
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
    "TEMPORARY_CODES",
    "Applied",
    "OaView",
    "apply",
    "check",
    "check_key",
    "get_oa",
    "reconcile_due",
    "submit",
    "submit_failure_text",
    "submit_key",
]

log = logging.getLogger("orderhub.approvals.oa")

CLIENT = "wecom_oa"  # the OA_CLIENTS code of WeCom's 审批 app
RECONCILE_CRON = "* * * * * */30"
CHECK_AFTER = timedelta(minutes=2)  # a native request still open this long after its submission is read from WeCom
CHECK_EVERY = timedelta(minutes=10)  # … and again this often while it stays open
LEASE = timedelta(seconds=120)
# An uncertain attempt's approval is looked for in the span the attempt ran in, this much wider each side (clocks).
LOOK_MARGIN = timedelta(minutes=1)
# Seconds the look may take: well under the job's timeout (60 s by default) and the lease, one getapprovaldetail per
# approval of the creator's in the span; what it could not finish it does not conclude (the row stays uncertain).
FIND_BUDGET = 20.0
# An effect refused for now: the approval is read again after 30 s, doubling up to CHECK_EVERY, this many times
# (about a day) before the refusal is taken as final.
RETRY_FIRST = timedelta(seconds=30)
RETRY_LIMIT = 150
SYSTEM_NAME = "系统"

# What makes an effect's refusal temporary (the decision is applied again later, the request stays open) rather than
# final (the request is closed as cancelled): these codes (or any ServiceUnavailable: a store briefly down) anywhere
# in its ``raise … from`` chain, or an error that says so itself (``extra={"temporary": True}``).
TEMPORARY_CODES = frozenset(
    {
        LogisticsError.WAYBILL_REQUEST_PENDING.value,  # a packer's waybill request in flight: answered in seconds
        CommonError.CONCURRENT_UPDATE.value,
        CommonError.DATABASE_UNAVAILABLE.value,
        CommonError.REDIS_UNAVAILABLE.value,
        CommonError.SERVICE_UNAVAILABLE.value,
    }
)

# Why a submission failed, in words people read (the outcome's reason, the audit trail, the order's log); WeCom's own
# English errmsg stays in approval_oa.error_message and the logs. 提交审批申请 错误说明
# (https://developer.work.weixin.qq.com/document/path/91853) and 全局错误码
# (https://developer.work.weixin.qq.com/document/path/90313); the others are the notifiers' codes for failures of
# the call itself (notify/providers/_wechat.py).
_SUBMIT_TEXT = {
    "301025": "提交审批单请求参数错误（请核对流程的模板与控件设置）",
    "301055": "无审批应用权限，或提单者不在审批应用/自建应用的可见范围",
    "301056": "企业微信审批应用已停用",
    "301057": "企业微信提交审批单内部接口失败",
    "-1": "企业微信系统繁忙",
    "45009": "企业微信接口调用超过每日限额",
    "45033": "企业微信接口并发调用超过限制",
    "timeout": "企业微信响应超时",
    "network": "无法连接企业微信",
    "bad_response": "企业微信的应答无法识别",
    "no_sp_no": "企业微信未返回审批单号",
    "error": "提交时发生内部错误",
    "unfinished": "提交未能完成（处理中断），重试次数已用完",
    OaDelivery.OA_NOT_CONFIGURED.value: OaDelivery.OA_NOT_CONFIGURED.message,
}

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
    tried_at: datetime | None
    look_from: datetime | None
    look_until: datetime | None
    wecom_status: int


_COLUMNS = (
    "id, request, status, submission, attempts, claim, uncertain, first_try_at, tried_at, look_from, look_until, "
    "wecom_status"
)


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
    """Take the row for one attempt. A row taken over while ``submitting`` (its lease ran out: the job was cancelled
    in the middle of its call — SIGTERM, the job's timeout —, its worker died, or a database error came after WeCom
    answered) is marked uncertain, with the span that attempt ran in (from its start to its lease's end, joined to a
    span still unaccounted for): WeCom may have created the approval, so it is looked for before anything is
    submitted again."""
    rows = await db.execute_returning(  # raw: the claim is one conditional UPDATE … RETURNING
        _Row,
        "UPDATE approval_oa SET status = 'submitting', lease_until = {}, attempts = attempts + 1, claim = {}, "
        "first_try_at = COALESCE(first_try_at, {}), "
        "uncertain = CASE WHEN status = 'submitting' THEN {} ELSE uncertain END, "
        "look_from = CASE WHEN status = 'submitting' THEN COALESCE(look_from, tried_at, first_try_at) "
        "ELSE look_from END, "
        "look_until = CASE WHEN status = 'submitting' THEN lease_until ELSE look_until END, "
        "tried_at = {}, updated_at = {} WHERE request = {} AND "
        "((status = 'pending' AND not_before <= {}) OR (status = 'submitting' AND lease_until < {})) "
        f"RETURNING {_COLUMNS}",
        now + LEASE,
        uuid.uuid4().hex,
        now,
        True,
        now,
        now,
        request_id,
        now,
        now,
    )
    return rows[0] if rows else None


_Span = tuple[datetime, datetime]


def _span(row: _Row, now: datetime) -> _Span | None:
    """Where the attempts not yet accounted for may have created the approval (None: nowhere, nothing to look for)."""
    if not row.uncertain:
        return None
    since = row.look_from or row.first_try_at or now  # a row marked before the span was kept: since its first try
    return since, max(row.look_until or now, since)


_SECRETS = re.compile(r"\?[A-Za-z0-9_.%-]+=[^\s'\"()<>]*|\b(access_token|secret|corpsecret)=[^\s&'\"()<>]*", re.I)


def _scrub(text: str) -> str:
    """An exception's text fit to be stored: no URL query string (an access token travels in them)."""
    return _SECRETS.sub("", text)


def submit_failure_text(code: str) -> str:
    """Why a submission failed, in zh-CN, for people (WeCom's English errmsg is kept for logs only)."""
    if code in _SUBMIT_TEXT:
        return _SUBMIT_TEXT[code]
    if code.startswith("http_"):
        return f"企业微信服务暂时不可用（HTTP {code.removeprefix('http_')}）"
    return "企业微信拒绝了提交"


def _error_columns(error: NotifyError | None, reason: OaDelivery | None) -> tuple[str, str]:
    if reason is not None:
        return reason.value, reason.message[:255]
    if error is not None:
        return str(error.code)[:64], _scrub(str(error.message))[:255]
    return "", ""


async def _settle(
    row: _Row,
    status: str,
    now: datetime,
    *,
    not_before: datetime | None = None,
    error: NotifyError | None = None,
    reason: OaDelivery | None = None,
    look: _Span | None = None,
    give_back_attempt: bool = False,
    submitted: bool = False,
) -> bool:
    """Record an attempt's outcome while this job holds the row (False: the claim was lost meanwhile). ``look``: the
    span an approval may have been created in without our knowing (the row is then uncertain); None: none."""
    rows = await db.execute_returning(  # raw: settles only while this claim holds the row
        db.IdRow,
        "UPDATE approval_oa SET status = {}, not_before = {}, lease_until = NULL, error_code = {}, error_message = {}, "
        "uncertain = {}, look_from = {}, look_until = {}, attempts = attempts - {}, submitted_at = {}, check_at = {}, "
        "updated_at = {} WHERE id = {} AND status = 'submitting' AND claim = {} RETURNING id",
        status,
        not_before or now,
        *_error_columns(error, reason),
        look is not None,
        look[0] if look is not None else None,
        look[1] if look is not None else None,
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


def _next_midnight(now: datetime) -> datetime:
    """Just after the next midnight in Asia/Shanghai (when WeCom's daily quotas reset), as aware UTC."""
    day = clock.to_shanghai(now).date() + timedelta(days=1)
    return datetime.combine(day, time(0, 1), tzinfo=clock.SHANGHAI).astimezone(UTC)


class _Req(msgspec.Struct):
    status: str
    sp_no: str | None
    order_id: int | None


async def _request(request_id: int) -> _Req | None:
    return await db.fetch_one_as(_Req, "SELECT status, sp_no, order_id FROM approval_request WHERE id = {}", request_id)


class _Known(msgspec.Struct):
    sp_no: str


async def _first_unknown(candidates: list[str]) -> str | None:
    """The first number no request holds yet (a request's reference matched an approval another request already
    holds: never adopted)."""
    known: set[str] = set()
    for chunk in db.chunks(candidates):
        rows = await db.fetch_as(
            _Known, f"SELECT sp_no FROM approval_request WHERE sp_no IN ({db.placeholders(len(chunk))})", *chunk
        )
        known.update(r.sp_no for r in rows)
    return next((c for c in candidates if c not in known), None)


async def _look(client: OaClient, submission: OaSubmission, span: _Span) -> str | None:
    """The approval an attempt made in ``span`` without our knowing, if WeCom has it (raises when it could not look
    everywhere within :data:`FIND_BUDGET`)."""
    candidates = await client.find(
        submission, since=span[0] - LOOK_MARGIN, until=span[1] + LOOK_MARGIN, budget=FIND_BUDGET
    )
    return await _first_unknown(candidates)


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
        await _settle(row, "superseded", now, reason=OaDelivery.OA_REQUEST_CLOSED, look=_span(row, now))
        return "superseded"
    provider = await config.provider_config(PROVIDER)
    attempts = (await config.load_settings()).max_attempts
    look = _span(row, now)  # what is still to be looked for; None once looked for (or nothing to look for)
    if provider is None:
        if row.attempts >= attempts:
            await _give_up(row, now, OaDelivery.OA_NOT_CONFIGURED.value, OaDelivery.OA_NOT_CONFIGURED.message)
            return "failed"
        await _settle(
            row,
            "pending",
            now,
            not_before=now + _backoff(row.attempts),
            reason=OaDelivery.OA_NOT_CONFIGURED,
            look=look,
        )
        return "retry"
    submission = msgspec.json.decode(row.submission, type=OaSubmission)
    found = False
    try:
        client = _client(provider)
        sp_no: str | None = None
        if look is not None:
            sp_no = await _look(client, submission, look)
            found = sp_no is not None
            look = None  # looked everywhere it could be: not there (or found)
        if sp_no is None:
            if row.attempts > attempts:  # taken over after the last attempt (which never finished): no more
                await _give_up(row, now, "unfinished", "no attempt left after an attempt that did not finish")
                return "failed"
            sp_no = await client.submit(submission)
    except OaUncertain as exc:  # it may have gone through: in this attempt's span
        mine = (row.tried_at or now, max(clock.now(), now))
        if row.attempts >= attempts:  # the last attempt: one last look before giving up
            sp_no = await _last_look(client, submission, mine, request_id)
            if sp_no is not None:
                return await _keep(row, sp_no, now, found=True, look=mine)
            await _give_up(row, now, str(exc.code), exc.message)
            return "failed"
        await _settle(row, "pending", now, not_before=now + _backoff(row.attempts), error=exc, look=mine)
        log.warning("approval submission outcome unknown; looked for before retrying", extra={"request": request_id})
        return "retry"
    except ThrottledNotifyError as exc:
        # 全局错误码 45009 接口调用超过限制 (the day's quota: after midnight, as the outbox does) / 45033 并发
        # (https://developer.work.weixin.qq.com/document/path/90313): the attempt not counted (提交审批申请 allows 60
        # calls a minute, 91853).
        until = _next_midnight(now) if exc.daily else now + timedelta(seconds=max(60.0, exc.retry_after))
        await _settle(row, "pending", now, not_before=until, error=exc, give_back_attempt=True, look=look)
        return "throttled"
    except PermanentNotifyError as exc:
        await _give_up(row, now, str(exc.code), exc.message)
        return "failed"
    except (TransientNotifyError, Exception) as exc:
        if _is_db_error(exc):
            raise  # the lease runs out and the reconciliation tries again (looking first: the row is taken over)
        error = exc if isinstance(exc, NotifyError) else TransientNotifyError("error", _scrub(repr(exc))[:200])
        if row.attempts >= attempts:
            await _give_up(row, now, str(error.code), error.message)
            return "failed"
        await _settle(row, "pending", now, not_before=now + _backoff(row.attempts), error=error, look=look)
        log.warning("approval submission failed; retried later", extra={"request": request_id, "code": error.code})
        return "retry"
    return await _keep(row, sp_no, now, found=found, look=None if found else (row.tried_at or now, clock.now()))


async def _last_look(client: OaClient, submission: OaSubmission, span: _Span, request_id: int) -> str | None:
    try:
        return await _look(client, submission, span)
    except NotifyError as exc:
        log.warning("last look for an uncertain submission failed", extra={"request": request_id, "code": exc.code})
        return None


async def _keep(row: _Row, sp_no: str, now: datetime, *, found: bool, look: _Span | None) -> str:
    if await _store(row, sp_no, now, found=found):
        return "found" if found else "submitted"
    # Another request holds that number (a race between two looks): not ours. Looked for again, at once, with that
    # one known to be someone else's.
    error = TransientNotifyError("sp_no_taken", f"approval {sp_no} belongs to another request")
    await _settle(row, "pending", now, error=error, look=look or _span(row, now) or (now, now))
    return "retry"


def _is_db_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("asyncpg", "sqlite3", "piccolo"))


def _is_unique_violation(exc: BaseException) -> bool:
    return type(exc).__name__ == "UniqueViolationError" or (
        isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)
    )


async def _store(row: _Row, sp_no: str, now: datetime, *, found: bool) -> bool:
    """The approval's number onto the request (once: the column is unique and only an empty one is set). False when
    another request holds it (nothing written)."""
    try:
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
    except Exception as exc:
        if not _is_unique_violation(exc):
            raise
        log.error("WeCom approval number held by another request", extra={"request": row.request, "sp_no": sp_no})
        return False
    log.info("approval submitted to WeCom", extra={"request": row.request, "sp_no": sp_no, "found": found})
    return True


async def _give_up(row: _Row, now: datetime, code: str, message: str) -> None:
    """WeCom refused the submission for good (or every attempt failed): the request is cancelled — nothing may wait on
    an approval that does not exist — and the order's log says why (it waits for a person, as before flows). People
    read zh-CN (:func:`submit_failure_text`); WeCom's own words stay in ``approval_oa.error_message`` and the logs."""
    text = f"企业微信审批提交失败（{code}）：{submit_failure_text(code)}"[:255]
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
            _scrub(message)[:255],
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
    log.warning("approval submission given up", extra={"request": row.request, "code": code, "error": _scrub(message)})


# ---------------------------------------------------------------------------------------------------- deciding


class Applied(msgspec.Struct, frozen=True, kw_only=True):
    # decided, duplicate, pending (not final yet), retry (its effect refused for now: applied again later), closed
    # (decided before), ignored (not ours)
    outcome: str
    request_id: int | None = None
    status: str = ""  # the request's status after it


class _Native(msgspec.Struct):
    id: int
    status: str
    kind: str
    order_id: int | None


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
    req = await db.fetch_one_as(
        _Native, "SELECT id, status, kind, order_id FROM approval_request WHERE sp_no = {}", state.sp_no[:64]
    )
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
        if exc.code in (ApprovalError.APPROVAL_CLOSED, ApprovalError.APPROVAL_KEY_REUSED):
            return Applied(outcome="closed", request_id=req.id)
        temporary = _temporary(exc)
        if temporary is not None:  # e.g. a waybill request in flight: the same decision applied again soon
            retried = await _retry_later(req.id, temporary, exc.message, source=source)
            if retried is not None:
                return retried
        # Anything else the effect refused (the order shipped meanwhile, stock below what is reserved, the order
        # gone …) cannot be done: the request is closed with why rather than left waiting with nobody told.
        return await _refused(req, state, key, exc, decided)
    if result.duplicate:
        log.info("WeCom approval state delivered again: answered as before", extra={"request": req.id})
    return Applied(outcome="duplicate" if result.duplicate else "decided", request_id=req.id, status=result.status)


def _temporary(exc: OrderHubError) -> str | None:
    """The code that makes the refusal temporary (None: final). An error that says so itself decides
    (``extra["temporary"]``, with the refusing error's code in ``extra["cause_code"]``: the kinds' effect refusals);
    otherwise a code of :data:`TEMPORARY_CODES` in its ``raise … from`` chain (the kinds wrap what their effects meet
    in ``approval_effect_refused``, the original as its cause)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OrderHubError):
            if isinstance(current.extra.get("temporary"), bool):
                return str(current.extra.get("cause_code") or current.code) if current.extra["temporary"] else None
            if str(current.code) in TEMPORARY_CODES or isinstance(current, ServiceUnavailable):
                return str(current.code)
        current = current.__cause__
    return None


class _Retries(msgspec.Struct):
    effect_retries: int


async def _retry_later(request_id: int, code: str, message: str, *, source: str) -> Applied | None:
    """The decision's effect is refused for now: the request stays open, and the reconciliation reads the approval
    again after :data:`RETRY_FIRST`, doubling up to :data:`CHECK_EVERY` (the callback is answered: WeCom is not
    asked to redeliver). None once it has been refused :data:`RETRY_LIMIT` times: final then."""
    now = clock.now()
    row = await db.fetch_one_as(_Retries, "SELECT effect_retries FROM approval_oa WHERE request = {}", request_id)
    if row is None or row.effect_retries >= RETRY_LIMIT:
        return None
    delay = min(RETRY_FIRST * 2 ** min(row.effect_retries, 10), CHECK_EVERY)
    await db.execute(
        "UPDATE approval_oa SET check_at = {}, effect_retries = effect_retries + 1, error_code = {}, "
        "error_message = {}, updated_at = {} WHERE request = {}",
        now + delay,
        code[:64],
        message[:255],
        now,
        request_id,
    )
    log.info(
        "WeCom approval's effect refused for now; applied again later",
        extra={"request": request_id, "code": code, "source": source, "retry_in_s": delay.total_seconds()},
    )
    return Applied(outcome="retry", request_id=request_id, status="pending")


async def _refused(req: _Native, state: OaState, key: str, exc: OrderHubError, data: dict[str, Any]) -> Applied:
    """Decided in WeCom, but what it should do can no longer be done here: the request is closed as cancelled with
    why (its requester's inbox shows it), and the order's log says so, rather than waiting for ever."""
    reason = f"{_REASON[state.status]}，但无法执行：{exc.message}"
    try:
        async with db.transaction():
            result = await engine.decide_external(
                req.id,
                outcome="cancelled",
                key=f"{key}:refused",
                actor_id=None,
                actor_name=SYSTEM_NAME,
                reason=reason,
                action="wecom_effect_refused",
                data={**data, "code": str(exc.code)},
            )
            if req.order_id is not None and not result.duplicate:
                await record_event(
                    req.order_id,
                    OrderEventType.APPROVAL_DECIDED,
                    reason="cancelled",
                    data={
                        "request_id": req.id,
                        "kind": req.kind,
                        "by": SYSTEM_NAME,
                        "by_user_id": None,
                        "reason": reason[:255],
                        "code": str(exc.code),
                        "sp_no": state.sp_no,
                        "wecom_status": state.raw_status,
                    },
                )
    except OrderHubError:
        return Applied(outcome="closed", request_id=req.id)
    log.warning("WeCom approval's effect refused: request cancelled", extra={"request": req.id, "code": str(exc.code)})
    return Applied(outcome="duplicate" if result.duplicate else "decided", request_id=req.id, status=result.status)


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
