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
