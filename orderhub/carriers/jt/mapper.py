"""J&T payloads ↔ the carrier port's Structs. Nothing J&T-shaped passes this module.

* :func:`add_order_biz`: a :class:`WaybillRequest` as the ``order/addOrder`` bizContent (weights grams → kg, the
  hub's ``service`` → ``expressType``, 寄付月结). The client adds ``customerCode`` and the business digest.
* :func:`to_waybill`: the addOrder reply (``billCode``, ``sortingCode`` = 三段码) → :class:`Waybill`.
* :func:`to_print_data`: the ``order/printOrder`` reply → the label PDF and its fields.
* :func:`to_events`: the ``logistics/trace`` reply → :class:`TrackingEvent` list, oldest first, Beijing
  ``scanTime`` → aware UTC.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from orderhub.carriers.port import (
    InvalidWaybillRequest,
    Party,
    TrackingEvent,
    TrackingState,
    Waybill,
    WaybillRequest,
)
from orderhub.wire import beijing_time

__all__ = [
    "CARRIER_CODE",
    "EXPRESS_TYPES",
    "SCAN_TYPE_STATES",
    "JtPayloadError",
    "add_order_biz",
    "cancel_order_biz",
    "print_order_biz",
    "state_for_scan_type",
    "to_events",
    "to_print_data",
    "to_waybill",
    "trace_biz",
]

CARRIER_CODE = "JT"

# The hub's service names → J&T expressType. EZ 标准快递 is what 电商 sellers ship; the others are listed by J&T
# for some accounts only.
EXPRESS_TYPES: dict[str, str] = {
    "standard": "EZ",
    "标快": "EZ",
    "标准快递": "EZ",
}

# The fixed order fields as the integration brief gives them (not checked against J&T's current docs).
ORDER_TYPE_MONTHLY = "1"  # orderType 1: contract (月结) customer
SERVICE_TYPE_PICKUP = "01"  # serviceType: 01 上门取件, 02 网点自寄
DELIVERY_TYPE_HOME = "04"  # deliveryType 04 (meaning unverified)
PAY_TYPE_MONTHLY = "PP_PM"  # payType: PP_PM 寄付月结, PP_CASH 寄付现结, CC_CASH 到付
DEFAULT_CANCEL_REASON = "客户取消订单"

# scanType (扫描类型) → state. J&T's trace lists these Chinese scan names; types not listed (入仓扫描, 集包扫描,
# 装车扫描, 中转 …) are treated as in transit, which is what most scans are. 出仓扫描 is the courier leaving the
# delivery outlet with the parcel, i.e. out for delivery, like 派件扫描. 退件 / 退回 scans win over 签收
# (a 退件签收 is the sender receiving it back), which is why they are listed explicitly.
SCAN_TYPE_STATES: dict[str, TrackingState] = {
    "快件揽收": TrackingState.COLLECTED,
    "揽收扫描": TrackingState.COLLECTED,
    "发件扫描": TrackingState.IN_TRANSIT,
    "到件扫描": TrackingState.IN_TRANSIT,
    "入仓扫描": TrackingState.IN_TRANSIT,
    "出仓扫描": TrackingState.OUT_FOR_DELIVERY,
    "派件扫描": TrackingState.OUT_FOR_DELIVERY,
    "快件签收": TrackingState.SIGNED,
    "代收点签收": TrackingState.SIGNED,
    "驿站签收": TrackingState.SIGNED,
    "问题件扫描": TrackingState.EXCEPTION,
    "留仓扫描": TrackingState.EXCEPTION,
    "退件": TrackingState.RETURNED,
    "退件扫描": TrackingState.RETURNED,
    "退件签收": TrackingState.RETURNED,
    "退回件": TrackingState.RETURNED,
}


class JtPayloadError(ValueError):
    """A J&T reply lacks what the mapper needs."""


def _kg(weight_g: int) -> str:
    return str((Decimal(weight_g) / 1000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _party(party: Party) -> dict[str, Any]:
    contact: dict[str, Any] = {
        "name": party.name,
        "mobile": party.phone.strip(),
        "prov": party.province,
        "city": party.city,
        "area": party.district,
        "address": party.detail,
    }
    if party.company:
        contact["company"] = party.company
    return contact


def add_order_biz(request: WaybillRequest) -> dict[str, Any]:
    """The ``order/addOrder`` bizContent for one request (without ``customerCode`` / ``digest``)."""
    if request.weight_g <= 0:
        raise InvalidWaybillRequest("包裹重量必须大于 0 克", carrier_code="bad_weight")
    if request.parcels <= 0:
        raise InvalidWaybillRequest("包裹件数必须大于 0", carrier_code="bad_parcels")
    try:
        express_type = EXPRESS_TYPES[request.service]
    except KeyError:
        raise InvalidWaybillRequest(f"极兔不支持产品 {request.service}", carrier_code="bad_service") from None
    items = [{"itemName": item.name, "number": item.qty} for item in request.items] or [
        {"itemName": "商品", "number": 1}
    ]
    biz: dict[str, Any] = {
        "txlogisticId": request.order_ref,
        "expressType": express_type,
        "orderType": ORDER_TYPE_MONTHLY,
        "serviceType": SERVICE_TYPE_PICKUP,
        "deliveryType": DELIVERY_TYPE_HOME,
        "payType": PAY_TYPE_MONTHLY,
        "sender": _party(request.sender),
        "receiver": _party(request.receiver),
        "weight": _kg(request.weight_g),
        "totalQuantity": request.parcels,
        "items": items,
    }
    if request.declared_value_fen > 0:
        biz["offerFee"] = str(Decimal(request.declared_value_fen) / 100)
    if request.remark:
        biz["remark"] = request.remark
    return biz


def print_order_biz(waybill_no: str) -> dict[str, Any]:
    """The ``order/printOrder`` bizContent (without ``customerCode`` / ``digest``)."""
    return {"billCode": waybill_no}


def cancel_order_biz(waybill: Waybill, reason: str = DEFAULT_CANCEL_REASON) -> dict[str, Any]:
    """The ``order/cancelOrder`` bizContent (without ``customerCode`` / ``digest``)."""
    return {"txlogisticId": waybill.order_ref, "orderType": ORDER_TYPE_MONTHLY, "reason": reason}


def trace_biz(waybill_no: str) -> dict[str, Any]:
    """The ``logistics/trace`` bizContent (``billCodes`` is comma-separated)."""
    return {"billCodes": waybill_no}


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def to_waybill(data: object, *, order_ref: str) -> Waybill:
    """An addOrder reply as a :class:`Waybill`."""
    if not isinstance(data, dict):
        raise JtPayloadError("data is not an object")
    bill_code = _text(data.get("billCode"))
    if not bill_code:
        raise JtPayloadError("no billCode")
    return Waybill(
        carrier=CARRIER_CODE,
        waybill_no=bill_code,
        order_ref=_text(data.get("txlogisticId")) or order_ref,
        sort_code=_text(data.get("sortingCode")),
        destination_code=_text(data.get("lastCenterName")),
    )


def to_print_data(data: object, waybill_no: str) -> dict[str, Any]:
    """A printOrder reply as ``{"waybill_no", "sort_code", "pdf"}`` (``pdf`` is bytes, empty when none)."""
    if not isinstance(data, dict):
        raise JtPayloadError("data is not an object")
    encoded = _text(data.get("base64EncodeContent"))
    try:
        pdf = base64.b64decode(encoded, validate=True) if encoded else b""
    except (binascii.Error, ValueError):
        raise JtPayloadError("base64EncodeContent is not base64") from None
    return {
        "waybill_no": _text(data.get("billCode")) or waybill_no,
        "sort_code": _text(data.get("sortingCode")),
        "pdf": pdf,
    }


def state_for_scan_type(scan_type: str) -> TrackingState:
    return SCAN_TYPE_STATES.get(scan_type.strip(), TrackingState.IN_TRANSIT)


def _beijing(value: object) -> datetime:
    return beijing_time(value, JtPayloadError, "scanTime")


def to_events(data: object, waybill_no: str) -> list[TrackingEvent]:
    """The scans of ``waybill_no`` in a trace reply, oldest first (an unknown waybill → no events)."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise JtPayloadError("data is not a list")
    events: list[TrackingEvent] = []
    for entry in data:
        if not isinstance(entry, dict) or _text(entry.get("billCode")) not in ("", waybill_no):
            continue
        details = entry.get("details") or []
        if not isinstance(details, list):
            raise JtPayloadError("details is not a list")
        for detail in details:
            if not isinstance(detail, dict):
                continue
            events.append(
                TrackingEvent(
                    at=_beijing(detail.get("scanTime")),
                    state=state_for_scan_type(_text(detail.get("scanType"))),
                    description=_text(detail.get("desc")),
                    location=_text(detail.get("scanNetworkName")),
                )
            )
    # J&T lists newest first; reverse before the stable sort so same-second scans keep their real order.
    events.reverse()
    events.sort(key=lambda event: event.at)
    return events
