"""The rollups' unique keys, which their UPSERTs (``ON CONFLICT (key) DO UPDATE``) name (piccolo runs a migration's
raw steps before its table changes, hence a migration of its own)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T19:39:35:000000"
VERSION = "1.38.0"
DESCRIPTION = "rollup unique keys"

KEYS = {
    "rollup_order_bucket": "bucket_start, channel, warehouse, shard",
    "rollup_reason_bucket": "bucket_start, channel, warehouse, shard, kind, reason",
    "rollup_status_count": "channel, warehouse, shard, status",
    "rollup_operator_day": "day, warehouse, user_id, role",
    "rollup_order_quality": "order_id",
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
