"""SKU customs data from a spreadsheet: the rows of a sheet (read by the transport with the ERP import's reader,
``orderhub.channels.erp_file.parser.read_table``: XLSX via python-calamine, CSV/TSV in UTF-8 or GB18030) → per-row
validation → one transaction writing every good row.

A row is applied whole or not at all: any bad cell refuses its row, reported with its spreadsheet row number, the
field and a stable code; the other rows still apply (``dry_run`` checks without writing). A column the sheet has
sets that field; an empty cell keeps what the SKU had (clear a field through the API). ``unit_value`` in a sheet is
in major units (``12.50``), converted to the currency's minor units exactly (``Decimal``); a row without a currency
keeps the SKU's (CNY for a new one). A row changing the currency of a SKU that declares a value must give the value
in the new currency too (``customs_import_currency_without_value``): the old one is in the old currency's units.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Final

import msgspec

from orderhub import clock, db
from orderhub.catalog.tables import Sku
from orderhub.customs.codes import LANGUAGE_NAMES, is_currency, minor_exponent
from orderhub.customs.errors import CustomsError
from orderhub.customs.model import SkuCustoms
from orderhub.customs.skus import MAX_UNIT_VALUE, clean, customs_for, save_many
from orderhub.errors import CommonError, ValidationFailed

__all__ = ["COLUMNS", "ImportResult", "RowError", "column_fields", "import_rows"]


class RowError(msgspec.Struct, frozen=True, kw_only=True):
    row: int  # 1-based spreadsheet row
    sku: str
    field: str  # hs_code, names.th, certificates.TISI, unit_value …
    code: str  # an error code (docs/errors.md)
    message: str  # zh-CN
    column: str = ""  # the sheet's header for that field


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    rows: int
    applied: int  # rows written (or that would be, with dry_run)
    created: int
    updated: int
    errors: list[RowError]
    columns: dict[str, str]  # header → field, as understood
    ignored_columns: list[str]
    dry_run: bool


# Header names per field, compared after _norm (NFKC, lower case, no spaces or punctuation).
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "sku": ("sku", "skucode", "code", "商家编码", "商品编码", "sku编码", "货品编码", "规格编码"),
    "hs_code": ("hscode", "hs", "hs编码", "hs编号", "海关编码", "税则号", "税号", "商品hs编码"),
    "name_en": ("nameen", "englishname", "英文品名", "英文名称", "英文名", "申报英文名", "英文申报名称"),
    "name_zh": ("namezh", "chinesename", "中文品名", "中文名称", "申报中文名", "中文申报名称"),
    "material": ("material", "材质", "材料"),
    "usage": ("usage", "use", "purpose", "用途"),
    "origin_country": ("origincountry", "origin", "countryoforigin", "原产国", "原产地", "产地"),
    "unit_value": ("unitvalue", "declaredvalue", "value", "申报单价", "申报价值", "申报价格"),
    "currency": ("currency", "币种", "币别", "申报币种"),
}
_NOISE = re.compile(r"\(.*?\)|（.*?）|\[.*?\]|【.*?】|[\s_\-/*:.·]")
_NAME_LANG = re.compile(r"name[_\s\-]?([a-z]{2})")
_CERT = re.compile(r"(?:cert|certificate|certno)[_\s:\-]*([A-Za-z0-9]{2,32})", re.IGNORECASE)
_CERT_ZH = re.compile(r"([A-Za-z0-9]{2,32})(?:证书号|证书编号|认证编号|认证号|许可证号|编号)")
_KNOWN_SCHEMES: Final = ("TISI", "SIRIM")
_LANG_BY_ZH: Final = {name.removesuffix("文"): code for code, name in LANGUAGE_NAMES.items()}


def _norm(header: str) -> str:
    return _NOISE.sub("", unicodedata.normalize("NFKC", header).lower())


def _field_of(header: str) -> str | None:
    """A header → ``hs_code`` … / ``names.th`` / ``certificates.TISI``; None when unknown."""
    norm = _norm(header)
    for field, names in COLUMNS.items():
        if norm in names:
            return field
    raw = unicodedata.normalize("NFKC", header).strip()
    match = _NAME_LANG.fullmatch(raw.lower())
    if match and match.group(1) not in ("en", "zh"):
        return f"names.{match.group(1)}"
    for language, code in _LANG_BY_ZH.items():  # 泰文品名 / 泰语品名 / 泰文名称
        if norm in (f"{language}文品名", f"{language}语品名", f"{language}文名称", f"{language}文名"):
            return f"names.{code}"
    for pattern in (_CERT, _CERT_ZH):
        match = pattern.fullmatch(raw.replace(" ", ""))
        if match:
            return f"certificates.{match.group(1).upper()}"
    if raw.upper() in _KNOWN_SCHEMES:
        return f"certificates.{raw.upper()}"
    return None


def column_fields(headers: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """(header → field for the headers understood, the headers ignored); each field from its first column."""
    mapping: dict[str, str] = {}
    ignored: list[str] = []
    taken: set[str] = set()
    for header in headers:
        field = _field_of(header)
        if field is None or field in taken:
            ignored.append(header)
            continue
        taken.add(field)
        mapping[header] = field
    return mapping, ignored


def _major_to_minor(text: str, currency: str) -> int:
    compact = "".join(unicodedata.normalize("NFKC", text).split()).replace(",", "")
    try:
        value = Decimal(compact)
    except InvalidOperation as exc:
        raise ValidationFailed(
            f"申报单价「{text[:20]}」不是有效金额", code=CustomsError.INVALID_UNIT_VALUE, field="unit_value"
        ) from exc
    minor = value * (10 ** minor_exponent(currency))
    if not value.is_finite() or value < 0 or minor != minor.to_integral_value() or minor > MAX_UNIT_VALUE:
        raise ValidationFailed(
            f"申报单价「{text[:20]}」应为非负数，{currency} 最多 {minor_exponent(currency)} 位小数",
            code=CustomsError.INVALID_UNIT_VALUE,
            field="unit_value",
        )
    return int(minor)


def _merged(base: SkuCustoms, cells: Mapping[str, str]) -> SkuCustoms:
    """``base`` with the row's non-empty cells applied (raises ValidationFailed with the field)."""
    values: dict[str, object] = {}
    names = dict(base.names)
    certificates = dict(base.certificates)
    for field, text in cells.items():
        if not text or field in ("sku", "unit_value"):
            continue
        if field.startswith("names."):
            names[field.removeprefix("names.")] = text
        elif field.startswith("certificates."):
            certificates[field.removeprefix("certificates.")] = text
        else:
            values[field] = text
    currency = str(values.get("currency") or base.currency).strip().upper()
    if cells.get("unit_value"):
        values["unit_value"] = _major_to_minor(cells["unit_value"], currency)
    elif base.unit_value > 0 and currency != base.currency.strip().upper() and is_currency(currency):
        # relabelling 12.50 CNY as 12.50 (or 1,250) of another currency would declare a wrong value
        raise ValidationFailed(
            f"币种由 {base.currency} 改为 {currency[:8]}，请在同一行填写以 {currency[:8]} 计的申报单价",
            code=CustomsError.IMPORT_CURRENCY_WITHOUT_VALUE,
            field="unit_value",
        )
    return msgspec.structs.replace(base, names=names, certificates=certificates, **values)


async def _sku_ids(codes: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in db.chunks(sorted(set(codes))):
        for row in await Sku.select(Sku.id, Sku.code).where(Sku.code.is_in(list(chunk))):
            found[row["code"]] = int(row["id"])
    return found


async def import_rows(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    row_numbers: Sequence[int],
    *,
    actor: str,
    dry_run: bool = False,
) -> ImportResult:
    """Validate every row and write the good ones in one transaction (none with ``dry_run``). Raises
    ``customs_import_invalid`` (field ``file``) when the sheet has no SKU column or nothing else this import
    knows."""
    mapping, ignored = column_fields(headers)
    if "sku" not in mapping.values() or len(mapping) < 2:
        raise ValidationFailed(
            "表格须有商品编码列（SKU / 商家编码）和至少一列报关资料（HS编码、英文品名、泰文品名、TISI证书号 …）",
            code=CustomsError.IMPORT_FILE_INVALID,
            field="file",
            extra={"ignored_columns": ignored},
        )
    index = {field: headers.index(header) for header, field in mapping.items()}
    column_of = {field: header for header, field in mapping.items()}
    errors: list[RowError] = []

    def fail(number: int, sku: str, field: str, code: str, message: str) -> None:
        column = column_of.get(field, column_of.get(field.split(".")[0], ""))
        if code == CustomsError.IMPORT_CURRENCY_WITHOUT_VALUE and not column:
            column = column_of.get("currency", "")  # a sheet without a value column: the cell that changed
        errors.append(RowError(row=number, sku=sku, field=field, code=code, message=message, column=column))

    parsed: list[tuple[int, str, dict[str, str]]] = []
    seen: dict[str, int] = {}
    for cells, number in zip(rows, row_numbers, strict=True):
        values = {field: (cells[i].strip() if i < len(cells) else "") for field, i in index.items()}
        code = values["sku"]
        if not code:
            fail(number, "", "sku", CommonError.VALIDATION_ERROR, "缺少商品编码")
            continue
        if code in seen:
            message = f"商品 {code} 已在第 {seen[code]} 行出现，本行未导入"
            fail(number, code, "sku", CustomsError.IMPORT_DUPLICATE_ROW, message)
            continue
        seen[code] = number
        parsed.append((number, code, values))
    ids = await _sku_ids([code for _, code, _ in parsed])
    existing = await customs_for(ids)
    good: list[tuple[int, SkuCustoms]] = []
    for number, code, values in parsed:
        if code not in ids:
            fail(number, code, "sku", CommonError.NOT_FOUND, f"商品 {code} 不存在，请先在商品资料中创建")
            continue
        base = existing.get(code) or SkuCustoms(sku=code)
        try:
            data = clean(_merged(base, values))
        except ValidationFailed as exc:
            fail(number, code, exc.field or "", exc.code, exc.message)
            continue
        good.append((ids[code], data))
    created = sum(1 for _, data in good if data.sku not in existing)
    if good and not dry_run:
        async with db.transaction():
            created, _ = await save_many(good, actor=actor, now=clock.now())
    return ImportResult(
        rows=len(rows),
        applied=len(good),
        created=created,
        updated=len(good) - created,
        errors=sorted(errors, key=lambda e: e.row),
        columns=mapping,
        ignored_columns=ignored,
        dry_run=dry_run,
    )
