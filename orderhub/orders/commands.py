"""Domain commands and views for orders (frozen, keyword-only Structs; no transport types)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from orderhub.customs.model import DutyEstimate

__all__ = [
    "IngestOutcome",
    "NewOrder",
    "NewOrderLine",
    "OrderEventView",
    "OrderLineView",
    "OrderPage",
    "OrderView",
    "Receiver",
    "ReceiverCipher",
    "ShipmentView",
]


class NewOrderLine(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    qty: int
    unit_price: int


class ReceiverCipher(msgspec.Struct, frozen=True, kw_only=True):
    """The receiver as a platform protects it (抖店, 拼多多, 淘宝/天猫): ciphertexts only the platform can decrypt, the
    masked forms it shows in clear, and its search indexes. Kept beside the order's clear fields, never instead of
    them; clear values are filled only when someone decrypts through the platform (audited) or the source sent them.

    ``province``/``city``/``district`` come in clear on every platform and stay on :class:`Receiver`; ``detail`` is
    the street address below the district."""

    platform: str  # the platform's catalogue code (douyin, pdd, taobao): who can decrypt it
    name: str = ""  # ciphertexts exactly as the platform sent them
    phone: str = ""
    detail: str = ""
    name_masked: str = ""  # the platform's masked forms (张*, 138****0000, 某某路**号)
    phone_masked: str = ""
    detail_masked: str = ""
    # The platform's search index of the phone (拼多多/抖店 ``*_index`` / search text): equal for the same phone within
    # the shop, so duplicate detection and 合单 can compare without decrypting.
    phone_index: str = ""
    # The street address's search index, where the platform embeds one in its ciphertext (拼多多, 抖店): equal for
    # the same street, so 合单 never merges two addresses whose masked forms look alike (东方路**号).
    detail_index: str = ""
    # An id the platform gives the buyer + address (淘宝 OAID, 抖店 open_address_id …): equal ids mean the same
    # receiver and address (合单 and duplicate detection); also what some decrypt APIs take.
    open_id: str = ""
    # A privacy (virtual) number's extension, when the platform issued one (138xxxx0000-1234).
    phone_ext: str = ""
    # The platform order the ciphertext belongs to (its decrypt and e-waybill APIs bind to it); filled at intake
    # with the order's external id, and kept when a reship (补发) copies the receiver.
    order_id: str = ""

    def stable(self) -> list[str]:
        """What stays the same while the receiver does (a re-encryption may change the ciphertexts, never these):
        the masked forms, the indexes and the open id — what tells a real receiver change from a re-read."""
        return [self.name_masked, self.phone_masked, self.detail_masked, self.phone_index, self.detail_index,
                self.open_id]  # fmt: skip

    def match_key(self) -> str:
        """What identifies the receiver for duplicate detection and 合单: the open id, else the phone's index."""
        if self.open_id:
            return f"{self.platform}:oaid:{self.open_id}"
        if self.phone_index:
            return f"{self.platform}:idx:{self.phone_index}"
        return ""


class Receiver(msgspec.Struct, frozen=True, kw_only=True):
    """The receiver. With ``cipher`` set (an encrypted platform order) ``name``/``phone``/``detail`` hold the
    platform's masked forms until a decrypt fills them, and nothing may treat them as a real phone or address."""

    name: str
    phone: str
    province: str = ""
    city: str = ""
    district: str = ""
    detail: str = ""
    address: str = ""
    division_code: str = ""
    phone_ext: str = ""
    cipher: ReceiverCipher | None = None
    # Outside China (ISO 3166-1 alpha-2; "CN" = the 省/市/区县 form): ``province`` holds the region (state,
    # province, changwat), ``city`` the city, ``detail`` the address lines joined with "\n", ``postcode`` the postal
    # code; ``district`` and ``division_code`` stay empty. Standardisation applies to CN only.
    country: str = "CN"
    postcode: str = ""


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
    customs_estimate: DutyEstimate | None = None  # a cross-border order's duty and VAT at its destination
    lines: list[OrderLineView] = []
    shipments: list[ShipmentView] = []
    events: list[OrderEventView] = []


class OrderPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[OrderView]
    next_cursor: str | None
