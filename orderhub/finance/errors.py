"""The finance context's error codes (see :class:`orderhub.errors.ErrorCode`; docs/errors.md lists them all)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["FinanceError"]


class FinanceError(ErrorCode):
    """Fee settings, settlement lines, reconciliation and the finance view (``/api/v1/finance/…``, docs/finance.md)."""

    DUPLICATE_LINE = (
        "settlement_duplicate_line",
        "同一批次中结算明细的流水号重复",
        "Two lines of one batch carry the same line key (the field names the second).",
    )
    RECON_NOT_FOUND = "recon_not_found", "对账记录不存在", "No reconciliation row with that id."
    BAD_RESOLUTION = (
        "recon_bad_resolution",
        "处理方式应为 note（备注）、write_off（核销）或 claim（向平台申诉）",
        "`action` is not one of note / write_off / claim.",
    )
    NOTHING_TO_RESOLVE = (
        "recon_nothing_to_resolve",
        "该订单已对平，无需处理",
        "The row is balanced: there is no difference to resolve.",
    )
    BAD_DAY = "finance_bad_day", "日期格式应为 YYYY-MM-DD", "`day` (or `since`/`until`) is not a YYYY-MM-DD date."
    BAD_RANGE = (
        "finance_bad_range",
        "开始日期不能晚于结束日期，且跨度不超过 366 天",
        "`since` is after `until`, or the range spans more than 366 days.",
    )
    NO_SETTLEMENT_SOURCE = (
        "settlement_no_source",
        "该渠道的平台没有可拉取的结算接口，请导入平台导出的账单文件",
        "The channel's platform has no settlement source registered (import its bill file instead).",
    )
