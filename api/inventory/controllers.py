"""Warehouses, locations, stock levels and stock adjustments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import Parameter

from api.common import MAX_INT, Count, Str16, Str32, Str100, Str255, changes_of, present
from orderhub.auth.service import UserView
from orderhub.errors import ValidationFailed
from orderhub.inventory import service
from orderhub.inventory.service import NewLocation, NewWarehouse

__all__ = ["LocationController", "StockController", "WarehouseController"]

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class WarehouseIn(msgspec.Struct, kw_only=True):
    code: Code
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    region: Str32 = ""
    provinces: list[Str32] = []
    address: Str255 = ""
    daily_capacity: Count = 0


class WarehousePatch(msgspec.Struct, kw_only=True):
    name: Str100 | msgspec.UnsetType = msgspec.UNSET
    region: Str32 | msgspec.UnsetType = msgspec.UNSET
    provinces: list[Str32] | msgspec.UnsetType = msgspec.UNSET
    address: Str255 | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    daily_capacity: Count | msgspec.UnsetType = msgspec.UNSET


class WarehouseOut(msgspec.Struct, kw_only=True):
    id: int
    code: str
    name: str
    region: str
    provinces: list[str]
    address: str
    active: bool
    daily_capacity: int


class LocationIn(msgspec.Struct, kw_only=True):
    warehouse: Code
    code: Code
    zone: Str16 = ""
    aisle: Str16 = ""
    bay: Str16 = ""
    level: Str16 = ""
    sequence: Count = 0


class LocationPatch(msgspec.Struct, kw_only=True):
    zone: Str16 | msgspec.UnsetType = msgspec.UNSET
    aisle: Str16 | msgspec.UnsetType = msgspec.UNSET
    bay: Str16 | msgspec.UnsetType = msgspec.UNSET
    level: Str16 | msgspec.UnsetType = msgspec.UNSET
    sequence: Count | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class LocationOut(msgspec.Struct, kw_only=True):
    id: int
    warehouse: str
    code: str
    zone: str
    aisle: str
    bay: str
    level: str
    sequence: int
    active: bool


class StockOut(msgspec.Struct, kw_only=True):
    sku: str
    sku_name: str
    warehouse: str
    on_hand: int
    reserved: int
    available: int
    updated_at: datetime


class StockPageOut(msgspec.Struct, kw_only=True):
    items: list[StockOut]
    next_cursor: int | None


class StockAdjustmentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Give exactly one of ``delta`` (change on hand by ±n) or ``set`` (count result)."""

    sku: Annotated[str, msgspec.Meta(max_length=64)]
    warehouse: Str32
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    delta: Annotated[int, msgspec.Meta(ge=-MAX_INT, le=MAX_INT)] | None = None
    set: Count | None = None


class WarehouseController(Controller):
    path = "/api/v1/warehouses"
    tags = ["warehouses"]

    @post(
        "/",
        summary="Create a warehouse",
        description="`provinces` are the provinces it serves first (warehouse ranking); `address` is the sender "
        "address printed on waybills.",
    )
    async def create(self, data: WarehouseIn) -> WarehouseOut:
        return present(
            await service.create_warehouse(msgspec.convert(msgspec.to_builtins(data), NewWarehouse)), WarehouseOut
        )

    @get(
        "/",
        summary="List every warehouse",
        description="Each warehouse with its region, the provinces it serves, its address and whether it is active.",
    )
    async def list_all(self) -> list[WarehouseOut]:
        return present(await service.list_warehouses(), list[WarehouseOut])

    @get(
        "/{code:str}",
        summary="One warehouse by its code",
        description="The warehouse with its region, provinces, address and active flag.",
    )
    async def get_one(self, code: str) -> WarehouseOut:
        return present(await service.get_warehouse(code), WarehouseOut)

    @patch(
        "/{code:str}",
        summary="Change a warehouse's name, region, provinces, address, active flag or daily capacity",
        description="Only the fields sent change. An inactive warehouse gets no new allocations. `daily_capacity` is "
        "the orders it can ship per day (0 = not set): the tactical dashboard's backlog ratio divides by it.",
    )
    async def update(self, code: str, data: WarehousePatch) -> WarehouseOut:
        return present(await service.update_warehouse(code, changes_of(data)), WarehouseOut)


class LocationController(Controller):
    path = "/api/v1/locations"
    tags = ["warehouses"]

    @post(
        "/",
        summary="Create a storage location (pick face) in a warehouse",
        description="Zone, aisle, bay and level name the place; `sequence` orders the pick path. A manager bound "
        "to a warehouse creates locations in that warehouse only.",
    )
    async def create(self, request: Request[UserView, Any, Any], data: LocationIn) -> LocationOut:
        cmd = msgspec.convert(msgspec.to_builtins(data), NewLocation)
        return present(await service.create_location(cmd, warehouse_scope=request.user.warehouse_id), LocationOut)

    @get(
        "/",
        summary="List storage locations (optionally of one warehouse)",
        description="Locations in pick-path order. A user bound to a warehouse sees that warehouse's only.",
    )
    async def list_all(self, request: Request[UserView, Any, Any], warehouse: str | None = None) -> list[LocationOut]:
        views = await service.list_locations(warehouse, warehouse_scope=request.user.warehouse_id)
        return present(views, list[LocationOut])

    @patch(
        "/{location_id:int}",
        summary="Change a location's place, pick-path sequence or active flag",
        description="Only the fields sent change; the location's warehouse and code stay.",
    )
    async def update(
        self,
        request: Request[UserView, Any, Any],
        location_id: Annotated[int, Parameter(ge=1, le=MAX_INT)],
        data: LocationPatch,
    ) -> LocationOut:
        view = await service.update_location(location_id, changes_of(data), warehouse_scope=request.user.warehouse_id)
        return present(view, LocationOut)


class StockController(Controller):
    path = "/api/v1/stock"
    tags = ["stock"]

    @get(
        "/",
        summary="Stock levels (on hand, reserved, available); cursor = next_cursor",
        description="Per SKU and warehouse; filter by `sku` and `warehouse`. `available` = on hand − reserved. "
        "Pages of `limit`: pass `next_cursor` as `cursor` for the next one.",
    )
    async def list_stock(
        self,
        request: Request[UserView, Any, Any],
        sku: str | None = None,
        warehouse: str | None = None,
        cursor: Annotated[int | None, Parameter(ge=0, le=MAX_INT)] = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 200,
    ) -> StockPageOut:
        page = await service.list_stock(
            sku=sku, warehouse=warehouse, warehouse_scope=request.user.warehouse_id, after_id=cursor, limit=limit
        )
        return present(page, StockPageOut)

    @post(
        "/adjustments",
        summary="Adjust on-hand stock (audited)",
        description="Give exactly one of `delta` (receive or write off n) or `set` (a count's result) and a "
        "`reason`; the change is recorded with who made it. On hand may not fall below what is reserved.",
    )
    async def adjust(self, request: Request[UserView, Any, Any], data: StockAdjustmentIn) -> StockOut:
        if (data.delta is None) == (data.set is None):
            raise ValidationFailed("delta 与 set 必须且只能提供一个", field="delta")
        view = await service.adjust_stock(
            sku=data.sku,
            warehouse=data.warehouse,
            delta=data.delta,
            set_to=data.set,
            reason=data.reason,
            actor=f"user:{request.user.username}",
            warehouse_scope=request.user.warehouse_id,
        )
        return present(view, StockOut)
