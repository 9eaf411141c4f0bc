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
    AFTER_SALE_NOT_FOUND = "after_sale_not_found", "售后单不存在", "No after-sale case has that id."
    AFTER_SALE_BAD_STATUS = (
        "after_sale_bad_status",
        "售后单当前状态不允许该操作",
        "The after-sale case's status does not allow this action (e.g. a refund before the goods came back, "
        "approving a case already approved).",
    )
    AFTER_SALE_BAD_LINES = (
        "after_sale_bad_lines",
        "售后商品行不正确（商品不在订单中或数量超过订单数量）",
        "An after-sale line names a SKU the order does not have, or more units than the order has of it.",
    )
    AFTER_SALE_NO_LINES = (
        "after_sale_no_lines",
        "退货、换货和补发需要填写商品行",
        "A return, an exchange or a reship names no lines.",
    )
    AFTER_SALE_NO_AMOUNT = (
        "after_sale_no_amount",
        "仅退款和退货退款需要填写退款金额（分）",
        "A refund-only or return-and-refund case has no refund amount.",
    )
    AFTER_SALE_APPROVAL_PENDING = (
        "after_sale_approval_pending",
        "售后单正在审批中，请在审批中处理",
        "The case waits for its approval request; decide or withdraw the request instead.",
    )
    AFTER_SALE_RECEIPT_MISMATCH = (
        "after_sale_receipt_mismatch",
        "扫描的商品不在该售后单中，或数量超过待收货数量",
        "A receiving scan names a SKU the case does not return, or more units than are still expected.",
    )
    AFTER_SALE_NOT_RETURNING = (
        "after_sale_not_returning",
        "该售后单不在等待退货状态，不能收货",
        "Goods are received only for a return or exchange that is approved and waiting for them.",
    )
    AFTER_SALE_CLIENT_ID_REUSED = (
        "after_sale_client_id_reused",
        "该扫描编号已用于其他售后单",
        "A receiving scan's client_id was used before for another case or other content.",
    )
