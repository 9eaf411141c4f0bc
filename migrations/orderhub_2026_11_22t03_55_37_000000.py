"""One mapping per platform SKU in a channel (a composite unique piccolo's column API cannot express)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-22T03:55:37:000000"
VERSION = "1.38.0"
DESCRIPTION = "channel_sku unique platform sku"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def constraints() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl(
            "CREATE UNIQUE INDEX channel_sku_channel_platform_sku ON channel_sku (channel, platform_sku_id)"
        )

    manager.add_raw(constraints)
    return manager
