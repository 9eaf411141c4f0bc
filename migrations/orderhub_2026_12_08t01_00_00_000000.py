"""Saved settlement file mappings (``settlement_mapping``): a seller maps a platform's exported bill once (which
column is the order, the amounts, the kind, the settled time) and reuses the mapping for every later file. Written by
hand (helper "settlement file import")."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-08T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "settlement_mapping: saved settlement file mappings"


def _params(**given: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }
    params.update(given)
    return params


COLUMNS: list[tuple[str, type, dict[str, Any]]] = [
    ("name", Varchar, _params(length=100, default="", unique=True)),
    ("platform", Varchar, _params(length=32, default="")),
    ("mapping", Text, _params(default="{}")),
    ("created_by", Varchar, _params(length=64, default="")),
    ("created_at", Timestamptz, _params(default=TimestamptzNow())),
    ("updated_by", Varchar, _params(length=64, default="")),
    ("updated_at", Timestamptz, _params(default=TimestamptzNow())),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    manager.add_table(class_name="SettlementMapping", tablename="settlement_mapping", schema=None, columns=None)
    for name, column_class, params in COLUMNS:
        manager.add_column(
            table_class_name="SettlementMapping",
            tablename="settlement_mapping",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
