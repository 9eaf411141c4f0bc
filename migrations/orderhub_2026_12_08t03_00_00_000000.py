"""Reports kept for download (``report_file``, orderhub.reports.tables): the weekly report's PDF and the daily
reconciliation files. Written by hand (helper "reports")."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Bytea, Date, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.date import DateNow
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-08T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "report_file: generated reports kept for download"


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
        "ReportFile",
        "report_file",
        [
            ("kind", Varchar, _params(length=16, default="", index=True)),
            ("period", Varchar, _params(length=32, default="", index=True)),
            ("period_start", Date, _params(default=DateNow())),
            ("channel_id", Integer, _params(default=0)),
            ("format", Varchar, _params(length=8, default="")),
            ("filename", Varchar, _params(length=128, default="")),
            ("size", Integer, _params(default=0)),
            ("content", Bytea, _params(default=b"")),
            ("created_at", Timestamptz, _params(default=TimestamptzNow(), index=True)),
            ("created_by", Varchar, _params(length=64, default="system")),
            ("pushed", Integer, _params(default=0)),
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
