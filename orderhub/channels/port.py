"""The channel connector port: what the hub needs from a sales platform, in the hub's own terms.

Each platform adapter lives in ``orderhub/channels/<platform>/`` as three layers:

* ``client.py`` — the wire format and signing only (one ``call(method, params)``; platform errors raised as the
  typed :class:`PlatformError` subclasses below, nothing else interpreted);
* ``mapper.py`` — platform payload → :class:`PlatformOrder` (a :class:`~orderhub.orders.commands.NewOrder` plus
  the platform's status read as :class:`PlatformOrderState`); money to integer fen, times to aware UTC;
* ``connector.py`` — implements :class:`ChannelConnector` with the two; ``server.wiring`` registers its factory
  in :data:`CONNECTORS` under the platform's catalogue code (:mod:`orderhub.channels.catalogue`).

A platform that pushes messages (webhooks) also has a :class:`PushReceiver` in :data:`PUSH_RECEIVERS`.

Nothing provider-shaped passes the mapper; the domain (pull runs, write-back, stock sync) only sees this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx
import msgspec

from orderhub import wire
from orderhub.carriers.port import PlatformWaybillAccount
from orderhub.channels.errors import ChannelError
from orderhub.errors import OrderHubError
from orderhub.orders.aftersales import PlatformRefund
from orderhub.orders.commands import NewOrder, ReceiverCipher
from orderhub.registry import Registry

__all__ = [
    "CONNECTORS",
    "PUSH_RECEIVERS",
    "AlreadyShipped",
    "BackwardPages",
    "ChannelConnector",
    "ConnectorFactory",
    "Credentials",
    "DecryptRefused",
    "DecryptedReceiver",
    "EncryptedReceiver",
    "InvalidRequest",
    "PlatformError",
    "PlatformOrder",
    "PlatformOrderState",
    "PlatformUnavailable",
    "PullPage",
    "PushReceipt",
    "PushReceiver",
    "RateLimited",
    "ReceiverDecryptor",
    "SessionExpired",
    "ShipmentConfirmation",
    "SignatureRejected",
    "StockUpdate",
    "UnreadableOrder",
    "connector_for",
    "json_reply",
    "registered_platforms",
    "reply_error",
    "shop_credentials",
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
    carrier: str  # the hub's carrier code (orderhub.carriers.catalogue)
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
    # When the refresh token itself expires (拼多多/京东/抖店 say so in the token answer); None: unknown or never.
    refresh_expires_at: datetime | None = None
    shop_id: str = ""
    # The gateway to call instead of the platform's production URL (a simulator, a regional gateway).
    base_url: str = ""

    def __repr__(self) -> str:  # never the secret or the tokens (logs, tracebacks)
        return f"Credentials(app_key={self.app_key!r}, shop_id={self.shop_id!r}, base_url={self.base_url!r})"


class PlatformError(OrderHubError):
    """A platform refused or failed a call. ``platform_code`` / ``platform_message`` are the platform's own."""

    code = ChannelError.PLATFORM_ERROR
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
    code = ChannelError.PLATFORM_SIGNATURE_REJECTED


class SessionExpired(PlatformError):
    code = ChannelError.PLATFORM_SESSION_EXPIRED


class RateLimited(PlatformError):
    code = ChannelError.PLATFORM_RATE_LIMITED
    retryable = True


class PlatformUnavailable(PlatformError):
    code = ChannelError.PLATFORM_UNAVAILABLE
    retryable = True


class AlreadyShipped(PlatformError):
    code = ChannelError.PLATFORM_ALREADY_SHIPPED


class InvalidRequest(PlatformError):
    code = ChannelError.PLATFORM_INVALID_REQUEST


class DecryptRefused(PlatformError):
    """The platform will not decrypt (this app lacks the permission, the shop's decrypt quota is used up, the order
    is in a state that forbids it). Not retryable: printing through the platform's own e-waybill service is the way."""

    code = ChannelError.PLATFORM_DECRYPT_REFUSED


class EncryptedReceiver(msgspec.Struct, frozen=True, kw_only=True):
    """One order's protected receiver, to decrypt."""

    external_id: str  # the platform's order id (PDD's data_tag, 抖店's auth_id, TOP's tid)
    cipher: ReceiverCipher


class DecryptedReceiver(msgspec.Struct, frozen=True, kw_only=True):
    """The clear receiver of one order, or why the platform refused that one (``error_code`` set, fields empty).

    Clear values live only in memory: the caller passes them to the step that needs them and drops them."""

    external_id: str
    name: str = ""
    phone: str = ""
    detail: str = ""
    error_code: str = ""  # the platform's own code for a refusal of this item
    error_message: str = ""

    def __repr__(self) -> str:  # never the clear values (logs, tracebacks)
        return f"DecryptedReceiver(external_id={self.external_id!r}, error_code={self.error_code!r})"


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


@runtime_checkable
class ReceiverDecryptor(Protocol):
    """A connector whose platform decrypts receivers through an API (拼多多 ``pdd.open.decrypt.batch``, 抖店
    ``order.batchDecrypt``, 淘宝 ``top.oaid.decrypt``). Optional: connectors without it cannot decrypt at all."""

    async def decrypt_receivers(self, receivers: Sequence[EncryptedReceiver], *, scene: str) -> list[DecryptedReceiver]:
        """Decrypt a batch (the connector chunks to the platform's batch limit). ``scene``: why (``waybill`` — a
        carrier needs the clear receiver; ``view`` — a person asked to see it), passed on where the platform asks
        for a reason. One result per input, in order; a per-item refusal is a result with ``error_code``; a refusal
        of the whole call (quota, permission) raises :class:`DecryptRefused`."""
        ...


ConnectorFactory = Callable[[Credentials, httpx.AsyncClient], ChannelConnector]

# Filled by the composition root (``server.wiring``): platform code (platform catalogue code) → factory.
CONNECTORS: Registry[ConnectorFactory] = Registry("channel connector")


def shop_credentials(account: PlatformWaybillAccount) -> Credentials:
    """The shop's platform credentials a platform e-waybill account calls its service with."""
    return Credentials(
        app_key=account.app_key,
        app_secret=account.app_secret,
        access_token=account.access_token,
        shop_id=account.shop_id,
        base_url=account.base_url,
    )


def registered_platforms() -> list[str]:
    return CONNECTORS.codes()


def connector_for(platform: str, credentials: Credentials, http: httpx.AsyncClient) -> ChannelConnector:
    if platform not in CONNECTORS:
        raise InvalidRequest(f"平台 {platform} 没有可用的连接器", platform_code="no_connector")
    return CONNECTORS.get(platform)(credentials, http)


def reply_error(gateway: str, api: str) -> wire.Fail:
    """How a platform gateway's HTTP failures read as platform errors (429 → RateLimited, 5xx or a body that is
    not a JSON object → PlatformUnavailable, any other non-200 → InvalidRequest)."""

    def fail(fault: wire.ReplyFault, reply: httpx.Response | None, exc: BaseException | None) -> Exception:
        status = reply.status_code if reply is not None else 0
        cause = type(exc).__name__ if exc is not None else ""
        if fault is wire.ReplyFault.TIMEOUT:
            return PlatformUnavailable(f"{gateway}接口 {api} 超时", platform_code="timeout", platform_message=cause)
        if fault is wire.ReplyFault.NETWORK:
            return PlatformUnavailable(f"无法连接{gateway}接口 {api}", platform_code="network", platform_message=cause)
        if fault is wire.ReplyFault.RATE_LIMITED:
            return RateLimited(
                f"{gateway}接口 {api} 限流（HTTP 429）",
                platform_code="http 429",
                retry_after=wire.retry_after(reply.headers.get("retry-after") if reply is not None else None),
            )
        if fault is wire.ReplyFault.UNAVAILABLE:
            return PlatformUnavailable(f"{gateway}网关错误（HTTP {status}）", platform_code=f"http {status}")
        if fault is wire.ReplyFault.REFUSED:
            return InvalidRequest(f"{gateway}网关拒绝了请求（HTTP {status}）", platform_code=f"http {status}")
        if fault is wire.ReplyFault.UNREADABLE:
            text = reply.text[:200] if reply is not None else ""
            return PlatformUnavailable(
                f"{gateway}网关返回了无法解析的内容", platform_code="bad_response", platform_message=text
            )
        return PlatformUnavailable(f"{gateway}网关返回了意外的结构", platform_code="bad_response")

    return fail


def json_reply(reply: httpx.Response, *, gateway: str, api: str) -> dict[str, Any]:
    """The JSON object a platform gateway answered (status 200 only), or the typed error its failure means."""
    return wire.json_object(reply, reply_error(gateway, api), only_200=True)


# --------------------------------------------------------------------------------------------- platform pushes


class PushReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """What one verified push delivery says, in the hub's terms."""

    messages: int  # messages in the delivery
    relevant: int  # messages that mean an order changed (the channel is pulled at once)
    # Refunds the messages carry (refund id, order, amount): after-sale cases (orderhub.orders.aftersales), one per
    # channel and refund id however often they are sent.
    refunds: list[PlatformRefund] = []


class PushReceiver(Protocol):
    """A platform's message push (webhook): verified with the shop's keys, read only for *whether* an order
    changed (the pull that follows reads the platform's truth)."""

    platform: ClassVar[str]
    reply: ClassVar[bytes]  # what the platform expects as the answer to a delivery it should not retry

    def verify(self, credentials: Credentials, body: bytes, headers: Mapping[str, str]) -> bool:
        """Whether the delivery is the platform's for this shop's app (raw body as received; constant-time)."""
        ...

    def read(self, body: bytes) -> PushReceipt:
        """A verified delivery, read (ValidationFailed when it is not the platform's push format)."""
        ...


# Filled by the composition root: platform code → its push receiver (platforms that push).
PUSH_RECEIVERS: Registry[PushReceiver] = Registry("push receiver")
