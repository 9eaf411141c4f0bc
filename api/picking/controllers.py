"""Back-office picking: per-warehouse settings (wave rules, walking model, weight checks), SKU pick faces, PDA
devices, waves (automatic run now, a manual wave of chosen orders, the list with progress, one wave by number or
code), tasks (list, detail, assign to a picker), put-back work (返架: units of orders cancelled after picking),
picker quality and the monthly error analysis."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, patch, post, put
from litestar.params import Parameter

from api.common import MAX_INT, Id, PathId, PathWave, Str32, Str100, Str255, changes_of
from orderhub import clock
from orderhub.auth.policy import check_warehouse
from orderhub.auth.service import UserView
from orderhub.picking import putback, quality, sessions, tasks, wave_views, waves
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
    require_location_scan: bool | msgspec.UnsetType = msgspec.UNSET


class SkuLocationIn(msgspec.Struct, kw_only=True):
    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    location: Str32


class SkuLocationsIn(msgspec.Struct, kw_only=True):
    items: Annotated[list[SkuLocationIn], msgspec.Meta(min_length=1, max_length=5000)]


LabelFormat = Annotated[
    str,
    msgspec.Meta(
        max_length=8,
        description="how the station prints labels: `pdf` (the browser prints the PDF) or `zpl` (the hub sends ZPL to "
        "`printer_address`)",
    ),
]
PrinterAddress = Annotated[
    str,
    msgspec.Meta(
        max_length=255,
        description="the station's network label printer, `host:port` (port 9100 when left out); required for `zpl`",
    ),
]


class DeviceIn(msgspec.Struct, kw_only=True):
    code: Str32
    warehouse: Str32
    name: Str100 = ""
    kind: str = "pda"
    label_format: LabelFormat = "pdf"
    printer_address: PrinterAddress = ""


class DevicePatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Str100 | msgspec.UnsetType = msgspec.UNSET
    label_format: LabelFormat | msgspec.UnsetType = msgspec.UNSET
    printer_address: PrinterAddress | msgspec.UnsetType = msgspec.UNSET


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


class PutbackMissingIn(msgspec.Struct, kw_only=True):
    line_id: Id
    qty: Annotated[int, msgspec.Meta(ge=1, le=100_000)]


class PutbackDoneIn(msgspec.Struct, kw_only=True):
    # Units not found when putting back, per line (written off the stock); none: everything went back.
    missing: Annotated[list[PutbackMissingIn], msgspec.Meta(max_length=500)] = []
    note: Str255 = ""


async def _warehouse(code: str, user: UserView) -> int:
    warehouse_id = await warehouse_id_of(code)
    check_warehouse(user.warehouse_id, warehouse_id, field="warehouse")
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

    @get(
        "/{warehouse:str}/settings",
        summary="Wave rules, walking model, weighing",
        description="Automatic waves (size limits, cut-off times, waiting time), pick mode (batch or per order), the "
        "walking model the pick path is computed with, and the pack station's weighing tolerance.",
    )
    async def settings(self, request: Request[UserView, Any, Any], warehouse: str) -> PickingSettings:
        return await get_settings(await _warehouse(warehouse, request.user))

    @patch(
        "/{warehouse:str}/settings",
        summary="Change picking settings",
        description="Only the fields sent change; the next wave and the next weighing use them.",
    )
    async def update_settings(
        self, request: Request[UserView, Any, Any], warehouse: str, data: SettingsPatch
    ) -> PickingSettings:
        return await update_settings(await _warehouse(warehouse, request.user), changes_of(data))

    @put(
        "/{warehouse:str}/sku-locations",
        summary="Set SKUs' pick faces",
        description="Assigns each SKU the location it is picked from in this warehouse; pick paths visit the "
        "locations in their sequence.",
    )
    async def set_locations(
        self, request: Request[UserView, Any, Any], warehouse: str, data: SkuLocationsIn
    ) -> list[SkuLocationView]:
        pairs = [(item.sku, item.location) for item in data.items]
        return await set_sku_locations(await _warehouse(warehouse, request.user), pairs)

    @get(
        "/{warehouse:str}/sku-locations",
        summary="SKUs' pick faces",
        description="Each SKU with the location it is picked from in this warehouse.",
    )
    async def sku_locations(self, request: Request[UserView, Any, Any], warehouse: str) -> list[SkuLocationView]:
        return await list_sku_locations(await _warehouse(warehouse, request.user))

    @post(
        "/devices",
        summary="Register a PDA or pack station",
        description="A handheld (`kind: pda`) or a pack station (`kind: pack_station`) of a warehouse; staff sign in "
        "on it at /pda/v1/login. A station prints labels as PDF in the browser (`label_format: pdf`, the default) or "
        "through the hub on a network printer (`zpl`, with `printer_address` `host:port`, port 1–65535, 9100 when "
        "left out).",
    )
    async def register_device(self, request: Request[UserView, Any, Any], data: DeviceIn) -> sessions.DeviceView:
        await _warehouse(data.warehouse, request.user)
        return await sessions.register_device(
            data.code,
            data.warehouse,
            name=data.name,
            kind=data.kind,
            label_format=data.label_format,
            printer_address=data.printer_address,
        )

    @patch(
        "/devices/{code:str}",
        summary="Change a device's name or label printing",
        description="Only the fields sent change. `label_format` `pdf` (the browser prints the PDF) or `zpl` (the hub "
        "sends ZPL to `printer_address`, `host:port`; required for `zpl`). The station reads its settings at "
        "`GET /pda/v1/station`.",
    )
    async def update_device(
        self, request: Request[UserView, Any, Any], code: str, data: DevicePatch
    ) -> sessions.DeviceView:
        return await sessions.update_device(code, changes_of(data), warehouse_id=request.user.warehouse_id)

    @get(
        "/devices",
        summary="Registered devices",
        description="Every device, or those of the caller's warehouse for a user bound to one.",
    )
    async def devices(self, request: Request[UserView, Any, Any]) -> list[sessions.DeviceView]:
        return await sessions.list_devices(warehouse_id=request.user.warehouse_id)

    @post(
        "/{warehouse:str}/waves/run",
        status_code=200,
        summary="Apply the wave rules now (force: release partial waves too)",
        description="Groups the warehouse's ready orders into waves by the wave rules and releases their pick tasks "
        "with a route; `force=true` also releases waves below the size limits.",
    )
    async def run_waves(
        self, request: Request[UserView, Any, Any], warehouse: str, force: bool = False
    ) -> list[WaveOut]:
        results = await waves.build_waves(
            await _warehouse(warehouse, request.user), force=force, actor=f"user:{request.user.username}"
        )
        return [_wave_out(r) for r in results]

    @post(
        "/{warehouse:str}/waves",
        summary="A manual wave of chosen ready orders",
        description="One wave of exactly these ready orders of the warehouse (up to 1000), released with its pick "
        "tasks at once.",
    )
    async def manual_wave(
        self, request: Request[UserView, Any, Any], warehouse: str, data: ManualWaveIn
    ) -> WaveOut:
        result = await waves.create_manual_wave(
            await _warehouse(warehouse, request.user), data.order_ids, actor=f"user:{request.user.username}"
        )
        return _wave_out(result)

    @get(
        "/waves",
        summary="Waves with their progress, newest first (filters; cursor = the previous page's next_cursor)",
        description="Filter by `warehouse`, `status`, `packing_line` and creation dates (`created_from`, "
        "`created_to`, Asia/Shanghai days); each wave with its tasks', orders' and units' progress. Pages of `limit`: "
        "pass `next_cursor` as `cursor`. A user bound to a warehouse sees its waves only.",
    )
    async def list_waves(
        self,
        request: Request[UserView, Any, Any],
        warehouse: str | None = None,
        status: str | None = None,
        packing_line: Annotated[str | None, Parameter(max_length=1)] = None,
        created_from: date | None = None,
        created_to: date | None = None,
        cursor: Annotated[int | None, Parameter(ge=1, le=MAX_INT)] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> wave_views.WavePage:
        warehouse_id = await _warehouse(warehouse, request.user) if warehouse else request.user.warehouse_id
        return await wave_views.list_waves(
            warehouse_id=warehouse_id, status=status, packing_line=packing_line, created_from=created_from,
            created_to=created_to, after_id=cursor, limit=limit,
        )

    @get(
        "/{warehouse:str}/waves",
        summary="The warehouse's waves with their progress (the filters of GET /api/v1/picking/waves)",
        description="The same list as GET /api/v1/picking/waves for one warehouse, with the same filters and paging.",
    )
    async def warehouse_waves(
        self,
        request: Request[UserView, Any, Any],
        warehouse: str,
        status: str | None = None,
        packing_line: Annotated[str | None, Parameter(max_length=1)] = None,
        created_from: date | None = None,
        created_to: date | None = None,
        cursor: Annotated[int | None, Parameter(ge=1, le=MAX_INT)] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> wave_views.WavePage:
        return await wave_views.list_waves(
            warehouse_id=await _warehouse(warehouse, request.user), status=status, packing_line=packing_line,
            created_from=created_from, created_to=created_to, after_id=cursor, limit=limit,
        )

    @get(
        "/waves/{wave:str}",
        summary="A wave (by number or code) with its progress and its tasks",
        description="The wave named by its number or its code, with its progress and each of its pick tasks (status, "
        "picker, lines, units).",
    )
    async def wave(self, request: Request[UserView, Any, Any], wave: PathWave) -> wave_views.WaveDetail:
        return await wave_views.get_wave(wave, warehouse_id=request.user.warehouse_id)

    @get(
        "/{warehouse:str}/tasks",
        summary="Pick tasks (status: open, claimed, …)",
        description="The warehouse's pick tasks with their wave, picker and progress; filter by `status`.",
    )
    async def list_tasks(
        self,
        request: Request[UserView, Any, Any],
        warehouse: str,
        status: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[tasks.TaskSummary]:
        return await tasks.list_tasks(await _warehouse(warehouse, request.user), status=status, limit=limit)

    @get(
        "/tasks/{task_id:int}",
        summary="A task with its stops",
        description="The task's stops in pick-path order: location, SKU, quantity and what was picked or reported "
        "short.",
    )
    async def task(self, request: Request[UserView, Any, Any], task_id: PathId) -> tasks.TaskView:
        return await tasks.get_task(task_id, warehouse_id=request.user.warehouse_id)

    @post(
        "/tasks/{task_id:int}/assign",
        status_code=200,
        summary="Hand an open task to a picker (pushed to their PDA)",
        description="Gives an open task to one picker; their PDA receives it over the floor websocket.",
    )
    async def assign(self, request: Request[UserView, Any, Any], task_id: PathId, data: AssignIn) -> tasks.TaskView:
        return await tasks.assign_task(
            task_id, data.picker, warehouse_id=request.user.warehouse_id, actor=f"user:{request.user.username}"
        )

    @get(
        "/{warehouse:str}/putbacks",
        summary="Put-back work (返架) of the warehouse: open first, or by status",
        description="Units of orders cancelled after picking that must go back to their locations: per put-back the "
        "order, where the units are (a tote slot or the pack station), each SKU with its quantity and the location to "
        "return it to. `status`: open (default) or done; `order_id` narrows to one order.",
    )
    async def list_putbacks(
        self,
        request: Request[UserView, Any, Any],
        warehouse: str,
        status: Literal["open", "done"] = "open",
        order_id: Annotated[int | None, Parameter(ge=1, le=MAX_INT)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[putback.PutbackView]:
        return await putback.list_putbacks(
            await _warehouse(warehouse, request.user), status=status, order_id=order_id, limit=limit
        )

    @get(
        "/putbacks/{putback_id:int}",
        summary="One put-back (返架单) with its lines",
        description="The put-back's order, status, where its units are and, per line, the SKU, quantity, the "
        "location to return it to and what was reported missing when it was closed.",
    )
    async def get_putback(self, request: Request[UserView, Any, Any], putback_id: PathId) -> putback.PutbackView:
        return await putback.get_putback(putback_id, warehouse_id=request.user.warehouse_id)

    @post(
        "/putbacks/{putback_id:int}/done",
        status_code=200,
        summary="Close a put-back: the units are back on their locations",
        description="Marks the put-back done (audited on the order). Units not found are given per line in "
        "`missing`: what no other order has reserved is written off the stock as an audited adjustment; the rest "
        "stays on the books for the orders that reserved it (`reserved_elsewhere` in the order's log, a "
        "`putback.short` alert asking for a count; their pickers' short picks write it off). Closing a put-back "
        "already done answers it unchanged.",
    )
    async def putback_done(
        self, request: Request[UserView, Any, Any], putback_id: PathId, data: PutbackDoneIn
    ) -> putback.PutbackView:
        return await putback.complete_putback(
            putback_id,
            missing={m.line_id: m.qty for m in data.missing},
            note=data.note,
            actor=f"user:{request.user.username}",
            warehouse_id=request.user.warehouse_id,
        )

    @get(
        "/quality/pickers",
        summary="Per picker: tasks, lines, units, errors, pace",
        description="Per picker for the `month` (YYYY-MM, Asia/Shanghai; default this month): tasks done, lines and "
        "units picked, wrong scans, short picks and pace.",
    )
    async def picker_quality(
        self, request: Request[UserView, Any, Any], month: str | None = None
    ) -> list[quality.PickerQuality]:
        since, until = quality.month_range(month or f"{clock.to_shanghai(clock.now()):%Y-%m}")
        return await quality.picker_quality(since, until, warehouse_id=request.user.warehouse_id)

    @get(
        "/quality/skus",
        summary="Per SKU: lines, units, wrong scans, short picks",
        description="Per SKU for the `month` (YYYY-MM, Asia/Shanghai; default this month): lines and units picked, "
        "wrong scans and short picks.",
    )
    async def sku_quality(
        self, request: Request[UserView, Any, Any], month: str | None = None
    ) -> list[quality.SkuQuality]:
        since, until = quality.month_range(month or f"{clock.to_shanghai(clock.now()):%Y-%m}")
        return await quality.sku_quality(since, until, warehouse_id=request.user.warehouse_id)

    @get(
        "/quality/errors",
        summary="Monthly error analysis (差错分析): by picker, by SKU, by error type",
        description="The month's (`month`=YYYY-MM, Asia/Shanghai; default this month) picking errors counted by "
        "picker, by SKU and by error type. Made fair: per picker (`picker_rates`) and per SKU (`sku_rates`) the pick "
        "lines with an error per 1,000 lines and their 95 % Wilson interval, ranked by its lower bound; fewer than "
        "`min_lines` lines (default 50) are marked 样本不足 and not ranked. `confusions`: the most common wrong-item "
        "pairs (expected SKU, the SKU whose barcode was scanned) with both pick faces — candidates for re-slotting; "
        "`location_clusters`: per SKU with errors, the location holding most of them, `flagged` when that share is "
        "at least 60 % and significantly above the location's share of the SKU's pick lines.",
    )
    async def errors(
        self, request: Request[UserView, Any, Any], month: str | None = None, min_lines: int | None = None
    ) -> quality.ErrorReport:
        return await quality.error_report(
            month or f"{clock.to_shanghai(clock.now()):%Y-%m}",
            warehouse_id=request.user.warehouse_id,
            min_lines=quality.MIN_LINES if min_lines is None else min_lines,
        )
