"""Picking's composite uniques: one answer per (device, client scan id) — what makes PDA scans idempotent — and one
pick face per SKU and warehouse; one employee per badge code; and the index a task's stops are read in."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-22T06:33:44:000000"
VERSION = "1.38.0"
DESCRIPTION = "picking unique indexes"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def constraints() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl("CREATE UNIQUE INDEX pda_scan_device_client_id ON pda_scan (device, client_id)")
        await engine.run_ddl("CREATE UNIQUE INDEX sku_location_warehouse_sku ON sku_location (warehouse, sku)")
        await engine.run_ddl("CREATE INDEX pick_line_task_seq ON pick_line (task, seq)")
        await engine.run_ddl("CREATE UNIQUE INDEX app_user_badge ON app_user (badge)")

    manager.add_raw(constraints)
    return manager
