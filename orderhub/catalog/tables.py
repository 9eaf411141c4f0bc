"""Sellable items (SKUs)."""

from __future__ import annotations

from piccolo.columns import Boolean, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["Sku", "SkuBarcode"]


class Sku(Table, tablename="sku"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    code = Varchar(length=64, unique=True, index=True)
    name = Varchar(length=200)
    # JSON array of barcodes (EAN-13, internal codes …); SkuBarcode is the unique lookup index.
    barcodes = Text(default="[]")
    weight_g = Integer(default=0)
    volume_cm3 = Integer(default=0)
    # The platform's commission category (finance: commission rates are per category); "" = the channel's default.
    category = Varchar(length=64, default="")
    # The SKU's picture, shown on the picker's stop: "" (none), an http(s) URL or a path on the hub ("/…").
    image_url = Varchar(length=500, default="")
    active = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class SkuBarcode(Table, tablename="sku_barcode"):
    """One row per barcode so a PDA scan finds its SKU by index, and a barcode belongs to one SKU only."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    barcode = Varchar(length=64, unique=True, index=True)
    sku = ForeignKey(references=Sku, index=True)
