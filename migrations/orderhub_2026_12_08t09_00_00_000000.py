"""Co-purchase mining (orderhub.insights.pattern_tables, docs/insights-mining.md): the mining runs and the patterns
each found. Written by hand (helper "copurchase", issue 20)."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt, Boolean, Float, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-08T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "copurchase_run, copurchase_pattern: co-purchase mining runs and their patterns"


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


TABLES: list[tuple[str, str, list[tuple[str, type, dict[str, Any]]]]] = [
    (
        "CopurchaseRun",
        "copurchase_run",
        [
            ("status", Varchar, _params(length=16, default="queued", index=True)),
            ("since", Timestamptz, _params(default=TimestamptzNow())),
            ("until", Timestamptz, _params(default=TimestamptzNow())),
            ("channels", Text, _params(default="[]")),
            ("region", Varchar, _params(length=32, default="")),
            ("min_support", Float, _params(default=0.0)),
            ("min_count", Integer, _params(default=0)),
            ("max_qty", Integer, _params(default=1)),
            ("max_patterns", Integer, _params(default=0)),
            ("triples", Boolean, _params(default=False)),
            ("orders", BigInt, _params(default=0)),
            ("pairs", Integer, _params(default=0)),
            ("patterns", Integer, _params(default=0)),
            ("took_ms", Integer, _params(default=0)),
            ("error", Varchar, _params(length=255, default="")),
            ("created_by", Varchar, _params(length=64, default="")),
            ("created_at", Timestamptz, _params(default=TimestamptzNow())),
            ("started_at", Timestamptz, _params(default=None, null=True)),
            ("finished_at", Timestamptz, _params(default=None, null=True)),
        ],
    ),
    (
        "CopurchasePattern",
        "copurchase_pattern",
        [
            ("run", Integer, _params(default=0, index=True)),
            ("antecedent", Text, _params(default="[]")),
            ("min_qty", Integer, _params(default=1)),
            ("consequent", Varchar, _params(length=64, default="")),
            ("orders", BigInt, _params(default=0)),
            ("antecedent_orders", BigInt, _params(default=0)),
            ("consequent_orders", BigInt, _params(default=0)),
            ("support", Float, _params(default=0.0)),
            ("confidence", Float, _params(default=0.0)),
            ("lift", Float, _params(default=0.0)),
        ],
    ),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    for class_name, tablename, columns in TABLES:
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, params in columns:
            manager.add_column(
                table_class_name=class_name,
                tablename=tablename,
                column_name=name,
                db_column_name=name,
                column_class_name=column_class.__name__,
                column_class=column_class,
                params=params,
                schema=None,
            )
    return manager
