"""Parcel tracking through 快递100 (behind the :class:`~orderhub.carriers.port.Tracker` port): subscribe on ship,
take its signed pushes, poll parcels whose pushes stopped, drive the order to ``delivered`` on 签收, and flag a
parcel with no movement for 48 hours.

* On handover a ``parcel_tracking`` row is made with its own random salt and an unguessable page token, and a job
  subscribes the waybill with ``callbackurl = {callback base}/api/v1/webhooks/kuaidi100/{id}`` and that salt.
* The callback endpoint checks ``sign = upper(md5(param + salt))`` against this parcel's salt, merges the events
  (a push repeats the whole route) and answers as 快递100 expects.
* A unique cron (every 30 min) polls parcels not yet delivered whose last news is older than
  ``POLL_AFTER`` — real-time query, ``sign = upper(md5(param + key + customer))`` — and marks those without
  movement for ``STALL_AFTER`` as an exception, with an alert event (once per stall).
* The state is the latest event's: collected → in transit → out for delivery → signed (the order becomes
  ``delivered``); exception and returned are shown as they come.

The 快递100 account (key, customer, gateway and the public base URL of this hub for callbacks) is set at run time
through the API and kept sealed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from orderhub import clock, crypto, db, httpclient
from orderhub.address.parser import standardise
from orderhub.carriers.port import TRACKERS, Tracker, TrackerAccount, TrackingEvent, TrackingState
from orderhub.errors import NotFound, ValidationFailed
from orderhub.events import Topic, publish_after_commit
from orderhub.logistics.errors import LogisticsError
from orderhub.logistics.tables import ParcelTracking
from orderhub.orders import pii
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import record_event, transition
from orderhub.orders.state import OrderStatus
from orderhub.orders.tables import Order, PipelineSetting
from orderhub.queue import JobName, enqueue
from orderhub.settings import get_settings

__all__ = [
    "POLL_AFTER",
    "STALL_AFTER",
    "STATE_TEXT",
    "ParcelRow",
    "ParcelStalled",
    "TrackingProvider",
    "TrackingView",
    "apply_callback",
    "callback_reply",
    "configure_provider",
    "list_parcels",
    "poll_parcels",
    "receiver_label",
    "start_tracking",
    "status_text",
    "subscribe",
    "tracking_by_token",
    "tracking_of_order",
]

log = logging.getLogger("orderhub.tracking")

POLL_AFTER = timedelta(hours=2)
STALL_AFTER = timedelta(hours=48)
_SETTING = "tracking.kuaidi100"
TRACKER = "kuaidi100"  # the tracking service (orderhub.carriers.port.TRACKERS) parcels are subscribed at
_FINAL = frozenset({TrackingState.SIGNED.value, TrackingState.RETURNED.value})


class TrackingProvider(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    customer: str
    base_url: str = "https://poll.kuaidi100.com"
    callback_base_url: str  # this hub as 快递100 reaches it, e.g. https://hub.example.com


class StoredEvent(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    state: str
    description: str
    location: str = ""


class TrackingView(msgspec.Struct, frozen=True, kw_only=True):
    order_id: int
    carrier: str
    waybill_no: str
    state: str
    events: list[StoredEvent]  # newest first, for display
    last_event_at: datetime | None
    stalled: bool
    delivered_at: datetime | None
    page: str  # the customer's tracking page (path; the token in it is the key)


class ParcelStalled(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="parcel.stalled"):
    order_id: int
    carrier: str
    waybill_no: str
    last_event_at: datetime | None
    at: datetime


class ParcelRow(msgspec.Struct, kw_only=True):
    """A ``parcel_tracking`` row."""

    id: int
    order: int
    carrier: str
    waybill_no: str
    state: str
    events: str  # JSON list of StoredEvent, oldest first
    salt: str
    token: str
    last_event_at: datetime | None
    stalled_at: datetime | None
    delivered_at: datetime | None


class _OrderStatus(msgspec.Struct):
    status: str


class _ReceiverPlace(msgspec.Struct):
    receiver_name: str
    receiver_city: str


async def configure_provider(provider: TrackingProvider, *, actor: str) -> None:
    if not provider.key or not provider.customer:
        raise ValidationFailed("快递100 的 key 与 customer 必填", field="key")
    if not provider.callback_base_url.startswith(("http://", "https://")):
        raise ValidationFailed("回调地址应以 http:// 或 https:// 开头", field="callback_base_url")
    sealed = crypto.encrypt(get_settings().secret_key, msgspec.json.encode(provider))
    now = clock.now()
    async with db.transaction():
        updated = await PipelineSetting.update(
            {PipelineSetting.value: sealed, PipelineSetting.updated_by: actor, PipelineSetting.updated_at: now}
        ).where(PipelineSetting.key == _SETTING).returning(PipelineSetting.id)
        if not updated:
            await PipelineSetting.insert(PipelineSetting(key=_SETTING, value=sealed, updated_by=actor, updated_at=now))


def _tracker() -> Tracker:
    return TRACKERS.get(TRACKER)


def callback_reply(accepted: bool) -> bytes:
    """The body the push endpoint answers with (the tracking service retries until it sees acceptance)."""
    return _tracker().push_reply(accepted)


def _account(provider: TrackingProvider) -> TrackerAccount:
    return TrackerAccount(key=provider.key, customer=provider.customer, base_url=provider.base_url)


async def _provider() -> TrackingProvider | None:
    row = await PipelineSetting.select(PipelineSetting.value).where(PipelineSetting.key == _SETTING).first()
    if row is None:
        return None
    return msgspec.json.decode(crypto.decrypt(get_settings().secret_key, row["value"]), type=TrackingProvider)


async def start_tracking(order_id: int, waybill_id: int, carrier: str, waybill_no: str) -> int:
    """Make the parcel's tracking row (once) and queue its subscription (after commit, inside a transaction: the
    ship transaction makes the row, so the shipped message already has the parcel's tracking link)."""
    now = clock.now()
    await db.execute(  # raw: INSERT … ON CONFLICT DO NOTHING (a second handover makes no second row)
        "INSERT INTO parcel_tracking (waybill, \"order\", carrier, waybill_no, state, events, salt, token, created_at) "
        "VALUES ({}, {}, {}, {}, 'pending', '[]', {}, {}, {}) ON CONFLICT (waybill) DO NOTHING",
        waybill_id,
        order_id,
        carrier,
        waybill_no,
        secrets.token_hex(16),
        secrets.token_urlsafe(24),
        now,
    )
    ids: list[int] = await (
        ParcelTracking.select(ParcelTracking.id).where(ParcelTracking.waybill == waybill_id).output(as_list=True)
    )
    tracking_id = ids[0]

    async def subscribe_job() -> None:
        await enqueue(JobName.SUBSCRIBE_TRACKING, key=f"tracking:{tracking_id}:subscribe", tracking_id=tracking_id)

    if db.pending_after_commit() is not None:
        db.after_commit(subscribe_job)
    else:
        await subscribe_job()
    return tracking_id


async def subscribe(tracking_id: int) -> bool:
    """The job: subscribe the waybill at 快递100 (False when no 快递100 account is configured)."""
    provider = await _provider()
    if provider is None:
        log.warning("no kuaidi100 account configured; parcel not subscribed", extra={"tracking": tracking_id})
        return False
    rows = await ParcelTracking.select().where(ParcelTracking.id == tracking_id)
    if not rows:
        return False
    row = db.rows_as(ParcelRow, rows)[0]
    origin, destination = await _route_of(tracking_id)
    callback = f"{provider.callback_base_url.rstrip('/')}/api/v1/webhooks/kuaidi100/{tracking_id}"
    async with httpclient.client(timeout=15) as http:
        await _tracker().subscribe(
            _account(provider),
            http,
            row.carrier,
            row.waybill_no,
            callback_url=callback,
            salt=row.salt,
            origin=origin,
            destination=destination,
        )
    await ParcelTracking.update({ParcelTracking.subscribed_at: clock.now()}).where(ParcelTracking.id == tracking_id)
    return True


class _RouteRow(msgspec.Struct, kw_only=True):
    warehouse_address: str | None
    province: str
    city: str
    district: str


def _region(province: str, city: str, district: str) -> str:
    """省市区 in one string, a municipality's name once (上海市青浦区, not 上海市上海市青浦区)."""
    parts = [province] + ([] if city == province else [city]) + [district]
    return "".join(p for p in parts if p)


async def _route_of(tracking_id: int) -> tuple[str, str]:
    """Where the parcel leaves from (its warehouse's 省市区) and goes to (the receiver's), "" when unknown."""
    found = await db.fetch_one_as(
        _RouteRow,
        "SELECT w.address AS warehouse_address, o.receiver_province AS province, o.receiver_city AS city,"
        " o.receiver_district AS district FROM parcel_tracking t JOIN waybill b ON b.id = t.waybill"
        " JOIN warehouse w ON w.id = b.warehouse JOIN sales_order o ON o.id = t.\"order\" WHERE t.id = {}",
        tracking_id,
    )
    if found is None:
        return "", ""
    origin = ""
    if found.warehouse_address:
        place = standardise(address=found.warehouse_address)
        if place.province:
            origin = _region(place.province, place.city, place.district)
    return origin, _region(found.province, found.city, found.district)


async def _apply(row: ParcelRow, events: Sequence[TrackingEvent]) -> None:
    """Merge events into the parcel (inside a transaction, the row locked by the caller)."""
    known = msgspec.json.decode(row.events or "[]", type=list[StoredEvent])
    seen = {(e.at, e.description) for e in known}
    added: list[StoredEvent] = []
    for event in events:
        if (event.at, event.description) not in seen:
            stored = StoredEvent(
                at=event.at, state=event.state.value, description=event.description, location=event.location
            )
            known.append(stored)
            added.append(stored)
            seen.add((event.at, event.description))
    known.sort(key=lambda e: e.at)
    now = clock.now()
    values: dict[Any, Any] = {
        ParcelTracking.events: msgspec.json.encode(known).decode(),
        ParcelTracking.last_checked_at: now,
    }
    if known:
        latest = known[-1]
        values[ParcelTracking.state] = latest.state
        # Every state the parcel reached in this update goes on the order's log once, in order (a push may
        # carry several steps: 揽收 and 在途 together), so "out for delivery" is heard even when 签收 follows.
        current = row.state
        before = row.last_event_at
        for step in sorted((e for e in added if before is None or e.at >= before), key=lambda e: e.at):
            if step.state != current:
                await record_event(
                    row.order,
                    OrderEventType.PARCEL_UPDATED,
                    reason=step.state,
                    data={
                        "waybill_no": row.waybill_no,
                        "from": current,
                        "state": step.state,
                        "at": step.at.isoformat(),
                        "description": step.description,
                    },
                    actor="kuaidi100",
                )
                current = step.state
        values[ParcelTracking.last_event_at] = latest.at
        previous = row.last_event_at
        if previous is None or latest.at > previous:
            values[ParcelTracking.stalled_at] = None  # it moved
        if latest.state == TrackingState.SIGNED.value and row.delivered_at is None:
            values[ParcelTracking.delivered_at] = latest.at
            order = await db.fetch_one_as(  # raw: the query builder has no FOR UPDATE (a row lock on PostgreSQL)
                _OrderStatus, "SELECT status FROM sales_order WHERE id = {}" + db.for_update(), row.order
            )
            if order is not None and order.status == OrderStatus.SHIPPED.value:
                await transition(
                    row.order,
                    OrderStatus.DELIVERED,
                    expected=OrderStatus.SHIPPED,
                    data={"waybill_no": row.waybill_no, "signed_at": latest.at.isoformat()},
                    actor="kuaidi100",
                )
    await ParcelTracking.update(values).where(ParcelTracking.id == row.id)


async def apply_callback(tracking_id: int, param: str, sign: str) -> bool:
    """A push from 快递100 for this parcel: False (nothing changed) when the sign is not this parcel's."""
    async with db.transaction():
        row = await db.fetch_one_as(  # raw: the query builder has no FOR UPDATE (a row lock on PostgreSQL)
            ParcelRow, "SELECT * FROM parcel_tracking WHERE id = {}" + db.for_update(), tracking_id
        )
        tracker = _tracker()
        if row is None or not tracker.verify_push(param, sign, row.salt):
            return False
        update = tracker.parse_push(param)
        if update.waybill_no != row.waybill_no:
            return False
        await _apply(row, update.events)
    return True


async def poll_parcels(*, now: datetime | None = None) -> dict[str, int]:
    """The cron: query parcels whose news is old, and flag those that have not moved for 48 h."""
    now = now or clock.now()
    provider = await _provider()
    rows = await db.fetch_as(  # raw: a COALESCE(…) comparison the query builder has no column expression for
        ParcelRow,
        "SELECT * FROM parcel_tracking WHERE state NOT IN ({}, {}) AND delivered_at IS NULL "
        "AND COALESCE(last_checked_at, created_at) < {} ORDER BY id LIMIT 500",
        *sorted(_FINAL),
        now - POLL_AFTER,
    )
    polled = stalled = 0
    if provider is not None and rows:
        async with httpclient.client(timeout=15) as http:
            tracker, account = _tracker(), _account(provider)
            for row in rows:
                try:
                    events = await tracker.query(account, http, row.carrier, row.waybill_no)
                except Exception as exc:  # one parcel's failure never stops the others
                    log.warning("tracking query failed", extra={"waybill": row.waybill_no, "error": repr(exc)})
                    continue
                async with db.transaction():
                    fresh = await db.fetch_as(  # raw: the query builder has no FOR UPDATE (a row lock on PostgreSQL)
                        ParcelRow, "SELECT * FROM parcel_tracking WHERE id = {}" + db.for_update(), row.id
                    )
                    await _apply(fresh[0], events)
                polled += 1
    quiet = await db.fetch_as(  # raw: a COALESCE(…) comparison the query builder has no column expression for
        ParcelRow,
        "SELECT * FROM parcel_tracking WHERE state NOT IN ({}, {}) AND delivered_at IS NULL AND stalled_at IS NULL "
        "AND COALESCE(last_event_at, created_at) < {} ORDER BY id LIMIT 500",
        *sorted(_FINAL),
        now - STALL_AFTER,
    )
    for row in quiet:
        async with db.transaction():
            marked = await ParcelTracking.update(
                {ParcelTracking.stalled_at: now, ParcelTracking.state: TrackingState.EXCEPTION.value}
            ).where(ParcelTracking.id == row.id, ParcelTracking.stalled_at.is_null()).returning(ParcelTracking.id)
            if marked:
                await record_event(
                    row.order,
                    OrderEventType.PARCEL_STALLED,
                    reason="no_movement_48h",
                    data={
                        "waybill_no": row.waybill_no,
                        "carrier": row.carrier,
                        "last_event_at": (row.last_event_at or now).isoformat(),
                    },
                    actor="system",
                )
                publish_after_commit(
                    ParcelStalled(
                        order_id=row.order,
                        carrier=row.carrier,
                        waybill_no=row.waybill_no,
                        last_event_at=row.last_event_at,
                        at=now,
                    ),
                    Topic.ALERTS,
                )
                stalled += 1
    return {"polled": polled, "stalled": stalled}


async def tracking_by_token(token: str) -> TrackingView:
    rows = await ParcelTracking.select().where(ParcelTracking.token == token)
    if not rows:
        raise NotFound("查询不到该包裹", code=LogisticsError.TRACKING_NOT_FOUND, field="token")
    return _tracking_view(db.rows_as(ParcelRow, rows)[0])


STATE_TEXT = {
    "pending": "等待揽收",
    "collected": "已揽收",
    "in_transit": "运输中",
    "out_for_delivery": "派送中",
    "signed": "已签收",
    "exception": "异常",
    "returned": "已退回",
}


def status_text(view: TrackingView) -> str:
    """What a customer reads as the parcel's status (zh-CN); a stalled parcel says we are on it."""
    if view.stalled and view.state != "signed":
        return "物流暂无更新，我们正在跟进"
    return STATE_TEXT.get(view.state, view.state)


async def receiver_label(order_id: int) -> str:
    """The receiver as a public page may show them: masked name and city (王*明（上海市）), never the phone."""
    from orderhub.logistics.labels import mask_name

    rows = db.rows_as(
        _ReceiverPlace, await Order.select(Order.receiver_name, Order.receiver_city).where(Order.id == order_id)
    )
    return f"{mask_name(pii.open_(rows[0].receiver_name))}（{rows[0].receiver_city}）" if rows else ""


async def tracking_of_order(order_id: int) -> TrackingView:
    rows = await (
        ParcelTracking.select()
        .where(ParcelTracking.order == order_id)
        .order_by(ParcelTracking.id, ascending=False)
        .limit(1)
    )
    if not rows:
        raise NotFound("该订单还没有物流轨迹", code=LogisticsError.TRACKING_NOT_FOUND, field="order_id")
    return _tracking_view(db.rows_as(ParcelRow, rows)[0])


def _tracking_view(row: ParcelRow) -> TrackingView:
    events = msgspec.json.decode(row.events or "[]", type=list[StoredEvent])
    return TrackingView(
        order_id=row.order,
        carrier=row.carrier,
        waybill_no=row.waybill_no,
        state=row.state,
        events=[
            StoredEvent(at=clock.to_shanghai(e.at), state=e.state, description=e.description, location=e.location)
            for e in reversed(events)
        ],
        last_event_at=row.last_event_at,
        stalled=row.stalled_at is not None,
        delivered_at=row.delivered_at,
        page=f"/t/{row.token}",
    )


async def list_parcels(
    *, state: str | None = None, stalled: bool | None = None, limit: int = 100, warehouse_id: int | None = None
) -> list[TrackingView]:
    """Parcels for the logistics desk, most recently shipped first: by state, or only those stalled (no movement
    for 48 h) — the parcels someone should chase with the carrier; a user bound to a warehouse sees its own."""
    query = ParcelTracking.select().order_by(ParcelTracking.id, ascending=False).limit(limit)
    if warehouse_id is not None:
        query = query.where(ParcelTracking.order.is_in(Order.select(Order.id).where(Order.warehouse == warehouse_id)))
    if state:
        query = query.where(ParcelTracking.state == state)
    if stalled is not None:
        query = query.where(ParcelTracking.stalled_at.is_not_null() if stalled else ParcelTracking.stalled_at.is_null())
    return [_tracking_view(r) for r in db.rows_as(ParcelRow, await query)]
