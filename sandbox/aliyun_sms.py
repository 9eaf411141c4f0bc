"""阿里云短信 (Aliyun SMS, dysmsapi 2017-05-25) simulator, self-contained: a litestar app on a background uvicorn
thread::

    with running_aliyun_sms() as sim:
        key_id, secret = sim.store.create_account()
        sim.store.add_sign("订单中枢")
        sim.store.add_template("SMS_100001", "您的订单${order_no}已发货，运单号${waybill_no}")
        notifier = create_notifier({"access_key_id": key_id, "access_key_secret": secret, "sign_name": "订单中枢",
                                    "endpoint": sim.endpoint, "protocol": "http"})

One endpoint, ``/`` (GET or POST; parameters in the query string and/or the form body, as the SDK sends them),
checked the way Aliyun's API gateway checks an RPC call, refusals as non-200 JSON
``{"RequestId","HostId","Code","Message","Recommend"}``. Codes, messages and HTTP statuses are those of Alibaba Cloud's
管控 OpenAPI 客户端公用错误码 (https://developer.aliyun.com/ask/278265; 错误代码表
https://help.aliyun.com/document_detail/435312.html):

* ``Missing{Parameter}`` (400) for a missing common parameter; ``Invalid{Parameter}`` (400, "Specified parameter
  {Parameter} is not valid.") for an unsupported Version / SignatureVersion; ``InvalidSignatureMethod`` (400);
  ``InvalidApi.NotFound`` (404) for an unknown Action;
* ``InvalidAccessKeyId.NotFound`` (404); ``InvalidTimeStamp.Format`` / ``InvalidTimeStamp.Expired`` (400, more than
  15 minutes off); ``SignatureDoesNotMatch`` (400, the message carries the server's string to sign, as Aliyun's
  does — the SDK then reports a wrong secret as ``InvalidAccessKeySecret``); ``SignatureNonceUsed`` (400).

Signature (SignatureMethod HMAC-SHA1, SignatureVersion 1.0), written from Alibaba Cloud's 签名机制 / "Signature
method" page (https://www.alibabacloud.com/help/en/sms/signature-method, 短信服务 HTTP协议及签名
https://help.aliyun.com/document_detail/56189.html): StringToSign = ``METHOD&%2F&`` + percentEncode(the sorted
``k=v`` pairs, each percent-encoded, without ``Signature``); Signature = base64(HMAC-SHA1(secret + "&",
StringToSign)); percent-encoding is RFC 3986 (space → ``%20``, ``*`` → ``%2A``, ``~`` kept) over UTF-8. The unit tests
check it against that page's worked SendSms example (AccessKeyId testId, secret testSecret).

Business answers are HTTP 200 (``Code`` ≠ ``OK`` for a refusal), with codes from 短信服务 API 错误码
(https://help.aliyun.com/document_detail/101346.html): ``isv.MOBILE_NUMBER_ILLEGAL``, ``isv.SMS_SIGNATURE_ILLEGAL``
(unknown or unapproved sign), ``isv.SMS_TEMPLATE_ILLEGAL`` (unknown or unapproved template), ``isv.INVALID_JSON_PARAM``,
``isv.TEMPLATE_MISSING_PARAMETERS``, ``isv.AMOUNT_NOT_ENOUGH`` (account without balance), ``isv.INVALID_PARAMETERS``,
``isv.BUSINESS_LIMIT_CONTROL`` (per phone and sign, :attr:`AliyunSmsStore.flow_limit` per
:attr:`AliyunSmsStore.flow_window`, 1/minute by default like Aliyun's verification-code rule in 短信发送频率限制,
https://help.aliyun.com/document_detail/2881383.html; the Message in the form Aliyun sends: 触发分钟级流控Permits:N).

**The simulator's own rule (not Aliyun's):** ``SendSms`` is idempotent on (access key, PhoneNumbers, TemplateCode,
``OutId``): repeating an accepted ``OutId`` answers the same BizId and sends nothing. Real Aliyun does not
deduplicate; the rule lets tests prove that a retry carrying the same ``OutId`` (the outbox's) delivers one SMS.
:meth:`AliyunSmsStore.fail_next` makes the next calls fail with HTTP 500 ``isp.SYSTEM_ERROR`` *after* accepting.

``QuerySendDetails`` answers one receipt per SMS (ErrCode values are Aliyun's 回执错误码, e.g. ``DELIVRD``,
``MOBILE_NOT_ON_SERVICE``): delivered (SendStatus 3, ``DELIVRD``) unless the test set the phone unreachable
(:meth:`AliyunSmsStore.set_unreachable` → SendStatus 2 with its ErrCode) or pending (:meth:`AliyunSmsStore.set_pending`
→ SendStatus 1). Dates are Asia/Shanghai ``yyyy-MM-dd HH:mm:ss``. Every call is logged in
:attr:`AliyunSmsStore.requests`; accepted SMS are in :attr:`AliyunSmsStore.sent`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote
from zoneinfo import ZoneInfo

from litestar import Litestar, Request, Response, get, route
from litestar.datastructures import State

from sandbox.serving import BackgroundServer

__all__ = [
    "API_VERSION",
    "AliyunAccount",
    "AliyunSmsRequest",
    "AliyunSmsServer",
    "AliyunSmsStore",
    "SentSms",
    "SmsSign",
    "SmsTemplate",
    "create_app",
    "handle",
    "percent_encode",
    "running_aliyun_sms",
    "sign",
    "signed_params",
    "string_to_sign",
]

API_VERSION = "2017-05-25"
HOST_ID = "dysmsapi.aliyuncs.com"
ACTIONS = frozenset({"SendSms", "QuerySendDetails"})
SHANGHAI = ZoneInfo("Asia/Shanghai")
TIMESTAMP_TOLERANCE = timedelta(minutes=15)
JSON_MEDIA_TYPE = "application/json;charset=utf-8"
MOBILE = re.compile(r"^(?:\+?86|0086)?1[3-9]\d{9}$")
TEMPLATE_VAR = re.compile(r"\$\{(\w+)\}")
COMMON_PARAMS = (
    "Action",
    "Version",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
)


# --- signature V2 --------------------------------------------------------------------------------------------------


def percent_encode(text: str) -> str:
    """Aliyun's percentEncode: RFC 3986 over UTF-8 — only A-Z a-z 0-9 ``-`` ``_`` ``.`` ``~`` stay as they are, a space
    is ``%20``, ``*`` is ``%2A``, hex digits upper-case."""
    return quote(text, safe="~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()) if k != "Signature"
    )
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign(method: str, params: Mapping[str, str], secret: str) -> str:
    digest = hmac.new(f"{secret}&".encode(), string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_params(
    action: str,
    params: Mapping[str, str],
    access_key_id: str,
    secret: str,
    *,
    method: str = "POST",
    timestamp: datetime | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """A complete signed RPC parameter set (for hand-built requests in tests)."""
    full = {
        "Action": action,
        "Version": API_VERSION,
        "Format": "JSON",
        "AccessKeyId": access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "Timestamp": (timestamp or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "RegionId": "cn-hangzhou",
        **params,
    }
    full["Signature"] = sign(method, full, secret)
    return full


# --- state ---------------------------------------------------------------------------------------------------------


@dataclass
class AliyunAccount:
    access_key_id: str
    secret: str
    has_balance: bool = True


@dataclass
class SmsSign:
    name: str
    approved: bool = True


@dataclass
class SmsTemplate:
    code: str
    content: str  # with ${var} placeholders
    approved: bool = True

    @property
    def variables(self) -> list[str]:
        return TEMPLATE_VAR.findall(self.content)


@dataclass
class SentSms:
    """One SMS the simulated Aliyun accepted (one per phone number)."""

    biz_id: str
    phone: str
    sign_name: str
    template_code: str
    params: dict[str, str]
    out_id: str
    content: str  # as the phone shows it: 【sign】rendered template
    access_key_id: str
    sent_at: datetime  # aware UTC
    status: int = 3  # SendStatus: 1 waiting, 2 failed, 3 delivered
    err_code: str = "DELIVRD"
    received_at: datetime | None = None


@dataclass
class AliyunSmsRequest:
    """One call as the simulator saw it (``Signature`` left out)."""

    method: str
    action: str
    params: dict[str, str]
    http_status: int
    code: str


@dataclass
class AliyunSmsStore:
    """Thread-safe in-memory state of the simulated Aliyun SMS."""

    accounts: dict[str, AliyunAccount] = field(default_factory=dict)  # by AccessKeyId
    signs: dict[str, SmsSign] = field(default_factory=dict)
    templates: dict[str, SmsTemplate] = field(default_factory=dict)
    sent: list[SentSms] = field(default_factory=list)
    requests: list[AliyunSmsRequest] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    accepted: dict[tuple[str, str, str, str], str] = field(default_factory=dict)  # idempotency key → BizId
    unreachable: dict[str, str] = field(default_factory=dict)  # phone → receipt ErrCode
    pending: set[str] = field(default_factory=set)  # phones whose receipts stay "waiting"
    flow_limit: int | None = 1  # SMS per (phone, sign) per flow_window; None: no flow control
    flow_window: timedelta = timedelta(minutes=1)
    delivery_delay: timedelta = timedelta(seconds=3)
    failures: list[tuple[int, str, str]] = field(default_factory=list)  # scripted (status, code, message) to answer
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- test hooks --

    def create_account(self, *, has_balance: bool = True) -> tuple[str, str]:
        """A new AccessKey pair: ``(access_key_id, secret)``."""
        with self.lock:
            key_id = "LTAI" + secrets.token_hex(10)
            secret = secrets.token_urlsafe(22)
            self.accounts[key_id] = AliyunAccount(key_id, secret, has_balance)
            return key_id, secret

    def set_balance(self, access_key_id: str, has_balance: bool) -> None:
        with self.lock:
            self.accounts[access_key_id].has_balance = has_balance

    def add_sign(self, name: str, *, approved: bool = True) -> SmsSign:
        with self.lock:
            self.signs[name] = SmsSign(name, approved)
            return self.signs[name]

    def add_template(self, code: str, content: str, *, approved: bool = True) -> SmsTemplate:
        with self.lock:
            self.templates[code] = SmsTemplate(code, content, approved)
            return self.templates[code]

    def set_unreachable(self, phone: str, err_code: str = "MOBILE_NOT_ON_SERVICE") -> None:
        """SMS sent to ``phone`` from now on fail (SendStatus 2, ``err_code``)."""
        with self.lock:
            self.unreachable[phone] = err_code

    def set_pending(self, phone: str) -> None:
        """SMS sent to ``phone`` from now on stay waiting for a receipt (SendStatus 1)."""
        with self.lock:
            self.pending.add(phone)

    def fail_next(
        self, count: int = 1, *, status: int = 500, code: str = "isp.SYSTEM_ERROR", message: str = "系统错误"
    ) -> None:
        """The next ``count`` calls that pass the gateway checks do their work (a ``SendSms`` is accepted and
        recorded) and then answer HTTP ``status`` with ``code`` — a lost answer, as the client sees it."""
        with self.lock:
            self.failures.extend([(status, code, message)] * count)

    def sent_to(self, phone: str) -> list[SentSms]:
        with self.lock:
            return [sms for sms in self.sent if sms.phone == phone]

    def calls(self, action: str) -> list[AliyunSmsRequest]:
        with self.lock:
            return [r for r in self.requests if r.action == action]

    def log(self, method: str, params: Mapping[str, str], status: int, code: str) -> None:
        safe = {k: v for k, v in params.items() if k != "Signature"}
        with self.lock:
            self.requests.append(AliyunSmsRequest(method, safe.get("Action", ""), safe, status, code))


# --- the API -------------------------------------------------------------------------------------------------------


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _refusal(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    request_id = _request_id()
    return status, {
        "RequestId": request_id,
        "HostId": HOST_ID,
        "Code": code,
        "Message": message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=Dysmsapi&requestId={request_id}",
    }


def _business(code: str, message: str) -> tuple[int, dict[str, Any]]:
    return 200, {"RequestId": _request_id(), "Code": code, "Message": message}


def _gateway(store: AliyunSmsStore, method: str, params: Mapping[str, str]) -> tuple[int, dict[str, Any]] | None:
    """The API gateway's checks (common parameters, access key, timestamp, signature, nonce); None when passed."""
    for name in COMMON_PARAMS:
        if not params.get(name):
            return _refusal(400, f"Missing{name}", f"{name} is mandatory for this action.")
    if params["Version"] != API_VERSION:
        return _refusal(400, "InvalidVersion", "Specified parameter Version is not valid.")
    if params["Action"] not in ACTIONS:
        return _refusal(404, "InvalidApi.NotFound", "Specified api is not found, please check your url and method.")
    if params["SignatureMethod"] != "HMAC-SHA1":
        return _refusal(400, "InvalidSignatureMethod", "Specified signature method is not valid.")
    if params["SignatureVersion"] != "1.0":
        return _refusal(400, "InvalidSignatureVersion", "Specified parameter SignatureVersion is not valid.")
    with store.lock:
        account = store.accounts.get(params["AccessKeyId"])
    if account is None:
        return _refusal(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    try:
        stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return _refusal(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
    if abs(store.clock() - stamp) > TIMESTAMP_TOLERANCE:
        return _refusal(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
    expected = sign(method, params, account.secret)
    if not hmac.compare_digest(expected, params["Signature"]):
        return _refusal(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation. server string to sign is:"
            + string_to_sign(method, params),
        )
    with store.lock:
        if params["SignatureNonce"] in store.nonces:
            return _refusal(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        store.nonces.add(params["SignatureNonce"])
    return None


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _send_sms(store: AliyunSmsStore, params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    for name in ("PhoneNumbers", "SignName", "TemplateCode"):
        if not params.get(name):
            return _refusal(400, f"Missing{name}", f"{name} is mandatory for this action.")
    phones = [p.strip() for p in params["PhoneNumbers"].split(",")]
    if not all(MOBILE.match(p) for p in phones):
        return _business("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
    key_id, sign_name, code = params["AccessKeyId"], params["SignName"], params["TemplateCode"]
    out_id = params.get("OutId", "")
    with store.lock:
        account = store.accounts[key_id]
        sms_sign = store.signs.get(sign_name)
        template = store.templates.get(code)
        if sms_sign is None or not sms_sign.approved:
            return _business("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        if template is None or not template.approved:
            return _business("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            values = None
        if not isinstance(values, dict) or not all(isinstance(v, str | int | float) for v in values.values()):
            return _business("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        rendered_values = {str(k): str(v) for k, v in values.items()}
        missing = [name for name in template.variables if name not in rendered_values]
        if missing:
            return _business("isv.TEMPLATE_MISSING_PARAMETERS", f"模板变量缺少对应参数值: {', '.join(missing)}")
        idempotency_key = (key_id, params["PhoneNumbers"], code, out_id)
        if out_id and idempotency_key in store.accepted:  # the simulator's rule, see the module docstring
            return 200, {
                "Code": "OK",
                "Message": "OK",
                "BizId": store.accepted[idempotency_key],
                "RequestId": _request_id(),
            }
        if not account.has_balance:
            return _business("isv.AMOUNT_NOT_ENOUGH", "账户余额不足")
        now = store.clock()
        if store.flow_limit is not None:
            for phone in phones:
                recent = [
                    s
                    for s in store.sent
                    if s.phone == phone and s.sign_name == sign_name and now - s.sent_at < store.flow_window
                ]
                if len(recent) >= store.flow_limit:
                    return _business("isv.BUSINESS_LIMIT_CONTROL", f"触发分钟级流控Permits:{store.flow_limit}")
        biz_id = f"{secrets.randbelow(9 * 10**17) + 10**17}^0"
        content = f"【{sign_name}】" + TEMPLATE_VAR.sub(lambda m: rendered_values[m.group(1)], template.content)
        for phone in phones:
            sms = SentSms(
                biz_id=biz_id,
                phone=phone,
                sign_name=sign_name,
                template_code=code,
                params=rendered_values,
                out_id=out_id,
                content=content,
                access_key_id=key_id,
                sent_at=now,
            )
            if phone in store.pending:
                sms.status, sms.err_code = 1, ""
            elif phone in store.unreachable:
                sms.status, sms.err_code = 2, store.unreachable[phone]
                sms.received_at = now + store.delivery_delay
            else:
                sms.received_at = now + store.delivery_delay
            store.sent.append(sms)
        if out_id:
            store.accepted[idempotency_key] = biz_id
    return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": _request_id()}


def _query_send_details(store: AliyunSmsStore, params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    for name in ("PhoneNumber", "SendDate", "PageSize", "CurrentPage"):
        if not params.get(name):
            return _refusal(400, f"Missing{name}", f"{name} is mandatory for this action.")
    try:
        day = datetime.strptime(params["SendDate"], "%Y%m%d").date()
        size, page = int(params["PageSize"]), int(params["CurrentPage"])
    except ValueError:
        return _business("isv.INVALID_PARAMETERS", "参数异常")
    if not 1 <= size <= 50 or page < 1:
        return _business("isv.INVALID_PARAMETERS", "参数异常")
    phone, biz_id = params["PhoneNumber"], params.get("BizId", "")
    with store.lock:
        rows = [
            s
            for s in store.sent
            if s.phone == phone
            and s.access_key_id == params["AccessKeyId"]
            and s.sent_at.astimezone(SHANGHAI).date() == day
            and (not biz_id or s.biz_id == biz_id)
        ]
    chunk = rows[(page - 1) * size : page * size]
    return 200, {
        "Code": "OK",
        "Message": "OK",
        "RequestId": _request_id(),
        "TotalCount": len(rows),
        "SmsSendDetailDTOs": {
            "SmsSendDetailDTO": [
                {
                    "PhoneNum": s.phone,
                    "SendStatus": s.status,
                    "ErrCode": s.err_code,
                    "TemplateCode": s.template_code,
                    "Content": s.content,
                    "SendDate": _local(s.sent_at),
                    "ReceiveDate": _local(s.received_at) if s.received_at else "",
                    "OutId": s.out_id,
                }
                for s in chunk
            ]
        },
    }


def handle(store: AliyunSmsStore, method: str, params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """One RPC call → (HTTP status, JSON body); logged."""
    status, body = _gateway(store, method, params) or (0, {})
    if not status:
        with store.lock:
            failure = store.failures.pop(0) if store.failures else None
        action = params["Action"]
        status, body = _send_sms(store, params) if action == "SendSms" else _query_send_details(store, params)
        if failure is not None:  # the work is done; the answer is lost
            status, body = _refusal(*failure)
    store.log(method, params, status, str(body.get("Code", "")))
    return status, body


@route("/", http_method=["GET", "POST"], status_code=200)
async def rpc(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = request.app.state.aliyun_sms
    assert isinstance(store, AliyunSmsStore)
    params = dict(parse_qsl(request.scope["query_string"].decode("utf-8"), keep_blank_values=True))
    if request.method == "POST":
        body = await request.body()
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    status, answer = handle(store, request.method, params)
    return Response(
        json.dumps(answer, ensure_ascii=False).encode("utf-8"), media_type=JSON_MEDIA_TYPE, status_code=status
    )


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(store: AliyunSmsStore) -> Litestar:
    return Litestar(
        route_handlers=[rpc, healthz],
        state=State({"aliyun_sms": store}),
        openapi_config=None,
        debug=False,
    )


class AliyunSmsServer(BackgroundServer):
    """The Aliyun SMS simulator on a background uvicorn thread; :attr:`endpoint` (``127.0.0.1:PORT``) is the
    provider's ``endpoint`` setting, with ``protocol`` ``http``."""

    name = "aliyun sms simulator"

    def __init__(self, store: AliyunSmsStore | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.store = store or AliyunSmsStore()

    @property
    def endpoint(self) -> str:
        if not self.port:
            raise RuntimeError(f"the {self.name} is not running")
        return f"{self.host}:{self.port}"

    def create_app(self) -> Any:
        return create_app(self.store)


@contextmanager
def running_aliyun_sms(
    store: AliyunSmsStore | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[AliyunSmsServer]:
    """Serve the Aliyun SMS simulator for the duration of the ``with`` block."""
    server = AliyunSmsServer(store, host=host, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
