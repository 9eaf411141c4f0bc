"""The customer's clear data sealed at rest (orderhub/orders/pii.py): the buyer's phone, the receiver's name,
phone, street and full address and the raw payload become TEXT (a sealed value is longer than the clear one) and
every existing row is sealed, in batches, with the key the hub uses. A value already sealed is left as it is."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Text
from piccolo.table import Table

ID = "2026-12-08T04:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "seal the customer's clear data at rest"

BATCH = 500
COLUMNS = ("buyer_phone", "receiver_name", "receiver_phone", "receiver_detail", "receiver_address", "raw_payload")


class _Order(Table, tablename="sales_order"):
    receiver_phone = Text()


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def seal_rows() -> None:
        from piccolo.engine import PostgresEngine, engine_finder

        from orderhub.orders.pii import PREFIX, seal

        engine = engine_finder()
        if isinstance(engine, PostgresEngine):  # SQLite does not enforce VARCHAR lengths
            for name in COLUMNS:
                await engine.run_ddl(f"ALTER TABLE sales_order ALTER COLUMN {name} TYPE TEXT")
        columns = ", ".join(COLUMNS)
        unsealed = " OR ".join(f"({name} <> '' AND {name} NOT LIKE '{PREFIX}%')" for name in COLUMNS)
        last = 0
        while True:
            rows = await _Order.raw(
                f"SELECT id, {columns} FROM sales_order WHERE id > {{}} AND ({unsealed}) ORDER BY id LIMIT {{}}",
                last,
                BATCH,
            )
            if not rows:
                break
            for row in rows:
                values = [seal(row[name] or "") for name in COLUMNS]
                assignments = ", ".join(f"{name} = {{}}" for name in COLUMNS)
                await _Order.raw(f"UPDATE sales_order SET {assignments} WHERE id = {{}}", *values, row["id"])
            last = int(rows[-1]["id"])

    manager.add_raw(seal_rows)
    return manager
