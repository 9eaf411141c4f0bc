"""The kinds of approval request and what deciding them does (registered by ``server.wiring.wire()`` in
:data:`orderhub.approvals.port.KINDS`), and the order hooks that open and close order holds' requests.

* ``order_hold`` — an order a rule held (``require_approval`` naming a flow). Approved: the hold is released and
  the order goes on through the pipeline (or to its next hold). Rejected: the order is cancelled and its stock
  released (with the flow's ``on_reject: keep_held`` it stays held, reason ``approval_rejected``).
* ``refund_reship`` — an order; ``refund_amount`` (fen) and / or ``reship_lines``. Approved: the refund is recorded
  on the order (``order.refund_recorded``, never above what was paid) and a replacement order (补发单) is created for
  the lines — a new order of the same channel and receiver at price 0, ``reship_of`` the original, through the
  normal pipeline (:mod:`orderhub.orders.aftersale`). Rejected: recorded.
* ``address_change`` — an order not shipped. Approved: the new receiver replaces the old one; an order not yet in
  the warehouse goes through the pipeline again; one being picked keeps going (its waybill is taken at packing);
  a packed one has its waybill voided (the carrier is asked to cancel it) and is labelled again at the pack
  station. The floor is told. Rejected: recorded.
* ``stock_writeoff`` — a stock row (warehouse + SKU). Approved: the adjustment is made (audited as any stock
  adjustment). Rejected: nothing changes.
* ``cancel_after_pick`` — an order being picked or packed. Approved: intercepted (exception) and cancelled, its
  stock released, a packed order's waybill voided, and the units already picked listed for the floor to put back
  (返架, :mod:`orderhub.picking.putback`). Rejected: recorded.

Every decision about an order is written to the order's own log (``order.approval_decided``: who, when, why, what
was done).

An effect that cannot be done raises :class:`EffectRefused` (``approval_effect_refused``, a :class:`Conflict`) and
the decision is not recorded. It says why in ``cause_code`` (the refusing error's own code, e.g.
``waybill_request_pending``) and whether trying again shortly may succeed (``temporary``: a waybill request in flight,
a concurrent update, a store briefly unavailable) or not (the order shipped or was cancelled, a refund above what
was paid …); both are also in its ``extra`` (so in the problem+json answer).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar

import msgspec

from orderhub import clock, db
from orderhub.approvals.engine import NewRequest, cancel_for_order, open_request
from orderhub.approvals.errors import ApprovalError
from orderhub.approvals.model import RequestFacts
from orderhub.approvals.port import Decision, KindHandler
from orderhub.errors import (
    CommonError,
    Conflict,
    ErrorCode,
    NotFound,
    OrderHubError,
    ServiceUnavailable,
    ValidationFailed,
)
from orderhub.inventory.service import adjust_stock
from orderhub.logistics.errors import LogisticsError
from orderhub.logistics.voids import void_issued
from orderhub.orders import aftersale, aftersales, pii
from orderhub.orders.commands import Receiver
from orderhub.orders.events import OrderEventType
from orderhub.orders.pipeline.commands import cancel_order, release_hold, release_reservation, replace_receiver
from orderhub.orders.service import (
    StatusChange,
    full_address,
    masked_receiver,
    process_after_commit,
    record_event,
    transition,
)
from orderhub.orders.state import RELEASABLE, OrderStatus
from orderhub.orders.tables import Order
from orderhub.picking import putback
from orderhub.picking.floor_notices import tell_receiver_changed
from orderhub.routing.geo import REGION_OF
from orderhub.rules.model import OrderFacts
from orderhub.rules.service import HoldRequest

__all__ = [
    "ADDRESS_CHANGE",
    "APPROVAL_QUEUE",
    "CANCEL_AFTER_PICK",
    "ORDER_HOLD",
    "REFUND_RESHIP",
    "STOCK_WRITEOFF",
    "TEMPORARY_REFUSALS",
    "EffectRefused",
    "on_order_event",
    "on_status_change",
    "open_after_sale_request",
    "order_facts",
]

S = OrderStatus
APPROVAL_QUEUE = "approval"
IN_WAREHOUSE = frozenset({S.PICKING, S.PACKED})
GONE = frozenset({S.SHIPPED, S.DELIVERED, S.CANCELLED})


# ------------------------------------------------------------------------------------------------------ facts


class _OrderRow(msgspec.Struct, kw_only=True):
    id: int
    external_id: str
    status: str
    hold_queue: str | None
    channel: str
    buyer_nick: str
    buyer_phone: str
    buyer_memo: str
    seller_memo: str
    receiver_province: str
    goods_amount: int
    paid_amount: int
    tags: str
    priority: str
    warehouse: int | None
    preferred_warehouse: int | None
    default_warehouse: int | None


class _LineRow(msgspec.Struct, kw_only=True):
    sku_code: str
    qty: int
    is_gift: bool
    name: str | None


class _Region(msgspec.Struct):
    region: str


async def _order(order_id: int) -> _OrderRow:
    row = await db.fetch_one_as(
        _OrderRow,
        "SELECT o.id, o.external_id, o.status, o.hold_queue, c.code AS channel, o.buyer_nick, o.buyer_phone, "
        "o.buyer_memo, o.seller_memo, o.receiver_province, o.goods_amount, o.paid_amount, o.tags, o.priority, "
        "o.warehouse, o.preferred_warehouse, c.default_warehouse FROM sales_order o JOIN channel c ON c.id = o.channel "
        "WHERE o.id = {}",
        order_id,
    )
    if row is None:
        raise NotFound("订单不存在", field="order_id")
    return row


async def order_facts(kind: str, order_id: int | None, payload: dict[str, Any]) -> RequestFacts:
    """An order's facts as the rules engine sees them, its SKU names, warehouse (routed, preferred, or its
    channel's default) and region (the receiver province's, else the warehouse's)."""
    if order_id is None:
        raise ValidationFailed("该类审批需要指定订单", code=ApprovalError.APPROVAL_BAD_PAYLOAD, field="order_id")
    row = await _order(order_id)
    lines = await db.fetch_as(
        _LineRow,
        "SELECT l.sku_code, l.qty, l.is_gift, s.name FROM order_line l LEFT JOIN sku s ON s.code = l.sku_code "
        'WHERE l."order" = {} ORDER BY l.line_no',
        order_id,
    )
    sku_qty: dict[str, int] = defaultdict(int)
    for line in lines:
        if not line.is_gift:
            sku_qty[line.sku_code] += line.qty
    warehouse = row.warehouse or row.preferred_warehouse or row.default_warehouse
    region = REGION_OF.get(row.receiver_province, "")
    if not region and warehouse is not None:
        found = await db.fetch_one_as(_Region, "SELECT region FROM warehouse WHERE id = {}", warehouse)
        region = found.region if found else ""
    amount = payload.get("refund_amount") if kind == "refund_reship" else None
    return RequestFacts(
        kind=kind,
        order=OrderFacts(
            channel=row.channel,
            buyer_nick=row.buyer_nick,
            buyer_phone=pii.open_(row.buyer_phone),
            buyer_memo=row.buyer_memo,
            seller_memo=row.seller_memo,
            province=row.receiver_province,
            goods_amount=row.goods_amount,
            paid_amount=row.paid_amount,
            sku_qty=dict(sku_qty),
            tags=msgspec.json.decode(row.tags or "[]"),
            priority=row.priority,
        ),
        sku_names=sorted({line.name for line in lines if line.name and not line.is_gift}),
        warehouse_id=warehouse,
        region=region,
        amount=int(amount) if isinstance(amount, int) else row.paid_amount,
        subject=f"订单 {row.channel}/{row.external_id}",
    )


def _empty_facts() -> OrderFacts:
    return OrderFacts(
        channel="",
        buyer_nick="",
        buyer_phone="",
        buyer_memo="",
        seller_memo="",
        province="",
        goods_amount=0,
        paid_amount=0,
        sku_qty={},
        tags=[],
        priority="normal",
    )


def _convert(payload: dict[str, Any], type_: type[msgspec.Struct]) -> Any:
    try:
        return msgspec.convert(payload, type_)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(
            f"申请内容格式不正确：{exc}", code=ApprovalError.APPROVAL_BAD_PAYLOAD, field="payload"
        ) from exc


def _bad(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, code=ApprovalError.APPROVAL_BAD_PAYLOAD, field=field)


# ------------------------------------------------------------------------------------------ the order's log


async def _log(d: Decision, **extra: Any) -> None:
    assert d.order_id is not None
    await record_event(
        d.order_id,
        OrderEventType.APPROVAL_REQUESTED if d.outcome == "pending" else OrderEventType.APPROVAL_DECIDED,
        reason=d.outcome,
        data={
            "request_id": d.request_id,
            "kind": d.kind,
            "flow": d.flow_code,
            "by": d.by_name,
            "by_user_id": d.by_user_id,
            "reason": d.reason,
            "at": d.at.isoformat(),
            **extra,
        },
        actor=d.actor,
    )


async def _opened(d: Decision) -> str | None:
    await _log(d)
    return None


async def _recorded(d: Decision) -> str | None:
    await _log(d)
    return "已记入订单日志"


class _State(msgspec.Struct):
    status: str
    hold_queue: str | None
    warehouse: int | None
    external_id: str


async def _state(order_id: int) -> _State:
    # Raw SQL: the order's row lock (PostgreSQL) while the decision acts on it.
    row = await db.fetch_one_as(
        _State,
        f"SELECT status, hold_queue, warehouse, external_id FROM sales_order WHERE id = {{}}{db.for_update()}",
        order_id,
    )
    if row is None:
        raise NotFound("订单不存在", field="order_id")
    return row


# ------------------------------------------------------------------------------------------------ order_hold


class _HoldPayload(msgspec.Struct, kw_only=True):
    rule_id: int | None = None
    rule_name: str = ""


def _validate_hold(payload: dict[str, Any]) -> dict[str, Any]:
    return msgspec.to_builtins(_convert(payload, _HoldPayload))


def _held_for_approval(state: _State) -> bool:
    return state.status == S.HELD.value and state.hold_queue == APPROVAL_QUEUE


async def _hold_approved(d: Decision) -> str:
    assert d.order_id is not None
    state = await _state(d.order_id)
    await _log(d)
    if not _held_for_approval(state):
        return f"订单当前状态为 {state.status}，已不在审批队列，未再放行"
    status = await release_hold(d.order_id, note=f"审批通过（{d.by_name}）", actor=d.actor)
    return "订单已放行，重新进入处理流程" if status == S.RECEIVED.value else "订单已通过审批，转入下一项挂起"


async def _hold_rejected(d: Decision) -> str:
    assert d.order_id is not None
    state = await _state(d.order_id)
    await _log(d)
    if not _held_for_approval(state):
        return f"订单当前状态为 {state.status}，已不在审批队列，未再处理"
    if d.on_reject == "keep_held":
        await Order.update({Order.hold_reason: "approval_rejected", Order.updated_at: clock.now()}).where(
            (Order.id == d.order_id) & (Order.status == S.HELD.value) & (Order.hold_queue == APPROVAL_QUEUE)
        )
        return "订单保持挂起（审批驳回）"
    await cancel_order(d.order_id, reason=f"审批驳回：{d.reason}", actor=d.actor)
    return "订单已取消，库存已释放"


ORDER_HOLD = KindHandler(
    label="订单审批",
    needs_order=True,
    validate=_validate_hold,
    facts=order_facts,
    on_approve=_hold_approved,
    on_reject=_hold_rejected,
    on_open=_opened,
)


# --------------------------------------------------------------------------------------------- refund_reship


class _RefundReship(msgspec.Struct, kw_only=True):
    refund_amount: int = 0  # fen
    reship_lines: list[aftersale.ReshipLine] = []
    note: str = ""
    # The after-sale case (orderhub.orders.aftersales) this request decides; None: a request opened in the
    # approvals, whose case is made when it is approved.
    after_sale_id: int | None = None


def _validate_refund(payload: dict[str, Any]) -> dict[str, Any]:
    cmd: _RefundReship = _convert(payload, _RefundReship)
    if cmd.refund_amount < 0:
        raise _bad("退款金额（分）不能为负数", "payload.refund_amount")
    if any(not line.sku.strip() or line.qty <= 0 for line in cmd.reship_lines):
        raise _bad("补发商品需要编码和大于 0 的数量", "payload.reship_lines")
    if len(cmd.reship_lines) > aftersale.MAX_RESHIP_LINES:
        raise _bad(f"一次最多补发 {aftersale.MAX_RESHIP_LINES} 行商品", "payload.reship_lines")
    if cmd.refund_amount == 0 and not cmd.reship_lines:
        raise _bad("请填写退款金额或补发商品", "payload")
    return msgspec.to_builtins(cmd)


async def _check_refund_reship(order_id: int, cmd: _RefundReship) -> None:
    """What the order must allow: the refund within what was paid (less what was refunded), the reship's SKUs
    active and the order not cancelled."""
    if cmd.refund_amount:
        await aftersale.check_refund(order_id, cmd.refund_amount)
    if cmd.reship_lines:
        await aftersale.check_reship(order_id, cmd.reship_lines)


async def _refund_facts(kind: str, order_id: int | None, payload: dict[str, Any]) -> RequestFacts:
    facts = await order_facts(kind, order_id, payload)
    assert order_id is not None  # order_facts refuses a request without one
    try:
        await _check_refund_reship(order_id, _convert(payload, _RefundReship))
    except OrderHubError as exc:
        raise _bad(exc.message, f"payload.{exc.field}" if exc.field != "order_id" else "order_id") from exc
    return facts


class _Reason(msgspec.Struct):
    reason: str


async def _request_reason(request_id: int) -> str:
    row = await db.fetch_one_as(_Reason, "SELECT reason FROM approval_request WHERE id = {}", request_id)
    return row.reason if row is not None else ""


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


# Refusals that may not hold a moment later: the decision can be tried again shortly (a WeCom decision applied later
# rather than closed as cannot-be-done). Any ServiceUnavailable (a store down) is temporary too.
TEMPORARY_REFUSALS: frozenset[str] = frozenset({LogisticsError.WAYBILL_REQUEST_PENDING, CommonError.CONCURRENT_UPDATE})


class EffectRefused(Conflict):
    """What an approved decision should do cannot be done (``approval_effect_refused``): ``cause_code`` is the
    refusing error's own code and ``temporary`` says whether retrying shortly may succeed (see the module's
    docstring); both are in ``extra`` too."""

    code: ClassVar[ErrorCode] = ApprovalError.APPROVAL_EFFECT_REFUSED

    def __init__(
        self,
        message: str,
        *,
        cause: ErrorCode | str,
        temporary: bool,
        field: str | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.cause_code = str(cause)
        self.temporary = temporary
        super().__init__(
            message, field=field, extra={**(extra or {}), "cause_code": self.cause_code, "temporary": temporary}
        )


def _refused(exc: OrderHubError) -> EffectRefused:
    temporary = isinstance(exc, ServiceUnavailable) or exc.code in TEMPORARY_REFUSALS
    return EffectRefused(
        exc.message, cause=exc.code, temporary=temporary, field=exc.field or "order_id", extra=exc.extra
    )


def _gone(message: str) -> EffectRefused:
    """The order shipped or was cancelled meanwhile: refused for good."""
    return EffectRefused(message, cause=CommonError.INVALID_TRANSITION, temporary=False, field="order_id")


async def _refund_approved(d: Decision) -> str:
    """The request's after-sale case carried out (its refund recorded on the order, its reship created — once per
    request), or, for a request opened in the approvals, its case made and carried out; in the order's log."""
    assert d.order_id is not None
    state = await _state(d.order_id)
    cmd: _RefundReship = _convert(d.payload, _RefundReship)
    if cmd.after_sale_id is not None:
        try:
            await _log(d, after_sale_id=cmd.after_sale_id, refund_amount=cmd.refund_amount)
            return await aftersales.carry_out(
                cmd.after_sale_id, actor=d.actor, approved_by=d.by_name, request_id=d.request_id
            )
        except OrderHubError as exc:
            raise _refused(exc) from exc
    why = " ".join(part for part in (await _request_reason(d.request_id), cmd.note.strip()) if part)
    lines = [{"sku": line.sku, "qty": line.qty} for line in cmd.reship_lines]
    extra: dict[str, Any] = {"refund_amount": cmd.refund_amount, "reship_lines": lines}
    if cmd.reship_lines:
        extra["reship_external_id"] = aftersale.reship_external_id(state.external_id, d.request_id)
    try:
        await _check_refund_reship(d.order_id, cmd)
        await _log(d, **extra)
        _case, done = await aftersales.record_from_approval(
            d.order_id,
            request_id=d.request_id,
            refund_amount=cmd.refund_amount,
            reship_lines=cmd.reship_lines,
            reason=why,
            approved_by=d.by_name,
            actor=d.actor,
        )
    except OrderHubError as exc:
        raise _refused(exc) from exc
    return done


async def _refund_rejected(d: Decision) -> str | None:
    """Recorded on the order; the request's after-sale case (if it has one) is rejected."""
    await _log(d)
    after_sale_id = d.payload.get("after_sale_id")
    if isinstance(after_sale_id, int):
        await aftersales.reject(after_sale_id, reason=d.reason, actor=d.actor, by_approval=True)
        return f"已记入订单日志；售后单 #{after_sale_id} 已驳回"
    return "已记入订单日志"


async def _refund_withdrawn(d: Decision) -> str | None:
    """Recorded on the order; the request's after-sale case (if it has one) is closed."""
    await _log(d)
    after_sale_id = d.payload.get("after_sale_id")
    if isinstance(after_sale_id, int):
        await aftersales.close(after_sale_id, note=f"审批已撤回：{d.reason}", actor=d.actor, by_approval=True)
        return f"已记入订单日志；售后单 #{after_sale_id} 已关闭"
    return "已记入订单日志"


def _refund_pending_key(kind: str, order_id: int | None, payload: dict[str, Any]) -> str | None:
    """One pending request per order, or per after-sale case for a case's request."""
    if payload.get("after_sale_id") is not None:
        return f"{kind}:{order_id}:as{payload['after_sale_id']}"
    return f"{kind}:{order_id}" if order_id is not None else None


REFUND_RESHIP = KindHandler(
    label="退款补发",
    needs_order=True,
    validate=_validate_refund,
    facts=_refund_facts,
    on_approve=_refund_approved,
    on_reject=_refund_rejected,
    on_withdraw=_refund_withdrawn,
    on_open=_opened,
    pending_key=_refund_pending_key,
)


async def open_after_sale_request(ask: aftersales.ApprovalAsk) -> int | None:
    """The after-sale cases' approval gate (``aftersales.APPROVAL_GATES``): a ``refund_reship`` request for the case
    where an active flow takes it (its id), else None — the case goes ahead without one. Refunds ask for their
    amount, reships and exchanges for their lines; a return's goods are not reshipped."""
    reship = ask.kind in (aftersales.AfterSaleKind.RESHIP, aftersales.AfterSaleKind.EXCHANGE)
    payload: dict[str, Any] = {
        "after_sale_id": ask.after_sale_id,
        "refund_amount": ask.refund_amount,
        "reship_lines": [{"sku": line.sku, "qty": line.qty} for line in ask.lines] if reship else [],
        "note": f"售后单 #{ask.after_sale_id}（{aftersales.KIND_NAMES[aftersales.AfterSaleKind(ask.kind)]}）",
    }
    try:
        return await open_request(
            NewRequest(
                kind="refund_reship",
                order_id=ask.order_id,
                payload=payload,
                requester_id=ask.requester_id,
                reason=ask.reason,
            )
        )
    except Conflict as exc:
        if exc.code == ApprovalError.APPROVAL_NO_FLOW:
            return None
        raise


# -------------------------------------------------------------------------------------------- address_change


class _AddressChange(msgspec.Struct, kw_only=True):
    receiver: Receiver


def _validate_address(payload: dict[str, Any]) -> dict[str, Any]:
    cmd: _AddressChange = _convert(payload, _AddressChange)
    receiver = cmd.receiver
    if not receiver.name.strip() or not receiver.phone.strip() or not full_address(receiver):
        raise _bad("请填写收货人、电话和地址", "payload.receiver")
    # Stored with the request (and its audit trail): the new receiver's name, phone and street sealed at rest.
    return {"receiver": pii.seal_receiver(msgspec.to_builtins(receiver))}


def _receiver_of(payload: dict[str, Any]) -> Receiver:
    return msgspec.convert(pii.open_receiver(payload["receiver"]), Receiver)


class _Status(msgspec.Struct):
    status: str


async def _address_facts(kind: str, order_id: int | None, payload: dict[str, Any]) -> RequestFacts:
    """An order in the warehouse takes the new receiver as it is (no validation pass follows): it must be
    understood now."""
    facts = await order_facts(kind, order_id, payload)
    row = await db.fetch_one_as(_Status, "SELECT status FROM sales_order WHERE id = {}", order_id)
    if row is not None and S(row.status) in IN_WAREHOUSE:
        try:
            aftersale.standardised_receiver(_receiver_of(payload))
        except OrderHubError as exc:
            raise _bad(exc.message, f"payload.{exc.field}") from exc
    return facts


async def _address_approved(d: Decision) -> str:
    assert d.order_id is not None
    state = await _state(d.order_id)
    status = S(state.status)
    if status in GONE:
        raise _gone("订单已发货或已取消，无法修改收货地址")
    receiver = _receiver_of(d.payload)
    if status in IN_WAREHOUSE:
        return await _address_in_warehouse(d, state, receiver)
    await _log(d, address=masked_receiver(receiver).address)
    await replace_receiver(d.order_id, receiver, actor=d.actor)
    if status == S.HELD:
        return "收货地址已修改（订单放行后重新校验）"
    if status in RELEASABLE:
        await release_reservation(d.order_id, actor=d.actor)
    if status != S.RECEIVED:
        await transition(
            d.order_id, S.RECEIVED, expected=status, data={"note": "审批通过：修改收货地址，重新处理"}, actor=d.actor
        )
    process_after_commit(d.order_id)
    return "收货地址已修改，订单重新处理"


async def _address_in_warehouse(d: Decision, state: _State, receiver: Receiver) -> str:
    """Picking: the receiver is replaced in place (the waybill is taken at packing). Packed: its waybill (if it has
    one) is voided and cancelled at the carrier, the receiver replaced, and the pack station takes a new waybill
    and label (the order stays packed; it cannot be handed over without one). The floor is told either way."""
    assert d.order_id is not None
    status = S(state.status)
    try:
        aftersale.standardised_receiver(receiver)  # refused before anything is written
        await _log(d, address=masked_receiver(receiver).address, status=status.value)
        voided = None
        if status == S.PACKED:
            voided = await void_issued(d.order_id, why=f"审批 #{d.request_id}：修改收货地址", actor=d.actor)
        stored = await aftersale.replace_receiver_in_place(d.order_id, receiver, actor=d.actor)
    except OrderHubError as exc:
        raise _refused(exc) from exc
    where = f"{stored.province}{stored.city}{stored.district}"
    if status == S.PICKING:
        message = f"订单 {state.external_id} 收货地址已改为 {where}（拣货中，打包取号时使用新地址）"
        done = "收货地址已修改（拣货中，打包取号时使用新地址），已通知仓库"
    elif voided is not None:
        message = (
            f"订单 {state.external_id} 收货地址已改为 {where}：原运单 {voided.waybill_no} 已作废，"
            "请撕下旧面单，在打包台重新取号并打印面单"
        )
        done = (
            f"收货地址已修改；原运单 {voided.carrier} {voided.waybill_no} 已作废（已通知快递取消），"
            "请在打包台重新取号打印面单"
        )
    else:
        message = f"订单 {state.external_id} 收货地址已改为 {where}（已打包，尚未取号：取号时使用新地址）"
        done = "收货地址已修改（已打包，尚未取号，取号时使用新地址），已通知仓库"
    await tell_receiver_changed(
        d.order_id, state.warehouse, status=status.value, voided=voided.waybill_no if voided else "", message=message
    )
    return done


ADDRESS_CHANGE = KindHandler(
    label="修改收货地址",
    needs_order=True,
    validate=_validate_address,
    facts=_address_facts,
    on_approve=_address_approved,
    on_reject=_recorded,
    on_withdraw=_recorded,
    on_open=_opened,
)


# -------------------------------------------------------------------------------------------- stock_writeoff


class _WriteOff(msgspec.Struct, kw_only=True, rename={"set_to": "set"}):
    warehouse: str
    sku: str
    delta: int | None = None
    set_to: int | None = None
    reason: str


def _validate_writeoff(payload: dict[str, Any]) -> dict[str, Any]:
    cmd: _WriteOff = _convert(payload, _WriteOff)
    if (cmd.delta is None) == (cmd.set_to is None) or cmd.delta == 0:
        raise _bad("delta（非 0）与 set 必须且只能提供一个", "payload.delta")
    if cmd.set_to is not None and cmd.set_to < 0:
        raise _bad("库存数量不能为负数", "payload.set")
    if not cmd.reason.strip() or not cmd.warehouse.strip() or not cmd.sku.strip():
        raise _bad("请填写仓库、商品和调整原因", "payload.reason")
    return msgspec.to_builtins(cmd)


class _WarehouseRow(msgspec.Struct):
    id: int
    region: str


class _SkuRow(msgspec.Struct):
    name: str


async def _writeoff_facts(kind: str, order_id: int | None, payload: dict[str, Any]) -> RequestFacts:
    warehouse = await db.fetch_one_as(
        _WarehouseRow, "SELECT id, region FROM warehouse WHERE code = {}", payload["warehouse"]
    )
    if warehouse is None:
        raise NotFound(f"仓库 {payload['warehouse']} 不存在", field="payload.warehouse")
    sku = await db.fetch_one_as(_SkuRow, "SELECT name FROM sku WHERE code = {}", payload["sku"])
    if sku is None:
        raise NotFound(f"商品 {payload['sku']} 不存在", field="payload.sku")
    qty = abs(payload["delta"]) if payload.get("delta") is not None else int(payload["set"])
    order = _empty_facts()
    order.sku_qty = {payload["sku"]: qty}
    return RequestFacts(
        kind=kind,
        order=order,
        sku_names=[sku.name],
        warehouse_id=warehouse.id,
        region=warehouse.region,
        subject=f"{payload['sku']} @ {payload['warehouse']}",
    )


async def _writeoff_approved(d: Decision) -> str:
    p = d.payload
    stock = await adjust_stock(
        sku=p["sku"],
        warehouse=p["warehouse"],
        delta=p.get("delta"),
        set_to=p.get("set"),
        reason=f"审批 #{d.request_id}：{p['reason']}"[:255],
        actor=d.actor,
    )
    return f"库存已调整，现有 {stock.on_hand}"


async def _nothing(d: Decision) -> str | None:
    return None


STOCK_WRITEOFF = KindHandler(
    label="库存核销/调整",
    needs_order=False,
    validate=_validate_writeoff,
    facts=_writeoff_facts,
    on_approve=_writeoff_approved,
    on_reject=_nothing,
    pending_key=lambda kind, order_id, payload: f"{kind}:{payload['warehouse']}:{payload['sku']}",
)


# ----------------------------------------------------------------------------------------- cancel_after_pick


class _CancelAfterPick(msgspec.Struct, kw_only=True):
    reason: str


def _validate_cancel(payload: dict[str, Any]) -> dict[str, Any]:
    cmd: _CancelAfterPick = _convert(payload, _CancelAfterPick)
    if not cmd.reason.strip():
        raise _bad("请填写取消原因", "payload.reason")
    return msgspec.to_builtins(cmd)


async def _cancel_approved(d: Decision) -> str:
    assert d.order_id is not None
    state = await _state(d.order_id)
    status = S(state.status)
    if status in GONE:
        raise _gone("订单已发货或已取消，无法再取消")
    reason = str(d.payload.get("reason", ""))
    await _log(d, cancel_reason=reason)
    note = f"审批同意取消（{d.by_name}）：{reason}"
    if status not in IN_WAREHOUSE:
        await cancel_order(d.order_id, reason=note, actor=d.actor)
        return "订单已取消，库存已释放"
    picked = await putback.picked_units(d.order_id)  # before the interception withdraws the order from its tasks
    voided = None
    if status == S.PACKED:
        try:
            voided = await void_issued(d.order_id, why=f"审批 #{d.request_id}：拣货后取消", actor=d.actor)
        except OrderHubError as exc:
            raise _refused(exc) from exc
    await transition(
        d.order_id,
        S.EXCEPTION,
        expected=status,
        reason="intercepted",
        data={"message": "已审批取消，请拦截，勿发货", "request_id": d.request_id},
        actor=d.actor,
    )
    await cancel_order(d.order_id, reason=note, actor=d.actor)
    made = await putback.open_putbacks(
        d.order_id,
        picked,
        source="pack" if status == S.PACKED else "tote",
        reason=f"审批 #{d.request_id} 拣货后取消：{reason}",
        request_id=d.request_id,
        actor=d.actor,
    )
    done = "订单已拦截并取消，库存已释放"
    if voided is not None:
        done += f"；运单 {voided.carrier} {voided.waybill_no} 已作废（已通知快递取消）"
    if made:
        units = sum(p.qty for p in picked)
        return done + f"；已生成返架单 {'、'.join(f'#{i}' for i in made)}：已拣 {units} 件待放回原库位"
    return done + "（尚未拣货，无需返架）"


CANCEL_AFTER_PICK = KindHandler(
    label="拣货后取消",
    needs_order=True,
    validate=_validate_cancel,
    facts=order_facts,
    on_approve=_cancel_approved,
    on_reject=_recorded,
    on_withdraw=_recorded,
    on_open=_opened,
)


# ---------------------------------------------------------------------------------------------- order hooks


class _RuleName(msgspec.Struct):
    name: str


class _Pending(msgspec.Struct):
    pending_holds: str | None


async def _open_hold(order_id: int, flow: str, rule_id: Any) -> None:
    """Open the order hold's request on ``flow``; if it cannot start (no such flow, switched off, its entry does
    not match, nobody to approve), the order's log says why and the order waits for a person, as before flows."""
    name = ""
    if isinstance(rule_id, int):
        rule = await db.fetch_one_as(_RuleName, "SELECT name FROM order_rule WHERE id = {}", rule_id)
        name = rule.name if rule else ""
    try:
        await open_request(
            NewRequest(
                kind="order_hold",
                order_id=order_id,
                flow=flow,
                payload={"rule_id": rule_id if isinstance(rule_id, int) else None, "rule_name": name},
                reason=f"规则「{name}」要求审批" if name else "规则要求审批",
            )
        )
    except OrderHubError as exc:
        await record_event(
            order_id,
            OrderEventType.APPROVAL_NOT_STARTED,
            reason=str(exc.code)[:64],
            data={"flow": flow, "message": exc.message},
        )


async def on_order_event(order_id: int, event_type: OrderEventType, reason: str | None, data: dict[str, Any]) -> None:
    """``ORDER_EVENT_HOOKS``: an order held for approval by a rule naming a flow opens its request (in the
    transaction that holds it); the approval hold released by a person cancels the request, and an approval hold
    that comes next (``pending_holds``) opens its own."""
    if event_type == OrderEventType.STATUS_CHANGED:
        if data.get("queue") == APPROVAL_QUEUE and data.get("flow"):
            await _open_hold(order_id, str(data["flow"]), data.get("rule_id"))
    elif event_type == OrderEventType.HOLD_RELEASED:
        if reason == APPROVAL_QUEUE:
            await cancel_for_order(order_id, "order_hold", why="订单已被人工放行")
        # Recorded before release_hold() moves the next hold up: pending_holds still lists it first.
        row = await db.fetch_one_as(_Pending, "SELECT pending_holds FROM sales_order WHERE id = {}", order_id)
        pending = msgspec.json.decode(row.pending_holds or "[]", type=list[HoldRequest]) if row else []
        if pending and pending[0].queue == APPROVAL_QUEUE and pending[0].data.get("flow"):
            await _open_hold(order_id, str(pending[0].data["flow"]), pending[0].data.get("rule_id"))


async def on_status_change(change: StatusChange) -> None:
    """``STATUS_CHANGE_HOOKS``: an order cancelled (by a person, the platform, a rejection) cancels the requests
    still pending about it."""
    if change.to_status == S.CANCELLED.value:
        await cancel_for_order(change.order_id, None, why="订单已取消")
