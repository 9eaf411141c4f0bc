"""What makes every handheld scan idempotent: the scan row, unique per (device, client_id), is written in the same
transaction as the scan's effect and keeps the answer. A replay — the PDA lost the answer on a Wi-Fi drop, or
replays its offline queue — gets the first answer back and changes nothing; two copies racing each other both
get the answer of the one that committed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol, TypeVar

import msgspec

from orderhub import clock, db
from orderhub.errors import Conflict, OrderHubError, ValidationFailed
from orderhub.picking.errors import PickingError
from orderhub.picking.sessions import PdaSession
from orderhub.registry import Hooks

__all__ = [
    "REPLAY_ID_SQL",
    "SCAN_HOOKS",
    "SKU_BY_BARCODE_SQL",
    "Answer",
    "Fingerprint",
    "ScanLogged",
    "ScanRecord",
    "ScanWrite",
    "once",
    "replay_binds",
    "replayed",
    "row_upsert",
    "sku_by_barcode",
    "with_scan_row",
]


class Answer(Protocol):
    ok: bool
    code: str
    replayed: bool


A = TypeVar("A", bound=msgspec.Struct)


class ScanRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the scan row keeps besides its fingerprint and answer (for the quality figures)."""

    order_id: int | None = None
    task_id: int | None = None
    sku_id: int | None = None
    scanned_at: datetime | None = None


class ScanLogged(msgspec.Struct, frozen=True, kw_only=True):
    """A scan just recorded (not a replay): who, where, what kind, the answer's outcome."""

    user_id: int
    warehouse_id: int
    kind: str
    ok: bool
    error: str
    qty: int
    order_id: int | None
    received_at: datetime


# Called once per scan this request records, in its transaction, just before its row is written (the insights
# context counts the operators' work here). Nothing a listener writes outlives a replay or a racing copy: the
# transaction is rolled back when the row turns out to be there already. A listener's writes can go with the scan's
# row (:func:`with_scan_row`): one statement on PostgreSQL.
ScanHook = Callable[[ScanLogged], Awaitable[None]]
SCAN_HOOKS: Hooks[ScanHook] = Hooks("pda scan recorded")


class ScanWrite(msgspec.Struct, frozen=True, kw_only=True):
    """A write that goes with the scan's row, only if this request records the scan (:func:`with_scan_row`)."""

    together: str  # PostgreSQL: the write as a CTE of the row's INSERT, reading ``recorded`` (the row it inserted)
    alone: str  # the same write on its own, run right after the row is written (SQLite)
    values: tuple[Any, ...]  # the parameters of either text


_row_writes: ContextVar[list[ScanWrite] | None] = ContextVar("orderhub_scan_row_writes", default=None)


def with_scan_row(write: ScanWrite) -> bool:
    """From a scan's ``apply`` or a :data:`SCAN_HOOKS` listener: ``write`` goes with the scan's row, only if this
    request records the scan — in the statement that writes the row on PostgreSQL (a data-modifying CTE reading the
    row it inserted; none when a copy recorded the scan first), right after the row on SQLite (which has no such
    CTEs). False outside :func:`once` (then write it yourself)."""
    writes = _row_writes.get()
    if writes is None:
        return False
    writes.append(write)
    return True


@lru_cache(maxsize=32)
def _upsert_texts(
    table: str, columns: tuple[str, ...], types: tuple[str, ...], on_conflict: str
) -> tuple[str, str]:
    into = f"INSERT INTO {table} ({', '.join(columns)})"
    casts = ", ".join(f"{{}}::{t}" for t in types)
    return (
        f"{into} SELECT {casts} FROM recorded {on_conflict}",
        f"{into} VALUES ({', '.join(['{}'] * len(columns))}) {on_conflict}",
    )


def row_upsert(
    table: str, columns: tuple[str, ...], types: tuple[str, ...], on_conflict: str, values: tuple[Any, ...]
) -> ScanWrite:
    """One row upserted with the scan's row: ``types`` are the columns' PostgreSQL types (the parameters are cast
    to them), ``on_conflict`` is "ON CONFLICT (…) DO UPDATE SET …" or "… DO NOTHING" (no braces: placeholders)."""
    together, alone = _upsert_texts(table, columns, types, on_conflict)
    return ScanWrite(together=together, alone=alone, values=values)


_RECORD_SCAN = (
    "INSERT INTO pda_scan (device, client_id, picker, warehouse, task, line, \"order\", sku, kind, "
    "barcode, qty, ok, error, answer, scanned_at, received_at) "
    "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) "
    "ON CONFLICT (device, client_id) DO NOTHING RETURNING id"
)


@lru_cache(maxsize=32)
def _recording_sql(togethers: tuple[str, ...]) -> str:
    """PostgreSQL: the scan's row and the writes that go with it as one statement; each reads the row inserted
    (none when a copy recorded the scan first: then nothing is written and the statement returns no id)."""
    ctes = "".join(f", w{i} AS ({together})" for i, together in enumerate(togethers))
    return f"WITH recorded AS ({_RECORD_SCAN}){ctes} SELECT id FROM recorded"


class _Replayed(Exception):
    """A concurrent copy of the same scan committed first (or the scan's first read found it recorded): undo ours,
    answer theirs."""


class _RefusedUnasked(Exception):
    """``apply`` refused the scan before its first read asked whether it was recorded already."""

    def __init__(self, error: OrderHubError) -> None:
        super().__init__(error)
        self.error = error


# The replay check as a column of the scan's first read (binds: replay_binds()): the id of the scan already recorded
# under this device and client id, NULL when there is none. An ``apply`` that asks it (``once(…, checks_replay=True)``)
# saves the scan a round trip and a pooled connection of its own; it hands the column to :func:`replayed` before it
# refuses or changes anything.
REPLAY_ID_SQL = "(SELECT id FROM pda_scan WHERE device = {} AND client_id = {}) AS replay_id"


class _Probe:
    """The scan ``once`` runs: what its first read binds, and whether it asked yet."""

    __slots__ = ("asked", "client_id", "device")

    def __init__(self, device: str, client_id: str) -> None:
        self.device = device
        self.client_id = client_id
        self.asked = False


_probe: ContextVar[_Probe | None] = ContextVar("orderhub_scan_probe", default=None)


def replay_binds() -> tuple[str, str]:
    """The two values :data:`REPLAY_ID_SQL` binds (device, client id) for the scan ``once`` is running."""
    probe = _probe.get()
    if probe is None:
        raise RuntimeError("replay_binds() outside once(…, checks_replay=True)")
    return probe.device, probe.client_id


def replayed(replay_id: int | None) -> None:
    """Hand over what :data:`REPLAY_ID_SQL` read: a scan already recorded ends the ``apply`` (nothing it did is kept)
    and ``once`` answers with the recorded answer — or CLIENT_ID_REUSED when it was about something else."""
    probe = _probe.get()
    if probe is None:
        raise RuntimeError("replayed() outside once(…, checks_replay=True)")
    probe.asked = True
    if replay_id is not None:
        raise _Replayed


class Fingerprint(msgspec.Struct, frozen=True, kw_only=True):
    """What a scan was about: a replay must match it, else the client id was reused for a different scan."""

    kind: str
    line_id: int | None = None
    barcode: str = ""
    qty: int = 0


class _StoredScan(msgspec.Struct):
    answer: str
    kind: str
    line: int | None
    barcode: str
    qty: int


async def _stored(device: str, client_id: str, answer_type: type[A], fingerprint: Fingerprint) -> A | None:
    # Raw SQL: this runs before every scan, and building the ORM query cost more than all the scan's SQL.
    row = await db.fetch_one_as(
        _StoredScan,
        "SELECT answer, kind, line, barcode, qty FROM pda_scan WHERE device = {} AND client_id = {}",
        device,
        client_id,
    )
    if row is None:
        return None
    stored = Fingerprint(kind=row.kind, line_id=row.line, barcode=row.barcode, qty=row.qty)
    if stored != fingerprint:
        raise Conflict(
            "该扫描编号已用于另一次扫描（设备编号重置？），请重新扫描",
            code=PickingError.CLIENT_ID_REUSED,
            field="client_id",
        )
    return msgspec.structs.replace(msgspec.json.decode(row.answer, type=answer_type), replayed=True)


async def once(
    session: PdaSession,
    client_id: str,
    answer_type: type[A],
    fingerprint: Fingerprint,
    apply: Callable[[], Awaitable[tuple[A, ScanRecord]]],
    *,
    checks_replay: bool = False,
) -> A:
    """Run ``apply`` (the scan's effect and answer) once per (device, client_id), in one transaction. The scan it
    records must match ``fingerprint`` (kind, line, barcode, qty as sent).

    Whether the scan was recorded already is asked first, on the scan's own connection in its transaction — or,
    with ``checks_replay``, by ``apply``'s first read (:data:`REPLAY_ID_SQL`, :func:`replayed`): one round trip
    fewer. An error ``apply`` raises before it asked is answered as before: a recorded scan's answer (or
    CLIENT_ID_REUSED) first."""
    if not client_id.strip() or len(client_id) > 64:
        raise ValidationFailed("client_id 不能为空且不超过 64 个字符", field="client_id")
    fingerprint = msgspec.structs.replace(fingerprint, barcode=fingerprint.barcode.strip()[:64])
    probe = _Probe(session.device, client_id) if checks_replay else None
    probe_token = _probe.set(probe)
    try:
        return await _once(session, client_id, answer_type, fingerprint, apply, probe)
    finally:
        _probe.reset(probe_token)


async def _once(
    session: PdaSession,
    client_id: str,
    answer_type: type[A],
    fingerprint: Fingerprint,
    apply: Callable[[], Awaitable[tuple[A, ScanRecord]]],
    probe: _Probe | None,
) -> A:
    writes: list[ScanWrite] = []
    writes_token = _row_writes.set(writes)
    try:
        async with db.transaction():
            if probe is None:
                stored = await _stored(session.device, client_id, answer_type, fingerprint)
                if stored is not None:
                    return stored
            try:
                answer, record = await apply()
            except OrderHubError as refused:
                if probe is None or probe.asked:
                    raise
                raise _RefusedUnasked(refused) from None
            result: Any = answer
            now = clock.now()
            ok = bool(result.ok)
            error = "" if ok else str(result.code)
            if SCAN_HOOKS:
                logged = ScanLogged(
                    user_id=session.user_id,
                    warehouse_id=session.warehouse_id,
                    kind=fingerprint.kind,
                    ok=ok,
                    error=error,
                    qty=fingerprint.qty,
                    order_id=record.order_id,
                    received_at=now,
                )
                for hook in SCAN_HOOKS:
                    await hook(logged)
            row = (
                session.device,
                client_id,
                session.user_id,
                session.warehouse_id,
                record.task_id,
                fingerprint.line_id,
                record.order_id,
                record.sku_id,
                fingerprint.kind,
                fingerprint.barcode,
                fingerprint.qty,
                ok,
                error,
                msgspec.json.encode(answer).decode(),
                record.scanned_at or now,
                now,
            )
            together = bool(writes) and not db.is_sqlite()
            # Raw SQL: INSERT … ON CONFLICT DO NOTHING RETURNING id says whether this request recorded the scan (on
            # PostgreSQL with the writes that go with it, which read the row it inserted).
            inserted = await db.execute_returning(
                db.IdRow,
                _recording_sql(tuple(w.together for w in writes)) if together else _RECORD_SCAN,
                *row,
                *((value for w in writes for value in w.values) if together else ()),
            )
            if not inserted:
                raise _Replayed
            if not together:
                for write in writes:
                    await db.execute(write.alone, *write.values)
    except _Replayed:
        again = await _stored(session.device, client_id, answer_type, fingerprint)
        assert again is not None
        return again
    except _RefusedUnasked as unasked:
        # refused before its first read asked (no such line, …): a recorded scan answers first, as it did when the
        # check ran before the scan
        stored = await _stored(session.device, client_id, answer_type, fingerprint)
        if stored is None:
            raise unasked.error from None
        return stored
    finally:
        _row_writes.reset(writes_token)
    return answer


# The SKU a scanned code names (two binds: the code twice): any of its barcodes first, else the SKU code itself. The
# PDA's item scan asks it as a column of its line's query (picking.tasks._line).
SKU_BY_BARCODE_SQL = "SELECT sku AS id FROM sku_barcode WHERE barcode = {} UNION ALL SELECT id FROM sku WHERE code = {}"


async def sku_by_barcode(barcode: str) -> int | None:
    """The SKU a scanned code names: any of its barcodes, or the SKU code itself."""
    code = barcode.strip()
    # Raw SQL: a UNION the query builder cannot express.
    row = await db.fetch_one_as(db.IdRow, SKU_BY_BARCODE_SQL, code, code)
    return row.id if row else None
