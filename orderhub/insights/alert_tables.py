"""The threshold alerts' tables (docs/alerts.md): the rules, one evaluation state per rule, and the alerts fired.

Kept apart from the rollups' ``tables.py``: these rows are configuration and history, written rarely (a rule's state
only when it crosses a line), never on the order path.
"""

from __future__ import annotations

from piccolo.columns import Boolean, DoublePrecision, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from orderhub.inventory.tables import Warehouse

__all__ = ["Alert", "AlertRule", "AlertState"]


class AlertRule(Table, tablename="alert_rule"):
    """A threshold on one metric, hub-wide (``warehouse`` null) or for one warehouse. ``comparison`` ``above``: the
    rule fires when the value goes above ``threshold`` and re-arms only once it is back below ``clear_level``;
    ``below`` the other way round. ``threshold`` null: a ``kpi:<name>`` rule against the KPI's own target."""

    id: Serial
    name = Varchar(length=64)
    metric = Varchar(length=40)  # inflow_per_min, at_risk_count, exception_rate, backlog, kpi:<name>
    warehouse = ForeignKey(references=Warehouse, null=True, on_delete=OnDelete.cascade, index=True)
    comparison = Varchar(length=8)  # above, below
    threshold = DoublePrecision(null=True, default=None)
    clear_level = DoublePrecision(null=True, default=None)  # null: the threshold itself
    min_duration_s = Integer(default=0)  # the value must stay past the threshold this long before it fires
    enabled = Boolean(default=True)
    created_by = Varchar(length=64, default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class AlertState(Table, tablename="alert_state"):
    """Where a rule stands: ``armed`` (quiet, or past the threshold since ``pending_since`` but not yet for the
    rule's minimum duration) or ``firing`` (``alert`` is the open alert). Changed only by a conditional UPDATE on
    ``version``, so two evaluators never both fire (or clear) one crossing."""

    id: Serial
    rule = Integer(unique=True)
    state = Varchar(length=8, default="armed")
    pending_since = Timestamptz(null=True, default=None)
    alert = Integer(null=True, default=None)
    version = Integer(default=0)
    changed_at = Timestamptz()


class Alert(Table, tablename="alert"):
    """One crossing of a rule: fired when the value crossed the threshold, cleared when it came back past the clear
    level; a person acknowledges it. The rule's name, metric and scope are copied: the history outlives the rule."""

    id: Serial
    rule = Integer()  # the rule's id (no foreign key: a deleted rule's alerts stay; no index: "alert_rule" is a table)
    rule_name = Varchar(length=64)
    metric = Varchar(length=40)
    warehouse = Integer(null=True, default=None, index=True)  # the scope: null = hub-wide
    comparison = Varchar(length=8)
    value = DoublePrecision()  # when it fired
    threshold = DoublePrecision()
    clear_level = DoublePrecision()
    clear_value = DoublePrecision(null=True, default=None)  # when it cleared
    fired_at = Timestamptz(index=True)
    cleared_at = Timestamptz(null=True, default=None)
    acknowledged_by = Varchar(length=64, default="")
    acknowledged_at = Timestamptz(null=True, default=None)
