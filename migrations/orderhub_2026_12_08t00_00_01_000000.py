"""Finance's composite indexes (raw steps: a migration of their own, after the tables exist): one settlement line
per channel and line key, lines by order and by bill day, one reconciliation per channel and key, one pull per channel
and day."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-08T00:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "finance composite indexes"

INDEXES = (
    "CREATE UNIQUE INDEX settlement_line_channel_key ON settlement_line (channel, line_key)",
    "CREATE INDEX settlement_line_channel_order ON settlement_line (channel, external_id)",
    "CREATE INDEX settlement_line_channel_day ON settlement_line (channel, bill_date)",
    "CREATE UNIQUE INDEX reconciliation_channel_key ON reconciliation (channel, recon_key)",
    "CREATE INDEX reconciliation_channel_day ON reconciliation (channel, bill_date)",
    "CREATE UNIQUE INDEX settlement_pull_channel_day ON settlement_pull (channel, day)",
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def indexes() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        for ddl in INDEXES:
            await engine.run_ddl(ddl)

    manager.add_raw(indexes)
    return manager
