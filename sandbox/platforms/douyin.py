"""抖店 (Douyin shop) open platform simulator, and its message push.

Calls: ``POST /douyin/<method with dots as slashes>`` (``/douyin/order/searchList``) with query params ``app_key``,
``method``, ``access_token`` (not for ``token.*``), ``timestamp`` (``YYYY-MM-DD HH:MM:SS`` Beijing time or unix
seconds, ±10 min), ``v=2``, ``sign_method`` (``hmac-sha256``, or ``md5`` — the default —) and ``sign``; the body is
``param_json`` itself (a ``param_json`` query param is accepted when the body is empty). ``param_json`` must be in
canonical form (keys sorted at every level, no whitespace) or the signature check fails, as on the real gateway.

Every answer is ``{"code", "msg", "sub_code", "sub_msg", "log_id", "data"}`` with HTTP 200; ``code`` 10000 is
success. Methods: ``order.searchList``, ``order.orderDetail``, ``order.logisticsAdd``, ``sku.syncStock``,
``token.create``, ``token.refresh``, and the settlement reads ``order.getSettleBillDetailV3`` (商家结算账单) and
``order.getShopAccountItem`` (资金流水明细), seeded with ``store.add_douyin_settlement`` /
``store.add_douyin_account_item``. Both are T+1 ("已结算的订单才会有数据，数据T+1生成") and paged by
``start_index`` ← ``next_start_index`` (with ``start_time`` ← ``next_start_time``) until ``is_end`` = 1; the inner
``data`` carries ``code`` "100000" / ``code_msg``. Field lists and error codes per the 抖店 open-platform API docs
(op.jinritemai.com 文档中心 › 订单API › 「商家结算账单」/order/getSettleBillDetailV3 and 「资金流水明细接口(境内)」
/order/getShopAccountItem), as the official SDK (``doudian.com/open/sdk_golang/api/order_getSettleBillDetailV3``,
``…/order_getShopAccountItem``) and SDKs generated from the doc pages (field descriptions, ``DouyinRetCode`` 40004
``isv.parameter-invalid:100026`` / ``isv.parameter-invalid:500``) reproduce them.

Receivers are encrypted, as 抖店 sends them to every app since its 2021 数据安全 upgrade (数据安全加密对接文档,
https://op.jinritemai.com/docs/guide-docs/56/589): ``encrypt_post_receiver`` / ``encrypt_post_tel`` /
``post_addr.encrypt_detail`` carry ciphertexts, ``mask_post_receiver`` / ``mask_post_tel`` / ``mask_post_addr`` the
masked text, and ``post_receiver`` / ``post_tel`` / ``post_addr.detail`` are empty — unless the shop is switched to
clear receivers (:func:`send_clear_receivers`, an old app / test shop: then both are sent). The simulator keeps the
clear receiver on its own order, so ``order.batchDecrypt`` (:data:`DECRYPT_BATCH_LIMIT` per call, a small per-shop
daily quota, :func:`set_decrypt_quota`), ``order.BatchSearchIndex`` and the 抖音电子面单 calls
(``logistics.newCreateOrder`` / ``logistics.waybillApply`` / ``logistics.cancelOrder``, :func:`ebills`) can check
that a ciphertext belongs to the order it is sent with.

Push: :func:`build_push` / :func:`push_events` deliver a message batch (a JSON array of ``{"tag", "msg_id",
"data"}`` with ``data`` a JSON string) signed with ``event-sign`` = MD5(app_key + body + app_secret) and ``app-id``;
the receiver must answer ``{"code":0,"msg":"success"}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from litestar import Request, Response, route

from sandbox.platforms._common import (
    Reject,
    dumps,
    gateway_error_page,
    json_response,
    parse_int,
    parse_time,
    read_body_and_params,
    store_of,
    truthy,
    unix,
)
from sandbox.platforms.signing import douyin_event_sign, douyin_sign, is_canonical_json
from sandbox.platforms.store import (
    SHANGHAI,
    AccessToken,
    OrderState,
    Platform,
    PlatformStore,
    RefundState,
    SellerAccount,
    ShipOutcome,
    SimOrder,
)

__all__ = [
    "CIPHER_SEPARATORS",
    "COMPANY_CODES",
    "DECRYPT_BATCH_LIMIT",
    "PREFIX",
    "TAG_ADDRESS_CHANGED",
    "TAG_ORDER_CANCELLED",
    "TAG_ORDER_COMPLETED",
    "TAG_ORDER_CREATED",
    "TAG_ORDER_PAID",
    "TAG_ORDER_SHIPPED",
    "TAG_REFUND_CREATED",
    "DouyinPrivacy",
    "SimEbill",
    "apush_events",
    "build_push",
    "cipher_text",
    "ebills",
    "order_event",
    "privacy",
    "push_acknowledged",
    "push_events",
    "render_shop_order",
    "route_handlers",
    "search_index",
    "send_clear_receivers",
    "set_decrypt_quota",
]

PREFIX = "/douyin"
P = Platform.DOUYIN
TIMESTAMP_TOLERANCE = timedelta(minutes=10)
TOKEN_TTL = timedelta(days=7)

COMPANY_CODES = {
    "shunfeng": "顺丰速运",
    "zhongtong": "中通快递",
    "yuantong": "圆通速递",
    "shentong": "申通快递",
    "yunda": "韵达快递",
    "jtexpress": "极兔速递",
    "ems": "EMS",
    "youzhengguonei": "邮政快递包裹",
    "jd": "京东物流",
    "debangkuaidi": "德邦快递",
}

# Waybill numbers shaped like each express company's (prefix, digits after it).
TRACK_NO_SHAPES = {
    "shunfeng": ("SF", 13),
    "zhongtong": ("7", 14),
    "yuantong": ("YT", 13),
    "shentong": ("77", 13),
    "yunda": ("43", 13),
    "jtexpress": ("JT", 13),
    "ems": ("11", 11),
    "youzhengguonei": ("98", 11),
    "jd": ("JDVA", 11),
    "debangkuaidi": ("DPK", 12),
}

ORDER_STATUS = {
    OrderState.PENDING_PAYMENT: (1, "待支付"),
    OrderState.PAID: (2, "备货中"),
    OrderState.SHIPPED: (3, "已发货"),
    OrderState.COMPLETED: (5, "已完成"),
    OrderState.CANCELLED: (4, "已取消"),
}

# Message push tags.
TAG_ORDER_CREATED = 100
TAG_ORDER_PAID = 101
TAG_ORDER_SHIPPED = 102
TAG_ORDER_COMPLETED = 103
TAG_ADDRESS_CHANGED = 105
TAG_ORDER_CANCELLED = 106
TAG_REFUND_CREATED = 200


# ------------------------------------------------------------------ receiver encryption

# 抖店 数据安全加密对接文档 (https://op.jinritemai.com/docs/guide-docs/56/589): a ciphertext is
# ``<sep><search index><sep><ciphertext><sep><key version><sep><sep>`` — ``$`` for phone numbers, ``#`` for addresses
# (``post_addr.encrypt_detail``), ``~`` for names — and the part between the first two separators is the field's
# search index (what ``order.BatchSearchIndex`` answers for the same clear text in the same shop). The form is what
# public integrations parse (the address index is cut at the second ``#``, the phone index at the second ``$``).
CIPHER_SEPARATORS = {"addr": "#", "name": "~", "tel": "$"}
# order.batchDecrypt ``data_type`` / order.BatchSearchIndex ``encrypt_type``: 1 地址, 2 姓名, 3 手机号.
DATA_TYPES = {"addr": 1, "name": 2, "tel": 3}
KEY_VERSION = "1"
# order.batchDecrypt: "待解密值集合，最大支持一次解密50条" (API doc 批量解密 /order/batchDecrypt,
# https://op.jinritemai.com/docs/api-docs/15/509, as the official SDK's OrderBatchDecryptParam reproduces it).
DECRYPT_BATCH_LIMIT = 50
# order.batchDecrypt ``account_type``: "服务商账号中的主-main_account；子账号-sub_account".
ACCOUNT_TYPES = ("main_account", "sub_account")
DEFAULT_DECRYPT_QUOTA = 500  # ciphertexts per shop per day (抖店 grants each shop a daily quota; tests set a small one)


@dataclass
class SimEbill:
    """One 抖音电子面单 the simulator issued (``logistics.newCreateOrder``)."""

    app_key: str
    order_id: str
    pack_id: str
    logistics_code: str
    track_no: str
    sort_code: str
    receiver: Mapping[str, Any]  # the receiver_info as sent (ciphertexts when the caller had them)
    cancelled: bool = False


@dataclass
class DouyinPrivacy:
    """The simulator's privacy state for one store: who gets clear receivers, decrypt quotas and use, e-waybills."""

    clear_shops: set[str] = field(default_factory=set)
    quotas: dict[str, int] = field(default_factory=dict)
    used: dict[tuple[str, date], int] = field(default_factory=dict)
    ebills: dict[str, SimEbill] = field(default_factory=dict)  # track_no → waybill
    packs: dict[tuple[str, str, str, str], str] = field(default_factory=dict)  # (app, order, pack, code) → track_no
    lock: threading.Lock = field(default_factory=threading.Lock)

    def quota(self, app_key: str) -> int:
        return self.quotas.get(app_key, DEFAULT_DECRYPT_QUOTA)

    def take(self, app_key: str, day: date, count: int) -> bool:
        """Spend ``count`` of the shop's daily decrypt quota; False (nothing spent) when it would go over."""
        with self.lock:
            used = self.used.get((app_key, day), 0)
            if used + count > self.quota(app_key):
                return False
            self.used[(app_key, day)] = used + count
            return True


_PRIVACY: weakref.WeakKeyDictionary[PlatformStore, DouyinPrivacy] = weakref.WeakKeyDictionary()
_PRIVACY_LOCK = threading.Lock()


def privacy(store: PlatformStore) -> DouyinPrivacy:
    with _PRIVACY_LOCK:
        state = _PRIVACY.get(store)
        if state is None:
            state = _PRIVACY[store] = DouyinPrivacy()
        return state


def send_clear_receivers(store: PlatformStore, app_key: str, clear: bool = True) -> None:
    """Also send this shop's receivers in clear (an old app / 抖店 test shop); the ciphertexts are sent anyway."""
    state = privacy(store)
    with state.lock:
        (state.clear_shops.add if clear else state.clear_shops.discard)(app_key)


def set_decrypt_quota(store: PlatformStore, app_key: str, per_day: int) -> None:
    """The shop's daily ``order.batchDecrypt`` quota (ciphertexts per day, Beijing date)."""
    state = privacy(store)
    with state.lock:
        state.quotas[app_key] = per_day


def ebills(store: PlatformStore, app_key: str | None = None) -> list[SimEbill]:
    state = privacy(store)
    with state.lock:
        return [e for e in state.ebills.values() if app_key is None or e.app_key == app_key]


def _shop_key(account: SellerAccount) -> bytes:
    return hashlib.sha256(f"douyin-sim-kms:{account.shop_id}".encode()).digest()


def search_index(account: SellerAccount, kind: str, plain: str) -> str:
    """The shop's search index of a clear value (equal for equal values within the shop)."""
    digest = hmac.new(_shop_key(account), f"index|{kind}|{plain}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest[:12]).decode()


def cipher_text(account: SellerAccount, order_id: str, kind: str, plain: str) -> str:
    """The ciphertext of one receiver field of one order (``kind``: tel, name, addr)."""
    sep = CIPHER_SEPARATORS[kind]
    body = hmac.new(_shop_key(account), f"cipher|{order_id}|{kind}|{plain}".encode(), hashlib.sha256).digest()
    sealed = base64.b64encode(body * 2).decode()
    return f"{sep}{search_index(account, kind, plain)}{sep}{sealed}{sep}{KEY_VERSION}{sep}{sep}"


def _fields(order: SimOrder) -> dict[str, str]:
    r = order.receiver
    return {"tel": r.mobile, "name": r.name, "addr": r.detail}


def _ciphers(order: SimOrder, account: SellerAccount) -> dict[str, tuple[str, str]]:
    """ciphertext → (kind, clear value) for the order's receiver as it is now."""
    return {cipher_text(account, order.order_id, kind, plain): (kind, plain) for kind, plain in _fields(order).items()}


def _mask_name(name: str) -> str:
    return name[:1] + "*" * max(1, len(name) - 1)


def _mask_tel(tel: str) -> str:
    return tel[:3] + "****" + tel[7:] if len(tel) >= 11 else tel


def _mask_detail(detail: str) -> str:
    return detail[:4] + "****"


def _addr(order: SimOrder, account: SellerAccount, *, masked: bool = False, clear: bool = False) -> dict[str, Any]:
    """``post_addr`` (``detail`` only for a clear-text shop, ``encrypt_detail`` always) or ``mask_post_addr``."""
    r = order.receiver
    addr: dict[str, Any] = {
        "province": {"id": "", "name": r.province},
        "city": {"id": "", "name": r.city},
        "town": {"id": "", "name": r.district},  # 抖店's "town" is the 区/县
        "street": {"id": "", "name": r.town},
    }
    if masked:
        addr["detail"] = _mask_detail(r.detail)
    else:
        addr["detail"] = r.detail if clear else ""
        addr["encrypt_detail"] = cipher_text(account, order.order_id, "addr", r.detail)
    return addr


def render_shop_order(order: SimOrder, account: SellerAccount, *, clear: bool = False) -> dict[str, Any]:
    """A ``shop_order`` as ``order.searchList`` / ``order.orderDetail`` return it (money in fen, times unix); the
    receiver encrypted and masked, and in clear too when ``clear``."""
    status, desc = ORDER_STATUS[order.state]
    r = order.receiver
    after_sale = {
        RefundState.NONE: {"after_sale_status": 0, "refund_status": 0},
        RefundState.REQUESTED: {"after_sale_status": 6, "refund_status": 1},
        RefundState.REFUNDED: {"after_sale_status": 12, "refund_status": 3},
    }[order.refund]
    skus = []
    for line, paid in zip(order.lines, order.line_payments(), strict=True):
        skus.append(
            {
                "order_id": line.line_id,
                "parent_order_id": order.order_id,
                "order_level": 3,
                "product_id": int(line.product_id),
                "product_name": line.title,
                "sku_id": int(line.sku_id),
                "out_sku_id": line.sku_code,
                "code": line.sku_code,
                "out_product_id": "",
                "item_num": line.qty,
                "goods_price": line.unit_price,
                "origin_amount": line.amount,
                "pay_amount": paid,
                "order_status": status,
                "order_status_desc": desc,
                "create_time": unix(order.created_at),
                "update_time": unix(order.updated_at),
                "after_sale_info": after_sale,
            }
        )
    logistics = []
    if order.tracking_no:
        logistics.append(
            {
                "tracking_no": order.tracking_no,
                "company": order.company_code,
                "company_name": COMPANY_CODES.get(order.company_code, order.company_code),
                "ship_time": unix(order.shipped_at),
            }
        )
    return {
        "shop_id": int(account.shop_id),
        "shop_name": account.shop_name,
        "order_id": order.order_id,
        "order_level": 2,
        "biz": 2,
        "biz_desc": "小店自卖",
        "order_type": 0,
        "order_type_desc": "普通订单",
        "order_status": status,
        "order_status_desc": desc,
        "main_status": status,
        "main_status_desc": desc,
        "create_time": unix(order.created_at),
        "update_time": unix(order.updated_at),
        "pay_time": unix(order.paid_at),
        "ship_time": unix(order.shipped_at),
        "finish_time": 0,
        "exp_ship_time": unix(order.paid_at + timedelta(hours=48)) if order.paid_at else 0,
        "order_amount": order.goods_amount + order.shipping_fee,
        "pay_amount": order.paid_amount,
        "post_amount": order.shipping_fee,
        "promotion_amount": order.discount,
        "pay_type": 1,
        "buyer_words": order.buyer_memo,
        "seller_words": order.seller_memo,
        "seller_remark_stars": 0,
        "cancel_reason": order.cancel_reason,
        "doudian_open_id": order.buyer_open_id,
        "post_receiver": r.name if clear else "",
        "post_tel": r.mobile if clear else "",
        "post_addr": _addr(order, account, clear=clear),
        "encrypt_post_receiver": cipher_text(account, order.order_id, "name", r.name),
        "encrypt_post_tel": cipher_text(account, order.order_id, "tel", r.mobile),
        "mask_post_receiver": _mask_name(r.name),
        "mask_post_tel": _mask_tel(r.mobile),
        "mask_post_addr": _addr(order, account, masked=True),
        "logistics_info": logistics,
        "sku_order_list": skus,
    }


def _parse_timestamp(value: str) -> datetime | None:
    if value.isdigit():
        return datetime.fromtimestamp(int(value), SHANGHAI)
    return parse_time(value)


class _Call:
    def __init__(self, store: PlatformStore, api_path: str, query: dict[str, str], body: bytes) -> None:
        self.store = store
        self.api_path = api_path
        self.query = query
        self.body = body
        self.log_id = datetime.now(SHANGHAI).strftime("%Y%m%d%H%M%S") + secrets.token_hex(10).upper()
        self.param: dict[str, Any] = {}

    def envelope(
        self, data: Any, code: int = 10000, msg: str = "success", sub_code: str = "", sub_msg: str = ""
    ) -> dict[str, Any]:
        return {
            "code": code,
            "msg": msg,
            "sub_code": sub_code,
            "sub_msg": sub_msg,
            "log_id": self.log_id,
            "data": data,
        }

    def error(self, code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> Reject:
        return Reject(self.envelope({}, code, msg, sub_code, sub_msg), f"{code}/{sub_code}")

    def bad_param(self, sub_msg: str) -> Reject:
        return self.error(40004, "非法的参数（业务校验）", "isv.parameter-invalid", sub_msg)

    def require(self, name: str) -> Any:
        value = self.param.get(name)
        if value is None or value == "":
            raise self.error(40002, "缺少必选参数（业务校验）", "isv.parameter-missing", f"缺少参数 {name}")
        return value

    def clear(self, account: SellerAccount) -> bool:
        return account.app_key in privacy(self.store).clear_shops

    def dispatch(self) -> dict[str, Any]:
        q = self.query
        path_method = self.api_path.strip("/").replace("/", ".")
        app_key = q.get("app_key", "")
        if not app_key:
            raise self.error(40001, "缺少必选参数（平台校验）", "isv.app-id-missing", "认证失败，app_key不存在")
        account = self.store.find_seller(P, app_key)
        if account is None:
            raise self.error(40003, "非法的参数（平台校验）", "isv.app-id-invalid", "认证失败，app_key不存在")
        method = q.get("method") or path_method
        if method != path_method:
            raise self.error(40003, "非法的参数（平台校验）", "isv.parameter-invalid", "method 与请求路径不一致")
        if q.get("v") != "2":
            raise self.error(40003, "非法的参数（平台校验）", "isv.parameter-invalid", "v 必须为 2")
        raw_ts = q.get("timestamp", "")
        if not raw_ts:
            raise self.error(40001, "缺少必选参数（平台校验）", "isv.parameter-missing", "缺少参数 timestamp")
        ts = _parse_timestamp(raw_ts)
        if ts is None:
            raise self.error(40003, "非法的参数（平台校验）", "isv.timestamp-format-error", "时间戳格式错误")
        if self.store.check_timestamps and abs(ts - self.store.now()) > TIMESTAMP_TOLERANCE:
            raise self.error(40003, "非法的参数（平台校验）", "isv.timestamp-invalid", "时间戳不合法")
        sign = q.get("sign", "")
        if not sign:
            raise self.error(
                40001, "缺少必选参数（平台校验）", "isv.signature-missing", "获取签名失败，请根据文档确保参数拼装正确"
            )
        sign_method = q.get("sign_method", "md5")
        if sign_method not in ("md5", "hmac-sha256"):
            raise self.error(40003, "非法的参数（平台校验）", "isv.parameter-invalid", "sign_method 不支持")
        raw = self.body.decode("utf-8").strip() or q.get("param_json", "") or "{}"
        try:
            param = json.loads(raw)
        except ValueError:
            param = None
        if not isinstance(param, dict):
            raise self.error(40003, "非法的参数（平台校验）", "isv.parameter-format-invalid", "业务参数json解析失败")
        if not is_canonical_json(raw):
            raise self.error(
                40003,
                "非法的参数（平台校验）",
                "isv.signature-invalid",
                "签名校验失败：param_json 须按 key 字典序排序（逐层）且不含空格",
            )
        expected = douyin_sign(
            app_key=app_key,
            app_secret=account.app_secret,
            method=method,
            param_json=raw,
            timestamp=raw_ts,
            v="2",
            sign_method=sign_method,
        )
        if sign != expected:
            raise self.error(40003, "非法的参数（平台校验）", "isv.signature-invalid", "签名校验失败")
        self.param = param
        handler = _METHODS.get(method)
        if handler is None:
            raise self.error(70000, "接口服务已下线", "isp.api-service-off", "API不存在或API已下线")
        if not method.startswith("token."):
            self.check_token(app_key)
        fault = self.store.take_fault(P, method)
        if (fault is not None and fault.kind == "rate_limit") or self.store.over_qps(P, app_key):
            raise self.error(60000, "触发限流，请稍后重试", "isp.flow-limit", "调用过于频繁，请稍后重试")
        if fault is not None:
            raise self.error(20000, "服务不可用", "dop.service-error", "服务繁忙")
        return self.envelope(handler(self, account))

    def check_token(self, app_key: str) -> None:
        value = self.query.get("access_token", "")
        if not value:
            raise self.error(
                40001, "缺少必选参数（平台校验）", "isv.access-token-missing", "认证失败，access_token不能为空"
            )
        token = self.store.token(P, value)
        if token is None:
            raise self.error(
                40003,
                "非法的参数（平台校验）",
                "isv.access-token-no-existed",
                "access_token不存在，请使用最新的access_token访问",
            )
        if token.app_key != app_key:
            raise self.error(
                40003, "非法的参数（平台校验）", "isv.access-token-invalid", "app_key和access_token不匹配，请仔细检查"
            )
        if token.expired(self.store.now()):
            raise self.error(40003, "非法的参数（平台校验）", "isv.access-token-expired", "access_token已过期")

    # ---------------------------------------------------------------- methods

    def order_search_list(self, account: SellerAccount) -> dict[str, Any]:
        size = parse_int(self.require("size"))
        page = parse_int(self.require("page"))
        if size is None or not 1 <= size <= 100:
            raise self.bad_param("size 取值范围为 1-100")
        if page is None or page < 0:
            raise self.bad_param("page 从 0 开始")
        bounds: dict[str, int] = {}
        for name in ("create_time_start", "create_time_end", "update_time_start", "update_time_end"):
            if name in self.param:
                value = parse_int(self.param[name])
                if value is None:
                    raise self.bad_param(f"{name} 须为秒级时间戳")
                bounds[name] = value
        statuses: set[int] = set()
        if "order_status" in self.param:
            statuses.add(parse_int(self.param["order_status"]) or 0)
        for item in self.param.get("combine_status") or []:
            if isinstance(item, Mapping) and "order_status" in item:
                statuses.update(int(s) for s in str(item["order_status"]).split(",") if s.strip().isdigit())
        order_by = str(self.param.get("order_by", "create_time"))
        if order_by not in ("create_time", "update_time"):
            raise self.bad_param("order_by 仅支持 create_time、update_time")

        def keep(order: SimOrder) -> bool:
            created, updated = unix(order.created_at), unix(order.updated_at)
            return (
                bounds.get("create_time_start", 0) <= created <= bounds.get("create_time_end", 2**62)
                and bounds.get("update_time_start", 0) <= updated <= bounds.get("update_time_end", 2**62)
                and (not statuses or ORDER_STATUS[order.state][0] in statuses)
            )

        matched = [o for o in self.store.orders(P, account.app_key) if keep(o)]
        field = "created_at" if order_by == "create_time" else "updated_at"
        matched.sort(key=lambda o: (getattr(o, field), o.order_id), reverse=not truthy(self.param.get("order_asc")))
        chunk = matched[page * size : (page + 1) * size]
        return {
            "shop_order_list": [render_shop_order(o, account, clear=self.clear(account)) for o in chunk],
            "page": page,
            "size": size,
            "total": len(matched),
        }

    def order_detail(self, account: SellerAccount) -> dict[str, Any]:
        order = self.store.find_order(P, account.app_key, str(self.require("shop_order_id")))
        if order is None:
            raise self.error(50002, "业务处理失败", "isv.business-failed", "订单不存在")
        return {"shop_order_detail": render_shop_order(order, account, clear=self.clear(account))}

    def logistics_add(self, account: SellerAccount) -> dict[str, Any]:
        order_id = str(self.require("order_id"))
        company = str(self.require("company_code"))
        tracking = str(self.require("logistics_code"))
        if company not in COMPANY_CODES:
            raise self.error(50002, "业务处理失败", "isv.business-failed", f"物流公司编码 {company} 不存在")
        outcome = self.store.ship(
            P,
            account.app_key,
            order_id,
            company_code=company,
            tracking_no=tracking,
            method="order.logisticsAdd",
            params=self.param,
        )
        if outcome == ShipOutcome.NOT_FOUND:
            raise self.error(50002, "业务处理失败", "isv.business-failed", "订单不存在")
        if outcome == ShipOutcome.ALREADY_SHIPPED:
            raise self.error(50002, "业务处理失败", "isv.business-failed", "订单已发货，请勿重复发货")
        if outcome == ShipOutcome.NOT_SHIPPABLE:
            raise self.error(50002, "业务处理失败", "isv.business-failed", "当前订单状态不允许发货")
        return {}

    def sku_sync_stock(self, account: SellerAccount) -> dict[str, Any]:
        stock = parse_int(self.require("stock_num"))
        if stock is None:
            raise self.bad_param("stock_num 须为整数")
        product_id = self.param.get("product_id")
        sku_id = self.param.get("sku_id")
        code = self.param.get("code") or self.param.get("out_sku_id")
        product = None
        if sku_id is not None or product_id is not None:
            product = self.store.find_product(
                P,
                account.app_key,
                product_id=str(product_id) if product_id is not None else None,
                sku_id=str(sku_id) if sku_id is not None else None,
            )
        elif code:
            product = self.store.product_by_code(P, account.app_key, str(code))
        else:
            raise self.error(40002, "缺少必选参数（业务校验）", "isv.parameter-missing", "sku_id 与 code 至少传一个")
        if product is None:
            raise self.error(50002, "业务处理失败", "isv.business-failed", "商品或SKU不存在")
        incremental = truthy(self.param.get("incremental", False))
        if not incremental and stock < 0:
            raise self.bad_param("stock_num 不能小于 0")
        update = self.store.update_stock(
            P,
            account.app_key,
            product,
            stock,
            mode="incremental" if incremental else "full",
            method="sku.syncStock",
            params=self.param,
        )
        if update is None:
            raise self.error(50002, "业务处理失败", "isv.business-failed", "库存不能小于 0")
        return {}

    # ---------------------------------------------------------- privacy: decrypt, search index

    def order_batch_decrypt(self, account: SellerAccount) -> dict[str, Any]:
        """``order.batchDecrypt`` (批量解密, https://op.jinritemai.com/docs/api-docs/15/509): ``cipher_infos``
        [{auth_id: 抖店订单号, cipher_text}] (at most 50), ``account_id`` / ``account_type`` (the merchant's account
        in the ISV's own system, main_account / sub_account: whose decrypt this is — required here, refused
        without). Every ciphertext must belong to the order named by its auth_id. Answer ``decrypt_infos``
        [{auth_id, cipher_text, decrypt_text, err_no, err_msg, data_type, is_virtual_tel, …}] and ``custom_err``.

        Quota: each ciphertext spends one of the shop's daily quota; a call that would go over is refused as a
        whole with 90000 「已达到店铺解密上限」 (the quota code as public integrations of this API handle it;
        80000 「您的环境存在安全风险，请稍后再试」 is its temporary risk-control refusal)."""
        infos = self.param.get("cipher_infos")
        if not isinstance(infos, list) or not infos:
            raise self.error(40002, "缺少必选参数（业务校验）", "isv.parameter-missing", "缺少参数 cipher_infos")
        if len(infos) > DECRYPT_BATCH_LIMIT:
            raise self.bad_param(f"cipher_infos 最大支持一次解密{DECRYPT_BATCH_LIMIT}条")
        self.require("account_id")
        if self.require("account_type") not in ACCOUNT_TYPES:
            raise self.bad_param("account_type 取值 main_account（主账号）或 sub_account（子账号）")
        resolved: list[tuple[str, str, str, str]] = []
        for info in infos:
            auth_id = str(info.get("auth_id") or "") if isinstance(info, Mapping) else ""
            cipher = str(info.get("cipher_text") or "") if isinstance(info, Mapping) else ""
            if not auth_id or not cipher:
                raise self.error(
                    40002,
                    "缺少必选参数（业务校验）",
                    "isv.parameter-missing",
                    "cipher_infos 须含 auth_id 与 cipher_text",
                )
            order = self.store.find_order(P, account.app_key, auth_id)
            found = _ciphers(order, account).get(cipher) if order is not None else None
            if found is None:
                raise self.bad_param(f"密文与业务标识 auth_id={auth_id} 不匹配")
            resolved.append((auth_id, cipher, *found))
        if not privacy(self.store).take(account.app_key, self.store.now().astimezone(SHANGHAI).date(), len(infos)):
            raise self.error(90000, "已达到店铺解密上限", "", "已达到店铺解密上限")
        return {
            "decrypt_infos": [
                {
                    "auth_id": auth_id,
                    "cipher_text": cipher,
                    "decrypt_text": plain,
                    "err_no": 0,
                    "err_msg": "",
                    "data_type": DATA_TYPES[kind],
                    "is_virtual_tel": False,
                    "expire_time": 0,
                    "phone_no_a": "",
                    "phone_no_b": "",
                }
                for auth_id, cipher, kind, plain in resolved
            ],
            "custom_err": {"err_code": 0, "err_msg": ""},
        }

    def order_batch_search_index(self, account: SellerAccount) -> dict[str, Any]:
        """``order.BatchSearchIndex`` (批量获取索引串, /order/BatchSearchIndex): ``plain_text_list`` [{plain_text,
        encrypt_type: 1 地址 / 2 姓名 / 3 电话}] → ``plain_to_encrypt_index_list`` [{plain, search_index}]."""
        items = self.param.get("plain_text_list")
        if not isinstance(items, list) or not items:
            raise self.error(40002, "缺少必选参数（业务校验）", "isv.parameter-missing", "缺少参数 plain_text_list")
        kinds = {number: kind for kind, number in DATA_TYPES.items()}
        answers = []
        for item in items:
            plain = str(item.get("plain_text") or "") if isinstance(item, Mapping) else ""
            kind = kinds.get(parse_int(item.get("encrypt_type")) or 0) if isinstance(item, Mapping) else None
            if not plain or kind is None:
                raise self.bad_param("plain_text 不能为空，encrypt_type 取值 1（地址）、2（姓名）、3（电话）")
            answers.append({"plain": plain, "search_index": search_index(account, kind, plain)})
        return {"plain_to_encrypt_index_list": answers, "custom_err": {"err_code": 0, "err_msg": ""}}

    # ---------------------------------------------------------- 抖音电子面单

    def waybill_error(self, sub_msg: str) -> Reject:
        return self.error(50002, "业务处理失败", "isv.business-failed", sub_msg)

    def logistics_new_create_order(self, account: SellerAccount) -> dict[str, Any]:
        """``logistics.newCreateOrder`` (电子面单取号, /logistics/newCreateOrder; 抖音电商电子面单对接文档
        https://op.jinritemai.com/docs/guide-docs/33/338): ``sender_info`` {address, contact}, ``logistics_code``
        (抖音's 快递公司编码), ``order_infos`` [{order_id, pack_id, receiver_info {address {province_name, city_name,
        district_name, street_name, detail_address 「支持密文」}, contact {name, mobile | phone}}, items [{item_name,
        item_count}], net_info, …}], ``user_id`` (共享账号: the shop that uses the service; -1 when unknown).

        Receiver fields may be the order's ciphertexts (they must be that order's) or clear text. A repeat for the
        same order, pack_id and logistics_code answers the waybill already issued. Per-order refusals go in
        ``err_infos`` [{order_id, pack_id, err_code, err_msg}], issued waybills in ``ebill_infos`` [{company,
        order_id, pack_id, track_no, sort_code, package_center_code, package_center_name, short_address_code,
        short_address_name, extra_resp, sub_waybill_codes, …}]."""
        code = str(self.require("logistics_code"))
        if code not in COMPANY_CODES:
            raise self.waybill_error(f"物流服务商编码 {code} 不存在或未开通电子面单")
        sender = self.require("sender_info")
        s_addr = sender.get("address") if isinstance(sender, Mapping) else None
        s_contact = sender.get("contact") if isinstance(sender, Mapping) else None
        if not (
            isinstance(s_addr, Mapping)
            and isinstance(s_contact, Mapping)
            and all(s_addr.get(k) for k in ("province_name", "city_name", "detail_address"))
            and s_contact.get("name")
            and (s_contact.get("mobile") or s_contact.get("phone"))
        ):
            raise self.bad_param("sender_info 须含寄件地址（省、市、详细地址）与寄件人姓名、电话")
        user_id = str(self.param.get("user_id") or "")
        if user_id and user_id not in ("-1", account.shop_id):
            raise self.bad_param("user_id 与订单所属店铺不一致")
        infos = self.require("order_infos")
        if not isinstance(infos, list):
            raise self.bad_param("order_infos 须为列表")
        issued, refused = [], []
        for info in infos:
            info = info if isinstance(info, Mapping) else {}
            order_id, pack_id = str(info.get("order_id") or ""), str(info.get("pack_id") or "")
            problem = self.ebill_problem(account, order_id, info)
            if problem:
                refused.append({"order_id": order_id, "pack_id": pack_id, "err_code": "50002", "err_msg": problem})
                continue
            issued.append(self.issue_ebill(account, code, order_id, pack_id, info))
        return {"ebill_infos": issued, "err_infos": refused}

    def ebill_problem(self, account: SellerAccount, order_id: str, info: Mapping[str, Any]) -> str:
        order = self.store.find_order(P, account.app_key, order_id) if order_id else None
        if order is None:
            return f"订单 {order_id} 不存在或不属于该店铺"
        if order.state in (OrderState.CANCELLED, OrderState.PENDING_PAYMENT):
            return "订单状态不允许取号（未支付或已取消）"
        receiver = info.get("receiver_info")
        r_addr = receiver.get("address") if isinstance(receiver, Mapping) else None
        r_contact = receiver.get("contact") if isinstance(receiver, Mapping) else None
        if not isinstance(r_addr, Mapping) or not isinstance(r_contact, Mapping):
            return "缺少收件人信息 receiver_info"
        sent = {
            "name": str(r_contact.get("name") or ""),
            "tel": str(r_contact.get("mobile") or r_contact.get("phone") or ""),
            "addr": str(r_addr.get("detail_address") or ""),
        }
        if not all(sent.values()) or not (r_addr.get("province_name") and r_addr.get("city_name")):
            return "收件人姓名、电话、省市与详细地址不能为空"
        mine = {cipher: kind for cipher, (kind, _) in _ciphers(order, account).items()}
        for kind, value in sent.items():
            if value[:1] in CIPHER_SEPARATORS.values() and mine.get(value) != kind:
                return "收件人密文与订单不匹配"
        items = info.get("items")
        if (
            not isinstance(items, list)
            or not items
            or not all(
                isinstance(i, Mapping) and i.get("item_name") and (parse_int(i.get("item_count")) or 0) > 0
                for i in items
            )
        ):
            return "商品明细 items 须含商品名称与数量"
        return ""

    def issue_ebill(
        self, account: SellerAccount, code: str, order_id: str, pack_id: str, info: Mapping[str, Any]
    ) -> dict[str, Any]:
        state = privacy(self.store)
        order = self.store.order(P, order_id)
        r = order.receiver
        with state.lock:
            key = (account.app_key, order_id, pack_id, code)
            track_no = state.packs.get(key)
            ebill = state.ebills.get(track_no) if track_no else None
            if ebill is None or ebill.cancelled:
                prefix, digits = TRACK_NO_SHAPES.get(code, ("DY", 12))
                track_no = prefix + "".join(secrets.choice("0123456789") for _ in range(digits))
                sort_code = f"{300 + len(r.province) * 7 % 600}-{r.city[:1]}{len(r.district) % 10} 0{len(r.detail) % 9}"
                ebill = SimEbill(
                    app_key=account.app_key,
                    order_id=order_id,
                    pack_id=pack_id,
                    logistics_code=code,
                    track_no=track_no,
                    sort_code=sort_code,
                    receiver=dict(info.get("receiver_info") or {}),
                )
                state.ebills[track_no] = ebill
                state.packs[key] = track_no
        return {
            "company": code,
            "order_id": order_id,
            "pack_id": pack_id,
            "track_no": ebill.track_no,
            "sort_code": ebill.sort_code,
            "package_center_code": f"{len(r.province):03d}",
            "package_center_name": f"{r.province}集包中心",
            "short_address_code": ebill.sort_code.split("-")[0],
            "short_address_name": f"{r.city} {r.district}".strip(),
            "extra_resp": "",
            "sub_waybill_codes": "",
            "hint_msg": "",
            "order_channel": "",
            "shipping_code": "",
        }

    def logistics_waybill_apply(self, account: SellerAccount) -> dict[str, Any]:
        """``logistics.waybillApply`` (获取面单打印数据, /logistics/waybillApply): ``waybill_applies``
        [{logistics_code, track_no}] → ``waybill_infos`` [{order_id, track_no, print_data 「加密的面单数据」, sign}] and
        ``err_infos`` [{track_no, order_id, err_code, err_msg}]."""
        applies = self.require("waybill_applies")
        if not isinstance(applies, list):
            raise self.bad_param("waybill_applies 须为列表")
        state = privacy(self.store)
        answers, refused = [], []
        for apply in applies:
            apply = apply if isinstance(apply, Mapping) else {}
            track_no, code = str(apply.get("track_no") or ""), str(apply.get("logistics_code") or "")
            with state.lock:
                ebill = state.ebills.get(track_no)
            if ebill is None or ebill.app_key != account.app_key or ebill.logistics_code != code or ebill.cancelled:
                refused.append(
                    {"track_no": track_no, "order_id": "", "err_code": 50002, "err_msg": "运单不存在或已取消"}
                )
                continue
            blob = secrets.token_bytes(24) + json.dumps({"track_no": track_no, "sort_code": ebill.sort_code}).encode()
            print_data = base64.b64encode(blob).decode()
            sign = hmac.new(_shop_key(account), print_data.encode(), hashlib.sha256).hexdigest()
            answers.append({"order_id": ebill.order_id, "track_no": track_no, "print_data": print_data, "sign": sign})
        return {"waybill_infos": answers, "err_infos": refused}

    def logistics_cancel_order(self, account: SellerAccount) -> dict[str, Any]:
        """``logistics.cancelOrder`` (取消电子面单, /logistics/cancelOrder): ``logistics_code``, ``track_no``,
        ``user_id`` → ``cancel_result`` {success}."""
        code, track_no = str(self.require("logistics_code")), str(self.require("track_no"))
        state = privacy(self.store)
        with state.lock:
            ebill = state.ebills.get(track_no)
            if ebill is None or ebill.app_key != account.app_key or ebill.logistics_code != code:
                raise self.waybill_error("运单号不存在")
            if ebill.cancelled:
                raise self.waybill_error("运单号已取消，请勿重复取消")
            ebill.cancelled = True
        return {"cancel_result": {"success": True}}

    # ---------------------------------------------------------- settlement

    def settle_error(self, sub_code: str, sub_msg: str) -> Reject:
        # 40004 isv.parameter-invalid:100026 (结算账单) / :500 (资金流水), per the methods' documented error codes.
        return self.error(40004, "非法的参数", sub_code, sub_msg)

    def settle_page(
        self,
        rows: list[dict[str, Any]],
        time_field: str,
        *,
        sub_code: str,
        default_size: int,
        max_size: int,
        id_field: str,
    ) -> dict[str, Any]:
        raw_size = self.param.get("size")
        size = default_size if raw_size in (None, "") else parse_int(raw_size)
        if size is None or not 1 <= size <= max_size:
            raise self.settle_error(sub_code, f"size 取值范围为 1~{max_size}")
        ids = {x.strip() for x in str(self.param.get("order_id", "") or "").split(",") if x.strip()}
        bounds: list[datetime] = []
        for name in ("start_time", "end_time"):
            text = str(self.param.get(name, "") or "")
            if not text:
                if not ids:
                    raise self.settle_error(sub_code, f"订单号未传时 {name} 必传")
                continue
            value = parse_time(text)
            if value is None:
                raise self.settle_error(sub_code, f"{name} 格式为 yyyy-MM-dd HH:mm:ss")
            bounds.append(value)
        after: tuple[str, int] | None = None
        if self.param.get("start_index"):
            try:
                decoded = json.loads(base64.urlsafe_b64decode(str(self.param["start_index"]).encode()))
                after = (str(decoded["t"]), int(decoded["s"]))
            except (ValueError, KeyError, TypeError):
                raise self.settle_error(sub_code, "start_index 不合法") from None
        product = str(self.param.get("product_id", "") or "")
        data = self.store.settlements
        picked = []
        for row in rows:
            stamp = parse_time(str(row.get(time_field) or row.get("settle_time") or row.get("bill_time") or ""))
            booked = parse_time(str(row.get("settle_time") or row.get("bill_time") or ""))
            if stamp is None or booked is None or not data.bill_ready(booked.date()):
                continue  # T+1: a day's settlements show from the next day
            if ids and str(row.get(id_field, "")) not in ids and str(row.get("order_id", "")) not in ids:
                continue
            if product and str(row.get("product_id", "")) != product:
                continue
            if len(bounds) == 2 and not bounds[0] <= stamp <= bounds[1]:
                continue
            key = (stamp.strftime("%Y-%m-%d %H:%M:%S"), int(row["_seq"]))
            if after is not None and key <= after:
                continue
            picked.append((key, row))
        picked.sort(key=lambda item: item[0])
        page = picked[:size]
        is_end = len(picked) <= size
        last = page[-1][0] if page else None
        next_index = ""
        if last is not None and not is_end:
            next_index = base64.urlsafe_b64encode(dumps({"t": last[0], "s": last[1]}).encode()).decode()
        return {
            "code": "100000",
            "code_msg": "SUCCESS",
            "data": [{k: v for k, v in row.items() if not k.startswith("_")} for _, row in page],
            "size": size,
            "data_size": len(page),
            "next_start_index": next_index,
            "next_start_time": last[0] if last is not None and not is_end else "",
            "is_end": 1 if is_end else 0,
        }

    def settle_bill_detail(self, account: SellerAccount) -> dict[str, Any]:
        time_type = str(self.param.get("time_type", "0") or "0")
        if time_type not in ("0", "1"):
            raise self.settle_error("isv.parameter-invalid:100026", "time_type 取值 0（结算时间）或 1（下单时间）")
        with self.store.settlements.lock:
            rows = list(self.store.settlements.douyin_settlements.get(account.app_key, []))
        return self.settle_page(
            rows,
            "settle_time" if time_type == "0" else "order_time",
            sub_code="isv.parameter-invalid:100026",
            default_size=100,
            max_size=100,
            id_field="order_id",
        )

    def shop_account_item(self, account: SellerAccount) -> dict[str, Any]:
        time_type = str(self.param.get("time_type", "0") or "0")
        if time_type not in ("0", "1"):
            raise self.settle_error("isv.parameter-invalid:500", "time_type 取值 0（动账时间）或 1（下单时间）")
        with self.store.settlements.lock:
            rows = list(self.store.settlements.douyin_account_items.get(account.app_key, []))
        for name in ("account_type", "biz_type"):
            wanted = parse_int(self.param.get(name, 0) or 0)
            if wanted:
                rows = [r for r in rows if int(r.get(name, 0)) == wanted]
        return self.settle_page(
            rows,
            "bill_time" if time_type == "0" else "business_order_create_time",
            sub_code="isv.parameter-invalid:500",
            default_size=100,
            max_size=1000,
            id_field="shop_order_id",
        )

    def token_data(self, account: SellerAccount, token: AccessToken) -> dict[str, Any]:
        return {
            "access_token": token.token,
            "expires_in": int((token.expires_at - self.store.now()).total_seconds()),
            "refresh_token": token.refresh_token,
            "scope": "SCOPE",
            "shop_id": int(account.shop_id),
            "shop_name": account.shop_name,
            "authority_id": "",
            "auth_subject_type": "MiniApp",
        }

    def token_create(self, account: SellerAccount) -> dict[str, Any]:
        grant = str(self.require("grant_type"))
        failed = "dop.token-generate-failed"
        if grant == "authorization_self":
            shop_id = str(self.param.get("shop_id", ""))
            if shop_id and shop_id != account.shop_id:
                raise self.error(50001, "平台处理失败", f"{failed}:no-authorization", "店铺授权已失效")
            token = self.store.issue_token(P, account.app_key, ttl=TOKEN_TTL)
            return self.token_data(account, token)
        if grant != "authorization_code":
            raise self.error(50001, "平台处理失败", f"{failed}:grant-type-invalid", "grant_type参数取值不正确")
        result = self.store.redeem_auth_code(P, account.app_key, str(self.require("code")))
        if result == "expired":
            raise self.error(50001, "平台处理失败", f"{failed}:code-expired", "code已经失效（有效期10分钟）")
        if result == "invalid":
            raise self.error(50001, "平台处理失败", f"{failed}:code-invalid", "code参数不正确")
        return self.token_data(account, result)

    def token_refresh(self, account: SellerAccount) -> dict[str, Any]:
        if self.require("grant_type") != "refresh_token":
            raise self.error(
                50001, "平台处理失败", "dop.token-generate-failed:grant-type-invalid", "grant_type参数取值不正确"
            )
        result = self.store.refresh_access_token(P, account.app_key, str(self.require("refresh_token")), ttl=TOKEN_TTL)
        if result == "expired":
            raise self.error(50001, "平台处理失败", "dop.token-generate-failed:token-expired", "token已过期")
        if result == "invalid":
            raise self.error(50001, "平台处理失败", "dop.token-generate-failed:token-invalid", "token不存在")
        return self.token_data(account, result)


_METHODS = {
    "order.searchList": _Call.order_search_list,
    "order.orderDetail": _Call.order_detail,
    "order.logisticsAdd": _Call.logistics_add,
    "sku.syncStock": _Call.sku_sync_stock,
    "token.create": _Call.token_create,
    "token.refresh": _Call.token_refresh,
    "order.getSettleBillDetailV3": _Call.settle_bill_detail,
    "order.getShopAccountItem": _Call.shop_account_item,
    "order.batchDecrypt": _Call.order_batch_decrypt,
    "order.BatchSearchIndex": _Call.order_batch_search_index,
    "logistics.newCreateOrder": _Call.logistics_new_create_order,
    "logistics.waybillApply": _Call.logistics_waybill_apply,
    "logistics.cancelOrder": _Call.logistics_cancel_order,
}


@route(PREFIX + "/{api_path:path}", http_method=["GET", "POST"], status_code=200)
async def douyin_gateway(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = store_of(request)
    api_path = str(request.path_params["api_path"])
    query: dict[str, str] = {k: str(v) for k, v in request.query_params.items()}
    body, _ = await read_body_and_params(request)
    method = query.get("method") or api_path.strip("/").replace("/", ".")
    app_key = query.get("app_key", "")
    logged: dict[str, Any] = {**query, "param_json": body.decode("utf-8", "replace")}
    fault = store.take_fault(P, method, http=True)
    if fault is not None:
        store.log_request(P, method, app_key, logged, f"http {fault.http_status}", fault.http_status)
        return gateway_error_page(fault.http_status)
    call = _Call(store, api_path, query, body)
    try:
        answer = call.dispatch()
        outcome = "ok"
    except Reject as reject:
        answer, outcome = dict(reject.body), reject.outcome
    store.log_request(P, method, app_key, logged, outcome)
    return json_response(answer)


route_handlers = [douyin_gateway]


# ------------------------------------------------------------------ message push


def order_event(tag: int, order: SimOrder, account: SellerAccount, *, msg_id: str | None = None) -> dict[str, str]:
    """One push message about ``order`` (``data`` is a JSON string, as 抖店 sends it)."""
    p_id = int(order.order_id)
    s_ids = [int(line.line_id) for line in order.lines]
    shop_id = int(account.shop_id)
    now = unix(order.updated_at)
    base: dict[str, Any] = {"p_id": p_id, "s_ids": s_ids, "shop_id": shop_id, "biz": 2}
    data: dict[str, Any]
    if tag == TAG_ORDER_CREATED:
        data = {**base, "order_status": 1, "order_type": 0, "create_time": unix(order.created_at)}
    elif tag == TAG_ORDER_PAID:
        data = {
            **base,
            "order_status": 2,
            "order_type": 0,
            "pay_type": 1,
            "pay_time": unix(order.paid_at),
            "pay_amount": order.paid_amount,
        }
    elif tag == TAG_ORDER_SHIPPED:
        logistics = {
            "express_company_id": order.company_code,
            "logistics_code": order.tracking_no,
            "logistics_time": unix(order.shipped_at),
        }
        data = {**base, "order_status": 3, "update_time": now, "logistics_msg": logistics}
    elif tag == TAG_ORDER_COMPLETED:
        data = {**base, "order_status": 5, "complete_time": now}
    elif tag == TAG_ADDRESS_CHANGED:
        r = order.receiver
        # Encrypted like the order's own fields (the hub re-reads the order on this message anyway).
        receiver = {
            "name": _mask_name(r.name),
            "tel": _mask_tel(r.mobile),
            "encrypt_name": cipher_text(account, order.order_id, "name", r.name),
            "encrypt_tel": cipher_text(account, order.order_id, "tel", r.mobile),
            "addr": _addr(order, account),
        }
        data = {"p_id": p_id, "shop_id": shop_id, "biz": 2, "update_time": now, "receiver_msg": receiver}
    elif tag == TAG_ORDER_CANCELLED:
        data = {**base, "order_status": 4, "cancel_time": now, "cancel_reason": order.cancel_reason or "买家取消"}
    elif tag == TAG_REFUND_CREATED:
        data = {
            "aftersale_id": int(order.order_id[-12:]) * 10 + 7,
            "aftersale_status": 6,
            "aftersale_type": 2,
            "apply_time": now,
            "p_id": p_id,
            "s_id": s_ids[0],
            "shop_id": shop_id,
            "refund_amount": order.paid_amount,
            "refund_post_amount": 0,
            "reason_code": 1,
            "biz": 2,
        }
    else:
        raise ValueError(f"no builder for push tag {tag}")
    return {
        "tag": str(tag),
        "msg_id": msg_id or f"{secrets.randbelow(9 * 10**18) + 10**18}:0:{tag}:{p_id}",
        "data": dumps(data),
    }


def build_push(account: SellerAccount, events: Sequence[Mapping[str, Any]]) -> tuple[bytes, dict[str, str]]:
    """The exact body and headers of one push delivery (a batch of messages)."""
    body = dumps([dict(e) for e in events]).encode()
    headers = {
        "Content-Type": "application/json",
        "app-id": account.app_key,
        "event-sign": douyin_event_sign(account.app_key, body, account.app_secret),
    }
    return body, headers


def push_events(
    url: str,
    account: SellerAccount,
    events: Sequence[Mapping[str, Any]],
    *,
    client: httpx.Client | None = None,
    timeout: float = 5.0,
) -> httpx.Response:
    """POST one signed batch to the hub's webhook and return its reply (see :func:`push_acknowledged`)."""
    body, headers = build_push(account, events)
    if client is not None:
        return client.post(url, content=body, headers=headers, timeout=timeout)
    with httpx.Client() as own:
        return own.post(url, content=body, headers=headers, timeout=timeout)


async def apush_events(
    url: str,
    account: SellerAccount,
    events: Sequence[Mapping[str, Any]],
    *,
    client: httpx.AsyncClient | None = None,
    timeout: float = 5.0,
) -> httpx.Response:
    """Async :func:`push_events`."""
    body, headers = build_push(account, events)
    if client is not None:
        return await client.post(url, content=body, headers=headers, timeout=timeout)
    async with httpx.AsyncClient() as own:
        return await own.post(url, content=body, headers=headers, timeout=timeout)


def push_acknowledged(response: httpx.Response) -> bool:
    """Whether the receiver answered as 抖店 requires (HTTP 200 and ``{"code":0,"msg":"success"}``);
    抖店 retries a push otherwise."""
    if response.status_code != 200:
        return False
    try:
        reply = response.json()
    except ValueError:
        return False
    return isinstance(reply, dict) and reply.get("code") == 0 and reply.get("msg") == "success"
