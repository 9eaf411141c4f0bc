"""After-sale cases (售后单) as records of their own: refunds (partial or full), returns, exchanges and reships, from
the API, the platforms and approvals (docs/aftersales.md).

A case (``after_sale``) has a kind — ``refund_only`` 仅退款, ``return_refund`` 退货退款, ``exchange`` 换货,
``reship`` 补发 — and a status::

    requested → approved → refunded                     (refund_only)
    requested → approved → returning → received → refunded   (return_refund: the goods come back first)
    requested → approved → returning → received → closed     (exchange: the replacement order is made on receipt)
    requested → approved → closed                        (reship: the replacement order is made on approval)
    requested → rejected;  any open status → closed      (a person closes it, the buyer withdrew)

**Money.** A case's refund is written once as the order's ``order.refund_recorded`` event
(:func:`orderhub.orders.aftersale.record_refund`: ``amount`` fen, ``at`` when the money moved, ``after_sale_id``,
``source``, ``kind``), never above what was paid less what was refunded before (``refund_exceeds_paid``). The
refund holds the order's row lock, then moves the case's status with a conditional update: two refunds of one
order queue (PostgreSQL) and the second counts the first; the same case refunded twice is refused the second time
(``after_sale_bad_status``).

**Approvals.** A case made through the API asks the approval gate (:data:`APPROVAL_GATES`, filled by
``server.wiring`` with :func:`orderhub.approvals.kinds.open_after_sale_request`): where an active flow takes the
``refund_reship`` kind for it, an approval request is opened and the case waits (``requested``, ``request_id``);
deciding the request carries the case out (:func:`carry_out`) or rejects it. Without such a flow it is approved and
carried out at once.

**Platforms.** :func:`record_platform_refunds` makes a case from a platform's refund (its refund id is unique per
channel: a refund sent again changes nothing, or moves the case on when the platform says it was refunded).

**Returns.** :func:`receive` is the warehouse's receiving scan (one per PDA ``client_id``; a resent scan answers
the first answer): good units go back to available stock (an audited stock adjustment), damaged ones to the
warehouse's damaged count (``damaged_stock``, never available). Once every unit is back, the case is ``received``
(an exchange then gets its replacement order and closes).

Every change is in the case's audit (``after_sale_change``: action, from and to status, who, when, what)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import Conflict, NotFound, ValidationFailed
from orderhub.inventory.service import adjust_stock
from orderhub.orders import aftersale
from orderhub.orders.aftersale_tables import AfterSaleChange
from orderhub.orders.errors import OrderError
from orderhub.registry import Registry

__all__ = [
    "APPROVAL_GATES",
    "AfterSaleKind",
    "AfterSaleLineIn",
    "AfterSaleLineView",
    "AfterSalePage",
    "AfterSaleStatus",
    "AfterSaleView",
    "ApprovalAsk",
    "ChangeView",
    "NewAfterSale",
    "PlatformRefund",
    "ReceiptResult",
    "approve",
    "carry_out",
    "close",
    "create_after_sale",
    "damaged_count",
    "get_after_sale",
    "list_after_sales",
    "receive",
    "record_from_approval",
    "record_platform_refunds",
    "refund",
    "reject",
]

MAX_LINES = aftersale.MAX_RESHIP_LINES


class AfterSaleKind(StrEnum):
    REFUND_ONLY = "refund_only"  # 仅退款
    RETURN_REFUND = "return_refund"  # 退货退款
    EXCHANGE = "exchange"  # 换货
    RESHIP = "reship"  # 补发


class AfterSaleStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    RETURNING = "returning"
    RECEIVED = "received"
    REFUNDED = "refunded"
    CLOSED = "closed"
    REJECTED = "rejected"


K, St = AfterSaleKind, AfterSaleStatus
KIND_NAMES = {K.REFUND_ONLY: "仅退款", K.RETURN_REFUND: "退货退款", K.EXCHANGE: "换货", K.RESHIP: "补发"}
RETURNS_GOODS = frozenset({K.RETURN_REFUND, K.EXCHANGE})
NEEDS_LINES = frozenset({K.RETURN_REFUND, K.EXCHANGE, K.RESHIP})
NEEDS_AMOUNT = frozenset({K.REFUND_ONLY, K.RETURN_REFUND})
OPEN = frozenset({St.REQUESTED, St.APPROVED, St.RETURNING, St.RECEIVED})
SOURCES = ("platform", "api", "approval")


# ------------------------------------------------------------------------------------------------------ structs


class AfterSaleLineIn(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    qty: int


class NewAfterSale(msgspec.Struct, frozen=True, kw_only=True):
    order_id: int
    kind: AfterSaleKind
    lines: list[AfterSaleLineIn] = []
    refund_amount: int = 0  # fen
    reason: str = ""
    note: str = ""


class PlatformRefund(msgspec.Struct, frozen=True, kw_only=True):
    """A refund as a platform reports it (a pull's or a push's mapped payload)."""

    refund_id: str  # the platform's refund / after-sale id (unique per channel)
    external_id: str  # the platform's order id
    amount: int  # fen
    kind: AfterSaleKind = AfterSaleKind.REFUND_ONLY
    refunded: bool = False  # the platform says the money moved
    requested_at: datetime | None = None
    refunded_at: datetime | None = None
    reason: str = ""


class AfterSaleLineView(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    qty: int
    received_good: int
    received_damaged: int


class ChangeView(msgspec.Struct, frozen=True, kw_only=True):
    action: str
    from_status: str
    to_status: str
    actor: str
    at: datetime
    data: dict[str, Any]


class AfterSaleView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    order_id: int
    order_external_id: str
    channel_id: int
    kind: str
    kind_name: str
    status: str
    source: str
    platform_refund_id: str | None
    refund_amount: int  # fen
    refunded_amount: int  # fen
    reason: str
    note: str
    request_id: int | None
    reship_order_id: int | None
    requested_at: datetime
    approved_at: datetime | None
    received_at: datetime | None
    refunded_at: datetime | None
    closed_at: datetime | None
    created_by: str
    updated_at: datetime
    lines: list[AfterSaleLineView]
    changes: list[ChangeView] = []


class AfterSalePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[AfterSaleView]
    next_cursor: int | None


class ReceiptResult(msgspec.Struct, frozen=True, kw_only=True):
    after_sale: AfterSaleView
    sku: str
    qty: int
    condition: str
    duplicate: bool  # the same client_id was received before: this is that scan's outcome
    message: str


class ApprovalAsk(msgspec.Struct, frozen=True, kw_only=True):
    """What the approval gate is asked to open a request for."""

    after_sale_id: int
    order_id: int
    kind: str
    refund_amount: int
    lines: list[AfterSaleLineIn]
    reason: str
    requester_id: int | None


# The approval gate: opens the case's approval request where a flow is configured for it and returns its id, or None
# (no flow: the case goes ahead without one). Filled by server.wiring (orderhub.approvals.kinds).
ApprovalGate = Callable[[ApprovalAsk], Awaitable[int | None]]
APPROVAL_GATES: Registry[ApprovalGate] = Registry("after-sale approval gate")
GATE = "approvals"


# ------------------------------------------------------------------------------------------------------ reading


class _Row(msgspec.Struct, kw_only=True):
    id: int
    order: int
    order_external_id: str
    channel: int
    kind: str
    status: str
    source: str
    platform_refund_id: str | None
    refund_amount: int
    refunded_amount: int
    reason: str
    note: str
    request_id: int | None
    reship_order_id: int | None
    requested_at: datetime
    approved_at: datetime | None
    received_at: datetime | None
    refunded_at: datetime | None
    closed_at: datetime | None
    created_by: str
    updated_at: datetime


class _LineRow(msgspec.Struct, kw_only=True):
    id: int
    after_sale: int
    sku_code: str
    qty: int
    received_good: int
    received_damaged: int


class _ChangeRow(msgspec.Struct, kw_only=True):
    after_sale: int
    action: str
    from_status: str
    to_status: str
    actor: str
    at: datetime
    data: str


_SELECT = (
    'SELECT a.id, a."order", o.external_id AS order_external_id, a.channel, a.kind, a.status, a.source, '
    "a.platform_refund_id, a.refund_amount, a.refunded_amount, a.reason, a.note, a.request_id, a.reship_order_id, "
    "a.requested_at, a.approved_at, a.received_at, a.refunded_at, a.closed_at, a.created_by, a.updated_at "
    'FROM after_sale a JOIN sales_order o ON o.id = a."order"'
)


async def _row(after_sale_id: int, *, lock: bool = False) -> _Row:
    # Raw SQL: the case's row lock (PostgreSQL) while an action moves it (FOR UPDATE OF: not the order's row).
    suffix = " FOR UPDATE OF a" if lock and not db.is_sqlite() else ""
    row = await db.fetch_one_as(_Row, _SELECT + " WHERE a.id = {}" + suffix, after_sale_id)
    if row is None:
        raise NotFound(OrderError.AFTER_SALE_NOT_FOUND, field="after_sale_id")
    return row


async def _lines(ids: Sequence[int]) -> dict[int, list[_LineRow]]:
    found: dict[int, list[_LineRow]] = {i: [] for i in ids}
    for chunk in db.chunks(list(ids)):
        for line in await db.fetch_as(
            _LineRow,
            "SELECT id, after_sale, sku_code, qty, received_good, received_damaged FROM after_sale_line "
            f"WHERE after_sale IN ({db.placeholders(len(chunk))}) ORDER BY id",
            *chunk,
        ):
            found[line.after_sale].append(line)
    return found


def _view(row: _Row, lines: list[_LineRow], changes: list[_ChangeRow] | None = None) -> AfterSaleView:
    return AfterSaleView(
        id=row.id,
        order_id=row.order,
        order_external_id=row.order_external_id,
        channel_id=row.channel,
        kind=row.kind,
        kind_name=KIND_NAMES.get(row.kind, row.kind),  # type: ignore[call-overload]
        status=row.status,
        source=row.source,
        platform_refund_id=row.platform_refund_id,
        refund_amount=row.refund_amount,
        refunded_amount=row.refunded_amount,
        reason=row.reason,
        note=row.note,
        request_id=row.request_id,
        reship_order_id=row.reship_order_id,
        requested_at=row.requested_at,
        approved_at=row.approved_at,
        received_at=row.received_at,
        refunded_at=row.refunded_at,
        closed_at=row.closed_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        lines=[
            AfterSaleLineView(
                sku=line.sku_code,
                qty=line.qty,
                received_good=line.received_good,
                received_damaged=line.received_damaged,
            )
            for line in lines
        ],
        changes=[
            ChangeView(
                action=c.action,
                from_status=c.from_status,
                to_status=c.to_status,
                actor=c.actor,
                at=c.at,
                data=msgspec.json.decode(c.data or "{}"),
            )
            for c in changes or []
        ],
    )


async def get_after_sale(after_sale_id: int) -> AfterSaleView:
    """One case with its lines and its audit (oldest change first)."""
    row = await _row(after_sale_id)
    changes = await db.fetch_as(
        _ChangeRow,
        "SELECT after_sale, action, from_status, to_status, actor, at, data FROM after_sale_change "
        "WHERE after_sale = {} ORDER BY id",
        after_sale_id,
    )
    return _view(row, (await _lines([row.id]))[row.id], changes)


async def list_after_sales(
    *,
    status: str | None = None,
    kind: str | None = None,
    order_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> AfterSalePage:
    """Cases newest first, keyset-paginated (``next_cursor``: pass it as ``after_id``)."""
    if not 1 <= limit <= 200:
        raise ValidationFailed("limit 取值范围为 1–200", field="limit")
    where: list[str] = []
    args: list[Any] = []
    if status is not None:
        where.append("a.status = {}")
        args.append(status)
    if kind is not None:
        where.append("a.kind = {}")
        args.append(kind)
    if order_id is not None:
        where.append('a."order" = {}')
        args.append(order_id)
    if after_id is not None:
        where.append("a.id < {}")
        args.append(after_id)
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY a.id DESC LIMIT {}"
    rows = await db.fetch_as(_Row, sql, *args, limit + 1)
    page = rows[:limit]
    lines = await _lines([r.id for r in page])
    return AfterSalePage(
        items=[_view(r, lines[r.id]) for r in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )


class _Qty(msgspec.Struct):
    qty: int


async def damaged_count(warehouse_id: int, sku: str) -> int:
    """Returned units of ``sku`` that came back damaged to ``warehouse_id`` (not available stock)."""
    row = await db.fetch_one_as(
        _Qty,
        "SELECT d.qty FROM damaged_stock d JOIN sku s ON s.id = d.sku WHERE d.warehouse = {} AND s.code = {}",
        warehouse_id,
        sku,
    )
    return row.qty if row is not None else 0


# ------------------------------------------------------------------------------------------------------ writing


async def _change(after_sale_id: int, action: str, from_status: str, to_status: str, actor: str, **data: Any) -> None:
    await AfterSaleChange.insert(
        AfterSaleChange(
            after_sale=after_sale_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            actor=actor[:64],
            data=msgspec.json.encode(data).decode(),
            at=clock.now(),
        )
    )


async def _move(
    row: _Row,
    to: AfterSaleStatus,
    *,
    allowed: frozenset[AfterSaleStatus],
    action: str,
    actor: str,
    sets: dict[str, Any] | None = None,
    **data: Any,
) -> None:
    """The case from its status to ``to`` with a conditional update (the status read is still the status), and the
    change in its audit; ``after_sale_bad_status`` when it is not in ``allowed``."""
    if St(row.status) not in allowed:
        raise Conflict(
            f"售后单 #{row.id} 当前状态为 {row.status}，不能执行该操作（{action}）",
            code=OrderError.AFTER_SALE_BAD_STATUS,
            field="status",
            extra={"status": row.status},
        )
    now = clock.now()
    columns = {"status": to.value, "updated_at": now, **(sets or {})}
    assignments = ", ".join(f"{name} = {{}}" for name in columns)
    updated = await db.execute_returning(
        db.IdRow,
        f"UPDATE after_sale SET {assignments} WHERE id = {{}} AND status = {{}} RETURNING id",
        *columns.values(),
        row.id,
        row.status,
    )
    if not updated:
        raise Conflict(
            f"售后单 #{row.id} 已被其他操作更新，请刷新后重试",
            code=OrderError.AFTER_SALE_BAD_STATUS,
            field="status",
        )
    await _change(row.id, action, row.status, to.value, actor, **data)


def _check_input(cmd: NewAfterSale) -> None:
    if cmd.refund_amount < 0:
        raise ValidationFailed("退款金额（分）不能为负数", field="refund_amount")
    if cmd.kind in NEEDS_AMOUNT and cmd.refund_amount <= 0:
        raise ValidationFailed(OrderError.AFTER_SALE_NO_AMOUNT, field="refund_amount")
    if cmd.kind in NEEDS_LINES and not cmd.lines:
        raise ValidationFailed(OrderError.AFTER_SALE_NO_LINES, field="lines")
    if len(cmd.lines) > MAX_LINES:
        raise ValidationFailed(f"售后商品最多 {MAX_LINES} 行", code=OrderError.AFTER_SALE_BAD_LINES, field="lines")
    for i, line in enumerate(cmd.lines):
        if not line.sku.strip() or line.qty <= 0:
            raise ValidationFailed(
                "售后商品需要编码和大于 0 的数量", code=OrderError.AFTER_SALE_BAD_LINES, field=f"lines[{i}]"
            )


class _OrderQty(msgspec.Struct):
    sku_code: str
    qty: int


class _OrderHead(msgspec.Struct):
    channel: int
    status: str


async def _check_lines(order_id: int, kind: AfterSaleKind, lines: Sequence[AfterSaleLineIn]) -> None:
    """Returned or exchanged goods must be the order's (at most what it has of each SKU, less what open or finished
    cases of its return already); a reship may name any active SKU (checked like the approvals' reships)."""
    if kind == K.RESHIP:
        await aftersale.check_reship(
            order_id, [aftersale.ReshipLine(sku=line.sku.strip(), qty=line.qty) for line in lines]
        )
        return
    ordered: dict[str, int] = {}
    for row in await db.fetch_as(_OrderQty, 'SELECT sku_code, qty FROM order_line WHERE "order" = {}', order_id):
        ordered[row.sku_code] = ordered.get(row.sku_code, 0) + row.qty
    taken: dict[str, int] = {}
    for row in await db.fetch_as(
        _OrderQty,
        'SELECT l.sku_code, l.qty FROM after_sale_line l JOIN after_sale a ON a.id = l.after_sale WHERE a."order" = {} '
        "AND a.kind IN ('return_refund', 'exchange') AND a.status NOT IN ('rejected', 'closed')",
        order_id,
    ):
        taken[row.sku_code] = taken.get(row.sku_code, 0) + row.qty
    wanted: dict[str, int] = {}
    for i, line in enumerate(lines):
        sku = line.sku.strip()
        wanted[sku] = wanted.get(sku, 0) + line.qty
        if sku not in ordered or wanted[sku] + taken.get(sku, 0) > ordered[sku]:
            raise ValidationFailed(
                f"商品 {sku} 不在订单中，或退回数量超过订单数量（订单 {ordered.get(sku, 0)}，"
                f"其他售后单已占 {taken.get(sku, 0)}）",
                code=OrderError.AFTER_SALE_BAD_LINES,
                field=f"lines[{i}]",
            )


async def _insert(
    cmd: NewAfterSale,
    *,
    channel_id: int,
    status: AfterSaleStatus,
    source: str,
    actor: str,
    platform_refund_id: str | None = None,
    request_id: int | None = None,
    requested_at: datetime | None = None,
) -> int | None:
    """The case and its lines; None when the platform refund id (or the request) has a case already."""
    now = clock.now()
    inserted = await db.execute_returning(
        db.IdRow,
        'INSERT INTO after_sale ("order", channel, kind, status, source, platform_refund_id, refund_amount, '
        "refunded_amount, reason, note, request_id, reship_order_id, requested_at, approved_at, received_at, "
        "refunded_at, closed_at, created_by, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {}, 0, {}, {}, {}, NULL, {}, "
        "{}, NULL, NULL, NULL, {}, {}) ON CONFLICT DO NOTHING RETURNING id",
        cmd.order_id,
        channel_id,
        cmd.kind.value,
        status.value,
        source,
        platform_refund_id,
        cmd.refund_amount,
        cmd.reason.strip()[:255],
        cmd.note.strip()[:255],
        request_id,
        requested_at or now,
        now if status == St.APPROVED else None,
        actor[:64],
        now,
    )
    if not inserted:
        return None
    case_id = inserted[0].id
    merged: dict[str, int] = {}
    for line in cmd.lines:
        merged[line.sku.strip()] = merged.get(line.sku.strip(), 0) + line.qty
    for sku, qty in merged.items():
        await db.execute(
            "INSERT INTO after_sale_line (after_sale, sku_code, qty, received_good, received_damaged) "
            "VALUES ({}, {}, {}, 0, 0)",
            case_id,
            sku,
            qty,
        )
    await _change(
        case_id,
        "created",
        "",
        status.value,
        actor,
        kind=cmd.kind.value,
        source=source,
        refund_amount=cmd.refund_amount,
        lines=[{"sku": s, "qty": q} for s, q in merged.items()],
        platform_refund_id=platform_refund_id,
        request_id=request_id,
        reason=cmd.reason.strip()[:255],
    )
    return case_id


async def _order_head(order_id: int) -> _OrderHead:
    row = await db.fetch_one_as(_OrderHead, "SELECT channel, status FROM sales_order WHERE id = {}", order_id)
    if row is None:
        raise NotFound("订单不存在", field="order_id")
    return row


async def create_after_sale(cmd: NewAfterSale, *, actor: str, requester_id: int | None = None) -> AfterSaleView:
    """A case from the API: checked (the lines against the order, the refund against what is left to refund), then
    through the approval gate — waiting for its request where a flow takes it, else approved and carried out at
    once — in one transaction."""
    _check_input(cmd)
    async with db.transaction():
        head = await _order_head(cmd.order_id)
        if cmd.refund_amount:
            await aftersale.check_refund(cmd.order_id, cmd.refund_amount)
        if cmd.lines:
            await _check_lines(cmd.order_id, cmd.kind, cmd.lines)
        case_id = await _insert(cmd, channel_id=head.channel, status=St.REQUESTED, source="api", actor=actor)
        assert case_id is not None  # no platform refund id, no request: nothing to conflict with
        request_id = None
        if GATE in APPROVAL_GATES:
            ask = ApprovalAsk(
                after_sale_id=case_id,
                order_id=cmd.order_id,
                kind=cmd.kind.value,
                refund_amount=cmd.refund_amount,
                lines=cmd.lines,
                reason=cmd.reason.strip() or KIND_NAMES[cmd.kind],
                requester_id=requester_id,
            )
            request_id = await APPROVAL_GATES.get(GATE)(ask)
        if request_id is None:
            await carry_out(case_id, actor=actor, approved_by=actor)
        else:
            await db.execute(
                "UPDATE after_sale SET request_id = {} WHERE id = {} AND request_id IS NULL", request_id, case_id
            )
            row = await _row(case_id)
            if St(row.status) == St.REQUESTED:
                await _change(case_id, "approval_requested", row.status, row.status, actor, request_id=request_id)
    return await get_after_sale(case_id)


async def carry_out(after_sale_id: int, *, actor: str, approved_by: str, request_id: int | None = None) -> str:
    """Approve a requested case and do what its kind does now: a refund-only case is refunded, a reship gets its
    replacement order and closes, a return or an exchange waits for the goods (``returning``). Returns a short
    zh-CN note of what was done."""
    async with db.transaction():
        await _lock_order((await _row(after_sale_id)).order)
        row = await _row(after_sale_id, lock=True)
        if request_id is not None and row.request_id is None:
            await db.execute("UPDATE after_sale SET request_id = {} WHERE id = {}", request_id, row.id)
        now = clock.now()
        await _move(
            row,
            St.APPROVED,
            allowed=frozenset({St.REQUESTED}),
            action="approved",
            actor=actor,
            sets={"approved_at": now},
            by=approved_by,
            request_id=request_id or row.request_id,
        )
        row = await _row(after_sale_id, lock=True)
        kind = K(row.kind)
        if kind == K.REFUND_ONLY:
            total = await _refund(row, amount=row.refund_amount, at=None, actor=actor)
            return f"售后单 #{row.id}：已记录退款 {_yuan(row.refund_amount)}（累计 {_yuan(total)}）"
        if kind == K.RESHIP:
            made = await _reship(row, actor=actor, approved_by=approved_by)
            done = [f"售后单 #{row.id}：已创建补发单 {made.external_id}（订单 #{made.order_id}）"]
            row = await _row(after_sale_id, lock=True)
            if row.refund_amount:
                total = await _refund(
                    row, amount=row.refund_amount, at=None, actor=actor, allowed=frozenset({St.APPROVED})
                )
                done.append(f"已记录退款 {_yuan(row.refund_amount)}（累计 {_yuan(total)}）")
            else:
                await _move(
                    row,
                    St.CLOSED,
                    allowed=frozenset({St.APPROVED}),
                    action="closed",
                    actor=actor,
                    sets={"closed_at": now},
                )
            return "；".join(done)
        await _move(row, St.RETURNING, allowed=frozenset({St.APPROVED}), action="returning", actor=actor)
        return f"售后单 #{row.id}：等待买家退回商品（仓库扫描收货）"


async def _reship(row: _Row, *, actor: str, approved_by: str) -> aftersale.Reship:
    lines = (await _lines([row.id]))[row.id]
    made = await aftersale.create_reship(
        row.order,
        [aftersale.ReshipLine(sku=line.sku_code, qty=line.qty) for line in lines],
        request_id=row.request_id,
        after_sale_id=None if row.request_id is not None else row.id,
        reason=f"{KIND_NAMES[K(row.kind)]}（售后单 #{row.id}）{row.reason}".strip(),
        approved_by=approved_by,
        actor=actor,
    )
    await db.execute("UPDATE after_sale SET reship_order_id = {} WHERE id = {}", made.order_id, row.id)
    await _change(
        row.id, "reshipped", row.status, row.status, actor, reship_order_id=made.order_id, external_id=made.external_id
    )
    return made


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


class _Lock(msgspec.Struct):
    id: int


async def _lock_order(order_id: int) -> None:
    """The order's row lock (PostgreSQL), always taken before a case's: every action that may refund takes them in
    this order, so two never wait for each other."""
    # Raw SQL: the query builder has no FOR UPDATE.
    await db.fetch_one_as(_Lock, f"SELECT id FROM sales_order WHERE id = {{}}{db.for_update()}", order_id)


async def _refund(
    row: _Row,
    *,
    amount: int,
    at: datetime | None,
    actor: str,
    allowed: frozenset[AfterSaleStatus] | None = None,
) -> int:
    """The case's money effect, once: the order's row lock first (refunds of one order queue), the case moved to
    refunded by a conditional update, then ``order.refund_recorded`` (refused above what is left to refund, which
    undoes the move). Returns the order's refunded total."""
    if amount <= 0:
        raise ValidationFailed("退款金额（分）必须大于 0", field="amount")
    moved_at = at or clock.now()
    async with db.transaction():
        await _lock_order(row.order)
        current = await _row(row.id, lock=True)
        kind = K(current.kind)
        if allowed is None:
            allowed = _refundable(kind, current.source)
        await _move(
            current,
            St.REFUNDED,
            allowed=allowed,
            action="refunded",
            actor=actor,
            sets={"refunded_amount": amount, "refund_amount": amount, "refunded_at": moved_at},
            amount=amount,
            at=moved_at.isoformat(),
        )
        return await aftersale.record_refund(
            current.order,
            amount=amount,
            reason=f"{KIND_NAMES[kind]}（售后单 #{current.id}）{current.reason}".strip(),
            request_id=current.request_id,
            actor=actor,
            at=moved_at,
            after_sale_id=current.id,
            source=current.source,
            kind=kind.value,
        )


def _refundable(kind: AfterSaleKind, source: str) -> frozenset[AfterSaleStatus]:
    if source == "platform":  # the platform refunded it: whatever the hub knew of the case
        return OPEN
    if kind == K.REFUND_ONLY:
        return frozenset({St.APPROVED})
    if kind == K.RETURN_REFUND:
        return frozenset({St.RECEIVED})
    return frozenset()


async def refund(
    after_sale_id: int, *, actor: str, amount: int | None = None, refunded_at: datetime | None = None
) -> AfterSaleView:
    """Refund a case now (its ``refund_amount``, or ``amount`` fen — e.g. less for goods that came back damaged):
    a refund-only case once approved, a return once its goods are received; a platform's case from any open
    status."""
    async with db.transaction():
        row = await _row(after_sale_id)
        await _refund(row, amount=amount if amount is not None else row.refund_amount, at=refunded_at, actor=actor)
    return await get_after_sale(after_sale_id)


def _not_while_pending(row: _Row) -> None:
    if St(row.status) == St.REQUESTED and row.request_id is not None:
        raise Conflict(
            f"售后单 #{row.id} 正在审批中（审批 #{row.request_id}），请在审批中处理",
            code=OrderError.AFTER_SALE_APPROVAL_PENDING,
            field="after_sale_id",
            extra={"request_id": row.request_id},
        )


async def approve(after_sale_id: int, *, actor: str) -> AfterSaleView:
    """A person approves a requested case that waits for no approval request (e.g. a platform's): carried out."""
    async with db.transaction():
        await _lock_order((await _row(after_sale_id)).order)
        row = await _row(after_sale_id, lock=True)
        _not_while_pending(row)
        await carry_out(after_sale_id, actor=actor, approved_by=actor)
    return await get_after_sale(after_sale_id)


async def _end(
    after_sale_id: int,
    to: AfterSaleStatus,
    allowed: frozenset[AfterSaleStatus],
    *,
    action: str,
    actor: str,
    by_approval: bool,
    sets: dict[str, Any],
    **details: Any,
) -> AfterSaleView:
    """Move a case to a final status (rejected, closed), unless an approval request still decides it."""
    async with db.transaction():
        row = await _row(after_sale_id, lock=True)
        if not by_approval:
            _not_while_pending(row)
        await _move(row, to, allowed=allowed, action=action, actor=actor, sets=sets, **details)
    return await get_after_sale(after_sale_id)


async def reject(after_sale_id: int, *, reason: str, actor: str, by_approval: bool = False) -> AfterSaleView:
    """A requested case refused (by a person, or its approval request rejected)."""
    return await _end(
        after_sale_id,
        St.REJECTED,
        frozenset({St.REQUESTED}),
        action="rejected",
        actor=actor,
        by_approval=by_approval,
        sets={"closed_at": clock.now()},
        reason=reason,
    )


async def close(after_sale_id: int, *, note: str, actor: str, by_approval: bool = False) -> AfterSaleView:
    """An open case closed without (further) money or goods (the buyer withdrew, settled otherwise)."""
    row = await _row(after_sale_id)
    return await _end(
        after_sale_id,
        St.CLOSED,
        OPEN,
        action="closed",
        actor=actor,
        by_approval=by_approval,
        sets={"closed_at": clock.now(), "note": note.strip()[:255] or row.note},
        note=note,
    )


# ------------------------------------------------------------------------------------------------ approvals


async def record_from_approval(
    order_id: int,
    *,
    request_id: int,
    refund_amount: int,
    reship_lines: Sequence[aftersale.ReshipLine],
    reason: str,
    approved_by: str,
    actor: str,
) -> tuple[AfterSaleView, str]:
    """An approved ``refund_reship`` request opened in the approvals (not through a case): its case (source
    ``approval``: a reship when it names lines, else refund-only) made and carried out in the decision's
    transaction — once per request."""
    kind = K.RESHIP if reship_lines else K.REFUND_ONLY
    cmd = NewAfterSale(
        order_id=order_id,
        kind=kind,
        lines=[AfterSaleLineIn(sku=line.sku, qty=line.qty) for line in reship_lines],
        refund_amount=refund_amount,
        reason=reason,
    )
    async with db.transaction():
        head = await _order_head(order_id)
        case_id = await _insert(
            cmd, channel_id=head.channel, status=St.REQUESTED, source="approval", actor=actor, request_id=request_id
        )
        if case_id is None:  # the same request decided before: its case
            found = await db.fetch_one_as(db.IdRow, "SELECT id FROM after_sale WHERE request_id = {}", request_id)
            assert found is not None
            return await get_after_sale(found.id), "已处理"
        done = await carry_out(case_id, actor=actor, approved_by=approved_by, request_id=request_id)
    return await get_after_sale(case_id), done


# ------------------------------------------------------------------------------------------------ platforms


class _OrderRef(msgspec.Struct):
    id: int
    external_id: str


class _Existing(msgspec.Struct):
    id: int
    status: str


async def record_platform_refunds(channel_id: int, refunds: Sequence[PlatformRefund], *, actor: str) -> dict[str, int]:
    """Cases from a platform's refunds: one per (channel, refund id) — a refund sent again changes nothing, or, when
    the platform now says the money moved, refunds the case (once). Refunds of orders the hub does not have are
    counted as ``unknown_order``; a refund the order cannot take (above what is left) as ``refused`` (logged on the
    case's audit, never raised: a pull must go on)."""
    counts = {"created": 0, "refunded": 0, "unchanged": 0, "unknown_order": 0, "refused": 0}
    for item in refunds:
        order = await db.fetch_one_as(
            _OrderRef,
            "SELECT id, external_id FROM sales_order WHERE channel = {} AND external_id = {}",
            channel_id,
            item.external_id,
        )
        if order is None:
            counts["unknown_order"] += 1
            continue
        cmd = NewAfterSale(
            order_id=order.id,
            kind=item.kind,
            refund_amount=max(0, item.amount),
            reason=item.reason or "平台售后",
        )
        async with db.transaction():
            case_id = await _insert(
                cmd,
                channel_id=channel_id,
                status=St.REQUESTED,
                source="platform",
                actor=actor,
                platform_refund_id=item.refund_id[:64],
                requested_at=item.requested_at,
            )
            if case_id is not None:
                counts["created"] += 1
            else:
                found = await db.fetch_one_as(
                    _Existing,
                    "SELECT id, status FROM after_sale WHERE channel = {} AND platform_refund_id = {}",
                    channel_id,
                    item.refund_id[:64],
                )
                assert found is not None
                case_id = found.id
                if not item.refunded or St(found.status) not in OPEN:
                    counts["unchanged"] += 1
                    continue
        if item.refunded and item.amount > 0:
            try:
                async with db.transaction():
                    row = await _row(case_id)
                    if St(row.status) in OPEN:
                        await _refund(row, amount=item.amount, at=item.refunded_at, actor=actor)
                        counts["refunded"] += 1
            except Conflict as exc:
                counts["refused"] += 1
                async with db.transaction():
                    await _change(case_id, "refund_refused", "", "", actor, code=str(exc.code), message=exc.message)
    return counts


# ------------------------------------------------------------------------------------------------ receiving


class _Receipt(msgspec.Struct):
    after_sale: int
    sku_code: str
    qty: int
    condition: str


class _SkuRef(msgspec.Struct):
    id: int
    code: str


class _WarehouseCode(msgspec.Struct):
    code: str


async def _sku_of(scanned: str, line_skus: set[str]) -> _SkuRef | None:
    scanned = scanned.strip()
    if scanned in line_skus:
        return await db.fetch_one_as(_SkuRef, "SELECT id, code FROM sku WHERE code = {}", scanned)
    return await db.fetch_one_as(
        _SkuRef, "SELECT s.id, s.code FROM sku_barcode b JOIN sku s ON s.id = b.sku WHERE b.barcode = {}", scanned
    )


async def receive(
    after_sale_id: int,
    *,
    client_id: str,
    sku: str,
    qty: int,
    condition: str,
    warehouse_id: int,
    actor: str,
) -> ReceiptResult:
    """A receiving scan of returned goods at ``warehouse_id`` (``sku``: the SKU code or a barcode). Good units go back
    to available stock (an audited adjustment), damaged ones to the damaged count; when every unit is back the case is
    received (an exchange then gets its replacement order and closes). One per ``client_id``: sent again, it answers
    the first scan's outcome (``duplicate``); the same id for other content is refused."""
    if condition not in ("good", "damaged"):
        raise ValidationFailed("condition 只能是 good 或 damaged", field="condition")
    if qty <= 0:
        raise ValidationFailed("数量必须大于 0", field="qty")
    async with db.transaction():
        row = await _row(after_sale_id, lock=True)
        lines = (await _lines([row.id]))[row.id]
        ref = await _sku_of(sku, {line.sku_code for line in lines})
        code = ref.code if ref is not None else sku.strip()
        inserted = await db.execute_returning(
            db.IdRow,
            "INSERT INTO after_sale_receipt (after_sale, client_id, warehouse, sku_code, qty, condition, actor, at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (client_id) DO NOTHING RETURNING id",
            row.id,
            client_id,
            warehouse_id,
            code,
            qty,
            condition,
            actor[:64],
            clock.now(),
        )
        if not inserted:
            first = await db.fetch_one_as(
                _Receipt,
                "SELECT after_sale, sku_code, qty, condition FROM after_sale_receipt WHERE client_id = {}",
                client_id,
            )
            assert first is not None
            if (first.after_sale, first.sku_code, first.qty, first.condition) != (row.id, code, qty, condition):
                raise Conflict(OrderError.AFTER_SALE_CLIENT_ID_REUSED, field="client_id")
            view = await get_after_sale(row.id)
            return ReceiptResult(
                after_sale=view, sku=code, qty=qty, condition=condition, duplicate=True, message="已收货（重复扫描）"
            )
        if St(row.status) != St.RETURNING or K(row.kind) not in RETURNS_GOODS:
            raise Conflict(
                f"售后单 #{row.id} 当前状态为 {row.status}，不能收货",
                code=OrderError.AFTER_SALE_NOT_RETURNING,
                field="after_sale_id",
            )
        line = next((li for li in lines if li.sku_code == code), None)
        if ref is None or line is None or line.received_good + line.received_damaged + qty > line.qty:
            left = (line.qty - line.received_good - line.received_damaged) if line is not None else 0
            raise Conflict(
                f"商品 {sku} 不在售后单 #{row.id} 中，或数量超过待收货数量（待收 {left}）",
                code=OrderError.AFTER_SALE_RECEIPT_MISMATCH,
                field="sku" if line is None else "qty",
                extra={"expected": left},
            )
        warehouse = await db.fetch_one_as(_WarehouseCode, "SELECT code FROM warehouse WHERE id = {}", warehouse_id)
        if warehouse is None:
            raise NotFound("仓库不存在", field="warehouse")
        column = "received_good" if condition == "good" else "received_damaged"
        await db.execute(f"UPDATE after_sale_line SET {column} = {column} + {{}} WHERE id = {{}}", qty, line.id)
        if condition == "good":
            await adjust_stock(
                sku=code,
                warehouse=warehouse.code,
                delta=qty,
                set_to=None,
                reason=f"退货入库：售后单 #{row.id}（订单 {row.order_external_id}）",
                actor=actor,
            )
        else:
            now = clock.now()
            await db.execute(
                "INSERT INTO damaged_stock (warehouse, sku, qty, updated_at) VALUES ({}, {}, {}, {}) "
                "ON CONFLICT (warehouse, sku) DO UPDATE SET qty = damaged_stock.qty + excluded.qty, "
                "updated_at = excluded.updated_at",
                warehouse_id,
                ref.id,
                qty,
                now,
            )
        await _change(
            row.id,
            "goods_received",
            row.status,
            row.status,
            actor,
            sku=code,
            qty=qty,
            condition=condition,
            warehouse=warehouse.code,
            client_id=client_id,
        )
        lines = (await _lines([row.id]))[row.id]
        message = f"已收货 {code} × {qty}（{'完好，已入可用库存' if condition == 'good' else '破损，计入残次数量'}）"
        if all(li.received_good + li.received_damaged >= li.qty for li in lines):
            await _move(
                row,
                St.RECEIVED,
                allowed=frozenset({St.RETURNING}),
                action="received",
                actor=actor,
                sets={"received_at": clock.now()},
            )
            message += "；退货已全部收到"
            if K(row.kind) == K.EXCHANGE:
                row = await _row(row.id, lock=True)
                made = await _reship(row, actor=actor, approved_by=actor)
                await _move(
                    row,
                    St.CLOSED,
                    allowed=frozenset({St.RECEIVED}),
                    action="closed",
                    actor=actor,
                    sets={"closed_at": clock.now()},
                    reship_order_id=made.order_id,
                )
                message += f"，已创建换货发出单 {made.external_id}"
        view = await get_after_sale(row.id)
    return ReceiptResult(after_sale=view, sku=code, qty=qty, condition=condition, duplicate=False, message=message)
