"""The daily reconciliation report (per channel, like the sellers' own table: orders, platform settled, system
recorded, difference, main causes) and the list of differences to work through, with their resolution.

Every figure is a sum of ``reconciliation`` rows (an order, or a line on no order, reported on the bill day of its
first sale line, with all its lines — a refund the platform books days later moves that day's figures), so a row's
causes add up to its difference and the report's totals to its rows. ``bill_total`` beside them is what the
platform's own bill of the day adds up to, to check against the platform's figure.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import NotFound, ValidationFailed
from orderhub.finance.errors import FinanceError
from orderhub.finance.model import CAUSE_NAMES, CauseTotal, DailyReport, DailyReportRow

__all__ = [
    "RESOLUTIONS",
    "Difference",
    "DifferencePage",
    "daily_report",
    "get_difference",
    "list_differences",
    "resolve",
]

RESOLUTIONS = frozenset({"note", "write_off", "claim"})


class _Row(msgspec.Struct):
    id: int
    channel: int
    order_id: int | None
    external_id: str
    recon_key: str
    bill_date: str
    expected: int
    settled: int
    difference: int
    status: str
    main_cause: str
    parts: str
    resolution: str
    resolution_note: str
    resolved_by: str
    resolved_at: datetime | None


_COLUMNS = (
    'id, channel, "order" AS order_id, external_id, recon_key, bill_date, expected, settled, difference, status, '
    "main_cause, parts, resolution, resolution_note, resolved_by, resolved_at"
)


class _Total(msgspec.Struct):
    channel: int
    amount: int


class _Channel(msgspec.Struct):
    id: int
    name: str
    platform: str


async def _channels() -> dict[int, _Channel]:
    rows = await db.fetch_as(_Channel, "SELECT id, name, platform FROM channel")
    return {row.id: row for row in rows}


async def daily_report(day: date, channel_id: int | None = None) -> DailyReport:
    """One bill day, per channel (only channels with settlement that day)."""
    sql = f"SELECT {_COLUMNS} FROM reconciliation WHERE bill_date = {{}}"
    args: list[Any] = [day.isoformat()]
    if channel_id is not None:
        sql += " AND channel = {}"
        args.append(channel_id)
    rows = await db.fetch_as(_Row, sql + " ORDER BY channel, id", *args)
    channels = await _channels()
    totals_sql = "SELECT channel, SUM(amount) AS amount FROM settlement_line WHERE bill_date = {}"
    totals_args: list[Any] = [day.isoformat()]
    if channel_id is not None:
        totals_sql += " AND channel = {}"
        totals_args.append(channel_id)
    bill_totals = {
        t.channel: t.amount for t in await db.fetch_as(_Total, totals_sql + " GROUP BY channel", *totals_args)
    }
    by_channel: dict[int, list[_Row]] = defaultdict(list)
    for row in rows:
        by_channel[row.channel].append(row)
    report_rows: list[DailyReportRow] = []
    for cid in sorted(by_channel):
        members = by_channel[cid]
        causes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for row in members:
            for part in msgspec.json.decode(row.parts or "[]"):
                total = causes[part["cause"]]
                total[0] += int(part["amount"])
                total[1] += 1
        channel = channels.get(cid)
        report_rows.append(
            DailyReportRow(
                channel_id=cid,
                channel_name=channel.name if channel else str(cid),
                platform=channel.platform if channel else "",
                day=day,
                orders=sum(1 for row in members if row.order_id is not None),
                settled=sum(row.settled for row in members),
                expected=sum(row.expected for row in members),
                difference=sum(row.difference for row in members),
                causes=[
                    CauseTotal(cause=cause, name=CAUSE_NAMES.get(cause, cause), amount=amount, orders=count)
                    for cause, (amount, count) in sorted(causes.items(), key=lambda kv: (-abs(kv[1][0]), kv[0]))
                ],
                flagged=sum(1 for row in members if row.status == "flagged"),
                bill_total=bill_totals.get(cid, 0),
            )
        )
    return DailyReport(
        day=day,
        generated_at=clock.now(),
        rows=report_rows,
        settled=sum(r.settled for r in report_rows),
        expected=sum(r.expected for r in report_rows),
        difference=sum(r.difference for r in report_rows),
    )


class Part(msgspec.Struct, frozen=True, kw_only=True):
    cause: str
    name: str
    amount: int
    fields: dict[str, Any]


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    channel_id: int
    order_id: int | None
    external_id: str
    bill_date: str
    expected: int
    settled: int
    difference: int
    status: str  # explained | flagged
    main_cause: str
    main_cause_name: str
    parts: list[Part]
    resolution: str
    resolution_note: str
    resolved_by: str
    resolved_at: datetime | None


class DifferencePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Difference]
    next_cursor: int | None


def _difference(row: _Row) -> Difference:
    parts = [
        Part(
            cause=p["cause"],
            name=CAUSE_NAMES.get(p["cause"], p["cause"]),
            amount=int(p["amount"]),
            fields=p.get("fields") or {},
        )
        for p in msgspec.json.decode(row.parts or "[]")
    ]
    return Difference(
        id=row.id,
        channel_id=row.channel,
        order_id=row.order_id,
        external_id=row.external_id or row.recon_key[2:],
        bill_date=row.bill_date,
        expected=row.expected,
        settled=row.settled,
        difference=row.difference,
        status=row.status,
        main_cause=row.main_cause,
        main_cause_name=CAUSE_NAMES.get(row.main_cause, row.main_cause),
        parts=parts,
        resolution=row.resolution,
        resolution_note=row.resolution_note,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
    )


async def list_differences(
    *,
    channel_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
    cause: str | None = None,
    status: str | None = None,
    open_only: bool = True,
    after_id: int | None = None,
    limit: int = 100,
) -> DifferencePage:
    """The rows with a difference (newest bill day first is not needed: id order, cursor = last id)."""
    if not 1 <= limit <= 500:
        raise ValidationFailed("limit 取值范围为 1–500", field="limit")
    where = ["difference <> 0"]
    args: list[Any] = []
    if channel_id is not None:
        where.append("channel = {}")
        args.append(channel_id)
    if since is not None:
        where.append("bill_date >= {}")
        args.append(since.isoformat())
    if until is not None:
        where.append("bill_date <= {}")
        args.append(until.isoformat())
    if cause:
        where.append("main_cause = {}")
        args.append(cause)
    if status:
        if status not in ("explained", "flagged"):
            raise ValidationFailed("status 应为 explained 或 flagged", field="status")
        where.append("status = {}")
        args.append(status)
    if open_only:
        where.append("resolution = ''")
    if after_id is not None:
        where.append("id > {}")
        args.append(after_id)
    rows = await db.fetch_as(
        _Row,
        f"SELECT {_COLUMNS} FROM reconciliation WHERE {' AND '.join(where)} ORDER BY id LIMIT {{}}",
        *args,
        limit + 1,
    )
    items = [_difference(row) for row in rows[:limit]]
    return DifferencePage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


async def get_difference(recon_id: int) -> Difference:
    row = await db.fetch_one_as(_Row, f"SELECT {_COLUMNS} FROM reconciliation WHERE id = {{}}", recon_id)
    if row is None:
        raise NotFound(FinanceError.RECON_NOT_FOUND, field="id")
    return _difference(row)


async def resolve(recon_id: int, *, action: str, note: str, actor: str) -> Difference:
    """Finance's answer to a difference: a note, a write-off (accepted as it is) or a claim with the platform. It
    stays while the difference stays; a corrected bill that moves the difference reopens the row."""
    if action not in RESOLUTIONS:
        raise ValidationFailed(FinanceError.BAD_RESOLUTION, field="action")
    if len(note) > 500:
        raise ValidationFailed("备注不超过 500 个字符", field="note")
    if action in ("write_off", "claim") and not note.strip():
        raise ValidationFailed("核销或申诉需要填写说明", field="note")
    async with db.transaction():
        current = await db.fetch_one_as(
            _Row, f"SELECT {_COLUMNS} FROM reconciliation WHERE id = {{}}{db.for_update()}", recon_id
        )
        if current is None:
            raise NotFound(FinanceError.RECON_NOT_FOUND, field="id")
        if current.difference == 0:
            raise ValidationFailed(FinanceError.NOTHING_TO_RESOLVE, field="id")
        await db.execute(
            "UPDATE reconciliation SET resolution = {}, resolution_note = {}, resolved_by = {}, resolved_at = {} "
            "WHERE id = {}",
            action,
            note.strip(),
            actor[:64],
            clock.now(),
            recon_id,
        )
    return await get_difference(recon_id)
