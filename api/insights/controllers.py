"""Co-purchase mining runs and their patterns, and time-of-week peaks (docs/insights-mining.md)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import Parameter

from api.common import PathId
from orderhub.auth.service import UserView
from orderhub.insights import copurchase, peaks

__all__ = ["CopurchaseController", "PeaksController"]

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]

_MEASURES = (
    "For a rule X → Y over the run's N orders: `orders` = orders with at least `min_qty` units of X (each SKU of X) "
    "and Y; `support` = orders ÷ N; `confidence` = P(Y | X) = orders ÷ `antecedent_orders`; `lift` = confidence ÷ "
    "P(Y) = confidence ÷ (`consequent_orders` ÷ N) — 1 means X and Y are bought independently, 10 that buyers of X "
    "take Y ten times as often as buyers in general. Orders counted: placed in the period (Asia/Shanghai days), not "
    "cancelled, not replacements (补发单), distinct non-gift SKUs."
)


class RunIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    since: date  # Asia/Shanghai day, included
    until: date  # Asia/Shanghai day, included
    channels: Annotated[list[Code], msgspec.Meta(max_length=50)] = []
    region: Annotated[str, msgspec.Meta(max_length=32)] = ""
    min_support: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.001
    min_count: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)] = 5
    max_qty: Annotated[int, msgspec.Meta(ge=1, le=copurchase.MAX_QTY)] = 3
    max_patterns: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 5_000
    triples: bool = False


class CopurchaseController(Controller):
    path = "/api/v1/insights/copurchase"
    tags = ["insights"]

    @post(
        "/runs",
        status_code=202,
        summary="Start a co-purchase mining run",
        description="Queues a run over the orders placed on the Asia/Shanghai days `since` … `until` (at most 366 "
        "days) of the scope — `channels` (codes; empty: every channel) and `region` (the shipping warehouse's "
        "region; empty: every order, routed or not) — and answers 202 with the run (`status` queued); the worker "
        "counts it (`GET …/runs/{run_id}` until `done`). Pairs counted at least `min_count` times and in at least "
        "`min_support` of the orders become rules X → Y and, for N = 2 … `max_qty`, “≥ N of X” → Y; the "
        "`max_patterns` with the highest lift are kept; `triples` adds {X, Z} → Y for sets of three whose every "
        "pair is frequent (apriori; costs about one more pass). 422 `insights_bad_period` (`since` after `until`, "
        "or too long), `copurchase_unknown_channel` (field `channels`, `codes` the unknown ones), "
        "`copurchase_unknown_region` (field `region`); 409 `copurchase_run_duplicate` while a run with the same "
        "period, scope and thresholds is queued or running (`run_id` names it: follow that one). " + _MEASURES,
    )
    async def start(self, request: Request[UserView, Any, Any], data: RunIn) -> copurchase.RunView:
        params = copurchase.params_for_days(
            data.since,
            data.until,
            channels=list(data.channels),
            region=data.region,
            min_support=data.min_support,
            min_count=data.min_count,
            max_qty=data.max_qty,
            max_patterns=data.max_patterns,
            triples=data.triples,
        )
        return await copurchase.start_run(params, actor=f"user:{request.user.username}")

    @get(
        "/runs",
        summary="Co-purchase mining runs, newest first",
        description="Each run's period (`since`/`until`, the UTC instants of the Asia/Shanghai days asked for, shown "
        "in +08:00), scope, thresholds, `status` (queued / running / done / failed with `error` — `timeout`, "
        "`interrupted`, `too many attempts` or the exception — and `error_message` in zh-CN), `attempts` (executions "
        "that took the run: a timed-out or interrupted run is tried again up to 3 times, then stays failed), and what "
        "it counted: `orders`, `pairs` (distinct SKU pairs at or above the minimum count), `patterns` kept, `took_ms`.",
    )
    async def list_runs(
        self,
        status: Literal["queued", "running", "done", "failed"] | None = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> list[copurchase.RunView]:
        return await copurchase.list_runs(status=status, limit=limit)

    @get(
        "/runs/{run_id:int}",
        summary="One co-purchase mining run",
        description="The run as in the list; 404 `copurchase_run_not_found`.",
    )
    async def get_run(self, run_id: PathId) -> copurchase.RunView:
        return await copurchase.get_run(run_id)

    @get(
        "/runs/{run_id:int}/patterns",
        summary="A run's co-purchase patterns, highest lift first",
        description="Sorted by lift, then orders. Filters: `sku` (in the antecedent or the consequent), `antecedent`, "
        "`consequent`, `min_qty` (exactly: 1 plain X → Y, N “≥ N of X” → Y), `min_lift`, `min_confidence`, "
        "`min_orders`; `limit` / `offset` page. 404 `copurchase_run_not_found`. " + _MEASURES,
    )
    async def patterns(
        self,
        run_id: PathId,
        sku: Annotated[str | None, Parameter(max_length=64)] = None,
        antecedent: Annotated[str | None, Parameter(max_length=64)] = None,
        consequent: Annotated[str | None, Parameter(max_length=64)] = None,
        min_qty: Annotated[int | None, Parameter(ge=1, le=copurchase.MAX_QTY)] = None,
        min_lift: Annotated[float | None, Parameter(ge=0)] = None,
        min_confidence: Annotated[float | None, Parameter(ge=0, le=1)] = None,
        min_orders: Annotated[int | None, Parameter(ge=0, le=2**31 - 1)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=100_000)] = 0,
    ) -> list[copurchase.Pattern]:
        flt = copurchase.PatternFilter(
            sku=sku,
            antecedent=antecedent,
            consequent=consequent,
            min_qty=min_qty,
            min_lift=min_lift,
            min_confidence=min_confidence,
            min_orders=min_orders,
            limit=limit,
            offset=offset,
        )
        return await copurchase.list_patterns(run_id, flt)

    @get(
        "/patterns/{pattern_id:int}",
        summary="One co-purchase pattern",
        description="What an add-on offer is drafted from (docs/offers.md): antecedent SKU(s), `min_qty`, consequent, "
        "counts, support, confidence, lift. 404 `copurchase_pattern_not_found`. " + _MEASURES,
    )
    async def get_pattern(self, pattern_id: PathId) -> copurchase.Pattern:
        return await copurchase.get_pattern(pattern_id)


class PeaksController(Controller):
    path = "/api/v1/insights/peaks"
    tags = ["insights"]

    @get(
        "/",
        summary="Time-of-week peaks of a SKU or a category",
        description="Units sold of `sku` (or of every SKU whose `category` is given — exactly one of the two, else "
        "422 `peaks_bad_target`) by weekday × hour in Asia/Shanghai, over the orders placed on the days `since` … "
        "`until` (default the last 28 days to today; at most 366, within 2000–2100; `insights_bad_period`), not "
        "cancelled, non-gift lines. Each of the 168 `cells` has its units, `share` of the period's units, `rate` "
        "(units per occurrence of that weekday-hour in the period) and `ratio` (rate ÷ the period's mean units per "
        "hour). `top`: the `top` best non-overlapping windows of `window` consecutive hours (e.g. `周五 20–22 点`) "
        "with their ratio; `peak_ratio` the best window's. `peaks_unknown_sku` / `peaks_unknown_category` for a "
        "code or category no SKU has.",
    )
    async def time_of_week(
        self,
        sku: Annotated[str | None, Parameter(max_length=64)] = None,
        category: Annotated[str | None, Parameter(max_length=64)] = None,
        since: date | None = None,
        until: date | None = None,
        window: Annotated[int, Parameter(ge=1, le=24)] = 2,
        top: Annotated[int, Parameter(ge=1, le=20)] = 3,
    ) -> peaks.Peaks:
        return await peaks.peaks(sku=sku, category=category, since=since, until=until, window=window, top=top)
