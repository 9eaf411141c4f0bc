"""Handheld endpoints (``/pda/v1``): sign in on a device, next / claim task, the ordered stops, scan-confirmed
picking, short pick, skip, complete; the pack station's verify-and-weigh; put-back work (返架) to close. Small
payloads, zh-CN messages.

Auth: ``Authorization: Bearer <token>`` from ``/pda/v1/login`` (a device session, scoped to one warehouse). A scan
the hub refuses (wrong location, wrong item, …) is answered 422 ``application/problem+json`` with its ``code``,
the zh-CN ``message`` and what was ``expected``; it is recorded all the same, and a replay answers the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler

from api.common import PathId, PathWave
from api.logistics.controllers import labels_response
from orderhub.auth.policy import Scope, check_role, operation_key, rule_for
from orderhub.errors import AuthenticationFailed, CommonError
from orderhub.logistics import printing, waybills
from orderhub.logistics.labels import label_pdf
from orderhub.picking import pack, putback, tasks
from orderhub.picking.errors import refusal_field
from orderhub.picking.sessions import (
    SESSION_TTL_SECONDS,
    PdaSession,
    StationView,
    end_session,
    session_for,
    sign_in,
    station_printer,
)
from orderhub.picking.sessions import station as station_settings

__all__ = ["REFUSAL_STATUS", "PdaController", "pda_session"]

PROBLEM_JSON = "application/problem+json"
ClientId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Barcode = Annotated[str, msgspec.Meta(max_length=64)]


def _token(request: ASGIConnection[Any, Any, Any, Any]) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed("请先在设备上登录", code=CommonError.UNAUTHENTICATED)
    return token.strip()


_SESSION_STATE = "pda_session"


async def device_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The handhelds' side of the policy table (orderhub/auth/policy.py): the session's role — the signed-in
    employee's — must be one the operation names (a picker's session does not pack, take a waybill or hand over).
    Runs before the body is read; the session it loads is the ``session`` dependency's."""
    method = str(connection.scope.get("method") or "")
    if method == "OPTIONS":
        return
    template = str(connection.scope.get("path_template") or connection.url.path)
    rule = rule_for(method, template)
    if rule is not None and rule.scope is Scope.PUBLIC:
        return  # the sign-in itself
    session = await session_for(_token(connection))
    check_role(rule, session.role, operation_key(method, template))
    connection.state[_SESSION_STATE] = session


async def pda_session(request: Request[Any, Any, Any]) -> PdaSession:
    cached = request.state.get(_SESSION_STATE)
    return cached if isinstance(cached, PdaSession) else await session_for(_token(request))


class LoginIn(msgspec.Struct, kw_only=True):
    device: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    badge: Barcode | None = None
    username: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    password: Annotated[str, msgspec.Meta(max_length=128)] | None = None


class LoginOut(msgspec.Struct, kw_only=True):
    token: str
    expires_in: int
    user_id: int  # who signed in (the floor socket's events name pickers by id: two may share a name)
    name: str
    role: str
    warehouse: str
    device: str


class NextOut(msgspec.Struct, kw_only=True):
    task: tasks.TaskSummary | None
    message: str


class ScanIn(msgspec.Struct, kw_only=True):
    client_id: ClientId
    kind: str
    task_id: Annotated[int, msgspec.Meta(ge=1)]
    line_id: Annotated[int, msgspec.Meta(ge=1)]
    barcode: Barcode = ""
    qty: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1
    location: Barcode | None = None
    reason: Annotated[str, msgspec.Meta(max_length=64)] = ""
    scanned_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


class PackStartIn(msgspec.Struct, kw_only=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class PackScanIn(msgspec.Struct, kw_only=True):
    client_id: ClientId
    barcode: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class WeighIn(msgspec.Struct, kw_only=True):
    client_id: ClientId
    weight_g: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class PutbackMissingIn(msgspec.Struct, kw_only=True):
    line_id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    qty: Annotated[int, msgspec.Meta(ge=1, le=100_000)]


class PutbackDoneIn(msgspec.Struct, kw_only=True):
    missing: Annotated[list[PutbackMissingIn], msgspec.Meta(max_length=500)] = []
    note: Annotated[str, msgspec.Meta(max_length=255)] = ""


# A refused scan's answer (its codes and the input each is about: orderhub.picking.errors).
REFUSAL_STATUS = 422


def _refused(request: Request[Any, Any, Any], result: tasks.ScanResult | pack.PackResult) -> Response[Any]:
    body = {
        "type": f"urn:orderhub:problem:{result.code}",
        "title": result.message,
        "status": REFUSAL_STATUS,
        "code": result.code,
        "message": result.message,
        "field": refusal_field(result.code),
        "instance": request.url.path,
        **{k: v for k, v in msgspec.to_builtins(result).items() if k not in ("ok", "code", "message")},
    }
    return Response(body, status_code=REFUSAL_STATUS, media_type=PROBLEM_JSON)


def _answer(request: Request[Any, Any, Any], result: tasks.ScanResult | pack.PackResult) -> Response[Any]:
    return Response(result, status_code=200) if result.ok else _refused(request, result)


class PdaController(Controller):
    path = "/pda/v1"
    tags = ["pda"]
    dependencies = {"session": Provide(pda_session)}
    guards = [device_guard]

    @post(
        "/login",
        status_code=200,
        dependencies={"session": Provide(lambda: None, sync_to_thread=False)},
        summary="Sign in on a registered device: badge scan, or username and password",
        description="`device` is the registered device's code. The answer's `token` is the device session: send it as "
        "`Authorization: Bearer <token>` on every other /pda/v1 call, and on the floor websocket in the "
        "`Authorization` header or a first message `{\"type\":\"auth\",\"token\":…}` (never in the URL).",
    )
    async def login(self, request: Request[Any, Any, Any], data: LoginIn) -> LoginOut:
        token, session = await sign_in(
            data.device,
            badge=data.badge,
            username=data.username,
            password=data.password,
            address=request.client.host if request.client else None,
        )
        return LoginOut(
            token=token,
            expires_in=SESSION_TTL_SECONDS,
            user_id=session.user_id,
            name=session.name,
            role=session.role,
            warehouse=session.warehouse,
            device=session.device,
        )

    @post(
        "/logout",
        status_code=204,
        summary="End the device session",
        description="The session's token stops working; tasks the picker claimed stay claimed.",
    )
    async def logout(self, request: Request[Any, Any, Any], session: PdaSession) -> None:
        await end_session(_token(request))

    @get(
        "/station",
        summary="This device's own settings: kind, warehouse, how it prints labels",
        description="The signed-in device's code, name, kind and warehouse, and its label printing: `label_format` "
        "`pdf` (print `GET /pda/v1/pack/{pack_id}/label` in the browser) or `zpl` (`POST "
        "/pda/v1/pack/{pack_id}/print` sends the label to `printer_address`, `host:port`). Managers set them with "
        "`PATCH /api/v1/picking/devices/{code}`.",
    )
    async def station(self, session: PdaSession) -> StationView:
        return await station_settings(session)

    @get(
        "/tasks/next",
        summary="The task in progress, else the most urgent open task",
        description="What the PDA shows after sign-in: the picker's claimed task if any, otherwise the most urgent "
        "open task of the device's warehouse, with a zh-CN prompt.",
    )
    async def next_task(self, session: PdaSession) -> NextOut:
        task = await tasks.next_task(session)
        message = "暂无拣货任务" if task is None else ("继续当前任务" if task.status == "claimed" else "有新任务可领取")
        return NextOut(task=task, message=message)

    @post(
        "/tasks/{task_id:int}/claim",
        status_code=200,
        summary="Claim an open task (one PDA wins)",
        description="Takes an open task for the signed-in picker; when two PDAs claim the same task, one wins and the "
        "other gets 409 `task_taken`.",
    )
    async def claim(self, session: PdaSession, task_id: PathId) -> tasks.TaskView:
        return await tasks.claim_task(session, task_id)

    @get(
        "/tasks/{task_id:int}",
        summary="A task with its stops in pick-path order",
        description="The task's stops: location, SKU, barcode, quantity, and what was picked or reported short so "
        "far.",
    )
    async def task(self, session: PdaSession, task_id: PathId) -> tasks.TaskView:
        return await tasks.get_task(task_id, warehouse_id=session.warehouse_id)

    @post(
        "/scans",
        status_code=200,
        summary="Scan location / item / short / skip (idempotent per client_id)",
        description="`kind`: location (the shelf), item (a unit's barcode, `qty`), short (not enough on the shelf, "
        "`reason`) or skip. A repeated `client_id` answers the first answer again, so an offline PDA may resend "
        "safely; a refused scan answers a problem with a zh-CN prompt.",
    )
    async def scan(self, request: Request[Any, Any, Any], session: PdaSession, data: ScanIn) -> Response[Any]:
        command = msgspec.convert(msgspec.to_builtins(data), tasks.ScanCommand)
        return _answer(request, await tasks.scan(session, command))

    @post(
        "/tasks/{task_id:int}/complete",
        status_code=200,
        summary="Finish a task (every line picked or short)",
        description="Closes the task once every line is picked or reported short; its orders move on to the pack "
        "station.",
    )
    async def complete(self, session: PdaSession, task_id: PathId) -> tasks.TaskView:
        return await tasks.complete_task(session, task_id)

    @get(
        "/putbacks",
        summary="Open put-back work (返架) of this warehouse",
        description="Units of orders cancelled after picking, to go back to their locations: where they are (tote "
        "slot `T{task}-{slot}` or the pack station) and, per SKU, the quantity and the location to return it to; "
        "oldest first. The floor websocket announces new ones (`putback.created`).",
    )
    async def putbacks(self, session: PdaSession) -> list[putback.PutbackView]:
        return await putback.list_putbacks(session.warehouse_id, status="open")

    @post(
        "/putbacks/{putback_id:int}/done",
        status_code=200,
        summary="The units are back on their locations: close the put-back",
        description="Closes the put-back (recorded on the order with who did it). Units not found go in `missing` per "
        "line; what no other order has reserved is written off the stock, the rest stays for the orders that reserved "
        "it (a `putback.short` alert asks for a count). Closing it again answers the same, so a PDA may resend safely.",
    )
    async def putback_done(self, session: PdaSession, putback_id: PathId, data: PutbackDoneIn) -> putback.PutbackView:
        return await putback.complete_putback(
            putback_id,
            missing={m.line_id: m.qty for m in data.missing},
            note=data.note,
            actor=f"pda:{session.username}",
            warehouse_id=session.warehouse_id,
        )

    @post(
        "/pack",
        status_code=200,
        summary="Pack station: scan the order or tote → the items to verify",
        description="Scan an order number or a tote: the order's items to verify at this station, with the expected "
        "weight.",
    )
    async def pack_start(self, session: PdaSession, data: PackStartIn) -> pack.PackView:
        return await pack.start_pack(session, data.code)

    @post(
        "/pack/{pack_id:int}/scans",
        status_code=200,
        summary="Verify one unit (idempotent per client_id)",
        description="Scan one unit's barcode against the order; a wrong item or one too many is refused with a zh-CN "
        "prompt. A repeated `client_id` answers the first answer again.",
    )
    async def pack_scan(
        self, request: Request[Any, Any, Any], session: PdaSession, pack_id: PathId, data: PackScanIn
    ) -> Response[Any]:
        return _answer(request, await pack.pack_scan(session, pack_id, data.client_id, data.barcode))

    @post(
        "/pack/{pack_id:int}/waybill",
        status_code=200,
        summary="The packed order's waybill (idempotent)",
        description="The carrier's waybill for the packed order (chosen and requested like the back office's); asking "
        "again gives the same waybill.",
    )
    async def pack_waybill(self, session: PdaSession, pack_id: PathId) -> waybills.WaybillView:
        order_id = await pack.packed_order(session, pack_id)
        return await waybills.request_waybill(order_id, actor=f"pda:{session.username}")

    @post(
        "/pack/{pack_id:int}/handover",
        status_code=200,
        summary="Handed to the courier: the order ships",
        description="The courier took the parcel: the order moves to shipped, stock is consumed, tracking starts and "
        "the platform write-back is queued.",
    )
    async def pack_handover(self, session: PdaSession, pack_id: PathId) -> waybills.WaybillView:
        order_id = await pack.packed_order(session, pack_id)
        return await waybills.hand_over(order_id, actor=f"pda:{session.username}")

    @get(
        "/pack/{pack_id:int}/label",
        summary="The packed order's label, PDF (76 × 130 mm)",
        description="The packed order's 电子面单 for the station's label printer.",
    )
    async def pack_label(self, session: PdaSession, pack_id: PathId) -> Response[bytes]:
        order_id = await pack.packed_order(session, pack_id)
        data = await waybills.label_data(order_id, actor=f"pda:{session.username}")
        return Response(label_pdf([data]), media_type="application/pdf")

    @post(
        "/pack/{pack_id:int}/print",
        status_code=200,
        summary="Print the packed order's label on the station's network printer (ZPL)",
        description="Sends the packed order's 电子面单 as ZPL over raw TCP to the station's printer "
        "(`printer_address`, a Zebra's port 9100): `{printed, printer, bytes}`. A station set to print PDFs in the "
        "browser (or without an address) answers 409 `printer_not_configured`; a printer that refuses the "
        "connection or does not take the label within 5 s answers 502 `printer_unreachable`. Each call prints once "
        "more.",
    )
    async def pack_print(self, session: PdaSession, pack_id: PathId) -> printing.PrintResult:
        order_id = await pack.packed_order(session, pack_id)
        printer = await station_printer(session)
        return await printing.print_label(order_id, printer.host, printer.port, actor=f"pda:{session.username}")

    @post(
        "/waves/{wave:str}/waybills",
        status_code=200,
        summary="Waybills for every order of a wave of this warehouse (refusals reported per order)",
        description="Requests a waybill for each order of the wave (by number or code) in the device's warehouse that "
        "has none yet, answering each order's result.",
    )
    async def wave_waybills(self, session: PdaSession, wave: PathWave) -> list[waybills.BatchResult]:
        order_ids = await waybills.wave_orders(wave, warehouse_id=session.warehouse_id)
        return await waybills.request_waybills(order_ids, actor=f"pda:{session.username}")

    @get(
        "/waves/{wave:str}/labels",
        summary="Every label of a wave in one PDF (76 × 130 mm pages) or ZPL",
        description="One document with a label per order of the wave that has a waybill (`format=pdf` or `zpl`); "
        "orders still without one are named in the `X-OrderHub-Missing-Waybills` header.",
    )
    async def wave_labels(
        self, session: PdaSession, wave: PathWave, format: Literal["pdf", "zpl"] = "pdf"
    ) -> Response[bytes]:
        labels, missing = await waybills.wave_labels(wave, warehouse_id=session.warehouse_id)
        return labels_response(labels, missing, format=format, name=f"wave-{wave}")

    @post(
        "/pack/{pack_id:int}/weigh",
        status_code=200,
        summary="Weigh; within tolerance and all verified → packed",
        description="The scale's reading in grams against the expected weight (items + packaging, within the "
        "warehouse's tolerance): when every unit is verified and the weight matches, the order is packed; otherwise a "
        "zh-CN prompt says what is wrong.",
    )
    async def weigh(
        self, request: Request[Any, Any, Any], session: PdaSession, pack_id: PathId, data: WeighIn
    ) -> Response[Any]:
        return _answer(request, await pack.weigh(session, pack_id, data.client_id, data.weight_g))

