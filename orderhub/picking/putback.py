"""Put-back work (返架): an order cancelled after its units were picked leaves them in a tote or a packed parcel;
they go back to the locations they were picked from, and someone on the floor says so.

* :func:`picked_units` — what the order's current pick took (its memberships of pick tasks still active: a pick an
  earlier withdrawal ended was put back on the spot), per task, tote slot, SKU and location. Read it **before** the
  order leaves the pick flow (the withdrawal marks those memberships withdrawn).
* :func:`open_putbacks` — one put-back per warehouse with those units, in the cancelling transaction: recorded on
  the order (``order.putback_created``) and announced on the floor.
* :func:`list_putbacks`, :func:`get_putback` — the floor's list (the PDA's, the back office's).
* :func:`complete_putback` — done (once: a replay answers the same): units reported missing are written off the
  stock (an audited adjustment); ``order.putback_done`` on the order.

Stock stays right throughout: picked units that never shipped were never taken off ``on_hand`` (shipping consumes
stock), and cancelling released their reservation, so the put-back moves goods, not numbers — except what is
reported missing. Missing units come off ``on_hand`` as far as they are not promised: stock is never below what is
reserved (the database refuses it), so when other orders have reserved the SKU since the cancellation, the units
beyond ``on_hand − reserved`` stay on the books, are recorded on the order (``reserved_elsewhere``) and raise a
``putback.short`` alert for the supervisors: the shelf is short of units promised to orders, and the pick that finds
it so registers a short pick, which writes them off with that order's reservation
(:func:`orderhub.inventory.service.write_off_reserved`). The close never fails for it.

Units scanned into a tote after the order was withdrawn are not on the list: the PDA told the picker to put each
back at once (``line_withdrawn``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import NotFound, ValidationFailed
from orderhub.events import Topic, publish_after_commit
from orderhub.inventory.service import adjust_stock
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import record_event
from orderhub.picking.errors import PickingError
from orderhub.picking.floor_notices import PutbackCreated, PutbackDone, publish_notice
from orderhub.picking.putback_tables import Putback, PutbackLine

__all__ = [
    "PUTBACK_STATUSES",
    "Picked",
    "PutbackLineView",
    "PutbackShort",
    "PutbackView",
    "complete_putback",
    "get_putback",
    "list_putbacks",
    "open_putbacks",
    "picked_units",
]

PUTBACK_STATUSES = ("open", "done")
SOURCES = {"tote": "拣货车/周转箱", "pack": "打包台（已打包的包裹）"}


class Picked(msgspec.Struct, frozen=True, kw_only=True):
    """Units of one SKU the order's pick put in one tote slot, from one location."""

    warehouse: int
    task: int
    tote_slot: int
    sku: int
    location: int | None
    qty: int


class PutbackLineView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    sku: str
    name: str
    qty: int
    location: str | None  # where it goes back to; None: the SKU has no pick face in this warehouse
    tote: str | None  # where it is now: the tote slot (T{task}-{slot}, as the pack station reads it), None at pack
    missing: int


class PutbackShort(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="putback.short"):
    """The supervisors' alert (``Topic.ALERTS``): units reported missing on a put-back could not be written off
    because other orders have reserved the SKU since; the shelf is short of promised units."""

    putback_id: int
    order_id: int
    warehouse_id: int
    sku: str
    location: str | None
    missing: int  # reported missing on the line
    written_off: int  # taken off on_hand now
    reserved_elsewhere: int  # still on the books: promised to other orders, written off when a pick finds it short
    message: str  # zh-CN
    at: datetime


class PutbackView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    order_id: int
    external_id: str
    warehouse: str
    status: str  # open, done
    source: str  # tote (picked, not packed), pack (packed parcel at the station)
    source_label: str  # zh-CN
    reason: str
    request_id: int | None
    units: int
    lines: list[PutbackLineView]
    created_by: str
    created_at: datetime
    done_by: str
    done_at: datetime | None
    note: str


# ------------------------------------------------------------------------------------------------------ opening


async def picked_units(order_id: int) -> list[Picked]:
    """The units the order's current pick took, not yet shipped (see the module's docstring). Inside the transaction
    that withdraws the order, after its row lock: the order's pick lines are locked first (PostgreSQL), so a scan
    committed before is counted here and a scan after waits, then finds its line withdrawn (the PDA says put it
    back) — none is told 已拣 and left off the put-back."""
    # Raw SQL: FOR UPDATE (the order's pick lines, id order; SQLite's BEGIN IMMEDIATE serialises the scans already).
    await db.fetch_as(db.IdRow, 'SELECT id FROM pick_line WHERE "order" = {} ORDER BY id' + db.for_update(), order_id)
    # Raw SQL: an aggregate over a three-table join (a statement of its own: it reads what the locks waited for).
    return await db.fetch_as(
        Picked,
        "SELECT t.warehouse, l.task, l.tote_slot, l.sku, l.location, SUM(l.picked) AS qty "
        'FROM pick_line l JOIN pick_task_order p ON p.task = l.task AND p."order" = l."order" '
        "JOIN pick_task t ON t.id = l.task WHERE l.\"order\" = {} AND p.status = 'active' AND l.picked > 0 "
        "GROUP BY t.warehouse, l.task, l.tote_slot, l.sku, l.location ORDER BY t.warehouse, l.task, l.tote_slot, l.sku",
        order_id,
    )


class _Face(msgspec.Struct):
    sku: int
    location: int


async def _faces(warehouse_id: int, sku_ids: Sequence[int]) -> dict[int, int]:
    """The SKUs' pick faces in the warehouse now (for units picked from no recorded location)."""
    found: dict[int, int] = {}
    for chunk in db.chunks(sorted(set(sku_ids))):
        rows = await db.fetch_as(
            _Face,
            f"SELECT sku, location FROM sku_location WHERE warehouse = {{}} AND sku IN ({db.placeholders(len(chunk))})",
            warehouse_id,
            *chunk,
        )
        found.update((r.sku, r.location) for r in rows)
    return found


_LINE_COLUMNS = 8  # putback_line's columns an INSERT binds (id included)


async def open_putbacks(
    order_id: int,
    picked: Sequence[Picked],
    *,
    source: str,
    reason: str,
    request_id: int | None,
    actor: str,
) -> list[int]:
    """Open one put-back per warehouse for ``picked`` (nothing picked: none); their ids. Inside a transaction."""
    by_warehouse: dict[int, list[Picked]] = defaultdict(list)
    for unit in picked:
        if unit.qty > 0:
            by_warehouse[unit.warehouse].append(unit)
    now = clock.now()
    made: list[int] = []
    for warehouse_id in sorted(by_warehouse):
        units = by_warehouse[warehouse_id]
        missing_faces = [u.sku for u in units if u.location is None]
        faces = await _faces(warehouse_id, missing_faces) if missing_faces else {}
        total = sum(u.qty for u in units)
        inserted = await Putback.insert(
            Putback(
                order=order_id,
                warehouse=warehouse_id,
                request_id=request_id,
                source=source,
                reason=reason[:255],
                status="open",
                units=total,
                created_by=actor[:64],
                created_at=now,
            )
        ).returning(Putback.id)
        putback_id = int(inserted[0]["id"])
        rows = [
            PutbackLine(
                putback=putback_id,
                sku=u.sku,
                location=u.location if u.location is not None else faces.get(u.sku),
                task=u.task,
                tote_slot=u.tote_slot,
                qty=u.qty,
                missing=0,
            )
            for u in units
        ]
        for chunk in db.chunks(rows, db.rows_per_statement(_LINE_COLUMNS)):
            await PutbackLine.insert(*chunk)
        view = await get_putback(putback_id)
        await record_event(
            order_id,
            OrderEventType.PUTBACK_CREATED,
            data={
                "putback_id": putback_id,
                "warehouse": view.warehouse,
                "source": source,
                "units": total,
                "request_id": request_id,
                "lines": [{"sku": line.sku, "qty": line.qty, "location": line.location} for line in view.lines],
            },
            actor=actor,
        )
        where = "打包台" if source == "pack" else "拣货车"
        message = f"订单 {view.external_id} 已取消：{where}上的 {total} 件商品请放回原库位（返架单 #{putback_id}）"
        publish_notice(
            PutbackCreated(
                putback_id=putback_id,
                order_id=order_id,
                source=source,
                units=total,
                message=message,
                at=now,
            ),
            warehouse_id,
        )
        made.append(putback_id)
    return made


# ------------------------------------------------------------------------------------------------------ reading


class _PutbackRow(msgspec.Struct, kw_only=True):
    id: int
    order: int
    external_id: str
    warehouse_id: int
    warehouse: str
    status: str
    source: str
    reason: str
    request_id: int | None
    units: int
    created_by: str
    created_at: datetime
    done_by: str
    done_at: datetime | None
    note: str


class _LineRow(msgspec.Struct, kw_only=True):
    id: int
    putback: int
    sku_id: int
    sku: str
    name: str
    qty: int
    missing: int
    location: str | None
    task: int | None
    tote_slot: int


# Raw SQL: joins (the order's number, the warehouse's code).
_PUTBACK_SQL = (
    'SELECT b.id, b."order", o.external_id, b.warehouse AS warehouse_id, w.code AS warehouse, b.status, b.source, '
    "b.reason, b.request_id, b.units, b.created_by, b.created_at, b.done_by, b.done_at, b.note "
    'FROM putback b JOIN sales_order o ON o.id = b."order" JOIN warehouse w ON w.id = b.warehouse '
)


async def _lines(putback_ids: Sequence[int]) -> dict[int, list[_LineRow]]:
    found: dict[int, list[_LineRow]] = defaultdict(list)
    for chunk in db.chunks(list(putback_ids)):
        # Raw SQL: a three-table join (the SKU's code and name, the location's code).
        rows = await db.fetch_as(
            _LineRow,
            "SELECT l.id, l.putback, l.sku AS sku_id, s.code AS sku, s.name, l.qty, l.missing, loc.code AS location, "
            "l.task, l.tote_slot FROM putback_line l JOIN sku s ON s.id = l.sku "
            f"LEFT JOIN location loc ON loc.id = l.location WHERE l.putback IN ({db.placeholders(len(chunk))}) "
            "ORDER BY l.putback, l.id",
            *chunk,
        )
        for row in rows:
            found[row.putback].append(row)
    return found


def _view(row: _PutbackRow, lines: Sequence[_LineRow]) -> PutbackView:
    return PutbackView(
        id=row.id,
        order_id=row.order,
        external_id=row.external_id,
        warehouse=row.warehouse,
        status=row.status,
        source=row.source,
        source_label=SOURCES.get(row.source, row.source),
        reason=row.reason,
        request_id=row.request_id,
        units=row.units,
        lines=[
            PutbackLineView(
                id=line.id,
                sku=line.sku,
                name=line.name,
                qty=line.qty,
                location=line.location,
                tote=f"T{line.task}-{line.tote_slot}" if row.source == "tote" and line.task is not None else None,
                missing=line.missing,
            )
            for line in lines
        ],
        created_by=row.created_by,
        created_at=clock.to_shanghai(row.created_at),
        done_by=row.done_by,
        done_at=clock.to_shanghai(row.done_at) if row.done_at is not None else None,
        note=row.note,
    )


async def _row(putback_id: int, warehouse_id: int | None, *, lock: bool = False) -> _PutbackRow:
    if lock:  # the put-back's row lock (PostgreSQL) for the rest of the transaction
        await db.fetch_as(db.IdRow, "SELECT id FROM putback WHERE id = {}" + db.for_update(), putback_id)
    row = await db.fetch_one_as(_PutbackRow, _PUTBACK_SQL + "WHERE b.id = {}", putback_id)
    if row is None or (warehouse_id is not None and row.warehouse_id != warehouse_id):
        raise NotFound(PickingError.PUTBACK_NOT_FOUND, field="putback_id")
    return row


async def get_putback(putback_id: int, *, warehouse_id: int | None = None) -> PutbackView:
    """One put-back (NotFound outside ``warehouse_id`` when one is given)."""
    row = await _row(putback_id, warehouse_id)
    return _view(row, (await _lines([putback_id])).get(putback_id, []))


async def list_putbacks(
    warehouse_id: int | None, *, status: str | None = "open", order_id: int | None = None, limit: int = 100
) -> list[PutbackView]:
    """The put-backs of a warehouse (None: every warehouse), oldest open first; ``status`` None: both."""
    if status is not None and status not in PUTBACK_STATUSES:
        raise ValidationFailed(
            f"返架单状态只能是 {', '.join(PUTBACK_STATUSES)}", code=PickingError.PUTBACK_BAD_STATUS, field="status"
        )
    where: list[str] = ["1 = 1"]
    args: list[Any] = []
    if warehouse_id is not None:
        where.append("b.warehouse = {}")
        args.append(warehouse_id)
    if status is not None:
        where.append("b.status = {}")
        args.append(status)
    if order_id is not None:
        where.append('b."order" = {}')
        args.append(order_id)
    order = "b.id" if status == "open" else "b.id DESC"
    rows = await db.fetch_as(
        _PutbackRow,
        _PUTBACK_SQL + "WHERE " + " AND ".join(where) + f" ORDER BY {order} LIMIT {{}}",
        *args,
        min(max(limit, 1), 500),
    )
    lines = await _lines([r.id for r in rows])
    return [_view(r, lines.get(r.id, [])) for r in rows]


# ------------------------------------------------------------------------------------------------------ closing


async def complete_putback(
    putback_id: int,
    *,
    missing: Mapping[int, int] | None = None,
    note: str = "",
    actor: str,
    warehouse_id: int | None = None,
) -> PutbackView:
    """Close a put-back: its units are back on their locations, but ``missing`` (line id → units not found), which
    are written off the stock. Closing one already done answers it as it is (a replayed tap changes nothing)."""
    missing = {int(k): int(v) for k, v in (missing or {}).items() if int(v) != 0}
    async with db.transaction():
        row = await _row(putback_id, warehouse_id, lock=True)
        lines = (await _lines([putback_id])).get(putback_id, [])
        if row.status == "done":
            return _view(row, lines)
        by_id = {line.id: line for line in lines}
        for line_id, qty in missing.items():
            line = by_id.get(line_id)
            if line is None:
                raise ValidationFailed(
                    f"返架单中没有第 {line_id} 行", code=PickingError.PUTBACK_LINE_UNKNOWN, field="missing"
                )
            if not 0 < qty <= line.qty:
                raise ValidationFailed(
                    f"{line.sku} 的短少数量应为 1–{line.qty}",
                    code=PickingError.PUTBACK_MISSING_OUT_OF_RANGE,
                    field="missing",
                )
        now = clock.now()
        closed = await db.execute_returning(
            db.IdRow,
            "UPDATE putback SET status = 'done', done_by = {}, done_at = {}, note = {} "
            "WHERE id = {} AND status = 'open' RETURNING id",
            actor[:64],
            now,
            note.strip()[:255],
            putback_id,
        )
        if not closed:  # (the row lock makes this unreachable on PostgreSQL; SQLite serialises writers)
            return await get_putback(putback_id)
        written_off = await _write_off_missing(row, [(by_id[i], qty) for i, qty in sorted(missing.items())], actor)
        total_missing = sum(missing.values())
        await record_event(
            row.order,
            OrderEventType.PUTBACK_DONE,
            data={
                "putback_id": putback_id,
                "units": row.units,
                "returned": row.units - total_missing,
                "written_off": written_off,
                "reserved_elsewhere": sum(int(w["reserved_elsewhere"]) for w in written_off),
                "note": note.strip()[:255],
            },
            actor=actor[:64],
        )
        publish_notice(
            PutbackDone(putback_id=putback_id, order_id=row.order, by=actor, missing=total_missing, at=now),
            row.warehouse_id,
        )
    return await get_putback(putback_id)


class _Level(msgspec.Struct):
    sku: int
    on_hand: int
    reserved: int


async def _free_stock(warehouse_id: int, sku_ids: Sequence[int]) -> dict[int, int]:
    """What of each SKU's stock in the warehouse is not reserved (``on_hand − reserved``), its rows locked (SKU
    order, PostgreSQL) for the rest of the transaction."""
    free: dict[int, int] = {}
    for chunk in db.chunks(sorted(set(sku_ids))):
        # Raw SQL: FOR UPDATE.
        rows = await db.fetch_as(
            _Level,
            f"SELECT sku, on_hand, reserved FROM stock_level WHERE warehouse = {{}} AND sku IN "
            f"({db.placeholders(len(chunk))}) ORDER BY sku{db.for_update()}",
            warehouse_id,
            *chunk,
        )
        free.update((r.sku, max(0, r.on_hand - r.reserved)) for r in rows)
    return free


async def _write_off_missing(
    row: _PutbackRow, missing: Sequence[tuple[_LineRow, int]], actor: str
) -> list[dict[str, Any]]:
    """Record the units reported missing on their lines and take them off the stock: an audited adjustment for
    what no order has reserved; what other orders hold (reserved since the cancellation released these units) stays
    on the books, recorded and raised as a ``putback.short`` alert (see the module's docstring)."""
    free = await _free_stock(row.warehouse_id, [line.sku_id for line, _ in missing])
    now = clock.now()
    recorded: list[dict[str, Any]] = []
    for line, qty in missing:
        await PutbackLine.update({PutbackLine.missing: qty}).where(PutbackLine.id == line.id)
        off = min(qty, free.get(line.sku_id, 0))
        free[line.sku_id] = free.get(line.sku_id, 0) - off
        held = qty - off
        if off:
            await adjust_stock(
                sku=line.sku,
                warehouse=row.warehouse,
                delta=-off,
                set_to=None,
                reason=f"返架短少：订单 {row.external_id} 返架单 #{row.id}"[:255],
                actor=actor[:64],
            )
        recorded.append(
            {
                "sku": line.sku,
                "location": line.location,
                "missing": qty,
                "written_off": off,
                "reserved_elsewhere": held,
            }
        )
        if held:
            where = f"库位 {line.location}" if line.location else "（无库位）"
            publish_after_commit(
                PutbackShort(
                    putback_id=row.id,
                    order_id=row.order,
                    warehouse_id=row.warehouse_id,
                    sku=line.sku,
                    location=line.location,
                    missing=qty,
                    written_off=off,
                    reserved_elsewhere=held,
                    message=(
                        f"返架单 #{row.id}：{line.sku} {where}短少 {qty} 件，其中 {held} 件已被其他订单占用、"
                        "未能从库存核减：请盘点该库位，拣货时发现缺货请登记缺货（自动核减）"
                    ),
                    at=now,
                ),
                Topic.ALERTS,
            )
    return recorded
