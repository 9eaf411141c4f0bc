"""The orders context's error codes (see :class:`orderhub.errors.ErrorCode`)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["OrderError"]


class OrderError(ErrorCode):
    """Orders: preconditions on an order's progress that the other contexts check."""

    NOT_PACKED = "not_packed", "订单打包完成后才能取运单号", "The order is not packed yet (a waybill needs it)."
    EXPORT_TOO_LARGE = (
        "export_too_large",
        "导出的订单太多，请缩小筛选范围（例如按日期分段导出）",
        "An order export would exceed the row cap; narrow the filters (e.g. export a date range at a time).",
    )
    REFUND_EXCEEDS_PAID = (
        "refund_exceeds_paid",
        "退款金额超过订单实付金额（含已记录的退款）",
        "A refund would take the order's recorded refunds above what was paid for it.",
    )
    RESHIP_UNKNOWN_SKU = "reship_unknown_sku", "补发商品不存在或已停用", "A reship line names no active SKU."
    RESHIP_NO_LINES = "reship_no_lines", "请填写补发商品", "A reship names no lines."
    RESHIP_TOO_MANY_LINES = (
        "reship_too_many_lines",
        "补发商品行数超过上限",
        "A reship has more lines than an order may have.",
    )
    RESHIP_BAD_LINE = (
        "reship_bad_line",
        "补发商品需要编码和大于 0 的数量",
        "A reship line has no SKU code or a quantity below 1.",
    )
    RESHIP_NOT_ALLOWED = "reship_not_allowed", "已取消的订单不能补发", "A cancelled order cannot be reshipped."
    RESHIP_ID_TAKEN = (
        "reship_id_taken",
        "补发单号已被其他订单占用",
        "The reship's order number (derived from the original's) belongs to an order that is not this reship.",
    )
    RECEIVER_UNRECOGNISED = (
        "receiver_unrecognised",
        "新收货地址或电话无法识别，请填写完整的省市区和详细地址",
        "An order in the warehouse takes a new receiver only once its address and phone are understood.",
    )
