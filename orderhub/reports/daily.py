"""The daily reconciliation report per channel (issue 18 item 5), as the seed's table has it — 渠道, 订单数, 平台结算,
系统记录, 差额, 主要原因 — from ``orderhub.finance.model.DailyReport``, as XLSX (openpyxl, like the order export) and
PDF (:func:`orderhub.reports.pdf.daily_recon_pdf`).

Money is integer fen in the report and yuan with two decimals in the files (``Decimal(fen) / 100``: exact). Every
total is computed here as the sum of the lines shown (:func:`recon_table`), never copied from elsewhere, so a file's
合计 always equals the sum of its rows; a report whose own totals disagree with its rows is logged.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from orderhub import clock

__all__ = [
    "HEADERS",
    "CauseLine",
    "ReconLine",
    "ReconTable",
    "daily_filename",
    "daily_xlsx",
    "main_causes",
    "recon_table",
    "yuan",
    "yuan_text",
]

log = logging.getLogger("orderhub.reports")

HEADERS = ("渠道", "订单数", "平台结算（元）", "系统记录（元）", "差额（元）", "主要原因")
CAUSE_HEADERS = ("渠道", "原因代码", "原因", "订单数", "金额（元）")
MAIN_CAUSES = 3  # causes named in the 主要原因 column


class CauseLine(msgspec.Struct, frozen=True, kw_only=True):
    cause: str
    name: str
    amount: int  # fen
    orders: int


class ReconLine(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: int
    channel: str
    platform: str
    orders: int
    settled: int  # fen
    expected: int
    difference: int
    causes: list[CauseLine]  # largest |amount| first
    flagged: int


class ReconTable(msgspec.Struct, frozen=True, kw_only=True):
    day: date
    lines: list[ReconLine]
    orders: int  # = Σ lines
    settled: int
    expected: int
    difference: int
    flagged: int


def yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def yuan_text(fen: int, *, signed: bool = False) -> str:
    """``1234567`` → ``12,345.67``; ``signed``: ``+12,345.67`` / ``−12,345.67``."""
    whole, cents = divmod(abs(fen), 100)
    text = f"{whole:,}.{cents:02d}"
    if fen < 0:
        return f"-{text}"
    return f"+{text}" if signed and fen > 0 else text


def main_causes(causes: Sequence[CauseLine], limit: int = MAIN_CAUSES) -> str:
    """The 主要原因 cell: the largest causes with their amounts (``运费补贴未计入 +50.00；退款延迟同步 -10,200.00``)."""
    shown = [c for c in causes if c.amount][:limit]
    if not shown:
        return "无差异" if not causes else "；".join(c.name for c in causes[:limit])
    text = "；".join(f"{c.name} {yuan_text(c.amount, signed=True)}" for c in shown)
    more = len([c for c in causes if c.amount]) - len(shown)
    return text + (f" 等 {more + len(shown)} 项" if more > 0 else "")


def recon_table(report: Any) -> ReconTable:
    """A ``DailyReport`` as the table's lines and totals (each total the sum of its lines)."""
    lines = [
        ReconLine(
            channel_id=row.channel_id,
            channel=row.channel_name,
            platform=row.platform,
            orders=int(row.orders),
            settled=int(row.settled),
            expected=int(row.expected),
            difference=int(row.difference),
            causes=sorted(
                (CauseLine(cause=c.cause, name=c.name, amount=int(c.amount), orders=int(c.orders)) for c in row.causes),
                key=lambda c: (-abs(c.amount), c.cause),
            ),
            flagged=int(row.flagged),
        )
        for row in report.rows
    ]
    table = ReconTable(
        day=report.day,
        lines=lines,
        orders=sum(line.orders for line in lines),
        settled=sum(line.settled for line in lines),
        expected=sum(line.expected for line in lines),
        difference=sum(line.difference for line in lines),
        flagged=sum(line.flagged for line in lines),
    )
    for line in lines:
        if line.settled - line.expected != line.difference or sum(c.amount for c in line.causes) != line.difference:
            log.warning("daily report row does not add up", extra={"day": str(report.day), "channel": line.channel_id})
    if (report.settled, report.expected, report.difference) != (table.settled, table.expected, table.difference):
        log.warning("daily report totals differ from the sum of its rows", extra={"day": str(report.day)})
    return table


def daily_filename(day: date, channel_id: int | None, extension: str) -> str:
    scope = f"-channel{channel_id}" if channel_id is not None else ""
    return f"reconciliation-{day.isoformat()}{scope}.{extension}"


_BOLD = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="DDE6F0")
_MONEY = "#,##0.00"


def _text(value: str) -> str:
    # a text cell beginning with = + - @ would be taken for a formula by a spreadsheet (as the order export guards)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _sheet_header(ws: Any, headers: Sequence[str]) -> None:
    ws.append(list(headers))
    for cell in ws[ws.max_row]:
        cell.font, cell.fill = _BOLD, _HEAD_FILL
        cell.alignment = Alignment(horizontal="center")


def daily_xlsx(table: ReconTable) -> bytes:
    """Two sheets: 对账日报 (one row per channel, then 合计 — every total is the sum of the rows above it) and 原因明细
    (each channel's causes; per channel they add up to its 差额)."""
    book = Workbook()
    ws = book.active
    ws.title = "对账日报"
    ws.append([f"结算对账日报 {table.day.isoformat()}（北京时间）"])
    ws["A1"].font = Font(bold=True, size=13)
    generated = clock.to_shanghai(clock.now()).strftime("%Y-%m-%d %H:%M")
    ws.append([f"生成时间 {generated}；金额单位：元；差额 = 平台结算 - 系统记录"])
    _sheet_header(ws, HEADERS)
    first = ws.max_row + 1
    for line in table.lines:
        ws.append(
            [
                _text(line.channel),
                line.orders,
                yuan(line.settled),
                yuan(line.expected),
                yuan(line.difference),
                _text(main_causes(line.causes)),
            ]
        )
    ws.append(
        [
            "合计",
            table.orders,
            yuan(table.settled),
            yuan(table.expected),
            yuan(table.difference),
            f"待处理差异 {table.flagged} 笔" if table.flagged else "",
        ]
    )
    for cell in ws[ws.max_row]:
        cell.font = _BOLD
    for row in ws.iter_rows(min_row=first, max_row=ws.max_row, min_col=3, max_col=5):
        for cell in row:
            cell.number_format = _MONEY
    for column, width in zip("ABCDEF", (18, 10, 16, 16, 16, 60), strict=True):
        ws.column_dimensions[column].width = width
    detail = book.create_sheet("原因明细")
    _sheet_header(detail, CAUSE_HEADERS)
    for line in table.lines:
        for cause in line.causes:
            detail.append([_text(line.channel), cause.cause, cause.name, cause.orders, yuan(cause.amount)])
            detail.cell(detail.max_row, 5).number_format = _MONEY
    for index, width in enumerate((18, 26, 20, 10, 16), start=1):
        detail.column_dimensions[get_column_letter(index)].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
