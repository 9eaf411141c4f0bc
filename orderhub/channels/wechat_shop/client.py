"""微信小店 / 视频号小店 client: the wire format only (no request signatures on this API).

* Access token: ``POST {base}/cgi-bin/stable_token`` with ``{"grant_type": "client_credential", "appid",
  "secret", "force_refresh"}`` → ``{"access_token", "expires_in"}``. The stable token is preferred over
  ``GET /cgi-bin/token`` because fetching it does not invalidate the token another system of the same shop uses,
  and because the AppSecret travels in the body rather than in a URL that proxies and access logs record.
* Business APIs: ``POST {base}/channels/ec/…?access_token=…`` with a JSON body; every answer carries
  ``{"errcode", "errmsg"}`` (``errcode`` 0 on success, errors with HTTP 200).

:meth:`WechatShopClient.call` returns the decoded answer of a success and raises the port's typed errors otherwise.
The client does not cache or refresh tokens (the connector does); it never puts the AppSecret or a token into an
error or a log line. The WeChat API takes the access token in the query string and ``httpx`` logs request URLs
at INFO: :mod:`orderhub.logs` keeps the ``httpx`` / ``httpcore`` loggers above INFO for that reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import msgspec

from orderhub.channels.port import (
    Credentials,
    InvalidRequest,
    PlatformError,
    PlatformUnavailable,
    RateLimited,
    SessionExpired,
    SignatureRejected,
    json_reply,
)
from orderhub.wire import GatewayClient

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "SESSION_ERRCODES",
    "AccessToken",
    "WechatShopClient",
    "classify_error",
]

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)

# errcode → the port's error. Sources: 微信小店「公共错误码」 (https://developers.weixin.qq.com/doc/store/shop/
# dev_before/commErrCode.html, same table for 视频号小店 at …/doc/channels/API/basics/commErrCode.html), the access
# token APIs' own codes (getStableAccessToken / getAccessToken, …/doc/store/shop/API/apimgnt/common/
# api_getstableaccesstoken.html) and the stock API's (快速更新库存, …/doc/store/shop/API/product/stock_update.html).
# 40001 invalid credential / not latest; 41001 access_token missing; 42001 access_token expired.
SESSION_ERRCODES = frozenset({40001, 41001, 42001})
# 40013 invalid appid; 41002 appid missing; 45035 / 61004 client IP not in the shop's IP whitelist (公共错误码);
# 40125 invalid appsecret, 41004 appsecret missing, 40164 invalid ip … not in whitelist (the token APIs).
_CREDENTIAL_ERRCODES = frozenset({40013, 41002, 45035, 61004, 40125, 41004, 40164})
# 45009 reach max api daily quota limit; 45011 api minute-quota reach limit (公共错误码);
# 10020112 更新该sku库存频率超限 (快速更新库存).
_RATE_LIMIT_ERRCODES = frozenset({45009, 45011, 10020112})
_UNAVAILABLE_ERRCODES = frozenset({-1})  # -1 system error: 系统繁忙，此时请开发者稍候再试


class AccessToken(msgspec.Struct, frozen=True, kw_only=True):
    value: str
    expires_at: datetime  # aware UTC


def classify_error(errcode: int, errmsg: str) -> PlatformError:
    """The port error for a non-zero ``errcode``."""
    fields: dict[str, Any] = {"platform_code": str(errcode), "platform_message": errmsg}
    if errcode in SESSION_ERRCODES:
        return SessionExpired(f"微信小店 access_token 无效或已过期：{errmsg}", **fields)
    if errcode in _CREDENTIAL_ERRCODES:
        return SignatureRejected(f"微信小店拒绝了应用凭证（AppID / AppSecret / IP 白名单）：{errmsg}", **fields)
    if errcode in _RATE_LIMIT_ERRCODES:
        retry_after = 60.0 if errcode == 45011 else None  # 45011: minute quota, "retry next minute"
        return RateLimited(f"微信小店接口限流：{errmsg}", retry_after=retry_after, **fields)
    if errcode in _UNAVAILABLE_ERRCODES:
        return PlatformUnavailable(f"微信小店系统繁忙：{errmsg}", **fields)
    return InvalidRequest(f"微信小店拒绝了请求：{errmsg}", **fields)


class WechatShopClient(GatewayClient[Credentials]):
    """Calls to the WeChat shop API for one shop (``credentials``: ``app_key`` = AppID, ``app_secret`` =
    AppSecret) over the caller's ``httpx.AsyncClient``."""

    repr_fields: ClassVar[dict[str, str]] = {"appid": "credentials.app_key"}  # never the secret or a token

    default_base_url = DEFAULT_BASE_URL
    default_timeout = DEFAULT_TIMEOUT

    async def fetch_token(self, *, force_refresh: bool = False) -> AccessToken:
        """A stable access token (``force_refresh``: a new one even if the current one is still valid)."""
        body = {
            "grant_type": "client_credential",
            "appid": self.credentials.app_key,
            "secret": self.credentials.app_secret,
            "force_refresh": force_refresh,
        }
        requested_at = self._clock()
        answer = await self._post("/cgi-bin/stable_token", body, params=None)
        value = answer.get("access_token")
        expires_in = answer.get("expires_in")
        if not isinstance(value, str) or not value or not isinstance(expires_in, int):
            raise PlatformUnavailable("微信返回的 access_token 结构不对", platform_code="bad_response")
        expires_at = datetime.fromtimestamp(requested_at, UTC) + timedelta(seconds=expires_in)
        return AccessToken(value=value, expires_at=expires_at)

    async def call(self, path: str, body: Mapping[str, Any], *, access_token: str) -> dict[str, Any]:
        """POST one business API (``path`` such as ``/channels/ec/order/get``) with ``access_token``."""
        if not access_token:
            raise SessionExpired("微信小店缺少 access_token", platform_code="41001")
        return await self._post(path, body, params={"access_token": access_token})

    async def _post(self, path: str, body: Mapping[str, Any], *, params: dict[str, str] | None) -> dict[str, Any]:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            reply = await self._http.post(
                self.base_url + path,
                params=params,
                content=content,
                headers={"content-type": "application/json"},
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise PlatformUnavailable(
                f"微信小店接口 {path} 超时", platform_code="timeout", platform_message=type(exc).__name__
            ) from None
        except httpx.TransportError as exc:
            raise PlatformUnavailable(
                f"无法连接微信小店接口 {path}", platform_code="network", platform_message=type(exc).__name__
            ) from None
        return _parse(path, reply)


def _parse(path: str, reply: httpx.Response) -> dict[str, Any]:
    decoded = json_reply(reply, gateway="微信", api=path)
    errcode = decoded.get("errcode", 0)
    if not isinstance(errcode, int):
        errcode = int(errcode) if str(errcode).lstrip("-").isdigit() else -1
    if errcode != 0:
        raise classify_error(errcode, str(decoded.get("errmsg") or ""))
    return decoded
