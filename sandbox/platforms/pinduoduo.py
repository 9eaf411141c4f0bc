"""拼多多 open platform (POP) simulator: ``POST /pinduoduo/api/router``.

Params as a form body, a JSON object body or the query string: ``type`` (the API name), ``client_id``,
``access_token``, ``timestamp`` (unix seconds, ±10 min), ``data_type=JSON``, ``version=V1`` and ``sign``
(see :func:`sandbox.platforms.signing.pinduoduo_sign`) plus the business params (an object or list param as its
JSON text). Source of the gateway rules: 拼多多开放平台「API调用指南」
https://open.pinduoduo.com/application/document/browse?idStr=8EC06C399636041E.

Methods: ``pdd.order.number.list.increment.get`` (window ``end_updated_at - start_updated_at`` ≤ 30 minutes),
``pdd.order.information.get``, ``pdd.logistics.online.send``, ``pdd.goods.quantity.update``,
``pdd.pop.auth.token.refresh``, ``pdd.open.decrypt.batch``, ``pdd.waybill.get``, ``pdd.waybill.cancel`` and
``pdd.finance.balance.daily.bill.url.get`` (商家货款日账单下载链接查询接口: ``bill_date`` ``yyyy-MM-dd`` →
``{"finance_balance_daily_bill_url_get_response": {"download_url"}}``, as the official POP SDK's
``PddFinanceBalanceDailyBillUrlGetResponse`` has it). The URL (``GET /pinduoduo/bill/download?token=…``) serves that
day's bill as a CSV (GBK by default, ``store.settlements.pdd_bill_encoding``; columns ``PDD_BILL_COLUMNS``) and stops
working after ``store.settlements.pdd_url_ttl`` (PDD documents no lifetime; 10 minutes here). Bills are T+1; asking
for today, a future day or a day with no bill answers ``50001`` "业务服务错误" with sub_msg 账单不存在/尚未生成 (PDD
does not document this method's business error codes; 50001 is its generic business failure). Errors answer
``{"error_response": {"error_code", "error_msg", "sub_code", "sub_msg", "request_id"}}`` with HTTP 200.
Money is yuan (JSON numbers), times ``YYYY-MM-DD HH:MM:SS``.

Error codes (the gateway's common error table every API page lists, 「错误码」; captured in lywzx/pdd-node-sdk
packages/scripts/test/util.spec.ts ``errorParamList``): 10000 参数错误, 10001 公共参数错误, 10016 client_id不正确,
10019 access_token已过期, 20004 签名sign校验失败, 50001 业务服务错误 (details in sub_msg), 70031 调用过于频繁; an
injected outage answers 52103 服务暂时不可用，请稍后重试 (the flow-control / availability codes the SDKs retry:
lywzx/pdd-node-sdk packages/core/src/exceptions/pdd-response.exception.ts).

Receivers are encrypted, as 拼多多 sends them now (「常见FAQ」 订单接口中收件人信息为什么都加密了,
https://open.pinduoduo.com/application/document/browse?idStr=3155CCB725082A31): ``receiver_name``,
``receiver_phone``, ``receiver_address`` (without 省市区) and ``address`` are ciphertexts in 拼多多's format
(「数据检索存储方案」 idStr=3407B605226E77F2, read as lywzx/pdd-node-sdk ``isEncryptData`` / ``extractIndex``: a phone
``$<search index>$<base64 ciphertext>$<key version>$$``, any other field ``~<base64 ciphertext>~<search index>~
<key version>~~``), with ``receiver_name_mask`` / ``receiver_phone_mask`` / ``receiver_address_mask`` /
``address_mask`` beside them and ``province`` / ``city`` / ``town`` in clear. The search index is the same for the
same value in the same shop; a ciphertext is stable for an order's value (a re-read is not a change). The clear
receiver stays in the store; the simulator remembers which order and shop each ciphertext it issued belongs to
(:func:`pdd_state`). Simplification: 拼多多 blanks the receiver of orders past 待发货; the simulator always sends it.

``pdd.open.decrypt.batch`` (批量数据解密; request ``data_list`` [{``data_tag`` (解密tag，对于订单数据是订单号),
``encrypted_data``}], "默认列表大小不超过100"; answer ``open_decrypt_batch_response.data_decrypt_list`` [{data_tag,
encrypted_data, decrypted_data, data_type, error_code (0 成功), error_msg, virtual_number_type,
virtual_identify_number}] — the SDK models niltor/open-pdd-net-sdk ``BatchOpenDecrypt`` / ``…Response``): more than
100 items is 10000; each shop has a daily decrypt quota (the FAQ: "每日解密次数有上限，上限以店铺纬度限制"; here
``pdd_state(store).decrypt_quota`` items a day, small so tests reach it) — a call beyond it is refused whole with
50001 and sub_msg 今日解密次数已达上限 (PDD names no dedicated code; 50001's rule is "请根据子错误判断错误详情"). The
API takes no reason or audit field, so none is required. An item whose ciphertext is not the shop's, or whose
``data_tag`` is not the order the ciphertext belongs to, answers that item with error_code 10000 (the response
documents ``error_code`` per item without listing values; 10000 is the table's 参数错误).

``pdd.pop.auth.token.refresh`` (``refresh_token`` → ``pop_auth_token_refresh_response`` {access_token, expires_at,
expires_in, refresh_token, refresh_token_expires_at, refresh_token_expires_in, owner_id, owner_name, scope} —
niltor/open-pdd-net-sdk ``RefreshPopAuthTokenResponse``) needs no access token; a refresh token this simulator did
not issue, already used or expired is refused with 10019 (the table's "access_token已过期 — 刷新access_token或者重新
授权": no refresh-specific code is documented in the sources, and a refused refresh means 重新授权).

``pdd.waybill.get`` / ``pdd.waybill.cancel`` (拼多多电子面单; see :func:`_Call.waybill_get`).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import itertools
import json
import secrets
import threading
import weakref
from dataclasses import dataclass, field
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

__all__ = [
    "DECRYPT_BATCH_LIMIT",
    "ROUTER_PATH",
    "WAYBILL_COMPANIES",
    "PddState",
    "SimWaybill",
    "is_ciphertext",
    "pdd_state",
    "render_order",
    "route_handlers",
]

ROUTER_PATH = "/pinduoduo/api/router"
DOWNLOAD_PATH = "/pinduoduo/bill/download"
P = Platform.PINDUODUO
TIMESTAMP_TOLERANCE = timedelta(minutes=10)
MAX_WINDOW = timedelta(minutes=30)
TOKEN_TTL = timedelta(days=1)
DECRYPT_BATCH_LIMIT = 100  # data_list: "数据列表, 默认列表大小不超过100"
WAYBILL_DTO_LIMIT = 10  # trade_order_info_dtos: "请求面单信息，数量限制为10"
TRADE_ORDER_LIMIT = 100  # order_info.trade_order_list: "订单号,数量限制100"
KEY_VERSION = "1"

# 拼多多电子面单 express companies (wp_code → how this simulator numbers their waybills). The codes are the 快递公司编码
# of pdd.logistics.companies.get; YZXB (邮政快递包裹) as published pdd.waybill.get requests use it.
WAYBILL_COMPANIES: dict[str, tuple[str, int]] = {
    "ZTO": ("7", 11),
    "YTO": ("YT", 13),
    "STO": ("77", 11),
    "YUNDA": ("43", 11),
    "SF": ("SF", 13),
    "JTSD": ("JT", 13),
    "EMS": ("98", 11),
    "YZXB": ("98", 11),
    "JD": ("JDVA", 11),
}

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


# ------------------------------------------------------------------------------------------- ciphertexts, state


@dataclass(frozen=True)
class _Plain:
    """What a ciphertext the simulator issued stands for."""

    app_key: str
    order_sn: str
    data_type: int  # the decrypt answer's data_type: 5 收件人, 6 收件人手机号, 7 收件人完整地址, 8 收件人详细地址
    value: str


@dataclass
class SimWaybill:
    app_key: str
    wp_code: str
    waybill_code: str
    object_id: str
    orders: list[str]
    recipient: dict[str, Any]  # as the request sent it (ciphertexts for a 拼多多 order)
    cancelled: bool = False


@dataclass
class PddState:
    """The 拼多多 simulator's own state for one store: ciphertexts issued, decrypt quota use, e-waybills.

    ``decrypt_quota``: items one shop may decrypt a day (tests lower it to reach the limit)."""

    decrypt_quota: int = 200
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    lock: threading.RLock = field(default_factory=threading.RLock)
    ciphers: dict[str, _Plain] = field(default_factory=dict)
    decrypted: dict[tuple[str, date], int] = field(default_factory=dict)
    waybills: dict[str, SimWaybill] = field(default_factory=dict)
    serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def plain(self, cipher: str) -> _Plain | None:
        with self.lock:
            return self.ciphers.get(cipher)

    def take_quota(self, app_key: str, day: date, items: int) -> bool:
        """Count ``items`` decrypts for the shop today, unless that goes beyond the quota (then nothing counts)."""
        with self.lock:
            used = self.decrypted.get((app_key, day), 0)
            if used + items > self.decrypt_quota:
                return False
            self.decrypted[(app_key, day)] = used + items
            return True

    def _mac(self, *parts: str, size: int) -> bytes:
        out = b""
        for block in itertools.count():
            if len(out) >= size:
                return out[:size]
            out += hmac.new(self.key, "|".join((str(block), *parts)).encode(), hashlib.sha256).digest()
        raise AssertionError("unreachable")

    def encrypt(self, app_key: str, order_sn: str, data_type: int, value: str) -> str:
        """The ciphertext of one field in 拼多多's format (stable for the same order and value), remembered."""
        if not value:
            return ""
        body = len(value.encode()) // 16 * 16 + 16
        sealed = self._mac("c", app_key, order_sn, str(data_type), value, size=12 + body)
        cipher = base64.b64encode(b"\x02\x00\x00\x00" + sealed)  # "AgAAAA…", as 拼多多's ciphertexts begin
        index_size = 9 if data_type in (5, 6) else 24
        index = base64.b64encode(self._mac("i", app_key, str(data_type), value, size=index_size)).decode()
        text = cipher.decode()
        token = f"${index}${text}${KEY_VERSION}$$" if data_type == 6 else f"~{text}~{index}~{KEY_VERSION}~~"
        with self.lock:
            self.ciphers[token] = _Plain(app_key, order_sn, data_type, value)
        return token

    def print_data(self, waybill_code: str, template_url: str) -> str:
        """The encrypted print message of a waybill: a JSON text for 拼多多's print component."""
        sealed = base64.b64encode(self._mac("p", waybill_code, size=96)).decode()
        signature = self._mac("s", waybill_code, size=16).hex()
        return json.dumps(
            {"encryptedData": sealed, "signature": signature, "templateUrl": template_url, "ver": "3"},
            separators=(",", ":"),
        )


_STATES: weakref.WeakKeyDictionary[PlatformStore, PddState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()
_RENDER_STATE = PddState()  # for render_order(order) without a store (tests render orders for mock gateways)


def pdd_state(store: PlatformStore) -> PddState:
    """The 拼多多 simulator's state for ``store`` (``pdd_state(sim.store).decrypt_quota = 3``)."""
    with _STATES_LOCK:
        state = _STATES.get(store)
        if state is None:
            state = _STATES[store] = PddState()
        return state


def is_ciphertext(value: str) -> bool:
    """Whether ``value`` has 拼多多's ciphertext form (``$…$…$1$$`` / ``~…~…~1~~``)."""
    if len(value) < 5 or value[0] != value[-1] or value[0] not in "$#~":
        return False
    parts = [part for part in value.split(value[0]) if part]
    return len(parts) >= 2 and parts[-1].isdigit()


def _mask_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def _mask_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 7 else "*" * len(digits)


def _mask_detail(detail: str) -> str:
    return "".join("*" if ch.isdigit() else ch for ch in detail)


def render_order(order: SimOrder, state: PddState | None = None) -> dict[str, Any]:
    """An order as ``order_sn_list[]`` / ``order_info`` carry it (money in yuan as numbers, receiver encrypted)."""
    r = order.receiver
    keys = state or _RENDER_STATE
    full = f"{r.province}{r.city}{r.district}{r.town}{r.detail}"
    shown = f"{r.province}{r.city}{r.district}{r.town}{_mask_detail(r.detail)}"
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
        "receiver_name": keys.encrypt(order.app_key, order.order_id, 5, r.name),
        "receiver_name_mask": _mask_name(r.name),
        "receiver_phone": keys.encrypt(order.app_key, order.order_id, 6, r.mobile),
        "receiver_phone_mask": _mask_phone(r.mobile),
        "receiver_address": keys.encrypt(order.app_key, order.order_id, 8, r.detail),
        "receiver_address_mask": _mask_detail(r.detail),
        "country": "中国",
        "province": r.province,
        "city": r.city,
        "town": r.district,
        "address": keys.encrypt(order.app_key, order.order_id, 7, full),
        "address_mask": shown,
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
            raise self.error(10016, "client_id不正确", sub_msg="client_id 无效")
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
            raise self.error(20004, "签名sign校验失败", sub_msg="sign 校验失败")
        handler = _METHODS.get(api)
        if handler is None:
            raise self.error(10001, "公共参数错误:type", sub_msg=f"接口 {api} 不存在")
        if api not in _NO_TOKEN:
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
            raise self.error(52103, "服务暂时不可用，请稍后重试", sub_msg="服务暂时不可用，请稍后重试")
        return handler(self, account)

    def require_json(self, name: str) -> Any:
        try:
            return json.loads(self.require(name))
        except ValueError:
            raise self.bad_param(f"{name} 须为 JSON") from None

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
        payload: dict[str, Any] = {"order_sn_list": [render_order(o, pdd_state(self.store)) for o in chunk]}
        if truthy(self.params.get("use_has_next", "false")):
            payload["has_next"] = page * page_size < len(matched)
        else:
            payload["total_count"] = len(matched)
        return {"order_sn_increment_get_response": {**payload, "request_id": self.rid}}

    def information_get(self, account: SellerAccount) -> dict[str, Any]:
        order = self.store.find_order(P, account.app_key, self.require("order_sn"))
        if order is None or order.state == OrderState.PENDING_PAYMENT:
            raise self.error(50001, "业务服务错误", sub_msg="订单不存在")
        info = render_order(order, pdd_state(self.store))
        return {"order_info_get_response": {"order_info": info, "request_id": self.rid}}

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

    # ------------------------------------------------------------- token refresh

    def token_refresh(self, account: SellerAccount) -> dict[str, Any]:
        result = self.store.refresh_access_token(P, account.app_key, self.require("refresh_token"), ttl=TOKEN_TTL)
        if isinstance(result, str):  # "invalid" (unknown, another app's, used) or "expired"
            raise self.error(10019, "access_token已过期", sub_msg="refresh_token 无效或已过期，请重新授权")
        now = self.store.now()
        at, refresh_at = int(result.expires_at.timestamp()), int(result.refresh_expires_at.timestamp())
        body = {
            "access_token": result.token,
            "expires_at": at,
            "expires_in": max(0, int((result.expires_at - now).total_seconds())),
            "refresh_token": result.refresh_token,
            "refresh_token_expires_at": refresh_at,
            "refresh_token_expires_in": max(0, int((result.refresh_expires_at - now).total_seconds())),
            "owner_id": account.shop_id,
            "owner_name": account.seller_nick,
            "scope": sorted(_METHODS),
            "r1_expires_at": at,
            "r2_expires_at": at,
            "w1_expires_at": at,
            "w2_expires_at": at,
        }
        return {"pop_auth_token_refresh_response": {**body, "request_id": self.rid}}

    # ------------------------------------------------------------------ decrypt

    def decrypt_batch(self, account: SellerAccount) -> dict[str, Any]:
        items = self.require_json("data_list")
        if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
            raise self.bad_param("data_list 须为非空列表")
        if len(items) > DECRYPT_BATCH_LIMIT:
            raise self.bad_param(f"data_list 列表大小不能超过{DECRYPT_BATCH_LIMIT}")
        state = pdd_state(self.store)
        if not state.take_quota(account.app_key, self.store.now().date(), len(items)):
            raise self.error(50001, "业务服务错误", sub_msg="店铺今日解密次数已达上限")
        answers = []
        for item in items:
            tag, cipher = str(item.get("data_tag") or ""), str(item.get("encrypted_data") or "")
            plain = state.plain(cipher)
            answer: dict[str, Any] = {"data_tag": tag, "encrypted_data": cipher}
            if plain is None or plain.app_key != account.app_key:
                answers.append({**answer, "error_code": 10000, "error_msg": "密文无效或不属于当前店铺"})
            elif plain.order_sn != tag:
                answers.append({**answer, "error_code": 10000, "error_msg": "data_tag 与密文所属订单不符"})
            else:
                answers.append(
                    {
                        **answer,
                        "data_type": plain.data_type,
                        "decrypted_data": plain.value,
                        "error_code": 0,
                        "error_msg": "",
                        "virtual_number_type": 0,
                    }
                )
        return {"open_decrypt_batch_response": {"data_decrypt_list": answers, "request_id": self.rid}}

    # -------------------------------------------------------------- e-waybill

    def waybill_get(self, account: SellerAccount) -> dict[str, Any]:
        """电子面单云打印接口 ``pdd.waybill.get``: ``param_waybill_cloud_print_apply_new_request`` {wp_code, sender,
        need_encrypt, trade_order_info_dtos (≤ 10) [{object_id, order_info {order_channels_type, trade_order_list
        (≤ 100)}, package_info, recipient, template_url, user_id}]} → ``pdd_waybill_get_response.modules`` [{object_id,
        waybill_code, print_data, parent_waybill_code}] (SDK models niltor/open-pdd-net-sdk ``GetWaybill`` /
        ``GetWaybillResponse``; the address fields "仅支持非空值"). A 拼多多 order's recipient name / mobile /
        address.detail are the order's ciphertexts: each must be one this shop's order was given, and that order
        must be in ``trade_order_list``; clear values are taken too (orders of other channels). The same
        ``object_id`` (and wp_code) answers the same waybill again, as long as it is not cancelled."""
        request = self.require_json("param_waybill_cloud_print_apply_new_request")
        if not isinstance(request, dict):
            raise self.bad_param("param_waybill_cloud_print_apply_new_request 须为对象")
        wp_code = str(request.get("wp_code") or "")
        if wp_code not in WAYBILL_COMPANIES:
            raise self.bad_param(f"wp_code {wp_code or '（空）'} 不支持")
        sender = request.get("sender")
        if not isinstance(sender, dict) or not sender.get("name") or not self._address_ok(sender.get("address")):
            raise self.bad_param("sender 的姓名与地址（省、市、区、详细地址）必填")
        dtos = request.get("trade_order_info_dtos")
        if not isinstance(dtos, list) or not dtos or len(dtos) > WAYBILL_DTO_LIMIT:
            raise self.bad_param(f"trade_order_info_dtos 须为 1-{WAYBILL_DTO_LIMIT} 项")
        modules = [self._waybill_for(account, wp_code, dto) for dto in dtos]
        return {"pdd_waybill_get_response": {"modules": modules, "request_id": self.rid}}

    @staticmethod
    def _address_ok(address: Any) -> bool:
        return isinstance(address, dict) and all(address.get(k) for k in ("province", "city", "district", "detail"))

    def _waybill_for(self, account: SellerAccount, wp_code: str, dto: Any) -> dict[str, Any]:
        if not isinstance(dto, dict):
            raise self.bad_param("trade_order_info_dtos 的每一项须为对象")
        object_id = str(dto.get("object_id") or "")
        template_url = str(dto.get("template_url") or "")
        if not object_id or not template_url or dto.get("user_id") in (None, ""):
            raise self.bad_param("object_id、template_url、user_id 必填")
        info = dto.get("order_info")
        orders = info.get("trade_order_list") if isinstance(info, dict) else None
        if not isinstance(orders, list) or not orders or len(orders) > TRADE_ORDER_LIMIT:
            raise self.bad_param(f"order_info.trade_order_list 须为 1-{TRADE_ORDER_LIMIT} 个订单号")
        orders = [str(o) for o in orders]
        pdd_order = isinstance(info, dict) and str(info.get("order_channels_type") or "").upper() == "PDD"
        recipient = dto.get("recipient")
        named = isinstance(recipient, dict) and bool(recipient.get("name"))
        if not isinstance(recipient, dict) or not named or not self._address_ok(recipient.get("address")):
            raise self.bad_param("recipient 的姓名与地址（省、市、区、详细地址）必填")
        if not (recipient.get("mobile") or recipient.get("phone")):
            raise self.bad_param("recipient 的手机号码或固定电话必填")
        if pdd_order:
            for order_sn in orders:
                order = self.store.find_order(P, account.app_key, order_sn)
                if order is None or order.state == OrderState.PENDING_PAYMENT:
                    raise self.error(50001, "业务服务错误", sub_msg=f"订单 {order_sn} 不存在或不属于当前店铺")
        state = pdd_state(self.store)
        address = recipient["address"]
        for value in (recipient.get("name"), recipient.get("mobile"), recipient.get("phone"), address.get("detail")):
            if not isinstance(value, str) or not is_ciphertext(value):
                continue
            plain = state.plain(value)
            if plain is None or plain.app_key != account.app_key or (pdd_order and plain.order_sn not in orders):
                raise self.bad_param("收件人密文无效，或不属于本次取号的订单")
        with state.lock:
            for bill in state.waybills.values():
                if (bill.app_key, bill.wp_code, bill.object_id) == (account.app_key, wp_code, object_id):
                    if not bill.cancelled:
                        return self._module(state, bill, template_url)
            prefix, digits = WAYBILL_COMPANIES[wp_code]
            number = f"{next(state.serial):0{digits}d}"[-digits:]
            bill = SimWaybill(account.app_key, wp_code, f"{prefix}{number}", object_id, orders, dict(recipient))
            state.waybills[bill.waybill_code] = bill
        return self._module(state, bill, template_url)

    @staticmethod
    def _module(state: PddState, bill: SimWaybill, template_url: str) -> dict[str, Any]:
        return {
            "object_id": bill.object_id,
            "waybill_code": bill.waybill_code,
            "print_data": state.print_data(bill.waybill_code, template_url),
            "parent_waybill_code": "",
        }

    def waybill_cancel(self, account: SellerAccount) -> dict[str, Any]:
        """``pdd.waybill.cancel`` (``wp_code``, ``waybill_code`` → ``pdd_waybill_cancel_response.cancel_result``).
        A waybill already used to ship an order cannot be cancelled; cancelling twice answers success again."""
        wp_code, code = self.require("wp_code"), self.require("waybill_code")
        state = pdd_state(self.store)
        with state.lock:
            bill = state.waybills.get(code)
            if bill is None or bill.app_key != account.app_key:
                raise self.error(50001, "业务服务错误", sub_msg="面单号不存在")
            if bill.wp_code != wp_code:
                raise self.bad_param("wp_code 与面单号不符")
            if any(s.tracking_no == code for s in self.store.shipments(P)):
                raise self.error(50001, "业务服务错误", sub_msg="面单已发货，不能取消")
            bill.cancelled = True
        return {"pdd_waybill_cancel_response": {"cancel_result": True, "request_id": self.rid}}


_METHODS = {
    "pdd.finance.balance.daily.bill.url.get": _Call.daily_bill_url,
    "pdd.order.number.list.increment.get": _Call.increment_get,
    "pdd.order.information.get": _Call.information_get,
    "pdd.logistics.online.send": _Call.logistics_online_send,
    "pdd.goods.quantity.update": _Call.goods_quantity_update,
    "pdd.pop.auth.token.refresh": _Call.token_refresh,
    "pdd.open.decrypt.batch": _Call.decrypt_batch,
    "pdd.waybill.get": _Call.waybill_get,
    "pdd.waybill.cancel": _Call.waybill_cancel,
}
_NO_TOKEN = frozenset({"pdd.pop.auth.token.refresh"})  # the call that replaces an expired token needs none


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
