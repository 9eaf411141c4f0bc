"""Login and the current user."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post

from api.common import present
from api.security import Tokens
from orderhub.auth.service import UserView, authenticate

__all__ = ["AuthController", "LoginRequest", "LoginResponse", "MeOut"]


class LoginRequest(msgspec.Struct, kw_only=True):
    username: str
    password: str


class LoginResponse(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int
    role: str


class MeOut(msgspec.Struct, kw_only=True):
    id: int
    username: str
    display_name: str
    role: str
    warehouse: str | None


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/login", status_code=200, summary="Exchange username and password for a bearer token")
    async def login(self, data: LoginRequest, tokens: Tokens) -> LoginResponse:
        user = await authenticate(data.username, data.password)
        return LoginResponse(
            access_token=tokens.issue(user), token_type="bearer", expires_in=tokens.ttl_seconds, role=user.role
        )

    @get("/me", summary="The signed-in user")
    async def me(self, request: Request[UserView, Any, Any]) -> MeOut:
        return present(request.user, MeOut)
