"""Pulling a channel's orders from its platform: scheduled (every N minutes) or on demand.

A run covers ``[cursor − overlap, now)``: the overlap re-reads the last minutes of the previous window, because
platforms index modifications late and a clock may be behind, so nothing falls in a gap; re-read orders are
answered "duplicate" by the idempotent intake. The window is cut into the platform's longest allowed span
(Pinduoduo: 30 minutes) and each span is paged to the end. The cursor advances only over spans that completed,
so a failed run is retried from where it stopped.

Each order the platform reports goes through the same intake as a push:

* new and paid (or paid with a refund asked) → intake (then the refund hold, if any);
* known → compared: cancelled / refund requested / a different receiver are applied to the order
  (:mod:`orderhub.orders.platform_changes`); otherwise a duplicate;
* unpaid, or cancelled/shipped before the hub ever saw it → skipped (counted).

Rate limits and platform outages are retried with backoff inside the run; an expired session is refreshed
once (the new token is stored sealed). Every run is recorded in ``pull_run`` with its window, pages, counts,
errors and duration.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
import msgspec

from orderhub import clock, httpclient
from orderhub import redis as redis_mod
from orderhub.address import normalise_phone
from orderhub.channels.errors import ChannelError
from orderhub.channels.port import (
    PlatformError,
    PlatformOrder,
    PlatformOrderState,
    connector_for,
    registered_platforms,
)
from orderhub.channels.service import call_platform, connector_credentials
from orderhub.channels.tables import Channel, PullRun
from orderhub.errors import HttpError, NotFound, ValidationFailed
from orderhub.orders import pii
from orderhub.orders.commands import Receiver
from orderhub.orders.platform_changes import Outcome, PlatformChange, apply_platform_change
from orderhub.orders.service import full_address, ingest, receiver_signature
from orderhub.orders.tables import Order
from orderhub.queue import JobName, enqueue
from orderhub.settings import get_settings

__all__ = [
    "PullRunView",
    "channel_row",
    "enqueue_due_pulls",
    "enqueue_pull",
    "list_pull_runs",
    "pull_again_if_asked",
    "pull_channel",
    "pull_key",
]

log = logging.getLogger("orderhub.pull")

S = PlatformOrderState
IMPORTABLE = frozenset({S.PAID, S.REFUND_REQUESTED})


class PullRunView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    channel: str
    trigger: str
    status: str
    window_start: datetime
    window_end: datetime
    pages: int
    fetched: int
    new: int
    updated: int
    duplicate: int
    skipped: int
    rejected: int
    errors: list[dict[str, Any]]
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int


class _Counts(msgspec.Struct, kw_only=True):
    pages: int = 0
    fetched: int = 0
    new: int = 0
    updated: int = 0
    duplicate: int = 0
    skipped: int = 0
    rejected: int = 0


def pull_key(channel_code: str) -> str:
    return f"channel:{channel_code}:pull"


async def enqueue_pull(channel_code: str, *, trigger: str) -> bool:
    """Queue a pull of this channel (one at a time per channel: the job key is unique while queued/active)."""
    row = await channel_row(channel_code)
    if not row["active"]:
        raise ValidationFailed("渠道已停用", code=ChannelError.CHANNEL_INACTIVE, field="channel")
    if trigger == "cron":
        return await enqueue(
            JobName.PULL_CHANNEL, key=pull_key(channel_code), timeout=900, code=channel_code, trigger=trigger
        )
    # A push or a request: if a pull of this channel is already queued or running it may have fixed its window
    # before now, so it must run once more when it ends. The flag goes up *before* the enqueue, and the worker
    # looks at it only after the job has finished (pull_again_if_asked, after_process): whichever way the two
    # interleave, the request is served. The flag names the request (a nonce), and the job queued for it carries
    # the same name: a job that finds its own request's flag (it ran before we could lower it) does not pull again,
    # and lowering our flag never removes a later request's.
    client = redis_mod.get_client()
    asked = f"{trigger} {uuid.uuid4().hex}"
    await redis_mod.awaited(client.set(_again_key(channel_code), asked.encode(), ex=3600))
    if await enqueue(
        JobName.PULL_CHANNEL,
        key=pull_key(channel_code),
        timeout=900,
        code=channel_code,
        trigger=trigger,
        asked=asked,
    ):
        # the job just queued covers it
        await redis_mod.awaited(client.eval(_DELETE_IF_EQUAL, 1, _again_key(channel_code), asked.encode()))
    return True


_DELETE_IF_EQUAL = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def _again_key(channel_code: str) -> str:
    return f"orderhub:pull-again:{channel_code}"


async def pull_again_if_asked(channel_code: str, *, asked: str = "") -> bool:
    """Once a pull job has finished (its key is free again): if a push or a request came while it was queued or
    running, pull once more. ``asked`` names the request the finished job was queued for: its own flag (raised
    before that job was queued) is served already."""
    flag = await redis_mod.awaited(redis_mod.get_client().getdel(_again_key(channel_code)))
    if not flag:
        return False
    text = flag.decode() if isinstance(flag, bytes) else str(flag)
    if asked and text == asked:
        return False
    queued = await enqueue(
        JobName.PULL_CHANNEL, key=pull_key(channel_code), timeout=900, code=channel_code, trigger=text.split(" ")[0]
    )
    if not queued:
        # The key can still be held for a moment after the job ends (or Redis hiccuped): the request goes back up
        # (unless a newer one is there already), for the job holding the key or for the next cron pass.
        await redis_mod.awaited(redis_mod.get_client().set(_again_key(channel_code), flag, ex=3600, nx=True))
    return queued


async def enqueue_due_pulls() -> list[str]:
    """The cron's part: queue every active channel whose last pull started ``pull_every_minutes`` ago or more
    (channels with scheduled pulls), and every active channel holding a request left over because its re-pull could
    not be queued when the previous job ended."""
    platforms = registered_platforms()
    channels = await Channel.select(Channel.id, Channel.code, Channel.pull_every_minutes, Channel.pull_enabled).where(
        (Channel.active == True)  # noqa: E712
        & Channel.platform.is_in(platforms)  # bounded: the registered platforms (a handful)
    )
    due: list[str] = []
    now = clock.now()
    client = redis_mod.get_client()
    for channel in channels:
        flag = await redis_mod.awaited(client.get(_again_key(channel["code"])))
        if flag:
            # a newer request covers the leftover one (if a pull is running now, its end serves it)
            text = flag.decode() if isinstance(flag, bytes) else str(flag)
            await enqueue_pull(channel["code"], trigger=text.split(" ")[0] or "request")
            due.append(channel["code"])
            continue
        if not channel["pull_enabled"]:
            continue
        last = (
            await PullRun.select(PullRun.started_at)
            .where(PullRun.channel == channel["id"])
            .order_by(PullRun.id, ascending=False)
            .first()
        )
        if last is None or last["started_at"] <= now - timedelta(minutes=int(channel["pull_every_minutes"])):
            if await enqueue_pull(channel["code"], trigger="cron"):
                due.append(channel["code"])
    return due


async def channel_row(code: str) -> dict[str, Any]:
    row = (
        await Channel.select(
            Channel.id, Channel.code, Channel.platform, Channel.credentials, Channel.pull_cursor, Channel.active
        )
        .where(Channel.code == code)
        .first()
    )
    if row is None:
        raise NotFound(f"渠道 {code} 不存在", field="channel")
    return dict(row)


async def pull_channel(code: str, *, trigger: str, http: httpx.AsyncClient | None = None) -> PullRunView:
    """One pull run of the channel (see the module docstring); returns the recorded run."""
    settings = get_settings()
    row = await channel_row(code)
    end = clock.now().replace(microsecond=0)
    cursor: datetime | None = row["pull_cursor"]
    start = (cursor or end - timedelta(hours=settings.pull_lookback_hours)) - timedelta(
        minutes=settings.pull_overlap_minutes
    )
    started = time.perf_counter()
    inserted = await PullRun.insert(
        PullRun(
            channel=row["id"],
            trigger=trigger,
            status="running",
            window_start=start,
            window_end=end,
            started_at=clock.now(),
        )
    ).returning(PullRun.id)
    run_id = int(inserted[0]["id"])
    counts = _Counts()
    errors: list[dict[str, Any]] = []
    rejections: list[dict[str, Any]] = []  # orders the intake refused (the run goes on)
    completed_until: datetime | None = None
    own_http = http is None
    client = http or httpclient.client(timeout=httpx.Timeout(30.0, connect=10.0))
    try:
        connector = connector_for(row["platform"], connector_credentials(row["credentials"]), client)
        span_start = start
        while span_start < end:
            span_end = min(end, span_start + connector.max_window)
            page: str | None = None
            while True:
                result = await call_platform(connector, row["id"], partial(connector.pull, span_start, span_end, page))
                counts.pages += 1
                counts.fetched += len(result.orders) + len(result.unreadable)
                counts.rejected += len(result.unreadable)
                rejections += [
                    {
                        "code": ChannelError.UNREADABLE_ORDER,
                        "message": f"{u.external_id}: {u.message}",
                        "platform_code": "",
                        "platform_message": "",
                    }
                    for u in result.unreadable
                ]
                await _intake(row["id"], code, result.orders, counts, rejections, actor=f"pull:{code}")
                if result.next_page is None:
                    break
                page = result.next_page
            completed_until = span_end
            span_start = span_end
    except PlatformError as exc:
        errors.append(
            {
                "code": exc.code,
                "message": exc.message,
                "platform_code": exc.platform_code,
                "platform_message": exc.platform_message,
            }
        )
        log.warning("pull failed", extra={"channel": code, "error": exc.code, "platform_code": exc.platform_code})
    except BaseException as exc:  # a bug, a timeout, a cancellation: the run says so instead of "succeeded"
        errors.append(
            {"code": HttpError.INTERNAL_ERROR, "message": repr(exc)[:500], "platform_code": "", "platform_message": ""}
        )
        log.exception("pull crashed", extra={"channel": code})
        if not isinstance(exc, Exception):
            raise  # cancelled (job timeout, shutdown): recorded as failed below, then let it stop
    finally:
        if own_http:
            await client.aclose()
        if completed_until is not None:
            await Channel.update({Channel.pull_cursor: completed_until}).where(Channel.id == row["id"])
        await PullRun.update(
            {
                PullRun.status: "failed" if errors else "succeeded",
                PullRun.pages: counts.pages,
                PullRun.fetched: counts.fetched,
                PullRun.new: counts.new,
                PullRun.updated: counts.updated,
                PullRun.duplicate: counts.duplicate,
                PullRun.skipped: counts.skipped,
                PullRun.rejected: counts.rejected,
                PullRun.errors: msgspec.json.encode(errors + rejections).decode(),  # orders refused by intake too
                PullRun.finished_at: clock.now(),
                PullRun.duration_ms: int((time.perf_counter() - started) * 1000),
            }
        ).where(PullRun.id == run_id)
    return (await list_pull_runs(code, run_id=run_id))[0]


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _receiver_differs(stored: dict[str, Any], receiver: Receiver) -> bool:
    if stored.get("source_receiver"):  # what the platform sent last time: standardisation and manual fixes aside
        return bool(stored["source_receiver"] != receiver_signature(receiver))
    return _fields_differ(stored, receiver)


def _fields_differ(stored: dict[str, Any], receiver: Receiver) -> bool:
    def squash(text: str) -> str:
        return "".join(text.split())

    stored_phone = _digits(pii.open_(stored["receiver_phone"])) + _digits(stored["receiver_phone_ext"] or "")
    phone = normalise_phone(receiver.phone)  # as the pipeline stored it ("+86 138…" → "138…", extension apart)
    given = _digits(phone.number) + _digits(phone.extension or "") if phone.ok else _digits(receiver.phone)
    return (
        squash(pii.open_(stored["receiver_name"])) != squash(receiver.name)
        or stored_phone != given
        or squash(pii.open_(stored["receiver_address"])) != squash(full_address(receiver))
    )


async def _intake(
    channel_id: int,
    code: str,
    orders: Sequence[PlatformOrder],
    counts: _Counts,
    rejections: list[dict[str, Any]],
    *,
    actor: str,
) -> None:
    if not orders:
        return
    latest: dict[str, PlatformOrder] = {}
    for item in orders:  # a page may carry an order twice (re-sorted between pages): keep the newest
        known = latest.get(item.order.external_id)
        if known is None or item.updated_at >= known.updated_at:
            latest[item.order.external_id] = item
    existing = {
        row["external_id"]: row
        for row in await Order.select(
            Order.id,
            Order.external_id,
            Order.receiver_name,
            Order.receiver_phone,
            Order.receiver_phone_ext,
            Order.receiver_address,
            Order.source_receiver,
        ).where(
            (Order.channel == channel_id)
            & Order.external_id.is_in(sorted(latest))  # bounded: one page of the platform's (≤ 100 orders)
        )
    }
    fresh = [item for ext, item in latest.items() if ext not in existing and item.state in IMPORTABLE]
    counts.skipped += sum(1 for ext, item in latest.items() if ext not in existing and item.state not in IMPORTABLE)
    counts.duplicate += len(orders) - len(latest)
    if fresh:
        outcomes = await ingest(channel_id, code, [item.order for item in fresh], actor=actor)
        by_ext = {item.order.external_id: item for item in fresh}
        for outcome in outcomes:
            if outcome.status == "accepted":
                counts.new += 1
                item = by_ext[outcome.external_id]
                if item.state == S.REFUND_REQUESTED and outcome.order_id:
                    await apply_platform_change(outcome.order_id, PlatformChange.REFUND_REQUESTED, actor=actor)
            elif outcome.status == "duplicate":
                counts.duplicate += 1  # a push stored it between our read and our insert
            else:
                counts.rejected += 1
                rejections.append(
                    {
                        "code": outcome.error_code or "rejected",
                        "message": f"{outcome.external_id}: {outcome.error_message or '订单被拒绝'}",
                        "platform_code": "",
                        "platform_message": outcome.error_field or "",
                    }
                )
                log.warning(
                    "pulled order rejected",
                    extra={"channel": code, "external_id": outcome.external_id, "error": outcome.error_code},
                )
    for ext, stored in existing.items():
        item = latest[ext]
        change: PlatformChange | None = None
        if item.state == S.CANCELLED:
            change = PlatformChange.CANCELLED
        elif item.state == S.REFUND_REQUESTED:
            change = PlatformChange.REFUND_REQUESTED
        elif item.state == S.PAID and _receiver_differs(stored, item.order.receiver):
            change = PlatformChange.RECEIVER_CHANGED
        if change is None:
            counts.duplicate += 1
            continue
        outcome_of = await apply_platform_change(int(stored["id"]), change, actor=actor, receiver=item.order.receiver)
        if outcome_of == Outcome.UNCHANGED:
            counts.duplicate += 1
        else:
            counts.updated += 1


async def list_pull_runs(code: str, *, limit: int = 50, run_id: int | None = None) -> list[PullRunView]:
    row = await channel_row(code)
    query = PullRun.select().where(PullRun.channel == row["id"]).order_by(PullRun.id, ascending=False).limit(limit)
    if run_id is not None:
        query = query.where(PullRun.id == run_id)
    return [
        PullRunView(
            id=r["id"],
            channel=code,
            trigger=r["trigger"],
            status=r["status"],
            window_start=r["window_start"],
            window_end=r["window_end"],
            pages=r["pages"],
            fetched=r["fetched"],
            new=r["new"],
            updated=r["updated"],
            duplicate=r["duplicate"],
            skipped=r["skipped"],
            rejected=r["rejected"],
            errors=msgspec.json.decode(r["errors"] or "[]"),
            started_at=r["started_at"],
            finished_at=r["finished_at"],
            duration_ms=r["duration_ms"],
        )
        for r in await query
    ]
