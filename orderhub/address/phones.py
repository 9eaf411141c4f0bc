"""Phone digits, the one place: what labels mask, what SMS and the contact book key on, what 快递100 checks.

:func:`orderhub.address.normalise_phone` reads a receiver phone as a person wrote it (landlines, extensions,
privacy numbers); these helpers work on numbers already stored.
"""

from __future__ import annotations

import re

__all__ = ["mobile_number", "phone_digits", "phone_tail"]

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def phone_digits(phone: str) -> str:
    """The digits of a phone number, the ``86`` country code of a mobile (``+86 139-1234-5678``) dropped."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def mobile_number(phone: str) -> str | None:
    """A mainland mobile number as 11 digits (``+86`` / ``86`` and separators dropped), or None."""
    digits = phone_digits(phone)
    return digits if _MOBILE.match(digits) else None


def phone_tail(phone: str) -> str:
    """The last four digits ("" when there are none)."""
    return phone_digits(phone)[-4:]
