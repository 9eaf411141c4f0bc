"""拼多多 open platform (POP) client: the wire format and the request signature, nothing else.

One gateway for every API: ``POST https://gw-api.pinduoduo.com/api/router`` with a form body holding the system
params ``type`` (the API name), ``client_id``, ``access_token``, ``timestamp`` (unix seconds), ``data_type=JSON``,
``version=V1`` and ``sign``, plus the API's own params (an object or list param travels as its JSON text).

``sign`` (拼多多开放平台「API调用指南」§签名算法, https://open.pinduoduo.com/application/document/browse?idStr=8EC06C399636041E):
every request param but ``sign`` (system and business), sorted by name in ASCII order, concatenated as
``k1v1k2v2…`` with nothing in between, ``client_secret`` prepended and appended, MD5, upper-case hex. The guide's
worked example (client_secret ``testSecret``) is the test vector in ``tests/unit/test_connector_pdd.py``.

A success answers ``{"<api>_response": {...}}``; a refusal answers HTTP 200 with
``{"error_response": {"error_code", "error_msg", "sub_code", "sub_msg", "request_id"}}``. :meth:`PddClient.call`
returns the inner object of a success and raises the port's typed errors for everything else
(:func:`classify_error`, codes from the platform's error-code table, cited there).

Secrets and tokens never reach a log line or an exception message: errors carry the platform's own code and text.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from orderhub.channels.port import (
    AlreadyShipped,
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
    "PddClient",
    "classify_error",
    "sign",
]

DEFAULT_BASE_URL = "https://gw-api.pinduoduo.com/api/router"
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)

ParamValue = str | int | bool | None

# error_code → the port's error. The codes are the POP gateway's common error table, as every API page of the
# documentation lists it (「错误码」 section of each API at https://open.pinduoduo.com/application/document/api?id=…,
# e.g. pdd.order.number.list.increment.get; the same table is captured in the API-detail fixture of lywzx/pdd-node-sdk
# packages/scripts/test/util.spec.ts: errorParamList). 5210x are the gateway's flow-control / availability codes the
# SDKs retry (lywzx/pdd-node-sdk packages/core/src/exceptions/pdd-response.exception.ts: "52101 当前接口被限流，请稍后
# 重试 / 52102 当前接口暂时不可用 / 52103 服务暂时不可用").
_SIGNATURE_CODES = frozenset({
    20004,  # 签名sign校验失败
    10016,  # client_id不正确
    10010,  # 应用不存在
})
_SESSION_CODES = frozenset({
    10019,  # access_token已过期 — 刷新access_token或者重新授权再次获取access_token
    10035,  # access_token已过期 — 请刷新access_token或者重新授权获取access_token
    10014,  # 授权已被取消
})
_RATE_LIMIT_CODES = frozenset({
    70031,  # 调用过于频繁，请调整调用频率
    70032,  # 调用过于频繁，请调整调用频率
    52101,  # 当前接口被限流，请稍后重试
})
_UNAVAILABLE_CODES = frozenset({
    50000,  # 系统内部错误
    70033,  # 当前接口因系统维护，暂时下线，请稍后再试
    52102,  # 当前接口暂时不可用，请稍后重试
    52103,  # 服务暂时不可用，请稍后重试
})
# 50001 业务服务错误 ("请根据子错误判断错误详情") carries the business refusal in sub_msg; these words in it mean an
# outage or an order already shipped (the connector confirms the latter by reading the order).
_TRANSIENT_WORDS = ("暂不可用", "稍后重试", "繁忙", "超时", "系统异常", "系统错误")
_ALREADY_SHIPPED_WORDS = ("已发货", "重复发货")


def sign(params: Mapping[str, str], client_secret: str) -> str:
    """The POP signature: upper hex MD5(secret + k1v1k2v2… + secret) over every param but ``sign``."""
    joined = "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign")
    return hashlib.md5(f"{client_secret}{joined}{client_secret}".encode()).hexdigest().upper()


def _wire(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def classify_error(error: Mapping[str, Any]) -> PlatformError:
    """The port error for one ``error_response`` object."""
    raw_code = str(error.get("error_code", "")).strip()
    code = int(raw_code) if raw_code.lstrip("-").isdigit() else -1
    error_msg = str(error.get("error_msg") or "")
    sub_msg = str(error.get("sub_msg") or "")
    sub_code = str(error.get("sub_code") or "")
    text = f"{error_msg} {sub_msg}".strip()
    platform_code = f"{code}/{sub_code}" if sub_code and sub_code != str(code) else str(code)
    kind: type[PlatformError]
    if code in _SIGNATURE_CODES:
        kind, summary = SignatureRejected, "拼多多拒绝了请求签名或应用凭证"
    elif code in _SESSION_CODES:
        kind, summary = SessionExpired, "拼多多店铺授权已失效"
    elif code in _RATE_LIMIT_CODES:
        kind, summary = RateLimited, "拼多多接口限流"
    elif code in _UNAVAILABLE_CODES:
        kind, summary = PlatformUnavailable, "拼多多服务暂不可用"
    elif any(word in text for word in _ALREADY_SHIPPED_WORDS):
        kind, summary = AlreadyShipped, "拼多多订单已发货"
    elif any(word in text for word in _TRANSIENT_WORDS):
        kind, summary = PlatformUnavailable, "拼多多服务暂不可用"
    else:
        kind, summary = InvalidRequest, "拼多多拒绝了请求"
    return kind(f"{summary}：{text}", platform_code=platform_code, platform_message=text)


class PddClient(GatewayClient[Credentials]):
    """Signed calls to the POP gateway for one shop (``credentials``) over the caller's ``httpx.AsyncClient``."""

    repr_fields: ClassVar[dict[str, str]] = {"client_id": "credentials.app_key"}  # never the secret or a token

    default_base_url = DEFAULT_BASE_URL
    default_timeout = DEFAULT_TIMEOUT

    def signed_params(self, api: str, params: Mapping[str, ParamValue], *, with_token: bool = True) -> dict[str, str]:
        """The full form body for one call (system params, business params, ``sign``). ``None`` and empty values
        are left out of both the body and the signature."""
        body: dict[str, str] = {
            "type": api,
            "client_id": self.credentials.app_key,
            "timestamp": str(math.floor(self._clock())),
            "data_type": "JSON",
            "version": "V1",
        }
        if with_token:
            body["access_token"] = self.credentials.access_token
        for key, value in params.items():
            if value is None or value == "":
                continue
            body[key] = _wire(value)
        body["sign"] = sign(body, self.credentials.app_secret)
        return body

    async def call(
        self, api: str, params: Mapping[str, ParamValue] | None = None, *, with_token: bool = True
    ) -> dict[str, Any]:
        """Call one POP API; the inner object of the ``…_response`` envelope, or a typed :class:`PlatformError`."""
        if with_token and not self.credentials.access_token:
            raise SessionExpired("拼多多店铺尚未授权（缺少 access_token）", platform_code="no_access_token")
        body = self.signed_params(api, params or {}, with_token=with_token)
        try:
            reply = await self._http.post(self.base_url, data=body, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise PlatformUnavailable(
                f"拼多多接口 {api} 超时", platform_code="timeout", platform_message=type(exc).__name__
            ) from None
        except httpx.TransportError as exc:
            raise PlatformUnavailable(
                f"无法连接拼多多接口 {api}", platform_code="network", platform_message=type(exc).__name__
            ) from None
        return self._parse(api, reply)

    def _parse(self, api: str, reply: httpx.Response) -> dict[str, Any]:
        decoded = json_reply(reply, gateway="拼多多", api=api)
        error = decoded.get("error_response")
        if isinstance(error, dict):
            raise classify_error(error)
        envelopes = [value for key, value in decoded.items() if key.endswith("_response") and isinstance(value, dict)]
        if len(envelopes) != 1:
            raise PlatformUnavailable("拼多多网关返回了意外的结构", platform_code="bad_response")
        inner: dict[str, Any] = envelopes[0]
        return inner
