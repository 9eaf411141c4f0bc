"""Choosing warehouses for an order: ranking, availability, whole-order or split allocation, packing line, and
why (:func:`explain`: the ranking with each warehouse's reasons and the decision, for the order's event log)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

import msgspec

from orderhub import db
from orderhub.inventory.service import Shortfall
from orderhub.inventory.tables import Warehouse
from orderhub.routing.geo import UNKNOWN, region_distance

__all__ = [
    "Allocation",
    "Candidate",
    "RankedWarehouse",
    "RoutingDecision",
    "RoutingReason",
    "SplitPolicy",
    "StockCover",
    "WarehouseRow",
    "active_warehouses",
    "availability",
    "explain",
    "packing_line",
    "plan",
    "rank",
]


class SplitPolicy(StrEnum):
    SPLIT = "split"  # 拆单: one shipment per warehouse
    WAIT = "wait"  # hold in the awaiting_stock queue; retried periodically
    EXCEPTION = "exception"  # exception/out_of_stock for a person to decide


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    code: str
    distance: int
    preferred: bool
    default: bool
    region: str = ""


class Allocation(msgspec.Struct, frozen=True, kw_only=True):
    """warehouse id → (sku id → qty); several warehouses only when the order was split."""

    by_warehouse: dict[int, dict[int, int]]

    @property
    def split(self) -> bool:
        return len(self.by_warehouse) > 1


class WarehouseRow(msgspec.Struct, frozen=True, kw_only=True):
    """An active warehouse as ranking reads it."""

    id: int
    code: str
    region: str
    provinces: frozenset[str]


async def active_warehouses() -> list[WarehouseRow]:
    """Every active warehouse, with the provinces it serves (one query: a batch of orders ranks them for each of its
    receivers' provinces from this one read)."""
    rows = await Warehouse.select(Warehouse.id, Warehouse.code, Warehouse.region, Warehouse.provinces).where(
        Warehouse.active == True  # noqa: E712
    )
    return [
        WarehouseRow(
            id=int(row["id"]),
            code=row["code"],
            region=row["region"] or "",
            provinces=frozenset(msgspec.json.decode(row["provinces"] or "[]")),
        )
        for row in rows
    ]


def rank(
    warehouses: Sequence[WarehouseRow], *, province: str, preferred_id: int | None, default_id: int | None
) -> list[Candidate]:
    """``warehouses`` best first for a receiver in ``province``: a rule's preference, then those serving the province,
    then the channel's default warehouse (the seller's fallback), then the rest by region distance, then id
    (stable)."""
    candidates = [
        Candidate(
            id=w.id,
            code=w.code,
            distance=0 if province and province in w.provinces else 1 + region_distance(province, w.region),
            preferred=w.id == preferred_id,
            default=w.id == default_id,
            region=w.region,
        )
        for w in warehouses
    ]
    return sorted(candidates, key=lambda c: (not c.preferred, c.distance != 0, not c.default, c.distance, c.id))


async def availability(warehouse_ids: Sequence[int], sku_ids: Sequence[int]) -> dict[tuple[int, int], int]:
    """(warehouse id, sku id) → on_hand − reserved, for the rows that exist."""
    if not warehouse_ids or not sku_ids:
        return {}
    # Raw SQL: one of the worker's four per-order reads measured in bench.peak (runs several times per order).
    rows = await db.fetch_as(
        _Available,
        "SELECT warehouse, sku, on_hand - reserved AS available FROM stock_level "
        f"WHERE warehouse IN ({db.placeholders(len(warehouse_ids))}) AND sku IN ({db.placeholders(len(sku_ids))})",
        *warehouse_ids,
        *sku_ids,
    )
    return {(r.warehouse, r.sku): r.available for r in rows}


class _Available(msgspec.Struct):
    warehouse: int
    sku: int
    available: int


def plan(
    wanted: Mapping[int, int],
    ranked: Sequence[Candidate],
    available: Mapping[tuple[int, int], int],
    *,
    allow_split: bool,
    codes: Mapping[int, str],
) -> Allocation | list[Shortfall]:
    """The first ranked warehouse that has everything; else, if allowed, each SKU from the first warehouse that
    has all of it (lines are not divided). Otherwise the shortfalls against the warehouse that comes closest
    (most SKUs covered, then rank)."""
    for candidate in ranked:
        if all(available.get((candidate.id, sku), 0) >= qty for sku, qty in wanted.items()):
            return Allocation(by_warehouse={candidate.id: dict(wanted)})
    if allow_split:
        by_warehouse: dict[int, dict[int, int]] = {}
        unplaced: list[int] = []
        for sku, qty in sorted(wanted.items()):
            home = next((c.id for c in ranked if available.get((c.id, sku), 0) >= qty), None)
            if home is None:
                unplaced.append(sku)
            else:
                by_warehouse.setdefault(home, {})[sku] = qty
        if not unplaced:
            return Allocation(by_warehouse=by_warehouse)
        return [
            Shortfall(
                sku=codes[sku],
                requested=wanted[sku],
                available=max((max(available.get((c.id, sku), 0), 0) for c in ranked), default=0),
            )
            for sku in sorted(unplaced, key=lambda s: codes[s])
        ]

    def covered(c: Candidate) -> int:
        return sum(available.get((c.id, sku), 0) >= qty for sku, qty in wanted.items())

    best = max(ranked, key=covered).id if ranked else 0  # max keeps the first (best-ranked) of equals
    return [
        Shortfall(sku=codes[sku], requested=qty, available=max(available.get((best, sku), 0), 0))
        for sku, qty in sorted(wanted.items(), key=lambda item: codes[item[0]])
        if available.get((best, sku), 0) < qty
    ]


class StockCover(StrEnum):
    FULL = "full"  # every SKU of the order in the quantity wanted
    PARTIAL = "partial"  # some of them
    NONE = "none"


class RoutingReason(StrEnum):
    """Why the order went where it went (``order.routed``'s ``reason``)."""

    FIRST_WITH_ALL_STOCK = "first_with_all_stock"  # whole, from the best-ranked warehouse holding all of it
    SPLIT = "split_by_policy"  # none holds all; the channel splits: each SKU from the best-ranked holding it
    SHORT_EVEN_SPLIT = "short_even_split"  # the channel splits, but some SKU is nowhere in the quantity wanted
    SHORT_NO_SPLIT = "short_no_split"  # none holds all and the channel does not split (waits, or an exception)


class RankedWarehouse(msgspec.Struct, frozen=True, kw_only=True):
    """One warehouse in the ranking, with the facts its place follows from (in the ranking's order)."""

    rank: int  # 1 = best
    warehouse_id: int
    code: str
    preferred: bool  # a rule preferred it (order.rule_fired says which)
    serves_province: bool  # the receiver's province is in its served provinces
    default: bool  # the channel's default warehouse
    region: str
    region_hops: int | None  # hops between the receiver's region and the warehouse's (None: a region unknown)
    stock: StockCover
    skus_covered: int
    skus_wanted: int
    chosen: bool
    why: str  # zh-CN, for people: 规则指定；服务收货省份（上海市）；库存齐全；整单从此仓发出


class RoutingDecision(msgspec.Struct, frozen=True, kw_only=True):
    """The ranking and the decision, as the order's event log records it (``order.routed``)."""

    province: str
    policy: SplitPolicy
    decision: str  # single | split | short
    reason: RoutingReason
    message: str  # zh-CN
    chosen: list[int]  # warehouse ids (none when short)
    lines: dict[str, str]  # SKU code → warehouse code it ships from (when placed)
    ranking: list[RankedWarehouse]  # the first EXPLAINED_RANKS, and any chosen one beyond them
    candidates: int  # how many warehouses were ranked


EXPLAINED_RANKS = 10


def explain(
    wanted: Mapping[int, int],
    ranked: Sequence[Candidate],
    available: Mapping[tuple[int, int], int],
    result: Allocation | Sequence[Shortfall],
    *,
    province: str,
    policy: SplitPolicy,
    codes: Mapping[int, str],
) -> RoutingDecision:
    """Why :func:`plan` chose what it chose: each ranked warehouse's preference, served province, channel default,
    region distance and stock cover, and the decision (one warehouse, split, or short, under ``policy``)."""
    placed = result.by_warehouse if isinstance(result, Allocation) else {}
    home = {sku: wh for wh, skus in placed.items() for sku in skus}
    by_id = {c.id: c for c in ranked}
    ranking: list[RankedWarehouse] = []
    for rank, c in enumerate(ranked, start=1):
        covered = sum(available.get((c.id, sku), 0) >= qty for sku, qty in wanted.items())
        stock = StockCover.FULL if covered == len(wanted) else StockCover.PARTIAL if covered else StockCover.NONE
        hops = region_distance(province, c.region)
        facts = ["规则指定仓库"] if c.preferred else []
        if c.distance == 0:
            facts.append(f"服务收货省份（{province}）")
        else:
            facts.append("不服务收货省份，" + (f"相距 {hops} 个大区（{c.region}）" if hops != UNKNOWN else "大区未知"))
        if c.default:
            facts.append("渠道默认仓")
        facts.append(
            {StockCover.FULL: "库存齐全", StockCover.NONE: "无货"}.get(
                stock, f"部分有货（{covered}/{len(wanted)} 个 SKU）"
            )
        )
        if c.id in placed:
            facts.append(
                "整单从此仓发出"
                if len(placed) == 1
                else "拆单：发 " + "、".join(sorted(codes[s] for s in placed[c.id]))
            )
        if rank <= EXPLAINED_RANKS or c.id in placed:
            ranking.append(
                RankedWarehouse(
                    rank=rank,
                    warehouse_id=c.id,
                    code=c.code,
                    preferred=c.preferred,
                    serves_province=c.distance == 0,
                    default=c.default,
                    region=c.region,
                    region_hops=None if hops == UNKNOWN else hops,
                    stock=stock,
                    skus_covered=covered,
                    skus_wanted=len(wanted),
                    chosen=c.id in placed,
                    why="；".join(facts),
                )
            )
    lines = {codes[sku]: by_id[wh].code for sku, wh in sorted(home.items(), key=lambda item: codes[item[0]])}
    if len(placed) == 1:
        (only,) = placed
        entry = next(r for r in ranking if r.warehouse_id == only)
        before = [r.code for r in ranking if r.rank < entry.rank]
        lead = f"排名更靠前的 {'、'.join(before)} 库存不全；" if before else ""
        return RoutingDecision(
            province=province,
            policy=policy,
            decision="single",
            reason=RoutingReason.FIRST_WITH_ALL_STOCK,
            message=f"{lead}{entry.code} 排名第 {entry.rank}，库存齐全，整单从此仓发出",
            chosen=[only],
            lines=lines,
            ranking=ranking,
            candidates=len(ranked),
        )
    if placed:
        return RoutingDecision(
            province=province,
            policy=policy,
            decision="split",
            reason=RoutingReason.SPLIT,
            message="没有一个仓库存齐全，渠道允许拆单：" + "，".join(f"{sku} 从 {wh}" for sku, wh in lines.items()),
            chosen=sorted(placed),
            lines=lines,
            ranking=ranking,
            candidates=len(ranked),
        )
    short = "、".join(s.sku for s in result) if not isinstance(result, Allocation) else ""
    if policy == SplitPolicy.SPLIT:
        reason, message = RoutingReason.SHORT_EVEN_SPLIT, f"拆单后仍缺货：{short}"
    else:
        then = "等待补货" if policy == SplitPolicy.WAIT else "转异常处理"
        reason, message = RoutingReason.SHORT_NO_SPLIT, f"没有一个仓库存齐全（缺 {short}），渠道不拆单：{then}"
    return RoutingDecision(
        province=province,
        policy=policy,
        decision="short",
        reason=reason,
        message=message,
        chosen=[],
        lines=lines,
        ranking=ranking,
        candidates=len(ranked),
    )


def packing_line(
    *, weight_g: int, volume_cm3: int, max_item_volume_cm3: int, b_weight_g: int, b_volume_cm3: int
) -> str:
    """ "B" (bulky/heavy) when the parcel or any one item passes a threshold, else "A"."""
    if weight_g > b_weight_g or volume_cm3 > b_volume_cm3 or max_item_volume_cm3 > b_volume_cm3:
        return "B"
    return "A"
