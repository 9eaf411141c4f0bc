"""The dashboards' drill-downs read the orders behind a figure with an indexed, paginated query
(docs/dashboards.md#drill-down): orders received in a window, open orders past their ship-by, and the order events
of one kind (status changes to shipped / cancelled / exception / held, at-risk alerts) in a window. Raw steps: a
migration of their own (piccolo runs raw steps before table changes)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T21:50:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "dashboard drill-down indexes"

INDEXES = (
    "CREATE INDEX sales_order_received_at ON sales_order (received_at)",
    # a warehouse's open orders at risk / overdue, counted from the index alone (tiers.risk_counts)
    "CREATE INDEX sales_order_warehouse_status_ship_by ON sales_order (warehouse, status, ship_by, at_risk_at)",
    'CREATE INDEX order_event_type_to_status_created ON order_event (type, to_status, created_at)',
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def indexes() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        for ddl in INDEXES:
            await engine.run_ddl(ddl)

    manager.add_raw(indexes)
    return manager
