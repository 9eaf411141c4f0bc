"""Notification settings: the providers' accounts (sealed, never returned), quiet hours, rate limits, links."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import lru_cache

import msgspec
import redis as sync_redis

from orderhub import clock, crypto, db
from orderhub.errors import ValidationFailed
from orderhub.notifications.port import NotifierChannel
from orderhub.orders.tables import PipelineSetting
from orderhub.settings import get_settings

__all__ = [
    "PROVIDER_KEYS",
    "NotifySettings",
    "configured_channels",
    "load_settings",
    "provider_config",
    "quiet_until",
    "save_settings",
    "set_provider",
    "token_redis",
]

# What each provider needs (required first, then optional) — see the provider modules.
PROVIDER_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    NotifierChannel.WECHAT_TEMPLATE.value: (("appid", "secret"), ("base_url", "miniprogram_appid", "timeout")),
    NotifierChannel.WECHAT_SUBSCRIBE.value: (
        ("appid", "secret"),
        ("base_url", "miniprogram_state", "lang", "timeout"),
    ),
    NotifierChannel.SMS.value: (
        ("access_key_id", "access_key_secret", "sign_name"),
        ("region_id", "endpoint", "protocol", "connect_timeout", "read_timeout"),
    ),
    NotifierChannel.WECOM.value: (
        ("corp_id", "secret", "agent_id"),
        # the approval cards (orderhub.approvals.cards): the app's callback Token and EncodingAESKey, the
        # per-member limit (WeCom drops what passes 30 a minute per member)
        ("base_url", "timeout", "callback_token", "callback_aes_key", "member_per_minute"),
    ),
}
_SETTINGS_KEY = "notify.settings"


def _provider_key(channel: str) -> str:
    return f"notify.provider.{channel}"


class NotifySettings(msgspec.Struct, frozen=True, kw_only=True):
    quiet_start: str = "22:00"  # Asia/Shanghai: non-urgent customer messages wait until quiet_end
    quiet_end: str = "08:00"
    public_base_url: str = ""  # this hub as customers reach it, for tracking links (/t/{token})
    # The seller's mini-program page a subscribe message opens, e.g. "pages/track/index" (gets ?token=…); empty:
    # the message opens no page (WeChat refuses a page the mini-program does not have).
    miniprogram_page: str = ""
    per_second: dict[str, int] = msgspec.field(
        default_factory=lambda: {"wechat_template": 20, "wechat_subscribe": 20, "aliyun_sms": 50, "wecom": 10}
    )
    phone_per_minute: int = 1  # SMS to one number (Aliyun's own flow control is 1/min, 5/h, 10/day)
    phone_per_hour: int = 5
    max_attempts: int = 6  # transient errors are retried with backoff until then


def _hhmm(text: str, field: str) -> time:
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise ValidationFailed("时间应为 HH:MM（北京时间）", field=field)
    hour, minute = int(parts[0]), int(parts[1])
    if hour > 23 or minute > 59:
        raise ValidationFailed("时间应为 HH:MM（北京时间）", field=field)
    return time(hour, minute)


async def _read(key: str) -> str | None:
    row = await PipelineSetting.select(PipelineSetting.value).where(PipelineSetting.key == key).first()
    return None if row is None else str(row["value"])


async def _write(key: str, value: str, actor: str) -> None:
    now = clock.now()
    async with db.transaction():
        updated = await PipelineSetting.update(
            {PipelineSetting.value: value, PipelineSetting.updated_by: actor[:64], PipelineSetting.updated_at: now}
        ).where(PipelineSetting.key == key).returning(PipelineSetting.id)
        if not updated:
            await PipelineSetting.insert(PipelineSetting(key=key, value=value, updated_by=actor[:64], updated_at=now))


async def load_settings() -> NotifySettings:
    raw = await _read(_SETTINGS_KEY)
    return NotifySettings() if raw is None else msgspec.json.decode(raw, type=NotifySettings)


async def save_settings(settings: NotifySettings, *, actor: str) -> NotifySettings:
    _hhmm(settings.quiet_start, "quiet_start")
    _hhmm(settings.quiet_end, "quiet_end")
    if settings.public_base_url and not settings.public_base_url.startswith(("http://", "https://")):
        raise ValidationFailed("链接地址应以 http:// 或 https:// 开头", field="public_base_url")
    unknown = sorted(set(settings.per_second) - set(PROVIDER_KEYS))
    if unknown:
        raise ValidationFailed(f"未知的渠道：{'、'.join(unknown)}", field="per_second")
    if any(v < 1 for v in settings.per_second.values()):
        raise ValidationFailed("每秒条数至少为 1", field="per_second")
    if settings.phone_per_minute < 1:
        raise ValidationFailed("每个号码每分钟至少 1 条", field="phone_per_minute")
    if settings.phone_per_hour < 1:
        raise ValidationFailed("每个号码每小时至少 1 条", field="phone_per_hour")
    if not 1 <= settings.max_attempts <= 20:
        raise ValidationFailed("重试次数应在 1 到 20 之间", field="max_attempts")
    await _write(_SETTINGS_KEY, msgspec.json.encode(settings).decode(), actor)
    return settings


def quiet_until(now: datetime, settings: NotifySettings) -> datetime | None:
    """When the quiet hours around ``now`` end (aware UTC), or None when ``now`` is not in them."""
    start, end = _hhmm(settings.quiet_start, "quiet_start"), _hhmm(settings.quiet_end, "quiet_end")
    if start == end:
        return None
    local = clock.to_shanghai(now)
    at = local.time()
    inside = (start <= at or at < end) if start > end else (start <= at < end)
    if not inside:
        return None
    day = local.date() if at < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=local.tzinfo).astimezone(now.tzinfo)


async def set_provider(channel: str, config: dict[str, str], *, actor: str) -> list[str]:
    """Store a provider's account (sealed). Returns the keys set (never their values)."""
    if channel not in PROVIDER_KEYS:
        raise ValidationFailed(f"未知的渠道，可选：{'、'.join(PROVIDER_KEYS)}", field="channel")
    required, optional = PROVIDER_KEYS[channel]
    missing = [k for k in required if not str(config.get(k) or "").strip()]
    if missing:
        raise ValidationFailed(f"缺少必填项：{'、'.join(missing)}", field=f"config.{missing[0]}")
    unknown = sorted(set(config) - set(required) - set(optional))
    if unknown:
        raise ValidationFailed(f"未知的配置项：{'、'.join(unknown)}", field=f"config.{unknown[0]}")
    if channel == NotifierChannel.WECOM.value and not str(config["agent_id"]).isdigit():
        raise ValidationFailed("agent_id 应为数字", field="config.agent_id")
    if channel == NotifierChannel.WECOM.value:
        _check_wecom_callback(config)
    sealed = crypto.encrypt(get_settings().secret_key, msgspec.json.encode(config))
    await _write(_provider_key(channel), sealed, actor)
    return sorted(config)


def _check_wecom_callback(config: dict[str, str]) -> None:
    """The approval cards' settings (回调配置, https://developer.work.weixin.qq.com/document/path/90930: Token of
    letters or digits, at most 32; EncodingAESKey of 43 letters or digits), both or neither; at most 30 a minute."""
    token, key = str(config.get("callback_token") or ""), str(config.get("callback_aes_key") or "")
    if bool(token) != bool(key):
        raise ValidationFailed("回调 Token 与 EncodingAESKey 需同时填写", field="config.callback_token")
    if token and not (token.isascii() and token.isalnum() and len(token) <= 32):
        raise ValidationFailed("回调 Token 应为不超过 32 位的英文或数字", field="config.callback_token")
    if key and not (key.isascii() and key.isalnum() and len(key) == 43):
        raise ValidationFailed("EncodingAESKey 应为 43 位英文或数字", field="config.callback_aes_key")
    per_minute = str(config.get("member_per_minute") or "30")
    if not per_minute.isdigit() or not 1 <= int(per_minute) <= 30:
        raise ValidationFailed("每人每分钟条数应在 1 到 30 之间", field="config.member_per_minute")


async def provider_config(channel: str) -> dict[str, str] | None:
    raw = await _read(_provider_key(channel))
    if raw is None:
        return None
    config: dict[str, str] = msgspec.json.decode(crypto.decrypt(get_settings().secret_key, raw))
    return config


async def configured_channels() -> dict[str, list[str]]:
    """The channels with an account, and which keys each has."""
    found: dict[str, list[str]] = {}
    for channel in PROVIDER_KEYS:
        config = await provider_config(channel)
        if config is not None:
            found[channel] = sorted(config)
    return found



@lru_cache(maxsize=4)
def _sync_client(url: str) -> sync_redis.Redis:
    return sync_redis.Redis.from_url(url, socket_timeout=5)


def token_redis() -> sync_redis.Redis:
    """wechatpy keeps access tokens in Redis through a synchronous client (shared by every process)."""
    settings = get_settings()
    if not settings.redis_url:
        raise RuntimeError("no Redis URL configured")
    return _sync_client(settings.redis_url)
