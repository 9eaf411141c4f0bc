"""The approvals' composite indexes (raw steps: a migration of their own, after the tables exist): one version
number per flow, one entry number per audit chain, a person's tasks by status (their inbox), a request's tasks by
step."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-07T01:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "approvals composite indexes"

INDEXES = (
    "CREATE UNIQUE INDEX approval_flow_version_flow_version ON approval_flow_version (flow, version)",
    "CREATE UNIQUE INDEX approval_audit_chain_seq ON approval_audit (chain, seq)",
    "CREATE INDEX approval_task_assignee_status ON approval_task (assignee, status)",
    "CREATE INDEX approval_task_request_step ON approval_task (request, step)",
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
