"""微信小店 / 视频号小店 (WeChat Channels shop) API simulator, under ``/wechat_shop``.

- ``GET /wechat_shop/cgi-bin/token?grant_type=client_credential&appid=…&secret=…`` → ``{access_token, expires_in}``
  (a new token cuts older ones to 5 more minutes, as WeChat does); ``POST /wechat_shop/cgi-bin/stable_token``
  (``{grant_type, appid, secret, force_refresh}``) answers the current token unless forced.
- ``POST /wechat_shop/channels/ec/order/list/get?access_token=…`` ``{update_time_range|create_time_range:
  {start_time, end_time}, status?, page_size, next_key?}`` → ``{errcode, errmsg, order_id_list, next_key, has_more}``
- ``POST /wechat_shop/channels/ec/order/get`` ``{order_id}`` → ``{errcode, errmsg, order}``
- ``POST /wechat_shop/channels/ec/order/delivery/send`` ``{order_id, delivery_list: [{delivery_id, waybill_id,
  deliver_type, product_infos}]}``
- ``POST /wechat_shop/channels/ec/product/stock/get`` ``{product_id, sku_id}`` → ``{data: {normal_stock_num,
  limited_discount_stock_num, warehouse_stocks, total_stock_num}}`` (获取库存, developers.weixin.qq.com/doc/store/shop/
  API/product/get_stock.html; no regional warehouses here, so total = normal).
- ``POST /wechat_shop/channels/ec/product/stock/update`` ``{product_id, sku_id, diff_type, num}`` (快速更新库存,
  developers.weixin.qq.com/doc/store/shop/API/product/stock_update.html): diff_type "1: 增加；2：减少；3：设置", applied
  to the stock as it is at that moment — so a 3 that a caller computed before a buyer's order overwrites the units
  that order took (the doc's "不建议使用3，因为使用3在高并发场景可能会出现预期外表现"), while 1/2 keep them. The
  doc's codes: 10020051 参数错误 (product_id / sku_id / diff_type / num), 10020052 商品不存在, 10020218 增加减少数量为0
  (1/2 with num 0), 10020219 库存不足以减扣 (2 beyond the stock), 10020112 更新该sku库存频率超限 (the rate-limit fault
  on this API).

- ``POST /wechat_shop/channels/ec/funds/getfundsflowlist`` ``{page, page_size, next_key?, start_time?, end_time?,
  transaction_id?}`` → ``{flow_ids, has_more, next_key}``; ``…/funds/getfundsflowdetail`` ``{flow_id}`` →
  ``{funds_flow: {flow_id, funds_type, flow_type, amount, balance, related_info_list, bookkeeping_time, remark}}``;
  ``…/funds/listorderflow`` ``{order_settle_state, order_id?, create_time_range?, pagination_info?}`` →
  ``{total_count, data_list, page_ctx?}`` (per-order settlement). Docs: developers.weixin.qq.com/doc/store/shop/API/
  funds/getfundsflowlist.html, …/getfundsflowdetail.html, …/funds/funds/api_listorderflow.html. Funds flows are
  published the day after at 16:00 ("当日资金流水出账时间为次日16点后 … 16点前end_time最大值为前1天的0点0分0秒，16点后
  end_time最大值为当天0点0分0秒"): a flow booked at or after that cap is not listed (``store.settlements.
  wechat_flow_publish_hour``, 16). Seed with ``store.add_wechat_funds_flow`` / ``store.add_wechat_order_flow``.

No request signatures; the ``access_token`` must be one this simulator issued and still valid (40001 unknown,
42001 expired, 41001 missing). Errors answer ``{"errcode", "errmsg"}`` with HTTP 200; ``errmsg`` ends with
`` rid: …`` as WeChat's do.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from litestar import Request, Response, route

from sandbox.platforms._common import (
    Reject,
    gateway_error_page,
    json_response,
    parse_int,
    read_body_and_params,
    store_of,
    unix,
)
from sandbox.platforms.store import (
    SHANGHAI,
    OrderState,
    Platform,
    PlatformStore,
    Product,
    RefundState,
    SellerAccount,
    ShipOutcome,
    SimOrder,
)

__all__ = ["PREFIX", "render_order", "route_handlers"]

PREFIX = "/wechat_shop"
P = Platform.WECHAT_SHOP
TOKEN_TTL = timedelta(seconds=7200)
OLD_TOKEN_GRACE = timedelta(minutes=5)
MAX_RANGE = timedelta(days=7)

ERR_ORDER_NOT_FOUND = 100002
ERR_ORDER_STATUS = 100003
# 快速更新库存 / 获取库存 error codes (developers.weixin.qq.com/doc/store/shop/API/product/stock_update.html 错误码).
ERR_STOCK_PARAM = 10020051  # 参数错误，请开发者按照文档传参
ERR_STOCK_PRODUCT_NOT_FOUND = 10020052  # 商品不存在
ERR_STOCK_RATE = 10020112  # 更新该sku库存频率超限
ERR_STOCK_ZERO = 10020218  # 增加减少数量为0
ERR_STOCK_SHORT = 10020219  # 库存不足以减扣
STOCK_UPDATE_PATH = "/channels/ec/product/stock/update"
# 不存在该流水 — the code the 联盟机构 funds-flow detail doc lists (developers.weixin.qq.com/doc/store/
# leagueheadsupplier/API/getfundsflowdeatail.html); the shop flavour's page lists no specific code.
ERR_FLOW_NOT_FOUND = 10024008
MAX_FLOW_OFFSET = 10000  # "page * page_size >= 10000时必填" next_key


def order_status(order: SimOrder) -> int:
    if order.state == OrderState.CANCELLED:
        return 200 if order.paid_at else 250
    return {
        OrderState.PENDING_PAYMENT: 10,
        OrderState.PAID: 20,
        OrderState.SHIPPED: 30,
        OrderState.COMPLETED: 100,
    }[order.state]


def render_order(order: SimOrder) -> dict[str, Any]:
    """An ``order`` as ``/channels/ec/order/get`` returns it (money in fen, times unix)."""
    r = order.receiver
    products = [
        {
            "product_id": line.product_id,
            "sku_id": line.sku_id,
            "thumb_img": f"https://mmecimage.cn/p/{line.product_id}.jpg",
            "sku_cnt": line.qty,
            "sale_price": line.unit_price,
            "market_price": line.unit_price,
            "real_price": paid,
            "title": line.title,
            "sku_code": line.sku_code,
            "sku_attrs": [{"attr_key": "规格", "attr_value": line.title.rsplit(" ", 1)[-1]}],
            "on_aftersale_sku_cnt": line.qty if order.refund == RefundState.REQUESTED else 0,
            "finish_aftersale_sku_cnt": line.qty if order.refund == RefundState.REFUNDED else 0,
        }
        for line, paid in zip(order.lines, order.line_payments(), strict=True)
    ]
    delivery: dict[str, Any] = {
        "address_info": {
            "user_name": r.name,
            "postal_code": "",
            "province_name": r.province,
            "city_name": r.city,
            "county_name": r.district,
            "detail_info": (r.town + r.detail) if r.town else r.detail,
            "national_code": "",
            "tel_number": r.mobile,
            "house_number": "",
        },
        "deliver_method": 0,
        "delivery_product_info": [],
    }
    if order.tracking_no:
        delivery["ship_done_time"] = unix(order.shipped_at)
        delivery["delivery_product_info"] = [
            {
                "waybill_id": order.tracking_no,
                "delivery_id": order.company_code,
                "product_infos": [
                    {"product_id": li.product_id, "sku_id": li.sku_id, "product_cnt": li.qty} for li in order.lines
                ],
                "deliver_type": 1,
                "delivery_time": unix(order.shipped_at),
            }
        ]
    pay_info: dict[str, Any] = {}
    if order.paid_at:
        pay_info = {
            "prepay_id": "wx" + order.order_id[-12:],
            "transaction_id": "42000" + order.order_id[-15:],
            "prepay_time": unix(order.created_at),
            "pay_time": unix(order.paid_at),
        }
    return {
        "order_id": order.order_id,
        "status": order_status(order),
        "create_time": unix(order.created_at),
        "update_time": unix(order.updated_at),
        "openid": order.buyer_open_id,
        "unionid": "",
        "order_detail": {
            "product_infos": products,
            "price_info": {
                "product_price": order.goods_amount,
                "order_price": order.paid_amount,
                "freight": order.shipping_fee,
                "discounted_price": order.discount,
                "is_discounted": order.discount > 0,
            },
            "pay_info": pay_info,
            "delivery_info": delivery,
            "ext_info": {"customer_notes": order.buyer_memo, "merchant_notes": order.seller_memo},
        },
        "aftersale_detail": {
            "on_aftersale_order_cnt": 1 if order.refund == RefundState.REQUESTED else 0,
            "aftersale_order_list": [],
        },
    }


# next_key is opaque to the caller; here it is a keyset position (the sort key of the last order returned), so an
# order changed between two pages moves neither forwards nor backwards across it.
def _encode_key(after: tuple[float, str]) -> str:
    payload = {"t": after[0], "i": after[1], "n": secrets.token_hex(4)}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _decode_key(key: str) -> tuple[float, str] | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(key.encode()))
        stamp, order_id = value["t"], value["i"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(stamp, int | float) or not isinstance(order_id, str):
        return None
    return float(stamp), order_id


class _Call:
    def __init__(self, store: PlatformStore, path: str, query: dict[str, str], body: bytes) -> None:
        self.store = store
        self.path = path
        self.query = query
        self.raw = body
        self.body: dict[str, Any] = {}
        self.rid = f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
        self.app_key = query.get("appid", "")

    def error(self, code: int, msg: str) -> Reject:
        return Reject({"errcode": code, "errmsg": f"{msg} rid: {self.rid}"}, str(code))

    def invalid(self, detail: str) -> Reject:
        return self.error(40097, f"invalid args, {detail}")

    def ok(self, **payload: Any) -> dict[str, Any]:
        return {"errcode": 0, "errmsg": "ok", **payload}

    def dispatch(self) -> dict[str, Any]:
        if self.raw.strip():
            try:
                decoded = json.loads(self.raw)
            except ValueError:
                decoded = None
            if not isinstance(decoded, dict):
                raise self.error(47001, "data format error")
            self.body = decoded
        if self.path == "/cgi-bin/token":
            return self.token(self.query)
        if self.path == "/cgi-bin/stable_token":
            return self.token({k: str(v) for k, v in self.body.items()}, stable=True)
        handler = _API.get(self.path)
        if handler is None:
            raise self.error(40066, "invalid url")
        account = self.check_token()
        fault = self.store.take_fault(P, self.path)
        if (fault is not None and fault.kind == "rate_limit") or self.store.over_qps(P, account.app_key):
            if self.path == STOCK_UPDATE_PATH:
                raise self.error(ERR_STOCK_RATE, "更新该sku库存频率超限")
            raise self.error(45009, "reach max api daily quota limit")
        if fault is not None:
            raise self.error(-1, "system error")
        return handler(self, account)

    def check_token(self) -> SellerAccount:
        value = self.query.get("access_token", "")
        if not value:
            raise self.error(41001, "access_token missing")
        token = self.store.token(P, value)
        if token is None:
            raise self.error(
                40001,
                "invalid credential, access_token is invalid or not latest, could get access_token by "
                "getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r",
            )
        self.app_key = token.app_key
        if token.expired(self.store.now()):
            raise self.error(42001, "access_token expired")
        return self.store.seller(P, token.app_key)

    def token(self, params: dict[str, str], *, stable: bool = False) -> dict[str, Any]:
        appid = params.get("appid", "")
        self.app_key = appid
        if params.get("grant_type") != "client_credential":
            raise self.error(40002, "invalid grant_type")
        if not appid:
            raise self.error(41002, "appid missing")
        account = self.store.find_seller(P, appid)
        if account is None:
            raise self.error(40013, "invalid appid")
        if not params.get("secret"):
            raise self.error(41004, "appsecret missing")
        if params["secret"] != account.app_secret:
            raise self.error(40125, "invalid appsecret")
        fault = self.store.take_fault(P, self.path)
        if fault is not None and fault.kind == "rate_limit":
            raise self.error(45009, "reach max api daily quota limit")
        if fault is not None:
            raise self.error(-1, "system error")
        now = self.store.now()
        current = self.store.token(P, account.access_token)
        force = str(params.get("force_refresh", "false")).lower() == "true"
        if stable and not force and current is not None and current.expires_at - now > timedelta(minutes=5):
            return {"access_token": current.token, "expires_in": int((current.expires_at - now).total_seconds())}
        self.store.cap_token_expiry(P, appid, now + OLD_TOKEN_GRACE)
        token = self.store.issue_token(P, appid, ttl=TOKEN_TTL)
        return {"access_token": token.token, "expires_in": int(TOKEN_TTL.total_seconds())}

    # ---------------------------------------------------------------- APIs

    def order_list(self, account: SellerAccount) -> dict[str, Any]:
        size = parse_int(self.body.get("page_size"))
        if size is None or not 1 <= size <= 100:
            raise self.invalid("page_size must be 1-100")
        ranges: dict[str, tuple[datetime, datetime]] = {}
        for name in ("create_time_range", "update_time_range"):
            value = self.body.get(name)
            if value is None:
                continue
            start = parse_int(value.get("start_time")) if isinstance(value, dict) else None
            end = parse_int(value.get("end_time")) if isinstance(value, dict) else None
            if start is None or end is None or end < start:
                raise self.invalid(f"{name} needs start_time <= end_time (unix seconds)")
            first, last = datetime.fromtimestamp(start, SHANGHAI), datetime.fromtimestamp(end, SHANGHAI)
            if last - first > MAX_RANGE:
                raise self.invalid(f"{name} spans more than 7 days")
            ranges[name] = (first, last)
        if not ranges:
            raise self.invalid("create_time_range or update_time_range is required")
        status = parse_int(self.body.get("status")) if self.body.get("status") is not None else None
        after: tuple[float, str] | None = None
        if self.body.get("next_key"):
            after = _decode_key(str(self.body["next_key"]))
            if after is None:
                raise self.invalid("next_key is invalid")

        def keep(order: SimOrder) -> bool:
            created = ranges.get("create_time_range")
            updated = ranges.get("update_time_range")
            return (
                (created is None or created[0] <= order.created_at <= created[1])
                and (updated is None or updated[0] <= order.updated_at <= updated[1])
                and (status is None or order_status(order) == status)
            )

        by_update = "update_time_range" in ranges
        matched = [o for o in self.store.orders(P, account.app_key) if keep(o)]

        def position(order: SimOrder) -> tuple[float, str]:
            return ((order.updated_at if by_update else order.created_at).timestamp(), order.order_id)

        matched.sort(key=position)
        if after is not None:
            matched = [o for o in matched if position(o) > after]
        chunk = matched[:size]
        return self.ok(
            order_id_list=[o.order_id for o in chunk],
            next_key=_encode_key(position(chunk[-1]) if chunk else after or (0.0, "")),
            has_more=len(matched) > size,
        )

    def order_get(self, account: SellerAccount) -> dict[str, Any]:
        order_id = str(self.body.get("order_id", ""))
        if not order_id:
            raise self.invalid("order_id is required")
        order = self.store.find_order(P, account.app_key, order_id)
        if order is None:
            raise self.error(ERR_ORDER_NOT_FOUND, "order not exist")
        return self.ok(order=render_order(order))

    def delivery_send(self, account: SellerAccount) -> dict[str, Any]:
        order_id = str(self.body.get("order_id", ""))
        deliveries = self.body.get("delivery_list")
        if not order_id or not isinstance(deliveries, list) or not deliveries or not isinstance(deliveries[0], dict):
            raise self.invalid("order_id and delivery_list are required")
        first = deliveries[0]
        company = str(first.get("delivery_id", ""))
        waybill = str(first.get("waybill_id", ""))
        if not company or not waybill:
            raise self.invalid("delivery_id and waybill_id are required")
        outcome = self.store.ship(
            P,
            account.app_key,
            order_id,
            company_code=company,
            tracking_no=waybill,
            method="/channels/ec/order/delivery/send",
            params=self.body,
        )
        if outcome == ShipOutcome.NOT_FOUND:
            raise self.error(ERR_ORDER_NOT_FOUND, "order not exist")
        if outcome in (ShipOutcome.ALREADY_SHIPPED, ShipOutcome.NOT_SHIPPABLE):
            raise self.error(ERR_ORDER_STATUS, "order status not allow deliver")
        return self.ok()

    def stock_product(self, account: SellerAccount) -> Product:
        """The SKU ``product_id`` + ``sku_id`` name (both required by 获取库存 and 快速更新库存)."""
        product_id = str(self.body.get("product_id", "") or "")
        sku_id = str(self.body.get("sku_id", "") or "")
        if not product_id or not sku_id:
            raise self.error(ERR_STOCK_PARAM, "参数错误，请开发者按照文档传参")
        product = self.store.find_product(P, account.app_key, product_id=product_id, sku_id=sku_id)
        if product is None:
            raise self.error(ERR_STOCK_PRODUCT_NOT_FOUND, "商品不存在")
        return product

    def stock_get(self, account: SellerAccount) -> dict[str, Any]:
        product = self.stock_product(account)
        stock = product.stock
        data = {
            "normal_stock_num": stock,
            "limited_discount_stock_num": 0,
            "warehouse_stocks": [],
            "total_stock_num": stock,
        }
        return self.ok(data=data)

    def stock_update(self, account: SellerAccount) -> dict[str, Any]:
        diff_type = parse_int(self.body.get("diff_type"))
        num = parse_int(self.body.get("num"))
        if diff_type not in (1, 2, 3) or num is None or num < 0:
            raise self.error(ERR_STOCK_PARAM, "参数错误，请开发者按照文档传参")
        product = self.stock_product(account)
        if diff_type in (1, 2) and num == 0:
            raise self.error(ERR_STOCK_ZERO, "增加减少数量为0")
        quantity = {1: num, 2: -num, 3: num}[diff_type]
        update = self.store.update_stock(
            P,
            account.app_key,
            product,
            quantity,
            mode="full" if diff_type == 3 else "incremental",
            method=STOCK_UPDATE_PATH,
            params=self.body,
        )
        if update is None:  # a reduce beyond what is left
            raise self.error(ERR_STOCK_SHORT, "库存不足以减扣")
        return self.ok()

    # ---------------------------------------------------------------- funds

    def flow_cap(self) -> datetime:
        """The latest booking time already published (exclusive)."""
        now = self.store.now()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if not self.store.settlements.t_plus_one:
            return now + timedelta(seconds=1)
        hour = self.store.settlements.wechat_flow_publish_hour
        return midnight if now.hour >= hour else midnight - timedelta(days=1)

    def funds_flow_list(self, account: SellerAccount) -> dict[str, Any]:
        page = parse_int(self.body.get("page", 1))
        size = parse_int(self.body.get("page_size", 10))
        if page is None or page < 1 or size is None or not 1 <= size <= 100:
            raise self.invalid("page >= 1 and page_size 1-100")
        cap = self.flow_cap()
        start = parse_int(self.body.get("start_time")) if self.body.get("start_time") is not None else None
        end = parse_int(self.body.get("end_time")) if self.body.get("end_time") is not None else None
        if (self.body.get("start_time") is not None and start is None) or (
            self.body.get("end_time") is not None and end is None
        ):
            raise self.invalid("start_time / end_time are unix seconds")
        upper = min(cap, datetime.fromtimestamp(end, SHANGHAI)) if end is not None else cap
        lower = datetime.fromtimestamp(start, SHANGHAI) if start is not None else None
        transaction = str(self.body.get("transaction_id", "") or "")
        with self.store.settlements.lock:
            flows = list(self.store.settlements.wechat_funds_flows.get(account.app_key, []))

        def keep(flow: dict[str, Any]) -> bool:
            at: datetime = flow["_at"]
            if at >= upper or (lower is not None and at < lower):
                return False
            return not transaction or any(
                str(info.get("transaction_id", "")) == transaction for info in flow["related_info_list"]
            )

        matched = sorted((f for f in flows if keep(f)), key=lambda f: (f["_at"].timestamp(), f["_seq"]))
        after = _decode_key(str(self.body["next_key"])) if self.body.get("next_key") else None
        if self.body.get("next_key") and after is None:
            raise self.invalid("next_key is invalid")
        if after is not None:
            rest = [f for f in matched if (f["_at"].timestamp(), f["flow_id"]) > after]
        else:
            if page * size >= MAX_FLOW_OFFSET:
                raise self.invalid("next_key is required when page * page_size >= 10000")
            rest = matched[(page - 1) * size :]
        chunk = rest[:size]
        last = (chunk[-1]["_at"].timestamp(), str(chunk[-1]["flow_id"])) if chunk else after or (0.0, "")
        return self.ok(flow_ids=[f["flow_id"] for f in chunk], has_more=len(rest) > size, next_key=_encode_key(last))

    def funds_flow_detail(self, account: SellerAccount) -> dict[str, Any]:
        flow_id = str(self.body.get("flow_id", "") or "")
        if not flow_id:
            raise self.invalid("flow_id is required")
        with self.store.settlements.lock:
            flows = list(self.store.settlements.wechat_funds_flows.get(account.app_key, []))
        for flow in flows:
            if flow["flow_id"] == flow_id and flow["_at"] < self.flow_cap():
                return self.ok(funds_flow={k: v for k, v in flow.items() if not k.startswith("_")})
        raise self.error(ERR_FLOW_NOT_FOUND, "flow not exist")

    def list_order_flow(self, account: SellerAccount) -> dict[str, Any]:
        state = parse_int(self.body.get("order_settle_state"))
        if state not in (0, 1, 2, 60, 100):
            raise self.invalid("order_settle_state is required (0, 1, 2, 60, 100)")
        paging = self.body.get("pagination_info") or {}
        ranges = self.body.get("create_time_range") or {}
        if not isinstance(paging, dict) or not isinstance(ranges, dict):
            raise self.invalid("pagination_info / create_time_range are objects")
        limit = parse_int(paging.get("limit", 10))
        offset = parse_int(paging.get("offset", 0) or 0)
        if limit is None or not 1 <= limit <= 100 or offset is None or offset < 0:
            raise self.invalid("pagination_info.limit 1-100, offset >= 0")
        use_ctx = bool(paging.get("use_page_ctx"))
        begin = parse_int(ranges.get("begin")) if ranges.get("begin") is not None else None
        end = parse_int(ranges.get("end")) if ranges.get("end") is not None else None
        order_id = str(self.body.get("order_id", "") or "")
        with self.store.settlements.lock:
            rows = list(self.store.settlements.wechat_order_flows.get(account.app_key, []))
        matched = [
            r
            for r in rows
            if (state == 0 or int(r["order_settle_state"]) == state)
            and (not order_id or str(r["order_id"]) == order_id)
            and (begin is None or int(r["order_create_time"]) >= begin)
            and (end is None or int(r["order_create_time"]) < end)
        ]
        matched.sort(key=lambda r: (int(r["order_create_time"]), int(r["_seq"])))
        if use_ctx and paging.get("page_ctx"):
            try:
                last_seq = int(base64.urlsafe_b64decode(str(paging["page_ctx"]).encode()).decode())
            except ValueError:
                raise self.invalid("page_ctx is invalid") from None
            seqs = [int(r["_seq"]) for r in matched]
            start = seqs.index(last_seq) + 1 if last_seq in seqs else 0
        else:
            start = 0 if use_ctx else offset
        chunk = matched[start : start + limit]
        payload: dict[str, Any] = {
            "total_count": len(matched),
            "data_list": [{k: v for k, v in r.items() if not k.startswith("_")} for r in chunk],
        }
        if use_ctx:
            marker = str(chunk[-1]["_seq"]) if chunk else str(paging.get("page_ctx", "") or "")
            payload["page_ctx"] = base64.urlsafe_b64encode(marker.encode()).decode() if chunk else marker
        return self.ok(**payload)


_API = {
    "/channels/ec/funds/getfundsflowlist": _Call.funds_flow_list,
    "/channels/ec/funds/getfundsflowdetail": _Call.funds_flow_detail,
    "/channels/ec/funds/listorderflow": _Call.list_order_flow,
    "/channels/ec/order/list/get": _Call.order_list,
    "/channels/ec/order/get": _Call.order_get,
    "/channels/ec/order/delivery/send": _Call.delivery_send,
    "/channels/ec/product/stock/get": _Call.stock_get,
    STOCK_UPDATE_PATH: _Call.stock_update,
}


@route(PREFIX + "/{api_path:path}", http_method=["GET", "POST"], status_code=200)
async def wechat_shop_gateway(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = store_of(request)
    api_path = str(request.path_params["api_path"])
    query = {k: str(v) for k, v in request.query_params.items()}
    body, _ = await read_body_and_params(request)
    path = "/" + api_path.strip("/")
    logged: dict[str, Any] = {k: v for k, v in query.items() if k != "secret"}
    if path != "/cgi-bin/stable_token":  # keep AppSecrets out of the log
        logged["body"] = body.decode("utf-8", "replace")
    fault = store.take_fault(P, path, http=True)
    if fault is not None:
        store.log_request(P, path, query.get("appid", ""), logged, f"http {fault.http_status}", fault.http_status)
        return gateway_error_page(fault.http_status)
    call = _Call(store, path, query, body)
    try:
        answer = call.dispatch()
        outcome = "ok"
    except Reject as reject:
        answer, outcome = dict(reject.body), reject.outcome
    store.log_request(P, path, call.app_key, logged, outcome)
    return json_response(answer)


route_handlers = [wechat_shop_gateway]
