"""Sign in (throttled: ``orderhub.auth.throttle``), the current user, sign out (this token, or every token)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.security.jwt import Token

from api.common import present
from api.security import Tokens
from orderhub.auth import revocation
from orderhub.auth.service import UserView, revoke_tokens
from orderhub.auth.service import login as password_login

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

    @post(
        "/login",
        status_code=200,
        summary="Exchange username and password for a bearer token",
        description="Send the token as `Authorization: Bearer <token>` on every other call; it expires after "
        "`expires_in` seconds. A wrong username or password answers 401.",
    )
    async def login(self, request: Request[Any, Any, Any], data: LoginRequest, tokens: Tokens) -> LoginResponse:
        address = request.client.host if request.client else None  # behind the proxy: X-Forwarded-For's
        user = await password_login(data.username, data.password, address=address)
        return LoginResponse(
            access_token=tokens.issue(user), token_type="bearer", expires_in=tokens.ttl_seconds, role=user.role
        )

    @get(
        "/me",
        summary="The signed-in user",
        description="Who the bearer token belongs to: username, role and the warehouse the account is bound to.",
    )
    async def me(self, request: Request[UserView, Any, Any]) -> MeOut:
        return present(request.user, MeOut)

    @post(
        "/logout",
        status_code=204,
        summary="Sign out: this bearer token stops working",
        description="Revokes the token the request carries (until it would have expired anyway); the user's other "
        "tokens keep working.",
    )
    async def logout(self, request: Request[UserView, Token, Any]) -> None:
        token = request.auth
        if isinstance(token.jti, str):
            await revocation.revoke(token.jti, token.exp)
        else:  # a token issued before tokens had ids: only revoking them all stops it
            await revoke_tokens(request.user.id)

    @post(
        "/logout-all",
        status_code=204,
        summary="Sign out everywhere: every token of the user stops working",
        description="Revokes every token issued to the signed-in user so far, on every device: for a lost phone or a "
        "shared password.",
    )
    async def logout_all(self, request: Request[UserView, Token, Any]) -> None:
        await revoke_tokens(request.user.id)
