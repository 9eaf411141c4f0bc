"""视频号小店 (微信小店) settlement data: the funds flow, as settlement lines.

* ``POST /channels/ec/funds/getfundsflowlist`` (获取资金流水列表): ``start_time`` / ``end_time`` (unix seconds),
  ``page`` from 1, ``page_size``, and ``next_key`` ("翻页时写入上一页返回的next_key(page为上一页加一, 并且page_size与
  上一页相同的时候才生效), page * page_size >= 10000时必填") → ``flow_ids``, ``has_more``, ``next_key``. "当日资金流水
  出账时间为次日16点后": a day is ``bill_not_ready`` until 16:00 Beijing the next day.
* ``POST /channels/ec/funds/getfundsflowdetail`` (获取资金流水详情) per ``flow_id`` → ``funds_flow``: ``flow_id``,
  ``funds_type``, ``flow_type`` (1 收入, 2 支出), ``amount`` (fen), ``bookkeeping_time``, ``remark``,
  ``related_info_list`` (``related_type`` 1 订单 / 2 售后 / 3 提现 / 4 运费险 …, ``order_id``, ``aftersale_id``),
  ``funds_type_desc``.

One line per flow, ``line_key`` = ``flow_id``. Kind by ``funds_type`` (FundsType: 1 订单支付收入 → SALE, 2 订单手续费
→ PAYMENT_FEE, 3 退款 → REFUND, 6 导购分账 / 7 联盟分佣 → PROMOTION_FEE; 4 提现 / 5 提现失败退票 are not settlement
and left out) or, for other types, by ``funds_type_desc`` / ``remark`` (技术服务费 → COMMISSION, 运费险 → INSURANCE …).
The access token is the channel connector's (stable token, renewed on 40001/42001 and retried once).

Not built: the per-order settlement list (``/channels/ec/funds/listorderflow``); the funds flow carries the same
money per order.

Cursor: ``<page>|<next_key>``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar, Final

import httpx

from orderhub.channels.port import Credentials, InvalidRequest, PlatformUnavailable
from orderhub.channels.wechat_shop.connector import WechatShopConnector
from orderhub.clock import SHANGHAI
from orderhub.finance.port import LineKind, SettlementLineIn, SettlementPage
from orderhub.wire import beijing_or_none

__all__ = [
    "DETAIL_PATH",
    "LIST_PATH",
    "READY_HOUR",
    "WechatShopSettlementSource",
    "create_settlement_source",
    "flow_line",
]

LIST_PATH: Final = "/channels/ec/funds/getfundsflowlist"
DETAIL_PATH: Final = "/channels/ec/funds/getfundsflowdetail"
PAGE_SIZE: Final = 100
READY_HOUR: Final = 16  # "当日资金流水出账时间为次日16点后"
_KIND_BY_TYPE: Final = {
    1: LineKind.SALE,  # 订单支付收入
    2: LineKind.PAYMENT_FEE,  # 订单手续费
    3: LineKind.REFUND,  # 退款
    6: LineKind.PROMOTION_FEE,  # 导购分账
    7: LineKind.PROMOTION_FEE,  # 联盟分佣
}
_NOT_SETTLEMENT_TYPES: Final = frozenset({4, 5})  # 提现, 提现失败退票
_ORDER_RELATION: Final = (1, "1", "RelatedType_Order")


def _kind_by_text(text: str) -> LineKind:
    if "技术服务费" in text or "佣金" in text:
        return LineKind.COMMISSION
    if "运费险" in text or "保险" in text:
        return LineKind.INSURANCE
    if "运费补贴" in text:
        return LineKind.SHIPPING_SUBSIDY
    if "补贴" in text or "优惠" in text:
        return LineKind.PLATFORM_COUPON
    if "罚" in text or "违规" in text or "赔付" in text or "扣款" in text:
        return LineKind.PENALTY
    if "服务费" in text or "手续费" in text:
        return LineKind.SERVICE_FEE
    if "退款" in text:
        return LineKind.REFUND
    return LineKind.ADJUSTMENT


def flow_line(flow: Mapping[str, Any], day: date) -> SettlementLineIn | None:
    """One ``funds_flow`` → a line (None for withdrawals and flows without an id)."""
    flow_id = str(flow.get("flow_id") or "")
    if not flow_id:
        return None
    try:
        funds_type = int(flow.get("funds_type") or 0)
    except (TypeError, ValueError):
        funds_type = 0
    if funds_type in _NOT_SETTLEMENT_TYPES:
        return None
    text = f"{flow.get('funds_type_desc') or ''} {flow.get('remark') or ''}"
    kind = _KIND_BY_TYPE.get(funds_type) or _kind_by_text(text)
    amount = abs(int(flow.get("amount") or 0))
    signed = -amount if str(flow.get("flow_type")) == "2" else amount  # 1 收入, 2 支出
    related = [r for r in flow.get("related_info_list") or [] if isinstance(r, Mapping)]
    order_id = next((str(r.get("order_id")) for r in related if r.get("order_id")), "")
    fallback = datetime.combine(day, time(), SHANGHAI).astimezone(UTC)
    try:
        when = beijing_or_none(flow.get("bookkeeping_time")) or fallback
    except ValueError:
        when = fallback
    return SettlementLineIn(
        line_key=f"wx:{flow_id}",
        external_id=order_id,
        kind=kind,
        amount=signed,
        settled_at=when,
        bill_date=when.astimezone(SHANGHAI).date(),
        occurred_at=when,
        memo=text.strip(),
        raw=dict(flow),
    )


class _Funds(WechatShopConnector):
    """The channel connector's token handling, for the funds APIs."""

    async def funds(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call(path, body)


class WechatShopSettlementSource:
    """One 微信小店's settlement lines."""

    platform: ClassVar[str] = "wechat_shop"

    def __init__(
        self,
        credentials: Credentials,
        http: httpx.AsyncClient,
        *,
        detail_concurrency: int = 8,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.funds = _Funds(credentials, http)
        self.detail_concurrency = max(1, detail_concurrency)
        self._now = now or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"WechatShopSettlementSource({self.funds.client!r})"

    async def fetch_day(self, day: date, cursor: str | None) -> SettlementPage:
        ready_at = datetime.combine(day + timedelta(days=1), time(READY_HOUR), SHANGHAI)
        if self._now() < ready_at:
            raise PlatformUnavailable(
                f"微信小店 {day.isoformat()} 的资金流水尚未出账（次日 16 点后）",
                platform_code="bill_not_ready",
                retry_after=max(60.0, (ready_at - self._now()).total_seconds()),
            )
        page, next_key = 1, ""
        if cursor is not None:
            number, _, next_key = cursor.partition("|")
            if not number.isdigit() or int(number) < 1:
                raise InvalidRequest("无效的结算翻页标记", platform_code="bad_cursor", platform_message=cursor)
            page = int(number)
        start = datetime.combine(day, time(), SHANGHAI)
        body: dict[str, Any] = {
            "page": page,
            "page_size": PAGE_SIZE,
            "start_time": int(start.timestamp()),
            "end_time": int((start + timedelta(days=1)).timestamp()),
        }
        if next_key:
            body["next_key"] = next_key
        answer = await self.funds.funds(LIST_PATH, body)
        ids = answer.get("flow_ids") or []
        if not isinstance(ids, list):
            raise PlatformUnavailable("微信小店资金流水列表结构不对", platform_code="bad_response")
        lines = [line for line in await self._lines([str(i) for i in ids], day) if line.bill_date == day]
        next_cursor = None
        if answer.get("has_more") and ids:
            next_cursor = f"{page + 1}|{answer.get('next_key') or ''}"
        return SettlementPage(lines=lines, next_cursor=next_cursor)

    async def _lines(self, flow_ids: Iterable[str], day: date) -> list[SettlementLineIn]:
        gate = asyncio.Semaphore(self.detail_concurrency)

        async def one(flow_id: str) -> dict[str, Any]:
            async with gate:
                answer = await self.funds.funds(DETAIL_PATH, {"flow_id": flow_id})
            flow = answer.get("funds_flow")
            if not isinstance(flow, dict):
                raise PlatformUnavailable(f"微信小店资金流水 {flow_id} 的详情结构不对", platform_code="bad_response")
            return flow

        flows = await asyncio.gather(*(one(i) for i in flow_ids))
        return [line for flow in flows if (line := flow_line(flow, day)) is not None]


def create_settlement_source(
    credentials: Credentials, extra: Mapping[str, str], http: httpx.AsyncClient
) -> WechatShopSettlementSource:
    """The factory for ``wechat_shop`` (no extra settings)."""
    del extra
    return WechatShopSettlementSource(credentials, http)
