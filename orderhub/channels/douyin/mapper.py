"""抖店 payloads → the hub's terms (pure functions; nothing 抖店-shaped passes this module).

A ``shop_order`` (as ``order.searchList`` lists it and ``order.orderDetail`` returns it as
``shop_order_detail``) becomes a :class:`~orderhub.channels.port.PlatformOrder`:

* money: 抖店 sends integer fen (``pay_amount``, ``post_amount``, ``promotion_amount``, ``goods_price``); a yuan
  string (``"12.30"``) is read with :class:`~decimal.Decimal`, never ``float``;
* times: unix seconds (0 = not yet), or ``YYYY-MM-DD HH:MM:SS`` Beijing time; returned aware, in UTC;
* lines: ``sku`` is the seller's own code (商家编码 ``out_sku_id``, else ``code``), the platform ``sku_id`` only
  when the seller left it empty;
* receiver: 抖店 sends it encrypted (``encrypt_post_receiver`` / ``encrypt_post_tel`` / ``post_addr.encrypt_detail``)
  with masked text beside it (``mask_post_*``), see :func:`receiver`: the hub keeps the ciphertexts and the masked
  forms in :class:`~orderhub.orders.commands.ReceiverCipher` (decrypt with ``order.batchDecrypt``, print with
  抖音电子面单) and the masked text in the clear fields — or the clear values when an old app / test shop still gets
  them. 抖店's ``town`` is the 区/县 and its ``street`` the 街道/乡镇, put in front of ``detail`` so it is not lost;
* state: from ``order_status`` and the lines' ``after_sale_info`` (see :func:`order_state`).

The carrier table (:data:`CARRIER_CODES`) maps the hub's carrier codes to 抖店 ``company_code`` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from orderhub import clock, wire
from orderhub.channels.port import InvalidRequest, PlatformOrder, PlatformOrderState
from orderhub.errors import ValidationFailed
from orderhub.orders.commands import NewOrder, NewOrderLine, Receiver, ReceiverCipher

__all__ = [
    "CARRIER_CODES",
    "CARRIER_MAP",
    "ORDER_STATUS_STATES",
    "PLATFORM",
    "carrier_code",
    "cipher_index",
    "is_cipher",
    "map_order",
    "needs_detail",
    "order_state",
    "receiver",
    "to_datetime",
    "to_fen",
]


# The hub's carrier code → 抖店 logistics ``company_code`` (what ``order.logisticsAdd`` takes).
# Source: the 抖店 company list (``order.logisticsCompanyList``, kuaidi100-style codes) as the simulator accepts it
# (sandbox/platforms/douyin.py COMPANY_CODES): 顺丰速运 shunfeng, 中通 zhongtong, 圆通 yuantong, 申通 shentong,
# 韵达 yunda, 极兔 jtexpress, EMS ems, 京东物流 jd.
CARRIER_CODES: Final[Mapping[str, str]] = {
    "SF": "shunfeng",
    "ZTO": "zhongtong",
    "YTO": "yuantong",
    "STO": "shentong",
    "YD": "yunda",
    "JT": "jtexpress",
    "EMS": "ems",
    "JD": "jd",
}

# The registry walk (tests/unit/test_integrations.py) reads every platform's carrier table under this name.
CARRIER_MAP: Final[Mapping[str, object]] = CARRIER_CODES

# 抖店 ``order_status`` (shop order level) → the hub's reading, before after-sales are considered.
ORDER_STATUS_STATES: Final[Mapping[int, PlatformOrderState]] = {
    1: PlatformOrderState.UNPAID,  # 待支付 / 待确认
    103: PlatformOrderState.UNPAID,  # 部分支付 (定金已付，尾款未付)
    105: PlatformOrderState.UNPAID,  # 已支付，待平台确认（拼团未成团 / 风控审核）— not to be shipped yet
    2: PlatformOrderState.PAID,  # 备货中 (待发货)
    101: PlatformOrderState.PAID,  # 部分发货: lines are still waiting for the seller
    3: PlatformOrderState.SHIPPED,  # 已发货 (全部发货)
    4: PlatformOrderState.CANCELLED,  # 已取消 / 已关闭
    5: PlatformOrderState.COMPLETED,  # 已完成
    21: PlatformOrderState.CANCELLED,  # 发货前退款完结 (older status)
    22: PlatformOrderState.CANCELLED,  # 发货后退款完结 (older status)
    39: PlatformOrderState.CANCELLED,  # 收货后退款完结 (older status)
}

# after_sale_info.after_sale_status values that mean "no after-sale running" (0 none; 27 refused; 28 failed;
# 29 refund refused after return; 51 cancelled by the buyer; 53 reverse flow finished) and "refunded" (12).
_AFTER_SALE_IDLE: Final = frozenset({0, 27, 28, 29, 51, 53})
_AFTER_SALE_SUCCEEDED: Final = 12
# after_sale_info.refund_status: 0 none, 1 waiting, 2 refunding, 3 refunded, 4 refund failed.
_REFUND_RUNNING: Final = frozenset({1, 2})
_REFUND_DONE: Final = 3


def to_fen(value: Any, *, field: str = "amount") -> int:
    """An amount in fen: ints (and digit strings) are fen already; a decimal string is yuan."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValidationFailed(f"抖店金额字段 {field} 不是数字", field=field)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # Not expected from 抖店; go through the decimal text so 0.1 + 0.2 artefacts cannot creep in.
        value = repr(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return wire.yuan_to_fen(text, exact=True)
    except wire.SubFenAmount:
        raise ValidationFailed(f"抖店金额字段 {field} 精度超过分：{text!r}", field=field) from None
    except wire.NotAnAmount as exc:
        raise ValidationFailed(f"抖店金额字段 {field} 不是数字：{text!r}", field=field) from exc


def to_datetime(value: Any) -> datetime | None:
    """Unix seconds (int or digit string; 0 = none) or a Beijing ``YYYY-MM-DD HH:MM:SS`` → aware UTC."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(int(value), UTC) if value > 0 else None
    text = str(value).strip()
    if text.isdigit():
        seconds = int(text)
        return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None
    if text.startswith("0000") or text.startswith("1970-01-01"):
        return None
    try:
        return wire.beijing_to_utc(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValidationFailed(f"抖店时间格式无法识别：{text!r}") from exc
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=clock.SHANGHAI)).astimezone(UTC)


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    text = str(value).strip() if value is not None else ""
    return int(text) if text.lstrip("-").isdigit() else default


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _name(part: Any) -> str:
    """``{"id": …, "name": …}`` (the v2 form) or a bare string."""
    if isinstance(part, Mapping):
        return _text(part.get("name"))
    return _text(part)


def _skus(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    skus = payload.get("sku_order_list")
    return [s for s in skus if isinstance(s, Mapping)] if isinstance(skus, list) else []


def needs_detail(payload: Mapping[str, Any]) -> bool:
    """Whether a list entry lacks what :func:`map_order` needs (then ``order.orderDetail`` is fetched)."""
    return (
        not _skus(payload)
        or not isinstance(payload.get("post_addr"), Mapping)
        or "order_status" not in payload
        or not payload.get("update_time")
    )


def _line_refund(sku: Mapping[str, Any]) -> str:
    info = sku.get("after_sale_info")
    if not isinstance(info, Mapping):
        return "none"
    after_sale = _int(info.get("after_sale_status"))
    refund = _int(info.get("refund_status"))
    if refund == _REFUND_DONE or after_sale == _AFTER_SALE_SUCCEEDED:
        return "refunded"
    if refund in _REFUND_RUNNING or after_sale not in _AFTER_SALE_IDLE:
        return "requested"
    return "none"


def order_state(payload: Mapping[str, Any]) -> PlatformOrderState:
    """The hub's reading of a shop order.

    ``order_status`` decides, except while the order waits to be shipped: then every line refunded means
    CANCELLED (抖店 may keep the status at 备货中 a while), and a refund asked for or done on some lines means
    REFUND_REQUESTED (someone must look before it ships). Unknown statuses read as UNPAID (never shipped blindly).
    """
    base = ORDER_STATUS_STATES.get(_int(payload.get("order_status"), -1), PlatformOrderState.UNPAID)
    if base != PlatformOrderState.PAID:
        return base
    refunds = [_line_refund(sku) for sku in _skus(payload)]
    if refunds and all(r == "refunded" for r in refunds):
        return PlatformOrderState.CANCELLED
    if any(r != "none" for r in refunds):
        return PlatformOrderState.REFUND_REQUESTED
    return base


# 抖店 数据安全加密对接文档 (https://op.jinritemai.com/docs/guide-docs/56/589): a ciphertext is
# ``<sep><search index><sep><ciphertext><sep><key version><sep><sep>`` with ``$`` for phone numbers, ``#`` for
# addresses and ``~`` for names; the search index (between the first two separators) is equal for the same clear text
# within the shop, and is what ``order.BatchSearchIndex`` answers for a clear value.
_CIPHER_SEPARATORS: Final = frozenset("$#~")
PLATFORM: Final = "douyin"  # the platform catalogue code (who can decrypt the ciphertexts)


def is_cipher(value: str) -> bool:
    """Whether ``value`` has the form of a 抖店 ciphertext (not a clear or masked value)."""
    return len(value) >= 4 and value[0] in _CIPHER_SEPARATORS and value[-1] == value[0] and value.count(value[0]) >= 4


def cipher_index(value: str) -> str:
    """The search index a 抖店 ciphertext carries ("" when ``value`` is not a ciphertext)."""
    return value.split(value[0])[1] if is_cipher(value) else ""


def _clear(value: Any) -> str:
    """A field that may hold clear text: empty when 抖店 left it empty or put a ciphertext in it."""
    text = _text(value)
    return "" if is_cipher(text) else text


def receiver(payload: Mapping[str, Any]) -> Receiver:
    """The order's receiver (the mapper rule of ENCRYPTED receivers).

    * Encrypted (what every app gets now): ``name`` / ``phone`` / ``detail`` hold the masked text, ``cipher`` the
      ciphertexts, the masked forms and the phone's search index (cut from its ciphertext). 抖店 documents no
      open-address id for shop orders, so ``cipher.open_id`` stays empty.
    * Clear values present as well (old apps, test shops): they fill ``name`` / ``phone`` / ``detail``, the cipher
      is kept.
    * Neither ciphertext nor clear value: whatever is given (masked text), so the order is not dropped; the
      address and phone checks then hold it.
    """
    post = payload.get("post_addr")
    post = post if isinstance(post, Mapping) else {}
    masked_addr = payload.get("mask_post_addr")
    masked_addr = masked_addr if isinstance(masked_addr, Mapping) else {}
    region = post if _name(post.get("province")) else masked_addr
    street = _name(region.get("street"))
    name_cipher = _text(payload.get("encrypt_post_receiver")).strip()
    phone_cipher = _text(payload.get("encrypt_post_tel")).strip()
    detail_cipher = _text(post.get("encrypt_detail")).strip()
    name_masked = _text(payload.get("mask_post_receiver"))
    phone_masked = _text(payload.get("mask_post_tel"))
    detail_masked = _text(masked_addr.get("detail"))
    name = _clear(payload.get("post_receiver")) or name_masked
    phone = _clear(payload.get("post_tel")) or phone_masked
    detail = _clear(post.get("detail")) or detail_masked
    if street and not detail.startswith(street):
        detail = street + detail
    province, city, district = _name(region.get("province")), _name(region.get("city")), _name(region.get("town"))
    if not any(is_cipher(c) for c in (name_cipher, phone_cipher, detail_cipher)):
        return Receiver(name=name, phone=phone, province=province, city=city, district=district, detail=detail)
    cipher = ReceiverCipher(
        platform=PLATFORM,
        name=name_cipher,
        phone=phone_cipher,
        detail=detail_cipher,
        name_masked=name_masked,
        phone_masked=phone_masked,
        detail_masked=detail_masked,
        phone_index=cipher_index(phone_cipher),
        detail_index=cipher_index(detail_cipher),
    )
    return Receiver(
        name=name,
        phone=phone,
        province=province,
        city=city,
        district=district,
        detail=detail,
        address=province + city + district + detail,
        cipher=cipher,
    )


def _lines(skus: Iterable[Mapping[str, Any]]) -> tuple[NewOrderLine, ...]:
    lines: list[NewOrderLine] = []
    for sku in skus:
        code = _text(sku.get("out_sku_id")).strip() or _text(sku.get("code")).strip() or _text(sku.get("sku_id"))
        lines.append(
            NewOrderLine(
                sku=code,
                qty=_int(sku.get("item_num")),
                unit_price=to_fen(sku.get("goods_price"), field="goods_price"),
            )
        )
    return tuple(lines)


def map_order(payload: Mapping[str, Any]) -> PlatformOrder:
    """One 抖店 ``shop_order`` → :class:`PlatformOrder` (``raw`` keeps the payload as received)."""
    order_id = _text(payload.get("order_id")).strip()
    if not order_id:
        raise ValidationFailed("抖店订单缺少 order_id", field="order_id")
    placed_at = to_datetime(payload.get("create_time"))
    if placed_at is None:
        raise ValidationFailed(f"抖店订单 {order_id} 缺少下单时间 create_time", field="create_time")
    updated_at = to_datetime(payload.get("update_time")) or placed_at
    order = NewOrder(
        external_id=order_id,
        placed_at=placed_at,
        paid_at=to_datetime(payload.get("pay_time")),
        ship_by=to_datetime(payload.get("exp_ship_time")),
        # 抖店 hides the buyer's nickname; the shop-scoped open id is the only stable buyer identity it gives.
        buyer_nick=_text(payload.get("doudian_open_id")),
        buyer_phone="",
        receiver=receiver(payload),
        lines=_lines(_skus(payload)),
        shipping_fee=to_fen(payload.get("post_amount"), field="post_amount"),
        discount=to_fen(payload.get("promotion_amount"), field="promotion_amount"),
        paid_amount=to_fen(payload.get("pay_amount"), field="pay_amount"),
        buyer_memo=_text(payload.get("buyer_words")),
        seller_memo=_text(payload.get("seller_words")),
        raw=dict(payload),
    )
    return PlatformOrder(
        order=order,
        state=order_state(payload),
        platform_status=_text(payload.get("order_status")),
        updated_at=updated_at,
    )


def carrier_code(carrier: str) -> str:
    """The 抖店 ``company_code`` for one of the hub's carrier codes; InvalidRequest for an unmapped carrier."""
    code = CARRIER_CODES.get(carrier.strip().upper())
    if code is None:
        raise InvalidRequest(
            f"抖店不支持承运商 {carrier}（可用：{'、'.join(CARRIER_CODES)}）",
            platform_code="unknown_carrier",
            platform_message=carrier,
        )
    return code
