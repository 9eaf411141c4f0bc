"""PDA and pack-station sign-in: a registered device plus an employee (badge scan, or username and password) gives
a token scoped to the device's warehouse. Sessions live in Redis (one GET per request, shared by every API
process), last a shift, and end at logout."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import msgspec

from orderhub import clock
from orderhub import redis as redis_mod
from orderhub.auth import throttle
from orderhub.auth.errors import AuthError
from orderhub.auth.service import Role, UserView, authenticate, authenticate_badge
from orderhub.errors import AuthenticationFailed, CommonError, Conflict, NotFound, PermissionDenied, ValidationFailed
from orderhub.inventory.tables import Warehouse
from orderhub.picking.errors import PickingError
from orderhub.picking.tables import PdaDevice

__all__ = [
    "SESSION_TTL_SECONDS",
    "DeviceView",
    "PdaSession",
    "end_session",
    "end_sessions_of",
    "list_devices",
    "register_device",
    "session_for",
    "sign_in",
]

SESSION_TTL_SECONDS = 12 * 3600  # a shift
FLOOR_ROLES = frozenset({Role.PICKER, Role.PACKER, Role.MANAGER, Role.ADMIN})
# A badge alone signs in floor staff only. A manager's or admin's session can do more, and a badge is easy to lose,
# lend or copy: they sign in on a device with their username and password.
BADGE_ROLES = frozenset({Role.PICKER, Role.PACKER})
DEVICE_KINDS = ("pda", "pack_station")


class PdaSession(msgspec.Struct, frozen=True, kw_only=True):
    user_id: int
    username: str
    name: str
    role: str
    warehouse_id: int
    warehouse: str
    device: str
    device_kind: str
    started_at: datetime


class DeviceView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    code: str
    name: str
    warehouse: str
    kind: str
    active: bool
    last_seen_at: datetime | None


def _key(token: str) -> str:
    return "orderhub:pda:session:" + hashlib.sha256(token.encode()).hexdigest()


def _user_key(user_id: int) -> str:
    return f"orderhub:pda:user-sessions:{user_id}"


async def end_sessions_of(user_id: int) -> int:
    """End every device session of an employee (deactivated, moved to another warehouse or role). A process
    without Redis (a one-off command, the demo seed) has no sessions to end: sessions exist only where Redis is."""
    if not redis_mod.has_client():
        return 0
    client = redis_mod.get_client()
    keys = await redis_mod.awaited(client.smembers(_user_key(user_id)))
    if keys:
        await redis_mod.awaited(client.delete(*keys, _user_key(user_id)))
    return len(keys or [])


async def register_device(code: str, warehouse: str, *, name: str = "", kind: str = "pda") -> DeviceView:
    code = code.strip()
    if not code or len(code) > 32:
        raise ValidationFailed("设备编号不能为空，且不超过 32 个字符", field="code")
    if kind not in DEVICE_KINDS:
        raise ValidationFailed("设备类型只能是 pda 或 pack_station", field="kind")
    wh = await Warehouse.select(Warehouse.id).where(Warehouse.code == warehouse).first()
    if wh is None:
        raise NotFound(f"仓库 {warehouse} 不存在", field="warehouse")
    if await PdaDevice.exists().where(PdaDevice.code == code):
        raise Conflict(f"设备 {code} 已登记", code=PickingError.DUPLICATE_DEVICE, field="code")
    await PdaDevice.insert(
        PdaDevice(code=code, name=name or code, warehouse=wh["id"], kind=kind, active=True, created_at=clock.now())
    )
    return (await list_devices(code=code))[0]


async def list_devices(*, warehouse_id: int | None = None, code: str | None = None) -> list[DeviceView]:
    query = PdaDevice.select(*PdaDevice.all_columns(), PdaDevice.warehouse.code).order_by(PdaDevice.id)
    if warehouse_id is not None:
        query = query.where(PdaDevice.warehouse == warehouse_id)
    if code is not None:
        query = query.where(PdaDevice.code == code)
    return [
        DeviceView(
            id=r["id"],
            code=r["code"],
            name=r["name"],
            warehouse=r["warehouse.code"],
            kind=r["kind"],
            active=bool(r["active"]),
            last_seen_at=r["last_seen_at"],
        )
        for r in await query
    ]


async def sign_in(
    device_code: str,
    *,
    badge: str | None = None,
    username: str | None = None,
    password: str | None = None,
    address: str | None = None,
) -> tuple[str, PdaSession]:
    """Throttled per device and client address (and per account for a password; :mod:`orderhub.auth.throttle`).
    A badge sign-in that fails answers one way whatever the reason — no such device, a disabled one, no such
    badge, a disabled employee, a badge that may not sign in here — so guesses learn nothing."""
    if not badge and not (username and password):
        raise ValidationFailed("请扫描工牌，或输入用户名和密码", field="badge")
    by_badge = bool(badge)
    attempt = throttle.Attempt(username=None if by_badge else username, address=address, device=device_code.strip())
    await throttle.attempt(attempt)
    device = (
        await PdaDevice.select(*PdaDevice.all_columns(), PdaDevice.warehouse.code)
        .where(PdaDevice.code == device_code.strip())
        .first()
    )
    user: UserView | None
    if by_badge:
        try:
            user = await authenticate_badge(badge or "")
        except AuthenticationFailed:
            user = None
        if (
            device is None
            or not device["active"]
            or user is None
            or user.role not in BADGE_ROLES
            or (user.warehouse_id is not None and user.warehouse_id != device["warehouse"])
        ):
            raise AuthenticationFailed(AuthError.INVALID_BADGE)
    else:
        # The person proved who they are first; only then does the answer say what is wrong with the device.
        user = await authenticate(username or "", password or "")
        await throttle.succeeded(throttle.Attempt(username=username))
        if device is None:
            raise AuthenticationFailed("设备未登记，请联系主管在后台登记该设备", code=PickingError.UNKNOWN_DEVICE)
        if not device["active"]:
            raise AuthenticationFailed("设备已停用", code=PickingError.DEVICE_INACTIVE)
        if user.role not in FLOOR_ROLES:
            raise PermissionDenied("该账号不能登录仓库设备", code=PickingError.ROLE_NOT_ALLOWED)
        if user.warehouse_id is not None and user.warehouse_id != device["warehouse"]:
            raise PermissionDenied(
                f"该账号属于仓库 {user.warehouse}，不能登录本仓设备", code=PickingError.WRONG_WAREHOUSE
            )
    await throttle.succeeded(throttle.Attempt(address=address, device=device_code.strip()))
    now = clock.now()
    session = PdaSession(
        user_id=user.id,
        username=user.username,
        name=user.display_name or user.username,
        role=user.role,
        warehouse_id=int(device["warehouse"]),
        warehouse=str(device["warehouse.code"]),
        device=str(device["code"]),
        device_kind=str(device["kind"]),
        started_at=now,
    )
    token = secrets.token_urlsafe(32)
    client = redis_mod.get_client()
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(_key(token), msgspec.json.encode(session), ex=SESSION_TTL_SECONDS)
        pipe.sadd(_user_key(user.id), _key(token))  # so deactivating the employee ends their sessions
        pipe.expire(_user_key(user.id), SESSION_TTL_SECONDS)
        await pipe.execute()
    await PdaDevice.update({PdaDevice.last_seen_at: now}).where(PdaDevice.id == device["id"])
    return token, session


async def session_for(token: str) -> PdaSession:
    if not token:
        raise AuthenticationFailed("请先在设备上登录", code=CommonError.UNAUTHENTICATED)
    raw = await redis_mod.awaited(redis_mod.get_client().get(_key(token)))
    if raw is None:
        raise AuthenticationFailed("登录已过期，请重新登录", code=PickingError.SESSION_EXPIRED)
    return msgspec.json.decode(raw, type=PdaSession)


async def end_session(token: str) -> None:
    await redis_mod.awaited(redis_mod.get_client().delete(_key(token)))
