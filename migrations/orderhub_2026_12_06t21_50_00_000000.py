"""A warehouse's daily capacity (orders it can ship per day; 0 = not set): the tactical dashboard's backlog against
capacity (issue 16 item 3, docs/dashboards.md). Written by hand (helper "tiers"); the drill-down indexes are the next
migration."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T21:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "warehouse daily capacity"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Warehouse",
        tablename="warehouse",
        column_name="daily_capacity",
        db_column_name="daily_capacity",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
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
