"""Warehouses, locations, stock levels and stock adjustments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import Parameter

from api.common import MAX_INT, Count, Str16, Str32, Str100, Str255, changes_of, present
from api.security import requires
from orderhub.auth.service import Role, UserView
from orderhub.errors import ValidationFailed
from orderhub.inventory import service
from orderhub.inventory.service import NewLocation, NewWarehouse

__all__ = ["LocationController", "StockController", "WarehouseController"]

STAFF = tuple(Role)
EDITORS = (Role.ADMIN, Role.MANAGER)
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class WarehouseIn(msgspec.Struct, kw_only=True):
    code: Code
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    region: Str32 = ""
    provinces: list[Str32] = []
    address: Str255 = ""


class WarehousePatch(msgspec.Struct, kw_only=True):
    name: Str100 | msgspec.UnsetType = msgspec.UNSET
    region: Str32 | msgspec.UnsetType = msgspec.UNSET
    provinces: list[Str32] | msgspec.UnsetType = msgspec.UNSET
    address: Str255 | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class WarehouseOut(msgspec.Struct, kw_only=True):
    id: int
    code: str
    name: str
    region: str
    provinces: list[str]
    address: str
    active: bool


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

    @post("/", guards=[requires(Role.ADMIN)])
    async def create(self, data: WarehouseIn) -> WarehouseOut:
        return present(
            await service.create_warehouse(msgspec.convert(msgspec.to_builtins(data), NewWarehouse)), WarehouseOut
        )

    @get("/", guards=[requires(*STAFF)])
    async def list_all(self) -> list[WarehouseOut]:
        return present(await service.list_warehouses(), list[WarehouseOut])

    @get("/{code:str}", guards=[requires(*STAFF)])
    async def get_one(self, code: str) -> WarehouseOut:
        return present(await service.get_warehouse(code), WarehouseOut)

    @patch("/{code:str}", guards=[requires(Role.ADMIN)])
    async def update(self, code: str, data: WarehousePatch) -> WarehouseOut:
        return present(await service.update_warehouse(code, changes_of(data)), WarehouseOut)


class LocationController(Controller):
    path = "/api/v1/locations"
    tags = ["warehouses"]

    @post("/", guards=[requires(*EDITORS)])
    async def create(self, request: Request[UserView, Any, Any], data: LocationIn) -> LocationOut:
        cmd = msgspec.convert(msgspec.to_builtins(data), NewLocation)
        return present(await service.create_location(cmd, warehouse_scope=request.user.warehouse_id), LocationOut)

    @get("/", guards=[requires(*STAFF)])
    async def list_all(self, request: Request[UserView, Any, Any], warehouse: str | None = None) -> list[LocationOut]:
        views = await service.list_locations(warehouse, warehouse_scope=request.user.warehouse_id)
        return present(views, list[LocationOut])

    @patch("/{location_id:int}", guards=[requires(*EDITORS)])
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

    @get("/", guards=[requires(*STAFF)], summary="Stock levels (on hand, reserved, available); cursor = next_cursor")
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

    @post("/adjustments", guards=[requires(*EDITORS)], summary="Adjust on-hand stock (audited)")
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
