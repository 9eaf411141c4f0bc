"""Staff accounts: roles, password hashing (scrypt), authentication, bootstrap admin."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import anyio
import anyio.to_thread
import msgspec

from orderhub import clock, crypto, db
from orderhub.address.phones import mobile_number
from orderhub.auth import throttle
from orderhub.auth.errors import AuthError
from orderhub.auth.tables import User
from orderhub.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from orderhub.inventory.service import warehouse_id_for
from orderhub.settings import get_settings

__all__ = [
    "NewUser",
    "Role",
    "UserView",
    "authenticate",
    "authenticate_badge",
    "create_user",
    "ensure_admin",
    "get_user",
    "hash_password",
    "list_users",
    "login",
    "password_matches",
    "phone_key",
    "revoke_tokens",
    "unlock_user",
    "update_user",
    "verify_password",
]


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    PICKER = "picker"
    PACKER = "packer"
    FINANCE = "finance"
    APPROVER = "approver"


class NewUser(msgspec.Struct, frozen=True, kw_only=True):
    username: str
    password: str
    role: str
    display_name: str = ""
    warehouse: str | None = None
    badge: str | None = None
    wecom_userid: str = ""
    phone: str | None = None  # the employee's mainland mobile (binding the mini-program by phone); sealed at rest


class UserView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    username: str
    display_name: str
    role: str
    warehouse: str | None
    warehouse_id: int | None
    active: bool
    badge: str | None = None
    wecom_userid: str = ""
    token_version: int = 0  # a bearer token carries it; bumped to revoke every token of the user
    phone: str = ""  # masked (139****5678); "" when none is on file
    mp_openid: str | None = None  # the WeChat mini-program user bound to the account (never answered by the API)
    manager_id: int | None = None  # their manager (approvals: "the requester's manager", escalation)


_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
    )
    return hmac.compare_digest(candidate.hex(), digest)


# scrypt costs ~50-80 ms of CPU and 16 MiB: it runs in worker threads (it releases the GIL), a few at a time, so a
# burst of sign-ins (or of guesses) queues there instead of stalling the event loop and every other request.
_HASHING = anyio.CapacityLimiter(max(1, min(4, os.cpu_count() or 1)))


async def _hashed(password: str) -> str:
    return await anyio.to_thread.run_sync(hash_password, password, limiter=_HASHING)


async def password_matches(password: str, stored: str) -> bool:
    """:func:`verify_password` off the event loop."""
    return await anyio.to_thread.run_sync(verify_password, password, stored, limiter=_HASHING)


_DUMMY_HASH = hash_password(secrets.token_hex(8))
_COLUMNS = (*User.all_columns(exclude=[User.password_hash]), User.warehouse.code)


def _view(row: dict[str, Any]) -> UserView:
    return UserView(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        warehouse=row["warehouse.code"],
        warehouse_id=row["warehouse"],
        active=bool(row["active"]),
        badge=row.get("badge"),
        wecom_userid=str(row.get("wecom_userid") or ""),
        token_version=int(row.get("token_version") or 0),
        phone=_masked(row.get("phone_sealed") or ""),
        mp_openid=row.get("mp_openid") or None,
        manager_id=row.get("manager"),
    )


# -- the employee's phone: sealed at rest, found by a keyed hash, shown masked -----------------------------------


def _staff_phone(phone: str | None) -> str | None:
    """A mainland mobile as 11 digits; None for no phone; refused otherwise."""
    if phone is None or not phone.strip():
        return None
    number = mobile_number(phone)
    if number is None:
        raise ValidationFailed(AuthError.INVALID_PHONE, field="phone")
    return number


def phone_key(number: str) -> str:
    """The keyed hash an account is found by its phone with (the key derives from ``ORDERHUB_SECRET_KEY``)."""
    return crypto.hmac_sha256_hex(f"orderhub:staff-phone:{get_settings().secret_key}", number.encode())


def _phone_columns(number: str | None) -> dict[Any, str]:
    if number is None:
        return {User.phone_sealed: "", User.phone_key: ""}
    return {
        User.phone_sealed: crypto.encrypt(get_settings().secret_key, number.encode()),
        User.phone_key: phone_key(number),
    }


def _masked(sealed: str) -> str:
    if not sealed:
        return ""
    try:
        number = crypto.decrypt(get_settings().secret_key, sealed).decode()
    except ValueError:  # sealed under another secret key: the number is unreadable, not the account
        return "***"
    return number[:3] + "****" + number[-4:]


def _check_role(role: str) -> None:
    try:
        Role(role)
    except ValueError as exc:
        raise ValidationFailed(f"未知角色，可选：{'、'.join(r.value for r in Role)}", field="role") from exc


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise ValidationFailed("密码至少 8 位", field="password")


async def _check_badge(badge: str | None, *, user_id: int | None = None) -> str | None:
    """A badge code is unique: two people signing in with one badge would swap their scan records."""
    code = (badge or "").strip()
    if not code:
        return None
    if len(code) > 64:
        raise ValidationFailed("工牌号不超过 64 个字符", field="badge")
    holder = await User.select(User.id).where(User.badge == code).first()
    if holder is not None and holder["id"] != user_id:
        raise Conflict(f"工牌 {code} 已绑定其他员工", code=AuthError.DUPLICATE_BADGE, field="badge")
    return code


async def authenticate_badge(badge: str) -> UserView:
    """The active user a badge is bound to. An unknown badge and a disabled user's answer alike (not throttled:
    the caller counts the attempt, see ``orderhub.picking.sessions.sign_in``)."""
    code = badge.strip()
    row = await User.select(*_COLUMNS).where(User.badge == code).first() if code and len(code) <= 64 else None
    if row is None or not row["active"]:
        raise AuthenticationFailed(AuthError.INVALID_BADGE)
    return _view(row)


async def authenticate(username: str, password: str) -> UserView:
    """The active user with this username and password. An unknown user, a wrong password and a disabled account
    answer alike, after the same scrypt work (a dummy hash when there is no such user), hashed off the event loop.
    Not throttled: :func:`login` is."""
    row = None
    if len(username) <= 64:
        row = await User.select(*_COLUMNS, User.password_hash).where(User.username == username).first()
    matches = await password_matches(password[:1024], row["password_hash"] if row is not None else _DUMMY_HASH)
    if row is None or not matches or not row["active"]:
        raise AuthenticationFailed(AuthError.INVALID_CREDENTIALS)
    return _view(row)


async def login(username: str, password: str, *, address: str | None = None) -> UserView:
    """A back-office sign-in, throttled per account and per client address (:mod:`orderhub.auth.throttle`)."""
    attempt = throttle.Attempt(username=username, address=address)
    await throttle.attempt(attempt)
    user = await authenticate(username, password)
    await throttle.succeeded(attempt)
    return user


async def unlock_user(user_id: int) -> bool:
    """Lift a sign-in lock (too many failed attempts) from a user. True when they were locked."""
    row = await User.select(User.username).where(User.id == user_id).first()
    if row is None:
        raise NotFound("用户不存在", field="id")
    return await throttle.unlock(row["username"])


async def revoke_tokens(user_id: int) -> None:
    """Every bearer token issued to the user so far stops working, and so do their handheld sessions (sign out
    everywhere)."""
    updated = (
        await User.update({User.token_version: User.token_version + 1}).where(User.id == user_id).returning(User.id)
    )
    if not updated:
        raise NotFound("用户不存在", field="id")
    from orderhub.picking.sessions import end_sessions_of  # picking imports auth, not back

    await end_sessions_of(user_id)


async def get_user(user_id: int) -> UserView | None:
    row = await User.select(*_COLUMNS).where(User.id == user_id).first()
    return _view(row) if row else None


async def list_users() -> list[UserView]:
    return [_view(row) for row in await User.select(*_COLUMNS).order_by(User.id)]


async def create_user(cmd: NewUser) -> UserView:
    username = cmd.username.strip()
    if not username or len(username) > 48:
        raise ValidationFailed("用户名不能为空，且不超过 48 个字符", field="username")
    _check_role(cmd.role)
    _check_password(cmd.password)
    phone = _phone_columns(_staff_phone(cmd.phone))
    password_hash = await _hashed(cmd.password)
    async with db.transaction():
        warehouse_id = await warehouse_id_for(cmd.warehouse) if cmd.warehouse else None
        if await User.exists().where(User.username == username):
            raise Conflict(f"用户名 {username} 已存在", code=AuthError.DUPLICATE_USERNAME, field="username")
        inserted = await User.insert(
            User(
                username=username,
                display_name=cmd.display_name or username,
                password_hash=password_hash,
                role=cmd.role,
                warehouse=warehouse_id,
                active=True,
                badge=await _check_badge(cmd.badge),
                wecom_userid=cmd.wecom_userid.strip(),
                phone_sealed=phone[User.phone_sealed],
                phone_key=phone[User.phone_key],
                created_at=clock.now(),
            )
        ).returning(User.id)
    user = await get_user(int(inserted[0]["id"]))
    assert user is not None
    return user


# Changes that can take a user out of charge of the hub: someone must stay an admin, active and bound to no
# warehouse (the one who may change hub-wide settings and staff accounts; orderhub/auth/policy.py).
_IN_CHARGE_FIELDS = frozenset({"active", "role", "warehouse"})


class _RowId(msgspec.Struct):
    id: int


def _admin_in_charge() -> Any:
    return (User.role == Role.ADMIN.value) & (User.active == True) & User.warehouse.is_null()  # noqa: E712


async def _was_in_charge(user_id: int) -> bool:
    """Whether the user is an admin in charge; locks the admins' rows first (PostgreSQL), so that two admins taking
    each other out of charge at once are serialised and the second sees the first's change."""
    await db.fetch_as(_RowId, f"SELECT id FROM app_user WHERE role = {{}}{db.for_update()}", Role.ADMIN.value)
    return bool(await User.exists().where((User.id == user_id) & _admin_in_charge()))


async def update_user(user_id: int, changes: Mapping[str, Any]) -> UserView:
    values: dict[Any, Any] = {}
    if "role" in changes:
        _check_role(changes["role"])
        values[User.role] = changes["role"]
    if "display_name" in changes:
        values[User.display_name] = changes["display_name"]
    if "wecom_userid" in changes:
        values[User.wecom_userid] = (changes["wecom_userid"] or "").strip()
    if "active" in changes:
        values[User.active] = bool(changes["active"])
    if "phone" in changes:
        values.update(_phone_columns(_staff_phone(changes["phone"])))
    if "password" in changes:
        _check_password(changes["password"])
        values[User.password_hash] = await _hashed(changes["password"])
    if {"active", "role", "warehouse", "password"} & set(changes):
        # The user's bearer tokens were granted on the old terms (or the old password): they sign in again.
        values[User.token_version] = User.token_version + 1
    async with db.transaction():
        in_charge = bool(_IN_CHARGE_FIELDS & set(changes)) and await _was_in_charge(user_id)
        if "badge" in changes:
            values[User.badge] = await _check_badge(changes["badge"], user_id=user_id)
        if "warehouse" in changes:
            values[User.warehouse] = await warehouse_id_for(changes["warehouse"]) if changes["warehouse"] else None
        if values:
            updated = await User.update(values).where(User.id == user_id).returning(User.id)
            if not updated:
                raise NotFound("用户不存在", field="id")
        if in_charge and not await User.exists().where(_admin_in_charge()):
            field = next(name for name in ("active", "role", "warehouse") if name in changes)
            raise Conflict(AuthError.LAST_ADMIN, field=field)  # rolled back with the transaction
    user = await get_user(user_id)
    if user is None:
        raise NotFound("用户不存在", field="id")
    if {"active", "role", "warehouse", "password", "badge"} & set(changes):
        # Signed-in handhelds were granted on the old terms: they sign in again (picking imports auth, not back).
        from orderhub.picking.sessions import end_sessions_of

        await end_sessions_of(user_id)
    return user


async def ensure_admin(username: str, password: str) -> bool:
    """Make sure someone is in charge of the hub (``orderhub migrate`` / ``orderhub run`` with the admin variables).
    While an admin is active and bound to no warehouse, nothing happens. Otherwise the configured admin is created
    — or, when that username exists (an admin deactivated, demoted or bound to a warehouse), made an active admin of
    every warehouse again, with the configured password. Returns True when it created or restored one."""
    if await User.exists().where(_admin_in_charge()):
        return False
    row = await User.select(User.id).where(User.username == username.strip()).first()
    if row is None:
        await create_user(NewUser(username=username, password=password, role=Role.ADMIN.value, display_name="管理员"))
    else:
        changes = {"role": Role.ADMIN.value, "active": True, "warehouse": None, "password": password}
        await update_user(int(row["id"]), changes)
    return True
