"""ERP / spreadsheet order import: saved column mappings, preview, and import jobs with progress.

An upload is read and its mapping checked in the request (a wrong file or mapping is answered at once); the file
is kept on the job and a worker job builds the orders and feeds them to the same idempotent intake as every other
channel, 200 orders at a time, updating the job's progress and publishing ``import.progress`` on the orders topic
for live screens. A bad row is reported with its spreadsheet row number and never stops the others; uploading the
same file again creates nothing twice (each order is idempotent on its order number).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.channels.erp_file.parser import (
    Preview,
    build_orders,
    preview,
    read_table,
    suggest_mapping,
    validate_mapping,
)
from orderhub.channels.errors import ChannelError
from orderhub.channels.pull import channel_row
from orderhub.channels.tables import ImportJob, ImportMapping
from orderhub.errors import NotFound
from orderhub.events import Topic, publish_after_commit
from orderhub.orders.service import ingest
from orderhub.queue import JobName, enqueue

__all__ = [
    "ImportJobView",
    "ImportProgress",
    "create_import",
    "get_import",
    "get_mapping",
    "preview_upload",
    "run_import",
    "save_mapping",
]

log = logging.getLogger("orderhub.imports")
CHUNK = 200


class ImportProgress(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="import.progress"):
    job_id: int
    channel: str
    status: str
    processed_rows: int
    total_rows: int
    at: datetime


class ImportJobView(msgspec.Struct, frozen=True, kw_only=True):
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


async def get_mapping(code: str) -> dict[str, str]:
    channel = await channel_row(code)
    row = await ImportMapping.select(ImportMapping.mapping).where(ImportMapping.channel == channel["id"]).first()
    return dict(msgspec.json.decode(row["mapping"])) if row else {}


async def save_mapping(code: str, mapping: Mapping[str, str], *, actor: str) -> dict[str, str]:
    """Keep the channel's mapping (column header → unified field); checked against the fields, not a file."""
    channel = await channel_row(code)
    validate_mapping(mapping, list(mapping))
    value = msgspec.json.encode(dict(mapping)).decode()
    async with db.transaction():
        updated = (
            await ImportMapping.update(
                {ImportMapping.mapping: value, ImportMapping.updated_by: actor, ImportMapping.updated_at: clock.now()}
            )
            .where(ImportMapping.channel == channel["id"])
            .returning(ImportMapping.id)
        )
        if not updated:
            await ImportMapping.insert(
                ImportMapping(channel=channel["id"], mapping=value, updated_by=actor, updated_at=clock.now())
            )
    return dict(mapping)


async def preview_upload(code: str, data: bytes, filename: str) -> Preview:
    """The file's headers, the channel's saved mapping (else a guess from the headers), the first rows."""
    saved = await get_mapping(code)
    table = read_table(data, filename)
    mapping = {column: field for column, field in saved.items() if column in table.headers} or suggest_mapping(
        table.headers
    )
    return preview(table, mapping)


async def create_import(
    code: str, data: bytes, filename: str, *, mapping: Mapping[str, str] | None, actor: str
) -> ImportJobView:
    """Check the file and mapping now; queue the import. ``mapping`` None → the channel's saved one."""
    channel = await channel_row(code)
    table = read_table(data, filename)
    chosen = dict(mapping) if mapping else await get_mapping(code)
    validate_mapping(chosen, table.headers)
    async with db.transaction():
        inserted = await ImportJob.insert(
            ImportJob(
                channel=channel["id"],
                filename=filename[:255],
                sha256=hashlib.sha256(data).hexdigest(),
                content=data,
                mapping=msgspec.json.encode(chosen).decode(),
                status="queued",
                total_rows=len(table.rows),
                created_by=actor,
                created_at=clock.now(),
            )
        ).returning(ImportJob.id)
        job_id = int(inserted[0]["id"])

        async def _enqueue() -> None:
            await enqueue(JobName.IMPORT_FILE, key=f"import:{job_id}", timeout=1800, job_id=job_id)

        db.after_commit(_enqueue)
    return await get_import(job_id)


async def run_import(job_id: int) -> ImportJobView:
    """The worker's part: build the orders and ingest them in chunks, with progress."""
    row = (
        await ImportJob.select(
            ImportJob.id,
            ImportJob.channel,
            ImportJob.channel.code,
            ImportJob.filename,
            ImportJob.content,
            ImportJob.mapping,
            ImportJob.status,
            ImportJob.total_rows,
        )
        .where(ImportJob.id == job_id)
        .first()
    )
    if row is None:
        raise NotFound("导入任务不存在", field="job_id")
    if row["status"] == "done":
        return await get_import(job_id)
    code, total = row["channel.code"], int(row["total_rows"])
    await _save(job_id, code, total, status="running", processed=0)
    try:
        table = read_table(bytes(row["content"]), row["filename"])
        plan = build_orders(table, msgspec.json.decode(row["mapping"]))
    except Exception as exc:
        message = getattr(exc, "message", None) or repr(exc)
        failure = [{"row": 0, "code": ChannelError.UNREADABLE_FILE, "message": message}]
        await _save(job_id, code, total, status="failed", processed=0, errors=msgspec.json.encode(failure).decode())
        await _drop_content(job_id)
        return await get_import(job_id)
    errors: list[dict[str, Any]] = [msgspec.to_builtins(error) for error in plan.errors]
    # orders refused while reading the sheet (all their rows are reported); rows without an order number count alone
    rejected = len({e.get("external_id") or f"row:{e['row']}" for e in errors})
    new = duplicate = 0
    processed = len({e["row"] for e in errors})
    for start in range(0, len(plan.orders), CHUNK):
        chunk = plan.orders[start : start + CHUNK]
        outcomes = await ingest(int(row["channel"]), code, [order for _, order in chunk], actor=f"import:{job_id}")
        rows_of = {order.external_id: rows for rows, order in chunk}
        for outcome in outcomes:
            if outcome.status == "accepted":
                new += 1
            elif outcome.status == "duplicate":
                duplicate += 1
            else:
                rejected += 1
                errors.append(
                    {
                        "row": rows_of.get(outcome.external_id, [0])[0],
                        "external_id": outcome.external_id,
                        "field": outcome.error_field or "",
                        "code": outcome.error_code or "rejected",
                        "message": outcome.error_message or "订单被拒绝",
                    }
                )
        processed += sum(len(rows) for rows, _ in chunk)
        await _save(
            job_id, code, total, status="running", processed=processed, orders_new=new, orders_duplicate=duplicate
        )
    await _save(
        job_id,
        code,
        total,
        status="done",
        processed=len(table.rows),
        orders_new=new,
        orders_duplicate=duplicate,
        orders_rejected=rejected,
        errors=msgspec.json.encode(sorted(errors, key=lambda e: int(e.get("row") or 0))).decode(),
    )
    await _drop_content(job_id)
    return await get_import(job_id)


async def _drop_content(job_id: int) -> None:
    """The uploaded sheet holds customers' names, phones and addresses in clear: kept only until the job is over."""
    await ImportJob.update({ImportJob.content: b""}).where(ImportJob.id == job_id)


async def _save(job_id: int, code: str, total: int, *, status: str, processed: int, **values: Any) -> None:
    """Store the job's status, progress and counts (``values``: other ImportJob columns by name), and tell live
    screens (``import.progress`` on the orders topic)."""
    columns: dict[Any, Any] = {ImportJob.status: status, ImportJob.processed_rows: processed}
    columns.update({getattr(ImportJob, name): value for name, value in values.items()})
    if status in ("done", "failed"):
        columns[ImportJob.finished_at] = clock.now()
    async with db.transaction():
        await ImportJob.update(columns).where(ImportJob.id == job_id)
        publish_after_commit(
            ImportProgress(
                job_id=job_id, channel=code, status=status, processed_rows=processed, total_rows=total, at=clock.now()
            ),
            Topic.ORDERS,
        )


async def get_import(job_id: int) -> ImportJobView:
    row = (
        await ImportJob.select(
            *ImportJob.all_columns(exclude=[ImportJob.content, ImportJob.channel]), ImportJob.channel.code
        )
        .where(ImportJob.id == job_id)
        .first()
    )
    if row is None:
        raise NotFound("导入任务不存在", field="job_id")
    return ImportJobView(
        id=row["id"],
        channel=row["channel.code"],
        filename=row["filename"],
        status=row["status"],
        total_rows=row["total_rows"],
        processed_rows=row["processed_rows"],
        orders_new=row["orders_new"],
        orders_duplicate=row["orders_duplicate"],
        orders_rejected=row["orders_rejected"],
        errors=msgspec.json.decode(row["errors"] or "[]"),
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )
