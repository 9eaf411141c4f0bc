"""Indexes for the approval metrics (docs/dashboards.md#审批--approvals): requests by when they were decided, tasks by
when they were created and decided — the day's figures read a day of them, never the whole history."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-07T05:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "approval metrics indexes"

INDEXES = (
    "CREATE INDEX approval_request_decided_at ON approval_request (decided_at)",
    "CREATE INDEX approval_task_created_at ON approval_task (created_at)",
    "CREATE INDEX approval_task_decided_at ON approval_task (decided_at)",
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
