"""Which unhandled errors are a store's outage, not a bug: the app answers them 503 with ``Retry-After`` and a stable
code (``database_unavailable``, ``redis_unavailable``) and logs one WARNING line, no traceback.

An outage is an error that says "the store could not be reached or could not serve now": PostgreSQL down, restarting
or out of connections, a connection cut mid-query; SQLite locked past its busy timeout; Redis down, loading its data
after a restart, or a read-only replica after a failover. A socket error (refused, reset, timed out) counts when
raised inside the store's driver (``asyncpg``, ``redis``): the same error from anywhere else is left alone.
"""

from __future__ import annotations

import sqlite3
from types import TracebackType

import asyncpg
import redis.exceptions

from orderhub.errors import CommonError, ErrorCode, ServiceUnavailable

__all__ = ["RETRY_AFTER_SECONDS", "outage_code", "outage_error"]

RETRY_AFTER_SECONDS = 5  # what a 503 tells a client to wait: a restart or failover is usually over by then

_PG_DOWN: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08: the connection failed or does not exist any more
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,  # 57P01
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,  # 53300
)
_REDIS_DOWN: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,  # includes BusyLoadingError: loading its append-only file after a restart
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,  # a replica promoted late after a failover
)
_SQLITE_DOWN = ("database is locked", "unable to open database file", "disk i/o error")


def outage_error(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 to answer when ``exc`` is a store's outage, else None."""
    code = outage_code(exc)
    if code == CommonError.DATABASE_UNAVAILABLE:
        return ServiceUnavailable(CommonError.DATABASE_UNAVAILABLE)
    if code == CommonError.REDIS_UNAVAILABLE:
        return ServiceUnavailable(CommonError.REDIS_UNAVAILABLE)
    return None


def outage_code(exc: BaseException) -> ErrorCode | None:
    """``database_unavailable`` / ``redis_unavailable`` when ``exc`` is a store's outage, else None."""
    if isinstance(exc, _PG_DOWN):
        return CommonError.DATABASE_UNAVAILABLE
    if isinstance(exc, sqlite3.OperationalError) and any(text in str(exc).lower() for text in _SQLITE_DOWN):
        return CommonError.DATABASE_UNAVAILABLE
    if isinstance(exc, _REDIS_DOWN):
        return CommonError.REDIS_UNAVAILABLE
    if isinstance(exc, OSError | TimeoutError):  # refused / reset / timed out: whose socket was it?
        if _raised_in(exc.__traceback__, "asyncpg"):
            return CommonError.DATABASE_UNAVAILABLE
        if _raised_in(exc.__traceback__, "redis"):
            return CommonError.REDIS_UNAVAILABLE
    return None


def _raised_in(tb: TracebackType | None, package: str) -> bool:
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module == package or module.startswith(package + "."):
            return True
        tb = tb.tb_next
    return False
