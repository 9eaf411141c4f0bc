"""Finance (issue 18): fee settings, expected payouts, settlement lines and their reconciliation; a SKU's category
(commission rates are per category) and an order's platform-funded discount. Written by hand."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-08T00:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "finance: fee_setting, order_payout, settlement_*, reconciliation; sku.category; platform_discount"


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


def _now() -> dict[str, Any]:
    return _params(default=TimestamptzNow())


TABLES: list[tuple[str, str, list[tuple[str, type, dict[str, Any]]]]] = [
    (
        "FeeSetting",
        "fee_setting",
        [
            ("channel", Integer, _params(default=0, unique=True)),
            ("commission_bp", Integer, _params(default=0)),
            ("category_commission", Text, _params(default="{}")),
            ("payment_fee_bp", Integer, _params(default=0)),
            ("service_fee_bp", Integer, _params(default=0)),
            ("service_fee_fixed", BigInt, _params(default=0)),
            ("insurance_fee", BigInt, _params(default=0)),
            ("settle_delay_days", Integer, _params(default=15)),
            ("updated_by", Varchar, _params(length=64, default="system")),
            ("updated_at", Timestamptz, _now()),
        ],
    ),
    (
        "OrderPayout",
        "order_payout",
        [
            ("order", Integer, _params(default=0, unique=True)),
            ("channel", Integer, _params(default=0, index=True)),
            ("external_id", Varchar, _params(length=64, default="")),
            ("shipped_at", Timestamptz, _params(default=None, null=True, index=True)),
            ("paid", BigInt, _params(default=0)),
            ("platform_discount", BigInt, _params(default=0)),
            ("commission", BigInt, _params(default=0)),
            ("payment_fee", BigInt, _params(default=0)),
            ("service_fee", BigInt, _params(default=0)),
            ("insurance", BigInt, _params(default=0)),
            ("refunded", BigInt, _params(default=0)),
            ("expected", BigInt, _params(default=0)),
            ("basis", Text, _params(default="{}")),
            ("stale", Boolean, _params(default=True, index=True)),
            ("settled", BigInt, _params(default=0)),
            ("settled_at", Timestamptz, _params(default=None, null=True)),
            ("computed_at", Timestamptz, _params(default=None, null=True)),
        ],
    ),
    (
        "SettlementSetting",
        "settlement_setting",
        [
            ("channel", Integer, _params(default=0, unique=True)),
            ("enabled", Boolean, _params(default=True)),
            ("extra", Text, _params(default="")),
            ("first_day", Varchar, _params(length=10, default="")),
            ("updated_at", Timestamptz, _now()),
        ],
    ),
    (
        "SettlementPull",
        "settlement_pull",
        [
            ("channel", Integer, _params(default=0, index=True)),
            ("day", Varchar, _params(length=10, default="")),
            ("status", Varchar, _params(length=16, default="running")),
            ("cursor", Varchar, _params(length=255, default=None, null=True)),
            ("lines", Integer, _params(default=0)),
            ("error", Varchar, _params(length=255, default="")),
            ("attempts", Integer, _params(default=0)),
            ("updated_at", Timestamptz, _now()),
        ],
    ),
    (
        "SettlementBatch",
        "settlement_batch",
        [
            ("channel", Integer, _params(default=0, index=True)),
            ("source", Varchar, _params(length=8, default="pull")),
            ("batch_key", Varchar, _params(length=128, default="")),
            ("file_name", Varchar, _params(length=255, default="")),
            ("lines", Integer, _params(default=0)),
            ("total", BigInt, _params(default=0)),
            ("inserted", Integer, _params(default=0)),
            ("replaced", Integer, _params(default=0)),
            ("actor", Varchar, _params(length=64, default="system")),
            ("created_at", Timestamptz, _now()),
        ],
    ),
    (
        "SettlementLine",
        "settlement_line",
        [
            ("channel", Integer, _params(default=0)),
            ("line_key", Varchar, _params(length=128, default="")),
            ("batch", Integer, _params(default=0)),
            ("external_id", Varchar, _params(length=64, default="")),
            ("sub_id", Varchar, _params(length=64, default="")),
            ("kind", Varchar, _params(length=24, default="")),
            ("amount", BigInt, _params(default=0)),
            ("settled_at", Timestamptz, _now()),
            ("bill_date", Varchar, _params(length=10, default="")),
            ("occurred_at", Timestamptz, _params(default=None, null=True)),
            ("refund_before_settle", Boolean, _params(default=False)),
            ("memo", Varchar, _params(length=255, default="")),
            ("payload", Text, _params(default="{}")),
            ("updated_at", Timestamptz, _now()),
        ],
    ),
    (
        "Reconciliation",
        "reconciliation",
        [
            ("channel", Integer, _params(default=0)),
            ("recon_key", Varchar, _params(length=140, default="")),
            ("order", Integer, _params(default=None, null=True, index=True)),
            ("external_id", Varchar, _params(length=64, default="")),
            ("bill_date", Varchar, _params(length=10, default="", index=True)),
            ("expected", BigInt, _params(default=0)),
            ("settled", BigInt, _params(default=0)),
            ("difference", BigInt, _params(default=0)),
            ("status", Varchar, _params(length=12, default="balanced", index=True)),
            ("main_cause", Varchar, _params(length=32, default="")),
            ("parts", Text, _params(default="[]")),
            ("resolution", Varchar, _params(length=12, default="")),
            ("resolution_note", Varchar, _params(length=500, default="")),
            ("resolved_by", Varchar, _params(length=64, default="")),
            ("resolved_at", Timestamptz, _params(default=None, null=True)),
            ("updated_at", Timestamptz, _now()),
        ],
    ),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Sku",
        tablename="sku",
        column_name="category",
        db_column_name="category",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=64, default=""),
        schema=None,
    )
    manager.add_column(
        table_class_name="Order",
        tablename="sales_order",
        column_name="platform_discount",
        db_column_name="platform_discount",
        column_class_name="BigInt",
        column_class=BigInt,
        params=_params(default=0),
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
