"""The Taobao/Tmall (TOP) implementation of :class:`~orderhub.channels.port.ChannelConnector`.

* ``pull`` — ``taobao.trades.sold.increment.get`` (by modification time, ``use_has_next``, every status, so unpaid
  trades come back too, read as UNPAID), then ``taobao.trade.fullinfo.get`` for any trade the list returned without
  what the mapper needs. TOP refuses windows over one day; so does :meth:`TaobaoConnector.pull`.
* ``confirm_shipment`` — ``taobao.logistics.offline.send`` (自己联系物流).
* ``update_stock`` — ``taobao.item.quantity.update`` with ``type=1`` (full quantity).
* ``refresh_token`` — not available to this connector: the shop must authorise the app again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from orderhub.channels.port import (
    AlreadyShipped,
    BackwardPages,
    ChannelConnector,
    Credentials,
    InvalidRequest,
    PlatformError,
    PlatformOrder,
    PullPage,
    SessionExpired,
    ShipmentConfirmation,
    StockUpdate,
    UnreadableOrder,
)
from orderhub.channels.taobao import mapper
from orderhub.channels.taobao.client import DEFAULT_TIMEOUT, SignMethod, TopClient
from orderhub.clock import SHANGHAI

__all__ = ["TaobaoConnector", "create_connector"]

log = logging.getLogger("orderhub.channels.taobao")

INCREMENT_METHOD = "taobao.trades.sold.increment.get"
FULLINFO_METHOD = "taobao.trade.fullinfo.get"
SHIP_METHOD = "taobao.logistics.offline.send"
STOCK_METHOD = "taobao.item.quantity.update"
_SHIPPED_STATES = frozenset(
    {"SELLER_CONSIGNED_PART", "WAIT_BUYER_CONFIRM_GOODS", "TRADE_BUYER_SIGNED", "TRADE_FINISHED"}
)


def _check_window(start: datetime, end: datetime, limit: timedelta) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRequest("拉单时间窗口必须带时区", platform_code="naive_datetime")
    if end <= start:
        raise InvalidRequest("拉单时间窗口的结束时间必须晚于开始时间", platform_code="empty_window")
    if end - start > limit:
        raise InvalidRequest(
            f"淘宝增量拉单的时间窗口不能超过 {limit}",
            platform_code="window_too_long",
            platform_message=str(end - start),
        )


def _seconds(value: datetime, *, up: bool) -> datetime:
    """``value`` in Beijing time, rounded to the second (TOP's time resolution)."""
    local = value.astimezone(SHANGHAI)
    whole = local.replace(microsecond=0)
    return whole + timedelta(seconds=1) if up and whole != local else whole


class TaobaoConnector:
    """One Taobao/Tmall shop. Needs ``app_key``, ``app_secret`` and ``access_token`` (the TOP session key)."""

    platform: ClassVar[str] = "taobao"
    max_window: ClassVar[timedelta] = timedelta(days=1)  # taobao.trades.sold.increment.get: ≤ 1 day
    max_page_size: ClassVar[int] = 100  # TOP's maximum for increment.get

    def __init__(
        self,
        credentials: Credentials,
        http: httpx.AsyncClient,
        *,
        sign_method: SignMethod = "md5",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        page_size: int | None = None,
    ) -> None:
        self.credentials = credentials
        self.client = TopClient(credentials, http, sign_method=sign_method, timeout=timeout)
        self.page_size = self.max_page_size if page_size is None else page_size
        if not 1 <= self.page_size <= self.max_page_size:
            raise ValueError(f"page_size must be within 1..{self.max_page_size}")
        # What the increment list asks for; a trade that comes back without what the mapper needs is fetched whole.
        self.list_fields = mapper.TRADE_FIELDS

    def __repr__(self) -> str:
        return f"TaobaoConnector(app_key={self.credentials.app_key!r})"

    # ------------------------------------------------------------------ pull

    async def pull(self, start: datetime, end: datetime, page: str | None) -> PullPage:
        _check_window(start, end, self.max_window)
        walk = BackwardPages.parse(page)
        # TOP compares whole seconds, both ends inclusive: ask for [floor(start), ceil(end)] and keep [start, end).
        since = _seconds(start, up=False)
        until = min(_seconds(end, up=True), since + self.max_window)
        body = await self.client.call(
            INCREMENT_METHOD,
            {
                "fields": self.list_fields,
                "start_modified": since,
                "end_modified": until,
                "page_no": walk.page,
                "page_size": self.page_size,
                "use_has_next": False,  # the total is needed to page from the last page (BackwardPages)
            },
        )
        total = body.get("total_results")
        keep, next_page = walk.after(total if isinstance(total, int) else None, self.page_size)
        if not keep:
            return PullPage(orders=[], next_page=next_page)
        orders: list[PlatformOrder] = []
        unreadable: list[UnreadableOrder] = []
        for trade in _trades(body):
            if mapper.needs_full_info(trade):
                trade = await self._full_trade(trade)
            try:
                mapped = _map(trade)
            except InvalidRequest as exc:  # one unreadable order is reported; the page and the run go on
                unreadable.append(UnreadableOrder(external_id=str(trade.get("tid") or ""), message=exc.message))
                continue
            if start <= mapped.updated_at < end:
                orders.append(mapped)
        return PullPage(orders=orders, next_page=next_page, unreadable=unreadable)

    async def _full_trade(self, trade: Mapping[str, Any]) -> Mapping[str, Any]:
        tid = str(trade.get("tid_str") or trade.get("tid"))
        body = await self.client.call(FULLINFO_METHOD, {"fields": mapper.FULLINFO_FIELDS, "tid": tid})
        full = body.get("trade")
        if not isinstance(full, Mapping):
            raise InvalidRequest(f"淘宝订单 {tid} 的详情为空", platform_code="empty_trade")
        return full

    # ------------------------------------------------------------ write-back

    async def confirm_shipment(self, shipment: ShipmentConfirmation) -> None:
        try:
            company = mapper.company_code(shipment.carrier)
        except ValueError as exc:
            raise InvalidRequest(str(exc), platform_code="unknown_carrier", platform_message=shipment.carrier) from exc
        params = {"tid": shipment.external_id, "out_sid": shipment.waybill_no, "company_code": company}
        try:
            body = await self.client.call(SHIP_METHOD, params)
        except InvalidRequest as exc:
            # "交易状态不允许发货" also answers a trade someone already shipped (in 千牛, by another system): look.
            if "logistics" in exc.platform_code and await self._already_shipped(shipment.external_id):
                raise AlreadyShipped(platform_code=exc.platform_code, platform_message=exc.platform_message) from exc
            raise
        shipping = body.get("shipping")
        if isinstance(shipping, Mapping) and shipping.get("is_success") in (False, "false"):
            raise InvalidRequest("淘宝未接受发货", platform_code="is_success=false", platform_message=str(shipping))

    async def _already_shipped(self, tid: str) -> bool:
        try:
            body = await self.client.call(FULLINFO_METHOD, {"fields": "tid,status", "tid": tid})
        except PlatformError:
            return False
        trade = body.get("trade")
        return isinstance(trade, Mapping) and str(trade.get("status", "")) in _SHIPPED_STATES

    async def update_stock(self, updates: Sequence[StockUpdate]) -> None:
        """Full quantity per SKU. A SKU the platform refuses does not stop the others; the first such refusal is
        raised at the end. Throttling, auth and outage errors stop at once (every update is idempotent)."""
        refused: list[tuple[StockUpdate, InvalidRequest]] = []
        for update in updates:
            params: dict[str, object] = {
                "num_iid": update.platform_item_id,
                "quantity": update.quantity,
                "type": 1,
            }
            if update.platform_sku_id:
                params["sku_id"] = update.platform_sku_id
            try:
                await self.client.call(STOCK_METHOD, params)
            except InvalidRequest as exc:
                refused.append((update, exc))
        if refused:
            first = refused[0][1]
            skus = ", ".join(f"{u.platform_item_id}/{u.platform_sku_id}" for u, _ in refused)
            raise InvalidRequest(
                f"淘宝拒绝了 {len(refused)} 个 SKU 的库存更新: {skus}",
                platform_code=first.platform_code,
                platform_message=first.platform_message,
            )

    # ----------------------------------------------------------------- auth

    async def refresh_token(self) -> Credentials:
        raise SessionExpired(
            "淘宝/天猫店铺授权（session）无法由系统自动刷新：请店铺主账号在后台重新授权本应用",
            platform_code="refresh_unsupported",
        )


def _trades(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    trades = body.get("trades")  # left out by TOP when nothing matched
    if isinstance(trades, Mapping):
        trades = trades.get("trade")
    if not isinstance(trades, list):
        return []
    return [t for t in trades if isinstance(t, Mapping)]


def _map(trade: Mapping[str, Any]) -> PlatformOrder:
    try:
        return mapper.map_trade(trade)
    except (ValueError, TypeError, KeyError) as exc:
        tid = trade.get("tid_str") or trade.get("tid")
        log.error("cannot map Taobao trade %s: %s", tid, exc)
        raise InvalidRequest(
            f"淘宝订单 {tid} 无法解析: {exc}", platform_code="unmappable_order", platform_message=str(exc)
        ) from exc


def create_connector(credentials: Credentials, http: httpx.AsyncClient) -> ChannelConnector:
    """The factory ``server.wiring`` registers in ``CONNECTORS`` under its catalogue code: both "taobao" and
    "tmall" (Tmall shops use the same TOP API)."""
    return TaobaoConnector(credentials, http)
