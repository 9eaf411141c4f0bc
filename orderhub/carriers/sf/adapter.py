"""顺丰速运 adapter: the :class:`~orderhub.carriers.port.Carrier` port over :mod:`.client` and :mod:`.mapper`.

* create_waybill: ``EXP_RECE_CREATE_ORDER`` with ``orderId = order_ref``. SF refuses a repeated ``orderId`` with
  business error 8016 (重复下单); the adapter then asks ``EXP_RECE_SEARCH_ORDER_RESP`` for that order and returns
  its waybill, so a retry never orders a second parcel. An address SF cannot serve is no error on SF's side but
  筛单结果 ``filterResult`` 3 (不可以收派) in the reply: :class:`OutOfServiceArea`.
  A receiver outside China goes as SF's cross-border order on the same service (:mod:`.intl`: the declaration's
  lines, postcodes, the international product); a domestic one exactly as before (:mod:`.mapper`).
* cancel_waybill: ``EXP_RECE_UPDATE_ORDER`` with ``dealType 2``.
* track: ``EXP_RECE_SEARCH_ROUTES`` by waybill number.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import httpx

from orderhub.carriers.port import (
    Carrier,
    CarrierCredentials,
    CarrierUnavailable,
    OutOfServiceArea,
    TrackingEvent,
    Waybill,
    WaybillRequest,
    is_international,
)
from orderhub.carriers.sf import intl, mapper
from orderhub.carriers.sf.client import DUPLICATE_ORDER, SfBusinessError, SfClient

__all__ = [
    "SERVICE_CANCEL",
    "SERVICE_CREATE",
    "SERVICE_ROUTES",
    "SERVICE_SEARCH_ORDER",
    "SfCarrier",
    "create_carrier",
]

log = logging.getLogger(__name__)

SERVICE_CREATE = "EXP_RECE_CREATE_ORDER"
SERVICE_SEARCH_ORDER = "EXP_RECE_SEARCH_ORDER_RESP"
SERVICE_CANCEL = "EXP_RECE_UPDATE_ORDER"
SERVICE_ROUTES = "EXP_RECE_SEARCH_ROUTES"


class SfCarrier:
    """SF Express for one partner account."""

    code: ClassVar[str] = mapper.CARRIER_CODE

    def __init__(
        self, credentials: CarrierCredentials, http: httpx.AsyncClient, *, client: SfClient | None = None
    ) -> None:
        self.client = client or SfClient(credentials, http)
        self._monthly_card = credentials.customer_code
        self._sender_postcode = credentials.sender_postcode

    def __repr__(self) -> str:
        return f"SfCarrier({self.client!r})"

    async def create_waybill(self, request: WaybillRequest) -> Waybill:
        if is_international(request.receiver):
            data = intl.create_order_data(
                request, monthly_card=self._monthly_card, sender_postcode=self._sender_postcode
            )
        else:
            data = mapper.create_order_data(request, monthly_card=self._monthly_card)
        try:
            reply = await self.client.call(SERVICE_CREATE, data)
        except SfBusinessError as exc:
            if exc.carrier_code != DUPLICATE_ORDER:
                raise
            log.info("sf order %s already placed; fetching its waybill", request.order_ref)
            reply = await self.client.call(SERVICE_SEARCH_ORDER, mapper.search_order_data(request.order_ref))
        reason = mapper.unservable(reply)
        if reason is not None:
            raise OutOfServiceArea(
                f"收件地址不在顺丰收派范围：{reason}",
                carrier_code=f"filterResult={mapper.FILTER_UNSERVABLE}",
                carrier_message=reason,
            )
        try:
            return mapper.to_waybill(reply, order_ref=request.order_ref)
        except mapper.SfPayloadError as exc:
            raise CarrierUnavailable(f"无法读取顺丰运单：{exc}", carrier_code="unmappable_waybill") from None

    async def cancel_waybill(self, waybill: Waybill) -> None:
        await self.client.call(SERVICE_CANCEL, mapper.cancel_order_data(waybill))

    async def track(self, waybill_no: str) -> list[TrackingEvent]:
        reply = await self.client.call(SERVICE_ROUTES, mapper.search_routes_data(waybill_no))
        try:
            return mapper.to_events(reply, waybill_no)
        except mapper.SfPayloadError as exc:
            raise CarrierUnavailable(f"无法读取顺丰路由：{exc}", carrier_code="unmappable_routes") from None


def create_carrier(credentials: CarrierCredentials, http: httpx.AsyncClient) -> Carrier:
    """The factory ``server.wiring`` registers in ``CARRIERS`` under this carrier's catalogue code."""
    return SfCarrier(credentials, http)

