"""ZTO payloads ↔ the carrier port's Structs. Nothing ZTO-shaped passes this module.

* :func:`create_order_body`: a :class:`WaybillRequest` as the ``zto.open.createOrder`` body (partnerType 2 =
  电子面单账号, orderType 1 = 全网件, ``partnerOrderCode = order_ref``, weight in grams).
* :func:`to_waybill`: the createOrder ``result`` (``billCode``, ``bigMarkInfo.mark`` 大头笔, ``siteCode``) →
  :class:`Waybill`.
* :func:`to_events`: the ``zto.merchant.waybill.track.query`` ``result`` → :class:`TrackingEvent` list, oldest
  first; ``scanDate`` as ms since the epoch or Beijing ``yyyy-MM-dd HH:mm:ss`` → aware UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
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
    "CANCEL_NOT_WANTED",
    "CARRIER_CODE",
    "SCAN_TYPE_STATES",
    "ZtoPayloadError",
    "cancel_order_body",
    "create_order_body",
    "state_for_scan_type",
    "to_events",
    "to_waybill",
    "track_query_body",
]

CARRIER_CODE = "ZTO"

PARTNER_TYPE_WAYBILL_ACCOUNT = "2"  # partnerType: 1 集团客户, 2 非集团客户（电子面单账号）
ORDER_TYPE_NETWORK = "1"  # orderType: 1 全网件, 2 预约件（返回运单号）, 3 预约件（不返回运单号）
ACCOUNT_TYPE_WAYBILL = 1  # accountInfo.type: 1 电子面单账号
CANCEL_NOT_WANTED = "1"  # cancelType: 1 不想寄了, 2 下错单, 3 重复下单, 4 运费太贵 …

# 扫描类型 (scanType, the zh-CN names of the track query) and the English action codes of the track push → state.
# Types not listed (中转、装车、集包 …) are in-transit scans. 入库 / 代收 (驿站、快递柜) means the parcel waits near the
# receiver, which the hub shows as out for delivery.
SCAN_TYPE_STATES: dict[str, TrackingState] = {
    "收件": TrackingState.COLLECTED,  # 业务员已揽收
    "揽收": TrackingState.COLLECTED,
    "GOT": TrackingState.COLLECTED,
    "发件": TrackingState.IN_TRANSIT,  # 快件离开网点 / 中心
    "DEPARTURE": TrackingState.IN_TRANSIT,
    "到件": TrackingState.IN_TRANSIT,  # 快件到达网点 / 中心
    "ARRIVAL": TrackingState.IN_TRANSIT,
    "派件": TrackingState.OUT_FOR_DELIVERY,  # 业务员正在派件
    "DISPATCH": TrackingState.OUT_FOR_DELIVERY,
    "入库": TrackingState.OUT_FOR_DELIVERY,  # 已到驿站 / 快递柜，待取
    "INBOUND": TrackingState.OUT_FOR_DELIVERY,
    "签收": TrackingState.SIGNED,
    "第三方签收": TrackingState.SIGNED,  # 驿站 / 快递柜代签
    "SIGNED": TrackingState.SIGNED,
    "DEPARTURE_SIGNED": TrackingState.SIGNED,  # 出库签收（凭取货码取走）
    "HANDOVERSCAN_SIGNED": TrackingState.SIGNED,
    "问题件": TrackingState.EXCEPTION,  # 疑难件：地址不详、拒收、联系不上 …
    "PROBLEM": TrackingState.EXCEPTION,
    "退件": TrackingState.RETURNED,
    "退件签收": TrackingState.RETURNED,  # the sender signed for the return
    "RETURN_SCAN": TrackingState.RETURNED,
    "RETURN_SIGNED": TrackingState.RETURNED,
}

_MOBILE = re.compile(r"^1\d{10}$")


class ZtoPayloadError(ValueError):
    """A ZTO reply lacks what the mapper needs."""


def _contact(party: Party, prefix: str) -> dict[str, Any]:
    phone = party.phone.strip()
    return {
        f"{prefix}Name": party.name,
        f"{prefix}Mobile" if _MOBILE.match(phone) else f"{prefix}Phone": phone,
        f"{prefix}Province": party.province,
        f"{prefix}City": party.city,
        f"{prefix}District": party.district,
        f"{prefix}Address": party.detail,
    }


def create_order_body(request: WaybillRequest, *, account_id: str, account_password: str) -> dict[str, Any]:
    """The ``zto.open.createOrder`` body for one request."""
    if request.weight_g <= 0:
        raise InvalidWaybillRequest("包裹重量必须大于 0 克", carrier_code="bad_weight")
    if request.parcels <= 0:
        raise InvalidWaybillRequest("包裹件数必须大于 0", carrier_code="bad_parcels")
    if not account_id:
        raise InvalidWaybillRequest("缺少中通电子面单账号", carrier_code="no_account")
    items = [{"name": item.name, "quantity": item.qty} for item in request.items] or [{"name": "商品", "quantity": 1}]
    summary: dict[str, Any] = {"quantity": request.parcels, "weight": request.weight_g}  # grams
    if request.declared_value_fen > 0:
        summary["price"] = float(Decimal(request.declared_value_fen) / 100)  # yuan
    body: dict[str, Any] = {
        "partnerType": PARTNER_TYPE_WAYBILL_ACCOUNT,
        "orderType": ORDER_TYPE_NETWORK,
        "partnerOrderCode": request.order_ref,
        "accountInfo": {"accountId": account_id, "accountPassword": account_password, "type": ACCOUNT_TYPE_WAYBILL},
        "senderInfo": _contact(request.sender, "sender"),
        "receiveInfo": _contact(request.receiver, "receiver"),
        "orderItems": items,
        "summaryInfo": summary,
    }
    if request.remark:
        body["remark"] = request.remark
    return body


def cancel_order_body(waybill: Waybill, *, cancel_type: str = CANCEL_NOT_WANTED) -> dict[str, Any]:
    """The ``zto.open.cancelPreOrder`` body (by billCode)."""
    return {"cancelType": cancel_type, "orderCode": "", "billCode": waybill.waybill_no}


def track_query_body(waybill_no: str) -> dict[str, Any]:
    """The ``zto.merchant.waybill.track.query`` body."""
    return {"billCode": waybill_no}


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def to_waybill(result: object, *, order_ref: str) -> Waybill:
    """A createOrder ``result`` as a :class:`Waybill`."""
    if not isinstance(result, Mapping):
        raise ZtoPayloadError("result is not an object")
    bill_code = _text(result.get("billCode"))
    if not bill_code:
        raise ZtoPayloadError("no billCode")
    mark = result.get("bigMarkInfo")
    return Waybill(
        carrier=CARRIER_CODE,
        waybill_no=bill_code,
        order_ref=_text(result.get("partnerOrderCode")) or order_ref,
        sort_code=_text(mark.get("mark")) if isinstance(mark, Mapping) else "",
        destination_code=_text(result.get("siteCode")),
    )


def state_for_scan_type(scan_type: str) -> TrackingState:
    return SCAN_TYPE_STATES.get(scan_type.strip(), TrackingState.IN_TRANSIT)


def _scan_time(value: object) -> datetime:
    if isinstance(value, bool):
        raise ZtoPayloadError(f"bad scanDate {value!r}")
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    return beijing_time(value, ZtoPayloadError, "scanDate")


def to_events(result: object) -> list[TrackingEvent]:
    """A track-query ``result`` (a list of scans; ``None`` = no scans yet) as events, oldest first."""
    if result is None:
        return []
    if not isinstance(result, list):
        raise ZtoPayloadError("result is not a list")
    events: list[TrackingEvent] = []
    for scan in result:
        if not isinstance(scan, Mapping):
            continue
        site = scan.get("scanSite")
        events.append(
            TrackingEvent(
                at=_scan_time(scan.get("scanDate")),
                state=state_for_scan_type(_text(scan.get("scanType"))),
                description=_text(scan.get("desc")),
                location=_text(site.get("name")) if isinstance(site, Mapping) else "",
            )
        )
    events.sort(key=lambda event: event.at)  # stable: same-second scans keep ZTO's order
    return events
