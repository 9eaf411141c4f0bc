"""One customised template per (notice, channel)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T18:13:34:000000"
VERSION = "1.38.0"
DESCRIPTION = "notify template unique index"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def constraints() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl("CREATE UNIQUE INDEX notify_template_event_channel ON notify_template (event, channel)")

    manager.add_raw(constraints)
    return manager
