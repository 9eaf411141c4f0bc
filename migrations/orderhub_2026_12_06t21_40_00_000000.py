"""The rollups' catch-up cursor: rollups are counted by a batched job that reads the order event log after a cursor
(docs/insights.md#how-the-rollups-stay-current), not inside the pipeline's transactions.

On PostgreSQL each ``order_event`` row records the id of the transaction that wrote it (``txid``, a column the ORM
does not list, filled by its default): the job reads events of transactions older than every transaction still
running, so an event committed late (a lower id committing after a higher one) is never skipped. SQLite has one writer
at a time, so event ids are in commit order and the cursor is the last id counted."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T21:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "rollup catch-up cursor"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def cursor() -> None:
        from piccolo.engine import engine_finder
        from piccolo.engine.sqlite import SQLiteEngine

        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl(
            "CREATE TABLE rollup_cursor (name VARCHAR(32) PRIMARY KEY, txid BIGINT NOT NULL DEFAULT 0, "
            "event_id BIGINT NOT NULL DEFAULT 0)"
        )
        await engine.run_ddl("INSERT INTO rollup_cursor (name, txid, event_id) VALUES ('order_events', 0, 0)")
        if not isinstance(engine, SQLiteEngine):
            # Existing rows get the migration's transaction id: the first catch-up counts them all.
            await engine.run_ddl(
                "ALTER TABLE order_event ADD COLUMN txid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)"
            )
            await engine.run_ddl("CREATE INDEX order_event_txid ON order_event (txid, id)")

    manager.add_raw(cursor)
    return manager
