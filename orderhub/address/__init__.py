"""Receiver address standardisation (省/市/区县 + 行政区划代码) and phone normalisation; pure domain code."""

from __future__ import annotations

from orderhub.address.divisions import DATA_SOURCE, get_index
from orderhub.address.parser import (
    BAD_ADDRESS,
    BAD_PHONE,
    AddressResult,
    PhoneKind,
    PhoneResult,
    normalise_phone,
    standardise,
)
from orderhub.address.phones import mobile_number, phone_digits, phone_tail

__all__ = [
    "BAD_ADDRESS",
    "BAD_PHONE",
    "DATA_SOURCE",
    "AddressResult",
    "PhoneKind",
    "PhoneResult",
    "get_index",
    "mobile_number",
    "normalise_phone",
    "phone_digits",
    "phone_tail",
    "standardise",
]
