"""Back-office picking: per-warehouse settings (wave rules, walking model, weight checks), SKU pick faces, PDA
devices, waves (automatic run now, or a manual wave of chosen orders), tasks (list, detail, assign to a picker),
picker quality and the monthly error analysis."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post, put
from litestar.params import Parameter

from api.common import Id, PathId, Str32, Str100, changes_of
from api.security import requires
from orderhub import clock
from orderhub.auth.service import Role, UserView
from orderhub.errors import NotFound
from orderhub.picking import quality, sessions, tasks, waves
from orderhub.picking.config import (
    PickingSettings,
    SkuLocationView,
    get_settings,
    list_sku_locations,
    set_sku_locations,
    update_settings,
    warehouse_id_of,
)

__all__ = ["PickingController"]

MANAGERS = (Role.ADMIN, Role.MANAGER)


class SettingsPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    auto_waves: bool | msgspec.UnsetType = msgspec.UNSET
    max_orders: int | msgspec.UnsetType = msgspec.UNSET
    max_items: int | msgspec.UnsetType = msgspec.UNSET
    cutoffs: list[str] | msgspec.UnsetType = msgspec.UNSET
    release_before_cutoff_minutes: int | msgspec.UnsetType = msgspec.UNSET
    max_wait_minutes: int | msgspec.UnsetType = msgspec.UNSET
    single_item_waves: bool | msgspec.UnsetType = msgspec.UNSET
    pick_mode: str | msgspec.UnsetType = msgspec.UNSET
    cart_slots: int | msgspec.UnsetType = msgspec.UNSET
    aisle_spacing_m: float | msgspec.UnsetType = msgspec.UNSET
    bay_length_m: float | msgspec.UnsetType = msgspec.UNSET
    cross_aisles: int | msgspec.UnsetType = msgspec.UNSET
    depot_x_m: float | msgspec.UnsetType = msgspec.UNSET
    packaging_g: int | msgspec.UnsetType = msgspec.UNSET
    weight_tolerance_g: int | msgspec.UnsetType = msgspec.UNSET
    weight_tolerance_pct: float | msgspec.UnsetType = msgspec.UNSET


class SkuLocationIn(msgspec.Struct, kw_only=True):
    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    location: Str32


class SkuLocationsIn(msgspec.Struct, kw_only=True):
    items: Annotated[list[SkuLocationIn], msgspec.Meta(min_length=1, max_length=5000)]


class DeviceIn(msgspec.Struct, kw_only=True):
    code: Str32
    warehouse: Str32
    name: Str100 = ""
    kind: str = "pda"


class ManualWaveIn(msgspec.Struct, kw_only=True):
    order_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=1000)]


class WaveOut(msgspec.Struct, kw_only=True):
    wave_id: int
    code: str
    reason: str
    orders: int
    items: int
    task_ids: list[int]


class AssignIn(msgspec.Struct, kw_only=True):
    picker: Id


async def _warehouse(code: str, user: UserView) -> int:
    warehouse_id = await warehouse_id_of(code)
    if user.warehouse_id is not None and user.warehouse_id != warehouse_id:
        raise NotFound(f"仓库 {code} 不存在", field="warehouse")
    return warehouse_id


def _wave_out(result: waves.WaveResult) -> WaveOut:
    return WaveOut(
        wave_id=result.wave_id,
        code=result.code,
        reason=result.reason,
        orders=result.orders,
        items=result.items,
        task_ids=result.task_ids,
    )


class PickingController(Controller):
    path = "/api/v1/picking"
    tags = ["picking"]

    @get("/{warehouse:str}/settings", guards=[requires(*MANAGERS)], summary="Wave rules, walking model, weighing")
    async def settings(self, request: Request[UserView, Any, Any], warehouse: str) -> PickingSettings:
        return await get_settings(await _warehouse(warehouse, request.user))

    @patch("/{warehouse:str}/settings", guards=[requires(*MANAGERS)], summary="Change picking settings")
    async def update_settings(
        self, request: Request[UserView, Any, Any], warehouse: str, data: SettingsPatch
    ) -> PickingSettings:
        return await update_settings(await _warehouse(warehouse, request.user), changes_of(data))

    @put("/{warehouse:str}/sku-locations", guards=[requires(*MANAGERS)], summary="Set SKUs' pick faces")
    async def set_locations(
        self, request: Request[UserView, Any, Any], warehouse: str, data: SkuLocationsIn
    ) -> list[SkuLocationView]:
        pairs = [(item.sku, item.location) for item in data.items]
        return await set_sku_locations(await _warehouse(warehouse, request.user), pairs)

    @get("/{warehouse:str}/sku-locations", guards=[requires(*MANAGERS)], summary="SKUs' pick faces")
    async def sku_locations(self, request: Request[UserView, Any, Any], warehouse: str) -> list[SkuLocationView]:
        return await list_sku_locations(await _warehouse(warehouse, request.user))

    @post("/devices", guards=[requires(*MANAGERS)], summary="Register a PDA or pack station")
    async def register_device(self, request: Request[UserView, Any, Any], data: DeviceIn) -> sessions.DeviceView:
        await _warehouse(data.warehouse, request.user)
        return await sessions.register_device(data.code, data.warehouse, name=data.name, kind=data.kind)

    @get("/devices", guards=[requires(*MANAGERS)], summary="Registered devices")
    async def devices(self, request: Request[UserView, Any, Any]) -> list[sessions.DeviceView]:
        return await sessions.list_devices(warehouse_id=request.user.warehouse_id)

    @post("/{warehouse:str}/waves/run", status_code=200, guards=[requires(*MANAGERS)],
          summary="Apply the wave rules now (force: release partial waves too)")
    async def run_waves(
        self, request: Request[UserView, Any, Any], warehouse: str, force: bool = False
    ) -> list[WaveOut]:
        results = await waves.build_waves(
            await _warehouse(warehouse, request.user), force=force, actor=f"user:{request.user.username}"
        )
        return [_wave_out(r) for r in results]

    @post("/{warehouse:str}/waves", guards=[requires(*MANAGERS)], summary="A manual wave of chosen ready orders")
    async def manual_wave(
        self, request: Request[UserView, Any, Any], warehouse: str, data: ManualWaveIn
    ) -> WaveOut:
        result = await waves.create_manual_wave(
            await _warehouse(warehouse, request.user), data.order_ids, actor=f"user:{request.user.username}"
        )
        return _wave_out(result)

    @get("/{warehouse:str}/tasks", guards=[requires(*MANAGERS)], summary="Pick tasks (status: open, claimed, …)")
    async def list_tasks(
        self,
        request: Request[UserView, Any, Any],
        warehouse: str,
        status: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[tasks.TaskSummary]:
        return await tasks.list_tasks(await _warehouse(warehouse, request.user), status=status, limit=limit)

    @get("/tasks/{task_id:int}", guards=[requires(*MANAGERS)], summary="A task with its stops")
    async def task(self, request: Request[UserView, Any, Any], task_id: PathId) -> tasks.TaskView:
        return await tasks.get_task(task_id, warehouse_id=request.user.warehouse_id)

    @post("/tasks/{task_id:int}/assign", status_code=200, guards=[requires(*MANAGERS)],
          summary="Hand an open task to a picker (pushed to their PDA)")
    async def assign(self, request: Request[UserView, Any, Any], task_id: PathId, data: AssignIn) -> tasks.TaskView:
        return await tasks.assign_task(
            task_id, data.picker, warehouse_id=request.user.warehouse_id, actor=f"user:{request.user.username}"
        )

    @get("/quality/pickers", guards=[requires(*MANAGERS)], summary="Per picker: tasks, lines, units, errors, pace")
    async def picker_quality(
        self, request: Request[UserView, Any, Any], month: str | None = None
    ) -> list[quality.PickerQuality]:
        since, until = quality.month_range(month or f"{clock.to_shanghai(clock.now()):%Y-%m}")
        return await quality.picker_quality(since, until, warehouse_id=request.user.warehouse_id)

    @get("/quality/skus", guards=[requires(*MANAGERS)], summary="Per SKU: lines, units, wrong scans, short picks")
    async def sku_quality(
        self, request: Request[UserView, Any, Any], month: str | None = None
    ) -> list[quality.SkuQuality]:
        since, until = quality.month_range(month or f"{clock.to_shanghai(clock.now()):%Y-%m}")
        return await quality.sku_quality(since, until, warehouse_id=request.user.warehouse_id)

    @get("/quality/errors", guards=[requires(*MANAGERS)],
         summary="Monthly error analysis (差错分析): by picker, by SKU, by error type")
    async def errors(self, request: Request[UserView, Any, Any], month: str | None = None) -> quality.ErrorReport:
        return await quality.error_report(
            month or f"{clock.to_shanghai(clock.now()):%Y-%m}", warehouse_id=request.user.warehouse_id
        )
