"""快递100 payloads → the carrier port's Structs. Nothing 快递100-shaped passes this module.

* :func:`company_for`: the hub's carrier code ("SF", "ZTO" …) → the 快递100 company code ("shunfeng" …).
* :func:`state_for`: a 快递100 ``state`` (main code like ``"3"`` or a resultv2 sub-state like ``"301"``) →
  :class:`TrackingState`; :func:`state_for_status` does the same for the per-event ``status`` text (``"签收"``).
* :func:`to_events`: a ``data`` list (newest first, Beijing ``yyyy-MM-dd HH:mm:ss``) → events oldest first, aware UTC.
* :func:`to_tracking`: a query reply or a callback's ``lastResult`` → :class:`Kuaidi100Tracking`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from orderhub.carriers.catalogue import CATALOGUE
from orderhub.carriers.port import InvalidWaybillRequest, TrackingEvent, TrackingPayloadError, TrackingState
from orderhub.wire import beijing_time

__all__ = [
    "COMPANY_CODES",
    "STATE_CODES",
    "STATUS_TEXTS",
    "Kuaidi100PayloadError",
    "Kuaidi100Tracking",
    "carrier_for_company",
    "company_for",
    "state_for",
    "state_for_status",
    "to_events",
    "to_tracking",
]

# The hub's carrier code → 快递100 company code (快递公司编码), from the carrier catalogue.
COMPANY_CODES: dict[str, str] = {carrier.code: carrier.kuaidi100 for carrier in CATALOGUE}
_HUB_CODES = {company: hub for hub, company in COMPANY_CODES.items()}

# 快递100 main state codes (物流状态).
STATE_CODES: dict[str, TrackingState] = {
    "0": TrackingState.IN_TRANSIT,  # 在途
    "1": TrackingState.COLLECTED,  # 揽收
    "2": TrackingState.EXCEPTION,  # 疑难
    "3": TrackingState.SIGNED,  # 签收
    "4": TrackingState.EXCEPTION,  # 退签
    "5": TrackingState.OUT_FOR_DELIVERY,  # 派件
    "6": TrackingState.RETURNED,  # 退回
    "7": TrackingState.IN_TRANSIT,  # 转投
    "8": TrackingState.IN_TRANSIT,  # 清关
    "10": TrackingState.IN_TRANSIT,  # 待清关
    "11": TrackingState.IN_TRANSIT,  # 清关中
    "12": TrackingState.IN_TRANSIT,  # 已清关
    "13": TrackingState.EXCEPTION,  # 清关异常
    "14": TrackingState.EXCEPTION,  # 拒签
}

# The per-event ``status`` text 快递100 adds with ``resultv2=1``.
STATUS_TEXTS: dict[str, TrackingState] = {
    "揽收": TrackingState.COLLECTED,
    "在途": TrackingState.IN_TRANSIT,
    "转投": TrackingState.IN_TRANSIT,
    "清关": TrackingState.IN_TRANSIT,
    "待清关": TrackingState.IN_TRANSIT,
    "清关中": TrackingState.IN_TRANSIT,
    "已清关": TrackingState.IN_TRANSIT,
    "派件": TrackingState.OUT_FOR_DELIVERY,
    "签收": TrackingState.SIGNED,
    "疑难": TrackingState.EXCEPTION,
    "退签": TrackingState.EXCEPTION,
    "拒签": TrackingState.EXCEPTION,
    "清关异常": TrackingState.EXCEPTION,
    "退回": TrackingState.RETURNED,
}


class Kuaidi100PayloadError(TrackingPayloadError):
    """A 快递100 payload lacks what the mapper needs."""


class Kuaidi100Tracking(msgspec.Struct, frozen=True, kw_only=True):
    """One waybill's tracking as 快递100 reported it (a query reply or a push)."""

    waybill_no: str
    company: str  # 快递100 company code, e.g. "shunfeng"
    carrier: str  # the hub's carrier code when known ("SF"), else ""
    state: TrackingState | None  # the parcel's current state (None: 快递100 gave none)
    signed: bool  # ischeck = 1
    events: list[TrackingEvent]  # oldest first


def company_for(carrier: str) -> str:
    """The 快递100 company code for a hub carrier code; an existing 快递100 code passes through."""
    code = carrier.strip()
    if code.upper() in COMPANY_CODES:
        return COMPANY_CODES[code.upper()]
    if code.lower() in _HUB_CODES:
        return code.lower()
    raise InvalidWaybillRequest(f"快递100 不支持的快递公司 {carrier}", carrier_code="unknown_carrier")


def carrier_for_company(company: str) -> str:
    """The hub's carrier code for a 快递100 company code ("" when the hub has none)."""
    return _HUB_CODES.get(company.strip().lower(), "")


def state_for(code: object) -> TrackingState | None:
    """A main state or resultv2 sub-state (``"301"`` → 3, ``"1401"`` → 14, ``"1002"`` → 在途); None if unknown."""
    text = _text(code)
    if text in STATE_CODES:
        return STATE_CODES[text]
    if len(text) == 3 and text[0] in STATE_CODES:
        return STATE_CODES[text[0]]
    if len(text) == 4 and text[:2] in STATE_CODES:
        return STATE_CODES[text[:2]]
    return None


def state_for_status(status: object) -> TrackingState | None:
    return STATUS_TEXTS.get(_text(status))


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _beijing(value: object) -> datetime:
    return beijing_time(value, Kuaidi100PayloadError, "time")


def to_events(data: Sequence[Any], *, current: TrackingState | None = None) -> list[TrackingEvent]:
    """快递100 ``data`` (newest first) → events oldest first. An event's state comes from its ``statusCode`` or
    ``status`` text; failing both, the newest event takes ``current`` and the others are in transit."""
    events: list[TrackingEvent] = []
    for index, item in enumerate(data):
        if not isinstance(item, Mapping):
            continue
        state = state_for(item.get("statusCode")) or state_for_status(item.get("status"))
        if state is None:
            state = current if index == 0 and current is not None else TrackingState.IN_TRANSIT
        events.append(
            TrackingEvent(
                at=_beijing(item.get("time") or item.get("ftime")),
                state=state,
                description=_text(item.get("context")),
                location=_text(item.get("areaName")) or _text(item.get("location")),
            )
        )
    events.reverse()
    events.sort(key=lambda event: event.at)  # stable: same-second events keep 快递100's order
    return events


def to_tracking(result: Mapping[str, Any], *, waybill_no: str = "", company: str = "") -> Kuaidi100Tracking:
    """A query reply or a push's ``lastResult`` as :class:`Kuaidi100Tracking`."""
    data = result.get("data") or []
    if not isinstance(data, list):
        raise Kuaidi100PayloadError("data is not a list")
    state = state_for(result.get("state"))
    com = _text(result.get("com")) or company
    return Kuaidi100Tracking(
        waybill_no=_text(result.get("nu")) or waybill_no,
        company=com,
        carrier=carrier_for_company(com),
        state=state,
        signed=_text(result.get("ischeck")) == "1",
        events=to_events(data, current=state),
    )
