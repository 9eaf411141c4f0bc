"""The carrier port: what the hub needs from an express company (快递公司), in the hub's own terms.

Each carrier adapter lives in ``orderhub/carriers/<code>/`` as three layers, like the channel connectors:
``client.py`` (wire format and digest only; errors raised as the typed :class:`CarrierError` subclasses),
``mapper.py`` (carrier payload ↔ the Structs below; money integer fen, weights grams, times aware UTC) and
``adapter.py`` (implements :class:`Carrier`; ``server.wiring`` registers its factory in :data:`CARRIERS` under
the carrier's catalogue code, :mod:`orderhub.carriers.catalogue`). Nothing carrier-shaped passes the mapper.

Parcel tracking across carriers goes through :class:`Tracker` (the 快递100 adapter in ``orderhub/carriers/kuaidi100/``),
registered in :data:`TRACKERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import httpx
import msgspec

from orderhub import wire
from orderhub.carriers.errors import CarrierErrorCode
from orderhub.errors import OrderHubError
from orderhub.orders.commands import ReceiverCipher
from orderhub.registry import Registry

__all__ = [
    "CARRIERS",
    "PLATFORM_WAYBILLS",
    "TRACKERS",
    "Carrier",
    "CarrierCredentials",
    "CarrierError",
    "CarrierFactory",
    "CarrierUnavailable",
    "CustomsDeclaration",
    "CustomsIncomplete",
    "CustomsLine",
    "DigestRejected",
    "InternationalUnsupported",
    "InvalidWaybillRequest",
    "OutOfServiceArea",
    "Party",
    "PlatformWaybillAccount",
    "PlatformWaybillFactory",
    "PushedTracking",
    "QuotaExhausted",
    "TimestampExpired",
    "Tracker",
    "TrackerAccount",
    "TrackingEvent",
    "TrackingPayloadError",
    "TrackingState",
    "Waybill",
    "WaybillItem",
    "WaybillRequest",
    "carrier_for",
    "cloud_print_waybill",
    "is_international",
    "post_json",
    "refuse_international",
    "registered_carriers",
    "reply_error",
]


class Party(msgspec.Struct, frozen=True, kw_only=True):
    """Sender or receiver as the carrier needs them (full, unmasked: only the carrier sees them).

    A receiver the platform keeps encrypted has ``cipher`` and masked ``name``/``phone``/``detail``: only that
    platform's e-waybill service (:data:`PLATFORM_WAYBILLS`) can print it; a carrier's own API needs clear fields.

    Outside China (``country`` an ISO 3166-1 alpha-2 code other than "CN"): ``province`` is the region (state,
    province, changwat), ``city`` the city, ``detail`` the address lines joined with "\n", ``postcode`` the postal
    code, ``district`` empty — as :class:`orderhub.orders.commands.Receiver` keeps them."""

    name: str
    phone: str
    province: str
    city: str
    district: str = ""
    detail: str  # street address without the province/city/district
    company: str = ""
    cipher: ReceiverCipher | None = None
    country: str = "CN"  # ISO 3166-1 alpha-2
    postcode: str = ""

    def __repr__(self) -> str:  # never a clear name, phone or address (logs, tracebacks)
        return (
            f"Party(province={self.province!r}, city={self.city!r}, country={self.country!r}, "
            f"encrypted={self.cipher is not None})"
        )


def is_international(party: Party) -> bool:
    """Whether a party is outside the Chinese 省/市/区 form (its country is set and is not "CN")."""
    return (party.country or "CN").strip().upper() != "CN"


class WaybillItem(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    qty: int


class CustomsLine(msgspec.Struct, frozen=True, kw_only=True):
    """One declared line of an international parcel, in the hub's terms (see :class:`CustomsDeclaration`)."""

    sku: str
    name_en: str  # the English description customs read
    name_local: str = ""  # in the destination's language (Thai for TH), "" when none is needed
    name_zh: str = ""
    hs_code: str = ""  # 6–10 digits, no dots
    origin_country: str = ""  # ISO 3166-1 alpha-2
    qty: int
    unit_weight_g: int
    unit_value: int  # minor units of the declaration's ``currency``
    material: str = ""
    usage: str = ""


class CustomsDeclaration(msgspec.Struct, frozen=True, kw_only=True):
    """What an international parcel declares at the border: its lines, the declared total and currency, and why it
    is sent (``category``: sale_of_goods, gift, commercial_sample, documents, returned_goods, other — the CN22 /
    CN23 boxes). Money in minor units of ``currency`` (ISO 4217); weights grams."""

    currency: str
    total_value: int
    lines: list[CustomsLine]
    category: str = "sale_of_goods"


class WaybillRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One parcel to ship. ``order_ref`` is the hub's id for the request — unique per shipment and stable across
    retries, so asking twice returns the same waybill (the carriers deduplicate on it).

    A receiver outside China (:func:`is_international`) needs ``customs``; a carrier without an international
    service refuses it (:func:`refuse_international`)."""

    order_ref: str
    sender: Party
    receiver: Party
    weight_g: int
    parcels: int = 1
    declared_value_fen: int = 0
    items: list[WaybillItem] = []
    service: str = "standard"  # the carrier's product, mapped by the adapter (e.g. SF 顺丰标快)
    remark: str = ""
    customs: CustomsDeclaration | None = None  # an international parcel's declaration


class Waybill(msgspec.Struct, frozen=True, kw_only=True):
    carrier: str  # the hub's carrier code: "SF", "ZTO", "JT"
    waybill_no: str
    order_ref: str
    sort_code: str = ""  # 大头笔 / 三段码 / 区域码 the label prints, when the carrier gives one
    origin_code: str = ""
    destination_code: str = ""
    # A platform e-waybill service's print data (encrypted, for the platform's own print component) and whether the
    # label must use the privacy layout (masked receiver, no clear phone).
    print_data: str = ""
    privacy: bool = False


class TrackingState(StrEnum):
    COLLECTED = "collected"  # 已揽收
    IN_TRANSIT = "in_transit"  # 运输中
    OUT_FOR_DELIVERY = "out_for_delivery"  # 派件中
    SIGNED = "signed"  # 已签收
    EXCEPTION = "exception"  # 异常（疑难件、拒收 …）
    RETURNED = "returned"  # 退回


class TrackingEvent(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime  # aware
    state: TrackingState
    description: str  # the carrier's zh-CN text
    location: str = ""


class CarrierCredentials(msgspec.Struct, kw_only=True):
    """What an adapter needs to call the carrier (sealed at rest like channel credentials)."""

    partner_id: str  # SF partnerID / ZTO appKey (company id) / J&T apiAccount
    secret: str  # SF checkWord / ZTO appSecret / J&T privateKey
    customer_code: str = ""  # monthly account / customer code (月结卡号 / 客户编码)
    customer_password: str = ""  # J&T customer password (its business digest)
    base_url: str = ""  # the gateway to call instead of production (a simulator)
    # The pick-up point's postal code, for carriers whose international orders need the sender's (SF: postCode
    # "跨境件必填"); Chinese addresses are kept without one.
    sender_postcode: str = ""

    def __repr__(self) -> str:  # never the secret
        return f"CarrierCredentials(partner_id={self.partner_id!r}, base_url={self.base_url!r})"


class CarrierError(OrderHubError):
    """A carrier refused or failed a call; ``carrier_code`` / ``carrier_message`` are the carrier's own."""

    code = CarrierErrorCode.CARRIER_ERROR
    retryable: ClassVar[bool] = False

    def __init__(self, message: str | None = None, *, carrier_code: str = "", carrier_message: str = "") -> None:
        # The carrier's own code and text travel in the problem details, so the pack station can show them.
        extra = {k: v for k, v in (("carrier_code", carrier_code), ("carrier_message", carrier_message)) if v}
        super().__init__(message or self.default_message, extra=extra)
        self.carrier_code = carrier_code
        self.carrier_message = carrier_message


class DigestRejected(CarrierError):
    code = CarrierErrorCode.DIGEST_REJECTED


class TimestampExpired(CarrierError):
    code = CarrierErrorCode.TIMESTAMP_EXPIRED


class OutOfServiceArea(CarrierError):
    code = CarrierErrorCode.OUT_OF_SERVICE_AREA


class QuotaExhausted(CarrierError):
    code = CarrierErrorCode.QUOTA_EXHAUSTED


class InvalidWaybillRequest(CarrierError):
    code = CarrierErrorCode.INVALID_REQUEST


class CarrierUnavailable(CarrierError):
    code = CarrierErrorCode.UNAVAILABLE
    retryable = True


class InternationalUnsupported(InvalidWaybillRequest):
    """The carrier (or the hub's adapter for it) has no international service: it is never sent a foreign
    receiver's address squeezed into the 省/市/区 form."""

    code = CarrierErrorCode.INTERNATIONAL_UNSUPPORTED


class CustomsIncomplete(InvalidWaybillRequest):
    """An international waybill request lacks what the carrier's declaration needs."""

    code = CarrierErrorCode.CUSTOMS_INCOMPLETE


def refuse_international(request: WaybillRequest, carrier_name: str) -> None:
    """For the adapters of carriers without an international service: a receiver outside China is refused with
    :class:`InternationalUnsupported` before anything is sent."""
    if is_international(request.receiver):
        country = request.receiver.country.strip().upper()
        raise InternationalUnsupported(
            f"该承运商不支持国际件：{carrier_name}无法寄往 {country}",
            carrier_code="international_unsupported",
            carrier_message=country,
        )


class Carrier(Protocol):
    code: ClassVar[str]

    async def create_waybill(self, request: WaybillRequest) -> Waybill:
        """Order a waybill (电子面单). Idempotent on ``request.order_ref``: a repeat returns the same waybill."""
        ...

    async def cancel_waybill(self, waybill: Waybill) -> None:
        """Cancel an unused waybill."""
        ...

    async def track(self, waybill_no: str) -> list[TrackingEvent]:
        """The parcel's route so far, oldest first."""
        ...


CarrierFactory = Callable[[CarrierCredentials, httpx.AsyncClient], Carrier]

# Filled by the composition root (``server.wiring``): hub carrier code (catalogue code) → factory.
CARRIERS: Registry[CarrierFactory] = Registry("carrier")


class PlatformWaybillAccount(msgspec.Struct, kw_only=True):
    """An e-waybill account at a sales platform's own service (抖音电子面单, 拼多多电子面单, 菜鸟): waybills of an
    express company (``carrier``) issued through the platform, which accepts the platform's receiver ciphertext.

    The platform credentials are the shop's (its app key, secret and access token); ``settings`` are the account's
    own (网点 / 月结 / 发货地址 ids, the carrier's product), as the service names them."""

    platform: str  # the sales platform's catalogue code: douyin, pdd, taobao
    carrier: str  # the express company's hub code: ZTO, SF, JT …
    app_key: str
    app_secret: str
    access_token: str = ""
    shop_id: str = ""
    base_url: str = ""  # the platform gateway to call instead of production (a simulator)
    settings: dict[str, str] = {}

    def __repr__(self) -> str:  # never the secret or the token
        return f"PlatformWaybillAccount(platform={self.platform!r}, carrier={self.carrier!r}, shop_id={self.shop_id!r})"


PlatformWaybillFactory = Callable[[PlatformWaybillAccount, httpx.AsyncClient], Carrier]

def cloud_print_waybill(modules: object, request: WaybillRequest, carrier: str, service: str) -> Waybill:
    """The waybill of ``request`` in a cloud-print apply answer (拼多多 ``pdd.waybill.get``, 菜鸟
    ``cainiao.waybill.ii.get`` share its shape: modules of ``object_id``, ``waybill_code``, ``print_data``)."""
    found = [m for m in modules if isinstance(m, dict)] if isinstance(modules, list) else []
    module = next((m for m in found if str(m.get("object_id")) == request.order_ref), None)
    if module is None or not module.get("waybill_code"):
        raise CarrierUnavailable(f"{service}未返回面单号", carrier_code="bad_response")
    return Waybill(
        carrier=carrier,
        waybill_no=str(module["waybill_code"]),
        order_ref=request.order_ref,
        print_data=str(module.get("print_data") or ""),
        privacy=True,
    )


# Filled by the composition root: sales platform code → its e-waybill service. ``create_waybill`` takes a receiver
# whose ``cipher`` is that platform's (or a clear one); the Waybill it returns has ``privacy=True``.
PLATFORM_WAYBILLS: Registry[PlatformWaybillFactory] = Registry("platform e-waybill service")


def registered_carriers() -> list[str]:
    return CARRIERS.codes()


def carrier_for(code: str, credentials: CarrierCredentials, http: httpx.AsyncClient) -> Carrier:
    if code not in CARRIERS:
        raise InvalidWaybillRequest(f"不支持的快递公司 {code}", carrier_code="unknown_carrier")
    return CARRIERS.get(code)(credentials, http)


def reply_error(name: str) -> wire.Fail:
    """How a carrier gateway's HTTP failures read as carrier errors: timeouts, network failures, 5xx/429 and
    unreadable replies are :class:`CarrierUnavailable` (retryable); other 4xx :class:`InvalidWaybillRequest`.
    ``name`` says which interface, in the zh-CN messages ("顺丰接口 EXP_RECE_CREATE_ORDER")."""

    def fail(fault: wire.ReplyFault, reply: httpx.Response | None, exc: BaseException | None) -> Exception:
        status = reply.status_code if reply is not None else 0
        cause = type(exc).__name__ if exc is not None else ""
        if fault is wire.ReplyFault.TIMEOUT:
            return CarrierUnavailable(f"{name} 超时", carrier_code="timeout", carrier_message=cause)
        if fault is wire.ReplyFault.NETWORK:
            return CarrierUnavailable(f"无法连接{name}", carrier_code="network", carrier_message=cause)
        if fault in (wire.ReplyFault.RATE_LIMITED, wire.ReplyFault.UNAVAILABLE):
            return CarrierUnavailable(f"{name} 暂不可用（HTTP {status}）", carrier_code=f"http_{status}")
        if fault is wire.ReplyFault.REFUSED:
            return InvalidWaybillRequest(f"{name} 拒绝了请求（HTTP {status}）", carrier_code=f"http_{status}")
        if fault is wire.ReplyFault.UNREADABLE:
            return CarrierUnavailable(f"{name} 返回了无法解析的内容", carrier_code="bad_response")
        return CarrierUnavailable(f"{name} 返回了意外的结构", carrier_code="bad_response")

    return fail


async def post_json(
    http: httpx.AsyncClient, url: str, *, name: str, timeout: httpx.Timeout, **request: Any
) -> dict[str, Any]:
    """POST to a carrier gateway and return the reply's JSON object; failures as :func:`reply_error` says."""
    return await wire.post_json(http, url, reply_error(name), timeout=timeout, **request)


# ---------------------------------------------------------------------------------------------- the tracking port


class TrackerAccount(msgspec.Struct, frozen=True, kw_only=True):
    """The hub's account at a tracking service (快递100: 授权 key and customer), sealed at rest."""

    key: str
    customer: str
    base_url: str = ""  # the gateway to call instead of production (a simulator)

    def __repr__(self) -> str:  # never the key
        return f"TrackerAccount(customer={self.customer!r}, base_url={self.base_url!r})"


class PushedTracking(msgspec.Struct, frozen=True, kw_only=True):
    """A tracking service's push, read: the parcel it is about and its route so far (oldest first)."""

    waybill_no: str
    carrier: str  # the hub's carrier code when the service named a known one, else ""
    events: list[TrackingEvent]


class TrackingPayloadError(ValueError):
    """A tracking service's push or reply lacks what the hub needs."""


class Tracker(Protocol):
    """A parcel-tracking service (快递100 …) for every carrier: subscribe a parcel for pushes, verify and read a
    push, query a parcel whose pushes stopped. ``carrier`` arguments are the hub's carrier codes."""

    code: ClassVar[str]

    async def subscribe(
        self, account: TrackerAccount, http: httpx.AsyncClient, carrier: str, waybill_no: str, *, callback_url: str,
        salt: str, origin: str = "", destination: str = "",
    ) -> None:
        """Ask for pushes to ``callback_url``, signed with ``salt`` (already subscribed counts as success).
        ``origin`` and ``destination`` ("省市区" of the sending warehouse and of the receiver, "" when unknown) help
        the service judge arrival and delivery."""
        ...

    def verify_push(self, param: str, sign: str, salt: str) -> bool:
        """Whether a push is the service's, signed with this parcel's ``salt`` (constant-time)."""
        ...

    def parse_push(self, param: str) -> PushedTracking:
        """A verified push, read (:class:`TrackingPayloadError` when it cannot be)."""
        ...

    def push_reply(self, accepted: bool) -> bytes:
        """The body the push endpoint answers with (the service retries until it sees acceptance)."""
        ...

    async def query(
        self, account: TrackerAccount, http: httpx.AsyncClient, carrier: str, waybill_no: str
    ) -> list[TrackingEvent]:
        """The parcel's route so far, oldest first (none yet: an empty list)."""
        ...


# Filled by the composition root: tracking service code ("kuaidi100") → adapter.
TRACKERS: Registry[Tracker] = Registry("tracker")
