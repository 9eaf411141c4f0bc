"""SKUs: create, update, list, and barcode lookup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec
from piccolo.columns.combination import WhereRaw

from orderhub import clock, db
from orderhub.catalog.errors import CatalogError
from orderhub.catalog.tables import Sku, SkuBarcode
from orderhub.errors import CommonError, Conflict, NotFound, ValidationFailed

__all__ = [
    "NewSku",
    "SkuPage",
    "SkuView",
    "clean_image_url",
    "create_sku",
    "get_sku",
    "list_skus",
    "sku_for_barcode",
    "update_sku",
]


class NewSku(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    name: str
    barcodes: list[str] = []
    weight_g: int = 0
    volume_cm3: int = 0
    category: str = ""  # the platform's commission category (finance's fee settings rate by it)
    image_url: str = ""  # the SKU's picture: "", an http(s) URL or a path on the hub ("/…")


class SkuView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    code: str
    name: str
    barcodes: list[str]
    weight_g: int
    volume_cm3: int
    active: bool
    category: str = ""
    image_url: str = ""


class SkuPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SkuView]
    next_cursor: int | None


def _view(row: dict[str, Any]) -> SkuView:
    return SkuView(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        barcodes=msgspec.json.decode(row["barcodes"] or "[]"),
        weight_g=row["weight_g"],
        volume_cm3=row["volume_cm3"],
        active=bool(row["active"]),
        category=row.get("category") or "",
        image_url=row.get("image_url") or "",
    )


def _clean_barcodes(barcodes: list[str]) -> list[str]:
    cleaned: list[str] = []
    for i, code in enumerate(barcodes):
        code = code.strip()
        if not code or len(code) > 64:
            raise ValidationFailed("条码不能为空，且不超过 64 个字符", field=f"barcodes[{i}]")
        if code not in cleaned:
            cleaned.append(code)
    return cleaned


IMAGE_URL_MAX = 500


def clean_image_url(value: str) -> str:
    """A SKU's picture: empty (none), an http(s) URL with a host, or a path on the hub ("/static/…"; not "//host",
    which a browser reads as another host). No spaces or control characters; at most 500 characters."""
    url = value.strip()
    if not url:
        return ""
    bad = len(url) > IMAGE_URL_MAX or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url)
    if not bad and url.startswith("/"):
        bad = url.startswith("//") or url.startswith("/\\")
    elif not bad:
        parts = urlsplit(url)
        bad = parts.scheme.lower() not in ("http", "https") or not parts.hostname
    if bad:
        raise ValidationFailed(
            "商品图片地址应为 http(s) 网址或以 / 开头的站内路径，且不超过 500 个字符", field="image_url"
        )
    return url


def _check_measures(weight_g: int, volume_cm3: int) -> None:
    if weight_g < 0:
        raise ValidationFailed("重量（克）不能为负数", field="weight_g")
    if volume_cm3 < 0:
        raise ValidationFailed("体积（立方厘米）不能为负数", field="volume_cm3")


async def _claim_barcodes(sku_id: int, sku_code: str, barcodes: list[str]) -> None:
    taken = (
        await SkuBarcode.select(SkuBarcode.barcode, SkuBarcode.sku.code).where(
            SkuBarcode.barcode.is_in(barcodes) & (SkuBarcode.sku != sku_id)  # bounded: one SKU's (≤ 20, api/catalog)
        )
        if barcodes
        else []
    )
    if taken:
        first = taken[0]
        raise Conflict(
            f"条码 {first['barcode']} 已属于商品 {first['sku.code']}",
            code=CatalogError.DUPLICATE_BARCODE,
            field="barcodes",
        )
    await SkuBarcode.delete().where(SkuBarcode.sku == sku_id)
    if barcodes:
        await SkuBarcode.insert(*[SkuBarcode(barcode=b, sku=sku_id) for b in barcodes])


async def create_sku(cmd: NewSku) -> SkuView:
    code = cmd.code.strip()
    if not code or len(code) > 64:
        raise ValidationFailed("商品编码不能为空，且不超过 64 个字符", field="code")
    if not cmd.name.strip():
        raise ValidationFailed("商品名称不能为空", field="name")
    _check_measures(cmd.weight_g, cmd.volume_cm3)
    barcodes = _clean_barcodes(cmd.barcodes)
    image_url = clean_image_url(cmd.image_url)
    now = clock.now()
    async with db.transaction():
        if await Sku.exists().where(Sku.code == code):
            raise Conflict(f"商品编码 {code} 已存在", code=CommonError.DUPLICATE_CODE, field="code")
        inserted = await Sku.insert(
            Sku(
                code=code,
                name=cmd.name.strip(),
                barcodes=msgspec.json.encode(barcodes).decode(),
                weight_g=cmd.weight_g,
                volume_cm3=cmd.volume_cm3,
                category=cmd.category.strip(),
                image_url=image_url,
                active=True,
                created_at=now,
                updated_at=now,
            )
        ).returning(Sku.id)
        await _claim_barcodes(int(inserted[0]["id"]), code, barcodes)
    return await get_sku(code)


async def get_sku(code: str) -> SkuView:
    row = await Sku.select().where(Sku.code == code).first()
    if row is None:
        raise NotFound(f"商品 {code} 不存在", field="code")
    return _view(row)


async def sku_for_barcode(barcode: str) -> SkuView:
    row = await SkuBarcode.select(SkuBarcode.sku.code).where(SkuBarcode.barcode == barcode.strip()).first()
    if row is None:
        raise NotFound(f"条码 {barcode} 未登记", field="barcode")
    return await get_sku(row["sku.code"])


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_skus(*, q: str | None = None, after_id: int | None = None, limit: int = 100) -> SkuPage:
    if not 1 <= limit <= 500:
        raise ValidationFailed("limit 取值范围为 1–500", field="limit")
    query = Sku.select().order_by(Sku.id).limit(limit + 1)
    if q:
        # What was typed, literally: % and _ are LIKE wildcards ("50%" would match every code with 50 in it) and
        # SQLite knows no escape character unless told. One statement on both back ends: lower() on both sides
        # instead of PostgreSQL's ILIKE (SQLite's LIKE ignores ASCII case anyway).
        pattern = f"%{_escape_like(q.lower())}%"
        query = query.where(
            WhereRaw("(lower(code) LIKE {} ESCAPE '\\' OR lower(name) LIKE {} ESCAPE '\\')", pattern, pattern)
        )
    if after_id is not None:
        query = query.where(Sku.id > after_id)
    rows = await query
    items = [_view(row) for row in rows[:limit]]
    return SkuPage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


async def update_sku(code: str, changes: Mapping[str, Any]) -> SkuView:
    current = await get_sku(code)
    values: dict[Any, Any] = {}
    if "name" in changes:
        if not str(changes["name"]).strip():
            raise ValidationFailed("商品名称不能为空", field="name")
        values[Sku.name] = str(changes["name"]).strip()
    weight = int(changes.get("weight_g", current.weight_g))
    volume = int(changes.get("volume_cm3", current.volume_cm3))
    _check_measures(weight, volume)
    values[Sku.weight_g] = weight
    values[Sku.volume_cm3] = volume
    if "category" in changes:
        values[Sku.category] = str(changes["category"]).strip()
    if "image_url" in changes:
        values[Sku.image_url] = clean_image_url(str(changes["image_url"] or ""))
    if "active" in changes:
        values[Sku.active] = bool(changes["active"])
    barcodes = _clean_barcodes(list(changes["barcodes"])) if "barcodes" in changes else None
    if barcodes is not None:
        values[Sku.barcodes] = msgspec.json.encode(barcodes).decode()
    values[Sku.updated_at] = clock.now()
    async with db.transaction():
        await Sku.update(values).where(Sku.id == current.id)
        if barcodes is not None:
            await _claim_barcodes(current.id, code, barcodes)
    return await get_sku(code)
