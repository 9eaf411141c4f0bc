"""抖店 settlement data: the settled-order bill and the shop account items, as settlement lines.

Both APIs go through :class:`~orderhub.channels.douyin.client.DouyinClient` (same gateway and signature as orders).

* ``order.getSettleBillDetailV3`` (商家结算账单): settled sub-orders of a time window (``time_type`` 0 = by
  结算时间), ``size`` 1–100, paged by ``start_index`` / ``start_time``: "未结束时，需要把next_start_index作为下一次
  请求的start_index, next_start_time作为下一次请求的start_time" until ``is_end`` = 1. The business ``code`` in
  ``data`` is ``100000`` on success. Amounts are in fen. Each row becomes several lines, keyed
  ``<request_no>:<order_id>:<part>`` (结算单号 + sub-order + the part; the platform has no per-amount id):
  SALE (``real_pay_amount``, 用户实付, plus ``post_amount`` is inside it), PLATFORM_COUPON (``platform_coupon``,
  ``author_coupon``, ``zt_pay_promotion``, ``zr_pay_promotion`` — each its own line), REFUND (``refund_before_settle``,
  flagged ``refund_before_settle``), COMMISSION (``commission``, 佣金), SERVICE_FEE (``platform_service_fee``,
  平台服务费), PROMOTION_FEE (``colonel_service_fee`` 团长服务费, ``channel_promotion_fee`` 直播间站外推广,
  ``good_learn_channel_fee`` 渠道分成, ``other_sharing_amount`` 其他分成). When those parts do not add up to
  ``settle_amount`` (商家实收), an ADJUSTMENT line ``…:rest`` carries the difference, so a settled row's lines always
  sum to what the platform paid. A row with ``trade_type`` 1 / 3 (结算后退款) or 2 (保证金退款-支出退回) is one REFUND
  line of ``-|settle_amount|``.
* ``order.getShopAccountItem`` (资金流水明细): account movements (``account_amount`` in fen, ``fund_flow`` 0 入账 /
  1 出账), keyed by ``account_trade_no`` (动账流水号, documented unique). Movements the settled-order bill already
  carries (``account_bill_desc_tag`` 3 订单结算 / 4 部分结算 / 5 运费单结算, ``trans_scene_tag`` 30 货款结算入账 /
  22 结算后退款-退用户) and withdrawals (11 / 12, scenes 44 / 45) are left out; the rest become PENALTY (判罚扣款 3,
  消费者赔付 1, 物流赔付 4), INSURANCE (运费险扣减货款 20, 权益保险 6), SERVICE_FEE (BIC 服务费 21/22) or
  ADJUSTMENT lines.

Both are T+1 ("数据T+1生成，建议第二天15点之后查询"): before 15:00 Beijing the next day, a day is ``bill_not_ready``.

Cursor: ``s|<start_index>|<start_time>`` inside the settled-order bill, ``a|<start_index>|<start_time>`` inside the
account items (the first account page is ``a||``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar, Final

import httpx

from orderhub.channels.douyin.client import DouyinClient
from orderhub.channels.port import Credentials, InvalidRequest, PlatformUnavailable
from orderhub.clock import SHANGHAI
from orderhub.finance.port import LineKind, SettlementLineIn, SettlementPage
from orderhub.wire import beijing_or_none, beijing_text

__all__ = [
    "ACCOUNT_METHOD",
    "READY_HOUR",
    "SETTLE_METHOD",
    "DouyinSettlementSource",
    "account_lines",
    "create_settlement_source",
    "settle_lines",
]

SETTLE_METHOD: Final = "order.getSettleBillDetailV3"
ACCOUNT_METHOD: Final = "order.getShopAccountItem"
PAGE_SIZE: Final = 100  # getSettleBillDetailV3: 1~100
ACCOUNT_PAGE_SIZE: Final = 1000  # getShopAccountItem: default 100, max 1000
READY_HOUR: Final = 15  # "建议第二天15点之后查询"
BUSINESS_OK: Final = "100000"  # "返回code 100000为成功，其他为失败"
_REFUND_TRADE_TYPES: Final = frozenset({1, 2, 3})
# getShopAccountItem movements already in the settled-order bill, or not settlement at all (withdrawals).
_SKIP_DESC_TAGS: Final = frozenset({3, 4, 5, 11, 12})
_SKIP_SCENE_TAGS: Final = frozenset({22, 30, 44, 45})
_PENALTY_SCENES: Final = frozenset({1, 3, 4})  # 消费者赔付, 判罚扣款, 物流赔付
_INSURANCE_SCENES: Final = frozenset({6})  # 权益保险
_INSURANCE_DESC_TAGS: Final = frozenset({20})  # 运费险扣减货款
_SERVICE_DESC_TAGS: Final = frozenset({21, 22})  # 支付BIC服务费 / 退票


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _when(value: Any, fallback: datetime) -> datetime:
    try:
        return beijing_or_none(value if isinstance(value, str) else None) or fallback
    except ValueError:
        return fallback


def settle_lines(rows: Iterable[Mapping[str, Any]], day: date) -> list[SettlementLineIn]:
    """``getSettleBillDetailV3`` rows → lines (see the module docstring)."""
    fallback = datetime.combine(day, time(), SHANGHAI).astimezone(UTC)
    lines: list[SettlementLineIn] = []
    for row in rows:
        sub_id = str(row.get("order_id") or "")
        request_no = str(row.get("request_no") or "")
        if not sub_id and not request_no:
            continue
        base = f"{request_no}:{sub_id}"
        settled_at = _when(row.get("settle_time"), fallback)
        common: dict[str, Any] = {
            "external_id": str(row.get("shop_order_id") or ""),
            "sub_id": sub_id,
            "settled_at": settled_at,
            "bill_date": settled_at.astimezone(SHANGHAI).date(),
            "occurred_at": _when(row.get("order_time"), settled_at),
            "raw": dict(row),
        }
        settle_amount = _int(row.get("settle_amount"))
        trade_type = _int(row.get("trade_type"))
        remark = str(row.get("remark") or "")
        if trade_type in _REFUND_TRADE_TYPES:
            lines.append(
                SettlementLineIn(
                    line_key=f"{base}:refund_after",
                    kind=LineKind.REFUND,
                    amount=-abs(settle_amount),
                    memo=f"结算后退款 {remark}".strip() if trade_type != 2 else f"保证金退款-支出退回 {remark}".strip(),
                    **common,
                )
            )
            continue
        parts: list[tuple[str, LineKind, int, str, bool]] = [
            ("sale", LineKind.SALE, _int(row.get("real_pay_amount")), "用户实付", False),
            ("platform_coupon", LineKind.PLATFORM_COUPON, _int(row.get("platform_coupon")), "平台补贴", False),
            ("author_coupon", LineKind.PLATFORM_COUPON, _int(row.get("author_coupon")), "达人补贴", False),
            ("zt_pay", LineKind.PLATFORM_COUPON, _int(row.get("zt_pay_promotion")), "抖音支付补贴", False),
            ("zr_pay", LineKind.PLATFORM_COUPON, _int(row.get("zr_pay_promotion")), "DOU分期营销补贴", False),
            ("refund_before", LineKind.REFUND, -abs(_int(row.get("refund_before_settle"))), "结算前退款", True),
            ("commission", LineKind.COMMISSION, -abs(_int(row.get("commission"))), "佣金", False),
            (
                "platform_service_fee",
                LineKind.SERVICE_FEE,
                -abs(_int(row.get("platform_service_fee"))),
                "平台服务费",
                False,
            ),
            ("colonel", LineKind.PROMOTION_FEE, -abs(_int(row.get("colonel_service_fee"))), "团长服务费", False),
            (
                "channel_promotion",
                LineKind.PROMOTION_FEE,
                -abs(_int(row.get("channel_promotion_fee"))),
                "直播间站外推广",
                False,
            ),
            ("channel_share", LineKind.PROMOTION_FEE, -abs(_int(row.get("good_learn_channel_fee"))), "渠道分成", False),
            ("other_share", LineKind.PROMOTION_FEE, -abs(_int(row.get("other_sharing_amount"))), "其他分成", False),
        ]
        total = 0
        for part, kind, amount, memo, before in parts:
            if amount == 0:
                continue
            total += amount
            lines.append(
                SettlementLineIn(
                    line_key=f"{base}:{part}",
                    kind=kind,
                    amount=amount,
                    memo=memo,
                    refund_before_settle=before,
                    **common,
                )
            )
        if total != settle_amount:
            lines.append(
                SettlementLineIn(
                    line_key=f"{base}:rest",
                    kind=LineKind.ADJUSTMENT,
                    amount=settle_amount - total,
                    memo=f"商家实收与明细之差 {remark}".strip(),
                    **common,
                )
            )
    return lines


def _account_kind(row: Mapping[str, Any]) -> LineKind:
    scene = _int(row.get("trans_scene_tag"))
    desc = _int(row.get("account_bill_desc_tag"))
    if scene in _PENALTY_SCENES:
        return LineKind.PENALTY
    if scene in _INSURANCE_SCENES or desc in _INSURANCE_DESC_TAGS:
        return LineKind.INSURANCE
    if desc in _SERVICE_DESC_TAGS:
        return LineKind.SERVICE_FEE
    return LineKind.ADJUSTMENT


def account_lines(rows: Iterable[Mapping[str, Any]], day: date) -> list[SettlementLineIn]:
    """``getShopAccountItem`` rows → lines for what the settled-order bill does not carry."""
    fallback = datetime.combine(day, time(), SHANGHAI).astimezone(UTC)
    lines: list[SettlementLineIn] = []
    for row in rows:
        key = str(row.get("account_trade_no") or "")
        if not key:
            continue
        if _int(row.get("account_bill_desc_tag")) in _SKIP_DESC_TAGS or _int(row.get("trans_scene_tag")) in (
            _SKIP_SCENE_TAGS
        ):
            continue
        amount = abs(_int(row.get("account_amount")))
        signed = -amount if _int(row.get("fund_flow")) == 1 else amount  # 0 入账, 1 出账
        when = _when(row.get("bill_time"), fallback)
        lines.append(
            SettlementLineIn(
                line_key=f"acct:{key}",
                external_id=str(row.get("shop_order_id") or ""),
                sub_id=str(row.get("order_id") or "") if row.get("order_id") != row.get("shop_order_id") else "",
                kind=_account_kind(row),
                amount=signed,
                settled_at=when,
                bill_date=when.astimezone(SHANGHAI).date(),
                occurred_at=_when(row.get("business_order_create_time"), when) if row.get("shop_order_id") else when,
                memo=" ".join(
                    str(p) for p in (row.get("account_bill_desc"), row.get("trans_scene"), row.get("remark")) if p
                ),
                raw=dict(row),
            )
        )
    return lines


def _cursor(phase: str, index: str, start: str) -> str:
    return f"{phase}|{index}|{start}"


class DouyinSettlementSource:
    """One 抖店 shop's settlement lines."""

    platform: ClassVar[str] = "douyin"

    def __init__(
        self,
        credentials: Credentials,
        http: httpx.AsyncClient,
        *,
        include_account_items: bool = True,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.client = DouyinClient(credentials, http)
        self.include_account_items = include_account_items
        self._now = now or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"DouyinSettlementSource({self.client!r})"

    async def fetch_day(self, day: date, cursor: str | None) -> SettlementPage:
        ready_at = datetime.combine(day + timedelta(days=1), time(READY_HOUR), SHANGHAI)
        if self._now() < ready_at:
            raise PlatformUnavailable(
                f"抖店 {day.isoformat()} 的结算账单尚未生成（T+1，次日 15 点后）",
                platform_code="bill_not_ready",
                retry_after=max(60.0, (ready_at - self._now()).total_seconds()),
            )
        start = datetime.combine(day, time(), SHANGHAI)
        end = start + timedelta(days=1)
        phase, index, start_text = "s", "", beijing_text(start)
        if cursor is not None:
            parts = cursor.split("|", 2)
            if len(parts) != 3 or parts[0] not in ("s", "a"):
                raise InvalidRequest("无效的结算翻页标记", platform_code="bad_cursor", platform_message=cursor)
            phase, index, start_text = parts[0], parts[1], parts[2] or beijing_text(start)
        method = SETTLE_METHOD if phase == "s" else ACCOUNT_METHOD
        params: dict[str, Any] = {
            "start_time": start_text,
            "end_time": beijing_text(end),
            "time_type": "0" if phase == "s" else 0,  # 0: 结算时间 / 动账时间
            "size": PAGE_SIZE if phase == "s" else ACCOUNT_PAGE_SIZE,
        }
        if index:
            params["start_index"] = index
        data = await self.client.call(method, params)
        code = str(data.get("code") or BUSINESS_OK)
        if code != BUSINESS_OK:
            raise PlatformUnavailable(
                "抖店结算接口返回失败", platform_code=f"biz {code}", platform_message=str(data.get("code_msg") or "")
            )
        rows = [row for row in data.get("data") or [] if isinstance(row, dict)]
        lines = settle_lines(rows, day) if phase == "s" else account_lines(rows, day)
        lines = [line for line in lines if line.bill_date == day] if phase == "a" else lines
        done = str(data.get("is_end", 1)) == "1" or not rows
        if not done:
            next_cursor: str | None = _cursor(
                phase, str(data.get("next_start_index") or ""), str(data.get("next_start_time") or start_text)
            )
        elif phase == "s" and self.include_account_items:
            next_cursor = _cursor("a", "", "")
        else:
            next_cursor = None
        return SettlementPage(lines=lines, next_cursor=next_cursor)


def create_settlement_source(
    credentials: Credentials, extra: Mapping[str, str], http: httpx.AsyncClient
) -> DouyinSettlementSource:
    """The factory for ``douyin``. ``extra``: ``account_items`` ``0`` skips ``getShopAccountItem``."""
    return DouyinSettlementSource(
        credentials, http, include_account_items=extra.get("account_items", "1").strip() not in ("0", "false", "no")
    )
