"""The finance view: sales trend and refund rate per channel, unsettled orders and amounts by age, fees by type,
margin per SKU and channel after platform fees and shipping cost, and settlement lag per platform — for a range of
days (Beijing calendar). Read by ``GET /api/v1/finance/overview`` (role finance / admin), the console's 财务 page and
the weekly report."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import ValidationFailed
from orderhub.finance.errors import FinanceError
from orderhub.finance.fees import rates_for
from orderhub.orders.events import OrderEventType

__all__ = ["AGE_EDGES_DAYS", "MAX_DAYS", "FinanceCard", "FinanceOverview", "card", "day_range", "overview"]

MAX_DAYS = 366
AGE_EDGES_DAYS = (7, 15, 30)  # unsettled ages: ≤ 7, 8–15, 16–30, > 30 days since shipping


def day_range(since: date, until: date) -> tuple[datetime, datetime]:
    """[since 00:00, until+1 00:00) Beijing, in UTC."""
    if since > until or (until - since).days >= MAX_DAYS:
        raise ValidationFailed(FinanceError.BAD_RANGE, field="since")
    start = datetime.combine(since, time(), tzinfo=clock.SHANGHAI).astimezone(UTC)
    end = datetime.combine(until + timedelta(days=1), time(), tzinfo=clock.SHANGHAI).astimezone(UTC)
    return start, end


class DayAmount(msgspec.Struct, frozen=True, kw_only=True):
    day: str
    orders: int
    amount: int  # fen


class ChannelTrend(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: int
    channel_name: str
    platform: str
    days: list[DayAmount]
    orders: int
    sales: int  # fen (GMV: what buyers paid for orders received)
    refunded: int  # fen recorded as refunded in the range
    refund_rate: float  # refunded / sales (0 when no sales)


class AgeBucket(msgspec.Struct, frozen=True, kw_only=True):
    label: str  # "≤7天" …
    orders: int
    expected: int  # fen


class ChannelUnsettled(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: int
    channel_name: str
    settle_delay_days: int
    buckets: list[AgeBucket]
    overdue_orders: int  # shipped longer ago than the platform's usual delay
    overdue_expected: int


class FeeTotal(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: int
    kind: str
    amount: int  # fen, signed as settled (fees negative)


class Margin(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: int
    sku: str
    units: int
    revenue: int  # what buyers paid for these units (plus the platform's coupons)
    platform_fees: int  # fees the platform took (negative)
    shipping_cost: int  # waybill price share (negative)
    refunds: int  # negative
    margin: int  # revenue + fees + shipping + refunds (before cost of goods, which the hub does not know)


class Lag(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: int
    channel_name: str
    platform: str
    settled_orders: int
    avg_days: float
    p50_days: float
    p90_days: float


class FinanceOverview(msgspec.Struct, frozen=True, kw_only=True):
    since: str
    until: str
    generated_at: datetime
    trend: list[ChannelTrend]
    unsettled: list[ChannelUnsettled]
    fees: list[FeeTotal]
    margins: list[Margin]
    lag: list[Lag]


class _Channel(msgspec.Struct):
    id: int
    name: str
    platform: str


class _Bucket(msgspec.Struct):
    bucket_start: datetime
    channel: int
    received: int
    received_fen: int


class _Refund(msgspec.Struct):
    channel: int
    data: str | None


class _Fee(msgspec.Struct):
    channel: int
    kind: str
    amount: int


class _Shipped(msgspec.Struct):
    order_id: int
    channel: int
    shipped_at: datetime | None
    settled_at: datetime | None
    paid: int
    platform_discount: int
    commission: int
    payment_fee: int
    service_fee: int
    insurance: int
    refunded: int


class _Line(msgspec.Struct):
    order_id: int
    sku_code: str
    qty: int
    amount: int


class _Price(msgspec.Struct):
    order_id: int
    price_fen: int | None


async def _trend(channels: dict[int, _Channel], start: datetime, end: datetime) -> list[ChannelTrend]:
    rows = await db.fetch_as(
        _Bucket,
        "SELECT bucket_start, channel, SUM(received) AS received, SUM(received_fen) AS received_fen "
        "FROM rollup_order_bucket WHERE bucket_start >= {} AND bucket_start < {} GROUP BY bucket_start, channel",
        start,
        end,
    )
    days: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        day = clock.to_shanghai(row.bucket_start).date().isoformat()
        slot = days[row.channel][day]
        slot[0] += row.received
        slot[1] += row.received_fen
    refunds = await db.fetch_as(
        _Refund,
        'SELECT o.channel, e.data FROM order_event e JOIN sales_order o ON o.id = e."order" '
        "WHERE e.type = {} AND e.created_at >= {} AND e.created_at < {}",
        OrderEventType.REFUND_RECORDED.value,
        start,
        end,
    )
    refunded: dict[int, int] = defaultdict(int)
    for refund in refunds:
        data = msgspec.json.decode(refund.data or "{}")
        refunded[refund.channel] += int(data.get("amount", 0)) if isinstance(data, dict) else 0
    result = []
    for cid in sorted(set(days) | set(refunded)):
        per_day = days.get(cid, {})
        sales = sum(v[1] for v in per_day.values())
        channel = channels.get(cid)
        result.append(
            ChannelTrend(
                channel_id=cid,
                channel_name=channel.name if channel else str(cid),
                platform=channel.platform if channel else "",
                days=[DayAmount(day=d, orders=v[0], amount=v[1]) for d, v in sorted(per_day.items())],
                orders=sum(v[0] for v in per_day.values()),
                sales=sales,
                refunded=refunded.get(cid, 0),
                refund_rate=round(refunded.get(cid, 0) / sales, 4) if sales else 0.0,
            )
        )
    return result


class _Age(msgspec.Struct):
    channel: int
    orders: int
    expected: int


_UNSETTLED = "shipped_at IS NOT NULL AND settled_at IS NULL AND stale = FALSE"


async def _unsettled(channels: dict[int, _Channel], now: datetime) -> list[ChannelUnsettled]:
    """Per channel: shipped, not settled, by days since shipping; and how many are past the platform's delay."""
    edges = [None, *(now - timedelta(days=d) for d in AGE_EDGES_DAYS), None]  # newest first
    labels = ("≤7天", "8–15天", "16–30天", ">30天")
    ages: dict[int, list[AgeBucket]] = defaultdict(list)
    for i, label in enumerate(labels):
        upper, lower = edges[i], edges[i + 1]  # (lower, upper] going back in time
        cond, args = [_UNSETTLED], []
        if lower is not None:
            cond.append("shipped_at >= {}")
            args.append(lower)
        if upper is not None:
            cond.append("shipped_at < {}")
            args.append(upper)
        rows = await db.fetch_as(
            _Age,
            "SELECT channel, COUNT(*) AS orders, COALESCE(SUM(expected), 0) AS expected FROM order_payout "
            f"WHERE {' AND '.join(cond)} GROUP BY channel",
            *args,
        )
        for row in rows:
            ages[row.channel].append(AgeBucket(label=label, orders=row.orders, expected=row.expected))
    rates = await rates_for(ages)
    result = []
    for cid in sorted(ages):
        delay = rates[cid].settle_delay_days
        overdue = await db.fetch_one_as(
            _Age,
            "SELECT channel, COUNT(*) AS orders, COALESCE(SUM(expected), 0) AS expected FROM order_payout "
            f"WHERE channel = {{}} AND {_UNSETTLED} AND shipped_at < {{}} GROUP BY channel",
            cid,
            now - timedelta(days=delay),
        )
        present = {b.label: b for b in ages[cid]}
        channel = channels.get(cid)
        result.append(
            ChannelUnsettled(
                channel_id=cid,
                channel_name=channel.name if channel else str(cid),
                settle_delay_days=delay,
                buckets=[present.get(label, AgeBucket(label=label, orders=0, expected=0)) for label in labels],
                overdue_orders=overdue.orders if overdue else 0,
                overdue_expected=overdue.expected if overdue else 0,
            )
        )
    return result


async def _fees(since: date, until: date) -> list[FeeTotal]:
    rows = await db.fetch_as(
        _Fee,
        "SELECT channel, kind, SUM(amount) AS amount FROM settlement_line WHERE bill_date >= {} AND bill_date <= {} "
        "AND kind NOT IN ('sale', 'refund') GROUP BY channel, kind ORDER BY channel, kind",
        since.isoformat(),
        until.isoformat(),
    )
    return [FeeTotal(channel_id=r.channel, kind=r.kind, amount=r.amount) for r in rows]


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _margins_and_lag(
    channels: dict[int, _Channel], start: datetime, end: datetime
) -> tuple[list[Margin], list[Lag]]:
    shipped = await db.fetch_as(
        _Shipped,
        'SELECT "order" AS order_id, channel, shipped_at, settled_at, paid, platform_discount, commission, '
        "payment_fee, service_fee, insurance, refunded FROM order_payout "
        "WHERE shipped_at >= {} AND shipped_at < {} AND stale = FALSE",
        start,
        end,
    )
    lags: dict[int, list[float]] = defaultdict(list)
    for s in shipped:
        if s.shipped_at is not None and s.settled_at is not None:
            lags[s.channel].append(max(0.0, (s.settled_at - s.shipped_at).total_seconds() / 86_400))
    margins: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    by_id = {s.order_id: s for s in shipped}
    ids = list(by_id)
    for chunk in db.chunks(ids):
        marks = db.placeholders(len(chunk))
        lines = await db.fetch_as(
            _Line,
            f'SELECT "order" AS order_id, sku_code, qty, amount FROM order_line WHERE "order" IN ({marks}) '
            "AND is_gift = FALSE",
            *chunk,
        )
        prices = await db.fetch_as(
            _Price,
            # every parcel of a split shipment; a voided or cancelled label cost nothing
            f'SELECT "order" AS order_id, SUM(price_fen) AS price_fen FROM waybill WHERE "order" IN ({marks}) '
            "AND status = 'issued' GROUP BY \"order\"",
            *chunk,
        )
        shipping = {p.order_id: p.price_fen or 0 for p in prices}
        lines_of: dict[int, list[_Line]] = defaultdict(list)
        for line in lines:
            lines_of[line.order_id].append(line)
        for order_id, order_lines in lines_of.items():
            s = by_id[order_id]
            weight = sum(max(0, line.amount) for line in order_lines) or len(order_lines)
            figures = (
                s.paid + s.platform_discount,
                s.commission + s.payment_fee + s.service_fee + s.insurance,
                -shipping.get(order_id, 0),
                s.refunded,
            )
            spread = [0, 0, 0, 0]
            for i, line in enumerate(order_lines):
                share = max(0, line.amount) if weight != len(order_lines) or any(x.amount for x in order_lines) else 1
                slot = margins[(s.channel, line.sku_code)]
                slot[0] += line.qty
                for k, figure in enumerate(figures):
                    # the last line takes the rounding remainder, so the SKUs add up to the order
                    part = figure - spread[k] if i == len(order_lines) - 1 else figure * share // weight
                    spread[k] += part
                    slot[k + 1] += part
    margin_rows = [
        Margin(
            channel_id=cid,
            sku=sku,
            units=v[0],
            revenue=v[1],
            platform_fees=v[2],
            shipping_cost=v[3],
            refunds=v[4],
            margin=v[1] + v[2] + v[3] + v[4],
        )
        for (cid, sku), v in sorted(margins.items())
    ]
    lag_rows = []
    for cid, values in sorted(lags.items()):
        channel = channels.get(cid)
        lag_rows.append(
            Lag(
                channel_id=cid,
                channel_name=channel.name if channel else str(cid),
                platform=channel.platform if channel else "",
                settled_orders=len(values),
                avg_days=round(sum(values) / len(values), 2),
                p50_days=round(_percentile(values, 0.5), 2),
                p90_days=round(_percentile(values, 0.9), 2),
            )
        )
    return margin_rows, lag_rows


async def overview(since: date, until: date, *, now: datetime | None = None) -> FinanceOverview:
    start, end = day_range(since, until)
    channels = {c.id: c for c in await db.fetch_as(_Channel, "SELECT id, name, platform FROM channel")}
    trend = await _trend(channels, start, end)
    unsettled = await _unsettled(channels, now or clock.now())
    fees = await _fees(since, until)
    margins, lag = await _margins_and_lag(channels, start, end)
    return FinanceOverview(
        since=since.isoformat(),
        until=until.isoformat(),
        generated_at=clock.now(),
        trend=trend,
        unsettled=unsettled,
        fees=fees,
        margins=margins,
        lag=lag,
    )


class FinanceCard(msgspec.Struct, frozen=True, kw_only=True):
    """The managers' dashboards' finance card (``GET /api/v1/dash/finance``, role finance / admin): the last bill
    day's reconciliation, the differences still open, and the orders past their platform's usual settlement delay."""

    day: str  # the bill day shown (yesterday, Asia/Shanghai, by default)
    settled: int
    expected: int
    difference: int
    top_causes: list[dict[str, Any]]  # [{cause, name, amount}] largest first, at most 3
    open_differences: int
    open_difference_fen: int  # Σ |difference| of the open ones
    flagged: int  # open ones with an unexplained or unmatched part
    overdue_orders: int
    overdue_expected: int


class _Open(msgspec.Struct):
    n: int
    fen: int
    flagged: int


async def card(day: date, *, now: datetime | None = None) -> FinanceCard:
    from orderhub.finance.reports_data import daily_report  # the report module reads this one's types

    report = await daily_report(day)
    causes: dict[str, list[Any]] = {}
    for row in report.rows:
        for cause in row.causes:
            slot = causes.setdefault(cause.cause, [cause.name, 0])
            slot[1] += cause.amount
    top = sorted(causes.items(), key=lambda kv: -abs(kv[1][1]))[:3]
    opened = await db.fetch_one_as(
        _Open,
        "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN difference < 0 THEN -difference ELSE difference END), 0) AS fen, "
        "COALESCE(SUM(CASE WHEN status = 'flagged' THEN 1 ELSE 0 END), 0) AS flagged "
        "FROM reconciliation WHERE difference <> 0 AND resolution = ''",
    )
    channels = {c.id: c for c in await db.fetch_as(_Channel, "SELECT id, name, platform FROM channel")}
    unsettled = await _unsettled(channels, now or clock.now())
    return FinanceCard(
        day=day.isoformat(),
        settled=report.settled,
        expected=report.expected,
        difference=report.difference,
        top_causes=[{"cause": c, "name": v[0], "amount": v[1]} for c, v in top],
        open_differences=opened.n if opened else 0,
        open_difference_fen=opened.fen if opened else 0,
        flagged=opened.flagged if opened else 0,
        overdue_orders=sum(u.overdue_orders for u in unsettled),
        overdue_expected=sum(u.overdue_expected for u in unsettled),
    )
