"""Settlement file import with the database: saved mappings (``settlement_mapping``), and importing an uploaded
export into a channel's settlement lines through :func:`orderhub.finance.settlements.store_lines`.

The file is parsed in the request (a bill of 100,000 lines reads in seconds): any bad row refuses the whole file
with its problems listed, nothing stored. A dry run answers the first lines as mapped, to check a mapping before
saving it. The batch key is the file's SHA-256: importing the same file again is the same batch, and the lines are
upserted by (channel, line key), so a re-import changes nothing and a corrected bill replaces the lines it corrects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.channels.erp_file.errors import SettlementFileError
from orderhub.channels.erp_file.settlement_tables import SettlementMapping as MappingRow
from orderhub.channels.erp_file.settlements import (
    PRESETS,
    ParsedFile,
    SettlementMapping,
    batch_key,
    decode_mapping,
    parse_settlement_file,
)
from orderhub.channels.tables import Channel
from orderhub.errors import Conflict, NotFound, ValidationFailed

__all__ = [
    "ImportOutcome",
    "MappingView",
    "PresetView",
    "create_mapping",
    "delete_mapping",
    "get_mapping",
    "import_settlement_file",
    "list_mappings",
    "list_presets",
    "resolve_mapping",
    "update_mapping",
]

PREVIEW_LINES = 20


class PresetView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    label: str
    platform: str
    mapping: SettlementMapping


class MappingView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    platform: str
    mapping: SettlementMapping
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


class ImportOutcome(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: int
    file_name: str
    batch_key: str
    mapping: str  # "preset:<name>" | "mapping:<id>" | "given"
    dry_run: bool
    rows: int  # data rows read
    skipped_rows: int  # rows with no money
    lines: int
    total: int  # fen
    preview: list[dict[str, Any]]  # the first lines as mapped, each with its file row
    batch_id: int | None = None
    inserted: int = 0
    replaced: int = 0
    unchanged: int = 0
    orders: int = 0


# --------------------------------------------------------------------------------------------------------------
# Presets and saved mappings
# --------------------------------------------------------------------------------------------------------------


def list_presets() -> list[PresetView]:
    return [
        PresetView(name=preset.name, label=preset.label, platform=preset.platform, mapping=preset.mapping)
        for preset in PRESETS.values()
    ]


def _view(row: dict[str, Any]) -> MappingView:
    return MappingView(
        id=row["id"],
        name=row["name"],
        platform=row["platform"],
        mapping=msgspec.json.decode(row["mapping"], type=SettlementMapping),
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_by=row["updated_by"],
        updated_at=row["updated_at"],
    )


async def list_mappings() -> list[MappingView]:
    rows = await MappingRow.select().order_by(MappingRow.name)
    return [_view(row) for row in rows]


async def get_mapping(mapping_id: int) -> MappingView:
    row = await MappingRow.select().where(MappingRow.id == mapping_id).first()
    if row is None:
        raise NotFound(SettlementFileError.MAPPING_NOT_FOUND, field="mapping_id")
    return _view(row)


def _check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise ValidationFailed("映射名称不能为空，最多 100 个字符", field="name")
    return name


def _check_platform(platform: str) -> str:
    platform = platform.strip()
    if len(platform) > 32:
        raise ValidationFailed("平台代码最多 32 个字符", field="platform")
    return platform


async def _name_taken(name: str, *, other_than: int | None = None) -> None:
    query = MappingRow.select(MappingRow.id).where(MappingRow.name == name)
    if other_than is not None:
        query = query.where(MappingRow.id != other_than)
    if await query.first():
        raise Conflict(SettlementFileError.MAPPING_NAME_TAKEN, field="name")


async def create_mapping(name: str, platform: str, mapping: Any, *, actor: str) -> MappingView:
    """Save a mapping under a name (unique). ``mapping``: JSON or plain data, checked on its own."""
    name, platform = _check_name(name), _check_platform(platform)
    checked = decode_mapping(mapping)
    now = clock.now()
    async with db.transaction():
        await _name_taken(name)
        inserted = await MappingRow.insert(
            MappingRow(
                name=name,
                platform=platform,
                mapping=msgspec.json.encode(checked).decode(),
                created_by=actor[:64],
                created_at=now,
                updated_by=actor[:64],
                updated_at=now,
            )
        ).returning(MappingRow.id)
    return await get_mapping(int(inserted[0]["id"]))


async def update_mapping(mapping_id: int, name: str, platform: str, mapping: Any, *, actor: str) -> MappingView:
    name, platform = _check_name(name), _check_platform(platform)
    checked = decode_mapping(mapping)
    async with db.transaction():
        await get_mapping(mapping_id)
        await _name_taken(name, other_than=mapping_id)
        await MappingRow.update(
            {
                MappingRow.name: name,
                MappingRow.platform: platform,
                MappingRow.mapping: msgspec.json.encode(checked).decode(),
                MappingRow.updated_by: actor[:64],
                MappingRow.updated_at: clock.now(),
            }
        ).where(MappingRow.id == mapping_id)
    return await get_mapping(mapping_id)


async def delete_mapping(mapping_id: int) -> None:
    async with db.transaction():
        await get_mapping(mapping_id)
        await MappingRow.delete().where(MappingRow.id == mapping_id)


async def resolve_mapping(
    *, preset: str | None = None, mapping_id: int | None = None, mapping: Any = None
) -> tuple[SettlementMapping, str]:
    """The mapping an import uses — exactly one of a preset's name, a saved mapping's id, or a mapping given — and
    how to name it (``preset:<name>``, ``mapping:<id>``, ``given``)."""
    given = [value for value in (preset, mapping_id, mapping) if value not in (None, "")]
    if len(given) != 1:
        raise ValidationFailed(SettlementFileError.MAPPING_REQUIRED, field="preset")
    if preset:
        found = PRESETS.get(preset)
        if found is None:
            known = "、".join(PRESETS)
            raise ValidationFailed(
                f"没有内置映射「{preset}」，可用：{known}", code=SettlementFileError.PRESET_UNKNOWN, field="preset"
            )
        return found.mapping, f"preset:{preset}"
    if mapping_id is not None:
        return (await get_mapping(mapping_id)).mapping, f"mapping:{mapping_id}"
    return decode_mapping(mapping), "given"


# --------------------------------------------------------------------------------------------------------------
# Importing a file
# --------------------------------------------------------------------------------------------------------------


def _preview(parsed: ParsedFile) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = []
    for line, row in zip(parsed.lines[:PREVIEW_LINES], parsed.line_rows, strict=False):
        item = msgspec.to_builtins(line, builtin_types=(datetime,))
        item.pop("raw", None)
        item["row"] = row
        shown.append(item)
    return shown


async def import_settlement_file(
    channel_id: int,
    data: bytes,
    file_name: str,
    *,
    preset: str | None = None,
    mapping_id: int | None = None,
    mapping: Any = None,
    dry_run: bool = False,
    actor: str,
) -> ImportOutcome:
    """Parse ``data`` under the chosen mapping; unless ``dry_run``, store every line in one batch. A file with any
    bad row raises ``ValidationFailed`` (code ``settlement_file_invalid``, ``extra.errors``) and stores nothing."""
    channel = await Channel.select(Channel.id).where(Channel.id == channel_id).first()
    if channel is None:
        raise NotFound("渠道不存在", field="channel_id")
    chosen, named = await resolve_mapping(preset=preset, mapping_id=mapping_id, mapping=mapping)
    parsed = parse_settlement_file(data, file_name, chosen)
    key = batch_key(data)
    outcome = ImportOutcome(
        channel_id=channel_id,
        file_name=file_name[:255],
        batch_key=key,
        mapping=named,
        dry_run=dry_run,
        rows=parsed.rows,
        skipped_rows=parsed.skipped_rows,
        lines=len(parsed.lines),
        total=parsed.total,
        preview=_preview(parsed),
    )
    if dry_run:
        return outcome
    from orderhub.finance.settlements import store_lines  # the finance context's (lead's) entry point

    result = await store_lines(
        channel_id, source="file", batch_key=key, lines=parsed.lines, actor=actor[:64], file_name=file_name[:255]
    )
    return msgspec.structs.replace(
        outcome,
        batch_id=result.batch_id,
        inserted=result.inserted,
        replaced=result.replaced,
        unchanged=result.unchanged,
        orders=result.orders,
    )
