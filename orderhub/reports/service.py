"""Generating, keeping and handing out the reports (docs/reports.md).

- :func:`generate_weekly` gathers a week (:mod:`orderhub.reports.weekly`), draws the PDF in a worker thread
  (matplotlib and reportlab are CPU-bound and blocking) and keeps it in ``report_file``;
  :func:`run_weekly_cron` is the worker's Monday 08:00 Asia/Shanghai job (``WEEKLY_CRON``: 00:00 UTC): last week's
  report, once (a retry or a second worker finds it kept and does nothing), then pushed to the managers.
- :func:`push_weekly` writes one WeCom staff notice (``staff_weekly_report``) per active admin / manager / finance user
  bound to no warehouse who has a WeCom id, through the notification outbox (``write_scope_alert``: sent by the
  outbox's job, rate-limited per member, never twice); the message is WeCom text with a signed download link
  (:func:`signed_link`, 7 days) when the hub's public address is set (通知设置 ``public_base_url``).
- :func:`daily_recon_file` builds the daily reconciliation report as XLSX or PDF from the finance context's
  ``daily_report`` and keeps it (the latest per day, channel and format).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from orderhub import clock, crypto, db
from orderhub.errors import NotFound, PermissionDenied, ValidationFailed
from orderhub.finance import reports_data
from orderhub.notifications import config as notify_config
from orderhub.notifications.outbox import write_scope_alert
from orderhub.reports import daily, pdf, weekly
from orderhub.reports.errors import ReportError
from orderhub.settings import get_settings

__all__ = [
    "KINDS",
    "LINK_DAYS",
    "WEEKLY_CRON",
    "WEEKLY_NOTICE",
    "ReportFileView",
    "check_link",
    "daily_recon_file",
    "generate_weekly",
    "get_report",
    "list_reports",
    "push_weekly",
    "report_content",
    "run_weekly_cron",
    "signed_link",
]

log = logging.getLogger("orderhub.reports")

# Every Monday 08:00 Asia/Shanghai = Monday 00:00 UTC (SAQ cron strings are UTC; seconds field last, as the hub's).
WEEKLY_CRON = "0 0 * * 1 0"
WEEKLY_NOTICE = "staff_weekly_report"
KINDS = ("weekly", "daily_recon")
LINK_DAYS = 7
_MEDIA = {"pdf": "application/pdf", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


class ReportFileView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: str  # weekly | daily_recon
    period: str  # ISO week (2026-W50) or day (2026-12-07)
    period_start: date
    channel_id: int  # daily_recon: 0 = every channel
    format: str  # pdf | xlsx
    filename: str
    size: int
    created_at: datetime
    created_by: str
    pushed: int  # WeCom messages written for it
    media_type: str = ""


class _Row(msgspec.Struct):
    id: int
    kind: str
    period: str
    period_start: Any
    channel_id: int
    format: str
    filename: str
    size: int
    created_at: Any
    created_by: str
    pushed: int


_COLUMNS = "id, kind, period, period_start, channel_id, format, filename, size, created_at, created_by, pushed"


def _view(row: _Row) -> ReportFileView:
    start = row.period_start
    return ReportFileView(
        id=row.id,
        kind=row.kind,
        period=row.period,
        period_start=start if isinstance(start, date) else date.fromisoformat(str(start)[:10]),
        channel_id=row.channel_id,
        format=row.format,
        filename=row.filename,
        size=row.size,
        created_at=clock.from_db(row.created_at),
        created_by=row.created_by,
        pushed=row.pushed,
        media_type=_MEDIA.get(row.format, "application/octet-stream"),
    )


async def _keep(
    *, kind: str, period: str, period_start: date, channel_id: int, fmt: str, filename: str, content: bytes, actor: str
) -> ReportFileView:
    rows = await db.execute_returning(  # raw: INSERT … RETURNING id
        db.IdRow,
        "INSERT INTO report_file (kind, period, period_start, channel_id, format, filename, size, content, "
        "created_at, created_by, pushed) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 0) RETURNING id",
        kind,
        period,
        period_start,
        channel_id,
        fmt,
        filename,
        len(content),
        content,
        clock.now(),
        actor[:64],
    )
    return await get_report(rows[0].id)


async def get_report(report_id: int) -> ReportFileView:
    row = await db.fetch_one_as(_Row, f"SELECT {_COLUMNS} FROM report_file WHERE id = {{}}", report_id)
    if row is None:
        raise NotFound(ReportError.REPORT_NOT_FOUND, field="report_id")
    return _view(row)


class _Content(msgspec.Struct):
    content: bytes


async def report_content(report_id: int) -> tuple[ReportFileView, bytes]:
    view = await get_report(report_id)
    row = await db.fetch_one_as(_Content, "SELECT content FROM report_file WHERE id = {}", report_id)
    return view, bytes(row.content) if row is not None else b""


async def list_reports(
    *, kind: str | None = None, limit: int = 50, before_id: int | None = None
) -> list[ReportFileView]:
    """Kept reports, newest first (``before_id``: the next page after the last id seen)."""
    where: list[str] = ["1 = 1"]
    args: list[Any] = []
    if kind is not None:
        if kind not in KINDS:
            raise ValidationFailed(f"报表类型只能是 {' / '.join(KINDS)}", field="kind")
        where.append("kind = {}")
        args.append(kind)
    if before_id is not None:
        where.append("id < {}")
        args.append(before_id)
    rows = await db.fetch_as(
        _Row,
        f"SELECT {_COLUMNS} FROM report_file WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT {int(limit)}",
        *args,
    )
    return [_view(r) for r in rows]


# -- the weekly report -------------------------------------------------------------------------------------------------


def _today() -> date:
    return clock.to_shanghai(clock.now()).date()


async def generate_weekly(week: date | None = None, *, actor: str = "system", push: bool = False) -> ReportFileView:
    """The weekly report of the week holding ``week`` (default: the last full week), drawn and kept; ``push``: also
    tell the managers through WeCom. A week that has not started is refused (``report_bad_week``); the current week
    is reported up to now."""
    monday = weekly.week_start(week) if week is not None else weekly.last_full_week()
    if monday > _today():
        raise ValidationFailed(ReportError.REPORT_BAD_WEEK, field="week")
    started = time.monotonic()
    data = await weekly.gather(monday)
    content = await asyncio.to_thread(pdf.weekly_pdf, data)
    view = await _keep(
        kind="weekly",
        period=data.label,
        period_start=monday,
        channel_id=0,
        fmt="pdf",
        filename=f"weekly-report-{data.label}.pdf",
        content=content,
        actor=actor,
    )
    log.info(
        "weekly report generated",
        extra={"report": view.id, "week": data.label, "bytes": view.size, "s": round(time.monotonic() - started, 2)},
    )
    if push:
        await push_weekly(view.id)
        view = await get_report(view.id)
    return view


async def run_weekly_cron(now: datetime | None = None) -> ReportFileView | None:
    """The Monday job: last week's report, generated and pushed once (None when the system already made it)."""
    monday = weekly.last_full_week(now)
    kept = await db.fetch_one_as(
        db.IdRow,
        "SELECT id FROM report_file WHERE kind = 'weekly' AND period = {} AND created_by = 'system' "
        "ORDER BY id LIMIT 1",
        weekly.week_label(monday),
    )
    if kept is not None:
        view = await get_report(kept.id)
        if not view.pushed:
            await push_weekly(view.id)
        return None
    return await generate_weekly(monday, actor="system", push=True)


def _signature(report_id: int, expires: int) -> str:
    return crypto.hmac_sha256_hex(get_settings().secret_key, f"report-file:{report_id}:{expires}".encode())


def signed_link(report_id: int, base_url: str, *, now: datetime | None = None) -> str:
    """A download link that needs no sign-in, valid :data:`LINK_DAYS` days (for the WeCom message)."""
    expires = int((now or clock.now()).timestamp()) + LINK_DAYS * 86400
    sig = _signature(report_id, expires)
    return f"{base_url.rstrip('/')}/api/v1/finance/reports/{report_id}/file?expires={expires}&sig={sig}"


def check_link(report_id: int, expires: int, sig: str) -> None:
    if expires < int(clock.now().timestamp()) or not crypto.signatures_equal(_signature(report_id, expires), sig):
        raise PermissionDenied(ReportError.REPORT_LINK_INVALID, field="sig")


async def push_weekly(report_id: int) -> str:
    """One WeCom staff notice per admin / manager / finance user bound to no warehouse (outbox; deduplicated per
    report and person). Returns "" when someone will hear it, else why nobody will (``no_channel`` /
    ``no_recipient``)."""
    view = await get_report(report_id)
    base = (await notify_config.load_settings()).public_base_url
    link = signed_link(view.id, base) if base else ""
    monday = view.period_start
    context = {
        "week": view.period,
        "period": f"{monday.isoformat()} 至 {(monday + timedelta(days=6)).isoformat()}",
        "report_id": view.id,
        "download": f"下载（{LINK_DAYS} 天内有效）：{link}" if link else "请在后台「财务 · 报表」中下载。",
    }
    async with db.transaction():
        why = await write_scope_alert(f"report:{view.id}", WEEKLY_NOTICE, None, context)
        if not why:
            await db.execute("UPDATE report_file SET pushed = pushed + 1 WHERE id = {}", view.id)
    if why:
        log.warning("weekly report pushed to nobody", extra={"report": view.id, "why": why})
    return why


# -- the daily reconciliation report -----------------------------------------------------------------------------------


async def daily_recon_file(day: date, channel_id: int | None, fmt: str, *, actor: str) -> tuple[ReportFileView, bytes]:
    """The day's reconciliation report (one channel or every channel) as ``fmt`` (xlsx | pdf), kept (the latest per
    day, channel and format replaces the one before)."""
    if fmt not in ("xlsx", "pdf"):
        raise ValidationFailed("格式只能是 xlsx 或 pdf", field="format")
    if day > _today():
        raise ValidationFailed(ReportError.REPORT_BAD_DAY, field="day")
    table = daily.recon_table(await reports_data.daily_report(day, channel_id=channel_id))
    content = (
        await asyncio.to_thread(daily.daily_xlsx, table)
        if fmt == "xlsx"
        else await asyncio.to_thread(pdf.daily_recon_pdf, table)
    )
    async with db.transaction():
        await db.execute(
            "DELETE FROM report_file WHERE kind = 'daily_recon' AND period = {} AND channel_id = {} AND format = {}",
            day.isoformat(),
            channel_id or 0,
            fmt,
        )
        view = await _keep(
            kind="daily_recon",
            period=day.isoformat(),
            period_start=day,
            channel_id=channel_id or 0,
            fmt=fmt,
            filename=daily.daily_filename(day, channel_id, fmt),
            content=content,
            actor=actor,
        )
    return view, content
