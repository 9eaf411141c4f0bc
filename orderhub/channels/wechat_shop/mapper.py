"""微信小店 order payload (``order`` of ``/channels/ec/order/get``) → :class:`~orderhub.channels.port.PlatformOrder`.
Pure functions, no I/O.

Money on this API is already integer fen; times are unix seconds (made aware UTC here).

``status``: 10 待付款, 12 礼物待收下, 13 凑单买凑团中, 20 待发货, 21 部分发货, 30 待收货, 100 完成,
200 全部商品售后之后订单取消, 250 未付款用户主动取消或超时未付款订单自动取消. A buyer's after-sale request on an
order still waiting to ship shows in ``aftersale_detail.on_aftersale_order_cnt`` (and per line in
``on_aftersale_sku_cnt``) while ``status`` stays 20.

Carrier codes are the ``delivery_id`` values of ``/channels/ec/order/deliverycompanylist/get``; see
:data:`DELIVERY_IDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from orderhub.channels.port import PlatformOrder, PlatformOrderState
from orderhub.orders.commands import NewOrder, NewOrderLine, Receiver

__all__ = [
    "CARRIER_MAP",
    "DELIVERY_IDS",
    "PayloadError",
    "delivery_id",
    "order_state",
    "product_infos",
    "to_order",
]

# The hub's carrier code → 微信小店 delivery_id. Source: the delivery_id table in the 微信小店 API docs
# (获取快递公司列表: 中通 ZTO, 圆通 YTO, 韵达 YUNDA, 极兔 JTSD, 申通 STO, 顺丰 SF, 京东 JD, 中国邮政 EMS). The simulator
# accepts any non-empty string, so it cannot confirm them.
DELIVERY_IDS: dict[str, str] = {
    "SF": "SF",
    "ZTO": "ZTO",
    "YTO": "YTO",
    "STO": "STO",
    "YD": "YUNDA",
    "JT": "JTSD",
    "EMS": "EMS",
    "JD": "JD",
}

# The registry walk (tests/unit/test_integrations.py) reads every platform's carrier table under this name.
CARRIER_MAP: Final[Mapping[str, object]] = DELIVERY_IDS

_UNPAID = frozenset({10, 12, 13})
_WAITING = frozenset({20, 21})
_SHIPPED = 30
_COMPLETED = 100
_CANCELLED = frozenset({200, 250})


class PayloadError(ValueError):
    """The payload lacks or garbles a field the hub needs."""


def _int(payload: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = payload.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise PayloadError(f"{key}: 不是整数 ({value!r})")


def _text(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    return "" if value is None else str(value)


def _dict(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, Mapping) else {}


def _time(payload: Mapping[str, Any], key: str) -> datetime | None:
    seconds = _int(payload, key)
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def _products(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    products = _dict(order, "order_detail").get("product_infos")
    return [p for p in products if isinstance(p, Mapping)] if isinstance(products, list) else []


def order_state(order: Mapping[str, Any]) -> PlatformOrderState:
    """The hub's reading of ``status`` and the after-sale counters. Unknown statuses are held back as UNPAID
    (not to be shipped) rather than guessed."""
    status = _int(order, "status")
    if status in _CANCELLED:
        return PlatformOrderState.CANCELLED
    if status == _COMPLETED:
        return PlatformOrderState.COMPLETED
    if status == _SHIPPED:
        return PlatformOrderState.SHIPPED
    if status in _WAITING:
        products = _products(order)
        if products and all(_int(p, "finish_aftersale_sku_cnt") >= max(_int(p, "sku_cnt"), 1) for p in products):
            return PlatformOrderState.CANCELLED  # every unit refunded before shipping
        in_aftersale = _int(_dict(order, "aftersale_detail"), "on_aftersale_order_cnt") > 0 or any(
            _int(p, "on_aftersale_sku_cnt") > 0 for p in products
        )
        return PlatformOrderState.REFUND_REQUESTED if in_aftersale else PlatformOrderState.PAID
    return PlatformOrderState.UNPAID


def delivery_id(carrier: str) -> str | None:
    """The 微信小店 delivery_id for one of the hub's carrier codes (``None`` when the hub has no mapping)."""
    return DELIVERY_IDS.get(carrier.strip().upper())


def product_infos(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every line of the order as ``delivery/send`` lists a parcel's contents (the whole order in one parcel)."""
    return [
        {"product_id": p.get("product_id"), "sku_id": p.get("sku_id"), "product_cnt": _int(p, "sku_cnt")}
        for p in _products(order)
    ]


def _line(product: Mapping[str, Any], index: int) -> NewOrderLine:
    sku = next(
        (_text(product, key).strip() for key in ("sku_code", "out_sku_id", "sku_id") if _text(product, key).strip()),
        "",
    )
    if not sku:
        raise PayloadError(f"product_infos[{index}]: 没有商家编码 sku_code，也没有 sku_id")
    return NewOrderLine(sku=sku, qty=_int(product, "sku_cnt"), unit_price=_int(product, "sale_price"))


def to_order(order: Mapping[str, Any]) -> PlatformOrder:
    """One 微信小店 order as the hub reads it. Raises :class:`PayloadError` when a needed field is missing."""
    order_id = _text(order, "order_id").strip()
    if not order_id:
        raise PayloadError("order_id: 缺少订单号")
    try:
        placed_at = _time(order, "create_time")
        updated_at = _time(order, "update_time")
        if placed_at is None:
            raise PayloadError("create_time: 缺少下单时间")
        if updated_at is None:
            raise PayloadError("update_time: 缺少更新时间")
        detail = _dict(order, "order_detail")
        products = _products(order)
        if not products:
            raise PayloadError("order_detail.product_infos: 缺少商品")
        price = _dict(detail, "price_info")
        address = _dict(_dict(detail, "delivery_info"), "address_info")
        ext = _dict(detail, "ext_info")
        paid_amount = _int(price, "order_price")
        if "product_price" in price and "order_price" in price:
            # Everything that took the price down (shop and platform discounts, seller price cuts).
            discount = max(0, _int(price, "product_price") + _int(price, "freight") - paid_amount)
        else:
            discount = _int(price, "discounted_price")
        house = _text(address, "house_number")
        street = _text(address, "detail_info")
        new_order = NewOrder(
            external_id=order_id,
            placed_at=placed_at,
            paid_at=_time(_dict(detail, "pay_info"), "pay_time"),
            buyer_nick="",
            buyer_phone="",
            receiver=Receiver(
                name=_text(address, "user_name"),
                phone=_text(address, "tel_number"),
                province=_text(address, "province_name"),
                city=_text(address, "city_name"),
                district=_text(address, "county_name"),
                detail=street + house if house and house not in street else street,
            ),
            lines=tuple(_line(p, i) for i, p in enumerate(products)),
            shipping_fee=_int(price, "freight"),
            discount=discount,
            paid_amount=paid_amount,
            buyer_memo=_text(ext, "customer_notes"),
            seller_memo=_text(ext, "merchant_notes"),
            raw=dict(order),
        )
        return PlatformOrder(
            order=new_order, state=order_state(order), platform_status=_text(order, "status"), updated_at=updated_at
        )
    except PayloadError as exc:
        raise PayloadError(f"微信小店订单 {order_id}: {exc}") from None
