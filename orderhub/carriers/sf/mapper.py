"""SF payloads ↔ the carrier port's Structs. Nothing SF-shaped passes this module.

* :func:`create_order_data`: a :class:`WaybillRequest` as the ``EXP_RECE_CREATE_ORDER`` msgData (weights grams →
  kg, the hub's ``service`` → ``expressTypeId``, the monthly card as ``monthlyCard``, 寄方付).
* :func:`to_waybill`: the create / search-order reply (``waybillNoInfoList``, ``routeLabelInfo``) → :class:`Waybill`
  with the 大头笔 (``destRouteLabel``) as ``sort_code``; :func:`unservable` reads its 筛单结果 (``filterResult``).
* :func:`to_events`: the ``EXP_RECE_SEARCH_ROUTES`` reply → :class:`TrackingEvent` list, oldest first, Beijing
  ``acceptTime`` → aware UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
    "OP_CODE_STATES",
    "SfPayloadError",
    "cancel_order_data",
    "check_parcel",
    "create_order_data",
    "search_order_data",
    "search_routes_data",
    "state_for_op_code",
    "to_events",
    "to_waybill",
    "unservable",
]

CARRIER_CODE = "SF"

# The hub's service names → SF expressTypeId (产品类型): 1 顺丰标快, 2 顺丰特惠, 6 顺丰即日, 231 陆运包裹 (电商标快).
EXPRESS_TYPES: dict[str, int] = {
    "standard": 1,
    "标快": 1,
    "economy": 2,
    "特惠": 2,
    "same_day": 6,
    "即日": 6,
    "ground": 231,
    "陆运": 231,
}

PAY_BY_SENDER = 1  # payMethod: 1 寄方付, 2 收方付, 3 第三方付
CONTACT_SENDER = 1
CONTACT_RECEIVER = 2
WAYBILL_MAIN = 1  # waybillType: 1 母单, 2 子单, 3 签回单

# 下订单接口 EXP_RECE_CREATE_ORDER / 订单结果查询 EXP_RECE_SEARCH_ORDER_RESP, 响应参数: filterResult 筛单结果
# 1 人工确认, 2 可收派, 3 不可以收派; remark "如果filterResult=3时为必填，不可以收派的原因代码：
# 1 收方超范围 2 派方超范围 3 其它原因".
FILTER_UNSERVABLE = "3"
UNSERVABLE_REASONS = {"1": "收方超范围", "2": "派方超范围", "3": "其它原因"}

# 路由操作码 (opCode) → state, after the 丰桥 路由查询 opCode table. Codes not listed are in-transit scans
# (中转、装车、到达 …), which is what the great majority of SF's many codes are.
OP_CODE_STATES: dict[str, TrackingState] = {
    "50": TrackingState.COLLECTED,  # 顺丰已收取快件
    "54": TrackingState.COLLECTED,  # 上门收件
    "30": TrackingState.IN_TRANSIT,  # 快件在中转场 / 已装车
    "31": TrackingState.IN_TRANSIT,  # 快件到达
    "36": TrackingState.IN_TRANSIT,  # 快件已发车
    "105": TrackingState.IN_TRANSIT,  # 航空起飞
    "106": TrackingState.IN_TRANSIT,  # 航空落地
    "44": TrackingState.OUT_FOR_DELIVERY,  # 正在派送途中
    "204": TrackingState.OUT_FOR_DELIVERY,  # 派件员已出发
    "80": TrackingState.SIGNED,  # 已签收
    "8000": TrackingState.SIGNED,  # 已签收（丰巢 / 代收点）
    "33": TrackingState.EXCEPTION,  # 派件异常 / 滞留
    "70": TrackingState.EXCEPTION,  # 由于客户原因未能派送
    "99": TrackingState.EXCEPTION,  # 问题件
    "648": TrackingState.RETURNED,  # 快件已退回
    "99999": TrackingState.RETURNED,  # 退回寄件人（simulator / legacy）
}

_MOBILE = re.compile(r"^1\d{10}$")


class SfPayloadError(ValueError):
    """An SF reply lacks what the mapper needs."""


def _kg(weight_g: int) -> float:
    grams = Decimal(weight_g)
    return float((grams / 1000).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


def _contact(party: Party, contact_type: int) -> dict[str, Any]:
    phone = party.phone.strip()
    contact: dict[str, Any] = {
        "contactType": contact_type,
        "contact": party.name,
        "province": party.province,
        "city": party.city,
        "county": party.district,
        "address": party.detail,
        "country": "CN",
    }
    contact["mobile" if _MOBILE.match(phone) else "tel"] = phone
    if party.company:
        contact["company"] = party.company
    return contact


def check_parcel(request: WaybillRequest) -> None:
    """What every SF order needs of its parcel, domestic or cross-border: a weight and a count."""
    if request.weight_g <= 0:
        raise InvalidWaybillRequest("包裹重量必须大于 0 克", carrier_code="bad_weight")
    if request.parcels <= 0:
        raise InvalidWaybillRequest("包裹件数必须大于 0", carrier_code="bad_parcels")


def create_order_data(request: WaybillRequest, *, monthly_card: str) -> dict[str, Any]:
    """The ``EXP_RECE_CREATE_ORDER`` msgData for one request."""
    check_parcel(request)
    try:
        express_type = EXPRESS_TYPES[request.service]
    except KeyError:
        raise InvalidWaybillRequest(f"顺丰不支持产品 {request.service}", carrier_code="bad_service") from None
    cargo = [{"name": item.name, "count": item.qty} for item in request.items] or [{"name": "商品", "count": 1}]
    data: dict[str, Any] = {
        "language": "zh-CN",
        "orderId": request.order_ref,
        "cargoDetails": cargo,
        "contactInfoList": [
            _contact(request.sender, CONTACT_SENDER),
            _contact(request.receiver, CONTACT_RECEIVER),
        ],
        "expressTypeId": express_type,
        "parcelQty": request.parcels,
        "totalWeight": _kg(request.weight_g),
        "payMethod": PAY_BY_SENDER,
        "isReturnRoutelabel": 1,
    }
    if monthly_card:
        data["monthlyCard"] = monthly_card
    if request.declared_value_fen > 0:
        data["cargoDeclaredValue"] = float(Decimal(request.declared_value_fen) / 100)
    if request.remark:
        data["remark"] = request.remark
    return data


def search_order_data(order_ref: str) -> dict[str, Any]:
    """The ``EXP_RECE_SEARCH_ORDER_RESP`` msgData (订单结果查询, searchType 1 = 正向单)."""
    return {"orderId": order_ref, "searchType": "1", "language": "zh-CN"}


def cancel_order_data(waybill: Waybill) -> dict[str, Any]:
    """The ``EXP_RECE_UPDATE_ORDER`` msgData that cancels (dealType 2) an order."""
    return {
        "orderId": waybill.order_ref,
        "dealType": 2,
        "language": "zh-CN",
        "waybillNoInfoList": [{"waybillType": WAYBILL_MAIN, "waybillNo": waybill.waybill_no}],
    }


def search_routes_data(waybill_no: str) -> dict[str, Any]:
    """The ``EXP_RECE_SEARCH_ROUTES`` msgData (trackingType 1 = by waybill number, methodType 1 = standard)."""
    return {"language": "zh-CN", "trackingType": 1, "trackingNumber": [waybill_no], "methodType": 1}


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def to_waybill(data: Mapping[str, Any], *, order_ref: str) -> Waybill:
    """A create-order or search-order reply as a :class:`Waybill`."""
    numbers = data.get("waybillNoInfoList")
    if not isinstance(numbers, list) or not numbers:
        raise SfPayloadError("no waybillNoInfoList")
    entries = [entry for entry in numbers if isinstance(entry, dict) and _text(entry.get("waybillNo"))]
    main = next((entry for entry in entries if _text(entry.get("waybillType")) == str(WAYBILL_MAIN)), None)
    chosen = main or (entries[0] if entries else None)
    if chosen is None:
        raise SfPayloadError("no waybillNo")
    label: Mapping[str, Any] = {}
    labels = data.get("routeLabelInfo")
    if isinstance(labels, list) and labels and isinstance(labels[0], dict):
        label_data = labels[0].get("routeLabelData")
        if isinstance(label_data, dict):
            label = label_data
    return Waybill(
        carrier=CARRIER_CODE,
        waybill_no=_text(chosen.get("waybillNo")),
        order_ref=_text(data.get("orderId")) or order_ref,
        sort_code=_text(label.get("destRouteLabel")),
        origin_code=_text(data.get("originCode")) or _text(label.get("sourceTransferCode")),
        destination_code=(
            _text(label.get("destTeamCode")) or _text(label.get("codingMapping")) or _text(data.get("destCode"))
        ),
    )


def unservable(data: Mapping[str, Any]) -> str | None:
    """The reason SF gives when a create / search-order reply says it cannot serve the order (filterResult 3), or
    None when it can (2) or leaves it to a person (1)."""
    if _text(data.get("filterResult")) != FILTER_UNSERVABLE:
        return None
    remark = _text(data.get("remark"))
    return UNSERVABLE_REASONS.get(remark, remark or UNSERVABLE_REASONS["3"])


def state_for_op_code(op_code: str) -> TrackingState:
    return OP_CODE_STATES.get(op_code.strip(), TrackingState.IN_TRANSIT)


def _beijing(value: object) -> datetime:
    return beijing_time(value, SfPayloadError, "acceptTime")


def to_events(data: Mapping[str, Any], waybill_no: str) -> list[TrackingEvent]:
    """The routes of ``waybill_no`` in a search-routes reply, oldest first (an unknown waybill → no events)."""
    responses = data.get("routeResps")
    if not isinstance(responses, list):
        raise SfPayloadError("no routeResps")
    events: list[TrackingEvent] = []
    for response in responses:
        if not isinstance(response, dict) or _text(response.get("mailNo")) not in ("", waybill_no):
            continue
        routes = response.get("routes") or []
        if not isinstance(routes, list):
            raise SfPayloadError("routes is not a list")
        for route in routes:
            if not isinstance(route, dict):
                continue
            events.append(
                TrackingEvent(
                    at=_beijing(route.get("acceptTime")),
                    state=state_for_op_code(_text(route.get("opCode"))),
                    description=_text(route.get("remark")),
                    location=_text(route.get("acceptAddress")),
                )
            )
    events.sort(key=lambda event: event.at)  # stable: same-second scans keep SF's order
    return events
