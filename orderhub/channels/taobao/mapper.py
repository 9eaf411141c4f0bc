"""TOP ``Trade`` → :class:`~orderhub.channels.port.PlatformOrder`, and the hub's carrier codes → TOP company codes.

Pure functions, no I/O. Money arrives as yuan strings (``"12.30"``) and leaves as integer fen, through ``Decimal``
(never ``float``); times arrive as Beijing local strings (``YYYY-MM-DD HH:MM:SS``) and leave aware, in UTC.
The receiver is passed on as the platform gave it (the pipeline standardises addresses later).

Encrypted receivers (OAID): an app on TOP's OAID scheme gets ``oaid`` (收件人ID, Open Addressee ID) on the trade and
receiver_name / receiver_mobile / receiver_phone / receiver_address masked (``张**``, ``*******5552``,
``龙*街道花**路**号…``); receiver_state / receiver_city / receiver_district / receiver_town stay clear. Sources: TOP
「隐私字段名词解释」(http://doc.alidayu.com/docs/doc.htm?articleId=120397&docType=1&treeId=1 — "OAID通过加密生成 …
可以用于订单合单，电子面单生成打印 … 订单敏感信息解密"; returned by taobao.trade.fullinfo.get /
taobao.trades.sold.increment.get …; for the same receiver it differs by shop, by app and by 自然周 of ``created``),
taobao.trade.fullinfo.get's ``include_oaid`` ("appkey未对接oaid加密，则忽略该字段 … 传true，代表必须返回oaid，生成不了
就报isv.oaid-field-miss错误"), and the masked forms as published TOP answers show them. TOP's "ciphertext" is the
OAID itself: the clear receiver comes back only through taobao.top.oaid.decrypt (``tid`` + ``oaid``), so
:class:`~orderhub.orders.commands.ReceiverCipher` carries ``open_id`` and the masked forms, with empty name / phone /
detail ciphertexts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from orderhub.channels.port import PlatformOrder, PlatformOrderState
from orderhub.orders.commands import NewOrder, NewOrderLine, Receiver, ReceiverCipher
from orderhub.wire import beijing_or_none as parse_time
from orderhub.wire import yuan_to_fen

__all__ = [
    "ACTIVE_REFUND_STATUSES",
    "CARRIER_MAP",
    "COMPANY_CODES",
    "FULLINFO_FIELDS",
    "TRADE_FIELDS",
    "TRADE_STATES",
    "company_code",
    "map_receiver",
    "map_trade",
    "needs_full_info",
    "parse_time",
    "sub_orders",
    "trade_state",
    "yuan_to_fen",
]

# What the connector asks for in ``fields`` (taobao.trades.sold.increment.get and taobao.trade.fullinfo.get); ``oaid``
# is what an OAID app gets instead of the clear receiver.
TRADE_FIELDS: Final = ",".join(
    [
        "tid",
        "tid_str",
        "status",
        "type",
        "buyer_nick",
        "created",
        "modified",
        "pay_time",
        "payment",
        "total_fee",
        "post_fee",
        "discount_fee",
        "adjust_fee",
        "receiver_name",
        "receiver_mobile",
        "receiver_phone",
        "receiver_state",
        "receiver_city",
        "receiver_district",
        "receiver_town",
        "receiver_address",
        "oaid",
        "buyer_message",
        "seller_memo",
        "orders",
    ]
)
FULLINFO_FIELDS: Final = TRADE_FIELDS

# TOP trade status → the hub's reading. Anything not listed reads as UNPAID (never shipped on a guess).
TRADE_STATES: Final[Mapping[str, PlatformOrderState]] = {
    "TRADE_NO_CREATE_PAY": PlatformOrderState.UNPAID,  # 没有创建支付宝交易
    "WAIT_BUYER_PAY": PlatformOrderState.UNPAID,
    "PAY_PENDING": PlatformOrderState.UNPAID,  # 外卡支付付款确认中
    "WAIT_PRE_AUTH_CONFIRM": PlatformOrderState.UNPAID,  # 0元购合约中
    "PAID_FORBID_CONSIGN": PlatformOrderState.UNPAID,  # 已付款但禁止发货（拼团中）
    "WAIT_SELLER_SEND_GOODS": PlatformOrderState.PAID,
    "SELLER_CONSIGNED_PART": PlatformOrderState.SHIPPED,  # 卖家部分发货: the seller shipped outside the hub
    "WAIT_BUYER_CONFIRM_GOODS": PlatformOrderState.SHIPPED,
    "TRADE_BUYER_SIGNED": PlatformOrderState.SHIPPED,  # 买家已签收（货到付款）
    "TRADE_FINISHED": PlatformOrderState.COMPLETED,
    "TRADE_CLOSED": PlatformOrderState.CANCELLED,  # 付款以后用户退款成功，交易自动关闭
    "TRADE_CLOSED_BY_TAOBAO": PlatformOrderState.CANCELLED,  # 付款以前，卖家或买家主动关闭交易
}

# Sub-order ``refund_status`` values meaning a refund is under way (or done) for that line. NO_REFUND, CLOSED
# (refund withdrawn) and SELLER_REFUSE_BUYER (refused; the order is shipped as normal) are not active.
ACTIVE_REFUND_STATUSES: Final = frozenset(
    {"WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS", "SUCCESS"}
)

# The hub's carrier codes → TOP logistics company codes (``company_code`` of taobao.logistics.offline.send), as
# listed by taobao.logistics.companies.get and accepted by the simulator (sandbox/platforms/taobao.py
# COMPANY_CODES). 极兔 is JTSD, 邮政快递包裹 would be POSTB, 京东快递 is JD.
COMPANY_CODES: Final[Mapping[str, str]] = {
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
CARRIER_MAP: Final[Mapping[str, object]] = COMPANY_CODES


def company_code(carrier: str) -> str:
    """The TOP company code for one of the hub's carrier codes; ``ValueError`` when there is none."""
    code = COMPANY_CODES.get(carrier.strip().upper())
    if code is None:
        raise ValueError(f"承运商 {carrier!r} 没有对应的淘宝物流公司编码")
    return code


def sub_orders(trade: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The trade's sub-orders (TOP nests them as ``{"orders": {"order": [...]}}``)."""
    orders = trade.get("orders")
    if isinstance(orders, Mapping):
        orders = orders.get("order")
    if isinstance(orders, Mapping):  # a single sub-order, as some XML→JSON bridges render it
        orders = [orders]
    if not isinstance(orders, Sequence) or isinstance(orders, str):
        return []
    return [o for o in orders if isinstance(o, Mapping)]


def _line_sku(order: Mapping[str, Any]) -> str:
    for key in ("outer_sku_id", "outer_iid", "sku_id", "num_iid"):
        value = order.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


def needs_full_info(trade: Mapping[str, Any]) -> bool:
    """Whether a trade from the increment list lacks what :func:`map_trade` needs (then fetch the full trade)."""
    if not (trade.get("tid_str") or trade.get("tid")):
        return False  # nothing to fetch it by; map_trade will say what is wrong
    for key in ("status", "created", "modified", "payment"):
        if trade.get(key) in (None, ""):
            return True
    if not (trade.get("receiver_name") or trade.get("receiver_address")):
        return True
    lines = sub_orders(trade)
    if not lines:
        return True
    return any(
        line.get("num") in (None, "") or line.get("price") in (None, "") or not _line_sku(line) for line in lines
    )


def trade_state(trade: Mapping[str, Any]) -> PlatformOrderState:
    status = str(trade.get("status", ""))
    if status.startswith("TRADE_CLOSED"):
        return PlatformOrderState.CANCELLED
    state = TRADE_STATES.get(status, PlatformOrderState.UNPAID)
    if state == PlatformOrderState.PAID and any(
        str(line.get("refund_status", "")) in ACTIVE_REFUND_STATUSES for line in sub_orders(trade)
    ):
        return PlatformOrderState.REFUND_REQUESTED
    return state


def _text(trade: Mapping[str, Any], key: str) -> str:
    value = trade.get(key)
    return "" if value is None else str(value)


def _masked(value: str) -> bool:
    """TOP masks with ``*`` (``张**``, ``*******5552``); a clear name, phone or street address has none."""
    return "*" in value


def map_receiver(trade: Mapping[str, Any]) -> Receiver:
    """The trade's receiver; with ``oaid`` (an OAID app) the masked forms plus a :class:`ReceiverCipher` whose
    ``open_id`` is the OAID. Clear values, when TOP also sends them (apps not on OAID, test shops), are kept."""
    town = _text(trade, "receiver_town").strip()
    detail = _text(trade, "receiver_address")
    if town and not detail.lstrip().startswith(town) and not _masked(detail):  # a masked one masks its town too
        detail = town + detail
    name = _text(trade, "receiver_name")
    phone = _text(trade, "receiver_mobile") or _text(trade, "receiver_phone")
    province, city, district = (
        _text(trade, "receiver_state"),
        _text(trade, "receiver_city"),
        _text(trade, "receiver_district"),
    )
    # receiver_zip (收货人的邮编, taobao.trade.fullinfo.get): kept when it is a real Chinese postcode; TOP fills
    # "000000" where the buyer gave none.
    zip_code = _text(trade, "receiver_zip").strip()
    postcode = zip_code if len(zip_code) == 6 and zip_code.isdigit() and zip_code != "000000" else ""
    oaid = _text(trade, "oaid").strip()
    if not oaid:
        return Receiver(
            name=name, phone=phone, province=province, city=city, district=district, detail=detail, postcode=postcode
        )
    cipher = ReceiverCipher(
        platform="taobao",  # TOP decrypts for Taobao and Tmall shops alike
        open_id=oaid,
        name_masked=name if _masked(name) else "",
        phone_masked=phone if _masked(phone) else "",
        detail_masked=detail if _masked(detail) else "",
    )
    masked = bool(cipher.name_masked or cipher.phone_masked or cipher.detail_masked)
    return Receiver(
        name=name,
        phone=phone,
        province=province,
        city=city,
        district=district,
        detail=detail,
        address=f"{province}{city}{district}{detail}" if masked else "",
        cipher=cipher,
        postcode=postcode,
    )


def map_trade(trade: Mapping[str, Any]) -> PlatformOrder:
    """One TOP trade (as taobao.trade.fullinfo.get / increment.get return it) in the hub's terms."""
    external_id = _text(trade, "tid_str") or _text(trade, "tid")
    if not external_id:
        raise ValueError("淘宝订单缺少 tid")
    created = parse_time(trade.get("created"))
    modified = parse_time(trade.get("modified")) or created
    if created is None or modified is None:
        raise ValueError(f"淘宝订单 {external_id} 缺少 created / modified")
    lines: list[NewOrderLine] = []
    for line in sub_orders(trade):
        lines.append(
            NewOrderLine(
                sku=_line_sku(line),
                qty=int(str(line.get("num", "0")).strip() or "0"),
                unit_price=yuan_to_fen(line.get("price")),
            )
        )
    goods = sum(line.qty * line.unit_price for line in lines)
    shipping_fee = yuan_to_fen(trade.get("post_fee"))
    paid_amount = yuan_to_fen(trade.get("payment"))
    # Everything between the list price and what the buyer pays (seller and platform promotions, manual
    # adjustments): TOP's discount_fee alone misses adjust_fee and some platform discounts.
    discount = max(0, goods + shipping_fee - paid_amount)
    receiver = map_receiver(trade)
    order = NewOrder(
        external_id=external_id,
        placed_at=created,
        paid_at=parse_time(trade.get("pay_time")),
        buyer_nick=_text(trade, "buyer_nick"),
        buyer_phone="",
        receiver=receiver,
        lines=tuple(lines),
        shipping_fee=shipping_fee,
        discount=discount,
        paid_amount=paid_amount,
        buyer_memo=_text(trade, "buyer_message"),
        seller_memo=_text(trade, "seller_memo"),
        raw=dict(trade),
    )
    return PlatformOrder(
        order=order,
        state=trade_state(trade),
        platform_status=_text(trade, "status"),
        updated_at=modified,
    )
