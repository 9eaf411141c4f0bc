"""Co-purchase mining runs count their attempts (orderhub.insights.pattern_tables, docs/insights-mining.md): a run
that times out or whose worker dies is tried again at most a few times, then stays failed. Written by hand (helper
"copurchase", issue 20 review)."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-08T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "copurchase_run: attempts"

TABLE = "copurchase_run"


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
    ("attempts", Integer, _params(default=0)),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    for name, column_class, params in COLUMNS:
        manager.add_column(
            table_class_name="CopurchaseRun",
            tablename=TABLE,
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
