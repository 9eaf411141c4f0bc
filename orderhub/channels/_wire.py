"""Wire helpers shared by the platform mappers: yuan strings to fen, Beijing local times to aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from orderhub.clock import SHANGHAI

__all__ = ["parse_time", "yuan_to_fen"]

_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def yuan_to_fen(value: object) -> int:
    """``"12.30"`` → ``1230`` exactly (``Decimal``, half-up at the fen). Empty / missing → 0."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValueError(f"不是金额: {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"不是金额: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"不是金额: {value!r}")
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_time(value: object) -> datetime | None:
    """A platform time (Beijing local ``YYYY-MM-DD HH:MM:SS``) as an aware UTC datetime; ``None`` when empty or a
    placeholder such as ``0001-01-01 00:00:00``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError(f"不是时间: {value!r}")
    text = value.strip()
    try:
        parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"不是时间: {value!r}") from exc
    if parsed.year < 2000:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHANGHAI)
    result = parsed.astimezone(UTC)
    return result if result >= _EARLIEST else None
