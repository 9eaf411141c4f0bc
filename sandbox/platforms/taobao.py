"""Taobao/Tmall open platform (TOP) simulator: ``POST /taobao/router/rest``.

System params (query string or form body): ``method``, ``app_key``, ``session``, ``timestamp``
(``YYYY-MM-DD HH:MM:SS`` Beijing time, ±10 min), ``format=json``, ``v=2.0``, ``sign_method`` (``md5`` — the
default —, ``hmac``, ``hmac-sha256``) and ``sign`` (see :func:`sandbox.platforms.signing.taobao_sign`).

Methods: ``taobao.trades.sold.increment.get``, ``taobao.trade.fullinfo.get``, ``taobao.logistics.offline.send``,
``taobao.item.quantity.update``, ``taobao.top.oaid.decrypt``, ``taobao.top.auth.token.refresh``, and the fee-bill
APIs of 账务API (自研发商家专用) ``taobao.bill.accounts.get``, ``taobao.bill.bills.get`` and
``taobao.bill.book.bills.get`` (seeded with ``store.add_top_fee_bill`` …, see :mod:`sandbox.platforms.settlements`).
Successes answer ``{"<method without taobao., dots→_>_response": {...}}``; errors answer
``{"error_response": {"code", "msg", "sub_code", "sub_msg", "request_id"}}``, both with HTTP 200.
As on TOP, empty collections are left out (no ``trades`` key when nothing matched) and ``fields`` selects what a
trade carries.

Receivers (OAID, the default): a shop's app is on TOP's OAID scheme, so trades carry ``oaid`` and the receiver's
name / mobile / street address masked; only ``taobao.top.oaid.decrypt`` gives them back (per-shop daily volume:
:func:`set_decrypt_quota`). :func:`serve_clear_receivers` turns an app into one not on OAID (clear receiver, no
``oaid``: "appkey未对接oaid加密"), for tests that read receivers in clear. Refresh: by default an app is a 服务市场 app
whose refresh token refreshes; :func:`make_merchant_backend_app` makes it a 商家后台 app (fixed-length session, no
refresh). The TOP-specific state lives beside the store (:func:`top_state`), not in it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

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
    SHANGHAI,
    OrderState,
    Platform,
    PlatformStore,
    Receiver,
    RefundState,
    SellerAccount,
    ShipOutcome,
    SimOrder,
    iter_window,
)

__all__ = [
    "COMPANY_CODES",
    "DECRYPT_BATCH",
    "DECRYPT_SCENES",
    "ROUTER_PATH",
    "CainiaoWaybill",
    "TopState",
    "deny_decrypt",
    "make_merchant_backend_app",
    "oaid_of",
    "render_trade",
    "route_handlers",
    "serve_clear_receivers",
    "set_decrypt_quota",
    "top_state",
]

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


# ------------------------------------------------------------------ OAID
#
# taobao.top.oaid.decrypt (OAID解密, http://developer.alibaba.com/docs/api.htm?apiId=54714): ``query_list`` of
# ReceiverQuery — "解密请求列表，最多支持20个"; ``oaid`` 必须 ("收件人ID … 长度在128个字符之内"), ``tid`` 必须
# (交易订单ID), ``scene`` 可选 (the codes below), ``secret_no_days`` 可选; answers ``receiver_list`` of Receiver
# (name, mobile, phone, address_detail, town, district, city, state, country, oaid, tid, matched:
# "oaid是否和tid当前的oaid匹配").
# The OAID (TOP「隐私字段名词解释」, http://doc.alidayu.com/docs/doc.htm?articleId=120397&docType=1&treeId=1) is made
# from receiver_name, receiver_mobile, receiver_phone, receiver_address, created, sellerId and appkey: another shop,
# another app or another 自然周 of ``created`` gives another OAID for the same receiver. Here it is an HMAC of those.
# The masked forms follow what TOP answers show (receiver_name "张**", receiver_mobile "*******5552", receiver_address
# "龙*街道花**路**号…"; state/city/district/town clear).
DECRYPT_BATCH = 20
DECRYPT_SCENES = frozenset({"1001", "1002", "1003", "1004", "1005", "1006", "1007", "2001", "2002"})
DEFAULT_DECRYPT_QUOTA = 200  # a shop's decrypts a Beijing day (TOP sets it per shop; tests set a small one)
OAID_METHODS = ("taobao.trades.sold.increment.get", "taobao.trade.fullinfo.get")


@dataclass
class TopState:
    """The TOP simulator's own knowledge beside the store: which apps are not on OAID, decrypt volumes, the OAIDs
    issued per trade (with the receiver each stands for), which apps may not decrypt, which are 商家后台 apps."""

    clear_apps: set[str] = field(default_factory=set)
    decrypt_quota: int = DEFAULT_DECRYPT_QUOTA
    quota_by_app: dict[str, int] = field(default_factory=dict)
    decrypts: dict[tuple[str, date], int] = field(default_factory=dict)
    issued: dict[tuple[str, str], dict[str, Receiver]] = field(default_factory=dict)  # (app, tid) → oaid → receiver
    no_decrypt: set[str] = field(default_factory=set)
    merchant_backend: set[str] = field(default_factory=set)
    waybills: list[CainiaoWaybill] = field(default_factory=list)  # 菜鸟电子面单 issued (cainiao.waybill.ii.get)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class CainiaoWaybill:
    """One 菜鸟 waybill the simulator issued: to whom (the OAID and tid, or the clear receiver it was sent)."""

    app_key: str
    cp_code: str
    object_id: str
    waybill_code: str
    tid: str
    oaid: str
    recipient: dict[str, Any]
    cancelled: bool = False


_STATES: weakref.WeakKeyDictionary[PlatformStore, TopState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def top_state(store: PlatformStore) -> TopState:
    with _STATES_LOCK:
        state = _STATES.get(store)
        if state is None:
            state = _STATES[store] = TopState()
        return state


def serve_clear_receivers(store: PlatformStore, app_key: str, clear: bool = True) -> None:
    """Make the app one not on OAID (clear receivers, no ``oaid``), or (``clear=False``) an OAID app again."""
    state = top_state(store)
    with state.lock:
        (state.clear_apps.add if clear else state.clear_apps.discard)(app_key)


def set_decrypt_quota(store: PlatformStore, quota: int, *, app_key: str | None = None) -> None:
    """How many receivers a shop may decrypt a day (every shop's, or one app's)."""
    state = top_state(store)
    with state.lock:
        if app_key is None:
            state.decrypt_quota = quota
        else:
            state.quota_by_app[app_key] = quota


def deny_decrypt(store: PlatformStore, app_key: str) -> None:
    """The app lacks the OAID decrypt permission (taobao.top.oaid.decrypt answers 11)."""
    state = top_state(store)
    with state.lock:
        state.no_decrypt.add(app_key)


def make_merchant_backend_app(store: PlatformStore, app_key: str) -> None:
    """A 商家后台 app: its refresh token refreshes nothing (taobao.top.auth.token.refresh refuses)."""
    state = top_state(store)
    with state.lock:
        state.merchant_backend.add(app_key)


def oaid_of(order: SimOrder, account: SellerAccount) -> str:
    """The OAID of the order's current receiver for this shop and app."""
    r = order.receiver
    year, week, _ = order.created_at.astimezone(SHANGHAI).isocalendar()
    text = "|".join([account.app_key, account.shop_id, r.name, r.mobile, r.town + r.detail, f"{year}-W{week:02d}"])
    digest = hmac.new(account.app_secret.encode(), text.encode(), hashlib.sha256).digest()
    return "1" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _mask_name(name: str) -> str:
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def _mask_mobile(mobile: str) -> str:
    return "*" * max(0, len(mobile) - 4) + mobile[-4:] if mobile else ""


def _mask_address(detail: str) -> str:
    """Digits and every other character of the street address starred (``文三路 90 号 501`` → ``文*路 ** * ***``)."""
    out: list[str] = []
    for index, char in enumerate(detail):
        out.append("*" if char.isdigit() or (index % 2 == 1 and not char.isspace()) else char)
    return "".join(out)


def protect_receiver(trade: dict[str, Any], order: SimOrder, account: SellerAccount) -> str:
    """Put the OAID and the masked receiver into a rendered trade (in place); the OAID."""
    oaid = oaid_of(order, account)
    r = order.receiver
    trade["oaid"] = oaid
    trade["receiver_name"] = _mask_name(r.name)
    trade["receiver_mobile"] = _mask_mobile(r.mobile)
    trade["receiver_address"] = _mask_address(r.detail if r.detail.startswith(r.town) else r.town + r.detail)
    return oaid


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
        if method not in _WITHOUT_SESSION:
            session = p.get("session", "")
            if not session:
                raise self.error(26, "Missing session")
            token = self.store.token(P, session)
            if token is None or token.app_key != app_key or token.expired(self.store.now()):
                # 27 Invalid Session; sub_msg as TOP support quotes it for invalid-sessionkey
                raise self.error(
                    27,
                    "Invalid session",
                    "invalid-sessionkey",
                    "非法或过期的SessionKey参数，请使用有效的SessionKey参数",
                )
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
            payload["trades"] = {"trade": [_select(self.trade(o, account), fields) for o in page]}
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
        return self.ok("taobao.trade.fullinfo.get", {"trade": _select(self.trade(order, account), fields)})

    def trade(self, order: SimOrder, account: SellerAccount) -> dict[str, Any]:
        """The trade as this app sees it: OAID and masked receiver, unless the app is not on OAID."""
        trade = render_trade(order, account)
        state = top_state(self.store)
        with state.lock:
            if account.app_key in state.clear_apps:
                return trade
            oaid = protect_receiver(trade, order, account)
            state.issued.setdefault((account.app_key, order.order_id), {})[oaid] = replace(order.receiver)
        return trade

    # ------------------------------------------------------------ OAID decrypt

    def top_oaid_decrypt(self, account: SellerAccount) -> dict[str, Any]:
        """taobao.top.oaid.decrypt (see the OAID notes above). Refusals: 40 Missing Required Arguments (no
        query_list, a query without oaid or tid), 41 Invalid Arguments (not a JSON list, over 20 queries, a scene
        not in the documented list) — TOP's platform codes; 11 Insufficient ISV Permissions with sub code
        isv.permission-api-package-limit ("关联的包中不允许访问该API") for an app without the permission; the shop's
        daily volume used up: 7 App Call Limited, accesscontrol.limited-by-app-access-count ("对每个应用（appkey）
        调用流量的限制"), "This ban will last for N more seconds" (until Beijing midnight) — the API page's own error
        table is in no copy reachable here, so these are TOP's documented platform codes; an oaid that was never
        this tid's: 15 Remote service error, isv.invalid-parameter:oaid."""
        raw = self.require("query_list")
        try:
            queries = json.loads(raw)
        except ValueError:
            queries = None
        if not isinstance(queries, list) or not queries or not all(isinstance(q, dict) for q in queries):
            raise self.error(41, "Invalid arguments", "isv.invalid-parameter:query_list", "query_list 应为 JSON 数组")
        if len(queries) > DECRYPT_BATCH:
            raise self.error(
                41, "Invalid arguments", "isv.invalid-parameter:query_list", f"解密请求列表，最多支持{DECRYPT_BATCH}个"
            )
        for query in queries:
            for name in ("oaid", "tid"):
                if not str(query.get(name) or ""):
                    raise self.error(
                        40, "Missing required arguments", f"isv.missing-parameter:{name}", f"缺少参数 {name}"
                    )
            scene = str(query.get("scene") or "")
            if scene and scene not in DECRYPT_SCENES:
                raise self.error(41, "Invalid arguments", "isv.invalid-parameter:scene", f"不支持的解密场景 {scene}")
        state = top_state(self.store)
        now = self.store.now()
        with state.lock:
            if account.app_key in state.no_decrypt:
                raise self.error(
                    11, "Insufficient isv permissions", "isv.permission-api-package-limit", "关联的包中不允许访问该API"
                )
            day = now.date()
            used = state.decrypts.get((account.app_key, day), 0)
            quota = state.quota_by_app.get(account.app_key, state.decrypt_quota)
            if used + len(queries) > quota:
                midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)
                raise self.error(
                    7,
                    "App Call Limited",
                    "accesscontrol.limited-by-app-access-count",
                    f"This ban will last for {int((midnight - now).total_seconds()) + 1} more seconds",
                )
            receivers: list[dict[str, Any]] = []
            for query in queries:
                tid, oaid = str(query["tid"]), str(query["oaid"])
                order = self.store.find_order(P, account.app_key, tid)
                known = state.issued.get((account.app_key, tid), {})
                if order is None or oaid not in known:
                    raise self.error(15, "Remote service error", "isv.invalid-parameter:oaid", f"oaid与交易{tid}不匹配")
                r = known[oaid]
                receivers.append(
                    {
                        "tid": tid,
                        "oaid": oaid,
                        "name": r.name,
                        "mobile": r.mobile,
                        "address_detail": r.detail,
                        "town": r.town,
                        "district": r.district,
                        "city": r.city,
                        "state": r.province,
                        "country": "中国",
                        "matched": oaid == oaid_of(order, account),
                    }
                )
            state.decrypts[(account.app_key, day)] = used + len(queries)
        return self.ok("taobao.top.oaid.decrypt", {"receiver_list": {"receiver": receivers}})

    # ------------------------------------------------------------ token refresh

    def top_auth_token_refresh(self, account: SellerAccount) -> dict[str, Any]:
        """taobao.top.auth.token.refresh (刷新Access Token, 不需要授权): ``refresh_token``; answers ``token_result``, a
        JSON text with the fields of TOP's token answer (access_token, token_type, expires_in, expire_time in ms,
        refresh_token, re_expires_in, refresh_token_valid_time in ms, r1/r2/w1/w2_expires_in and *_valid,
        taobao_user_id, taobao_user_nick URL-encoded — as a real answer shows them). "目前只有服务市场订购类应用可以
        刷新token，其他类型应用（如商家后台）使用固定时长token，不提供刷新功能": a 商家后台 app, or a refresh token that
        is unknown, used or expired, is refused with 41 Invalid Arguments (isv.invalid-parameter:refresh_token) —
        the page names no sub code for it."""
        value = self.require("refresh_token")
        state = top_state(self.store)
        with state.lock:
            backend = account.app_key in state.merchant_backend
        if backend:
            raise self.error(
                41,
                "Invalid arguments",
                "isv.invalid-parameter:refresh_token",
                "该应用不支持刷新token（仅服务市场订购类应用）",
            )
        token = self.store.refresh_access_token(P, account.app_key, value)
        if isinstance(token, str):
            raise self.error(
                41, "Invalid arguments", "isv.invalid-parameter:refresh_token", "refresh_token无效或已过期"
            )
        now = self.store.now()
        expires_in = int((token.expires_at - now).total_seconds())
        re_expires_in = int((token.refresh_expires_at - now).total_seconds())
        expire_ms = int(token.expires_at.timestamp() * 1000)
        result: dict[str, Any] = {
            "access_token": token.token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "expire_time": expire_ms,
            "refresh_token": token.refresh_token,
            "re_expires_in": re_expires_in,
            "refresh_token_valid_time": int(token.refresh_expires_at.timestamp() * 1000),
            "taobao_user_id": account.shop_id,
            "taobao_user_nick": quote(account.seller_nick),
        }
        for level in ("r1", "r2", "w1", "w2"):
            result[f"{level}_expires_in"] = expires_in
            result[f"{level}_valid"] = expire_ms
        return self.ok("taobao.top.auth.token.refresh", {"token_result": json.dumps(result, ensure_ascii=False)})

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


# 菜鸟电子面单 (cainiao.waybill.ii.get / .cancel), written from the request / response models TOP's generated SDKs carry
# (github.com/bububa/opentaobao model/waybill: WaybillCloudPrintApplyNewRequest — cp_code, sender, need_encrypt,
# trade_order_info_dtos "请求面单信息，数量限制为10"; TradeOrderInfoDTO — object_id, order_info{order_channels_type,
# trade_order_list}, package_info{id, items "数量限制为100", weight}, recipient, template_url, user_id;
# RecipientInfoDTO — name, mobile, phone, address, oaid "淘宝订单加密情况用于解密", tid; WaybillCloudPrintResponse —
# object_id, waybill_code, print_data "encryptedData表示加密结果", parent_waybill_code; cancel: cp_code, waybill_code →
# cancel_result). Refusals use TOP's platform codes: 40 Missing Required Arguments, 41 Invalid Arguments, and 15 with
# an isv. sub code for an oaid that is not the order's current one (the pages name no sub codes).
WAYBILL_DTO_LIMIT = 10


def _waybill_number(cp_code: str, rng_source: str) -> str:
    digits = str(int(hashlib.sha256(rng_source.encode()).hexdigest(), 16))[:12]
    return {"SF": "SF1", "JD": "JDV", "YTO": "YT", "JTSD": "JT"}.get(cp_code, "7") + digits


def _cainiao_waybill_get(call: _Call, account: SellerAccount) -> dict[str, Any]:
    raw = call.require("param_waybill_cloud_print_apply_new_request")
    try:
        request = json.loads(raw)
    except ValueError:
        request = None
    if not isinstance(request, dict):
        raise call.error(41, "Invalid arguments", "isv.invalid-parameter:param_waybill_cloud_print_apply_new_request")
    cp_code = str(request.get("cp_code") or "")
    if cp_code not in COMPANY_CODES:
        raise call.error(41, "Invalid arguments", "isv.invalid-parameter:cp_code", f"不支持的物流公司 {cp_code}")
    dtos = request.get("trade_order_info_dtos")
    if (
        not isinstance(dtos, list)
        or not 1 <= len(dtos) <= WAYBILL_DTO_LIMIT
        or not all(isinstance(d, dict) for d in dtos)
    ):
        raise call.error(
            41, "Invalid arguments", "isv.invalid-parameter:trade_order_info_dtos", "请求面单信息，数量限制为10"
        )
    sender = request.get("sender")
    if not isinstance(sender, dict) or not sender.get("name") or not isinstance(sender.get("address"), dict):
        raise call.error(40, "Missing required arguments", "isv.missing-parameter:sender", "缺少发货人信息")
    state = top_state(call.store)
    modules: list[dict[str, Any]] = []
    for dto in dtos:
        object_id = str(dto.get("object_id") or "")
        recipient = dto.get("recipient")
        order_info = dto.get("order_info")
        if not object_id or not isinstance(recipient, dict) or not isinstance(order_info, dict):
            raise call.error(40, "Missing required arguments", "isv.missing-parameter:trade_order_info_dto")
        if not dto.get("template_url"):
            raise call.error(40, "Missing required arguments", "isv.missing-parameter:template_url")
        given = recipient.get("address")
        address: dict[str, Any] = given if isinstance(given, dict) else {}
        oaid = str(recipient.get("oaid") or "")
        trades = order_info.get("trade_order_list")
        tid = str(recipient.get("tid") or (trades[0] if isinstance(trades, list) and trades else ""))
        if oaid:
            order = call.store.find_order(P, account.app_key, tid)
            with state.lock:
                known = state.issued.get((account.app_key, tid), {})
            if order is None or oaid not in known or oaid != oaid_of(order, account):
                raise call.error(15, "Remote service error", "isv.invalid-parameter:oaid", f"oaid与交易{tid}不匹配")
        else:
            clear = [str(recipient.get("name") or ""), str(recipient.get("mobile") or recipient.get("phone") or "")]
            clear.append(str(address.get("detail") or ""))
            if not all(clear):
                raise call.error(40, "Missing required arguments", "isv.missing-parameter:recipient")
            if any("*" in value for value in clear):  # masked values without the OAID that decrypts them
                raise call.error(41, "Invalid arguments", "isv.invalid-parameter:recipient", "收件人信息不完整")
        with state.lock:
            issued = next(
                (
                    w
                    for w in state.waybills
                    if (w.app_key, w.cp_code, w.object_id) == (account.app_key, cp_code, object_id) and not w.cancelled
                ),
                None,
            )
            if issued is None:
                number = _waybill_number(cp_code, f"{account.app_key}|{cp_code}|{object_id}|{len(state.waybills)}")
                issued = CainiaoWaybill(account.app_key, cp_code, object_id, number, tid, oaid, dict(recipient))
                state.waybills.append(issued)
        content = {"waybillCode": issued.waybill_code, "cpCode": cp_code, "objectId": object_id, "oaid": oaid}
        print_data = {
            "encryptedData": base64.b64encode(json.dumps(content).encode()).decode(),
            "signature": hashlib.md5(issued.waybill_code.encode()).hexdigest(),
            "templateURL": str(dto["template_url"]),
            "ver": "waybill_print_secret_version_1",
        }
        modules.append(
            {"object_id": object_id, "waybill_code": issued.waybill_code, "print_data": json.dumps(print_data)}
        )
    return call.ok(GET_WAYBILL, {"modules": {"waybill_cloud_print_response": modules}})


def _cainiao_waybill_cancel(call: _Call, account: SellerAccount) -> dict[str, Any]:
    cp_code, code = call.require("cp_code"), call.require("waybill_code")
    state = top_state(call.store)
    with state.lock:
        found = next(
            (w for w in state.waybills if (w.app_key, w.cp_code, w.waybill_code) == (account.app_key, cp_code, code)),
            None,
        )
        if found is None:
            raise call.error(15, "Remote service error", "isv.invalid-parameter:waybill_code", "面单号不存在")
        done = not found.cancelled
        found.cancelled = True
    return call.ok(CANCEL_WAYBILL, {"cancel_result": done})


GET_WAYBILL = "cainiao.waybill.ii.get"
CANCEL_WAYBILL = "cainiao.waybill.ii.cancel"

_METHODS = {
    "taobao.trades.sold.increment.get": _Call.trades_sold_increment_get,
    "taobao.trade.fullinfo.get": _Call.trade_fullinfo_get,
    "taobao.logistics.offline.send": _Call.logistics_offline_send,
    "taobao.item.quantity.update": _Call.item_quantity_update,
    "taobao.bill.accounts.get": _Call.bill_accounts_get,
    "taobao.bill.bills.get": _Call.bill_bills_get,
    "taobao.bill.book.bills.get": _Call.bill_book_bills_get,
    "taobao.top.oaid.decrypt": _Call.top_oaid_decrypt,
    "taobao.top.auth.token.refresh": _Call.top_auth_token_refresh,
    GET_WAYBILL: _cainiao_waybill_get,
    CANCEL_WAYBILL: _cainiao_waybill_cancel,
}
_WITHOUT_SESSION = frozenset({"taobao.top.auth.token.refresh"})  # 不需要授权: the app's keys and the refresh token


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
