"""Staff accounts (admin only)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import Parameter

from api.common import MAX_INT, Str100, changes_of, present
from orderhub.auth import service
from orderhub.auth.policy import check_warehouse
from orderhub.auth.service import NewUser, UserView
from orderhub.errors import NotFound

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


class UserPatch(msgspec.Struct, kw_only=True):
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=128)] | msgspec.UnsetType = msgspec.UNSET
    role: str | msgspec.UnsetType = msgspec.UNSET
    display_name: Str100 | msgspec.UnsetType = msgspec.UNSET
    warehouse: str | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    badge: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType | None = msgspec.UNSET
    wecom_userid: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType = msgspec.UNSET


class UserOut(msgspec.Struct, kw_only=True):
    id: int
    username: str
    display_name: str
    role: str
    warehouse: str | None
    active: bool
    badge: str | None = None
    wecom_userid: str = ""


class UnlockOut(msgspec.Struct, kw_only=True):
    user_id: int
    username: str
    was_locked: bool


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["users"]

    @post(
        "/",
        summary="Create a staff account",
        description="Username, password (8+ characters, stored hashed), role, optionally the warehouse it is bound "
        "to, a badge for PDA sign-in and a WeCom user id for staff alerts.",
    )
    async def create(self, data: UserIn) -> UserOut:
        return present(await service.create_user(msgspec.convert(msgspec.to_builtins(data), NewUser)), UserOut)

    @get(
        "/",
        summary="List every staff account",
        description="Accounts with role, warehouse, badge and active flag; passwords are never returned.",
    )
    async def list_all(self) -> list[UserOut]:
        return present(await service.list_users(), list[UserOut])

    @patch(
        "/{user_id:int}",
        summary="Change a staff account: password, role, warehouse, badge or active flag",
        description="Only the fields sent change. `active: false` ends the account's access.",
    )
    async def update(self, user_id: Annotated[int, Parameter(ge=1, le=MAX_INT)], data: UserPatch) -> UserOut:
        return present(await service.update_user(user_id, changes_of(data)), UserOut)

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
