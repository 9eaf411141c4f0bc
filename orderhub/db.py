"""Database engine, table binding, and the one-transaction-per-command helper with after-commit callbacks.

PostgreSQL (asyncpg pool) is the production store; SQLite (WAL) is the embedded default. SQLite write
transactions are ``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of failing mid-way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import msgspec
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString
from piccolo.table import Table

from orderhub.clock import from_db
from orderhub.settings import Settings, private_dir

__all__ = [
    "MAX_PARAMS",
    "BoundedPostgresEngine",
    "BoundedSQLiteEngine",
    "IdRow",
    "TooManyParameters",
    "after_commit",
    "bind",
    "chunks",
    "close",
    "create_engine",
    "execute",
    "execute_returning",
    "fetch_as",
    "fetch_one_as",
    "for_update",
    "get_engine",
    "is_sqlite",
    "last_before_commit",
    "open_engine",
    "pending_after_commit",
    "pending_before_commit",
    "ping",
    "placeholders",
    "read_together",
    "refuse_unbounded",
    "rows_as",
    "rows_per_statement",
    "transaction",
    "use_tables",
]

log = logging.getLogger("orderhub.db")

AfterCommit = Callable[[], Awaitable[None]]

_engine: Engine | None = None
_tables: list[type[Table]] = []
_pending: ContextVar[list[AfterCommit] | None] = ContextVar("orderhub_after_commit", default=None)
_before: ContextVar[list[AfterCommit] | None] = ContextVar("orderhub_before_commit", default=None)
_last: ContextVar[list[AfterCommit] | None] = ContextVar("orderhub_last_before_commit", default=None)


def create_engine(settings: Settings) -> Engine:
    if settings.is_sqlite:
        path = settings.sqlite_path
        _private_sqlite_file(path)
        # timeout = SQLite busy timeout: writers wait for each other's BEGIN IMMEDIATE instead of failing.
        engine: Engine = BoundedSQLiteEngine(path=str(path), timeout=30)
        with sqlite3.connect(path) as conn:  # WAL is persistent on the file; set it once.
            conn.execute("PRAGMA journal_mode=WAL")
        return engine
    return BoundedPostgresEngine(config={"dsn": settings.database_url}, log_queries=False)


def _private_sqlite_file(path: Path) -> None:
    """The database holds password hashes and customers' addresses: create it 0600 (in a 0700 directory when we
    create that too); SQLite gives its -wal and -shm files the database file's mode. A file left readable by others
    (an older version made it 0644) is tightened."""
    if str(path) == ":memory:":
        return
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = file.stat().st_mode & 0o777
            if mode & 0o077:
                file.chmod(mode & 0o700)
        except OSError:  # absent, or not ours to change
            pass


def use_tables(tables: Sequence[type[Table]]) -> None:
    """The tables :func:`bind` points at the engine: the table registry of the composition root
    (``server.piccolo_app.TABLES``, given by ``server.wiring.wire()``)."""
    _tables[:] = list(tables)


def bind(engine: Engine) -> None:
    """Point every registered table at ``engine`` (instead of piccolo's global conf lookup)."""
    global _engine
    if not _tables:
        raise RuntimeError("no tables registered: call server.wiring.wire() before opening the database")
    for table in _tables:
        table._meta.db = engine
    _engine = engine


async def open_engine(settings: Settings) -> Engine:
    engine = create_engine(settings)
    if isinstance(engine, PostgresEngine):
        _quiet_pool_outages()
        await engine.start_connection_pool(min_size=1, max_size=settings.db_pool_size, reset=_keep_session)
    bind(engine)
    return engine


class _OutageInOneLine(logging.Filter):
    """asyncpg's pool logs a traceback each time it fails to reconnect while PostgreSQL is down (a retry every few
    seconds up to a minute): an outage, not a bug. Keep the line, drop the traceback, name the error."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, OSError | asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError):
            record.error = repr(error)
            record.exc_info = None
            record.exc_text = None
        return True


def _quiet_pool_outages() -> None:
    pool_log = logging.getLogger("asyncpg.pool")
    if not any(isinstance(f, _OutageInOneLine) for f in pool_log.filters):
        pool_log.addFilter(_OutageInOneLine())


async def _keep_session(connection: Any) -> None:
    """Pool reset hook: asyncpg still rolls back a transaction left open; we skip its default reset query
    (``RESET ALL; UNLISTEN *; CLOSE ALL; pg_advisory_unlock_all()``), a round trip after every pooled query,
    because OrderHub keeps no session state: no SET, LISTEN, cursors or advisory locks outlive a query."""


async def close() -> None:
    global _engine
    if isinstance(_engine, PostgresEngine):
        await _engine.close_connection_pool()
    _engine = None


def get_engine() -> Engine:
    if _engine is None:
        raise RuntimeError("database engine not opened; call orderhub.db.open_engine() first")
    return _engine


def is_sqlite() -> bool:
    return isinstance(get_engine(), SQLiteEngine)


@asynccontextmanager
async def transaction() -> AsyncIterator[None]:
    """One transaction per command. Nested calls join the outer one.

    Callbacks registered with :func:`after_commit` run only once the outermost transaction has committed.
    """
    if _pending.get() is not None:
        yield
        return
    engine = get_engine()
    callbacks: list[AfterCommit] = []
    flushes: list[AfterCommit] = []
    lasts: list[AfterCommit] = []
    token = _pending.set(callbacks)
    flush_token = _before.set(flushes)
    last_token = _last.set(lasts)
    try:
        if isinstance(engine, SQLiteEngine):
            async with engine.transaction(transaction_type=TransactionType.immediate):
                yield
                for flush in [*flushes, *lasts]:
                    await flush()
        else:
            async with engine.transaction():
                yield
                for flush in [*flushes, *lasts]:
                    await flush()
    finally:
        _pending.reset(token)
        _before.reset(flush_token)
        _last.reset(last_token)
    for callback in callbacks:
        try:
            await callback()
        except Exception:  # side effects must never undo or fail a committed command
            log.exception("after-commit callback failed")


def pending_before_commit() -> list[AfterCommit] | None:
    """Writes the current transaction has buffered, flushed (in order) just before it commits (None outside
    a transaction). A command that fails before the end drops them with everything else it did."""
    return _before.get()


def last_before_commit(write: AfterCommit) -> None:
    """Run ``write`` as the transaction's very last statements, after every buffered write, just before COMMIT: for
    the hot rows (stock) that every order locks, held locked only that long. An exception it raises rolls the
    transaction back and comes out of :func:`transaction`."""
    lasts = _last.get()
    if lasts is None:
        raise RuntimeError("last_before_commit() outside transaction()")
    lasts.append(write)


def pending_after_commit() -> list[AfterCommit] | None:
    """The callbacks queued so far by the current transaction (None outside one)."""
    return _pending.get()


def after_commit(callback: AfterCommit) -> None:
    pending = _pending.get()
    if pending is None:
        raise RuntimeError("after_commit() outside transaction()")
    pending.append(callback)


async def read_together(*reads: Awaitable[Any]) -> list[Any]:
    """Run independent reads at once and hand back their results in order: on PostgreSQL each takes its own pooled
    connection, so a dashboard of a dozen small queries costs about its slowest query instead of their sum. Inside a
    transaction (one connection, which cannot run two queries at once) and on SQLite (the embedded single-node
    default) they run one after another. If one fails, the others are cancelled and its error is raised."""
    engine = get_engine()
    if isinstance(engine, SQLiteEngine) or _pending.get() is not None or engine.current_transaction.get():
        return [await read for read in reads]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(read)) for read in reads]
    except BaseExceptionGroup as failed:  # the first read's own error, as if the reads ran in turn
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def _awaited(read: Awaitable[Any]) -> Any:
    return await read


async def _raw(sql: str, *args: Any) -> list[dict[str, Any]]:
    """What ``Table.raw(sql, *args)`` does, without naming a table: run on the bound engine (in the current
    transaction if one is open) and hand back one dict per row."""
    engine = get_engine()
    results = await engine.run_querystring(QueryString(sql, *args), in_pool=True)
    rows: list[dict[str, Any]] = engine.transform_response_to_dicts(results) if results else []
    return rows


# -- typed rows --------------------------------------------------------------------------------------------------
# Raw SQL returns what the driver gives: PostgreSQL aware datetimes and Decimal for SUM over BIGINT; SQLite
# datetimes for plain TIMESTAMPTZ columns but ISO text (naive for CURRENT_TIMESTAMP) for expressions such as
# MAX(…), and 0/1 for boolean expressions. rows_as() evens that out per field type, then msgspec builds the rows.

T = TypeVar("T")


class IdRow(msgspec.Struct):
    """A row that is only its ``id`` (``SELECT id …``, ``… RETURNING id``)."""

    id: int


# Per row type: the fields whose value the two drivers give differently — datetimes (aware from asyncpg; ISO text or
# naive from SQLite expressions) and integers (PostgreSQL's SUM over bigint is a Decimal).
_plans: dict[Any, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _plan(type_: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    plan = _plans.get(type_)
    if plan is None:
        times: list[str] = []
        ints: list[str] = []
        for field in getattr(msgspec.inspect.type_info(type_), "fields", ()):
            kinds = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
            if any(isinstance(kind, msgspec.inspect.DateTimeType) for kind in kinds):
                times.append(field.encode_name)
            elif any(isinstance(kind, msgspec.inspect.IntType) for kind in kinds):
                ints.append(field.encode_name)
        plan = _plans[type_] = (tuple(times), tuple(ints))
    return plan


def rows_as(type_: type[T], rows: list[dict[str, Any]]) -> list[T]:
    """Rows (from raw SQL or the query builder; normalised in place) as ``type_`` (a msgspec Struct or a
    dataclass), the same on both back ends. Extra columns are ignored; a missing or mistyped one raises.

    Row by row: msgspec caches a Struct type's decoder, not a ``list[…]`` alias's (≈ 3× slower per call)."""
    times, ints = _plan(type_)
    convert = msgspec.convert
    result: list[T] = []
    for row in rows:
        for name in times:
            value = row.get(name)
            if value is not None and not (isinstance(value, datetime) and value.tzinfo is not None):
                row[name] = from_db(value)
        for name in ints:
            value = row.get(name)
            if isinstance(value, Decimal):
                row[name] = int(value)
        result.append(convert(row, type_, strict=False))
    return result


async def fetch_as(type_: type[T], sql: str, *args: Any) -> list[T]:
    """Run a raw SELECT (``{}`` placeholders) and return its rows as ``type_``."""
    return rows_as(type_, await _raw(sql, *args))


async def fetch_one_as(type_: type[T], sql: str, *args: Any) -> T | None:
    """The first row of a raw SELECT as ``type_`` (None when there is none)."""
    rows = await _raw(sql, *args)
    return rows_as(type_, rows[:1])[0] if rows else None


async def execute(sql: str, *args: Any) -> None:
    """Run a raw write (INSERT/UPDATE/DELETE, ``{}`` placeholders), in the current transaction if one is open."""
    await _raw(sql, *args)


async def execute_returning(type_: type[T], sql: str, *args: Any) -> list[T]:
    """Run a raw write with a ``RETURNING`` clause; the returned rows as ``type_`` (empty when nothing matched)."""
    return rows_as(type_, await _raw(sql, *args))


# -- statements built from a list -------------------------------------------------------------------------------
# Bind parameters one statement may carry. PostgreSQL's wire protocol counts them in an Int16 (32,767 at most) and
# SQLite ≥ 3.32 allows 32,766; a list that grows with the day's orders (an IN (…) of ids, a multi-row INSERT) goes
# to the database in chunks of at most this many, never as one statement.
MAX_PARAMS = 10_000


def chunks(seq: Sequence[T], size: int = MAX_PARAMS) -> Iterator[Sequence[T]]:
    """``seq`` in consecutive slices of at most ``size`` items (none for an empty ``seq``)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, not {size}")
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def rows_per_statement(columns: int) -> int:
    """Rows one multi-row INSERT of ``columns`` bound columns per row may carry within :data:`MAX_PARAMS`."""
    return max(1, MAX_PARAMS // max(1, columns))


def placeholders(count: int) -> str:
    """``{}, {}, …`` for an ``IN (…)`` list in raw SQL (a list that can grow: bind it :func:`chunks` at a time)."""
    if count > MAX_PARAMS:
        raise ValueError(f"{count} parameters in one IN (…) list; bind at most {MAX_PARAMS} (db.chunks)")
    return ", ".join(["{}"] * count)


class TooManyParameters(ValueError):
    """A statement with more than :data:`MAX_PARAMS` bind parameters: built from a list that grows with the data."""


def refuse_unbounded(querystring: QueryString, engine_type: str) -> None:
    """Raise :class:`TooManyParameters` when ``querystring`` binds more than :data:`MAX_PARAMS` parameters.

    Compiled once: ``freeze`` keeps the compiled text and arguments on the QueryString and the engine's own
    ``compile_string`` returns them (piccolo/querystring.py ``QueryString.freeze`` / ``compile_string``). Each call
    to ``run_querystring`` gets a QueryString built for that run (piccolo/query/base.py ``Query._run``), so freezing
    it changes nothing else."""
    querystring.freeze(engine_type=engine_type)
    sql, args = querystring.compile_string(engine_type=engine_type)
    if len(args) > MAX_PARAMS:
        head = " ".join(sql.split())[:120]
        raise TooManyParameters(
            f"{len(args)} bind parameters in one statement (at most {MAX_PARAMS}): a list that grows with the data "
            f"goes to the database db.chunks() at a time — {head}…"
        )


class BoundedPostgresEngine(PostgresEngine):
    """piccolo's PostgreSQL engine, refusing any statement with more than :data:`MAX_PARAMS` bind parameters.

    Every query-builder query (``Query._run``, piccolo/query/base.py) and every raw statement (:func:`_raw`) goes
    through ``run_querystring``, which compiles the QueryString and sends it (in the current transaction, the pool
    or a new connection; piccolo/engine/postgres.py): the one place that sees them all before they reach the
    database. DDL (``run_ddl``) binds nothing."""

    async def run_querystring(self, querystring: QueryString, in_pool: bool = True) -> Any:
        refuse_unbounded(querystring, self.engine_type)
        return await super().run_querystring(querystring, in_pool=in_pool)


class BoundedSQLiteEngine(SQLiteEngine):
    """piccolo's SQLite engine with the same guard (piccolo/engine/sqlite.py ``run_querystring``)."""

    async def run_querystring(self, querystring: QueryString, in_pool: bool = False) -> Any:
        refuse_unbounded(querystring, self.engine_type)
        return await super().run_querystring(querystring, in_pool=in_pool)


def for_update() -> str:
    """Row-lock suffix for a SELECT inside a transaction (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    return "" if is_sqlite() else " FOR UPDATE"


async def ping() -> None:
    await _raw("SELECT 1 AS ok")
