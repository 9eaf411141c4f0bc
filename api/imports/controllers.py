"""ERP / spreadsheet imports: the channel's column mapping, a preview of an upload, import jobs and their progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter

from api.common import MAX_INT, present
from orderhub.auth.policy import check_warehouse
from orderhub.auth.service import UserView
from orderhub.channels.erp_file import imports
from orderhub.channels.erp_file.parser import FIELDS
from orderhub.channels.service import get_channel_ref
from orderhub.errors import ValidationFailed

__all__ = ["ImportController"]

JobId = Annotated[int, Parameter(ge=1, le=MAX_INT)]


@dataclass
class Upload:
    """``file``: CSV (UTF-8 or GB18030) or XLSX, at most 5 MB / 20,000 rows. ``mapping``: optional JSON object
    column header → field for this upload only (else the channel's saved mapping)."""

    file: UploadFile
    mapping: str | None = None


class MappingIn(msgspec.Struct, kw_only=True):
    mapping: dict[str, str]


class MappingOut(msgspec.Struct, kw_only=True):
    channel: str
    mapping: dict[str, str]


class FieldOut(msgspec.Struct, kw_only=True):
    name: str
    label: str
    required: bool


class PreviewOut(msgspec.Struct, kw_only=True):
    headers: list[str]
    mapping: dict[str, str]
    rows: list[dict[str, str]]
    row_numbers: list[int]
    row_count: int
    missing_fields: list[str]


class ImportJobOut(msgspec.Struct, kw_only=True):
    id: int
    channel: str
    filename: str
    status: str
    total_rows: int
    processed_rows: int
    orders_new: int
    orders_duplicate: int
    orders_rejected: int
    errors: list[dict[str, Any]]
    created_at: datetime
    finished_at: datetime | None


async def _read(upload: Upload) -> tuple[bytes, str, dict[str, str] | None]:
    data = await upload.file.read()
    mapping: dict[str, str] | None = None
    if upload.mapping:
        try:
            mapping = msgspec.json.decode(upload.mapping, type=dict[str, str])
        except msgspec.DecodeError as exc:
            raise ValidationFailed("mapping 应为 JSON 对象：列名 → 字段", field="mapping") from exc
    return data, upload.file.filename or "upload", mapping


async def _channel_in_scope(code: str, user: UserView) -> None:
    """A channel's imports belong to its default warehouse: a user bound to another warehouse (or a channel with no
    default warehouse, whose orders may go anywhere) is refused with ``forbidden_warehouse``."""
    if user.warehouse_id is not None:
        channel = await get_channel_ref(code, field="code")
        check_warehouse(user.warehouse_id, channel.default_warehouse_id, field="code")


class ImportController(Controller):
    path = "/api/v1"
    tags = ["imports"]

    @get(
        "/imports/fields",
        summary="The unified fields a column can be mapped to (zh-CN labels)",
        description="Every field of the unified order row an import column can feed, with its zh-CN label and whether "
        "an import needs it.",
    )
    async def fields(self) -> list[FieldOut]:
        return [FieldOut(name=name, label=spec.label, required=spec.required) for name, spec in FIELDS.items()]

    @get(
        "/channels/{code:str}/import-mapping",
        summary="The channel's saved column mapping",
        description="Which spreadsheet column header feeds which unified field for this channel's imports; empty "
        "until one is saved.",
    )
    async def get_mapping(self, request: Request[UserView, Any, Any], code: str) -> MappingOut:
        await _channel_in_scope(code, request.user)
        return MappingOut(channel=code, mapping=await imports.get_mapping(code))

    @put(
        "/channels/{code:str}/import-mapping",
        summary="Save the channel's column mapping (column header → field)",
        description="Replaces the channel's mapping; later imports use it instead of guessing from the headers.",
    )
    async def put_mapping(self, request: Request[UserView, Any, Any], code: str, data: MappingIn) -> MappingOut:
        await _channel_in_scope(code, request.user)
        saved = await imports.save_mapping(code, data.mapping, actor=f"user:{request.user.username}")
        return MappingOut(channel=code, mapping=saved)

    @post(
        "/channels/{code:str}/imports/preview",
        status_code=200,
        summary="Headers, the mapping that would apply (saved, else guessed) and the first rows of an upload",
        description="Upload the file as multipart (`file`, optionally `mapping` as JSON). Nothing is imported: the "
        "answer shows the headers found, the mapping that would apply and the first rows mapped, to check before "
        "importing.",
    )
    async def preview(
        self,
        request: Request[UserView, Any, Any],
        code: str,
        data: Annotated[Upload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> PreviewOut:
        await _channel_in_scope(code, request.user)
        content, filename, _ = await _read(data)
        return present(await imports.preview_upload(code, content, filename), PreviewOut)

    @post(
        "/channels/{code:str}/imports",
        status_code=202,
        summary="Import an ERP export / spreadsheet (runs in the worker; follow GET /api/v1/imports/{id})",
        description="Upload the file as multipart (CSV or XLSX, `file`, optionally `mapping`). The rows are read in "
        "the worker and ingested like pushed orders (idempotent per channel and external id); the answer is the "
        "import job to follow.",
    )
    async def create(
        self,
        request: Request[UserView, Any, Any],
        code: str,
        data: Annotated[Upload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> ImportJobOut:
        await _channel_in_scope(code, request.user)
        content, filename, mapping = await _read(data)
        job = await imports.create_import(
            code, content, filename, mapping=mapping, actor=f"user:{request.user.username}"
        )
        return present(job, ImportJobOut)

    @get(
        "/imports/{job_id:int}",
        summary="An import's progress, counts and row-level errors (with row numbers)",
        description="Status (queued, running, done, failed), rows read, orders created, duplicates and each rejected "
        "row with its row number and reason.",
    )
    async def get_import(self, request: Request[UserView, Any, Any], job_id: JobId) -> ImportJobOut:
        job = await imports.get_import(job_id)
        await _channel_in_scope(job.channel, request.user)
        return present(job, ImportJobOut)
