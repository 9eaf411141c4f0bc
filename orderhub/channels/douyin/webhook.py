"""抖店 message push (消息推送), as pure functions for the hub's webhook handler.

抖店 POSTs a JSON array of ``{"tag": "100", "msg_id": "…", "data": "<JSON string>"}`` to the URL configured for
the app, with headers ``app-id`` (the app key) and ``event-sign`` = lower hex MD5(app_key + raw body +
app_secret). The receiver must answer HTTP 200 with :data:`PUSH_REPLY` (``{"code":0,"msg":"success"}``), or
抖店 retries the delivery; deliveries can repeat, so handle ``msg_id`` idempotently.

A handler does: ``verify_push`` (401 when false) → ``parse_push`` → for each message, look up
:func:`push_action` and act (usually: pull that order with ``order.orderDetail``, which is the truth — a push only
says *something* changed) → answer :data:`PUSH_REPLY` quickly (enqueue the work, do not do it in the request).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Final

import msgspec

from orderhub.channels.port import Credentials, PushReceipt
from orderhub.errors import ValidationFailed
from orderhub.orders.aftersales import AfterSaleKind, PlatformRefund

__all__ = [
    "PUSH_REPLY",
    "RECEIVER",
    "TAG_ACTIONS",
    "DouyinPushReceiver",
    "PushAction",
    "PushMessage",
    "parse_push",
    "push_action",
    "push_signature",
    "verify_push",
]

PUSH_REPLY: Final = b'{"code":0,"msg":"success"}'


class PushAction(StrEnum):
    """What a push means for the hub."""

    PULL_ORDER = "pull_order"  # order created / paid: fetch it (order.orderDetail) and ingest it
    ADDRESS_CHANGED = "address_changed"  # buyer changed the receiver: re-pull, hold picking if already routed
    ORDER_CANCELLED = "order_cancelled"  # cancelled / closed: stop it if not shipped
    REFUND_REQUESTED = "refund_requested"  # buyer asked for a refund / after-sale: hold it if not shipped
    REFUND_UPDATED = "refund_updated"  # after-sale progressed (agreed, refused, refunded, closed): re-pull
    ORDER_SHIPPED = "order_shipped"  # shipped (by us, or in the 抖店 back office): re-pull to sync
    ORDER_COMPLETED = "order_completed"  # buyer confirmed receipt: informational
    IGNORE = "ignore"  # tags the hub does not use


# 抖店 push tags → action (trade messages 1xx, after-sale messages 2xx; names as in the 抖店 message catalogue,
# cross-checked with a public SDK's tag table). Unknown tags read as IGNORE.
TAG_ACTIONS: Final[Mapping[str, PushAction]] = {
    "100": PushAction.PULL_ORDER,  # 订单创建 (unpaid: pulled and mapped UNPAID, shipped only once paid)
    "101": PushAction.PULL_ORDER,  # 订单支付/确认
    "102": PushAction.ORDER_SHIPPED,  # 卖家发货
    "103": PushAction.ORDER_COMPLETED,  # 交易完成
    "104": PushAction.ORDER_SHIPPED,  # 发货物流变更
    "105": PushAction.ADDRESS_CHANGED,  # 买家收货信息变更
    "106": PushAction.ORDER_CANCELLED,  # 订单取消
    "200": PushAction.REFUND_REQUESTED,  # 买家发起售后申请
    "201": PushAction.REFUND_UPDATED,  # 同意退款
    "202": PushAction.REFUND_UPDATED,  # 同意退货申请
    "203": PushAction.REFUND_UPDATED,  # 买家退货给卖家
    "204": PushAction.REFUND_UPDATED,  # 拒绝退款
    "205": PushAction.REFUND_UPDATED,  # 拒绝退货申请
    "206": PushAction.REFUND_UPDATED,  # 售后变更 (exact meaning not verified; re-pulling is always safe)
    "207": PushAction.REFUND_UPDATED,  # 退款成功
    "208": PushAction.REFUND_UPDATED,  # 售后关闭
}


class PushMessage(msgspec.Struct, frozen=True, kw_only=True):
    tag: str
    msg_id: str
    shop_order_id: str | None  # the shop (parent) order the message is about (``data.p_id``), when it names one
    data: dict[str, Any]


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return (value or "").strip()


def push_signature(app_key: str, app_secret: str, raw_body: bytes) -> str:
    """The ``event-sign`` 抖店 puts on a delivery (lower hex MD5 of app_key + body + app_secret)."""
    return hashlib.md5(app_key.encode("utf-8") + raw_body + app_secret.encode("utf-8")).hexdigest()


def verify_push(app_key: str, app_secret: str, raw_body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether a delivery is 抖店's for this app: ``event-sign`` matches (constant-time) and ``app-id``, when
    present, is this app key. Use the raw body bytes as received (never a re-serialisation)."""
    given = _header(headers, "event-sign").lower()
    if not given or not app_secret:
        return False
    app_id = _header(headers, "app-id")
    if app_id and not hmac.compare_digest(app_id.encode(), app_key.encode()):
        return False
    expected = push_signature(app_key, app_secret, raw_body)
    return hmac.compare_digest(given.encode("ascii", "replace"), expected.encode("ascii"))


def _order_id(data: Mapping[str, Any]) -> str | None:
    for key in ("p_id", "shop_order_id", "order_id"):
        value = data.get(key)
        if value not in (None, "", 0):
            return str(value)
    return None


def parse_push(raw_body: bytes) -> list[PushMessage]:
    """The messages of one delivery. Raises ValidationFailed when the body is not 抖店's push format."""
    try:
        items = json.loads(raw_body)
    except ValueError as exc:
        raise ValidationFailed("抖店推送的消息体不是 JSON") from exc
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise ValidationFailed("抖店推送的消息体应为消息数组")
    messages: list[PushMessage] = []
    for item in items:
        if not isinstance(item, dict) or "tag" not in item:
            raise ValidationFailed("抖店推送消息缺少 tag")
        data: Any = item.get("data")
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data) if data else {}
            except ValueError as exc:
                raise ValidationFailed(f"抖店推送消息 {item.get('msg_id')} 的 data 不是 JSON") from exc
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValidationFailed(f"抖店推送消息 {item.get('msg_id')} 的 data 不是对象")
        messages.append(
            PushMessage(
                tag=str(item["tag"]),
                msg_id=str(item.get("msg_id") or ""),
                shop_order_id=_order_id(data),
                data=data,
            )
        )
    return messages


def push_action(tag: str | int) -> PushAction:
    return TAG_ACTIONS.get(str(tag).strip(), PushAction.IGNORE)


# Messages that do not change what the hub does with the order (a pull would find nothing to act on).
_NO_PULL: Final = frozenset({PushAction.IGNORE, PushAction.ORDER_COMPLETED})


class DouyinPushReceiver:
    """抖店 pushes behind the channel port's :class:`~orderhub.channels.port.PushReceiver`."""

    platform: ClassVar[str] = "douyin"
    reply: ClassVar[bytes] = PUSH_REPLY

    def verify(self, credentials: Credentials, body: bytes, headers: Mapping[str, str]) -> bool:
        return bool(credentials.app_key) and verify_push(credentials.app_key, credentials.app_secret, body, headers)

    def read(self, body: bytes) -> PushReceipt:
        messages = parse_push(body)  # ValidationFailed when it is not 抖店's message array
        relevant = [m for m in messages if push_action(m.tag) not in _NO_PULL]
        refunds = [r for r in (refund_of(m) for m in messages) if r is not None]
        return PushReceipt(messages=len(messages), relevant=len(relevant), refunds=refunds)


# 售后 messages whose data carry the after-sale (``aftersale_id``, ``p_id``, ``refund_amount`` in fen):
# 200 买家发起售后申请 (asked), 207 退款成功 (the money moved). ``aftersale_type`` (抖店 售后类型): 0 退货退款,
# 1 已发货仅退款, 2 未发货仅退款, 3 换货, 7 补寄; others read as refund only.
_REFUND_TAGS: Final = {"200": False, "207": True}
_AFTERSALE_TYPES: Final[Mapping[int, AfterSaleKind]] = {
    0: AfterSaleKind.RETURN_REFUND,
    1: AfterSaleKind.REFUND_ONLY,
    2: AfterSaleKind.REFUND_ONLY,
    3: AfterSaleKind.EXCHANGE,
    7: AfterSaleKind.RESHIP,
}


def _unix(value: Any) -> datetime | None:
    if isinstance(value, bool) or value in (None, "", 0, "0"):
        return None
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError):
        return None


def refund_of(message: PushMessage) -> PlatformRefund | None:
    """The refund a 售后 message carries (None for other messages, or one missing its id, order or amount)."""
    refunded = _REFUND_TAGS.get(message.tag.strip())
    data = message.data
    refund_id, amount = data.get("aftersale_id"), data.get("refund_amount")
    if refunded is None or refund_id in (None, "", 0) or not message.shop_order_id:
        return None
    if isinstance(amount, bool) or not isinstance(amount, int | str) or not str(amount).strip().isdigit():
        return None
    kind_code = data.get("aftersale_type")
    kind = _AFTERSALE_TYPES.get(kind_code, AfterSaleKind.REFUND_ONLY) if isinstance(kind_code, int) else None
    at = _unix(data.get("modify_time") or data.get("apply_time"))
    return PlatformRefund(
        refund_id=str(refund_id),
        external_id=message.shop_order_id,
        amount=int(str(amount).strip()),
        kind=kind or AfterSaleKind.REFUND_ONLY,
        refunded=refunded,
        requested_at=_unix(data.get("apply_time")),
        refunded_at=at if refunded else None,
        reason="抖店售后",
    )


RECEIVER: Final = DouyinPushReceiver()
