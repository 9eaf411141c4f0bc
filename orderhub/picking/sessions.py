"""PDA and pack-station sign-in: a registered device plus an employee (badge scan, or username and password) gives
a token scoped to the device's warehouse. Sessions live in Redis (shared by every API process), last a shift, and
end at logout.

A handheld asks for its session on every request (a scan a second): each API process keeps the sessions it read
for :data:`SESSION_CACHE_SECONDS` (at most :data:`SESSION_CACHE_SIZE` of them), so most requests skip the Redis
GET. Ending sessions (:func:`end_session`, :func:`end_sessions_of`: logout, a user deactivated, moved or signed
out everywhere) deletes them in Redis and publishes their keys on :data:`SESSIONS_ENDED_CHANNEL`; every API
process's :func:`listen_for_ended_sessions` drops them from its cache at once. A process caches only while that
listener is subscribed (none runs in one-off commands and workers: they read Redis every time), and forgets its
cache when the subscription is lost; a message lost otherwise (a connection that died silently) leaves an ended
session usable there for at most :data:`SESSION_CACHE_SECONDS`."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from time import monotonic
from typing import Any

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
    "DEFAULT_PRINTER_PORT",
    "LABEL_FORMATS",
    "SESSIONS_ENDED_CHANNEL",
    "SESSION_CACHE_SECONDS",
    "SESSION_CACHE_SIZE",
    "SESSION_TTL_SECONDS",
    "DeviceView",
    "PdaSession",
    "Printer",
    "StationView",
    "end_session",
    "end_sessions_of",
    "list_devices",
    "listen_for_ended_sessions",
    "parse_printer_address",
    "register_device",
    "session_for",
    "sign_in",
    "station",
    "station_printer",
    "update_device",
]

log = logging.getLogger("orderhub.picking")

SESSION_TTL_SECONDS = 12 * 3600  # a shift
SESSION_CACHE_SECONDS = 5.0  # how long an API process answers a session from its own memory (the revocation bound)
SESSION_CACHE_SIZE = 5_000  # sessions an API process keeps (a warehouse floor's handhelds, with room to spare)
SESSIONS_ENDED_CHANNEL = "orderhub:pda:sessions-ended"  # pub/sub: a JSON list of the ended sessions' keys
FLOOR_ROLES = frozenset({Role.PICKER, Role.PACKER, Role.MANAGER, Role.ADMIN})
# A badge alone signs in floor staff only. A manager's or admin's session can do more, and a badge is easy to lose,
# lend or copy: they sign in on a device with their username and password.
BADGE_ROLES = frozenset({Role.PICKER, Role.PACKER})
DEVICE_KINDS = ("pda", "pack_station")
# How a station prints its labels: "pdf" — the browser prints the PDF (GET /pda/v1/pack/{id}/label); "zpl" — the hub
# sends the label as ZPL to the station's network printer (POST /pda/v1/pack/{id}/print).
LABEL_FORMATS = ("pdf", "zpl")
DEFAULT_PRINTER_PORT = 9100  # a Zebra's raw TCP port (orderhub.logistics.printing)
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


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
    label_format: str = "pdf"
    printer_address: str = ""  # "host:port"; "" when none is set


class StationView(msgspec.Struct, frozen=True, kw_only=True):
    """A signed-in device's own settings: what the page needs to know how to print."""

    device: str
    name: str
    kind: str
    warehouse: str
    label_format: str
    printer_address: str


class Printer(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_BAD_ADDRESS = "打印机地址应为 主机:端口（如 192.168.1.50:9100），端口 1–65535"


def parse_printer_address(value: str) -> Printer:
    """``host[:port]`` (an IPv6 address in brackets, ``[fd00::5]:9100``); the port is 9100 when left out."""
    text = value.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValidationFailed(_BAD_ADDRESS, field="printer_address")
        port_text = rest[1:] if rest else ""
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValidationFailed(_BAD_ADDRESS, field="printer_address") from None
    else:
        host, _, port_text = text.partition(":")
        if not _HOST.match(host) or ".." in host:
            raise ValidationFailed(_BAD_ADDRESS, field="printer_address")
    if port_text == "" and text.endswith(":"):
        raise ValidationFailed(_BAD_ADDRESS, field="printer_address")
    port = DEFAULT_PRINTER_PORT
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValidationFailed(_BAD_ADDRESS, field="printer_address")
        port = int(port_text)
    return Printer(host=host, port=port)


def _printing(label_format: str, printer_address: str) -> tuple[str, str]:
    """A device's print settings checked and normalised: (label_format, "host:port" or "")."""
    if label_format not in LABEL_FORMATS:
        raise ValidationFailed("打印格式只能是 pdf 或 zpl", field="label_format")
    address = parse_printer_address(printer_address).address if printer_address.strip() else ""
    if label_format == "zpl" and not address:
        raise ValidationFailed("ZPL 打印需要填写打印机地址（主机:端口）", field="printer_address")
    return label_format, address


def _key(token: str) -> str:
    return "orderhub:pda:session:" + hashlib.sha256(token.encode()).hexdigest()


def _user_key(user_id: int) -> str:
    return f"orderhub:pda:user-sessions:{user_id}"


class _SessionCache:
    """The sessions this process read lately (key → (monotonic deadline, session)), oldest first."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, tuple[float, PdaSession]] = OrderedDict()
        self.live = False  # the ended-sessions listener is subscribed: only then is anything cached
        self.generation = 0  # bumped at every drop: a read that spans one is not cached

    def get(self, key: str) -> PdaSession | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry[0] <= monotonic():
            del self.entries[key]
            return None
        return entry[1]

    def put(self, key: str, session: PdaSession, generation: int) -> None:
        if not self.live or generation != self.generation:
            return  # no listener, or sessions ended while this one was read (it may be one of them)
        self.entries[key] = (monotonic() + SESSION_CACHE_SECONDS, session)
        self.entries.move_to_end(key)
        while len(self.entries) > SESSION_CACHE_SIZE:
            self.entries.popitem(last=False)

    def drop(self, keys: list[str]) -> None:
        self.generation += 1
        for key in keys:
            self.entries.pop(key, None)

    def clear(self) -> None:
        self.generation += 1
        self.entries.clear()


_cache = _SessionCache()


def _as_str(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _ended(keys: list[str]) -> None:
    """Tell every API process (and this one) that these sessions ended (after they were deleted in Redis)."""
    _cache.drop(keys)
    if keys:
        await redis_mod.awaited(redis_mod.get_client().publish(SESSIONS_ENDED_CHANNEL, msgspec.json.encode(keys)))


async def listen_for_ended_sessions(url: str, *, retry_seconds: float = 1.0) -> None:
    """Drop the sessions other processes end from this process's cache, for as long as it runs (an API process
    runs it from start-up to shutdown). While it is not subscribed — starting, Redis away — nothing is cached.

    Its own connection, without redis-py's retries: a lost connection stops the caching at once (a retried one
    would resubscribe after seconds, having missed what was published meanwhile)."""
    client = redis_mod.create_listener_client(url)
    lost = False
    try:
        while True:
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(SESSIONS_ENDED_CHANNEL)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message.get("type") == "subscribe":
                        _cache.clear()
                        _cache.live = True
                        if lost:
                            log.info("ended-sessions listener subscribed again")
                            lost = False
                    elif message.get("type") == "message":
                        try:
                            keys = msgspec.json.decode(message["data"], type=list[str])
                        except msgspec.DecodeError:
                            _cache.clear()
                            continue
                        _cache.drop(keys)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away or restarted: read it every time until subscribed again
                if not lost:
                    log.warning("ended-sessions listener lost Redis; retrying", extra={"error": repr(exc)})
                lost = True
            finally:
                _cache.live = False
                _cache.clear()
                try:
                    await pubsub.aclose()
                except Exception:  # the connection is already gone
                    pass
            await asyncio.sleep(retry_seconds)
    finally:
        await client.aclose()


async def end_sessions_of(user_id: int) -> int:
    """End every device session of an employee (deactivated, moved to another warehouse or role). A process
    without Redis (a one-off command, the demo seed) has no sessions to end: sessions exist only where Redis is."""
    if not redis_mod.has_client():
        return 0
    client = redis_mod.get_client()
    keys = await redis_mod.awaited(client.smembers(_user_key(user_id)))
    if keys:
        await redis_mod.awaited(client.delete(*keys, _user_key(user_id)))
        await _ended(sorted(_as_str(k) for k in keys))
    return len(keys or [])


async def register_device(
    code: str,
    warehouse: str,
    *,
    name: str = "",
    kind: str = "pda",
    label_format: str = "pdf",
    printer_address: str = "",
) -> DeviceView:
    code = code.strip()
    if not code or len(code) > 32:
        raise ValidationFailed("设备编号不能为空，且不超过 32 个字符", field="code")
    if kind not in DEVICE_KINDS:
        raise ValidationFailed("设备类型只能是 pda 或 pack_station", field="kind")
    label_format, printer_address = _printing(label_format, printer_address)
    wh = await Warehouse.select(Warehouse.id).where(Warehouse.code == warehouse).first()
    if wh is None:
        raise NotFound(f"仓库 {warehouse} 不存在", field="warehouse")
    if await PdaDevice.exists().where(PdaDevice.code == code):
        raise Conflict(f"设备 {code} 已登记", code=PickingError.DUPLICATE_DEVICE, field="code")
    await PdaDevice.insert(
        PdaDevice(
            code=code,
            name=name or code,
            warehouse=wh["id"],
            kind=kind,
            label_format=label_format,
            printer_address=printer_address,
            active=True,
            created_at=clock.now(),
        )
    )
    return (await list_devices(code=code))[0]


async def update_device(code: str, changes: Mapping[str, Any], *, warehouse_id: int | None = None) -> DeviceView:
    """Change a device's name or print settings (only the fields given). ``warehouse_id``: the caller is bound to
    that warehouse — a device of another one is not found."""
    device = await PdaDevice.select(*PdaDevice.all_columns()).where(PdaDevice.code == code.strip()).first()
    if device is None or (warehouse_id is not None and device["warehouse"] != warehouse_id):
        raise NotFound(f"设备 {code} 不存在", field="code")
    values: dict[Any, Any] = {}
    if "name" in changes:
        name = str(changes["name"] or "").strip()
        values[PdaDevice.name] = name or device["code"]
    if "label_format" in changes or "printer_address" in changes:
        label_format, address = _printing(
            str(changes.get("label_format", device["label_format"]) or ""),
            str(changes.get("printer_address", device["printer_address"]) or ""),
        )
        values[PdaDevice.label_format] = label_format
        values[PdaDevice.printer_address] = address
    if values:
        await PdaDevice.update(values).where(PdaDevice.id == device["id"])
    return (await list_devices(code=device["code"]))[0]


async def station(session: PdaSession) -> StationView:
    """The signed-in device's own settings (read fresh: a manager may have changed them during the shift)."""
    row = (
        await PdaDevice.select(*PdaDevice.all_columns(), PdaDevice.warehouse.code)
        .where(PdaDevice.code == session.device)
        .first()
    )
    if row is None:
        raise AuthenticationFailed("设备未登记，请联系主管在后台登记该设备", code=PickingError.UNKNOWN_DEVICE)
    return StationView(
        device=row["code"],
        name=row["name"],
        kind=row["kind"],
        warehouse=row["warehouse.code"],
        label_format=row["label_format"] or "pdf",
        printer_address=row["printer_address"] or "",
    )


async def station_printer(session: PdaSession) -> Printer:
    """The network printer this station sends ZPL labels to; refused (409 ``printer_not_configured``) when the
    station prints PDFs in the browser or has no printer address."""
    view = await station(session)
    if view.label_format != "zpl" or not view.printer_address:
        raise Conflict(PickingError.PRINTER_NOT_CONFIGURED, field="label_format")
    return parse_printer_address(view.printer_address)


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
            label_format=r["label_format"] or "pdf",
            printer_address=r["printer_address"] or "",
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
    key = _key(token)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    generation = _cache.generation
    raw = await redis_mod.awaited(redis_mod.get_client().get(key))
    if raw is None:
        raise AuthenticationFailed("登录已过期，请重新登录", code=PickingError.SESSION_EXPIRED)
    session = msgspec.json.decode(raw, type=PdaSession)
    _cache.put(key, session, generation)
    return session


async def end_session(token: str) -> None:
    key = _key(token)
    await redis_mod.awaited(redis_mod.get_client().delete(key))
    await _ended([key])
