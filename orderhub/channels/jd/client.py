"""京东 JOS (宙斯) wire format and signing — nothing else.

One call = one POST of form fields to ``https://api.jd.com/routerjson``:

* system params ``method``, ``app_key``, ``access_token`` (the shop's token), ``timestamp`` (``YYYY-MM-DD
  HH:MM:SS``, Beijing time; JOS allows a few minutes of skew), ``v=2.0``, ``format=json``, and the business params
  as one JSON object in ``360buy_param_json``;
* ``sign`` = upper hex MD5(secret + ``k1v1k2v2…`` + secret) over every other param sorted by name (empty params are
  never sent, so the SDKs' two habits — empty values signed or left out — give the same string);
* the answer is JSON: ``{"<method, dots → '_'>_responce": {"code": "0", …}}`` (sic, ``responce``) on success,
  ``{"error_response": {"code", "zh_desc", "en_desc"}}`` for gateway refusals; both HTTP 200. Business failures
  sit inside the wrapper (``success: false`` with ``englishErrCode`` / ``chineseErrCode`` / ``errorCode`` /
  ``errorMessage``, directly or under ``apiResult``).

Failures are raised as the port's typed errors; secrets and tokens are never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Final

import httpx
import msgspec

from orderhub.channels.port import (
    AlreadyShipped,
    Credentials,
    InvalidRequest,
    PlatformError,
    PlatformUnavailable,
    RateLimited,
    SessionExpired,
    SignatureRejected,
)
from orderhub.clock import SHANGHAI
from orderhub.wire import GatewayClient

__all__ = [
    "DEFAULT_TIMEOUT",
    "GATEWAY_URL",
    "JosClient",
    "business_failure",
    "error_from_business_failure",
    "error_from_response",
    "sign",
]

GATEWAY_URL: Final = "https://api.jd.com/routerjson"
DEFAULT_TIMEOUT: Final = httpx.Timeout(20.0, connect=5.0)

log = logging.getLogger("orderhub.channels.jd")

# JOS gateway codes (``error_response.code``), by what the hub does about them; the descriptions are matched too,
# since JOS's code list is long and not stable across gateway versions.
_SIGNATURE_CODES = frozenset({"10", "12"})  # invalid app_key, invalid signature
_SESSION_CODES = frozenset({"18", "19"})  # missing / expired or unknown access_token
_RATE_CODES = frozenset({"2"})  # calls limited
_UNAVAILABLE_CODES = frozenset({"1", "66", "67"})  # service unavailable, backend timeout / unavailable
_ALREADY_SHIPPED = re.compile(r"已出库|已发货|重复出库|重复发货|already\s+(?:been\s+)?(?:shipped|out)", re.IGNORECASE)
_BUSY = re.compile(r"系统繁忙|系统异常|服务不可用|稍后重试|system\s+(?:busy|error)|unavailable|timeout", re.IGNORECASE)


def sign(params: Mapping[str, str], secret: str) -> str:
    """The JOS signature of ``params`` (every param but ``sign``)."""
    joined = "".join(f"{key}{value}" for key, value in sorted(params.items()) if key != "sign")
    return hashlib.md5(f"{secret}{joined}{secret}".encode()).hexdigest().upper()


def error_from_response(error: Mapping[str, Any]) -> PlatformError:
    """The port error for a JOS gateway ``error_response``."""
    code = str(error.get("code", ""))
    zh = str(error.get("zh_desc", "") or "")
    en = str(error.get("en_desc", "") or "")
    kw: dict[str, Any] = {"platform_code": code, "platform_message": " / ".join(m for m in (zh, en) if m)}
    lowered = en.lower()
    if code in _SIGNATURE_CODES or "signature" in lowered or "invalid app key" in lowered:
        return SignatureRejected(**kw)
    if code in _SESSION_CODES or "access_token" in lowered or "token" in zh:
        return SessionExpired(**kw)
    if code in _RATE_CODES or "call limited" in lowered or "限流" in zh or "频率" in zh:
        return RateLimited(**kw)
    if code in _UNAVAILABLE_CODES or _BUSY.search(zh) or _BUSY.search(en):
        return PlatformUnavailable(**kw)
    return InvalidRequest(**kw)


def business_failure(answer: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The part of a method's answer that says ``success: false``, if any (at most two levels down)."""
    candidates: list[Mapping[str, Any]] = [answer]
    for value in answer.values():
        if isinstance(value, Mapping):
            candidates.append(value)
            api = value.get("apiResult")
            if isinstance(api, Mapping):
                candidates.append(api)
    for candidate in candidates:
        if candidate.get("success") is False or candidate.get("success") == "false":
            return candidate
    return None


def error_from_business_failure(failure: Mapping[str, Any]) -> PlatformError:
    """The port error for a ``success: false`` inside a method's own wrapper."""
    code = str(failure.get("numberCode") or failure.get("errorCode") or failure.get("englishErrCode") or "")
    message = " / ".join(
        str(failure[key])
        for key in ("chineseErrCode", "errorMessage", "englishErrCode")
        if failure.get(key) not in (None, "")
    )
    kw: dict[str, Any] = {"platform_code": code, "platform_message": message}
    if _ALREADY_SHIPPED.search(message):
        return AlreadyShipped(**kw)
    if _BUSY.search(message):
        return PlatformUnavailable(**kw)
    return InvalidRequest(**kw)


def _biz_json(biz: Mapping[str, object]) -> str:
    values = {key: value for key, value in biz.items() if value is not None}
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=str)


class JosClient(GatewayClient[Credentials]):
    """Signs, sends and unwraps JOS calls for one shop (``credentials``) over a shared ``httpx.AsyncClient``."""

    repr_fields: ClassVar[dict[str, str]] = {"app_key": "credentials.app_key"}  # never the secret or a token
    default_base_url = GATEWAY_URL

    def __init__(
        self,
        credentials: Credentials,
        http: httpx.AsyncClient,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(credentials, http, timeout=timeout)
        self._now = clock or (lambda: datetime.now(SHANGHAI))

    def signed_params(self, method: str, biz: Mapping[str, object] | None = None) -> dict[str, str]:
        """The form fields of one call (system params, ``360buy_param_json`` and ``sign``)."""
        fields = {
            "method": method,
            "app_key": self.credentials.app_key,
            "access_token": self.credentials.access_token,
            "timestamp": self._now().astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            "v": "2.0",
            "format": "json",
            "360buy_param_json": _biz_json(biz or {}),
        }
        fields = {key: value for key, value in fields.items() if value != ""}
        fields["sign"] = sign(fields, self.credentials.app_secret)
        return fields

    async def call(self, method: str, biz: Mapping[str, object] | None = None) -> dict[str, Any]:
        """Call ``method``; the body of its ``…_responce`` wrapper, or the port's typed error."""
        fields = self.signed_params(method, biz)
        started = time.monotonic()
        try:
            reply = await self._http.post(self.base_url, data=fields, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            log.warning("JOS %s timed out after %.1fs", method, time.monotonic() - started)
            raise PlatformUnavailable(
                "京东接口超时", platform_code="timeout", platform_message=type(exc).__name__
            ) from exc
        except httpx.HTTPError as exc:
            log.warning("JOS %s failed: %s", method, type(exc).__name__)
            raise PlatformUnavailable(
                "无法连接京东接口", platform_code="network", platform_message=type(exc).__name__
            ) from exc
        elapsed = time.monotonic() - started
        body = self._decode(method, reply)
        error = body.get("error_response")
        if isinstance(error, Mapping):
            failure = error_from_response(error)
            log.warning("JOS %s refused (%s) in %.2fs", method, failure.platform_code, elapsed)
            raise failure
        answer = body.get(method.replace(".", "_") + "_responce")
        if answer is None:
            wrappers = [value for key, value in body.items() if key.endswith(("_responce", "_response"))]
            answer = wrappers[0] if len(wrappers) == 1 else None
        if not isinstance(answer, dict):
            raise PlatformUnavailable(
                "京东接口返回了无法识别的内容", platform_code="bad_response", platform_message=f"keys={sorted(body)}"
            )
        code = str(answer.get("code", "0"))
        if code != "0":
            failure = error_from_response(answer)
            log.warning("JOS %s refused (%s) in %.2fs", method, failure.platform_code, elapsed)
            raise failure
        refused = business_failure(answer)
        if refused is not None:
            failure = error_from_business_failure(refused)
            log.warning("JOS %s failed (%s) in %.2fs", method, failure.platform_code, elapsed)
            raise failure
        log.debug("JOS %s ok in %.2fs", method, elapsed)
        return answer

    @staticmethod
    def _decode(method: str, reply: httpx.Response) -> dict[str, Any]:
        status = reply.status_code
        if status == 429:
            after = reply.headers.get("retry-after", "")
            raise RateLimited(
                platform_code="http 429",
                platform_message="Too Many Requests",
                retry_after=float(after) if after.isdigit() else None,
            )
        if status >= 500 or status == 408:
            log.warning("JOS %s answered HTTP %d", method, status)
            raise PlatformUnavailable(platform_code=f"http {status}", platform_message=reply.reason_phrase)
        if status >= 400:
            raise InvalidRequest(
                "京东网关拒绝了请求（请检查接口地址）",
                platform_code=f"http {status}",
                platform_message=reply.reason_phrase,
            )
        try:
            body = msgspec.json.decode(reply.content)
        except msgspec.DecodeError as exc:
            raise PlatformUnavailable(
                "京东接口返回的不是 JSON", platform_code="bad_response", platform_message=reply.text[:200]
            ) from exc
        if not isinstance(body, dict):
            raise PlatformUnavailable("京东接口返回了无法识别的内容", platform_code="bad_response")
        return body
