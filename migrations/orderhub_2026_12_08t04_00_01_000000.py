"""The customer's clear data sealed at rest (orderhub/orders/pii.py): the buyer's phone, the receiver's name,
phone, street and full address and the raw payload become TEXT (a sealed value is longer than the clear one) and
every existing row is sealed, in batches, with the key the hub uses. A value already sealed is left as it is. Also
sealed: customers' phones in the SMS outbox and the notification contacts, and the receiver an open address-change
approval carries; the addresses older order events carried are masked. Every table is walked in id-ordered batches."""

import json
from collections.abc import Callable
from typing import Any

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
        from orderhub.orders.pii import mask_detail, mask_name, seal_receiver

        async def batches(select: str, update: Callable[[dict[str, Any]], tuple[str, list[Any]] | None]) -> None:
            """``select`` (a query with ``id > {}`` and no ORDER/LIMIT) walked in id order, BATCH rows at a time,
            each batch's UPDATEs (``update`` gives one per row, or None) committed together."""
            last = 0
            while True:
                rows = await _Order.raw(f"{select} AND id > {{}} ORDER BY id LIMIT {{}}", last, BATCH)
                if not rows:
                    return
                async with engine.transaction():
                    for row in rows:
                        change = update(row)
                        if change is not None:
                            await _Order.raw(change[0], *change[1])
                last = int(rows[-1]["id"])

        def seal_order(row: dict[str, Any]) -> tuple[str, list[Any]]:
            assignments = ", ".join(f"{name} = {{}}" for name in COLUMNS)
            values = [seal(row[name] or "") for name in COLUMNS]
            return f"UPDATE sales_order SET {assignments} WHERE id = {{}}", [*values, row["id"]]

        def seal_sms(row: dict[str, Any]) -> tuple[str, list[Any]]:  # the recipient and the dedup key holding it
            sealed = seal(row["recipient"])
            key = row["dedup_key"].replace(f"|{row['recipient']}|", f"|{sealed}|")[:255]
            return "UPDATE notification SET recipient = {}, dedup_key = {} WHERE id = {}", [sealed, key, row["id"]]

        def mask_event(row: dict[str, Any]) -> tuple[str, list[Any]] | None:  # an address change's clear address
            data = json.loads(row["data"] or "{}")
            if not isinstance(data, dict) or not isinstance(data.get("address"), str):
                return None
            data["address"] = mask_detail(data["address"])
            if isinstance(data.get("name"), str):
                data["name"] = mask_name(data["name"])
            return "UPDATE order_event SET data = {} WHERE id = {}", [json.dumps(data, ensure_ascii=False), row["id"]]

        def seal_approval(row: dict[str, Any]) -> tuple[str, list[Any]] | None:  # the new receiver it carries
            payload = json.loads(row["payload"] or "{}")
            if not isinstance(payload, dict) or not isinstance(payload.get("receiver"), dict):
                return None
            payload["receiver"] = seal_receiver(payload["receiver"])
            return "UPDATE approval_request SET payload = {} WHERE id = {}", [
                json.dumps(payload, ensure_ascii=False), row["id"]
            ]  # fmt: skip

        unsealed = " OR ".join(f"({name} <> '' AND {name} NOT LIKE '{PREFIX}%')" for name in COLUMNS)
        await batches(f"SELECT id, {', '.join(COLUMNS)} FROM sales_order WHERE ({unsealed})", seal_order)
        await batches(
            "SELECT id, recipient, dedup_key FROM notification WHERE channel = 'aliyun_sms' AND recipient <> '' "
            f"AND recipient NOT LIKE '{PREFIX}%'",
            seal_sms,
        )
        await batches(
            f"SELECT id, phone FROM notify_contact WHERE phone NOT LIKE '{PREFIX}%'",
            lambda row: ("UPDATE notify_contact SET phone = {} WHERE id = {}", [seal(row["phone"]), row["id"]]),
        )
        await batches(
            "SELECT id, data FROM order_event WHERE type IN ('order.receiver_changed', 'order.approval_requested', "
            "'order.approval_decided') AND data LIKE '%\"address\"%'",
            mask_event,
        )
        # address-change approvals opened before (their audit trail is hash-chained and stays as written)
        await batches("SELECT id, payload FROM approval_request WHERE kind = 'address_change'", seal_approval)

    manager.add_raw(seal_rows)
    return manager
