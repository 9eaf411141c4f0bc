"""The approvals API's request and response Structs (docs/approvals.md#http-api)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from api.common import MAX_INT, Count, Id, Str32, Str100, Str255, present
from orderhub.approvals import inbox
from orderhub.orders.commands import OrderView
from orderhub.orders.service import masked_receiver

__all__ = [
    "ActionOut",
    "AddSignerIn",
    "AddressChangeIn",
    "ApproveIn",
    "AuditEntryOut",
    "CancelAfterPickIn",
    "CommentIn",
    "CountsOut",
    "FlowDetailOut",
    "FlowIn",
    "FlowOut",
    "FlowPatch",
    "FlowVersionIn",
    "FlowVersionOut",
    "InboxItemOut",
    "InboxOut",
    "OpenRequestIn",
    "OrderSummaryOut",
    "PersonOut",
    "RefundReshipIn",
    "RejectIn",
    "RequestDetailOut",
    "RequestOut",
    "RequestPageOut",
    "StockWriteoffIn",
    "TaskOut",
    "TrailEntryOut",
    "TrailPageOut",
    "TransferIn",
    "VerifyOut",
    "WithdrawIn",
    "order_summary",
    "request_detail",
]

FlowCode = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Text = Annotated[str, msgspec.Meta(max_length=1000)]
Code64 = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Delta = Annotated[int, msgspec.Meta(ge=-MAX_INT, le=MAX_INT)]
Qty = Annotated[int, msgspec.Meta(ge=1, le=MAX_INT)]


# --------------------------------------------------------------------------------------------------------- flows


class FlowIn(msgspec.Struct, kw_only=True):
    """``definition``: ``kinds``, ``entry`` (the rules engine's conditions), ``steps`` (name, approvers, mode, n, cc,
    when, time_limit_s, remind_before_s, escalations, on_expiry), ``fallback_role``, ``on_reject`` —
    docs/approvals.md#flows-and-versions."""

    code: FlowCode
    name: Name
    definition: dict[str, Any]
    active: bool = True


class FlowVersionIn(msgspec.Struct, kw_only=True):
    definition: dict[str, Any]
    name: Name | None = None  # a new name for the flow, with its new version


class FlowPatch(msgspec.Struct, kw_only=True):
    active: bool  # false: no new request starts on the flow (those under way go on)


class FlowOut(msgspec.Struct, kw_only=True):
    id: int
    code: str
    name: str
    active: bool
    version: int  # the current version's number: new requests start on it
    version_id: int
    definition: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime


class FlowVersionOut(msgspec.Struct, kw_only=True):
    id: int
    version: int
    definition: dict[str, Any]
    created_by: str
    created_at: datetime


class FlowDetailOut(FlowOut, kw_only=True):
    versions: list[FlowVersionOut] = []  # newest first


# ------------------------------------------------------------------------------------------------------ requests


class _Opening(msgspec.Struct, kw_only=True, tag_field="kind"):
    flow: FlowCode | None = None  # the flow's code; null: the first active flow of the kind whose entry matches
    reason: Str255 = ""  # why it needs approval (shown to the approvers)


class LineIn(msgspec.Struct, kw_only=True):
    sku: Code64
    qty: Qty


class RefundReshipPayload(msgspec.Struct, kw_only=True):
    refund_amount: Count = 0  # fen
    reship_lines: Annotated[list[LineIn], msgspec.Meta(max_length=100)] = []
    note: Str255 = ""


class RefundReshipIn(_Opening, kw_only=True, tag="refund_reship"):
    """退款补发: a refund (fen) and/or lines to send again. Approved: the refund is recorded on the order
    (``order.refund_recorded``; the money moves on the platform) and the lines go out as a 补发单, a new order at
    price 0 linked to this one, through the normal pipeline."""

    order_id: Id
    payload: RefundReshipPayload


class ReceiverIn(msgspec.Struct, kw_only=True):
    """Either ``address`` (one line) or ``province``/``city``/``district``/``detail``. Abroad: ``country`` (ISO
    3166-1 alpha-2), ``province`` = the region, ``city``, ``detail`` = the address lines (one per line) and
    ``postcode``, checked against the country's address rules."""

    name: Str100
    phone: Str32
    address: Annotated[str, msgspec.Meta(max_length=400)] = ""
    province: Str32 = ""
    city: Str32 = ""
    district: Str32 = ""
    detail: Str255 = ""
    country: Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")] = "CN"
    postcode: Annotated[str, msgspec.Meta(max_length=16)] = ""


class AddressChangePayload(msgspec.Struct, kw_only=True):
    receiver: ReceiverIn


class AddressChangeIn(_Opening, kw_only=True, tag="address_change"):
    """修改收货地址 after payment, until it ships. Approved: the receiver is replaced; an order not yet in the warehouse
    goes through the pipeline again, one being picked is corrected in place (the floor is told), and a packed one's
    waybill is voided and cancelled with the carrier so the pack station prints a new label."""

    order_id: Id
    payload: AddressChangePayload


class StockWriteoffPayload(msgspec.Struct, kw_only=True, rename={"set_to": "set"}):
    warehouse: Code64
    sku: Code64
    delta: Delta | None = None  # e.g. -3: three written off; or
    set_to: Count | None = None  # ``set``: the new on-hand quantity
    reason: Str255


class StockWriteoffIn(_Opening, kw_only=True, tag="stock_writeoff"):
    """库存核销/调整: approved, the adjustment is made (audited as the approval's)."""

    payload: StockWriteoffPayload


class CancelAfterPickPayload(msgspec.Struct, kw_only=True):
    reason: Str255


class CancelAfterPickIn(_Opening, kw_only=True, tag="cancel_after_pick"):
    """拣货后取消: an order picking or packed. Approved: it is intercepted and cancelled, its stock released, and the
    units already picked get put-back work (返架) the floor sees and closes."""

    order_id: Id
    payload: CancelAfterPickPayload


OpenRequestIn = RefundReshipIn | AddressChangeIn | StockWriteoffIn | CancelAfterPickIn


class TaskOut(msgspec.Struct, kw_only=True):
    id: int
    step: int
    step_name: str
    slot: int
    seq: int
    role: str  # approver, cc
    assignee_id: int
    assignee_name: str
    status: str  # waiting, pending, approved, rejected, transferred, escalated, cancelled; told (cc)
    origin: str  # flow, fallback, before, after, parallel, transfer, escalation
    origin_task: int | None
    escalation: int
    due_at: datetime | None
    comment: str
    decided_at: datetime | None
    created_at: datetime


class TrailEntryOut(msgspec.Struct, kw_only=True):
    seq: int
    action: str
    actor: str
    at: datetime
    data: dict[str, Any]


class RequestOut(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    title: str
    reason: str
    amount: int  # fen
    order_id: int | None
    warehouse_id: int | None
    status: str  # pending, approved, rejected, withdrawn, cancelled
    step: int
    flow_code: str
    flow_version: int  # the version it runs on, for its whole life
    payload: dict[str, Any]
    requester_id: int | None  # null: the hub (a rule held the order)
    requester_name: str
    outcome_reason: str
    decided_by_id: int | None
    decided_by_name: str
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime
    runs_in: str = "hub"  # "wecom_oa": decided in WeCom's 审批 app (approve / reject / withdraw there)
    wecom_sp_no: str | None = None  # the approval's number in WeCom once submitted (审批单号)


class RequestPageOut(msgspec.Struct, kw_only=True):
    items: list[RequestOut]
    next_cursor: str | None  # pass back as ``cursor``; null: the last page


class OrderLineOut(msgspec.Struct, kw_only=True):
    sku: str
    qty: int
    unit_price: int
    amount: int
    is_gift: bool


class OrderSummaryOut(msgspec.Struct, kw_only=True):
    id: int
    channel: str
    external_id: str
    status: str
    hold_queue: str | None
    hold_reason: str | None
    paid_amount: int
    goods_amount: int
    warehouse: str | None
    receiver_name: str
    province: str
    city: str
    district: str
    address: str
    buyer_memo: str
    seller_memo: str
    tags: list[str]
    placed_at: datetime
    paid_at: datetime | None
    lines: list[OrderLineOut]


class RequestDetailOut(RequestOut, kw_only=True):
    order: OrderSummaryOut | None = None
    tasks: list[TaskOut] = []
    trail: list[TrailEntryOut] = []  # oldest first
    my_actions: list[str] = []  # what the caller may do now: approve, reject, add_signer, transfer, withdraw, …


def order_summary(order: OrderView | None) -> OrderSummaryOut | None:
    """What an approver needs of the order (no phone numbers; name and street masked): amounts, status, hold, where
    it goes, its lines."""
    if order is None:
        return None
    receiver = masked_receiver(order.receiver)
    summary = {
        "id": order.id,
        "channel": order.channel,
        "external_id": order.external_id,
        "status": order.status,
        "hold_queue": order.hold_queue,
        "hold_reason": order.hold_reason,
        "paid_amount": order.paid_amount,
        "goods_amount": order.goods_amount,
        "warehouse": order.warehouse,
        "receiver_name": receiver.name,
        "province": receiver.province,
        "city": receiver.city,
        "district": receiver.district,
        "address": receiver.address,
        "buyer_memo": order.buyer_memo,
        "seller_memo": order.seller_memo,
        "tags": order.tags,
        "placed_at": order.placed_at,
        "paid_at": order.paid_at,
        "lines": [
            {
                "sku": line.sku,
                "qty": line.qty,
                "unit_price": line.unit_price,
                "amount": line.amount,
                "is_gift": line.is_gift,
            }
            for line in order.lines
        ],
    }
    return present(summary, OrderSummaryOut)


def request_detail(view: inbox.RequestView, order: OrderView | None, actions: list[str]) -> RequestDetailOut:
    out = present(view, RequestDetailOut)
    out.order = order_summary(order)
    out.my_actions = actions
    return out


# ------------------------------------------------------------------------------------------------------- actions


class ApproveIn(msgspec.Struct, kw_only=True):
    comment: Text = ""
    task_id: Id | None = None  # which of the caller's pending tasks; null: their first


class RejectIn(msgspec.Struct, kw_only=True):
    reason: Text = ""  # required (``approval_reason_required`` when empty)
    task_id: Id | None = None


class AddSignerIn(msgspec.Struct, kw_only=True):
    user_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=10)]
    position: Literal["before", "after", "parallel"]
    comment: Text = ""
    task_id: Id | None = None


class TransferIn(msgspec.Struct, kw_only=True):
    to_user_id: Id
    comment: Text = ""
    task_id: Id | None = None


class CommentIn(msgspec.Struct, kw_only=True):
    text: Text


class WithdrawIn(msgspec.Struct, kw_only=True):
    reason: Text = ""


class ActionOut(msgspec.Struct, kw_only=True):
    request_id: int
    action: str
    status: str  # the request's status after the action
    step: int
    task_id: int | None = None  # the caller's task it acted on
    duplicate: bool = False  # the same Idempotency-Key was used before: this is that action's outcome


# --------------------------------------------------------------------------------------------------------- inbox


class CountsOut(msgspec.Struct, kw_only=True):
    pending: int  # waiting for the caller's decision
    cc: int  # copied to the caller (知会)
    mine: int  # requests the caller opened that are still pending (我发起的, 审批中)


class InboxItemOut(msgspec.Struct, kw_only=True):
    task_id: int | None  # null in box `mine` (a request of the caller's, not a task)
    request_id: int
    kind: str
    title: str
    reason: str
    amount: int
    order_id: int | None
    request_status: str
    task_status: str
    role: str
    step: int
    step_name: str
    requester_name: str
    due_at: datetime | None  # box `mine`: the earliest time limit of the current step's pending tasks
    created_at: datetime
    decided_at: datetime | None
    waiting_on: list[str] = []  # box `mine`, pending: who the current step waits for


class InboxOut(msgspec.Struct, kw_only=True):
    box: str
    items: list[InboxItemOut]
    next_cursor: str | None
    counts: CountsOut


class PersonOut(msgspec.Struct, kw_only=True):
    id: int
    name: str
    role: str
    warehouse: str | None


# --------------------------------------------------------------------------------------------------------- audit


class AuditEntryOut(msgspec.Struct, kw_only=True):
    id: int
    chain: str
    seq: int
    request_id: int | None
    action: str
    actor: str
    at: datetime
    data: dict[str, Any]
    entry: str  # the canonical JSON the hash covers (its times in UTC)
    prev_hash: str
    hash: str


class TrailPageOut(msgspec.Struct, kw_only=True):
    entries: list[AuditEntryOut]
    next_after: int | None  # pass as ``after_id`` for the next page; null: the end


class ProblemOut(msgspec.Struct, kw_only=True):
    chain: str
    seq: int | None
    problem: str  # edited, mismatch, missing, broken_link, truncated, no_head, no_trail
    detail: str


class VerifyOut(msgspec.Struct, kw_only=True):
    ok: bool
    chains: int
    entries: int
    problems: list[ProblemOut]
    heads: dict[str, str]  # chain → its last hash: keep them elsewhere to anchor the trail
