"""Orders found by a search (:mod:`orderhub.orders.search`), as a spreadsheet a seller opens in Excel: CSV or XLSX.

What the file holds, for the seller's Excel rather than for the wire: zh-CN headers, times in Asia/Shanghai (北京时间,
without an offset, which Excel cannot show), money in yuan with two decimals (the database keeps fen), the receiver's
name and phone masked (王*明, 138****8000) and only the province / city / district of the address.

Rows are read a keyset page at a time, so memory stays bounded whatever the result; a result larger than
:data:`MAX_ROWS` is refused up front (``export_too_large``). CSV is UTF-8 with a BOM (Excel reads the Chinese
correctly) and is streamed as it is read; a text cell beginning with ``= + - @`` (or a tab / CR) gets a leading ``'``
so a spreadsheet never runs it as a formula. XLSX (openpyxl, write-only mode) is built in a temporary file — its
rows stream to disk — then streamed out; its text cells are typed as text, never as formulas.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from orderhub import clock, db
from orderhub.errors import ValidationFailed
from orderhub.orders.commands import OrderView
from orderhub.orders.errors import OrderError
from orderhub.orders.pii import mask_name, mask_phone
from orderhub.orders.search import OrderFilter, check_sort, count_orders, iter_orders
from orderhub.orders.state import OrderStatus, label
from orderhub.orders.tables import OrderLine

__all__ = ["HEADERS", "MAX_ROWS", "ExportFormat", "export_filename", "prepare_export", "stream_export"]

MAX_ROWS = 100_000
PAGE_SIZE = 500
_CHUNK = 64 * 1024

HEADERS = (
    "订单ID",
    "渠道",
    "平台订单号",
    "状态",
    "下单时间",
    "付款时间",
    "发货仓",
    "商品（编码×数量）",
    "件数",
    "商品金额（元）",
    "运费（元）",
    "优惠（元）",
    "实付金额（元）",
    "标签",
    "运单号",
    "收货人",
    "收货电话",
    "省",
    "市",
    "区/县",
    "买家留言",
    "卖家备注",
    "异常/挂起原因",
)


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"

    @property
    def media_type(self) -> str:
        if self is ExportFormat.CSV:
            return "text/csv; charset=utf-8"
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def _shanghai(value: datetime | None) -> datetime | None:
    return None if value is None else clock.to_shanghai(value).replace(tzinfo=None, microsecond=0)


def _status(status: str) -> str:
    try:
        return label(OrderStatus(status))
    except ValueError:
        return status


async def _lines(order_ids: Sequence[int]) -> dict[int, list[tuple[str, int]]]:
    found: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for chunk in db.chunks(order_ids, 1000):
        rows = await (
            OrderLine.select(OrderLine.order, OrderLine.sku_code, OrderLine.qty)
            .where(OrderLine.order.is_in(list(chunk)))
            .order_by(OrderLine.order)
            .order_by(OrderLine.line_no)
        )
        for row in rows:
            found[int(row["order"])].append((row["sku_code"], int(row["qty"])))
    return found


def _row(order: OrderView, lines: list[tuple[str, int]]) -> list[Any]:
    receiver = order.receiver
    return [
        order.id,
        order.channel,
        order.external_id,
        _status(order.status),
        _shanghai(order.placed_at),
        _shanghai(order.paid_at),
        order.warehouse or "",
        "；".join(f"{sku}×{qty}" for sku, qty in lines),
        sum(qty for _, qty in lines),
        _yuan(order.goods_amount),
        _yuan(order.shipping_fee),
        _yuan(order.discount),
        _yuan(order.paid_amount),
        "、".join(str(tag) for tag in order.tags),
        order.waybill_no,
        mask_name(receiver.name),
        mask_phone(receiver.phone),
        receiver.province,
        receiver.city,
        receiver.district,
        order.buyer_memo,
        order.seller_memo,
        order.exception_reason or order.hold_reason or "",
    ]


async def _rows(f: OrderFilter, sort: str | None) -> AsyncIterator[list[list[Any]]]:
    async for page in iter_orders(f, sort=sort, page_size=PAGE_SIZE):
        lines = await _lines([order.id for order in page])
        yield [_row(order, lines.get(order.id, [])) for order in page]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Decimal | int):
        return str(value)
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    if len(text) >= 12 and text.isascii() and text.isdigit():
        # A platform order number or waybill of 12+ digits: Excel would show 6.91234E+18 and keep 15 digits; a
        # trailing tab keeps it text (the common practice of Chinese ERP exports), invisible in the cell.
        return text + "\t"
    return text


async def _csv(f: OrderFilter, sort: str | None) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    yield "\ufeff".encode() + buffer.getvalue().encode()
    async for rows in _rows(f, sort):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([_csv_text(value) for value in row] for row in rows)
        yield buffer.getvalue().encode()


def _xlsx_cell(sheet: WriteOnlyWorksheet, value: Any) -> WriteOnlyCell:
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
        cell.data_type = "s"  # text, even when it begins with "=" (openpyxl would make that a formula)
        return cell
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, Decimal):
        cell.number_format = "0.00"
    elif isinstance(value, datetime):
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
    return cell


def _append(sheet: WriteOnlyWorksheet, rows: list[list[Any]]) -> None:
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])


async def _xlsx(f: OrderFilter, sort: str | None) -> AsyncIterator[bytes]:
    handle, path = tempfile.mkstemp(prefix="orderhub-export-", suffix=".xlsx")
    os.close(handle)
    try:
        book = Workbook(write_only=True)
        sheet = book.create_sheet("订单")
        sheet.append(list(HEADERS))
        async for rows in _rows(f, sort):
            await asyncio.to_thread(_append, sheet, rows)
        await asyncio.to_thread(book.save, path)
        with open(path, "rb") as fh:  # noqa: ASYNC230 — local temp file, read in bounded chunks
            while chunk := await asyncio.to_thread(fh.read, _CHUNK):
                yield chunk
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _format(value: str | None) -> ExportFormat:
    try:
        return ExportFormat((value or "csv").strip().lower())
    except ValueError as exc:
        raise ValidationFailed("format 只能是 csv 或 xlsx", field="format") from exc


async def prepare_export(f: OrderFilter, export_format: str | None, *, sort: str | None = None) -> ExportFormat:
    """Check the request before the first byte goes out: the format, the sort, the filters (422 naming the field)
    and the size of the result (``export_too_large`` above :data:`MAX_ROWS`)."""
    chosen = _format(export_format)
    check_sort(sort)
    total = await count_orders(f)
    if total > MAX_ROWS:
        raise ValidationFailed(
            f"符合条件的订单有 {total} 个，超过单次导出上限 {MAX_ROWS} 个，请缩小筛选范围（例如按日期分段导出）",
            code=OrderError.EXPORT_TOO_LARGE,
            extra={"total": total, "max_rows": MAX_ROWS},
        )
    return chosen


def stream_export(f: OrderFilter, export_format: ExportFormat, *, sort: str | None = None) -> AsyncIterator[bytes]:
    """The file's bytes, produced as the rows are read (call :func:`prepare_export` first)."""
    return _csv(f, sort) if export_format is ExportFormat.CSV else _xlsx(f, sort)


def export_filename(export_format: ExportFormat) -> str:
    return f"orders-{clock.to_shanghai(clock.now()):%Y%m%d-%H%M%S}.{export_format.value}"
