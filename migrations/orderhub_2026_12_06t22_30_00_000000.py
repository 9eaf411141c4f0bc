"""The floor tables as the operators' dashboards read them: a packer's open pack and a warehouse's packs running
(``/api/v1/dash/operations``, ``/dash/me``, the ``operator_tasks`` drill-down) by index, not by scanning every pack
record ever made (one per order packed)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T22:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "pack record indexes for the operators' dashboards"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def indexes() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl("CREATE INDEX pack_record_packer_status ON pack_record (packer, status)")
        await engine.run_ddl("CREATE INDEX pack_record_status_warehouse ON pack_record (status, warehouse)")

    manager.add_raw(indexes)
    return manager
