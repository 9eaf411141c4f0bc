"""京东 JOS (POP seller) open platform simulator: ``POST /jd/routerjson``.

System params (query string or form body): ``method``, ``app_key``, ``access_token``, ``timestamp``
(``YYYY-MM-DD HH:MM:SS`` Beijing time, ±6 min), ``v=2.0``, ``format=json`` (optional), ``360buy_param_json`` (the
business params as a JSON object) and ``sign`` (see :func:`sandbox.platforms.signing.jd_sign`).

Methods: ``jingdong.pop.order.search``, ``jingdong.pop.order.get``, ``jingdong.pop.order.shipment``,
``jingdong.stock.write.updateSkuStock``. Success wrappers are spelled ``<method, dots→_>_responce`` (sic) and carry
``"code": "0"``; business failures sit inside them (``apiResult.success = false``); gateway errors answer
``{"error_response": {"code", "zh_desc", "en_desc"}}`` with string codes. All with HTTP 200.

Gateway codes and their texts are JOS's「错误码」网关系统错误码 table (jos.jd.com; reproduced with JD's wording at
https://blog.csdn.net/zyliu_/article/details/141867142): 2 App Call Limited, 4/5 version, 7/8 timestamp (±6 min),
11/12 signature, 14/15 method, 18/19 access_token, 20/21 app_key, 63 json格式不合法, 66 平台连接后端服务不可用.

``GET|POST /jd/oauth2/refresh_token?app_key=…&app_secret=…&grant_type=refresh_token&refresh_token=…`` — JD's OAuth
refresh (JOS「Token过期处置」 https://kepler.jd.com/console/docCenterCatalog/docContent?channelId=111, 「授权获取
accesstoken」 https://jos.jd.com/doc/channel.htm?id=880): a refresh token this simulator issued, unused and not
expired, buys a new pair, answered as the doc's example ``{"access_token", "expires_in", "refresh_token", "scope",
"open_id", "uid", "time", "token_type", "code": 0}``. JD documents no code list for refusals (searched: JOS
授权/Token过期处置 pages, jd-sdk / open-api-sdk sources, the 错误码 table — none lists one); refusals here answer
``{"code": REFRESH_REFUSED, "msg", "requestId"}`` — the shape JD's SDKs read (non-zero ``code`` + ``msg``), with a
code of the simulator's own that clients must treat only as "non-zero".
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

from litestar import Request, Response, route

from sandbox.platforms._common import (
    Reject,
    fmt_time,
    gateway_error_page,
    json_response,
    parse_int,
    parse_time,
    read_body_and_params,
    store_of,
    yuan,
)
from sandbox.platforms.signing import jd_sign
from sandbox.platforms.store import (
    OrderState,
    Platform,
    PlatformStore,
    RefundState,
    SellerAccount,
    ShipOutcome,
    SimOrder,
)

__all__ = ["OAUTH_REFRESH_PATH", "REFRESH_REFUSED", "ROUTER_PATH", "render_order", "route_handlers"]

ROUTER_PATH = "/jd/routerjson"
OAUTH_REFRESH_PATH = "/jd/oauth2/refresh_token"  # beside the gateway, as https://open-oauth.jd.com/oauth2/refresh_token
P = Platform.JD
TIMESTAMP_TOLERANCE = timedelta(minutes=6)  # 错误码 8: "京东API服务端允许客户端请求时间误差为6分钟"
TOKEN_TTL = timedelta(days=1)  # 「Token过期处置」: 24 h in the test environment (example answer: expires_in 86399)
# Not a JD code: JD documents none for a refused refresh (see the module docstring). Any non-zero ``code`` is a refusal.
REFRESH_REFUSED = 1

STATE_REMARK = {
    "WAIT_SELLER_STOCK_OUT": "等待出库",
    "WAIT_GOODS_RECEIVE_CONFIRM": "等待确认收货",
    "FINISHED_L": "完成",
    "TRADE_CANCELED": "取消",
    "LOCKED": "已锁定",
}

OK_RESULT = {"success": True, "englishErrCode": "success", "chineseErrCode": "成功", "numberCode": 10100000}


def order_state(order: SimOrder) -> str:
    if order.state == OrderState.PAID:
        return "LOCKED" if order.refund == RefundState.REQUESTED else "WAIT_SELLER_STOCK_OUT"
    return {
        OrderState.SHIPPED: "WAIT_GOODS_RECEIVE_CONFIRM",
        OrderState.COMPLETED: "FINISHED_L",
        OrderState.CANCELLED: "TRADE_CANCELED",
    }.get(order.state, "WAIT_SELLER_STOCK_OUT")


def render_order(order: SimOrder, account: SellerAccount) -> dict[str, Any]:
    """An ``OrderSearchInfo`` / ``orderInfo`` (numbers and money as strings, as JOS sends them)."""
    r = order.receiver
    state = order_state(order)
    return {
        "orderId": order.order_id,
        "venderId": account.shop_id,
        "orderType": "22",
        "payType": "4-在线支付",
        "orderTotalPrice": yuan(order.goods_amount + order.shipping_fee),
        "orderSellerPrice": yuan(order.goods_amount - order.discount),
        "orderPayment": yuan(order.paid_amount),
        "freightPrice": yuan(order.shipping_fee),
        "sellerDiscount": yuan(order.discount),
        "orderState": state,
        "orderStateRemark": STATE_REMARK[state],
        "deliveryType": "任意时间",
        "invoiceInfo": "不需要开具发票",
        "orderRemark": order.buyer_memo,
        "venderRemark": order.seller_memo,
        "orderStartTime": fmt_time(order.created_at),
        "paymentConfirmTime": fmt_time(order.paid_at),
        "orderEndTime": fmt_time(order.updated_at) if state in ("FINISHED_L", "TRADE_CANCELED") else "",
        "modified": fmt_time(order.updated_at),
        "pin": order.buyer_nick,
        "waybill": order.tracking_no,
        "logisticsId": order.company_code,
        "consigneeInfo": {
            "fullname": r.name,
            "mobile": r.mobile,
            "telephone": "",
            "province": r.province,
            "city": r.city,
            "county": r.district,
            "town": r.town,
            "fullAddress": f"{r.province}{r.city}{r.district}{r.town}{r.detail}",
        },
        "itemInfoList": [
            {
                "skuId": line.sku_id,
                "outerSkuId": line.sku_code,
                "skuName": line.title,
                "wareId": line.product_id,
                "jdPrice": yuan(line.unit_price),
                "itemTotal": str(line.qty),
                "productNo": "",
                "giftPoint": "0",
                "newStoreId": "0",
            }
            for line in order.lines
        ],
    }


def _select(order: dict[str, Any], optional_fields: str) -> dict[str, Any]:
    wanted = {f.strip() for f in optional_fields.split(",") if f.strip()}
    return {k: v for k, v in order.items() if k in wanted} if wanted else order


class _Call:
    def __init__(self, store: PlatformStore, params: dict[str, str]) -> None:
        self.store = store
        self.params = params
        self.biz: dict[str, Any] = {}

    def error(self, code: str, zh: str, en: str) -> Reject:
        return Reject({"error_response": {"code": code, "zh_desc": zh, "en_desc": en}}, code)

    def failed(self, method: str, key: str, zh: str, en: str, number: int = 10100001) -> Reject:
        """A business failure inside the method's own wrapper (``apiResult.success = false``)."""
        result = {"success": False, "englishErrCode": en, "chineseErrCode": zh, "numberCode": number}
        inner: dict[str, Any] = {"apiResult": result}
        if key == "sopjosshipment_result":
            inner = {**result, "errorCode": str(number)}
        body = {self.wrapper(method): {"code": "0", key: inner}}
        return Reject(body, f"0/{number}")

    @staticmethod
    def wrapper(method: str) -> str:
        return method.replace(".", "_") + "_responce"

    def dispatch(self) -> dict[str, Any]:
        p = self.params
        method = p.get("method", "")
        if not method:
            raise self.error("14", "缺少方法名参数", "Missing Method")
        app_key = p.get("app_key", "")
        if not app_key:
            raise self.error("20", "缺少app_key参数", "Missing app_key")
        account = self.store.find_seller(P, app_key)
        if account is None:
            raise self.error("21", "无效app_key", "Invalid app_key")
        if not p.get("v"):
            raise self.error("4", "缺少版本参数", "Missing Version")
        if p["v"] != "2.0":
            raise self.error("5", "不支持的版本号", "Unsupported Version")
        if not p.get("timestamp"):
            raise self.error("7", "缺少时间戳参数", "Missing Timestamp")
        ts = parse_time(p["timestamp"])
        if ts is None or (self.store.check_timestamps and abs(ts - self.store.now()) > TIMESTAMP_TOLERANCE):
            raise self.error("8", "非法的时间戳参数", "Invalid Timestamp")
        if not p.get("sign"):
            raise self.error("11", "缺少签名参数", "Missing Signature")
        if p["sign"] != jd_sign(p, account.app_secret):
            raise self.error("12", "无效签名", "Invalid Signature")
        handler = _METHODS.get(method)
        if handler is None:
            raise self.error("15", "不存在的方法名", "Invalid Method")
        value = p.get("access_token", "")
        if not value:
            raise self.error("18", "缺少access_token参数", "Missing access_token")
        token = self.store.token(P, value)
        if token is None or token.app_key != app_key or token.expired(self.store.now()):
            raise self.error("19", "无效access_token", "Invalid access_token")
        try:
            biz = json.loads(p.get("360buy_param_json", "") or "{}")
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            raise self.error("63", "json格式不合法", "json格式不合法")
        self.biz = biz
        fault = self.store.take_fault(P, method)
        if (fault is not None and fault.kind == "rate_limit") or self.store.over_qps(P, app_key):
            raise self.error("2", "限制时间内调用失败次数", "App Call Limited")
        if fault is not None:
            raise self.error(
                "66", "平台连接后端服务不可用", "platform to connect to the back-end service not available"
            )
        return handler(self, account)

    def biz_str(self, *names: str) -> str:
        for name in names:
            value = self.biz.get(name)
            if value is not None and value != "":
                return str(value)
        return ""

    # ---------------------------------------------------------------- methods

    def order_search(self, account: SellerAccount) -> dict[str, Any]:
        method, key = "jingdong.pop.order.search", "searchorderinfo_result"
        start = parse_time(self.biz_str("start_date"))
        end = parse_time(self.biz_str("end_date"))
        states = {s.strip() for s in self.biz_str("order_state").split(",") if s.strip()}
        if start is None or end is None or end < start or not states:
            raise self.failed(method, key, "参数错误：start_date、end_date、order_state 必填", "invalid param")
        page = parse_int(self.biz_str("page") or "1") or 0
        page_size = parse_int(self.biz_str("page_size") or "20") or 0
        if page < 1 or not 1 <= page_size <= 100:
            raise self.failed(method, key, "参数错误：page>=1，page_size 1-100", "invalid param")
        by_created = self.biz_str("dateType", "date_type") == "1"
        descending = self.biz_str("sortType", "sort_type") == "1"

        def stamp(order: SimOrder) -> Any:
            return order.created_at if by_created else order.updated_at

        matched = [
            o
            for o in self.store.orders(P, account.app_key)
            if o.state != OrderState.PENDING_PAYMENT and start <= stamp(o) <= end and order_state(o) in states
        ]
        matched.sort(key=lambda o: (stamp(o), o.order_id), reverse=descending)
        chunk = matched[(page - 1) * page_size : page * page_size]
        fields = self.biz_str("optional_fields")
        result = {
            "apiResult": OK_RESULT,
            "orderInfoList": [_select(render_order(o, account), fields) for o in chunk],
            "orderTotal": len(matched),
        }
        return {self.wrapper(method): {"code": "0", key: result}}

    def order_get(self, account: SellerAccount) -> dict[str, Any]:
        method, key = "jingdong.pop.order.get", "orderDetailInfo"
        order = self.store.find_order(P, account.app_key, self.biz_str("order_id", "orderId"))
        if order is None or order.state == OrderState.PENDING_PAYMENT:
            raise self.failed(method, key, "订单不存在", "order not exist", 10100004)
        info = _select(render_order(order, account), self.biz_str("optional_fields"))
        return {self.wrapper(method): {"code": "0", key: {"apiResult": OK_RESULT, "orderInfo": info}}}

    def order_shipment(self, account: SellerAccount) -> dict[str, Any]:
        method, key = "jingdong.pop.order.shipment", "sopjosshipment_result"
        order_id = self.biz_str("orderId", "order_id")
        carrier = parse_int(self.biz_str("logiCoprId"))
        tracking = self.biz_str("logiNo")
        if not order_id or carrier is None or carrier <= 0 or not tracking:
            raise self.failed(method, key, "参数错误：orderId、logiCoprId、logiNo 必填", "invalid param")
        outcome = self.store.ship(
            P,
            account.app_key,
            order_id,
            company_code=str(carrier),
            tracking_no=tracking,
            method=method,
            params=self.biz,
        )
        if outcome == ShipOutcome.NOT_FOUND:
            raise self.failed(method, key, "订单不存在", "order not exist", 10100004)
        if outcome == ShipOutcome.ALREADY_SHIPPED:
            raise self.failed(method, key, "订单已出库，不能重复出库", "order already shipped", 10100005)
        if outcome == ShipOutcome.NOT_SHIPPABLE:
            raise self.failed(method, key, "订单状态不允许出库", "order state not allowed", 10100006)
        result = {"success": True, "englishErrCode": "success", "chineseErrCode": "成功", "errorCode": ""}
        return {self.wrapper(method): {"code": "0", key: result}}

    def update_sku_stock(self, account: SellerAccount) -> dict[str, Any]:
        method = "jingdong.stock.write.updateSkuStock"
        name = self.wrapper(method)
        sku_id = self.biz_str("skuId")
        stock = parse_int(self.biz_str("stockNum"))
        if not sku_id or stock is None or stock < 0:
            body = {name: {"code": "0", "success": False, "errorCode": "1", "errorMessage": "skuId、stockNum 不合法"}}
            raise Reject(body, "0/1")
        product = self.store.find_product(P, account.app_key, sku_id=sku_id)
        if product is None:
            body = {name: {"code": "0", "success": False, "errorCode": "2", "errorMessage": "sku不存在"}}
            raise Reject(body, "0/2")
        self.store.update_stock(P, account.app_key, product, stock, mode="full", method=method, params=self.biz)
        return {name: {"code": "0", "success": True}}


_METHODS = {
    "jingdong.pop.order.search": _Call.order_search,
    "jingdong.pop.order.get": _Call.order_get,
    "jingdong.pop.order.shipment": _Call.order_shipment,
    "jingdong.stock.write.updateSkuStock": _Call.update_sku_stock,
}


@route(ROUTER_PATH, http_method=["GET", "POST"], status_code=200)
async def jd_router(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = store_of(request)
    _, params = await read_body_and_params(request)
    method = params.get("method", "")
    app_key = params.get("app_key", "")
    fault = store.take_fault(P, method, http=True)
    if fault is not None:
        store.log_request(P, method, app_key, params, f"http {fault.http_status}", fault.http_status)
        return gateway_error_page(fault.http_status)
    try:
        answer = _Call(store, params).dispatch()
        outcome = "ok"
    except Reject as reject:
        answer, outcome = dict(reject.body), reject.outcome
    store.log_request(P, method, app_key, params, outcome)
    return json_response(answer)


def _refresh(store: PlatformStore, params: dict[str, str]) -> dict[str, Any]:
    """JD's ``/oauth2/refresh_token``: a new token pair for a valid refresh token (single use), else a refusal."""

    def refused(msg: str) -> Reject:
        body = {"code": REFRESH_REFUSED, "msg": msg, "requestId": secrets.token_hex(16)}
        return Reject(body, f"refresh {REFRESH_REFUSED}")

    app_key = params.get("app_key", "")
    account = store.find_seller(P, app_key) if app_key else None
    if account is None or params.get("app_secret", "") != account.app_secret:
        raise refused("app_key 或 app_secret 不正确")
    if params.get("grant_type") != "refresh_token":
        raise refused("grant_type 必须为 refresh_token")
    issued = store.refresh_access_token(P, app_key, params.get("refresh_token", ""), ttl=TOKEN_TTL)
    if isinstance(issued, str):  # "invalid" (unknown, used, another app's) or "expired"
        raise refused("refresh_token 已过期，请重新授权" if issued == "expired" else "refresh_token 无效")
    now = store.now()
    return {
        "access_token": issued.token,
        "expires_in": int((issued.expires_at - now).total_seconds()),
        "refresh_token": issued.refresh_token,
        "scope": "snsapi_base",
        "open_id": f"sim-open-{account.shop_id}",
        "uid": account.shop_id,
        "time": int(now.timestamp() * 1000),
        "token_type": "bearer",
        "code": 0,
    }


@route(OAUTH_REFRESH_PATH, http_method=["GET", "POST"], status_code=200)
async def jd_oauth_refresh(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = store_of(request)
    _, params = await read_body_and_params(request)
    logged = {k: v for k, v in params.items() if k not in ("app_secret", "refresh_token")}
    method = "oauth2/refresh_token"
    fault = store.take_fault(P, method, http=True)
    if fault is not None:
        store.log_request(P, method, params.get("app_key", ""), logged, f"http {fault.http_status}", fault.http_status)
        return gateway_error_page(fault.http_status)
    try:
        answer = _refresh(store, params)
        outcome = "ok"
    except Reject as reject:
        answer, outcome = dict(reject.body), reject.outcome
    store.log_request(P, method, params.get("app_key", ""), logged, outcome)
    return json_response(answer)


route_handlers = [jd_router, jd_oauth_refresh]
