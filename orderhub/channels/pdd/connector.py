"""拼多多 connector: the :class:`~orderhub.channels.port.ChannelConnector` port over :mod:`.client` and
:mod:`.mapper`.

* pull: ``pdd.order.number.list.increment.get`` by update time (``start_updated_at`` / ``end_updated_at``, at most
  30 minutes apart, as the API documents), all statuses (``order_status=5``, ``refund_status=5``), pages by number
  with ``use_has_next``. The gateway treats both ends as inclusive and works in whole seconds; the connector asks
  for ``[floor(start), ceil(end)]`` and keeps the orders whose reported update time is in ``[start, end)``, so
  adjacent windows never lose or repeat an order. List entries that lack fields the mapper needs are fetched with
  ``pdd.order.information.get``. 拼多多 lists only paid orders; an entry that is not 成团 yet maps to UNPAID.
* confirm_shipment: ``pdd.logistics.online.send`` (logistics id from :data:`.mapper.CARRIER_IDS`).
* update_stock: ``pdd.goods.quantity.update`` with ``update_type=1`` (full quantity).
* refresh_token: ``pdd.pop.auth.token.refresh`` (``refresh_token`` → ``pop_auth_token_refresh_response``:
  ``access_token``, ``expires_at`` / ``expires_in``, ``refresh_token``, ``refresh_token_expires_at`` /
  ``refresh_token_expires_in``, ``owner_id`` — the response model of the POP SDKs, e.g. niltor/open-pdd-net-sdk
  ``RefreshPopAuthTokenResponse``). A refused refresh is the gateway's session error (10019 …): the shop must
  re-authorise.
* decrypt_receivers (:class:`~orderhub.channels.port.ReceiverDecryptor`): ``pdd.open.decrypt.batch`` with
  ``data_list`` = ``[{data_tag: <order_sn>, encrypted_data: <ciphertext>}]``, at most 100 items a call ("数据列表,
  默认列表大小不超过100"), answering ``data_decrypt_list[]`` (``data_tag``, ``encrypted_data``, ``decrypted_data``,
  ``error_code`` 0 = success, ``error_msg``, ``virtual_number_type`` / ``virtual_identify_number`` for a privacy
  number) — SDK models ``PddOpenDecryptBatchRequest`` / ``…Response`` (niltor/open-pdd-net-sdk, lywzx/pdd-node-sdk).
  Shops have a daily decrypt quota (「常见FAQ」 idStr=3155CCB725082A31: "每日解密次数有上限，上限以店铺纬度限制");
  the API takes no reason or audit field (its only param is ``data_list``), so ``scene`` is not sent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import msgspec

from orderhub import clock
from orderhub.channels.pdd import mapper
from orderhub.channels.pdd.client import PddClient
from orderhub.channels.port import (
    AlreadyShipped,
    BackwardPages,
    ChannelConnector,
    Credentials,
    DecryptedReceiver,
    DecryptRefused,
    EncryptedReceiver,
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

__all__ = ["PddConnector", "create_connector"]

LIST_API = "pdd.order.number.list.increment.get"
DETAIL_API = "pdd.order.information.get"
SHIP_API = "pdd.logistics.online.send"
STOCK_API = "pdd.goods.quantity.update"
REFRESH_API = "pdd.pop.auth.token.refresh"
DECRYPT_API = "pdd.open.decrypt.batch"
DECRYPT_BATCH = 100  # data_list: "数据列表, 默认列表大小不超过100"
MAX_PAGE_SIZE = 100
_ALL = 5  # order_status / refund_status: 全部
_LUCKY_ALL = 0  # is_lucky_flag: 全部


class PddConnector:
    """One 拼多多 shop. ``page_size`` (1–100) is the list page size; tests use small pages."""

    platform: ClassVar[str] = "pdd"
    max_window: ClassVar[timedelta] = timedelta(minutes=30)

    def __init__(self, credentials: Credentials, http: httpx.AsyncClient, *, page_size: int = MAX_PAGE_SIZE) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1-{MAX_PAGE_SIZE}")
        self.credentials = credentials
        self.client = PddClient(credentials, http)
        self.page_size = page_size

    # ------------------------------------------------------------------ pull

    async def pull(self, start: datetime, end: datetime, page: str | None) -> PullPage:
        start_s, end_s = _window_seconds(start, end, self.max_window)
        walk = BackwardPages.parse(page)
        if end <= start:
            return PullPage(orders=[], next_page=None)
        answer = await self.client.call(
            LIST_API,
            {
                "start_updated_at": start_s,
                "end_updated_at": end_s,
                "order_status": _ALL,
                "refund_status": _ALL,
                "is_lucky_flag": _LUCKY_ALL,
                "page": walk.page,
                "page_size": self.page_size,
                "use_has_next": False,  # the total is needed to page from the last page (BackwardPages)
            },
        )
        total = answer.get("total_count")
        keep, next_page = walk.after(total if isinstance(total, int) else None, self.page_size)
        if not keep:
            return PullPage(orders=[], next_page=next_page)
        entries = answer.get("order_sn_list") or []
        if not isinstance(entries, list):
            raise InvalidRequest("拼多多订单列表结构不对", platform_code="bad_response")
        orders: list[PlatformOrder] = []
        unreadable: list[UnreadableOrder] = []
        for entry in entries:
            payload: dict[str, Any] = entry if isinstance(entry, dict) else {}
            if mapper.needs_detail(payload):
                payload = await self._detail(str(payload.get("order_sn", "")))
            try:
                mapped = _map(payload)
            except InvalidRequest as exc:  # one unreadable order is reported; the page and the run go on
                unreadable.append(UnreadableOrder(external_id=str(payload.get("order_sn") or ""), message=exc.message))
                continue
            if start <= mapped.updated_at < end:
                orders.append(mapped)
        return PullPage(orders=orders, next_page=next_page, unreadable=unreadable)

    async def _detail(self, order_sn: str) -> dict[str, Any]:
        if not order_sn:
            raise InvalidRequest("拼多多订单列表中有一项没有订单号", platform_code="bad_response")
        answer = await self.client.call(DETAIL_API, {"order_sn": order_sn})
        info = answer.get("order_info")
        if not isinstance(info, dict):
            raise InvalidRequest(f"拼多多订单 {order_sn} 的详情结构不对", platform_code="bad_response")
        return info

    # -------------------------------------------------------------- write-back

    async def confirm_shipment(self, shipment: ShipmentConfirmation) -> None:
        logistics_id = mapper.carrier_id(shipment.carrier)
        if logistics_id is None:
            raise InvalidRequest(
                f"快递公司 {shipment.carrier} 没有对应的拼多多物流公司编号", platform_code="unknown_carrier"
            )
        try:
            await self.client.call(
                SHIP_API,
                {
                    "order_sn": shipment.external_id,
                    "logistics_id": logistics_id,
                    "tracking_number": shipment.waybill_no,
                },
            )
        except InvalidRequest as refused:
            # 拼多多 answers a business error (50001) whose text varies; ask the order itself before deciding.
            if await self._already_shipped(shipment.external_id):
                raise AlreadyShipped(
                    f"拼多多订单 {shipment.external_id} 已发货",
                    platform_code=refused.platform_code,
                    platform_message=refused.platform_message,
                ) from None
            raise

    async def _already_shipped(self, order_sn: str) -> bool:
        try:
            info = await self._detail(order_sn)
        except InvalidRequest:
            return False
        return mapper.order_state(info) in (PlatformOrderState.SHIPPED, PlatformOrderState.COMPLETED)

    async def update_stock(self, updates: Sequence[StockUpdate]) -> None:
        for update in updates:
            if update.quantity < 0:
                raise InvalidRequest("库存数量不能为负数", platform_code="negative_quantity")
            await self.client.call(
                STOCK_API,
                {
                    "goods_id": update.platform_item_id,
                    "sku_id": update.platform_sku_id,
                    "quantity": update.quantity,
                    "update_type": 1,  # 1 全量更新, 2 增量更新
                },
            )

    async def refresh_token(self) -> Credentials:
        """A new token pair from ``pdd.pop.auth.token.refresh``; the connector uses it from now on. A refused
        refresh (unknown or expired refresh token) raises the gateway's :class:`SessionExpired`."""
        if not self.credentials.refresh_token:  # nothing to refresh with (service.CANNOT_REFRESH)
            raise SessionExpired("拼多多店铺没有保存 refresh_token，请商家重新授权", platform_code="no_refresh_token")
        params = {"refresh_token": self.credentials.refresh_token}
        answer = await self.client.call(REFRESH_API, params, with_token=False)
        access = str(answer.get("access_token") or "")
        if not access:
            raise PlatformUnavailable(
                "拼多多刷新授权未返回 access_token", platform_code="bad_response", platform_message=REFRESH_API
            )
        now = clock.now()
        old = self.credentials
        fresh = msgspec.structs.replace(
            old,
            access_token=access,
            refresh_token=str(answer.get("refresh_token") or old.refresh_token),
            token_expires_at=_expiry(answer, "expires_at", "expires_in", now),
            refresh_expires_at=_expiry(answer, "refresh_token_expires_at", "refresh_token_expires_in", now),
            shop_id=old.shop_id or str(answer.get("owner_id") or ""),
        )
        self.credentials = fresh
        self.client.credentials = fresh
        return fresh

    # ------------------------------------------------------------------ decrypt

    async def decrypt_receivers(self, receivers: Sequence[EncryptedReceiver], *, scene: str) -> list[DecryptedReceiver]:
        """Each receiver's clear name, phone and detail through ``pdd.open.decrypt.batch`` (``scene`` is not sent:
        the API takes no reason). A whole-call business refusal (quota used up, no permission) is
        :class:`DecryptRefused`; rate limits, outages and an expired session keep their own types."""
        per_call = max(1, DECRYPT_BATCH // 3)  # up to three ciphertexts per receiver
        results: list[DecryptedReceiver] = []
        for start in range(0, len(receivers), per_call):
            results += await self._decrypt_chunk(receivers[start : start + per_call])
        return results

    async def _decrypt_chunk(self, chunk: Sequence[EncryptedReceiver]) -> list[DecryptedReceiver]:
        items = [
            {"data_tag": receiver.external_id, "encrypted_data": value}
            for receiver in chunk
            for value in (receiver.cipher.name, receiver.cipher.phone, receiver.cipher.detail)
            if value
        ]
        if not items:
            return [DecryptedReceiver(external_id=receiver.external_id) for receiver in chunk]
        try:
            answer = await self.client.call(DECRYPT_API, {"data_list": json.dumps(items, ensure_ascii=False)})
        except InvalidRequest as refused:  # 50001 (quota …), 20031 用户没有授权访问此接口, 70034 风险用户
            raise DecryptRefused(
                f"拼多多拒绝解密收件人信息：{refused.platform_message or refused.message}",
                platform_code=refused.platform_code,
                platform_message=refused.platform_message,
            ) from None
        decrypted: dict[tuple[str, str], Mapping[str, Any]] = {}
        for entry in answer.get("data_decrypt_list") or []:
            if isinstance(entry, Mapping):
                decrypted[(str(entry.get("data_tag") or ""), str(entry.get("encrypted_data") or ""))] = entry
        return [_decrypted(receiver, decrypted) for receiver in chunk]


def _decrypted(receiver: EncryptedReceiver, answers: Mapping[tuple[str, str], Mapping[str, Any]]) -> DecryptedReceiver:
    """One receiver's result: its clear fields, or the first per-item refusal."""
    clear: dict[str, str] = {}
    cipher = receiver.cipher
    for field, value in (("name", cipher.name), ("phone", cipher.phone), ("detail", cipher.detail)):
        if not value:
            continue
        entry = answers.get((receiver.external_id, value))
        if entry is None:
            missing = "拼多多未返回该密文的解密结果"
            return DecryptedReceiver(external_id=receiver.external_id, error_code="bad_response", error_message=missing)
        code = str(entry.get("error_code") or 0)
        if code != "0":
            return DecryptedReceiver(
                external_id=receiver.external_id, error_code=code, error_message=str(entry.get("error_msg") or "")
            )
        text = str(entry.get("decrypted_data") or "")
        ext = str(entry.get("virtual_identify_number") or "")
        if field == "phone" and ext and str(entry.get("virtual_number_type") or "0") == "1":
            text = f"{text}转{ext}"  # a privacy number and its extension, as the hub writes phone extensions
        clear[field] = text
    return DecryptedReceiver(external_id=receiver.external_id, **clear)


def _expiry(answer: Mapping[str, Any], at_key: str, in_key: str, now: datetime) -> datetime | None:
    """An expiry from the token answer: the absolute unix time (seconds, or milliseconds) if given, else now + the
    lifetime in seconds; None when the answer says neither."""
    at, lifetime = answer.get(at_key), answer.get(in_key)
    if isinstance(at, int | str) and str(at).isdigit() and int(at) > 0:
        seconds = int(at) / 1000 if int(at) > 10**11 else int(at)
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(lifetime, int | str) and str(lifetime).isdigit():
        return now + timedelta(seconds=int(lifetime))
    return None


def _map(payload: dict[str, Any]) -> PlatformOrder:
    try:
        return mapper.to_order(payload)
    except mapper.PayloadError as exc:
        raise InvalidRequest(f"无法读取拼多多订单：{exc}", platform_code="unmappable_order") from None


def _window_seconds(start: datetime, end: datetime, limit: timedelta) -> tuple[int, int]:
    """The gateway's inclusive ``[start_updated_at, end_updated_at]`` covering ``[start, end)``."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRequest("拉单时间窗必须带时区", platform_code="naive_window")
    if end < start:
        raise InvalidRequest("拉单时间窗的结束早于开始", platform_code="bad_window")
    if end - start > limit:
        raise InvalidRequest(
            f"拼多多增量拉单的时间窗不能超过 {int(limit.total_seconds() // 60)} 分钟，请拆分", platform_code="window"
        )
    start_s = math.floor(start.astimezone(UTC).timestamp())
    end_s = min(math.ceil(end.astimezone(UTC).timestamp()), start_s + int(limit.total_seconds()))
    return start_s, end_s


def create_connector(credentials: Credentials, http: httpx.AsyncClient) -> ChannelConnector:
    """The factory ``server.wiring`` registers in ``CONNECTORS`` under this platform's catalogue code."""
    return PddConnector(credentials, http)

