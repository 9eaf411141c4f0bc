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
commit. :func:`get_pattern` is what the add-on offers (``orderhub.offers``) build a draft from.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import NotFound, ValidationFailed
from orderhub.insights.errors import MiningError
from orderhub.insights.queries import day_window
from orderhub.orders.state import OrderStatus
from orderhub.queue import JobName, enqueue

__all__ = [
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
]

log = logging.getLogger("orderhub.insights.copurchase")

MAX_QTY = 5  # "≥ N of X" antecedents: N = 1 … at most this
MAX_PERIOD_DAYS = 366
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)  # days outside are mistakes (and overflow date arithmetic)
MAX_CHANNELS = 50
REQUEUE_CRON = "*/5 * * * *"  # requeue_stale_runs
MINING_TIMEOUT_S = 900  # the job's timeout: a run over 1,000,000 orders takes well under a minute (bench.copurchase)


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
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


_RUN_SELECT = (
    "SELECT id, status, since, until, channels, region, min_support, min_count, max_qty, max_patterns, triples, "
    "orders, pairs, patterns, took_ms, error, created_by, created_at, started_at, finished_at FROM copurchase_run"
)


def _run(row: _RunRow) -> RunView:
    fields = msgspec.structs.asdict(row)
    fields["channels"] = list(json.loads(row.channels))
    return RunView(**fields)


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
    """Check ``params``, store a queued run and enqueue its job after commit."""
    _check(params)
    now = clock.now()
    async with db.transaction():
        await _channel_ids(params.channels)
        await _check_region(params.region)
        rows = await db.execute_returning(
            db.IdRow,
            "INSERT INTO copurchase_run (status, since, until, channels, region, min_support, min_count, max_qty, "
            "max_patterns, triples, orders, pairs, patterns, took_ms, error, created_by, created_at) "
            "VALUES ('queued', {}, {}, {}, {}, {}, {}, {}, {}, {}, 0, 0, 0, 0, '', {}, {}) RETURNING id",
            params.since,
            params.until,
            json.dumps(sorted(set(params.channels)), ensure_ascii=False),
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
    again; a run ``running`` for longer than the job's timeout (its worker died) too. The job's key keeps a run that
    is really queued or running from being run twice."""
    now = clock.now()
    rows = await db.fetch_as(
        db.IdRow,
        "SELECT id FROM copurchase_run WHERE (status = 'queued' AND created_at < {}) "
        "OR (status = 'running' AND started_at < {}) ORDER BY id LIMIT 100",
        now - _seconds(older_than_s),
        now - _seconds(MINING_TIMEOUT_S + 60),
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


async def run_mining(run_id: int) -> RunView:
    """The ``mine_copurchase`` job: count, keep the patterns and close the run. Idempotent: a retried or repeated
    job replaces the run's patterns (one transaction)."""
    run = await get_run(run_id)
    if run.status == "done":
        return run
    await db.execute(
        "UPDATE copurchase_run SET status = 'running', started_at = {}, finished_at = NULL, error = '' WHERE id = {}",
        clock.now(),
        run_id,
    )
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
    except Exception as exc:
        await db.execute(
            "UPDATE copurchase_run SET status = 'failed', error = {}, finished_at = {} WHERE id = {}",
            repr(exc)[:255],
            clock.now(),
            run_id,
        )
        raise
    log.info(
        "co-purchase run done",
        extra={"run": run_id, "orders": counts.orders, "pairs": len(counts.pairs), "took_ms": took_ms},
    )
    return await get_run(run_id)


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


async def mine(params: MiningParams) -> BasketCounts:
    """Count the baskets of the period and scope: the orders (``EXISTS``), then every SKU and SKU pair at or above
    the threshold in one grouped self-join of the baskets. ``items`` holds only the SKUs at or above it."""
    channel_ids = await _channel_ids(params.channels)
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
    threshold = max(params.min_count, math.ceil(params.min_support * counts.orders))
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
    threshold = max(min_count, math.ceil(min_support * total))
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
