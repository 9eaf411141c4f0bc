"""Constraints piccolo's column API cannot express: composite uniques, the stock invariant, the sweeper index.

Piccolo runs a migration's raw steps before its table operations, so these live in their own migration.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-22T01:01:28:000000"
VERSION = "1.38.0"
DESCRIPTION = "constraints and indexes"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def constraints() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        statements = [
            "CREATE UNIQUE INDEX location_warehouse_code ON location (warehouse, code)",
            "CREATE UNIQUE INDEX stock_level_sku_warehouse ON stock_level (sku, warehouse)",
            "CREATE UNIQUE INDEX sales_order_channel_external_id ON sales_order (channel, external_id)",
            'CREATE UNIQUE INDEX order_line_order_line_no ON order_line ("order", line_no)',
            "CREATE INDEX sales_order_status_updated_at ON sales_order (status, updated_at)",
        ]
        if engine.engine_type == "sqlite":
            for op in ("INSERT", "UPDATE"):
                statements.append(
                    f"CREATE TRIGGER stock_level_bounds_{op.lower()} BEFORE {op} ON stock_level "
                    "WHEN NEW.on_hand < 0 OR NEW.reserved < 0 OR NEW.reserved > NEW.on_hand "
                    "BEGIN SELECT RAISE(ABORT, 'stock_level_bounds'); END"
                )
        else:
            statements.append(
                "ALTER TABLE stock_level ADD CONSTRAINT stock_level_bounds "
                "CHECK (on_hand >= 0 AND reserved >= 0 AND reserved <= on_hand)"
            )
        for statement in statements:
            await engine.run_ddl(statement)

    manager.add_raw(constraints)
    return manager
