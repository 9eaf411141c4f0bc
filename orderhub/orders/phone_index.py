"""The receiver phone's search index: what lets the back office find an order by a phone number (all of its digits,
or the last four) with an index lookup, without reading — or ever logging — the phone itself.

Each order keeps two derived columns, written wherever the receiver phone is written (intake, a corrected or
changed receiver): ``receiver_phone_key``, a keyed HMAC-SHA256 of the number's digits (the key derives from
``ORDERHUB_SECRET_KEY``, so the column alone does not give the numbers away and keeps working if the receiver is
sealed at rest later), and ``receiver_phone_tail``, its last four digits. The digits are the normalised number's
(``+86 138-0013-8000`` and ``13800138000`` are one number; a privacy number's extension is not part of it).
"""

from __future__ import annotations

from typing import Any

from orderhub import crypto
from orderhub.address import normalise_phone, phone_digits
from orderhub.orders.tables import Order
from orderhub.settings import get_settings

__all__ = ["phone_columns", "phone_key", "search_digits"]


def search_digits(phone: str) -> str:
    """The digits a phone is indexed (and searched) by: the normalised number's, else whatever digits it has."""
    result = normalise_phone(phone or "")
    if result.ok and result.number:
        return phone_digits(result.number)
    return phone_digits(phone or "")


def phone_key(phone: str) -> str:
    """The keyed hash of a phone's digits ("" when it has none)."""
    digits = search_digits(phone)
    if not digits:
        return ""
    return crypto.hmac_sha256_hex(f"orderhub:phone-search:{get_settings().secret_key}", digits.encode())


def phone_columns(phone: str) -> dict[Any, str]:
    """The index columns for a receiver phone, to write with it (``Order.update`` values)."""
    return {Order.receiver_phone_key: phone_key(phone), Order.receiver_phone_tail: search_digits(phone)[-4:]}
