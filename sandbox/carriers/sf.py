"""顺丰开放平台 (丰桥) simulator: ``POST /sf/std/service``.

Form fields ``partnerID``, ``requestID``, ``serviceCode``, ``timestamp`` (ms, at most 10 minutes old), ``msgDigest``
and ``msgData`` (JSON). The digest is verified for real, as 丰桥「数字签名认证说明」specifies it
(https://open.sf-express.com/developSupport/976720?activeIndex=641728):
``Base64(MD5(URLEncoder.encode(msgData + timestamp + checkWord, "UTF-8")))`` with the account's checkWord and Java's
``java.net.URLEncoder`` (:func:`url_encode_like_java`). Gateway refusals answer ``{"apiResultCode": "A10xx",
"apiErrorMsg", "apiResponseID", "apiResultData": null}``; business answers carry ``apiResultData`` as a JSON string
``{"success", "errorCode", "errorMsg", "msgData"}``.

Every code it answers with is SF's own: the gateway's from 丰桥「3.1 (API)平台结果代码列表」, the business ones from
「速运类接口业务相关错误码」(https://open.sf-express.com/developSupport/976720?activeIndex=146623) or the service's
own page, each cited where it is raised.

Services: ``EXP_RECE_CREATE_ORDER`` (duplicate ``orderId`` → 8016 重复下单; a refused area is accepted with
筛单结果 ``filterResult`` 3 不可以收派 and no waybill; a monthly card out of :attr:`SfAccount.quota` → 8114),
``EXP_RECE_SEARCH_ORDER_RESP``, ``EXP_RECE_UPDATE_ORDER`` (``dealType`` 2 cancels) and ``EXP_RECE_SEARCH_ROUTES``
(the routes a test scripted with :meth:`SfStore.add_route`).

Cross-border orders (跨境件 / 国际件) go through the same ``EXP_RECE_CREATE_ORDER``: a receiver (or sender) outside
the mainland and 港澳台 must carry the fields SF's page makes required for them, and each missing one is refused with
the code SF documents for it (:func:`_check_cross_border`). The order keeps the msgData it was placed with
(:attr:`SfOrder.msg_data`) for tests to read what SF would have received.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
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
    "url_encode_like_java",
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


# java.net.URLEncoder, as the Java SE API documentation states its rules: "a" through "z", "A" through "Z" and "0"
# through "9" remain the same; ".", "-", "*" and "_" remain the same; the space character " " is converted into a
# plus sign "+"; all other characters are converted into bytes (here UTF-8, SF's charset) and each byte becomes
# "%xy", xy its two-digit hexadecimal value — the JDK writes uppercase digits.
_KEPT_AS_IS = frozenset(string.ascii_letters + string.digits + ".-*_")


def url_encode_like_java(text: str) -> str:
    """``URLEncoder.encode(text, "UTF-8")``."""
    pieces = []
    for char in text:
        if char in _KEPT_AS_IS:
            pieces.append(char)
        elif char == " ":
            pieces.append("+")
        else:
            pieces.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
    return "".join(pieces)


def digest(msg_data: str, timestamp: str, check_word: str) -> str:
    """``Base64(MD5(URLEncoder.encode(msgData + timestamp + checkWord, "UTF-8")))`` (raw MD5 digest)."""
    signed = url_encode_like_java(f"{msg_data}{timestamp}{check_word}").encode("utf-8")
    return base64.b64encode(hashlib.md5(signed).digest()).decode("ascii")


@dataclass
class SfAccount:
    partner_id: str
    check_word: str
    monthly_card: str
    # Orders the monthly card may still place (None = no limit). SF publishes no "balance" code: at 0 the simulator
    # answers as SF does for a card it will not ship on, 8114 传入了不可发货的月结卡号.
    quota: int | None = None


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
    waybill_no: str  # "" when SF could not serve it (filter_result 3)
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
    filter_result: int = 2  # 筛单结果: 2 可收派, 3 不可以收派
    # A cross-border order's routeLabelData extras (2.5.3: destCountry 目的国别, destPostCode 目的地邮编,
    # goodsValueTotal 总价值 "保留两位小数", currencySymbol 币种); "" for a domestic one.
    dest_country: str = ""
    dest_post_code: str = ""
    goods_value_total: str = ""
    currency_symbol: str = ""


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
    # 下订单接口 EXP_RECE_CREATE_ORDER 2.5 响应参数: filterResult 筛单结果 (1 人工确认, 2 可收派, 3 不可以收派)
    # and, when it is 3, remark — the reason code: 1 收方超范围, 2 派方超范围, 3 其它原因. No waybill then.
    if order.filter_result == 3:
        return {
            "orderId": order.order_id,
            "originCode": order.origin_code,
            "destCode": "",
            "filterResult": 3,
            "remark": "1",
            "waybillNoInfoList": [],
            "routeLabelInfo": [],
        }
    return {
        "orderId": order.order_id,
        "originCode": order.origin_code,
        "destCode": order.dest_code,
        "filterResult": 2,
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
                    "destCountry": order.dest_country,
                    "destPostCode": order.dest_post_code,
                    "goodsValueTotal": order.goods_value_total,
                    "currencySymbol": order.currency_symbol,
                },
            }
        ],
    }


def _contact(contacts: object, contact_type: int) -> dict[str, Any]:
    if isinstance(contacts, list):
        for contact in contacts:
            if isinstance(contact, dict) and str(contact.get("contactType")) == str(contact_type):
                return contact
    return {}


# 速运类接口业务相关错误码: a party's address, contact and phone (mobile or tel) must be there.
_SENDER_REQUIRED = (("address", "1010", "寄件地址不能为空"), ("contact", "1011", "寄件联系人不能为空"))
_RECEIVER_REQUIRED = (("address", "1014", "到件地址不能为空"), ("contact", "1015", "到件联系人不能为空"))


def _check_party(contact: dict[str, Any], required: tuple[tuple[str, str, str], ...], phone: tuple[str, str]) -> None:
    for part, code, message in required:
        if not str(contact.get(part) or "").strip():
            raise _BusinessError(code, message)
    if not (str(contact.get("mobile") or "").strip() or str(contact.get("tel") or "").strip()):
        raise _BusinessError(*phone)


# 丰桥 API 文档「下订单接口-速运类API EXP_RECE_CREATE_ORDER」: ContactInfo ``country`` "国家或地区代码 例如：内地件CN
# 香港852" and ``postCode`` "邮编，跨境件必填（中国内地， 港澳台互寄除外）"; CargoDetail ``count`` / ``unit`` /
# ``weight`` / ``amount`` / ``sourceArea`` "跨境件报关需要填写" and ``currency`` (《国际件币别表》); CustomsInfo
# ``declaredValue`` "如果是跨境件，则必填" and ``declaredValueCurrency`` "跨境件报关需要填写". Its「3.2 业务异常代码」
# table gives each refusal's code and text, used as they are below.
_GREATER_CHINA = frozenset({"CN", "86", "HK", "852", "MO", "853", "TW", "886"})
_CARGO_REQUIRED = (
    ("count", "6202", "国际件货物数量不能为空"),
    ("unit", "6203", "国际件货物单位不能为空"),
    ("weight", "6204", "国际件货物单位重量不能为空"),
    ("amount", "6205", "国际件货物单价不能为空"),
    ("currency", "6206", "国际件货物币种不能为空"),
    ("sourceArea", "6207", "国际件原产地不能为空"),
)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _cross_border(sender: dict[str, Any], receiver: dict[str, Any]) -> bool:
    """Whether either party is outside the mainland and 港澳台 (an absent country counts as the mainland)."""
    countries = (str(party.get("country") or "CN").strip().upper() for party in (sender, receiver))
    return any(country not in _GREATER_CHINA for country in countries)


def _check_cross_border(sender: dict[str, Any], receiver: dict[str, Any], data: dict[str, Any]) -> None:
    if _blank(sender.get("postCode")):
        raise _BusinessError("6200", "国际件寄方邮编不能为空")
    if _blank(receiver.get("postCode")):
        raise _BusinessError("6201", "国际件到方邮编不能为空")
    for cargo in data.get("cargoDetails") or []:
        for part, code, message in _CARGO_REQUIRED:
            if _blank(cargo.get(part)):
                raise _BusinessError(code, message)
    customs = data.get("customsInfo")
    if not isinstance(customs, dict) or _blank(customs.get("declaredValue")) or _blank(
        customs.get("declaredValueCurrency")
    ):
        raise _BusinessError("8194", "跨境件必须包含申明价值和币别")


def _goods_value(data: dict[str, Any]) -> str:
    customs = data.get("customsInfo")
    value = customs.get("declaredValue") if isinstance(customs, dict) else None
    if not isinstance(value, int | float | str):
        return ""
    try:
        return f"{float(value):.2f}"
    except ValueError:
        return ""


def _create(store: SfStore, account: SfAccount, data: dict[str, Any]) -> dict[str, Any]:
    order_id = str(data.get("orderId") or "").strip()
    if not order_id:
        raise _BusinessError("6118", "订单号不能为空")  # 订单确认/取消接口 2.7 返回示例 (失败响应)
    sender = _contact(data.get("contactInfoList"), 1)
    receiver = _contact(data.get("contactInfoList"), 2)
    _check_party(sender, _SENDER_REQUIRED, ("1012", "寄件电话不能为空"))
    _check_party(receiver, _RECEIVER_REQUIRED, ("1016", "到件电话不能为空"))
    cargo = data.get("cargoDetails")
    if not isinstance(cargo, list) or not all(isinstance(c, dict) and str(c.get("name") or "").strip() for c in cargo):
        raise _BusinessError("1023", "拖寄物品名不能为空")
    cross_border = _cross_border(sender, receiver)
    if cross_border:
        _check_cross_border(sender, receiver, data)
    with store.lock:
        existing = store.orders.get(_order_key(account.partner_id, order_id))
        if existing is not None:
            raise _BusinessError("8016", "重复下单")
        if account.quota is not None and account.quota <= 0:
            raise _BusinessError("8114", "传入了不可发货的月结卡号")
        # 下单接口: "若province/city字段的值不传，此字段[address]必须包含省市" — SF accepts a party without them.
        province, city = str(receiver.get("province") or ""), str(receiver.get("city") or "")
        origin = AREA_CODES.get(str(sender.get("city") or ""), "999")
        if store._refused(province, city):
            order = SfOrder(
                order_id=order_id,
                partner_id=account.partner_id,
                waybill_no="",
                express_type=int(data.get("expressTypeId") or 1),
                receiver_province=province,
                receiver_city=city,
                dest_route_label="",
                coding_mapping="",
                dest_team_code="",
                origin_code=origin,
                dest_code="",
                msg_data=data,
                filter_result=3,
            )
            store.orders[_order_key(account.partner_id, order_id)] = order
            return _order_reply(order)
        if account.quota is not None:
            account.quota -= 1
        waybill_no = store._next_waybill()
        area = AREA_CODES.get(city, "999")
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
        if cross_border:
            order.dest_country = str(receiver.get("country") or "").strip().upper()
            order.dest_post_code = str(receiver.get("postCode") or "").strip()
            order.goods_value_total = _goods_value(data)
            order.currency_symbol = str((data.get("customsInfo") or {}).get("declaredValueCurrency") or "")
        store.orders[_order_key(account.partner_id, order_id)] = order
    return _order_reply(order)


def _order_key(partner_id: str, order_id: str) -> str:
    return f"{partner_id}\x00{order_id}"


def _own_order(store: SfStore, account: SfAccount, data: dict[str, Any], missing: tuple[str, str]) -> SfOrder:
    order_id = str(data.get("orderId") or "").strip()
    order = store.orders.get(_order_key(account.partner_id, order_id))
    if order is None:
        raise _BusinessError(*missing)
    return order


def _search_order(store: SfStore, account: SfAccount, data: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        order = _own_order(store, account, data, ("6150", "找不到该订单"))  # 速运类接口业务相关错误码
        reply = _order_reply(order)
        reply["resStatus"] = 2 if order.cancelled else 1
        return reply


def _update(store: SfStore, account: SfAccount, data: dict[str, Any]) -> dict[str, Any]:
    # 订单确认/取消接口 EXP_RECE_UPDATE_ORDER: dealType 1 确认, 2 取消; its「3.2 业务异常代码」table gives the codes.
    deal_type = str(data.get("dealType") or "")
    if deal_type not in ("1", "2"):
        raise _BusinessError("6136", "未传入订单确认信息")
    with store.lock:
        order = _own_order(store, account, data, ("8018", "未获取到订单信息"))
        if deal_type == "1":  # the simulator's orders are confirmed when placed
            raise _BusinessError("8252", "订单已确认")
        if order.cancelled:
            raise _BusinessError("8037", "已消单")
        order.cancelled = True
        return {
            "orderId": order.order_id,
            "waybillNoInfoList": [{"waybillType": 1, "waybillNo": order.waybill_no}] if order.waybill_no else [],
            "resStatus": 2,  # 2 操作成功
        }


def _routes(store: SfStore, account: SfAccount, data: dict[str, Any]) -> dict[str, Any]:
    numbers = data.get("trackingNumber")
    if str(data.get("trackingType")) != "1" or not isinstance(numbers, list) or not numbers:
        raise _BusinessError("8013", "未传入查询单号")  # 速运类接口业务相关错误码
    if len(numbers) > 10:
        raise _BusinessError("8003", "查询单号超过最大限制")  # 路由查询最多支持10个单号
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

    # 3.1 (API)平台结果代码列表: A1001 必传参数不可为空 (msgData must also be JSON), A1004 无对应服务权限,
    # A1002 请求时效已过期, A1006 数字签名无效.
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
        log("A1001", form["msgData"])
        return _reply("A1001", "必传参数不可为空：msgData 不是 JSON")
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
