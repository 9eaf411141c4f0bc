"""The pack station: scan the order (or its tote), verify every unit by scanning it (扫描验货, gifts included), weigh,
and the order is ``packed`` — ready for its waybill.

A wrong SKU, or one more unit than the order has, is refused on the spot; weighing with units still unverified
is refused (``items_missing``, the missing ones listed); a parcel whose weight differs from Σ SKU weights +
packaging by more than the warehouse's tolerance (the larger of grams and per cent) is refused
(``weight_mismatch``, both weights shown). Scans are idempotent per device and client id, like pick scans.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.catalog.tables import Sku
from orderhub.errors import Conflict, NotFound, ValidationFailed
from orderhub.orders.errors import OrderError
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import record_event, transition
from orderhub.orders.state import OrderStatus
from orderhub.picking.config import get_settings
from orderhub.picking.errors import PickingError, ScanOutcome, ScanRefusal
from orderhub.picking.events import PackDone, publish_floor
from orderhub.picking.scans import Fingerprint, ScanRecord, once, sku_by_barcode
from orderhub.picking.sessions import PdaSession
from orderhub.picking.tables import PackRecord

__all__ = ["PackItem", "PackResult", "PackView", "pack_scan", "packed_order", "start_pack", "weigh"]

_TOTE = re.compile(r"^T(\d+)-(\d+)$", re.IGNORECASE)


class PackItem(msgspec.Struct, frozen=True, kw_only=True):
    order_line_id: int
    sku: str
    name: str
    qty: int
    verified: int
    is_gift: bool
    weight_g: int


class PackView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    order_id: int
    external_id: str
    status: str  # open, packed
    items: list[PackItem]
    missing: int  # units still to verify
    expected_g: int
    tolerance_g: int
    measured_g: int | None
    packer: str | None
    packed_at: Any = None


class PackResult(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    code: str  # a ScanOutcome (ok) or the ScanRefusal (wrong_item, extra_item, items_missing, weight_mismatch)
    message: str
    expected: dict[str, Any] | None = None
    pack: PackView | None = None
    replayed: bool = False


_MAX_ID = 2**31 - 1  # ids are INTEGER columns


class _OrderRef(msgspec.Struct):
    order: int


class _OrderState(msgspec.Struct):
    status: str
    exception_reason: str | None


class _ItemRow(msgspec.Struct):
    id: int
    qty: int
    is_gift: bool
    code: str
    name: str
    weight_g: int | None


class _PackRow(msgspec.Struct):
    """A pack record (``p.*``: what is used of it) with its order's platform number and the packer's name."""

    id: int
    order: int
    warehouse: int
    status: str
    verified: str
    expected_g: int
    measured_g: int | None
    packed_at: datetime | None
    external_id: str
    packer_name: str | None


class _Count(msgspec.Struct):
    n: int


class _WarehouseRef(msgspec.Struct):
    warehouse: int


async def _order_state(order_id: int) -> _OrderState:
    """The order's status, its row locked (the lock order every command keeps: the order first)."""
    # Raw SQL: FOR UPDATE.
    rows = await db.fetch_as(
        _OrderState, "SELECT status, exception_reason FROM sales_order WHERE id = {}" + db.for_update(), order_id
    )
    return rows[0]


async def _resolve(code: str, warehouse_id: int) -> int:
    """The order a pack-station scan names: a tote label ``T{task}-{slot}``, the platform's order number (most
    common: it is on the pick list and the parcel), or the hub's order id."""
    text = code.strip()
    if not text:
        raise ValidationFailed("请扫描订单号或周转箱", field="code")
    tote = _TOTE.match(text)
    row: _OrderRef | None = None
    if tote:
        task_id, slot = int(tote.group(1)), int(tote.group(2))
        if task_id <= _MAX_ID and slot <= _MAX_ID:
            # Raw SQL: a join across the task's orders and the task.
            row = await db.fetch_one_as(
                _OrderRef,
                "SELECT p.\"order\" FROM pick_task_order p JOIN pick_task t ON t.id = p.task "
                "WHERE p.task = {} AND p.tote_slot = {} AND t.warehouse = {} ORDER BY p.id DESC LIMIT 1",
                task_id,
                slot,
                warehouse_id,
            )
    else:
        # Raw SQL: an EXISTS subquery (the order has lines in this warehouse).
        row = await db.fetch_one_as(
            _OrderRef,
            "SELECT o.id AS \"order\" FROM sales_order o WHERE o.external_id = {} AND EXISTS ("
            "SELECT 1 FROM order_line l WHERE l.\"order\" = o.id AND l.warehouse = {}) ORDER BY o.id DESC LIMIT 1",
            text,
            warehouse_id,
        )
        if row is None and text.isdigit() and int(text) <= _MAX_ID:
            row = await db.fetch_one_as(
                _OrderRef,
                "SELECT o.id AS \"order\" FROM sales_order o WHERE o.id = {} AND EXISTS ("
                "SELECT 1 FROM order_line l WHERE l.\"order\" = o.id AND l.warehouse = {})",
                int(text),
                warehouse_id,
            )
    if row is None:
        raise NotFound(f"本仓找不到订单 {text}", code=PickingError.ORDER_NOT_FOUND, field="code")
    return row.order


async def _items(order_id: int, warehouse_id: int, verified: dict[str, int]) -> list[PackItem]:
    # Raw SQL: a join of the order's lines with their SKUs.
    rows = await db.fetch_as(
        _ItemRow,
        "SELECT l.id, l.qty, l.is_gift, s.code, s.name, s.weight_g FROM order_line l JOIN sku s ON s.id = l.sku "
        "WHERE l.\"order\" = {} AND l.warehouse = {} ORDER BY l.line_no",
        order_id,
        warehouse_id,
    )
    return [
        PackItem(
            order_line_id=r.id,
            sku=r.code,
            name=r.name,
            qty=r.qty,
            verified=verified.get(str(r.id), 0),
            is_gift=r.is_gift,
            weight_g=r.weight_g or 0,
        )
        for r in rows
    ]


async def _view(pack_id: int, *, lock: bool = False) -> tuple[PackView, _PackRow]:
    # Raw SQL: a join locking only the pack record (FOR UPDATE OF p).
    row = await db.fetch_one_as(
        _PackRow,
        "SELECT p.*, o.external_id, u.display_name AS packer_name FROM pack_record p "
        "JOIN sales_order o ON o.id = p.\"order\" LEFT JOIN app_user u ON u.id = p.packer WHERE p.id = {}"
        + (db.for_update().replace("FOR UPDATE", "FOR UPDATE OF p") if lock else ""),
        pack_id,
    )
    if row is None:
        raise NotFound("打包记录不存在", code=PickingError.PACK_NOT_FOUND, field="pack_id")
    verified = msgspec.json.decode(row.verified or "{}", type=dict[str, int])
    items = await _items(row.order, row.warehouse, verified)
    settings = await get_settings(row.warehouse)
    expected = row.expected_g
    return (
        PackView(
            id=row.id,
            order_id=row.order,
            external_id=row.external_id,
            status=row.status,
            items=items,
            missing=sum(max(i.qty - i.verified, 0) for i in items),
            expected_g=expected,
            tolerance_g=settings.weight_tolerance(expected),
            measured_g=row.measured_g,
            packer=row.packer_name,
            packed_at=row.packed_at,
        ),
        row,
    )


async def start_pack(session: PdaSession, code: str) -> PackView:
    """Open (or resume) the pack of the scanned order; refuses orders not picked, withdrawn or already packed."""
    order_id = await _resolve(code, session.warehouse_id)
    async with db.transaction():
        order = await _order_state(order_id)
        status = OrderStatus(order.status)
        existing = await PackRecord.select(PackRecord.id, PackRecord.status).where(
            (PackRecord.order == order_id) & (PackRecord.warehouse == session.warehouse_id)
        ).order_by(PackRecord.id, ascending=False).first()
        if existing and existing["status"] == "packed":
            raise Conflict(PickingError.ALREADY_PACKED, field="code", extra={"pack_id": existing["id"]})
        if status in (OrderStatus.CANCELLED, OrderStatus.EXCEPTION, OrderStatus.HELD):
            raise Conflict(
                "订单已取消或被拦截，请勿打包，交给主管处理", code=PickingError.ORDER_WITHDRAWN, field="code",
                extra={"status": status.value, "reason": order.exception_reason},
            )
        if status != OrderStatus.PICKING:
            raise Conflict(f"订单当前状态不能打包（{status.value}）", code=PickingError.NOT_PICKED, field="code")
        # Raw SQL: a count over a join of the task's orders and the task.
        unfinished = await db.fetch_as(
            _Count,
            "SELECT COUNT(*) AS n FROM pick_task_order p JOIN pick_task t ON t.id = p.task "
            "WHERE p.\"order\" = {} AND p.status = 'active' AND t.warehouse = {} AND t.status IN ('open', 'claimed')",
            order_id,
            session.warehouse_id,
        )
        if unfinished[0].n:
            raise Conflict("该订单还没拣完货", code=PickingError.NOT_PICKED, field="code")
        if existing and existing["status"] == "open":
            pack_id = existing["id"]
        else:
            settings = await get_settings(session.warehouse_id)
            items = await _items(order_id, session.warehouse_id, {})
            if not items:
                raise Conflict("该订单在本仓没有商品", code=PickingError.NOTHING_TO_PACK, field="code")
            expected = sum(i.weight_g * i.qty for i in items) + settings.packaging_g
            rows = await PackRecord.insert(
                PackRecord(
                    order=order_id,
                    warehouse=session.warehouse_id,
                    status="open",
                    verified="{}",
                    expected_g=expected,
                    packer=session.user_id,
                    device=session.device,
                    started_at=clock.now(),
                )
            ).returning(PackRecord.id)
            pack_id = int(rows[0]["id"])
    return (await _view(pack_id))[0]


async def _open_pack(pack_id: int, session: PdaSession) -> tuple[PackView, _PackRow]:
    owner = await PackRecord.select(PackRecord.order, PackRecord.warehouse).where(PackRecord.id == pack_id).first()
    if owner is None or owner["warehouse"] != session.warehouse_id:
        raise NotFound("打包记录不存在", code=PickingError.PACK_NOT_FOUND, field="pack_id")
    # The order first (the lock order every command keeps), and it must still be in picking: an order
    # intercepted while on the pack table is not packed.
    order = await _order_state(owner["order"])
    if order.status == OrderStatus.PACKED.value:
        raise Conflict("该订单已打包", code=PickingError.ALREADY_PACKED, field="pack_id")
    if order.status != OrderStatus.PICKING.value:
        raise Conflict(
            "订单已取消或被拦截，请勿打包，交给主管处理",
            code=PickingError.ORDER_WITHDRAWN,
            field="pack_id",
            extra={"status": order.status, "reason": order.exception_reason},
        )
    view, row = await _view(pack_id, lock=True)
    if view.status != "open":
        raise Conflict("该订单已打包", code=PickingError.ALREADY_PACKED, field="pack_id")
    return view, row


def _missing(view: PackView) -> list[dict[str, Any]]:
    return [
        {"sku": i.sku, "name": i.name, "missing": i.qty - i.verified, "gift": i.is_gift}
        for i in view.items
        if i.verified < i.qty
    ]


async def pack_scan(session: PdaSession, pack_id: int, client_id: str, barcode: str) -> PackResult:
    """Verify one unit (idempotent per device and client_id)."""
    if not barcode.strip():
        raise ValidationFailed("请扫描商品条码", field="barcode")

    async def apply() -> tuple[PackResult, ScanRecord]:
        view, row = await _open_pack(pack_id, session)
        sku_id = await sku_by_barcode(barcode)
        code_row = await Sku.select(Sku.code).where(Sku.id == sku_id).first() if sku_id else None
        scanned: str | None = code_row["code"] if code_row else None
        matching = [i for i in view.items if i.sku == scanned]
        open_item = next((i for i in matching if i.verified < i.qty), None)
        if not matching:
            message = "这件商品不属于该订单，请拿出"
            expected = {"missing": _missing(view)}
            result = PackResult(ok=False, code=ScanRefusal.WRONG_ITEM, message=message, expected=expected)
        elif open_item is None:
            result = PackResult(
                ok=False,
                code=ScanRefusal.EXTRA_ITEM,
                message=f"{matching[0].name} 多了一件，请拿出",
                expected={"missing": _missing(view)},
            )
        else:
            verified = msgspec.json.decode(row.verified or "{}", type=dict[str, int])
            verified[str(open_item.order_line_id)] = verified.get(str(open_item.order_line_id), 0) + 1
            await PackRecord.update({PackRecord.verified: msgspec.json.encode(verified).decode()}).where(
                PackRecord.id == pack_id
            )
            left = view.missing - 1
            gift = "（赠品）" if open_item.is_gift else ""
            message = f"{open_item.name}{gift} ✓，还差 {left} 件" if left else "验货完成，请称重"
            result = PackResult(ok=True, code=ScanOutcome.OK, message=message)
        result = msgspec.structs.replace(result, pack=(await _view(pack_id))[0])
        return result, ScanRecord(order_id=view.order_id, sku_id=sku_id)

    return await once(session, client_id, PackResult, Fingerprint(kind="pack_item", barcode=barcode, qty=1), apply)


async def weigh(session: PdaSession, pack_id: int, client_id: str, weight_g: int) -> PackResult:
    """Weigh the parcel; when every unit is verified and the weight is within tolerance the order is packed."""
    if not 1 <= weight_g <= 1_000_000:
        raise ValidationFailed("重量应为 1–1000000 克", field="weight_g")

    async def apply() -> tuple[PackResult, ScanRecord]:
        view, _ = await _open_pack(pack_id, session)
        record = ScanRecord(order_id=view.order_id)
        missing = _missing(view)
        if missing:
            names = "、".join(f"{m['name']}{'（赠品）' if m['gift'] else ''}×{m['missing']}" for m in missing)
            message = f"还有商品未验货：{names}"
            return PackResult(
                ok=False, code=ScanRefusal.ITEMS_MISSING, message=message, expected={"missing": missing}, pack=view
            ), record
        if abs(weight_g - view.expected_g) > view.tolerance_g:
            return PackResult(
                ok=False,
                code=ScanRefusal.WEIGHT_MISMATCH,
                message=f"重量不符：称重 {weight_g} 克，应为 {view.expected_g} 克（允许 ±{view.tolerance_g} 克）",
                expected={"expected_g": view.expected_g, "measured_g": weight_g, "tolerance_g": view.tolerance_g},
                pack=view,
            ), record
        now = clock.now()
        await PackRecord.update(
            {
                PackRecord.status: "packed",
                PackRecord.measured_g: weight_g,
                PackRecord.packed_at: now,
                PackRecord.packer: session.user_id,
                PackRecord.device: session.device,
            }
        ).where(PackRecord.id == pack_id)
        actor = f"pda:{session.username}"
        await record_event(
            view.order_id,
            OrderEventType.PACKED,
            data={
                "pack_id": pack_id,
                "measured_g": weight_g,
                "expected_g": view.expected_g,
                "packer": session.username,
                "warehouse": session.warehouse,
            },
            actor=actor,
        )
        if await _all_parts_packed(view.order_id):
            await transition(view.order_id, OrderStatus.PACKED, expected=OrderStatus.PICKING, actor=actor)
        publish_floor(
            PackDone(order_id=view.order_id, pack_id=pack_id, measured_g=weight_g, packer=session.name, at=now),
            session.warehouse_id,
        )
        packed = (await _view(pack_id))[0]
        return PackResult(ok=True, code=ScanOutcome.OK, message="打包完成，可以打印面单", pack=packed), record

    return await once(session, client_id, PackResult, Fingerprint(kind="weigh", qty=weight_g), apply)


async def _all_parts_packed(order_id: int) -> bool:
    """A split order is packed when every warehouse holding its lines has packed its part."""
    # Raw SQL: a NOT EXISTS subquery.
    rows = await db.fetch_as(
        _WarehouseRef,
        "SELECT DISTINCT l.warehouse FROM order_line l WHERE l.\"order\" = {} AND l.warehouse IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM pack_record p WHERE p.\"order\" = l.\"order\" AND p.warehouse = l.warehouse "
        "AND p.status = 'packed')",
        order_id,
    )
    return not rows


async def packed_order(session: PdaSession, pack_id: int) -> int:
    """The order a packed pack record of this station's warehouse is for (for its waybill and label)."""
    row = await PackRecord.select(PackRecord.order, PackRecord.warehouse, PackRecord.status).where(
        PackRecord.id == pack_id
    ).first()
    if row is None or row["warehouse"] != session.warehouse_id:
        raise NotFound("打包记录不存在", code=PickingError.PACK_NOT_FOUND, field="pack_id")
    if row["status"] != "packed":
        raise Conflict("称重通过、打包完成后才能取运单号", code=OrderError.NOT_PACKED, field="pack_id")
    order_id: int = row["order"]
    return order_id
