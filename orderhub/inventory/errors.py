"""The inventory context's error codes (see :class:`orderhub.errors.ErrorCode`)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["InventoryError"]


class InventoryError(ErrorCode):
    """Inventory: stock and reservations."""

    OUT_OF_STOCK = "out_of_stock", "库存不足", "Not enough available stock; `shortfalls` lists each SKU."
    RELEASE_EXCEEDS_RESERVED = (
        "release_exceeds_reserved", "释放的占用数量超过已占用库存", "Releasing more than is reserved."
    )
    CONSUME_EXCEEDS_RESERVED = "consume_exceeds_reserved", "出库数量超过已占用库存", "Shipping more than is reserved."
    WRITE_OFF_EXCEEDS_RESERVED = (
        "write_off_exceeds_reserved", "核销数量超过已占用库存", "Writing off more than is reserved."
    )
    STOCK_BELOW_RESERVED = (
        "stock_below_reserved", "调整后库存不能低于已占用数量", "A stock adjustment would leave less than is reserved."
    )
