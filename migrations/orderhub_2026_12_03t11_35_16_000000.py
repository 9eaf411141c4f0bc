"""Notifications written before the warehouse column: an order's messages are its warehouse's (runs after the
column exists — piccolo runs a migration's raw steps before its column changes)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T11:35:16:000000"
VERSION = "1.38.0"
DESCRIPTION = "notification warehouse backfill"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def backfill() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl(
            "UPDATE notification SET warehouse = (SELECT warehouse FROM sales_order WHERE sales_order.id = "
            'notification."order") WHERE "order" IS NOT NULL AND warehouse IS NULL'
        )

    manager.add_raw(backfill)
    return manager
