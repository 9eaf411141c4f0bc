"""Customs: each SKU's declaration data (and its spreadsheet import), the destinations' rule pack versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter

from api.common import MAX_INT, present
from orderhub import clock
from orderhub.auth.service import UserView
from orderhub.channels.erp_file.parser import MAX_BYTES, read_table
from orderhub.customs import imports, packs, skus
from orderhub.customs.model import RulePack, SkuCustoms
from orderhub.errors import ValidationFailed

__all__ = ["RulePackController", "SkuCustomsController"]

Text200 = Annotated[str, msgspec.Meta(max_length=200)]
MinorUnits = Annotated[int, msgspec.Meta(ge=0, le=10**12, description="minor units of `currency` (fen, satang …)")]
Country = Annotated[str, msgspec.Meta(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")]
Currency = Annotated[str, msgspec.Meta(min_length=3, max_length=3, description="ISO 4217")]
HsPrefix = Annotated[str, msgspec.Meta(max_length=10, pattern=r"^[0-9]*$")]
RateBp = Annotated[int, msgspec.Meta(ge=0, le=50_000, description="basis points: 1 % = 100")]
Threshold = Annotated[int, msgspec.Meta(ge=0, le=10**15)]
PathDestination = Annotated[str, Parameter(min_length=2, max_length=2, description="ISO 3166-1 alpha-2 (TH, MY, VN)")]
PathVersion = Annotated[str, Parameter(min_length=1, max_length=10, description="the version's number")]


def _actor(request: Request[UserView, Any, Any]) -> str:
    return f"user:{request.user.username}"


# ---- SKU customs data -----------------------------------------------------------------------------------------


class SkuCustomsIn(msgspec.Struct, kw_only=True):
    hs_code: Annotated[str, msgspec.Meta(max_length=16, description="6–10 digits; dots and spaces are dropped")] = ""
    name_en: Text200 = ""
    name_zh: Annotated[Text200, msgspec.Meta(description="the declared Chinese name; '' = the SKU's own name")] = ""
    names: Annotated[
        dict[Annotated[str, msgspec.Meta(max_length=8)], Text200],
        msgspec.Meta(max_length=20, description="ISO 639-1 language → the name in it (th, ms, vi …)"),
    ] = {}
    material: Text200 = ""
    usage: Text200 = ""
    origin_country: Annotated[str, msgspec.Meta(max_length=2, description="ISO 3166-1 alpha-2")] = ""
    unit_value: MinorUnits = 0
    currency: Currency = "CNY"
    certificates: Annotated[
        dict[Annotated[str, msgspec.Meta(max_length=32)], Annotated[str, msgspec.Meta(max_length=64)]],
        msgspec.Meta(max_length=20, description="scheme (TISI, SIRIM …) → the SKU's certificate number"),
    ] = {}


class SkuCustomsOut(msgspec.Struct, kw_only=True):
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


class SkuCustomsItemOut(SkuCustomsOut, kw_only=True):
    id: int


class SkuCustomsPageOut(msgspec.Struct, kw_only=True):
    items: list[SkuCustomsItemOut]
    next_cursor: int | None


@dataclass
class CustomsUpload:
    """``file``: XLSX or CSV (UTF-8 / GB18030), at most 5 MB / 20,000 rows; a header row naming the columns (SKU,
    HS编码, 英文品名, 中文品名, 泰文品名 / name_th, 材质, 用途, 原产国, 申报单价 (major units), 币种, TISI证书号 …).
    ``dry_run``: ``true`` = check every row, write nothing."""

    file: UploadFile
    dry_run: str | None = None


class ImportRowErrorOut(msgspec.Struct, kw_only=True):
    row: int
    sku: str
    field: str
    code: str
    message: str
    column: str


class ImportResultOut(msgspec.Struct, kw_only=True):
    rows: int
    applied: int
    created: int
    updated: int
    errors: list[ImportRowErrorOut]
    columns: dict[str, str]
    ignored_columns: list[str]
    dry_run: bool


class SkuCustomsController(Controller):
    path = "/api/v1/catalog"
    tags = ["customs"]

    @get(
        "/skus/{code:str}/customs",
        summary="A SKU's customs data (HS code, names per language, origin, declared value, certificates)",
        description="404 `not_found` for an unknown SKU, `sku_customs_not_found` when it has none yet. `name_zh` "
        "falls back to the SKU's own name.",
    )
    async def get_one(self, code: str) -> SkuCustomsOut:
        return present(await skus.get_sku_customs(code), SkuCustomsOut)

    @put(
        "/skus/{code:str}/customs",
        summary="Set a SKU's customs data (the whole record)",
        description="Replaces the record: a field left out is emptied. HS code 6–10 digits (`invalid_hs_code`), "
        "origin ISO 3166-1 alpha-2 (`invalid_country`), currency ISO 4217 (`invalid_currency`), languages ISO 639-1 "
        "(`invalid_language`); `unit_value` in the currency's minor units. Certificate schemes are upper-cased.",
    )
    async def put_one(self, request: Request[UserView, Any, Any], code: str, data: SkuCustomsIn) -> SkuCustomsOut:
        record = msgspec.convert({**msgspec.to_builtins(data), "sku": code}, SkuCustoms)
        return present(await skus.put_sku_customs(code, record, actor=_actor(request)), SkuCustomsOut)

    @get(
        "/sku-customs",
        summary="List SKUs' customs data (search by SKU, name or English name; by HS prefix; cursor = last id)",
        description="`q` matches part of the SKU code, its name or the English name; `hs_prefix` keeps HS codes "
        "starting with it. Pages of `limit`: pass `next_cursor` as `cursor` for the next one.",
    )
    async def list_all(
        self,
        q: Annotated[str | None, Parameter(max_length=100)] = None,
        hs_prefix: Annotated[str | None, Parameter(max_length=16)] = None,
        cursor: Annotated[int | None, Parameter(ge=0, le=MAX_INT)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> SkuCustomsPageOut:
        page = await skus.list_sku_customs(q=q, hs_prefix=hs_prefix, after_id=cursor, limit=limit)
        return present(page, SkuCustomsPageOut)

    @post(
        "/sku-customs/import",
        status_code=200,
        summary="Import SKUs' customs data from a spreadsheet (XLSX or CSV), row by row",
        description="Multipart `file` (and `dry_run`). Each row is applied whole or not at all; a bad row is "
        "answered in `errors` with its row number, field, code and zh-CN message, and the good rows are written in "
        "one transaction. A column the sheet has sets that field; an empty cell keeps the SKU's value. "
        "`unit_value` is in major units (12.50). A sheet without a SKU column answers 422 "
        "`customs_import_invalid`.",
    )
    async def import_file(
        self,
        request: Request[UserView, Any, Any],
        data: Annotated[CustomsUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> ImportResultOut:
        content = await data.file.read()
        if len(content) > MAX_BYTES:
            raise ValidationFailed(f"文件不能超过 {MAX_BYTES // (1024 * 1024)} MB", field="file")
        table = read_table(content, data.file.filename or "upload")
        dry_run = (data.dry_run or "").strip().lower() in {"1", "true", "yes", "on"}
        result = await imports.import_rows(
            table.headers, table.rows, table.row_numbers, actor=_actor(request), dry_run=dry_run
        )
        return present(result, ImportResultOut)


# ---- rule packs -------------------------------------------------------------------------------------------------


class DutyRateIo(msgspec.Struct, kw_only=True):
    hs_prefix: Annotated[HsPrefix, msgspec.Meta(description='"" = every HS code; the longest prefix wins')]
    rate_bp: RateBp


class CertificateRuleIo(msgspec.Struct, kw_only=True):
    scheme: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    hs_prefixes: Annotated[list[HsPrefix], msgspec.Meta(max_length=500)] = []
    skus: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=1000)] = []
    note: Text200 = ""


class RulePackIn(msgspec.Struct, kw_only=True):
    """A new version's body; the destination comes from the path and the version number is the next one."""

    effective_from: Annotated[date, msgspec.Meta(description="first Asia/Shanghai placing date it governs")]
    name: Text200 = ""
    currency: Currency
    fx_per_cny: Annotated[float, msgspec.Meta(gt=0, lt=1_000_000, description="destination units per 1 CNY")]
    local_language: Annotated[str, msgspec.Meta(max_length=2)] = ""
    required_fields: Annotated[list[Annotated[str, msgspec.Meta(max_length=32)]], msgspec.Meta(max_length=20)] = []
    postcode_pattern: Annotated[str, msgspec.Meta(max_length=200)] = ""
    duty_free_threshold: Threshold | None = None
    vat_rate_bp: RateBp = 0
    vat_free_threshold: Threshold | None = None
    threshold_on_cif: Annotated[
        bool, msgspec.Meta(description="the thresholds compare goods + shipping (CIF), not the goods alone")
    ] = False
    vat_on_duty: bool = True
    vat_on_shipping: bool = True
    duty_rates: Annotated[list[DutyRateIo], msgspec.Meta(max_length=2000)] = []
    certificates: Annotated[list[CertificateRuleIo], msgspec.Meta(max_length=50)] = []
    documents: Annotated[list[Annotated[str, msgspec.Meta(max_length=32)]], msgspec.Meta(max_length=10)] = []
    cn22_max_value: Threshold | None = None
    sources: Annotated[list[Annotated[str, msgspec.Meta(max_length=1000)]], msgspec.Meta(max_length=100)] = []


class RulePackOut(msgspec.Struct, kw_only=True):
    destination: str
    effective_from: date
    version: int
    name: str
    currency: str
    fx_per_cny: float
    local_language: str
    required_fields: list[str]
    postcode_pattern: str
    duty_free_threshold: int | None
    vat_rate_bp: int
    vat_free_threshold: int | None
    threshold_on_cif: bool
    vat_on_duty: bool
    vat_on_shipping: bool
    duty_rates: list[DutyRateIo]
    certificates: list[CertificateRuleIo]
    documents: list[str]
    cn22_max_value: int | None
    sources: list[str]


class PackVersionOut(msgspec.Struct, kw_only=True):
    destination: str
    version: int
    effective_from: date
    name: str
    origin: Annotated[str, msgspec.Meta(description="shipped (a default file) | stored (the table)")]
    created_by: str
    created_at: datetime | None
    pack: RulePackOut


class DestinationOut(msgspec.Struct, kw_only=True):
    destination: str
    origin: str
    versions: int
    latest_version: int
    in_force_version: int | None
    in_force_name: str


class RulePackController(Controller):
    path = "/api/v1/customs/packs"
    tags = ["customs"]

    @get(
        "/",
        summary="Destinations with rule packs and the version in force today",
        description="Each destination (stored versions, else the shipped defaults): how many versions, the latest "
        "and the one in force today (Asia/Shanghai).",
    )
    async def list_destinations(self) -> list[DestinationOut]:
        return present(await packs.list_destinations(), list[DestinationOut])

    @get(
        "/{destination:str}",
        summary="Every version of a destination's rule pack, oldest first",
        description="The stored versions, or the shipped defaults while none is stored (`origin`). Versions are "
        "immutable; each carries its effective date and its sources.",
    )
    async def versions(self, destination: PathDestination) -> list[PackVersionOut]:
        return present(await packs.destination_versions(destination), list[PackVersionOut])

    @post(
        "/{destination:str}",
        summary="Add a version to a destination's rule pack (a change is a new version)",
        description="Validated: known required fields (`hs_code`, `name_en`, `name_local`, `material`, `usage`, "
        "`origin_country`, `unit_value`), a postcode regex that compiles, rates 0–50000 bp, known documents "
        "the hub can produce (`packing_list`, `cn22`, `cn23`); else 422 `invalid_rule_pack` naming the field. "
        "The version number is the next one; the first version stored for a destination stores its shipped "
        "versions first.",
    )
    async def create(
        self, request: Request[UserView, Any, Any], destination: PathDestination, data: RulePackIn
    ) -> PackVersionOut:
        body = msgspec.convert({**msgspec.to_builtins(data), "destination": destination.upper()}, RulePack)
        return present(await packs.create_version(destination, body, actor=_actor(request)), PackVersionOut)

    @get(
        "/{destination:str}/in-force",
        summary="The version of a destination's rule pack in force on a date",
        description="`on`: an Asia/Shanghai date (default today). The latest version effective on or before it; "
        "404 `rule_pack_not_found` when none is.",
    )
    async def in_force(self, destination: PathDestination, on: date | None = None) -> PackVersionOut:
        day = on or clock.to_shanghai(clock.now()).date()
        return present(await packs.in_force(destination, day), PackVersionOut)

    @get(
        "/{destination:str}/versions/{version:str}",
        summary="One version of a destination's rule pack",
        description="`version`: the version's number. 404 `rule_pack_not_found` for a version the destination "
        "does not have.",
    )
    async def one_version(self, destination: PathDestination, version: PathVersion) -> PackVersionOut:
        # isascii: "²" or "٣" pass isdigit() but int() refuses the first (a 500) and reads the second as 3
        if not (version.isascii() and version.isdigit()) or not 1 <= int(version) <= MAX_INT:
            raise ValidationFailed("版本号应为正整数", field="version")
        return present(await packs.version_of(destination, int(version)), PackVersionOut)
