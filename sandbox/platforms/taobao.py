"""Taobao/Tmall open platform (TOP) simulator: ``POST /taobao/router/rest``.

System params (query string or form body): ``method``, ``app_key``, ``session``, ``timestamp``
(``YYYY-MM-DD HH:MM:SS`` Beijing time, ±10 min), ``format=json``, ``v=2.0``, ``sign_method`` (``md5`` — the
default —, ``hmac``, ``hmac-sha256``) and ``sign`` (see :func:`sandbox.platforms.signing.taobao_sign`).

Methods: ``taobao.trades.sold.increment.get``, ``taobao.trade.fullinfo.get``, ``taobao.logistics.offline.send``,
``taobao.item.quantity.update``, and the fee-bill APIs of 账务API (自研发商家专用) ``taobao.bill.accounts.get``,
``taobao.bill.bills.get`` and ``taobao.bill.book.bills.get`` (seeded with ``store.add_top_fee_bill`` …, see
:mod:`sandbox.platforms.settlements`). Successes answer ``{"<method without taobao., dots→_>_response": {...}}``; errors
answer ``{"error_response": {"code", "msg", "sub_code", "sub_msg", "request_id"}}``, both with HTTP 200.
As on TOP, empty collections are left out (no ``trades`` key when nothing matched) and ``fields`` selects what a
trade carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
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
    request_id,
    store_of,
    truthy,
    yuan,
)
from sandbox.platforms.settlements import TOP_BILL_FIELDS, TOP_BOOK_BILL_FIELDS, TOP_FEE_ACCOUNT_FIELDS
from sandbox.platforms.signing import TOP_SIGN_METHODS, taobao_sign
from sandbox.platforms.store import (
    OrderState,
    Platform,
    PlatformStore,
    RefundState,
    SellerAccount,
    ShipOutcome,
    SimOrder,
    iter_window,
)

__all__ = ["COMPANY_CODES", "ROUTER_PATH", "render_trade", "route_handlers"]

ROUTER_PATH = "/taobao/router/rest"
P = Platform.TAOBAO
TIMESTAMP_TOLERANCE = timedelta(minutes=10)
MAX_WINDOW = timedelta(days=1)
BILL_WINDOW = timedelta(days=1)  # bills.get: 结束时间-开始时间不能大于1天(根据order_id或者trade_id查询除外)
BOOK_BILL_WINDOW = timedelta(days=30)  # book.bills.get: end_time与start_time相差不能超过30天
BILL_RESULT_CAP = 5000  # bills.get: 相同的查询时间段条件下,最大只能获取总共5000条记录

# 物流公司 codes accepted by taobao.logistics.offline.send (a common subset).
COMPANY_CODES = frozenset(
    {"SF", "ZTO", "YTO", "STO", "YUNDA", "JTSD", "EMS", "POSTB", "JD", "DBKD", "HTKY", "BESTQJT", "ZJS", "OTHER"}
)

TRADE_STATUS = {
    OrderState.PENDING_PAYMENT: "WAIT_BUYER_PAY",
    OrderState.PAID: "WAIT_SELLER_SEND_GOODS",
    OrderState.SHIPPED: "WAIT_BUYER_CONFIRM_GOODS",
    OrderState.COMPLETED: "TRADE_FINISHED",
    OrderState.CANCELLED: "TRADE_CLOSED",
}
REFUND_STATUS = {
    RefundState.NONE: "NO_REFUND",
    RefundState.REQUESTED: "WAIT_SELLER_AGREE",
    RefundState.REFUNDED: "SUCCESS",
}


def render_trade(order: SimOrder, account: SellerAccount) -> dict[str, Any]:
    """A full TOP ``Trade`` (as ``taobao.trade.fullinfo.get`` returns it, before ``fields`` selection)."""
    status = TRADE_STATUS[order.state]
    if order.state == OrderState.CANCELLED and order.paid_at is None:
        status = "TRADE_CLOSED_BY_TAOBAO"
    r = order.receiver
    trade: dict[str, Any] = {
        "tid": int(order.order_id),
        "tid_str": order.order_id,
        "status": status,
        "type": "fixed",
        "seller_nick": account.seller_nick,
        "buyer_nick": order.buyer_nick,
        "created": fmt_time(order.created_at),
        "modified": fmt_time(order.updated_at),
        "payment": yuan(order.paid_amount),
        "total_fee": yuan(order.goods_amount),
        "post_fee": yuan(order.shipping_fee),
        "discount_fee": yuan(order.discount),
        "adjust_fee": "0.00",
        "shipping_type": "express",
        "receiver_name": r.name,
        "receiver_mobile": r.mobile,
        "receiver_state": r.province,
        "receiver_city": r.city,
        "receiver_district": r.district,
        "receiver_town": r.town,
        "receiver_address": r.detail,
        "receiver_zip": "000000",
        "buyer_message": order.buyer_memo,
        "seller_memo": order.seller_memo,
        "pay_time": fmt_time(order.paid_at),
        "consign_time": fmt_time(order.shipped_at),
    }
    lines = []
    for line, paid in zip(order.lines, order.line_payments(), strict=True):
        item: dict[str, Any] = {
            "oid": int(line.line_id),
            "oid_str": line.line_id,
            "num_iid": int(line.product_id),
            "sku_id": line.sku_id,
            "outer_iid": line.sku_code.split("-")[0],
            "outer_sku_id": line.sku_code,
            "title": line.title,
            "num": line.qty,
            "price": yuan(line.unit_price),
            "total_fee": yuan(line.amount),
            "payment": yuan(paid),
            "status": status,
            "refund_status": REFUND_STATUS[order.refund],
        }
        if order.tracking_no:
            item["invoice_no"] = order.tracking_no
            item["logistics_company"] = order.company_code
        lines.append(item)
    trade["orders"] = {"order": lines}
    # TOP leaves out empty values.
    return {k: v for k, v in trade.items() if v != ""}


def _select(trade: Mapping[str, Any], fields: str) -> dict[str, Any]:
    """Apply TOP's ``fields`` selection (``orders`` for whole sub-orders, ``orders.oid`` for single keys)."""
    wanted = {f.strip() for f in fields.split(",") if f.strip()}
    out = {k: v for k, v in trade.items() if k in wanted and k != "orders"}
    if "orders" in wanted:
        out["orders"] = trade["orders"]
    else:
        sub = {f.split(".", 1)[1] for f in wanted if f.startswith("orders.")}
        if sub:
            out["orders"] = {"order": [{k: v for k, v in o.items() if k in sub} for o in trade["orders"]["order"]]}
    return out


class _Call:
    def __init__(self, store: PlatformStore, params: dict[str, str]) -> None:
        self.store = store
        self.params = params
        self.rid = request_id()

    def error(self, code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> Reject:
        body: dict[str, Any] = {"code": code, "msg": msg}
        if sub_code:
            body["sub_code"] = sub_code
        if sub_msg:
            body["sub_msg"] = sub_msg
        body["request_id"] = self.rid
        return Reject({"error_response": body}, f"{code}/{sub_code}" if sub_code else str(code))

    def ok(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        name = method.removeprefix("taobao.").replace(".", "_") + "_response"
        return {name: {**payload, "request_id": self.rid}}

    def require(self, name: str) -> str:
        value = self.params.get(name, "")
        if value == "":
            raise self.error(40, "Missing required arguments", f"isv.missing-parameter:{name}", f"缺少参数 {name}")
        return value

    def dispatch(self) -> dict[str, Any]:
        p = self.params
        method = p.get("method", "")
        if not method:
            raise self.error(21, "Missing method")
        app_key = p.get("app_key", "")
        if not app_key:
            raise self.error(28, "Missing app key")
        account = self.store.find_seller(P, app_key)
        if account is None:
            raise self.error(29, "Invalid app Key")
        if p.get("format", "xml") != "json":
            raise self.error(23, "Invalid format", sub_msg="this simulator answers JSON only: send format=json")
        if not p.get("v"):
            raise self.error(32, "Missing version")
        if p["v"] != "2.0":
            raise self.error(34, "Unsupported version")
        if not p.get("timestamp"):
            raise self.error(30, "Missing timestamp")
        ts = parse_time(p["timestamp"])
        if ts is None or (self.store.check_timestamps and abs(ts - self.store.now()) > TIMESTAMP_TOLERANCE):
            raise self.error(31, "Invalid timestamp", sub_msg="时间戳错误，请使用北京时间，误差不超过10分钟")
        sign_method = p.get("sign_method", "md5")
        if not p.get("sign"):
            raise self.error(24, "Missing signature")
        if sign_method not in TOP_SIGN_METHODS:
            raise self.error(25, "Invalid signature", sub_msg=f"unsupported sign_method {sign_method}")
        if p["sign"] != taobao_sign(p, account.app_secret, sign_method):
            raise self.error(25, "Invalid signature")
        handler = _METHODS.get(method)
        if handler is None:
            raise self.error(22, "Invalid method")
        session = p.get("session", "")
        if not session:
            raise self.error(26, "Missing session")
        token = self.store.token(P, session)
        if token is None or token.app_key != app_key or token.expired(self.store.now()):
            raise self.error(27, "Invalid session", "invalid-sessionkey", "SessionKey非法或已过期")
        fault = self.store.take_fault(P, method)
        if (fault is not None and fault.kind == "rate_limit") or self.store.over_qps(P, app_key):
            raise self.error(
                7,
                "App Call Limited",
                "accesscontrol.limited-by-app-access-count",
                "This ban will last for 1 more seconds",
            )
        if fault is not None:
            raise self.error(15, "Remote service error", "isp.remote-service-error", "服务暂时不可用，请稍后重试")
        return handler(self, account)

    # ---------------------------------------------------------------- methods

    def trades_sold_increment_get(self, account: SellerAccount) -> dict[str, Any]:
        fields = self.require("fields")
        start = parse_time(self.require("start_modified"))
        end = parse_time(self.require("end_modified"))
        if start is None or end is None:
            raise self.error(41, "Invalid arguments", "isv.invalid-parameter", "时间格式应为 yyyy-MM-dd HH:mm:ss")
        if end < start or end - start > MAX_WINDOW:
            raise self.error(
                15, "Remote service error", "isv.invalid-parameter", "end_modified - start_modified 不能超过一天"
            )
        page_no = parse_int(self.params.get("page_no", "1")) or 0
        page_size = parse_int(self.params.get("page_size", "40")) or 0
        if page_no < 1 or not 1 <= page_size <= 100:
            raise self.error(41, "Invalid arguments", "isv.invalid-parameter", "page_no>=1, 1<=page_size<=100")
        status = self.params.get("status", "")
        matched = [
            o
            for o in iter_window(self.store.orders(P, account.app_key), start, end)
            if not status or render_trade(o, account)["status"] == status
        ]
        matched.sort(key=lambda o: (o.updated_at, o.order_id), reverse=True)  # newest change first
        page = matched[(page_no - 1) * page_size : page_no * page_size]
        payload: dict[str, Any] = {}
        if page:
            payload["trades"] = {"trade": [_select(render_trade(o, account), fields) for o in page]}
        if truthy(self.params.get("use_has_next", "false")):
            payload["has_next"] = page_no * page_size < len(matched)
        else:
            payload["total_results"] = len(matched)
        return self.ok("taobao.trades.sold.increment.get", payload)

    def trade_fullinfo_get(self, account: SellerAccount) -> dict[str, Any]:
        fields = self.require("fields")
        order = self.store.find_order(P, account.app_key, self.require("tid"))
        if order is None:
            raise self.error(15, "Remote service error", "isv.trade-not-exist", "交易不存在")
        return self.ok("taobao.trade.fullinfo.get", {"trade": _select(render_trade(order, account), fields)})

    def logistics_offline_send(self, account: SellerAccount) -> dict[str, Any]:
        tid = self.require("tid")
        out_sid = self.require("out_sid")
        company = self.require("company_code")
        if company not in COMPANY_CODES:
            raise self.error(
                15, "Remote service error", "isv.logistics-offline-service-error:S01", "物流公司编码不正确"
            )
        outcome = self.store.ship(
            P,
            account.app_key,
            tid,
            company_code=company,
            tracking_no=out_sid,
            method="taobao.logistics.offline.send",
            params=self.params,
        )
        if outcome == ShipOutcome.NOT_FOUND:
            raise self.error(15, "Remote service error", "isv.trade-not-exist", "交易不存在")
        if outcome == ShipOutcome.ALREADY_SHIPPED:
            raise self.error(
                15, "Remote service error", "isv.logistics-offline-service-error:B04", "订单已发货，不能重复发货"
            )
        if outcome == ShipOutcome.NOT_SHIPPABLE:
            raise self.error(
                15, "Remote service error", "isv.logistics-offline-service-error:B04", "交易状态不允许发货"
            )
        return self.ok("taobao.logistics.offline.send", {"shipping": {"is_success": True}})

    def item_quantity_update(self, account: SellerAccount) -> dict[str, Any]:
        num_iid = self.require("num_iid")
        quantity = parse_int(self.require("quantity"))
        update_type = self.params.get("type", "1")
        if quantity is None or update_type not in ("1", "2") or (update_type == "1" and quantity < 0):
            raise self.error(41, "Invalid arguments", "isv.invalid-parameter", "quantity/type 不合法")
        sku_id = self.params.get("sku_id") or None
        product = self.store.find_product(P, account.app_key, product_id=num_iid, sku_id=sku_id)
        if product is None:
            raise self.error(15, "Remote service error", "isv.item-not-exist", "商品或SKU不存在")
        update = self.store.update_stock(
            P,
            account.app_key,
            product,
            quantity,
            mode="full" if update_type == "1" else "incremental",
            method="taobao.item.quantity.update",
            params=self.params,
        )
        if update is None:
            raise self.error(15, "Remote service error", "isv.item-quantity-invalid", "库存不能小于0")
        total = sum(p.stock for p in self.store.products(P, account.app_key) if p.product_id == num_iid)
        item: dict[str, Any] = {"num_iid": int(num_iid), "num": total, "modified": fmt_time(update.at)}
        if sku_id:
            item["skus"] = {"sku": [{"sku_id": int(sku_id), "quantity": update.stock_after}]}
        return self.ok("taobao.item.quantity.update", {"item": item})

    # ------------------------------------------------------- 账务API (fee bills)
    #
    # Written from the API pages (open.taobao.com docId 21709 / 21713 / 21712, mirrored at
    # https://open.fliggy.com/docs/api.htm?apiId=21709, …=21713, …=21712). Lists come in TOP's JSON wrapping, the
    # element named after the structure: ``{"accounts": {"account": [...]}}``, ``{"bills": {"bill": [...]}}``,
    # ``{"bills": {"book_bill": [...]}}``. Argument errors are TOP's platform codes (40 Missing Required Arguments,
    # 41 Invalid Arguments, from the 平台错误码 table); the pages name the limits but no sub codes, so the sub codes
    # (``isv.missing-parameter:<name>``, ``isv.invalid-parameter:<name>``) follow TOP's usual pattern.

    def _fields(self, allowed: tuple[str, ...], *, max_items: int | None) -> list[str]:
        """``fields``: required; at most ``max_items`` names (the pages' 最大列表长度); names outside the structure
        are ignored (如果不是以上字段将自动忽略)."""
        names = [f.strip() for f in self.require("fields").split(",") if f.strip()]
        if max_items is not None and len(names) > max_items:
            raise self.error(41, "Invalid arguments", "isv.invalid-parameter:fields", f"fields 最多 {max_items} 个")
        return [f for f in names if f in allowed]

    def _time(self, name: str) -> datetime:
        value = parse_time(self.require(name))
        if value is None:
            raise self.error(
                41, "Invalid arguments", f"isv.invalid-parameter:{name}", "时间格式应为 yyyy-MM-dd HH:mm:ss"
            )
        return value

    def _page(self, *, low: int, high: int) -> tuple[int, int]:
        page_no = parse_int(self.params.get("page_no", "1") or "1")
        page_size = parse_int(self.params.get("page_size", "40") or "40")
        if page_no is None or page_no < 1:
            raise self.error(41, "Invalid arguments", "isv.invalid-parameter:page_no", "page_no 应为正整数")
        if page_size is None or not low <= page_size <= high:
            raise self.error(
                41, "Invalid arguments", "isv.invalid-parameter:page_size", f"page_size 可选范围 {low}~{high}"
            )
        return page_no, page_size

    def _id(self, name: str) -> int | None:
        raw = self.params.get(name, "")
        if raw == "":
            return None
        value = parse_int(raw)
        if value is None:
            raise self.error(41, "Invalid arguments", f"isv.invalid-parameter:{name}", f"{name} 应为数字")
        return value

    def bill_accounts_get(self, account: SellerAccount) -> dict[str, Any]:
        """taobao.bill.accounts.get (查询费用科目信息): ``fields`` (required, ≤ 20), ``aids`` (optional, ≤ 200 ids);
        answers ``accounts`` {account: [...]} and ``total_results`` (返回记录行数)."""
        fields = self._fields(TOP_FEE_ACCOUNT_FIELDS, max_items=20)
        wanted: set[int] | None = None
        raw = self.params.get("aids", "")
        if raw:
            ids = [parse_int(a.strip()) for a in raw.split(",") if a.strip()]
            if len(ids) > 200 or any(i is None for i in ids):
                raise self.error(41, "Invalid arguments", "isv.invalid-parameter:aids", "aids 为至多200个科目ID")
            wanted = {i for i in ids if i is not None}
        rows = [a for a in self.store.top_fee_accounts() if wanted is None or a["account_id"] in wanted]
        payload: dict[str, Any] = {"total_results": len(rows)}
        if rows:
            payload["accounts"] = {"account": [{k: a[k] for k in fields if a.get(k, "") != ""} for a in rows]}
        return self.ok("taobao.bill.accounts.get", payload)

    def bill_bills_get(self, account: SellerAccount) -> dict[str, Any]:
        """taobao.bill.bills.get (查询账单明细数据): ``fields`` (required, ≤ 20), ``start_time`` / ``end_time``
        (required; at most a day apart unless ``order_id`` or ``trade_id`` is given), ``time_type`` (1 biz_time,
        2 pay_time — the default; results newest first by it), ``account_id`` / ``trade_id`` / ``order_id`` filters,
        ``page_no`` (default 1), ``page_size`` (default 40, 40~100). Answers ``bills`` {bill: [...]}, ``has_next`` and
        ``total_results`` — the doc: 当前页查询返回的结果数(0-100), the count on this page, not the total; at most
        5000 records are reachable for one window."""
        fields = self._fields(TOP_BILL_FIELDS, max_items=20)
        start, end = self._time("start_time"), self._time("end_time")
        time_type = self.params.get("time_type", "2") or "2"
        if time_type not in ("1", "2"):
            raise self.error(41, "Invalid arguments", "isv.invalid-parameter:time_type", "time_type 为 1 或 2")
        account_id, trade_id, order_id = self._id("account_id"), self._id("trade_id"), self._id("order_id")
        if end < start:
            raise self.error(41, "Invalid arguments", "isv.invalid-parameter:end_time", "结束时间不能早于开始时间")
        if end - start > BILL_WINDOW and trade_id is None and order_id is None:
            raise self.error(41, "Invalid arguments", "isv.invalid-parameter:end_time", "结束时间-开始时间不能大于1天")
        page_no, page_size = self._page(low=40, high=100)
        at = "_biz" if time_type == "1" else "_pay"
        matched = [
            b
            for b in self.store.top_fee_bills(account.app_key)
            if start <= b[at] <= end
            and (account_id is None or b["account_id"] == account_id)
            and (trade_id is None or b["trade_id"] == str(trade_id))
            and (order_id is None or b["order_id"] == str(order_id))
        ]
        matched.sort(key=lambda b: (b[at], b["bid"]), reverse=True)  # 查询的结果会根据该时间倒排序
        matched = matched[:BILL_RESULT_CAP]
        page = matched[(page_no - 1) * page_size : page_no * page_size]
        payload: dict[str, Any] = {"has_next": page_no * page_size < len(matched), "total_results": len(page)}
        if page:
            payload["bills"] = {"bill": [{k: b[k] for k in fields if b.get(k, "") != ""} for b in page]}
        return self.ok("taobao.bill.bills.get", payload)

    def bill_book_bills_get(self, account: SellerAccount) -> dict[str, Any]:
        """taobao.bill.book.bills.get (查询虚拟账户明细数据): ``fields`` (required), ``account_id`` (required),
        ``start_time`` / ``end_time`` (required, ≤ 30 days apart, on book_time), ``journal_types`` (optional, ≤ 10),
        ``page_no``, ``page_size`` (default 40, ≤ 100). Answers ``bills`` {book_bill: [...]}, ``has_next`` and
        ``total_results`` (当前查询的结果数,非总数)."""
        fields = self._fields(TOP_BOOK_BILL_FIELDS, max_items=None)
        self.require("account_id")
        account_id = self._id("account_id")
        start, end = self._time("start_time"), self._time("end_time")
        if end < start or end - start > BOOK_BILL_WINDOW:
            raise self.error(
                41, "Invalid arguments", "isv.invalid-parameter:end_time", "end_time与start_time相差不能超过30天"
            )
        types: set[int] | None = None
        raw = self.params.get("journal_types", "")
        if raw:
            parsed = [parse_int(t.strip()) for t in raw.split(",") if t.strip()]
            if len(parsed) > 10 or any(t is None for t in parsed):
                raise self.error(
                    41, "Invalid arguments", "isv.invalid-parameter:journal_types", "journal_types 至多10个流水类型"
                )
            types = {t for t in parsed if t is not None}
        page_no, page_size = self._page(low=1, high=100)
        matched = [
            b
            for b in self.store.top_book_bills(account.app_key)
            if b["account_id"] == account_id
            and start <= b["_at"] <= end
            and (types is None or b["journal_type"] in types)
        ]
        matched.sort(key=lambda b: (b["_at"], b["bid"]))
        page = matched[(page_no - 1) * page_size : page_no * page_size]
        payload: dict[str, Any] = {"has_next": page_no * page_size < len(matched), "total_results": len(page)}
        if page:
            payload["bills"] = {"book_bill": [{k: b[k] for k in fields if b.get(k, "") != ""} for b in page]}
        return self.ok("taobao.bill.book.bills.get", payload)


_METHODS = {
    "taobao.trades.sold.increment.get": _Call.trades_sold_increment_get,
    "taobao.trade.fullinfo.get": _Call.trade_fullinfo_get,
    "taobao.logistics.offline.send": _Call.logistics_offline_send,
    "taobao.item.quantity.update": _Call.item_quantity_update,
    "taobao.bill.accounts.get": _Call.bill_accounts_get,
    "taobao.bill.bills.get": _Call.bill_bills_get,
    "taobao.bill.book.bills.get": _Call.bill_book_bills_get,
}


@route(ROUTER_PATH, http_method=["GET", "POST"], status_code=200)
async def taobao_router(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = store_of(request)
    _, params = await read_body_and_params(request)
    method = params.get("method", "")
    app_key = params.get("app_key", "")
    fault = store.take_fault(P, method, http=True)
    if fault is not None:
        store.log_request(P, method, app_key, params, f"http {fault.http_status}", fault.http_status)
        return gateway_error_page(fault.http_status)
    try:
        body = _Call(store, params).dispatch()
        outcome = "ok"
    except Reject as reject:
        body, outcome = dict(reject.body), reject.outcome
    store.log_request(P, method, app_key, params, outcome)
    return json_response(body)


route_handlers = [taobao_router]
