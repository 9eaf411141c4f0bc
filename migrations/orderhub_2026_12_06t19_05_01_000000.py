"""Order search, existing rows: the receiver phone's search index (computed here, in batches, with the key the hub
uses — orderhub/orders/phone_index.py) and the waybill each shipped order left with (its parcel or its platform
write-back). Runs after the columns exist (piccolo runs a migration's raw steps before its column changes)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Varchar
from piccolo.table import Table

ID = "2026-12-06T19:05:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "order search backfill"

BATCH = 1000


class _Order(Table, tablename="sales_order"):
    receiver_phone = Varchar(length=32)  # Text since 2026-12-08T04:00:01


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def backfill() -> None:
        from orderhub.orders.phone_index import phone_key, search_digits
        from orderhub.orders.pii import open_

        last = 0
        while True:
            rows = await _Order.raw(
                "SELECT id, receiver_phone FROM sales_order WHERE id > {} AND receiver_phone_key = '' "
                "ORDER BY id LIMIT {}",
                last,
                BATCH,
            )
            if not rows:
                break
            for row in rows:
                phone = open_(row["receiver_phone"])  # sealed at rest since 2026-12-08T04:00:01
                await _Order.raw(
                    "UPDATE sales_order SET receiver_phone_key = {}, receiver_phone_tail = {} WHERE id = {}",
                    phone_key(phone),
                    search_digits(phone)[-4:],
                    row["id"],
                )
            last = int(rows[-1]["id"])
        await _Order.raw(
            "UPDATE sales_order SET shipped_waybill_no = COALESCE("
            '(SELECT p.waybill_no FROM parcel_tracking p WHERE p."order" = sales_order.id ORDER BY p.id DESC LIMIT 1), '
            '(SELECT w.waybill_no FROM platform_writeback w WHERE w."order" = sales_order.id '
            "ORDER BY w.id DESC LIMIT 1), '') WHERE shipped_waybill_no = ''"
        )

    manager.add_raw(backfill)
    return manager
