"""The notification outbox: a row per message, written in the transaction of the change that causes it; a job sends
each row once.

* **Writing.** ``orders.service.record_event`` calls :func:`on_order_event` inside the order's transaction (and
  ``orders.surge`` calls :func:`on_surge_event`; ``server.wiring`` adds both to those hook points). The policy
  (:mod:`orderhub.notifications.templates`) turns the event into notices;
  a customer notice goes to one channel — the mini-program subscribe message when we hold their openid and they
  accepted that notice, else the Official Account template message when they follow it, else SMS — among the
  channels with an account and a template id; staff notices go to WeCom, one row per person of the roles concerned
  in the order's warehouse. ``dedup_key = subject|event|recipient|channel`` is unique, so a duplicate event writes
  nothing, and a customer hears each notice of an order once. Rows become send jobs after commit.
* **Sending** (:func:`send`, the ``send_notification`` job): the row is claimed by one conditional UPDATE
  (pending and due → sending, with a lease), so a job delivered twice or retried sends once; a sent row is
  never sent again except by a staff resend. Non-urgent customer messages wait out quiet hours (22:00–08:00
  Asia/Shanghai by default); per-provider and per-phone rate limits reschedule the row (queued, never dropped), and
  so does a WeCom member's window (:mod:`orderhub.notifications.wecom_window`, shared with the approval cards:
  WeCom drops what passes 30 a minute per member).
  Transient errors retry with backoff up to ``max_attempts``; permanent ones are recorded with the provider's
  code; a recipient's refusal (43101) records ``fallback`` and writes the row of the next channel (SMS).
* **Dispatching** (:func:`dispatch_due`, a unique cron every 10 s) queues rows that are due — deferred, backed
  off, rate-limited, or whose sender died holding the lease (the provider may then see the message twice: the
  send is at-least-once at that one boundary; SMS carries ``OutId`` = the row id).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub import redis as redis_mod
from orderhub.auth.tables import User
from orderhub.errors import Conflict, NotFound
from orderhub.inventory.tables import Warehouse
from orderhub.logistics.labels import carrier_name, mask_name, mask_phone
from orderhub.logistics.tables import ParcelTracking, Waybill
from orderhub.notifications import config, wecom_window
from orderhub.notifications.contacts import find_contact, mobile_number
from orderhub.notifications.errors import DeliveryError, NotificationError
from orderhub.notifications.port import (
    Message,
    NotifierChannel,
    NotifyError,
    PermanentNotifyError,
    RecipientRefused,
    ThrottledNotifyError,
    TransientNotifyError,
    notifier_for,
)
from orderhub.notifications.tables import Notification, NotifyDigestItem
from orderhub.notifications.templates import (
    CUSTOMER_NOTICES,
    NOTICES,
    STAFF_ROLES,
    Template,
    notices_for,
    render,
    shanghai_text,
    template_for,
)
from orderhub.orders import pii
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import record_event
from orderhub.orders.state import OrderStatus, label
from orderhub.orders.surge import SurgeEventType
from orderhub.orders.tables import Order
from orderhub.queue import JobName, enqueue

__all__ = [
    "NotificationRow",
    "NotificationView",
    "collect_receipts",
    "counts",
    "dispatch_due",
    "list_for_order",
    "list_notifications",
    "on_order_event",
    "on_surge_event",
    "resend",
    "send",
    "send_key",
    "write_scope_alert",
]

log = logging.getLogger("orderhub.notify")

LEASE = timedelta(seconds=120)
_background: set[asyncio.Task[None]] = set()
_CUSTOMER_ORDER = (NotifierChannel.WECHAT_SUBSCRIBE.value, NotifierChannel.WECHAT_TEMPLATE.value,
                   NotifierChannel.SMS.value)


STATUSES = ("pending", "sending", "sent", "failed", "fallback", "skipped", "superseded")
# A customer notice held by the quiet hours makes the unsent ones it supersedes pointless: a 已发货 held until 08:00
# is not sent beside the 已签收 that caught up with it in the night; the later one goes alone (it names the parcel
# too). Outside the quiet hours each notice is sent as it comes (a short rate-limit queue keeps them all).
SUPERSEDES: dict[str, tuple[str, ...]] = {
    "out_for_delivery": ("shipped",),
    "signed": ("shipped", "out_for_delivery", "delayed"),
}
CHANNELS = tuple(channel.value for channel in NotifierChannel)


def send_key(notification_id: int) -> str:
    return f"notify:{notification_id}:send"


class NotificationView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    order_id: int | None
    event: str
    label: str  # zh-CN name of the notice
    audience: str
    channel: str
    recipient: str  # phones masked
    status: str  # pending, sending, sent, failed, fallback, skipped
    attempts: int
    not_before: datetime
    provider_id: str
    error_code: str
    error_message: str
    delivery: str  # SMS receipt: waiting, delivered, failed
    fallback_of: int | None
    resends: int
    created_at: datetime
    sent_at: datetime | None


class NotificationRow(msgspec.Struct, kw_only=True):
    """A ``notification`` row (``SELECT *``, ``RETURNING *``): what the sender works on and the views show."""

    id: int
    subject: str
    order: int | None
    warehouse: int | None
    event: str
    audience: str
    channel: str
    recipient: str
    context: str  # JSON: the values the template is rendered with
    urgent: bool
    status: str
    attempts: int
    not_before: datetime
    claim: str
    provider_id: str
    error_code: str
    error_message: str
    delivery: str
    fallback_of: int | None
    resends: int
    created_at: datetime
    sent_at: datetime | None


class _Receiver(msgspec.Struct):
    """What the writer reads of the order: how to reach its receiver, and whose it is."""

    receiver_phone: str
    receiver_phone_ext: str
    warehouse: int | None


class _DigestOrder(msgspec.Struct):
    id: int
    external_id: str
    ship_by: datetime | None
    reason: str


class _OrderFacts(msgspec.Struct):
    id: int
    external_id: str
    status: str
    receiver_name: str
    ship_by: datetime | None
    shop: str
    warehouse_name: str | None


class _IssuedWaybill(msgspec.Struct):
    carrier: str
    waybill_no: str


class _Count(msgspec.Struct):
    channel: str
    status: str
    n: int


# ---------------------------------------------------------------------------------------------------- writing


def _sealed_target(target: tuple[str, str]) -> list[str]:
    """A fallback (channel, recipient) as the row's context keeps it: an SMS phone sealed."""
    channel, recipient = target
    return [channel, pii.seal(recipient) if channel == NotifierChannel.SMS.value else recipient]


async def _usable(event: str, channel: str) -> Template | None:
    """The template when the channel can carry the notice now: an account, enabled, a template id (not WeCom)."""
    if await config.provider_config(channel) is None:
        return None
    template = await template_for(event, channel)
    if template is None or not template.enabled:
        return None
    if channel != NotifierChannel.WECOM.value and not template.template_id:
        return None
    return template


async def _customer_targets(order: _Receiver, event: str) -> tuple[list[tuple[str, str]], str]:
    """The channels that can reach the order's receiver with this notice, best first; or why none can."""
    phone = mobile_number(pii.open_(order.receiver_phone))
    if phone is None or order.receiver_phone_ext:
        return [], "no_mobile"  # a platform's privacy number (虚拟号) takes no SMS, and is nobody's openid
    contact = await find_contact(phone)
    candidates: list[tuple[str, str]] = []
    if contact is not None:
        accepted = msgspec.json.decode(contact.subscribed or "[]", type=list[str])
        if contact.mini_openid and event in accepted:
            candidates.append((NotifierChannel.WECHAT_SUBSCRIBE.value, contact.mini_openid))
        if contact.oa_openid:
            candidates.append((NotifierChannel.WECHAT_TEMPLATE.value, contact.oa_openid))
    if contact is None or not contact.sms_opt_out:
        candidates.append((NotifierChannel.SMS.value, phone))
    usable = [(channel, recipient) for channel, recipient in candidates if await _usable(event, channel)]
    return usable, "" if usable else "no_channel"


async def _insert(
    *,
    subject: str,
    order_id: int | None,
    event: str,
    audience: str,
    channel: str,
    recipient: str,
    context: Mapping[str, Any],
    urgent: bool,
    now: datetime,
    status: str = "pending",
    error_code: str = "",
    fallback_of: int | None = None,
    not_before: datetime | None = None,
    warehouse_id: int | None = None,
) -> int | None:
    not_before = not_before or now
    if channel == NotifierChannel.SMS.value:  # a customer's phone: sealed at rest (deterministic: dedup still works)
        recipient = pii.seal(recipient)
    quiet = False
    if audience == "customer" and not urgent and status == "pending":
        held = config.quiet_until(now, await config.load_settings())
        quiet = held is not None
        not_before = held or now
    rows = await db.execute_returning(  # raw: ON CONFLICT DO NOTHING RETURNING (a duplicate writes nothing)
        db.IdRow,
        "INSERT INTO notification (dedup_key, subject, \"order\", warehouse, event, audience, channel, recipient, "
        "context, urgent, status, attempts, not_before, provider_id, error_code, error_message, delivery, "
        "fallback_of, resends, claim, created_at, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 0, "
        "{}, '', {}, '', '', {}, 0, '', {}, {}) ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        f"{subject}|{event}|{recipient}|{channel}"[:255],
        subject,
        order_id,
        warehouse_id,
        event,
        audience,
        channel,
        recipient,
        msgspec.json.encode(dict(context)).decode(),
        urgent,
        status,
        not_before,
        error_code,
        fallback_of,
        now,
        now,
    )
    if not rows:
        return None
    notification_id = rows[0].id
    if quiet and order_id is not None and event in SUPERSEDES:
        await _supersede(order_id, event, now)
    if status == "pending" and not_before <= now:
        _send_after_commit(notification_id)
    return notification_id


async def _supersede(order_id: int, event: str, now: datetime) -> None:
    """The order's customer notices still waiting that ``event`` (itself held by the quiet hours) makes pointless
    are not sent: recorded as ``superseded``. One in flight (``sending``) or sent is left alone."""
    earlier = SUPERSEDES[event]
    await db.execute(
        "UPDATE notification SET status = 'superseded', error_code = {}, error_message = {}, updated_at = {}"
        f" WHERE \"order\" = {{}} AND audience = 'customer' AND status = 'pending'"
        f" AND event IN ({', '.join('{}' for _ in earlier)})",
        DeliveryError.SUPERSEDED.value,
        DeliveryError.SUPERSEDED.message,
        now,
        order_id,
        *earlier,
    )


def _send_after_commit(notification_id: int) -> None:
    async def go() -> None:
        try:
            await enqueue(JobName.SEND_NOTIFICATION, key=send_key(notification_id), notification_id=notification_id)
        except RuntimeError:  # no queue in this process (a script, a test): the dispatcher cron sends it
            pass

    if db.pending_after_commit() is not None:
        db.after_commit(go)
    else:
        task = asyncio.get_running_loop().create_task(go())
        _background.add(task)  # held until done (the loop keeps only a weak reference)
        task.add_done_callback(_background.discard)


async def _staff(event: str, warehouse_id: int | None) -> list[str]:
    roles = STAFF_ROLES.get(event, ())
    if not roles:
        return []
    query = User.select(User.wecom_userid).where(
        User.active.eq(True),
        User.role.is_in(list(roles)),  # bounded: a notice's staff roles (STAFF_ROLES)
        User.wecom_userid != "",
    )
    if warehouse_id is not None:
        query = query.where(User.warehouse.is_null() | (User.warehouse == warehouse_id))
    userids: list[str] = await query.order_by(User.id).output(as_list=True)
    return userids


async def _write_staff(subject: str, order_id: int | None, event: str, warehouse_id: int | None,
                       context: Mapping[str, Any], now: datetime, *, not_before: datetime | None = None) -> str:
    """The staff rows of a notice; returns "" when someone will hear it, else why nobody will (``no_channel``:
    WeCom is not set up or the notice is switched off; ``no_recipient``: no active user of the roles concerned,
    in the warehouse, has a WeCom id)."""
    template = await _usable(event, NotifierChannel.WECOM.value)
    if template is None:
        return "no_channel"
    userids = await _staff(event, warehouse_id)
    for userid in userids:
        await _insert(subject=subject, order_id=order_id, event=event, audience="staff",
                      channel=NotifierChannel.WECOM.value, recipient=userid, context=context, urgent=True, now=now,
                      not_before=not_before, warehouse_id=warehouse_id)
    return "" if userids else "no_recipient"


async def write_scope_alert(subject: str, event: str, warehouse_id: int | None, context: Mapping[str, Any]) -> str:
    """A threshold alert's staff rows (``orderhub.insights.alerts``), in the caller's transaction: to the active users
    of the notice's roles bound to ``warehouse_id``, or for a hub-wide alert (None) to those bound to no warehouse.
    Returns "" when someone will hear it, else why nobody will (as :func:`_write_staff`)."""
    template = await _usable(event, NotifierChannel.WECOM.value)
    if template is None:
        return "no_channel"
    query = User.select(User.wecom_userid).where(
        User.active.eq(True),
        User.role.is_in(list(STAFF_ROLES.get(event, ()))),  # bounded: a notice's staff roles (STAFF_ROLES)
        User.wecom_userid != "",
    )
    query = query.where(User.warehouse.is_null() if warehouse_id is None else User.warehouse == warehouse_id)
    userids: list[str] = await query.order_by(User.id).output(as_list=True)
    now = clock.now()
    for userid in userids:
        await _insert(subject=subject, order_id=None, event=event, audience="staff",
                      channel=NotifierChannel.WECOM.value, recipient=userid, context=context, urgent=True, now=now,
                      warehouse_id=warehouse_id)
    return "" if userids else "no_recipient"


_NOBODY = {
    "no_channel": "提醒未发出：未配置企业微信或该提醒已停用",
    "no_recipient": "提醒未发出：未找到可通知的主管（需为在职主管填写企业微信 ID）",
}


async def _nobody_told(order_id: int, event: str, why: str) -> None:
    """A staff alert about the order reached nobody: say so on the order and in the log (never claim it was sent)."""
    label = NOTICES[event].label if event in NOTICES else event
    message = f"{label}{_NOBODY.get(why, '提醒未发出')}"
    log.warning("staff alert reached nobody", extra={"order_id": order_id, "notice": event, "why": why})
    await record_event(order_id, OrderEventType.STAFF_NOT_ALERTED, reason=message[:64],
                       data={"notice": event, "code": why, "message": message})


# Orders turn at risk in bursts (a late truck, a surge): managers get one digest per warehouse and window, sent
# when the window closes (plus a grace for transactions still committing), not a card per order.
AT_RISK_WINDOW = timedelta(minutes=5)
_DIGEST_GRACE = timedelta(seconds=30)


def _window_start(now: datetime) -> datetime:
    seconds = int(now.timestamp())
    return datetime.fromtimestamp(seconds - seconds % int(AT_RISK_WINDOW.total_seconds()), UTC)


async def _write_at_risk_digest(order_id: int, reason: str, warehouse_id: int | None, now: datetime) -> None:
    """The order goes into its warehouse's digest for this window — or the next one, when this window's digest
    is already on its way (a long transaction committing late is not lost)."""
    start = _window_start(now)
    for _ in range(3):
        subject = f"at-risk:{warehouse_id or 'none'}:{int(start.timestamp())}"
        if not await Notification.exists().where(Notification.subject == subject, Notification.status != "pending"):
            break
        start += AT_RISK_WINDOW
    await NotifyDigestItem.insert(
        NotifyDigestItem(subject=subject, order=order_id, reason=(reason or "")[:32], created_at=now)
    )
    await _write_staff(subject, None, "staff_at_risk", warehouse_id, {}, now,
                       not_before=max(now, start + AT_RISK_WINDOW + _DIGEST_GRACE))


async def _at_risk_context(row: NotificationRow) -> dict[str, Any]:
    """What the digest says: the orders recorded for it (each once, however often it was marked)."""
    subject, warehouse_id = row.subject, row.warehouse
    rows = await db.fetch_as(  # raw: a grouped join (each order once, with its reason)
        _DigestOrder,
        "SELECT o.id, o.external_id, o.ship_by, MAX(i.reason) AS reason FROM notify_digest_item i "
        "JOIN sales_order o ON o.id = i.\"order\" WHERE i.subject = {} "
        "GROUP BY o.id, o.external_id, o.ship_by ORDER BY o.ship_by, o.id",
        subject,
    )
    names: list[str] = (
        await Warehouse.select(Warehouse.name).where(Warehouse.id == warehouse_id).output(as_list=True)
        if warehouse_id
        else []
    )
    numbers = [r.external_id for r in rows]
    return {
        "count": len(rows),
        "overdue": sum(1 for r in rows if r.reason == "overdue"),
        "orders": "、".join(numbers[:5]) + (f" 等 {len(numbers)} 单" if len(numbers) > 5 else ""),
        "order_no": numbers[0] if numbers else "",
        "ship_by": shanghai_text(rows[0].ship_by) if rows else "",
        "warehouse": names[0] if names else "未分仓",
    }


def _is_db_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("asyncpg", "sqlite3", "aiosqlite")


async def on_order_event(order_id: int, event_type: OrderEventType, reason: str | None, data: dict[str, Any]) -> None:
    """The hook in ``record_event``: the outbox rows this order event causes, in the same transaction.

    A message must never stop the order: anything but a database error (which has failed the transaction
    anyway) is logged and the order goes on without its messages."""
    notices = notices_for(event_type, reason)
    if not notices:
        return
    try:
        await _write_for_order(order_id, notices, data, reason or "")
    except Exception as exc:
        if _is_db_error(exc):
            raise
        log.exception("notifications not written", extra={"order_id": order_id, "event": event_type.value})


async def _write_for_order(order_id: int, notices: list[str], data: dict[str, Any], reason: str) -> None:
    rows = await Order.select(Order.receiver_phone, Order.receiver_phone_ext, Order.warehouse).where(
        Order.id == order_id
    )
    if not rows:
        return
    order, now, subject = db.rows_as(_Receiver, rows)[0], clock.now(), f"order:{order_id}"
    context = {k: v for k, v in data.items() if isinstance(v, str | int | float | bool)}
    for event in notices:
        if event not in CUSTOMER_NOTICES:
            warehouse = order.warehouse
            if event == "staff_at_risk":
                await _write_at_risk_digest(order_id, reason, warehouse, now)
            else:
                why = await _write_staff(subject, order_id, event, warehouse, context, now)
                if why:
                    await _nobody_told(order_id, event, why)
            continue
        told = await Notification.exists().where(
            Notification.subject == subject, Notification.event == event, Notification.audience == "customer"
        )
        if told:  # a duplicate event (or one after a channel change): the customer hears each notice once
            continue
        targets, why = await _customer_targets(order, event)
        if not targets:
            await _insert(subject=subject, order_id=order_id, event=event, audience="customer", channel="none",
                          recipient="", context=context, urgent=False, now=now, status="skipped", error_code=why,
                          warehouse_id=order.warehouse)
            continue
        (channel, recipient), rest = targets[0], targets[1:]
        template = await _usable(event, channel)
        await _insert(
            subject=subject, order_id=order_id, event=event, audience="customer", channel=channel,
            recipient=recipient, context={**context, "_fallbacks": [_sealed_target(t) for t in rest]},
            urgent=bool(template and template.urgent), now=now, warehouse_id=order.warehouse,
        )


_SURGE_TEXT = {
    SurgeEventType.STARTED: "已进入高峰模式（合单检测延后，高峰结束后自动补做）",
    SurgeEventType.INFLOW_ALERT: "进单速度超过告警线，请关注仓库产能",
}


async def on_surge_event(surge_id: int, kind: SurgeEventType, rate: int, threshold: int) -> None:
    """The hook in ``orders.surge``: managers hear a surge starting and every inflow alert."""
    if kind not in _SURGE_TEXT:
        return
    context = {"inflow_per_min": rate, "threshold": threshold, "mode_text": _SURGE_TEXT[kind]}
    try:
        await _write_staff(f"surge:{surge_id}", None, "staff_surge", None, context, clock.now())
    except Exception as exc:
        if _is_db_error(exc):
            raise
        log.exception("surge notifications not written", extra={"surge_event": surge_id})



# ---------------------------------------------------------------------------------------------------- sending


async def _full_context(row: NotificationRow) -> dict[str, Any]:
    stored: dict[str, Any] = msgspec.json.decode(row.context or "{}")
    ctx: dict[str, Any] = {}
    if row.subject.startswith("at-risk:"):
        ctx.update(await _at_risk_context(row))
    if row.order is not None:
        o = await db.fetch_one_as(  # raw: a join (the order with its shop's and warehouse's names)
            _OrderFacts,
            "SELECT o.id, o.external_id, o.status, o.receiver_name, o.ship_by, c.name AS shop, "
            "w.name AS warehouse_name FROM sales_order o "
            "JOIN channel c ON c.id = o.channel LEFT JOIN warehouse w ON w.id = o.warehouse WHERE o.id = {}",
            row.order,
        )
        if o is not None:
            ctx.update(
                order_id=o.id,
                order_no=o.external_id,
                shop=o.shop,
                warehouse=o.warehouse_name or "",
                receiver=mask_name(pii.open_(o.receiver_name)),
                status_text=label(OrderStatus(o.status)) if o.status in OrderStatus.__members__.values() else o.status,
                ship_by=shanghai_text(o.ship_by),
            )
        waybills = db.rows_as(
            _IssuedWaybill,
            await Waybill.select(Waybill.carrier, Waybill.waybill_no)
            .where(Waybill.order == row.order, Waybill.status == "issued")
            .order_by(Waybill.id, ascending=False)
            .limit(1),
        )
        if waybills:
            ctx.update(carrier=waybills[0].carrier, waybill_no=waybills[0].waybill_no)
        tokens: list[str] = await (
            ParcelTracking.select(ParcelTracking.token)
            .where(ParcelTracking.order == row.order)
            .order_by(ParcelTracking.id, ascending=False)
            .limit(1)
            .output(as_list=True)
        )
        if tokens:
            base = (await config.load_settings()).public_base_url.rstrip("/")
            ctx["tracking_token"] = tokens[0]
            ctx["tracking_url"] = f"{base}/t/{tokens[0]}" if base else ""
    # the event's own data fills what the order does not say (stored times are UTC ISO text: the order's own,
    # formatted for Asia/Shanghai, win)
    ctx = {**{k: v for k, v in stored.items() if not k.startswith("_")}, **ctx}
    if ctx.get("carrier"):
        ctx["carrier_name"] = carrier_name(str(ctx["carrier"]))
    return ctx


async def _claim(notification_id: int, now: datetime) -> NotificationRow | None:
    async with db.transaction():
        rows = await db.execute_returning(  # raw: the claim is one conditional UPDATE … RETURNING *
            NotificationRow,
            "UPDATE notification SET status = 'sending', lease_until = {}, attempts = attempts + 1, claim = {}, "
            "updated_at = {} WHERE id = {} AND ((status = 'pending' AND not_before <= {}) "
            "OR (status = 'sending' AND lease_until < {})) RETURNING *",
            now + LEASE,
            uuid.uuid4().hex,
            now,
            notification_id,
            now,
            now,
        )
    return rows[0] if rows else None


async def _settle(row: NotificationRow, status: str, now: datetime, *, not_before: datetime | None = None,
                  error: NotifyError | None = None, code: str = "", message: str = "", provider_id: str = "",
                  give_back_attempt: bool = False) -> bool:
    """Record the outcome of a claimed row, only while this sender still holds it: every claim names itself
    (``claim``), so a late sender whose lease ran out and was taken over drops its outcome. False when it did."""
    error_code = error.code if error is not None else code
    error_message = (error.message if error is not None else message)[:255]
    settled = await db.execute_returning(  # raw: settles only while this claim holds the row
        db.IdRow,
        "UPDATE notification SET status = {}, not_before = {}, lease_until = NULL, error_code = {}, "
        "error_message = {}, provider_id = CASE WHEN {} <> '' THEN {} ELSE provider_id END, "
        "sent_at = CASE WHEN {} = 'sent' THEN {} ELSE sent_at END, attempts = attempts - {}, updated_at = {} "
        "WHERE id = {} AND status = 'sending' AND claim = {} RETURNING id",
        status,
        not_before or row.not_before,
        error_code[:64],
        error_message,
        provider_id,
        provider_id[:64],
        status,
        now,
        1 if give_back_attempt else 0,
        now,
        row.id,
        row.claim,
    )
    if not settled:
        log.warning("claim lost before settling", extra={"notification": row.id, "outcome": status})
    return bool(settled)


async def _rate_wait(row: NotificationRow, settings: config.NotifySettings, now: datetime) -> timedelta | None:
    """How long the row must wait for the provider's rate (per second) and, for SMS, the phone's (per minute,
    per hour); None when it may go now. The counters live in Redis, shared by every worker."""
    client = redis_mod.get_client()
    second = int(now.timestamp())
    key = f"orderhub:notify:rate:{row.channel}:{second}"
    async with client.pipeline(transaction=False) as pipe:
        pipe.incr(key)
        pipe.expire(key, 5)
        count, _ = await pipe.execute()
    if int(count) > settings.per_second.get(row.channel, 50):
        return timedelta(seconds=1)
    if row.channel != NotifierChannel.SMS.value:
        return None
    phone = row.recipient
    # Per phone: at least 60 / phone_per_minute seconds between two messages (a gap, not a window that two sends
    # can straddle), and phone_per_hour in each clock hour.
    gap_ms = max(1, 60_000 // settings.phone_per_minute)
    gap_key = f"orderhub:notify:phone:{phone}:gap"
    if not await client.set(gap_key, "1", nx=True, px=gap_ms):
        remaining = await client.pttl(gap_key)
        return timedelta(milliseconds=max(100, int(remaining)))
    hour_key = f"orderhub:notify:phone:{phone}:hour:{second // 3600}"
    async with client.pipeline(transaction=False) as pipe:
        pipe.incr(hour_key)
        pipe.expire(hour_key, 3605)
        count, _ = await pipe.execute()
    if int(count) > settings.phone_per_hour:
        return timedelta(seconds=3600 - second % 3600)
    return None


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


async def _fallback(row: NotificationRow, now: datetime) -> int | None:
    stored: dict[str, Any] = msgspec.json.decode(row.context or "{}")
    rest = [tuple(t) for t in stored.get("_fallbacks", [])]
    for index, (channel, recipient) in enumerate(rest):
        template = await _usable(row.event, str(channel))
        if template is None:
            continue
        context = {**stored, "_fallbacks": [list(t) for t in rest[index + 1 :]]}
        async with db.transaction():  # the caller's: settled and replaced together
            return await _insert(
                subject=row.subject, order_id=row.order, event=row.event,
                audience=row.audience, channel=str(channel), recipient=str(recipient), context=context,
                urgent=template.urgent, now=now, fallback_of=row.id, warehouse_id=row.warehouse,
            )
    return None


def _next_midnight(now: datetime) -> datetime:
    """Just after the next midnight in Asia/Shanghai (when daily quotas reset), as aware UTC."""
    day = clock.to_shanghai(now).date() + timedelta(days=1)
    return datetime.combine(day, time(0, 1), tzinfo=clock.SHANGHAI).astimezone(UTC)


SHORT_WAIT = timedelta(seconds=2)  # a rate-limit wait this short is waited out in the job, not left to the cron


async def send(notification_id: int, *, now: datetime | None = None) -> str:
    """The job: send the row once. Returns what happened (sent, failed, fallback, retry, throttled, deferred,
    rate_limited, or skipped when it is not due, already sent, or another sender holds it)."""
    now = now or clock.now()
    row = await _claim(notification_id, now)
    if row is None:
        return "skipped"
    settings = await config.load_settings()
    if row.audience == "customer" and not row.urgent:
        until = config.quiet_until(now, settings)
        if until is not None:
            await _settle(row, "pending", now, not_before=until, code=DeliveryError.QUIET_HOURS,
                          message="免打扰时段，稍后发送", give_back_attempt=True)
            return "deferred"
    wait = await _rate_wait(row, settings, now)
    for _ in range(3):
        if wait is None or wait > SHORT_WAIT:
            break
        await asyncio.sleep(wait.total_seconds())
        now += wait
        wait = await _rate_wait(row, settings, now)
    if wait is not None:
        await _settle(row, "pending", now, not_before=now + wait, code=DeliveryError.RATE_LIMITED,
                      message="超过发送频率，排队稍后发送", give_back_attempt=True)
        return "rate_limited"
    provider = await config.provider_config(row.channel)
    template = await template_for(row.event, row.channel)
    if provider is None or template is None or not template.enabled:
        await _settle(row, "failed", now, code=DeliveryError.NOT_CONFIGURED, message="该渠道未配置账号或模板已停用")
        return "failed"
    try:
        message = await _message(row, template, settings)
    except Exception as exc:
        if _is_db_error(exc):
            raise  # the lease runs out and the dispatcher tries again
        await _settle(row, "failed", now, code=DeliveryError.TEMPLATE_ERROR, message=f"模板无法填写：{exc!r}")
        log.exception("notification template failed", extra={"notification": row.id})
        return "failed"
    if row.channel == NotifierChannel.WECOM.value:
        # WeCom drops what passes a member's 30 a minute (90454): a slot in each recipient's window — the one the
        # approval cards count in — or the whole message waits for it (all or none; not a failed attempt).
        wait = await wecom_window.reserve_all(
            wecom_window.app_of(provider),
            wecom_window.members(row.recipient),
            now,
            wecom_window.per_minute_of(provider),
            wecom_window.MEMBER_PER_HOUR,
        )
        if wait is not None:
            await _settle(row, "pending", now, not_before=now + wait, code=DeliveryError.MEMBER_RATE,
                          message=DeliveryError.MEMBER_RATE.message, give_back_attempt=True)
            log.info("WeCom message queued for the member's limit",
                     extra={"notification": row.id, "wait_s": round(wait.total_seconds(), 1)})
            return "rate_limited"
    try:
        notifier = notifier_for(message.channel, provider, config.token_redis())
        result = await notifier.send(message)
    except RecipientRefused as exc:
        async with db.transaction():  # the refusal and its replacement land together
            replacement = await _fallback(row, now) if await _settle(row, "fallback", now, error=exc) else None
        log.info("recipient refused; fell back", extra={"notification": row.id, "replacement": replacement})
        return "fallback"
    except PermanentNotifyError as exc:
        await _settle(row, "failed", now, error=exc)
        log.warning("notification refused", extra={"notification": row.id, "code": exc.code})
        return "failed"
    except ThrottledNotifyError as exc:
        # the provider's quota or flow control: wait for its window; that is not a failed attempt
        until = _next_midnight(now) if exc.daily else now + timedelta(seconds=max(1.0, exc.retry_after))
        await _settle(row, "pending", now, not_before=until, error=exc, give_back_attempt=True)
        log.info("notification throttled by the provider", extra={"notification": row.id, "code": exc.code})
        return "throttled"
    except (TransientNotifyError, Exception) as exc:
        error = exc if isinstance(exc, NotifyError) else TransientNotifyError("error", repr(exc)[:200])
        if row.attempts >= settings.max_attempts:
            await _settle(row, "failed", now, error=error)
            return "failed"
        await _settle(row, "pending", now, not_before=now + _backoff(row.attempts), error=error)
        log.warning("notification failed; retried later", extra={"notification": row.id, "code": error.code})
        return "retry"
    await _settle(row, "sent", now, provider_id=result.provider_id)
    return "sent"


async def _message(row: NotificationRow, template: Template, settings: config.NotifySettings) -> Message:
    context = await _full_context(row)
    fields, title, text = render(template, context)
    return Message(
        channel=row.channel,
        recipient=pii.open_(row.recipient),  # an SMS row's phone is sealed at rest
        out_id=str(row.id),
        template=template.template_id,
        data=fields,
        url=str(context.get("tracking_url") or "") if row.audience == "customer" else "",
        page=f"{settings.miniprogram_page}?token={context['tracking_token']}"
        if settings.miniprogram_page and context.get("tracking_token")
        else "",
        title=title,
        text=text,
    )


async def dispatch_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """The cron: queue every row that is due (deferred, backed off, rate-limited, or abandoned by its sender)."""
    now = now or clock.now()
    due: list[int] = await (
        Notification.select(Notification.id)
        .where(
            ((Notification.status == "pending") & (Notification.not_before <= now))
            | ((Notification.status == "sending") & (Notification.lease_until < now))
        )
        .order_by(Notification.not_before, Notification.id)
        .limit(limit)
        .output(as_list=True)
    )
    for notification_id in due:
        await enqueue(JobName.SEND_NOTIFICATION, key=send_key(notification_id), notification_id=notification_id)
    return len(due)


async def collect_receipts(*, now: datetime | None = None, limit: int = 200) -> int:
    """The cron: SMS delivery receipts (QuerySendDetails) for messages sent in the last two days."""
    now = now or clock.now()
    provider = await config.provider_config(NotifierChannel.SMS.value)
    if provider is None:
        return 0
    rows = db.rows_as(
        NotificationRow,
        await Notification.select()
        .where(
            Notification.channel == NotifierChannel.SMS.value,
            Notification.status == "sent",
            Notification.delivery.is_in(["", "waiting"]),
            Notification.sent_at > now - timedelta(days=2),
        )
        .order_by(Notification.id)
        .limit(limit),
    )
    notifier: Any = notifier_for(NotifierChannel.SMS.value, provider, None)
    updated = 0
    for row in rows:
        try:
            receipts = await notifier.query_send_details(pii.open_(row.recipient), row.provider_id, row.sent_at)
        except NotifyError as exc:
            log.warning("sms receipt query failed", extra={"notification": row.id, "code": exc.code})
            continue
        # only this row's receipt (OutId): another message to the same phone that day is not this one
        receipt = next((r for r in receipts if r.out_id == str(row.id)), None)
        if receipt is None:
            continue
        await db.execute(  # raw: a CASE keeps the error code unless the receipt says failed
            "UPDATE notification SET delivery = {}, error_code = CASE WHEN {} = 'failed' THEN {} ELSE error_code END, "
            "updated_at = {} WHERE id = {}",
            receipt.status,
            receipt.status,
            (receipt.err_code or "")[:64],
            now,
            row.id,
        )
        updated += 1
    return updated


# ---------------------------------------------------------------------------------------------------- reading


def _view(row: NotificationRow) -> NotificationView:
    notice = NOTICES.get(row.event)
    return NotificationView(
        id=row.id,
        order_id=row.order,
        event=row.event,
        label=notice.label if notice else row.event,
        audience=row.audience,
        channel=row.channel,
        recipient=mask_phone(pii.open_(row.recipient)) if row.channel == NotifierChannel.SMS.value else row.recipient,
        status=row.status,
        attempts=row.attempts,
        not_before=clock.to_shanghai(row.not_before),
        provider_id=row.provider_id,
        error_code=row.error_code,
        error_message=row.error_message,
        delivery=row.delivery,
        fallback_of=row.fallback_of,
        resends=row.resends,
        created_at=clock.to_shanghai(row.created_at),
        sent_at=None if row.sent_at is None else clock.to_shanghai(row.sent_at),
    )


async def list_for_order(order_id: int) -> list[NotificationView]:
    rows = await Notification.select().where(Notification.order == order_id).order_by(Notification.id)
    return [_view(r) for r in db.rows_as(NotificationRow, rows)]


_IN_WAREHOUSE = "warehouse = {}"  # a warehouse's messages: about its orders, and its staff digests


async def list_notifications(
    *, status: str | None = None, limit: int = 100, warehouse_id: int | None = None
) -> list[NotificationView]:
    """The newest messages; for a user bound to a warehouse, only those about its orders."""
    query = Notification.select().order_by(Notification.id, ascending=False).limit(limit)
    if status:
        query = query.where(Notification.status == status)
    if warehouse_id is not None:
        query = query.where(Notification.warehouse == warehouse_id)
    return [_view(r) for r in db.rows_as(NotificationRow, await query)]


async def resend(notification_id: int, *, actor: str, warehouse_id: int | None = None) -> NotificationView:
    """Staff send a message again (a failed one after fixing its cause, or a sent one the customer lost); a user
    bound to a warehouse, only messages about its orders."""
    now = clock.now()
    scope, scope_args = ("", []) if warehouse_id is None else (" AND " + _IN_WAREHOUSE, [warehouse_id])
    async with db.transaction():
        rows = await db.execute_returning(  # raw: a conditional UPDATE … RETURNING * (only a failed or sent row)
            NotificationRow,
            "UPDATE notification SET status = 'pending', attempts = 0, not_before = {}, lease_until = NULL, "
            "error_code = '', error_message = {}, delivery = '', resends = resends + 1, updated_at = {} "
            "WHERE id = {} AND status IN ('failed', 'sent')" + scope + " RETURNING *",
            now,
            f"由 {actor} 重发"[:255],
            now,
            notification_id,
            *scope_args,
        )
        if not rows:
            there = Notification.exists().where(Notification.id == notification_id)
            if warehouse_id is not None:
                there = there.where(Notification.warehouse == warehouse_id)
            if await there:
                raise Conflict(NotificationError.NOT_RESENDABLE, field="notification_id")
            raise NotFound("消息不存在", field="notification_id")
        _send_after_commit(notification_id)
    return _view(rows[0])


async def counts() -> Sequence[tuple[str, str, int]]:
    """(channel, status, count) for /metrics."""
    rows = await db.fetch_as(  # raw: a grouped count
        _Count, "SELECT channel, status, COUNT(*) AS n FROM notification GROUP BY channel, status"
    )
    return [(r.channel, r.status, r.n) for r in rows]
