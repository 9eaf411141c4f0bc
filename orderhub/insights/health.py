"""The order health index (docs/health.md): per scope (the hub, each warehouse, each region — the warehouses'
``region`` — and each sales channel) a daily score 0–100 from five KPIs (orderhub.insights.kpis), the explanation of
the points each metric lost, the daily history (``health_score_day``), the 整改 tasks a score below the threshold
opens (``rectification``) and closes again after enough good days, and the ranking with its change since last week.

:func:`recompute` is what the worker's cron and ``orderhub health-recompute --day`` run; it is idempotent (a day
recomputed gives the same rows and opens nothing twice). :func:`overview` is what the strategic dashboard embeds.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from time import monotonic
from typing import Any, Literal

import msgspec

from orderhub import clock, db
from orderhub.errors import Conflict, NotFound, ValidationFailed
from orderhub.insights import kpis as kpi_module
from orderhub.insights.errors import HealthError
from orderhub.insights.health_settings import HealthSettings, load_settings
from orderhub.insights.queries import day_window
from orderhub.insights.scoring import Part, Scored, score_kpis

__all__ = [
    "HEALTH_CRON",
    "RANKING_KINDS",
    "SCOPE_KINDS",
    "HealthScope",
    "RankingRow",
    "RecomputeReport",
    "RectificationView",
    "ScopeScore",
    "comment",
    "history",
    "list_rectifications",
    "overview",
    "ranking",
    "recompute",
    "resolve",
    "scopes",
    "today",
]

log = logging.getLogger("orderhub.insights.health")

# The worker recomputes yesterday (Asia/Shanghai) at minute 7 of every hour (UTC cron; idempotent, so late events
# are taken in and a missed run is caught up within the hour).
HEALTH_CRON = "7 * * * * 0"
RANKING_KINDS = ("region", "warehouse", "channel")
SCOPE_KINDS = ("hub", *RANKING_KINDS)
ScopeKind = Literal["hub", "warehouse", "region", "channel"]
TOP_ORDERS = 10
_OPEN_STATUSES = ("received", "validated", "reserved", "ready", "picking", "packed", "held", "exception")


class HealthScope(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # hub | warehouse | region | channel
    id: str  # "all", the warehouse or channel id, the region's name
    name: str
    warehouse_ids: tuple[int, ...] | None = None  # None: every warehouse
    channel_ids: tuple[int, ...] | None = None


class ScopeScore(msgspec.Struct, kw_only=True):
    day: date
    kind: str
    id: str
    name: str
    score: float | None
    parts: list[Part]


class RankingRow(msgspec.Struct, kw_only=True):
    rank: int
    kind: str
    id: str
    name: str
    score: float
    last_week_score: float | None  # the same scope's score 7 days before
    change: float | None  # score − last_week_score
    last_week_rank: int | None
    rank_change: int | None  # last week's rank − this rank (positive: moved up)
    worst_metric: str | None  # the metric that lost the most points
    worst_text: str | None


class RectificationView(msgspec.Struct, kw_only=True):
    id: int
    scope_kind: str
    scope_id: str
    scope_name: str
    status: str  # open | closed (recovered) | resolved (by hand)
    assignee_id: int
    opened_day: date
    last_bad_day: date
    score: float
    threshold: float
    metrics: list[dict[str, Any]]
    order_ids: list[int]
    good_days: int
    note: str
    opened_at: datetime
    closed_at: datetime | None
    comments: list[dict[str, Any]] = msgspec.field(default_factory=list)


class RecomputeReport(msgspec.Struct, kw_only=True):
    day: date
    scopes: int
    scored: int
    opened: int
    updated: int
    closed: int


def today() -> date:
    return clock.to_shanghai(clock.now()).date()


# -- scopes ---------------------------------------------------------------------------------------------------------


class _Warehouse(msgspec.Struct):
    id: int
    name: str
    region: str = ""


class _Channel(msgspec.Struct):
    id: int
    name: str


async def scopes(kinds: Sequence[str] = ("hub", "warehouse", "region", "channel")) -> list[HealthScope]:
    """The scopes scored: the hub, each active warehouse, each region (active warehouses sharing a non-empty
    ``region``) and each channel."""
    found: list[HealthScope] = []
    if "hub" in kinds:
        found.append(HealthScope(kind="hub", id="all", name="全部"))
    if "warehouse" in kinds or "region" in kinds:
        warehouses = await db.fetch_as(
            _Warehouse, "SELECT id, name, region FROM warehouse WHERE active = {} ORDER BY id", True
        )
        if "warehouse" in kinds:
            found += [
                HealthScope(kind="warehouse", id=str(w.id), name=w.name, warehouse_ids=(w.id,)) for w in warehouses
            ]
        if "region" in kinds:
            regions: dict[str, list[int]] = defaultdict(list)
            for w in warehouses:
                if w.region.strip():
                    regions[w.region.strip()].append(w.id)
            found += [
                HealthScope(kind="region", id=name, name=name, warehouse_ids=tuple(ids))
                for name, ids in sorted(regions.items())
            ]
    if "channel" in kinds:
        channels = await db.fetch_as(_Channel, "SELECT id, name FROM channel ORDER BY id")
        found += [HealthScope(kind="channel", id=str(c.id), name=c.name, channel_ids=(c.id,)) for c in channels]
    return found


async def score_scope(scope: HealthScope, day: date, settings: HealthSettings) -> ScopeScore:
    kpis = await kpi_module.kpis_for_days(
        day, day, warehouse_ids=scope.warehouse_ids, channel_ids=scope.channel_ids, settings=settings
    )
    scored: Scored = score_kpis(kpis, settings)
    return ScopeScore(day=day, kind=scope.kind, id=scope.id, name=scope.name, score=scored.score, parts=scored.parts)


# -- the orders behind a lost metric ----------------------------------------------------------------------------------


class _Id(msgspec.Struct):
    order_id: int


def _where(scope: HealthScope, warehouse_col: str, channel_col: str, where: list[str], args: list[Any]) -> None:
    for column, ids in ((warehouse_col, scope.warehouse_ids), (channel_col, scope.channel_ids)):
        if ids is not None:
            where.append(f"{column} IN ({db.placeholders(len(ids))})" if ids else "1 = 0")
            args.extend(ids)


async def top_orders(metric: str, scope: HealthScope, day: date) -> list[int]:
    """Orders that pulled ``metric`` down (at most :data:`TOP_ORDERS`; newest first), where the hub can tell:
    first-pass accuracy — orders with floor mistakes or packed twice (rollup_order_quality); query rate — the day's
    orders asked about (rollup_inquiry_order); on-time rate — orders still open past their ship_by by the day's end;
    exception rate — orders in exception now. Cycle time: none (the rollups keep only the histogram)."""
    where: list[str] = []
    args: list[Any] = []
    if metric == "first_pass_accuracy":
        where.append("(q.errors > 0 OR q.packs > 1)")
        _where(scope, "o.warehouse", "o.channel", where, args)
        sql = (
            "SELECT q.order_id AS order_id FROM rollup_order_quality q JOIN sales_order o ON o.id = q.order_id "
            f"WHERE {' AND '.join(where)} ORDER BY q.id DESC LIMIT {TOP_ORDERS}"
        )
    elif metric == "query_rate":
        where.append("day = {}")
        args.append(day)
        _where(scope, "warehouse", "channel", where, args)
        sql = (
            f"SELECT order_id FROM rollup_inquiry_order WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT {TOP_ORDERS}"
        )
    elif metric == "on_time_rate":
        _, end = day_window(day, day)
        where += [f"status IN ({db.placeholders(len(_OPEN_STATUSES))})", "ship_by < {}"]
        args += [*_OPEN_STATUSES, min(end, clock.now())]
        _where(scope, "warehouse", "channel", where, args)
        sql = f"SELECT id AS order_id FROM sales_order WHERE {' AND '.join(where)} ORDER BY ship_by LIMIT {TOP_ORDERS}"
    elif metric == "exception_rate":
        where.append("status = {}")
        args.append("exception")
        _where(scope, "warehouse", "channel", where, args)
        sql = f"SELECT id AS order_id FROM sales_order WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT {TOP_ORDERS}"
    else:
        return []
    return [r.order_id for r in await db.fetch_as(_Id, sql, *args)]


# -- the daily recompute ----------------------------------------------------------------------------------------------


async def _store(result: ScopeScore) -> None:
    parts = msgspec.json.encode(result.parts).decode()
    await db.execute(
        "INSERT INTO health_score_day (day, scope_kind, scope_id, scope_name, score, parts, computed_at) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}) ON CONFLICT (day, scope_kind, scope_id) DO UPDATE SET "
        "scope_name = EXCLUDED.scope_name, score = EXCLUDED.score, parts = EXCLUDED.parts, "
        "computed_at = EXCLUDED.computed_at",
        result.day,
        result.kind,
        result.id,
        result.name,
        result.score,
        parts,
        clock.now(),
    )


class _UserId(msgspec.Struct):
    id: int


async def scope_manager(kind: str, scope_id: str) -> int:
    """Who a scope's rectification goes to: for a warehouse, an active manager bound to it (else an unbound one);
    for a region, a channel or the hub, an active manager not bound to a warehouse, else an unbound admin. 0: none."""
    candidates: list[tuple[str, list[Any]]] = []
    if kind == "warehouse":
        candidates.append(("role = {} AND warehouse = {}", ["manager", int(scope_id)]))
    candidates += [("role = {} AND warehouse IS NULL", ["manager"]), ("role = {} AND warehouse IS NULL", ["admin"])]
    for condition, args in candidates:
        row = await db.fetch_one_as(
            _UserId, f"SELECT id FROM app_user WHERE {condition} AND active = {{}} ORDER BY id LIMIT 1", *args, True
        )
        if row is not None:
            return row.id
    return 0


class _RectRow(msgspec.Struct):
    id: int
    status: str
    last_bad_day: date
    opened_day: date


class _ScoreRow(msgspec.Struct):
    day: date
    score: float


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value)[:10])


async def _rect_rows(sql: str, *args: Any) -> list[_RectRow]:
    rows = await db.fetch_as(dict[str, Any], sql, *args)
    for row in rows:
        row["last_bad_day"], row["opened_day"] = _as_date(row["last_bad_day"]), _as_date(row["opened_day"])
    return db.rows_as(_RectRow, rows)


async def _scores_since(kind: str, scope_id: str, after: date, until: date) -> list[_ScoreRow]:
    rows = await db.fetch_as(
        dict[str, Any],
        "SELECT day, score FROM health_score_day WHERE scope_kind = {} AND scope_id = {} AND day > {} AND day <= {} "
        "ORDER BY day",
        kind,
        scope_id,
        after,
        until,
    )
    for row in rows:
        row["day"] = _as_date(row["day"])
    return db.rows_as(_ScoreRow, rows)


def _lost_metrics(parts: Sequence[Part]) -> list[dict[str, Any]]:
    return [
        {"name": p.name, "label": p.label, "score": p.score, "lost": p.lost, "text": p.text, "order_ids": p.order_ids}
        for p in parts
        if p.lost > 0
    ]


async def _rectify(result: ScopeScore, settings: HealthSettings, counts: dict[str, int]) -> None:
    """Open, refresh or close the scope's rectification after its score for ``result.day``."""
    assert result.score is not None
    day = result.day
    kind, scope_id = result.kind, result.id
    open_rows = await _rect_rows(
        "SELECT id, status, last_bad_day, opened_day FROM rectification WHERE scope_kind = {} AND scope_id = {} "
        "AND status = {} ORDER BY id DESC",
        kind,
        scope_id,
        "open",
    )
    current = open_rows[0] if open_rows else None
    if result.score < settings.threshold:
        lost = _lost_metrics(result.parts)
        order_ids = sorted({o for p in result.parts if p.lost > 0 for o in p.order_ids}, reverse=True)
        if current is not None:
            if day < current.last_bad_day:
                return  # an older day recomputed: the task already knows a later bad day
            await db.execute(
                "UPDATE rectification SET score = {}, threshold = {}, metrics = {}, order_ids = {}, last_bad_day = {}, "
                "good_days = 0 WHERE id = {}",
                result.score,
                settings.threshold,
                msgspec.json.encode(lost).decode(),
                msgspec.json.encode(order_ids).decode(),
                day,
                current.id,
            )
            counts["updated"] += 1
            return
        # Closed or resolved for this day or a later one already: do not open it again on a recompute.
        done = await _rect_rows(
            "SELECT id, status, last_bad_day, opened_day FROM rectification WHERE scope_kind = {} AND scope_id = {} "
            "AND last_bad_day >= {}",
            kind,
            scope_id,
            day,
        )
        if done:
            return
        await db.execute(
            "INSERT INTO rectification (scope_kind, scope_id, scope_name, status, assignee_id, opened_day, "
            "last_bad_day, score, threshold, metrics, order_ids, good_days, note, opened_at, closed_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 0, '', {}, NULL)",
            kind,
            scope_id,
            result.name,
            "open",
            await scope_manager(kind, scope_id),
            day,
            day,
            result.score,
            settings.threshold,
            msgspec.json.encode(lost).decode(),
            msgspec.json.encode(order_ids).decode(),
            clock.now(),
        )
        counts["opened"] += 1
        return
    if current is None or day <= current.last_bad_day:
        return
    good = 0
    for row in await _scores_since(kind, scope_id, current.last_bad_day, day):
        good = good + 1 if row.score >= settings.threshold else 0
    if good >= settings.close_after_days:
        await db.execute(
            "UPDATE rectification SET good_days = {}, status = {}, closed_at = {} WHERE id = {}",
            good,
            "closed",
            clock.now(),
            current.id,
        )
        counts["closed"] += 1
    else:
        await db.execute("UPDATE rectification SET good_days = {} WHERE id = {}", good, current.id)


async def recompute(day: date) -> RecomputeReport:
    """Score every scope for ``day`` (Asia/Shanghai), store the history rows, and open / refresh / close the
    rectifications. Idempotent."""
    settings = await load_settings()
    found = await scopes()
    counts = {"opened": 0, "updated": 0, "closed": 0}
    scored = 0
    for scope in found:
        result = await score_scope(scope, day, settings)
        if result.score is None:
            continue  # no orders for this scope that day: no history row, no good or bad day
        scored += 1
        for part in result.parts:
            if part.lost > 0:
                part.order_ids = await top_orders(part.name, scope, day)
        async with db.transaction():
            await _store(result)
            await _rectify(result, settings, counts)
    log.info("health index recomputed", extra={"day": day.isoformat(), "scopes": len(found), "scored": scored})
    return RecomputeReport(day=day, scopes=len(found), scored=scored, **counts)


# -- reading ----------------------------------------------------------------------------------------------------------


class _Stored(msgspec.Struct):
    scope_kind: str
    scope_id: str
    scope_name: str
    score: float
    parts: str


async def _stored(kind: str, day: date) -> list[ScopeScore]:
    rows = await db.fetch_as(
        _Stored,
        "SELECT scope_kind, scope_id, scope_name, score, parts FROM health_score_day "
        "WHERE scope_kind = {} AND day = {}",
        kind,
        day,
    )
    return [
        ScopeScore(
            day=day,
            kind=r.scope_kind,
            id=r.scope_id,
            name=r.scope_name,
            score=r.score,
            parts=msgspec.json.decode(r.parts, type=list[Part]),
        )
        for r in rows
    ]


# A day not computed yet (today) is scored live from the rollups for every scope of a kind — the overview and the
# ranking would do that on every request: each process keeps the live scores for a minute (like the strategic
# board's health card, orderhub.insights.tiers). Keyed by the settings too, so a change of settings is seen at once.
LIVE_TTL_S = 60.0
_live_cache: dict[tuple[str, date, bytes], tuple[float, list[ScopeScore]]] = {}


async def scores_for(kind: str, day: date, settings: HealthSettings | None = None) -> list[ScopeScore]:
    """The scopes' scores of ``kind`` for ``day``: the stored history, or — for a day not computed yet (today) —
    computed now from the rollups (not stored; kept :data:`LIVE_TTL_S` seconds per process). Scopes without orders
    are left out."""
    stored = await _stored(kind, day)
    if stored or day < today() - timedelta(days=1):
        return stored
    settings = settings or await load_settings()
    key = (kind, day, msgspec.json.encode(settings))
    now = monotonic()
    hit = _live_cache.get(key)
    if hit is not None and now - hit[0] < LIVE_TTL_S:
        return list(hit[1])
    live = [await score_scope(s, day, settings) for s in await scopes((kind,))]
    found = [s for s in live if s.score is not None]
    for stale in [k for k, (at, _) in _live_cache.items() if now - at >= LIVE_TTL_S]:
        del _live_cache[stale]
    if found:  # no scope with orders yet (a new shop's first minutes): nothing worth keeping, and cheap to ask again
        _live_cache[key] = (now, found)
    return list(found)


def _check_kind(kind: str) -> None:
    if kind not in RANKING_KINDS:
        raise ValidationFailed(HealthError.HEALTH_BAD_KIND, field="kind")


async def ranking(kind: str, day: date) -> list[RankingRow]:
    """Scopes of ``kind`` (region / warehouse / channel) by score on ``day``, best first, with the change since the
    same day last week (score and rank)."""
    _check_kind(kind)
    now = await scores_for(kind, day)
    before = await _stored(kind, day - timedelta(days=7))
    before_sorted = sorted((s for s in before if s.score is not None), key=lambda s: (-(s.score or 0), s.id))
    before_rank = {s.id: i + 1 for i, s in enumerate(before_sorted)}
    before_score = {s.id: s.score for s in before_sorted}
    rows = []
    for i, s in enumerate(sorted(now, key=lambda s: (-(s.score or 0), s.id))):
        worst = next((p for p in s.parts if p.lost > 0), None)
        last_score, last_rank = before_score.get(s.id), before_rank.get(s.id)
        rows.append(
            RankingRow(
                rank=i + 1,
                kind=kind,
                id=s.id,
                name=s.name,
                score=s.score or 0.0,
                last_week_score=last_score,
                change=round((s.score or 0) - last_score, 1) if last_score is not None else None,
                last_week_rank=last_rank,
                rank_change=last_rank - (i + 1) if last_rank is not None else None,
                worst_metric=worst.name if worst else None,
                worst_text=worst.text if worst else None,
            )
        )
    return rows


async def history(kind: str, scope_id: str, since: date, until: date) -> list[ScopeScore]:
    """A scope's stored daily scores from ``since`` to ``until`` (both included): ``health_bad_kind`` for a kind not
    in :data:`SCOPE_KINDS`, ``health_bad_range`` when ``since`` is after ``until``."""
    if kind not in SCOPE_KINDS:
        raise ValidationFailed(HealthError.HEALTH_BAD_KIND, field="kind")
    if since > until:
        raise ValidationFailed(HealthError.HEALTH_BAD_RANGE, field="since")
    rows = await db.fetch_as(
        dict[str, Any],
        "SELECT day, scope_kind, scope_id, scope_name, score, parts FROM health_score_day WHERE scope_kind = {} AND "
        "scope_id = {} AND day >= {} AND day <= {} ORDER BY day",
        kind,
        scope_id,
        since,
        until,
    )
    return [
        ScopeScore(
            day=_as_date(r["day"]),
            kind=r["scope_kind"],
            id=r["scope_id"],
            name=r["scope_name"],
            score=float(r["score"]),
            parts=msgspec.json.decode(r["parts"], type=list[Part]),
        )
        for r in rows
    ]


class _Count(msgspec.Struct):
    n: int


async def overview(day: date | None = None) -> dict[str, Any]:
    """For the strategic dashboard: the hub's score for ``day`` (default today; computed live when not stored) with
    its explanation, the regional ranking (warehouses when no warehouse has a region) with the change since last
    week, and how many rectifications are open. JSON-ready (dates as ISO text)."""
    day = day or today()
    settings = await load_settings()
    hub = await scores_for("hub", day, settings)
    kind = "region" if any(s.kind == "region" for s in await scopes(("region",))) else "warehouse"
    rows = await ranking(kind, day)
    open_count = await db.fetch_one_as(_Count, "SELECT COUNT(*) AS n FROM rectification WHERE status = {}", "open")
    head = hub[0] if hub else None
    return msgspec.to_builtins(
        {
            "day": day,
            "score": head.score if head else None,
            "threshold": settings.threshold,
            "parts": head.parts if head else [],
            "ranking_kind": kind,
            "ranking": rows,
            "open_rectifications": open_count.n if open_count else 0,
        }
    )


# -- rectifications -------------------------------------------------------------------------------------------------


class _RectFull(msgspec.Struct):
    id: int
    scope_kind: str
    scope_id: str
    scope_name: str
    status: str
    assignee_id: int
    opened_day: date
    last_bad_day: date
    score: float
    threshold: float
    metrics: str
    order_ids: str
    good_days: int
    note: str
    opened_at: datetime
    closed_at: datetime | None


_RECT_COLUMNS = (
    "id, scope_kind, scope_id, scope_name, status, assignee_id, opened_day, last_bad_day, score, threshold, metrics, "
    "order_ids, good_days, note, opened_at, closed_at"
)


def _view(row: _RectFull, comments: list[dict[str, Any]] | None = None) -> RectificationView:
    return RectificationView(
        id=row.id,
        scope_kind=row.scope_kind,
        scope_id=row.scope_id,
        scope_name=row.scope_name,
        status=row.status,
        assignee_id=row.assignee_id,
        opened_day=row.opened_day,
        last_bad_day=row.last_bad_day,
        score=row.score,
        threshold=row.threshold,
        metrics=msgspec.json.decode(row.metrics),
        order_ids=msgspec.json.decode(row.order_ids),
        good_days=row.good_days,
        note=row.note,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        comments=comments or [],
    )


async def _full(sql: str, *args: Any) -> list[_RectFull]:
    rows = await db.fetch_as(dict[str, Any], sql, *args)
    for row in rows:
        row["opened_day"], row["last_bad_day"] = _as_date(row["opened_day"]), _as_date(row["last_bad_day"])
    return db.rows_as(_RectFull, rows)


class _Comment(msgspec.Struct):
    id: int
    rectification_id: int
    author_id: int
    author: str
    body: str
    created_at: datetime


async def _comments(ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for chunk in db.chunks(list(ids)):
        for c in await db.fetch_as(
            _Comment,
            "SELECT id, rectification_id, author_id, author, body, created_at FROM rectification_comment "
            f"WHERE rectification_id IN ({db.placeholders(len(chunk))}) ORDER BY id",
            *chunk,
        ):
            found[c.rectification_id].append(
                {"id": c.id, "author_id": c.author_id, "author": c.author, "body": c.body, "created_at": c.created_at}
            )
    return found


async def list_rectifications(
    *,
    status: str | None = None,
    warehouse_id: int | None = None,
    assignee_id: int | None = None,
    limit: int = 50,
) -> list[RectificationView]:
    """Rectifications, newest first; ``warehouse_id`` (a bound caller): only that warehouse's."""
    where, args = ["1 = 1"], []  # type: list[str], list[Any]
    if status:
        where.append("status = {}")
        args.append(status)
    if warehouse_id is not None:
        where += ["scope_kind = {}", "scope_id = {}"]
        args += ["warehouse", str(warehouse_id)]
    if assignee_id is not None:
        where.append("assignee_id = {}")
        args.append(assignee_id)
    rows = await _full(
        f"SELECT {_RECT_COLUMNS} FROM rectification WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT {int(limit)}",
        *args,
    )
    comments = await _comments([r.id for r in rows])
    return [_view(r, comments.get(r.id)) for r in rows]


async def get_rectification(rectification_id: int, *, warehouse_id: int | None = None) -> RectificationView:
    rows = await _full(f"SELECT {_RECT_COLUMNS} FROM rectification WHERE id = {{}}", rectification_id)
    if not rows or (
        warehouse_id is not None and (rows[0].scope_kind != "warehouse" or rows[0].scope_id != str(warehouse_id))
    ):
        raise NotFound(HealthError.RECTIFICATION_NOT_FOUND, field="rectification_id")
    comments = await _comments([rows[0].id])
    return _view(rows[0], comments.get(rows[0].id))


async def comment(
    rectification_id: int, body: str, *, author_id: int, author: str, warehouse_id: int | None = None
) -> RectificationView:
    await get_rectification(rectification_id, warehouse_id=warehouse_id)
    await db.execute(
        "INSERT INTO rectification_comment (rectification_id, author_id, author, body, created_at) "
        "VALUES ({}, {}, {}, {}, {})",
        rectification_id,
        author_id,
        author,
        body,
        clock.now(),
    )
    return await get_rectification(rectification_id)


class _RectId(msgspec.Struct):
    id: int


async def resolve(
    rectification_id: int, note: str, *, author_id: int, author: str, warehouse_id: int | None = None
) -> RectificationView:
    """Close a rectification by hand with a note (what was done); a closed one is refused. The close is one
    conditional UPDATE (``… AND status = 'open'``): of two resolving at once, one wins, the other gets
    ``rectification_closed``."""
    async with db.transaction():
        current = await get_rectification(rectification_id, warehouse_id=warehouse_id)
        if current.status != "open":
            raise Conflict(HealthError.RECTIFICATION_CLOSED, field="rectification_id")
        won = await db.execute_returning(
            _RectId,
            "UPDATE rectification SET status = {}, note = {}, closed_at = {} WHERE id = {} AND status = {} "
            "RETURNING id",
            "resolved",
            note,
            clock.now(),
            rectification_id,
            "open",
        )
        if not won:  # closed (recovered or resolved by someone else) since it was read
            raise Conflict(HealthError.RECTIFICATION_CLOSED, field="rectification_id")
        await db.execute(
            "INSERT INTO rectification_comment (rectification_id, author_id, author, body, created_at) "
            "VALUES ({}, {}, {}, {}, {})",
            rectification_id,
            author_id,
            author,
            f"已整改：{note}",
            clock.now(),
        )
    return await get_rectification(rectification_id)
