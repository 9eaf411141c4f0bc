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
from api.security import requires
from orderhub.auth.service import Role, UserView
from orderhub.channels.erp_file import imports
from orderhub.channels.erp_file.parser import FIELDS
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


class ImportController(Controller):
    path = "/api/v1"
    tags = ["imports"]
    guards = [requires(Role.ADMIN, Role.MANAGER)]

    @get("/imports/fields", summary="The unified fields a column can be mapped to (zh-CN labels)")
    async def fields(self) -> list[FieldOut]:
        return [FieldOut(name=name, label=spec.label, required=spec.required) for name, spec in FIELDS.items()]

    @get("/channels/{code:str}/import-mapping", summary="The channel's saved column mapping")
    async def get_mapping(self, code: str) -> MappingOut:
        return MappingOut(channel=code, mapping=await imports.get_mapping(code))

    @put("/channels/{code:str}/import-mapping", summary="Save the channel's column mapping (column header → field)")
    async def put_mapping(self, request: Request[UserView, Any, Any], code: str, data: MappingIn) -> MappingOut:
        saved = await imports.save_mapping(code, data.mapping, actor=f"user:{request.user.username}")
        return MappingOut(channel=code, mapping=saved)

    @post(
        "/channels/{code:str}/imports/preview",
        status_code=200,
        summary="Headers, the mapping that would apply (saved, else guessed) and the first rows of an upload",
    )
    async def preview(
        self, code: str, data: Annotated[Upload, Body(media_type=RequestEncodingType.MULTI_PART)]
    ) -> PreviewOut:
        content, filename, _ = await _read(data)
        return present(await imports.preview_upload(code, content, filename), PreviewOut)

    @post(
        "/channels/{code:str}/imports",
        status_code=202,
        summary="Import an ERP export / spreadsheet (runs in the worker; follow GET /api/v1/imports/{id})",
    )
    async def create(
        self,
        request: Request[UserView, Any, Any],
        code: str,
        data: Annotated[Upload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> ImportJobOut:
        content, filename, mapping = await _read(data)
        job = await imports.create_import(
            code, content, filename, mapping=mapping, actor=f"user:{request.user.username}"
        )
        return present(job, ImportJobOut)

    @get("/imports/{job_id:int}", summary="An import's progress, counts and row-level errors (with row numbers)")
    async def get_import(self, job_id: JobId) -> ImportJobOut:
        return present(await imports.get_import(job_id), ImportJobOut)
