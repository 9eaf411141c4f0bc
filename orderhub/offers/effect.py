"""Did an add-on offer work: the share of buyers who add Y, among buyers with an order of ≥ N of X, before and after,
and against a hold-out.

An order *qualifies* when it has at least ``min_qty`` of each SKU of the offer's trigger (X), on non-gift lines; it
*attaches* when it also has a non-gift line of the offered SKU (Y). Only orders that count as sales are read: not
cancelled, not a replacement (补发单, ``reship_of`` set) — the scope of ``orderhub.insights.copurchase._scope``.

**The unit is the buyer.** The hold-out randomises *buyers*, not orders: all of a buyer's orders fall in one arm, and
a buyer's orders are alike (one who likes Y adds it again and again). Counting each order as an independent trial
makes the intervals too narrow — with 150 buyers × 10 orders and no true effect, an order-level interval excluded 0
in about 20 % of simulated tests instead of 5 %. So each buyer with at least one qualifying order in the window is
one observation, *attached* when any of their qualifying orders there attaches; the rate is attached buyers ÷
buyers. That is a proportion of independent units (buyers are assigned independently by the hash), so the Wilson
interval per arm and Newcombe's interval for the difference are valid as they stand. We chose this over a
cluster-robust (delta-method) ratio of orders because it needs no variance estimate from few clusters, keeps the
closed-form intervals the rest of this module uses, and answers the question the manager asks ("did more of the
buyers shown the offer take Y?"); the cost is that a buyer who attaches once and one who attaches every time count
alike. tests/unit/test_offer_effect.py simulates repeat buyers with different tastes and checks coverage ≈ 95 %
and false positives ≈ 5 % under no effect.

Three comparisons:

- **after vs before** — buyers with a qualifying order placed in ``[enabled_at, until)`` (``until``: when it was
  switched off, or the moment measured at, whichever is earlier) against buyers with one in the window of the same
  length just before ``enabled_at`` — but never before the offer's previous switch-off, so a re-enabled offer's
  before-window never overlaps its earlier live run (it is then shorter). Uncontrolled: a season or a campaign moves
  both the rate and this difference; and a buyer in both windows is in both figures.
- **treatment vs hold-out** (the measured effect) — after ``enabled_at``, buyers the storefront showed the offer to
  against buyers in the hold-out, who were shown nothing. A buyer's arm is a keyed hash of (channel code, buyer id,
  offer id) → [0, 1) below ``holdout_share`` (``orderhub.offers.model.holdout_point``): the storefront and this
  measurement use the same function and key, so a buyer is counted in the arm they were served in. Orders without a
  buyer id (``buyer_nick`` empty) belong to neither arm and are counted apart (``unassigned``, in orders).
- **contaminated** — a gift rule made from the offer (``gift_rule_id``) is switched on: it gives Y free to hold-out
  buyers too, so the difference no longer measures the offer.

Each proportion gets a Wilson score interval; a difference of two proportions gets **Newcombe's hybrid score
interval** (Newcombe 1998, method 10: the square-and-add of the two Wilson intervals). Why not Wald
(``d ± z·√(p₁q₁/n₁ + p₂q₂/n₂)``): attach rates are small (a few per cent) and the hold-out is small (10 % of
buyers), exactly where Wald's coverage falls below its nominal 95 % and its bounds can leave [-1, 1]; Newcombe's
interval keeps close to 95 % there (Newcombe 1998, Table II), stays within [-1, 1], needs no iteration and is exact
arithmetic on the Wilson bounds.

The read: one grouped statement per offer returns **one row per buyer and window** (the per-order conditional sums
and the per-buyer any-attach are computed by the database), so Python never holds the orders' lines; each window is
at most :data:`MAX_WINDOW`. :func:`measure` is pure (buyers in, figures out); :func:`buyers_of` folds orders into
buyers the same way the SQL does (the unit tests use it); :func:`offer_effect` measures one offer and
:func:`enabled_effects` every offer that is or was switched on by a moment (the dashboards and the weekly report).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

import msgspec

from orderhub import clock, db
from orderhub.errors import NotFound
from orderhub.offers import service
from orderhub.offers.model import holdout_point, in_holdout, qualifies
from orderhub.offers.service import OfferView
from orderhub.offers.tables import OfferLog
from orderhub.orders.state import OrderStatus
from orderhub.rules import service as rules
from orderhub.stats import Z_95, wilson_interval

__all__ = [
    "MAX_WINDOW",
    "Z95",
    "BuyerUnit",
    "Difference",
    "EffectOrder",
    "OfferEffect",
    "Proportion",
    "buyers_of",
    "enabled_effects",
    "holdout_point",
    "in_holdout",
    "measure",
    "newcombe_difference",
    "offer_effect",
    "qualifies",
    "wilson",
    "windows",
]

Z95 = Z_95  # the standard normal's 97.5th percentile
METHOD = "newcombe_hybrid_score"
UNIT = "buyer"
MAX_WINDOW = timedelta(days=90)  # the after window (and so the before window) is capped at this


# -- intervals ---------------------------------------------------------------------------------------------------------


class Proportion(msgspec.Struct, frozen=True, kw_only=True):
    hits: int  # buyers with a qualifying order that has Y
    n: int  # buyers with a qualifying order
    rate: float | None  # hits / n (None when n = 0)
    low: float | None  # Wilson 95 %
    high: float | None
    orders: int = 0  # their qualifying orders (for reading, not for the interval)


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    estimate: float  # first rate − second rate
    low: float  # 95 % interval
    high: float
    method: str = METHOD

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.low > 0 or self.high < 0


def wilson(hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for hits / n (n ≥ 1): :func:`orderhub.stats.wilson_interval`."""
    if n < 1:
        raise ValueError(f"wilson: need 0 ≤ hits ≤ n and n ≥ 1, not {hits}/{n}")
    return wilson_interval(hits, n, z=z)


def proportion(hits: int, n: int, orders: int = 0) -> Proportion:
    if n == 0:
        return Proportion(hits=0, n=0, rate=None, low=None, high=None, orders=orders)
    low, high = wilson(hits, n)
    return Proportion(hits=hits, n=n, rate=hits / n, low=low, high=high, orders=orders)


def newcombe_difference(hits1: int, n1: int, hits2: int, n2: int, z: float = Z95) -> Difference:
    """p₁ − p₂ with Newcombe's hybrid score interval (method 10): from the Wilson bounds (l₁, u₁), (l₂, u₂),
    low = d − √((p₁−l₁)² + (u₂−p₂)²), high = d + √((u₁−p₁)² + (p₂−l₂)²)."""
    p1, p2 = hits1 / n1, hits2 / n2
    l1, u1 = wilson(hits1, n1, z)
    l2, u2 = wilson(hits2, n2, z)
    d = p1 - p2
    return Difference(
        estimate=d,
        low=max(-1.0, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)),
        high=min(1.0, d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)),
    )


def _difference(first: Proportion, second: Proportion) -> Difference | None:
    if first.n == 0 or second.n == 0:
        return None
    return newcombe_difference(first.hits, first.n, second.hits, second.n)


# -- measuring ---------------------------------------------------------------------------------------------------------


class EffectOrder(msgspec.Struct, frozen=True, kw_only=True):
    """One order's non-gift quantities of the offer's SKUs (X and Y): the input of :func:`buyers_of`."""

    order_id: int
    channel: str  # channel code
    buyer: str  # buyer_nick ("" when unknown)
    placed_at: datetime
    sku_qty: dict[str, int]


class BuyerUnit(msgspec.Struct, frozen=True, kw_only=True):
    """One buyer in one window: their qualifying orders there and whether any of them attached Y. A buyer-less order
    (``buyer`` empty) is a unit of its own."""

    window: str  # before | after
    channel: str
    buyer: str
    orders: int  # qualifying orders
    attached: bool


class OfferEffect(msgspec.Struct, frozen=True, kw_only=True):
    offer_id: int
    name: str
    status: str
    trigger_skus: list[str]
    min_qty: int
    offer_sku: str
    holdout_share: float
    enabled_at: datetime | None
    before_since: datetime | None  # the before window: [before_since, enabled_at)
    until: datetime | None  # the after window: [enabled_at, until)
    before: Proportion
    after: Proportion
    treatment: Proportion  # after, buyers shown the offer
    holdout: Proportion  # after, buyers in the hold-out
    unassigned: int  # qualifying orders after enabled_at without a buyer id (in neither arm)
    effect: Difference | None  # treatment − hold-out: the measured effect
    change: Difference | None  # after − before: uncontrolled
    contaminated: bool  # a gift rule made from the offer is switched on: hold-out buyers get Y free too
    note: str  # zh-CN, how to read it
    unit: str = UNIT  # what hits and n count


CONTAMINATED_NOTE = "（由本优惠生成的赠品规则已启用，对照组买家也会收到赠品，差值不再代表本优惠的效果）"


def _note(effect: Difference | None, treatment: Proportion, holdout: Proportion, contaminated: bool) -> str:
    tail = CONTAMINATED_NOTE if contaminated else ""
    if effect is None:
        return "样本不足：对照组或实验组还没有符合条件的买家" + tail
    pct = f"{effect.estimate * 100:+.1f} 个百分点（95% 置信区间 {effect.low * 100:+.1f} ~ {effect.high * 100:+.1f}）"
    if effect.low > 0:
        return f"有效：展示优惠的买家加购率比对照组高 {pct}" + tail
    if effect.high < 0:
        return f"反效果：展示优惠的买家加购率比对照组低 {pct}" + tail
    return f"尚无定论：差异 {pct} 的区间包含 0，需要更多买家（对照组 {holdout.n} 位，实验组 {treatment.n} 位）" + tail


def buyers_of(
    offer: OfferView, orders: Iterable[EffectOrder], *, before_since: datetime, enabled_at: datetime, until: datetime
) -> list[BuyerUnit]:
    """Orders → one unit per (window, channel, buyer) with a qualifying order, as the effect query groups them."""
    units: dict[tuple[str, str, str, int], list[int]] = {}
    for order in orders:
        if not qualifies(order.sku_qty, offer.trigger_skus, offer.min_qty):
            continue
        if before_since <= order.placed_at < enabled_at:
            window = "before"
        elif enabled_at <= order.placed_at < until:
            window = "after"
        else:
            continue
        key = (window, order.channel, order.buyer, 0 if order.buyer else order.order_id)
        unit = units.setdefault(key, [0, 0])
        unit[0] += 1
        unit[1] |= 1 if order.sku_qty.get(offer.offer_sku, 0) > 0 else 0
    return [
        BuyerUnit(window=w, channel=c, buyer=b, orders=n, attached=bool(hit))
        for (w, c, b, _), (n, hit) in units.items()
    ]


def measure(
    offer: OfferView,
    units: Iterable[BuyerUnit],
    *,
    enabled_at: datetime | None,
    until: datetime | None,
    before_since: datetime | None = None,
    contaminated: bool = False,
    holdout_key: bytes | None = None,
) -> OfferEffect:
    """The offer's figures from its buyers of both windows (pure). ``holdout_key``: the hub's key
    (:func:`orderhub.offers.service.holdout_key` when not given)."""
    key = holdout_key if holdout_key is not None else service.holdout_key()
    counts = {arm: [0, 0, 0] for arm in ("before", "after", "treatment", "holdout")}
    unassigned = 0
    if before_since is None and enabled_at and until:
        before_since = enabled_at - (until - enabled_at)
    for unit in units if enabled_at is not None and until is not None else ():
        arms = [unit.window]
        if unit.window == "after":
            if not unit.buyer:
                unassigned += unit.orders
            elif in_holdout(key, unit.channel, unit.buyer, offer.id, offer.holdout_share):
                arms.append("holdout")
            else:
                arms.append("treatment")
        for arm in arms:
            counts[arm][0] += unit.attached
            counts[arm][1] += 1
            counts[arm][2] += unit.orders
    figures = {arm: proportion(h, n, orders) for arm, (h, n, orders) in counts.items()}
    effect = _difference(figures["treatment"], figures["holdout"])
    return OfferEffect(
        offer_id=offer.id,
        name=offer.name,
        status=offer.status,
        trigger_skus=list(offer.trigger_skus),
        min_qty=offer.min_qty,
        offer_sku=offer.offer_sku,
        holdout_share=offer.holdout_share,
        enabled_at=enabled_at,
        before_since=before_since,
        until=until,
        before=figures["before"],
        after=figures["after"],
        treatment=figures["treatment"],
        holdout=figures["holdout"],
        unassigned=unassigned,
        effect=effect,
        change=_difference(figures["after"], figures["before"]),
        contaminated=contaminated,
        note=_note(effect, figures["treatment"], figures["holdout"], contaminated),
    )


class _UnitRow(msgspec.Struct):
    win: str
    channel: str
    buyer: str
    orders: int
    attached: int


async def _units(offer: OfferView, before_since: datetime, enabled_at: datetime, until: datetime) -> list[BuyerUnit]:
    # Raw SQL, one statement per offer: the inner query sums the offer's few SKUs per order (conditional sums over
    # order_line (sku_code) joined to sales_order (placed_at)) and keeps the qualifying orders; the outer one folds
    # them per (window, channel, buyer) — a buyer-less order stays a unit of its own (grouped by its id). So the
    # database returns at most one row per buyer and window. The SKU list is an offer's (at most MAX_TRIGGER + 1).
    skus = sorted({*offer.trigger_skus, offer.offer_sku})
    trigger_sums = ["SUM(CASE WHEN l.sku_code = {} THEN l.qty ELSE 0 END) >= {}" for _ in offer.trigger_skus]
    trigger_args: list[object] = []
    for sku in offer.trigger_skus:
        trigger_args += [sku, offer.min_qty]
    sql = (
        "SELECT q.win AS win, q.channel AS channel, q.buyer AS buyer, COUNT(*) AS orders, "
        "MAX(q.hit) AS attached FROM ("
        "SELECT CASE WHEN o.placed_at < {} THEN 'before' ELSE 'after' END AS win, c.code AS channel, "
        "o.buyer_nick AS buyer, CASE WHEN o.buyer_nick = '' THEN o.id ELSE 0 END AS solo, "
        "CASE WHEN SUM(CASE WHEN l.sku_code = {} THEN l.qty ELSE 0 END) > 0 THEN 1 ELSE 0 END AS hit "
        'FROM order_line l JOIN sales_order o ON o.id = l."order" JOIN channel c ON c.id = o.channel '
        f"WHERE l.sku_code IN ({db.placeholders(len(skus))}) AND l.is_gift = FALSE AND l.qty > 0 "
        "AND o.placed_at >= {} AND o.placed_at < {} AND o.status <> {} AND o.reship_of IS NULL "
        "GROUP BY o.id, o.placed_at, c.code, o.buyer_nick "
        f"HAVING {' AND '.join(trigger_sums)}"
        ") q GROUP BY q.win, q.channel, q.buyer, q.solo"
    )
    rows = await db.fetch_as(
        _UnitRow,
        sql,
        enabled_at,
        offer.offer_sku,
        *skus,
        before_since,
        until,
        OrderStatus.CANCELLED.value,
        *trigger_args,
    )
    return [
        BuyerUnit(window=r.win, channel=r.channel, buyer=r.buyer, orders=int(r.orders), attached=bool(r.attached))
        for r in rows
    ]


async def _last_disabled(offer: OfferView) -> datetime | None:
    """When the offer was last switched off before its current run began (from its log), if ever."""
    if offer.enabled_at is None:
        return None
    row = (
        await OfferLog.select(OfferLog.created_at)
        .where(
            (OfferLog.offer == offer.id) & (OfferLog.action == "disabled") & (OfferLog.created_at <= offer.enabled_at)
        )
        .order_by(OfferLog.id, ascending=False)
        .first()
    )
    return clock.from_db(row["created_at"]) if row else None


def windows(
    offer: OfferView, now: datetime, *, last_disabled: datetime | None = None
) -> tuple[datetime | None, datetime | None, datetime | None]:
    """(before_since, enabled_at, until) of the offer's current or last run as it stood at ``now``; all None when it
    was never switched on or was switched on after ``now``.

    ``until`` = min(disabled_at or now, now), at most :data:`MAX_WINDOW` after ``enabled_at``; the before window has
    the same length but starts no earlier than ``last_disabled`` (the end of the previous run), so it never overlaps
    a time the offer was live."""
    if offer.enabled_at is None or offer.enabled_at >= now:
        return None, None, None
    until = min(offer.disabled_at or now, now)
    until = max(offer.enabled_at, min(until, offer.enabled_at + MAX_WINDOW))
    before_since = offer.enabled_at - (until - offer.enabled_at)
    if last_disabled is not None and last_disabled > before_since:
        before_since = min(last_disabled, offer.enabled_at)
    return before_since, offer.enabled_at, until


async def _contaminated(offer: OfferView) -> bool:
    if offer.gift_rule_id is None or offer.gift_rule_id <= 0:
        return False
    try:
        return (await rules.get_rule(offer.gift_rule_id)).enabled
    except NotFound:
        return False


async def effect_of(offer: OfferView, *, now: datetime | None = None) -> OfferEffect:
    at = now or clock.now()
    before_since, enabled_at, until = windows(offer, at, last_disabled=await _last_disabled(offer))
    contaminated = await _contaminated(offer)
    if enabled_at is None or until is None or before_since is None or until <= enabled_at:
        return measure(offer, [], enabled_at=enabled_at, until=until, contaminated=contaminated)
    units = await _units(offer, before_since, enabled_at, until)
    return measure(
        offer, units, enabled_at=enabled_at, until=until, before_since=before_since, contaminated=contaminated
    )


async def offer_effect(offer_id: int, *, now: datetime | None = None) -> OfferEffect:
    """One offer's effect, measured now (or as at ``now``)."""
    return await effect_of(await service.get_offer(offer_id), now=now)


async def enabled_effects(*, now: datetime | None = None, limit: int = 20) -> list[OfferEffect]:
    """Every offer switched on before ``now`` (default: now) — those still on at ``now`` first, then those switched off
    by then, most recently enabled first — at most ``limit``, each measured as at ``now``. The filter comes before the
    limit, so a report for a past week is not crowded out by offers enabled since."""
    at = now or clock.now()
    offers = [o for o in await service.list_offers() if o.enabled_at is not None and o.enabled_at < at]

    def on_at(o: OfferView) -> bool:
        return o.disabled_at is None or o.disabled_at > at

    offers.sort(key=lambda o: (not on_at(o), -(o.enabled_at.timestamp() if o.enabled_at else 0), o.id))
    return [await effect_of(o, now=at) for o in offers[:limit]]
