"""顺丰开放平台 (丰桥) client: the wire format and the message digest, nothing else.

One gateway for every service: ``POST https://bspgw.sf-express.com/std/service`` (sandbox
``https://sfapi-sbox.sf-express.com/std/service``) with an ``application/x-www-form-urlencoded`` body of
``partnerID``, ``requestID`` (a UUID), ``serviceCode``, ``timestamp`` (ms since the epoch), ``msgDigest`` and
``msgData`` (the business request as a JSON string).

``msgDigest = Base64(MD5(URLEncoder.encode(msgData + timestamp + checkWord, "UTF-8")))`` — the raw 16-byte MD5
digest of the encoded text's UTF-8 bytes, base64-encoded (丰桥「数字签名认证说明」, simple MD5,
https://open.sf-express.com/developSupport/976720?activeIndex=641728). SF computes it with Java's
``java.net.URLEncoder``, so :func:`java_url_encode` reproduces that class exactly: ``A-Z a-z 0-9 . - * _`` stay,
a space becomes ``+``, every other character is percent-encoded byte by byte in UTF-8 with uppercase hex — ``~``
too (``%7E``). Python's ``quote_plus`` is *not* the same: it keeps ``~`` and encodes ``*``, so an order whose
remark or phone holds either (``138****0000``, ``易碎*轻放~``) would be refused with A1006.

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

import httpx

from orderhub.carriers.port import (
    CarrierCredentials,
    CarrierError,
    CarrierUnavailable,
    CustomsIncomplete,
    DigestRejected,
    InvalidWaybillRequest,
    OutOfServiceArea,
    TimestampExpired,
    post_json,
)
from orderhub.wire import GatewayClient

__all__ = [
    "CUSTOMS_FIELDS",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "DUPLICATE_ORDER",
    "SANDBOX_BASE_URL",
    "SfBusinessError",
    "SfClient",
    "classify_business_error",
    "classify_gateway_error",
    "java_url_encode",
    "msg_digest",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://bspgw.sf-express.com/std/service"
SANDBOX_BASE_URL = "https://sfapi-sbox.sf-express.com/std/service"
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)

GATEWAY_OK = "A1000"
# Gateway codes, 丰桥 API 文档「3.1 (API)平台结果代码列表」(on every 速运类 API page, e.g. 订单确认/取消接口
# EXP_RECE_UPDATE_ORDER): A1001 必传参数不可为空, A1002 请求时效已过期,
# A1003 IP无效, A1004 无对应服务权限, A1005 流量受控, A1006 数字签名无效, A1007 重复请求 (处理建议: 过一分钟再尝试),
# A1008 数据解密失败, A1009 目标服务异常或不可达, A1099 系统异常. A1001 / A1008 and unknown codes are refusals of
# the request as sent.
_GATEWAY_DIGEST = frozenset({"A1006"})  # 数字签名无效
_GATEWAY_TIMESTAMP = frozenset({"A1002"})  # 请求时效已过期
_GATEWAY_ACCESS = frozenset({"A1003", "A1004"})  # IP无效, 无对应服务权限
_GATEWAY_TRANSIENT = frozenset({"A1005", "A1007", "A1009", "A1099"})  # 流量受控, 重复请求, 目标服务不可达, 系统异常

# Business errorCode values, 丰桥「速运类接口业务相关错误码」
# (https://open.sf-express.com/developSupport/976720?activeIndex=146623). Only the ones the hub acts on:
DUPLICATE_ORDER = "8016"  # 重复下单 — the adapter fetches the order it already placed
_CARD_REFUSED = frozenset({"8114", "8119"})  # 8114 传入了不可发货的月结卡号, 8119 月结卡号不存在或已失效
_PHONE_REFUSED = frozenset({"8196"})  # 8196 信息异常 (处理建议: 电话号码黑名单)
_PEAK_CONTROL = frozenset({"8177"})  # 8177 正值运力高峰期…寄件通道预约已满 (高峰管控): try again later
# A cross-border (跨境件 / 国际件) order missing what SF's declaration needs: 丰桥 API 文档「下订单接口-速运类API
# EXP_RECE_CREATE_ORDER」section「3.2 业务异常代码」(open.sf-express.com, its 速运类 API list; the table links to
# 速运类接口业务相关错误码 above). The hub reports them as CustomsIncomplete naming the field SF says is missing.
CUSTOMS_FIELDS: dict[str, str] = {
    "1020": "邮编",  # 出口件邮编不能为空 (postCode)
    "1028": "货物数量",  # 出口件时，拖寄物数量不能为空 (cargoDetails.count)
    "1038": "声明价值",  # 出口件声明价值不能为空 (cargoDeclaredValue)
    "6200": "寄件人邮编",  # 国际件寄方邮编不能为空 (postCode, contactType 1)
    "6201": "收件人邮编",  # 国际件到方邮编不能为空 (postCode, contactType 2)
    "6202": "货物数量",  # 国际件货物数量不能为空 (cargoDetails.count)
    "6203": "货物单位",  # 国际件货物单位不能为空 (cargoDetails.unit)
    "6204": "货物单位重量",  # 国际件货物单位重量不能为空 (cargoDetails.weight)
    "6205": "货物单价",  # 国际件货物单价不能为空 (cargoDetails.amount)
    "6206": "货物币种",  # 国际件货物币种不能为空 (cargoDetails.currency)
    "6207": "原产地",  # 国际件原产地不能为空 (cargoDetails.sourceArea)
    "8194": "申明价值和币别",  # 跨境件必须包含申明价值和币别 (customsInfo.declaredValue, declaredValueCurrency)
}
# Every other documented code (1010-1016 寄/到件地址、联系人、电话不能为空, 1023 托寄物品名不能为空,
# 6126 月结卡号不合法, 6150 找不到该订单, 8017 订单号与运单号不匹配, 8018 未获取到订单信息, 8037 已消单,
# 8252 订单已确认, 8253 订单已取消, 20011 产品与定时派送服务时间段不匹配 …) is a refusal of the request as sent:
# SfBusinessError with SF's code and message.
# SF reports an address it cannot serve not as an error but as filterResult 3 (不可以收派) in the create-order reply
# (see the adapter). For codes outside that table only, the message text decides:
_DOCUMENTED = frozenset(
    "1010 1011 1012 1014 1015 1016 1020 1023 1028 1038 6126 6127 6128 6130 6138 6139 6150 6200 6201 6202 6203 6204 "
    "6205 6206 6207 8003 8013 8016 8017 8018 8019 8024 8027 8037 8051 8052 8053 8057 8067 8096 8114 8117 8119 8168 "
    "8177 8179 8191 8194 8196 8247 8252 8253 8256 20011 20012 20035 20036 20052".split()
)
_OUT_OF_AREA_WORDS = ("不在收派范围", "超范围", "不可以收派", "无法收派")
_TRANSIENT_WORDS = ("系统异常", "系统繁忙", "稍后重试", "超时")

# java.net.URLEncoder (Java SE 17 API, https://docs.oracle.com/en/java/javase/17/docs/api/java.base/java/net/
# URLEncoder.html): "The alphanumeric characters a-z, A-Z and 0-9 remain the same. The special characters ".", "-",
# "*", and "_" remain the same. The space character " " is converted into a plus sign "+". All other characters are
# unsafe and are first converted into one or more bytes using some encoding scheme [UTF-8]. Then each byte is
# represented by the 3-character string "%xy", where xy is the two-digit hexadecimal representation of the byte"
# (uppercase, as the JDK writes it).
_JAVA_UNRESERVED = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*_")


class SfBusinessError(InvalidWaybillRequest):
    """A business refusal (``success: false``) that matched none of the more specific errors."""


def java_url_encode(text: str) -> str:
    """``URLEncoder.encode(text, "UTF-8")`` as Java does it (the rules above ``_JAVA_UNRESERVED``)."""
    out: list[str] = []
    for byte in text.encode("utf-8"):
        if byte in _JAVA_UNRESERVED:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def msg_digest(msg_data: str, timestamp: str, check_word: str) -> str:
    """``Base64(MD5(URLEncoder.encode(msgData + timestamp + checkWord, "UTF-8")))`` (see the module docstring)."""
    encoded = java_url_encode(msg_data + timestamp + check_word)
    return base64.b64encode(hashlib.md5(encoded.encode("ascii")).digest()).decode("ascii")


def classify_gateway_error(code: str, message: str) -> CarrierError:
    kind: type[CarrierError]
    if code in _GATEWAY_DIGEST:
        kind, summary = DigestRejected, "顺丰拒绝了数字签名（请检查校验码 checkWord）"
    elif code in _GATEWAY_TIMESTAMP:
        kind, summary = TimestampExpired, "顺丰认为请求已过期（请检查服务器时间）"
    elif code in _GATEWAY_ACCESS:
        kind, summary = DigestRejected, "顺丰拒绝了调用（请检查顾客编码的接口权限与 IP 白名单）"
    elif code in _GATEWAY_TRANSIENT:
        kind, summary = CarrierUnavailable, "顺丰网关暂不可用"
    else:
        kind, summary = InvalidWaybillRequest, "顺丰网关拒绝了请求"
    return kind(f"{summary}：{code} {message}".strip(), carrier_code=code, carrier_message=message)


def classify_business_error(code: str, message: str) -> CarrierError:
    kind: type[CarrierError] = SfBusinessError
    if code in _CARD_REFUSED:
        summary = "顺丰不接受该月结卡号下单（请检查月结卡号或联系顺丰开通）"
    elif code in _PHONE_REFUSED:
        summary = "顺丰认为收寄件电话信息异常"
    elif code in _PEAK_CONTROL:
        kind, summary = CarrierUnavailable, "顺丰运力高峰管控，暂不接单"
    elif code in CUSTOMS_FIELDS:
        kind, summary = CustomsIncomplete, f"顺丰拒绝了国际件报关信息（缺少{CUSTOMS_FIELDS[code]}）"
    elif code in _DOCUMENTED:
        summary = "顺丰拒绝了请求"
    elif any(word in message for word in _OUT_OF_AREA_WORDS):
        kind, summary = OutOfServiceArea, "收件地址不在顺丰收派范围"
    elif any(word in message for word in _TRANSIENT_WORDS):
        kind, summary = CarrierUnavailable, "顺丰服务暂不可用"
    else:
        summary = "顺丰拒绝了请求"
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
