"""拼多多 open platform (POP) simulator: ``POST /pinduoduo/api/router``.

Params as a form body, a JSON object body or the query string: ``type`` (the API name), ``client_id``,
``access_token``, ``timestamp`` (unix seconds, ±10 min), ``data_type=JSON``, ``version=V1`` and ``sign``
(see :func:`sandbox.platforms.signing.pinduoduo_sign`) plus the business params.

Methods: ``pdd.order.number.list.increment.get`` (window ``end_updated_at - start_updated_at`` ≤ 30 minutes),
``pdd.order.information.get``, ``pdd.logistics.online.send``, ``pdd.goods.quantity.update`` and
``pdd.finance.balance.daily.bill.url.get`` (商家货款日账单下载链接查询接口: ``bill_date`` ``yyyy-MM-dd`` →
``{"finance_balance_daily_bill_url_get_response": {"download_url"}}``, as the official POP SDK's
``PddFinanceBalanceDailyBillUrlGetResponse`` has it). The URL (``GET /pinduoduo/bill/download?token=…``) serves that
day's bill as a CSV (GBK by default, ``store.settlements.pdd_bill_encoding``; columns ``PDD_BILL_COLUMNS``) and stops
working after ``store.settlements.pdd_url_ttl`` (PDD documents no lifetime; 10 minutes here). Bills are T+1; asking
for today, a future day or a day with no bill answers ``50001`` "业务服务错误" with sub_msg 账单不存在/尚未生成 (PDD
does not document this method's business error codes; 50001 is its generic business failure). Errors answer
``{"error_response": {"error_code", "error_msg", "sub_code", "sub_msg", "request_id"}}`` with HTTP 200.
Money is yuan (JSON numbers), times ``YYYY-MM-DD HH:MM:SS``.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get, route

from sandbox.platforms._common import (
    Reject,
    fmt_time,
    gateway_error_page,
    json_response,
    parse_int,
    read_body_and_params,
    request_id,
    store_of,
    truthy,
)
from sandbox.platforms.settlements import PDD_BILL_COLUMNS
from sandbox.platforms.signing import pinduoduo_sign
from sandbox.platforms.store import (
    SHANGHAI,
    OrderState,
    Platform,
    PlatformStore,
    RefundState,
    SellerAccount,
    ShipOutcome,
    SimOrder,
    iter_window,
)

__all__ = ["ROUTER_PATH", "render_order", "route_handlers"]

ROUTER_PATH = "/pinduoduo/api/router"
DOWNLOAD_PATH = "/pinduoduo/bill/download"
P = Platform.PINDUODUO
TIMESTAMP_TOLERANCE = timedelta(minutes=10)
MAX_WINDOW = timedelta(minutes=30)

ORDER_STATUS = {  # 发货状态: 1 待发货, 2 已发货待签收, 3 已签收
    OrderState.PENDING_PAYMENT: 1,
    OrderState.PAID: 1,
    OrderState.SHIPPED: 2,
    OrderState.COMPLETED: 3,
    OrderState.CANCELLED: 1,
}
REFUND_STATUS = {RefundState.NONE: 1, RefundState.REQUESTED: 2, RefundState.REFUNDED: 4}


def _yuan(fen: int) -> float:
    return round(fen / 100, 2)


def render_order(order: SimOrder) -> dict[str, Any]:
    """An order as ``order_sn_list[]`` / ``order_info`` carry it (money in yuan as numbers)."""
    r = order.receiver
    items = [
        {
            "goods_id": int(line.product_id),
            "sku_id": int(line.sku_id),
            "goods_name": line.title,
            "goods_spec": line.title.rsplit(" ", 1)[-1],
            "goods_count": line.qty,
            "goods_price": _yuan(line.unit_price),
            "outer_id": line.sku_code,
            "outer_goods_id": line.sku_code.split("-")[0],
            "goods_img": f"https://img.pddpic.com/goods/{line.product_id}.jpeg",
        }
        for line in order.lines
    ]
    return {
        "order_sn": order.order_id,
        "order_status": ORDER_STATUS[order.state],
        "refund_status": REFUND_STATUS[order.refund],
        "after_sales_status": {RefundState.NONE: 0, RefundState.REQUESTED: 2, RefundState.REFUNDED: 10}[order.refund],
        "confirm_status": 2 if order.state == OrderState.CANCELLED else (1 if order.paid_at else 0),
        "group_status": 1,
        "is_lucky_flag": 1,
        "trade_type": 0,
        "created_time": fmt_time(order.created_at),
        "confirm_time": fmt_time(order.paid_at),
        "pay_time": fmt_time(order.paid_at),
        "updated_at": fmt_time(order.updated_at),
        "shipping_time": fmt_time(order.shipped_at),
        "last_ship_time": fmt_time(order.paid_at + timedelta(hours=48)) if order.paid_at else "",
        "receiver_name": r.name,
        "receiver_phone": r.mobile,
        "receiver_address": r.detail,
        "country": "中国",
        "province": r.province,
        "city": r.city,
        "town": r.district,
        "address": f"{r.province}{r.city}{r.district}{r.town}{r.detail}",
        "pay_amount": _yuan(order.paid_amount),
        "goods_amount": _yuan(order.goods_amount),
        "discount_amount": _yuan(order.discount),
        "seller_discount": _yuan(order.discount),
        "platform_discount": 0.0,
        "postage": _yuan(order.shipping_fee),
        "pay_type": "WEIXIN",
        "buyer_memo": order.buyer_memo,
        "remark": order.seller_memo,
        "logistics_id": parse_int(order.company_code) or 0,
        "tracking_number": order.tracking_no,
        "item_list": items,
    }


def bill_csv(rows: list[dict[str, str]], encoding: str) -> bytes:
    """A day's 货款账单 as CSV bytes: the header row, then one row per line (extra columns appended)."""
    columns = list(PDD_BILL_COLUMNS)
    for row in rows:
        columns.extend(name for name in row if name not in columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([row.get(name, "") for name in columns] for row in rows)
    return out.getvalue().encode(encoding)


class _Call:
    def __init__(self, store: PlatformStore, params: dict[str, str], base_url: str = "") -> None:
        self.store = store
        self.params = params
        self.rid = request_id()
        self.base_url = base_url.rstrip("/")

    def error(self, code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> Reject:
        body = {"error_code": code, "error_msg": msg, "sub_code": sub_code or str(code), "sub_msg": sub_msg}
        return Reject({"error_response": {**body, "request_id": self.rid}}, f"{code}")

    def bad_param(self, sub_msg: str) -> Reject:
        return self.error(10000, "参数错误", "10000", sub_msg)

    def require(self, name: str) -> str:
        value = self.params.get(name, "")
        if value == "":
            raise self.bad_param(f"缺少必填参数 {name}")
        return value

    def require_int(self, name: str) -> int:
        value = parse_int(self.require(name))
        if value is None:
            raise self.bad_param(f"{name} 须为整数")
        return value

    def dispatch(self) -> dict[str, Any]:
        p = self.params
        api = p.get("type", "")
        if not api:
            raise self.error(10001, "公共参数错误:type")
        client_id = p.get("client_id", "")
        if not client_id:
            raise self.error(10001, "公共参数错误:client_id")
        account = self.store.find_seller(P, client_id)
        if account is None:
            raise self.error(10016, "client_id不存在", sub_msg="client_id 无效")
        if p.get("data_type", "JSON").upper() != "JSON":
            raise self.error(10001, "公共参数错误:data_type", sub_msg="本模拟器只支持 data_type=JSON")
        ts = parse_int(p.get("timestamp", ""))
        if ts is None:
            raise self.error(10001, "公共参数错误:timestamp")
        skew = abs(datetime.fromtimestamp(ts, SHANGHAI) - self.store.now())
        if self.store.check_timestamps and skew > TIMESTAMP_TOLERANCE:
            raise self.error(10001, "公共参数错误:timestamp", sub_msg="timestamp 与服务器时间相差过大")
        sign = p.get("sign", "")
        if not sign:
            raise self.error(10001, "公共参数错误:sign")
        if sign != pinduoduo_sign(p, account.app_secret):
            raise self.error(20004, "签名错误", sub_msg="sign 校验失败")
        handler = _METHODS.get(api)
        if handler is None:
            raise self.error(10001, "公共参数错误:type", sub_msg=f"接口 {api} 不存在")
        value = p.get("access_token", "")
        token = self.store.token(P, value) if value else None
        if token is None or token.app_key != client_id:
            raise self.error(10019, "access_token已过期", sub_msg="access_token 不存在或已失效，请重新授权")
        if token.expired(self.store.now()):
            raise self.error(10019, "access_token已过期", sub_msg="access_token 已过期，请刷新")
        fault = self.store.take_fault(P, api)
        if (fault is not None and fault.kind == "rate_limit") or self.store.over_qps(P, client_id):
            raise self.error(70031, "调用过于频繁，请调整调用频率", sub_msg="触发限流")
        if fault is not None:
            raise self.error(50001, "业务服务错误", sub_msg="服务暂不可用，请稍后重试")
        return handler(self, account)

    # ---------------------------------------------------------------- methods

    def increment_get(self, account: SellerAccount) -> dict[str, Any]:
        start = self.require_int("start_updated_at")
        end = self.require_int("end_updated_at")
        if end < start:
            raise self.bad_param("end_updated_at 不能早于 start_updated_at")
        if end - start > MAX_WINDOW.total_seconds():
            raise self.bad_param("start_updated_at 与 end_updated_at 的时间间隔不能超过30分钟")
        order_status = self.require_int("order_status")
        refund_status = self.require_int("refund_status")
        lucky = self.require_int("is_lucky_flag")
        if order_status not in (1, 2, 3, 5) or refund_status not in (1, 2, 3, 4, 5) or lucky not in (0, 1, 2):
            raise self.bad_param("order_status/refund_status/is_lucky_flag 取值不合法")
        page = parse_int(self.params.get("page", "1")) or 0
        page_size = parse_int(self.params.get("page_size", "100")) or 0
        if page < 1 or not 1 <= page_size <= 100:
            raise self.bad_param("page>=1, page_size 取值 1-100")
        window = iter_window(
            self.store.orders(P, account.app_key),
            datetime.fromtimestamp(start, SHANGHAI),
            datetime.fromtimestamp(end, SHANGHAI),
        )
        matched = [
            o
            for o in window
            if o.state != OrderState.PENDING_PAYMENT  # unpaid orders never show on 拼多多
            and (order_status == 5 or ORDER_STATUS[o.state] == order_status)
            and (refund_status == 5 or REFUND_STATUS[o.refund] == refund_status)
            and lucky != 2
        ]
        matched.sort(key=lambda o: (o.updated_at, o.order_id))
        chunk = matched[(page - 1) * page_size : page * page_size]
        payload: dict[str, Any] = {"order_sn_list": [render_order(o) for o in chunk]}
        if truthy(self.params.get("use_has_next", "false")):
            payload["has_next"] = page * page_size < len(matched)
        else:
            payload["total_count"] = len(matched)
        return {"order_sn_increment_get_response": {**payload, "request_id": self.rid}}

    def information_get(self, account: SellerAccount) -> dict[str, Any]:
        order = self.store.find_order(P, account.app_key, self.require("order_sn"))
        if order is None or order.state == OrderState.PENDING_PAYMENT:
            raise self.error(50001, "业务服务错误", sub_msg="订单不存在")
        return {"order_info_get_response": {"order_info": render_order(order), "request_id": self.rid}}

    def logistics_online_send(self, account: SellerAccount) -> dict[str, Any]:
        order_sn = self.require("order_sn")
        logistics_id = self.require_int("logistics_id")
        tracking = self.require("tracking_number")
        outcome = self.store.ship(
            P,
            account.app_key,
            order_sn,
            company_code=str(logistics_id),
            tracking_no=tracking,
            method="pdd.logistics.online.send",
            params=self.params,
        )
        if outcome == ShipOutcome.NOT_FOUND:
            raise self.error(50001, "业务服务错误", sub_msg="订单不存在")
        if outcome == ShipOutcome.ALREADY_SHIPPED:
            raise self.error(50001, "业务服务错误", sub_msg="订单已发货，请勿重复发货")
        if outcome == ShipOutcome.NOT_SHIPPABLE:
            raise self.error(50001, "业务服务错误", sub_msg="订单状态不允许发货")
        return {"logistics_online_send_response": {"is_success": True, "request_id": self.rid}}

    def goods_quantity_update(self, account: SellerAccount) -> dict[str, Any]:
        goods_id = self.require("goods_id")
        quantity = self.require_int("quantity")
        update_type = parse_int(self.params.get("update_type", "1"))
        if update_type not in (1, 2):
            raise self.bad_param("update_type 取值 1（全量）或 2（增量）")
        sku_id = self.params.get("sku_id") or None
        outer_id = self.params.get("outer_id") or None
        product = self.store.find_product(P, account.app_key, product_id=goods_id, sku_id=sku_id)
        if product is None and outer_id:
            product = self.store.product_by_code(P, account.app_key, outer_id)
            if product is not None and product.product_id != goods_id:
                product = None
        if product is None:
            raise self.error(50001, "业务服务错误", sub_msg="商品或SKU不存在")
        update = self.store.update_stock(
            P,
            account.app_key,
            product,
            quantity,
            mode="full" if update_type == 1 else "incremental",
            method="pdd.goods.quantity.update",
            params=self.params,
        )
        if update is None:
            raise self.bad_param("库存不能小于0")
        return {"goods_quantity_update_response": {"is_success": True, "request_id": self.rid}}

    def daily_bill_url(self, account: SellerAccount) -> dict[str, Any]:
        raw = self.require("bill_date")
        try:
            day = date.fromisoformat(raw) if len(raw) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise self.bad_param("bill_date 格式为 yyyy-MM-dd")
        data = self.store.settlements
        if not data.bill_ready(day):
            raise self.error(50001, "业务服务错误", sub_msg="账单尚未生成（T+1）")
        with data.lock:
            rows = data.pdd_bills.get((account.app_key, day))
            rows = [dict(r) for r in rows] if rows is not None else None
        if rows is None:
            raise self.error(50001, "业务服务错误", sub_msg="账单不存在")
        content = bill_csv(rows, data.pdd_bill_encoding)
        name = f"{account.shop_id}_{day:%Y%m%d}_货款账单.csv"
        token = data.publish_download(content, name, "text/csv", data.pdd_url_ttl)
        url = f"{self.base_url}{DOWNLOAD_PATH}?token={token}"
        return {"finance_balance_daily_bill_url_get_response": {"download_url": url, "request_id": self.rid}}


_METHODS = {
    "pdd.finance.balance.daily.bill.url.get": _Call.daily_bill_url,
    "pdd.order.number.list.increment.get": _Call.increment_get,
    "pdd.order.information.get": _Call.information_get,
    "pdd.logistics.online.send": _Call.logistics_online_send,
    "pdd.goods.quantity.update": _Call.goods_quantity_update,
}


@route(ROUTER_PATH, http_method=["GET", "POST"], status_code=200)
async def pinduoduo_router(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = store_of(request)
    body, params = await read_body_and_params(request)
    if "json" in request.headers.get("content-type", "").lower() and body.strip():
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in decoded.items()})
    api = params.get("type", "")
    client_id = params.get("client_id", "")
    fault = store.take_fault(P, api, http=True)
    if fault is not None:
        store.log_request(P, api, client_id, params, f"http {fault.http_status}", fault.http_status)
        return gateway_error_page(fault.http_status)
    try:
        answer = _Call(store, params, str(request.base_url)).dispatch()
        outcome = "ok"
    except Reject as reject:
        answer, outcome = dict(reject.body), reject.outcome
    store.log_request(P, api, client_id, params, outcome)
    return json_response(answer)


@get(DOWNLOAD_PATH, sync_to_thread=False)
def pinduoduo_bill_download(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = store_of(request)
    item = store.settlements.take_download(str(request.query_params.get("token", "")))
    if item is None:
        return Response(content="链接已失效".encode(), status_code=404, media_type="text/plain;charset=utf-8")
    return Response(
        content=item.content,
        status_code=200,
        media_type=f"text/csv;charset={store.settlements.pdd_bill_encoding}",
        headers={"Content-Disposition": "attachment; filename*=UTF-8''" + quote(item.file_name)},
    )


route_handlers = [pinduoduo_router, pinduoduo_bill_download]
