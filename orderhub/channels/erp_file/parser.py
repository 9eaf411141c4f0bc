"""Spreadsheet order import, the pure part: bytes → :class:`Table` → (column mapping) → :class:`ImportPlan`.

Sellers upload CSV / XLSX exports of their ERP (旺店通, 聚水潭 …) or hand-made sheets. A per-channel mapping, saved
by the seller, says which column holds which unified field (:data:`FIELDS`); :func:`suggest_mapping` guesses one
from the headers. :func:`build_orders` turns the rows into :class:`~orderhub.orders.commands.NewOrder` commands:
rows that share an order number form one order with several lines, money goes from yuan text to integer fen
through ``Decimal`` (never ``float``), times without an offset are read in Asia/Shanghai and leave aware, in UTC.
A bad row never stops the others, but an order with any bad row is rejected as a whole.

No database and no I/O besides reading the given bytes.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, Final

import msgspec

from orderhub.address.international import DOMESTIC, country_code
from orderhub.clock import SHANGHAI
from orderhub.errors import ValidationFailed
from orderhub.orders.commands import NewOrder, NewOrderLine
from orderhub.orders.pii import mask_detail, mask_name, mask_phone
from orderhub.orders.service import check_new_order, make_receiver

__all__ = [
    "FIELDS",
    "MAX_BYTES",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "FieldSpec",
    "ImportPlan",
    "Preview",
    "RowError",
    "RowErrorCode",
    "Table",
    "build_orders",
    "missing_fields",
    "parse_amount",
    "parse_qty",
    "parse_time",
    "preview",
    "read_grid",
    "read_table",
    "suggest_mapping",
    "to_table",
    "validate_mapping",
]

MAX_BYTES: Final = 5 * 1024 * 1024
MAX_ROWS: Final = 20_000
MAX_COLUMNS: Final = 200
_MAX_UNPACKED: Final = 200 * 1024 * 1024  # XLSX: sum of the archive's uncompressed sizes (zip-bomb guard)
_MAX_CELLS: Final = 8_000_000  # XLSX: rows × columns of the sheet's used range
_MAX_QTY: Final = 1_000_000
_MAX_FEN: Final = 10_000_000_000  # 1 亿元
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (BIFF), read by calamine too
_ZIP_MAGIC: Final = b"PK\x03\x04"
_WORKBOOK_EXTENSIONS: Final = frozenset({"xlsx", "xlsm", "xlsb", "ods"})
_DELIMITERS: Final = (",", "\t", ";")  # tie → the first


# --------------------------------------------------------------------------------------------------------------
# Structs
# --------------------------------------------------------------------------------------------------------------


class Table(msgspec.Struct, frozen=True, kw_only=True):
    """A sheet as text: stripped, unique headers; each row padded to the header width; ``row_numbers[i]`` is
    the 1-based spreadsheet row of ``rows[i]`` (the header is the first non-empty row, normally row 1)."""

    headers: list[str]
    rows: list[list[str]]
    row_numbers: list[int]


class FieldSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    label: str
    required: bool = False
    level: str = "order"  # "order": taken from an order's first row | "line": one per row
    kind: str = "text"  # text | time | money | qty


class RowErrorCode(StrEnum):
    REQUIRED = "required"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_QTY = "invalid_qty"
    INVALID_TIME = "invalid_time"
    SCIENTIFIC_NOTATION = "scientific_notation"
    CONFLICT = "conflict"
    INVALID_ORDER = "invalid_order"
    INVALID_COUNTRY = "invalid_country"
    ORDER_REJECTED = "order_rejected"


class RowError(msgspec.Struct, frozen=True, kw_only=True):
    row: int  # 1-based spreadsheet row
    external_id: str
    field: str  # unified field name ("" for ORDER_REJECTED)
    code: str  # a RowErrorCode value
    message: str  # zh-CN
    column: str = ""  # the sheet's header of that field, when there is one


class ImportPlan(msgspec.Struct, frozen=True, kw_only=True):
    orders: list[tuple[list[int], NewOrder]]
    errors: list[RowError]


class Preview(msgspec.Struct, frozen=True, kw_only=True):
    headers: list[str]
    mapping: dict[str, str]  # column → field
    rows: list[dict[str, str]]
    row_numbers: list[int]
    row_count: int
    missing_fields: list[str]  # required fields the mapping does not cover yet


# --------------------------------------------------------------------------------------------------------------
# Unified fields and header guesses
# --------------------------------------------------------------------------------------------------------------

_ADDRESS_PARTS: Final = ("receiver_province", "receiver_city", "receiver_district", "receiver_detail")

FIELDS: Final[dict[str, FieldSpec]] = {
    spec.name: spec
    for spec in (
        FieldSpec(name="external_id", label="订单号", required=True),
        FieldSpec(name="placed_at", label="下单时间", required=True, kind="time"),
        FieldSpec(name="paid_at", label="付款时间", kind="time"),
        FieldSpec(name="buyer_nick", label="买家昵称"),
        FieldSpec(name="buyer_phone", label="买家电话"),
        FieldSpec(name="receiver_name", label="收货人", required=True),
        FieldSpec(name="receiver_phone", label="收货电话", required=True),
        FieldSpec(name="receiver_province", label="省"),
        FieldSpec(name="receiver_city", label="市"),
        FieldSpec(name="receiver_district", label="区/县"),
        FieldSpec(name="receiver_detail", label="详细地址"),
        FieldSpec(name="receiver_address", label="完整地址"),
        FieldSpec(name="receiver_country", label="国家/地区"),
        FieldSpec(name="receiver_postcode", label="邮编"),
        FieldSpec(name="sku", label="商家编码", required=True, level="line"),
        FieldSpec(name="qty", label="数量", required=True, level="line", kind="qty"),
        FieldSpec(name="unit_price", label="单价", level="line", kind="money"),
        FieldSpec(name="line_amount", label="商品金额", level="line", kind="money"),
        FieldSpec(name="shipping_fee", label="运费", kind="money"),
        FieldSpec(name="discount", label="优惠", kind="money"),
        FieldSpec(name="paid_amount", label="实付金额", required=True, kind="money"),
        FieldSpec(name="buyer_memo", label="买家留言"),
        FieldSpec(name="seller_memo", label="卖家备注"),
    )
}
"""The unified fields a mapping may target, in display order. Besides the ``required`` ones, a mapping needs the
address: ``receiver_address``, or all of province, city, district and detail."""

_ORDER_FIELDS: Final = tuple(name for name, spec in FIELDS.items() if spec.level == "order" and name != "external_id")
# A later row of an order may repeat these, but must not contradict the first row.
_CONSISTENT_FIELDS: Final = (
    "receiver_name",
    "receiver_phone",
    "receiver_province",
    "receiver_city",
    "receiver_district",
    "receiver_detail",
    "receiver_address",
    "receiver_country",
    "receiver_postcode",
    "paid_amount",
)

# Header names per field, best guess first, compared after _norm_header (NFKC, lower case, no spaces, no
# punctuation, no bracketed units such as "(元)").
_SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    field: tuple(names.split())
    for field, names in {
        "external_id": "原始单号 线上订单号 平台订单号 平台单号 外部单号 外部订单号 网店订单号 订单号 订单编号 交易号 "
        "tid orderid orderno ordernumber externalid",
        "placed_at": "下单时间 创建时间 订单创建时间 交易创建时间 拍单时间 下单日期 订单时间 "
        "placedat created createdat ordertime orderdate",
        "paid_at": "付款时间 支付时间 付款日期 支付日期 paidat paytime paymenttime",
        "buyer_nick": "买家昵称 客户网名 买家网名 买家账号 买家id 买家 买家会员名 会员名 昵称 buyernick buyer",
        "buyer_phone": "买家手机 买家电话 买家手机号 buyerphone",
        "receiver_name": "收货人 收件人 收货人姓名 收件人姓名 收货姓名 联系人 姓名 "
        "receivername receiver consignee name",
        "receiver_phone": "收货人手机 收件人手机 收货人手机号 收件人手机号 收货手机 手机 手机号 手机号码 联系电话 "
        "收货电话 收货人电话 收件人电话 联系手机 电话 联系方式 receiverphone mobile phone tel",
        "receiver_province": "省 省份 收货省份 收件省 收货省 所在省 province state",
        "receiver_city": "市 城市 收货城市 收件市 收货市 所在市 city",
        "receiver_district": "区 区县 县区 收货区县 收件区 收货区 所在区 district county",
        "receiver_detail": "详细地址 收货详细地址 收件详细地址 街道地址 地址 detail street",
        "receiver_address": "收货地址 完整地址 收件地址 收件人地址 收货人地址 receiveraddress address fulladdress",
        "receiver_country": "国家 国家地区 收货国家 收件国家 目的国 国家代码 country countrycode destination",
        "receiver_postcode": "邮编 邮政编码 收货邮编 postcode postalcode zip zipcode",
        "sku": "商家编码 规格商家编码 sku编码 商家sku 货品编码 商品编码 规格编码 sku skucode 商品sku 外部编码",
        "qty": "数量 购买数量 货品数量 商品数量 件数 qty quantity",
        "unit_price": "单价 商品单价 销售单价 成交单价 价格 unitprice price",
        "line_amount": "商品金额 商品总价 货品金额 货品总价 小计 lineamount subtotal",
        "shipping_fee": "运费 邮费 快递费 买家运费 邮资 shippingfee shipping freight",
        "discount": "优惠 优惠金额 折扣 折扣金额 订单优惠 优惠合计 discount",
        "paid_amount": "实付金额 买家实付 实收金额 实付款 实付 已付金额 支付金额 付款金额 买家实付金额 "
        "paidamount paid 应收金额 应付金额",
        "buyer_memo": "买家留言 买家备注 客户备注 客户留言 留言 buyermemo buyermessage",
        "seller_memo": "卖家备注 客服备注 商家备注 订单备注 备注 sellermemo remark memo note",
    }.items()
}

_HEADER_NOISE = re.compile(r"\(.*?\)|\[.*?\]|【.*?】|[\s_\-/*:.·]")


def _norm_header(header: str) -> str:
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", header).lower())


def suggest_mapping(headers: Sequence[str]) -> dict[str, str]:
    """Guess column → field from common Chinese / English header names (旺店通, 聚水潭, hand-made sheets).
    Each field is given to at most one column (the best-ranked name wins); unknown columns are left out.
    ``地址`` / ``详细地址`` means the detail when the sheet also has a province column, else the full address."""
    normalised = [(header, _norm_header(header)) for header in headers]
    guess: dict[str, str] = {}
    for field in FIELDS:
        for name in (*_SYNONYMS.get(field, ()), _norm_header(FIELDS[field].label), field.replace("_", "")):
            column = next((h for h, n in normalised if n == name and h not in guess), None)
            if column is not None:
                guess[column] = field
                break
    targets = set(guess.values())
    if "receiver_detail" in targets and "receiver_province" not in targets and "receiver_address" not in targets:
        column = next(c for c, f in guess.items() if f == "receiver_detail")
        guess[column] = "receiver_address"
    return {header: guess[header] for header in headers if header in guess}


# --------------------------------------------------------------------------------------------------------------
# Mapping validation
# --------------------------------------------------------------------------------------------------------------


def _mapping_problems(mapping: Mapping[str, str], headers: Sequence[str]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    known_columns = set(headers)
    seen: dict[str, str] = {}
    for column, target in mapping.items():
        if not target:
            continue  # "" = the column is ignored
        if column not in known_columns:
            problems.append((f"mapping.{column}", f"映射的列「{column}」在文件中不存在"))
        elif target not in FIELDS:
            problems.append((f"mapping.{column}", f"「{target}」不是可导入的字段"))
        elif target in seen:
            label = FIELDS[target].label
            problems.append((f"mapping.{column}", f"字段「{label}」被映射了多次：列「{seen[target]}」和「{column}」"))
        else:
            seen[target] = column
    for field in missing_fields(mapping):
        if field == "receiver_address":
            problems.append(("mapping", "必须指定收货地址对应的列：完整地址一列，或省、市、区/县、详细地址四列"))
        else:
            problems.append(("mapping", f"必须指定「{FIELDS[field].label}」对应的列"))
    return problems


def missing_fields(mapping: Mapping[str, str]) -> list[str]:
    """Required fields no column is mapped to; ``receiver_address`` stands for the whole address rule."""
    targets = {target for target in mapping.values() if target}
    missing = [name for name, spec in FIELDS.items() if spec.required and name not in targets]
    # A sheet with a country column may carry addresses abroad: street lines (详细地址) and a city are enough there;
    # each row's address is checked against its country's rules when the order is processed.
    abroad = "receiver_country" in targets and "receiver_detail" in targets and "receiver_city" in targets
    if "receiver_address" not in targets and not abroad and not all(part in targets for part in _ADDRESS_PARTS):
        missing.append("receiver_address")
    return missing


def validate_mapping(mapping: Mapping[str, str], headers: Sequence[str]) -> None:
    """Every mapped column exists, every target is a field of :data:`FIELDS`, no field is mapped twice, the
    required fields and the address are covered. A column mapped to ``""`` is ignored. Raises
    :class:`~orderhub.errors.ValidationFailed` for the first problem (field ``mapping.<column>`` or ``mapping``),
    with every problem in ``extra["problems"]``."""
    problems = _mapping_problems(mapping, headers)
    if problems:
        field, message = problems[0]
        raise ValidationFailed(
            message, field=field, extra={"problems": [{"field": f, "message": m} for f, m in problems]}
        )


# --------------------------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------------------------


def _file_error(message: str, **extra: Any) -> ValidationFailed:
    return ValidationFailed(message, field="file", extra=extra or None)


def read_table(data: bytes, filename: str) -> Table:
    """Read the first visible sheet of an XLSX (or legacy XLS / ODS) file, or a CSV / TSV text file, as text.

    The format comes from the content (``PK\\x03\\x04`` → workbook), and a workbook extension on non-workbook
    content is refused. Text is UTF-8 (BOM or not), UTF-16 with a BOM, else GB18030; the delimiter (comma, tab,
    semicolon) is sniffed from the header. Raises :class:`~orderhub.errors.ValidationFailed` (field ``file``)
    when the file is unreadable, over :data:`MAX_BYTES`, over :data:`MAX_ROWS` data rows or :data:`MAX_COLUMNS`
    columns."""
    if len(data) > MAX_BYTES:
        raise _file_error(
            f"文件不能超过 {MAX_BYTES // (1024 * 1024)} MB（当前 {len(data) / (1024 * 1024):.1f} MB），"
            "请拆分后分批上传",
            max_bytes=MAX_BYTES,
        )
    return to_table(read_grid(data, filename))


def read_grid(data: bytes, filename: str, *, comment_prefix: str = "") -> Iterator[list[str]]:
    """The cells of a file, row by row, as cleaned text (the reading half of :func:`read_table`, shared with the
    settlement file import): the first visible sheet of a workbook, or a CSV / TSV text file (encoding and delimiter
    detected as :func:`read_table` says). Lines of a text file starting with ``comment_prefix`` (when given) are left
    out of the delimiter guess. Raises :class:`~orderhub.errors.ValidationFailed` (field ``file``) on an empty or
    unreadable file; the size limit is the caller's."""
    if not data.strip():
        raise _file_error("文件是空的")
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    if data.startswith((_ZIP_MAGIC, _OLE_MAGIC)):
        return _read_workbook(data)
    if extension in _WORKBOOK_EXTENSIONS:
        raise _file_error(f"文件扩展名是 .{extension}，但内容不是有效的 Excel 文件；请重新导出，或另存为 CSV")
    return _read_text(data, comment_prefix)


def to_table(
    grid: Iterable[list[str]],
    *,
    max_rows: int = MAX_ROWS,
    skip_row: Callable[[list[str]], bool] | None = None,
    is_header: Callable[[list[str]], bool] | None = None,
) -> Table:
    """Rows → :class:`Table`: the header is the first non-empty row (or, with ``is_header``, the first row it
    accepts: title rows above it are dropped); rows ``skip_row`` accepts (comments, summary lines) are left out.
    Row numbers stay those of the file. Raises :class:`~orderhub.errors.ValidationFailed` (field ``file``) over
    ``max_rows`` data rows or :data:`MAX_COLUMNS` columns, or when no header is found."""
    header: list[str] | None = None
    rows: list[list[str]] = []
    numbers: list[int] = []
    width = 0
    for number, cells in enumerate(grid, start=1):
        last = max((i for i, cell in enumerate(cells) if cell), default=-1)
        if last < 0:
            continue
        if skip_row is not None and skip_row(cells):
            continue
        if header is None and is_header is not None and not is_header(cells):
            continue
        if last >= MAX_COLUMNS:
            message = f"表格最多 {MAX_COLUMNS} 列（第 {number} 行超出），请删除多余的列"
            raise _file_error(message, max_columns=MAX_COLUMNS)
        width = max(width, last + 1)
        if header is None:
            header = cells[: last + 1]
            continue
        if len(rows) >= max_rows:
            raise _file_error(f"一次最多导入 {max_rows} 行数据，请拆分文件后分批上传", max_rows=max_rows)
        rows.append(cells[: last + 1])
        numbers.append(number)
    if header is None:
        raise _file_error("文件中没有内容")
    headers = _unique_headers(header, width)
    padded = [row + [""] * (width - len(row)) for row in rows]
    return Table(headers=headers, rows=padded, row_numbers=numbers)


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _unique_headers(header: list[str], width: int) -> list[str]:
    """Blank headers become ``列C``; a repeated header gets ``_2``, ``_3`` … (stable, so a saved mapping holds)."""
    names: list[str] = []
    used: set[str] = set()
    for i in range(width):
        name = " ".join(header[i].split()) if i < len(header) else ""
        base = name or f"列{_column_letter(i)}"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name)
        names.append(name)
    return names


_INVISIBLE: Final = "\ufeff\u200b\u200c\u200d\u2060"
_APOSTROPHE_NUMBER = re.compile(r"'(\+?\d[\d\- ]*)")


def _clean(value: str) -> str:
    """Strip whitespace and the tricks exports use to keep Excel off long numbers: ``="123"``, ``'123``."""
    text = value.strip().strip(_INVISIBLE).strip()
    if len(text) >= 3 and text.startswith('="') and text.endswith('"'):
        return text[2:-1].replace('""', '"').strip()
    match = _APOSTROPHE_NUMBER.fullmatch(text)
    return match.group(1) if match else text


# ---- text (CSV / TSV)


def _decode(data: bytes) -> str:
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's “Unicode 文本”
            text = data.decode("utf-16")
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise _file_error("无法识别文件编码：请另存为 UTF-8 或 GBK 编码的 CSV，或 xlsx 文件") from exc
    if "\x00" in text:
        raise _file_error("无法读取文件：不是 CSV 或 Excel 文件")
    return text


def _sniff_delimiter(text: str, comment_prefix: str = "") -> str:
    """The delimiter that splits the header into the most columns; ties go to the one the next rows agree with,
    then to comma, tab, semicolon in that order. Lines starting with ``comment_prefix`` (when given) are ignored."""
    sample = text[: 64 * 1024]
    if comment_prefix:
        sample = "".join(
            line for line in sample.splitlines(keepends=True) if not line.lstrip("\ufeff \t").startswith(comment_prefix)
        )
    best, best_score = _DELIMITERS[0], (0, 0)
    for delimiter in _DELIMITERS:
        widths: list[int] = []
        try:
            for row in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter):
                if any(cell.strip() for cell in row):
                    widths.append(len(row))
                    if len(widths) >= 20:
                        break
        except csv.Error:
            continue
        if not widths:
            continue
        score = (widths[0], sum(1 for w in widths[1:] if w == widths[0]))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _read_text(data: bytes, comment_prefix: str = "") -> Iterator[list[str]]:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text, comment_prefix))
    try:
        for row in reader:
            yield [_clean(cell) for cell in row]
    except csv.Error as exc:
        raise _file_error(f"CSV 文件格式有误（第 {reader.line_num} 行附近）：{exc}") from exc


# ---- workbooks (XLSX via python-calamine)


def _first_visible_sheet(book: Any) -> int:
    for index, meta in enumerate(getattr(book, "sheets_metadata", None) or ()):
        # PyO3 enums: no ``.name``; str() is "SheetVisibleEnum.Visible" / "SheetTypeEnum.WorkSheet".
        if str(meta.visible).endswith(".Visible") and str(meta.typ).endswith(".WorkSheet"):
            return index
    return 0


def _read_workbook(data: bytes) -> Iterator[list[str]]:
    # Older python-calamine releases lack some of these: sheets_metadata, CalamineSheet.end, close, PasswordError.
    import python_calamine

    if data.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise _file_error("无法读取 Excel 文件：文件已损坏，或不是 xlsx 格式") from exc
        if unpacked > _MAX_UNPACKED:
            raise _file_error("Excel 文件解压后过大，请删除多余的工作表、图片或格式后重新上传")
    password_error = getattr(python_calamine, "PasswordError", None)
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        try:
            sheet = book.get_sheet_by_index(_first_visible_sheet(book))
            end = getattr(sheet, "end", None)
            if end is not None and (end[0] + 1) * (end[1] + 1) > _MAX_CELLS:
                raise _file_error("工作表范围过大（行列过多），请只保留订单数据后重新上传")
            values = sheet.to_python(skip_empty_area=False)
        finally:
            close = getattr(book, "close", None)
            if close is not None:
                close()
    except ValidationFailed:
        raise
    except Exception as exc:  # CalamineError and friends, or plain errors on garbage
        if password_error is not None and isinstance(exc, password_error):
            raise _file_error("Excel 文件有密码保护，请取消密码后重新上传") from exc
        raise _file_error("无法读取 Excel 文件：文件已损坏，或格式不受支持（请使用 xlsx 或 CSV）") from exc
    for row in values:
        yield [_cell_text(value) for value in row]


def _number_text(value: float) -> str:
    """As Excel shows it: 15 significant digits, integers without ``.0``, never scientific notation."""
    if not math.isfinite(value):
        return ""
    number = Decimal(format(value, ".15g"))
    return "0" if number == 0 else format(number, "f")


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, datetime):
        if value.microsecond:  # Excel's day fractions: 09:59:59.999998 means 10:00:00
            value = (value + timedelta(microseconds=500_000)).replace(microsecond=0)
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        seconds = round(value.total_seconds())
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return _clean(str(value))


# --------------------------------------------------------------------------------------------------------------
# Cell values
# --------------------------------------------------------------------------------------------------------------


class _CellError(ValueError):
    def __init__(self, code: RowErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _shown(text: str) -> str:
    return text if len(text) <= 30 else text[:29] + "…"


def _masked(field: str, text: str) -> str:
    """A value as an error message may show it: a receiver's name, phone and street masked."""
    if field == "receiver_name":
        return mask_name(text)
    if field == "receiver_phone":
        return mask_phone(text)
    if field in ("receiver_detail", "receiver_address"):
        return _shown(mask_detail(text))
    return _shown(text)


_AMOUNT_RE = re.compile(
    r"(?P<sign>[+-]?)(?:¥|rmb|cny)?(?P<sign2>[+-]?)"
    r"(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)元?",
    re.IGNORECASE,
)


def parse_amount(text: str, label: str = "金额") -> int:
    """Yuan text → integer fen, exactly: ``"12.3"``, ``"12.30"``, ``"¥12.30"``, ``"￥1,234.50"``, ``"12.30元"``.
    Raises ``ValueError`` (zh-CN message) for a negative amount, more than two decimals (fen), or anything else."""
    compact = "".join(unicodedata.normalize("NFKC", text).split()).replace("\u2212", "-")
    match = _AMOUNT_RE.fullmatch(compact)
    if not match:
        raise _CellError(RowErrorCode.INVALID_AMOUNT, f"{label}「{_shown(text)}」不是有效金额（元），例如 12.30")
    value = Decimal(match["number"].replace(",", ""))
    if "-" in match["sign"] + match["sign2"] and value != 0:
        raise _CellError(RowErrorCode.INVALID_AMOUNT, f"{label}不能为负数：{_shown(text)}")
    fen = value * 100
    if fen != fen.to_integral_value():
        raise _CellError(RowErrorCode.INVALID_AMOUNT, f"{label}「{_shown(text)}」最多两位小数（精确到分）")
    if fen > _MAX_FEN:
        raise _CellError(RowErrorCode.INVALID_AMOUNT, f"{label}「{_shown(text)}」过大")
    return int(fen)


_QTY_RE = re.compile(r"\+?(\d+)(?:\.0*)?")


def parse_qty(text: str, label: str = "数量") -> int:
    """A positive whole number (``"3"``, ``"3.0"``); raises ``ValueError`` (zh-CN message) otherwise."""
    match = _QTY_RE.fullmatch("".join(unicodedata.normalize("NFKC", text).split()))
    if not match:
        raise _CellError(RowErrorCode.INVALID_QTY, f"{label}「{_shown(text)}」必须是正整数")
    qty = int(match.group(1))
    if qty <= 0:
        raise _CellError(RowErrorCode.INVALID_QTY, f"{label}必须大于 0")
    if qty > _MAX_QTY:
        raise _CellError(RowErrorCode.INVALID_QTY, f"{label}「{_shown(text)}」过大")
    return qty


_TIME_RE = re.compile(
    r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:(?:\s+|T)(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2})(?:\.(\d{1,6}))?秒?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)


def parse_time(text: str, tz: tzinfo = SHANGHAI, label: str = "时间") -> datetime:
    """``2026-11-22 10:00:00``, ``2026/11/22 10:00``, ``2026-11-22T10:00:00+08:00``, ``2026年11月22日 10:00``,
    ``2026-11-22`` → an aware datetime in UTC; without an offset the time is read in ``tz``. Raises
    ``ValueError`` (zh-CN message) otherwise."""
    match = _TIME_RE.fullmatch(unicodedata.normalize("NFKC", text).strip())
    error = _CellError(
        RowErrorCode.INVALID_TIME, f"{label}「{_shown(text)}」无法识别，应为 2026-11-22 10:00:00 这样的格式"
    )
    if not match:
        raise error
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError as exc:
        raise error from exc
    if not offset:
        zone: tzinfo = tz
    elif offset.upper() == "Z":
        zone = UTC
    else:
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        if delta >= timedelta(hours=24):
            raise error
        zone = timezone(-delta if offset[0] == "-" else delta)
    return value.replace(tzinfo=zone).astimezone(UTC)


_SCIENTIFIC_RE = re.compile(r"[+-]?\d+(?:\.\d+)?[eE][+-]?\d+")
_NUMERIC_TEXT_FIELDS: Final = frozenset({"external_id", "receiver_phone", "buyer_phone"})


# --------------------------------------------------------------------------------------------------------------
# Building orders
# --------------------------------------------------------------------------------------------------------------


class _Row:
    """One data row under a mapping, collecting its errors."""

    def __init__(self, cells: list[str], number: int, columns: Mapping[str, int], headers: Sequence[str]) -> None:
        self.cells = cells
        self.number = number
        self.columns = columns
        self.headers = headers
        self.external_id = ""
        self.errors: list[RowError] = []

    def get(self, field: str) -> str:
        index = self.columns.get(field)
        return "" if index is None else self.cells[index]

    def fail(self, field: str, code: RowErrorCode, message: str) -> None:
        index = self.columns.get(field)
        column = self.headers[index] if index is not None else ""
        self.errors.append(
            RowError(
                row=self.number,
                external_id=self.external_id,
                field=field,
                code=code.value,
                message=message,
                column=column,
            )
        )

    def text(self, field: str, *, required: bool = False) -> str:
        value = self.get(field)
        if not value and required:
            self.fail(field, RowErrorCode.REQUIRED, f"{FIELDS[field].label}不能为空")
        elif field in _NUMERIC_TEXT_FIELDS and _SCIENTIFIC_RE.fullmatch(value):
            self.fail(
                field,
                RowErrorCode.SCIENTIFIC_NOTATION,
                f"{FIELDS[field].label}「{value}」已被 Excel 显示为科学计数法，原值已丢失；"
                "请在源系统中把该列设为文本后重新导出",
            )
        return value

    def money(self, field: str, *, required: bool = False) -> int | None:
        """Fen; ``None`` when the cell is empty or wrong (the error is recorded)."""
        value = self.get(field)
        if not value:
            if required:
                self.fail(field, RowErrorCode.REQUIRED, f"{FIELDS[field].label}不能为空")
            return None
        try:
            return parse_amount(value, FIELDS[field].label)
        except _CellError as exc:
            self.fail(field, exc.code, exc.message)
            return None

    def qty(self) -> int | None:
        value = self.get("qty")
        if not value:
            self.fail("qty", RowErrorCode.REQUIRED, "数量不能为空")
            return None
        try:
            return parse_qty(value)
        except _CellError as exc:
            self.fail("qty", exc.code, exc.message)
            return None

    def when(self, field: str, tz: tzinfo, *, required: bool = False) -> datetime | None:
        value = self.get(field)
        if not value:
            if required:
                self.fail(field, RowErrorCode.REQUIRED, f"{FIELDS[field].label}不能为空")
            return None
        try:
            return parse_time(value, tz, FIELDS[field].label)
        except _CellError as exc:
            self.fail(field, exc.code, exc.message)
            return None

    def raw(self) -> dict[str, str]:
        return dict(zip(self.headers, self.cells, strict=False))


def _squash(text: str) -> str:
    return "".join(text.split())


def _line(row: _Row) -> NewOrderLine | None:
    sku = row.text("sku", required=True)
    qty = row.qty()
    unit_price = row.money("unit_price")
    line_amount = row.money("line_amount")
    if not sku or qty is None or row.errors:
        return None
    if unit_price is None:
        # Only the line total is known: the unit price, half-up at the fen.
        unit_price = 0 if line_amount is None else int((Decimal(line_amount) / qty).quantize(Decimal(1), ROUND_HALF_UP))
    return NewOrderLine(sku=sku, qty=qty, unit_price=unit_price)


def _check_field(field: str) -> tuple[str, int | None]:
    """``check_new_order``'s field name → (unified field, line index)."""
    match = re.fullmatch(r"lines\[(\d+)\]\.(\w+)", field)
    if match:
        return match.group(2), int(match.group(1))
    if field == "created_at":
        return "placed_at", None
    return field.replace("receiver.", "receiver_"), None


def _build_order(rows: list[_Row], tz: tzinfo) -> NewOrder | None:
    """The order of one group of rows; ``None`` when any row has an error (recorded on the rows)."""
    first = rows[0]
    external_id = first.text("external_id", required=True)
    placed_at = first.when("placed_at", tz, required=True)
    paid_at = first.when("paid_at", tz)
    country = country_code(first.text("receiver_country"))
    if country is None:
        given = first.text("receiver_country")
        first.fail("receiver_country", RowErrorCode.INVALID_COUNTRY, f"无法识别的国家/地区「{given}」（如 TH、泰国）")
        country = DOMESTIC
    receiver = make_receiver(
        name=first.text("receiver_name", required=True),
        phone=first.text("receiver_phone", required=True),
        country=country,
        province=first.text("receiver_province"),
        city=first.text("receiver_city"),
        district=first.text("receiver_district"),
        detail=first.text("receiver_detail"),
        address=first.text("receiver_address"),
        postcode=first.text("receiver_postcode"),
    )
    buyer_nick = first.text("buyer_nick")
    buyer_phone = first.text("buyer_phone")
    paid_amount = first.money("paid_amount", required=True)
    shipping_fee = first.money("shipping_fee") or 0
    discount = first.money("discount") or 0
    lines = [_line(row) for row in rows]
    for row in rows[1:]:
        for field in _CONSISTENT_FIELDS:
            value = row.get(field)
            if not value:
                continue  # a blank repeat (merged cells, exports that fill only the first row) agrees
            label = FIELDS[field].label
            if field == "paid_amount":
                later = row.money(field)
                if later is not None and paid_amount is not None and later != paid_amount:
                    row.fail(
                        field,
                        RowErrorCode.CONFLICT,
                        f"同一订单的{label}不一致：第 {first.number} 行为「{first.get(field)}」，本行为「{value}」",
                    )
            elif _squash(value) != _squash(first.get(field)):
                # the import's errors are kept with the job: a receiver's values shown masked, never in clear
                before, now = (_masked(field, v) for v in (first.get(field), value))
                row.fail(
                    field,
                    RowErrorCode.CONFLICT,
                    f"同一订单的{label}不一致：第 {first.number} 行为「{before}」，本行为「{now}」",
                )
    if any(row.errors for row in rows) or placed_at is None or paid_amount is None:
        return None
    order = NewOrder(
        external_id=external_id,
        placed_at=placed_at,
        paid_at=paid_at,
        buyer_nick=buyer_nick,
        buyer_phone=buyer_phone,
        receiver=receiver,
        lines=tuple(line for line in lines if line is not None),
        shipping_fee=shipping_fee,
        discount=discount,
        paid_amount=paid_amount,
        buyer_memo=first.text("buyer_memo"),
        seller_memo=first.text("seller_memo"),
        raw={"rows": [row.raw() for row in rows], "row_numbers": [row.number for row in rows]},
    )
    try:
        check_new_order(order)
    except ValidationFailed as exc:
        field, line = _check_field(exc.field or "")
        target = rows[line] if line is not None and line < len(rows) else first
        target.fail(field if field in FIELDS else (exc.field or ""), RowErrorCode.INVALID_ORDER, exc.message)
        return None
    return order


def build_orders(table: Table, mapping: Mapping[str, str], *, tz: tzinfo = SHANGHAI) -> ImportPlan:
    """Rows → orders under ``mapping`` (column → field; validated first, a bad mapping raises
    :class:`~orderhub.errors.ValidationFailed`).

    Rows sharing an order number are one order, one line per row, in sheet order; order-level fields come from
    the order's first row, and a later row may leave them blank but must not contradict the receiver or the paid
    amount. A row with a blank order number and blank order-level fields continues the order of the row above
    (merged cells). Each order is checked with :func:`~orderhub.orders.service.check_new_order`. An order with any
    bad row is left out as a whole: its bad rows carry their errors, its other rows ``order_rejected``. Errors come
    sorted by row."""
    validate_mapping(mapping, table.headers)
    columns = {field: table.headers.index(column) for column, field in mapping.items() if field}
    groups: dict[str, list[_Row]] = {}
    errors: list[RowError] = []
    last_key: str | None = None
    for cells, number in zip(table.rows, table.row_numbers, strict=True):
        row = _Row(cells, number, columns, table.headers)
        key = row.get("external_id")
        if not key:
            if last_key is not None and not any(row.get(field) for field in _ORDER_FIELDS):
                key = last_key
            else:
                row.text("external_id", required=True)
                errors.extend(row.errors)
                last_key = None
                continue
        row.external_id = key
        groups.setdefault(key, []).append(row)
        last_key = key
    orders: list[tuple[list[int], NewOrder]] = []
    for rows in groups.values():
        order = _build_order(rows, tz)
        numbers = [row.number for row in rows]
        if order is not None:
            orders.append((numbers, order))
            continue
        bad = [row.number for row in rows if row.errors]
        for row in rows:
            if row.errors:
                errors.extend(row.errors)
            else:
                others = "、".join(str(n) for n in bad)
                row.fail("", RowErrorCode.ORDER_REJECTED, f"同一订单的第 {others} 行有错误，整单未导入")
                errors.extend(row.errors)
    errors.sort(key=lambda error: error.row)
    return ImportPlan(orders=orders, errors=errors)


# --------------------------------------------------------------------------------------------------------------
# Preview
# --------------------------------------------------------------------------------------------------------------


def preview(table: Table, mapping: Mapping[str, str] | None = None, limit: int = 20) -> Preview:
    """The headers, the given mapping (or :func:`suggest_mapping`'s guess), the first ``limit`` rows as
    ``{header: value}`` and the number of data rows. The mapping is not validated here."""
    chosen = dict(mapping) if mapping is not None else suggest_mapping(table.headers)
    shown = table.rows[: max(0, limit)]
    return Preview(
        headers=list(table.headers),
        mapping=chosen,
        rows=[dict(zip(table.headers, cells, strict=False)) for cells in shown],
        row_numbers=table.row_numbers[: len(shown)],
        row_count=len(table.rows),
        missing_fields=missing_fields(chosen),
    )
