"""Approval flows as data: create a flow, add versions of its definition, switch it on or off, read them.

A version is written once and never changed; a flow's ``current_version`` is the one new requests start on.
Requests in flight keep the version they started with (they store its id), so editing a flow never rewrites an
approval under way. Every change is an entry in the flow's audit chain (``flow:{code}``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.approvals import audit, people
from orderhub.approvals.errors import ApprovalError
from orderhub.approvals.model import ByUser, FlowDefinition, decode_definition, encode_definition
from orderhub.errors import Conflict, NotFound, ValidationFailed

__all__ = [
    "FlowVersionView",
    "FlowView",
    "NewFlow",
    "add_version",
    "create_flow",
    "get_flow",
    "get_version",
    "list_flows",
    "list_versions",
    "set_active",
]

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class NewFlow(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    name: str
    definition: Any  # a FlowDefinition or its JSON form
    active: bool = True


class FlowView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    code: str
    name: str
    active: bool
    version: int  # the current version's number
    version_id: int
    definition: FlowDefinition
    created_by: str
    created_at: datetime
    updated_at: datetime


class FlowVersionView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    flow_id: int
    flow_code: str
    version: int
    definition: FlowDefinition
    created_by: str
    created_at: datetime


class _FlowRow(msgspec.Struct, kw_only=True):
    id: int
    code: str
    name: str
    active: bool
    version: int
    version_id: int
    definition: str
    created_by: str
    created_at: datetime
    updated_at: datetime


class _VersionRow(msgspec.Struct, kw_only=True):
    id: int
    flow_id: int
    flow_code: str
    version: int
    definition: str
    created_by: str
    created_at: datetime


_FLOW_SELECT = (
    "SELECT f.id, f.code, f.name, f.active, f.current_version AS version, v.id AS version_id, v.definition, "
    "f.created_by, f.created_at, f.updated_at FROM approval_flow f "
    "JOIN approval_flow_version v ON v.flow = f.id AND v.version = f.current_version"
)
_VERSION_SELECT = (
    "SELECT v.id, v.flow AS flow_id, f.code AS flow_code, v.version, v.definition, v.created_by, v.created_at "
    "FROM approval_flow_version v JOIN approval_flow f ON f.id = v.flow"
)


def _view(row: _FlowRow) -> FlowView:
    return FlowView(
        id=row.id,
        code=row.code,
        name=row.name,
        active=row.active,
        version=row.version,
        version_id=row.version_id,
        definition=msgspec.json.decode(row.definition, type=FlowDefinition),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _version_view(row: _VersionRow) -> FlowVersionView:
    return FlowVersionView(
        id=row.id,
        flow_id=row.flow_id,
        flow_code=row.flow_code,
        version=row.version,
        definition=msgspec.json.decode(row.definition, type=FlowDefinition),
        created_by=row.created_by,
        created_at=row.created_at,
    )


async def _checked(raw: Any) -> FlowDefinition:
    """Validated as a whole, and every user it names exists and is active."""
    definition = decode_definition(raw, roles=people.ROLES)
    named = sorted(
        {
            u
            for step in definition.steps
            for spec in (*step.approvers, *step.cc)
            if isinstance(spec, ByUser)
            for u in spec.user_ids
        }
    )
    found = await people.persons(named)
    missing = [u for u in named if u not in found or not found[u].active]
    if missing:
        raise ValidationFailed(
            f"用户不存在或已停用：{'、'.join(map(str, missing))}",
            code=ApprovalError.APPROVAL_BAD_DEFINITION,
            field="definition",
        )
    return definition


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("流程名称不能为空，且不超过 100 个字符", field="name")
    return name


async def _insert_version(flow_id: int, code: str, definition: FlowDefinition, actor: str, now: datetime) -> int:
    # Raw SQL: the next number is an UPDATE of the flow's row (concurrent editors queue behind each other).
    (row,) = await db.execute_returning(
        _Number,
        "UPDATE approval_flow SET current_version = current_version + 1, updated_at = {} WHERE id = {} "
        "RETURNING current_version",
        now,
        flow_id,
    )
    await db.execute(
        "INSERT INTO approval_flow_version (flow, version, definition, created_by, created_at) "
        "VALUES ({}, {}, {}, {}, {})",
        flow_id,
        row.current_version,
        encode_definition(definition),
        actor[:64],
        now,
    )
    await audit.append(
        audit.flow_chain(code),
        "version_added",
        actor=actor,
        request_id=None,
        at=now,
        data={"version": row.current_version, "definition": msgspec.to_builtins(definition)},
    )
    return row.current_version


class _Number(msgspec.Struct):
    current_version: int


async def create_flow(cmd: NewFlow, *, actor: str) -> FlowView:
    """A new flow with its version 1."""
    code = cmd.code.strip()
    if not _CODE.match(code):
        raise ValidationFailed("流程编码只能包含字母、数字、_ . -，且不超过 64 个字符", field="code")
    name = _check_name(cmd.name)
    definition = await _checked(cmd.definition)
    now = clock.now()
    async with db.transaction():
        inserted = await db.execute_returning(
            db.IdRow,
            "INSERT INTO approval_flow (code, name, active, current_version, created_by, created_at, updated_at) "
            "VALUES ({}, {}, {}, 0, {}, {}, {}) ON CONFLICT (code) DO NOTHING RETURNING id",
            code,
            name,
            cmd.active,
            actor[:64],
            now,
            now,
        )
        if not inserted:
            raise Conflict(f"审批流程编码 {code} 已存在", code=ApprovalError.APPROVAL_FLOW_EXISTS, field="code")
        await audit.append(
            audit.flow_chain(code),
            "flow_created",
            actor=actor,
            request_id=None,
            at=now,
            data={"code": code, "name": name, "active": cmd.active},
        )
        await _insert_version(inserted[0].id, code, definition, actor, now)
    return await get_flow(code)


async def _flow_id(code: str) -> int:
    row = await db.fetch_one_as(db.IdRow, "SELECT id FROM approval_flow WHERE code = {}", code)
    if row is None:
        raise NotFound(f"审批流程 {code} 不存在", code=ApprovalError.APPROVAL_FLOW_NOT_FOUND, field="code")
    return row.id


async def add_version(code: str, definition: Any, *, actor: str, name: str | None = None) -> FlowView:
    """A new version of the flow's definition becomes current; requests already open stay on theirs."""
    checked = await _checked(definition)
    new_name = _check_name(name) if name is not None else None
    now = clock.now()
    async with db.transaction():
        flow_id = await _flow_id(code)
        if new_name is not None:
            await db.execute("UPDATE approval_flow SET name = {} WHERE id = {}", new_name, flow_id)
        await _insert_version(flow_id, code, checked, actor, now)
    return await get_flow(code)


async def set_active(code: str, active: bool, *, actor: str) -> FlowView:
    """Switch a flow on or off: off, no new request starts on it (requests in flight go on)."""
    now = clock.now()
    async with db.transaction():
        flow_id = await _flow_id(code)
        await db.execute("UPDATE approval_flow SET active = {}, updated_at = {} WHERE id = {}", active, now, flow_id)
        await audit.append(
            audit.flow_chain(code), "flow_switched", actor=actor, request_id=None, at=now, data={"active": active}
        )
    return await get_flow(code)


async def get_flow(code: str) -> FlowView:
    row = await db.fetch_one_as(_FlowRow, _FLOW_SELECT + " WHERE f.code = {}", code)
    if row is None:
        raise NotFound(f"审批流程 {code} 不存在", code=ApprovalError.APPROVAL_FLOW_NOT_FOUND, field="code")
    return _view(row)


async def list_flows(*, active: bool | None = None) -> list[FlowView]:
    where, args = ("", []) if active is None else (" WHERE f.active = {}", [active])
    return [_view(r) for r in await db.fetch_as(_FlowRow, _FLOW_SELECT + where + " ORDER BY f.code", *args)]


async def get_version(version_id: int) -> FlowVersionView:
    """A version by id (what a request records)."""
    row = await db.fetch_one_as(_VersionRow, _VERSION_SELECT + " WHERE v.id = {}", version_id)
    if row is None:
        raise NotFound("审批流程版本不存在", code=ApprovalError.APPROVAL_FLOW_NOT_FOUND, field="version_id")
    return _version_view(row)


async def list_versions(code: str) -> list[FlowVersionView]:
    flow_id = await _flow_id(code)
    rows = await db.fetch_as(_VersionRow, _VERSION_SELECT + " WHERE v.flow = {} ORDER BY v.version DESC", flow_id)
    return [_version_view(r) for r in rows]
