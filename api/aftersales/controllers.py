"""``/api/v1/aftersales``: after-sale cases (售后单) — refund only, return and refund, exchange, reship."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter

from api.aftersales.structs import AfterSaleIn, AfterSaleOut, AfterSalePageOut, CloseIn, RefundIn, RejectIn
from api.common import MAX_INT, PathId, present
from orderhub.auth.service import UserView
from orderhub.orders import aftersales

__all__ = ["AfterSaleController"]

_STATUSES = "requested, approved, returning, received, refunded, closed, rejected"


def _actor(request: Request[UserView, Any, Any]) -> str:
    return f"user:{request.user.username}"


class AfterSaleController(Controller):
    path = "/api/v1/aftersales"
    tags = ["aftersales"]

    @post(
        "/",
        status_code=201,
        summary="Open an after-sale case (仅退款 / 退货退款 / 换货 / 补发)",
        description="`kind`: `refund_only` (needs `refund_amount`, fen), `return_refund` (`refund_amount` and the "
        "`lines` coming back), `exchange` (the `lines` coming back; the same goods go out again once received), "
        "`reship` (the `lines` to send again). Returned lines must be the order's (`after_sale_bad_lines`); the "
        "refund at most what was paid less what was refunded (409 `refund_exceeds_paid`). Where an active approval "
        "flow takes the `refund_reship` kind for it, the case waits for its approval request (`request_id`, status "
        "`requested`) and deciding the request carries it out; otherwise it is approved and carried out at once: a "
        "refund-only case is refunded, a reship gets its replacement order, a return or exchange waits for the goods "
        "(`returning`; the warehouse receives them at `POST /pda/v1/returns/{after_sale_id}/receive`).",
    )
    async def create(self, request: Request[UserView, Any, Any], data: AfterSaleIn) -> AfterSaleOut:
        cmd = aftersales.NewAfterSale(
            order_id=data.order_id,
            kind=aftersales.AfterSaleKind(data.kind),
            lines=[aftersales.AfterSaleLineIn(sku=line.sku, qty=line.qty) for line in data.lines],
            refund_amount=data.refund_amount,
            reason=data.reason,
            note=data.note,
        )
        view = await aftersales.create_after_sale(cmd, actor=_actor(request), requester_id=request.user.id)
        return present(view, AfterSaleOut)

    @get(
        "/",
        summary="After-sale cases, newest first (filter by status, kind, order)",
        description=f"`status`: one of {_STATUSES}; `kind`: refund_only, return_refund, exchange, reship; "
        "`order_id`. Keyset-paginated: pass `next_cursor` as `after_id`.",
    )
    async def list_cases(
        self,
        status: Annotated[str | None, Parameter(max_length=16)] = None,
        kind: Annotated[str | None, Parameter(max_length=16)] = None,
        order_id: Annotated[int | None, Parameter(ge=1, le=MAX_INT)] = None,
        after_id: Annotated[int | None, Parameter(ge=1, le=MAX_INT)] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> AfterSalePageOut:
        page = await aftersales.list_after_sales(
            status=status, kind=kind, order_id=order_id, after_id=after_id, limit=limit
        )
        return present(page, AfterSalePageOut)

    @get(
        "/{after_sale_id:int}",
        summary="One after-sale case with its lines and its audit",
        description="The case, its lines (with what the warehouse received back, good and damaged) and every change "
        "made to it (who, when, from and to which status). 404 `after_sale_not_found`.",
    )
    async def get_case(self, after_sale_id: PathId) -> AfterSaleOut:
        return present(await aftersales.get_after_sale(after_sale_id), AfterSaleOut)

    @post(
        "/{after_sale_id:int}/approve",
        status_code=200,
        summary="Approve a requested case (one not waiting for an approval request)",
        description="Carries the case out as its kind does (refund, replacement order, or waiting for the goods). A "
        "case waiting for its approval request answers 409 `after_sale_approval_pending` (decide the request); one "
        "not requested 409 `after_sale_bad_status`.",
    )
    async def approve(self, request: Request[UserView, Any, Any], after_sale_id: PathId) -> AfterSaleOut:
        return present(await aftersales.approve(after_sale_id, actor=_actor(request)), AfterSaleOut)

    @post(
        "/{after_sale_id:int}/reject",
        status_code=200,
        summary="Reject a requested case",
        description="The case is rejected with the `reason`; nothing is refunded or sent. 409 "
        "`after_sale_approval_pending` while its approval request decides it.",
    )
    async def reject(self, request: Request[UserView, Any, Any], after_sale_id: PathId, data: RejectIn) -> AfterSaleOut:
        view = await aftersales.reject(after_sale_id, reason=data.reason, actor=_actor(request))
        return present(view, AfterSaleOut)

    @post(
        "/{after_sale_id:int}/refund",
        status_code=200,
        summary="Record the case's refund (once)",
        description="The refund is written on the order once (`order.refund_recorded` with `amount` in fen, `at`, "
        "`after_sale_id`): a refund-only case once approved, a return once its goods are received, a platform's case "
        "from any open status. `amount` (fen) defaults to the case's; `refunded_at` to now. Above what the order has "
        "left to refund: 409 `refund_exceeds_paid`; refunded already or not yet refundable: 409 "
        "`after_sale_bad_status`.",
    )
    async def refund(self, request: Request[UserView, Any, Any], after_sale_id: PathId, data: RefundIn) -> AfterSaleOut:
        view = await aftersales.refund(
            after_sale_id, actor=_actor(request), amount=data.amount, refunded_at=data.refunded_at
        )
        return present(view, AfterSaleOut)

    @post(
        "/{after_sale_id:int}/close",
        status_code=200,
        summary="Close an open case without (further) refund or goods",
        description="For a buyer who withdrew, or a case settled otherwise; recorded with the `note`. 409 "
        "`after_sale_bad_status` once refunded, closed or rejected.",
    )
    async def close(self, request: Request[UserView, Any, Any], after_sale_id: PathId, data: CloseIn) -> AfterSaleOut:
        return present(await aftersales.close(after_sale_id, note=data.note, actor=_actor(request)), AfterSaleOut)
