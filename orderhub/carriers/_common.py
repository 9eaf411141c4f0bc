"""What the carrier mappers share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from orderhub.carriers.port import CarrierUnavailable, InvalidWaybillRequest
from orderhub.clock import SHANGHAI

__all__ = ["beijing_time", "post_json"]


def beijing_time(value: object, error: type[ValueError], what: str) -> datetime:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time (how every Chinese carrier writes its scans) as aware UTC;
    ``error`` (the mapper's payload error) names ``what`` when the text is not such a time."""
    text = "" if value is None else str(value).strip()
    try:
        parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise error(f"bad {what} {text!r}") from None
    return parsed.replace(tzinfo=SHANGHAI).astimezone(UTC)


async def post_json(
    http: httpx.AsyncClient, url: str, *, name: str, timeout: httpx.Timeout, **request: Any
) -> dict[str, Any]:
    """POST to a carrier and return the reply's JSON object. Timeouts, network failures, 5xx/429 and unreadable
    replies are :class:`CarrierUnavailable` (retryable); other 4xx :class:`InvalidWaybillRequest`. ``name`` says
    which interface, in the zh-CN messages ("顺丰接口 EXP_RECE_CREATE_ORDER")."""
    try:
        reply = await http.post(url, timeout=timeout, **request)
    except httpx.TimeoutException as exc:
        raise CarrierUnavailable(f"{name} 超时", carrier_code="timeout", carrier_message=type(exc).__name__) from None
    except httpx.TransportError as exc:
        raise CarrierUnavailable(
            f"无法连接{name}", carrier_code="network", carrier_message=type(exc).__name__
        ) from None
    if reply.status_code >= 500 or reply.status_code == 429:
        raise CarrierUnavailable(
            f"{name} 暂不可用（HTTP {reply.status_code}）", carrier_code=f"http_{reply.status_code}"
        )
    if reply.status_code >= 400:
        raise InvalidWaybillRequest(
            f"{name} 拒绝了请求（HTTP {reply.status_code}）", carrier_code=f"http_{reply.status_code}"
        )
    try:
        body = reply.json()
    except ValueError:
        raise CarrierUnavailable(f"{name} 返回了无法解析的内容", carrier_code="bad_response") from None
    if not isinstance(body, dict):
        raise CarrierUnavailable(f"{name} 返回了意外的结构", carrier_code="bad_response")
    return body
