"""``approval_request.sp_no`` is unique (raw step: a migration of its own, after the column exists): one request per
WeCom approval — storing a number a second time fails; NULL (not submitted, or decided in the hub) may repeat."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-07T07:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "approval_request.sp_no unique"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def indexes() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl("CREATE UNIQUE INDEX approval_request_sp_no ON approval_request (sp_no)")

    manager.add_raw(indexes)
    return manager
