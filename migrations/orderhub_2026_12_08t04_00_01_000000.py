"""The customer's clear data sealed at rest (orderhub/orders/pii.py): the buyer's phone, the receiver's name,
phone, street and full address and the raw payload become TEXT (a sealed value is longer than the clear one) and
every existing row is sealed, in batches, with the key the hub uses. A value already sealed is left as it is."""

import json

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
    # Not one transaction: the ALTERs commit at once (VARCHAR → TEXT needs no rewrite), and each batch commits on
    # its own, so the hub keeps running while a large table is sealed.
    manager = MigrationManager(
        migration_id=ID, app_name="orderhub", description=DESCRIPTION, wrap_in_transaction=False
    )

    async def seal_rows() -> None:
        from piccolo.engine import PostgresEngine, engine_finder

        from orderhub.orders.pii import PREFIX, seal

        engine = engine_finder()
        assert engine is not None
        if isinstance(engine, PostgresEngine):  # SQLite does not enforce VARCHAR lengths
            for name in COLUMNS:
                await engine.run_ddl(f"ALTER TABLE sales_order ALTER COLUMN {name} TYPE TEXT")
            await engine.run_ddl("ALTER TABLE notify_contact ALTER COLUMN phone TYPE VARCHAR(64)")
        # customers' phones in the notification outbox (SMS rows: recipient and the dedup key) and contacts
        for row in await _Order.raw(
            "SELECT id, recipient, dedup_key FROM notification WHERE channel = 'aliyun_sms' AND recipient <> '' "
            f"AND recipient NOT LIKE '{PREFIX}%'"
        ):
            sealed = seal(row["recipient"])
            key = row["dedup_key"].replace(f"|{row['recipient']}|", f"|{sealed}|")[:255]
            await _Order.raw(
                "UPDATE notification SET recipient = {}, dedup_key = {} WHERE id = {}", sealed, key, row["id"]
            )
        # order events written before: an address change carried the clear address and name
        from orderhub.orders.pii import mask_detail, mask_name

        events = await _Order.raw(
            "SELECT id, data FROM order_event WHERE type IN ('order.receiver_changed', 'order.approval_requested', "
            "'order.approval_decided') AND data LIKE '%\"address\"%'"
        )
        for row in events:
            data = json.loads(row["data"] or "{}")
            if not isinstance(data, dict) or not isinstance(data.get("address"), str):
                continue
            data["address"] = mask_detail(data["address"])
            if isinstance(data.get("name"), str):
                data["name"] = mask_name(data["name"])
            await _Order.raw(
                "UPDATE order_event SET data = {} WHERE id = {}", json.dumps(data, ensure_ascii=False), row["id"]
            )
        # address-change approvals opened before: the new receiver sealed in the request (its audit trail is
        # hash-chained and stays as written)
        from orderhub.orders.pii import seal_receiver

        for row in await _Order.raw("SELECT id, payload FROM approval_request WHERE kind = 'address_change'"):
            payload = json.loads(row["payload"] or "{}")
            if isinstance(payload, dict) and isinstance(payload.get("receiver"), dict):
                payload["receiver"] = seal_receiver(payload["receiver"])
                await _Order.raw(
                    "UPDATE approval_request SET payload = {} WHERE id = {}",
                    json.dumps(payload, ensure_ascii=False),
                    row["id"],
                )
        for row in await _Order.raw(f"SELECT id, phone FROM notify_contact WHERE phone NOT LIKE '{PREFIX}%'"):
            await _Order.raw("UPDATE notify_contact SET phone = {} WHERE id = {}", seal(row["phone"]), row["id"])
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
            assignments = ", ".join(f"{name} = {{}}" for name in COLUMNS)
            async with engine.transaction():
                for row in rows:
                    values = [seal(row[name] or "") for name in COLUMNS]
                    await _Order.raw(f"UPDATE sales_order SET {assignments} WHERE id = {{}}", *values, row["id"])
            last = int(rows[-1]["id"])

    manager.add_raw(seal_rows)
    return manager
