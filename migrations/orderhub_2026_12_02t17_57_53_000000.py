"""One rate card per (warehouse, carrier): re-uploading a carrier's prices replaces them."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T17:57:53:000000"
VERSION = "1.38.0"
DESCRIPTION = "rate card unique index"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def constraints() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl(
            "CREATE UNIQUE INDEX carrier_rate_card_warehouse_carrier ON carrier_rate_card (warehouse, carrier)"
        )

    manager.add_raw(constraints)
    return manager
