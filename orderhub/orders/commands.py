"""Domain commands and views for orders (frozen, keyword-only Structs; no transport types)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

__all__ = [
    "IngestOutcome",
    "NewOrder",
    "NewOrderLine",
    "OrderEventView",
    "OrderLineView",
    "OrderPage",
    "OrderView",
    "Receiver",
    "ShipmentView",
]


class NewOrderLine(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    qty: int
    unit_price: int


class Receiver(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    phone: str
    province: str = ""
    city: str = ""
    district: str = ""
    detail: str = ""
    address: str = ""
    division_code: str = ""
    phone_ext: str = ""


class NewOrder(msgspec.Struct, frozen=True, kw_only=True):
    external_id: str
    placed_at: datetime
    paid_at: datetime | None
    ship_by: datetime | None = None
    buyer_nick: str
    buyer_phone: str
    receiver: Receiver
    lines: tuple[NewOrderLine, ...]
    shipping_fee: int
    discount: int
    paid_amount: int
    buyer_memo: str
    seller_memo: str
    raw: dict[str, Any]
    platform_discount: int = 0  # fen the platform pays back for its own coupons (finance's expected payout)


class IngestOutcome(msgspec.Struct, frozen=True, kw_only=True):
    external_id: str
    status: str  # accepted | duplicate | rejected
    order_id: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_field: str | None = None


class OrderLineView(msgspec.Struct, frozen=True, kw_only=True):
    line_no: int
    sku: str
    qty: int
    unit_price: int
    amount: int
    is_gift: bool
    reserved_qty: int
    warehouse: str | None
    shipment: int | None = None


class ShipmentView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    warehouse: str
    packing_line: str
    weight_g: int
    volume_cm3: int
    status: str
    order_ids: list[int] = []


class OrderEventView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    type: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    data: dict[str, Any]
    actor: str
    created_at: datetime


class OrderView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    channel: str
    external_id: str
    status: str
    exception_reason: str | None
    hold_queue: str | None
    hold_reason: str | None
    buyer_nick: str
    buyer_phone: str
    receiver: Receiver
    goods_amount: int
    shipping_fee: int
    discount: int
    paid_amount: int
    buyer_memo: str
    seller_memo: str
    tags: list[str]
    priority: str
    preferred_carrier: str | None
    placed_at: datetime
    paid_at: datetime | None
    ship_by: datetime | None
    warehouse: str | None
    received_at: datetime
    updated_at: datetime
    needs_backfill: bool = False
    waybill_no: str = ""  # the waybill it was shipped with
    lines: list[OrderLineView] = []
    shipments: list[ShipmentView] = []
    events: list[OrderEventView] = []


class OrderPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[OrderView]
    next_cursor: str | None
