"""Settlement file import, the pure part: a platform's exported bill (CSV, XLSX, or a ZIP holding one) and a
:class:`SettlementMapping` → :class:`~orderhub.finance.port.SettlementLineIn` lines, or the file's problems.

Reading reuses the order import's reader (:func:`orderhub.channels.erp_file.parser.read_grid`: UTF-8 with or without
a BOM, UTF-16 with a BOM, else GB18030 — which reads GBK —; the delimiter sniffed; XLSX through calamine). On top:

- a ZIP that is not a workbook is an archive of bill files (Alipay's bill download is a zip of GBK CSVs: the detail
  file ``…_账务明细.csv`` and a summary ``…_账务汇总.csv``): its one data file is read, summaries (``汇总``) left out;
- lines starting with ``#`` (Alipay's header block and footer: ``#支付宝账务明细查询``, ``#-----账务明细列表结束-----``,
  ``#支出合计：…``) and rows whose first cell is a summary label (``合计``, ``总计``) are skipped; title rows above the
  header are dropped (the header is the first row holding the mapping's order id / line key column).

A mapping says which column is which field. Many exports have one row per order with several amount columns (货款,
佣金, 技术服务费, 优惠券 …): each non-zero amount column becomes its own line, of the column's fixed kind, with a line
key derived from the row's key and the column (stable across re-exports, so a re-import replaces instead of adding).
Others have one row per money movement with a type column: its value (or a keyword in it, or in the memo) gives the
kind through the mapping's table.

A file imports whole or not at all: :func:`parse_settlement_file` returns every line, or raises
:class:`~orderhub.errors.ValidationFailed` listing up to :data:`MAX_ERRORS` problems, each with its row number, column
and a zh-CN message. Money goes from text to integer fen through ``Decimal``; times without an offset are read in the
mapping's time zone (Asia/Shanghai) and leave aware, in UTC; the bill day is the platform's calendar day.

No database and no network.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from orderhub.channels.erp_file.errors import SettlementFileError
from orderhub.channels.erp_file.parser import Table, parse_time, read_grid, to_table
from orderhub.errors import ValidationFailed
from orderhub.finance.port import LineKind, SettlementLineIn

__all__ = [
    "MAX_BYTES",
    "MAX_ERRORS",
    "MAX_ROWS",
    "PRESETS",
    "AmountColumn",
    "KindRule",
    "LineError",
    "ParsedFile",
    "Preset",
    "SettlementMapping",
    "batch_key",
    "check_mapping",
    "decode_mapping",
    "map_table",
    "parse_settlement_file",
    "read_settlement_table",
]

MAX_BYTES: Final = 20 * 1024 * 1024  # the app's request body limit (a ZIP holds ~10× that in CSV)
MAX_ROWS: Final = 200_000
MAX_ERRORS: Final = 50  # problems listed per refused file (the count says how many there were)
_MAX_UNPACKED: Final = 500 * 1024 * 1024  # a bill archive's uncompressed size (zip-bomb guard)
_MAX_KEY: Final = 128  # settlement_line.line_key
_MAX_ID: Final = 64  # settlement_line.external_id / sub_id
_MAX_MEMO: Final = 255
_ZIP_MAGIC: Final = b"PK\x03\x04"
_MAX_FEN: Final = 1_000_000_000  # 1,000 万元, the store's limit per line: more is a misread column


# --------------------------------------------------------------------------------------------------------------
# The mapping
# --------------------------------------------------------------------------------------------------------------

Sign = Literal["signed", "credit", "debit"]


class AmountColumn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One amount column. ``sign``: ``signed`` = as written (− from the seller), ``credit`` = money to the seller
    whatever the sign shown, ``debit`` = money from the seller (fees shown as positive numbers). ``kind``: the
    column's fixed kind (a per-order export's 佣金 column); ``None`` = the row's kind (the mapping's kind columns).
    ``key``: what tells this column's line from the row's others in the derived line key ("" = the column name)."""

    column: str
    kind: LineKind | None = None
    sign: Sign = "signed"
    key: str = ""
    refund_before_settle: bool = False  # its lines are refunds the platform took before settling the order


class KindRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A row's kind from its text: the first rule that matches wins. ``column`` "" = any of the kind columns;
    ``equals`` / ``contains`` test the cell (after trimming); ``sign`` limits the rule to money to (``credit``) or
    from (``debit``) the seller — a negative 货款 is a refund."""

    kind: LineKind
    column: str = ""
    equals: str = ""
    contains: str = ""
    sign: Literal["", "credit", "debit"] = ""


class SettlementMapping(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which column of a settlement export is which :class:`~orderhub.finance.port.SettlementLineIn` field.

    A column may be given as alternatives ``"账单日期|对账日期"`` (the first the file has is used), so one mapping
    reads a platform's older and newer layouts."""

    amounts: list[AmountColumn]
    settled_at: str  # the settlement (booking) time column
    order_id: list[str] = []  # columns holding the platform order id: the first non-empty one (after the patterns)
    # regexes with one group, tried in order on each order id column: Taobao's Alipay rows carry the order as
    # 商户订单号 "T200P<tid>" or in the memo "天猫佣金（类目）{<tid>}扣款"
    order_id_patterns: list[str] = []
    sub_id: str = ""
    line_key: list[str] = []  # the platform's own line id column(s); [] = derived from order, sub-order and kind
    line_key_unique: bool = False  # the key columns name one row: a repeat is an error (else repeats get #2, #3 …)
    unit: Literal["yuan", "fen"] = "yuan"
    direction_column: str = ""  # 收支方向: its value sets the sign (debit_values → −, credit_values → +)
    debit_values: list[str] = msgspec.field(default_factory=lambda: ["支出", "出账", "出", "扣款"])
    credit_values: list[str] = msgspec.field(default_factory=lambda: ["收入", "入账", "入"])
    kind_columns: list[str] = []  # the columns the kind is read from (type first, memo after)
    kinds: dict[str, LineKind] = {}  # the first kind column's exact value → kind
    kind_rules: list[KindRule] = []  # then these, in order
    default_kind: LineKind | None = None  # then this; None = an unknown type is an error
    bill_date: str = ""  # "" = the settled time's day in the time zone
    occurred_at: str = ""
    refund_before_settle: str = ""  # a column saying yes/no (抖店 有结算前退款)
    memo: list[str] = []  # joined with " / "
    timezone: str = "Asia/Shanghai"
    skip_zero: bool = True  # a zero amount is no line
    comment_prefix: str = "#"  # lines starting with it are comments ("" = none)
    # rows whose first cell starts with one are totals
    summary_labels: list[str] = msgspec.field(default_factory=lambda: ["合计", "总计", "汇总", "小计"])
    zip_member: str = ""  # in a ZIP: the member whose name contains this ("" = the one data file)


class Preset(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    label: str  # zh-CN
    platform: str  # catalogue code(s) it fits, comma-separated
    source: str  # where the layout comes from
    mapping: SettlementMapping


class LineErrorCode(StrEnum):
    """Why one row (or the mapping against the file's headers) does not map; ``LineError.code`` holds the value."""

    REQUIRED = "required"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_TIME = "invalid_time"
    SCIENTIFIC_NOTATION = "scientific_notation"
    UNKNOWN_KIND = "unknown_kind"
    MISSING_COLUMN = "missing_column"
    DUPLICATE_KEY = "duplicate_key"
    UNKNOWN_DIRECTION = "unknown_direction"
    TOO_LONG = "too_long"


class LineError(msgspec.Struct, frozen=True, kw_only=True):
    row: int  # the file's row (1-based; 0 = the file or the mapping)
    column: str  # the file's header ("" when none)
    field: str  # the mapping's field: amounts, settled_at, order_id, kind …
    code: str  # a LineErrorCode value
    message: str  # zh-CN


class ParsedFile(msgspec.Struct, frozen=True, kw_only=True):
    lines: list[SettlementLineIn]
    line_rows: list[int]  # the file row of each line
    rows: int  # data rows read
    skipped_rows: int  # data rows with no money (every amount zero or empty)
    headers: list[str]
    total: int  # fen: the sum of the lines


# --------------------------------------------------------------------------------------------------------------
# Mapping checks
# --------------------------------------------------------------------------------------------------------------


def decode_mapping(value: Any) -> SettlementMapping:
    """A mapping from JSON (bytes / str) or plain data; a wrong shape raises ``ValidationFailed`` (field
    ``mapping``)."""
    try:
        if isinstance(value, bytes | str):
            mapping = msgspec.json.decode(value, type=SettlementMapping)
        else:
            mapping = msgspec.convert(value, SettlementMapping)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValidationFailed(f"映射格式有误：{exc}", field="mapping") from exc
    check_mapping(mapping)
    return mapping


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"时区「{name}」无效，例如 Asia/Shanghai", field="mapping.timezone") from exc


def check_mapping(mapping: SettlementMapping) -> None:
    """The mapping alone (not against a file): amount columns given, patterns compile, the time zone exists, a kind
    for every amount column (fixed, or a kind column / default). Raises ``ValidationFailed`` (field ``mapping.…``)."""
    if not mapping.amounts:
        raise ValidationFailed("至少指定一个金额列", field="mapping.amounts")
    if not mapping.settled_at.strip():
        raise ValidationFailed("必须指定结算时间列", field="mapping.settled_at")
    for index, pattern in enumerate(mapping.order_id_patterns):
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValidationFailed(
                f"订单号规则「{pattern}」不是有效的正则表达式：{exc}", field=f"mapping.order_id_patterns[{index}]"
            ) from exc
        if compiled.groups != 1:
            raise ValidationFailed(
                f"订单号规则「{pattern}」必须恰好有一个括号分组（订单号本身）",
                field=f"mapping.order_id_patterns[{index}]",
            )
    _zone(mapping.timezone)
    row_kinds = bool(mapping.kind_columns) or mapping.default_kind is not None
    for index, amount in enumerate(mapping.amounts):
        if not amount.column.strip():
            raise ValidationFailed("金额列名不能为空", field=f"mapping.amounts[{index}].column")
        if amount.kind is None and not row_kinds:
            raise ValidationFailed(
                f"金额列「{amount.column}」没有固定类型：请为它指定类型，或指定类型列（kind_columns）",
                field=f"mapping.amounts[{index}].kind",
            )
    keys = [amount.key or amount.column for amount in mapping.amounts]
    if len(set(keys)) != len(keys):
        raise ValidationFailed("金额列重复：每个金额列只能出现一次", field="mapping.amounts")


def _norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def _find(spec: str, headers: Sequence[str]) -> int | None:
    """The index of the first alternative of ``spec`` (``"A|B"``) the headers have; compared without spaces and
    with full-width forms folded (``收入金额（+元）`` = ``收入金额(+元)``)."""
    normalised = [_norm(header) for header in headers]
    for alternative in spec.split("|"):
        wanted = _norm(alternative)
        if wanted and wanted in normalised:
            return normalised.index(wanted)
    return None


def _anchor_columns(mapping: SettlementMapping) -> list[str]:
    """Columns a header row must have (to find it below title rows): the line key, else the settled time."""
    return list(mapping.line_key) or [mapping.settled_at]


# --------------------------------------------------------------------------------------------------------------
# Reading the file
# --------------------------------------------------------------------------------------------------------------


def _file_error(message: str, **extra: Any) -> ValidationFailed:
    return ValidationFailed(message, field="file", extra=extra or None)


def _member_name(info: zipfile.ZipInfo) -> str:
    """A member's name: ZIPs made on Chinese Windows (Alipay's) store GBK names without the UTF-8 flag, which
    ``zipfile`` decodes as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _unzip(data: bytes, wanted: str) -> tuple[bytes, str] | None:
    """(member bytes, member name) of a bill archive, or ``None`` when the ZIP is a workbook (XLSX / ODS)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
            names = {info.filename for info in infos}
            if "[Content_Types].xml" in names or "mimetype" in names or any(n.startswith("xl/") for n in names):
                return None
            if sum(info.file_size for info in infos) > _MAX_UNPACKED:
                raise _file_error("压缩包解压后过大，请只上传账单明细文件")
            named = [(info, _member_name(info)) for info in infos]
            named = [(info, name) for info, name in named if not name.rsplit("/", 1)[-1].startswith((".", "__MACOSX"))]
            named = [(i, n) for i, n in named if "__MACOSX" not in n]
            if wanted:
                candidates = [(i, n) for i, n in named if wanted in n]
            else:
                candidates = [(i, n) for i, n in named if "汇总" not in n] or named
            if len(candidates) != 1:
                listed = "、".join(n for _, n in named) or "（空）"
                if not candidates:
                    raise _file_error(f"压缩包中没有可导入的账单文件（包含：{listed}）")
                raise _file_error(f"压缩包中有多个账单文件（{listed}），请解压后逐个上传")
            info, name = candidates[0]
            return archive.read(info), name
    except ValidationFailed:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError) as exc:  # RuntimeError: encrypted member
        raise _file_error("无法读取压缩包：文件已损坏或有密码保护") from exc


def read_settlement_table(data: bytes, filename: str, mapping: SettlementMapping) -> Table:
    """The export as a :class:`~orderhub.channels.erp_file.parser.Table`: the ZIP opened, comments and summary rows
    left out, the header found under any title rows."""
    if len(data) > MAX_BYTES:
        raise _file_error(
            f"文件不能超过 {MAX_BYTES // (1024 * 1024)} MB（当前 {len(data) / (1024 * 1024):.1f} MB），"
            "请按日期拆分后上传",
            max_bytes=MAX_BYTES,
        )
    if data.startswith(_ZIP_MAGIC):
        unpacked = _unzip(data, mapping.zip_member)
        if unpacked is not None:
            data, filename = unpacked
            if not data.strip():
                raise _file_error(f"压缩包中的「{filename}」是空的")
    prefix = mapping.comment_prefix
    labels = tuple(label for label in mapping.summary_labels if label)
    anchors = _anchor_columns(mapping)

    def skip_row(cells: list[str]) -> bool:
        first = next((cell for cell in cells if cell), "")
        return bool(prefix and first.startswith(prefix)) or bool(labels and _norm(first).startswith(labels))

    def is_header(cells: list[str]) -> bool:
        return all(_find(anchor, cells) is not None for anchor in anchors)

    table = to_table(
        read_grid(data, filename, comment_prefix=prefix), max_rows=MAX_ROWS, skip_row=skip_row, is_header=is_header
    )
    return table


# --------------------------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------------------------

_AMOUNT_RE = re.compile(
    r"(?P<open>\()?(?P<sign>[+-]?)(?:¥|rmb|cny)?(?P<sign2>[+-]?)"
    r"(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)(?:元|分)?(?P<close>\))?",
    re.IGNORECASE,
)
_SCIENTIFIC_RE = re.compile(r"[+-]?\d+(?:\.\d+)?[eE][+-]?\d+")
_TRUE: Final = frozenset({"是", "有", "y", "yes", "true", "1", "√"})


class _CellError(ValueError):
    def __init__(self, code: LineErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _shown(text: str) -> str:
    return text if len(text) <= 30 else text[:29] + "…"


def _amount(text: str, unit: str, label: str) -> int:
    """Signed fen from ``12.30`` / ``-12.30`` / ``¥1,234.50`` / ``(12.30)`` (yuan) or ``1230`` (fen)."""
    compact = "".join(unicodedata.normalize("NFKC", text).split()).replace("\u2212", "-")
    match = _AMOUNT_RE.fullmatch(compact)
    if not match or bool(match["open"]) != bool(match["close"]):
        raise _CellError(LineErrorCode.INVALID_AMOUNT, f"{label}「{_shown(text)}」不是有效金额")
    try:
        value = Decimal(match["number"].replace(",", ""))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits decimals only
        raise _CellError(LineErrorCode.INVALID_AMOUNT, f"{label}「{_shown(text)}」不是有效金额") from exc
    negative = "-" in match["sign"] + match["sign2"] or bool(match["open"])
    fen = value if unit == "fen" else value * 100
    if fen != fen.to_integral_value():
        what = "必须是整数（单位：分）" if unit == "fen" else "最多两位小数（精确到分）"
        raise _CellError(LineErrorCode.INVALID_AMOUNT, f"{label}「{_shown(text)}」{what}")
    if fen > _MAX_FEN:
        raise _CellError(LineErrorCode.INVALID_AMOUNT, f"{label}「{_shown(text)}」过大")
    return -int(fen) if negative else int(fen)


# --------------------------------------------------------------------------------------------------------------
# Mapping rows to lines
# --------------------------------------------------------------------------------------------------------------


class _Columns:
    """The mapping's columns resolved against one file's headers."""

    def __init__(self, mapping: SettlementMapping, headers: Sequence[str]) -> None:
        self.headers = list(headers)
        problems: list[LineError] = []

        def need(spec: str, field: str) -> int:
            index = _find(spec, headers)
            if index is None:
                problems.append(
                    LineError(
                        row=0,
                        column=spec,
                        field=field,
                        code=LineErrorCode.MISSING_COLUMN,
                        message=f"文件中没有「{spec.replace('|', '」或「')}」列"
                        f"（映射的{_FIELD_NAMES.get(field, field)}）",
                    )
                )
                return -1
            return index

        def maybe(spec: str, field: str) -> int | None:
            return need(spec, field) if spec else None

        self.amounts = [(amount, need(amount.column, "amounts")) for amount in mapping.amounts]
        self.settled_at = need(mapping.settled_at, "settled_at")
        self.order_id = [need(spec, "order_id") for spec in mapping.order_id]
        self.sub_id = maybe(mapping.sub_id, "sub_id")
        self.line_key = [need(spec, "line_key") for spec in mapping.line_key]
        self.direction = maybe(mapping.direction_column, "direction_column")
        self.kind_columns = [need(spec, "kind_columns") for spec in mapping.kind_columns]
        self.rule_columns = [
            (rule, need(rule.column, "kind_rules") if rule.column else None) for rule in mapping.kind_rules
        ]
        self.bill_date = maybe(mapping.bill_date, "bill_date")
        self.occurred_at = maybe(mapping.occurred_at, "occurred_at")
        self.refund_before_settle = maybe(mapping.refund_before_settle, "refund_before_settle")
        # a memo column the file lacks is left out (memos are for people, not for matching)
        self.memo = [index for index in (_find(spec, headers) for spec in mapping.memo) if index is not None]
        self.problems = problems

    def name(self, index: int | None) -> str:
        return self.headers[index] if index is not None and 0 <= index < len(self.headers) else ""


_FIELD_NAMES: Final = {
    "amounts": "金额列",
    "settled_at": "结算时间",
    "order_id": "订单号",
    "sub_id": "子订单号",
    "line_key": "流水号",
    "direction_column": "收支方向",
    "kind_columns": "类型列",
    "kind_rules": "类型规则",
    "bill_date": "账单日期",
    "occurred_at": "发生时间",
    "refund_before_settle": "结算前退款",
}


class _Row:
    def __init__(self, cells: list[str], number: int, columns: _Columns) -> None:
        self.cells = cells
        self.number = number
        self.columns = columns
        self.errors: list[LineError] = []

    def get(self, index: int | None) -> str:
        return self.cells[index] if index is not None and 0 <= index < len(self.cells) else ""

    def fail(self, index: int | None, field: str, code: LineErrorCode, message: str) -> None:
        self.errors.append(
            LineError(row=self.number, column=self.columns.name(index), field=field, code=code, message=message)
        )

    def ident(self, index: int | None, field: str) -> str:
        value = self.get(index)
        if _SCIENTIFIC_RE.fullmatch(value):
            self.fail(
                index,
                field,
                LineErrorCode.SCIENTIFIC_NOTATION,
                f"{_FIELD_NAMES[field]}「{value}」已被 Excel 显示为科学计数法，原值已丢失；请把该列设为文本后重新导出",
            )
            return ""
        return value

    def when(self, index: int | None, field: str, tz: tzinfo, *, required: bool) -> datetime | None:
        value = self.get(index)
        if not value:
            if required:
                self.fail(index, field, LineErrorCode.REQUIRED, f"{_FIELD_NAMES[field]}不能为空")
            return None
        try:
            return parse_time(value, tz, _FIELD_NAMES[field])
        except ValueError as exc:
            self.fail(index, field, LineErrorCode.INVALID_TIME, getattr(exc, "message", str(exc)))
            return None

    def raw(self) -> dict[str, str]:
        return {header: cell for header, cell in zip(self.columns.headers, self.cells, strict=False) if cell}


def _order_id(row: _Row, mapping: SettlementMapping, patterns: list[re.Pattern[str]]) -> str:
    for index in row.columns.order_id:
        value = row.ident(index, "order_id")
        if not value:
            continue
        if not patterns:
            return value
        for pattern in patterns:
            match = pattern.search(value)
            if match and match.group(1):
                return match.group(1)
    return ""


def _kind(row: _Row, mapping: SettlementMapping, amount: int) -> LineKind | None:
    columns = row.columns
    texts = [row.get(index) for index in columns.kind_columns]
    if texts and texts[0] in mapping.kinds:
        return mapping.kinds[texts[0]]
    sign = "credit" if amount > 0 else "debit"
    for rule, index in columns.rule_columns:
        if rule.sign and rule.sign != sign:
            continue
        cells = [row.get(index)] if index is not None else texts
        for cell in cells:
            if (rule.equals and cell == rule.equals) or (rule.contains and rule.contains in cell):
                return rule.kind
            if not rule.equals and not rule.contains:
                return rule.kind
    if mapping.default_kind is not None:
        return mapping.default_kind
    shown = " / ".join(text for text in texts if text) or "（空）"
    index = columns.kind_columns[0] if columns.kind_columns else None
    row.fail(
        index,
        "kind",
        LineErrorCode.UNKNOWN_KIND,
        f"无法识别的类型「{_shown(shown)}」：请在映射的类型表中为它指定类型（如 sale、commission、refund）",
    )
    return None


def _fit_key(key: str) -> str:
    """Line keys longer than the column are hashed (stable: the same text gives the same key)."""
    if len(key) <= _MAX_KEY:
        return key
    return "h:" + hashlib.sha256(key.encode()).hexdigest()


def map_table(table: Table, mapping: SettlementMapping, *, max_errors: int = MAX_ERRORS) -> ParsedFile:
    """The table's rows → lines under ``mapping``; any problem raises ``ValidationFailed`` (field ``file``, or
    ``mapping`` when a mapped column is missing) with up to ``max_errors`` problems in ``extra["errors"]`` and their
    number in ``extra["error_count"]`` — nothing of a file with a problem is returned."""
    check_mapping(mapping)
    columns = _Columns(mapping, table.headers)
    if columns.problems:
        _refuse(columns.problems, max_errors, field="mapping")
    tz = _zone(mapping.timezone)
    patterns = [re.compile(pattern) for pattern in mapping.order_id_patterns]
    debit = {_norm(v) for v in mapping.debit_values}
    credit = {_norm(v) for v in mapping.credit_values}
    several = len(mapping.amounts) > 1
    errors: list[LineError] = []
    error_count = 0
    lines: list[SettlementLineIn] = []
    line_rows: list[int] = []
    seen: dict[str, int] = {}  # line key → first row
    seen_rows: dict[str, int] = {}  # the platform's row id → its row (line_key_unique)
    occurrences: dict[str, int] = {}
    skipped = 0
    for cells, number in zip(table.rows, table.row_numbers, strict=True):
        row = _Row(cells, number, columns)
        # the amounts first: a row with no money is no line (and its other cells need not be valid)
        amounts: list[tuple[AmountColumn, int, int]] = []
        direction = ""
        if columns.direction is not None:
            direction = _norm(row.get(columns.direction))
        for amount_column, index in columns.amounts:
            text = row.get(index)
            if not text:
                continue
            try:
                fen = _amount(text, mapping.unit, row.columns.name(index) or "金额")
            except _CellError as exc:
                row.fail(index, "amounts", exc.code, exc.message)
                continue
            if amount_column.sign == "credit":
                fen = abs(fen)
            elif amount_column.sign == "debit":
                fen = -abs(fen)
            if columns.direction is not None and fen:
                if direction in debit:
                    fen = -abs(fen)
                elif direction in credit:
                    fen = abs(fen)
                else:
                    row.fail(
                        columns.direction,
                        "direction_column",
                        LineErrorCode.UNKNOWN_DIRECTION,
                        f"收支方向「{_shown(row.get(columns.direction))}」无法识别，应为"
                        f"「{'」「'.join(mapping.credit_values[:2])}」或「{'」「'.join(mapping.debit_values[:2])}」",
                    )
                    break
            if fen == 0 and mapping.skip_zero:
                continue
            amounts.append((amount_column, index, fen))
        if not amounts and not row.errors:
            skipped += 1
            continue
        settled_at = row.when(columns.settled_at, "settled_at", tz, required=True)
        occurred_at = row.when(columns.occurred_at, "occurred_at", tz, required=False)
        bill_day: date | None = None
        if columns.bill_date is not None:
            bill_at = row.when(columns.bill_date, "bill_date", tz, required=True)
            bill_day = bill_at.astimezone(tz).date() if bill_at is not None else None
        elif settled_at is not None:
            bill_day = settled_at.astimezone(tz).date()
        external_id = _order_id(row, mapping, patterns)
        sub_id = row.ident(columns.sub_id, "sub_id") if columns.sub_id is not None else ""
        id_checks: list[tuple[str, str, int | None]] = [
            (external_id, "order_id", columns.order_id[0] if columns.order_id else None),
            (sub_id, "sub_id", columns.sub_id),
        ]
        for value, field, where in id_checks:
            if len(value) > _MAX_ID:
                row.fail(
                    where,
                    field,
                    LineErrorCode.TOO_LONG,
                    f"{_FIELD_NAMES[field]}「{_shown(value)}」过长（最多 {_MAX_ID} 个字符）",
                )
        key_parts = [row.ident(index, "line_key") for index in columns.line_key]
        if columns.line_key and not any(key_parts):
            row.fail(columns.line_key[0], "line_key", LineErrorCode.REQUIRED, "流水号不能为空")
        before_settle = bool(
            columns.refund_before_settle is not None and _norm(row.get(columns.refund_before_settle)).lower() in _TRUE
        )
        memo = " / ".join(row.get(index) for index in columns.memo if row.get(index))[:_MAX_MEMO]
        pending: list[tuple[str, SettlementLineIn]] = []
        for amount_column, _index, fen in amounts:
            kind = amount_column.kind or _kind(row, mapping, fen)
            if kind is None or settled_at is None or bill_day is None:
                continue
            if columns.line_key:
                base = "|".join(key_parts)
            else:
                # no row id: the row is who, what and when — with the time, a later file's second refund of the
                # same order is a line of its own instead of replacing the first
                kind_text = "|".join(row.get(index) for index in columns.kind_columns[:1])
                when = settled_at.isoformat() if settled_at is not None else ""
                base = "|".join(part for part in (external_id, sub_id, kind_text, when) if part) or f"row{number}"
            key = f"{base}:{amount_column.key or amount_column.column}" if several else base
            pending.append(
                (
                    key,
                    SettlementLineIn(
                        line_key=key,
                        external_id=external_id,
                        sub_id=sub_id,
                        kind=kind,
                        amount=fen,
                        settled_at=settled_at,
                        bill_date=bill_day,
                        occurred_at=occurred_at,
                        refund_before_settle=before_settle or amount_column.refund_before_settle,
                        memo=memo,
                        raw=row.raw(),
                    ),
                )
            )
        if mapping.line_key_unique and columns.line_key and any(key_parts) and not row.errors:
            base = "|".join(key_parts)
            if base in seen_rows:
                row.fail(
                    columns.line_key[0],
                    "line_key",
                    LineErrorCode.DUPLICATE_KEY,
                    f"流水号「{_shown(base)}」与第 {seen_rows[base]} 行重复",
                )
            else:
                seen_rows[base] = number
        if row.errors:
            error_count += len(row.errors)
            errors.extend(row.errors[: max(0, max_errors - len(errors))])
            continue
        for key, line in pending:
            if key in seen:
                if mapping.line_key_unique and columns.line_key:
                    error_count += 1
                    if len(errors) < max_errors:
                        errors.append(
                            LineError(
                                row=number,
                                column=columns.name(columns.line_key[0]),
                                field="line_key",
                                code=LineErrorCode.DUPLICATE_KEY,
                                message=f"流水号「{_shown(key)}」与第 {seen[key]} 行重复",
                            )
                        )
                    continue
                occurrences[key] = occurrences.get(key, 1) + 1
                key = f"{key}#{occurrences[key]}"
                line = msgspec.structs.replace(line, line_key=key)
            seen.setdefault(key, number)
            lines.append(msgspec.structs.replace(line, line_key=_fit_key(key)))
            line_rows.append(number)
    if error_count:
        _refuse(errors, max_errors, count=error_count)
    if not lines:
        raise _file_error("文件中没有可导入的结算行（所有金额都为空或为 0）", rows=len(table.rows))
    return ParsedFile(
        lines=lines,
        line_rows=line_rows,
        rows=len(table.rows),
        skipped_rows=skipped,
        headers=list(table.headers),
        total=sum(line.amount for line in lines),
    )


def _refuse(errors: list[LineError], max_errors: int, *, count: int | None = None, field: str = "file") -> None:
    count = len(errors) if count is None else count
    shown = errors[:max_errors]
    first = shown[0]
    where = f"第 {first.row} 行" if first.row else ""
    column = f"「{first.column}」列" if first.column else ""
    lead = f"{where}{column}：{first.message}" if where or column else first.message
    message = f"文件有 {count} 处问题，未导入任何数据。{lead}"
    raise ValidationFailed(
        message,
        code=SettlementFileError.FILE_INVALID,
        field=field,
        extra={"errors": [msgspec.to_builtins(error) for error in shown], "error_count": count},
    )


def parse_settlement_file(
    data: bytes, filename: str, mapping: SettlementMapping, *, max_errors: int = MAX_ERRORS
) -> ParsedFile:
    """Read and map a settlement export: every line, or ``ValidationFailed`` with the problems."""
    return map_table(read_settlement_table(data, filename, mapping), mapping, max_errors=max_errors)


def batch_key(data: bytes) -> str:
    """The batch key of an uploaded file: its SHA-256 (the same file twice is the same batch)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------------------------
# Presets: each platform's own export layout
# --------------------------------------------------------------------------------------------------------------

_A = AmountColumn
_R = KindRule
_K = LineKind

# 支付宝账务明细 (Taobao / Tmall shops' Alipay account bill: the 账务明细 CSV, GBK, inside the zip that
# alipay.data.dataservice.bill.downloadurl.query (bill_type signcustomer) and the 商家中心 download give).
# Layout: a ``#支付宝账务明细查询`` / ``#账号：[…]`` / ``#起始日期…`` block, the header
#   账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,
#   账户余额（元）,交易渠道,业务类型,备注
# (cells padded with a tab), then ``#-----账务明细列表结束-----`` and ``#支出合计：…笔，共…元`` / ``#收入合计`` /
# ``#导出时间`` lines; 支出金额 is written negative. Sources: the header and footer as parsed by public importers of
# this file — e.g. a Java reader matching "账务流水号" and "#-----账务明细列表结束-----" (GitHub code search,
# "账务明细列表结束"), a Ruby rake task importing it as GBK with 12 columns in this order; Taobao's order id as
# 商户订单号 ``T200P<tid>`` and fee rows naming the order in 备注 (天猫佣金（类目）{tid}, 基础软件服务费(tid),
# 淘宝客佣金代扣款[tid]) per a public Tmall Alipay-bill processing script (extract_order_id / FEE_RULES).
ALIPAY_ACCOUNT_BILL = SettlementMapping(
    line_key=["账务流水号"],
    line_key_unique=True,
    order_id=["商户订单号", "备注"],
    order_id_patterns=[
        r"T200P(\d{6,22})",
        r"\{(\d{6,22})\}",
        r"\((\d{6,22})\)",
        r"（(\d{6,22})）",
        r"\[(\d{6,22})\]",
        r"订单号[:：]?(\d{6,22})",
    ],
    amounts=[
        _A(column="收入金额（+元）|收入金额", sign="credit", key="in"),
        _A(column="支出金额（-元）|支出金额", sign="debit", key="out"),
    ],
    settled_at="发生时间|入账时间",
    kind_columns=["业务类型", "备注"],
    kind_rules=[
        _R(column="业务类型", equals="交易退款", kind=_K.REFUND),
        _R(column="业务类型", contains="退款", kind=_K.REFUND, sign="debit"),
        _R(column="备注", contains="运费险", kind=_K.INSURANCE),
        _R(column="备注", contains="保险", kind=_K.INSURANCE),
        _R(column="备注", contains="淘宝客", kind=_K.PROMOTION_FEE),
        _R(column="备注", contains="淘宝联盟", kind=_K.PROMOTION_FEE),
        _R(column="备注", contains="佣金", kind=_K.COMMISSION),
        _R(column="备注", contains="基础软件服务费", kind=_K.COMMISSION),
        _R(column="备注", contains="技术服务费", kind=_K.COMMISSION),
        _R(column="备注", contains="花呗", kind=_K.PAYMENT_FEE),
        _R(column="备注", contains="信用卡", kind=_K.PAYMENT_FEE),
        _R(column="备注", contains="支付服务费", kind=_K.PAYMENT_FEE),
        _R(column="备注", contains="消费券", kind=_K.PLATFORM_COUPON),
        _R(column="备注", contains="红包", kind=_K.PLATFORM_COUPON),
        _R(column="备注", contains="运费补贴", kind=_K.SHIPPING_SUBSIDY),
        _R(column="备注", contains="违规", kind=_K.PENALTY),
        _R(column="备注", contains="罚", kind=_K.PENALTY),
        _R(column="备注", contains="积分", kind=_K.SERVICE_FEE),
        _R(column="业务类型", equals="交易付款", kind=_K.SALE),
        _R(column="业务类型", equals="在线支付", kind=_K.SALE),
        _R(column="业务类型", equals="收费", kind=_K.SERVICE_FEE),
    ],
    default_kind=_K.ADJUSTMENT,
    memo=["业务类型", "备注", "商品名称"],
    summary_labels=["合计", "总计"],
)

# 京东 POP 结算单明细 (商家后台 结算管理 → 结算单 / 对账单 → 明细导出; JD exposes no settlement API to POP
# sellers outside its 钱包 statements, so the file is imported). One row per 单据 (order, 取消退款单, 售后服务单)
# and 费用项: 订单编号, 单据编号, 单据类型, 商品编号, 商户订单号, 商品名称, 结算状态, 费用发生时间, 费用计费时间,
# 费用结算时间, 费用项, 金额, 币种, 商家应收/应付, 钱包结算备注, 店铺号, 京东门店编号, 品牌门店编号, 门店名称, 备注,
# 收支方向, 商品数量, 对账日期 (older exports: 账单日期). 费用项 values: 货款, 佣金, 交易服务费, 代收配送费,
# 随单送的京豆, 短信服务费, 广告联合活动降扣佣金, 商品保险服务费, 运费保险服务费. Sources: the column list of an ERP's
# JD bill importer (ShopEx financebase, "费用结算时间" … "对账日期" with the settlement time as the booking time and
# 单据编号 as the unique id) and a JD bill entity (费用项 0 随单送的京豆 / 1 佣金 / 2 代收配送费 / 3 货款 /
# 4 短信服务费; 收支方向 0 支出 / 1 收入; 账单日期) on GitHub code search; fee names per a public JD settlement
# analysis script (FEE_NAME_* constants, 收支方向 收入/支出).
JD_POP_SETTLEMENT = SettlementMapping(
    order_id=["订单编号"],
    sub_id="",
    line_key=["单据编号", "费用项", "商品编号"],
    amounts=[_A(column="金额|应结金额")],
    direction_column="收支方向",
    settled_at="费用结算时间|到账时间",
    bill_date="对账日期|账单日期",
    occurred_at="费用发生时间",
    kind_columns=["费用项|费用名称", "单据类型"],
    kind_rules=[
        _R(column="费用项|费用名称", equals="货款", sign="debit", kind=_K.REFUND),
        _R(column="费用项|费用名称", equals="货款", kind=_K.SALE),
        _R(column="费用项|费用名称", equals="代收配送费", kind=_K.SALE),
        _R(column="费用项|费用名称", contains="运费保险", kind=_K.INSURANCE),
        _R(column="费用项|费用名称", contains="保险", kind=_K.INSURANCE),
        _R(column="费用项|费用名称", contains="佣金", kind=_K.COMMISSION),
        _R(column="费用项|费用名称", contains="京豆", kind=_K.PROMOTION_FEE),
        _R(column="费用项|费用名称", contains="京券", kind=_K.PLATFORM_COUPON),
        _R(column="费用项|费用名称", contains="优惠券", kind=_K.PLATFORM_COUPON),
        _R(column="费用项|费用名称", contains="补贴", kind=_K.PLATFORM_COUPON),
        _R(column="费用项|费用名称", contains="运费", kind=_K.SHIPPING_SUBSIDY),
        _R(column="费用项|费用名称", contains="违约", kind=_K.PENALTY),
        _R(column="费用项|费用名称", contains="服务费", kind=_K.SERVICE_FEE),
    ],
    default_kind=_K.ADJUSTMENT,
    memo=["费用项|费用名称", "单据类型", "钱包结算备注", "备注"],
)

# 拼多多 账单 (商家后台 账户资金 → 货款账户 → 账单明细 / 对账中心 export; the same file
# pdd.finance.balance.daily.bill.url.get serves per day): 商户订单号, 发生时间, 收入金额（+元）, 支出金额（-元）,
# 账务类型 (交易收入, 优惠券结算, 退款, 技术服务费, 多多进宝, 扣款 …), 备注, 业务描述. Sources: public PDD bill
# readers on GitHub code search — a Java parser (parsePddFinanceFormat: 商户订单号 / 收入金额（+元） / 支出金额（-元） /
# 账务类型 / 备注 / 业务描述, GBK), PDDCleanTool (账务类型 "交易收入" rows as the settlement, 收入 − 支出 per order).
PDD_BILL = SettlementMapping(
    order_id=["商户订单号|订单号"],
    amounts=[
        _A(column="收入金额（+元）|收入金额", sign="credit", key="in"),
        _A(column="支出金额（-元）|支出金额", sign="debit", key="out"),
    ],
    settled_at="发生时间|入账时间",
    kind_columns=["账务类型", "业务描述|备注"],
    kinds={
        "交易收入": _K.SALE,
        "优惠券结算": _K.PLATFORM_COUPON,
        "退款": _K.REFUND,
        "技术服务费": _K.COMMISSION,
        "多多进宝": _K.PROMOTION_FEE,
        "扣款": _K.PENALTY,
        "罚款扣款": _K.PENALTY,
    },
    kind_rules=[
        _R(contains="退款", kind=_K.REFUND),
        _R(contains="运费险", kind=_K.INSURANCE),
        _R(contains="运费补贴", kind=_K.SHIPPING_SUBSIDY),
        _R(contains="优惠券", kind=_K.PLATFORM_COUPON),
        _R(contains="补贴", kind=_K.PLATFORM_COUPON),
        _R(contains="进宝", kind=_K.PROMOTION_FEE),
        _R(contains="技术服务费", kind=_K.COMMISSION),
        _R(contains="罚", kind=_K.PENALTY),
        _R(contains="服务费", kind=_K.SERVICE_FEE),
    ],
    default_kind=_K.ADJUSTMENT,
    memo=["账务类型", "业务描述", "备注"],
)

# 抖店 结算账单 (抖店后台 资金 → 结算账单 → 导出): one row per settled sub-order, money in columns:
#   结算时间, 订单号, 子订单号, 结算金额, 结算账户, 结算单类型, 有结算前退款, 下单时间, 商品ID, 商品数量, 业务类型,
#   订单类型, 订单总价, 商品总价, 运费, 店铺劵, 结算前退款金额, 平台补贴, 达人补贴, 抖音支付补贴, 抖音月付营销补贴,
#   用户实付, 收入合计, 平台服务费, 佣金, 渠道分成, 招商服务费, 站外推广费, 其他分成, 其他分成说明, 支出合计, 是否免佣,
#   免佣金额, 备注
# Source: the SETTLEMENT_HEADERS of a public 抖店 finance template (GitHub code search "实际平台补贴"), consistent
# with order.getSettleBillDetailV3's fields (settle_amount, pay_amount, platform_coupon, author_coupon,
# pay_promotion, platform_service_fee, commission, channel_promotion_fee, colonel_service_fee, other_sharing_amount,
# refund_before_settle). The line per column: 用户实付 (the buyer's payment) a sale; the subsidies the platform pays
# back; 结算前退款金额 a refund taken before settlement; the fees. 平台服务费 is the category-rate platform commission;
# 佣金 the 达人 (author) commission.
DOUYIN_SETTLE = SettlementMapping(
    order_id=["订单号|主订单编号"],
    sub_id="子订单号",
    line_key=["子订单号"],
    amounts=[
        _A(column="用户实付", kind=_K.SALE, sign="credit", key="pay"),
        _A(column="平台补贴", kind=_K.PLATFORM_COUPON, sign="credit", key="platform_coupon"),
        _A(column="达人补贴", kind=_K.PLATFORM_COUPON, sign="credit", key="author_coupon"),
        _A(column="抖音支付补贴", kind=_K.PLATFORM_COUPON, sign="credit", key="pay_promotion"),
        _A(column="抖音月付营销补贴", kind=_K.PLATFORM_COUPON, sign="credit", key="monthly_promotion"),
        _A(column="结算前退款金额", kind=_K.REFUND, sign="debit", key="refund", refund_before_settle=True),
        _A(column="平台服务费", kind=_K.COMMISSION, sign="debit", key="platform_service_fee"),
        _A(column="佣金", kind=_K.PROMOTION_FEE, sign="debit", key="commission"),
        _A(column="渠道分成", kind=_K.PROMOTION_FEE, sign="debit", key="channel_fee"),
        _A(column="招商服务费", kind=_K.PROMOTION_FEE, sign="debit", key="colonel_fee"),
        _A(column="站外推广费", kind=_K.PROMOTION_FEE, sign="debit", key="outside_promotion"),
        _A(column="其他分成", kind=_K.SERVICE_FEE, sign="debit", key="other_sharing"),
    ],
    settled_at="结算时间",
    occurred_at="下单时间",
    refund_before_settle="有结算前退款",
    memo=["结算单类型", "业务类型", "其他分成说明", "备注"],
)

# 视频号小店 (微信小店) 资金流水 (小店后台 资金 → 资金流水 → 导出 / the funds flow API
# /channels/ec/funds/getfundsflowlist + getfundsflowdetail, https://developers.weixin.qq.com/doc/channels/API/funds/
# getfundsflowdetail.html): one row per flow — 流水单号 (flow_id), 记账时间 (bookkeeping_time), 资金类型
# (funds_type), 收支类型 (flow_type 收入/支出), 金额 (amount; the API in fen, the export in 元), 账户余额 (balance),
# 关联订单号 / 关联售后单号 (related_info_list order_id / aftersale_id), 备注 (remark). The export's exact header
# text was not found in public sources: the names follow the API fields' documented meanings, with alternatives.
WECHAT_SHOP_FUNDS = SettlementMapping(
    line_key=["流水单号|资金流水号|流水号|流水ID"],
    line_key_unique=True,
    order_id=["关联订单号|订单号|订单ID"],
    amounts=[_A(column="金额（元）|金额|收支金额（元）|变动金额（元）")],
    direction_column="收支类型|收支方向|流水类型",
    settled_at="记账时间|入账时间|时间",
    kind_columns=["资金类型|流水类型|类型", "备注"],
    kind_rules=[
        _R(contains="退款", kind=_K.REFUND),
        _R(contains="运费险", kind=_K.INSURANCE),
        _R(contains="运费补贴", kind=_K.SHIPPING_SUBSIDY),
        _R(contains="技术服务费", kind=_K.COMMISSION),
        _R(contains="佣金", kind=_K.PROMOTION_FEE),
        _R(contains="带货", kind=_K.PROMOTION_FEE),
        _R(contains="手续费", kind=_K.PAYMENT_FEE),
        _R(contains="补贴", kind=_K.PLATFORM_COUPON),
        _R(contains="优惠", kind=_K.PLATFORM_COUPON),
        _R(contains="罚", kind=_K.PENALTY),
        _R(contains="违约", kind=_K.PENALTY),
        _R(contains="订单", sign="credit", kind=_K.SALE),
        _R(contains="货款", sign="credit", kind=_K.SALE),
        _R(contains="结算", sign="credit", kind=_K.SALE),
    ],
    default_kind=_K.ADJUSTMENT,
    memo=["资金类型|流水类型|类型", "备注"],
)

PRESETS: Final[dict[str, Preset]] = {
    preset.name: preset
    for preset in (
        Preset(
            name="alipay_account_bill",
            label="支付宝账务明细（淘宝/天猫）",
            platform="taobao,tmall",
            source="Alipay signcustomer account bill CSV (GBK, zipped)",
            mapping=ALIPAY_ACCOUNT_BILL,
        ),
        Preset(
            name="jd_pop_settlement",
            label="京东 POP 结算单明细",
            platform="jd",
            source="JD POP settlement detail export",
            mapping=JD_POP_SETTLEMENT,
        ),
        Preset(
            name="pdd_bill",
            label="拼多多 货款账单明细",
            platform="pdd",
            source="PDD balance bill export",
            mapping=PDD_BILL,
        ),
        Preset(
            name="douyin_settle",
            label="抖店 结算账单",
            platform="douyin",
            source="Douyin shop settlement bill export",
            mapping=DOUYIN_SETTLE,
        ),
        Preset(
            name="wechat_shop_funds",
            label="视频号小店 资金流水",
            platform="wechat_shop",
            source="WeChat shop funds flow export",
            mapping=WECHAT_SHOP_FUNDS,
        ),
    )
}
