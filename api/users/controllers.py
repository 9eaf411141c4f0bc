"""Staff accounts (admin only)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import Parameter

from api.common import MAX_INT, Str100, changes_of, present
from api.security import requires
from orderhub.auth import service
from orderhub.auth.service import NewUser, Role

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


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["users"]
    guards = [requires(Role.ADMIN)]

    @post("/")
    async def create(self, data: UserIn) -> UserOut:
        return present(await service.create_user(msgspec.convert(msgspec.to_builtins(data), NewUser)), UserOut)

    @get("/")
    async def list_all(self) -> list[UserOut]:
        return present(await service.list_users(), list[UserOut])

    @patch("/{user_id:int}")
    async def update(self, user_id: Annotated[int, Parameter(ge=1, le=MAX_INT)], data: UserPatch) -> UserOut:
        return present(await service.update_user(user_id, changes_of(data)), UserOut)
