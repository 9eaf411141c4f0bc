"""中通开放平台 (ZOP) simulator: ``POST /zto/<api name>``.

The body is JSON. The appKey comes in ``x-appKey`` — the name ZOP's「接口说明」 documents — or in ``x-companyid``, the
name ZTO's own SDKs send (github.com/ZTO-Express/zopsdk-java, -php, -node: ``x-companyid`` = the appKey); both are
read, ``x-appKey`` first. The digest comes in ``x-dataDigest`` and is verified for real over the exact raw body, as
ZOP「签名生成」平台标准签名 states it: 待签名字符串 = 请求body + appSecret, x-datadigest = base64(md5(待签名字符串))
(raw MD5 digest). Header names are case-insensitive.

Every answer is HTTP 200 JSON ``{"status", "statusCode", "message", "result"}``. Refusals use the codes of ZOP's
「返回信息代码含义」: 公共错误码 S207 API不存在, S208 XX不能为空, S210 无权限访问, S211 签名错误; 数据鉴权错误码 E404
鉴权失败,未绑定电子面单账号. ZTO documents no code for its business refusals (an address it does not serve, an 电子面单
account without balance, an order already cancelled or unknown): the simulator answers those with ``status: false``,
a zh-CN ``message`` and ``statusCode: null`` rather than a code of its own making.

APIs: ``zto.open.createOrder`` (deduplicated on ``partnerOrderCode``: a repeat returns the same billCode; success
``statusCode`` "0000" as in the API's 响应示例), ``zto.open.cancelPreOrder`` (by billCode) and
``zto.merchant.waybill.track.query`` (the scans a test scripted with :meth:`ZtoStore.add_track`; ``scanDate`` in ms
since the epoch); those two answer "SYS000" (操作成功), as their 响应示例 do.
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
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, post

__all__ = [
    "PATH",
    "ZtoAccount",
    "ZtoOrder",
    "ZtoRequest",
    "ZtoScan",
    "ZtoStore",
    "digest",
    "new_store",
    "route_handlers",
]

PATH = "/zto"  # the gateway host; each API is PATH + "/" + api name
JSON_MEDIA_TYPE = "application/json;charset=UTF-8"

# City → (大头笔 prefix, 集包地, site code) for the label.
MARKS = {
    "上海市": ("300-", "沪西", "02100"),
    "北京市": ("100-", "北京", "01000"),
    "杭州市": ("571-", "杭州", "57100"),
    "广州市": ("200-", "广州", "02000"),
    "深圳市": ("755-", "深圳", "75500"),
    "成都市": ("280-", "成都", "02800"),
    "武汉市": ("270-", "武汉", "02700"),
}


def digest(body: bytes, app_secret: str) -> str:
    """``base64(md5(body + appSecret))`` over the raw body bytes and the UTF-8 secret."""
    return base64.b64encode(hashlib.md5(body + app_secret.encode("utf-8")).digest()).decode("ascii")


@dataclass
class ZtoAccount:
    app_key: str
    app_secret: str
    account_id: str  # 电子面单账号
    account_password: str
    quota: int | None = None  # 电子面单 left; None = unlimited


@dataclass
class ZtoScan:
    scan_type: str
    desc: str
    at: datetime
    site: str = ""


@dataclass
class ZtoOrder:
    partner_order_code: str
    app_key: str
    bill_code: str
    order_code: str
    mark: str
    bag_addr: str
    site_code: str
    site_name: str
    receiver_province: str
    receiver_city: str
    body: dict[str, Any]
    cancelled: bool = False


@dataclass
class ZtoRequest:
    """One call as the gateway saw it (for assertions)."""

    api: str
    app_key: str
    body: Any
    status_code: str  # "" for a business refusal, which ZTO answers without a documented code
    message: str = ""


@dataclass
class ZtoStore:
    """Thread-safe in-memory state of the simulated ZOP gateway."""

    clock: Callable[[], float] = time.time
    accounts: dict[str, ZtoAccount] = field(default_factory=dict)  # by appKey
    orders: dict[str, ZtoOrder] = field(default_factory=dict)  # by partnerOrderCode
    tracks: dict[str, list[ZtoScan]] = field(default_factory=dict)  # by billCode
    requests: list[ZtoRequest] = field(default_factory=list)
    out_of_service: set[tuple[str, str]] = field(default_factory=set)  # (province, city); city "" = whole province
    lock: threading.RLock = field(default_factory=threading.RLock)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(73_100_000_000_001))

    def create_account(
        self,
        app_key: str | None = None,
        *,
        app_secret: str | None = None,
        account_id: str | None = None,
        account_password: str | None = None,
        quota: int | None = None,
    ) -> ZtoAccount:
        with self.lock:
            account = ZtoAccount(
                app_key=app_key or secrets.token_hex(10),
                app_secret=app_secret or secrets.token_hex(16),
                account_id=account_id or f"ZTO{len(self.accounts) + 1:06d}",
                account_password=account_password or secrets.token_hex(4).upper(),
                quota=quota,
            )
            self.accounts[account.app_key] = account
            return account

    def set_quota(self, app_key: str, quota: int | None) -> None:
        with self.lock:
            self.accounts[app_key].quota = quota

    def refuse_area(self, province: str, city: str = "") -> None:
        """Refuse receivers in ``province`` / ``city`` (the whole province when ``city`` is empty)."""
        with self.lock:
            self.out_of_service.add((province, city))

    def add_track(
        self, bill_code: str, scan_type: str, desc: str, *, at: datetime | None = None, site: str = ""
    ) -> ZtoScan:
        when = at or datetime.fromtimestamp(self.clock(), UTC)
        if when.tzinfo is None:
            raise ValueError("scan times must be aware")
        scan = ZtoScan(scan_type=scan_type, desc=desc, at=when, site=site)
        with self.lock:
            self.tracks.setdefault(bill_code, []).append(scan)
        return scan

    def order(self, partner_order_code: str) -> ZtoOrder | None:
        with self.lock:
            return self.orders.get(partner_order_code)

    def orders_of(self, app_key: str) -> list[ZtoOrder]:
        with self.lock:
            return [order for order in self.orders.values() if order.app_key == app_key]

    def _refused(self, province: str, city: str) -> bool:
        return (province, city) in self.out_of_service or (province, "") in self.out_of_service

    def _next_bill_code(self) -> str:
        return str(next(self._numbers))


new_store = ZtoStore  # (sandbox.carriers.server)


class _Refusal(Exception):
    """A refusal; ``code`` None where ZTO documents none (business refusals)."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _reply(status: bool, code: str | None, message: str, result: Any = None) -> Response[bytes]:
    body = {"status": status, "statusCode": code, "message": message, "result": result}
    return Response(
        content=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        status_code=200,
        media_type=JSON_MEDIA_TYPE,
    )


def _order_result(order: ZtoOrder) -> dict[str, Any]:
    return {
        "billCode": order.bill_code,
        "orderCode": order.order_code,
        "partnerOrderCode": order.partner_order_code,
        "bigMarkInfo": {"mark": order.mark, "bagAddr": order.bag_addr},
        "siteCode": order.site_code,
        "siteName": order.site_name,
        "verifyCode": None,
        "signBillInfo": None,
    }


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _create(store: ZtoStore, account: ZtoAccount, body: dict[str, Any]) -> dict[str, Any]:
    code = _text(body.get("partnerOrderCode"))
    if not code:
        raise _Refusal("S208", "partnerOrderCode不能为空")
    info = body.get("accountInfo")
    if not isinstance(info, dict):
        raise _Refusal("S208", "accountInfo不能为空")
    if _text(info.get("accountId")) != account.account_id or _text(info.get("accountPassword")) != (
        account.account_password
    ):
        raise _Refusal("E404", "鉴权失败,未绑定电子面单账号")  # 公共数据鉴权错误码对照表
    receiver, sender = body.get("receiveInfo"), body.get("senderInfo")
    if not isinstance(receiver, dict) or not isinstance(sender, dict):
        raise _Refusal("S208", "senderInfo/receiveInfo不能为空")
    for part in ("receiverName", "receiverProvince", "receiverCity", "receiverAddress"):
        if not _text(receiver.get(part)):
            raise _Refusal("S208", f"{part}不能为空")
    if not (_text(receiver.get("receiverMobile")) or _text(receiver.get("receiverPhone"))):
        raise _Refusal("S208", "receiverMobile/receiverPhone不能为空")
    with store.lock:
        existing = store.orders.get(code)
        if existing is not None and existing.app_key == account.app_key:
            return _order_result(existing)  # ZTO deduplicates on the partner order code
        if existing is not None:
            raise _Refusal(None, "合作商订单号已存在")
        province, city = _text(receiver["receiverProvince"]), _text(receiver["receiverCity"])
        if store._refused(province, city):
            raise _Refusal(None, f"收件地址{province}{city}超出派送范围")
        if account.quota is not None:
            if account.quota <= 0:
                raise _Refusal(None, "电子面单余额不足，请联系网点充值")
            account.quota -= 1
        bill_code = store._next_bill_code()
        seq = int(bill_code[-4:])
        prefix, bag_addr, site_code = MARKS.get(city, ("999-", "中转", "99900"))
        order = ZtoOrder(
            partner_order_code=code,
            app_key=account.app_key,
            bill_code=bill_code,
            order_code=f"{datetime.fromtimestamp(store.clock(), UTC):%y%m%d}{seq:012d}",
            mark=f"{prefix} {chr(ord('A') + seq % 26)}{seq % 20 + 1} {seq % 100:02d}",
            bag_addr=bag_addr,
            site_code=site_code,
            site_name=city.removesuffix("市") or city,
            receiver_province=province,
            receiver_city=city,
            body=body,
        )
        store.orders[code] = order
    return _order_result(order)


def _own_bill(store: ZtoStore, account: ZtoAccount, bill_code: str) -> ZtoOrder | None:
    return next((o for o in store.orders.values() if o.bill_code == bill_code and o.app_key == account.app_key), None)


def _cancel(store: ZtoStore, account: ZtoAccount, body: dict[str, Any]) -> dict[str, Any]:
    if not _text(body.get("cancelType")):
        raise _Refusal("S208", "cancelType不能为空")
    bill_code, order_code = _text(body.get("billCode")), _text(body.get("orderCode"))
    if not (bill_code or order_code):
        raise _Refusal("S208", "orderCode与billCode不能同时为空")
    with store.lock:
        order = _own_bill(store, account, bill_code) if bill_code else None
        if order is None and order_code:
            order = next(
                (o for o in store.orders.values() if o.order_code == order_code and o.app_key == account.app_key),
                None,
            )
        if order is None:
            raise _Refusal(None, "订单不存在")
        if order.cancelled:
            raise _Refusal(None, "订单已取消")
        if store.tracks.get(order.bill_code):
            raise _Refusal(None, "订单已揽收，不能取消")
        order.cancelled = True
    return {}


def _track(store: ZtoStore, account: ZtoAccount, body: dict[str, Any]) -> list[dict[str, Any]]:
    bill_code = _text(body.get("billCode"))
    if not bill_code:
        raise _Refusal("S208", "billCode不能为空")
    with store.lock:
        scans = list(store.tracks.get(bill_code, [])) if _own_bill(store, account, bill_code) else []
    return [
        {
            "billCode": bill_code,
            "scanDate": int(scan.at.timestamp() * 1000),
            "scanType": scan.scan_type,
            "desc": scan.desc,
            "scanSite": {"name": scan.site, "code": "", "phone": ""},
        }
        for scan in sorted(scans, key=lambda s: s.at)
    ]


APIS: dict[str, Callable[[ZtoStore, ZtoAccount, dict[str, Any]], Any]] = {
    "zto.open.createOrder": _create,
    "zto.open.cancelPreOrder": _cancel,
    "zto.merchant.waybill.track.query": _track,
}


def handle(store: ZtoStore, api: str, app_key: str, data_digest: str, body: bytes) -> Response[bytes]:
    """One gateway call (exposed for tests that want no HTTP)."""

    def log(code: str | None, data: Any = None, message: str = "") -> None:
        with store.lock:
            store.requests.append(ZtoRequest(api, app_key, data, code or "", message))

    if not app_key or not data_digest:
        log("S208")
        return _reply(False, "S208", "x-appKey/x-dataDigest不能为空")  # S208 XX不能为空
    if api not in APIS:  # 公共错误码对照表, like the three below
        log("S207")
        return _reply(False, "S207", "API不存在")
    with store.lock:
        account = store.accounts.get(app_key)
    if account is None:
        log("S210")
        return _reply(False, "S210", "无权限访问")
    if not secrets.compare_digest(digest(body, account.app_secret), data_digest):
        log("S211")
        return _reply(False, "S211", "签名错误")
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        data = None
    if not isinstance(data, dict):
        log("S208")
        return _reply(False, "S208", "请求body不能为空")
    try:
        result = APIS[api](store, account, data)
    except _Refusal as exc:
        log(exc.code, data, exc.message)
        return _reply(False, exc.code, exc.message)
    success = "0000" if api == "zto.open.createOrder" else "SYS000"
    log(success, data)
    return _reply(True, success, "成功" if success == "0000" else "操作成功", result)


@post(PATH + "/{api:str}", status_code=200)
async def zto_api(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = request.app.state.carrier_stores["zto"]
    assert isinstance(store, ZtoStore)
    api = str(request.path_params["api"])
    body = await request.body()
    app_key = request.headers.get("x-appkey") or request.headers.get("x-companyid") or ""
    return handle(store, api, app_key, request.headers.get("x-datadigest", ""), body)


route_handlers = [zto_api]
