"""Fewer index entries per order written (issue 22): every version of a ``sales_order`` row went into 18 indexes.

The pipeline writes an order row twice (received, then ready or held): neither write can be a HOT update, since
``status`` is indexed, so each version is added to every index. Here:

- three single-column indexes go where a composite index already starts with the same column: ``status`` (on
  ``(status, updated_at)``), ``channel`` (the unique ``(channel, external_id)``), ``warehouse`` (``(warehouse, status,
  ship_by, at_risk_at)``); likewise ``order_line.order`` (the unique ``(order, line_no)``) and ``stock_level.sku``
  (the unique ``(sku, warehouse)``);
- four indexes whose column is empty for nearly every order become partial, holding only the orders that have a
  value: ``hold_queue`` (held orders), ``shipped_waybill_no`` (shipped), ``reship_of`` (re-shipments) and
  ``needs_backfill`` (orders taken in surge mode, on ``id`` for the backfill's walk in id order).

The queries on the partial ones name a value (``hold_queue = …``, ``needs_backfill``), which implies the index's
condition; ``reship_of`` is only asked ``IS NULL`` (no index serves that) and the waybill search ORs the column with
the waybill table, so no plan changes there."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, ForeignKey, Integer, Varchar

ID = "2026-12-08T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "sales_order, order_line, stock_level: indexes a composite covers dropped; sparse ones partial"

_DROPPED: list[tuple[str, str, str, type]] = [
    ("Order", "sales_order", "status", Varchar),
    ("Order", "sales_order", "channel", ForeignKey),
    ("Order", "sales_order", "warehouse", ForeignKey),
    ("Order", "sales_order", "hold_queue", Varchar),
    ("Order", "sales_order", "shipped_waybill_no", Varchar),
    ("Order", "sales_order", "reship_of", Integer),
    ("Order", "sales_order", "needs_backfill", Boolean),
    ("OrderLine", "order_line", "order", ForeignKey),
    ("StockLevel", "stock_level", "sku", ForeignKey),
]

# Named apart from the single-column indexes piccolo drops above (``<table>_<column>``), whichever runs first.
_PARTIAL = [
    "CREATE INDEX sales_order_hold_queue_set ON sales_order (hold_queue) WHERE hold_queue IS NOT NULL",
    "CREATE INDEX sales_order_shipped_waybill_no_set ON sales_order (shipped_waybill_no) WHERE shipped_waybill_no <> ''",
    "CREATE INDEX sales_order_reship_of_set ON sales_order (reship_of) WHERE reship_of IS NOT NULL",
    "CREATE INDEX sales_order_backfill_ids ON sales_order (id) WHERE needs_backfill",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    for table_class, tablename, column, column_class in _DROPPED:
        manager.alter_column(
            table_class_name=table_class,
            tablename=tablename,
            column_name=column,
            db_column_name=column,
            params={"index": False},
            old_params={"index": True},
            column_class=column_class,
            old_column_class=column_class,
            schema=None,
        )

    async def partial() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        for statement in _PARTIAL:
            await engine.run_ddl(statement)

    manager.add_raw(partial)
    return manager
