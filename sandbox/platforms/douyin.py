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

Push: :func:`build_push` / :func:`push_events` deliver a message batch (a JSON array of ``{"tag", "msg_id",
"data"}`` with ``data`` a JSON string) signed with ``event-sign`` = MD5(app_key + body + app_secret) and ``app-id``;
the receiver must answer ``{"code":0,"msg":"success"}``.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
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
    "COMPANY_CODES",
    "PREFIX",
    "TAG_ADDRESS_CHANGED",
    "TAG_ORDER_CANCELLED",
    "TAG_ORDER_COMPLETED",
    "TAG_ORDER_CREATED",
    "TAG_ORDER_PAID",
    "TAG_ORDER_SHIPPED",
    "TAG_REFUND_CREATED",
    "apush_events",
    "build_push",
    "order_event",
    "push_acknowledged",
    "push_events",
    "render_shop_order",
    "route_handlers",
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


def _mask_name(name: str) -> str:
    return name[:1] + "*" * max(1, len(name) - 1)


def _mask_tel(tel: str) -> str:
    return tel[:3] + "****" + tel[7:] if len(tel) >= 11 else tel


def _addr(order: SimOrder, *, masked: bool = False) -> dict[str, Any]:
    r = order.receiver
    return {
        "province": {"id": "", "name": r.province},
        "city": {"id": "", "name": r.city},
        "town": {"id": "", "name": r.district},  # 抖店's "town" is the 区/县
        "street": {"id": "", "name": r.town},
        "detail": (r.detail[:4] + "****") if masked else r.detail,
        "encrypt_detail": "",
    }


def render_shop_order(order: SimOrder, account: SellerAccount) -> dict[str, Any]:
    """A ``shop_order`` as ``order.searchList`` / ``order.orderDetail`` return it (money in fen, times unix)."""
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
        "post_receiver": r.name,
        "post_tel": r.mobile,
        "post_addr": _addr(order),
        "encrypt_post_receiver": "",
        "encrypt_post_tel": "",
        "mask_post_receiver": _mask_name(r.name),
        "mask_post_tel": _mask_tel(r.mobile),
        "mask_post_addr": _addr(order, masked=True),
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
            "shop_order_list": [render_shop_order(o, account) for o in chunk],
            "page": page,
            "size": size,
            "total": len(matched),
        }

    def order_detail(self, account: SellerAccount) -> dict[str, Any]:
        order = self.store.find_order(P, account.app_key, str(self.require("shop_order_id")))
        if order is None:
            raise self.error(50002, "业务处理失败", "isv.business-failed", "订单不存在")
        return {"shop_order_detail": render_shop_order(order, account)}

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
        receiver = {"name": r.name, "tel": r.mobile, "addr": _addr(order)}
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
