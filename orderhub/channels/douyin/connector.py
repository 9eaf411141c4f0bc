"""The 抖店 (Douyin shop) channel connector: :class:`~orderhub.channels.port.ChannelConnector` over
:mod:`~orderhub.channels.douyin.client` and :mod:`~orderhub.channels.douyin.mapper`.

* ``pull`` — ``order.searchList`` by update time, ascending. Paging is keyset-style (the page token carries the
  last update second reached and the orders already returned at that second), so an order modified while the
  window is being paged is returned again later instead of shifting the page offsets and making another order be
  skipped; when more than a page of orders share one second, the token pages through that second by number.
  Orders the list answers without lines or address are completed with ``order.orderDetail``.
* ``confirm_shipment`` — ``order.logisticsAdd``; ``update_stock`` — ``sku.syncStock`` (full update, per SKU);
  ``refresh_token`` — ``token.refresh``.
* ``decrypt_receivers`` (:class:`~orderhub.channels.port.ReceiverDecryptor`) — ``order.batchDecrypt``, at most
  :data:`DECRYPT_BATCH_LIMIT` ciphertexts a call; ``phone_search_indexes`` — ``order.BatchSearchIndex`` (the search
  index 抖店 embeds in its phone ciphertexts, for a clear number).

Window: the ``order.searchList`` reference documents no fixed maximum span for ``update_time_start`` /
``update_time_end`` (only ``size`` ≤ 100, ``page`` from 0, and that the list covers orders created in the last 90
days); :attr:`DouyinConnector.max_window` is a conservative one day so one pull run stays a bounded number of
pages and a failure retries little.
"""

from __future__ import annotations

import base64
import binascii
import logging
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
    DecryptedReceiver,
    DecryptRefused,
    EncryptedReceiver,
    InvalidRequest,
    PlatformOrder,
    PlatformUnavailable,
    PullPage,
    ShipmentConfirmation,
    StockUpdate,
    UnreadableOrder,
)
from orderhub.errors import ValidationFailed

__all__ = ["DECRYPT_BATCH_LIMIT", "MAX_PAGE_SIZE", "DouyinConnector", "create_connector"]

log = logging.getLogger("orderhub.channels.douyin")

MAX_PAGE_SIZE: Final = 100  # order.searchList: size 1–100
# order.batchDecrypt: 「待解密值集合，最大支持一次解密50条」 (批量解密 /order/batchDecrypt,
# https://op.jinritemai.com/docs/api-docs/15/509; the official SDK's OrderBatchDecryptParam carries the same text).
DECRYPT_BATCH_LIMIT: Final = 50
# order.batchDecrypt ``account_type``: 「服务商账号中的主-main_account；子账号-sub_account」 — whose decrypt it is.
_DECRYPT_ACCOUNT_TYPE: Final = "main_account"
# 30001 操作权限不足 sub codes meaning "this app may not decrypt" (平台基础错误码: dop.no-permissions 无权限,
# isv.app-permissions-insufficient 应用无权限调用该接口): for a decrypt that is a refusal, not a bad request.
_NO_PERMISSION: Final = ("30001/dop.no-permissions", "30001/isv.app-permissions-insufficient")
# order.BatchSearchIndex ``encrypt_type``: 1 地址, 2 姓名, 3 电话.
_SEARCH_INDEX_PHONE: Final = 3
_RECEIVER_FIELDS: Final = ("name", "phone", "detail")


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

    # ------------------------------------------------------------- receivers

    async def decrypt_receivers(self, receivers: Sequence[EncryptedReceiver], *, scene: str) -> list[DecryptedReceiver]:
        """``order.batchDecrypt`` with ``cipher_infos`` [{auth_id: the order id, cipher_text}] for each receiver's
        name, phone and detail ciphertexts, :data:`DECRYPT_BATCH_LIMIT` a call; ``account_id`` / ``account_type``
        name the merchant account the decrypt is for (the shop's main account). One result per receiver, in order;
        a refused item (``err_no`` ≠ 0) is a result with ``error_code``; a refusal of the whole call — the shop's
        daily quota used up, no permission, ``custom_err`` — raises :class:`DecryptRefused`. ``scene`` is logged
        only (抖店 takes no reason field)."""
        jobs = [
            (index, name, value)
            for index, item in enumerate(receivers)
            if item.cipher.platform == self.platform
            for name in _RECEIVER_FIELDS
            if (value := getattr(item.cipher, name))
        ]
        answers: dict[tuple[str, str], Mapping[str, Any]] = {}
        account_id = self.credentials.shop_id or self.credentials.app_key
        for offset in range(0, len(jobs), DECRYPT_BATCH_LIMIT):
            chunk = jobs[offset : offset + DECRYPT_BATCH_LIMIT]
            params = {
                "cipher_infos": [{"auth_id": receivers[i].external_id, "cipher_text": c} for i, _, c in chunk],
                "account_id": account_id,
                "account_type": _DECRYPT_ACCOUNT_TYPE,
            }
            try:
                data = await self.client.call("order.batchDecrypt", params)
            except InvalidRequest as exc:
                if exc.platform_code in _NO_PERMISSION:
                    raise DecryptRefused(
                        platform_code=exc.platform_code, platform_message=exc.platform_message
                    ) from exc
                raise
            custom = data.get("custom_err")
            if isinstance(custom, Mapping) and str(custom.get("err_code") or "0") != "0":
                raise DecryptRefused(
                    platform_code=str(custom.get("err_code")), platform_message=str(custom.get("err_msg") or "")
                )
            for info in data.get("decrypt_infos") or []:
                if isinstance(info, Mapping):
                    answers[(str(info.get("auth_id") or ""), str(info.get("cipher_text") or ""))] = info
        log.info("douyin receivers decrypted", extra={"count": len(receivers), "scene": scene})
        return [self._decrypted(item, answers) for item in receivers]

    def _decrypted(
        self, item: EncryptedReceiver, answers: Mapping[tuple[str, str], Mapping[str, Any]]
    ) -> DecryptedReceiver:
        if item.cipher.platform != self.platform:
            return DecryptedReceiver(
                external_id=item.external_id, error_code="not_douyin", error_message="不是抖店的密文，抖店无法解密"
            )
        values: dict[str, str] = {}
        for name in _RECEIVER_FIELDS:
            cipher = getattr(item.cipher, name)
            if not cipher:
                continue
            info = answers.get((item.external_id, cipher))
            if info is None:
                return DecryptedReceiver(
                    external_id=item.external_id, error_code="no_result", error_message="抖店未返回该密文的解密结果"
                )
            err_no = str(info.get("err_no") or "0")
            if err_no != "0":
                return DecryptedReceiver(
                    external_id=item.external_id, error_code=err_no, error_message=str(info.get("err_msg") or "")
                )
            values[name] = str(info.get("decrypt_text") or "")
        return DecryptedReceiver(external_id=item.external_id, **values)

    async def phone_search_indexes(self, phones: Sequence[str]) -> dict[str, str]:
        """``order.BatchSearchIndex``: clear phone → the search index 抖店 embeds in this shop's phone ciphertexts
        (:attr:`~orderhub.orders.commands.ReceiverCipher.phone_index`), to find orders by a number a person types."""
        wanted = sorted({p.strip() for p in phones if p.strip()})
        if not wanted:
            return {}
        items = [{"plain_text": p, "encrypt_type": _SEARCH_INDEX_PHONE} for p in wanted]
        data = await self.client.call("order.BatchSearchIndex", {"plain_text_list": items})
        custom = data.get("custom_err")
        if isinstance(custom, Mapping) and str(custom.get("err_code") or "0") != "0":
            raise PlatformUnavailable(
                platform_code=str(custom.get("err_code")), platform_message=str(custom.get("err_msg") or "")
            )
        found: dict[str, str] = {}
        for entry in data.get("plain_to_encrypt_index_list") or []:
            if isinstance(entry, Mapping):
                index = str(entry.get("search_index") or "")
                # Keep the bare index (without ``$`` around it), as the mapper cuts it from the ciphertext.
                found[str(entry.get("plain") or "")] = index.strip("$")
        return found

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
