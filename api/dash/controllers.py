"""The three dashboard tiers and the drill-downs behind their figures, as REST (the live feed serves the same JSON:
``orderhub.insights.live``). Every figure's definition and drill metric: docs/dashboards.md."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import Parameter

from api.common import MAX_INT
from orderhub import clock
from orderhub.auth.service import UserView
from orderhub.finance import view as finance_view
from orderhub.insights import approvals as approval_metrics
from orderhub.insights import tiers
from orderhub.insights.approvals import ApprovalBoard
from orderhub.insights.tiers import DrillPage, MyDay, OperationsBoard, StrategicBoard, TacticalBoard
from orderhub.offers import effect as offer_effect
from orderhub.offers.effect import OfferEffect

__all__ = ["DashController"]

Day = Annotated[
    str | None,
    Parameter(description="YYYY-MM-DD, an Asia/Shanghai date up to today (default today; today's figures run to now)"),
]
WarehouseId = Annotated[
    int | None,
    Parameter(ge=1, le=MAX_INT, description="one warehouse; a user bound to a warehouse may name only their own"),
]
ChannelId = Annotated[int | None, Parameter(ge=1, le=MAX_INT, description="one channel (shop)")]

_DRILL_TEXT = "Drill into a figure with `GET /api/v1/dash/drill?metric=…` (the metric each figure names below)."


class DashController(Controller):
    path = "/api/v1/dash"
    tags = ["dashboards"]

    @get(
        "/strategic",
        summary="战略层: today's orders and GMV against yesterday and last week, channels, and why they moved",
        description=(
            "Hub-wide (a user bound to a warehouse is refused), from the rollups; `day` defaults to today, whose "
            "figures run to now. `today.orders` = orders received (`order.received`) in the day (drill `orders`); "
            "`today.gmv_fen` = Σ paid_amount of those orders (drill `orders`); `aov_fen` = GMV ÷ orders, rounded "
            "down; `cancelled` = orders cancelled in the day (drill `cancelled`); `refund_rate` = cancelled ÷ "
            "received of the day (drill `cancelled`). `yesterday_same_time` / `last_week_same_time`: the same "
            "figures for the day before and the same weekday a week before, from 00:00 to the same time of day "
            "(15-minute buckets). `hourly`: per Asia/Shanghai hour of the day (up to now): orders, GMV, AOV "
            "(drill `orders` with the hour's day). `aov_trend`: the AOV of each of the 7 days ending `day`. "
            "`channels`: per channel orders, GMV and share = its orders ÷ all orders (drill `orders` with "
            "`channel_id`). `why`: the change against last week's same time, decomposed by channel (orders "
            "received and GMV) and by warehouse (orders routed to it), biggest contribution first, in zh-CN with "
            "the numbers. `health`: the order health index when configured, else null. " + _DRILL_TEXT
        ),
    )
    async def strategic(self, day: Day = None, channel_id: ChannelId = None) -> StrategicBoard:
        return await tiers.strategic(tiers.parse_day(day), channel_ids=[channel_id] if channel_id is not None else None)

    @get(
        "/finance",
        summary="财务: the managers' finance card — the last bill day's reconciliation, open differences, overdue",
        description="Role finance (and admin) only; hub-wide. `day` (default yesterday, Asia/Shanghai): that bill "
        "day's settled, expected (the orders' expected payouts) and difference with the three largest causes; "
        "`open_differences`: reconciliation rows with a difference nobody resolved yet (`flagged`: with an "
        "unexplained or unmatched part); `overdue_*`: shipped orders unsettled past their platform's usual delay. "
        "The full view: `GET /api/v1/finance/overview` (docs/finance.md).",
    )
    async def finance(self, day: Day = None) -> finance_view.FinanceCard:
        chosen = tiers.parse_day(day) if day else clock.to_shanghai(clock.now()).date() - timedelta(days=1)
        return await finance_view.card(chosen)

    @get(
        "/tactical",
        summary="战术层: per warehouse funnel, backlog against capacity, at-risk, overdue, exceptions, waves",
        description=(
            "Per warehouse (`warehouse_id`, or every active warehouse; a user bound to a warehouse gets theirs and "
            "is refused another's with `forbidden_warehouse`). `funnel`: orders in each open status now (rollup "
            "`rollup_status_count`; received / validated / reserved are not routed yet, so 0 per warehouse; drill "
            "`status:<status>`). `shipped_today`: orders shipped in the day (drill `shipped`). `backlog`: orders "
            "ready + picking + packed now (drill `backlog`); `capacity`: the warehouse's `daily_capacity` (0 = not "
            "set); `backlog_ratio` = backlog ÷ capacity (null without a capacity). `at_risk`: open orders the "
            "SLA watcher flagged that are not overdue yet (drill `at_risk`). `overdue`: open orders past their "
            "`ship_by` now, an indexed count on "
            "`sales_order (warehouse, status, …)` (drill `overdue`). `next_cutoff`: the next carrier pick-up from the "
            "warehouse's rate cards (else its picking cut-offs, carrier null), or null. `exceptions_by_reason`: "
            "orders sent to exception in the day per reason (drill `exceptions` with `reason`). `waves`: released "
            "waves not done, tasks done ÷ tasks. `on_time_rate`: orders shipped in the day at or before `ship_by` "
            "÷ those shipped with a `ship_by` (drill `shipped`). " + _DRILL_TEXT
        ),
    )
    async def tactical(
        self, request: Request[UserView, Any, Any], day: Day = None, warehouse_id: WarehouseId = None
    ) -> TacticalBoard:
        scope = tiers.warehouse_ids_in_scope(request.user.warehouse_id, warehouse_id)
        return await tiers.tactical(tiers.parse_day(day), scope)

    @get(
        "/operations",
        summary="执行层: each picker's and packer's current task, units per hour and errors today",
        description=(
            "Per operator and role (`pick` for picking scans, `pack` for the pack station) in the warehouse "
            "(`warehouse_id`, or every one; a user bound to a warehouse gets theirs only), from the operators' "
            "rollup of the day: `units` confirmed by accepted item scans, `working_s` = last scan − first scan of "
            "the day, `units_per_hour` = units ÷ working hours, `errors` = wrong scans + short picks + weight "
            "mismatches, `scans`, `orders_packed`. `current_task`: the pick task they have claimed or the pack "
            "they have open, since when and for how long (today only). Drill `operator_tasks` with `user_id` "
            "lists an operator's tasks of the day. " + _DRILL_TEXT
        ),
    )
    async def operations(
        self, request: Request[UserView, Any, Any], day: Day = None, warehouse_id: WarehouseId = None
    ) -> OperationsBoard:
        scope = tiers.warehouse_ids_in_scope(request.user.warehouse_id, warehouse_id)
        if warehouse_id is not None:
            await tiers.warehouses_exist([warehouse_id])  # 404 not_found, as tactical answers
        return await tiers.operations(tiers.parse_day(day), scope)

    @get(
        "/approvals",
        summary="审批: per approval flow and step, requests opened and decided, cycle times, pending, overdue",
        description=(
            "The managers' approval figures of `day` (today: to now) per flow and per step, and their `totals`; "
            "`warehouse_id` narrows them to that warehouse's requests (a user bound to a warehouse gets theirs "
            "and is refused another's with `forbidden_warehouse`; without it, every request). Per flow: `opened` "
            "= requests opened in the day; `approved` / `rejected` / `withdrawn` / `cancelled` = requests closed "
            "in the day by outcome (`closed` their sum, `decided` = approved + rejected); `expired` = of those, "
            "decided by the hub when a time limit ran out (auto-approve / auto-reject); `cycle_p50_s` / "
            "`cycle_p90_s` = seconds from opened to decided of the day's decisions (nearest rank; null without "
            "any); `pending` = requests pending now; `overdue` = pending requests with a task past its time limit "
            "now (its due time has come, or it reached its holder by escalation, or the sweep kept it waiting "
            "past the limit); `escalations` = tasks escalated to the holder's manager in the day. Per step (index "
            "and name): approver tasks `opened` in the day, `approved` / `rejected` in the day with their cycle "
            "time (task created → decided), `pending` and `overdue` tasks now, `escalations` in the day. "
            "`sampled`: more than 10,000 decisions in the day, cycle times are of the latest 10,000."
        ),
    )
    async def approvals(
        self, request: Request[UserView, Any, Any], day: Day = None, warehouse_id: WarehouseId = None
    ) -> ApprovalBoard:
        scope = tiers.warehouse_ids_in_scope(request.user.warehouse_id, warehouse_id)
        if warehouse_id is not None:
            await tiers.warehouses_exist([warehouse_id])  # 404 not_found, as tactical answers
        return await approval_metrics.board(tiers.parse_day(day), scope)

    @get(
        "/me",
        summary="执行层 for the caller: my units, errors and current task today, and my to-do list",
        description=(
            "The caller's own row of the operations tier (pick and pack summed over the day, `role` = pick for a "
            "picker, pack for a packer) plus `todo`: the pick tasks assigned to or claimed by them and the packs "
            "they have open. Every staff role may call it; it shows nobody else's work."
        ),
    )
    async def me(self, request: Request[UserView, Any, Any], day: Day = None) -> MyDay:
        user = request.user
        return await tiers.my_day(user.id, user.display_name or user.username, user.role, tiers.parse_day(day))

    @get(
        "/offers",
        summary="加购优惠效果: each enabled add-on offer's attach rate against its hold-out, with 95 % intervals",
        description=(
            "Hub-wide (the same roles and scope as `GET /api/v1/offers/{offer_id}/effect`). Every add-on offer "
            "switched on now, then those switched off (most recently enabled first; at most 20), as "
            "`GET /api/v1/offers/{offer_id}/effect` measures it now: per buyer, the share of buyers with an order of "
            "≥ N of each trigger SKU who also bought the offered SKU (cancelled orders and replacements left out), "
            "before and after `enabled_at` and, after it, buyers shown the offer (`treatment`) against the hold-out "
            "(`holdout`), each with a Wilson 95 % interval; `effect` = treatment − hold-out with Newcombe's hybrid "
            "score 95 % interval; `contaminated` when a gift rule made from the offer is switched on; `note` says in "
            "zh-CN how to read it (docs/offers.md). One grouped query per offer returns one row per buyer and "
            "window (each window at most 90 days)."
        ),
    )
    async def offers(self) -> list[OfferEffect]:
        return await offer_effect.enabled_effects()

    @get(
        "/drill",
        summary="Drill-down: the orders (or tasks) behind a dashboard figure, newest first, paginated",
        description=(
            "`metric`: `orders` (received in the day), `shipped`, `cancelled`, `exceptions` (optionally `reason`; "
            "also for `cancelled`), `held` (the order events of that kind in the day), `at_risk` (open orders flagged "
            "at risk, not overdue "
            "yet), `overdue` (open "
            "orders past `ship_by` now), `backlog` (ready, picking, packed now), `status:<status>` (orders in that "
            "open status now), `operator_tasks` (with `user_id`: that operator's pick tasks and packs touched in "
            "the day; items are tasks). Filters: `warehouse_id` (the warehouse the order is in now), `channel_id`. "
            "A user bound to a warehouse sees only orders in their warehouse and is refused another's. `total` is "
            "given on the first page (no `cursor`); page on with `cursor` = the previous `next_cursor`. Unknown "
            "metric: 422 `dash_bad_metric`; bad day: 422 `dash_bad_day`."
        ),
    )
    async def drill(
        self,
        request: Request[UserView, Any, Any],
        metric: Annotated[str, Parameter(min_length=1, max_length=40, description="which figure (see above)")],
        day: Day = None,
        warehouse_id: WarehouseId = None,
        channel_id: ChannelId = None,
        reason: Annotated[str | None, Parameter(max_length=64, description="exception or cancel reason")] = None,
        user_id: Annotated[int | None, Parameter(ge=1, le=MAX_INT, description="operator_tasks: whose")] = None,
        cursor: Annotated[str | None, Parameter(max_length=20, description="the previous page's next_cursor")] = None,
        limit: Annotated[int, Parameter(ge=1, le=tiers.MAX_LIMIT)] = 50,
    ) -> DrillPage:
        scope = tiers.warehouse_ids_in_scope(request.user.warehouse_id, warehouse_id)
        if warehouse_id is not None:
            await tiers.warehouses_exist([warehouse_id])  # 404 not_found rather than an empty page
        return await tiers.drill(
            metric,
            tiers.parse_day(day),
            warehouse_ids=scope,
            channel_ids=[channel_id] if channel_id is not None else None,
            reason=reason,
            user_id=user_id,
            cursor=cursor,
            limit=limit,
        )
