"""Pulling settlement data on a schedule, with a cursor per channel and bill day, like order pulls.

:func:`pull_due` (a worker cron, hourly) pulls, for every active platform channel whose platform has a
:data:`~orderhub.finance.port.SETTLEMENT_SOURCES` entry and whose settlement pull is not switched off, each bill day
from the first one not yet done (at most :data:`CATCH_UP_DAYS` back) to yesterday (Beijing calendar: the platforms'
bills are T+1). A day is pulled page by page; each page's lines are stored (and reconciled) before the next page is
asked for and the page cursor is saved with them, so a failed pull resumes where it stopped and a day pulled twice
changes nothing. A day the platform has not produced yet (``bill_not_ready``) is asked again next hour.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta

import httpx
import msgspec

from orderhub import clock, crypto, db, httpclient
from orderhub.channels.port import PlatformError
from orderhub.channels.service import connector_credentials
from orderhub.errors import ValidationFailed
from orderhub.finance.errors import FinanceError
from orderhub.finance.port import SETTLEMENT_SOURCES
from orderhub.finance.settlements import store_lines
from orderhub.settings import get_settings

__all__ = [
    "CATCH_UP_DAYS",
    "MAX_PAGES",
    "SETTLEMENTS_CRON",
    "PullOutcome",
    "extra_keys",
    "pull_day",
    "pull_due",
    "save_extra",
    "sealed_extra",
]

log = logging.getLogger("orderhub.finance")

CATCH_UP_DAYS = 14
SETTLEMENTS_CRON = "7 * * * * 0"  # hourly, at minute 7 (the bills of T+1 appear in the morning)
MAX_PAGES = 2_000  # one day's pages at most: a platform answering with a cursor forever must not pin a worker


class PullOutcome(msgspec.Struct, frozen=True, kw_only=True):
    channel_id: int
    day: str
    status: str  # done | not_ready | failed
    lines: int
    error: str = ""


class _Channel(msgspec.Struct):
    id: int
    platform: str
    credentials: str


class _Setting(msgspec.Struct):
    enabled: bool
    extra: str
    first_day: str


class _Pull(msgspec.Struct):
    status: str
    cursor: str | None
    lines: int


def sealed_extra(extra: Mapping[str, str]) -> str:
    return crypto.encrypt(get_settings().secret_key, msgspec.json.encode(dict(extra)))


def _extra(sealed: str) -> dict[str, str]:
    if not sealed:
        return {}
    return msgspec.json.decode(crypto.decrypt(get_settings().secret_key, sealed), type=dict[str, str])


async def save_extra(
    channel_id: int, extra: Mapping[str, str] | None, *, enabled: bool = True, first_day: str = ""
) -> None:
    """A channel's settlement-only settings (sealed) and whether its settlement is pulled; ``extra`` None keeps the
    stored settings (switching the pull off must not erase the Alipay keys)."""
    if first_day:
        try:
            date.fromisoformat(first_day)
        except ValueError:
            raise ValidationFailed(FinanceError.BAD_DAY, field="first_day") from None
    keep = "" if extra is not None else "settlement_setting.extra"
    await db.execute(
        "INSERT INTO settlement_setting (channel, enabled, extra, first_day, updated_at) VALUES ({}, {}, {}, {}, {}) "
        "ON CONFLICT (channel) DO UPDATE SET enabled = excluded.enabled, "
        f"extra = {keep or 'excluded.extra'}, first_day = excluded.first_day, updated_at = excluded.updated_at",
        channel_id,
        enabled,
        sealed_extra(extra or {}),
        first_day,
        clock.now(),
    )


async def extra_keys(channel_id: int) -> list[str]:
    """The names of a channel's stored settlement settings (never their values)."""
    setting = await db.fetch_one_as(
        _Setting, "SELECT enabled, extra, first_day FROM settlement_setting WHERE channel = {}", channel_id
    )
    return sorted(_extra(setting.extra)) if setting is not None else []


async def _record(channel_id: int, day: str, status: str, cursor: str | None, lines: int, error: str = "") -> None:
    await db.execute(
        "INSERT INTO settlement_pull (channel, day, status, cursor, lines, error, attempts, updated_at) "
        "VALUES ({}, {}, {}, {}, {}, {}, 1, {}) ON CONFLICT (channel, day) DO UPDATE SET status = excluded.status, "
        "cursor = excluded.cursor, lines = excluded.lines, error = excluded.error, "
        "attempts = settlement_pull.attempts + 1, updated_at = excluded.updated_at",
        channel_id,
        day,
        status,
        cursor,
        lines,
        error[:255],
        clock.now(),
    )


async def pull_day(channel_id: int, day: date, *, http: httpx.AsyncClient | None = None) -> PullOutcome:
    """Pull one channel's bill day, resuming at its saved cursor."""
    channel = await db.fetch_one_as(_Channel, "SELECT id, platform, credentials FROM channel WHERE id = {}", channel_id)
    if channel is None or channel.platform not in SETTLEMENT_SOURCES:
        raise ValidationFailed(FinanceError.NO_SETTLEMENT_SOURCE, field="channel")
    setting = await db.fetch_one_as(
        _Setting, "SELECT enabled, extra, first_day FROM settlement_setting WHERE channel = {}", channel_id
    )
    key = day.isoformat()
    state = await db.fetch_one_as(
        _Pull, "SELECT status, cursor, lines FROM settlement_pull WHERE channel = {} AND day = {}", channel_id, key
    )
    cursor = state.cursor if state is not None and state.status != "done" else None
    lines = state.lines if state is not None and state.status != "done" else 0
    own_http = http is None
    client = http or httpclient.client(timeout=httpx.Timeout(60.0, connect=10.0))
    try:
        source = SETTLEMENT_SOURCES.get(channel.platform)(
            connector_credentials(channel.credentials), _extra(setting.extra if setting else ""), client
        )
        for _ in range(MAX_PAGES):
            page = await source.fetch_day(day, cursor)
            if page.lines:
                await store_lines(channel_id, source="pull", batch_key=f"pull:{key}:{cursor or ''}", lines=page.lines)
            lines += len(page.lines)
            cursor = page.next_cursor
            if cursor is None:
                break
            await _record(channel_id, key, "running", cursor, lines)
        await _record(channel_id, key, "done", None, lines)
        return PullOutcome(channel_id=channel_id, day=key, status="done", lines=lines)
    except PlatformError as failed:
        status = "not_ready" if failed.platform_code == "bill_not_ready" else "failed"
        await _record(channel_id, key, status, cursor, lines, str(failed))
        log.warning("settlement pull %s/%s: %s (%s)", channel_id, key, status, failed.platform_code)
        return PullOutcome(channel_id=channel_id, day=key, status=status, lines=lines, error=str(failed))
    finally:
        if own_http:
            await client.aclose()


class _Due(msgspec.Struct):
    id: int
    platform: str
    created_at: datetime


class _Done(msgspec.Struct):
    day: str


async def pull_due(*, today: date | None = None, http: httpx.AsyncClient | None = None) -> list[PullOutcome]:
    """Pull every due bill day of every channel with a settlement source (see the module's docstring)."""
    today = today or clock.to_shanghai(clock.now()).date()
    channels = await db.fetch_as(_Due, "SELECT id, platform, created_at FROM channel WHERE active = TRUE ORDER BY id")
    outcomes: list[PullOutcome] = []
    for channel in channels:
        if channel.platform not in SETTLEMENT_SOURCES:
            continue
        setting = await db.fetch_one_as(
            _Setting, "SELECT enabled, extra, first_day FROM settlement_setting WHERE channel = {}", channel.id
        )
        if setting is not None and not setting.enabled:
            continue
        # every missed day within the window (a worker down for a day, a bill not ready until the afternoon), but
        # none before the channel existed
        first = max(today - timedelta(days=CATCH_UP_DAYS), clock.to_shanghai(channel.created_at).date())
        if setting is not None and setting.first_day:
            first = max(first, date.fromisoformat(setting.first_day))
        done = {
            row.day
            for row in await db.fetch_as(
                _Done,
                "SELECT day FROM settlement_pull WHERE channel = {} AND day >= {} AND status = 'done'",
                channel.id,
                first.isoformat(),
            )
        }
        day = first
        while day < today:
            if day.isoformat() not in done:
                try:
                    outcomes.append(await pull_day(channel.id, day, http=http))
                except Exception:  # one channel's fault must not stop the others
                    log.exception("settlement pull of channel %s day %s failed", channel.id, day)
            day += timedelta(days=1)
    return outcomes
