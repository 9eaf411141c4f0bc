"""After-sales' composite unique indexes (raw steps: a migration of their own, after the tables exist): one case per
channel and platform refund id (a platform re-sending a refund never makes two; NULL — not from a platform — may
repeat), one case per approval request, one damaged count per warehouse and SKU."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-08T02:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "after-sale unique indexes"

INDEXES = (
    "CREATE UNIQUE INDEX after_sale_channel_refund ON after_sale (channel, platform_refund_id)",
    "CREATE UNIQUE INDEX after_sale_request ON after_sale (request_id)",
    "CREATE INDEX after_sale_order_status ON after_sale (\"order\", status)",
    "CREATE UNIQUE INDEX damaged_stock_warehouse_sku ON damaged_stock (warehouse, sku)",
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
