"""顺丰开放平台 (丰桥) client: the wire format and the message digest, nothing else.

One gateway for every service: ``POST https://bspgw.sf-express.com/std/service`` (sandbox
``https://sfapi-sbox.sf-express.com/std/service``) with an ``application/x-www-form-urlencoded`` body of
``partnerID``, ``requestID`` (a UUID), ``serviceCode``, ``timestamp`` (ms since the epoch), ``msgDigest`` and
``msgData`` (the business request as a JSON string).

``msgDigest = base64(md5(urlencode(msgData + timestamp + checkWord)))`` — the raw 16-byte MD5 digest,
base64-encoded. ``urlencode`` is :func:`urllib.parse.quote_plus` with ``safe=""`` over the UTF-8 text: spaces become
``+``, everything but ``A-Z a-z 0-9 _ . - ~`` is percent-encoded. SF computes it with Java's ``URLEncoder.encode(…,
"UTF-8")``, which agrees with ``quote_plus`` on every character a JSON body holds except ``~`` (Java encodes it as
``%7E``) and ``*`` (Java leaves it); we keep ``quote_plus`` and the simulator verifies exactly the same way.

The reply is JSON ``{"apiResultCode", "apiErrorMsg", "apiResponseID", "apiResultData"}``. ``apiResultCode`` other
than ``A1000`` is a gateway refusal; ``apiResultData`` is a JSON string ``{"success", "errorCode", "errorMsg",
"msgData"}``. :meth:`SfClient.call` returns the business ``msgData`` and raises the port's typed errors otherwise.

The checkWord never reaches a log line, an exception message or ``repr``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote_plus

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
    "DUPLICATE_ORDER",
    "SANDBOX_BASE_URL",
    "SfBusinessError",
    "SfClient",
    "classify_business_error",
    "classify_gateway_error",
    "msg_digest",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://bspgw.sf-express.com/std/service"
SANDBOX_BASE_URL = "https://sfapi-sbox.sf-express.com/std/service"
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)

GATEWAY_OK = "A1000"
# Gateway codes (丰桥 公共响应 apiResultCode). A1001 必传参数不可为空, A1002 请求时效已过期, A1003 IP 无效,
# A1004 无对应服务权限, A1005 流量受控, A1006 数字签名无效, A1007 重复请求, A1009 目标服务异常或不可达,
# A1099 系统异常.
_GATEWAY_DIGEST = frozenset({"A1006"})
_GATEWAY_TIMESTAMP = frozenset({"A1002"})
_GATEWAY_TRANSIENT = frozenset({"A1005", "A1009", "A1099"})

DUPLICATE_ORDER = "8016"  # 重复下单
# Business errorCode values. 8016 is the documented duplicate; the service-area and quota codes are the ones the
# simulator uses (SF documents several variants), so the message text is checked as well.
_OUT_OF_AREA_CODES = frozenset({"1010", "8019", "20011"})
_OUT_OF_AREA_WORDS = ("不在收派范围", "超范围", "不在服务范围", "无法收派")
_QUOTA_CODES = frozenset({"8196", "6150"})
_QUOTA_WORDS = ("余额不足", "单号不足", "配额")
_TRANSIENT_WORDS = ("系统异常", "系统繁忙", "稍后重试", "超时")


class SfBusinessError(InvalidWaybillRequest):
    """A business refusal (``success: false``) that matched none of the more specific errors."""


def msg_digest(msg_data: str, timestamp: str, check_word: str) -> str:
    """``base64(md5(quote_plus(msgData + timestamp + checkWord)))`` — see the module docstring for the quoting."""
    encoded = quote_plus(msg_data + timestamp + check_word, safe="", encoding="utf-8")
    return base64.b64encode(hashlib.md5(encoded.encode("utf-8")).digest()).decode("ascii")


def classify_gateway_error(code: str, message: str) -> CarrierError:
    kind: type[CarrierError]
    if code in _GATEWAY_DIGEST:
        kind, summary = DigestRejected, "顺丰拒绝了数字签名（请检查校验码 checkWord）"
    elif code in _GATEWAY_TIMESTAMP:
        kind, summary = TimestampExpired, "顺丰认为请求已过期（请检查服务器时间）"
    elif code in _GATEWAY_TRANSIENT:
        kind, summary = CarrierUnavailable, "顺丰网关暂不可用"
    elif code == "A1004":
        kind, summary = DigestRejected, "顺丰拒绝了合作伙伴编码（无对应服务权限）"
    else:
        kind, summary = InvalidWaybillRequest, "顺丰网关拒绝了请求"
    return kind(f"{summary}：{code} {message}".strip(), carrier_code=code, carrier_message=message)


def classify_business_error(code: str, message: str) -> CarrierError:
    kind: type[CarrierError]
    if code in _OUT_OF_AREA_CODES or any(word in message for word in _OUT_OF_AREA_WORDS):
        kind, summary = OutOfServiceArea, "收件地址不在顺丰收派范围"
    elif code in _QUOTA_CODES or any(word in message for word in _QUOTA_WORDS):
        kind, summary = QuotaExhausted, "顺丰月结账户额度不足"
    elif any(word in message for word in _TRANSIENT_WORDS):
        kind, summary = CarrierUnavailable, "顺丰服务暂不可用"
    else:
        kind, summary = SfBusinessError, "顺丰拒绝了请求"
    return kind(f"{summary}：{code} {message}".strip(), carrier_code=code, carrier_message=message)


class SfClient(GatewayClient[CarrierCredentials]):
    """Digest-signed calls to the 丰桥 gateway for one partner (``credentials``) over the caller's HTTP client.

    ``clock`` returns seconds since the epoch (``time.time``); the wire timestamp is its milliseconds."""

    repr_fields: ClassVar[dict[str, str]] = {"partner_id": "credentials.partner_id"}  # never the secret or a token

    default_base_url = DEFAULT_BASE_URL
    default_timeout = DEFAULT_TIMEOUT

    def form(self, service_code: str, msg_data: Mapping[str, Any]) -> dict[str, str]:
        """The full form body for one call."""
        text = json.dumps(msg_data, ensure_ascii=False, separators=(",", ":"))
        timestamp = str(int(self._clock() * 1000))
        return {
            "partnerID": self.credentials.partner_id,
            "requestID": str(uuid.uuid4()),
            "serviceCode": service_code,
            "timestamp": timestamp,
            "msgDigest": msg_digest(text, timestamp, self.credentials.secret),
            "msgData": text,
        }

    async def call(self, service_code: str, msg_data: Mapping[str, Any]) -> dict[str, Any]:
        """Call one service; the business ``msgData`` of a success, or a typed :class:`CarrierError`."""
        body = self.form(service_code, msg_data)
        log.debug("sf call %s request_id=%s", service_code, body["requestID"])
        envelope = await post_json(
            self._http, self.base_url, name=f"顺丰接口 {service_code}", timeout=self._timeout, data=body
        )
        api_code = str(envelope.get("apiResultCode") or "")
        if api_code != GATEWAY_OK:
            raise classify_gateway_error(api_code, str(envelope.get("apiErrorMsg") or ""))
        result = _loads(envelope.get("apiResultData"))
        if not isinstance(result, dict):
            raise CarrierUnavailable("顺丰网关返回了意外的业务结构", carrier_code="bad_response")
        if result.get("success") is not True:
            raise classify_business_error(str(result.get("errorCode") or ""), str(result.get("errorMsg") or ""))
        data = _loads(result.get("msgData"))
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise CarrierUnavailable("顺丰网关返回了意外的业务结构", carrier_code="bad_response")
        return data


def _loads(value: object) -> object:
    """SF nests JSON as strings; accept either the string or an already decoded object."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            decoded: object = json.loads(value)
        except ValueError:
            raise CarrierUnavailable("顺丰网关返回了无法解析的业务数据", carrier_code="bad_response") from None
        return decoded
    return value
