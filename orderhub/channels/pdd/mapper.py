"""拼多多 order payload (``order_sn_list[]`` of ``pdd.order.number.list.increment.get`` or ``order_info`` of
``pdd.order.information.get``) → :class:`~orderhub.channels.port.PlatformOrder`. Pure functions, no I/O.

Money on the wire is yuan (JSON numbers or strings such as ``12.3`` / ``"12.30"``); it becomes integer fen through
:class:`~decimal.Decimal`, never through float arithmetic. Times are ``YYYY-MM-DD HH:MM:SS`` in Beijing time and
become aware UTC datetimes.

Status (three fields together):

* ``confirm_status``: 0 未成交 (group not formed yet), 1 已成交, 2 已取消;
* ``order_status`` (发货状态): 1 待发货, 2 已发货待签收, 3 已签收;
* ``refund_status``: 1 无售后或售后关闭, 2 售后处理中, 3 退款中, 4 退款成功.

Carrier ids are those of ``pdd.logistics.companies.get`` (``logistics_companies[].id``); see :data:`CARRIER_IDS`.

Receivers are encrypted (订单接口收件人信息加密, 「常见FAQ」 https://open.pinduoduo.com/application/document/browse?idStr=3155CCB725082A31):
``receiver_name``, ``receiver_phone``, ``receiver_address`` (street address without 省市区) and ``address`` (the
full address) are ciphertexts, ``receiver_name_mask`` / ``receiver_phone_mask`` / ``receiver_address_mask`` /
``address_mask`` their masked forms, ``province`` / ``city`` / ``town`` (区县) stay clear. The ciphertext format
(「数据检索存储方案」 https://open.pinduoduo.com/application/document/browse?idStr=3407B605226E77F2, as the SDKs
read it — lywzx/pdd-node-sdk packages/core/src/helper/index.ts ``isEncryptData`` / ``extractIndex``): a phone is
``$<search index>$<base64 ciphertext>$<key version>$$`` (an id number the same with ``#``), any other field
``~<base64 ciphertext>~<search index>~<key version>~~``. The phone's search index is what finds the same phone
again without decrypting (:attr:`ReceiverCipher.phone_index`). Decrypting is ``pdd.open.decrypt.batch`` (connector).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from orderhub import wire
from orderhub.channels.port import PlatformOrder, PlatformOrderState
from orderhub.orders.commands import NewOrder, NewOrderLine, Receiver, ReceiverCipher

__all__ = [
    "CARRIER_IDS",
    "CARRIER_MAP",
    "DETAIL_FIELDS",
    "PayloadError",
    "carrier_id",
    "is_ciphertext",
    "needs_detail",
    "order_state",
    "parse_time",
    "platform_status",
    "receiver",
    "search_index",
    "to_order",
    "yuan_to_fen",
]


# The hub's carrier code → 拼多多 logistics company id. Source: the ids ``pdd.logistics.companies.get`` answers
# (申通 1, 顺丰 44, 圆通 85, 中通 115, 邮政EMS 118, 京东配送 120, 韵达 121, 极兔 384). The simulator accepts any
# integer, so it cannot confirm them; check a live ``pdd.logistics.companies.get`` before going live (the 极兔 id
# in particular was added when 极兔 entered China and was first listed as unavailable).
CARRIER_IDS: dict[str, int] = {
    "STO": 1,
    "SF": 44,
    "YTO": 85,
    "ZTO": 115,
    "EMS": 118,
    "JD": 120,
    "YD": 121,
    "JT": 384,
}

# The registry walk (tests/unit/test_integrations.py) reads every platform's carrier table under this name.
CARRIER_MAP: Final[Mapping[str, object]] = CARRIER_IDS

# What the mapper reads beyond the list's own fields; an entry lacking one of these is fetched in full.
DETAIL_FIELDS = ("order_sn", "item_list", "receiver_name", "province", "pay_amount", "updated_at", "order_status")

_CANCELLED_CONFIRM = 2
_UNCONFIRMED = 0
_REFUND_IN_PROGRESS = (2, 3)
_REFUND_DONE = 4


class PayloadError(ValueError):
    """The payload lacks or garbles a field the hub needs (names the order and the field)."""


def yuan_to_fen(value: Any, field: str = "amount") -> int:
    """Yuan as the platform sends it (``12.3``, ``"12.30"``, ``12``) → integer fen, exactly (half-up below a fen)."""
    try:
        return wire.yuan_to_fen(value)
    except wire.NotAnAmount:
        raise PayloadError(f"{field}: 金额不是数字 ({value!r})") from None


def parse_time(value: Any, field: str = "time") -> datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` (Beijing) or unix seconds → aware UTC; ``None`` for empty values."""
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        try:
            return wire.beijing_to_utc(text)
        except ValueError:
            pass
    raise PayloadError(f"{field}: 时间格式不对 ({value!r})")


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


def needs_detail(payload: Mapping[str, Any]) -> bool:
    """Whether a list entry lacks fields the mapper needs (then fetch ``pdd.order.information.get``)."""
    return any(key not in payload for key in DETAIL_FIELDS)


def order_state(payload: Mapping[str, Any]) -> PlatformOrderState:
    confirm = _int(payload, "confirm_status", 1)
    shipping = _int(payload, "order_status", 1)
    refund = _int(payload, "refund_status", 1)
    if confirm == _CANCELLED_CONFIRM or refund == _REFUND_DONE:
        return PlatformOrderState.CANCELLED
    if confirm == _UNCONFIRMED or not (payload.get("pay_time") or payload.get("confirm_time")):
        return PlatformOrderState.UNPAID
    if shipping == 3:
        return PlatformOrderState.COMPLETED
    if shipping == 2:
        return PlatformOrderState.SHIPPED
    if refund in _REFUND_IN_PROGRESS:
        return PlatformOrderState.REFUND_REQUESTED
    return PlatformOrderState.PAID


def platform_status(payload: Mapping[str, Any]) -> str:
    """The platform's status fields as received (拼多多 spreads the status over three of them)."""
    return ",".join(
        f"{key}={_text(payload, key)}" for key in ("order_status", "refund_status", "confirm_status") if key in payload
    )


def carrier_id(carrier: str) -> int | None:
    """The 拼多多 logistics id for one of the hub's carrier codes (``None`` when the hub has no mapping)."""
    return CARRIER_IDS.get(carrier.strip().upper())


_PHONE_SEPARATORS = ("$", "#")  # phone / id number; every other field uses "~"
_SEPARATORS = ("$", "#", "~")
PLATFORM = "pdd"  # the catalogue code a ReceiverCipher names (who can decrypt it)


def _parts(value: str) -> list[str] | None:
    """The non-empty parts of a ciphertext in 拼多多's format, or None when ``value`` is not one."""
    if len(value) < 5 or value[0] != value[-1] or value[0] not in _SEPARATORS:
        return None
    parts = [part for part in value.split(value[0]) if part]
    if len(parts) < 2 or not parts[-1].isdigit():  # the last part is the key version
        return None
    return parts


def is_ciphertext(value: str) -> bool:
    """Whether ``value`` is a 拼多多 ciphertext (``$index$cipher$ver$$`` / ``~cipher~index~ver~~``)."""
    return _parts(value) is not None


def search_index(value: str) -> str:
    """The search index a ciphertext carries ("" when it has none or is no ciphertext)."""
    parts = _parts(value)
    if parts is None or len(parts) < 3 or value[-2] != value[0]:  # no index: "$cipher$ver$" / "~cipher~ver~"
        return ""
    return parts[0] if value[0] in _PHONE_SEPARATORS else parts[1]


def receiver(payload: Mapping[str, Any]) -> Receiver:
    """The order's receiver: clear fields where 拼多多 sent them, else the masked forms with the ciphertexts kept in
    :attr:`Receiver.cipher` (ENCRYPTED contract: a ciphertext never goes into name / phone / detail)."""
    province, city, district = _text(payload, "province"), _text(payload, "city"), _text(payload, "town")
    name, phone, detail = (_text(payload, key) for key in ("receiver_name", "receiver_phone", "receiver_address"))
    name_masked, phone_masked, detail_masked = (
        _text(payload, key) for key in ("receiver_name_mask", "receiver_phone_mask", "receiver_address_mask")
    )
    fields = (("name", name), ("phone", phone), ("detail", detail))
    ciphers = {key: value for key, value in fields if is_ciphertext(value)}
    if not ciphers:
        return Receiver(
            name=name, phone=phone, province=province, city=city, district=district, detail=detail,
            address=_text(payload, "address"),
        )
    cipher = ReceiverCipher(
        platform=PLATFORM,
        name=ciphers.get("name", ""),
        phone=ciphers.get("phone", ""),
        detail=ciphers.get("detail", ""),
        name_masked=name_masked,
        phone_masked=phone_masked,
        detail_masked=detail_masked,
        phone_index=search_index(ciphers["phone"]) if "phone" in ciphers else "",
        detail_index=search_index(ciphers["detail"]) if "detail" in ciphers else "",
    )
    shown_detail = detail_masked if "detail" in ciphers else detail
    full = _text(payload, "address")
    return Receiver(
        name=name_masked if "name" in ciphers else name,
        phone=phone_masked if "phone" in ciphers else phone,
        province=province,
        city=city,
        district=district,
        detail=shown_detail,
        address=full if full and not is_ciphertext(full) else f"{province}{city}{district}{shown_detail}",
        cipher=cipher,
    )


def _line(item: Mapping[str, Any], index: int) -> NewOrderLine:
    sku = _text(item, "outer_id").strip() or _text(item, "sku_id").strip()
    if not sku:
        raise PayloadError(f"item_list[{index}]: 没有商家编码 outer_id，也没有 sku_id")
    return NewOrderLine(
        sku=sku,
        qty=_int(item, "goods_count"),
        unit_price=yuan_to_fen(item.get("goods_price"), f"item_list[{index}].goods_price"),
    )


def _discount(payload: Mapping[str, Any]) -> int:
    if payload.get("discount_amount") not in (None, ""):
        return yuan_to_fen(payload["discount_amount"], "discount_amount")
    parts = ("seller_discount", "platform_discount", "capital_free_discount")
    return sum(yuan_to_fen(payload.get(name), name) for name in parts)


def to_order(payload: Mapping[str, Any]) -> PlatformOrder:
    """One 拼多多 order as the hub reads it. Raises :class:`PayloadError` when a needed field is missing."""
    order_sn = _text(payload, "order_sn").strip()
    if not order_sn:
        raise PayloadError("order_sn: 缺少订单号")
    try:
        placed_at = parse_time(payload.get("created_time"), "created_time")
        updated_at = parse_time(payload.get("updated_at"), "updated_at")
        if placed_at is None:
            raise PayloadError("created_time: 缺少下单时间")
        if updated_at is None:
            raise PayloadError("updated_at: 缺少更新时间")
        items = payload.get("item_list")
        if not isinstance(items, list) or not items:
            raise PayloadError("item_list: 缺少商品")
        lines = tuple(_line(item, i) for i, item in enumerate(items) if isinstance(item, Mapping))
        order = NewOrder(
            external_id=order_sn,
            placed_at=placed_at,
            paid_at=parse_time(payload.get("pay_time"), "pay_time") or parse_time(payload.get("confirm_time")),
            ship_by=parse_time(payload.get("last_ship_time"), "last_ship_time"),
            buyer_nick="",
            buyer_phone="",
            receiver=receiver(payload),
            lines=lines,
            shipping_fee=yuan_to_fen(payload.get("postage"), "postage"),
            discount=_discount(payload),
            paid_amount=yuan_to_fen(payload.get("pay_amount"), "pay_amount"),
            buyer_memo=_text(payload, "buyer_memo"),
            seller_memo=_text(payload, "remark"),
            raw=dict(payload),
        )
        return PlatformOrder(
            order=order, state=order_state(payload), platform_status=platform_status(payload), updated_at=updated_at
        )
    except PayloadError as exc:
        raise PayloadError(f"拼多多订单 {order_sn}: {exc}") from None
