"""Waves: ready orders of one warehouse and packing line grouped for picking, and the pick tasks they release.

Candidates are ``ready`` orders with lines in the warehouse that no open or claimed task holds. They are ranked
at-risk first, then by priority (urgent, vip, normal), ship-by and payment time, and grouped by packing line and —
when the warehouse wants it — single-item orders (一单一品: one SKU, one unit) apart from the rest. Each group is cut
into waves of at most ``max_orders`` orders and ``max_items`` units. The automatic run (every minute) releases a
full wave at once and a partial one only when it must go: an order in it is at risk or urgent (``urgent``), the
next carrier pick-up is within ``release_before_cutoff_minutes`` (``cutoff``), or its oldest order has waited
``max_wait_minutes`` (``waited``). A manual wave releases what it is given (``manual``).

Releasing a wave creates its pick tasks in the same transaction: one per order (order picking) or one per cart
of ``cart_slots`` orders, each order in its own tote slot (batch picking). A task's lines are ordered by the pick
path (:mod:`orderhub.picking.route`) over the SKUs' pick faces; its length and the naive length are stored.
Waves of one warehouse are built one at a time (the warehouse's picking_config row is locked), so an order never
lands in two tasks.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import ValidationFailed
from orderhub.inventory.tables import Location, Warehouse
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import record_event
from orderhub.orders.tables import OrderLine
from orderhub.picking.config import PickingSettings, PickMode, get_settings, next_cutoff
from orderhub.picking.errors import PickingError
from orderhub.picking.events import WaveReleased, publish_floor
from orderhub.picking.route import Stop, naive_route, plan_route
from orderhub.picking.tables import PickingConfig, PickLine, PickTask, PickTaskOrder, Wave

__all__ = [
    "Candidate",
    "WaveResult",
    "aisle_index",
    "bay_number",
    "build_waves",
    "create_manual_wave",
    "run_auto_waves",
    "wave_code",
]

log = logging.getLogger("orderhub.picking")

_PRIORITY_RANK = {"urgent": 0, "vip": 1, "normal": 2}
ACTIVE_TASK = ("open", "claimed")


@dataclass
class Candidate:
    order_id: int
    priority: str
    at_risk: bool
    ship_by: datetime | None
    paid_at: datetime | None
    waiting_since: datetime
    packing_line: str
    units: int
    lines: int

    @property
    def single_item(self) -> bool:
        return self.lines == 1 and self.units == 1

    @property
    def urgent(self) -> bool:
        return self.at_risk or self.priority == "urgent"

    def rank(self) -> tuple[Any, ...]:
        far = datetime.max.replace(tzinfo=clock.now().tzinfo)
        return (
            not self.at_risk,
            _PRIORITY_RANK.get(self.priority, 3),
            self.ship_by or far,
            self.paid_at or far,
            self.order_id,
        )


@dataclass
class WaveResult:
    wave_id: int
    code: str
    reason: str
    orders: int
    items: int
    task_ids: list[int] = field(default_factory=list)


class _CandidateRow(msgspec.Struct):
    id: int
    priority: str | None
    at_risk_at: datetime | None
    ship_by: datetime | None
    paid_at: datetime | None
    updated_at: datetime | None
    packing_line: str | None
    units: int | None
    lines: int | None


async def _candidates(warehouse_id: int, order_ids: Sequence[int] | None = None) -> list[Candidate]:
    only = f" AND o.id IN ({db.placeholders(len(order_ids))})" if order_ids else ""
    # Raw SQL: a grouped join with a NOT EXISTS the query builder cannot express.
    rows = await db.fetch_as(
        _CandidateRow,
        "SELECT o.id, o.priority, o.at_risk_at, o.ship_by, o.paid_at, o.updated_at, "
        "MIN(COALESCE(s.packing_line, 'A')) AS packing_line, SUM(l.qty) AS units, COUNT(l.id) AS lines "
        'FROM sales_order o JOIN order_line l ON l."order" = o.id '
        "LEFT JOIN shipment s ON s.id = l.shipment "
        # ready; or picking elsewhere — a split order whose part in this warehouse is not waved yet
        "WHERE o.status IN ('ready', 'picking') AND l.warehouse = {}" + only + " AND NOT EXISTS ("
        "SELECT 1 FROM pick_task_order p JOIN pick_task t ON t.id = p.task "
        "WHERE p.\"order\" = o.id AND p.status = 'active' AND t.warehouse = {} "
        "AND t.status IN ('open', 'claimed', 'done')"
        ") GROUP BY o.id, o.priority, o.at_risk_at, o.ship_by, o.paid_at, o.updated_at",
        warehouse_id,
        *(order_ids or []),
        warehouse_id,
    )
    return [
        Candidate(
            order_id=r.id,
            priority=r.priority or "normal",
            at_risk=r.at_risk_at is not None,
            ship_by=r.ship_by,
            paid_at=r.paid_at,
            waiting_since=r.updated_at or clock.now(),
            packing_line=r.packing_line or "A",
            units=r.units or 0,
            lines=r.lines or 0,
        )
        for r in rows
    ]


def _cut(candidates: list[Candidate], max_orders: int, max_items: int) -> list[list[Candidate]]:
    waves: list[list[Candidate]] = []
    current: list[Candidate] = []
    units = 0
    for c in sorted(candidates, key=Candidate.rank):
        if current and (len(current) >= max_orders or units + c.units > max_items):
            waves.append(current)
            current, units = [], 0
        current.append(c)
        units += c.units
    if current:
        waves.append(current)
    return waves


def _release_reason(
    wave: list[Candidate], settings: PickingSettings, now: datetime, *, last: bool, cutoff: datetime | None
) -> str | None:
    if not last:
        return "full"
    if len(wave) >= settings.max_orders:
        return "full"
    if any(c.urgent for c in wave):
        return "urgent"
    if cutoff is not None and now >= cutoff - timedelta(minutes=settings.release_before_cutoff_minutes):
        return "cutoff"
    if min(c.waiting_since for c in wave) <= now - timedelta(minutes=settings.max_wait_minutes):
        return "waited"
    return None


async def _lock_warehouse(warehouse_id: int) -> None:
    """Serialise wave building per warehouse (the config row is created on first use)."""
    await PickingConfig.insert(PickingConfig(warehouse=warehouse_id, updated_at=clock.now())).on_conflict(
        target=PickingConfig.warehouse, action="DO NOTHING"
    )
    # Raw SQL: FOR UPDATE.
    await db.fetch_as(db.IdRow, "SELECT id FROM picking_config WHERE warehouse = {}" + db.for_update(), warehouse_id)


def wave_code(now: datetime, wave_id: int) -> str:
    return f"W{clock.to_shanghai(now):%y%m%d}-{wave_id:05d}"


_DIGITS = re.compile(r"\d+")


def _natural(text: str) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text or ""))


class _Face(msgspec.Struct):
    """A SKU's pick face: its location and where that is."""

    sku: int
    id: int
    code: str
    zone: str | None
    aisle: str | None
    bay: str | None


async def _pick_faces(warehouse_id: int, sku_ids: Sequence[int]) -> dict[int, _Face]:
    faces: dict[int, _Face] = {}
    # A wave's SKUs (up to max_orders orders × their lines): the IN list goes in chunks.
    for part in db.chunks(sku_ids, db.MAX_PARAMS - 1):
        # Raw SQL: a join of the pick faces with their locations.
        rows = await db.fetch_as(
            _Face,
            "SELECT f.sku, l.id, l.code, l.zone, l.aisle, l.bay FROM sku_location f JOIN location l "
            f"ON l.id = f.location WHERE f.warehouse = {{}} AND f.sku IN ({db.placeholders(len(part))})",
            warehouse_id,
            *part,
        )
        faces.update((r.sku, r) for r in rows)
    return faces


async def aisle_index(warehouse_id: int) -> tuple[dict[tuple[str, str], int], int]:
    """Aisles of the warehouse in walking order (zone, then aisle, naturally sorted) and the deepest bay — over
    every location, active or not: a pick face on a location closed for put-away still has to be walked to. (The
    remaining walk of a task, :mod:`orderhub.picking.tasks`, reads the same layout.)"""
    rows = (
        await Location.select(Location.zone, Location.aisle, Location.bay)
        .where(Location.warehouse == warehouse_id)
        .distinct()
    )
    aisles = sorted({(r["zone"] or "", r["aisle"] or "") for r in rows}, key=lambda z: (_natural(z[0]), _natural(z[1])))
    deepest = max((bay_number(r["bay"]) for r in rows), default=1)
    return {key: i for i, key in enumerate(aisles)}, deepest


def bay_number(bay: str | None) -> int:
    match = _DIGITS.search(bay or "")
    return max(1, int(match.group())) if match else 1


class _OrderLineRow(msgspec.Struct):
    id: int
    order: int
    sku: int
    qty: int
    line_no: int


async def _order_lines(warehouse_id: int, order_ids: Sequence[int]) -> list[_OrderLineRow]:
    rows = (
        await OrderLine.select(OrderLine.id, OrderLine.order, OrderLine.sku, OrderLine.qty, OrderLine.line_no)
        .where(
            (OrderLine.warehouse == warehouse_id)
            & OrderLine.sku.is_not_null()
            & OrderLine.order.is_in(list(order_ids))  # bounded: one wave's orders (max_orders ≤ 1000)
        )
        .order_by(OrderLine.order, OrderLine.line_no)
    )
    return db.rows_as(_OrderLineRow, rows)


async def _create_task(
    wave_id: int,
    warehouse_id: int,
    orders: list[Candidate],
    lines_by_order: dict[int, list[_OrderLineRow]],
    faces: dict[int, _Face],
    aisles: dict[tuple[str, str], int],
    settings: PickingSettings,
    deepest: int,
    now: datetime,
    rows: _WaveRows,
) -> int:
    """The task (inserted: its id) of a cart's ``orders``, its route planned; its orders and pick lines are added to
    ``rows``, which the caller writes for the whole wave."""
    priority = 100 if any(c.urgent for c in orders) else 50 if any(c.priority == "vip" for c in orders) else 0
    stops: list[dict[str, Any]] = []
    for slot, candidate in enumerate(orders, start=1):
        for line in lines_by_order.get(candidate.order_id, []):
            face = faces.get(line.sku)
            stops.append({"line": line, "slot": slot, "face": face})
    located = [s for s in stops if s["face"] is not None]
    unlocated = [s for s in stops if s["face"] is None]
    positions = [
        Stop(aisle=aisles.get((f.zone or "", f.aisle or ""), 0), bay=bay_number(f.bay))
        for f in (s["face"] for s in located)
    ]
    layout = settings.layout(max(len(aisles), 1), deepest)
    route = plan_route(layout, positions)
    naive = naive_route(layout, positions)
    ordered = [located[i] for i in route.order] + unlocated
    task_rows = await PickTask.insert(
        PickTask(
            wave=wave_id,
            warehouse=warehouse_id,
            status="open",
            priority=priority,
            route_m=round(route.length_m, 1),
            naive_route_m=round(naive.length_m, 1),
            created_at=now,
        )
    ).returning(PickTask.id)
    task_id = int(task_rows[0]["id"])
    rows.task_orders += [_TaskOrderRow(task_id, c.order_id, slot) for slot, c in enumerate(orders, start=1)]
    rows.lines += [
        _PickLineRow(
            task=task_id,
            seq=seq,
            order=s["line"].order,
            order_line=s["line"].id,
            sku=s["line"].sku,
            location=s["face"].id if s["face"] else None,
            qty=s["line"].qty,
            tote_slot=s["slot"],
        )
        for seq, s in enumerate(ordered, start=1)
    ]
    return task_id


class _TaskOrderRow(msgspec.Struct):
    task: int
    order: int
    tote_slot: int


class _PickLineRow(msgspec.Struct, kw_only=True):
    task: int
    seq: int
    order: int
    order_line: int
    sku: int
    location: int | None
    qty: int
    tote_slot: int


@dataclass
class _WaveRows:
    """A wave's task orders and pick lines, written together once its tasks exist (:func:`_write_rows`)."""

    task_orders: list[_TaskOrderRow] = field(default_factory=list)
    lines: list[_PickLineRow] = field(default_factory=list)


# PostgreSQL: a wave's rows go as one array per column, one statement each whatever the wave's size; building a
# multi-row INSERT value by value was half the wave builder's CPU at a peak (py-spy).
_TASK_ORDERS_SQL = (
    'INSERT INTO pick_task_order (task, "order", tote_slot, status, withdrawn_reason) '
    "SELECT t, o, s, 'active', '' FROM unnest({}::integer[], {}::integer[], {}::integer[]) AS u(t, o, s)"
)
_PICK_LINES_SQL = (
    'INSERT INTO pick_line (task, seq, "order", order_line, sku, location, qty, tote_slot, picked, status, '
    "short_reason, skipped) SELECT t, q, o, l, k, loc, n, s, 0, 'pending', '', 0 FROM unnest({}::integer[], "
    "{}::integer[], {}::integer[], {}::integer[], {}::integer[], {}::integer[], {}::integer[], {}::integer[]) "
    "AS u(t, q, o, l, k, loc, n, s)"
)
_ROWS_PER_ARRAY = 5_000


async def _write_rows(rows: _WaveRows) -> None:
    if db.is_sqlite():  # no arrays: multi-row INSERTs within the parameter limit
        orders = [PickTaskOrder(task=r.task, order=r.order, tote_slot=r.tote_slot) for r in rows.task_orders]
        for chunk in db.chunks(orders, db.rows_per_statement(len(PickTaskOrder._meta.columns))):
            await PickTaskOrder.insert(*chunk)
        lines = [PickLine(**msgspec.structs.asdict(r)) for r in rows.lines]
        for piece in db.chunks(lines, db.rows_per_statement(len(PickLine._meta.columns))):
            await PickLine.insert(*piece)
        return
    for batch in db.chunks(rows.task_orders, _ROWS_PER_ARRAY):
        await db.execute(
            _TASK_ORDERS_SQL, [r.task for r in batch], [r.order for r in batch], [r.tote_slot for r in batch]
        )
    for part in db.chunks(rows.lines, _ROWS_PER_ARRAY):
        await db.execute(
            _PICK_LINES_SQL,
            [r.task for r in part],
            [r.seq for r in part],
            [r.order for r in part],
            [r.order_line for r in part],
            [r.sku for r in part],
            [r.location for r in part],
            [r.qty for r in part],
            [r.tote_slot for r in part],
        )


async def _release(
    warehouse_id: int,
    wave: list[Candidate],
    settings: PickingSettings,
    *,
    reason: str,
    cutoff: datetime | None,
    actor: str,
    now: datetime,
) -> WaveResult | None:
    # Lock the orders (id order, like every command that changes an order and its task) and keep those still
    # pickable: a cancellation that committed since the candidates were read must not end up in a task.
    ids = sorted(c.order_id for c in wave)
    # Raw SQL: FOR UPDATE.
    locked = await db.fetch_as(
        db.IdRow,
        f"SELECT id FROM sales_order WHERE id IN ({db.placeholders(len(ids))}) AND status IN ('ready', 'picking') "
        "ORDER BY id" + db.for_update(),
        *ids,
    )
    still = {r.id for r in locked}
    wave = [c for c in wave if c.order_id in still]
    if not wave:
        return None
    single = all(c.single_item for c in wave)
    mode = settings.pick_mode
    rows = await Wave.insert(
        Wave(
            code=f"tmp-{now.timestamp()}-{wave[0].order_id}",
            warehouse=warehouse_id,
            packing_line=wave[0].packing_line,
            pick_mode=mode,
            single_item=single,
            status="released",
            reason=reason,
            cutoff=cutoff,
            orders=len(wave),
            items=sum(c.units for c in wave),
            created_by=actor,
            created_at=now,
        )
    ).returning(Wave.id)
    wave_id = int(rows[0]["id"])
    code = wave_code(now, wave_id)
    await Wave.update({Wave.code: code}).where(Wave.id == wave_id)
    order_ids = [c.order_id for c in wave]
    lines_by_order: dict[int, list[_OrderLineRow]] = defaultdict(list)
    for line in await _order_lines(warehouse_id, order_ids):
        lines_by_order[line.order].append(line)
    faces = await _pick_faces(warehouse_id, sorted({line.sku for ls in lines_by_order.values() for line in ls}))
    aisles, deepest = await aisle_index(warehouse_id)
    size = 1 if mode == PickMode.ORDER else settings.cart_slots
    ranked = sorted(wave, key=Candidate.rank)
    task_ids = []
    wave_rows = _WaveRows()
    for start in range(0, len(ranked), size):
        cart = ranked[start : start + size]
        made = await _create_task(
            wave_id, warehouse_id, cart, lines_by_order, faces, aisles, settings, deepest, now, wave_rows
        )
        task_ids.append(made)
    await _write_rows(wave_rows)
    for c in wave:
        await record_event(c.order_id, OrderEventType.WAVED, data={"wave": code, "reason": reason}, actor=actor)
    publish_floor(
        WaveReleased(
            wave_id=wave_id,
            code=code,
            packing_line=wave[0].packing_line,
            pick_mode=mode,
            orders=len(wave),
            task_ids=task_ids,
            at=now,
        ),
        warehouse_id,
    )
    return WaveResult(wave_id, code, reason, len(wave), sum(c.units for c in wave), task_ids)


async def build_waves(warehouse_id: int, *, force: bool = False, actor: str = "system") -> list[WaveResult]:
    """Build and release the waves the rules call for now (``force``: release partial waves too)."""
    settings = await get_settings(warehouse_id)
    now = clock.now()
    cutoff = next_cutoff(settings.cutoffs, now)
    results: list[WaveResult] = []
    async with db.transaction():
        await _lock_warehouse(warehouse_id)
        groups: dict[tuple[str, bool], list[Candidate]] = defaultdict(list)
        for c in await _candidates(warehouse_id):
            groups[(c.packing_line, settings.single_item_waves and c.single_item)].append(c)
        for key in sorted(groups):
            waves = _cut(groups[key], settings.max_orders, settings.max_items)
            for index, wave in enumerate(waves):
                reason = (
                    "manual"
                    if force
                    else _release_reason(wave, settings, now, last=index == len(waves) - 1, cutoff=cutoff)
                )
                if reason is None:
                    continue
                released = await _release(
                    warehouse_id, wave, settings, reason=reason, cutoff=cutoff, actor=actor, now=now
                )
                if released is not None:
                    results.append(released)
    return results


async def create_manual_wave(warehouse_id: int, order_ids: Sequence[int], *, actor: str) -> WaveResult:
    """One wave of exactly these orders (they must be ready in this warehouse and in no open task)."""
    wanted = sorted(set(order_ids))
    if not wanted:
        raise ValidationFailed("请至少选择一个订单", field="order_ids")
    settings = await get_settings(warehouse_id)
    now = clock.now()
    async with db.transaction():
        await _lock_warehouse(warehouse_id)
        found = await _candidates(warehouse_id, wanted)
        missing = sorted(set(wanted) - {c.order_id for c in found})
        if missing:
            raise ValidationFailed(
                f"订单 {', '.join(map(str, missing[:10]))} 不是本仓待拣货的订单或已在拣货任务中",
                code=PickingError.ORDERS_NOT_PICKABLE,
                field="order_ids",
                extra={"order_ids": missing},
            )
        lines = {c.packing_line for c in found}
        if len(lines) > 1:
            raise ValidationFailed(PickingError.MIXED_PACKING_LINES, field="order_ids")
        released = await _release(
            warehouse_id,
            found,
            settings,
            reason="manual",
            cutoff=next_cutoff(settings.cutoffs, now),
            actor=actor,
            now=now,
        )
        if released is None:
            message = "所选订单已不能拣货（刚被取消或拦截）"
            raise ValidationFailed(message, code=PickingError.ORDERS_NOT_PICKABLE, field="order_ids")
        return released


async def run_auto_waves() -> dict[str, int]:
    """The cron: every active warehouse with automatic waves on. Returns waves released per warehouse code."""
    released: dict[str, int] = {}
    warehouses = await Warehouse.select(Warehouse.id, Warehouse.code).where(Warehouse.active == True)  # noqa: E712
    disabled = {
        int(r["warehouse"])
        for r in await PickingConfig.select(PickingConfig.warehouse).where(PickingConfig.auto_waves == False)  # noqa: E712
    }
    for wh in warehouses:
        if int(wh["id"]) in disabled:
            continue
        try:
            results = await build_waves(int(wh["id"]))
        except Exception:
            log.exception("auto wave building failed", extra={"warehouse": wh["code"]})
            continue
        if results:
            released[str(wh["code"])] = len(results)
    return released
