"""The Taobao/Tmall (TOP) implementation of :class:`~orderhub.channels.port.ChannelConnector`.

* ``pull`` — ``taobao.trades.sold.increment.get`` (by modification time, ``use_has_next``, every status, so unpaid
  trades come back too, read as UNPAID), then ``taobao.trade.fullinfo.get`` for any trade the list returned without
  what the mapper needs. TOP refuses windows over one day; so does :meth:`TaobaoConnector.pull`.
* ``confirm_shipment`` — ``taobao.logistics.offline.send`` (自己联系物流).
* ``update_stock`` — ``taobao.item.quantity.update`` with ``type=1`` (full quantity).
* ``decrypt_receivers`` — ``taobao.top.oaid.decrypt`` (≤ 20 queries a call, each ``{oaid, tid, scene}``).
* ``refresh_token`` — ``taobao.top.auth.token.refresh``, which TOP grants only to apps ordered through 服务市场
  ("目前只有服务市场订购类应用可以刷新token，其他类型应用（如商家后台）使用固定时长token，不提供刷新功能" — the API's
  description as TOP's generated SDKs carry it, e.g. github.com/bububa/opentaobao model/util
  TaobaoTopAuthTokenRefreshAPIRequest; the answer's ``token_result`` is a JSON text, TOP Java SDK
  TopAuthTokenRefreshResponse). Such apps' token answers say
  ``re_expires_in`` > 0; a 商家后台 app gets ``re_expires_in: 0`` (its refresh token refreshes nothing) and its
  shop must authorise again when the session ends. :meth:`TaobaoConnector.can_refresh` says which case a shop is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final
from urllib.parse import unquote

import httpx
import msgspec

from orderhub import clock
from orderhub.channels.port import (
    AlreadyShipped,
    BackwardPages,
    ChannelConnector,
    Credentials,
    DecryptedReceiver,
    DecryptRefused,
    EncryptedReceiver,
    InvalidRequest,
    PlatformError,
    PlatformOrder,
    PlatformUnavailable,
    PullPage,
    RateLimited,
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

# taobao.top.oaid.decrypt (OAID解密, http://developer.alibaba.com/docs/api.htm?apiId=54714): ``query_list`` — "解密请求
# 列表，最多支持20个", each ``oaid`` (必须), ``tid`` (必须), ``scene`` (可选) and ``secret_no_days``; the answer's
# ``receiver_list`` holds name, mobile (a privacy number "18877771111-123" when privacy_protection=true), phone,
# address_detail, town/district/city/state, oaid, tid and ``matched`` ("oaid是否和tid当前的oaid匹配 … 当不匹配时，建议
# 通过taobao.trade.fullinfo.get获取最新的oaid").
DECRYPT_METHOD = "taobao.top.oaid.decrypt"
DECRYPT_BATCH: Final = 20
# The documented scene codes ("可选的场景：1001(顺丰电子面单发货)、1002(4通一达电子面单发货)、1003(EMS电子面单发货)、
# 1004(其他电子面单发货)、1005(线下门店发货)、1006(手工单发货)、1007(代发货)、2001(客户售后服务)、2002(客户关怀)").
# The port's scenes: ``waybill`` (a carrier's own e-waybill needs the clear receiver; ``waybill:<carrier>`` picks the
# carrier's code) and ``view`` (a person asked to see it: customer service).
SCENE_WAYBILL_OTHER: Final = "1004"
SCENE_WAYBILL_BY_CARRIER: Final[Mapping[str, str]] = {
    "SF": "1001",
    "ZTO": "1002",  # 4通一达: 中通, 圆通, 申通, 韵达
    "YTO": "1002",
    "STO": "1002",
    "YD": "1002",
    "EMS": "1003",
}
SCENE_VIEW: Final = "2001"
# TOP's flow-control sub code for the app's daily volume (code 7, "对每个应用（appkey）调用流量的限制"): on
# taobao.top.oaid.decrypt it means today's decrypt volume is used up — a refusal until tomorrow, not a short ban.
_DAILY_VOLUME = "limited-by-app-access-count"
# 11 Insufficient ISV Permissions 开发者权限不足, 12 Insufficient User Permissions, 13 Insufficient Partner Permissions.
_PERMISSION_CODES = frozenset({"11", "12", "13"})

REFRESH_METHOD = "taobao.top.auth.token.refresh"


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

    # ------------------------------------------------------------- decrypt

    async def decrypt_receivers(self, receivers: Sequence[EncryptedReceiver], *, scene: str) -> list[DecryptedReceiver]:
        """The clear receivers through ``taobao.top.oaid.decrypt``, 20 a call, one result per input in order. An
        input without an OAID, or one TOP answers ``matched=false`` for (the order's receiver changed since), is a
        per-item refusal; a used-up daily volume or a missing permission raises :class:`DecryptRefused`."""
        code = top_scene(scene)
        results: dict[int, DecryptedReceiver] = {}
        queries: list[tuple[int, EncryptedReceiver]] = []
        for index, receiver in enumerate(receivers):
            if receiver.cipher.open_id:
                queries.append((index, receiver))
            else:
                results[index] = DecryptedReceiver(
                    external_id=receiver.external_id,
                    error_code="no_oaid",
                    error_message="该淘宝订单没有 OAID，无法通过平台解密",
                )
        for start in range(0, len(queries), DECRYPT_BATCH):
            chunk = queries[start : start + DECRYPT_BATCH]
            answered = await self._decrypt_chunk([receiver for _, receiver in chunk], code)
            for index, receiver in chunk:
                results[index] = answered.get((receiver.external_id, receiver.cipher.open_id)) or DecryptedReceiver(
                    external_id=receiver.external_id,
                    error_code="not_returned",
                    error_message="淘宝未返回该订单的收件人",
                )
        return [results[index] for index in range(len(receivers))]

    async def _decrypt_chunk(
        self, chunk: Sequence[EncryptedReceiver], scene: str
    ) -> dict[tuple[str, str], DecryptedReceiver]:
        query = [{"oaid": r.cipher.open_id, "tid": r.external_id, "scene": scene} for r in chunk]
        try:
            body = await self.client.call(
                DECRYPT_METHOD, {"query_list": json.dumps(query, ensure_ascii=False, separators=(",", ":"))}
            )
        except RateLimited as exc:
            if _DAILY_VOLUME in exc.platform_code:
                raise DecryptRefused(
                    "淘宝今日的收件人解密额度已用完，请明天再试或改用菜鸟电子面单打印",
                    platform_code=exc.platform_code,
                    platform_message=exc.platform_message,
                ) from exc
            raise
        except InvalidRequest as exc:
            if exc.platform_code.split("/", 1)[0] in _PERMISSION_CODES:
                raise DecryptRefused(
                    "本应用没有淘宝收件人解密权限（OAID解密）",
                    platform_code=exc.platform_code,
                    platform_message=exc.platform_message,
                ) from exc
            raise
        found: dict[tuple[str, str], DecryptedReceiver] = {}
        for item in _listed(body.get("receiver_list"), "receiver"):
            tid, oaid = str(item.get("tid") or item.get("order_id") or ""), str(item.get("oaid") or "")
            if item.get("matched") in (False, "false"):
                found[(tid, oaid)] = DecryptedReceiver(
                    external_id=tid,
                    error_code="matched=false",
                    error_message="订单的收件人已变更（OAID 与订单当前收件人不一致），请重新拉取订单后再解密",
                )
                continue
            town = str(item.get("town") or "").strip()
            detail = str(item.get("address_detail") or "")
            if town and not detail.lstrip().startswith(town):
                detail = town + detail
            found[(tid, oaid)] = DecryptedReceiver(
                external_id=tid,
                name=str(item.get("name") or ""),
                phone=str(item.get("mobile") or item.get("phone") or ""),
                detail=detail,
            )
        return found

    # ----------------------------------------------------------------- auth

    def can_refresh(self) -> bool:
        """Whether :meth:`refresh_token` can renew the session: the shop has a refresh token (TOP gives one that
        refreshes only to 服务市场 apps; a 商家后台 app's token answer says ``re_expires_in: 0`` and this connector
        drops it) and it has not expired."""
        credentials = self.client.credentials
        if not credentials.refresh_token:
            return False
        until = credentials.refresh_expires_at
        return until is None or until > clock.now()

    async def refresh_token(self) -> Credentials:
        """``taobao.top.auth.token.refresh`` (called without a session); the new credentials with
        ``token_expires_at`` / ``refresh_expires_at`` from the token answer. :class:`SessionExpired` when the
        shop cannot be refreshed (no refresh token, a 商家后台 app, the refresh token expired or refused)."""
        old = self.client.credentials
        if not self.can_refresh():
            raise SessionExpired(
                "淘宝/天猫店铺授权（session）已过期且无法自动续期：只有通过服务市场订购的应用才能刷新授权，"
                "请店铺主账号在后台重新授权本应用",
                platform_code="refresh_unsupported",
            )
        try:
            body = await self.client.call(REFRESH_METHOD, {"refresh_token": old.refresh_token}, session=False)
        except (InvalidRequest, SessionExpired) as exc:
            raise SessionExpired(
                "淘宝拒绝刷新店铺授权（refresh_token 已失效或本应用不支持刷新）：请店铺主账号重新授权本应用",
                platform_code=exc.platform_code,
                platform_message=exc.platform_message,
            ) from exc
        fresh = credentials_from_token(old, body.get("token_result"), now=clock.now())
        self.client.credentials = fresh
        self.credentials = fresh
        return fresh


def top_scene(scene: str) -> str:
    """TOP's decrypt scene code for the port's ``scene`` (``waybill``, ``waybill:<carrier>``, ``view``)."""
    kind, _, carrier = scene.partition(":")
    if kind == "waybill":
        return SCENE_WAYBILL_BY_CARRIER.get(carrier.strip().upper(), SCENE_WAYBILL_OTHER)
    if kind == "view":
        return SCENE_VIEW
    raise InvalidRequest(f"未知的解密场景 {scene!r}", platform_code="unknown_scene", platform_message=scene)


def _listed(value: Any, element: str) -> list[Mapping[str, Any]]:
    """A TOP list: ``{"<element>": [...]}`` in TOP's JSON, or the bare list (simplified JSON)."""
    if isinstance(value, Mapping):
        value = value.get(element)
    if isinstance(value, Mapping):
        value = [value]
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _epoch_ms(value: Any) -> datetime | None:
    number = value if isinstance(value, int) else int(value) if isinstance(value, str) and value.isdigit() else None
    return datetime.fromtimestamp(number / 1000, UTC) if number else None


def _seconds_value(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def credentials_from_token(old: Credentials, token: Any, *, now: datetime) -> Credentials:
    """``old`` with the session of a TOP token answer (``token_result`` of taobao.top.auth.token.refresh / .create:
    a JSON text — or object — with access_token, expires_in / expire_time (ms), refresh_token, re_expires_in /
    refresh_token_valid_time (ms), taobao_user_id, taobao_user_nick …, the fields of TOP's 用户授权介绍 token answer).
    ``re_expires_in`` 0 means the refresh token refreshes nothing (not a 服务市场 app): it is dropped."""
    if isinstance(token, str):
        try:
            token = json.loads(token)
        except ValueError:
            token = None
    if not isinstance(token, Mapping) or not token.get("access_token"):
        raise PlatformUnavailable(
            "淘宝刷新授权的返回中没有 access_token", platform_code="bad_response", platform_message="token_result"
        )
    expires_in = _seconds_value(token.get("expires_in"))
    expires_at = _epoch_ms(token.get("expire_time")) or (
        now + timedelta(seconds=expires_in) if expires_in is not None else None
    )
    re_expires_in = _seconds_value(token.get("re_expires_in"))
    refresh = str(token.get("refresh_token") or "")
    refresh_until = _epoch_ms(token.get("refresh_token_valid_time")) or (
        now + timedelta(seconds=re_expires_in) if re_expires_in else None
    )
    if re_expires_in == 0 or (refresh_until is not None and refresh_until <= now):
        refresh, refresh_until = "", None
    return msgspec.structs.replace(
        old,
        access_token=str(token["access_token"]),
        refresh_token=refresh,
        token_expires_at=expires_at,
        refresh_expires_at=refresh_until,
        shop_id=old.shop_id or unquote(str(token.get("taobao_user_id") or "")),
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
