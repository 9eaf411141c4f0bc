"""极兔速递 adapter: the :class:`~orderhub.carriers.port.Carrier` port over :mod:`.client` and :mod:`.mapper`.

* create_waybill: ``order/addOrder`` with ``txlogisticId = order_ref``. J&T answers a repeated ``txlogisticId``
  with the waybill it already issued, so a retry never orders a second parcel.
* cancel_waybill: ``order/cancelOrder`` by ``txlogisticId``.
* track: ``logistics/trace`` by waybill number.
* print_data (beyond the port): ``order/printOrder`` → the label PDF.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from orderhub.carriers.jt import mapper
from orderhub.carriers.jt.client import JtClient
from orderhub.carriers.port import (
    Carrier,
    CarrierCredentials,
    CarrierUnavailable,
    TrackingEvent,
    Waybill,
    WaybillRequest,
    refuse_international,
)

__all__ = ["API_ADD_ORDER", "API_CANCEL_ORDER", "API_PRINT_ORDER", "API_TRACE", "JtCarrier", "create_carrier"]

API_ADD_ORDER = "order/addOrder"
API_PRINT_ORDER = "order/printOrder"
API_CANCEL_ORDER = "order/cancelOrder"
API_TRACE = "logistics/trace"


class JtCarrier:
    """J&T Express for one apiAccount / customerCode."""

    code: ClassVar[str] = mapper.CARRIER_CODE

    def __init__(
        self, credentials: CarrierCredentials, http: httpx.AsyncClient, *, client: JtClient | None = None
    ) -> None:
        self.client = client or JtClient(credentials, http)

    def __repr__(self) -> str:
        return f"JtCarrier({self.client!r})"

    async def create_waybill(self, request: WaybillRequest) -> Waybill:
        refuse_international(request, "极兔")  # no international service behind this adapter
        data = await self.client.call(API_ADD_ORDER, mapper.add_order_biz(request))
        try:
            return mapper.to_waybill(data, order_ref=request.order_ref)
        except mapper.JtPayloadError as exc:
            raise CarrierUnavailable(f"无法读取极兔运单：{exc}", carrier_code="unmappable_waybill") from None

    async def cancel_waybill(self, waybill: Waybill) -> None:
        await self.client.call(API_CANCEL_ORDER, mapper.cancel_order_biz(waybill))

    async def track(self, waybill_no: str) -> list[TrackingEvent]:
        data = await self.client.call(API_TRACE, mapper.trace_biz(waybill_no), customer=False)
        try:
            return mapper.to_events(data, waybill_no)
        except mapper.JtPayloadError as exc:
            raise CarrierUnavailable(f"无法读取极兔轨迹：{exc}", carrier_code="unmappable_trace") from None

    async def print_data(self, waybill_no: str) -> dict[str, Any]:
        """The label for ``waybill_no``: ``{"waybill_no", "sort_code", "pdf"}`` (``pdf`` bytes)."""
        data = await self.client.call(API_PRINT_ORDER, mapper.print_order_biz(waybill_no))
        try:
            return mapper.to_print_data(data, waybill_no)
        except mapper.JtPayloadError as exc:
            raise CarrierUnavailable(f"无法读取极兔面单：{exc}", carrier_code="unmappable_label") from None


def create_carrier(credentials: CarrierCredentials, http: httpx.AsyncClient) -> Carrier:
    """The factory ``server.wiring`` registers in ``CARRIERS`` under this carrier's catalogue code."""
    return JtCarrier(credentials, http)

