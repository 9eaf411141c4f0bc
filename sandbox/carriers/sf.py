"""顺丰开放平台 (丰桥) simulator: ``POST /sf/std/service``.

Form fields ``partnerID``, ``requestID``, ``serviceCode``, ``timestamp`` (ms, at most 10 minutes old), ``msgDigest``
and ``msgData`` (JSON). The digest is verified for real: ``base64(md5(quote_plus(msgData + timestamp + checkWord)))``
with the account's checkWord (``quote_plus`` with ``safe=""`` over UTF-8, the same quoting the hub's client
documents). Gateway refusals answer ``{"apiResultCode": "A10xx", "apiErrorMsg", "apiResponseID",
"apiResultData": null}``; business answers carry ``apiResultData`` as a JSON string ``{"success", "errorCode",
"errorMsg", "msgData"}``.

Services: ``EXP_RECE_CREATE_ORDER`` (duplicate ``orderId`` → 8016 重复下单; refused areas → 8019; no quota → 8196),
``EXP_RECE_SEARCH_ORDER_RESP``, ``EXP_RECE_UPDATE_ORDER`` (``dealType`` 2 cancels) and ``EXP_RECE_SEARCH_ROUTES``
(the routes a test scripted with :meth:`SfStore.add_route`).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote_plus
from zoneinfo import ZoneInfo

from litestar import Request, Response, post

__all__ = [
    "PATH",
    "SfAccount",
    "SfOrder",
    "SfRequest",
    "SfRoute",
    "SfStore",
    "digest",
    "route_handlers",
]

PATH = "/sf/std/service"
SHANGHAI = ZoneInfo("Asia/Shanghai")
TIMESTAMP_TOLERANCE = timedelta(minutes=10)
JSON_MEDIA_TYPE = "application/json;charset=UTF-8"

# City → the three-digit area code SF prints at the head of the 大头笔.
AREA_CODES = {
    "北京市": "010",
    "上海市": "021",
    "广州市": "020",
    "深圳市": "755",
    "杭州市": "571",
    "成都市": "028",
    "武汉市": "027",
    "南京市": "025",
}


def digest(msg_data: str, timestamp: str, check_word: str) -> str:
    """``base64(md5(quote_plus(msgData + timestamp + checkWord)))`` over UTF-8 (raw MD5 digest)."""
    encoded = quote_plus(msg_data + timestamp + check_word, safe="", encoding="utf-8")
    return base64.b64encode(hashlib.md5(encoded.encode("utf-8")).digest()).decode("ascii")


@dataclass
class SfAccount:
    partner_id: str
    check_word: str
    monthly_card: str
    quota: int | None = None  # waybills left; None = unlimited


@dataclass
class SfRoute:
    op_code: str
    remark: str
    at: datetime
    address: str = ""


@dataclass
class SfOrder:
    order_id: str
    partner_id: str
    waybill_no: str
    express_type: int
    receiver_province: str
    receiver_city: str
    dest_route_label: str
    coding_mapping: str
    dest_team_code: str
    origin_code: str
    dest_code: str
    msg_data: dict[str, Any]
    cancelled: bool = False


@dataclass
class SfRequest:
    """One call as the gateway saw it (for assertions)."""

    service_code: str
    partner_id: str
    msg_data: Any
    api_result_code: str
    error_code: str = ""


@dataclass
class SfStore:
    """Thread-safe in-memory state of the simulated SF gateway."""

    clock: Callable[[], float] = time.time
    accounts: dict[str, SfAccount] = field(default_factory=dict)
    orders: dict[str, SfOrder] = field(default_factory=dict)  # by (partnerID, orderId)
    routes: dict[str, list[SfRoute]] = field(default_factory=dict)  # by waybill number
    requests: list[SfRequest] = field(default_factory=list)
    out_of_service: set[tuple[str, str]] = field(default_factory=set)  # (province, city); city "" = whole province
    lock: threading.RLock = field(default_factory=threading.RLock)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1_400_000_000_001))

    def create_account(
        self,
        partner_id: str | None = None,
        *,
        check_word: str | None = None,
        monthly_card: str | None = None,
        quota: int | None = None,
    ) -> SfAccount:
        with self.lock:
            account = SfAccount(
                partner_id=partner_id or f"OH_{secrets.token_hex(4).upper()}",
                check_word=check_word or secrets.token_hex(16),
                monthly_card=monthly_card or str(7550000000 + len(self.accounts)),
                quota=quota,
            )
            self.accounts[account.partner_id] = account
            return account

    def set_quota(self, partner_id: str, quota: int | None) -> None:
        with self.lock:
            self.accounts[partner_id].quota = quota

    def refuse_area(self, province: str, city: str = "") -> None:
        """Refuse receivers in ``province`` / ``city`` (the whole province when ``city`` is empty)."""
        with self.lock:
            self.out_of_service.add((province, city))

    def add_route(
        self, waybill_no: str, op_code: str | int, remark: str, *, at: datetime | None = None, address: str = ""
    ) -> SfRoute:
        when = at or datetime.fromtimestamp(self.clock(), UTC)
        if when.tzinfo is None:
            raise ValueError("route times must be aware")
        route = SfRoute(op_code=str(op_code), remark=remark, at=when, address=address)
        with self.lock:
            self.routes.setdefault(waybill_no, []).append(route)
        return route

    def order(self, order_id: str, partner_id: str | None = None) -> SfOrder | None:
        """An order by its orderId (order ids are unique per partner account, as on SF)."""
        with self.lock:
            if partner_id is not None:
                return self.orders.get(_order_key(partner_id, order_id))
            return next((o for o in self.orders.values() if o.order_id == order_id), None)

    def orders_of(self, partner_id: str) -> list[SfOrder]:
        with self.lock:
            return [order for order in self.orders.values() if order.partner_id == partner_id]

    def _refused(self, province: str, city: str) -> bool:
        return (province, city) in self.out_of_service or (province, "") in self.out_of_service

    def _next_waybill(self) -> str:
        return f"SF{next(self._numbers):013d}"


class _BusinessError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _reply(api_code: str, message: str = "", result: dict[str, Any] | None = None) -> Response[bytes]:
    body = {
        "apiResultCode": api_code,
        "apiErrorMsg": message,
        "apiResponseID": uuid.uuid4().hex.upper(),
        "apiResultData": None if result is None else _dumps(result),
    }
    return Response(content=_dumps(body).encode(), status_code=200, media_type=JSON_MEDIA_TYPE)


def _order_reply(order: SfOrder) -> dict[str, Any]:
    return {
        "orderId": order.order_id,
        "originCode": order.origin_code,
        "destCode": order.dest_code,
        "filterResult": 2,  # 2 = 可收派
        "waybillNoInfoList": [{"waybillType": 1, "waybillNo": order.waybill_no}],
        "routeLabelInfo": [
            {
                "code": "1000",
                "message": "SUCCESS",
                "routeLabelData": {
                    "waybillNo": order.waybill_no,
                    "sourceTransferCode": order.origin_code,
                    "destRouteLabel": order.dest_route_label,
                    "destTeamCode": order.dest_team_code,
                    "codingMapping": order.coding_mapping,
                    "codingMappingOut": "1A",
                    "proCode": "T4" if order.express_type == 1 else "T6",
                    "twoDimensionCode": f"MMM={{'k1':'{order.dest_code}','k2':'{order.dest_team_code}',"
                    f"'k5':'{order.waybill_no}'}}",
                },
            }
        ],
    }


def _create(store: SfStore, account: SfAccount, data: dict[str, Any]) -> dict[str, Any]:
    order_id = str(data.get("orderId") or "").strip()
    if not order_id:
        raise _BusinessError("8013", "未传入订单号")
    contacts = data.get("contactInfoList")
    if not isinstance(contacts, list):
        raise _BusinessError("8000", "参数错误：contactInfoList")
    receiver = next((c for c in contacts if isinstance(c, dict) and c.get("contactType") == 2), None)
    sender = next((c for c in contacts if isinstance(c, dict) and c.get("contactType") == 1), None)
    if receiver is None or sender is None:
        raise _BusinessError("8000", "参数错误：寄件人或收件人信息为空")
    for part in ("contact", "province", "city", "address"):
        if not str(receiver.get(part) or "").strip():
            raise _BusinessError("8000", f"参数错误：收件人 {part} 为空")
    if not (receiver.get("mobile") or receiver.get("tel")):
        raise _BusinessError("8000", "参数错误：收件人电话为空")
    with store.lock:
        existing = store.orders.get(_order_key(account.partner_id, order_id))
        if existing is not None:
            raise _BusinessError("8016", "重复下单")
        province, city = str(receiver["province"]), str(receiver["city"])
        if store._refused(province, city):
            raise _BusinessError("8019", f"收件地址{province}{city}不在收派范围内")
        if account.quota is not None:
            if account.quota <= 0:
                raise _BusinessError("8196", "月结卡号可用电子运单余额不足")
            account.quota -= 1
        waybill_no = store._next_waybill()
        area = AREA_CODES.get(city, "999")
        origin = AREA_CODES.get(str(sender.get("city") or ""), "999")
        seq = int(waybill_no[-3:])
        order = SfOrder(
            order_id=order_id,
            partner_id=account.partner_id,
            waybill_no=waybill_no,
            express_type=int(data.get("expressTypeId") or 1),
            receiver_province=province,
            receiver_city=city,
            dest_route_label=f"{area}W-{seq:03d}",
            coding_mapping=f"F{seq % 90 + 10}",
            dest_team_code=f"{area}{seq:06d}",
            origin_code=origin,
            dest_code=area,
            msg_data=data,
        )
        store.orders[_order_key(account.partner_id, order_id)] = order
    return _order_reply(order)


def _order_key(partner_id: str, order_id: str) -> str:
    return f"{partner_id}\x00{order_id}"


def _own_order(store: SfStore, account: SfAccount, data: dict[str, Any]) -> SfOrder:
    order_id = str(data.get("orderId") or "").strip()
    order = store.orders.get(_order_key(account.partner_id, order_id))
    if order is None:
        raise _BusinessError("8018", "未获取到订单信息")
    return order


def _search_order(store: SfStore, account: SfAccount, data: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        order = _own_order(store, account, data)
        reply = _order_reply(order)
        reply["resStatus"] = 2 if order.cancelled else 1
        return reply


def _update(store: SfStore, account: SfAccount, data: dict[str, Any]) -> dict[str, Any]:
    if str(data.get("dealType")) != "2":
        raise _BusinessError("8000", "参数错误：仅支持 dealType=2（取消订单）")
    with store.lock:
        order = _own_order(store, account, data)
        if order.cancelled:
            raise _BusinessError("8017", "订单已取消")
        if store.routes.get(order.waybill_no):
            raise _BusinessError("8037", "已揽收的订单不能取消")
        order.cancelled = True
        return {
            "orderId": order.order_id,
            "waybillNoInfoList": [{"waybillType": 1, "waybillNo": order.waybill_no}],
            "resStatus": 2,
        }


def _routes(store: SfStore, account: SfAccount, data: dict[str, Any]) -> dict[str, Any]:
    numbers = data.get("trackingNumber")
    if str(data.get("trackingType")) != "1" or not isinstance(numbers, list) or not numbers:
        raise _BusinessError("8000", "参数错误：trackingType / trackingNumber")
    responses = []
    with store.lock:
        owned = {order.waybill_no for order in store.orders.values() if order.partner_id == account.partner_id}
        for number in numbers:
            mail_no = str(number)
            routes = store.routes.get(mail_no, []) if mail_no in owned else []
            responses.append(
                {
                    "mailNo": mail_no,
                    "routes": [
                        {
                            "acceptTime": route.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
                            "acceptAddress": route.address,
                            "remark": route.remark,
                            "opCode": route.op_code,
                        }
                        for route in sorted(routes, key=lambda r: r.at)
                    ],
                }
            )
    return {"routeResps": responses}


SERVICES: dict[str, Callable[[SfStore, SfAccount, dict[str, Any]], dict[str, Any]]] = {
    "EXP_RECE_CREATE_ORDER": _create,
    "EXP_RECE_SEARCH_ORDER_RESP": _search_order,
    "EXP_RECE_UPDATE_ORDER": _update,
    "EXP_RECE_SEARCH_ROUTES": _routes,
}


def handle(store: SfStore, form: dict[str, str]) -> Response[bytes]:
    """One gateway call (exposed for tests that want no HTTP)."""
    service = form.get("serviceCode", "")
    partner_id = form.get("partnerID", "")

    def log(api_code: str, msg: Any = None, error_code: str = "") -> None:
        with store.lock:
            store.requests.append(SfRequest(service, partner_id, msg, api_code, error_code))

    required = ("partnerID", "requestID", "serviceCode", "timestamp", "msgDigest", "msgData")
    missing = [name for name in required if not form.get(name)]
    if missing:
        log("A1001")
        return _reply("A1001", f"必传参数不可为空：{','.join(missing)}")
    with store.lock:
        account = store.accounts.get(partner_id)
    if account is None or service not in SERVICES:
        log("A1004")
        return _reply("A1004", "无对应服务权限")
    timestamp = form["timestamp"]
    if (
        not timestamp.isdigit()
        or abs(store.clock() * 1000 - int(timestamp)) > TIMESTAMP_TOLERANCE.total_seconds() * 1000
    ):
        log("A1002")
        return _reply("A1002", "请求时效已过期")
    if not secrets.compare_digest(digest(form["msgData"], timestamp, account.check_word), form["msgDigest"]):
        log("A1006")
        return _reply("A1006", "数字签名无效")
    try:
        data = json.loads(form["msgData"])
    except ValueError:
        data = None
    if not isinstance(data, dict):
        log("A1000", form["msgData"], "8000")
        return _reply("A1000", "", {"success": False, "errorCode": "8000", "errorMsg": "msgData 不是 JSON 对象"})
    try:
        result = SERVICES[service](store, account, data)
    except _BusinessError as exc:
        log("A1000", data, exc.code)
        return _reply("A1000", "", {"success": False, "errorCode": exc.code, "errorMsg": exc.message, "msgData": None})
    log("A1000", data, "S0000")
    return _reply("A1000", "", {"success": True, "errorCode": "S0000", "errorMsg": None, "msgData": result})


@post(PATH, status_code=200)
async def sf_service(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = request.app.state.carrier_stores["sf"]
    assert isinstance(store, SfStore)
    body = await request.body()
    form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return handle(store, form)


route_handlers = [sf_service]
new_store = SfStore  # (sandbox.carriers.server)
