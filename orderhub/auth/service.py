"""Staff accounts: roles, password hashing (scrypt), authentication, bootstrap admin."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.auth.errors import AuthError
from orderhub.auth.tables import User
from orderhub.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from orderhub.inventory.service import warehouse_id_for

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
    )


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
    row = await User.select(*_COLUMNS).where(User.badge == badge.strip()).first() if badge.strip() else None
    if row is None:
        raise AuthenticationFailed("工牌无效，请重新扫描或用账号密码登录", code=AuthError.INVALID_BADGE)
    if not row["active"]:
        raise AuthenticationFailed("账号已停用", code=AuthError.USER_INACTIVE)
    return _view(row)


async def authenticate(username: str, password: str) -> UserView:
    row = await User.select(*_COLUMNS, User.password_hash).where(User.username == username).first()
    if row is None:
        verify_password(password, _DUMMY_HASH)  # same cost whether or not the user exists
        raise AuthenticationFailed("用户名或密码错误", code=AuthError.INVALID_CREDENTIALS)
    if not verify_password(password, row["password_hash"]):
        raise AuthenticationFailed("用户名或密码错误", code=AuthError.INVALID_CREDENTIALS)
    if not row["active"]:
        raise AuthenticationFailed("账号已停用", code=AuthError.USER_INACTIVE)
    return _view(row)


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
    async with db.transaction():
        warehouse_id = await warehouse_id_for(cmd.warehouse) if cmd.warehouse else None
        if await User.exists().where(User.username == username):
            raise Conflict(f"用户名 {username} 已存在", code=AuthError.DUPLICATE_USERNAME, field="username")
        inserted = await User.insert(
            User(
                username=username,
                display_name=cmd.display_name or username,
                password_hash=hash_password(cmd.password),
                role=cmd.role,
                warehouse=warehouse_id,
                active=True,
                badge=await _check_badge(cmd.badge),
                wecom_userid=cmd.wecom_userid.strip(),
                created_at=clock.now(),
            )
        ).returning(User.id)
    user = await get_user(int(inserted[0]["id"]))
    assert user is not None
    return user


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
    if "password" in changes:
        _check_password(changes["password"])
        values[User.password_hash] = hash_password(changes["password"])
    async with db.transaction():
        if "badge" in changes:
            values[User.badge] = await _check_badge(changes["badge"], user_id=user_id)
        if "warehouse" in changes:
            values[User.warehouse] = await warehouse_id_for(changes["warehouse"]) if changes["warehouse"] else None
        if values:
            updated = await User.update(values).where(User.id == user_id).returning(User.id)
            if not updated:
                raise NotFound("用户不存在", field="id")
    user = await get_user(user_id)
    if user is None:
        raise NotFound("用户不存在", field="id")
    if {"active", "role", "warehouse", "password", "badge"} & set(changes):
        # Signed-in handhelds were granted on the old terms: they sign in again (picking imports auth, not back).
        from orderhub.picking.sessions import end_sessions_of

        await end_sessions_of(user_id)
    return user


async def ensure_admin(username: str, password: str) -> bool:
    """Create the first admin if no admin exists yet. Returns True when one was created."""
    if await User.exists().where(User.role == Role.ADMIN.value):
        return False
    await create_user(NewUser(username=username, password=password, role=Role.ADMIN.value, display_name="管理员"))
    return True
