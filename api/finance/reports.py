"""Reports (docs/reports.md): the weekly report kept for download and generated on demand, the signed download link
the WeCom message carries, and the daily reconciliation report per channel as XLSX and PDF."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from api.common import PathId
from orderhub.auth.service import UserView
from orderhub.reports import service

__all__ = ["ReportsController"]

ChannelParam = Annotated[
    int | None, Parameter(query="channel_id", ge=1, description="one sales channel; default every channel")
]
DayParam = Annotated[date, Parameter(description="the bill day, Asia/Shanghai date YYYY-MM-DD, not after today")]
_SIG = Annotated[str, Parameter(max_length=128)]


class WeeklyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    week: date | None = None  # any day of the week wanted (Monday–Sunday, Asia/Shanghai); default the last full week
    push: bool = False  # also send the WeCom message to the managers


def _file(view: service.ReportFileView, content: bytes) -> Response[bytes]:
    return Response(
        content,
        media_type=view.media_type,
        headers={"Content-Disposition": f'attachment; filename="{view.filename}"', "Cache-Control": "private"},
    )


_DAILY_TEXT = (
    "The day's reconciliation per channel as the sellers' own table: 渠道, 订单数, 平台结算（元）, 系统记录（元）, "
    "差额（元）= settled − expected, 主要原因 (the largest causes with their amounts), then 合计 — each total is "
    "the sum of the rows above it — and each channel's causes (they add up to its difference). From "
    "`orderhub.finance.reports_data.daily_report`; the file is kept (the latest per day, channel and format). "
    "422 `report_bad_day` (field `day`) for a day after today."
)


class ReportsController(Controller):
    path = "/api/v1/finance"
    tags = ["finance"]

    @get(
        "/reports",
        summary="Reports kept for download",
        description="The generated reports, newest first: `kind` weekly (the weekly report's PDF, each generation "
        "kept) or daily_recon (the daily reconciliation files, the latest per day, channel and format); page with "
        "`before_id` = the last id seen. 422 `validation_error` (field `kind`) for another kind.",
    )
    async def list_reports(
        self,
        kind: Annotated[str | None, Parameter(max_length=16)] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        before_id: Annotated[int | None, Parameter(ge=1)] = None,
    ) -> list[service.ReportFileView]:
        return await service.list_reports(kind=kind, limit=limit, before_id=before_id)

    @post(
        "/reports/weekly",
        summary="Generate the weekly report now",
        description="Draws the weekly report of the week holding `week` (Monday–Sunday, Asia/Shanghai; default the "
        "last full week; the current week is reported up to now) as a PDF — the four headline KPIs (cycle time p90, "
        "first-pass accuracy, orders per person per day, customer query rate) against their targets and last week, "
        "the health index by region, orders by channel and day, reconciliation with the top causes of differences, "
        "the month's errors by picker and SKU — keeps it, and with `push` tells the managers through WeCom (a text "
        "message with a signed download link valid 7 days when the hub's public address is set). The worker does "
        "the same for last week every Monday 08:00 Asia/Shanghai. 422 `report_bad_week` for a week not started.",
        status_code=201,
    )
    async def generate_weekly(self, request: Request[UserView, Any, Any], data: WeeklyIn) -> service.ReportFileView:
        return await service.generate_weekly(data.week, actor=f"user:{request.user.username}", push=data.push)

    @get(
        "/reports/{report_id:int}/download",
        summary="Download a kept report",
        description="The file itself (PDF or XLSX) as an attachment. 404 `report_not_found`.",
        media_type="application/octet-stream",
    )
    async def download(self, report_id: PathId) -> Response[bytes]:
        view, content = await service.report_content(report_id)
        return _file(view, content)

    @get(
        "/reports/{report_id:int}/file",
        summary="Download a report through a signed link",
        description="The link the WeCom message carries: no sign-in, `expires` (Unix seconds) and `sig` (HMAC-SHA256 "
        "with the hub's secret key over the report id and expiry) instead; valid 7 days. 403 `report_link_invalid` "
        "when the signature is wrong or the link expired; 404 `report_not_found`.",
        media_type="application/octet-stream",
        opt={"public": True},  # no bearer token: the signature is the key (policy: public)
    )
    async def signed_file(
        self, report_id: PathId, expires: Annotated[int, Parameter(ge=0)], sig: _SIG
    ) -> Response[bytes]:
        service.check_link(report_id, expires, sig)
        view, content = await service.report_content(report_id)
        return _file(view, content)

    @get(
        "/reconciliation/daily.xlsx",
        summary="The daily reconciliation report as XLSX",
        description=_DAILY_TEXT + " Two sheets: 对账日报 and 原因明细; money in yuan with two decimals.",
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    async def daily_xlsx(
        self, request: Request[UserView, Any, Any], day: DayParam, channel_id: ChannelParam = None
    ) -> Response[bytes]:
        view, content = await service.daily_recon_file(day, channel_id, "xlsx", actor=f"user:{request.user.username}")
        return _file(view, content)

    @get(
        "/reconciliation/daily.pdf",
        summary="The daily reconciliation report as PDF",
        description=_DAILY_TEXT + " A4, Chinese set in the server's CJK font.",
        media_type="application/pdf",
    )
    async def daily_pdf(
        self, request: Request[UserView, Any, Any], day: DayParam, channel_id: ChannelParam = None
    ) -> Response[bytes]:
        view, content = await service.daily_recon_file(day, channel_id, "pdf", actor=f"user:{request.user.username}")
        return _file(view, content)
