"""Add-on offers and their audit trail."""

from __future__ import annotations

from piccolo.columns import Float, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["Offer", "OfferLog"]


class Offer(Table, tablename="offer"):
    """When a cart or order has ≥ ``min_qty`` of each SKU of ``trigger_skus``, offer ``offer_sku`` at ``price`` fen.
    draft → enabled ⇄ disabled."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    name = Varchar(length=100)
    status = Varchar(length=16, default="draft", index=True)  # draft | enabled | disabled
    trigger_skus = Text(default="[]")  # JSON list of SKU codes (X), sorted
    min_qty = Integer(default=1)  # N
    offer_sku = Varchar(length=64)  # Y
    price = Integer(default=0)  # P, fen
    holdout_share = Float(default=0.1)  # buyers in [0, share) of the stable hash see nothing (the control)
    # The mined pattern the draft came from (0 = made by hand) and its figures when drafted.
    pattern_id = Integer(default=0)
    pattern_support = Float(null=True, default=None)
    pattern_confidence = Float(null=True, default=None)
    pattern_lift = Float(null=True, default=None)
    pattern_orders = Integer(null=True, default=None)
    created_by = Varchar(length=64, default="")
    reviewed_by = Varchar(length=64, default="")  # the last person who edited or enabled it
    enabled_by = Varchar(length=64, default="")
    enabled_at = Timestamptz(null=True, default=None)  # the first enabling: the effect is measured from here
    disabled_by = Varchar(length=64, default="")
    disabled_at = Timestamptz(null=True, default=None)
    gift_rule_id = Integer(null=True, default=None)  # the order rule made from it, if any
    created_at = Timestamptz()
    updated_at = Timestamptz()


class OfferLog(Table, tablename="offer_log"):
    """Who did what to an offer, when: created, edited (the changes), enabled, disabled, gift rule made."""

    id: Serial
    offer = Integer(index=True)
    action = Varchar(length=32)
    actor = Varchar(length=64)
    data = Text(default="{}")  # JSON
    created_at = Timestamptz()
