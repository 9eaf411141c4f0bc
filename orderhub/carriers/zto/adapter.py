"""中通快递 adapter: the :class:`~orderhub.carriers.port.Carrier` port over :mod:`.client` and :mod:`.mapper`.

* create_waybill: ``zto.open.createOrder`` with ``partnerOrderCode = order_ref``. ZTO deduplicates on the partner
  order code and answers a repeat with the waybill it already issued, so a retry never orders a second parcel.
* cancel_waybill: ``zto.open.cancelPreOrder`` by billCode.
* track: ``zto.merchant.waybill.track.query`` by billCode.
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from orderhub.carriers.port import (
    Carrier,
    CarrierCredentials,
    CarrierUnavailable,
    TrackingEvent,
    Waybill,
    WaybillRequest,
    refuse_international,
)
from orderhub.carriers.zto import mapper
from orderhub.carriers.zto.client import ZtoClient

__all__ = ["API_CANCEL", "API_CREATE", "API_TRACK", "ZtoCarrier", "create_carrier"]

API_CREATE = "zto.open.createOrder"
API_CANCEL = "zto.open.cancelPreOrder"
API_TRACK = "zto.merchant.waybill.track.query"


class ZtoCarrier:
    """ZTO Express for one ZOP application and 电子面单 account."""

    code: ClassVar[str] = mapper.CARRIER_CODE

    def __init__(
        self, credentials: CarrierCredentials, http: httpx.AsyncClient, *, client: ZtoClient | None = None
    ) -> None:
        self.client = client or ZtoClient(credentials, http)
        self._account_id = credentials.customer_code
        self._account_password = credentials.customer_password

    def __repr__(self) -> str:
        return f"ZtoCarrier({self.client!r})"

    async def create_waybill(self, request: WaybillRequest) -> Waybill:
        refuse_international(request, "中通")  # no international service behind this adapter
        body = mapper.create_order_body(request, account_id=self._account_id, account_password=self._account_password)
        result = await self.client.call(API_CREATE, body)
        try:
            return mapper.to_waybill(result, order_ref=request.order_ref)
        except mapper.ZtoPayloadError as exc:
            raise CarrierUnavailable(f"无法读取中通运单：{exc}", carrier_code="unmappable_waybill") from None

    async def cancel_waybill(self, waybill: Waybill) -> None:
        await self.client.call(API_CANCEL, mapper.cancel_order_body(waybill))

    async def track(self, waybill_no: str) -> list[TrackingEvent]:
        result = await self.client.call(API_TRACK, mapper.track_query_body(waybill_no))
        try:
            return mapper.to_events(result)
        except mapper.ZtoPayloadError as exc:
            raise CarrierUnavailable(f"无法读取中通轨迹：{exc}", carrier_code="unmappable_routes") from None


def create_carrier(credentials: CarrierCredentials, http: httpx.AsyncClient) -> Carrier:
    """The factory ``server.wiring`` registers in ``CARRIERS`` under this carrier's catalogue code."""
    return ZtoCarrier(credentials, http)

