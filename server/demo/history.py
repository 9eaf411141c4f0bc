"""Past days for the demo: orders of the last week with their event logs at past times, so the managers' strategic
dashboard has yesterday and the same weekday last week to compare today with from the first minute.

Written straight into ``sales_order``, ``order_line`` and ``order_event`` (multi-row INSERTs, a couple of seconds), in
final states only — delivered, shipped, cancelled — so nothing of it is waiting for the pipeline, a picker or a
courier. No listener runs for these rows: the rollups count them as they count every order event, from the event log
(``orderhub/insights/upkeep.py``'s catch-up job; ``orderhub rollups-rebuild`` counts them too), each in the bucket of
its ``created_at``.

The plan (:func:`plan_history`) is pure and seeded: the same clock gives the same orders. Volume follows a day's
curve (quiet nights, a 10:00 and a 21:00 peak) and the weekday; the warehouse works 08:00-22:00 Asia/Shanghai and the
couriers collect at 12:00, 17:00 and 21:00, so night orders are picked in the morning. The channel mix drifts over
the week (抖音 up, 拼多多 down) so the week-on-week comparison has something to explain.

Idempotent: nothing is written when the hub already has an order placed before today (a demo that has run before).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.orders import pii
from orderhub.orders.events import OrderEventType
from orderhub.orders.phone_index import phone_key, search_digits
from orderhub.orders.state import OrderStatus

__all__ = [
    "ACTOR",
    "HISTORY_DAYS",
    "HISTORY_PER_DAY",
    "PlannedEvent",
    "PlannedOrder",
    "backfill_history",
    "plan_history",
]

log = logging.getLogger("orderhub.demo")

ACTOR = "system:demo-history"
HISTORY_DAYS = 8
HISTORY_PER_DAY = 300
_SEED = 20261206
_MARGIN = timedelta(minutes=2)  # nothing of the past is later than this before now
_TODAY_UNTIL = timedelta(hours=3)  # today's past orders: placed up to 3 h ago (their flow has finished by now)

S = OrderStatus
_RECEIVED = OrderEventType.RECEIVED.value
_CHANGED = OrderEventType.STATUS_CHANGED.value
_SHIPPED_EVENT = OrderEventType.SHIPPED.value

# orders per Asia/Shanghai hour, relative
_HOURS = (1.0, 0.6, 0.3, 0.2, 0.15, 0.2, 0.4, 0.8, 1.3, 1.8, 2.2, 2.0, 1.6, 1.7, 2.0, 2.1, 1.9, 1.6, 1.5, 1.9, 2.5,
          2.8, 2.4, 1.6)
_WEEKDAYS = (0.95, 0.9, 0.92, 0.97, 1.05, 1.2, 1.15)  # Monday … Sunday
_WORK = (8, 22)  # the warehouse's shift, Asia/Shanghai hours
_PICKUPS = (12, 17, 21)  # couriers collect at these hours
_CARRIERS = (("SF", "SF1"), ("ZTO", "7"), ("JT", "JT"))

# (province, city, district) receivers come from; the warehouse covering the province ships.
_PLACES: tuple[tuple[str, str, str], ...] = (
    ("上海市", "上海市", "浦东新区"), ("上海市", "上海市", "闵行区"), ("江苏省", "南京市", "鼓楼区"),
    ("江苏省", "苏州市", "工业园区"), ("浙江省", "杭州市", "西湖区"), ("浙江省", "宁波市", "鄞州区"),
    ("安徽省", "合肥市", "蜀山区"), ("山东省", "青岛市", "市南区"), ("湖北省", "武汉市", "洪山区"),
    ("福建省", "厦门市", "思明区"), ("广东省", "广州市", "天河区"), ("广东省", "深圳市", "南山区"),
    ("广东省", "东莞市", "南城街道"), ("四川省", "成都市", "武侯区"), ("重庆市", "重庆市", "渝北区"),
    ("湖南省", "长沙市", "岳麓区"), ("广西壮族自治区", "南宁市", "青秀区"), ("北京市", "北京市", "朝阳区"),
    ("北京市", "北京市", "海淀区"), ("天津市", "天津市", "南开区"), ("河北省", "石家庄市", "长安区"),
    ("辽宁省", "沈阳市", "和平区"), ("陕西省", "西安市", "雁塔区"), ("山西省", "太原市", "小店区"),
)
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀英", "晓东",
          "嘉怡")
_STREETS = ("人民路", "中山路", "建设路", "解放大道", "科技园路", "滨江路", "长江路", "文化路")


@dataclass(frozen=True)
class PlannedEvent:
    type: str
    at: datetime
    from_status: str | None = None
    to_status: str | None = None
    reason: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class PlannedOrder:
    channel: str
    external_id: str
    placed_at: datetime
    ship_by: datetime
    province: str
    city: str
    district: str
    detail: str
    name: str
    phone: str
    lines: list[tuple[str, int, int]]  # sku code, qty, unit price (fen)
    shipping_fee: int
    discount: int
    warehouse: str | None = None  # the warehouse code that ships it (None: never routed)
    status: str = S.RECEIVED.value
    exception_reason: str | None = None
    waybill_no: str = ""
    events: list[PlannedEvent] = field(default_factory=list)

    @property
    def goods(self) -> int:
        return sum(qty * price for _, qty, price in self.lines)

    @property
    def paid(self) -> int:
        return self.goods + self.shipping_fee - self.discount

    def move(self, at: datetime, target: OrderStatus, *, reason: str | None = None, **data: Any) -> None:
        self.events.append(PlannedEvent(_CHANGED, at, self.status, target.value, reason, data))
        self.status = target.value
        self.exception_reason = reason if target == S.EXCEPTION else None


def _sh(at: datetime) -> datetime:
    return clock.to_shanghai(at)


def _on_shift(at: datetime, rng: random.Random) -> datetime:
    """``at``, or the start of the next shift (plus the morning's first minutes) when the warehouse is closed."""
    local = _sh(at)
    if _WORK[0] <= local.hour < _WORK[1]:
        return at
    start = local.replace(hour=_WORK[0], minute=0, second=0, microsecond=0)
    if local.hour >= _WORK[1]:
        start += timedelta(days=1)
    return start.astimezone(UTC) + timedelta(seconds=rng.uniform(0, 90 * 60))


def _next_pickup(at: datetime) -> datetime:
    local = _sh(at)
    for hour in _PICKUPS:
        candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
        if candidate >= local:
            return candidate.astimezone(UTC)
    tomorrow = local.replace(hour=_PICKUPS[0], minute=0, second=0, microsecond=0) + timedelta(days=1)
    return tomorrow.astimezone(UTC)


def _channel_weights(channels: Sequence[str], day_index: int) -> list[float]:
    """The mix drifts over the week: 抖音 up 4 % a day, 拼多多 down 5 % a day, the rest steady."""
    weights = []
    for code in channels:
        base = {"tmall_flagship": 0.32, "douyin_live": 0.2, "pdd_store": 0.18}.get(code, 0.15)
        if code.startswith("douyin"):
            base *= 1 + 0.04 * day_index
        elif code.startswith("pdd"):
            base *= max(0.2, 1 - 0.05 * day_index)
        weights.append(base)
    return weights


def _external_id(channel: str, placed: datetime, seq: int) -> str:
    stamp = _sh(placed).strftime("%y%m%d")
    if channel.startswith("tmall"):
        return f"9{stamp}{seq:012d}"  # 19 digits, like a Tmall trade id (the simulator's start with 1-3)
    if channel.startswith("douyin"):
        return f"68{stamp}{seq:011d}"
    if channel.startswith("pdd"):
        return f"{stamp}-{seq:015d}"
    return f"HS{_sh(placed).strftime('%Y%m%d%H%M%S')}{seq:05d}"


def _order(
    rng: random.Random,
    channel: str,
    placed: datetime,
    seq: int,
    warehouses: Mapping[str, Sequence[str]],
    catalog: Sequence[tuple[str, int]],
) -> PlannedOrder:
    province, city, district = rng.choice(_PLACES)
    # the live demo shop's basket (sandbox/orders.py), so today's average order value compares with the past's
    lines: dict[str, tuple[int, int]] = {}
    for _ in range(rng.choices((1, 2, 3, 4), weights=(55, 25, 12, 8))[0]):
        code, price = rng.choice(catalog)
        lines[code] = (rng.choices((1, 2, 3, 5), weights=(75, 18, 5, 2))[0], price)
    order = PlannedOrder(
        channel=channel,
        external_id=_external_id(channel, placed, seq),
        placed_at=placed,
        ship_by=placed + timedelta(hours=48),
        province=province,
        city=city,
        district=district,
        detail=f"{rng.choice(_STREETS)}{rng.randrange(1, 999)}号{rng.randrange(1, 30)}栋{rng.randrange(101, 2802)}室",
        name=rng.choice(_SURNAMES) + rng.choice(_GIVEN),
        phone=f"1{rng.choice('3578')}{rng.randrange(10**8, 10**9)}",
        lines=[(code, qty, price) for code, (qty, price) in lines.items()],
        shipping_fee=0,
        discount=0,
    )
    goods, roll = order.goods, rng.random()
    if goods < 4900 and rng.random() < 0.3:
        order.shipping_fee = rng.choice((600, 800, 1000))
    if goods >= 29900 and roll < 0.5:
        order.discount = 3000  # 满 299 减 30
    elif goods >= 19900 and roll < 0.5:
        order.discount = 2000
    elif roll < 0.2:
        order.discount = min(rng.choice((300, 500, 1000)), goods // 2)
    order.warehouse = next((code for code, provinces in warehouses.items() if province in provinces), None)
    _flow(rng, order)
    return order


def _flow(rng: random.Random, order: PlannedOrder) -> None:
    """The order's life: received, routed, then cancelled, out of stock, or picked, packed, shipped, delivered."""
    at = order.placed_at + timedelta(seconds=rng.uniform(3, 60))
    order.events.append(PlannedEvent(_RECEIVED, at, None, S.RECEIVED.value))
    at += timedelta(seconds=rng.uniform(0.5, 5))
    order.move(at, S.VALIDATED)
    fate = rng.random()
    if fate < 0.015 or order.warehouse is None:  # nothing on the shelf: out of stock, refunded later
        order.warehouse = None
        order.move(at + timedelta(seconds=1), S.EXCEPTION, reason="out_of_stock")
        order.move(at + timedelta(hours=rng.uniform(1, 8)), S.CANCELLED, reason="out_of_stock_refund")
        return
    at += timedelta(seconds=rng.uniform(0.5, 3))
    order.move(at, S.RESERVED)
    order.move(at, S.READY, warehouse_ids=[order.warehouse])  # the warehouse id is filled in when written
    if fate < 0.04:  # the buyer changed their mind before the wave
        order.move(at + timedelta(minutes=rng.uniform(3, 90)), S.CANCELLED, reason="buyer_cancelled")
        return
    late = fate > 0.985  # a wave that was forgotten: shipped after ship_by
    at = _on_shift(at + timedelta(minutes=rng.uniform(2, 40) + (50 * 60 if late else 0)), rng)
    order.move(at, S.PICKING)
    at = _on_shift(at + timedelta(minutes=rng.uniform(4, 45)), rng)
    order.move(at, S.PACKED)
    at = _next_pickup(at + timedelta(minutes=10)) + timedelta(minutes=rng.uniform(0, 20))
    carrier, prefix = rng.choice(_CARRIERS)
    order.waybill_no = f"{prefix}{rng.randrange(10**11, 10**12)}"
    order.move(at, S.SHIPPED, carrier=carrier, waybill_no=order.waybill_no)
    order.events.append(
        PlannedEvent(_SHIPPED_EVENT, at, data={"carrier": carrier, "waybill_no": order.waybill_no})
    )
    order.move(at + timedelta(hours=rng.uniform(18, 72)), S.DELIVERED)


def _trim(order: PlannedOrder, until: datetime) -> bool:
    """Drop the events after ``until`` when only the delivery is (the parcel is still on its way); False when
    more would have to go (the order would be left open: not part of the past)."""
    while order.events and order.events[-1].at > until:
        last = order.events[-1]
        if last.to_status != S.DELIVERED.value:
            return False
        order.events.pop()
        order.status = last.from_status or order.status
    return True


def plan_history(
    now: datetime,
    *,
    channels: Sequence[str],
    warehouses: Mapping[str, Sequence[str]],
    catalog: Sequence[tuple[str, int]],
    days: int = HISTORY_DAYS,
    per_day: int = HISTORY_PER_DAY,
    seed: int = _SEED,
) -> list[PlannedOrder]:
    """The demo's past: ``days`` whole Asia/Shanghai days before today and today until 3 hours ago, about
    ``per_day`` orders a day over ``channels``. Every event is at least two minutes before ``now``; every order ends
    delivered, shipped (its parcel still on the way) or cancelled. ``warehouses``: code → provinces it ships to;
    ``catalog``: (SKU code, price in fen)."""
    rng = random.Random(seed)
    today = _sh(now).replace(hour=0, minute=0, second=0, microsecond=0)
    until = now - _MARGIN
    orders: list[PlannedOrder] = []
    seq = 0
    total_weight = sum(_HOURS)
    for index in range(days + 1):
        day = today - timedelta(days=days - index)
        volume = per_day * _WEEKDAYS[day.weekday()] * rng.uniform(0.92, 1.08)
        weights = _channel_weights(channels, index)
        for hour, share in enumerate(_HOURS):
            start = (day + timedelta(hours=hour)).astimezone(UTC)
            expected = volume * share / total_weight
            count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
            for _ in range(count):
                placed = start + timedelta(seconds=rng.uniform(0, 3600))
                if placed > now - _TODAY_UNTIL:
                    continue
                seq += 1
                channel = rng.choices(channels, weights=weights)[0]
                order = _order(rng, channel, placed, seq, warehouses, catalog)
                if _trim(order, until):
                    orders.append(order)
    return orders


# ------------------------------------------------------------------------------------------------ writing


class _Id(msgspec.Struct):
    id: int


class _Ref(msgspec.Struct):
    id: int
    code: str


class _Inserted(msgspec.Struct):
    id: int
    external_id: str


async def _has_past() -> bool:
    today = _sh(clock.now()).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    rows = await db.fetch_as(_Id, "SELECT id FROM sales_order WHERE placed_at < {} LIMIT 1", today)
    return bool(rows)


async def _insert(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, returning: str = "") -> list[
    _Inserted
]:
    """Multi-row INSERTs, as many rows per statement as the bound-parameter limit allows."""
    found: list[_Inserted] = []
    size = db.rows_per_statement(len(columns))
    names = ", ".join(f'"{c}"' for c in columns)
    for chunk in db.chunks(list(rows), size):
        values = ", ".join("(" + ", ".join("{}" for _ in columns) + ")" for _ in chunk)
        sql = f"INSERT INTO {table} ({names}) VALUES {values}"
        args = [value for row in chunk for value in row]
        if returning:
            found += await db.execute_returning(_Inserted, f"{sql} RETURNING {returning}", *args)
        else:
            await db.execute(sql, *args)
    return found


_ORDER_COLUMNS = (
    "channel", "external_id", "status", "exception_reason", "pending_holds", "fingerprint", "source_receiver",
    "buyer_nick", "buyer_phone", "receiver_name", "receiver_phone", "receiver_phone_key", "receiver_phone_tail",
    "receiver_province", "receiver_city", "receiver_district", "receiver_detail", "receiver_address",
    "receiver_division_code", "receiver_phone_ext", "goods_amount", "shipping_fee", "discount", "paid_amount",
    "buyer_memo", "seller_memo", "tags", "priority", "placed_at", "paid_at", "ship_by", "needs_backfill", "warehouse",
    "shipped_waybill_no", "raw_payload", "received_at", "updated_at", "rules_applied_at",
)
_LINE_COLUMNS = ("order", "line_no", "sku_code", "sku", "qty", "unit_price", "amount", "is_gift", "warehouse",
                 "reserved_qty")
_EVENT_COLUMNS = ("order", "type", "from_status", "to_status", "reason", "data", "actor", "created_at")


async def backfill_history(
    catalog: Sequence[tuple[str, int]],
    warehouses: Mapping[str, Sequence[str]],
    *,
    channels: Sequence[str],
    days: int = HISTORY_DAYS,
    per_day: int = HISTORY_PER_DAY,
    now: datetime | None = None,
) -> int:
    """Write the planned past (inside the caller's engine; its own transaction) unless the hub has orders from
    before today. ``channels`` must exist. Returns the orders written."""
    if days <= 0 or per_day <= 0 or await _has_past():
        return 0
    started = time.perf_counter()
    now = now or clock.now()
    plan = plan_history(now, channels=channels, warehouses=warehouses, catalog=catalog, days=days, per_day=per_day)
    if not plan:
        return 0
    channel_ids = {r.code: r.id for r in await db.fetch_as(_Ref, "SELECT id, code FROM channel")}
    warehouse_ids = {r.code: r.id for r in await db.fetch_as(_Ref, "SELECT id, code FROM warehouse")}
    sku_ids = {r.code: r.id for r in await db.fetch_as(_Ref, "SELECT id, code FROM sku")}
    plan = [o for o in plan if o.channel in channel_ids and (o.warehouse is None or o.warehouse in warehouse_ids)]
    async with db.transaction():
        rows = []
        for o in plan:
            address = f"{o.province}{o.city}{o.district}{o.detail}"
            digits = search_digits(o.phone)
            rows.append((
                channel_ids[o.channel], o.external_id, o.status, o.exception_reason, "[]", "", "", o.name, "",
                pii.seal(o.name), pii.seal(o.phone), phone_key(o.phone), digits[-4:], o.province, o.city, o.district,
                pii.seal(o.detail), pii.seal(address),
                "", "", o.goods, o.shipping_fee, o.discount, o.paid, "", "", "[]", "normal", o.placed_at,
                o.placed_at, o.ship_by, False, warehouse_ids[o.warehouse] if o.warehouse else None, o.waybill_no,
                "{}", o.events[0].at, o.events[-1].at, o.events[0].at,
            ))
        inserted = await _insert("sales_order", _ORDER_COLUMNS, rows, returning="id, external_id")
        ids = {(r.external_id): r.id for r in inserted}
        lines, events = [], []
        for o in plan:
            order_id = ids[o.external_id]
            wid = warehouse_ids[o.warehouse] if o.warehouse else None
            for number, (code, qty, price) in enumerate(o.lines, start=1):
                lines.append((order_id, number, code, sku_ids.get(code), qty, price, qty * price, False, wid, 0))
            for e in o.events:
                data = dict(e.data)
                if "warehouse_ids" in data and wid is not None:
                    data["warehouse_ids"] = [wid]
                events.append((
                    order_id, e.type, e.from_status, e.to_status, e.reason,
                    msgspec.json.encode(data).decode(), ACTOR, e.at,
                ))
        await _insert("order_line", _LINE_COLUMNS, lines)
        await _insert("order_event", _EVENT_COLUMNS, events)
    log.info(
        "demo history written",
        extra={"orders": len(plan), "events": len(events), "seconds": round(time.perf_counter() - started, 2)},
    )
    return len(plan)
