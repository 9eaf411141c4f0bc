"""The pure rules an offer lives by: which carts and orders meet its condition, and which buyers it holds out.

Both the storefront (``orderhub.offers.service``) and the measurement (``orderhub.offers.effect``) use these very
functions, so an order is counted in the arm its buyer was served in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

__all__ = ["holdout_point", "in_holdout", "qualifies"]


def holdout_point(channel: str, buyer: str, offer_id: int) -> float:
    """A buyer's stable place in [0, 1) for one offer: the first 8 bytes of SHA-256(channel ␟ buyer ␟ offer id),
    big-endian, over 2⁶⁴. Independent across offers (the offer id is hashed in), the same in every process."""
    digest = hashlib.sha256(f"{channel}\x1f{buyer}\x1f{offer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_holdout(channel: str, buyer: str, offer_id: int, share: float) -> bool:
    """The buyer is in the offer's control group (the storefront shows them nothing)."""
    return holdout_point(channel, buyer, offer_id) < share


def qualifies(sku_qty: Mapping[str, int], trigger: Sequence[str], min_qty: int) -> bool:
    """At least ``min_qty`` of each trigger SKU — the mined pattern's own reading ("orders with ≥ N units of (each
    of) the antecedent", ``orderhub.insights.copurchase.Pattern``) and the rules engine's (one ``sku_qty >= N``
    condition per SKU)."""
    return bool(trigger) and all(sku_qty.get(sku, 0) >= min_qty for sku in trigger)
