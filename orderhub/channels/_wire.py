"""Wire helpers shared by the platform adapters: yuan strings to fen, Beijing local times to aware UTC, and the
HTTP layer of a JSON gateway reply (status → typed platform errors)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import httpx

from orderhub.channels.port import InvalidRequest, PlatformUnavailable, RateLimited
from orderhub.clock import SHANGHAI

__all__ = ["json_reply", "parse_time", "retry_after", "yuan_to_fen"]

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


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (None when absent or not a number)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def json_reply(reply: httpx.Response, *, gateway: str, api: str) -> dict[str, Any]:
    """The JSON object a gateway answered, or the typed error its HTTP status means (429 → RateLimited,
    5xx or a body that is not a JSON object → PlatformUnavailable, any other non-200 → InvalidRequest)."""
    status = reply.status_code
    if status == 429:
        raise RateLimited(
            f"{gateway}接口 {api} 限流（HTTP 429）",
            platform_code="http 429",
            retry_after=retry_after(reply.headers.get("retry-after")),
        )
    if status >= 500:
        raise PlatformUnavailable(f"{gateway}网关错误（HTTP {status}）", platform_code=f"http {status}")
    if status != 200:
        raise InvalidRequest(f"{gateway}网关拒绝了请求（HTTP {status}）", platform_code=f"http {status}")
    try:
        decoded = json.loads(reply.content)
    except ValueError:
        raise PlatformUnavailable(
            f"{gateway}网关返回了无法解析的内容", platform_code="bad_response", platform_message=reply.text[:200]
        ) from None
    if not isinstance(decoded, dict):
        raise PlatformUnavailable(f"{gateway}网关返回了意外的结构", platform_code="bad_response")
    return decoded
