"""A customer's clear personal data at rest: the receiver's and buyer's name, phone and address, sealed in the
order's columns and opened only where a step needs them.

Sealing is deterministic (AES-SIV, RFC 5297, keyed from ``ORDERHUB_SECRET_KEY``): the same value seals to the same
text, so the pipeline's optimistic guards (``WHERE receiver_phone = <what I read>``) and equality checks work on
sealed values without opening them. What that reveals — that two orders share a phone — the phone's search index
(:mod:`orderhub.orders.phone_index`) already reveals by design; nothing else is learnt without the key.

A sealed value reads ``pii1:<base64url>``; :func:`open_` passes anything without that prefix through unchanged, so
a value the hub never sealed (an empty string, a platform's masked ``138****0000``) reads as itself.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from orderhub.address.phones import phone_digits
from orderhub.settings import get_settings

__all__ = [
    "CLEAR_READERS",
    "PREFIX",
    "SEALED_COLUMNS",
    "is_sealed",
    "mask_detail",
    "mask_name",
    "mask_phone",
    "masked",
    "open_",
    "open_receiver",
    "seal",
    "seal_receiver",
]

PREFIX = "pii1:"

# The sales_order columns that hold a customer's clear data, sealed with :func:`seal`.
SEALED_COLUMNS = (
    "buyer_phone",
    "receiver_name",
    "receiver_phone",
    "receiver_detail",
    "receiver_address",
    "raw_payload",
)


@functools.lru_cache(maxsize=4)
def _siv(secret_key: str) -> AESSIV:
    return AESSIV(hashlib.sha512(f"orderhub:pii:{secret_key}".encode()).digest())


def seal(value: str) -> str:
    """``value`` sealed (the empty string stays empty; an already sealed value is returned as is)."""
    if not value or value.startswith(PREFIX):
        return value
    sealed = _siv(get_settings().secret_key).encrypt(value.encode("utf-8"), None)
    return PREFIX + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")


def open_(value: str | None) -> str:
    """The clear value of a sealed one (anything not sealed passes through)."""
    if not value or not value.startswith(PREFIX):
        return value or ""
    token = value[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return _siv(get_settings().secret_key).decrypt(raw, None).decode("utf-8")
    except (InvalidTag, ValueError) as exc:
        raise ValueError("a sealed customer field cannot be opened with the current ORDERHUB_SECRET_KEY") from exc


def is_sealed(value: str | None) -> bool:
    return bool(value) and str(value).startswith(PREFIX)


def mask_name(name: str) -> str:
    """王小明 → 王*明, 王明 → 王*, A → A (a platform's masked form passes through)."""
    text = name.strip()
    if len(text) <= 1 or "*" in text:
        return text
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_phone(phone: str) -> str:
    """13912345678 → 139****5678 (extensions and landlines keep their last four digits; a masked form passes)."""
    if "*" in phone:
        return phone.strip()
    digits = phone_digits(phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_detail(detail: str) -> str:
    """The street address with its numbers hidden: 建国路88号3栋1201 → 建国路**号*栋****."""
    if "*" in detail:
        return detail.strip()
    return "".join("*" if ch.isdigit() else ch for ch in detail.strip())


# Who reads an order's receiver in clear (the rest see it masked): they fix addresses and talk to customers.
CLEAR_READERS = frozenset({"admin", "manager"})


_MASKS = {"name": mask_name, "phone": mask_phone, "detail": mask_detail, "address": mask_detail}


def seal_receiver(receiver: dict[str, Any]) -> dict[str, Any]:
    """A receiver as builtins (an approval's payload) with its name, phone, street and address sealed."""
    return {k: seal(v) if k in _MASKS and isinstance(v, str) else v for k, v in receiver.items()}


def open_receiver(receiver: dict[str, Any]) -> dict[str, Any]:
    """:func:`seal_receiver` undone."""
    return {k: open_(v) if k in _MASKS and isinstance(v, str) else v for k, v in receiver.items()}


def masked(value: Any) -> Any:
    """``value`` (builtins: dicts, lists, strings) with every sealed string shown masked by its key (name, phone,
    detail, address) — how a stored payload is shown to people."""
    if isinstance(value, dict):
        return {
            k: _MASKS.get(k, mask_detail)(open_(v)) if is_sealed(v) else masked(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value
