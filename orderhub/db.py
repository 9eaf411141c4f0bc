"""Database engine, table binding, and the one-transaction-per-command helper with after-commit callbacks.

PostgreSQL (asyncpg pool) is the production store; SQLite (WAL) is the embedded default. SQLite write
transactions are ``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of failing mid-way.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from orderhub.settings import Settings

__all__ = [
    "after_commit",
    "bind",
    "close",
    "create_engine",
    "fetch",
    "for_update",
    "get_engine",
    "is_sqlite",
    "open_engine",
    "pending_after_commit",
    "pending_before_commit",
    "ping",
    "placeholders",
    "transaction",
]

log = logging.getLogger("orderhub.db")

AfterCommit = Callable[[], Awaitable[None]]

_engine: Engine | None = None
_pending: ContextVar[list[AfterCommit] | None] = ContextVar("orderhub_after_commit", default=None)
_before: ContextVar[list[AfterCommit] | None] = ContextVar("orderhub_before_commit", default=None)


def create_engine(settings: Settings) -> Engine:
    if settings.is_sqlite:
        path = settings.sqlite_path
        path.parent.mkdir(parents=True, exist_ok=True)
        # timeout = SQLite busy timeout: writers wait for each other's BEGIN IMMEDIATE instead of failing.
        engine: Engine = SQLiteEngine(path=str(path), timeout=30)
        with sqlite3.connect(path) as conn:  # WAL is persistent on the file; set it once.
            conn.execute("PRAGMA journal_mode=WAL")
        return engine
    return PostgresEngine(config={"dsn": settings.database_url}, log_queries=False)


def bind(engine: Engine) -> None:
    """Point every table at ``engine`` (instead of piccolo's global conf lookup)."""
    global _engine
    from orderhub.piccolo_app import TABLES

    for table in TABLES:
        table._meta.db = engine
    _engine = engine


async def open_engine(settings: Settings) -> Engine:
    engine = create_engine(settings)
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=settings.db_pool_size, reset=_keep_session)
    bind(engine)
    return engine


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
    token = _pending.set(callbacks)
    flush_token = _before.set(flushes)
    try:
        if isinstance(engine, SQLiteEngine):
            async with engine.transaction(transaction_type=TransactionType.immediate):
                yield
                for flush in flushes:
                    await flush()
        else:
            async with engine.transaction():
                yield
                for flush in flushes:
                    await flush()
    finally:
        _pending.reset(token)
        _before.reset(flush_token)
    for callback in callbacks:
        try:
            await callback()
        except Exception:  # side effects must never undo or fail a committed command
            log.exception("after-commit callback failed")


def pending_before_commit() -> list[AfterCommit] | None:
    """Writes the current transaction has buffered, flushed (in order) just before it commits (None outside
    a transaction). A command that fails before the end drops them with everything else it did."""
    return _before.get()


def pending_after_commit() -> list[AfterCommit] | None:
    """The callbacks queued so far by the current transaction (None outside one)."""
    return _pending.get()


def after_commit(callback: AfterCommit) -> None:
    pending = _pending.get()
    if pending is None:
        raise RuntimeError("after_commit() outside transaction()")
    pending.append(callback)


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    """Run raw SQL with ``{}`` placeholders (piccolo style) on the bound engine, inside any open transaction."""
    from orderhub.orders.tables import Order

    result: list[dict[str, Any]] = await Order.raw(sql, *args)
    return result


def placeholders(count: int) -> str:
    """``{}, {}, …`` for an ``IN (…)`` list in :func:`fetch` SQL."""
    return ", ".join(["{}"] * count)


def for_update() -> str:
    """Row-lock suffix for a SELECT inside a transaction (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    return "" if is_sqlite() else " FOR UPDATE"


async def ping() -> None:
    await fetch("SELECT 1 AS ok")
