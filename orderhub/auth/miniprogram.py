"""Staff on the WeChat mini-program: who a ``wx.login`` code signs in as, and how an account gets bound to a WeChat
user.

- **Login** (:func:`login`): WeChat turns the code into the user's openid (code2Session, through the
  ``MINIPROGRAM_IDENTITIES`` adapter over the ``wechat_subscribe`` provider's appid and secret); the account bound to
  that openid signs in — with its role and warehouse, as in the back office. Throttled per client address like the
  password sign-in (:mod:`orderhub.auth.throttle`).
- **Binding** (:func:`bind`): once, with a one-time binding code a manager or admin created for the employee
  (:func:`create_binding_code`: shown as text and as a QR code, stored as a keyed hash, valid for
  :data:`BINDING_TTL`, consumed atomically), or with the phone number WeChat vouches for (getPhoneNumber) when it is
  the one on the employee's account. One openid ↔ one account (a unique index on ``app_user.mp_openid``).
- **Sessions end at once**: the bearer token carries the account's ``token_version`` (a role, warehouse, active or
  password change bumps it) and :func:`session_key` of the bound openid, so unbinding or rebinding ends the
  mini-program's tokens without touching the back office's.

WeChat's refusals (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html:
40029 code 无效, 45011 频率限制 每个用户每分钟 100 次, 40226 高风险等级用户 小程序登录拦截, -1 系统繁忙) each
answer with a code of their own (:class:`orderhub.auth.errors.AuthError`).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import datetime, timedelta

import msgspec

from orderhub import clock, crypto, db
from orderhub.address.phones import mobile_number
from orderhub.auth import throttle
from orderhub.auth.errors import AuthError
from orderhub.auth.policy import check_warehouse
from orderhub.auth.service import Role, UserView, get_user, phone_key
from orderhub.auth.tables import MpBindingCode, User
from orderhub.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    OrderHubError,
    PermissionDenied,
    ServiceUnavailable,
    TooManyAttempts,
    ValidationFailed,
)
from orderhub.notifications import config
from orderhub.notifications.port import (
    MINIPROGRAM_IDENTITIES,
    MiniProgramIdentity,
    NotifierChannel,
    NotifyError,
    SharedPhone,
    ThrottledNotifyError,
    TransientNotifyError,
)
from orderhub.settings import get_settings

__all__ = [
    "BINDING_TTL",
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "BindingCode",
    "bind",
    "create_binding_code",
    "login",
    "normalise_code",
    "session_key",
    "unbind",
]

log = logging.getLogger("orderhub.auth")

BINDING_TTL = timedelta(hours=24)
# 32 symbols without 0/O and 1/I (read aloud or typed from a screen): 10 of them are 50 bits, and guesses are
# throttled per client address besides.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 10
# Roles a manager may issue a binding code for: a code signs in as the account, so a manager never gets one for an
# admin or another manager (an admin issues those).
_BELOW_MANAGER = frozenset({Role.PICKER.value, Role.PACKER.value, Role.FINANCE.value, Role.APPROVER.value})
_WECHAT_CODE_INVALID = frozenset({"40029", "40163"})  # invalid code / code been used
_WECHAT_RATE_LIMITED = "45011"
_WECHAT_BLOCKED = "40226"
_RATE_LIMIT_WAIT = 60  # 45011 is a per-minute quota


class BindingCode(msgspec.Struct, frozen=True, kw_only=True):
    user_id: int
    username: str
    code: str  # shown once; only its keyed hash is kept
    expires_at: datetime


def normalise_code(text: str) -> str:
    """What a binding code is compared as: upper case, separators and spaces dropped (``k7qm-3xdp 9a`` →
    ``K7QM3XDP9A``)."""
    return "".join(ch for ch in text.upper() if ch.isalnum())[:64]


def _code_hash(code: str) -> str:
    return crypto.hmac_sha256_hex(f"orderhub:mp-binding:{get_settings().secret_key}", normalise_code(code).encode())


def session_key(openid: str) -> str:
    """What a mini-program token carries of the openid it was issued for (a keyed hash: the token is readable)."""
    return crypto.hmac_sha256_hex(f"orderhub:mp-session:{get_settings().secret_key}", openid.encode())[:24]


def session_matches(user: UserView, key: object) -> bool:
    """Whether a mini-program token's ``key`` is still the user's binding (unbound or rebound: it is not)."""
    return user.mp_openid is not None and isinstance(key, str) and hmac.compare_digest(session_key(user.mp_openid), key)


# -- binding codes -----------------------------------------------------------------------------------------------


def _check_issuer(issuer: UserView, target: UserView) -> None:
    if issuer.role == Role.ADMIN.value:
        check_warehouse(issuer.warehouse_id, target.warehouse_id, field="user_id")
        return
    if issuer.role != Role.MANAGER.value or target.role not in _BELOW_MANAGER:
        raise PermissionDenied(AuthError.MP_BINDING_NOT_ALLOWED, field="user_id")
    check_warehouse(issuer.warehouse_id, target.warehouse_id, field="user_id")


async def create_binding_code(user_id: int, *, issuer: UserView) -> BindingCode:
    """A fresh one-time code that binds the first WeChat user who signs in with it to the account; it replaces the
    account's earlier unused codes. An admin issues codes for anyone (of their warehouse when bound to one); a
    manager for the staff below them of their warehouse."""
    target = await get_user(user_id)
    if target is None:
        raise NotFound("用户不存在", field="user_id")
    _check_issuer(issuer, target)
    if not target.active:
        raise Conflict(AuthError.MP_ACCOUNT_DISABLED, field="user_id")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    now = clock.now()
    expires_at = now + BINDING_TTL
    async with db.transaction():
        await MpBindingCode.delete().where((MpBindingCode.user == user_id) & MpBindingCode.used_at.is_null())
        await MpBindingCode.insert(
            MpBindingCode(
                code_hash=_code_hash(code),
                user=user_id,
                created_by=issuer.username[:64],
                created_at=now,
                expires_at=expires_at,
            )
        )
    log.info("mp binding code issued", extra={"user_id": user_id, "issued_by": issuer.id})
    return BindingCode(user_id=user_id, username=target.username, code=code, expires_at=expires_at)


class _UserRow(msgspec.Struct):
    user: int


async def _consume(code: str) -> int | None:
    """The account a still-valid code binds, the code marked used in the same statement (two redeeming it at once:
    one wins). Inside the caller's transaction: a refused binding gives the code back."""
    now = clock.now()
    rows = await db.execute_returning(
        _UserRow,
        "UPDATE mp_binding_code SET used_at = {} WHERE code_hash = {} AND used_at IS NULL AND expires_at > {} "
        'RETURNING "user"',
        now,
        _code_hash(code),
        now,
    )
    return rows[0].user if rows else None


async def unbind(user_id: int) -> bool:
    """The account's WeChat binding is removed (its mini-program tokens stop working at once); its unused binding
    codes go too. True when it was bound."""
    async with db.transaction():
        row = await User.select(User.mp_openid).where(User.id == user_id).first()
        if row is None:
            raise NotFound("用户不存在", field="user_id")
        await User.update({User.mp_openid: None}).where(User.id == user_id)
        await MpBindingCode.delete().where((MpBindingCode.user == user_id) & MpBindingCode.used_at.is_null())
    if row["mp_openid"]:
        log.info("mp binding removed", extra={"user_id": user_id})
    return bool(row["mp_openid"])


# -- WeChat ------------------------------------------------------------------------------------------------------


async def _identity() -> tuple[MiniProgramIdentity, dict[str, str]]:
    provider = await config.provider_config(NotifierChannel.WECHAT_SUBSCRIBE.value)
    if provider is None:
        raise Conflict(AuthError.MP_NOT_CONFIGURED, field="code")
    return MINIPROGRAM_IDENTITIES.get(NotifierChannel.WECHAT_SUBSCRIBE.value), provider


def _refusal(exc: NotifyError, field: str) -> OrderHubError:
    """WeChat's answer to a code as the hub's error (codes: code2Session's and getuserphonenumber's tables)."""
    if isinstance(exc, ThrottledNotifyError) or exc.code == _WECHAT_RATE_LIMITED:
        return TooManyAttempts(AuthError.MP_WECHAT_RATE_LIMITED, field=field, extra={"retry_after": _RATE_LIMIT_WAIT})
    if isinstance(exc, TransientNotifyError):
        return ServiceUnavailable(AuthError.MP_WECHAT_UNAVAILABLE, field=field)
    if exc.code in _WECHAT_CODE_INVALID:
        if field == "phone_code":
            return ValidationFailed(AuthError.MP_PHONE_CODE_INVALID, field=field)
        return AuthenticationFailed(AuthError.MP_CODE_INVALID, field=field)
    if exc.code == _WECHAT_BLOCKED:
        return PermissionDenied(AuthError.MP_USER_BLOCKED, field=field)
    return Conflict(
        f"{AuthError.MP_WECHAT_REFUSED.message}（微信错误码 {exc.code}）", code=AuthError.MP_WECHAT_REFUSED, field=field
    )


async def _openid(login_code: str) -> str:
    identity, provider = await _identity()
    try:
        openid = await identity.openid_of(provider, config.token_redis(), login_code)
    except NotifyError as exc:
        raise _refusal(exc, "code") from exc
    if not openid or len(openid) > 64:
        raise AuthenticationFailed(AuthError.MP_CODE_INVALID, field="code")
    return openid


async def _phone(phone_code: str) -> str:
    identity, provider = await _identity()
    try:
        shared: SharedPhone = await identity.phone_of(provider, config.token_redis(), phone_code)
    except NotifyError as exc:
        raise _refusal(exc, "phone_code") from exc
    number = mobile_number(shared.phone) if shared.country_code == "86" else None
    if number is None:
        raise ValidationFailed(AuthError.MP_PHONE_NOT_MATCHED, field="phone_code")
    return number


# -- login and binding -------------------------------------------------------------------------------------------


def _usable(user: UserView | None) -> UserView:
    if user is None:
        raise AuthenticationFailed(AuthError.MP_NOT_BOUND, field="code")
    if not user.active:
        raise PermissionDenied(AuthError.MP_ACCOUNT_DISABLED, field="code")
    return user


async def _bound_to(openid: str) -> UserView | None:
    row = await User.select(User.id).where(User.mp_openid == openid).first()
    return await get_user(int(row["id"])) if row is not None else None


async def login(login_code: str, *, address: str | None = None) -> tuple[UserView, str]:
    """The staff account bound to the WeChat user behind ``wx.login``'s code, and the session key its token
    carries. Unbound (401 ``mp_not_bound``) and deactivated (403 ``mp_account_disabled``) accounts are refused."""
    await _identity()  # unconfigured: say so before counting an attempt
    attempt = throttle.Attempt(address=address)
    await throttle.attempt(attempt)
    openid = await _openid(login_code)
    user = _usable(await _bound_to(openid))
    await throttle.succeeded(attempt)
    return user, session_key(openid)


async def bind(
    login_code: str, *, binding_code: str | None = None, phone_code: str | None = None, address: str | None = None
) -> tuple[UserView, str]:
    """Bind the WeChat user behind ``wx.login``'s code to a staff account — the one a binding code names, or the one
    whose phone WeChat vouches for — and sign in as it. A refusal leaves the binding code unused."""
    if (binding_code is None) == (phone_code is None):
        raise ValidationFailed(AuthError.MP_BIND_NEEDS_ONE, field="binding_code")
    await _identity()
    attempt = throttle.Attempt(address=address)
    await throttle.attempt(attempt)
    openid = await _openid(login_code)
    number = await _phone(phone_code) if phone_code is not None else None
    async with db.transaction():
        if binding_code is not None:
            user_id = await _consume(binding_code)
            if user_id is None:
                raise ValidationFailed(AuthError.MP_BINDING_CODE_INVALID, field="binding_code")
        else:
            assert number is not None
            rows = await User.select(User.id, User.mp_openid).where(
                (User.phone_key == phone_key(number)) & (User.active == True)  # noqa: E712
            )
            if len(rows) != 1:
                raise ValidationFailed(AuthError.MP_PHONE_NOT_MATCHED, field="phone_code")
            user_id = int(rows[0]["id"])
            if rows[0]["mp_openid"] not in (None, openid):
                raise Conflict(AuthError.MP_ALREADY_BOUND, field="phone_code")
        holder = await User.select(User.id).where(User.mp_openid == openid).first()
        if holder is not None and holder["id"] != user_id:
            raise Conflict(AuthError.MP_OPENID_TAKEN, field="code")
        user = _usable(await get_user(user_id))
        await User.update({User.mp_openid: openid}).where(User.id == user_id)
    await throttle.succeeded(attempt)
    log.info("mp binding made", extra={"user_id": user_id, "by": "binding_code" if binding_code else "phone"})
    bound = await get_user(user_id)
    return bound or user, session_key(openid)
