"""The carrier port: what the hub needs from an express company (快递公司), in the hub's own terms.

Each carrier adapter lives in ``orderhub/carriers/<code>/`` as three layers, like the channel connectors:
``client.py`` (wire format and digest only; errors raised as the typed :class:`CarrierError` subclasses),
``mapper.py`` (carrier payload ↔ the Structs below; money integer fen, weights grams, times aware UTC) and
``adapter.py`` (implements :class:`Carrier` and registers a factory by carrier code with :func:`register`).
Nothing carrier-shaped passes the mapper.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Protocol

import httpx
import msgspec

from orderhub.errors import OrderHubError

__all__ = [
    "Carrier",
    "CarrierCredentials",
    "CarrierError",
    "CarrierFactory",
    "CarrierUnavailable",
    "DigestRejected",
    "InvalidWaybillRequest",
    "OutOfServiceArea",
    "Party",
    "QuotaExhausted",
    "TimestampExpired",
    "TrackingEvent",
    "TrackingState",
    "Waybill",
    "WaybillItem",
    "WaybillRequest",
    "carrier_for",
    "register",
    "registered_carriers",
]


class Party(msgspec.Struct, frozen=True, kw_only=True):
    """Sender or receiver as the carrier needs them (full, unmasked: only the carrier sees them)."""

    name: str
    phone: str
    province: str
    city: str
    district: str = ""
    detail: str  # street address without the province/city/district
    company: str = ""


class WaybillItem(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    qty: int


class WaybillRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One parcel to ship. ``order_ref`` is the hub's id for the request — unique per shipment and stable across
    retries, so asking twice returns the same waybill (the carriers deduplicate on it)."""

    order_ref: str
    sender: Party
    receiver: Party
    weight_g: int
    parcels: int = 1
    declared_value_fen: int = 0
    items: list[WaybillItem] = []
    service: str = "standard"  # the carrier's product, mapped by the adapter (e.g. SF 顺丰标快)
    remark: str = ""


class Waybill(msgspec.Struct, frozen=True, kw_only=True):
    carrier: str  # the hub's carrier code: "SF", "ZTO", "JT"
    waybill_no: str
    order_ref: str
    sort_code: str = ""  # 大头笔 / 三段码 / 区域码 the label prints, when the carrier gives one
    origin_code: str = ""
    destination_code: str = ""


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

    def __repr__(self) -> str:  # never the secret
        return f"CarrierCredentials(partner_id={self.partner_id!r}, base_url={self.base_url!r})"


class CarrierError(OrderHubError):
    """A carrier refused or failed a call; ``carrier_code`` / ``carrier_message`` are the carrier's own."""

    code = "carrier_error"
    default_message = "快递公司接口调用失败"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str | None = None, *, carrier_code: str = "", carrier_message: str = "") -> None:
        # The carrier's own code and text travel in the problem details, so the pack station can show them.
        extra = {k: v for k, v in (("carrier_code", carrier_code), ("carrier_message", carrier_message)) if v}
        super().__init__(message or self.default_message, extra=extra)
        self.carrier_code = carrier_code
        self.carrier_message = carrier_message


class DigestRejected(CarrierError):
    code = "carrier_digest_rejected"
    default_message = "快递公司拒绝了签名（请检查校验码 / 密钥）"


class TimestampExpired(CarrierError):
    code = "carrier_timestamp_expired"
    default_message = "请求时间戳已过期（请检查服务器时间）"


class OutOfServiceArea(CarrierError):
    code = "carrier_out_of_service_area"
    default_message = "收件地址不在该快递的服务范围内"


class QuotaExhausted(CarrierError):
    code = "carrier_quota_exhausted"
    default_message = "电子面单余额不足，请充值或换快递"


class InvalidWaybillRequest(CarrierError):
    code = "carrier_invalid_request"
    default_message = "快递公司认为下单信息有误"


class CarrierUnavailable(CarrierError):
    code = "carrier_unavailable"
    default_message = "快递公司接口暂时不可用，稍后重试"
    retryable = True


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
_factories: dict[str, CarrierFactory] = {}


def register(code: str, factory: CarrierFactory) -> None:
    _factories[code] = factory


def registered_carriers() -> list[str]:
    _load_adapters()
    return sorted(_factories)


def carrier_for(code: str, credentials: CarrierCredentials, http: httpx.AsyncClient) -> Carrier:
    _load_adapters()
    try:
        factory = _factories[code]
    except KeyError as exc:
        raise InvalidWaybillRequest(f"不支持的快递公司 {code}", carrier_code="unknown_carrier") from exc
    return factory(credentials, http)


def _load_adapters() -> None:
    import importlib
    import pkgutil

    import orderhub.carriers as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"orderhub.carriers.{module.name}.adapter")
            except ModuleNotFoundError as exc:
                if exc.name != f"orderhub.carriers.{module.name}.adapter":
                    raise
