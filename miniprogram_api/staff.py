"""Staff sign-in on the WeChat mini-program: ``wx.login``'s code → the bound staff account's bearer token (the same
kind ``/api/v1/auth/login`` issues: every back-office endpoint takes it, with the account's role and warehouse), and
binding a WeChat user to an account once (a manager's binding code, or the phone number on the account)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post

from api.security import Tokens
from orderhub.auth import miniprogram
from orderhub.auth.service import UserView

__all__ = ["StaffController"]

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class LoginIn(msgspec.Struct, kw_only=True):
    code: Code  # wx.login()'s code


class BindIn(msgspec.Struct, kw_only=True):
    code: Code  # wx.login()'s code
    binding_code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # typed or scanned (QR)
    phone_code: Code | None = None  # the getPhoneNumber button's e.detail.code


class StaffSessionOut(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int
    role: str
    user_id: int
    username: str
    display_name: str
    warehouse: str | None


def _address(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None  # behind the proxy: X-Forwarded-For's


def _session(tokens: Tokens, user: UserView, key: str) -> StaffSessionOut:
    return StaffSessionOut(
        access_token=tokens.issue(user, mp_session=key),
        token_type="bearer",
        expires_in=tokens.ttl_seconds,
        role=user.role,
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        warehouse=user.warehouse,
    )


class StaffController(Controller):
    path = "/mp/v1/auth"
    tags = ["mini-program"]

    @post(
        "/login",
        status_code=200,
        opt={"public": True},
        summary="Staff sign-in in the mini-program: wx.login's code → a bearer token",
        description="WeChat turns the code into the user's openid (code2Session); the staff account bound to it "
        "signs in and gets the same bearer token as `/api/v1/auth/login` (role, warehouse scope, `expires_in`). "
        "The token stops working at once when the account is deactivated, its role, warehouse or password "
        "changes, or its WeChat binding is removed. Refusals: 401 `mp_not_bound` (bind first), 403 "
        "`mp_account_disabled`, 401 `mp_code_invalid` (WeChat 40029: call wx.login again), 429 "
        "`mp_wechat_rate_limited` (45011, with Retry-After), 403 `mp_user_blocked` (40226), 429 "
        "`too_many_attempts` (too many failed sign-ins from this address).",
    )
    async def login(self, request: Request[Any, Any, Any], data: LoginIn, tokens: Tokens) -> StaffSessionOut:
        user, key = await miniprogram.login(data.code, address=_address(request))
        return _session(tokens, user, key)

    @post(
        "/bind",
        status_code=200,
        opt={"public": True},
        summary="Bind this WeChat user to a staff account, then sign in",
        description="With `binding_code` (the one-time code a manager created for the employee, typed or scanned "
        "from its QR) or with `phone_code` (the getPhoneNumber button's code: the number WeChat vouches for must "
        "be the one on exactly one active account) — one of the two. Answers like `/mp/v1/auth/login`. A "
        "refused binding leaves the binding code unused. Refusals: 422 `mp_binding_code_invalid` (unknown, used, "
        "replaced or expired), 422 `mp_phone_not_matched`, 409 `mp_openid_taken` (this WeChat is bound to "
        "another account), 409 `mp_already_bound` (by phone, the account has another WeChat), and WeChat's as at "
        "login.",
    )
    async def bind(self, request: Request[Any, Any, Any], data: BindIn, tokens: Tokens) -> StaffSessionOut:
        user, key = await miniprogram.bind(
            data.code, binding_code=data.binding_code, phone_code=data.phone_code, address=_address(request)
        )
        return _session(tokens, user, key)
