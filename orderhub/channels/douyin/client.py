"""抖店 (Douyin shop) open API client: the wire format and the request signature, nothing else.

Protocol (抖店开放平台 "公共参数" / "签名算法" guides, https://op.jinritemai.com/docs/guide-docs/10/23):

* ``POST {gateway}/{method with "." → "/"}`` — ``order.searchList`` → ``/order/searchList``;
* query string: ``app_key``, ``method``, ``access_token`` (not for ``token.*``), ``timestamp`` (unix seconds, the
  form the guide recommends), ``v=2``, ``sign_method=hmac-sha256``, ``sign``;
* body: ``param_json`` — the business parameters as JSON with object keys sorted at every level and no whitespace
  (the gateway re-serialises and compares, so the bytes signed must be the bytes sent);
* ``sign`` = lower hex HMAC-SHA256(key=app_secret, app_secret + "app_key"… + "method"… + "param_json"… +
  "timestamp"… + "v"… + app_secret);
* answer: HTTP 200 with ``{"code", "msg", "sub_code", "sub_msg", "log_id", "data"}``; ``code`` 10000 is success.
  (The pre-2021 envelope ``{"err_no", "message", "data"}`` is read too.)

Errors become the port's typed :class:`~orderhub.channels.port.PlatformError` subclasses; the caller never sees
``httpx`` exceptions. Secrets and tokens are never logged (only method, codes, ``log_id`` and timing).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import httpx

from orderhub.channels.port import (
    AlreadyShipped,
    Credentials,
    DecryptRefused,
    InvalidRequest,
    PlatformError,
    PlatformUnavailable,
    RateLimited,
    SessionExpired,
    SignatureRejected,
)
from orderhub.wire import GatewayClient

__all__ = [
    "API_VERSION",
    "DEFAULT_TIMEOUT",
    "PRODUCTION_GATEWAY",
    "SANDBOX_GATEWAY",
    "SIGN_METHOD",
    "SUCCESS_CODE",
    "DouyinClient",
    "error_for",
    "param_json",
    "sign",
]

PRODUCTION_GATEWAY: Final = "https://openapi-fxg.jinritemai.com"
# The platform's own test gateway (test shops only); set ``Credentials.base_url`` to use it.
SANDBOX_GATEWAY: Final = "https://openapi-sandbox.jinritemai.com"
API_VERSION: Final = "2"
SIGN_METHOD: Final = "hmac-sha256"
SUCCESS_CODE: Final = 10000
DEFAULT_TIMEOUT: Final = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)

# Top-level ``code`` values of the v2 envelope: 抖店开放平台 「平台基础错误码汇总列表」 (op.jinritemai.com 文档中心 ›
# 错误码; reproduced at https://blog.csdn.net/weixin_49220773/article/details/126468317):
# 10000 success; 20000 服务不可用 (dop.service-error 服务繁忙, isp.service-error:…); 30001 操作权限不足
# (dop.authorization-no-existed 店铺授权已失效, dop.authorization-closed 授权已被关闭 …); 30002 请求来源IP不可信
# (isv.invalid_ip); 40001/40003 平台校验 (签名, access_token 缺失/过期/不存在 …); 40002/40004 业务校验;
# 50002 业务处理失败; 60000 触发限流; 70000 接口已下线.
_CODE_SERVICE_ERROR: Final = 20000  # 服务不可用
_CODE_RATE_LIMITED: Final = 60000  # 触发限流
_CODE_API_OFFLINE: Final = 70000  # 接口已下线 / 不存在
# order.batchDecrypt (批量解密, https://op.jinritemai.com/docs/api-docs/15/509) refusals of the whole call, as public
# integrations of that API handle them: 90000 「已达到店铺解密上限」 (the shop's daily decrypt quota is used up — print
# through 抖音电子面单 instead) and 80000 「您的环境存在安全风险，请稍后再试」 (risk control: back off and retry later).
_CODE_DECRYPT_QUOTA: Final = 90000
_CODE_DECRYPT_RISK: Final = 80000

_SIGNATURE_SUB_CODES: Final = frozenset(
    {
        "isv.signature-invalid",
        "isv.signature-missing",
        "isv.app-id-invalid",
        "isv.app-id-missing",
        "isv.app-key-invalid",
        "isv.app-secret-invalid",
    }
)
_SESSION_SUB_CODES: Final = frozenset(
    {
        "isv.access-token-expired",
        "isv.access-token-no-existed",
        "isv.access-token-missing",
        "isv.access-token-invalid",
        "isv.access-token-no-authority",
        "isv.shop-authorization-invalid",
        "dop.authorization-no-existed",  # 30001 店铺授权已失效，请重新授权
        "dop.authorization-closed",  # 30001 店铺授权已被关闭，请联系商家打开授权开关
    }
)
# token.refresh / token.create refusals meaning "authorise the shop again" (``dop.token-generate-failed:<why>``).
_SESSION_TOKEN_REASONS: Final = frozenset(
    {"token-expired", "token-invalid", "no-authorization", "refresh-token-expired"}
)

log = logging.getLogger("orderhub.channels.douyin")


def param_json(params: Mapping[str, Any]) -> str:
    """The canonical ``param_json``: keys sorted at every level, no whitespace, non-ASCII kept as UTF-8."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(*, app_key: str, app_secret: str, method: str, param_json: str, timestamp: str, v: str = API_VERSION) -> str:
    """抖店 request signature, ``sign_method=hmac-sha256`` (lower hex)."""
    plain = "".join(
        (
            app_secret,
            "app_key",
            app_key,
            "method",
            method,
            "param_json",
            param_json,
            "timestamp",
            timestamp,
            "v",
            v,
            app_secret,
        )
    )
    return hmac.new(app_secret.encode("utf-8"), plain.encode("utf-8"), hashlib.sha256).hexdigest()


def error_for(code: int | str, msg: str, sub_code: str, sub_msg: str, *, log_id: str = "") -> PlatformError:
    """The typed error for a refused call (an envelope whose ``code`` is not 10000)."""
    try:
        number = int(code)
    except (TypeError, ValueError):
        number = -1
    platform_code = f"{code}/{sub_code}" if sub_code else str(code)
    platform_message = sub_msg or msg
    kwargs: dict[str, Any] = {"platform_code": platform_code, "platform_message": platform_message}
    error: PlatformError
    reason = sub_code.partition(":")[2]
    if sub_code in _SIGNATURE_SUB_CODES:
        error = SignatureRejected(**kwargs)
    elif sub_code in _SESSION_SUB_CODES or (
        sub_code.startswith("dop.token-generate-failed") and reason in _SESSION_TOKEN_REASONS
    ):
        error = SessionExpired(**kwargs)
    elif number == _CODE_DECRYPT_QUOTA:
        error = DecryptRefused(**kwargs)
    elif number in (_CODE_RATE_LIMITED, _CODE_DECRYPT_RISK) or "flow-limit" in sub_code or "rate-limit" in sub_code:
        error = RateLimited(**kwargs)
    elif "已发货" in platform_message or "重复发货" in platform_message:
        error = AlreadyShipped(**kwargs)
    elif number == _CODE_SERVICE_ERROR or (sub_code.startswith("isp.") and number != _CODE_API_OFFLINE):
        error = PlatformUnavailable(**kwargs)
    else:
        error = InvalidRequest(**kwargs)
    if log_id:
        error.extra["log_id"] = log_id
    return error


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class DouyinClient(GatewayClient[Credentials]):
    """One shop's calls to the 抖店 open API over a shared ``httpx.AsyncClient``.

    ``credentials`` is read at every call, so assigning new credentials (after a token refresh) takes effect at
    once. ``clock`` returns unix seconds (tests may pin it).
    """

    # never the secret or a token
    repr_fields: ClassVar[dict[str, str]] = {"app_key": "credentials.app_key", "shop_id": "credentials.shop_id"}

    default_base_url = PRODUCTION_GATEWAY

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Call ``method`` with the business ``params``; the envelope's ``data`` on success (``{}`` when empty).

        ``token.*`` methods are sent without ``access_token``; every other method needs one.
        """
        creds = self.credentials
        body = param_json(params or {})
        timestamp = str(int(self._clock()))
        query: dict[str, str] = {"app_key": creds.app_key, "method": method}
        if not method.startswith("token."):
            if not creds.access_token:
                raise SessionExpired(
                    platform_code="no_access_token", platform_message="店铺尚未授权（没有 access_token）"
                )
            query["access_token"] = creds.access_token
        query.update(
            {
                "timestamp": timestamp,
                "v": API_VERSION,
                "sign_method": SIGN_METHOD,
                "sign": sign(
                    app_key=creds.app_key,
                    app_secret=creds.app_secret,
                    method=method,
                    param_json=body,
                    timestamp=timestamp,
                ),
            }
        )
        url = f"{self.base_url}/{method.replace('.', '/')}"
        started = time.monotonic()
        try:
            response = await self._http.post(
                url,
                params=query,
                content=body.encode("utf-8"),
                headers={"Content-Type": "application/json;charset=UTF-8", "Accept": "application/json"},
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            log.warning("douyin call timed out", extra={"method": method, "error": type(exc).__name__})
            raise PlatformUnavailable(platform_code="timeout", platform_message=type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            log.warning("douyin call failed", extra={"method": method, "error": type(exc).__name__})
            raise PlatformUnavailable(platform_code="network_error", platform_message=type(exc).__name__) from exc
        elapsed_ms = round((time.monotonic() - started) * 1000)
        return self._read(method, response, elapsed_ms)

    def _read(self, method: str, response: httpx.Response, elapsed_ms: int) -> dict[str, Any]:
        status = response.status_code
        if status == 429:
            log.warning("douyin rate limited (HTTP 429)", extra={"method": method, "elapsed_ms": elapsed_ms})
            raise RateLimited(platform_code="http_429", retry_after=_retry_after(response))
        if status >= 500:
            log.warning("douyin gateway error", extra={"method": method, "http_status": status})
            raise PlatformUnavailable(platform_code=f"http_{status}", platform_message=response.reason_phrase)
        try:
            envelope = response.json()
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict):
            log.warning("douyin answer is not a JSON object", extra={"method": method, "http_status": status})
            if status != 200:
                raise InvalidRequest(platform_code=f"http_{status}", platform_message=response.reason_phrase)
            raise PlatformUnavailable(platform_code="bad_response", platform_message="应答不是 JSON 对象")
        if "code" in envelope:
            code: Any = envelope.get("code")
            ok = code == SUCCESS_CODE or code == str(SUCCESS_CODE)
            msg = str(envelope.get("msg") or "")
        elif "err_no" in envelope:  # the v1 envelope
            code = envelope.get("err_no")
            ok = code in (0, "0")
            msg = str(envelope.get("message") or "")
        else:
            raise PlatformUnavailable(platform_code="bad_response", platform_message="应答缺少 code")
        sub_code = str(envelope.get("sub_code") or "")
        sub_msg = str(envelope.get("sub_msg") or "")
        log_id = str(envelope.get("log_id") or "")
        fields = {"method": method, "code": code, "sub_code": sub_code, "log_id": log_id, "elapsed_ms": elapsed_ms}
        if not ok:
            log.info("douyin call refused", extra=fields)
            raise error_for(code, msg, sub_code, sub_msg, log_id=log_id)
        log.debug("douyin call ok", extra=fields)
        data = envelope.get("data")
        if data is None or data == "":
            return {}
        if not isinstance(data, dict):
            raise PlatformUnavailable(platform_code="bad_response", platform_message="应答 data 不是对象")
        return data

    # ------------------------------------------------------------------ tokens

    async def create_token(self, *, code: str = "", shop_id: str = "") -> dict[str, Any]:
        """``token.create``: a 工具型 app trades the OAuth ``code``; a 自用型 app (no code) asks for its own shop
        (``grant_type=authorization_self`` with ``shop_id``). Returns ``data`` (access_token, expires_in,
        refresh_token, shop_id, shop_name …)."""
        params: dict[str, Any] = {"code": code, "grant_type": "authorization_code" if code else "authorization_self"}
        if not code and (shop_id or self.credentials.shop_id):
            params["shop_id"] = shop_id or self.credentials.shop_id
        return await self.call("token.create", params)

    async def refresh_token(self, refresh_token: str | None = None) -> dict[str, Any]:
        """``token.refresh`` (the refresh token is single use: store the new pair at once)."""
        value = refresh_token if refresh_token is not None else self.credentials.refresh_token
        if not value:
            raise SessionExpired(platform_code="no_refresh_token", platform_message="没有 refresh_token，需要重新授权")
        return await self.call("token.refresh", {"grant_type": "refresh_token", "refresh_token": value})
