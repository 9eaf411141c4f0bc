"""What the carrier mappers share."""

from __future__ import annotations

from datetime import UTC, datetime

from orderhub.clock import SHANGHAI

__all__ = ["beijing_time"]


def beijing_time(value: object, error: type[ValueError], what: str) -> datetime:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time (how every Chinese carrier writes its scans) as aware UTC;
    ``error`` (the mapper's payload error) names ``what`` when the text is not such a time."""
    text = "" if value is None else str(value).strip()
    try:
        parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise error(f"bad {what} {text!r}") from None
    return parsed.replace(tzinfo=SHANGHAI).astimezone(UTC)
