"""极兔开放平台 client: the wire format and both digests, nothing else.

Each API is its own path under ``https://openapi.jtexpress.com.cn/webopenplatformapi/api`` (``order/addOrder``,
``order/printOrder``, ``order/cancelOrder``, ``logistics/trace`` …): ``POST`` with an
``application/x-www-form-urlencoded`` body holding one field, ``bizContent`` (the business request as a JSON
string), and the headers ``apiAccount``, ``timestamp`` (ms since the epoch) and ``digest``.

* header ``digest = base64(md5(bizContent + privateKey))`` — the raw 16-byte MD5 of the exact bizContent text;
* business ``digest`` (inside bizContent, next to ``customerCode``, on order / print / cancel calls)
  ``= base64(md5(customerCode + upper(md5hex(password + "jadada236t2")) + privateKey))``.

The reply is JSON ``{"code", "msg", "data"}`` with ``code == "1"`` on success. :meth:`JtClient.call` returns
``data`` and raises the port's typed errors otherwise. The privateKey and the customer password never reach a log
line, an exception message or ``repr``.
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
    "BUSINESS_DIGEST_CODES",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "HEADER_DIGEST_CODES",
    "PASSWORD_SALT",
    "SUCCESS",
    "JtBusinessError",
    "JtClient",
    "business_digest",
    "classify_error",
    "header_digest",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://openapi.jtexpress.com.cn/webopenplatformapi/api"
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
PASSWORD_SALT = "jadada236t2"
SUCCESS = "1"

# J&T answers every refusal with HTTP 200 and a numeric ``code``. Only codes from J&T's published tables are acted on;
# any other code is a :class:`JtBusinessError`. Sources: the 状态码 / 错误代码 tables printed under every API of the
# J&T open platform documentation (https://open.jtexpress.com.cn/#/apiDoc/orderserve/create; the same JMS platform
# tables appear under each API at https://ylopenapi.jtexpress.my and https://open.jtjms-eg.com — e.g.
# "order/getOrders › 状态码", "order/addLooseOrder › Error codes"). J&T documents no code for a stale ``timestamp``
# (145003053 is "timestamp is empty!"), so the client never reports TimestampExpired.
HEADER_DIGEST_CODES = frozenset({"145003030"})  # headers signature verification failed (状态码 table)
BUSINESS_DIGEST_CODES = frozenset({
    "145003031",  # 业务参数签名失败 (order/getOrders › 错误代码)
    "999001030",  # customerCode or password is wrong (状态码 table, J&T VN/MY open platform)
})
_ACCOUNT_CODES = frozenset({
    "145003010",  # API account does not exist
    "145003012",  # API account has no interface permissions
    "999011010",  # customer not exist
    "999011020",  # customer is disable
    "999011030",  # customer is locked
})
_OUT_OF_AREA_CODES = frozenset({
    "145005004",  # This delivery address is temporarily suspended due to objective reasons
})
# 145005005 "billcode acquisition failed": J&T could not give the account a waybill number. Our reading (not J&T's
# words) is that the account's 单号 ran out — a retry does not help, another carrier does.
_QUOTA_CODES = frozenset({"145005005"})
_TRANSIENT_CODES = frozenset({
    "145005000",  # 系统错误 / System error (addOrder › Error codes)
    "145003040",  # 内部调用异常 / Internal call exception (addOrder › Error codes)
})


class JtBusinessError(InvalidWaybillRequest):
    """A refusal that matched none of the more specific errors."""


def _md5(text: str) -> bytes:
    return hashlib.md5(text.encode("utf-8")).digest()


def header_digest(biz_content: str, private_key: str) -> str:
    """``base64(md5(bizContent + privateKey))`` — raw MD5, UTF-8."""
    return base64.b64encode(_md5(biz_content + private_key)).decode("ascii")


def business_digest(customer_code: str, password: str, private_key: str) -> str:
    """``base64(md5(customerCode + upper(md5hex(password + "jadada236t2")) + privateKey))`` — raw MD5, UTF-8."""
    cipher = _md5(password + PASSWORD_SALT).hex().upper()
    return base64.b64encode(_md5(customer_code + cipher + private_key)).decode("ascii")


def classify_error(code: str, message: str) -> CarrierError:
    """A refusal's documented ``code`` → the port's error (``message`` only travels along)."""
    kind: type[CarrierError]
    if code in BUSINESS_DIGEST_CODES:
        kind, summary = DigestRejected, "极兔拒绝了客户编码或密码（业务签名）"
    elif code in HEADER_DIGEST_CODES:
        kind, summary = DigestRejected, "极兔拒绝了签名（请检查 privateKey）"
    elif code in _ACCOUNT_CODES:
        kind, summary = DigestRejected, "极兔不认识该 apiAccount 或客户编码（或无接口权限）"
    elif code in _OUT_OF_AREA_CODES:
        kind, summary = OutOfServiceArea, "收件地址不在极兔服务范围"
    elif code in _QUOTA_CODES:
        kind, summary = QuotaExhausted, "极兔无法分配运单号（电子面单余额不足）"
    elif code in _TRANSIENT_CODES:
        kind, summary = CarrierUnavailable, "极兔服务暂不可用"
    else:
        kind, summary = JtBusinessError, "极兔拒绝了请求"
    return kind(f"{summary}：{code} {message}".strip(), carrier_code=code, carrier_message=message)


class JtClient(GatewayClient[CarrierCredentials]):
    """Digest-signed calls to the J&T gateway for one account (``credentials``) over the caller's HTTP client.

    ``clock`` returns seconds since the epoch (``time.time``); the wire timestamp is its milliseconds."""

    repr_fields: ClassVar[dict[str, str]] = {"api_account": "credentials.partner_id"}  # never the secret or a token

    default_base_url = DEFAULT_BASE_URL
    default_timeout = DEFAULT_TIMEOUT

    def customer_auth(self) -> dict[str, str]:
        """``customerCode`` and the business ``digest`` that order / print / cancel bizContents carry."""
        creds = self.credentials
        return {
            "customerCode": creds.customer_code,
            "digest": business_digest(creds.customer_code, creds.customer_password, creds.secret),
        }

    def request_parts(self, biz: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
        """The headers and the form body for one call."""
        text = json.dumps(biz, ensure_ascii=False, separators=(",", ":"))
        headers = {
            "apiAccount": self.credentials.partner_id,
            "digest": header_digest(text, self.credentials.secret),
            "timestamp": str(int(self._clock() * 1000)),
        }
        return headers, {"bizContent": text}

    async def call(self, api: str, biz: Mapping[str, Any], *, customer: bool = True) -> Any:
        """Call ``api`` (e.g. ``"order/addOrder"``); the reply's ``data`` or a typed :class:`CarrierError`.

        ``customer`` adds ``customerCode`` and the business digest to ``biz``."""
        payload = {**self.customer_auth(), **biz} if customer else dict(biz)
        headers, form = self.request_parts(payload)
        log.debug("jt call %s api_account=%s", api, self.credentials.partner_id)
        envelope = await post_json(
            self._http, f"{self.base_url}/{api}", name=f"极兔接口 {api}", timeout=self._timeout, data=form,
            headers=headers,
        )
        code = str(envelope.get("code") or "")
        if code != SUCCESS:
            raise classify_error(code, str(envelope.get("msg") or ""))
        return envelope.get("data")
