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

Sources (JD's own pages; no code copied):

* signature — JOS 开发文档「签名算法」(https://jos.jd.com/commondoc?listId=33, the page JOS's error table points to
  for codes 11/12): params sorted by name, ``name`` + ``value`` concatenated, the AppSecret on both ends, MD5, upper
  hex. JD's own SDKs do the same: the Python ``jd-sdk`` ``jd/api/base.py`` ``sign()`` and the Java open-api-sdk
  ``DefaultJdClient.sign()`` (TreeMap order, UTF-8, upper hex, empty values skipped). JD publishes no worked
  example with a result, so the tests use hand-computed vectors checked against an implementation written in the
  test from the formula above (tests/unit/test_connector_jd.py).
* gateway codes — JOS「错误码」网关系统错误码 table (jos.jd.com; reproduced with JD's text at
  https://blog.csdn.net/zyliu_/article/details/141867142): 2 限制时间内调用失败次数 (App Call Limited), 12 无效签名,
  18 缺少access_token参数, 19 无效access_token, 20 缺少app_key参数, 21 无效app_key, 43 系统处理错误, 65/66/67
  平台连接后端服务超时 / 不可用 / 处理过程中出现未知异常信息, 1 服务不可用.
* token refresh — JOS「Token过期处置」(https://kepler.jd.com/console/docCenterCatalog/docContent?channelId=111)
  and 「授权获取accesstoken」(https://jos.jd.com/doc/channel.htm?id=880): ``GET
  https://open-oauth.jd.com/oauth2/refresh_token?app_key=…&app_secret=…&grant_type=refresh_token&refresh_token=…``
  answers ``{"access_token", "expires_in" (seconds), "refresh_token", "scope", "open_id", "uid", "time" (ms),
  "token_type", "code": 0}``; the doc says to keep "当前日期时间 + expires_in" as the expiry. It documents no
  refresh-token expiry and no code list for refusals: any non-zero ``code`` (with ``msg``) is a refusal, raised
  as :class:`SessionExpired` with that code (the shop must authorise the app again).

Failures are raised as the port's typed errors; secrets and tokens are never logged (the OAuth URL carries the
AppSecret and the refresh token in its query string as JD documents it; :mod:`orderhub.logs` masks both in the
``httpx`` log lines).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final
from urllib.parse import urljoin

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
    "OAUTH_REFRESH_URL",
    "JosClient",
    "TokenRefresh",
    "business_failure",
    "error_from_business_failure",
    "error_from_response",
    "sign",
]

GATEWAY_URL: Final = "https://api.jd.com/routerjson"
# JOS「Token过期处置」/「授权获取accesstoken」: the OAuth server, not the API gateway.
OAUTH_REFRESH_URL: Final = "https://open-oauth.jd.com/oauth2/refresh_token"
DEFAULT_TIMEOUT: Final = httpx.Timeout(20.0, connect=5.0)

log = logging.getLogger("orderhub.channels.jd")

# JOS gateway codes (``error_response.code``) by what the hub does about them — JOS「错误码」网关系统错误码 (see the
# module docstring). The descriptions are matched as well, for codes outside this table.
_SIGNATURE_CODES = frozenset({"12", "21"})  # 12 无效签名 Invalid Signature; 21 无效app_key Invalid app_key
_SESSION_CODES = frozenset({"18", "19"})  # 18 缺少access_token参数; 19 无效access_token (expired or unknown)
_RATE_CODES = frozenset({"2"})  # 2 限制时间内调用失败次数 App Call Limited
# 1 服务不可用; 43 系统处理错误; 65 平台连接后端服务超时; 66 平台连接后端服务不可用;
# 67 平台连接后端服务处理过程中出现未知异常信息
_UNAVAILABLE_CODES = frozenset({"1", "43", "65", "66", "67"})
_ALREADY_SHIPPED = re.compile(r"已出库|已发货|重复出库|重复发货|already\s+(?:been\s+)?(?:shipped|out)", re.IGNORECASE)
_BUSY = re.compile(r"系统繁忙|系统异常|服务不可用|稍后重试|system\s+(?:busy|error)|unavailable|timeout", re.IGNORECASE)


def sign(params: Mapping[str, str], secret: str) -> str:
    """The JOS signature of ``params`` (every param but ``sign``; 签名算法, jos.jd.com/commondoc?listId=33)."""
    joined = "".join(f"{key}{value}" for key, value in sorted(params.items()) if key != "sign")
    return hashlib.md5(f"{secret}{joined}{secret}".encode()).hexdigest().upper()


class TokenRefresh(msgspec.Struct, frozen=True, kw_only=True):
    """What ``/oauth2/refresh_token`` answered: the new tokens and when the access token expires (aware UTC)."""

    access_token: str
    refresh_token: str
    expires_at: datetime | None

    def __repr__(self) -> str:  # never a token
        return f"TokenRefresh(expires_at={self.expires_at!r})"


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

    @property
    def refresh_url(self) -> str:
        """JD's OAuth refresh endpoint; next to the gateway when ``credentials.base_url`` points elsewhere (a
        simulator serving ``…/routerjson`` serves ``…/oauth2/refresh_token`` beside it)."""
        base_url = self.credentials.base_url
        return urljoin(base_url, "oauth2/refresh_token") if base_url else OAUTH_REFRESH_URL

    async def refresh_token(self) -> TokenRefresh:
        """Trade the shop's refresh token for a new token pair (JOS「Token过期处置」). A refusal (unknown, used or
        expired refresh token, wrong app) raises :class:`SessionExpired` carrying JD's ``code`` and ``msg``."""
        refresh = self.credentials.refresh_token
        if not refresh:
            raise SessionExpired(
                "京东店铺没有可用的 refresh_token：请店铺主账号在京东商家开放平台重新授权本应用",
                platform_code="no_refresh_token",
            )
        params = {
            "app_key": self.credentials.app_key,
            "app_secret": self.credentials.app_secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh,
        }
        requested_at = self._now()
        try:
            reply = await self._http.get(self.refresh_url, params=params, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            log.warning("JD token refresh timed out")
            raise PlatformUnavailable(
                "京东授权服务超时", platform_code="timeout", platform_message=type(exc).__name__
            ) from exc
        except httpx.HTTPError as exc:
            log.warning("JD token refresh failed: %s", type(exc).__name__)
            raise PlatformUnavailable(
                "无法连接京东授权服务", platform_code="network", platform_message=type(exc).__name__
            ) from exc
        body = self._decode("oauth2/refresh_token", reply)
        code = str(body.get("code", "0"))
        if code != "0":
            message = str(body.get("msg") or body.get("message") or "")
            log.warning("JD token refresh refused (%s)", code)
            raise SessionExpired(
                "京东拒绝刷新店铺授权（refresh_token 无效或已过期）：请店铺主账号在京东商家开放平台重新授权本应用",
                platform_code=code,
                platform_message=message,
            )
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise PlatformUnavailable(
                "京东授权服务的应答里没有 access_token",
                platform_code="bad_response",
                platform_message=f"keys={sorted(body)}",
            )
        expires_in = body.get("expires_in")
        seconds = int(expires_in) if isinstance(expires_in, int | str) and str(expires_in).isdigit() else None
        new_refresh = body.get("refresh_token")
        log.info("JD token refreshed for app %s", self.credentials.app_key)
        return TokenRefresh(
            access_token=access,
            refresh_token=new_refresh if isinstance(new_refresh, str) and new_refresh else refresh,
            expires_at=(requested_at.astimezone(UTC) + timedelta(seconds=seconds)) if seconds is not None else None,
        )

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
