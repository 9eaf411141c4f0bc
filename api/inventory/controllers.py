"""Warehouses, locations, stock levels and stock adjustments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import Parameter

from api.common import changes_of, present
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
    region: str = ""
    provinces: list[str] = []
    address: str = ""


class WarehousePatch(msgspec.Struct, kw_only=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    region: str | msgspec.UnsetType = msgspec.UNSET
    provinces: list[str] | msgspec.UnsetType = msgspec.UNSET
    address: str | msgspec.UnsetType = msgspec.UNSET
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
    zone: str = ""
    aisle: str = ""
    bay: str = ""
    level: str = ""
    sequence: int = 0


class LocationPatch(msgspec.Struct, kw_only=True):
    zone: str | msgspec.UnsetType = msgspec.UNSET
    aisle: str | msgspec.UnsetType = msgspec.UNSET
    bay: str | msgspec.UnsetType = msgspec.UNSET
    level: str | msgspec.UnsetType = msgspec.UNSET
    sequence: int | msgspec.UnsetType = msgspec.UNSET
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

    sku: str
    warehouse: str
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    delta: int | None = None
    set: Annotated[int, msgspec.Meta(ge=0)] | None = None


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
    async def create(self, data: LocationIn) -> LocationOut:
        return present(
            await service.create_location(msgspec.convert(msgspec.to_builtins(data), NewLocation)), LocationOut
        )

    @get("/", guards=[requires(*STAFF)])
    async def list_all(self, warehouse: str | None = None) -> list[LocationOut]:
        return present(await service.list_locations(warehouse), list[LocationOut])

    @patch("/{location_id:int}", guards=[requires(*EDITORS)])
    async def update(self, location_id: int, data: LocationPatch) -> LocationOut:
        return present(await service.update_location(location_id, changes_of(data)), LocationOut)


class StockController(Controller):
    path = "/api/v1/stock"
    tags = ["stock"]

    @get("/", guards=[requires(*STAFF)], summary="Stock levels (on hand, reserved, available); cursor = next_cursor")
    async def list_stock(
        self,
        request: Request[UserView, Any, Any],
        sku: str | None = None,
        warehouse: str | None = None,
        cursor: int | None = None,
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
