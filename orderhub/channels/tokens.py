"""Shop authorisations over time: access tokens refreshed ahead of expiry, and the staff told in WeCom what only
the seller can do (authorise the app again). The worker's cron runs :func:`run` (``ORDERHUB_TOKEN_CRON``, every
10 minutes); docs/channels.md#authorisation.

For every active platform channel with an access token:

* **refresh ahead** — when the token expires within the lead (``ORDERHUB_TOKEN_REFRESH_LEAD_MINUTES``, 2 h;
  抖店 at most 55 min, see :data:`_LATEST_LEAD`) the connector's ``refresh_token()`` is called and the new pair
  stored sealed, through :func:`~orderhub.channels.service.refresh_channel_token`: one process per channel at a
  time (a Redis lock), the stored credentials read again under it, and only the token this pass saw is refreshed
  (a refresh token is single use). Credentials never tried since they were set are tried once as soon as they are
  within the notice window, so a channel that cannot refresh is known days before its token expires;
* **a refused refresh** (``refused``: the platform said the refresh token is no good) → ``staff_token_refused``,
  and no more refresh calls until the credentials are set again;
* **a channel that cannot refresh** (``can_refresh()`` False — TOP outside 服务市场 —, or a refresh answered with
  one of :data:`~orderhub.channels.service.CANNOT_REFRESH`) → ``staff_token_expiring`` with the access token's
  expiry, ``ORDERHUB_TOKEN_NOTICE_DAYS`` (7 and 1) days ahead;
* **a refresh token about to expire** (拼多多 says when) → ``staff_token_expiring`` with its expiry, the
  same days ahead.

Each notice goes once per channel, expiry and stage: its outbox subject names them (``token:<channel>:…``) and the
outbox keeps one row per subject and recipient. Dates are shown in Asia/Shanghai.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import httpx
import msgspec

from orderhub import clock, db, httpclient
from orderhub.channels.catalogue import entry
from orderhub.channels.port import ChannelConnector, Credentials, connector_for, registered_platforms
from orderhub.channels.service import (
    Platform,
    RefreshOutcome,
    connector_credentials,
    record_refresh,
    refresh_channel_token,
)
from orderhub.channels.tables import Channel
from orderhub.notifications.outbox import write_scope_alert
from orderhub.notifications.tables import Notification
from orderhub.settings import get_settings

__all__ = ["EXPIRING", "REFUSED", "TokenReport", "run"]

log = logging.getLogger("orderhub.channels.tokens")

EXPIRING = "staff_token_expiring"
REFUSED = "staff_token_refused"

# 抖店: refreshing more than an hour before the access token expires answers the same pair with the same expiry;
# within the last hour it issues a new pair (the old one stays valid for an hour); the refresh token lives 14 days —
# the platform's token.create / token.refresh field notes (access_token, refresh_token) as the doudian SDK reproduces
# them: https://pkg.go.dev/gitee.com/hansdq/dy-qc-sdk@v1.0.8/api/token_create/response. The cron's 10 minutes leave
# 5 tries within that hour.
_LATEST_LEAD = {Platform.DOUYIN.value: timedelta(minutes=55)}
# 微信小店's access token is the app's own (appid + AppSecret), fetched and renewed by its connector: no shop
# authorisation expires there.
_SELF_RENEWING = frozenset({Platform.WECHAT_SHOP.value})
# Where the seller authorises the app again.
_WHERE = {
    Platform.TAOBAO.value: "淘宝服务市场（或应用的授权页）",
    Platform.TMALL.value: "淘宝服务市场（或应用的授权页）",
    Platform.JD.value: "京东服务市场",
    Platform.PDD.value: "拼多多服务市场",
    Platform.DOUYIN.value: "抖店服务市场",
}


@runtime_checkable
class _RefreshGate(Protocol):
    """A connector that knows whether its shop's token can be refreshed at all (淘宝: only apps ordered through
    服务市场, with a refresh token)."""

    def can_refresh(self) -> bool: ...


class TokenReport(msgspec.Struct, kw_only=True):
    channels: int = 0  # looked at
    refreshed: list[str] = []  # channel codes
    refused: list[str] = []
    unsupported: list[str] = []
    failed: list[str] = []
    notices: int = 0  # notices written this pass (each once per channel, expiry and stage)


class _Row(msgspec.Struct):
    id: int
    code: str
    name: str
    platform: str
    credentials: str
    token_refresh_status: str
    token_refresh_at: datetime | None
    token_refresh_error: str


# A channel found unable to refresh is tried again after this long (its connector may have learnt since).
_RETRY_UNSUPPORTED = timedelta(days=1)


async def run(*, http: httpx.AsyncClient | None = None, now: datetime | None = None) -> TokenReport:
    """One pass over the active platform channels (see the module docstring)."""
    now = now or clock.now()
    platforms = [p for p in registered_platforms() if p not in _SELF_RENEWING]
    rows = db.rows_as(
        _Row,
        await Channel.select(
            Channel.id,
            Channel.code,
            Channel.name,
            Channel.platform,
            Channel.credentials,
            Channel.token_refresh_status,
            Channel.token_refresh_at,
            Channel.token_refresh_error,
        )
        .where(
            (Channel.active == True)  # noqa: E712
            & Channel.platform.is_in(platforms)  # bounded: the registered platforms (a handful)
        )
        .order_by(Channel.id),
    )
    report = TokenReport()
    if not rows:
        return report
    client = http or httpclient.client(timeout=httpx.Timeout(30.0, connect=10.0))
    try:
        for row in rows:
            try:
                await _look_after(row, client, now, report)
            except Exception:  # one channel's trouble (a bug, a database hiccup) never stops the others
                log.exception("token upkeep failed", extra={"channel": row.code})
    finally:
        if http is None:
            await client.aclose()
    return report


async def _look_after(row: _Row, http: httpx.AsyncClient, now: datetime, report: TokenReport) -> None:
    settings = get_settings()
    seen = connector_credentials(row.credentials)
    if not seen.access_token:
        return  # never authorised: nothing to keep alive
    report.channels += 1
    status, platform_code = row.token_refresh_status, _code_of(row.token_refresh_error)

    def build(credentials: Credentials) -> ChannelConnector:
        return connector_for(row.platform, credentials, http)

    if status == RefreshOutcome.UNSUPPORTED and (
        row.token_refresh_at is None or row.token_refresh_at < now - _RETRY_UNSUPPORTED
    ):
        status = ""  # tried again, as credentials never tried
    if status not in (RefreshOutcome.UNSUPPORTED, RefreshOutcome.REFUSED) and not await _can_refresh(build(seen)):
        status = RefreshOutcome.UNSUPPORTED.value
        await record_refresh(row.id, RefreshOutcome.UNSUPPORTED, "该店铺的授权不能由系统刷新，需在到期前重新授权")
        report.unsupported.append(row.code)
    if status not in (RefreshOutcome.UNSUPPORTED, RefreshOutcome.REFUSED):
        window = timedelta(days=max(settings.token_notice_days, default=0)) if not status else None
        due = _due(seen, now, lead=_lead(row.platform), window=window)
        if due(seen):
            result = await refresh_channel_token(row.id, build, due=due)
            if result.outcome is not RefreshOutcome.SKIPPED:
                status = result.outcome.value
                _count(report, result.outcome, row.code)
            if result.credentials is not None:
                seen = result.credentials
            if result.error is not None:
                platform_code = result.error.platform_code
    platform = entry(row.platform)
    name = platform.name if platform else row.platform
    context = {"shop": row.name, "platform": name, "where": _WHERE.get(row.platform, f"{name}后台")}
    if status == RefreshOutcome.REFUSED:
        subject = f"token:{row.id}:refused:{_epoch(seen.token_expires_at)}"
        report.notices += await _tell(subject, REFUSED, {**context, "platform_code": platform_code or "—"})
    elif status in (RefreshOutcome.UNSUPPORTED, RefreshOutcome.FAILED):
        # cannot refresh, or keeps failing with something other than a refusal: the access token's own date
        report.notices += await _tell_ahead(row.id, "access", seen.token_expires_at, now, context)
        if status == RefreshOutcome.FAILED:
            report.notices += await _tell_ahead(row.id, "refresh", seen.refresh_expires_at, now, context)
    else:
        report.notices += await _tell_ahead(row.id, "refresh", seen.refresh_expires_at, now, context)


def _count(report: TokenReport, outcome: RefreshOutcome, code: str) -> None:
    {
        RefreshOutcome.REFRESHED: report.refreshed,
        RefreshOutcome.REFUSED: report.refused,
        RefreshOutcome.UNSUPPORTED: report.unsupported,
        RefreshOutcome.FAILED: report.failed,
    }[outcome].append(code)


def _code_of(error: str) -> str:
    """The platform's code in a recorded refusal ("…（平台代码 X）", as refresh_channel_token writes it)."""
    marker = "（平台代码 "
    return error.rpartition(marker)[2].removesuffix("）") if marker in error else ""


async def _can_refresh(connector: ChannelConnector) -> bool:
    if not isinstance(connector, _RefreshGate):
        return True
    answer: Any = connector.can_refresh()
    return bool(await answer) if inspect.isawaitable(answer) else bool(answer)


def _lead(platform: str) -> timedelta:
    lead = timedelta(minutes=get_settings().token_refresh_lead_minutes)
    return min(lead, _LATEST_LEAD.get(platform, lead))


def _due(
    seen: Credentials, now: datetime, *, lead: timedelta, window: timedelta | None
) -> Callable[[Credentials], bool]:
    """Whether the stored credentials are due a refresh: still the access token this pass saw (another process
    may have refreshed it meanwhile), expiring within the lead — or, for credentials never tried (``window``),
    within the notice window."""
    reach = max(lead, window) if window is not None else lead

    def due(stored: Credentials) -> bool:
        expires = stored.token_expires_at
        return stored.access_token == seen.access_token and expires is not None and expires - now <= reach

    return due


def _epoch(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment is not None else 0


async def _tell_ahead(
    channel_id: int, kind: str, expires: datetime | None, now: datetime, context: dict[str, str]
) -> int:
    """The advance notice for an expiry, at the closest stage (days before) reached, once per stage."""
    if expires is None or expires <= now:
        return 0
    stages = [d for d in get_settings().token_notice_days if expires - now <= timedelta(days=d)]
    if not stages:
        return 0
    subject = f"token:{channel_id}:{kind}-{min(stages)}d:{_epoch(expires)}"
    expiry = clock.to_shanghai(expires).strftime("%Y-%m-%d %H:%M")
    return await _tell(subject, EXPIRING, {**context, "expires": expiry, "days": min(stages)})


async def _tell(subject: str, event: str, context: dict[str, Any]) -> int:
    """The admins and managers bound to no warehouse hear it in WeCom, once per subject (1 when written now)."""
    if await Notification.exists().where(Notification.subject == subject):
        return 0
    async with db.transaction():
        why = await write_scope_alert(subject, event, None, context)
    if why:
        log.warning("token notice reached nobody in WeCom", extra={"subject": subject, "why": why})
        return 0
    return 1
