"""The 抖店 (Douyin shop) channel connector: :class:`~orderhub.channels.port.ChannelConnector` over
:mod:`~orderhub.channels.douyin.client` and :mod:`~orderhub.channels.douyin.mapper`.

* ``pull`` — ``order.searchList`` by update time, ascending. Paging is keyset-style (the page token carries the
  last update second reached and the orders already returned at that second), so an order modified while the
  window is being paged is returned again later instead of shifting the page offsets and making another order be
  skipped; when more than a page of orders share one second, the token pages through that second by number.
  Orders the list answers without lines or address are completed with ``order.orderDetail``.
* ``confirm_shipment`` — ``order.logisticsAdd``; ``update_stock`` — ``sku.syncStock`` (full update, per SKU);
  ``refresh_token`` — ``token.refresh``.

Window: the ``order.searchList`` reference documents no fixed maximum span for ``update_time_start`` /
``update_time_end`` (only ``size`` ≤ 100, ``page`` from 0, and that the list covers orders created in the last 90
days); :attr:`DouyinConnector.max_window` is a conservative one day so one pull run stays a bounded number of
pages and a failure retries little.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final

import httpx
import msgspec

from orderhub import clock
from orderhub.channels.douyin.client import DouyinClient
from orderhub.channels.douyin.mapper import carrier_code, map_order, needs_detail, to_datetime
from orderhub.channels.port import (
    ChannelConnector,
    Credentials,
    InvalidRequest,
    PlatformOrder,
    PlatformUnavailable,
    PullPage,
    ShipmentConfirmation,
    StockUpdate,
    UnreadableOrder,
)
from orderhub.errors import ValidationFailed

__all__ = ["MAX_PAGE_SIZE", "DouyinConnector", "create_connector"]

MAX_PAGE_SIZE: Final = 100  # order.searchList: size 1–100


class _Cursor(msgspec.Struct, frozen=True, array_like=True):
    second: int  # update_time_start of the next query (unix seconds)
    page: int  # page number within that query (> 0 only while one second fills whole pages)
    seen: tuple[str, ...] = ()  # orders already returned whose update_time is ``second``


def _encode(cursor: _Cursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def _decode(token: str) -> _Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return msgspec.json.decode(raw, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidRequest("抖店拉单的翻页标记无效", platform_code="bad_page_token") from exc


def _platform_id(value: str) -> int | str:
    """抖店 ids are int64 in the API; send numbers when they are numeric."""
    text = value.strip()
    return int(text) if text.isdigit() else text


def _second(entry: Mapping[str, Any]) -> int | None:
    moment = to_datetime(entry.get("update_time"))
    return int(moment.timestamp()) if moment is not None else None


class DouyinConnector:
    """One 抖店 shop. ``page_size`` (≤ 100) is for tests; production uses the maximum."""

    platform: ClassVar[str] = "douyin"
    max_window: ClassVar[timedelta] = timedelta(days=1)

    def __init__(self, credentials: Credentials, http: httpx.AsyncClient, *, page_size: int = MAX_PAGE_SIZE) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be within 1..{MAX_PAGE_SIZE}")
        self.client = DouyinClient(credentials, http)
        self.page_size = page_size

    @property
    def credentials(self) -> Credentials:
        return self.client.credentials

    # ------------------------------------------------------------------ pull

    async def pull(self, start: datetime, end: datetime, page: str | None) -> PullPage:
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidRequest("拉单时间窗口必须带时区", platform_code="naive_window")
        if end - start > self.max_window:
            raise InvalidRequest(f"抖店拉单窗口不能超过 {self.max_window}", platform_code="window_too_long")
        # update_time is whole seconds and both bounds are inclusive on the wire: [ceil(start), ceil(end) - 1].
        first = math.ceil(start.timestamp())
        last = math.ceil(end.timestamp()) - 1
        if last < first:
            return PullPage(orders=[], next_page=None)
        cursor = _decode(page) if page else _Cursor(second=first, page=0)
        params = {
            "update_time_start": max(cursor.second, first),
            "update_time_end": last,
            "order_by": "update_time",
            "order_asc": True,
            "page": cursor.page,
            "size": self.page_size,
        }
        data = await self.client.call("order.searchList", params)
        entries = data.get("shop_order_list")
        if entries is None:
            entries = []
        if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
            raise PlatformUnavailable(platform_code="bad_response", platform_message="shop_order_list 不是对象列表")
        seen = set(cursor.seen)
        orders: list[PlatformOrder] = []
        unreadable: list[UnreadableOrder] = []
        for entry in entries:
            order_id = str(entry.get("order_id") or "")
            if _second(entry) == cursor.second and order_id in seen:
                continue
            payload = await self._detail(order_id) if needs_detail(entry) else entry
            try:
                mapped = map_order(payload)
            except ValidationFailed as exc:  # one unreadable order is reported; the page and the run go on
                unreadable.append(UnreadableOrder(external_id=order_id, message=f"抖店订单无法解析：{exc.message}"))
                continue
            if start <= mapped.updated_at < end:
                orders.append(mapped)
        return PullPage(orders=orders, next_page=self._next(cursor, entries, data.get("total")), unreadable=unreadable)

    def _next(self, cursor: _Cursor, entries: Sequence[Mapping[str, Any]], total: Any) -> str | None:
        if len(entries) < self.page_size:
            return None
        if isinstance(total, int) and not isinstance(total, bool) and (cursor.page + 1) * self.page_size >= total:
            return None
        seconds = [s for s in (_second(e) for e in entries) if s is not None]
        top = max(seconds, default=cursor.second)
        if top > cursor.second:
            ids = tuple(str(e.get("order_id") or "") for e in entries if _second(e) == top)
            return _encode(_Cursor(second=top, page=0, seen=ids))
        # A whole page within one second: page through that second by number.
        return _encode(_Cursor(second=cursor.second, page=cursor.page + 1, seen=cursor.seen))

    async def _detail(self, order_id: str) -> Mapping[str, Any]:
        if not order_id:
            raise PlatformUnavailable(platform_code="bad_response", platform_message="订单列表项缺少 order_id")
        data = await self.client.call("order.orderDetail", {"shop_order_id": order_id})
        detail = data.get("shop_order_detail")
        if not isinstance(detail, Mapping):
            raise PlatformUnavailable(platform_code="bad_response", platform_message="订单详情缺少 shop_order_detail")
        return detail

    # ------------------------------------------------------------- write-back

    async def confirm_shipment(self, shipment: ShipmentConfirmation) -> None:
        await self.client.call(
            "order.logisticsAdd",
            {
                "order_id": shipment.external_id,
                "company_code": carrier_code(shipment.carrier),
                "logistics_code": shipment.waybill_no.strip(),
            },
        )

    async def update_stock(self, updates: Sequence[StockUpdate]) -> None:
        """One ``sku.syncStock`` per SKU (full update: ``incremental=false``); stops at the first refusal (a full
        update is idempotent, so the caller may simply retry the batch). A negative quantity is sent as 0."""
        for update in updates:
            if not update.platform_sku_id.strip():
                raise InvalidRequest(
                    f"抖店库存同步需要 sku_id（商品 {update.platform_item_id}）", platform_code="missing_sku_id"
                )
            params: dict[str, Any] = {
                "sku_id": _platform_id(update.platform_sku_id),
                "stock_num": max(0, update.quantity),
                "incremental": False,
            }
            if update.platform_item_id.strip():
                params["product_id"] = _platform_id(update.platform_item_id)
            await self.client.call("sku.syncStock", params)

    # ------------------------------------------------------------------ token

    async def refresh_token(self) -> Credentials:
        data = await self.client.refresh_token()
        access = str(data.get("access_token") or "")
        if not access:
            raise PlatformUnavailable(
                platform_code="bad_response", platform_message="token.refresh 未返回 access_token"
            )
        expires_in = data.get("expires_in")
        expires_at = (
            clock.now() + timedelta(seconds=int(expires_in))
            if isinstance(expires_in, int | str) and str(expires_in).isdigit()
            else None
        )
        old = self.client.credentials
        fresh = msgspec.structs.replace(
            old,
            access_token=access,
            refresh_token=str(data.get("refresh_token") or old.refresh_token),
            token_expires_at=expires_at,
            shop_id=str(data.get("shop_id") or old.shop_id),
        )
        self.client.credentials = fresh
        return fresh


def create_connector(credentials: Credentials, http: httpx.AsyncClient) -> ChannelConnector:
    """The factory ``server.wiring`` registers in ``CONNECTORS`` under this platform's catalogue code."""
    return DouyinConnector(credentials, http)
