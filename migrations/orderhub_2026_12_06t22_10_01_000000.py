"""The unique keys of the inquiry rollups and of the health history (insert-if-absent and UPSERTs name them; piccolo
runs a migration's raw steps before its table changes, hence a migration of its own)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T22:10:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "inquiry and health unique keys"

KEYS = {
    "rollup_inquiry_order": "order_id",
    "rollup_inquiry_day": "day, channel, warehouse, source",
    "health_score_day": "day, scope_kind, scope_id",
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def keys() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        for table, columns in KEYS.items():
            await engine.run_ddl(f"CREATE UNIQUE INDEX {table}_key ON {table} ({columns})")

    manager.add_raw(keys)
    return manager
