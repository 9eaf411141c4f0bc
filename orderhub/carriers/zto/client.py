"""中通开放平台 (ZOP) client: the wire format and the data digest, nothing else.

Every API is its own path on one host: ``POST https://japi.zto.com/<api name>`` (test
``https://japi-test.zto.com/<api name>``), e.g. ``zto.open.createOrder``. The body is the business request as JSON
(``Content-Type: application/json; charset=UTF-8``) and two headers authenticate it:

* ``x-appKey``: the application's appKey (our ``credentials.partner_id``);
* ``x-dataDigest``: ``base64(md5(body + appSecret))`` — the raw 16-byte MD5 digest of the exact UTF-8 body bytes
  followed by the appSecret, base64-encoded (ZOP「签名生成」平台标准签名: 待签名字符串 = 请求body + appSecret,
  x-datadigest = base64(md5(待签名字符串)); https://open.zto.com/#/documents?menuId=4). No timestamp: the
  optional ``x-timestamp`` variant is only for APIs whose page asks for it.

Which header carries the appKey. ZTO's documentation names it ``x-appKey``: ZOP「接口说明」 — 请求头 Content-Type
plus "x-appKey" (控制台 › 应用管理 › 应用配置) and "x-datadigest" (as republished by ZTO's tech team:
https://blog.csdn.net/ZTOTech/article/details/128114327), and the docs' curl example sends
``-H "x-appKey:…" -H "x-dataDigest:…"``. ZTO's official SDKs send the same value as ``x-companyid``:
github.com/ZTO-Express/zopsdk-java (``ZopClient(appKey, appSecret)`` puts the appKey in ``x-companyid`` on its
``application/json`` branch, HEAD 110c92b), zopsdk-php and zopsdk-node likewise — "companyid" is the platform's
earlier name for the appKey (the old form API's ``company_id`` parameter). The same「接口说明」 page that
names ``x-appKey`` sends the reader to these SDKs ("你可以使用中通提供的SDK来调用，无需关注签名生成"), and the SDK
README calls ``https://japi-test.zto.com/…`` with them: ZTO offers both for the same gateway, so the gateway reads
either name. HTTP header names are case-insensitive, so the spelling (``x-dataDigest`` / ``x-datadigest``) is
immaterial. We send the documented ``x-appKey``.

Replies are JSON ``{"status": true|false, "statusCode", "message", "result"}`` with HTTP 200 even for refusals.
:meth:`ZtoClient.call` returns ``result`` and raises the port's typed errors otherwise.

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
    TimestampExpired,
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

# ZOP 文档「返回信息代码含义」— 公共错误码对照表: S200 请求超时 (后端服务调用超时), S202 发生错误 (后端服务调用
# 抛出异常), S203 服务暂不可用, S206 api qos limit (API调用次数达到每分钟/小时限制), S207 API不存在, S208 XX不能为空,
# S210 无权限访问 (未绑定服务关系), S211 签名错误, S212 IP黑白名单限制, S214 时间戳非法, S221 api qps flow limit
# (API流控限制). 公共数据鉴权错误码对照表: E404 鉴权失败,未绑定电子面单账号, E409 鉴权失败,收寄人电话号码校验不一致,
# E413 鉴权失败,请输入收寄人任一方电话号码后4位, E416 不符合中通运单号规则校验, E418 鉴权失败,不存在对应的网点授权.
_DIGEST_CODES = frozenset({"S211"})  # 签名错误
_ACCESS_CODES = frozenset({"S210", "S212", "E404", "E418"})  # 服务未绑定, IP 限制, 面单账号 / 网点未授权
_TIMESTAMP_CODES = frozenset({"S214"})  # 时间戳非法
_TRANSIENT_CODES = frozenset({"S200", "S202", "S203", "S206", "S221"})
# S207, S208, E409, E413, E416 are refusals of the request as sent (ZtoBusinessError with ZTO's code and message).
_DOCUMENTED = frozenset("S200 S202 S203 S206 S207 S208 S210 S211 S212 S214 S221 E404 E409 E413 E416 E418".split())
# ZTO publishes no codes for an address it cannot serve or an 电子面单 account without balance (createOrder's page
# lists none): for those refusals, and only for codes outside the tables above, the message text decides.
_OUT_OF_AREA_WORDS = ("超区", "超出派送范围", "不在服务范围", "不在派送范围", "不可派送", "无法派送")
_QUOTA_WORDS = ("余额不足", "单号不足", "面单不足", "额度不足")
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
    kind: type[CarrierError] = ZtoBusinessError
    summary = "中通拒绝了请求"
    if code in _DIGEST_CODES:
        kind, summary = DigestRejected, "中通拒绝了签名（请检查 appKey / appSecret）"
    elif code in _ACCESS_CODES:
        kind, summary = DigestRejected, "中通拒绝了账号（请检查应用的服务授权、IP 白名单、电子面单账号与网点授权）"
    elif code in _TIMESTAMP_CODES:
        kind, summary = TimestampExpired, "中通认为请求时间戳非法（请检查服务器时间）"
    elif code in _TRANSIENT_CODES:
        kind, summary = CarrierUnavailable, "中通接口暂不可用"
    elif code in _DOCUMENTED:
        pass
    elif any(word in message for word in _OUT_OF_AREA_WORDS):
        kind, summary = OutOfServiceArea, "收件地址不在中通派送范围"
    elif any(word in message for word in _QUOTA_WORDS):
        kind, summary = QuotaExhausted, "中通电子面单余额不足"
    elif any(word in message for word in _TRANSIENT_WORDS):
        kind, summary = CarrierUnavailable, "中通接口暂不可用"
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
