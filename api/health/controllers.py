"""The order health index (docs/health.md): overview, ranking, history, settings, the daily recompute, 整改
(rectification) tasks; and customer-service inquiries on an order (the KPIs' query rate, docs/kpis.md)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.params import Parameter

from api.common import PathId, present
from orderhub.auth.service import UserView
from orderhub.errors import CommonError, PermissionDenied
from orderhub.insights import health, inquiries
from orderhub.insights.health_settings import HealthSettings, load_settings, save_settings
from orderhub.insights.tiers import parse_day
from orderhub.orders import service as orders

__all__ = ["HealthController", "InquiryController"]

Day = Annotated[
    date | None,
    Parameter(description="Asia/Shanghai date YYYY-MM-DD, not after today (else 422 `dash_bad_day`); default today"),
]
Kind = Annotated[str, Parameter(description="region | warehouse | channel")]
Note = Annotated[str, msgspec.Meta(max_length=255)]
Body = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class RecomputeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    day: date | None = None  # default yesterday (Asia/Shanghai)


class CommentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    body: Body


class ResolveIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    note: Body


class InquiryIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    channel: Literal["phone", "im", "other"]  # how the customer asked
    note: Note = ""


class InquiryOut(msgspec.Struct, kw_only=True):
    id: int
    order_id: int
    source: str
    note: str
    actor: str
    counted: bool
    created_at: datetime


_KPI_TEXT = (
    "Metrics (docs/kpis.md, Asia/Shanghai days, rollups only): `cycle_time` p90 minutes paid → shipped of the orders "
    "shipped that day (target ≤ 120); `first_pass_accuracy` orders packed with no wrong scan, short pick, weight "
    "mismatch or earlier pack ÷ orders packed (≥ 0.99; not defined per channel); `query_rate` orders whose customer "
    "first asked about the parcel (tracking page, mini-program parcel page, or an inquiry logged by customer service) "
    "while shipped and not delivered ÷ orders shipped (≤ 0.05); `on_time_rate` shipped at or before ship_by ÷ shipped "
    "with a ship_by (≥ 0.98); `exception_rate` orders sent to exception ÷ orders received (a warehouse or region: ÷ "
    "orders routed to it; ≤ 0.02). Each metric scores 100 at its target and 0 at its `zero_at`, linearly in between; "
    "the index is the weighted mean over the metrics that have a value, and each part's `lost` = its normalised "
    "weight × (100 − its score)."
)


def _day(day: date | None) -> date:
    """``day`` checked like the dashboards' (``dash_bad_day``, field ``day``: not after today); today when absent."""
    return parse_day(day.isoformat() if day is not None else None)


class HealthController(Controller):
    path = "/api/v1/health"
    tags = ["health"]

    @get(
        "/overview",
        summary="The hub's health index today, its explanation and the regional ranking",
        description="The hub's score for `day` (default today; computed live from the rollups when the day's history "
        "row is not written yet), each metric's points lost and why (zh-CN `text`), the ranking by region (by "
        "warehouse when no warehouse has a region) with the change since the same day last week, and the number of "
        "open rectifications. " + _KPI_TEXT,
    )
    async def overview(self, day: Day = None) -> dict[str, Any]:
        return await health.overview(_day(day))

    @get(
        "/ranking",
        summary="Ranking by health index: regions, warehouses or channels, with the change since last week",
        description="Scopes of `kind` (region / warehouse / channel) by score on `day` (default today), best first; "
        "`change` = score − the same scope's score 7 days earlier, `rank_change` = last week's rank − this rank "
        "(positive: moved up); `worst_metric` the metric that lost the most points. " + _KPI_TEXT,
    )
    async def ranking(self, kind: Kind = "region", day: Day = None) -> list[health.RankingRow]:
        return await health.ranking(kind, _day(day))

    @get(
        "/scores",
        summary="A scope's daily health history",
        description="The stored daily scores (health_score_day) of one scope (`kind` hub / warehouse / region / "
        "channel, default hub; `id` the warehouse or channel id, the region's name, or `all`, the default) from "
        "`since` to `until` (default the last 30 days), each with its parts. 422 `health_bad_kind` (field `kind`) "
        "for another kind, `health_bad_range` (field `since`) when `since` is after `until`. A user bound to a "
        "warehouse gets their warehouse's history (the default for them) and is refused any other scope with "
        "`forbidden_warehouse`.",
    )
    async def scores(
        self,
        request: Request[UserView, Any, Any],
        kind: Annotated[str | None, Parameter(max_length=16)] = None,
        scope_id: Annotated[str | None, Parameter(query="id", max_length=64)] = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[health.ScopeScore]:
        bound = request.user.warehouse_id
        if bound is not None:
            kind, scope_id = kind or "warehouse", scope_id or str(bound)
            if kind != "warehouse" or scope_id != str(bound):
                raise PermissionDenied(
                    "只能查看本仓库的健康分数",
                    code=CommonError.FORBIDDEN_WAREHOUSE,
                    field="kind" if kind != "warehouse" else "id",
                )
        until = until or health.today()
        return await health.history(kind or "hub", scope_id or "all", since or until - timedelta(days=29), until)

    @get(
        "/settings",
        summary="The health index's settings: targets, zero points, weights, threshold, good days",
        description="Per metric its `target` (scores 100), `zero_at` (scores 0) and `weight`; `threshold` (a daily "
        "score below it opens a rectification, default 80), `close_after_days` (days in a row at or above it that "
        "close it, default 3) and the orders-per-person KPI target. Defaults until an admin saves settings.",
    )
    async def get_settings(self) -> HealthSettings:
        return await load_settings()

    @put(
        "/settings",
        summary="Change the health index's settings",
        description="Replaces the settings (all five metrics). Refused with `health_bad_settings` (and the field) when "
        "a zero point is not on the bad side of its target, a weight is negative or all are 0, the threshold is "
        "outside 0–100 or the day count outside 1–90. Takes effect at the next recompute.",
    )
    async def put_settings(self, request: Request[UserView, Any, Any], data: HealthSettings) -> HealthSettings:
        return await save_settings(data, actor=f"user:{request.user.username}")

    @post(
        "/recompute",
        status_code=200,
        summary="Recompute the health index for a day now",
        description="What the worker's hourly job does for yesterday: score every scope for `day` (default "
        "yesterday, Asia/Shanghai), store the history, open, refresh or close rectifications. Idempotent.",
    )
    async def recompute(self, data: RecomputeIn) -> health.RecomputeReport:
        return await health.recompute(data.day or health.today() - timedelta(days=1))

    @get(
        "/rectifications",
        summary="整改 tasks opened by low health scores",
        description="Rectifications, newest first: the scope, the assignee (that scope's manager), the score and "
        "threshold, the metrics that lost points (with the reason and the orders that pulled them down), good days "
        "since the last bad one, comments. `status` open / closed (recovered after enough good days) / resolved (by "
        "hand); `mine=true` only those assigned to the caller. A user bound to a warehouse sees their warehouse's.",
    )
    async def list_rectifications(
        self,
        request: Request[UserView, Any, Any],
        status: Literal["open", "closed", "resolved"] | None = None,
        mine: bool = False,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> list[health.RectificationView]:
        return await health.list_rectifications(
            status=status,
            warehouse_id=request.user.warehouse_id,
            assignee_id=request.user.id if mine else None,
            limit=limit,
        )

    @post(
        "/rectifications/{rectification_id:int}/comments",
        status_code=200,
        summary="Comment on a rectification (what is being done)",
        description="Adds a comment (`body`) to the rectification; answers the rectification with its comments. "
        "`rectification_not_found` for one of another warehouse.",
    )
    async def add_comment(
        self, request: Request[UserView, Any, Any], rectification_id: PathId, data: CommentIn
    ) -> health.RectificationView:
        return await health.comment(
            rectification_id,
            data.body,
            author_id=request.user.id,
            author=request.user.display_name or request.user.username,
            warehouse_id=request.user.warehouse_id,
        )

    @post(
        "/rectifications/{rectification_id:int}/resolve",
        status_code=200,
        summary="Resolve a rectification by hand, with a note",
        description="Closes an open rectification as `resolved` with the `note` (what was done), recorded as a "
        "comment too; `rectification_closed` when it is closed already. A score that falls below the line again on a "
        "later day opens a new one.",
    )
    async def resolve(
        self, request: Request[UserView, Any, Any], rectification_id: PathId, data: ResolveIn
    ) -> health.RectificationView:
        return await health.resolve(
            rectification_id,
            data.note,
            author_id=request.user.id,
            author=request.user.display_name or request.user.username,
            warehouse_id=request.user.warehouse_id,
        )


class InquiryController(Controller):
    path = "/api/v1/orders"
    tags = ["orders"]

    @post(
        "/{order_id:int}/inquiries",
        summary="Log a customer's inquiry about the order's parcel (customer service)",
        description="Records that the customer asked about the order (`channel` phone / im / other, an optional "
        "`note`). Every inquiry is kept; the order counts in the KPI query rate (docs/kpis.md#query_rate) once, on "
        "the Asia/Shanghai day of its first inquiry while it is shipped and not yet delivered (`counted`: this one "
        "made it count).",
    )
    async def log_inquiry(self, request: Request[UserView, Any, Any], order_id: PathId, data: InquiryIn) -> InquiryOut:
        await orders.get_order(order_id, warehouse_id=request.user.warehouse_id)
        view = await inquiries.record_inquiry(
            order_id, source=inquiries.Source(data.channel), note=data.note, actor=f"user:{request.user.username}"
        )
        return present(view, InquiryOut)

    @get(
        "/{order_id:int}/inquiries",
        summary="The customer's inquiries about the order",
        description="Inquiries customer service logged and the first parcel-page view before delivery "
        "(`source` tracking_page / miniprogram / phone / im / other), oldest first.",
    )
    async def list_inquiries(self, request: Request[UserView, Any, Any], order_id: PathId) -> list[InquiryOut]:
        await orders.get_order(order_id, warehouse_id=request.user.warehouse_id)
        return [present(v, InquiryOut) for v in await inquiries.list_inquiries(order_id)]
