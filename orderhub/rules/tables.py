"""Order rules: conditions over an order and actions to take when they all match."""

from __future__ import annotations

from piccolo.columns import Boolean, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["Rule"]


class Rule(Table, tablename="order_rule"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    name = Varchar(length=100)
    # Lower runs first; ties by id.
    priority = Integer(default=100)
    enabled = Boolean(default=True)
    # Stop evaluating later rules once this one fired.
    stop = Boolean(default=False)
    # JSON lists (validated by orderhub.rules.model on every write).
    conditions = Text(default="[]")
    actions = Text(default="[]")
    created_at = Timestamptz()
    updated_at = Timestamptz()
