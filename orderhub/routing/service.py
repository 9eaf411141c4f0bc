"""Choosing warehouses for an order: ranking, availability, whole-order or split allocation, packing line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

import msgspec

from orderhub import db
from orderhub.inventory.service import Shortfall
from orderhub.inventory.tables import Warehouse
from orderhub.routing.geo import region_distance

__all__ = [
    "Allocation",
    "Candidate",
    "SplitPolicy",
    "availability",
    "packing_line",
    "plan",
    "rank_warehouses",
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


class Allocation(msgspec.Struct, frozen=True, kw_only=True):
    """warehouse id → (sku id → qty); several warehouses only when the order was split."""

    by_warehouse: dict[int, dict[int, int]]

    @property
    def split(self) -> bool:
        return len(self.by_warehouse) > 1


async def rank_warehouses(*, province: str, preferred_id: int | None, default_id: int | None) -> list[Candidate]:
    """Active warehouses, best first: a rule's preference, then those serving the province, then the channel's
    default warehouse (the seller's fallback), then the rest by region distance, then id (stable)."""
    rows = await Warehouse.select(Warehouse.id, Warehouse.code, Warehouse.region, Warehouse.provinces).where(
        Warehouse.active == True  # noqa: E712
    )
    candidates = [
        Candidate(
            id=int(row["id"]),
            code=row["code"],
            distance=0
            if province and province in msgspec.json.decode(row["provinces"] or "[]")
            else 1 + region_distance(province, row["region"]),
            preferred=row["id"] == preferred_id,
            default=row["id"] == default_id,
        )
        for row in rows
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


def packing_line(
    *, weight_g: int, volume_cm3: int, max_item_volume_cm3: int, b_weight_g: int, b_volume_cm3: int
) -> str:
    """ "B" (bulky/heavy) when the parcel or any one item passes a threshold, else "A"."""
    if weight_g > b_weight_g or volume_cm3 > b_volume_cm3 or max_item_volume_cm3 > b_volume_cm3:
        return "B"
    return "A"
