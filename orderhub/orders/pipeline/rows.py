"""The order and its lines as the pipeline passes them between steps: typed rows, each read by one query.

Owns :class:`OrderRow` (the order with its channel's terms), :class:`LineRow` (a line as validation sees it),
:class:`SkuRow` (the active SKUs validation resolves codes to), :class:`ShipLine` (a line with its SKU's weight
and volume, what allocation and shipments need) and the two raw queries that read the order and its ship lines.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from orderhub import db
from orderhub.orders import pii

__all__ = [
    "ORDER_SELECT",
    "SEALED_FIELDS",
    "LineRow",
    "OrderRow",
    "ShipLine",
    "SkuRow",
    "load_order",
    "load_ship_lines",
]


class OrderRow(msgspec.Struct, kw_only=True):
    """Everything the pipeline reads of an order and its channel. Mutable: validation fills in the standardised
    receiver and the rules' preferred warehouse, which routing then reads."""

    status: str
    buyer_nick: str
    buyer_phone: str
    buyer_memo: str
    seller_memo: str
    receiver_name: str
    receiver_phone: str
    receiver_province: str
    receiver_city: str
    receiver_district: str
    receiver_detail: str
    receiver_address: str
    receiver_division_code: str
    receiver_cipher: str  # JSON of the platform's protected receiver, "" for a clear one
    receiver_country: str  # ISO 3166-1 alpha-2; CN is standardised, others checked per country
    receiver_postcode: str
    receiver_match_key: str
    goods_amount: int
    paid_amount: int
    shipping_fee: int
    tags: str  # JSON list
    priority: str
    fingerprint: str
    received_at: datetime
    rules_applied_at: datetime | None
    placed_at: datetime
    paid_at: datetime | None
    ship_by: datetime | None
    preferred_warehouse: int | None
    # the channel's terms
    channel_code: str
    channel_ship_within_hours: int
    channel_default_warehouse: int | None
    channel_split_policy: str
    channel_merge_scope: str


class LineRow(msgspec.Struct, kw_only=True):
    """An order line as validation reads it (its SKU is not resolved yet); gift lines the rules add join them."""

    id: int
    sku_code: str
    is_gift: bool
    qty: int
    line_no: int
    unit_price: int = 0  # fen; what a cross-border order declares when the SKU has no declared value
    sku: int | None = None  # the SKU the intake resolved (None: not yet)


class SkuRow(msgspec.Struct, kw_only=True):
    id: int
    code: str
    weight_g: int
    volume_cm3: int


class ShipLine(msgspec.Struct, kw_only=True):
    """A line with a resolved SKU and that SKU's weight and volume: what allocation and shipments read."""

    id: int
    sku: int
    sku_code: str
    qty: int
    weight_g: int
    volume_cm3: int


_ORDER_COLUMNS = ", ".join(f"o.{name}" for name in OrderRow.__struct_fields__ if not name.startswith("channel_"))
_CHANNEL_COLUMNS = ", ".join(
    f"c.{name.removeprefix('channel_')} AS {name}" for name in OrderRow.__struct_fields__ if name.startswith("channel_")
)
# The OrderRow's columns from ``sales_order o JOIN channel c`` (the set-based pass selects them for many orders).
ORDER_SELECT = f"{_ORDER_COLUMNS}, {_CHANNEL_COLUMNS}"
_ORDER_SQL = (
    f"SELECT {ORDER_SELECT} "
    "FROM sales_order o JOIN channel c ON c.id = o.channel WHERE o.id = {}"
)
_LINES_SQL = (
    "SELECT l.id, l.sku, l.sku_code, l.qty, s.weight_g, s.volume_cm3 FROM order_line l JOIN sku s ON s.id = l.sku "
    'WHERE l."order" = {} ORDER BY l.id'
)


async def load_order(order_id: int) -> OrderRow | None:
    """The order and its channel's terms, in one query (None if there is no such order)."""
    # Raw SQL: one of the worker's four per-order reads measured in bench.peak (the query builder cost ~10 %).
    row = await db.fetch_one_as(OrderRow, _ORDER_SQL, order_id)
    if row is not None:  # the customer's sealed fields, opened for the steps (seal again to compare with a column)
        for name in SEALED_FIELDS:
            setattr(row, name, pii.open_(getattr(row, name)))
    return row


# The OrderRow fields stored sealed (opened after reading).
SEALED_FIELDS = tuple(name for name in OrderRow.__struct_fields__ if name in pii.SEALED_COLUMNS)


async def load_ship_lines(order_id: int) -> list[ShipLine]:
    """The order's lines with their SKUs' weight and volume, in one query (lines with a resolved SKU only)."""
    # Raw SQL: one of the worker's four per-order reads measured in bench.peak (the query builder cost ~10 %).
    return await db.fetch_as(ShipLine, _LINES_SQL, order_id)
