"""Did an add-on offer work: the attach rate of Y in orders with ≥ N of X, before and after, and against a hold-out.

An order *qualifies* when it has at least ``min_qty`` of each SKU of the offer's trigger (X), on non-gift lines; it
*attaches* when it also has a non-gift line of the offered SKU (Y). Three comparisons:

- **after vs before** — qualifying orders placed in ``[enabled_at, until)`` (``until``: when it was switched off, or
  now) against those in the same-length window just before ``enabled_at``. Uncontrolled: a season or a campaign moves
  both the rate and this difference.
- **treatment vs hold-out** (the measured effect) — after ``enabled_at``, orders of buyers the storefront showed the
  offer to against orders of buyers in the hold-out, who were shown nothing. A buyer's arm is a stable hash of
  (channel code, buyer id, offer id) → [0, 1) below ``holdout_share`` (``orderhub.offers.model.holdout_point``):
  the storefront and this measurement use the same function, so an order is counted in the arm its buyer was
  served in. Orders without a buyer id (``buyer_nick`` empty) belong to neither arm and are counted apart
  (``unassigned``).

Each proportion gets a Wilson score interval; a difference of two proportions gets **Newcombe's hybrid score
interval** (Newcombe 1998, method 10: the square-and-add of the two Wilson intervals). Why not Wald
(``d ± z·√(p₁q₁/n₁ + p₂q₂/n₂)``): attach rates are small (a few per cent) and the hold-out is small (10 % of
buyers), exactly where Wald's coverage falls below its nominal 95 % and its bounds can leave [-1, 1]; Newcombe's
interval keeps close to 95 % there (Newcombe 1998, Table II), stays within [-1, 1], needs no iteration and is exact
arithmetic on the Wilson bounds. tests/unit/test_offer_effect.py checks its coverage on simulated A/B tests.

:func:`measure` is pure (rows in, figures out); :func:`offer_effect` reads the rows for one offer and
:func:`enabled_effects` for every offer that is or was switched on (the dashboards and the weekly report).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import msgspec

from orderhub import clock, db
from orderhub.offers import service
from orderhub.offers.model import holdout_point, in_holdout, qualifies
from orderhub.offers.service import OfferView
from orderhub.stats import Z_95, wilson_interval

__all__ = [
    "Z95",
    "Difference",
    "EffectOrder",
    "OfferEffect",
    "Proportion",
    "enabled_effects",
    "holdout_point",
    "in_holdout",
    "measure",
    "newcombe_difference",
    "offer_effect",
    "qualifies",
    "wilson",
]

Z95 = Z_95  # the standard normal's 97.5th percentile
METHOD = "newcombe_hybrid_score"
MAX_WINDOW = timedelta(days=90)  # the after window (and so the before window) is capped at this


# -- intervals ---------------------------------------------------------------------------------------------------------


class Proportion(msgspec.Struct, frozen=True, kw_only=True):
    hits: int  # qualifying orders with Y
    n: int  # qualifying orders
    rate: float | None  # hits / n (None when n = 0)
    low: float | None  # Wilson 95 %
    high: float | None


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


def proportion(hits: int, n: int) -> Proportion:
    if n == 0:
        return Proportion(hits=0, n=0, rate=None, low=None, high=None)
    low, high = wilson(hits, n)
    return Proportion(hits=hits, n=n, rate=hits / n, low=low, high=high)


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
    """One order's lines of the offer's SKUs (X and Y), non-gift lines only, as read for :func:`measure`."""

    order_id: int
    channel: str  # channel code
    buyer: str  # buyer_nick ("" when unknown)
    placed_at: datetime
    sku_qty: dict[str, int]


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
    note: str  # zh-CN, how to read it


def _note(effect: Difference | None, treatment: Proportion, holdout: Proportion) -> str:
    if effect is None:
        return "样本不足：对照组或实验组还没有符合条件的订单"
    pct = f"{effect.estimate * 100:+.1f} 个百分点（95% 置信区间 {effect.low * 100:+.1f} ~ {effect.high * 100:+.1f}）"
    if effect.low > 0:
        return f"有效：展示优惠的买家加购率比对照组高 {pct}"
    if effect.high < 0:
        return f"反效果：展示优惠的买家加购率比对照组低 {pct}"
    return f"尚无定论：差异 {pct} 的区间包含 0，需要更多订单（对照组 {holdout.n} 单，实验组 {treatment.n} 单）"


def measure(
    offer: OfferView,
    orders: Iterable[EffectOrder],
    *,
    enabled_at: datetime | None,
    until: datetime | None,
) -> OfferEffect:
    """The offer's figures from the orders of both windows (pure). Orders outside them are ignored."""
    counts = {"before": [0, 0], "after": [0, 0], "treatment": [0, 0], "holdout": [0, 0]}
    unassigned = 0
    before_since = enabled_at - (until - enabled_at) if enabled_at and until else None
    for order in orders:
        if enabled_at is None or until is None or before_since is None:
            break
        if not qualifies(order.sku_qty, offer.trigger_skus, offer.min_qty):
            continue
        hit = 1 if order.sku_qty.get(offer.offer_sku, 0) > 0 else 0
        if before_since <= order.placed_at < enabled_at:
            arms = ["before"]
        elif enabled_at <= order.placed_at < until:
            arms = ["after"]
            if not order.buyer:
                unassigned += 1
            elif in_holdout(order.channel, order.buyer, offer.id, offer.holdout_share):
                arms.append("holdout")
            else:
                arms.append("treatment")
        else:
            continue
        for arm in arms:
            counts[arm][0] += hit
            counts[arm][1] += 1
    figures = {arm: proportion(h, n) for arm, (h, n) in counts.items()}
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
        note=_note(effect, figures["treatment"], figures["holdout"]),
    )


class _LineRow(msgspec.Struct):
    order_id: int
    channel: str
    buyer: str
    placed_at: datetime
    sku: str
    qty: int


async def _orders(skus: Sequence[str], since: datetime, until: datetime) -> list[EffectOrder]:
    # Raw SQL: one indexed pass (order_line.sku_code, sales_order.placed_at) over the few SKUs of one offer, instead
    # of loading every order of the window through the ORM. The SKU list is an offer's (at most MAX_TRIGGER + 1).
    rows = await db.fetch_as(
        _LineRow,
        "SELECT o.id AS order_id, c.code AS channel, o.buyer_nick AS buyer, o.placed_at AS placed_at, "
        "l.sku_code AS sku, l.qty AS qty "
        'FROM order_line l JOIN sales_order o ON o.id = l."order" JOIN channel c ON c.id = o.channel '
        f"WHERE l.sku_code IN ({db.placeholders(len(skus))}) AND NOT l.is_gift "
        "AND o.placed_at >= {} AND o.placed_at < {}",
        *skus,
        since,
        until,
    )
    grouped: dict[int, EffectOrder] = {}
    for row in rows:
        order = grouped.get(row.order_id)
        if order is None:
            order = grouped[row.order_id] = EffectOrder(
                order_id=row.order_id, channel=row.channel, buyer=row.buyer, placed_at=row.placed_at, sku_qty={}
            )
        order.sku_qty[row.sku] = order.sku_qty.get(row.sku, 0) + row.qty
    return list(grouped.values())


def windows(offer: OfferView, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(enabled_at, until) of the offer's current or last run; (None, None) when it was never switched on."""
    if offer.enabled_at is None:
        return None, None
    until = offer.disabled_at if offer.status == "disabled" and offer.disabled_at else now
    until = max(offer.enabled_at, min(until, offer.enabled_at + MAX_WINDOW))
    return offer.enabled_at, until


async def effect_of(offer: OfferView, *, now: datetime | None = None) -> OfferEffect:
    enabled_at, until = windows(offer, now or clock.now())
    if enabled_at is None or until is None or until <= enabled_at:
        return measure(offer, [], enabled_at=enabled_at, until=until)
    skus = sorted({*offer.trigger_skus, offer.offer_sku})
    orders = await _orders(skus, enabled_at - (until - enabled_at), until)
    return measure(offer, orders, enabled_at=enabled_at, until=until)


async def offer_effect(offer_id: int, *, now: datetime | None = None) -> OfferEffect:
    """One offer's effect, measured now (or at ``now``)."""
    return await effect_of(await service.get_offer(offer_id), now=now)


async def enabled_effects(*, now: datetime | None = None, limit: int = 20) -> list[OfferEffect]:
    """Every offer switched on now, then those switched off (most recently enabled first), at most ``limit``."""
    offers = [o for o in await service.list_offers() if o.enabled_at is not None]
    offers.sort(key=lambda o: (o.status != "enabled", -(o.enabled_at.timestamp() if o.enabled_at else 0), o.id))
    return [await effect_of(o, now=now) for o in offers[:limit]]
