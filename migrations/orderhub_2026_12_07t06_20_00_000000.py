"""After-sale effects of approvals (docs/approvals.md#kinds-of-request): ``sales_order.reship_of`` (a replacement
order, 补发单, names the order it replaces) and the put-back work of an order cancelled after picking (返架:
``putback`` per order and warehouse, ``putback_line`` per SKU, location and tote). Written by hand (helper
"approval effects")."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T06:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "reship_of on orders; put-back work (putback, putback_line)"


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
        "Putback",
        "putback",
        [
            ("order", Integer, _params(default=0, index=True)),
            ("warehouse", Integer, _params(default=0, index=True)),
            ("request_id", Integer, _params(default=None, null=True)),
            ("source", Varchar, _params(length=8, default="tote")),
            ("reason", Varchar, _params(length=255, default="")),
            ("status", Varchar, _params(length=8, default="open", index=True)),
            ("units", Integer, _params(default=0)),
            ("created_by", Varchar, _params(length=64, default="system")),
            ("created_at", Timestamptz, _params(default=TimestamptzNow())),
            ("done_by", Varchar, _params(length=64, default="")),
            ("done_at", Timestamptz, _params(default=None, null=True)),
            ("note", Varchar, _params(length=255, default="")),
        ],
    ),
    (
        "PutbackLine",
        "putback_line",
        [
            ("putback", Integer, _params(default=0, index=True)),
            ("sku", Integer, _params(default=0)),
            ("location", Integer, _params(default=None, null=True)),
            ("task", Integer, _params(default=None, null=True)),
            ("tote_slot", Integer, _params(default=1)),
            ("qty", Integer, _params(default=0)),
            ("missing", Integer, _params(default=0)),
        ],
    ),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Order",
        tablename="sales_order",
        column_name="reship_of",
        db_column_name="reship_of",
        column_class_name="Integer",
        column_class=Integer,
        params=_params(default=None, null=True, index=True),
        schema=None,
    )
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
