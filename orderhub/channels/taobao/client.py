"""TOP (Taobao/Tmall open platform) wire format and signing — nothing else.

One call = one POST of form fields to the router (``https://eco.taobao.com/router/rest``):

* system params ``method``, ``app_key``, ``session`` (the shop's access token), ``timestamp``
  (``YYYY-MM-DD HH:MM:SS``, Beijing time; TOP allows 10 minutes of skew), ``format=json``, ``v=2.0``,
  ``sign_method`` and ``sign``; business params sit next to them as plain fields;
* ``sign`` is computed over every param except ``sign`` itself, empty values left out, sorted by name and joined as
  ``k1v1k2v2…``: ``md5`` → upper hex MD5(secret + joined + secret); ``hmac`` → upper hex HMAC-MD5(key=secret,
  joined); ``hmac-sha256`` → upper hex HMAC-SHA256(key=secret, joined). Source: TOP「API调用方法详解」§签名算法
  (https://open.taobao.com/doc.htm?docId=101617&docType=1, mirrored at
  https://developer.alibaba.com/docs/doc.htm?articleId=101617&docType=1): "对所有API请求参数（包括公共参数和业务参数，
  但除去sign参数和byte[]类型的参数），根据参数名称的ASCII码表的顺序排序 … 将排序好的参数名和参数值拼装在一起 …
  md5(secret+bar2foo1foo_bar3foobar4+secret) … hmac_md5(bar2foo1foo_bar3foobar4)"; its worked example
  (taobao.item.seller.get, secret helloworld → 66987CB115214E59E6EC978214934FB8) is a literal in
  tests/unit/test_top_signature.py;
* the answer is JSON: ``{"<method without 'taobao.', dots → '_'>_response": {...}}`` on success,
  ``{"error_response": {"code", "msg", "sub_code", "sub_msg", "request_id"}}`` on failure (both HTTP 200).

Failures are raised as the port's typed errors; secrets and tokens are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Final, Literal

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
    "SIGN_METHODS",
    "SignMethod",
    "TopClient",
    "error_from_response",
    "sign",
]

GATEWAY_URL: Final = "https://eco.taobao.com/router/rest"
DEFAULT_TIMEOUT: Final = httpx.Timeout(20.0, connect=5.0)
SignMethod = Literal["md5", "hmac", "hmac-sha256"]
SIGN_METHODS: Final[tuple[SignMethod, ...]] = ("md5", "hmac", "hmac-sha256")

log = logging.getLogger("orderhub.channels.taobao")

# TOP's public error codes (``error_response.code``), by what the hub does about them. Source: TOP「错误码一览表」,
# 平台级错误 (as reproduced at https://www.cnblogs.com/zhuolaiqiang/archive/2011/06/17/2088918.html and
# https://blog.csdn.net/ye1992/article/details/8616047): codes under 100 but 15/40/41 are platform checks;
# "子错误码(sub_code)是'isp.'开头的调用错误 … 一般是由于服务端异常引起的 … 隔一段时间再重试"; isv.* sub codes are
# the caller's (业务) errors.
_SIGNATURE_CODES = frozenset({"25", "29"})  # 25 Invalid Signature 无效签名, 29 Invalid App Key
# 26 Missing Session, 27 Invalid Session 无效的SessionKey参数 ("如果报session不合法可能是用户没有绑定session或
# session过期造成的，用户需要重新绑定"). Sub codes seen with 27: invalid-sessionkey
# "非法或过期的SessionKey参数，请使用有效的SessionKey参数" (TOP support's answer on code 27, quoted in
# github.com/AIDC-AI/ali-langengine Html2MarkdownLoaderTest), session-is-blank (a TOP answer quoted at
# https://developer.aliyun.com/ask/210238); session-expired and session-not-exist as public TOP clients test for
# them — all read as "authorise again".
_SESSION_CODES = frozenset({"26", "27"})
_SESSION_SUB_CODES = ("sessionkey", "session-expired", "session-not-exist", "session-is-blank", "invalid-session")
# 7 App Call Limited 应用调用次数超限，包含调用频率超限 — sub codes (TOP support answer on code 7, 流控限制):
# accesscontrol.limited-by-app-access-count (the app's daily volume), accesscontrol.limited-by-api-access-count and
# accesscontrol.limited-by-app-api-access-count (frequency), with "This ban will last for N more seconds".
_RATE_CODES = frozenset({"7"})
_UNAVAILABLE_CODES = frozenset({"10"})  # 10 Service Currently Unavailable 服务不可用
_BAN_SECONDS = re.compile(r"(\d+)\s*more\s*seconds", re.IGNORECASE)
_ALREADY_SHIPPED = re.compile(
    r"已发货|重复发货|已经发货|already\s+(?:been\s+)?(?:sent|shipped|consigned)", re.IGNORECASE
)


def sign(params: Mapping[str, str], secret: str, sign_method: SignMethod = "md5") -> str:
    """The TOP signature of ``params`` (every param but ``sign``; empty values left out)."""
    joined = "".join(f"{key}{value}" for key, value in sorted(params.items()) if key != "sign" and value != "")
    if sign_method == "md5":
        return hashlib.md5(f"{secret}{joined}{secret}".encode()).hexdigest().upper()
    if sign_method == "hmac":
        return hmac.new(secret.encode(), joined.encode(), hashlib.md5).hexdigest().upper()
    if sign_method == "hmac-sha256":
        return hmac.new(secret.encode(), joined.encode(), hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unsupported TOP sign_method {sign_method!r}")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def error_from_response(error: Mapping[str, Any]) -> PlatformError:
    """The port error for a TOP ``error_response`` body."""
    code = str(error.get("code", ""))
    sub_code = str(error.get("sub_code", "") or "")
    msg = str(error.get("msg", "") or "")
    sub_msg = str(error.get("sub_msg", "") or "")
    platform_code = f"{code}/{sub_code}" if sub_code else code
    platform_message = f"{msg}: {sub_msg}" if sub_msg else msg
    kw: dict[str, Any] = {"platform_code": platform_code, "platform_message": platform_message}
    lowered = sub_code.lower()
    if code in _SIGNATURE_CODES or "invalid-signature" in lowered:
        return SignatureRejected(**kw)
    if code in _SESSION_CODES or any(part in lowered for part in _SESSION_SUB_CODES):
        return SessionExpired(**kw)
    if code in _RATE_CODES or lowered.startswith("accesscontrol.") or "call-limited" in lowered:
        match = _BAN_SECONDS.search(sub_msg) or _BAN_SECONDS.search(msg)
        return RateLimited(retry_after=float(match.group(1)) if match else None, **kw)
    if _ALREADY_SHIPPED.search(sub_msg) and ("logistics" in lowered or "consign" in lowered or "send" in lowered):
        return AlreadyShipped(**kw)
    if code in _UNAVAILABLE_CODES or lowered.startswith("isp."):
        return PlatformUnavailable(**kw)
    if lowered.startswith("isv.") or code in ("40", "41", "43"):
        return InvalidRequest(**kw)
    if code == "15" and not sub_code:
        return PlatformUnavailable(**kw)  # 15 Remote Service Error 远程服务出错 without a caller-side (isv.) reason
    return InvalidRequest(**kw)


class TopClient(GatewayClient[Credentials]):
    """Signs, sends and unwraps TOP calls for one shop (``credentials``) over a shared ``httpx.AsyncClient``."""

    repr_fields: ClassVar[dict[str, str]] = {"app_key": "credentials.app_key"}  # never the secret or a token
    default_base_url = GATEWAY_URL

    def __init__(
        self,
        credentials: Credentials,
        http: httpx.AsyncClient,
        *,
        sign_method: SignMethod = "md5",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if sign_method not in SIGN_METHODS:
            raise ValueError(f"unsupported TOP sign_method {sign_method!r}")
        super().__init__(credentials, http, timeout=timeout)
        self.sign_method: SignMethod = sign_method
        self._now = clock or (lambda: datetime.now(SHANGHAI))

    def signed_params(
        self, method: str, params: Mapping[str, object] | None = None, *, session: bool = True
    ) -> dict[str, str]:
        """The form fields of one call (system + business params and ``sign``). ``session=False`` for the APIs
        called without the shop's session (taobao.top.auth.token.refresh: 不需要授权)."""
        fields: dict[str, str] = {
            "method": method,
            "app_key": self.credentials.app_key,
            "session": self.credentials.access_token if session else "",
            "timestamp": _text(self._now()),
            "format": "json",
            "v": "2.0",
            "sign_method": self.sign_method,
        }
        for key, value in (params or {}).items():
            if value is None:
                continue
            fields[key] = _text(value)
        fields = {key: value for key, value in fields.items() if value != ""}
        fields["sign"] = sign(fields, self.credentials.app_secret, self.sign_method)
        return fields

    async def call(
        self, method: str, params: Mapping[str, object] | None = None, *, session: bool = True
    ) -> dict[str, Any]:
        """Call ``method``; the body of its ``…_response`` object, or the port's typed error."""
        fields = self.signed_params(method, params, session=session)
        started = time.monotonic()
        try:
            reply = await self._http.post(self.base_url, data=fields, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            log.warning("TOP %s timed out after %.1fs", method, time.monotonic() - started)
            raise PlatformUnavailable(
                "淘宝接口超时", platform_code="timeout", platform_message=type(exc).__name__
            ) from exc
        except httpx.HTTPError as exc:
            log.warning("TOP %s failed: %s", method, type(exc).__name__)
            raise PlatformUnavailable(
                "无法连接淘宝接口", platform_code="network", platform_message=type(exc).__name__
            ) from exc
        elapsed = time.monotonic() - started
        body = self._decode(method, reply)
        error = body.get("error_response")
        if isinstance(error, Mapping):
            failure = error_from_response(error)
            log.warning(
                "TOP %s refused (%s, request_id=%s) in %.2fs",
                method,
                failure.platform_code,
                error.get("request_id", ""),
                elapsed,
            )
            raise failure
        answer = body.get(method.removeprefix("taobao.").replace(".", "_") + "_response")
        if answer is None:
            wrappers = [value for key, value in body.items() if key.endswith("_response")]
            answer = wrappers[0] if len(wrappers) == 1 else None
        if not isinstance(answer, dict):
            raise PlatformUnavailable(
                "淘宝接口返回了无法识别的内容", platform_code="bad_response", platform_message=f"keys={sorted(body)}"
            )
        log.debug("TOP %s ok in %.2fs", method, elapsed)
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
            log.warning("TOP %s answered HTTP %d", method, status)
            raise PlatformUnavailable(platform_code=f"http {status}", platform_message=reply.reason_phrase)
        if status >= 400:
            raise InvalidRequest(
                "淘宝网关拒绝了请求（请检查接口地址）",
                platform_code=f"http {status}",
                platform_message=reply.reason_phrase,
            )
        try:
            body = msgspec.json.decode(reply.content)
        except msgspec.DecodeError as exc:
            raise PlatformUnavailable(
                "淘宝接口返回的不是 JSON", platform_code="bad_response", platform_message=reply.text[:200]
            ) from exc
        if not isinstance(body, dict):
            raise PlatformUnavailable("淘宝接口返回了无法识别的内容", platform_code="bad_response")
        return body
