"""The after-sales API's bodies and answers (times in Asia/Shanghai, money in fen)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from api.common import MAX_INT

__all__ = [
    "AfterSaleIn",
    "AfterSaleLineIn",
    "AfterSaleOut",
    "AfterSalePageOut",
    "CloseIn",
    "RefundIn",
    "RejectIn",
]

Kind = Literal["refund_only", "return_refund", "exchange", "reship"]
Status = Literal["requested", "approved", "returning", "received", "refunded", "closed", "rejected"]
Fen = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)]
PositiveFen = Annotated[int, msgspec.Meta(ge=1, le=MAX_INT)]
Text255 = Annotated[str, msgspec.Meta(max_length=255)]


class AfterSaleLineIn(msgspec.Struct, kw_only=True):
    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    qty: Annotated[int, msgspec.Meta(ge=1, le=100_000)]


class AfterSaleIn(msgspec.Struct, kw_only=True):
    order_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_INT)]
    kind: Kind
    lines: Annotated[list[AfterSaleLineIn], msgspec.Meta(max_length=200)] = []
    refund_amount: Fen = 0
    reason: Text255 = ""
    note: Text255 = ""


class RejectIn(msgspec.Struct, kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class RefundIn(msgspec.Struct, kw_only=True):
    amount: PositiveFen | None = None  # fen; default: the case's refund amount
    refunded_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None  # when the money moved; default now


class CloseIn(msgspec.Struct, kw_only=True):
    note: Text255 = ""


class AfterSaleLineOut(msgspec.Struct, kw_only=True):
    sku: str
    qty: int
    received_good: int
    received_damaged: int


class ChangeOut(msgspec.Struct, kw_only=True):
    action: str
    from_status: str
    to_status: str
    actor: str
    at: datetime
    data: dict[str, Any]


class AfterSaleOut(msgspec.Struct, kw_only=True):
    id: int
    order_id: int
    order_external_id: str
    channel_id: int
    kind: Kind
    kind_name: str
    status: Status
    source: Literal["platform", "api", "approval"]
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
    lines: list[AfterSaleLineOut]
    changes: list[ChangeOut] = []


class AfterSalePageOut(msgspec.Struct, kw_only=True):
    items: list[AfterSaleOut]
    next_cursor: int | None
