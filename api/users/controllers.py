"""Staff accounts (admin only)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, patch, post

from api.common import changes_of, present
from api.security import requires
from orderhub.auth import service
from orderhub.auth.service import NewUser, Role

__all__ = ["UserController"]


class UserIn(msgspec.Struct, kw_only=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=128)]
    role: str
    display_name: str = ""
    warehouse: str | None = None


class UserPatch(msgspec.Struct, kw_only=True):
    password: str | msgspec.UnsetType = msgspec.UNSET
    role: str | msgspec.UnsetType = msgspec.UNSET
    display_name: str | msgspec.UnsetType = msgspec.UNSET
    warehouse: str | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class UserOut(msgspec.Struct, kw_only=True):
    id: int
    username: str
    display_name: str
    role: str
    warehouse: str | None
    active: bool


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
    async def update(self, user_id: int, data: UserPatch) -> UserOut:
        return present(await service.update_user(user_id, changes_of(data)), UserOut)
