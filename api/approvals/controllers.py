"""Approvals over HTTP: flows (admins manage them, managers read them), requests opened and decided by the people
involved, each person's inbox, and the audit trail's export and verification (docs/approvals.md#http-api)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import Parameter
from litestar.response import Stream

from api.approvals import access
from api.approvals.schemas import (
    ActionOut,
    AddSignerIn,
    ApproveIn,
    AuditEntryOut,
    CommentIn,
    CountsOut,
    FlowDetailOut,
    FlowIn,
    FlowOut,
    FlowPatch,
    FlowVersionIn,
    FlowVersionOut,
    InboxOut,
    OpenRequestIn,
    PersonOut,
    RejectIn,
    RequestDetailOut,
    RequestPageOut,
    TrailPageOut,
    TransferIn,
    VerifyOut,
    WithdrawIn,
    request_detail,
)
from api.common import MAX_INT, PathId, present
from orderhub.approvals import audit, engine, flows, inbox
from orderhub.approvals.model import REQUEST_KINDS
from orderhub.auth import service as staff
from orderhub.auth.service import UserView

__all__ = ["ApprovalAuditController", "ApprovalFlowController", "ApprovalInboxController", "ApprovalRequestController"]

FlowCodePath = Annotated[str, Parameter(min_length=1, max_length=64, description="The flow's code")]
Key = Annotated[
    str | None,
    Parameter(
        header=access.KEY_HEADER,
        min_length=1,
        max_length=access.MAX_KEY,
        description="Optional: the same key from the same person answers the first action's outcome again "
        "(`duplicate: true`) instead of acting twice; reused for another request or action: 409 "
        "`approval_key_reused`.",
    ),
]
Cursor = Annotated[str | None, Parameter(min_length=1, max_length=18, description="`next_cursor` of the page before")]
SURFACE = "api"
_KEY_DOC = (
    " An optional `Idempotency-Key` header makes a retry safe: the same key answers the first outcome "
    "(`duplicate: true`). Refusals: 404 `approval_not_found` (no such request, or not one the caller may see), 409 "
    "`approval_closed` (decided, withdrawn or cancelled already — `status` and `decided_by` say how), 409 "
    "`approval_task_not_pending` (the caller holds no pending task: decided, transferred or escalated away), 409 "
    "`approval_effect_refused` (what the decision does can no longer be done, e.g. the order shipped meanwhile)."
)


def _actor(request: Request[UserView, Any, Any]) -> str:
    return f"user:{request.user.username}"


class ApprovalFlowController(Controller):
    path = "/api/v1/approvals/flows"
    tags = ["approvals"]

    @get(
        "/",
        summary="The approval flows, each with its current version",
        description="Every flow (or `?active=true|false`), by code, with the definition new requests start on. "
        "Requests already open keep the version they started with.",
    )
    async def list_flows(self, active: bool | None = None) -> list[FlowOut]:
        return present(await flows.list_flows(active=active), list[FlowOut])

    @post(
        "/",
        summary="Create an approval flow (its version 1)",
        description="`definition`: which request kinds it takes (`kinds`), its entry condition (`entry`: the rules "
        "engine's conditions, plus `kind` and `sku_name`), and its ordered `steps` — approvers (`user`, `role`, "
        "`role_in_warehouse`, `role_in_region`, `manager`), mode (`any` 或签, `all` 会签, `sequential` 依次, "
        "`n_of_m`), `cc` (知会), a time limit with a reminder, escalation and `on_expiry`; `fallback_role`, "
        "`on_reject` (docs/approvals.md#flows-and-versions). Validated as a whole: 422 `approval_bad_definition` "
        "with the `field` at fault (e.g. `definition.steps[0].n`); 409 `approval_flow_exists`.",
    )
    async def create_flow(self, request: Request[UserView, Any, Any], data: FlowIn) -> FlowOut:
        new = flows.NewFlow(code=data.code, name=data.name, definition=data.definition, active=data.active)
        return present(await flows.create_flow(new, actor=_actor(request)), FlowOut)

    @get(
        "/{code:str}",
        summary="One approval flow, with every version of its definition",
        description="The flow and its current definition, and `versions` (newest first): each version is written "
        "once and never changed; a request shows the version it runs on (`flow_version`).",
    )
    async def get_flow(self, code: FlowCodePath) -> FlowDetailOut:
        out = present(await flows.get_flow(code), FlowDetailOut)
        out.versions = present(await flows.list_versions(code), list[FlowVersionOut])
        return out

    @post(
        "/{code:str}/versions",
        summary="A new version of a flow's definition (requests in flight keep theirs)",
        description="The new definition becomes current: requests opened from now on run on it; those already "
        "open go on with the version they started with, whatever it says. `name` renames the flow too. Checked "
        "like a new flow's (422 `approval_bad_definition`); 404 `approval_flow_not_found`.",
    )
    async def add_version(
        self, request: Request[UserView, Any, Any], code: FlowCodePath, data: FlowVersionIn
    ) -> FlowOut:
        return present(await flows.add_version(code, data.definition, actor=_actor(request), name=data.name), FlowOut)

    @patch(
        "/{code:str}",
        summary="Switch an approval flow on or off",
        description="`active: false`: no new request starts on the flow (a rule naming it holds the order for a "
        "person, with `order.approval_not_started` in its log); requests under way go on. Recorded in the flow's "
        "audit chain.",
    )
    async def switch(self, request: Request[UserView, Any, Any], code: FlowCodePath, data: FlowPatch) -> FlowOut:
        return present(await flows.set_active(code, data.active, actor=_actor(request)), FlowOut)


class ApprovalRequestController(Controller):
    path = "/api/v1/approvals/requests"
    tags = ["approvals"]

    @post(
        "/",
        summary="Ask for an approval: refund-and-reship, address change, stock write-off, cancel after picking",
        description="`kind` with its `payload` (and `order_id` for the order kinds); `flow` names the flow, or the "
        "first active flow of the kind whose entry matches is taken. The caller is the requester (the flow's "
        "`manager` approvers are theirs). Order holds (`order_hold`) are opened by rules (`require_approval`), "
        "not here. A user bound to a warehouse asks about that warehouse's orders and stock only. Refusals: 422 "
        "`approval_bad_payload`, 409 `approval_no_flow` / `approval_flow_inactive` / `approval_already_pending` "
        "/ `approval_no_approver`, 404 `approval_flow_not_found` or the order's `not_found`.",
    )
    async def open_request(self, request: Request[UserView, Any, Any], data: OpenRequestIn) -> RequestDetailOut:
        kind = type(data).__struct_config__.tag
        assert isinstance(kind, str)
        builtins = msgspec.to_builtins(data.payload)
        view = await access.open_request(
            request.user,
            kind=kind,
            order_id=getattr(data, "order_id", None),
            payload=builtins,
            flow=data.flow,
            reason=data.reason,
        )
        return request_detail(view, await access.order_of(view), access.actions_for(request.user, view))

    @get(
        "/",
        summary="Approval requests the caller may see, newest first",
        description="Filters: `status` (pending, approved, rejected, withdrawn, cancelled), `kind`, `order_id`, "
        "`requester=me` (the requests the caller opened); pages with `cursor` (the previous page's `next_cursor`). "
        "An admin or manager bound to no warehouse sees every request, one bound to a warehouse that warehouse's "
        "and their own; anyone else the requests they asked for, decide or were copied on.",
    )
    async def list_requests(
        self,
        request: Request[UserView, Any, Any],
        status: Literal["pending", "approved", "rejected", "withdrawn", "cancelled"] | None = None,
        kind: Annotated[str | None, Parameter(max_length=32, description=", ".join(REQUEST_KINDS))] = None,
        order_id: Annotated[int | None, Parameter(ge=1, le=MAX_INT)] = None,
        requester: Annotated[
            Literal["me"] | None, Parameter(description="`me`: only the requests the caller opened")
        ] = None,
        cursor: Cursor = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> RequestPageOut:
        items, next_cursor = await access.visible_requests(
            request.user,
            order_id=order_id,
            status=status,
            kind=kind,
            cursor=cursor,
            limit=limit,
            requester=request.user.id if requester == "me" else None,
        )
        return present({"items": items, "next_cursor": next_cursor}, RequestPageOut)

    @get(
        "/{request_id:int}",
        summary="One approval request: the order, every task, the audit trail",
        description="The request as opened (kind, payload, why, the flow version it runs on), the order it is "
        "about (summary and lines), every task of every step (approvers and copies, who added or escalated them), "
        "its hash-chained trail (oldest first), and `my_actions` — what the caller may do now. A request the "
        "caller may not see answers 404 `approval_not_found`.",
    )
    async def get_request(self, request: Request[UserView, Any, Any], request_id: PathId) -> RequestDetailOut:
        view = await access.visible_request(request.user, request_id)
        return request_detail(view, await access.order_of(view), access.actions_for(request.user, view))

    @post(
        "/{request_id:int}/approve",
        status_code=200,
        summary="Approve (同意) the caller's pending task on a request",
        description="The step passes when its mode says so (或签 one, 会签 all, 依次 the last, N-of-M `n`); after the "
        "last step the request is approved and its effect runs (an order hold released into the pipeline, an "
        "address replaced, stock adjusted …). Two approvers at once, or the same tap twice, make one decision."
        + _KEY_DOC,
    )
    async def approve(
        self,
        request: Request[UserView, Any, Any],
        request_id: PathId,
        key: Key = None,
        data: ApproveIn | None = None,
    ) -> ActionOut:
        body = data or ApproveIn()
        user = request.user
        await access.check_visible(user, request_id)
        result = await access.idempotent(
            engine.approve(
                request_id,
                user.id,
                task_id=body.task_id,
                comment=body.comment,
                key=access.engine_key(SURFACE, user, key),
            )
        )
        return present(result, ActionOut)

    @post(
        "/{request_id:int}/reject",
        status_code=200,
        summary="Reject (驳回) the caller's pending task on a request, with a reason",
        description="`reason` is required (422 `approval_reason_required`, field `reason`). In 或签 / 会签 / 依次 "
        "one rejection rejects the request; in N-of-M once `n` approvals can no longer be reached. A rejected order "
        "hold cancels the order and releases its stock (or keeps it held, as the flow says)." + _KEY_DOC,
    )
    async def reject(
        self, request: Request[UserView, Any, Any], request_id: PathId, data: RejectIn, key: Key = None
    ) -> ActionOut:
        user = request.user
        await access.check_visible(user, request_id)
        result = await access.idempotent(
            engine.reject(
                request_id, user.id, reason=data.reason, task_id=data.task_id, key=access.engine_key(SURFACE, user, key)
            )
        )
        return present(result, ActionOut)

    @post(
        "/{request_id:int}/add-signer",
        status_code=200,
        summary="Add signers (加签) before, after or beside the caller",
        description="`before`: the people added decide first and the task comes back to the caller; `after`: the "
        "caller approves now and they must approve after; `parallel`: they decide alongside the caller. 422 "
        "`approval_bad_signer` for someone unknown, inactive, the caller or already deciding the step." + _KEY_DOC,
    )
    async def add_signer(
        self, request: Request[UserView, Any, Any], request_id: PathId, data: AddSignerIn, key: Key = None
    ) -> ActionOut:
        user = request.user
        await access.check_visible(user, request_id)
        result = await access.idempotent(
            engine.add_signer(
                request_id,
                user.id,
                user_ids=list(data.user_ids),
                position=data.position,
                comment=data.comment,
                task_id=data.task_id,
                key=access.engine_key(SURFACE, user, key),
            )
        )
        return present(result, ActionOut)

    @post(
        "/{request_id:int}/transfer",
        status_code=200,
        summary="Transfer (转交) the caller's pending task to another person",
        description="The other person gets the task (and its time limit afresh); the caller loses it: their later "
        "taps answer 409 `approval_task_not_pending`. 422 `approval_bad_signer` for someone unknown, inactive, "
        "the caller or already deciding the step." + _KEY_DOC,
    )
    async def transfer(
        self, request: Request[UserView, Any, Any], request_id: PathId, data: TransferIn, key: Key = None
    ) -> ActionOut:
        user = request.user
        await access.check_visible(user, request_id)
        result = await access.idempotent(
            engine.transfer(
                request_id,
                user.id,
                to_user_id=data.to_user_id,
                comment=data.comment,
                task_id=data.task_id,
                key=access.engine_key(SURFACE, user, key),
            ),
            fields={"user_ids": "to_user_id"},
        )
        return present(result, ActionOut)

    @post(
        "/{request_id:int}/comment",
        status_code=200,
        summary="Comment on an approval request (also after it was decided)",
        description="Anyone who sees the request may comment: the requester, approvers, the people copied, "
        "managers. The comment goes into the trail. `text` is required (422 `approval_text_required`, field "
        "`text`)." + _KEY_DOC,
    )
    async def comment(
        self, request: Request[UserView, Any, Any], request_id: PathId, data: CommentIn, key: Key = None
    ) -> ActionOut:
        user = request.user
        await access.check_visible(user, request_id)
        result = await access.idempotent(
            engine.comment(request_id, user.id, text=data.text, key=access.engine_key(SURFACE, user, key))
        )
        return present(result, ActionOut)

    @post(
        "/{request_id:int}/withdraw",
        status_code=200,
        summary="Withdraw (撤回) one's own pending request",
        description="Only the requester (403 `approval_not_requester`); the open tasks close and the approvers' "
        "cards are updated. An order hold opened by a rule has no requester: release or cancel the order instead."
        + _KEY_DOC,
    )
    async def withdraw(
        self,
        request: Request[UserView, Any, Any],
        request_id: PathId,
        key: Key = None,
        data: WithdrawIn | None = None,
    ) -> ActionOut:
        body = data or WithdrawIn()
        user = request.user
        await access.check_visible(user, request_id)
        result = await access.idempotent(
            engine.withdraw(request_id, user.id, reason=body.reason, key=access.engine_key(SURFACE, user, key))
        )
        return present(result, ActionOut)

    @post(
        "/{request_id:int}/remind",
        status_code=200,
        summary="Remind (催办) the people whose decision a request waits for",
        description="Everyone with a pending task on the request is reminded (a card, the live feed); at most "
        "once every five minutes per request (409 `approval_remind_too_soon`)." + _KEY_DOC,
    )
    async def remind(self, request: Request[UserView, Any, Any], request_id: PathId, key: Key = None) -> ActionOut:
        user = request.user
        await access.check_visible(user, request_id)
        result = await access.idempotent(engine.remind(request_id, user.id, key=access.engine_key(SURFACE, user, key)))
        return present(result, ActionOut)


class ApprovalInboxController(Controller):
    path = "/api/v1/approvals"
    tags = ["approvals"]

    @get(
        "/inbox",
        summary="The caller's approvals inbox: pending for me, copied to me, done by me, requested by me",
        description="`box`: `pending` (waiting for the caller's decision), `cc` (知会: copied to them), `done` "
        "(decided or handed on by them), `mine` (我发起的: the requests the caller opened, whatever their status — "
        "`request_status`, the current `step` / `step_name`, `waiting_on` while pending; `task_id` null); newest "
        "first, a page at a time (`cursor` = the previous page's `next_cursor`), with the `counts` for the badges. "
        "The live feed `approvals:{user_id}` on /ws/dash says when to read it again (docs/live-feed.md).",
    )
    async def inbox(
        self,
        request: Request[UserView, Any, Any],
        box: Literal["pending", "cc", "done", "mine"] = "pending",
        cursor: Cursor = None,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
    ) -> InboxOut:
        page = await inbox.inbox(request.user.id, box, cursor=cursor, limit=limit)
        counts = await inbox.inbox_counts(request.user.id)
        return present({"box": box, "items": page.items, "next_cursor": page.next_cursor, "counts": counts}, InboxOut)

    @get(
        "/inbox/counts",
        summary="How many approvals wait for the caller (were copied to them, they opened and are pending)",
        description="`pending`: tasks waiting for the caller's decision; `cc`: requests copied to them; `mine`: "
        "requests the caller opened that are still pending. For a badge; the live feed `approvals:{user_id}` "
        "carries the same in its snapshot.",
    )
    async def counts(self, request: Request[UserView, Any, Any]) -> CountsOut:
        return present(await inbox.inbox_counts(request.user.id), CountsOut)

    @get(
        "/people",
        summary="Active staff to add as signers or transfer a task to",
        description="Every active staff account's id, name, role and warehouse — the choices for 加签 "
        "(`add-signer`) and 转交 (`transfer`). No contact details.",
    )
    async def people(self) -> list[PersonOut]:
        return [
            PersonOut(id=u.id, name=u.display_name or u.username, role=u.role, warehouse=u.warehouse)
            for u in await staff.list_users()
            if u.active
        ]


class ApprovalAuditController(Controller):
    path = "/api/v1/approvals/audit"
    tags = ["approvals"]

    @get(
        "/export",
        summary="Export the approvals' hash-chained audit trail (JSON pages or JSON lines)",
        description="Every entry in the order written (or one request's, `request_id`): its chain "
        "(`request:{id}`, `flow:{code}`), number, action, actor, time, data, the canonical `entry` the hash covers "
        "(times in UTC), `prev_hash` and `hash` = sha256(prev_hash + entry). `format=json` (default): a page of "
        "`limit` entries after `after_id`, with `next_after`; `format=jsonl`: every entry after `after_id`, one "
        "JSON object a line (application/x-ndjson). docs/approvals.md#audit-trail says how to check it.",
    )
    async def export(
        self,
        request_id: Annotated[int | None, Parameter(ge=1, le=MAX_INT)] = None,
        after_id: Annotated[int, Parameter(ge=0, le=MAX_INT)] = 0,
        limit: Annotated[int, Parameter(ge=1, le=5000)] = 1000,
        fmt: Annotated[Literal["json", "jsonl"], Parameter(query="format")] = "json",
    ) -> TrailPageOut:
        if fmt == "jsonl":
            # The header too: litestar's Stream takes the handler's media type (JSON, from the annotation) over its own.
            ndjson = "application/x-ndjson"
            stream = Stream(_lines(request_id, after_id), media_type=ndjson, headers={"content-type": ndjson})
            return stream  # type: ignore[return-value]
        return present(await audit.export(request_id, after_id=after_id, limit=limit), TrailPageOut)

    @get(
        "/verify",
        summary="Verify the approvals' audit trail: every hash, link and head",
        description="Recomputes every entry's hash (or one request's chain, `request_id`) and reports what does "
        "not hold: `edited` (an entry's text changed), `mismatch` (its columns differ from its entry), `missing` / "
        "`broken_link` (an entry deleted), `truncated` (the chain's head points past its trail), `no_head`, "
        "`no_trail` (a request without a chain). `heads`: each chain's last hash — keep them elsewhere: a chain "
        "rewritten whole with its head is only caught against such a copy. Read-only.",
    )
    async def verify(self, request_id: Annotated[int | None, Parameter(ge=1, le=MAX_INT)] = None) -> VerifyOut:
        return present(await audit.verify(request_id), VerifyOut)


async def _lines(request_id: int | None, after_id: int) -> AsyncIterator[bytes]:
    after: int | None = after_id
    while after is not None:
        page = await audit.export(request_id, after_id=after)
        for entry in page.entries:
            yield msgspec.json.encode(present(entry, AuditEntryOut)) + b"\n"
        after = page.next_after
