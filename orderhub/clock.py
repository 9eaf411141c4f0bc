"""Time: stored in UTC, shown in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["SHANGHAI", "from_db", "now", "to_shanghai"]

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    return datetime.now(UTC)


def to_shanghai(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI)


def from_db(value: Any) -> Any:
    """A time as raw SQL returns it — aware from PostgreSQL, ISO text or naive UTC from SQLite — as aware UTC
    (None stays None)."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
