"""Each SKU's customs data (``sku_customs``, one row per SKU): read, replace, list, and the pure cleaning every
write goes through (the API and the spreadsheet import alike)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

import msgspec
from piccolo.columns.combination import WhereRaw

from orderhub import clock, db
from orderhub.catalog.tables import Sku
from orderhub.customs.codes import is_country, is_currency
from orderhub.customs.errors import CustomsError
from orderhub.customs.model import SkuCustoms
from orderhub.customs.tables import CustomsSku
from orderhub.errors import NotFound, ValidationFailed

__all__ = [
    "MAX_TEXT",
    "MAX_UNIT_VALUE",
    "SkuCustomsPage",
    "SkuCustomsView",
    "clean",
    "customs_for",
    "get_sku_customs",
    "list_sku_customs",
    "put_sku_customs",
    "save_many",
]

MAX_TEXT: Final = 200
MAX_UNIT_VALUE: Final = 10**12
_MAX_ENTRIES: Final = 20
_LANGUAGE = re.compile(r"[a-z]{2}")
_SCHEME = re.compile(r"[A-Z0-9_\-]{1,32}")
_HS_SEPARATORS = re.compile(r"[.\s\-]")


class SkuCustomsView(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    sku_name: str
    hs_code: str
    name_en: str
    name_zh: str
    names: dict[str, str]
    material: str
    usage: str
    origin_country: str
    unit_value: int
    currency: str
    certificates: dict[str, str]
    updated_by: str
    updated_at: datetime
    id: int = 0


class SkuCustomsPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SkuCustomsView]
    next_cursor: int | None


# --------------------------------------------------------------------------------------------------------------
# Cleaning (pure)
# --------------------------------------------------------------------------------------------------------------


def _text(value: str, field: str, label: str) -> str:
    text = " ".join(value.split())
    if len(text) > MAX_TEXT:
        raise ValidationFailed(f"{label}最多 {MAX_TEXT} 个字符", code=CustomsError.INVALID_CUSTOMS_VALUE, field=field)
    return text


def clean_hs_code(value: str) -> str:
    """``8516.60.00`` / ``8516 60 00`` → ``85166000``; "" stays ""; anything but 6–10 digits raises."""
    code = _HS_SEPARATORS.sub("", value)
    if code and not re.fullmatch(r"[0-9]{6,10}", code):
        raise ValidationFailed(
            f"HS 编码「{value[:20]}」应为 6–10 位数字", code=CustomsError.INVALID_HS_CODE, field="hs_code"
        )
    return code


def clean(data: SkuCustoms) -> SkuCustoms:
    """``data`` checked and normalised, or :class:`~orderhub.errors.ValidationFailed` with a stable code and the
    field at fault: HS code 6–10 digits (dots and spaces dropped), ISO 3166-1 origin, ISO 4217 currency, ISO 639-1
    languages (Thai first), certificate schemes upper-cased, texts at most 200 characters, empty entries dropped."""
    origin = data.origin_country.strip().upper()
    if origin and not is_country(origin):
        raise ValidationFailed(
            f"原产国「{data.origin_country[:8]}」不是 ISO 3166-1 两位字母代码（如 CN）",
            code=CustomsError.INVALID_COUNTRY,
            field="origin_country",
        )
    currency = data.currency.strip().upper()
    if not is_currency(currency):
        raise ValidationFailed(
            f"币种「{data.currency[:8]}」不是 ISO 4217 代码（如 CNY、THB）",
            code=CustomsError.INVALID_CURRENCY,
            field="currency",
        )
    if not 0 <= data.unit_value <= MAX_UNIT_VALUE:
        raise ValidationFailed(
            "申报单价应为 0 或正整数（币种的最小单位，如分）",
            code=CustomsError.INVALID_CUSTOMS_VALUE,
            field="unit_value",
        )
    if len(data.names) > _MAX_ENTRIES or len(data.certificates) > _MAX_ENTRIES:
        field = "names" if len(data.names) > _MAX_ENTRIES else "certificates"
        raise ValidationFailed(f"最多 {_MAX_ENTRIES} 项", code=CustomsError.INVALID_CUSTOMS_VALUE, field=field)
    names: dict[str, str] = {}
    for language, name in data.names.items():
        key = language.strip().lower()
        if not _LANGUAGE.fullmatch(key):
            raise ValidationFailed(
                f"语言「{language[:8]}」应为 ISO 639-1 两位小写字母（如 th）",
                code=CustomsError.INVALID_LANGUAGE,
                field=f"names.{language[:8]}",
            )
        text = _text(name, f"names.{key}", "品名")
        if text:
            names[key] = text
    ordered = {key: names[key] for key in sorted(names, key=lambda k: (k != "th", list(names).index(k)))}
    certificates: dict[str, str] = {}
    for scheme, number in data.certificates.items():
        key = scheme.strip().upper()
        if not _SCHEME.fullmatch(key):
            raise ValidationFailed(
                f"认证体系「{scheme[:16]}」应为 1–32 位字母、数字、- 或 _（如 TISI）",
                code=CustomsError.INVALID_CUSTOMS_VALUE,
                field=f"certificates.{scheme[:16]}",
            )
        value = " ".join(number.split())
        if len(value) > 64:
            raise ValidationFailed(
                "认证编号最多 64 个字符", code=CustomsError.INVALID_CUSTOMS_VALUE, field=f"certificates.{key}"
            )
        if value:
            certificates[key] = value
    return SkuCustoms(
        sku=data.sku.strip(),
        hs_code=clean_hs_code(data.hs_code),
        name_en=_text(data.name_en, "name_en", "英文品名"),
        name_zh=_text(data.name_zh, "name_zh", "中文品名"),
        names=ordered,
        material=_text(data.material, "material", "材质"),
        usage=_text(data.usage, "usage", "用途"),
        origin_country=origin,
        unit_value=data.unit_value,
        currency=currency,
        certificates=certificates,
    )


# --------------------------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------------------------


def _columns(data: SkuCustoms) -> dict[str, Any]:
    return {
        "hs_code": data.hs_code,
        "name_en": data.name_en,
        "name_zh": data.name_zh,
        "names": msgspec.json.encode(data.names).decode(),
        "material": data.material,
        "usage": data.usage,
        "origin_country": data.origin_country,
        "unit_value": data.unit_value,
        "currency": data.currency,
        "certificates": msgspec.json.encode(data.certificates).decode(),
    }


def _model(row: dict[str, Any], code: str) -> SkuCustoms:
    return SkuCustoms(
        sku=code,
        hs_code=row["hs_code"] or "",
        name_en=row["name_en"] or "",
        name_zh=row["name_zh"] or "",
        names=msgspec.json.decode(row["names"] or "{}", type=dict[str, str]),
        material=row["material"] or "",
        usage=row["usage"] or "",
        origin_country=row["origin_country"] or "",
        unit_value=int(row["unit_value"] or 0),
        currency=row["currency"] or "CNY",
        certificates=msgspec.json.decode(row["certificates"] or "{}", type=dict[str, str]),
    )


def _view(row: dict[str, Any]) -> SkuCustomsView:
    model = _model(row, row["sku.code"])
    return SkuCustomsView(
        id=row["id"],
        sku=model.sku,
        sku_name=row["sku.name"],
        hs_code=model.hs_code,
        name_en=model.name_en,
        name_zh=model.name_zh or row["sku.name"],
        names=model.names,
        material=model.material,
        usage=model.usage,
        origin_country=model.origin_country,
        unit_value=model.unit_value,
        currency=model.currency,
        certificates=model.certificates,
        updated_by=row["updated_by"],
        updated_at=row["updated_at"],
    )


_UPSERTED = [
    CustomsSku.hs_code,
    CustomsSku.name_en,
    CustomsSku.name_zh,
    CustomsSku.names,
    CustomsSku.material,
    CustomsSku.usage,
    CustomsSku.origin_country,
    CustomsSku.unit_value,
    CustomsSku.currency,
    CustomsSku.certificates,
    CustomsSku.updated_by,
    CustomsSku.updated_at,
]

_SELECT = (CustomsSku.id, CustomsSku.sku.code, CustomsSku.sku.name, *_UPSERTED)


async def _sku_id(code: str) -> int:
    row = await Sku.select(Sku.id).where(Sku.code == code).first()
    if row is None:
        raise NotFound(f"商品 {code} 不存在", field="code")
    return int(row["id"])


async def get_sku_customs(code: str) -> SkuCustomsView:
    """The SKU's customs data; ``not_found`` for an unknown SKU, ``sku_customs_not_found`` when it has none yet."""
    await _sku_id(code)
    row = await CustomsSku.select(*_SELECT).where(CustomsSku.sku.code == code).first()
    if row is None:
        raise NotFound(f"商品 {code} 还没有报关资料", code=CustomsError.SKU_CUSTOMS_NOT_FOUND, field="code")
    return _view(row)


async def save_many(records: list[tuple[int, SkuCustoms]], *, actor: str, now: datetime) -> tuple[int, int]:
    """Write cleaned records (SKU id, data) in the caller's transaction: insert or replace each, in SKU id order.
    Returns (created, updated)."""
    created = updated = 0
    # In SKU id order, whatever the sheet's: two imports touching the same SKUs lock their rows in one order and
    # cannot deadlock each other on PostgreSQL (the hub's convention: lock rows in id order).
    records = sorted(records, key=lambda record: record[0])
    for chunk in db.chunks(records, db.rows_per_statement(13)):
        ids = [sku_id for sku_id, _ in chunk]
        existing = set(await CustomsSku.select(CustomsSku.sku).where(CustomsSku.sku.is_in(ids)).output(as_list=True))
        updated += sum(1 for sku_id in ids if sku_id in existing)
        created += len(ids) - sum(1 for sku_id in ids if sku_id in existing)
        # One multi-row upsert per chunk (a SKU appears once per call): 20,000 rows in seconds, and two writers of
        # the same new SKU both succeed instead of one hitting the unique index.
        await CustomsSku.insert(
            *[CustomsSku(sku=sku_id, **_columns(data), updated_by=actor, updated_at=now) for sku_id, data in chunk]
        ).on_conflict(target=CustomsSku.sku, action="DO UPDATE", values=_UPSERTED)
    return created, updated


async def put_sku_customs(code: str, data: SkuCustoms, *, actor: str) -> SkuCustomsView:
    """Replace the SKU's customs data with ``data`` (cleaned first; every field is set, an absent one emptied)."""
    cleaned = clean(msgspec.structs.replace(data, sku=code))
    async with db.transaction():
        sku_id = await _sku_id(code)
        await save_many([(sku_id, cleaned)], actor=actor, now=clock.now())
    return await get_sku_customs(code)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_sku_customs(
    *, q: str | None = None, hs_prefix: str | None = None, after_id: int | None = None, limit: int = 100
) -> SkuCustomsPage:
    """SKUs' customs data in ``sku_customs`` id order, ``limit`` per page; ``q`` matches part of the SKU code,
    its name or the English name; ``hs_prefix`` keeps HS codes starting with it."""
    if not 1 <= limit <= 500:
        raise ValidationFailed("limit 取值范围为 1–500", field="limit")
    query = CustomsSku.select(*_SELECT).order_by(CustomsSku.id).limit(limit + 1)
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        ids = Sku.select(Sku.id).where(
            WhereRaw("(lower(code) LIKE {} ESCAPE '\\' OR lower(name) LIKE {} ESCAPE '\\')", pattern, pattern)
        )
        query = query.where(
            CustomsSku.sku.is_in(ids)  # bounded: a sub-select, not a list
            | WhereRaw("lower(sku_customs.name_en) LIKE {} ESCAPE '\\'", pattern)
        )
    if hs_prefix:
        digits = _HS_SEPARATORS.sub("", hs_prefix)
        if not re.fullmatch(r"[0-9]{1,10}", digits):
            raise ValidationFailed("HS 前缀应为 1–10 位数字", code=CustomsError.INVALID_HS_CODE, field="hs_prefix")
        query = query.where(CustomsSku.hs_code.like(f"{digits}%"))
    if after_id is not None:
        query = query.where(CustomsSku.id > after_id)
    rows = await query
    items = [_view(row) for row in rows[:limit]]
    return SkuCustomsPage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


async def customs_for(codes: Iterable[str]) -> dict[str, SkuCustoms]:
    """The customs data of these SKU codes (those that have some), ``name_zh`` defaulting to the SKU's name."""
    unique = sorted(set(codes))
    found: dict[str, SkuCustoms] = {}
    for chunk in db.chunks(unique):
        rows = await CustomsSku.select(*_SELECT).where(CustomsSku.sku.code.is_in(list(chunk)))
        for row in rows:
            model = _model(row, row["sku.code"])
            found[model.sku] = msgspec.structs.replace(model, name_zh=model.name_zh or row["sku.name"])
    return found
