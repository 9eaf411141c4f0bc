"""After-sale cases as records of their own (docs/aftersales.md): ``after_sale`` (one per case: kind, status,
order, refund in fen, source, the platform's refund id, the approval request, requested / refunded times),
``after_sale_line``, the ``after_sale_change`` audit, the warehouse's receiving scans (``after_sale_receipt``) and
returned units that came back damaged (``damaged_stock``). Written by hand (helper "after-sales")."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-08T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "after-sale cases (after_sale, after_sale_line, after_sale_change, after_sale_receipt, damaged_stock)"


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
        "AfterSale",
        "after_sale",
        [
            ("order", Integer, _params(default=0, index=True)),
            ("channel", Integer, _params(default=0)),
            ("kind", Varchar, _params(length=16, default="")),
            ("status", Varchar, _params(length=16, default="", index=True)),
            ("source", Varchar, _params(length=16, default="")),
            ("platform_refund_id", Varchar, _params(length=64, default=None, null=True)),
            ("refund_amount", Integer, _params(default=0)),
            ("refunded_amount", Integer, _params(default=0)),
            ("reason", Varchar, _params(length=255, default="")),
            ("note", Varchar, _params(length=255, default="")),
            ("request_id", Integer, _params(default=None, null=True)),
            ("reship_order_id", Integer, _params(default=None, null=True)),
            ("requested_at", Timestamptz, _params(default=TimestamptzNow())),
            ("approved_at", Timestamptz, _params(default=None, null=True)),
            ("received_at", Timestamptz, _params(default=None, null=True)),
            ("refunded_at", Timestamptz, _params(default=None, null=True)),
            ("closed_at", Timestamptz, _params(default=None, null=True)),
            ("created_by", Varchar, _params(length=64, default="system")),
            ("updated_at", Timestamptz, _params(default=TimestamptzNow())),
        ],
    ),
    (
        "AfterSaleLine",
        "after_sale_line",
        [
            ("after_sale", Integer, _params(default=0, index=True)),
            ("sku_code", Varchar, _params(length=64, default="")),
            ("qty", Integer, _params(default=0)),
            ("received_good", Integer, _params(default=0)),
            ("received_damaged", Integer, _params(default=0)),
        ],
    ),
    (
        "AfterSaleChange",
        "after_sale_change",
        [
            ("after_sale", Integer, _params(default=0, index=True)),
            ("action", Varchar, _params(length=32, default="")),
            ("from_status", Varchar, _params(length=16, default="")),
            ("to_status", Varchar, _params(length=16, default="")),
            ("actor", Varchar, _params(length=64, default="system")),
            ("data", Text, _params(default="{}")),
            ("at", Timestamptz, _params(default=TimestamptzNow())),
        ],
    ),
    (
        "AfterSaleReceipt",
        "after_sale_receipt",
        [
            ("after_sale", Integer, _params(default=0, index=True)),
            ("client_id", Varchar, _params(length=64, default="", unique=True)),
            ("warehouse", Integer, _params(default=0)),
            ("sku_code", Varchar, _params(length=64, default="")),
            ("qty", Integer, _params(default=0)),
            ("condition", Varchar, _params(length=8, default="good")),
            ("actor", Varchar, _params(length=64, default="")),
            ("at", Timestamptz, _params(default=TimestamptzNow())),
        ],
    ),
    (
        "DamagedStock",
        "damaged_stock",
        [
            ("warehouse", Integer, _params(default=0)),
            ("sku", Integer, _params(default=0)),
            ("qty", Integer, _params(default=0)),
            ("updated_at", Timestamptz, _params(default=TimestamptzNow())),
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
