"""Staff sign-in on the WeChat mini-program: ``wx.login``'s code → the bound staff account's bearer token (the same
kind ``/api/v1/auth/login`` issues: every back-office endpoint takes it, with the account's role and warehouse), and
binding a WeChat user to an account once (a manager's binding code, or the phone number on the account); and the
approvals inbox with one-tap decisions (``/mp/v1/staff/approvals``, the same calls as ``/api/v1/approvals``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import Parameter

from api.approvals import access
from api.common import Id, PathId, present
from api.security import Tokens
from orderhub.approvals import engine, inbox
from orderhub.auth import miniprogram
from orderhub.auth.service import UserView
from orderhub.orders.pii import mask_name

__all__ = ["StaffApprovalController", "StaffController"]

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class LoginIn(msgspec.Struct, kw_only=True):
    code: Code  # wx.login()'s code


class BindIn(msgspec.Struct, kw_only=True):
    code: Code  # wx.login()'s code
    binding_code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # typed or scanned (QR)
    phone_code: Code | None = None  # the getPhoneNumber button's e.detail.code


class StaffSessionOut(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int
    role: str
    user_id: int
    username: str
    display_name: str
    warehouse: str | None


def _address(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None  # behind the proxy: X-Forwarded-For's


def _session(tokens: Tokens, user: UserView, key: str) -> StaffSessionOut:
    return StaffSessionOut(
        access_token=tokens.issue(user, mp_session=key),
        token_type="bearer",
        expires_in=tokens.ttl_seconds,
        role=user.role,
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        warehouse=user.warehouse,
    )


class StaffController(Controller):
    path = "/mp/v1/auth"
    tags = ["mini-program"]

    @post(
        "/login",
        status_code=200,
        opt={"public": True},
        summary="Staff sign-in in the mini-program: wx.login's code → a bearer token",
        description="WeChat turns the code into the user's openid (code2Session); the staff account bound to it "
        "signs in and gets the same bearer token as `/api/v1/auth/login` (role, warehouse scope, `expires_in`). "
        "The token stops working at once when the account is deactivated, its role, warehouse or password "
        "changes, or its WeChat binding is removed. Refusals: 401 `mp_not_bound` (bind first), 403 "
        "`mp_account_disabled`, 401 `mp_code_invalid` (WeChat 40029: call wx.login again), 429 "
        "`mp_wechat_rate_limited` (45011, with Retry-After), 403 `mp_user_blocked` (40226), 429 "
        "`too_many_attempts` (too many failed sign-ins from this address).",
    )
    async def login(self, request: Request[Any, Any, Any], data: LoginIn, tokens: Tokens) -> StaffSessionOut:
        user, key = await miniprogram.login(data.code, address=_address(request))
        return _session(tokens, user, key)

    @post(
        "/bind",
        status_code=200,
        opt={"public": True},
        summary="Bind this WeChat user to a staff account, then sign in",
        description="With `binding_code` (the one-time code a manager created for the employee, typed or scanned "
        "from its QR) or with `phone_code` (the getPhoneNumber button's code: the number WeChat vouches for must "
        "be the one on exactly one active account) — one of the two. Answers like `/mp/v1/auth/login`. A "
        "refused binding leaves the binding code unused. Refusals: 422 `mp_binding_code_invalid` (unknown, used, "
        "replaced or expired), 422 `mp_phone_not_matched`, 409 `mp_openid_taken` (this WeChat is bound to "
        "another account), 409 `mp_already_bound` (by phone, the account has another WeChat), and WeChat's as at "
        "login.",
    )
    async def bind(self, request: Request[Any, Any, Any], data: BindIn, tokens: Tokens) -> StaffSessionOut:
        user, key = await miniprogram.bind(
            data.code, binding_code=data.binding_code, phone_code=data.phone_code, address=_address(request)
        )
        return _session(tokens, user, key)


# ------------------------------------------------------------------------------------------------------ approvals

SURFACE = "mp"
Note = Annotated[str, msgspec.Meta(max_length=1000)]
Key = Annotated[
    str | None,
    Parameter(
        header=access.KEY_HEADER,
        min_length=1,
        max_length=access.MAX_KEY,
        description="Optional: a tap's own key (e.g. a UUID made when the button is drawn); a repeat answers the "
        "first outcome with `duplicate: true`.",
    ),
]


class MpCounts(msgspec.Struct, kw_only=True):
    pending: int
    cc: int
    mine: int  # my requests still pending (我发起的)


class MpInboxItem(msgspec.Struct, kw_only=True):
    request_id: int
    task_id: int | None  # null in box `mine`
    title: str  # e.g. 订单审批：订单 taobao/123
    reason: str
    amount: int  # fen
    requester_name: str
    step_name: str  # box `mine`: the step the request is at
    request_status: str
    task_status: str
    due_at: datetime | None
    created_at: datetime
    waiting_on: list[str] = []  # box `mine`, pending: who the step waits for


class MpInbox(msgspec.Struct, kw_only=True):
    box: str
    items: list[MpInboxItem]
    next_cursor: str | None
    counts: MpCounts


class MpLine(msgspec.Struct, kw_only=True):
    sku: str
    qty: int
    unit_price: int


class MpOrder(msgspec.Struct, kw_only=True):
    id: int
    channel: str
    external_id: str
    status: str
    paid_amount: int
    receiver_name: str
    region: str  # 省 市 区
    buyer_memo: str
    lines: list[MpLine]


class MpTask(msgspec.Struct, kw_only=True):
    step_name: str
    role: str  # approver, cc
    assignee_name: str
    status: str
    comment: str
    decided_at: datetime | None


class MpTrailEntry(msgspec.Struct, kw_only=True):
    action: str
    actor: str
    at: datetime


class MpRequest(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    title: str
    reason: str
    amount: int
    status: str
    requester_name: str
    outcome_reason: str
    decided_by_name: str
    flow_code: str
    flow_version: int
    payload: dict[str, Any]
    created_at: datetime
    tasks: list[MpTask]
    trail: list[MpTrailEntry]
    order: MpOrder | None = None
    my_actions: list[str] = []  # the buttons to show: approve, reject, transfer


class MpApproveIn(msgspec.Struct, kw_only=True):
    comment: Note = ""


class MpRejectIn(msgspec.Struct, kw_only=True):
    reason: Note = ""  # required (approval_reason_required)


class MpTransferIn(msgspec.Struct, kw_only=True):
    to_user_id: Id
    comment: Note = ""


class MpDecision(msgspec.Struct, kw_only=True):
    request_id: int
    action: str
    status: str  # the request's, after the tap
    duplicate: bool = False


def _mp_request(user: UserView, view: inbox.RequestView, order: Any) -> MpRequest:
    out = present(view, MpRequest)  # its order, actions filled in below
    if order is not None:
        receiver = order.receiver
        out.order = MpOrder(
            id=order.id,
            channel=order.channel,
            external_id=order.external_id,
            status=order.status,
            paid_amount=order.paid_amount,
            receiver_name=mask_name(receiver.name),
            region=" ".join(p for p in (receiver.province, receiver.city, receiver.district) if p),
            buyer_memo=order.buyer_memo,
            lines=[MpLine(sku=line.sku, qty=line.qty, unit_price=line.unit_price) for line in order.lines],
        )
    out.my_actions = [a for a in access.actions_for(user, view) if a in ("approve", "reject", "transfer")]
    return out


class StaffApprovalController(Controller):
    path = "/mp/v1/staff/approvals"
    tags = ["mini-program"]

    @get(
        "/inbox",
        summary="The employee's approvals inbox in the mini-program (pending, cc, done, mine)",
        description="As `/api/v1/approvals/inbox`, in the mini-program's shape: `box` `pending` (waiting for my "
        "decision), `cc` (copied to me), `done` (decided by me), `mine` (我发起的: the requests I opened, with "
        "their status, current step and `waiting_on`; `task_id` null), newest first, `cursor` for the next page, "
        "and the badge counts. Live updates: the `approvals:{user_id}` topic of /ws/dash.",
    )
    async def inbox(
        self,
        request: Request[UserView, Any, Any],
        box: Literal["pending", "cc", "done", "mine"] = "pending",
        cursor: Annotated[str | None, Parameter(min_length=1, max_length=18)] = None,
    ) -> MpInbox:
        page = await inbox.inbox(request.user.id, box, cursor=cursor)
        counts = await inbox.inbox_counts(request.user.id)
        return present({"box": box, "items": page.items, "next_cursor": page.next_cursor, "counts": counts}, MpInbox)

    @get(
        "/{request_id:int}",
        summary="One approval in the mini-program: the order, who decides, what happened",
        description="The request, the order it is about (lines, receiver's name and region, no phone), each "
        "person's part and the trail, and `my_actions`: the one-tap buttons the employee has now (approve, "
        "reject, transfer). 404 `approval_not_found` for a request the employee may not see.",
    )
    async def detail(self, request: Request[UserView, Any, Any], request_id: PathId) -> MpRequest:
        view = await access.visible_request(request.user, request_id)
        return _mp_request(request.user, view, await access.order_of(view))

    @post(
        "/{request_id:int}/approve",
        status_code=200,
        summary="One tap: approve (同意) in the mini-program",
        description="Approves the employee's pending task, as `/api/v1/approvals/requests/{id}/approve`. 409 "
        "`approval_closed` when someone decided first (`decided_by` says who), 409 `approval_task_not_pending` "
        "when the task was transferred or escalated away.",
    )
    async def approve(
        self,
        request: Request[UserView, Any, Any],
        request_id: PathId,
        key: Key = None,
        data: MpApproveIn | None = None,
    ) -> MpDecision:
        user = request.user
        await access.check_visible(user, request_id)
        result = await access.idempotent(
            engine.approve(
                request_id,
                user.id,
                comment=(data or MpApproveIn()).comment,
                key=access.engine_key(SURFACE, user, key),
            )
        )
        return present(result, MpDecision)

    @post(
        "/{request_id:int}/reject",
        status_code=200,
        summary="One tap: reject (驳回) in the mini-program, with a reason",
        description="Rejects the employee's pending task; `reason` is required (422 `approval_reason_required`, "
        "field `reason`). Refusals as for approving.",
    )
    async def reject(
        self, request: Request[UserView, Any, Any], request_id: PathId, data: MpRejectIn, key: Key = None
    ) -> MpDecision:
        user = request.user
        await access.check_visible(user, request_id)
        result = await access.idempotent(
            engine.reject(request_id, user.id, reason=data.reason, key=access.engine_key(SURFACE, user, key))
        )
        return present(result, MpDecision)

    @post(
        "/{request_id:int}/transfer",
        status_code=200,
        summary="Transfer (转交) the employee's approval to a colleague",
        description="The colleague (`to_user_id`, from `/api/v1/approvals/people`) gets the task; the employee "
        "loses it. 422 `approval_bad_signer` for someone unknown, inactive, oneself or already deciding the step.",
    )
    async def transfer(
        self, request: Request[UserView, Any, Any], request_id: PathId, data: MpTransferIn, key: Key = None
    ) -> MpDecision:
        user = request.user
        await access.check_visible(user, request_id)
        result = await access.idempotent(
            engine.transfer(
                request_id,
                user.id,
                to_user_id=data.to_user_id,
                comment=data.comment,
                key=access.engine_key(SURFACE, user, key),
            ),
            fields={"user_ids": "to_user_id"},
        )
        return present(result, MpDecision)
