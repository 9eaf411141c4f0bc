"""Storing settlement lines — a pulled page or an imported file — and reconciling what they touch.

A bill day comes from one source: lines stored for a day from a pull replace that day's lines from a file import
(and the other way round), since each path keys the same money its own way.

Lines are unique per channel and line key (the platform's own id for the line): storing a line again as it is
changes nothing, storing it with another amount, kind, order or day replaces it (a corrected bill replaces exactly
the lines it corrects and leaves the others), and the orders on both sides of a change are reconciled again, in the
same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import ValidationFailed
from orderhub.finance.errors import FinanceError
from orderhub.finance.model import StoreResult
from orderhub.finance.port import LineKind, SettlementLineIn
from orderhub.finance.reconcile import lock_channel, reconcile

__all__ = ["MAX_LINE_FEN", "SOURCES", "check_lines", "store_lines"]

SOURCES = frozenset({"pull", "file", "api"})
MAX_LINE_FEN = 10_000_000_00  # 一千万元 on one line: above it the figure is a mapping mistake
_KINDS = frozenset(k.value for k in LineKind)


class _Existing(msgspec.Struct):
    line_key: str
    external_id: str
    sub_id: str
    occurred_at: datetime | None
    memo: str
    kind: str
    amount: int
    settled_at: datetime
    bill_date: str
    refund_before_settle: bool


class _Superseded(msgspec.Struct):
    line_key: str
    external_id: str


def check_lines(lines: Sequence[SettlementLineIn]) -> None:
    """Refuse a batch with a line the store cannot take (the field names the line: ``lines[3].amount``)."""
    seen: set[str] = set()
    for i, line in enumerate(lines):
        where = f"lines[{i}]"
        if not line.line_key or len(line.line_key) > 128:
            raise ValidationFailed("结算明细的流水号不能为空，且不超过 128 个字符", field=f"{where}.line_key")
        if line.line_key in seen:
            raise ValidationFailed(
                f"结算明细的流水号 {line.line_key} 在同一批次中重复",
                code=FinanceError.DUPLICATE_LINE,
                field=f"{where}.line_key",
            )
        seen.add(line.line_key)
        if len(line.external_id) > 64 or len(line.sub_id) > 64:
            raise ValidationFailed("平台订单号不超过 64 个字符", field=f"{where}.external_id")
        if line.kind not in _KINDS:
            raise ValidationFailed(f"未知的结算类型 {line.kind}", field=f"{where}.kind")
        if abs(line.amount) > MAX_LINE_FEN:
            raise ValidationFailed("单条结算金额超出范围（以分计，不超过一千万元）", field=f"{where}.amount")
        if line.settled_at.tzinfo is None:
            raise ValidationFailed("结算时间必须带时区", field=f"{where}.settled_at")


def _same(old: _Existing, line: SettlementLineIn) -> bool:
    return (
        old.external_id == line.external_id
        and old.kind == line.kind
        and old.amount == line.amount
        and old.bill_date == line.bill_date.isoformat()
        and bool(old.refund_before_settle) == line.refund_before_settle
        and old.settled_at == line.settled_at
        and old.sub_id == line.sub_id
        and old.occurred_at == line.occurred_at
        and old.memo == line.memo[:255]
    )


_COLUMNS = (
    "channel",
    "line_key",
    "batch",
    "external_id",
    "sub_id",
    "kind",
    "amount",
    "settled_at",
    "bill_date",
    "occurred_at",
    "refund_before_settle",
    "memo",
    "payload",
    "updated_at",
)


def _day(value: date) -> str:
    return value.isoformat()


async def store_lines(
    channel_id: int,
    *,
    source: str,
    batch_key: str,
    lines: Sequence[SettlementLineIn],
    actor: str = "system",
    file_name: str = "",
) -> StoreResult:
    """Store one batch of lines (all or nothing) and reconcile the orders they touch."""
    if source not in SOURCES:
        raise ValueError(f"unknown settlement source {source!r}")
    check_lines(lines)
    now = clock.now()
    async with db.transaction():
        await lock_channel(channel_id)
        batch = await db.execute_returning(
            db.IdRow,
            "INSERT INTO settlement_batch (channel, source, batch_key, file_name, lines, total, inserted, replaced, "
            "actor, created_at) VALUES ({}, {}, {}, {}, {}, {}, 0, 0, {}, {}) RETURNING id",
            channel_id,
            source,
            batch_key[:128],
            file_name[:255],
            len(lines),
            sum(line.amount for line in lines),
            actor[:64],
            now,
        )
        batch_id = batch[0].id
        # A bill day has one source: a file imported for days a pull already stored (or the other way round) would
        # hold the same money under other line keys (each path keys lines its own way), so it replaces those days.
        superseded: list[_Superseded] = []
        days = sorted({_day(line.bill_date) for line in lines})
        for chunk in db.chunks(days):
            superseded += await db.execute_returning(
                _Superseded,
                f"DELETE FROM settlement_line WHERE channel = {{}} AND bill_date IN ({db.placeholders(len(chunk))}) "
                "AND batch IN (SELECT id FROM settlement_batch WHERE channel = {} AND source <> {}) "
                "RETURNING line_key, external_id",
                channel_id,
                *chunk,
                channel_id,
                source,
            )
        existing: dict[str, _Existing] = {}
        keys = [line.line_key for line in lines]
        for chunk in db.chunks(keys):
            rows = await db.fetch_as(
                _Existing,
                "SELECT line_key, external_id, sub_id, occurred_at, memo, kind, amount, settled_at, bill_date, "
                "refund_before_settle "
                f"FROM settlement_line WHERE channel = {{}} AND line_key IN ({db.placeholders(len(chunk))})",
                channel_id,
                *chunk,
            )
            existing.update((row.line_key, row) for row in rows)
        changed: list[SettlementLineIn] = []
        touched: set[str] = {gone.external_id for gone in superseded if gone.external_id}
        account: list[str] = [gone.line_key for gone in superseded if not gone.external_id]
        inserted = replaced = 0
        for line in lines:
            old = existing.get(line.line_key)
            if old is not None and _same(old, line):
                continue
            changed.append(line)
            if old is None:
                inserted += 1
            else:
                replaced += 1
                if old.external_id:
                    touched.add(old.external_id)
                elif line.external_id:  # a line on no order is now on one: its own row goes
                    account.append(line.line_key)
            if line.external_id:
                touched.add(line.external_id)
            else:
                account.append(line.line_key)
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[2:])
        row = "(" + ", ".join(["{}"] * len(_COLUMNS)) + ")"
        for part in db.chunks(changed, db.rows_per_statement(len(_COLUMNS))):
            args: list[Any] = []
            for line in part:
                args += [
                    channel_id,
                    line.line_key,
                    batch_id,
                    line.external_id,
                    line.sub_id,
                    line.kind.value if isinstance(line.kind, LineKind) else str(line.kind),
                    line.amount,
                    line.settled_at,
                    _day(line.bill_date),
                    line.occurred_at,
                    line.refund_before_settle,
                    line.memo[:255],
                    msgspec.json.encode(line.raw).decode(),
                    now,
                ]
            await db.execute(
                f"INSERT INTO settlement_line ({', '.join(_COLUMNS)}) VALUES {', '.join([row] * len(part))} "
                f"ON CONFLICT (channel, line_key) DO UPDATE SET {updates}",
                *args,
            )
        await db.execute(
            "UPDATE settlement_batch SET inserted = {}, replaced = {} WHERE id = {}", inserted, replaced, batch_id
        )
        reconciled = await reconcile(channel_id, touched, account) if changed or superseded else 0
    return StoreResult(
        batch_id=batch_id,
        lines=len(lines),
        inserted=inserted,
        replaced=replaced,
        unchanged=len(lines) - inserted - replaced,
        orders=reconciled,
        superseded=len(superseded),
    )
