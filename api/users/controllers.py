"""Staff accounts (admin only); unlocking and the mini-program binding (a warehouse's manager for its staff)."""

from __future__ import annotations

import base64
import io
from datetime import datetime
from typing import Annotated, Any

import msgspec
import segno
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import Parameter

from api.common import MAX_INT, Id, Str100, changes_of, present
from orderhub import db
from orderhub.approvals import people
from orderhub.approvals.errors import ApprovalError
from orderhub.auth import miniprogram, service
from orderhub.auth.policy import check_warehouse
from orderhub.auth.service import NewUser, UserView
from orderhub.errors import NotFound, ValidationFailed

__all__ = ["UserController"]


class UserIn(msgspec.Struct, kw_only=True):
    # 48: the audit log records "user:<username>" in 64 characters.
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=48)]
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=128)]
    role: str
    display_name: Str100 = ""
    warehouse: str | None = None
    badge: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    wecom_userid: Annotated[str, msgspec.Meta(max_length=64)] = ""
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None  # mainland mobile; sealed at rest
    manager_id: Id | None = None  # their manager's user id (approvals: "the requester's manager", escalation)


class UserPatch(msgspec.Struct, kw_only=True):
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=128)] | msgspec.UnsetType = msgspec.UNSET
    role: str | msgspec.UnsetType = msgspec.UNSET
    display_name: Str100 | msgspec.UnsetType = msgspec.UNSET
    warehouse: str | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    badge: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType | None = msgspec.UNSET
    wecom_userid: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType = msgspec.UNSET
    phone: Annotated[str, msgspec.Meta(max_length=32)] | msgspec.UnsetType | None = msgspec.UNSET  # null: remove
    manager_id: Id | msgspec.UnsetType | None = msgspec.UNSET  # null: none


class UserOut(msgspec.Struct, kw_only=True):
    id: int
    username: str
    display_name: str
    role: str
    warehouse: str | None
    active: bool
    badge: str | None = None
    wecom_userid: str = ""
    phone: str = ""  # masked (139****5678)
    mp_bound: bool = False  # a WeChat user signs in to the mini-program as this account
    manager_id: int | None = None  # their manager (approvals)


class UnlockOut(msgspec.Struct, kw_only=True):
    user_id: int
    username: str
    was_locked: bool


class BindingCodeOut(msgspec.Struct, kw_only=True):
    user_id: int
    username: str
    code: str  # shown once: only its hash is kept
    expires_at: datetime
    qr_png: str  # the code as a QR image: a data URL (data:image/png;base64,…) for an <img> / <image> tag


class UnbindOut(msgspec.Struct, kw_only=True):
    user_id: int
    was_bound: bool


def _out(user: UserView) -> UserOut:
    out = present(user, UserOut)
    out.mp_bound = user.mp_openid is not None
    return out


async def _create(new: NewUser, manager_id: int | None) -> UserView:
    """The account and its manager in one transaction: a manager refused (unknown) leaves no account behind."""
    if manager_id is None:
        return await service.create_user(new)
    if await people.person(manager_id) is None:  # the common refusal before hashing the password
        raise ValidationFailed(ApprovalError.APPROVAL_BAD_MANAGER, field="manager_id")
    async with db.transaction():  # create_user's own transaction joins this one
        user = await service.create_user(new)
        await people.set_manager(user.id, manager_id)
    return msgspec.structs.replace(user, manager_id=manager_id)


async def _update(user_id: int, changes: dict[str, Any]) -> UserView:
    """The manager and the other fields in one transaction: a bad manager (unknown, the account itself, a cycle)
    or a refused field leaves everything as it was. The manager is written first (``set_manager`` locks the staff
    rows on PostgreSQL, so two changes cannot close a cycle between them); the account's own checks follow."""
    if "manager_id" not in changes:
        return await service.update_user(user_id, changes)
    manager_id = changes.pop("manager_id")
    async with db.transaction():  # set_manager's and update_user's transactions join this one
        await people.set_manager(user_id, manager_id)
        return await service.update_user(user_id, changes)


def _qr_png(text: str) -> str:
    buffer = io.BytesIO()
    segno.make_qr(text, error="m").save(buffer, kind="png", scale=8, border=4)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["users"]

    @post(
        "/",
        summary="Create a staff account",
        description="Username, password (8+ characters, stored hashed), role, optionally the warehouse it is bound "
        "to, a badge for PDA sign-in, a WeCom user id for staff alerts and approval cards, and `manager_id` — "
        "the manager an approval flow's `manager` approvers and overdue approvals go to (422 "
        "`approval_bad_manager` for an unknown one).",
    )
    async def create(self, data: UserIn) -> UserOut:
        fields = msgspec.to_builtins(data)
        manager_id = fields.pop("manager_id", None)
        return _out(await _create(msgspec.convert(fields, NewUser), manager_id))

    @get(
        "/",
        summary="List every staff account",
        description="Accounts with role, warehouse, badge and active flag; passwords are never returned.",
    )
    async def list_all(self) -> list[UserOut]:
        return [_out(user) for user in await service.list_users()]

    @patch(
        "/{user_id:int}",
        summary="Change a staff account: password, role, warehouse, badge, manager or active flag",
        description="Only the fields sent change. `active: false` ends the account's access. `manager_id` (null: "
        "none) is written in the same transaction as the other fields: never an unknown account, the account "
        "itself nor a cycle (422 `approval_bad_manager`, field `manager_id`); any refusal leaves the whole "
        "account as it was.",
    )
    async def update(self, user_id: Annotated[int, Parameter(ge=1, le=MAX_INT)], data: UserPatch) -> UserOut:
        return _out(await _update(user_id, changes_of(data)))

    @post(
        "/{user_id:int}/unlock",
        status_code=200,
        summary="Lift a sign-in lock (too many failed attempts); a warehouse's manager for its staff",
        description="After too many failed sign-ins an account is locked for a while; this lifts the lock now. "
        "`was_locked` says whether there was one. A manager bound to a warehouse may unlock that warehouse's staff "
        "only.",
    )
    async def unlock(
        self, request: Request[UserView, Any, Any], user_id: Annotated[int, Parameter(ge=1, le=MAX_INT)]
    ) -> UnlockOut:
        target = await service.get_user(user_id)
        if target is None:
            raise NotFound("用户不存在", field="user_id")
        check_warehouse(request.user.warehouse_id, target.warehouse_id, field="user_id")
        was_locked = await service.unlock_user(user_id)
        return UnlockOut(user_id=user_id, username=target.username, was_locked=was_locked)

    @post(
        "/{user_id:int}/mp-binding-code",
        status_code=201,
        summary="A one-time code that binds an employee's WeChat to their account (mini-program sign-in)",
        description="The employee enters the code (or scans `qr_png`) in the mini-program on first sign-in "
        "(`POST /mp/v1/auth/bind`); from then on `wx.login` alone signs them in. Valid 24 hours, once; a new code "
        "replaces the account's earlier unused ones. Shown only in this answer (the hub keeps a hash). An admin "
        "issues codes for any account; a manager for the pickers, packers, finance and approvers of their "
        "warehouse (403 `mp_binding_not_allowed` otherwise).",
    )
    async def binding_code(
        self, request: Request[UserView, Any, Any], user_id: Annotated[int, Parameter(ge=1, le=MAX_INT)]
    ) -> BindingCodeOut:
        issued = await miniprogram.create_binding_code(user_id, issuer=request.user)
        return BindingCodeOut(
            user_id=issued.user_id,
            username=issued.username,
            code=issued.code,
            expires_at=issued.expires_at,
            qr_png=_qr_png(issued.code),
        )

    @delete(
        "/{user_id:int}/mp-binding",
        status_code=200,
        summary="Unbind an employee's WeChat: their mini-program sessions end at once",
        description="For a lost phone or a changed WeChat account: the next mini-program sign-in as this account "
        "needs a new binding (a binding code or the phone). Back-office tokens are not touched. `was_bound` says "
        "whether there was a binding. A manager bound to a warehouse may unbind that warehouse's staff only.",
    )
    async def unbind(
        self, request: Request[UserView, Any, Any], user_id: Annotated[int, Parameter(ge=1, le=MAX_INT)]
    ) -> UnbindOut:
        target = await service.get_user(user_id)
        if target is None:
            raise NotFound("用户不存在", field="user_id")
        check_warehouse(request.user.warehouse_id, target.warehouse_id, field="user_id")
        return UnbindOut(user_id=user_id, was_bound=await miniprogram.unbind(user_id))
