"""微信小店 / 视频号小店 connector: the :class:`~orderhub.channels.port.ChannelConnector` port over :mod:`.client`
and :mod:`.mapper`.

* Access token: the one in the credentials while it has more than :data:`TOKEN_MARGIN` left (``token_expires_at``
  unknown: used until refused), else a stable token from ``/cgi-bin/stable_token``; cached on the connector
  (``self.credentials``) until it nears expiry. A call refused with 40001/42001 (and the other token errcodes)
  fetches a new token once and is retried once; a second refusal raises :class:`SessionExpired`.
* pull: ``/channels/ec/order/list/get`` by ``update_time_range`` (unix seconds, both ends inclusive, at most 7 days
  apart as the API documents), paged by the opaque ``next_key``; the list carries only order ids, so every order
  is fetched with ``/channels/ec/order/get``. The connector asks for ``[floor(start), ceil(end)]`` and keeps the
  orders whose ``update_time`` is in ``[start, end)``. Unpaid orders (status 10) are returned as UNPAID.
* confirm_shipment: ``/channels/ec/order/delivery/send`` with one parcel holding every line (``deliver_type`` 1,
  the seller's own courier). The order is read first: the API answers the same errcode 100003 for "already
  shipped" and "cancelled", so the order's status decides between :class:`AlreadyShipped` and
  :class:`InvalidRequest`.
* update_stock: WeChat's 快速更新库存 (``/channels/ec/product/stock/update``, https://developers.weixin.qq.com/doc/
  store/shop/API/product/stock_update.html) says of ``diff_type`` "1: 增加；2：减少；3：设置。建议使用1或2，
  不建议使用3，因为使用3在高并发场景可能会出现预期外表现" — a set racing a buyer's order overwrites the units the
  order took. So the
  port's absolute quantity becomes a delta against what the platform shows now: the SKU's ``normal_stock_num``
  (通用库存, the stock this API changes) read with 获取库存 ``/channels/ec/product/stock/get`` (…/API/product/
  get_stock.html), then ``diff_type`` 1 (add) or 2 (reduce) by the difference, nothing when it is 0 (the API refuses
  a zero change: 10020218 增加减少数量为0). An order landing between the read and the write keeps its units (the hub
  learns of it and pushes again); a reduce refused with 10020219 库存不足以减扣 (orders took the stock meanwhile) is
  read and computed again, a few times.
* refresh_token: a stable token (forced when the platform hands back the token it just refused).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import msgspec

from orderhub.channels.port import (
    AlreadyShipped,
    ChannelConnector,
    Credentials,
    InvalidRequest,
    PlatformOrder,
    PlatformOrderState,
    PlatformUnavailable,
    PullPage,
    SessionExpired,
    ShipmentConfirmation,
    StockUpdate,
    UnreadableOrder,
)
from orderhub.channels.wechat_shop import mapper
from orderhub.channels.wechat_shop.client import WechatShopClient

__all__ = ["TOKEN_MARGIN", "WechatShopConnector", "create_connector"]

LIST_PATH = "/channels/ec/order/list/get"
DETAIL_PATH = "/channels/ec/order/get"
SHIP_PATH = "/channels/ec/order/delivery/send"
STOCK_PATH = "/channels/ec/product/stock/update"
STOCK_GET_PATH = "/channels/ec/product/stock/get"
MAX_PAGE_SIZE = 100
TOKEN_MARGIN = timedelta(minutes=5)
ERR_ORDER_STATUS = "100003"  # order status not allow deliver (already shipped, or cancelled)
ERR_STOCK_SHORT = "10020219"  # 快速更新库存: 库存不足以减扣
_DELIVER_BY_OWN_COURIER = 1
_ADD_STOCK, _REDUCE_STOCK = 1, 2  # 快速更新库存 diff_type (3 "设置" is advised against under concurrency)
_STOCK_TRIES = 3


class WechatShopConnector:
    """One 微信小店. ``page_size`` (1–100) is the list page size; ``detail_concurrency`` bounds the parallel
    ``order/get`` calls of one page."""

    platform: ClassVar[str] = "wechat_shop"
    max_window: ClassVar[timedelta] = timedelta(days=7)

    def __init__(
        self,
        credentials: Credentials,
        http: httpx.AsyncClient,
        *,
        page_size: int = MAX_PAGE_SIZE,
        detail_concurrency: int = 4,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1-{MAX_PAGE_SIZE}")
        self.credentials = credentials
        self.client = WechatShopClient(credentials, http)
        self.page_size = page_size
        self.detail_concurrency = max(1, detail_concurrency)
        self._renewing = asyncio.Lock()

    # ------------------------------------------------------------------ token

    def _usable_token(self) -> str:
        token = self.credentials.access_token
        expires_at = self.credentials.token_expires_at
        if not token:
            return ""
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)  # stored naive: the hub stores UTC
        if expires_at is not None and expires_at - datetime.now(UTC) <= TOKEN_MARGIN:
            return ""
        return token

    async def _token(self) -> str:
        token = self._usable_token()
        if token:
            return token
        async with self._renewing:
            token = self._usable_token()
            if token:
                return token
            return await self._fetch(force_refresh=False)

    async def _fetch(self, *, force_refresh: bool) -> str:
        fresh = await self.client.fetch_token(force_refresh=force_refresh)
        self.credentials = msgspec.structs.replace(
            self.credentials, access_token=fresh.value, token_expires_at=fresh.expires_at
        )
        self.client.credentials = self.credentials
        return fresh.value

    async def _renew(self, rejected: str) -> str:
        """A token other than ``rejected`` (another task may have renewed it already)."""
        async with self._renewing:
            current = self.credentials.access_token
            if current and current != rejected:
                return current
            token = await self._fetch(force_refresh=False)
            if token == rejected:  # the platform still considers it current: force a new one
                token = await self._fetch(force_refresh=True)
            return token

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        token = await self._token()
        try:
            return await self.client.call(path, body, access_token=token)
        except SessionExpired:
            fresh = await self._renew(token)
        return await self.client.call(path, body, access_token=fresh)

    async def refresh_token(self) -> Credentials:
        async with self._renewing:
            await self._fetch(force_refresh=False)
        return self.credentials

    # ------------------------------------------------------------------ pull

    async def pull(self, start: datetime, end: datetime, page: str | None) -> PullPage:
        start_s, end_s = _window_seconds(start, end, self.max_window)
        if end <= start:
            return PullPage(orders=[], next_page=None)
        body: dict[str, Any] = {
            "update_time_range": {"start_time": start_s, "end_time": end_s},
            "page_size": self.page_size,
        }
        if page:
            body["next_key"] = page
        answer = await self._call(LIST_PATH, body)
        ids = answer.get("order_id_list") or []
        if not isinstance(ids, list):
            raise PlatformUnavailable("微信小店订单列表结构不对", platform_code="bad_response")
        details = await self._details([str(order_id) for order_id in ids])
        orders: list[PlatformOrder] = []
        unreadable: list[UnreadableOrder] = []
        for payload in details:
            try:
                mapped = _map(payload)
            except InvalidRequest as exc:  # one unreadable order is reported; the page and the run go on
                unreadable.append(UnreadableOrder(external_id=str(payload.get("order_id") or ""), message=exc.message))
                continue
            if start <= mapped.updated_at < end:
                orders.append(mapped)
        next_page: str | None = None
        if answer.get("has_more"):
            next_key = answer.get("next_key")
            if not isinstance(next_key, str) or not next_key:
                raise PlatformUnavailable("微信小店订单列表还有下一页却没有给出 next_key", platform_code="bad_response")
            next_page = next_key
        return PullPage(orders=orders, next_page=next_page, unreadable=unreadable)

    async def _detail(self, order_id: str) -> dict[str, Any]:
        answer = await self._call(DETAIL_PATH, {"order_id": order_id})
        order = answer.get("order")
        if not isinstance(order, dict):
            raise PlatformUnavailable(f"微信小店订单 {order_id} 的详情结构不对", platform_code="bad_response")
        return order

    async def _details(self, order_ids: list[str]) -> list[dict[str, Any]]:
        """Every order's detail, in list order, at most ``detail_concurrency`` at a time; after an error no new
        call starts, and the first error is raised once the calls in flight have finished."""
        gate = asyncio.Semaphore(self.detail_concurrency)
        failed = False

        async def one(order_id: str) -> dict[str, Any]:
            nonlocal failed
            async with gate:
                if failed:
                    raise _Skipped
                try:
                    return await self._detail(order_id)
                except Exception:
                    failed = True
                    raise

        results = await asyncio.gather(*(one(i) for i in order_ids), return_exceptions=True)
        details: list[dict[str, Any]] = []
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, _Skipped):
                raise result
            if isinstance(result, dict):
                details.append(result)
        return details

    # -------------------------------------------------------------- write-back

    async def confirm_shipment(self, shipment: ShipmentConfirmation) -> None:
        company = mapper.delivery_id(shipment.carrier)
        if company is None:
            raise InvalidRequest(
                f"快递公司 {shipment.carrier} 没有对应的微信小店 delivery_id", platform_code="unknown_carrier"
            )
        order = await self._detail(shipment.external_id)
        _check_shippable(shipment.external_id, order)
        body = {
            "order_id": shipment.external_id,
            "delivery_list": [
                {
                    "delivery_id": company,
                    "waybill_id": shipment.waybill_no,
                    "deliver_type": _DELIVER_BY_OWN_COURIER,
                    "product_infos": mapper.product_infos(order),
                }
            ],
        }
        try:
            await self._call(SHIP_PATH, body)
        except InvalidRequest as refused:
            if refused.platform_code != ERR_ORDER_STATUS:
                raise
            _check_shippable(shipment.external_id, await self._detail(shipment.external_id))
            raise

    async def update_stock(self, updates: Sequence[StockUpdate]) -> None:
        """Make each SKU show ``quantity``: read its stock, add or reduce the difference (see the module doc)."""
        for update in updates:
            if update.quantity < 0:
                raise InvalidRequest("库存数量不能为负数", platform_code="negative_quantity")
        for update in updates:
            await self._set_stock(update)

    async def _set_stock(self, update: StockUpdate) -> None:
        sku = {"product_id": update.platform_item_id, "sku_id": update.platform_sku_id}
        for attempt in range(1, _STOCK_TRIES + 1):
            answer = await self._call(STOCK_GET_PATH, sku)
            data = answer.get("data")
            shown = data.get("normal_stock_num") if isinstance(data, dict) else None
            if not isinstance(shown, int) or isinstance(shown, bool):
                raise PlatformUnavailable("微信小店库存查询结果结构不对", platform_code="bad_response")
            change = update.quantity - shown
            if change == 0:
                return
            body = {**sku, "diff_type": _ADD_STOCK if change > 0 else _REDUCE_STOCK, "num": abs(change)}
            try:
                await self._call(STOCK_PATH, body)
                return
            except InvalidRequest as refused:
                if refused.platform_code != ERR_STOCK_SHORT or attempt == _STOCK_TRIES:
                    raise


class _Skipped(Exception):
    """A detail call not made because another one of the same page failed."""


def _check_shippable(order_id: str, order: dict[str, Any]) -> None:
    state = mapper.order_state(order)
    status = str(order.get("status", ""))
    if state in (PlatformOrderState.SHIPPED, PlatformOrderState.COMPLETED):
        raise AlreadyShipped(f"微信小店订单 {order_id} 已发货", platform_code=ERR_ORDER_STATUS, platform_message=status)
    if state in (PlatformOrderState.CANCELLED, PlatformOrderState.UNPAID):
        raise InvalidRequest(
            f"微信小店订单 {order_id} 当前状态（{status}）不能发货",
            platform_code=ERR_ORDER_STATUS,
            platform_message=status,
        )


def _map(payload: dict[str, Any]) -> PlatformOrder:
    try:
        return mapper.to_order(payload)
    except mapper.PayloadError as exc:
        raise InvalidRequest(f"无法读取微信小店订单：{exc}", platform_code="unmappable_order") from None


def _window_seconds(start: datetime, end: datetime, limit: timedelta) -> tuple[int, int]:
    """The API's inclusive ``[start_time, end_time]`` covering ``[start, end)``."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRequest("拉单时间窗必须带时区", platform_code="naive_window")
    if end < start:
        raise InvalidRequest("拉单时间窗的结束早于开始", platform_code="bad_window")
    if end - start > limit:
        raise InvalidRequest(f"微信小店拉单的时间窗不能超过 {limit.days} 天，请拆分", platform_code="window")
    start_s = math.floor(start.astimezone(UTC).timestamp())
    end_s = min(math.ceil(end.astimezone(UTC).timestamp()), start_s + int(limit.total_seconds()))
    return start_s, end_s


def create_connector(credentials: Credentials, http: httpx.AsyncClient) -> ChannelConnector:
    """The factory ``server.wiring`` registers in ``CONNECTORS`` under this platform's catalogue code."""
    return WechatShopConnector(credentials, http)
