"""Wire schemas of the orders API (the generic ingest contract for own stores and ERPs, and order reads)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

__all__ = [
    "Buyer",
    "CancelRequest",
    "IngestError",
    "IngestRequest",
    "IngestResponse",
    "IngestResult",
    "OrderEventOut",
    "OrderLineOut",
    "OrderOut",
    "OrderPageOut",
    "ReceiverIn",
    "ReceiverOut",
    "UnifiedLine",
    "UnifiedOrder",
]

# Bounds match the columns, so a value the schema accepts is one the database stores (on both back ends).
# 10^10 fen = 1 亿元 per unit: 200 lines × 100 000 pieces stays far inside a BIGINT.
Fen = Annotated[int, msgspec.Meta(ge=0, le=10**10, description="金额，单位：分 (integer fen)")]
Memo = Annotated[str, msgspec.Meta(max_length=2000)]
PromisedTime = Annotated[datetime, msgspec.Meta(tz=True, description="the platform's promised ship time (presale)")]


Str32 = Annotated[str, msgspec.Meta(max_length=32)]
Str100 = Annotated[str, msgspec.Meta(max_length=100)]
Str255 = Annotated[str, msgspec.Meta(max_length=255)]
Str400 = Annotated[str, msgspec.Meta(max_length=400)]


class Buyer(msgspec.Struct, kw_only=True):
    nick: Str100 = ""
    phone: Str32 = ""


Country = Annotated[
    str,
    msgspec.Meta(
        max_length=64, description="ISO 3166-1 alpha-2 (CN, TH, MY, VN …); a country's name (泰国, Thailand) reads too"
    ),
]


class ReceiverIn(msgspec.Struct, kw_only=True):
    """In China (``country`` CN, the default) give either ``address`` (one line) or
    ``province``/``city``/``district``/``detail``. Elsewhere give ``address_lines`` (street, building), ``city``,
    ``region`` (state/province, where the country has them) and ``postcode``; they are checked against the
    country's address rules (postcode format, required fields)."""

    name: Str100
    phone: Str32
    address: Str400 = ""
    province: Str32 = ""
    city: Str32 = ""
    district: Str32 = ""
    detail: Str255 = ""
    country: Country = "CN"
    region: Str32 = ""
    postcode: Annotated[str, msgspec.Meta(max_length=16)] = ""
    address_lines: Annotated[list[Str100], msgspec.Meta(max_length=3)] = []


class DecryptIn(msgspec.Struct, kw_only=True):
    """Why the clear receiver is needed (recorded with the decrypt)."""

    reason: Annotated[str, msgspec.Meta(min_length=2, max_length=255)]


class DecryptedReceiverOut(msgspec.Struct, kw_only=True):
    """The receiver in clear, as the platform decrypted it (not stored by the hub)."""

    name: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    address: str


class UnifiedLine(msgspec.Struct, kw_only=True):
    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    qty: Annotated[int, msgspec.Meta(ge=1, le=100000)]
    unit_price: Fen


class UnifiedOrder(msgspec.Struct, kw_only=True):
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    created_at: Annotated[datetime, msgspec.Meta(tz=True, description="ISO 8601 with offset")]
    paid_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    ship_by: (
        Annotated[datetime, msgspec.Meta(tz=True, description="platform's promised ship time (presale)")] | None
    ) = None
    buyer: Buyer = msgspec.field(default_factory=Buyer)
    receiver: ReceiverIn
    lines: Annotated[list[UnifiedLine], msgspec.Meta(min_length=1, max_length=200)]
    shipping_fee: Fen = 0
    discount: Fen = 0
    paid_amount: Fen = 0
    # Platform-funded coupons (平台优惠券 / 补贴): the platform pays them back to the seller; finance expects them.
    platform_discount: Fen = 0
    buyer_memo: Memo = ""
    seller_memo: Memo = ""


class IngestRequest(msgspec.Struct, kw_only=True):
    channel: str
    orders: Annotated[list[UnifiedOrder], msgspec.Meta(min_length=1, max_length=500)]


class IngestEnvelope(msgspec.Struct, kw_only=True):
    """What the handler decodes first: each order is then decoded on its own, so one bad order is rejected
    alone instead of failing the batch."""

    channel: str
    orders: list[msgspec.Raw]


class IngestError(msgspec.Struct, kw_only=True):
    code: str
    message: str
    field: str | None = None


class IngestResult(msgspec.Struct, kw_only=True):
    external_id: str
    status: str = msgspec.field(name="status")
    order_id: int | None = None
    error: IngestError | None = None


class IngestResponse(msgspec.Struct, kw_only=True):
    channel: str
    accepted: int
    duplicate: int
    rejected: int
    results: list[IngestResult]


class ReceiverOut(msgspec.Struct, kw_only=True):
    """The receiver. Shown in clear only to admins and managers, and only what the hub holds in clear: an order
    whose platform keeps the receiver encrypted (``encrypted``) shows the platform's masked forms to everyone
    (``POST /api/v1/orders/{id}/receiver/decrypt`` asks the platform, audited); ``masked`` says the name, phone
    and street were masked for this reader."""

    name: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    address: str
    division_code: str
    phone_ext: str
    encrypted: bool = False
    masked: bool = False
    country: str = "CN"  # ISO 3166-1 alpha-2; outside China province = region, detail = the address lines
    postcode: str = ""


class CustomsEstimateOut(msgspec.Struct, kw_only=True):
    """The destination's duty and VAT on this order, estimated from its rule pack (minor units of ``currency``:
    satang for THB, sen for MYR, đồng for VND)."""

    currency: str
    fx_per_cny: float
    goods_value: int
    shipping: int
    duty: int
    vat: int
    total: int
    notes: list[str] = []


class OrderLineOut(msgspec.Struct, kw_only=True):
    line_no: int
    sku: str
    qty: int
    unit_price: int
    amount: int
    is_gift: bool
    reserved_qty: int
    warehouse: str | None
    shipment: int | None


class ShipmentOut(msgspec.Struct, kw_only=True):
    id: int
    warehouse: str
    packing_line: str
    weight_g: int
    volume_cm3: int
    status: str
    order_ids: list[int]


class OrderEventOut(msgspec.Struct, kw_only=True):
    id: int
    type: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    data: dict[str, Any]
    actor: str
    created_at: datetime


class OrderOut(msgspec.Struct, kw_only=True):
    id: int
    channel: str
    external_id: str
    status: str
    exception_reason: str | None
    hold_queue: str | None
    hold_reason: str | None
    buyer_nick: str
    buyer_phone: str
    receiver: ReceiverOut
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
    # Processed during a surge: merge detection (合单) was deferred to the backfill pass when it ends.
    needs_backfill: bool = False
    # The waybill number the order was shipped with ("" until it is shipped).
    waybill_no: str = ""
    # A cross-border order's duty and VAT estimate at its destination (docs/customs.md); null for a domestic one.
    customs_estimate: CustomsEstimateOut | None = None
    lines: list[OrderLineOut] = []
    shipments: list[ShipmentOut] = []
    events: list[OrderEventOut] = []


class OrderPageOut(msgspec.Struct, kw_only=True):
    items: list[OrderOut]
    next_cursor: str | None


class CancelRequest(msgspec.Struct, kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class ShipRequest(msgspec.Struct, kw_only=True):
    """``carrier``: SF, ZTO, YTO, STO, YD, JT, EMS or JD."""

    carrier: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    waybill_no: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ResolveRequest(msgspec.Struct, kw_only=True):
    note: Annotated[str, msgspec.Meta(max_length=255)] = ""
