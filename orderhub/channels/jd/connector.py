"""The 京东 JOS (POP) implementation of :class:`~orderhub.channels.port.ChannelConnector`.

* ``pull`` — ``jingdong.pop.order.search`` by modification time (``dateType=0``) over every order state. JOS only
  lists orders that reached the production condition (paid), so unpaid orders never come back from JD. JOS refuses
  windows longer than a month; :meth:`JdConnector.pull` refuses those over 28 days (the shortest month).
* ``confirm_shipment`` — ``jingdong.pop.order.shipment`` (SOP 出库).
* ``update_stock`` — ``jingdong.stock.write.updateSkuStock`` (full quantity per JD ``skuId``).
* ``refresh_token`` — ``https://open-oauth.jd.com/oauth2/refresh_token`` (JOS「Token过期处置」): new access and
  refresh tokens, the access token's expiry from ``expires_in``; a refusal is :class:`SessionExpired` (the shop
  must authorise the app again).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
import msgspec

from orderhub.channels.jd import mapper
from orderhub.channels.jd.client import DEFAULT_TIMEOUT, JosClient
from orderhub.channels.port import (
    AlreadyShipped,
    BackwardPages,
    ChannelConnector,
    Credentials,
    InvalidRequest,
    PlatformError,
    PlatformOrder,
    PullPage,
    ShipmentConfirmation,
    StockUpdate,
    UnreadableOrder,
)
from orderhub.clock import SHANGHAI

__all__ = ["JdConnector", "create_connector"]

log = logging.getLogger("orderhub.channels.jd")

SEARCH_METHOD = "jingdong.pop.order.search"
GET_METHOD = "jingdong.pop.order.get"
SHIP_METHOD = "jingdong.pop.order.shipment"
STOCK_METHOD = "jingdong.stock.write.updateSkuStock"
_SHIPPED_STATES = frozenset({"WAIT_GOODS_RECEIVE_CONFIRM", "RECEIPT_CONFIRM", "FINISHED_L"})
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _check_window(start: datetime, end: datetime, limit: timedelta) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRequest("拉单时间窗口必须带时区", platform_code="naive_datetime")
    if end <= start:
        raise InvalidRequest("拉单时间窗口的结束时间必须晚于开始时间", platform_code="empty_window")
    if end - start > limit:
        raise InvalidRequest(
            f"京东拉单的时间窗口不能超过 {limit}",
            platform_code="window_too_long",
            platform_message=str(end - start),
        )


def _seconds(value: datetime, *, up: bool) -> str:
    """``value`` in Beijing time, rounded to the second (JOS's time resolution), as JOS writes it."""
    local = value.astimezone(SHANGHAI)
    whole = local.replace(microsecond=0)
    if up and whole != local:
        whole += timedelta(seconds=1)
    return whole.strftime(_TIME_FORMAT)


class JdConnector:
    """One JD POP shop. Needs ``app_key``, ``app_secret`` and ``access_token``."""

    platform: ClassVar[str] = "jd"
    # jingdong.pop.order.search: start_date and end_date at most one month apart. 28 days is within any month.
    max_window: ClassVar[timedelta] = timedelta(days=28)
    max_page_size: ClassVar[int] = 50  # JOS documents 50 as the largest page_size for pop.order.search

    def __init__(
        self,
        credentials: Credentials,
        http: httpx.AsyncClient,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        page_size: int | None = None,
    ) -> None:
        self.credentials = credentials
        self.client = JosClient(credentials, http, timeout=timeout)
        self.page_size = self.max_page_size if page_size is None else page_size
        if not 1 <= self.page_size <= self.max_page_size:
            raise ValueError(f"page_size must be within 1..{self.max_page_size}")

    def __repr__(self) -> str:
        return f"JdConnector(app_key={self.credentials.app_key!r})"

    # ------------------------------------------------------------------ pull

    async def pull(self, start: datetime, end: datetime, page: str | None) -> PullPage:
        _check_window(start, end, self.max_window)
        walk = BackwardPages.parse(page)
        # JOS compares whole seconds, both ends inclusive: ask for [floor(start), ceil(end)] and keep [start, end).
        answer = await self.client.call(
            SEARCH_METHOD,
            {
                "start_date": _seconds(start, up=False),
                "end_date": _seconds(end, up=True),
                "order_state": mapper.ALL_ORDER_STATES,
                "optional_fields": mapper.OPTIONAL_FIELDS,
                "page": str(walk.page),
                "page_size": str(self.page_size),
                "dateType": "0",  # 0: by modification time (1 would be by creation time)
                "sortType": "0",  # ascending
            },
        )
        result = answer.get("searchorderinfo_result")
        result = result if isinstance(result, Mapping) else {}
        keep, next_page = walk.after(_int(result.get("orderTotal")), self.page_size)
        if not keep:
            return PullPage(orders=[], next_page=next_page)
        raw_orders = result.get("orderInfoList")
        listed = [o for o in raw_orders if isinstance(o, Mapping)] if isinstance(raw_orders, list) else []
        orders: list[PlatformOrder] = []
        unreadable: list[UnreadableOrder] = []
        for raw in listed:
            try:
                mapped = _map(raw)
            except InvalidRequest as exc:  # one unreadable order is reported; the page and the run go on
                unreadable.append(UnreadableOrder(external_id=str(raw.get("orderId") or ""), message=exc.message))
                continue
            if start <= mapped.updated_at < end:
                orders.append(mapped)
        return PullPage(orders=orders, next_page=next_page, unreadable=unreadable)

    # ------------------------------------------------------------ write-back

    async def confirm_shipment(self, shipment: ShipmentConfirmation) -> None:
        try:
            carrier = mapper.logistics_id(shipment.carrier)
        except ValueError as exc:
            raise InvalidRequest(str(exc), platform_code="unknown_carrier", platform_message=shipment.carrier) from exc
        biz = {"orderId": shipment.external_id, "logiCoprId": carrier, "logiNo": shipment.waybill_no}
        try:
            await self.client.call(SHIP_METHOD, biz)
        except AlreadyShipped:
            raise
        except InvalidRequest as exc:
            # A refusal that does not say why may still be "shipped already" (in 京麦, by another system): look.
            if await self._already_shipped(shipment.external_id):
                raise AlreadyShipped(platform_code=exc.platform_code, platform_message=exc.platform_message) from exc
            raise

    async def _already_shipped(self, order_id: str) -> bool:
        try:
            answer = await self.client.call(GET_METHOD, {"order_id": order_id, "optional_fields": "orderId,orderState"})
        except PlatformError:
            return False
        detail = answer.get("orderDetailInfo")
        info = detail.get("orderInfo") if isinstance(detail, Mapping) else None
        return isinstance(info, Mapping) and str(info.get("orderState", "")) in _SHIPPED_STATES

    async def update_stock(self, updates: Sequence[StockUpdate]) -> None:
        """Full quantity per JD ``skuId``. A SKU the platform refuses does not stop the others; the first such
        refusal is raised at the end. Throttling, auth and outage errors stop at once (every update is idempotent)."""
        refused: list[tuple[StockUpdate, InvalidRequest]] = []
        for update in updates:
            try:
                await self.client.call(STOCK_METHOD, {"skuId": update.platform_sku_id, "stockNum": update.quantity})
            except InvalidRequest as exc:
                refused.append((update, exc))
        if refused:
            first = refused[0][1]
            skus = ", ".join(u.platform_sku_id for u, _ in refused)
            raise InvalidRequest(
                f"京东拒绝了 {len(refused)} 个 SKU 的库存更新: {skus}",
                platform_code=first.platform_code,
                platform_message=first.platform_message,
            )

    # ----------------------------------------------------------------- auth

    async def refresh_token(self) -> Credentials:
        """New tokens from JD's OAuth server; the connector calls with them from now on. JD's answer says nothing
        about the refresh token's own expiry, so ``refresh_expires_at`` stays as it was."""
        fresh = await self.client.refresh_token()
        self.credentials = msgspec.structs.replace(
            self.credentials,
            access_token=fresh.access_token,
            refresh_token=fresh.refresh_token,
            token_expires_at=fresh.expires_at,
        )
        self.client.credentials = self.credentials
        return self.credentials


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _map(order: Mapping[str, Any]) -> PlatformOrder:
    try:
        return mapper.map_order(order)
    except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
        order_id = order.get("orderId")
        log.error("cannot map JD order %s: %s", order_id, exc)
        raise InvalidRequest(
            f"京东订单 {order_id} 无法解析: {exc}", platform_code="unmappable_order", platform_message=str(exc)
        ) from exc


def create_connector(credentials: Credentials, http: httpx.AsyncClient) -> ChannelConnector:
    """The factory ``server.wiring`` registers in ``CONNECTORS`` under this platform's catalogue code."""
    return JdConnector(credentials, http)
