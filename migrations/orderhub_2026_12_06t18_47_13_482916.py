"""Picking: a warehouse may let item scans through without the location scan (required by default; issue 15
item 5)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T18:47:13:482916"
VERSION = "1.38.0"
DESCRIPTION = "picking_config.require_location_scan"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    manager.add_column(
        table_class_name="PickingConfig",
        tablename="picking_config",
        column_name="require_location_scan",
        db_column_name="require_location_scan",
        column_class_name="Boolean",
        column_class=Boolean,
        params={
            "default": True,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
