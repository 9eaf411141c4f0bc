"""Channels (shops): create/update, signing secrets and platform credentials (encrypted at rest), request signature
checks, and platform calls with the shared retry / token-refresh policy."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import msgspec

from orderhub import clock, crypto, db
from orderhub import redis as redis_mod
from orderhub.channels.errors import ChannelError
from orderhub.channels.port import ChannelConnector, Credentials, PlatformError, SessionExpired
from orderhub.channels.tables import Channel
from orderhub.errors import AuthenticationFailed, CommonError, Conflict, NotFound, ServiceUnavailable, ValidationFailed
from orderhub.inventory.service import warehouse_id_for
from orderhub.settings import get_settings

T = TypeVar("T")

__all__ = [
    "CANNOT_REFRESH",
    "ChannelRef",
    "ChannelView",
    "NewChannel",
    "Platform",
    "RefreshOutcome",
    "RefreshResult",
    "TokenState",
    "call_platform",
    "connector_credentials",
    "create_channel",
    "get_channel",
    "get_channel_ref",
    "list_channels",
    "record_refresh",
    "refresh_channel_token",
    "release_signature",
    "rotate_secret",
    "settle_signature",
    "signing_payload",
    "store_tokens",
    "update_channel",
    "verify_signature",
]


class Platform(StrEnum):
    TAOBAO = "taobao"
    TMALL = "tmall"
    JD = "jd"
    PDD = "pdd"
    DOUYIN = "douyin"
    WECHAT_SHOP = "wechat_shop"
    ERP = "erp"
    OWN_STORE = "own_store"


class NewChannel(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    platform: str
    name: str
    default_warehouse: str | None = None
    credentials: dict[str, str] = {}
    split_policy: str = "exception"
    ship_within_hours: int = 48
    merge_scope: str = "channel"
    pull_enabled: bool = True
    pull_every_minutes: int = 15


class TokenState(msgspec.Struct, frozen=True, kw_only=True):
    """A platform channel's authorisation as the back office sees it: expiries and the last refresh — never a token."""

    access_expires_at: datetime | None = None  # the access token's expiry (None: unknown or no token)
    refresh_expires_at: datetime | None = None  # the refresh token's, when the platform says
    last_refresh: str = ""  # "" (none since the credentials were set), refreshed, refused, unsupported, failed
    last_refresh_at: datetime | None = None
    last_refresh_error: str = ""  # the platform's refusal or the failure, with the platform's code


class ChannelView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    code: str
    platform: str
    name: str
    default_warehouse: str | None
    active: bool
    credential_keys: list[str]
    split_policy: str
    ship_within_hours: int
    merge_scope: str
    pull_enabled: bool = True
    pull_every_minutes: int = 15
    pull_cursor: datetime | None = None
    token: TokenState = TokenState()


class ChannelRef(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    code: str
    active: bool
    default_warehouse_id: int | None


_COLUMNS = (*Channel.all_columns(exclude=[Channel.default_warehouse]), Channel.default_warehouse.code)


def _credentials(row: Mapping[str, Any]) -> dict[str, str]:
    token = row["credentials"]
    if not token:
        return {}
    result: dict[str, str] = msgspec.json.decode(crypto.decrypt(get_settings().secret_key, token))
    return result


def _seal(credentials: Mapping[str, str]) -> str:
    return crypto.encrypt(get_settings().secret_key, msgspec.json.encode(dict(credentials)))


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _view(row: dict[str, Any]) -> ChannelView:
    credentials = _credentials(row)
    return ChannelView(
        id=row["id"],
        code=row["code"],
        platform=row["platform"],
        name=row["name"],
        default_warehouse=row["default_warehouse.code"],
        active=bool(row["active"]),
        split_policy=row["split_policy"],
        ship_within_hours=row["ship_within_hours"],
        merge_scope=row["merge_scope"],
        credential_keys=sorted(credentials),
        pull_enabled=bool(row["pull_enabled"]),
        pull_every_minutes=int(row["pull_every_minutes"]),
        pull_cursor=row["pull_cursor"],
        token=TokenState(
            access_expires_at=_when(credentials.get("token_expires_at")) if credentials.get("access_token") else None,
            refresh_expires_at=_when(credentials.get("refresh_expires_at")),
            last_refresh=row["token_refresh_status"],
            last_refresh_at=row["token_refresh_at"],
            last_refresh_error=row["token_refresh_error"],
        ),
    )


_POLICIES = ("split", "wait", "exception")


def _check_policy(policy: str) -> str:
    if policy not in _POLICIES:
        raise ValidationFailed(
            "缺货拆单策略可选：split（按仓拆单）、wait（等待到货）、exception（转异常）", field="split_policy"
        )
    return policy


def _check_merge(scope: str) -> str:
    if scope not in ("channel", "seller", "off"):
        raise ValidationFailed("合单范围可选：channel（同店铺）、seller（跨店铺）、off（不合单）", field="merge_scope")
    return scope


def _check_every(minutes: int) -> int:
    if not 1 <= minutes <= 1440:
        raise ValidationFailed("拉单间隔为 1–1440 分钟", field="pull_every_minutes")
    return minutes


def _check_hours(hours: int) -> int:
    if not 1 <= int(hours) <= 24 * 90:
        raise ValidationFailed("发货时限（小时）取值范围为 1–2160", field="ship_within_hours")
    return int(hours)


async def create_channel(cmd: NewChannel) -> tuple[ChannelView, str]:
    """Create a channel with a fresh signing secret; the secret is returned here and never again."""
    code = cmd.code.strip()
    if not code or len(code) > 32 or not code.replace("_", "").replace("-", "").isalnum():
        raise ValidationFailed("渠道编码为 1–32 位字母、数字、- 或 _", field="code")
    try:
        Platform(cmd.platform)
    except ValueError as exc:
        allowed = "、".join(p.value for p in Platform)
        raise ValidationFailed(f"未知平台，可选：{allowed}", field="platform") from exc
    if not cmd.name.strip():
        raise ValidationFailed("渠道名称不能为空", field="name")
    secret = crypto.new_secret()
    now = clock.now()
    async with db.transaction():
        warehouse_id = (
            await warehouse_id_for(cmd.default_warehouse, field="default_warehouse")
            if (cmd.default_warehouse)
            else None
        )
        if await Channel.exists().where(Channel.code == code):
            raise Conflict(f"渠道编码 {code} 已存在", code=CommonError.DUPLICATE_CODE, field="code")
        await Channel.insert(
            Channel(
                code=code,
                platform=cmd.platform,
                name=cmd.name.strip(),
                credentials=_seal({**cmd.credentials, "secret": secret}),
                default_warehouse=warehouse_id,
                split_policy=_check_policy(cmd.split_policy),
                ship_within_hours=_check_hours(cmd.ship_within_hours),
                merge_scope=_check_merge(cmd.merge_scope),
                pull_enabled=cmd.pull_enabled,
                pull_every_minutes=_check_every(cmd.pull_every_minutes),
                active=True,
                created_at=now,
                updated_at=now,
            )
        )
    return await get_channel(code), secret


async def get_channel(code: str) -> ChannelView:
    row = await Channel.select(*_COLUMNS).where(Channel.code == code).first()
    if row is None:
        raise NotFound(f"渠道 {code} 不存在", field="channel")
    return _view(row)


async def get_channel_ref(code: str, *, field: str = "channel") -> ChannelRef:
    row = (
        await Channel.select(Channel.id, Channel.code, Channel.active, Channel.default_warehouse)
        .where(Channel.code == code)
        .first()
    )
    if row is None:
        raise NotFound(f"渠道 {code} 不存在", field=field)
    return ChannelRef(
        id=row["id"], code=row["code"], active=bool(row["active"]), default_warehouse_id=row["default_warehouse"]
    )


async def list_channels() -> list[ChannelView]:
    return [_view(row) for row in await Channel.select(*_COLUMNS).order_by(Channel.id)]


async def update_channel(code: str, changes: Mapping[str, Any]) -> ChannelView:
    values: dict[Any, Any] = {}
    if "name" in changes:
        if not str(changes["name"]).strip():
            raise ValidationFailed("渠道名称不能为空", field="name")
        values[Channel.name] = str(changes["name"]).strip()
    if "active" in changes:
        values[Channel.active] = bool(changes["active"])
    if "split_policy" in changes:
        values[Channel.split_policy] = _check_policy(changes["split_policy"])
    if "merge_scope" in changes:
        values[Channel.merge_scope] = _check_merge(changes["merge_scope"])
    if "ship_within_hours" in changes:
        values[Channel.ship_within_hours] = _check_hours(changes["ship_within_hours"])
    if "pull_enabled" in changes:
        values[Channel.pull_enabled] = bool(changes["pull_enabled"])
    if "pull_every_minutes" in changes:
        values[Channel.pull_every_minutes] = _check_every(changes["pull_every_minutes"])
    async with db.transaction():
        if "default_warehouse" in changes:
            wh = changes["default_warehouse"]
            values[Channel.default_warehouse] = await warehouse_id_for(wh, field="default_warehouse") if wh else None
        if "credentials" in changes:
            current = await _locked_credentials(code)
            merged = {**current, **dict(changes["credentials"])}
            merged["secret"] = current.get("secret", "")  # the signing secret only changes by rotation
            values[Channel.credentials] = _seal(merged)
            # new credentials (a shop authorised again): the last refresh's outcome was about the old ones
            values.update(
                {Channel.token_refresh_status: "", Channel.token_refresh_error: "", Channel.token_refresh_at: None}
            )
        if values:
            values[Channel.updated_at] = clock.now()
            updated = await Channel.update(values).where(Channel.code == code).returning(Channel.id)
            if not updated:
                raise NotFound(f"渠道 {code} 不存在", field="channel")
    return await get_channel(code)


async def rotate_secret(code: str) -> str:
    secret = crypto.new_secret()
    async with db.transaction():
        current = await _locked_credentials(code)
        await Channel.update(
            {Channel.credentials: _seal({**current, "secret": secret}), Channel.updated_at: clock.now()}
        ).where(Channel.code == code)
    return secret


async def _locked_credentials(code: str) -> dict[str, str]:
    """Read credentials for a read-modify-write, locking the row so a concurrent rotation is not undone."""
    # Raw SQL: the query builder has no FOR UPDATE (a row lock on PostgreSQL).
    row = await db.fetch_one_as(_Sealed, f"SELECT credentials FROM channel WHERE code = {{}}{db.for_update()}", code)
    if row is None:
        raise NotFound(f"渠道 {code} 不存在", field="channel")
    return _credentials({"credentials": row.credentials})


class _Sealed(msgspec.Struct):
    credentials: str


def signing_payload(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode() + b"\n" + body


async def verify_signature(
    *, channel_code: str | None, timestamp: str | None, signature: str | None, body: bytes
) -> ChannelRef:
    """Check ``X-OrderHub-Signature`` = hex HMAC-SHA256(secret, timestamp + "\\n" + body).

    Refused when the timestamp (unix seconds) is outside the window, the signature does not match, or the same
    signature was already used by a request that finished (replay). Nothing is stored for a refused request.

    The replay guard is kept in step with what was stored: verifying marks the signature *in flight*; the caller
    marks it *settled* (:func:`settle_signature`) once its answer is stored, or releases it
    (:func:`release_signature`) when the request failed before storing anything. Only a settled signature is a
    replay: the identical request after an API process died mid-way (in flight, never settled) is judged on its
    content again — intake is idempotent on (channel, external_id), so what was stored comes back as ``duplicate``
    with its order id and what was not is stored now.
    """
    if not channel_code or not timestamp or not signature:
        raise AuthenticationFailed(
            "缺少签名头：X-OrderHub-Channel、X-OrderHub-Timestamp、X-OrderHub-Signature",
            code=ChannelError.SIGNATURE_MISSING,
        )
    window = get_settings().signature_window_seconds
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise AuthenticationFailed(
            "时间戳应为 Unix 秒（整数）", code=ChannelError.SIGNATURE_INVALID, field="X-OrderHub-Timestamp"
        ) from exc
    if abs(time.time() - sent) > window:
        raise AuthenticationFailed(
            f"请求时间戳超出 {window // 60} 分钟有效期，请校准时钟后重新签名",
            code=ChannelError.SIGNATURE_EXPIRED,
            field="X-OrderHub-Timestamp",
        )
    row = (
        await Channel.select(Channel.id, Channel.code, Channel.active, Channel.default_warehouse, Channel.credentials)
        .where(Channel.code == channel_code)
        .first()
    )
    secret = _credentials(row).get("secret") if row else None
    expected = crypto.hmac_sha256_hex(secret, signing_payload(timestamp, body)) if secret else ""
    if row is None or not secret or not crypto.signatures_equal(expected, signature):
        raise AuthenticationFailed("签名校验失败", code=ChannelError.SIGNATURE_INVALID, field="X-OrderHub-Signature")
    if not row["active"]:
        raise AuthenticationFailed("渠道已停用", code=ChannelError.CHANNEL_INACTIVE, field="X-OrderHub-Channel")
    try:
        earlier = await redis_mod.awaited(
            redis_mod.get_client().eval(_CLAIM, 1, _replay_key(channel_code, signature), _IN_FLIGHT, window * 2)
        )
    except Exception as exc:  # without the replay guard a signed request cannot be accepted safely
        raise ServiceUnavailable("签名校验服务暂不可用，请稍后重试", code=CommonError.REDIS_UNAVAILABLE) from exc
    if earlier == _SETTLED:
        raise AuthenticationFailed(
            "该签名已使用过（重放请求）", code=ChannelError.SIGNATURE_REPLAYED, field="X-OrderHub-Signature"
        )
    return ChannelRef(id=row["id"], code=row["code"], active=True, default_warehouse_id=row["default_warehouse"])


def _replay_key(channel_code: str, signature: str) -> str:
    return f"orderhub:sig:{channel_code}:{signature.lower()}"


# The replay guard's states: in flight (verified, its answer not stored yet) → settled (a replay from then on).
_IN_FLIGHT, _SETTLED = b"in-flight", b"settled"
# Claim the signature as in flight unless it is known already; answer what it was (nil: first use).
_CLAIM = """
local earlier = redis.call('GET', KEYS[1])
if earlier then return earlier end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""
# Forget a signature only while it is in flight: a concurrent identical request may have settled it meanwhile.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


async def settle_signature(channel_code: str, signature: str) -> None:
    """The signed request's answer is stored: from now on the same signature is a replay (best effort — should this
    fail, the signature stays in flight and an identical retry gets the idempotent answer)."""
    try:
        ttl = get_settings().signature_window_seconds * 2
        await redis_mod.awaited(redis_mod.get_client().set(_replay_key(channel_code, signature), _SETTLED, ex=ttl))
    except Exception:
        pass


async def release_signature(channel_code: str, signature: str) -> None:
    """Let a signed request be sent again when it failed before anything was stored (best effort)."""
    try:
        await redis_mod.awaited(
            redis_mod.get_client().eval(_RELEASE, 1, _replay_key(channel_code, signature), _IN_FLIGHT)
        )
    except Exception:
        pass


# -- platform connectors: the credentials they use, and calls with the shared retry policy ------------------------


def connector_credentials(sealed: str) -> Credentials:
    """A platform channel's sealed credentials as the connector port wants them."""
    raw = _credentials({"credentials": sealed})
    expires = raw.get("token_expires_at")
    return Credentials(
        app_key=raw.get("app_key", ""),
        app_secret=raw.get("app_secret", ""),
        access_token=raw.get("access_token", ""),
        refresh_token=raw.get("refresh_token", ""),
        token_expires_at=datetime.fromisoformat(expires) if expires else None,
        refresh_expires_at=datetime.fromisoformat(r) if (r := raw.get("refresh_expires_at")) else None,
        shop_id=raw.get("shop_id", ""),
        base_url=raw.get("base_url", ""),
    )


async def store_tokens(channel_id: int, credentials: Credentials) -> None:
    """Keep a refreshed token (sealed); the channel's other credentials (signing secret …) stay as they are."""
    async with db.transaction():
        # Raw SQL: the query builder has no FOR UPDATE (a row lock on PostgreSQL).
        row = await db.fetch_one_as(
            _Sealed, f"SELECT credentials FROM channel WHERE id = {{}}{db.for_update()}", channel_id
        )
        current = _credentials({"credentials": row.credentials}) if row else {}
        current.update(
            access_token=credentials.access_token,
            refresh_token=credentials.refresh_token,
            token_expires_at=credentials.token_expires_at.isoformat() if credentials.token_expires_at else "",
            refresh_expires_at=credentials.refresh_expires_at.isoformat() if credentials.refresh_expires_at else "",
        )
        await Channel.update({Channel.credentials: _seal(current), Channel.updated_at: clock.now()}).where(
            Channel.id == channel_id
        )


class RefreshOutcome(StrEnum):
    REFRESHED = "refreshed"
    REFUSED = "refused"  # the platform refused the refresh token: the shop must authorise the app again
    UNSUPPORTED = "unsupported"  # this channel cannot refresh (see CANNOT_REFRESH): it must be authorised again
    FAILED = "failed"  # an outage, a rate limit …: the next pass tries again
    SKIPPED = "skipped"  # not tried: another process is refreshing, or did already (not recorded)


# ``SessionExpired.platform_code`` values with which a connector says it cannot refresh at all, rather than that
# the platform refused: "reauthorize" (the port's convention for a platform or app without refresh — TOP outside
# 服务市场 …), "refresh_unsupported" (the same, as the 京东 / 淘宝 connectors said it before), "no_refresh_token"
# (none was stored: 抖店's client).
CANNOT_REFRESH = frozenset({"reauthorize", "refresh_unsupported", "no_refresh_token"})


class RefreshResult(msgspec.Struct, frozen=True, kw_only=True):
    outcome: RefreshOutcome
    credentials: Credentials | None = None  # the stored ones after a refresh
    error: PlatformError | None = None  # the refusal or the failure


# A refresh holds its channel's lock for at most this long (longer than one refresh call with its HTTP timeouts).
_TOKEN_LOCK_SECONDS = 120


def _token_lock_key(channel_id: int) -> str:
    return f"orderhub:token-refresh:{channel_id}"


async def _take_token_lock(channel_id: int, wait: float) -> bytes | None:
    """The channel's refresh lock (Redis ``SET NX``, across every process), waiting up to ``wait`` seconds; the
    holder's nonce, or None when another process keeps it."""
    nonce = uuid.uuid4().hex.encode()
    client = redis_mod.get_client()
    deadline = time.monotonic() + wait
    while True:
        if await redis_mod.awaited(client.set(_token_lock_key(channel_id), nonce, nx=True, ex=_TOKEN_LOCK_SECONDS)):
            return nonce
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.2)


async def record_refresh(channel_id: int, outcome: RefreshOutcome, error: str = "") -> None:
    """The channel's last refresh outcome (:class:`TokenState`)."""
    await Channel.update(
        {
            Channel.token_refresh_status: outcome.value,
            Channel.token_refresh_at: clock.now(),
            Channel.token_refresh_error: error[:255],
        }
    ).where(Channel.id == channel_id)


async def refresh_channel_token(
    channel_id: int,
    connector: Callable[[Credentials], ChannelConnector],
    *,
    due: Callable[[Credentials], bool],
    wait: float = 0.0,
) -> RefreshResult:
    """Refresh the channel's access token, one process at a time.

    Under the channel's lock the stored credentials are read again — another process may have refreshed them
    meanwhile, and a refresh token is single use (抖店 ``token.refresh``) — and only when ``due(stored)`` still holds
    is ``connector(stored).refresh_token()`` called. The new tokens are stored sealed and the outcome is recorded on
    the channel (:class:`TokenState`); a refusal (``SessionExpired``) is ``refused``, or ``unsupported`` when its
    platform code is one of :data:`CANNOT_REFRESH`; any other platform error is ``failed``."""
    nonce = await _take_token_lock(channel_id, wait)
    if nonce is None:
        return RefreshResult(outcome=RefreshOutcome.SKIPPED)
    try:
        row = await db.fetch_one_as(_Sealed, "SELECT credentials FROM channel WHERE id = {}", channel_id)
        stored = connector_credentials(row.credentials) if row is not None else None
        if stored is None or not due(stored):
            return RefreshResult(outcome=RefreshOutcome.SKIPPED)
        try:
            fresh = await connector(stored).refresh_token()
        except PlatformError as exc:
            outcome = RefreshOutcome.FAILED
            if isinstance(exc, SessionExpired):
                cannot = exc.platform_code in CANNOT_REFRESH
                outcome = RefreshOutcome.UNSUPPORTED if cannot else RefreshOutcome.REFUSED
            code = f"（平台代码 {exc.platform_code}）" if exc.platform_code else ""
            await record_refresh(channel_id, outcome, f"{exc.platform_message or exc.message}{code}")
            return RefreshResult(outcome=outcome, error=exc)
        async with db.transaction():
            await store_tokens(channel_id, fresh)
            await record_refresh(channel_id, RefreshOutcome.REFRESHED)
        return RefreshResult(outcome=RefreshOutcome.REFRESHED, credentials=fresh)
    finally:
        await redis_mod.awaited(redis_mod.get_client().eval(_RELEASE, 1, _token_lock_key(channel_id), nonce))


def _unchanged(used: object) -> Callable[[Credentials], bool]:
    """A session refresh is due while the stored access token is still the one the failed call used (when the
    connector shows its credentials): one refreshed by another process meanwhile is not refreshed again."""

    def due(stored: Credentials) -> bool:
        return not isinstance(used, Credentials) or stored.access_token == used.access_token

    return due


async def call_platform(connector: ChannelConnector, channel_id: int, call: Callable[[], Awaitable[T]]) -> T:
    """A platform call with the run's retry policy: rate limits and outages back off (a few tries), an expired
    session is refreshed once (:func:`refresh_channel_token`; when another process refreshed it meanwhile, the
    call fails with the expired session and the next run's connector has the new token)."""
    settings = get_settings()
    refreshed = False
    attempt = 0
    while True:
        try:
            return await call()
        except SessionExpired as expired:
            if refreshed:
                raise
            refreshed = True
            result = await refresh_channel_token(
                channel_id,
                lambda _stored: connector,
                due=_unchanged(getattr(connector, "credentials", None)),
                wait=30.0,
            )
            if result.error is not None:
                raise result.error from expired
            if result.outcome is not RefreshOutcome.REFRESHED:
                raise
        except PlatformError as exc:
            attempt += 1
            if not exc.retryable or attempt >= settings.pull_retries:
                raise
            delay = exc.retry_after if exc.retry_after is not None else settings.pull_retry_seconds * 2 ** (attempt - 1)
            await asyncio.sleep(min(delay, 60.0))
