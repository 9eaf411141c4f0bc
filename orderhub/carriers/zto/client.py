"""中通开放平台 (ZOP) client: the wire format and the data digest, nothing else.

Every API is its own path on one host: ``POST https://japi.zto.com/<api name>`` (test
``https://japi-test.zto.com/<api name>``), e.g. ``zto.open.createOrder``. The body is the business request as JSON
(``Content-Type: application/json; charset=UTF-8``) and two headers authenticate it:

* ``x-appKey``: the application's appKey (our ``credentials.partner_id``);
* ``x-dataDigest``: ``base64(md5(body + appSecret))`` — the raw 16-byte MD5 digest of the exact UTF-8 body bytes
  followed by the appSecret, base64-encoded. There is no timestamp in this scheme.

Replies are JSON ``{"status": true|false, "statusCode", "message", "result"}`` with HTTP 200 even for refusals.
Gateway codes are ``S2xx`` (S211 签名错误, S210 无权限访问 …), data-authorisation codes ``E4xx`` (E404 未绑定电子面单
账号 …); business refusals carry their own codes and a zh-CN message. :meth:`ZtoClient.call` returns ``result`` and
raises the port's typed errors otherwise.

The appSecret never reaches a log line, an exception message or ``repr``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from orderhub.carriers.port import (
    CarrierCredentials,
    CarrierError,
    CarrierUnavailable,
    DigestRejected,
    InvalidWaybillRequest,
    OutOfServiceArea,
    QuotaExhausted,
    post_json,
)
from orderhub.wire import GatewayClient

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "SANDBOX_BASE_URL",
    "ZtoBusinessError",
    "ZtoClient",
    "classify_error",
    "data_digest",
    "encode_body",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://japi.zto.com"
SANDBOX_BASE_URL = "https://japi-test.zto.com"
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
JSON_CONTENT_TYPE = "application/json; charset=UTF-8"

# ZOP 公共错误码: S200 请求超时, S202 发生错误, S203 服务暂不可用, S206 api qos limit, S207 API不存在,
# S208 XX不能为空, S210 无权限访问, S211 签名错误, S212 IP黑白名单限制, S214 时间戳非法, S221 api qps flow limit.
# 数据鉴权: E404 未绑定电子面单账号, E409 收寄人电话号码校验不一致, E413 请输入电话后4位, E416 不符合运单号规则,
# E418 不存在对应的网点授权.
_DIGEST_CODES = frozenset({"S211", "S210", "E404", "E418"})
_TRANSIENT_CODES = frozenset({"S200", "S202", "S203", "S206", "S221"})
# Business codes for service area and 电子面单 balance are not published with the common table; these are the codes
# the simulator uses, so the message text is checked as well.
_OUT_OF_AREA_CODES = frozenset({"E1002"})
_OUT_OF_AREA_WORDS = ("超区", "超出派送范围", "不在服务范围", "不在派送范围", "不可派送", "无法派送")
_QUOTA_CODES = frozenset({"E1003"})
_QUOTA_WORDS = ("余额不足", "单号不足", "面单不足", "额度不足")
_DIGEST_WORDS = ("签名错误", "签名验证失败", "appKey")
_TRANSIENT_WORDS = ("系统异常", "系统繁忙", "稍后重试", "超时", "服务暂不可用")


class ZtoBusinessError(InvalidWaybillRequest):
    """A refusal (``status: false``) that matched none of the more specific errors."""


def encode_body(body: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and digested): compact JSON, UTF-8, non-ASCII kept as is."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def data_digest(body: bytes, app_secret: str) -> str:
    """``base64(md5(body + appSecret))`` over the UTF-8 bytes (raw MD5 digest, not its hex)."""
    return base64.b64encode(hashlib.md5(body + app_secret.encode("utf-8")).digest()).decode("ascii")


def classify_error(code: str, message: str) -> CarrierError:
    kind: type[CarrierError]
    if code in _DIGEST_CODES or any(word in message for word in _DIGEST_WORDS):
        kind, summary = DigestRejected, "中通拒绝了签名或账号（请检查 appKey / appSecret / 电子面单账号）"
    elif code in _TRANSIENT_CODES or any(word in message for word in _TRANSIENT_WORDS):
        kind, summary = CarrierUnavailable, "中通接口暂不可用"
    elif code in _OUT_OF_AREA_CODES or any(word in message for word in _OUT_OF_AREA_WORDS):
        kind, summary = OutOfServiceArea, "收件地址不在中通派送范围"
    elif code in _QUOTA_CODES or any(word in message for word in _QUOTA_WORDS):
        kind, summary = QuotaExhausted, "中通电子面单余额不足"
    else:
        kind, summary = ZtoBusinessError, "中通拒绝了请求"
    return kind(f"{summary}：{code} {message}".strip(), carrier_code=code, carrier_message=message)


class ZtoClient(GatewayClient[CarrierCredentials]):
    """Digest-signed calls to the ZOP gateway for one application (``credentials``) over the caller's HTTP client."""

    repr_fields: ClassVar[dict[str, str]] = {"app_key": "credentials.partner_id"}  # never the secret or a token

    default_base_url = DEFAULT_BASE_URL
    default_timeout = DEFAULT_TIMEOUT

    def url(self, api: str) -> str:
        return f"{self.base_url}/{api}"

    def headers(self, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": JSON_CONTENT_TYPE,
            "x-appKey": self.credentials.partner_id,
            "x-dataDigest": data_digest(body, self.credentials.secret),
        }

    async def call(self, api: str, body: Mapping[str, Any]) -> Any:
        """Call one API; the ``result`` of a success (any JSON value), or a typed :class:`CarrierError`."""
        content = encode_body(body)
        log.debug("zto call %s", api)
        envelope = await post_json(
            self._http, self.url(api), name=f"中通接口 {api}", timeout=self._timeout, content=content,
            headers=self.headers(content),
        )
        if envelope.get("status") is not True:
            raise classify_error(str(envelope.get("statusCode") or ""), str(envelope.get("message") or ""))
        return envelope.get("result")
