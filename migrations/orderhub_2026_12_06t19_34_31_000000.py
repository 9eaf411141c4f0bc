"""Staff on the WeChat mini-program: one account per openid (a unique index; SQLite cannot add a unique column, and
piccolo runs a migration's raw steps before its column changes, hence a migration of its own)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T19:34:31:000000"
VERSION = "1.38.0"
DESCRIPTION = "app_user.mp_openid unique"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def constraints() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl("CREATE UNIQUE INDEX app_user_mp_openid ON app_user (mp_openid)")

    manager.add_raw(constraints)
    return manager
