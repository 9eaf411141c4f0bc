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

__all__ = [
    "BAD_ADDRESS",
    "BAD_PHONE",
    "DATA_SOURCE",
    "AddressResult",
    "PhoneKind",
    "PhoneResult",
    "get_index",
    "normalise_phone",
    "standardise",
]
