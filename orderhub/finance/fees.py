"""Per-channel fee settings: what the platform takes from each order (rates in basis points) and how long it takes
to settle. Read by the expected payout (:mod:`orderhub.finance.payouts`); managed through the API."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from orderhub import clock, db
from orderhub.channels.tables import Channel
from orderhub.errors import NotFound, ValidationFailed

__all__ = ["MAX_BP", "FeeRates", "channel_id", "get_rates", "rates_for", "save_rates"]

MAX_BP = 10_000  # 100 %
MAX_FIXED_FEN = 100_000_00  # 十万元 per order: anything above is a typing mistake
MAX_CATEGORIES = 500


class FeeRates(msgspec.Struct, frozen=True, kw_only=True):
    """One channel's fee settings (rates in basis points: 600 = 6 %; fees in fen)."""

    commission_bp: int = 0
    category_commission: dict[str, int] = {}
    payment_fee_bp: int = 0
    service_fee_bp: int = 0
    service_fee_fixed: int = 0
    insurance_fee: int = 0
    settle_delay_days: int = 15

    def commission_for(self, category: str) -> int:
        return self.category_commission.get(category, self.commission_bp)


class _Row(msgspec.Struct):
    channel: int
    commission_bp: int
    category_commission: str
    payment_fee_bp: int
    service_fee_bp: int
    service_fee_fixed: int
    insurance_fee: int
    settle_delay_days: int


def _rates(row: _Row) -> FeeRates:
    return FeeRates(
        commission_bp=row.commission_bp,
        category_commission=msgspec.json.decode(row.category_commission or "{}", type=dict[str, int]),
        payment_fee_bp=row.payment_fee_bp,
        service_fee_bp=row.service_fee_bp,
        service_fee_fixed=row.service_fee_fixed,
        insurance_fee=row.insurance_fee,
        settle_delay_days=row.settle_delay_days,
    )


async def rates_for(channels: Iterable[int]) -> dict[int, FeeRates]:
    """Each channel's rates (no settings: no fees, 15 days to settle)."""
    wanted = sorted(set(channels))
    found: dict[int, FeeRates] = {c: FeeRates() for c in wanted}
    for chunk in db.chunks(wanted):
        rows = await db.fetch_as(
            _Row,
            "SELECT channel, commission_bp, category_commission, payment_fee_bp, service_fee_bp, service_fee_fixed, "
            f"insurance_fee, settle_delay_days FROM fee_setting WHERE channel IN ({db.placeholders(len(chunk))})",
            *chunk,
        )
        found.update((row.channel, _rates(row)) for row in rows)
    return found


async def channel_id(code: str) -> int:
    """The id of the channel with this code (NotFound, field ``channel``)."""
    row = await Channel.select(Channel.id).where(Channel.code == code).first()
    if row is None:
        raise NotFound(f"渠道 {code} 不存在", field="channel")
    return int(row["id"])


async def get_rates(channel_code: str) -> FeeRates:
    cid = await channel_id(channel_code)
    return (await rates_for([cid]))[cid]


def _check(rates: FeeRates) -> None:
    for name in ("commission_bp", "payment_fee_bp", "service_fee_bp"):
        value = getattr(rates, name)
        if not 0 <= value <= MAX_BP:
            raise ValidationFailed("费率以万分之一计，取值 0–10000", field=name)
    for name in ("service_fee_fixed", "insurance_fee"):
        value = getattr(rates, name)
        if not 0 <= value <= MAX_FIXED_FEN:
            raise ValidationFailed("金额以分计，不能为负数，且每单不超过 10 万元", field=name)
    if not 0 <= rates.settle_delay_days <= 180:
        raise ValidationFailed("结算周期取值 0–180 天", field="settle_delay_days")
    if len(rates.category_commission) > MAX_CATEGORIES:
        raise ValidationFailed(f"类目费率最多 {MAX_CATEGORIES} 个", field="category_commission")
    for category, bp in rates.category_commission.items():
        if not category.strip() or len(category) > 64:
            raise ValidationFailed("类目名称不能为空，且不超过 64 个字符", field="category_commission")
        if not 0 <= bp <= MAX_BP:
            raise ValidationFailed(f"类目 {category} 的费率取值 0–10000", field=f"category_commission.{category}")


async def save_rates(channel_code: str, rates: FeeRates, *, actor: str) -> FeeRates:
    """Replace a channel's fee settings. Orders shipped before keep their computed payouts until something changes
    them (a refund); the reconciliation compares against what was expected when they shipped."""
    _check(rates)
    cid = await channel_id(channel_code)
    now = clock.now()
    async with db.transaction():
        await db.execute(
            "INSERT INTO fee_setting (channel, commission_bp, category_commission, payment_fee_bp, service_fee_bp, "
            "service_fee_fixed, insurance_fee, settle_delay_days, updated_by, updated_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (channel) DO UPDATE SET "
            "commission_bp = excluded.commission_bp, category_commission = excluded.category_commission, "
            "payment_fee_bp = excluded.payment_fee_bp, service_fee_bp = excluded.service_fee_bp, "
            "service_fee_fixed = excluded.service_fee_fixed, insurance_fee = excluded.insurance_fee, "
            "settle_delay_days = excluded.settle_delay_days, updated_by = excluded.updated_by, "
            "updated_at = excluded.updated_at",
            cid,
            rates.commission_bp,
            msgspec.json.encode({k.strip(): v for k, v in rates.category_commission.items()}).decode(),
            rates.payment_fee_bp,
            rates.service_fee_bp,
            rates.service_fee_fixed,
            rates.insurance_fee,
            rates.settle_delay_days,
            actor,
            now,
        )
    return await get_rates(channel_code)
