"""The channel connector port: what the hub needs from a sales platform, in the hub's own terms.

Each platform adapter lives in ``orderhub/channels/<platform>/`` as three layers:

* ``client.py`` — the wire format and signing only (one ``call(method, params)``; platform errors raised as the
  typed :class:`PlatformError` subclasses below, nothing else interpreted);
* ``mapper.py`` — platform payload → :class:`PlatformOrder` (a :class:`~orderhub.orders.commands.NewOrder` plus
  the platform's status read as :class:`PlatformOrderState`); money to integer fen, times to aware UTC;
* ``connector.py`` — implements :class:`ChannelConnector` with the two, and registers a factory by platform code
  (:func:`register`).

Nothing provider-shaped passes the mapper; the domain (pull runs, write-back, stock sync) only sees this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar, Protocol

import httpx
import msgspec

from orderhub.errors import OrderHubError
from orderhub.orders.commands import NewOrder

__all__ = [
    "AlreadyShipped",
    "BackwardPages",
    "ChannelConnector",
    "ConnectorFactory",
    "Credentials",
    "InvalidRequest",
    "PlatformError",
    "PlatformOrder",
    "PlatformOrderState",
    "PlatformUnavailable",
    "PullPage",
    "RateLimited",
    "SessionExpired",
    "ShipmentConfirmation",
    "SignatureRejected",
    "StockUpdate",
    "UnreadableOrder",
    "connector_for",
    "register",
    "registered_platforms",
]


class PlatformOrderState(StrEnum):
    """The platform's order status, read in the hub's terms."""

    UNPAID = "unpaid"  # not to be shipped (yet); not imported
    PAID = "paid"  # waiting for the seller to ship
    REFUND_REQUESTED = "refund_requested"  # buyer asked for a refund before shipping (platform still says paid)
    CANCELLED = "cancelled"  # closed / cancelled / fully refunded
    SHIPPED = "shipped"
    COMPLETED = "completed"


class PlatformOrder(msgspec.Struct, frozen=True, kw_only=True):
    """One order as a platform reports it, mapped (the mapper's output)."""

    order: NewOrder  # external_id = the platform's order id; raw = the platform payload as received
    state: PlatformOrderState
    platform_status: str  # the platform's own status value, for display and audit
    updated_at: datetime  # the platform's modification time (aware)


class UnreadableOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order on the page the mapper could not read: reported by the pull run, never blocking the others."""

    external_id: str
    message: str


class PullPage(msgspec.Struct, frozen=True, kw_only=True):
    orders: list[PlatformOrder]
    next_page: str | None  # opaque continuation (page number, cursor, next_key); None on the last page
    unreadable: list[UnreadableOrder] = []


class BackwardPages(msgspec.Struct, frozen=True):
    """Page-number paging over a modification-time window, read from the last page to the first.

    Read forwards, such paging loses an order whenever one on a page already read is modified during the pull: the
    modified order leaves the window, everything behind it moves up one place, and the order that crossed the page
    boundary is on a page already read. Read backwards, the same shift moves an order onto a page still to be read;
    the modified order itself is read by the next pull (its new modification time is in that window). Orders cannot
    enter the window mid-pull, because a pull window ends at the moment the run started (an order the platform indexes
late enters an old window instead; the next run's overlap, ``ORDERHUB_PULL_OVERLAP_MINUTES``, re-reads it, so
that overlap must stay longer than the platform's indexing lag).

    The first request (token ``None``) reads page 1 to learn the total: when that is the only page its orders count,
    otherwise they are dropped and the walk goes to the last page and ends with page 1 again.
    """

    page: int  # the page number to ask the platform for
    probe: bool  # True: this request is only to learn the total

    @classmethod
    def parse(cls, token: str | None) -> BackwardPages:
        if token is None:
            return cls(1, True)
        if not token.isdigit() or int(token) < 1:
            raise InvalidRequest("无效的翻页标记", platform_code="bad_page_token", platform_message=token)
        return cls(int(token), False)

    def after(self, total: int | None, page_size: int) -> tuple[bool, str | None]:
        """(whether this page's orders count, the next page's token) given the platform's total for the window
        (needed only on the first request; later pages are walked by number)."""
        if self.probe and total is None:
            raise PlatformUnavailable("电商平台的订单列表没有给出总数，无法完整翻页", platform_code="bad_response")
        if self.probe and total is not None:
            last = -(-total // page_size)
            return (True, None) if last <= 1 else (False, str(last))
        return True, (str(self.page - 1) if self.page > 1 else None)


class ShipmentConfirmation(msgspec.Struct, frozen=True, kw_only=True):
    external_id: str  # the platform's order id
    carrier: str  # the hub's carrier code: "SF", "ZTO", "JT", "YTO", "STO", "YD", "EMS", "JD"
    waybill_no: str


class StockUpdate(msgspec.Struct, frozen=True, kw_only=True):
    platform_item_id: str  # num_iid / product_id / goods_id / wareId (as the platform names it)
    platform_sku_id: str
    quantity: int  # the absolute quantity the platform should show (full update, never a delta)


class Credentials(msgspec.Struct, kw_only=True):
    """What a connector needs to call the platform (sealed at rest in ``channel.credentials``)."""

    app_key: str
    app_secret: str
    access_token: str = ""
    refresh_token: str = ""
    token_expires_at: datetime | None = None
    shop_id: str = ""
    # The gateway to call instead of the platform's production URL (a simulator, a regional gateway).
    base_url: str = ""

    def __repr__(self) -> str:  # never the secret or the tokens (logs, tracebacks)
        return f"Credentials(app_key={self.app_key!r}, shop_id={self.shop_id!r}, base_url={self.base_url!r})"


class PlatformError(OrderHubError):
    """A platform refused or failed a call. ``platform_code`` / ``platform_message`` are the platform's own."""

    code = "platform_error"
    default_message = "电商平台接口调用失败"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        platform_code: str = "",
        platform_message: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message or self.default_message)
        self.platform_code = platform_code
        self.platform_message = platform_message
        self.retry_after = retry_after


class SignatureRejected(PlatformError):
    code = "platform_signature_rejected"
    default_message = "电商平台拒绝了签名（请检查 App Key / App Secret）"


class SessionExpired(PlatformError):
    code = "platform_session_expired"
    default_message = "店铺授权已过期，需要刷新或重新授权"


class RateLimited(PlatformError):
    code = "platform_rate_limited"
    default_message = "电商平台限流，稍后重试"
    retryable = True


class PlatformUnavailable(PlatformError):
    code = "platform_unavailable"
    default_message = "电商平台暂时不可用，稍后重试"
    retryable = True


class AlreadyShipped(PlatformError):
    code = "platform_already_shipped"
    default_message = "该订单在平台上已发货"


class InvalidRequest(PlatformError):
    code = "platform_invalid_request"
    default_message = "电商平台认为请求参数有误"


class ChannelConnector(Protocol):
    """One shop on one platform."""

    platform: ClassVar[str]
    # The longest window one incremental query may span (Pinduoduo: 30 min; Taobao: 1 day …).
    max_window: ClassVar[timedelta]

    async def pull(self, start: datetime, end: datetime, page: str | None) -> PullPage:
        """Orders modified in [start, end), one page; ``page`` is the previous page's ``next_page``."""
        ...

    async def confirm_shipment(self, shipment: ShipmentConfirmation) -> None:
        """Tell the platform the order shipped; AlreadyShipped if it already knows (callers treat it as done)."""
        ...

    async def update_stock(self, updates: Sequence[StockUpdate]) -> None:
        """Set the quantity the platform shows for each SKU."""
        ...

    async def refresh_token(self) -> Credentials:
        """A fresh access token; returns the credentials to store (the connector uses them from now on)."""
        ...


ConnectorFactory = Callable[[Credentials, httpx.AsyncClient], ChannelConnector]
_factories: dict[str, ConnectorFactory] = {}


def register(platform: str, factory: ConnectorFactory) -> None:
    _factories[platform] = factory


def registered_platforms() -> list[str]:
    _load_adapters()
    return sorted(_factories)


def connector_for(platform: str, credentials: Credentials, http: httpx.AsyncClient) -> ChannelConnector:
    _load_adapters()
    factory = _factories.get(platform)
    if factory is None:
        raise InvalidRequest(f"平台 {platform} 没有可用的连接器", platform_code="no_connector")
    return factory(credentials, http)


_loaded = False
_ADAPTERS = ("taobao", "douyin", "pdd", "jd", "wechat_shop")


def _load_adapters() -> None:
    """Import the adapters (each registers itself); the domain never imports a provider by name."""
    global _loaded
    if _loaded:
        return
    import importlib

    for name in _ADAPTERS:
        try:
            importlib.import_module(f"orderhub.channels.{name}.connector")
        except ModuleNotFoundError as exc:
            if exc.name != f"orderhub.channels.{name}" and exc.name != f"orderhub.channels.{name}.connector":
                raise
    _loaded = True
