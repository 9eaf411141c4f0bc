"""阿里云短信 (Aliyun SMS, dysmsapi 2017-05-25) notifier, through aliyun-python-sdk-core.

The SDK builds and signs the RPC call (SignatureMethod HMAC-SHA1, SignatureVersion 1.0: HMAC-SHA1 with key
``secret&`` over ``POST&%2F&<percent-encoded canonical query>``); this module only chooses the action and its
parameters and maps Aliyun's answers to the port's results and errors.

Configuration (a ``Mapping[str, str]``; the factory's second argument, the Redis client, is not used):

* ``access_key_id``, ``access_key_secret``, ``sign_name`` — required (missing → :class:`ValueError`);
* ``region_id`` — default ``cn-hangzhou``;
* ``endpoint`` — the domain, default ``dysmsapi.aliyuncs.com`` (the simulator: ``127.0.0.1:PORT``);
* ``protocol`` — ``https`` (default) or ``http`` (the simulator);
* ``connect_timeout`` / ``read_timeout`` — seconds, default 5 / 10.

``message.recipient`` goes out as ``PhoneNumbers``, ``message.template`` as ``TemplateCode``, ``message.data`` as
``TemplateParam`` (JSON, ``ensure_ascii=False``) and ``message.out_id`` as ``OutId`` (delivery receipts carry it
back). The recipient is not validated here: Aliyun refuses a bad number with ``isv.MOBILE_NUMBER_ILLEGAL``.

Retries: the SDK's automatic retry is **off** (``auto_retry=False``). Its default policy only retries the APIs
listed in its bundled ``retry_config.json``, which has no ``dysmsapi`` entry, so ``auto_retry=True`` would not
retry ``SendSms`` anyway; saying so explicitly keeps one retry layer — the outbox, with backoff, on
:class:`TransientNotifyError`. Aliyun itself does not deduplicate ``SendSms`` by ``OutId``: a retry after an
answer that was lost (timeout, 5xx after acceptance) may deliver the SMS twice. The simulator does deduplicate on
(phone, template, ``OutId``) so tests can prove the outbox retries the same ``OutId``.

Aliyun answers business refusals with HTTP 200 and ``Code`` ≠ ``OK``; gateway refusals (signature, access key,
throttling) with a non-2xx status, which the SDK raises as ``ServerException``. Both go through :func:`error_for`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

import msgspec
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.http import protocol_type
from aliyunsdkcore.request import CommonRequest

from orderhub.clock import SHANGHAI
from orderhub.notifications.port import (
    Message,
    NotifierChannel,
    NotifyError,
    PermanentNotifyError,
    SendResult,
    ThrottledNotifyError,
    TransientNotifyError,
)
from orderhub.wire import beijing_to_utc

__all__ = [
    "API_VERSION",
    "DEFAULT_ENDPOINT",
    "AliyunSmsNotifier",
    "Receipt",
    "ReceiptStatus",
    "create_notifier",
    "error_for",
]

API_VERSION = "2017-05-25"
DEFAULT_ENDPOINT = "dysmsapi.aliyuncs.com"
DEFAULT_REGION = "cn-hangzhou"
QUERY_PAGE_SIZE = 50  # Aliyun's maximum for QuerySendDetails

# The Aliyun codes acted on, each from Alibaba Cloud's documentation:
# * 短信服务 API 错误码 (https://help.aliyun.com/document_detail/101346.html; English: API Error Message,
#   https://www.alibabacloud.com/help/doc-detail/73694.htm): isp.SYSTEM_ERROR ("Please retry again"),
#   isv.BUSINESS_LIMIT_CONTROL (业务限流; its Message names the window — 触发分钟级流控 / 触发小时级流控 /
#   触发天级流控 Permits:N, see also 短信发送频率限制 https://help.aliyun.com/document_detail/2881383.html),
#   isv.DAY_LIMIT_CONTROL (触发日发送限额).
# * 管控 OpenAPI 公共错误码 (https://help.aliyun.com/document_detail/435312.html, server errors: 建议重试):
#   InternalError (500), ServiceUnavailable (503); Throttling, Throttling.User, Throttling.Api (流控, 稍后访问).
# Every other code is a permanent refusal of this message — among them, from the same pages, isv.MOBILE_NUMBER_ILLEGAL,
# isv.TEMPLATE_MISSING_PARAMETERS, isv.SMS_SIGNATURE_ILLEGAL, isv.SMS_TEMPLATE_ILLEGAL, isv.AMOUNT_NOT_ENOUGH,
# isv.INVALID_PARAMETERS, isv.INVALID_JSON_PARAM, isv.MONTH_LIMIT_CONTROL, SignatureDoesNotMatch,
# InvalidAccessKeyId.NotFound, InvalidTimeStamp.Expired, SignatureNonceUsed.
TRANSIENT_CODES = frozenset({"isp.SYSTEM_ERROR", "ServiceUnavailable", "InternalError"})
BUSINESS_LIMIT = "isv.BUSINESS_LIMIT_CONTROL"  # per phone and sign: the message says which window tripped
DAY_LIMIT = "isv.DAY_LIMIT_CONTROL"  # the account's daily quota (set in the console): resets at midnight
DAY_WINDOW, HOUR_WINDOW = "天级", "小时级"  # in isv.BUSINESS_LIMIT_CONTROL's Message: 触发天级流控 / 触发小时级流控
TRANSIENT_PREFIXES = ("Throttling",)  # Throttling, Throttling.User, Throttling.Api: the API's own rate limit

ReceiptStatus = Literal["waiting", "failed", "delivered"]
_SEND_STATUS: dict[int, ReceiptStatus] = {1: "waiting", 2: "failed", 3: "delivered"}


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    """One delivery receipt from ``QuerySendDetails`` (times are aware UTC; ``received_at`` is None while
    waiting)."""

    phone: str
    biz_id: str
    out_id: str
    status: ReceiptStatus
    err_code: str
    received_at: datetime | None
    content: str
    sent_at: datetime | None = None


def error_for(code: str, message: str = "", http_status: int | None = None) -> NotifyError:
    """Aliyun's ``Code`` (and the HTTP status when it was not 2xx) → the port's error."""
    if code == DAY_LIMIT or (code == BUSINESS_LIMIT and DAY_WINDOW in message):
        return ThrottledNotifyError(code, message, daily=True)
    if code == BUSINESS_LIMIT:
        return ThrottledNotifyError(code, message, retry_after=3600.0 if HOUR_WINDOW in message else 60.0)
    if code.startswith(TRANSIENT_PREFIXES):
        return ThrottledNotifyError(code, message, retry_after=1.0)
    if (http_status is not None and http_status >= 500) or code in TRANSIENT_CODES:
        return TransientNotifyError(code, message)
    return PermanentNotifyError(code, message)


def _shanghai_to_utc(text: str) -> datetime | None:
    if not text:
        return None
    return beijing_to_utc(text)


class AliyunSmsNotifier:
    """Sends through ``SendSms``; :meth:`query_send_details` reads receipts with ``QuerySendDetails``."""

    channel: str = NotifierChannel.SMS.value

    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        *,
        region_id: str = DEFAULT_REGION,
        endpoint: str = DEFAULT_ENDPOINT,
        protocol: str = "https",
        connect_timeout: int = 5,
        read_timeout: int = 10,
    ) -> None:
        if protocol not in ("http", "https"):
            raise ValueError(f"aliyun_sms: protocol must be 'http' or 'https', not {protocol!r}")
        self.sign_name = sign_name
        self.endpoint = endpoint
        self._protocol = protocol_type.HTTPS if protocol == "https" else protocol_type.HTTP
        self._client = AcsClient(
            access_key_id,
            access_key_secret,
            region_id,
            auto_retry=False,  # see the module docstring: the outbox retries, with the same OutId
            connect_timeout=connect_timeout,
            timeout=read_timeout,
        )

    async def send(self, message: Message) -> SendResult:
        params = {
            "PhoneNumbers": message.recipient,
            "SignName": self.sign_name,
            "TemplateCode": message.template,
        }
        if message.data:
            params["TemplateParam"] = json.dumps(message.data, ensure_ascii=False, separators=(",", ":"))
        if message.out_id:
            params["OutId"] = message.out_id
        answer = await asyncio.to_thread(self._call, "SendSms", params)
        return SendResult(provider_id=str(answer.get("BizId") or ""), detail={"request_id": answer.get("RequestId")})

    async def query_send_details(self, phone: str, biz_id: str, send_date: date | datetime) -> list[Receipt]:
        """Receipts of the SMS sent to ``phone`` on ``send_date`` (a date is taken as a Shanghai calendar day; an
        aware datetime is converted to Shanghai), narrowed to ``biz_id`` when it is not empty."""
        if isinstance(send_date, datetime):
            send_date = send_date.astimezone(SHANGHAI).date() if send_date.tzinfo else send_date.date()
        receipts: list[Receipt] = []
        page = 1
        while True:
            params = {
                "PhoneNumber": phone,
                "SendDate": send_date.strftime("%Y%m%d"),
                "PageSize": str(QUERY_PAGE_SIZE),
                "CurrentPage": str(page),
            }
            if biz_id:
                params["BizId"] = biz_id
            answer = await asyncio.to_thread(self._call, "QuerySendDetails", params)
            rows = (answer.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
            receipts.extend(self._receipt(row, biz_id) for row in rows)
            total = int(answer.get("TotalCount") or 0)
            if not rows or len(receipts) >= total:
                return receipts
            page += 1

    @staticmethod
    def _receipt(row: Mapping[str, Any], biz_id: str) -> Receipt:
        return Receipt(
            phone=str(row.get("PhoneNum") or ""),
            biz_id=biz_id,
            out_id=str(row.get("OutId") or ""),
            status=_SEND_STATUS.get(int(row.get("SendStatus") or 1), "waiting"),
            err_code=str(row.get("ErrCode") or ""),
            received_at=_shanghai_to_utc(str(row.get("ReceiveDate") or "")),
            content=str(row.get("Content") or ""),
            sent_at=_shanghai_to_utc(str(row.get("SendDate") or "")),
        )

    def _call(self, action: str, params: Mapping[str, str]) -> dict[str, Any]:
        """One signed RPC call (blocking; run it in a thread). Answers the decoded JSON of a ``Code == OK`` reply,
        raises the port's errors otherwise."""
        request = CommonRequest(domain=self.endpoint, version=API_VERSION, action_name=action)
        request.set_method("POST")
        request.set_protocol_type(self._protocol)
        for key, value in params.items():
            request.add_body_params(key, value)
        try:
            body = self._client.do_action_with_exception(request)
        except ServerException as exc:
            code = str(exc.get_error_code())
            status = exc.get_http_status()
            if code == "SDK.UnknownServerError":  # the body was not Aliyun's JSON (a proxy's 502 page …)
                code = f"http_{status}"
            raise error_for(code, str(exc.get_error_msg()), status) from exc
        except ClientException as exc:
            code, text = str(exc.get_error_code()), str(exc.get_error_msg())
            if code == "SDK.HttpError":  # connection refused / reset, DNS, connect or read timeout
                raise TransientNotifyError("timeout" if "timed out" in text.lower() else "network", text) from exc
            raise PermanentNotifyError(code, text) from exc
        try:
            answer = json.loads(body)
        except ValueError as exc:
            raise TransientNotifyError("bad_response", repr(body[:200])) from exc
        if not isinstance(answer, dict):
            raise TransientNotifyError("bad_response", repr(body[:200]))
        code = str(answer.get("Code") or "")
        if code != "OK":
            raise error_for(code or "unknown", str(answer.get("Message") or ""))
        return answer


def _seconds(config: Mapping[str, str], key: str, default: int) -> int:
    value = config.get(key)
    return int(value) if value else default


def create_notifier(config: Mapping[str, str], redis: Any = None) -> AliyunSmsNotifier:
    """The :data:`orderhub.notifications.port.NotifierFactory` for ``aliyun_sms`` (``redis`` is unused)."""
    missing = [key for key in ("access_key_id", "access_key_secret", "sign_name") if not config.get(key)]
    if missing:
        raise ValueError(f"aliyun_sms: missing configuration {', '.join(missing)}")
    return AliyunSmsNotifier(
        config["access_key_id"],
        config["access_key_secret"],
        config["sign_name"],
        region_id=config.get("region_id") or DEFAULT_REGION,
        endpoint=config.get("endpoint") or DEFAULT_ENDPOINT,
        protocol=(config.get("protocol") or "https").lower(),
        connect_timeout=_seconds(config, "connect_timeout", 5),
        read_timeout=_seconds(config, "read_timeout", 10),
    )
