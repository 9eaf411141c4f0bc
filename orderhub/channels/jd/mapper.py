"""JOS ``OrderSearchInfo`` → :class:`~orderhub.channels.port.PlatformOrder`, and the hub's carrier codes → JD
``logiCoprId``.

Pure functions, no I/O. JOS sends numbers and money as strings (``"12.30"``): money leaves as integer fen through
``Decimal`` (never ``float``); times arrive as Beijing local strings and leave aware, in UTC. The receiver is passed
on as the platform gave it (the pipeline standardises addresses later).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from orderhub.channels.port import PlatformOrder, PlatformOrderState
from orderhub.orders.commands import NewOrder, NewOrderLine, Receiver
from orderhub.wire import beijing_or_none as parse_time
from orderhub.wire import yuan_to_fen

__all__ = [
    "ALL_ORDER_STATES",
    "CARRIER_MAP",
    "LOGISTICS_IDS",
    "OPTIONAL_FIELDS",
    "ORDER_STATES",
    "UNMAPPED_CARRIERS",
    "logistics_id",
    "map_order",
    "order_state",
    "parse_time",
    "yuan_to_fen",
]

# ``optional_fields`` of jingdong.pop.order.search / jingdong.pop.order.get: what the mapper reads.
OPTIONAL_FIELDS: Final = ",".join(
    [
        "orderId",
        "venderId",
        "orderType",
        "orderTotalPrice",
        "orderSellerPrice",
        "orderPayment",
        "freightPrice",
        "sellerDiscount",
        "orderState",
        "orderStateRemark",
        "orderRemark",
        "venderRemark",
        "orderStartTime",
        "paymentConfirmTime",
        "orderEndTime",
        "modified",
        "pin",
        "waybill",
        "logisticsId",
        "consigneeInfo",
        "itemInfoList",
    ]
)

# JOS order states → the hub's reading. Anything not listed reads as UNPAID (never shipped on a guess).
ORDER_STATES: Final[Mapping[str, PlatformOrderState]] = {
    "WAIT_SELLER_STOCK_OUT": PlatformOrderState.PAID,  # 等待出库
    "WAIT_SELLER_DELIVERY": PlatformOrderState.PAID,  # 等待发货（海外购：等待境内发货）
    "LOCKED": PlatformOrderState.REFUND_REQUESTED,  # 已锁定: the buyer asked to cancel / refund before shipping
    "PAUSE": PlatformOrderState.UNPAID,  # 暂停 (LOC orders): not to be shipped for now
    "POP_ORDER_PAUSE": PlatformOrderState.UNPAID,  # POP 业务暂停: not to be shipped for now
    "WAIT_GOODS_RECEIVE_CONFIRM": PlatformOrderState.SHIPPED,  # 等待确认收货
    "RECEIPT_CONFIRM": PlatformOrderState.COMPLETED,  # 收款确认（服务完成）
    "FINISHED_L": PlatformOrderState.COMPLETED,  # 完成
    "TRADE_CANCELED": PlatformOrderState.CANCELLED,  # 取消
}
# What the connector asks jingdong.pop.order.search for (``order_state`` is required): every state there is.
ALL_ORDER_STATES: Final = ",".join(ORDER_STATES)

# The hub's carrier codes → JD logistics company ids (``logiCoprId`` of jingdong.pop.order.shipment). JD numbers its
# carriers; these are the ids JOS lists for the common couriers (the vendor's own list comes from the 商家物流公司
# API / 京麦 "我的配送"). The simulator accepts any positive integer, so it does not check them. 极兔 is left out
# on purpose: its id could not be confirmed — pass the numeric id as the carrier code instead.
LOGISTICS_IDS: Final[Mapping[str, str]] = {
    "SF": "467",  # 顺丰速运
    "ZTO": "1499",  # 中通快递
    "YTO": "463",  # 圆通速递
    "STO": "470",  # 申通快递
    "YD": "1327",  # 韵达快递
    "EMS": "465",  # 邮政 EMS
    "JD": "2087",  # 京东快递
}

# The registry walk (tests/unit/test_integrations.py) reads every platform's carrier table under this name.
CARRIER_MAP: Final[Mapping[str, object]] = LOGISTICS_IDS
# Catalogue carriers left out on purpose, and why.
UNMAPPED_CARRIERS: Final[Mapping[str, str]] = {"JT": "极兔's logiCoprId could not be confirmed"}


def logistics_id(carrier: str) -> str:
    """The JD ``logiCoprId`` for one of the hub's carrier codes (a numeric code passes through as it is)."""
    code = carrier.strip().upper()
    if code.isdigit() and int(code) > 0:
        return code
    value = LOGISTICS_IDS.get(code)
    if value is None:
        raise ValueError(f"承运商 {carrier!r} 没有对应的京东物流公司 ID（logiCoprId）")
    return value


def order_state(order: Mapping[str, Any]) -> PlatformOrderState:
    return ORDER_STATES.get(str(order.get("orderState", "")), PlatformOrderState.UNPAID)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _qty(value: object) -> int:
    text = str(value if value is not None else "").strip()
    if not text:
        return 0
    return int(Decimal(text))


def _items(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = order.get("itemInfoList")
    if not isinstance(items, Sequence) or isinstance(items, str):
        return []
    return [item for item in items if isinstance(item, Mapping)]


def _line_sku(item: Mapping[str, Any]) -> str:
    for key in ("outerSkuId", "skuId"):
        value = item.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


def _receiver(order: Mapping[str, Any]) -> Receiver:
    info = order.get("consigneeInfo")
    consignee: Mapping[str, Any] = info if isinstance(info, Mapping) else {}
    province = _text(consignee, "province")
    city = _text(consignee, "city")
    county = _text(consignee, "county")
    full = _text(consignee, "fullAddress")
    # JOS gives the whole address in one line, led by the province/city/county it also gives apart; the rest
    # (town + street) is the detail. When the line is not led by them, the detail is the line as given.
    prefix = province + city + county
    detail = full[len(prefix) :] if prefix and full.startswith(prefix) else full
    return Receiver(
        name=_text(consignee, "fullname"),
        phone=_text(consignee, "mobile") or _text(consignee, "telephone"),
        province=province,
        city=city,
        district=county,
        detail=detail,
        address=full,
    )


def map_order(order: Mapping[str, Any]) -> PlatformOrder:
    """One JOS order (``OrderSearchInfo`` / ``orderInfo``) in the hub's terms."""
    external_id = _text(order, "orderId").strip()
    if not external_id:
        raise ValueError("京东订单缺少 orderId")
    created = parse_time(order.get("orderStartTime"))
    modified = parse_time(order.get("modified")) or created
    if created is None or modified is None:
        raise ValueError(f"京东订单 {external_id} 缺少 orderStartTime / modified")
    lines = tuple(
        NewOrderLine(sku=_line_sku(item), qty=_qty(item.get("itemTotal")), unit_price=yuan_to_fen(item.get("jdPrice")))
        for item in _items(order)
    )
    goods = sum(line.qty * line.unit_price for line in lines)
    shipping_fee = yuan_to_fen(order.get("freightPrice"))
    paid_amount = yuan_to_fen(order.get("orderPayment"))
    # Seller discounts (sellerDiscount) and what JD itself pays for (coupons, JD beans) together: everything between
    # the list price and what the buyer pays.
    discount = max(0, goods + shipping_fee - paid_amount)
    new_order = NewOrder(
        external_id=external_id,
        placed_at=created,
        paid_at=parse_time(order.get("paymentConfirmTime")),
        buyer_nick=_text(order, "pin"),
        buyer_phone="",
        receiver=_receiver(order),
        lines=lines,
        shipping_fee=shipping_fee,
        discount=discount,
        paid_amount=paid_amount,
        buyer_memo=_text(order, "orderRemark"),
        seller_memo=_text(order, "venderRemark"),
        raw=dict(order),
    )
    return PlatformOrder(
        order=new_order,
        state=order_state(order),
        platform_status=_text(order, "orderState"),
        updated_at=modified,
    )
