"""The pure rules an offer lives by: which carts and orders meet its condition, and which buyers it holds out.

Both the storefront (``orderhub.offers.service``) and the measurement (``orderhub.offers.effect``) use these very
functions with the same key (``orderhub.offers.service.holdout_key``), so an order is counted in the arm its buyer was
served in.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

__all__ = ["derive_holdout_key", "holdout_point", "in_holdout", "qualifies"]


def derive_holdout_key(secret_key: str) -> bytes:
    """The hold-out's HMAC key, derived from the hub's ORDERHUB_SECRET_KEY the way the hub derives its other keys
    (``orderhub:<purpose>:<secret>``, cf. ``orderhub.orders.phone_index``)."""
    return f"orderhub:offer-holdout:{secret_key}".encode()


def holdout_point(key: bytes, channel: str, buyer: str, offer_id: int) -> float:
    """A buyer's stable place in [0, 1) for one offer: the first 8 bytes of HMAC-SHA256(key, channel ␟ buyer ␟ offer
    id), big-endian, over 2⁶⁴. Keyed with the hub's secret, so nobody without it can tell a buyer's arm (or pick buyer
    ids that land in one); independent across offers (the offer id is in the message), the same in every process."""
    digest = hmac.new(key, f"{channel}\x1f{buyer}\x1f{offer_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_holdout(key: bytes, channel: str, buyer: str, offer_id: int, share: float) -> bool:
    """The buyer is in the offer's control group (the storefront shows them nothing)."""
    return holdout_point(key, channel, buyer, offer_id) < share


def qualifies(sku_qty: Mapping[str, int], trigger: Sequence[str], min_qty: int) -> bool:
    """At least ``min_qty`` of each trigger SKU — the mined pattern's own reading ("orders with ≥ N units of (each
    of) the antecedent", ``orderhub.insights.copurchase.Pattern``) and the rules engine's (one ``sku_qty >= N``
    condition per SKU)."""
    return bool(trigger) and all(sku_qty.get(sku, 0) >= min_qty for sku in trigger)
