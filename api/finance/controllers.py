"""Finance (docs/finance.md): per-channel fee settings, the settlement pull's settings, settlement lines sent by an
ERP or pulled on demand, the daily reconciliation, the differences to work through, and the finance view. Role
finance (and admin); managers read the reconciliation and the view."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.params import Parameter

from api.common import PathId
from orderhub import clock
from orderhub.auth.service import UserView
from orderhub.errors import ValidationFailed
from orderhub.finance import fees, pull, reconcile, reports_data, view
from orderhub.finance.errors import FinanceError
from orderhub.finance.fees import FeeRates
from orderhub.finance.model import DailyReport, StoreResult
from orderhub.finance.port import LineKind, SettlementLineIn
from orderhub.finance.settlements import store_lines

__all__ = ["FinanceController"]

Day = Annotated[date | None, Parameter(description="Asia/Shanghai date YYYY-MM-DD")]
Bp = Annotated[int, msgspec.Meta(ge=0, le=10_000, description="basis points: 600 = 6 %")]
FenFee = Annotated[int, msgspec.Meta(ge=0, le=10_000_000, description="fen")]
MAX_API_LINES = 5_000


class FeeSettingsIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    commission_bp: Bp = 0
    category_commission: Annotated[dict[str, Bp], msgspec.Meta(max_length=fees.MAX_CATEGORIES)] = {}
    payment_fee_bp: Bp = 0
    service_fee_bp: Bp = 0
    service_fee_fixed: FenFee = 0
    insurance_fee: FenFee = 0
    settle_delay_days: Annotated[int, msgspec.Meta(ge=0, le=180)] = 15


class SettlementSettingsIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True
    # settlement-only credentials, sealed at rest and never returned (Taobao: alipay_app_id, alipay_private_key,
    # alipay_public_key, alipay_gateway — orderhub/channels/taobao/settlement.py)
    # (left out: the stored ones are kept — switching the pull off does not erase them)
    extra: Annotated[dict[str, Annotated[str, msgspec.Meta(max_length=8_000)]], msgspec.Meta(max_length=20)] | None = (
        None
    )
    first_day: Annotated[str, msgspec.Meta(max_length=10)] = ""


class SettlementSettingsOut(msgspec.Struct, kw_only=True):
    channel: str
    enabled: bool
    extra_keys: list[str]
    first_day: str


class LineIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    line_key: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    external_id: Annotated[str, msgspec.Meta(max_length=64)] = ""
    sub_id: Annotated[str, msgspec.Meta(max_length=64)] = ""
    kind: LineKind
    amount: Annotated[int, msgspec.Meta(ge=-1_000_000_000, le=1_000_000_000, description="fen, + to the seller")]
    settled_at: Annotated[datetime, msgspec.Meta(tz=True)]
    bill_date: date
    occurred_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    refund_before_settle: bool = False
    memo: Annotated[str, msgspec.Meta(max_length=255)] = ""


class LinesIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    channel: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    batch_key: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    lines: Annotated[list[LineIn], msgspec.Meta(min_length=1, max_length=MAX_API_LINES)]


class PullIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    channel: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    day: date


class RerunIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    channel: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    day: date


class RerunOut(msgspec.Struct, kw_only=True):
    reconciled: int


class ResolveIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    action: Annotated[str, msgspec.Meta(description="note | write_off | claim")]
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


def _actor(request: Request[UserView, Any, Any]) -> str:
    return f"user:{request.user.username}"


def _yesterday() -> date:
    return clock.to_shanghai(clock.now()).date() - timedelta(days=1)


class FinanceController(Controller):
    path = "/api/v1/finance"
    tags = ["finance"]

    @get(
        "/fees/{channel:str}",
        summary="A channel's fee settings",
        description="Commission (default and per SKU category), payment and service fees in basis points, fixed fees "
        "and 运费险 in fen per order, and the platform's usual days to settle. No settings: no fees, 15 days.",
    )
    async def get_fees(self, channel: str) -> FeeRates:
        return await fees.get_rates(channel)

    @put(
        "/fees/{channel:str}",
        summary="Replace a channel's fee settings",
        description="Used for the expected payout of orders shipped from now on (and of earlier ones when a refund "
        "changes them). Rates are basis points (600 = 6 %); amounts fen.",
    )
    async def put_fees(self, request: Request[UserView, Any, Any], channel: str, data: FeeSettingsIn) -> FeeRates:
        rates = msgspec.convert(msgspec.to_builtins(data), FeeRates)
        return await fees.save_rates(channel, rates, actor=_actor(request))

    @put(
        "/settlement-settings/{channel:str}",
        summary="A channel's settlement pull: on or off, its own credentials, the first day",
        description="`extra` holds what only the settlement source needs (Taobao/Tmall: the Alipay app id and keys); "
        "it is sealed at rest and never returned — only its keys are.",
    )
    async def put_settlement_settings(self, channel: str, data: SettlementSettingsIn) -> SettlementSettingsOut:
        channel_id = await fees.channel_id(channel)
        await pull.save_extra(channel_id, data.extra, enabled=data.enabled, first_day=data.first_day)
        return SettlementSettingsOut(
            channel=channel,
            enabled=data.enabled,
            extra_keys=sorted(await pull.extra_keys(channel_id)),
            first_day=data.first_day,
        )

    @post(
        "/settlements/lines",
        status_code=200,
        summary="Store settlement lines sent by an ERP or script",
        description="Up to 5,000 lines of one channel; unique per line key (a line sent again as it is changes "
        "nothing; with another amount it replaces the old one). The orders they touch are reconciled at once.",
    )
    async def post_lines(self, request: Request[UserView, Any, Any], data: LinesIn) -> StoreResult:
        channel_id = await fees.channel_id(data.channel)
        lines = [msgspec.convert(msgspec.to_builtins(line), SettlementLineIn) for line in data.lines]
        return await store_lines(channel_id, source="api", batch_key=data.batch_key, lines=lines, actor=_actor(request))

    @post(
        "/settlements/pull",
        status_code=200,
        summary="Pull one bill day of a channel's settlement now",
        description="Resumes at the day's saved page cursor. A day the platform has not produced yet answers "
        "`status: not_ready`; a platform without a settlement API answers 422 `settlement_no_source`.",
    )
    async def pull_now(self, data: PullIn) -> pull.PullOutcome:
        return await pull.pull_day(await fees.channel_id(data.channel), data.day)

    @post(
        "/reconciliation/rerun",
        status_code=200,
        summary="Reconcile one channel's bill day again",
        description="Idempotent: re-running a day over the same lines changes nothing.",
    )
    async def rerun(self, data: RerunIn) -> RerunOut:
        channel_id = await fees.channel_id(data.channel)
        return RerunOut(reconciled=await reconcile.reconcile_day(channel_id, data.day.isoformat()))

    @get(
        "/reconciliation/daily",
        summary="The daily reconciliation report per channel",
        description="Orders, platform settled, system recorded (expected payout), difference and its causes per "
        "channel for one bill day (default yesterday). Every total is the sum of its lines. XLSX and PDF: "
        "`/api/v1/finance/reconciliation/daily.xlsx` / `.pdf`.",
    )
    async def daily(self, day: Day = None, channel: str | None = None) -> DailyReport:
        channel_id = await fees.channel_id(channel) if channel else None
        return await reports_data.daily_report(day or _yesterday(), channel_id)

    @get(
        "/differences",
        summary="The differences to work through",
        description="Orders (and lines on no order) whose settlement differs from the expected payout, open ones "
        "by default (`open_only=false` for resolved too); filter by channel, bill days, main cause, status.",
    )
    async def differences(
        self,
        channel: str | None = None,
        since: Day = None,
        until: Day = None,
        cause: str | None = None,
        status: str | None = None,
        open_only: bool = True,
        cursor: Annotated[int | None, Parameter(ge=0)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> reports_data.DifferencePage:
        channel_id = await fees.channel_id(channel) if channel else None
        return await reports_data.list_differences(
            channel_id=channel_id,
            since=since,
            until=until,
            cause=cause,
            status=status,
            open_only=open_only,
            after_id=cursor,
            limit=limit,
        )

    @get(
        "/differences/{recon_id:int}",
        summary="One difference with its cause-coded parts",
        description="Each part names its cause (code and zh-CN) and the fields that show it.",
    )
    async def difference(self, recon_id: PathId) -> reports_data.Difference:
        return await reports_data.get_difference(recon_id)

    @post(
        "/differences/{recon_id:int}/resolve",
        status_code=200,
        summary="Resolve a difference: a note, a write-off or a claim with the platform",
        description="Write-off and claim need a note. The resolution stays while the difference stays; a corrected "
        "bill that changes the difference reopens it.",
    )
    async def resolve(
        self, request: Request[UserView, Any, Any], recon_id: PathId, data: ResolveIn
    ) -> reports_data.Difference:
        return await reports_data.resolve(recon_id, action=data.action, note=data.note, actor=_actor(request))

    @get(
        "/overview",
        summary="The finance view",
        description="Sales trend and refund rate per channel, unsettled orders and amounts by age (and past the "
        "platform's usual delay), fees by type, margin per SKU and channel after platform fees and shipping cost, "
        "settlement lag per platform; Asia/Shanghai days (default the last 30), at most 366.",
    )
    async def overview(self, since: Day = None, until: Day = None) -> view.FinanceOverview:
        until = until or clock.to_shanghai(clock.now()).date()
        since = since or until - timedelta(days=29)
        if since > until:
            raise ValidationFailed(FinanceError.BAD_RANGE, field="since")
        return await view.overview(since, until)
