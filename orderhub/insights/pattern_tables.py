"""The co-purchase mining's tables (docs/insights-mining.md): one row per mining run and the patterns it found.

- ``copurchase_run``: what was mined (period, scope, thresholds), where the run stands (queued → running → done /
  failed) and what it counted (orders, item pairs, patterns kept, the time it took).
- ``copurchase_pattern``: one association rule of a run, "orders with ≥ ``min_qty`` of the antecedent SKU(s) also
  have the consequent SKU", with its counts and support, confidence and lift.

Written by the mining job only (a run's patterns in one transaction); references are plain ids, as in the rollups.
"""

from __future__ import annotations

from piccolo.columns import BigInt, Boolean, Float, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["CopurchasePattern", "CopurchaseRun"]


class CopurchaseRun(Table, tablename="copurchase_run"):
    """One mining run over orders placed in [``since``, ``until``) (UTC) of the scope: ``channels`` (JSON list of
    channel codes, ``[]`` = every channel) and ``region`` (the shipping warehouse's ``warehouse.region``; "" = every
    region, orders not routed yet included)."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    status = Varchar(length=16, default="queued", index=True)  # queued | running | done | failed
    since = Timestamptz()
    until = Timestamptz()
    channels = Text(default="[]")
    region = Varchar(length=32, default="")
    min_support = Float(default=0.0)
    min_count = Integer(default=0)
    max_qty = Integer(default=1)  # "≥ N of X" antecedents are mined for N = 1 … max_qty
    max_patterns = Integer(default=0)
    triples = Boolean(default=False)  # also {X, Z} → Y (apriori: all three pairs frequent)
    orders = BigInt(default=0)  # orders counted: in the period and scope, not cancelled, with a non-gift line
    pairs = Integer(default=0)  # distinct SKU pairs at or above the minimum count
    patterns = Integer(default=0)  # patterns kept (at most max_patterns, highest lift first)
    took_ms = Integer(default=0)
    error = Varchar(length=255, default="")  # failed: "timeout", "interrupted", "too many attempts" or the exception
    attempts = Integer(default=0)  # executions that claimed the run (queued/failed/stale → running); at most a few
    created_by = Varchar(length=64, default="")
    created_at = Timestamptz()
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)


class CopurchasePattern(Table, tablename="copurchase_pattern"):
    """Antecedent (JSON list of SKU codes; one today, two for a triple) with at least ``min_qty`` units of it (each)
    → ``consequent``. ``orders``: orders having both; ``antecedent_orders`` / ``consequent_orders``: orders having
    each; ``support`` = orders / the run's orders, ``confidence`` = orders / antecedent_orders, ``lift`` =
    confidence / (consequent_orders / the run's orders)."""

    id: Serial  # the primary key piccolo adds; declared for type checkers
    run = Integer(index=True)
    antecedent = Text(default="[]")
    min_qty = Integer(default=1)
    consequent = Varchar(length=64)
    orders = BigInt(default=0)
    antecedent_orders = BigInt(default=0)
    consequent_orders = BigInt(default=0)
    support = Float(default=0.0)
    confidence = Float(default=0.0)
    lift = Float(default=0.0)
