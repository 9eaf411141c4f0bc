"""极兔速递 (J&T Express) open platform simulator: ``POST /jt/webopenplatformapi/api/<api>``.

Every call is ``application/x-www-form-urlencoded`` with one field, ``bizContent`` (a JSON string), and the headers
``apiAccount``, ``timestamp`` (ms) and ``digest``. Both digests are checked the way J&T's ``SignDemoUtils`` demo
(J&T open platform, 文档中心 › 签名说明; apiAccount 178337126125932605) describes them, written here from that
description and not shared with the hub's client:

* header ``digest``: Base64 of the raw 16-byte MD5 of the exact ``bizContent`` text followed by the privateKey;
* business ``digest`` inside bizContent (order / print / cancel calls): Base64 of the raw MD5 of customerCode +
  密文 + privateKey, where 密文 is the upper-case hex MD5 of the customer password followed by ``jadada236t2``.

J&T documents no freshness rule (nor a code) for ``timestamp``, so the simulator only requires one.

Answers are HTTP 200 JSON ``{"code": "1" | <error>, "msg", "data"}``; every refusal code is one J&T publishes (see
:data:`CODES`). APIs: ``order/addOrder`` (a repeated ``txlogisticId`` answers the same ``billCode``),
``order/printOrder``, ``order/cancelOrder`` and ``logistics/trace`` (the scans a test scripted with
:meth:`JtStore.add_trace`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from litestar import Request, Response, post

__all__ = [
    "CODES",
    "PASSWORD_SALT",
    "PATH",
    "JtAccount",
    "JtOrder",
    "JtRequest",
    "JtScan",
    "JtStore",
    "business_digest_ok",
    "handle",
    "header_digest_ok",
    "new_store",
    "route_handlers",
]

PATH = "/jt/webopenplatformapi/api"
SHANGHAI = ZoneInfo("Asia/Shanghai")
JSON_MEDIA_TYPE = "application/json;charset=UTF-8"
PASSWORD_SALT = "jadada236t2"  # the fixed salt of the 密文 (SignDemoUtils)
SUCCESS = "1"

# The refusals the simulator answers with, each (code, msg) as J&T's own tables print them: the 状态码 / 错误代码
# tables under every API of the J&T open platform docs (https://open.jtexpress.com.cn/#/apiDoc/orderserve/create;
# the same JMS tables are published at https://ylopenapi.jtexpress.my and https://open.jtjms-eg.com, e.g.
# order/getOrders › 状态码 and order/addLooseOrder › Error codes).
CODES: dict[str, tuple[str, str]] = {
    "api_account_empty": ("145003051", "apiAccount is empty!"),
    "digest_empty": ("145003052", "digest is empty!"),
    "timestamp_empty": ("145003053", "timestamp is empty!"),
    "api_account": ("145003010", "API account does not exist"),
    "no_permission": ("145003012", "API account has no interface permissions"),
    "header_digest": ("145003030", "headers signature verification failed"),
    "bad_params": ("145003050", "Illegal parameters"),
    "business_digest": ("145003031", "业务参数签名失败"),
    "customer_unknown": ("999011010", "customer not exist"),
    "receiver_incomplete": ("145003084", "收件人信息不全"),
    "out_of_area": ("145005004", "This delivery address is temporarily suspended due to objective reasons"),
    "quota": ("145005005", "billcode acquisition failed"),  # the simulator's answer once an account's quota is spent
    "not_found": ("145003064", "查不到数据"),
    "cancelled": ("145003202", "已取消状态不可修改"),
    "collected": ("145003201", "已取件状态不可修改"),
}

# City → the first segment of the 三段码 printed on the label.
AREA_CODES = {
    "北京市": "100",
    "上海市": "200",
    "广州市": "510",
    "深圳市": "518",
    "杭州市": "310",
    "成都市": "610",
    "武汉市": "430",
    "南京市": "210",
}


def _received_md5(digest: str) -> bytes | None:
    """The 16 raw MD5 bytes a Base64 ``digest`` carries (None when it is not Base64 of 16 bytes)."""
    try:
        raw = base64.b64decode(digest.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 16 else None


def header_digest_ok(biz_content: str, private_key: str, digest: str) -> bool:
    """Whether the ``digest`` header is Base64(MD5(bizContent + privateKey)) over the text as received."""
    received = _received_md5(digest)
    expected = hashlib.md5(f"{biz_content}{private_key}".encode()).digest()
    return received is not None and hmac.compare_digest(received, expected)


def business_digest_ok(customer_code: str, password: str, private_key: str, digest: str) -> bool:
    """Whether a bizContent ``digest`` is Base64(MD5(customerCode + 密文 + privateKey)), 密文 being
    upper(hex(MD5(password + "jadada236t2")))."""
    cipher_text = hashlib.md5(f"{password}{PASSWORD_SALT}".encode()).hexdigest().upper()
    received = _received_md5(digest)
    expected = hashlib.md5(f"{customer_code}{cipher_text}{private_key}".encode()).digest()
    return received is not None and hmac.compare_digest(received, expected)


@dataclass
class JtAccount:
    api_account: str
    private_key: str
    customer_code: str
    password: str
    quota: int | None = None  # waybills left; None = unlimited


@dataclass
class JtScan:
    scan_type: str
    desc: str
    at: datetime
    site: str = ""


@dataclass
class JtOrder:
    txlogistic_id: str
    api_account: str
    customer_code: str
    bill_code: str
    sorting_code: str
    receiver_prov: str
    receiver_city: str
    sum_freight: str
    create_time: datetime
    biz: dict[str, Any]
    cancelled: bool = False
    cancel_reason: str = ""


@dataclass
class JtRequest:
    """One call as the gateway saw it (for assertions)."""

    api: str
    api_account: str
    biz: Any
    code: str


@dataclass
class JtStore:
    """Thread-safe in-memory state of the simulated J&T gateway."""

    clock: Callable[[], float] = time.time
    accounts: dict[str, JtAccount] = field(default_factory=dict)  # by apiAccount
    orders: dict[str, JtOrder] = field(default_factory=dict)  # by txlogisticId
    traces: dict[str, list[JtScan]] = field(default_factory=dict)  # by billCode
    requests: list[JtRequest] = field(default_factory=list)
    out_of_service: set[tuple[str, str]] = field(default_factory=set)  # (prov, city); city "" = whole province
    # the next N successful calls do their work, but their answer is lost on the way back (a gateway timeout)
    lose_answers: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(3_100_000_000_001))

    def create_account(
        self,
        api_account: str | None = None,
        *,
        private_key: str | None = None,
        customer_code: str | None = None,
        password: str | None = None,
        quota: int | None = None,
    ) -> JtAccount:
        with self.lock:
            account = JtAccount(
                api_account=api_account or str(178337126125932000 + len(self.accounts)),
                private_key=private_key or secrets.token_hex(16),
                customer_code=customer_code or f"J00{86474299 + len(self.accounts)}",
                password=password or secrets.token_urlsafe(8),
                quota=quota,
            )
            self.accounts[account.api_account] = account
            return account

    def set_quota(self, api_account: str, quota: int | None) -> None:
        with self.lock:
            self.accounts[api_account].quota = quota

    def refuse_area(self, province: str, city: str = "") -> None:
        """Refuse receivers in ``province`` / ``city`` (the whole province when ``city`` is empty)."""
        with self.lock:
            self.out_of_service.add((province, city))

    def add_trace(
        self, bill_code: str, scan_type: str, desc: str, *, at: datetime | None = None, site: str = ""
    ) -> JtScan:
        when = at or datetime.fromtimestamp(self.clock(), UTC)
        if when.tzinfo is None:
            raise ValueError("scan times must be aware")
        scan = JtScan(scan_type=scan_type, desc=desc, at=when, site=site)
        with self.lock:
            self.traces.setdefault(bill_code, []).append(scan)
        return scan

    def order(self, txlogistic_id: str) -> JtOrder | None:
        with self.lock:
            return self.orders.get(txlogistic_id)

    def orders_of(self, api_account: str) -> list[JtOrder]:
        with self.lock:
            return [order for order in self.orders.values() if order.api_account == api_account]

    def _refused(self, province: str, city: str) -> bool:
        return (province, city) in self.out_of_service or (province, "") in self.out_of_service

    def _next_bill_code(self) -> str:
        return f"JT{next(self._numbers):013d}"


class _Refusal(Exception):
    def __init__(self, kind: str, detail: str = "") -> None:
        code, message = CODES[kind]
        super().__init__(message)
        self.code = code
        self.message = f"{message}：{detail}" if detail else message


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _reply(code: str, msg: str, data: Any = None) -> Response[bytes]:
    body = {"code": code, "msg": msg, "data": data}
    return Response(content=_dumps(body).encode(), status_code=200, media_type=JSON_MEDIA_TYPE)


def _beijing(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _check_customer(account: JtAccount, biz: dict[str, Any]) -> None:
    if str(biz.get("customerCode") or "") != account.customer_code:
        raise _Refusal("customer_unknown")
    digest = str(biz.get("digest") or "")
    if not business_digest_ok(account.customer_code, account.password, account.private_key, digest):
        raise _Refusal("business_digest")


def _own_order(store: JtStore, account: JtAccount, *, txlogistic_id: str = "", bill_code: str = "") -> JtOrder:
    for order in store.orders.values():
        if order.api_account != account.api_account:
            continue
        if (txlogistic_id and order.txlogistic_id == txlogistic_id) or (bill_code and order.bill_code == bill_code):
            return order
    raise _Refusal("not_found")


def _order_data(order: JtOrder) -> dict[str, Any]:
    return {
        "txlogisticId": order.txlogistic_id,
        "billCode": order.bill_code,
        "sortingCode": order.sorting_code,
        "sumFreight": order.sum_freight,
        "createOrderTime": _beijing(order.create_time),
        "lastCenterName": f"{order.receiver_city}转运中心",
    }


def _add_order(store: JtStore, account: JtAccount, biz: dict[str, Any]) -> Any:
    _check_customer(account, biz)
    txlogistic_id = str(biz.get("txlogisticId") or "").strip()
    if not txlogistic_id:
        raise _Refusal("bad_params", "txlogisticId")
    receiver, sender = biz.get("receiver"), biz.get("sender")
    if not isinstance(receiver, dict) or not isinstance(sender, dict):
        raise _Refusal("receiver_incomplete", "sender / receiver")
    for part in ("name", "mobile", "prov", "city", "address"):
        if part == "mobile" and (receiver.get("mobile") or receiver.get("phone")):
            continue
        if not str(receiver.get(part) or "").strip():
            raise _Refusal("receiver_incomplete", f"receiver.{part}")
    with store.lock:
        existing = store.orders.get(txlogistic_id)
        if existing is not None and existing.api_account == account.api_account:
            return _order_data(existing)  # J&T answers a repeated txlogisticId with the same billCode
        province, city = str(receiver["prov"]), str(receiver["city"])
        if store._refused(province, city):
            raise _Refusal("out_of_area", f"{province}{city}")
        if account.quota is not None:
            if account.quota <= 0:
                raise _Refusal("quota")
            account.quota -= 1
        bill_code = store._next_bill_code()
        seq = int(bill_code[-3:])
        order = JtOrder(
            txlogistic_id=txlogistic_id,
            api_account=account.api_account,
            customer_code=account.customer_code,
            bill_code=bill_code,
            sorting_code=f"{AREA_CODES.get(city, '999')}-{seq % 90 + 10:02d}-{seq:03d}",
            receiver_prov=province,
            receiver_city=city,
            sum_freight="8.00",
            create_time=datetime.fromtimestamp(store.clock(), UTC),
            biz=biz,
        )
        store.orders[txlogistic_id] = order
        return _order_data(order)


def _print_order(store: JtStore, account: JtAccount, biz: dict[str, Any]) -> Any:
    _check_customer(account, biz)
    with store.lock:
        order = _own_order(store, account, bill_code=str(biz.get("billCode") or ""))
        if order.cancelled:
            raise _Refusal("cancelled")
        pdf = f"%PDF-1.4\n% jt label {order.bill_code} {order.sorting_code}\n%%EOF\n".encode()
        return {
            "billCode": order.bill_code,
            "txlogisticId": order.txlogistic_id,
            "sortingCode": order.sorting_code,
            "base64EncodeContent": base64.b64encode(pdf).decode("ascii"),
        }


def _cancel_order(store: JtStore, account: JtAccount, biz: dict[str, Any]) -> Any:
    _check_customer(account, biz)
    reason = str(biz.get("reason") or "").strip()
    if not reason:
        raise _Refusal("bad_params", "reason")
    with store.lock:
        order = _own_order(store, account, txlogistic_id=str(biz.get("txlogisticId") or ""))
        if order.cancelled:
            raise _Refusal("cancelled")
        if store.traces.get(order.bill_code):
            raise _Refusal("collected")
        order.cancelled = True
        order.cancel_reason = reason
        return {"txlogisticId": order.txlogistic_id, "billCode": order.bill_code}


def _trace(store: JtStore, account: JtAccount, biz: dict[str, Any]) -> Any:
    codes = [code.strip() for code in str(biz.get("billCodes") or "").split(",") if code.strip()]
    if not codes:
        raise _Refusal("bad_params", "billCodes")
    answers = []
    with store.lock:
        owned = {order.bill_code for order in store.orders.values() if order.api_account == account.api_account}
        for code in codes:
            scans = store.traces.get(code, []) if code in owned else []
            answers.append(
                {
                    "billCode": code,
                    "details": [
                        {
                            "scanTime": _beijing(scan.at),
                            "scanType": scan.scan_type,
                            "desc": scan.desc,
                            "scanNetworkName": scan.site,
                        }
                        for scan in sorted(scans, key=lambda s: s.at, reverse=True)  # J&T lists newest first
                    ],
                }
            )
    return answers


APIS: dict[str, Callable[[JtStore, JtAccount, dict[str, Any]], Any]] = {
    "order/addOrder": _add_order,
    "order/printOrder": _print_order,
    "order/cancelOrder": _cancel_order,
    "logistics/trace": _trace,
}


def handle(store: JtStore, api: str, headers: dict[str, str], form: dict[str, str]) -> Response[bytes]:
    """One gateway call (exposed for tests that want no HTTP); ``headers`` keys are lower-case."""
    api_account = headers.get("apiaccount", "")

    def refuse(kind: str, biz: Any = None, detail: str = "") -> Response[bytes]:
        refusal = _Refusal(kind, detail)
        with store.lock:
            store.requests.append(JtRequest(api, api_account, biz, refusal.code))
        return _reply(refusal.code, refusal.message)

    required = (("apiaccount", "api_account_empty"), ("digest", "digest_empty"), ("timestamp", "timestamp_empty"))
    for name, kind in required:
        if not headers.get(name):
            return refuse(kind)
    biz_content = form.get("bizContent", "")
    if not biz_content or not headers["timestamp"].isdigit():
        return refuse("bad_params", detail="bizContent" if not biz_content else "timestamp")
    with store.lock:
        account = store.accounts.get(api_account)
    if account is None:
        return refuse("api_account")
    if api not in APIS:
        return refuse("no_permission")
    if not header_digest_ok(biz_content, account.private_key, headers["digest"]):
        return refuse("header_digest")
    try:
        biz = json.loads(biz_content)
    except ValueError:
        biz = None
    if not isinstance(biz, dict):
        return refuse("bad_params", biz_content, "bizContent")
    try:
        data = APIS[api](store, account, biz)
    except _Refusal as exc:
        with store.lock:
            store.requests.append(JtRequest(api, api_account, biz, exc.code))
        return _reply(exc.code, exc.message)
    with store.lock:
        store.requests.append(JtRequest(api, api_account, biz, SUCCESS))
        lost = store.lose_answers > 0
        store.lose_answers -= 1 if lost else 0
    if lost:
        return Response(content=b"504 Gateway Time-out", status_code=504, media_type="text/plain")
    return _reply(SUCCESS, "success", data)


@post(PATH + "/{section:str}/{action:str}", status_code=200)
async def jt_api(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = request.app.state.carrier_stores["jt"]
    assert isinstance(store, JtStore)
    body = await request.body()
    form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    headers = {name.lower(): value for name, value in request.headers.items()}
    api = f"{request.path_params['section']}/{request.path_params['action']}"
    return handle(store, api, headers, form)


route_handlers = [jt_api]
new_store = JtStore  # (sandbox.carriers.server)
