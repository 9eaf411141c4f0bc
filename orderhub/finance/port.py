"""The settlement port: what the hub needs from a platform's money side, in the hub's own terms.

A platform's settlement data (Alipay's account bill for Taobao/Tmall, 抖店's settled-order bill and shop account
items, 拼多多's daily balance bill, 视频号小店's funds flow, 京东's POP settlement file) is read by a
:class:`SettlementSource` — one per platform, in ``orderhub/channels/<platform>/settlement.py`` (client and mapper as
for orders) — or imported as the platform's exported file. Both end as :class:`SettlementLineIn` rows: one signed
amount in fen of one kind, on one platform order (or on none: an account-level fee), on the platform's bill day.

``server.wiring`` registers each source's factory in :data:`SETTLEMENT_SOURCES` under the platform's catalogue code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import httpx
import msgspec

from orderhub.channels.port import Credentials
from orderhub.registry import Registry

__all__ = [
    "SETTLEMENT_SOURCES",
    "LineKind",
    "SettlementLineIn",
    "SettlementPage",
    "SettlementSource",
    "SettlementSourceFactory",
]


class LineKind(StrEnum):
    """What a settlement line's money is. Amounts are signed from the seller's side: + paid to the seller,
    − taken from the seller."""

    SALE = "sale"  # the buyer's payment released to the seller (goods and shipping the buyer paid)
    PLATFORM_COUPON = "platform_coupon"  # a platform-funded coupon or discount the platform pays the seller back
    SHIPPING_SUBSIDY = "shipping_subsidy"  # 运费补贴: the platform's contribution to shipping
    COMMISSION = "commission"  # 佣金 / 技术服务费 by category (negative)
    PAYMENT_FEE = "payment_fee"  # 支付手续费 (negative)
    SERVICE_FEE = "service_fee"  # 平台服务费 and other per-order service fees (negative)
    PROMOTION_FEE = "promotion_fee"  # 团长 (colonel) / 渠道推广 / 达人 commission (negative)
    INSURANCE = "insurance"  # 运费险 the seller pays (negative)
    REFUND = "refund"  # money returned to the buyer out of this order (negative)
    PENALTY = "penalty"  # 违规扣款 / 罚款 (negative)
    ADJUSTMENT = "adjustment"  # anything else the platform moved (either sign)


class SettlementLineIn(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a platform's settlement data, mapped."""

    line_key: str  # the platform's own id for the line, unique per shop; a corrected bill re-sends the same key
    external_id: str  # the platform's order id (the parent order, Taobao's tid); "" for a line on no order
    sub_id: str = ""  # the platform's sub-order id (Taobao oid, 抖店 sub order) when the line is on one
    kind: LineKind
    amount: int  # fen, signed (+ to the seller, − from the seller)
    settled_at: datetime  # when the platform settled it (aware)
    bill_date: date  # the bill day the platform put the line on (its own calendar, Beijing time)
    occurred_at: datetime | None = None  # when what it pays for happened (the payment, the refund), when given
    refund_before_settle: bool = False  # 抖店 refund_before_settle: the refund was taken before the order settled
    memo: str = ""  # the platform's own description of the line (shown to finance, never parsed)
    raw: dict[str, Any] = {}  # the platform's row as received, for the finance view's detail


class SettlementPage(msgspec.Struct, frozen=True, kw_only=True):
    lines: list[SettlementLineIn]
    next_cursor: str | None  # opaque continuation within the day; None on the day's last page


class SettlementSource(Protocol):
    """One shop's settlement data on one platform."""

    platform: ClassVar[str]

    async def fetch_day(self, day: date, cursor: str | None) -> SettlementPage:
        """The lines of bill day ``day`` (Beijing calendar), one page; ``cursor`` is the previous page's
        ``next_cursor``. Raises the channel port's ``PlatformError`` subclasses. A day the platform has not
        produced yet (T+1 bills) raises ``PlatformUnavailable`` with ``platform_code="bill_not_ready"``."""
        ...


# (the channel's credentials, the settlement-only settings sealed with the channel — e.g. Alipay's app id and
# keys for a Taobao shop — and the hub's HTTP client)
SettlementSourceFactory = Callable[[Credentials, Mapping[str, str], httpx.AsyncClient], SettlementSource]

# Filled by the composition root (``server.wiring``): platform catalogue code → factory.
SETTLEMENT_SOURCES: Registry[SettlementSourceFactory] = Registry("settlement source")
