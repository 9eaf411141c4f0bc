"""The reports' error codes (see :class:`orderhub.errors.ErrorCode`)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["ReportError"]


class ReportError(ErrorCode):
    """Reports kept for download and generated on demand (``/api/v1/finance/reports``, docs/reports.md)."""

    REPORT_NOT_FOUND = "report_not_found", "报表不存在", "No such report file."
    REPORT_BAD_WEEK = (
        "report_bad_week",
        "只能生成已开始的周的周报（周一至周日，北京时间）",
        "`week` is a date in a week that has not started yet.",
    )
    REPORT_BAD_DAY = "report_bad_day", "对账日期不能晚于今天", "`day` is after today (Asia/Shanghai)."
    REPORT_LINK_INVALID = (
        "report_link_invalid",
        "下载链接无效或已过期，请在后台重新下载",
        "The signed download link is wrong or past its expiry (links in WeCom messages last 7 days).",
    )
