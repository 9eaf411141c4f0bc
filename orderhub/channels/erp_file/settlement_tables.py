"""The saved settlement file mappings: a seller maps a platform's export once and reuses it."""

from __future__ import annotations

from piccolo.columns import Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["SettlementMapping"]


class SettlementMapping(Table, tablename="settlement_mapping"):
    """One saved mapping (:class:`orderhub.channels.erp_file.settlements.SettlementMapping` as JSON), by name."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    name = Varchar(length=100, unique=True)
    platform = Varchar(length=32, default="")  # the catalogue code it is for ("" = any)
    mapping = Text(default="{}")
    created_by = Varchar(length=64, default="")
    created_at = Timestamptz()
    updated_by = Varchar(length=64, default="")
    updated_at = Timestamptz()
