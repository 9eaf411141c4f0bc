"""极兔速递 (J&T Express) open platform simulator: ``POST /jt/webopenplatformapi/api/<api>``.

Every call is ``application/x-www-form-urlencoded`` with one field, ``bizContent`` (a JSON string), and the headers
``apiAccount``, ``timestamp`` (ms, at most 5 minutes off) and ``digest``. Both J&T digests are verified for real:

* header ``digest = base64(md5(bizContent + privateKey))`` over the exact ``bizContent`` text received;
* business ``digest`` inside bizContent (order / print / cancel calls) ``= base64(md5(customerCode +
  upper(md5hex(password + "jadada236t2")) + privateKey))``.

Answers are HTTP 200 JSON ``{"code": "1" | <error>, "msg", "data"}``. APIs: ``order/addOrder`` (a repeated
``txlogisticId`` answers the same ``billCode``), ``order/printOrder``, ``order/cancelOrder`` and ``logistics/trace``
(the scans a test scripted with :meth:`JtStore.add_trace`). The error codes are the simulator's choice — see
:data:`CODES`.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
    "business_digest",
    "handle",
    "header_digest",
    "new_store",
    "route_handlers",
]

PATH = "/jt/webopenplatformapi/api"
SHANGHAI = ZoneInfo("Asia/Shanghai")
TIMESTAMP_TOLERANCE = timedelta(minutes=5)
JSON_MEDIA_TYPE = "application/json;charset=UTF-8"
PASSWORD_SALT = "jadada236t2"
SUCCESS = "1"

# The simulator's error codes (J&T's real table is long; these are plausible members of it).
CODES = {
    "bad_params": "145003050",  # 非法参数
    "header_digest": "145003052",  # 签名校验失败
    "timestamp": "145003053",  # 时间戳已过期
    "api_account": "145003010",  # apiAccount 不存在
    "business_digest": "999001030",  # 客户编码或密码错误
    "out_of_area": "999001010",  # 超区
    "quota": "999001011",  # 电子面单余额不足
    "not_found": "999001020",  # 订单不存在
    "cancelled": "999001040",  # 订单已取消
    "collected": "999001041",  # 已揽收，不能取消
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


def _md5(text: str) -> bytes:
    return hashlib.md5(text.encode("utf-8")).digest()


def header_digest(biz_content: str, private_key: str) -> str:
    """``base64(md5(bizContent + privateKey))`` (raw MD5)."""
    return base64.b64encode(_md5(biz_content + private_key)).decode("ascii")


def business_digest(customer_code: str, password: str, private_key: str) -> str:
    """``base64(md5(customerCode + upper(md5hex(password + "jadada236t2")) + privateKey))`` (raw MD5)."""
    cipher = _md5(password + PASSWORD_SALT).hex().upper()
    return base64.b64encode(_md5(customer_code + cipher + private_key)).decode("ascii")


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
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.code = CODES[kind]
        self.message = message


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _reply(code: str, msg: str, data: Any = None) -> Response[bytes]:
    body = {"code": code, "msg": msg, "data": data}
    return Response(content=_dumps(body).encode(), status_code=200, media_type=JSON_MEDIA_TYPE)


def _beijing(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _check_customer(account: JtAccount, biz: dict[str, Any]) -> None:
    expected = business_digest(account.customer_code, account.password, account.private_key)
    if str(biz.get("customerCode") or "") != account.customer_code or not secrets.compare_digest(
        expected, str(biz.get("digest") or "")
    ):
        raise _Refusal("business_digest", "客户编码或密码错误，业务签名校验失败")


def _own_order(store: JtStore, account: JtAccount, *, txlogistic_id: str = "", bill_code: str = "") -> JtOrder:
    for order in store.orders.values():
        if order.api_account != account.api_account:
            continue
        if (txlogistic_id and order.txlogistic_id == txlogistic_id) or (bill_code and order.bill_code == bill_code):
            return order
    raise _Refusal("not_found", "订单不存在")


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
        raise _Refusal("bad_params", "非法参数：txlogisticId 不能为空")
    receiver, sender = biz.get("receiver"), biz.get("sender")
    if not isinstance(receiver, dict) or not isinstance(sender, dict):
        raise _Refusal("bad_params", "非法参数：sender / receiver 不能为空")
    for part in ("name", "mobile", "prov", "city", "address"):
        if part == "mobile" and (receiver.get("mobile") or receiver.get("phone")):
            continue
        if not str(receiver.get(part) or "").strip():
            raise _Refusal("bad_params", f"非法参数：receiver.{part} 不能为空")
    with store.lock:
        existing = store.orders.get(txlogistic_id)
        if existing is not None and existing.api_account == account.api_account:
            return _order_data(existing)  # J&T answers a repeated txlogisticId with the same billCode
        province, city = str(receiver["prov"]), str(receiver["city"])
        if store._refused(province, city):
            raise _Refusal("out_of_area", f"收件地址{province}{city}超区，不在服务范围内")
        if account.quota is not None:
            if account.quota <= 0:
                raise _Refusal("quota", "电子面单余额不足")
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
            raise _Refusal("cancelled", "订单已取消")
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
        raise _Refusal("bad_params", "非法参数：reason 不能为空")
    with store.lock:
        order = _own_order(store, account, txlogistic_id=str(biz.get("txlogisticId") or ""))
        if order.cancelled:
            raise _Refusal("cancelled", "订单已取消")
        if store.traces.get(order.bill_code):
            raise _Refusal("collected", "订单已揽收，不能取消")
        order.cancelled = True
        order.cancel_reason = reason
        return {"txlogisticId": order.txlogistic_id, "billCode": order.bill_code}


def _trace(store: JtStore, account: JtAccount, biz: dict[str, Any]) -> Any:
    codes = [code.strip() for code in str(biz.get("billCodes") or "").split(",") if code.strip()]
    if not codes:
        raise _Refusal("bad_params", "非法参数：billCodes 不能为空")
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
    """One gateway call (exposed for tests that want no HTTP)."""
    api_account = headers.get("apiaccount", "")

    def log(code: str, biz: Any = None) -> None:
        with store.lock:
            store.requests.append(JtRequest(api, api_account, biz, code))

    biz_content = form.get("bizContent", "")
    missing = [name for name in ("apiaccount", "digest", "timestamp") if not headers.get(name)]
    if missing or not biz_content:
        log(CODES["bad_params"])
        return _reply(CODES["bad_params"], f"非法参数：{','.join(missing) or 'bizContent'} 不能为空")
    with store.lock:
        account = store.accounts.get(api_account)
    if account is None or api not in APIS:
        log(CODES["api_account"])
        return _reply(CODES["api_account"], "apiAccount 不存在或无接口权限")
    timestamp = headers["timestamp"]
    if (
        not timestamp.isdigit()
        or abs(store.clock() * 1000 - int(timestamp)) > TIMESTAMP_TOLERANCE.total_seconds() * 1000
    ):
        log(CODES["timestamp"])
        return _reply(CODES["timestamp"], "timestamp 已过期")
    if not secrets.compare_digest(header_digest(biz_content, account.private_key), headers["digest"]):
        log(CODES["header_digest"])
        return _reply(CODES["header_digest"], "签名校验失败")
    try:
        biz = json.loads(biz_content)
    except ValueError:
        biz = None
    if not isinstance(biz, dict):
        log(CODES["bad_params"], biz_content)
        return _reply(CODES["bad_params"], "非法参数：bizContent 不是 JSON 对象")
    try:
        data = APIS[api](store, account, biz)
    except _Refusal as exc:
        log(exc.code, biz)
        return _reply(exc.code, exc.message)
    log(SUCCESS, biz)
    with store.lock:
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
