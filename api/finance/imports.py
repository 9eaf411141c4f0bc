"""Settlement file import over HTTP: upload a platform's exported bill (CSV / XLSX / ZIP, GBK or UTF-8) under a
built-in preset or a saved mapping, preview it (dry run) or store it; and the saved mappings themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter

from api.common import MAX_INT, present
from orderhub.auth.service import UserView
from orderhub.channels.erp_file import settlement_imports
from orderhub.channels.erp_file.settlements import SettlementMapping
from orderhub.errors import ValidationFailed

__all__ = ["SettlementImportController"]

MappingId = Annotated[int, Parameter(ge=1, le=MAX_INT)]


@dataclass
class SettlementUpload:
    """``file``: the platform's export — CSV (UTF-8, UTF-8 with BOM, GBK / GB18030), XLSX, or a ZIP holding one (the
    Alipay bill download), at most 20 MB. ``channel_id``: the channel (shop) it belongs to. Exactly one of
    ``preset`` (a built-in layout's name), ``mapping_id`` (a saved mapping) or ``mapping`` (a mapping as JSON, for
    this upload only). ``dry_run``: ``true`` = map and answer the first lines, store nothing."""

    file: UploadFile
    channel_id: str
    preset: str | None = None
    mapping_id: str | None = None
    mapping: str | None = None
    dry_run: str | None = None


class PresetOut(msgspec.Struct, kw_only=True):
    name: str
    label: str
    platform: str
    mapping: SettlementMapping


class MappingIn(msgspec.Struct, kw_only=True):
    name: str
    platform: str = ""
    mapping: dict[str, Any]


class MappingOut(msgspec.Struct, kw_only=True):
    id: int
    name: str
    platform: str
    mapping: SettlementMapping
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


class ImportOut(msgspec.Struct, kw_only=True):
    channel_id: int
    file_name: str
    batch_key: str
    mapping: str
    dry_run: bool
    rows: int
    skipped_rows: int
    lines: int
    total: int
    preview: list[dict[str, Any]]
    batch_id: int | None
    inserted: int
    replaced: int
    unchanged: int
    orders: int


def _int(value: str | None, field: str) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        number = int(value.strip())
    except ValueError as exc:
        raise ValidationFailed(f"{field} 必须是整数", field=field) from exc
    if not 1 <= number <= MAX_INT:
        raise ValidationFailed(f"{field} 超出范围", field=field)
    return number


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _actor(request: Request[UserView, Any, Any]) -> str:
    return f"user:{request.user.username}"


class SettlementImportController(Controller):
    path = "/api/v1/finance"
    tags = ["finance"]

    @get(
        "/settlement-presets",
        summary="The built-in settlement file layouts (Alipay, JD POP, PDD, 抖店, 视频号小店)",
        description="Each preset's name, zh-CN label, the platforms it fits and its full column mapping (to start a "
        "saved mapping from).",
    )
    async def presets(self) -> list[PresetOut]:
        return present(settlement_imports.list_presets(), list[PresetOut])

    @post(
        "/settlements/import",
        status_code=200,
        summary="Import a platform's exported settlement file (or preview it with dry_run)",
        description="Multipart: `file`, `channel_id`, one of `preset` / `mapping_id` / `mapping`, optional "
        "`dry_run`. The file imports whole or not at all: any bad row answers 422 `settlement_file_invalid` with "
        "`errors` (row, column, zh-CN message; up to 50) and `error_count`. Stored lines are upserted by line key, "
        "so importing the same file again changes nothing and a corrected bill replaces the lines it corrects.",
    )
    async def import_file(
        self,
        request: Request[UserView, Any, Any],
        data: Annotated[SettlementUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> ImportOut:
        channel_id = _int(data.channel_id, "channel_id")
        if channel_id is None:
            raise ValidationFailed("必须指定渠道（channel_id）", field="channel_id")
        mapping: Any = None
        if data.mapping and data.mapping.strip():
            try:
                mapping = msgspec.json.decode(data.mapping)
            except msgspec.DecodeError as exc:
                raise ValidationFailed("mapping 应为 JSON 对象", field="mapping") from exc
        content = await data.file.read()
        outcome = await settlement_imports.import_settlement_file(
            channel_id,
            content,
            data.file.filename or "upload",
            preset=(data.preset or "").strip() or None,
            mapping_id=_int(data.mapping_id, "mapping_id"),
            mapping=mapping,
            dry_run=_bool(data.dry_run),
            actor=_actor(request),
        )
        return present(outcome, ImportOut)

    @get(
        "/settlement-mappings",
        summary="The saved settlement file mappings",
        description="Every saved mapping by name, with the platform it is for and the mapping itself.",
    )
    async def list_mappings(self) -> list[MappingOut]:
        return present(await settlement_imports.list_mappings(), list[MappingOut])

    @get(
        "/settlement-mappings/{mapping_id:int}",
        summary="One saved settlement file mapping",
        description="The mapping by id; 404 `settlement_mapping_not_found` when there is none.",
    )
    async def get_mapping(self, mapping_id: MappingId) -> MappingOut:
        return present(await settlement_imports.get_mapping(mapping_id), MappingOut)

    @post(
        "/settlement-mappings",
        summary="Save a settlement file mapping under a name",
        description="The mapping is checked on its own (amount columns, kinds, patterns, time zone); names are "
        "unique (409 `settlement_mapping_name_taken`).",
    )
    async def create_mapping(self, request: Request[UserView, Any, Any], data: MappingIn) -> MappingOut:
        saved = await settlement_imports.create_mapping(data.name, data.platform, data.mapping, actor=_actor(request))
        return present(saved, MappingOut)

    @put(
        "/settlement-mappings/{mapping_id:int}",
        summary="Replace a saved settlement file mapping",
        description="Name, platform and mapping are replaced as given; later imports naming it use the new one.",
    )
    async def update_mapping(
        self, request: Request[UserView, Any, Any], mapping_id: MappingId, data: MappingIn
    ) -> MappingOut:
        saved = await settlement_imports.update_mapping(
            mapping_id, data.name, data.platform, data.mapping, actor=_actor(request)
        )
        return present(saved, MappingOut)

    @delete(
        "/settlement-mappings/{mapping_id:int}",
        summary="Delete a saved settlement file mapping",
        description="Lines already imported with it stay as they are.",
    )
    async def delete_mapping(self, mapping_id: MappingId) -> None:
        await settlement_imports.delete_mapping(mapping_id)
