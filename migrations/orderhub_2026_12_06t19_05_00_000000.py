"""Order search: the receiver phone's search index (keyed hash + last four), the waybill an order was shipped
with, and indexes on the created / paid times and on the order lines' SKU codes."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T19:05:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "order search: phone index, shipped waybill, time and sku indexes"


def _varchar(length: int) -> dict[str, object]:
    return {
        "length": length,
        "default": "",
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": True,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    for name, length in (("receiver_phone_key", 64), ("receiver_phone_tail", 4), ("shipped_waybill_no", 64)):
        manager.add_column(
            table_class_name="Order",
            tablename="sales_order",
            column_name=name,
            db_column_name=name,
            column_class_name="Varchar",
            column_class=Varchar,
            params=_varchar(length),
            schema=None,
        )

    for name in ("placed_at", "paid_at"):
        manager.alter_column(
            table_class_name="Order",
            tablename="sales_order",
            column_name=name,
            db_column_name=name,
            params={"index": True},
            old_params={"index": False},
            column_class=Timestamptz,
            old_column_class=Timestamptz,
            schema=None,
        )

    manager.alter_column(
        table_class_name="OrderLine",
        tablename="order_line",
        column_name="sku_code",
        db_column_name="sku_code",
        params={"index": True},
        old_params={"index": False},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
