"""Per-warehouse picking settings: wave rules, the walking model for pick paths, whether an item scan needs the
location scanned first, pack-station weight checks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import NotFound, ValidationFailed
from orderhub.inventory.tables import Warehouse
from orderhub.picking.errors import PickingError
from orderhub.picking.route import Layout
from orderhub.picking.tables import PickingConfig

__all__ = [
    "PickMode",
    "PickingSettings",
    "SkuLocationView",
    "get_settings",
    "list_sku_locations",
    "next_cutoff",
    "set_sku_locations",
    "update_settings",
    "warehouse_id_of",
]


class PickMode:
    BATCH = "batch"
    ORDER = "order"


class PickingSettings(msgspec.Struct, frozen=True, kw_only=True):
    warehouse: str
    auto_waves: bool = True
    max_orders: int = 20
    max_items: int = 200
    cutoffs: list[str] = msgspec.field(default_factory=lambda: ["11:00", "16:00"])
    release_before_cutoff_minutes: int = 60
    max_wait_minutes: int = 30
    single_item_waves: bool = True
    pick_mode: str = PickMode.BATCH
    cart_slots: int = 12
    aisle_spacing_m: float = 3.0
    bay_length_m: float = 1.0
    cross_aisles: int = 2
    depot_x_m: float = 0.0
    packaging_g: int = 50
    weight_tolerance_g: int = 50
    weight_tolerance_pct: float = 5.0
    require_location_scan: bool = True  # an item scan is refused (location_not_scanned) until the shelf is scanned

    def layout(self, aisles: int, bays_per_aisle: int) -> Layout:
        return Layout(
            aisles=max(1, aisles),
            bays_per_aisle=max(1, bays_per_aisle),
            aisle_spacing_m=self.aisle_spacing_m,
            bay_length_m=self.bay_length_m,
            cross_aisles=min(self.cross_aisles, max(1, bays_per_aisle) + 1),  # no more cross-aisles than bays allow
            depot_x_m=min(self.depot_x_m, max(0, aisles - 1) * self.aisle_spacing_m),
        )

    def weight_tolerance(self, expected_g: int) -> int:
        """Grams a measured parcel may differ from the expected weight: the larger of the two tolerances."""
        return max(self.weight_tolerance_g, round(expected_g * self.weight_tolerance_pct / 100))


_CUTOFF = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_INT_FIELDS = {
    "max_orders": (1, 1000),
    "max_items": (1, 100_000),
    "release_before_cutoff_minutes": (0, 24 * 60),
    "max_wait_minutes": (1, 24 * 60),
    "cart_slots": (1, 99),
    "cross_aisles": (2, 20),
    "packaging_g": (0, 100_000),
    "weight_tolerance_g": (0, 100_000),
}
_FLOAT_FIELDS = {
    "aisle_spacing_m": (0.5, 50.0),
    "bay_length_m": (0.2, 20.0),
    "depot_x_m": (0.0, 10_000.0),
    "weight_tolerance_pct": (0.0, 100.0),
}


async def warehouse_id_of(code: str) -> int:
    row = await Warehouse.select(Warehouse.id).where(Warehouse.code == code).first()
    if row is None:
        raise NotFound(f"仓库 {code} 不存在", field="warehouse")
    return int(row["id"])


def _from_row(code: str, row: Mapping[str, Any] | None) -> PickingSettings:
    if row is None:
        return PickingSettings(warehouse=code)
    values = {name: row[name] for name in PickingSettings.__struct_fields__ if name in row and name != "warehouse"}
    values["cutoffs"] = msgspec.json.decode(row["cutoffs"] or "[]", type=list[str])
    return PickingSettings(warehouse=code, **values)


async def get_settings(warehouse_id: int) -> PickingSettings:
    wh = await Warehouse.select(Warehouse.code).where(Warehouse.id == warehouse_id).first()
    if wh is None:
        raise NotFound("仓库不存在", field="warehouse")
    row = await PickingConfig.select().where(PickingConfig.warehouse == warehouse_id).first()
    return _from_row(wh["code"], row)


def _validate(changes: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name in _INT_FIELDS:
            low, high = _INT_FIELDS[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValidationFailed(f"{name} 应为 {low}–{high} 之间的整数", field=name)
            values[name] = value
        elif name in _FLOAT_FIELDS:
            low_f, high_f = _FLOAT_FIELDS[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low_f <= value <= high_f:
                raise ValidationFailed(f"{name} 应在 {low_f}–{high_f} 之间", field=name)
            values[name] = float(value)
        elif name in ("auto_waves", "single_item_waves", "require_location_scan"):
            if not isinstance(value, bool):
                raise ValidationFailed(f"{name} 应为 true 或 false", field=name)
            values[name] = value
        elif name == "pick_mode":
            if value not in (PickMode.BATCH, PickMode.ORDER):
                raise ValidationFailed("拣货方式只能是 batch（批量拣货）或 order（按单拣货）", field=name)
            values[name] = value
        elif name == "cutoffs":
            if not isinstance(value, list) or not all(isinstance(v, str) and _CUTOFF.match(v) for v in value):
                raise ValidationFailed("截单时间应为 HH:MM 列表，例如 [\"11:00\", \"16:00\"]", field=name)
            values[name] = msgspec.json.encode(sorted(set(value))).decode()
        else:
            raise ValidationFailed(f"未知的设置项 {name}", field=name)
    return values


async def update_settings(warehouse_id: int, changes: Mapping[str, Any]) -> PickingSettings:
    values = _validate(changes)
    async with db.transaction():
        existing = await PickingConfig.select(PickingConfig.id).where(PickingConfig.warehouse == warehouse_id).first()
        columns: dict[Any, Any] = {PickingConfig._meta.get_column_by_name(k): v for k, v in values.items()}
        columns[PickingConfig.updated_at] = clock.now()
        if existing is None:
            row = PickingConfig(warehouse=warehouse_id, updated_at=clock.now())
            for column, value in columns.items():
                setattr(row, column._meta.name, value)
            await row.save()
        else:
            await PickingConfig.update(columns).where(PickingConfig.id == existing["id"])
    return await get_settings(warehouse_id)


def next_cutoff(cutoffs: list[str], now: datetime) -> datetime | None:
    """The next carrier pick-up time after ``now`` (aware UTC), or None when no cut-off is configured."""
    if not cutoffs:
        return None
    local = clock.to_shanghai(now)
    for days in (0, 1):
        day = (local + timedelta(days=days)).date()
        for text in sorted(cutoffs):
            hour, minute = (int(part) for part in text.split(":"))
            moment = datetime.combine(day, time(hour, minute), tzinfo=local.tzinfo)
            if moment > local:
                return moment.astimezone(now.tzinfo)
    return None


class SkuLocationView(msgspec.Struct, frozen=True, kw_only=True):
    warehouse: str
    sku: str
    location: str


async def set_sku_locations(warehouse_id: int, items: list[tuple[str, str]]) -> list[SkuLocationView]:
    """Set the pick face (location code) of each SKU code in the warehouse; all or nothing."""
    from orderhub.catalog.tables import Sku
    from orderhub.inventory.tables import Location
    from orderhub.picking.tables import SkuLocation

    sku_codes = sorted({s for s, _ in items})
    loc_codes = sorted({loc for _, loc in items})
    async with db.transaction():
        skus = {
            r["code"]: r["id"]
            for r in await Sku.select(Sku.id, Sku.code).where(
                Sku.code.is_in(sku_codes)  # bounded: one request's pick faces (≤ 5000, api/picking SkuLocationsIn)
            )
        }
        locs = {
            r["code"]: r["id"]
            for r in await Location.select(Location.id, Location.code).where(
                (Location.warehouse == warehouse_id)
                & Location.code.is_in(loc_codes)  # bounded: one request's pick faces (≤ 5000)
            )
        }
        unknown_skus = [s for s in sku_codes if s not in skus]
        unknown_locs = [loc for loc in loc_codes if loc not in locs]
        if unknown_skus:
            raise ValidationFailed(
                f"SKU 不存在：{'、'.join(unknown_skus[:10])}", code=PickingError.UNKNOWN_SKU, field="sku"
            )
        if unknown_locs:
            raise ValidationFailed(
                f"本仓没有库位：{'、'.join(unknown_locs[:10])}", code=PickingError.UNKNOWN_LOCATION, field="location"
            )
        now = clock.now()
        for sku_code, loc_code in items:
            values: dict[Any, Any] = {SkuLocation.location: locs[loc_code], SkuLocation.updated_at: now}
            updated = await SkuLocation.update(values).where(
                (SkuLocation.warehouse == warehouse_id) & (SkuLocation.sku == skus[sku_code])
            ).returning(SkuLocation.id)
            if not updated:
                await SkuLocation.insert(
                    SkuLocation(warehouse=warehouse_id, sku=skus[sku_code], location=locs[loc_code], updated_at=now)
                )
    return await list_sku_locations(warehouse_id)


async def list_sku_locations(warehouse_id: int) -> list[SkuLocationView]:
    # Raw SQL: an inner join of four tables (the query builder's foreign-key paths are LEFT JOINs).
    return await db.fetch_as(
        SkuLocationView,
        "SELECT w.code AS warehouse, s.code AS sku, l.code AS location FROM sku_location f "
        "JOIN warehouse w ON w.id = f.warehouse JOIN sku s ON s.id = f.sku JOIN location l ON l.id = f.location "
        "WHERE f.warehouse = {} ORDER BY l.code, s.code",
        warehouse_id,
    )
