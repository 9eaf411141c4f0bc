"""The customs context's tables: each SKU's declaration data and the destinations' rule pack versions."""

from __future__ import annotations

from piccolo.columns import BigInt, Date, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from orderhub.catalog.tables import Sku

__all__ = ["CustomsRulePack", "CustomsSku"]


class CustomsSku(Table, tablename="sku_customs"):
    """One row per SKU: what it declares at a border (:class:`orderhub.customs.model.SkuCustoms`)."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    sku = ForeignKey(references=Sku, unique=True, index=True)
    hs_code = Varchar(length=10, default="")  # 6–10 digits, no dots
    name_en = Varchar(length=200, default="")
    name_zh = Varchar(length=200, default="")
    names = Text(default="{}")  # JSON: ISO 639-1 language → name (th first)
    material = Varchar(length=200, default="")
    usage = Varchar(length=200, default="")
    origin_country = Varchar(length=2, default="")  # ISO 3166-1 alpha-2
    unit_value = BigInt(default=0)  # minor units of ``currency``
    currency = Varchar(length=3, default="CNY")  # ISO 4217
    certificates = Text(default="{}")  # JSON: scheme (TISI, SIRIM …) → number
    updated_by = Varchar(length=64, default="system")
    updated_at = Timestamptz()


class CustomsRulePack(Table, tablename="customs_rule_pack"):
    """One immutable version of a destination's rules (``body``: :class:`orderhub.customs.model.RulePack` as JSON).
    A change is a new version; unique per (destination, version) — an index the migration adds."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    destination = Varchar(length=2, index=True)  # ISO 3166-1 alpha-2
    effective_from = Date()  # Asia/Shanghai date of an order's placing, inclusive
    version = Integer(default=1)
    body = Text(default="{}")
    created_by = Varchar(length=64, default="system")
    created_at = Timestamptz()
