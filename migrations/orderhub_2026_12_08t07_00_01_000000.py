"""One rule pack version per number and destination (a composite unique piccolo's column API cannot express): two
managers adding a version at once cannot both get the same number."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-08T07:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "customs_rule_pack unique destination version"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def constraints() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl(
            "CREATE UNIQUE INDEX customs_rule_pack_destination_version ON customs_rule_pack (destination, version)"
        )

    manager.add_raw(constraints)
    return manager
