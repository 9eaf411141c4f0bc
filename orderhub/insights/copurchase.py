"""Co-purchase mining: which SKUs are bought together, as association rules with support, confidence and lift
(docs/insights-mining.md).

A run counts, over the orders placed in a period and scope (channels; the shipping warehouse's region) that are not
cancelled and not replacements (补发单), each order's distinct non-gift SKUs and their quantities (the *basket*),
then

- per SKU: the orders having it, and having ≥ N units of it (N = 2 … ``max_qty``);
- per SKU pair: the orders having both, and those having ≥ N units of one of them and the other;

and turns the pairs counted at least ``min_count`` times (and at least ``min_support`` of the orders) into rules
X → Y (and "≥ N of X → Y"), keeping the ``max_patterns`` with the highest lift. The counting is a sparse
co-occurrence count in SQL (a self-join of the baskets on the order, grouped by pair, ``HAVING`` the minimum count):
the database reads the order lines where they are and only the frequent pairs travel — measured against counting in
Python in docs/insights-mining.md.

The run is a job (``mine_copurchase``, :func:`run_mining`): :func:`start_run` stores it queued and enqueues it after
commit (409 ``copurchase_run_duplicate`` while an identical run is queued or running). The job claims the run with a
compare-and-set (queued / failed / stale running → running, one more attempt), so two overlapping executions never
both write patterns; a run gets :data:`MAX_ATTEMPTS` executions (timeouts, dead workers, errors), then stays failed.
:func:`get_pattern` is what the add-on offers (``orderhub.offers``) build a draft from.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import Conflict, NotFound, ValidationFailed
from orderhub.insights.errors import MiningError
from orderhub.insights.queries import day_window
from orderhub.orders.state import OrderStatus
from orderhub.queue import JobName, enqueue

__all__ = [
    "ERROR_ATTEMPTS",
    "ERROR_INTERRUPTED",
    "ERROR_TIMEOUT",
    "MAX_ATTEMPTS",
    "MAX_QTY",
    "MINING_TIMEOUT_S",
    "REQUEUE_CRON",
    "BasketCounts",
    "MiningParams",
    "Pattern",
    "PatternFilter",
    "PatternIn",
    "RunView",
    "counts_from_baskets",
    "error_message",
    "get_pattern",
    "get_run",
    "list_patterns",
    "list_runs",
    "mine",
    "params_for_days",
    "patterns_from_counts",
    "requeue_stale_runs",
    "run_key",
    "run_mining",
    "start_run",
    "support_threshold",
]

log = logging.getLogger("orderhub.insights.copurchase")

MAX_QTY = 5  # "≥ N of X" antecedents: N = 1 … at most this
MAX_PERIOD_DAYS = 366
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)  # days outside are mistakes (and overflow date arithmetic)
MAX_CHANNELS = 50
REQUEUE_CRON = "*/5 * * * *"  # requeue_stale_runs
MINING_TIMEOUT_S = 900  # the job's timeout: a run over 1,000,000 orders takes well under a minute (bench.copurchase)
STALE_S = MINING_TIMEOUT_S + 60  # a run ``running`` this long lost its worker: it may be claimed again
MAX_ATTEMPTS = 3  # executions a run gets (a timeout, a dead worker, an error each count one), then it stays failed
_START_LOCK = 20_020  # pg_advisory_xact_lock's first key: starting a run (the duplicate check), hub-wide

# A failed run's ``error`` (English, stable) when it was not an exception of its own, and what people are shown.
ERROR_TIMEOUT = "timeout"  # cancelled at the job's timeout (SAQ cancels the task)
ERROR_INTERRUPTED = "interrupted"  # cancelled earlier: the worker shut down
ERROR_ATTEMPTS = "too many attempts"  # MAX_ATTEMPTS executions claimed it and none closed it (dead workers)
_ERROR_MESSAGES = {
    ERROR_TIMEOUT: f"挖掘超时（超过 {MINING_TIMEOUT_S} 秒）",
    ERROR_INTERRUPTED: "挖掘被中断（工作进程停止）",
    ERROR_ATTEMPTS: f"已尝试 {MAX_ATTEMPTS} 次仍未完成",
}


# -- views ---------------------------------------------------------------------------------------------------------


class Pattern(msgspec.Struct, frozen=True, kw_only=True):
    """One mined rule: orders with at least ``min_qty`` units of (each of) ``antecedent`` also have ``consequent``.

    ``orders`` have both; ``support`` = orders ÷ the run's orders; ``confidence`` = P(consequent | antecedent) =
    orders ÷ ``antecedent_orders``; ``lift`` = confidence ÷ P(consequent) (1 = bought independently)."""

    id: int
    run_id: int
    antecedent: list[str]
    min_qty: int
    consequent: str
    support: float
    confidence: float
    lift: float
    orders: int
    antecedent_orders: int
    consequent_orders: int


class RunView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    status: str
    since: datetime
    until: datetime
    channels: list[str]
    region: str
    min_support: float
    min_count: int
    max_qty: int
    max_patterns: int
    triples: bool
    orders: int
    pairs: int
    patterns: int
    took_ms: int
    error: str
    error_message: str  # zh-CN, for people: "" unless failed
    attempts: int  # executions that claimed the run, at most MAX_ATTEMPTS
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class MiningParams(msgspec.Struct, frozen=True, kw_only=True):
    """What to mine: orders placed in [``since``, ``until``) of the scope, and the thresholds."""

    since: datetime
    until: datetime
    channels: list[str] = []  # channel codes; empty = every channel
    region: str = ""  # warehouse.region of the shipping warehouse; "" = every region (unrouted orders too)
    min_support: float = 0.001
    min_count: int = 5
    max_qty: int = 3
    max_patterns: int = 5_000
    triples: bool = False  # also {X, Z} → Y, where every pair of the three is frequent (apriori)


class PatternFilter(msgspec.Struct, frozen=True, kw_only=True):
    sku: str | None = None  # in the antecedent or the consequent
    antecedent: str | None = None
    consequent: str | None = None
    min_qty: int | None = None
    min_lift: float | None = None
    min_confidence: float | None = None
    min_orders: int | None = None
    limit: int = 50
    offset: int = 0


# -- get one pattern (what the offers build a draft from) ----------------------------------------------------------


class _PatternRow(msgspec.Struct):
    id: int
    run: int
    antecedent: str
    min_qty: int
    consequent: str
    orders: int
    antecedent_orders: int
    consequent_orders: int
    support: float
    confidence: float
    lift: float


_PATTERN_SELECT = (
    "SELECT id, run, antecedent, min_qty, consequent, orders, antecedent_orders, consequent_orders, support, "
    "confidence, lift FROM copurchase_pattern"
)


def _pattern(row: _PatternRow) -> Pattern:
    return Pattern(
        id=row.id,
        run_id=row.run,
        antecedent=list(json.loads(row.antecedent)),
        min_qty=row.min_qty,
        consequent=row.consequent,
        support=row.support,
        confidence=row.confidence,
        lift=row.lift,
        orders=row.orders,
        antecedent_orders=row.antecedent_orders,
        consequent_orders=row.consequent_orders,
    )


async def get_pattern(pattern_id: int) -> Pattern:
    """One mined pattern by id; ``NotFound`` ``copurchase_pattern_not_found`` (field ``pattern_id``) otherwise."""
    row = await db.fetch_one_as(_PatternRow, _PATTERN_SELECT + " WHERE id = {}", pattern_id)
    if row is None:
        raise NotFound(MiningError.COPURCHASE_PATTERN_NOT_FOUND, field="pattern_id")
    return _pattern(row)


async def list_patterns(run_id: int, flt: PatternFilter) -> list[Pattern]:
    """A run's patterns, highest lift first (then most orders), filtered."""
    await get_run(run_id)
    where: list[str] = ["run = {}"]
    args: list[Any] = [run_id]
    if flt.sku is not None:
        # antecedent is a JSON list of codes: match the quoted code inside it
        where.append("(consequent = {} OR antecedent LIKE {} ESCAPE '\\')")
        args += [flt.sku, _json_member(flt.sku)]
    if flt.antecedent is not None:
        where.append("antecedent LIKE {} ESCAPE '\\'")
        args.append(_json_member(flt.antecedent))
    if flt.consequent is not None:
        where.append("consequent = {}")
        args.append(flt.consequent)
    for column, value in (
        ("min_qty", flt.min_qty),
        ("lift", flt.min_lift),
        ("confidence", flt.min_confidence),
        ("orders", flt.min_orders),
    ):
        if value is not None:
            where.append(f"{column} {'=' if column == 'min_qty' else '>='} {{}}")
            args.append(value)
    rows = await db.fetch_as(
        _PatternRow,
        _PATTERN_SELECT + " WHERE " + " AND ".join(where) + " ORDER BY lift DESC, orders DESC, id LIMIT {} OFFSET {}",
        *args,
        flt.limit,
        flt.offset,
    )
    return [_pattern(row) for row in rows]


def _json_member(code: str) -> str:
    escaped = json.dumps(code, ensure_ascii=False).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- runs ----------------------------------------------------------------------------------------------------------


class _RunRow(msgspec.Struct):
    id: int
    status: str
    since: datetime
    until: datetime
    channels: str
    region: str
    min_support: float
    min_count: int
    max_qty: int
    max_patterns: int
    triples: bool
    orders: int
    pairs: int
    patterns: int
    took_ms: int
    error: str
    attempts: int
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


_RUN_SELECT = (
    "SELECT id, status, since, until, channels, region, min_support, min_count, max_qty, max_patterns, triples, "
    "orders, pairs, patterns, took_ms, error, attempts, created_by, created_at, started_at, finished_at "
    "FROM copurchase_run"
)


def _run(row: _RunRow) -> RunView:
    fields = msgspec.structs.asdict(row)
    fields["channels"] = list(json.loads(row.channels))
    fields["error_message"] = error_message(row.status, row.error, row.attempts)
    return RunView(**fields)


def error_message(status: str, error: str, attempts: int) -> str:
    """What a failed run shows people (zh-CN): why, and whether the worker tries it again."""
    if status != "failed":
        return ""
    why = _ERROR_MESSAGES.get(error, "挖掘失败")
    if error == ERROR_ATTEMPTS or attempts >= MAX_ATTEMPTS:
        return f"{why}，不再重试（共 {attempts} 次）"
    return f"{why}，稍后自动重试（第 {attempts} 次，最多 {MAX_ATTEMPTS} 次）"


async def get_run(run_id: int) -> RunView:
    row = await db.fetch_one_as(_RunRow, _RUN_SELECT + " WHERE id = {}", run_id)
    if row is None:
        raise NotFound(MiningError.COPURCHASE_RUN_NOT_FOUND, field="run_id")
    return _run(row)


async def list_runs(*, status: str | None = None, limit: int = 50) -> list[RunView]:
    where, args = "", list[Any]()
    if status is not None:
        where, args = " WHERE status = {}", [status]
    rows = await db.fetch_as(_RunRow, _RUN_SELECT + where + " ORDER BY id DESC LIMIT {}", *args, limit)
    return [_run(row) for row in rows]


def params_for_days(since: date, until: date, **thresholds: Any) -> MiningParams:
    """Mining params over the Asia/Shanghai days ``since`` … ``until`` (both included); ``insights_bad_period``
    (field ``since``) when ``since`` is after ``until``."""
    if not FIRST_DAY <= since <= until:
        raise ValidationFailed(MiningError.INSIGHTS_BAD_PERIOD, field="since")
    if until > LAST_DAY:
        raise ValidationFailed(MiningError.INSIGHTS_BAD_PERIOD, field="until")
    start, end = day_window(since, until)
    return MiningParams(since=start, until=end, **thresholds)


def run_key(run_id: int) -> str:
    return f"copurchase:{run_id}"


async def _enqueue(run_id: int) -> None:
    await enqueue(JobName.MINE_COPURCHASE, key=run_key(run_id), timeout=MINING_TIMEOUT_S, run_id=run_id)


async def start_run(params: MiningParams, *, actor: str) -> RunView:
    """Check ``params``, store a queued run and enqueue its job after commit. ``Conflict``
    ``copurchase_run_duplicate`` (``run_id`` in its extra) while an identical run (period, scope, thresholds) is
    queued or running: starts are serialised (SQLite's one writer; an advisory lock on PostgreSQL), so two identical
    requests at once give one run and one 409."""
    _check(params)
    now = clock.now()
    channels = json.dumps(sorted(set(params.channels)), ensure_ascii=False)
    async with db.transaction():
        await _channel_ids(params.channels)
        await _check_region(params.region)
        if not db.is_sqlite():
            await db.execute("SELECT pg_advisory_xact_lock({}, 0)", _START_LOCK)
        same = await db.fetch_one_as(
            db.IdRow,
            "SELECT id FROM copurchase_run WHERE since = {} AND until = {} AND channels = {} AND region = {} "
            "AND min_support = {} AND min_count = {} AND max_qty = {} AND max_patterns = {} AND triples = {} "
            "AND (status = 'queued' OR (status = 'running' AND (attempts < {} OR started_at >= {}))) "
            "ORDER BY id LIMIT 1",
            params.since,
            params.until,
            channels,
            params.region,
            params.min_support,
            params.min_count,
            params.max_qty,
            params.max_patterns,
            params.triples,
            MAX_ATTEMPTS,
            now - _seconds(STALE_S),
        )
        if same is not None:
            raise Conflict(MiningError.COPURCHASE_RUN_DUPLICATE, extra={"run_id": same.id})
        rows = await db.execute_returning(
            db.IdRow,
            "INSERT INTO copurchase_run (status, since, until, channels, region, min_support, min_count, max_qty, "
            "max_patterns, triples, orders, pairs, patterns, took_ms, error, created_by, created_at) "
            "VALUES ('queued', {}, {}, {}, {}, {}, {}, {}, {}, {}, 0, 0, 0, 0, '', {}, {}) RETURNING id",
            params.since,
            params.until,
            channels,
            params.region,
            params.min_support,
            params.min_count,
            params.max_qty,
            params.max_patterns,
            params.triples,
            actor[:64],
            now,
        )
        run_id = rows[0].id

        async def _after() -> None:
            await _enqueue(run_id)

        db.after_commit(_after)
    return await get_run(run_id)


async def requeue_stale_runs(*, older_than_s: int = 120) -> int:
    """Runs still queued some time after they were started (their enqueue failed: Redis was down) are queued
    again; a run ``running`` for longer than the job's timeout (its worker died) too, while it has had fewer than
    :data:`MAX_ATTEMPTS` attempts — one that has had them all is closed ``failed`` (``too many attempts``) instead of
    being queued forever; and a run that failed by a timeout or an interruption with attempts left, in case SAQ's
    retry came before its failure was written (and found it still running). The job's key, and its claim, keep a run
    from being run twice. Returns the runs queued."""
    now = clock.now()
    stale = now - _seconds(STALE_S)
    given_up = await db.execute_returning(
        db.IdRow,
        "UPDATE copurchase_run SET status = 'failed', error = {}, finished_at = {} "
        "WHERE status = 'running' AND started_at < {} AND attempts >= {} RETURNING id",
        ERROR_ATTEMPTS,
        now,
        stale,
        MAX_ATTEMPTS,
    )
    for row in given_up:
        log.warning("co-purchase run given up", extra={"run": row.id, "attempts": MAX_ATTEMPTS})
    rows = await db.fetch_as(
        db.IdRow,
        "SELECT id FROM copurchase_run WHERE attempts < {} AND ((status = 'queued' AND created_at < {}) "
        "OR (status = 'running' AND started_at < {}) "
        "OR (status = 'failed' AND error IN ({}, {}) AND finished_at < {})) ORDER BY id LIMIT 100",
        MAX_ATTEMPTS,
        now - _seconds(older_than_s),
        stale,
        ERROR_TIMEOUT,
        ERROR_INTERRUPTED,
        now - _seconds(older_than_s),
    )
    for row in rows:
        await _enqueue(row.id)
    return len(rows)


def _seconds(n: int) -> timedelta:
    return timedelta(seconds=n)


def _check(params: MiningParams) -> None:
    if params.since.tzinfo is None or params.until.tzinfo is None or params.since >= params.until:
        raise ValidationFailed(MiningError.INSIGHTS_BAD_PERIOD, field="since")
    if (params.until - params.since).days > MAX_PERIOD_DAYS:
        raise ValidationFailed(MiningError.INSIGHTS_BAD_PERIOD, field="until")
    if not 0.0 <= params.min_support <= 1.0:
        raise ValidationFailed(MiningError.COPURCHASE_BAD_THRESHOLD, field="min_support")
    if not 1 <= params.min_count <= 1_000_000_000:
        raise ValidationFailed(MiningError.COPURCHASE_BAD_THRESHOLD, field="min_count")
    if not 1 <= params.max_qty <= MAX_QTY:
        raise ValidationFailed(MiningError.COPURCHASE_BAD_THRESHOLD, field="max_qty")
    if not 1 <= params.max_patterns <= 100_000:
        raise ValidationFailed(MiningError.COPURCHASE_BAD_THRESHOLD, field="max_patterns")
    if len(params.channels) > MAX_CHANNELS:
        raise ValidationFailed(MiningError.COPURCHASE_UNKNOWN_CHANNEL, field="channels")


async def _channel_ids(codes: Sequence[str]) -> list[int] | None:
    """The channels' ids (None: every channel); ``copurchase_unknown_channel`` names a code that is not one."""
    if not codes:
        return None
    wanted = sorted(set(codes))  # at most MAX_CHANNELS (checked): one IN list

    class _Row(msgspec.Struct):
        id: int
        code: str

    rows = await db.fetch_as(
        _Row, f"SELECT id, code FROM channel WHERE code IN ({db.placeholders(len(wanted))})", *wanted
    )
    found = {row.code for row in rows}
    missing = [code for code in wanted if code not in found]
    if missing:
        raise ValidationFailed(MiningError.COPURCHASE_UNKNOWN_CHANNEL, field="channels", extra={"codes": missing})
    return sorted(row.id for row in rows)


async def _check_region(region: str) -> None:
    if region and not await db.fetch_as(db.IdRow, "SELECT id FROM warehouse WHERE region = {} LIMIT 1", region):
        raise ValidationFailed(MiningError.COPURCHASE_UNKNOWN_REGION, field="region")


# -- the job -------------------------------------------------------------------------------------------------------


class _Attempt(msgspec.Struct):
    attempts: int


class _ClaimLost(Exception):
    """The run was claimed again by another execution (this one was taken for dead): write nothing."""


_background: set[asyncio.Task[None]] = set()


async def run_mining(run_id: int) -> RunView:
    """The ``mine_copurchase`` job: claim the run, count, keep the patterns and close the run.

    The claim is a compare-and-set (``UPDATE … WHERE status IN ('queued', 'failed') OR a stale running …
    RETURNING``) that counts one more attempt: of two executions at once only one claims it, the other returns
    without counting; and the close re-checks (row lock) that this execution still holds the claim before it
    replaces the run's patterns, so a run taken for dead and claimed again is written once. Cancelled (SAQ's
    timeout, a worker shutting down) or failing, the run is closed ``failed`` (``timeout`` / ``interrupted`` / the
    error) and the job re-raises; SAQ's retry claims it again while it has had fewer than :data:`MAX_ATTEMPTS`."""
    run = await get_run(run_id)
    if run.status == "done":
        return run
    attempt = await _claim(run_id)
    if attempt is None:
        return await _not_claimed(run_id)
    started = time.perf_counter()
    try:
        params = MiningParams(
            since=run.since,
            until=run.until,
            channels=run.channels,
            region=run.region,
            min_support=run.min_support,
            min_count=run.min_count,
            max_qty=run.max_qty,
            max_patterns=run.max_patterns,
            triples=run.triples,
        )
        counts = await mine(params)
        patterns = patterns_from_counts(
            counts, min_count=params.min_count, min_support=params.min_support, max_patterns=params.max_patterns
        )
        async with db.transaction():
            held = await db.fetch_as(
                db.IdRow,
                "SELECT id FROM copurchase_run WHERE id = {} AND status = 'running' AND attempts = {}"
                + db.for_update(),
                run_id,
                attempt,
            )
            if not held:
                raise _ClaimLost
            await db.execute("DELETE FROM copurchase_pattern WHERE run = {}", run_id)
            await _insert_patterns(run_id, patterns)
            took_ms = int((time.perf_counter() - started) * 1000)
            await db.execute(
                "UPDATE copurchase_run SET status = 'done', orders = {}, pairs = {}, patterns = {}, took_ms = {}, "
                "finished_at = {} WHERE id = {}",
                counts.orders,
                len(counts.pairs),
                len(patterns),
                took_ms,
                clock.now(),
                run_id,
            )
    except _ClaimLost:
        log.warning("co-purchase run claimed again meanwhile; nothing written", extra={"run": run_id})
        return await get_run(run_id)
    except asyncio.CancelledError:
        # SAQ cancels the task at the job's timeout (and cancels it again a second later): write the failure from a
        # task of its own, which a second cancellation does not interrupt, then let the cancellation through.
        elapsed = time.perf_counter() - started
        reason = ERROR_TIMEOUT if elapsed >= MINING_TIMEOUT_S - 5 else ERROR_INTERRUPTED
        task = asyncio.ensure_future(_fail(run_id, attempt, reason))
        _background.add(task)
        task.add_done_callback(_background.discard)
        await asyncio.shield(task)
        raise
    except Exception as exc:
        await _fail(run_id, attempt, repr(exc)[:255])
        raise
    log.info(
        "co-purchase run done",
        extra={"run": run_id, "orders": counts.orders, "pairs": len(counts.pairs), "took_ms": took_ms},
    )
    return await get_run(run_id)


async def _claim(run_id: int) -> int | None:
    """Queued, failed, or running past :data:`STALE_S` (its worker died), with attempts left → running, one more
    attempt; that attempt's number (the execution's token), or None when the run is not this execution's to take."""
    now = clock.now()
    rows = await db.execute_returning(
        _Attempt,
        "UPDATE copurchase_run SET status = 'running', attempts = attempts + 1, started_at = {}, finished_at = NULL, "
        "error = '' WHERE id = {} AND attempts < {} "
        "AND (status IN ('queued', 'failed') OR (status = 'running' AND started_at < {})) RETURNING attempts",
        now,
        run_id,
        MAX_ATTEMPTS,
        now - _seconds(STALE_S),
    )
    return rows[0].attempts if rows else None


async def _not_claimed(run_id: int) -> RunView:
    """Why the claim failed: done, running in another execution (leave it), or out of attempts (close it failed
    ``too many attempts`` unless it failed already)."""
    now = clock.now()
    await db.execute(
        "UPDATE copurchase_run SET status = 'failed', error = {}, finished_at = {} WHERE id = {} AND attempts >= {} "
        "AND (status = 'queued' OR (status = 'running' AND started_at < {}))",
        ERROR_ATTEMPTS,
        now,
        run_id,
        MAX_ATTEMPTS,
        now - _seconds(STALE_S),
    )
    run = await get_run(run_id)
    log.info("co-purchase run not claimed", extra={"run": run_id, "status": run.status, "attempts": run.attempts})
    return run


async def _fail(run_id: int, attempt: int, error: str) -> None:
    """Close the run failed, if this execution (``attempt``) still holds it."""
    await db.execute(
        "UPDATE copurchase_run SET status = 'failed', error = {}, finished_at = {} "
        "WHERE id = {} AND status = 'running' AND attempts = {}",
        error,
        clock.now(),
        run_id,
        attempt,
    )
    log.warning("co-purchase run failed", extra={"run": run_id, "attempt": attempt, "error": error})


_PATTERN_COLUMNS = (
    "run, antecedent, min_qty, consequent, orders, antecedent_orders, consequent_orders, support, confidence, lift"
)


async def _insert_patterns(run_id: int, patterns: Sequence[PatternIn]) -> None:
    per = db.rows_per_statement(10)
    for chunk in db.chunks(patterns, per):
        args: list[Any] = []
        for p in chunk:
            args += [
                run_id,
                json.dumps(list(p.antecedent), ensure_ascii=False),
                p.min_qty,
                p.consequent,
                p.orders,
                p.antecedent_orders,
                p.consequent_orders,
                p.support,
                p.confidence,
                p.lift,
            ]
        values = ", ".join(["({}, {}, {}, {}, {}, {}, {}, {}, {}, {})"] * len(chunk))
        await db.execute(f"INSERT INTO copurchase_pattern ({_PATTERN_COLUMNS}) VALUES {values}", *args)


# -- counting ------------------------------------------------------------------------------------------------------


@dataclass
class BasketCounts:
    """What was counted. ``items[sku][n - 1]``: orders with ≥ n units of the SKU (n = 1 … max_qty);
    ``pairs[(x, y)]`` (x < y): ``[both, ≥2 of x and y, …, ≥max_qty of x and y, x and ≥2 of y, …]``."""

    orders: int
    max_qty: int
    items: dict[str, list[int]] = field(default_factory=dict)
    pairs: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    triples: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (x < y < z): orders with all three


def _scope(params: MiningParams, channel_ids: list[int] | None) -> tuple[str, list[Any]]:
    """The orders counted (``so``): placed in the period, in the scope, not cancelled, not replacements."""
    where = ["so.placed_at >= {}", "so.placed_at < {}", "so.status <> {}", "so.reship_of IS NULL"]
    args: list[Any] = [params.since, params.until, OrderStatus.CANCELLED.value]
    if channel_ids is not None:  # at most MAX_CHANNELS: one IN list
        where.append(f"so.channel IN ({db.placeholders(len(channel_ids))})")
        args += channel_ids
    if params.region:
        where.append("so.warehouse IN (SELECT id FROM warehouse WHERE region = {})")
        args.append(params.region)
    return " AND ".join(where), args


_LINES = "l.is_gift = FALSE AND l.qty > 0"  # the lines counted (``l``): bought, not gifts


def _basket_cte(where: str) -> str:
    # The basket: one row per (order, SKU) with its units. Raw SQL: the whole mining is one grouped self-join,
    # measured in bench/copurchase.py (docs/insights-mining.md).
    return (
        'WITH basket AS (SELECT l."order" AS o, l.sku_code AS s, SUM(l.qty) AS q '
        'FROM sales_order so JOIN order_line l ON l."order" = so.id '
        f'WHERE {where} AND {_LINES} GROUP BY l."order", l.sku_code) '
    )


def _at_least(column: str, n: int) -> str:
    return f"SUM(CASE WHEN {column} >= {int(n)} THEN 1 ELSE 0 END)"


class _Total(msgspec.Struct):
    n: int


def support_threshold(min_count: int, min_support: float, orders: int) -> int:
    """The orders a pattern needs: ``max(min_count, ⌈min_support × orders⌉)``, the product exact — as a float,
    0.07 × 100 is 7.000000000000001 and its ceiling 8, which would drop a pair in exactly 7 % of the orders.
    ``min_support`` is taken as the decimal it was written as (``str``: 0.07 → 7/100)."""
    return max(min_count, math.ceil(Fraction(str(min_support)) * orders))


@asynccontextmanager
async def _snapshot() -> AsyncIterator[None]:
    """The reads of one run see one state of the orders: on PostgreSQL a REPEATABLE READ, READ ONLY transaction (an
    order written between the count of the pairs and of the triples would otherwise let a triple out-count its pair:
    a confidence above 1); on SQLite a deferred transaction, which in WAL mode reads one snapshot and never takes the
    write lock. Inside a transaction already open, that one's."""
    engine = db.get_engine()
    if db.pending_after_commit() is not None or engine.transaction_exists():
        yield
        return
    async with engine.transaction():
        if not db.is_sqlite():
            await db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


async def mine(params: MiningParams) -> BasketCounts:
    """Count the baskets of the period and scope: the orders (``EXISTS``), then every SKU and SKU pair at or above
    the threshold in one grouped self-join of the baskets. ``items`` holds only the SKUs at or above it."""
    channel_ids = await _channel_ids(params.channels)
    async with _snapshot():
        return await _count(params, channel_ids)


async def _count(params: MiningParams, channel_ids: list[int] | None) -> BasketCounts:
    where, args = _scope(params, channel_ids)
    cte = _basket_cte(where)
    k = max(1, min(MAX_QTY, params.max_qty))
    total = await db.fetch_one_as(
        _Total,
        f"SELECT COUNT(*) AS n FROM sales_order so WHERE {where} "
        f'AND EXISTS (SELECT 1 FROM order_line l WHERE l."order" = so.id AND {_LINES})',
        *args,
    )
    counts = BasketCounts(orders=total.n if total else 0, max_qty=k)
    if counts.orders == 0:
        return counts
    threshold = support_threshold(params.min_count, params.min_support, counts.orders)
    # One self-join of the basket gives both: b.s = a.s is the SKU itself (the basket has one row per order and SKU),
    # b.s > a.s each pair once. A SKU below the threshold is in no pair at or above it, so HAVING drops nothing the
    # rules need, and the basket is built once instead of twice.
    sums = [_at_least("a.q", n) + f" AS x{n}" for n in range(2, k + 1)]
    sums += [_at_least("b.q", n) + f" AS y{n}" for n in range(2, k + 1)]
    rows = await db.fetch_as(
        dict[str, Any],
        cte + "SELECT a.s AS x, b.s AS y, COUNT(*) AS n" + "".join(", " + s for s in sums) + " "
        "FROM basket a JOIN basket b ON b.o = a.o AND b.s >= a.s "
        "GROUP BY a.s, b.s HAVING COUNT(*) >= {}",
        *args,
        threshold,
    )
    for row in rows:
        x, y = str(row["x"]), str(row["y"])
        if x == y:
            counts.items[x] = [int(row["n"])] + [int(row[f"x{n}"]) for n in range(2, k + 1)]
            continue
        values = [int(row["n"])]
        values += [int(row[f"x{n}"]) for n in range(2, k + 1)]
        values += [int(row[f"y{n}"]) for n in range(2, k + 1)]
        counts.pairs[(x, y)] = values
    if params.triples and len(counts.pairs) >= 3:
        # Apriori: a triple at the threshold has its three pairs at it too, so only SKUs of frequent pairs can be in
        # one; the threshold itself prunes the rest in the database (HAVING), no list of SKUs is sent.
        triples = await db.fetch_as(
            dict[str, Any],
            cte + "SELECT a.s AS x, b.s AS y, c.s AS z, COUNT(*) AS n FROM basket a "
            "JOIN basket b ON b.o = a.o AND b.s > a.s JOIN basket c ON c.o = a.o AND c.s > b.s "
            "GROUP BY a.s, b.s, c.s HAVING COUNT(*) >= {}",
            *args,
            threshold,
        )
        for row in triples:
            key = (str(row["x"]), str(row["y"]), str(row["z"]))
            if (
                (key[0], key[1]) in counts.pairs
                and (key[0], key[2]) in counts.pairs
                and (key[1], key[2]) in counts.pairs
            ):
                counts.triples[key] = int(row["n"])
    return counts


# -- from counts to rules (pure) -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatternIn:
    antecedent: tuple[str, ...]
    min_qty: int
    consequent: str
    orders: int
    antecedent_orders: int
    consequent_orders: int
    support: float
    confidence: float
    lift: float


def _rule(
    antecedent: tuple[str, ...], min_qty: int, consequent: str, both: int, ante: int, cons: int, total: int
) -> PatternIn:
    confidence = both / ante
    lift = confidence / (cons / total)
    return PatternIn(
        antecedent=antecedent,
        min_qty=min_qty,
        consequent=consequent,
        orders=both,
        antecedent_orders=ante,
        consequent_orders=cons,
        support=both / total,
        confidence=confidence,
        lift=lift,
    )


def patterns_from_counts(
    counts: BasketCounts, *, min_count: int, min_support: float, max_patterns: int
) -> list[PatternIn]:
    """Every rule X → Y and "≥ N of X" → Y whose orders reach the thresholds, highest lift first (then most orders,
    then by codes: the same counts always give the same list), at most ``max_patterns``."""
    total = counts.orders
    if total == 0:
        return []
    threshold = support_threshold(min_count, min_support, total)
    k = counts.max_qty
    rules: list[PatternIn] = []
    for (x, y), values in counts.pairs.items():
        both = values[0]
        if both < threshold:
            continue
        cx, cy = counts.items[x], counts.items[y]
        rules.append(_rule((x,), 1, y, both, cx[0], cy[0], total))
        rules.append(_rule((y,), 1, x, both, cy[0], cx[0], total))
        for n in range(2, k + 1):
            x_n, y_n = values[n - 1], values[k - 1 + n - 1]
            if x_n >= threshold and cx[n - 1] > 0:
                rules.append(_rule((x,), n, y, x_n, cx[n - 1], cy[0], total))
            if y_n >= threshold and cy[n - 1] > 0:
                rules.append(_rule((y,), n, x, y_n, cy[n - 1], cx[0], total))
    for (x, y, z), both in counts.triples.items():
        if both < threshold:
            continue
        for ante, cons in (((x, y), z), ((x, z), y), ((y, z), x)):
            rules.append(_rule(ante, 1, cons, both, counts.pairs[ante][0], counts.items[cons][0], total))
    rules.sort(key=lambda r: (-r.lift, -r.orders, r.antecedent, r.min_qty, r.consequent))
    return rules[:max_patterns]


def counts_from_baskets(baskets: Iterable[dict[str, int]], *, max_qty: int, triples: bool = False) -> BasketCounts:
    """The same counts from baskets in memory (``{sku: units}`` per order) — the reference the SQL is tested
    against, and what the unit tests feed :func:`patterns_from_counts`."""
    k = max(1, min(MAX_QTY, max_qty))
    counts = BasketCounts(orders=0, max_qty=k)
    for basket in baskets:
        skus = sorted(s for s, q in basket.items() if q > 0)
        if not skus:
            continue
        counts.orders += 1
        for s in skus:
            row = counts.items.setdefault(s, [0] * k)
            for n in range(1, k + 1):
                if basket[s] >= n:
                    row[n - 1] += 1
        for i, x in enumerate(skus):
            for y in skus[i + 1 :]:
                pair = counts.pairs.setdefault((x, y), [0] * (2 * k - 1))
                pair[0] += 1
                for n in range(2, k + 1):
                    if basket[x] >= n:
                        pair[n - 1] += 1
                    if basket[y] >= n:
                        pair[k - 1 + n - 1] += 1
                if triples:
                    for z in skus[i + 1 :]:
                        if z > y:
                            counts.triples[(x, y, z)] = counts.triples.get((x, y, z), 0) + 1
    return counts
