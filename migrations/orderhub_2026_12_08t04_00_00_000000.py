"""Encrypted receivers: the platform's protected receiver beside the order's clear fields (its ciphertexts, masked
forms and search indexes as JSON) and the match key duplicate detection and 合单 compare for it; the receiver
decrypt audit; carrier accounts that issue waybills through a sales platform's e-waybill service."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-08T04:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "encrypted receivers: receiver_cipher, receiver_match_key, receiver_decrypt, platform e-waybill accounts"


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


COLUMNS: list[tuple[str, str, str, type, dict[str, Any]]] = [
    ("Order", "sales_order", "receiver_cipher", Text, _params(default="")),
    ("Order", "sales_order", "receiver_match_key", Varchar, _params(length=160, default="", index=True)),
    ("CarrierAccount", "carrier_account", "via", Varchar, _params(length=16, default="")),
    ("CarrierAccount", "carrier_account", "channel", Integer, _params(default=None, null=True, index=True)),
    ("Waybill", "waybill", "privacy", Varchar, _params(length=8, default="")),
    ("Waybill", "waybill", "print_data", Text, _params(default="")),
]

DECRYPT_COLUMNS: list[tuple[str, type, dict[str, Any]]] = [
    ("order", Integer, _params(default=0, index=True)),
    ("channel", Integer, _params(default=0)),
    ("platform", Varchar, _params(length=16, default="")),
    ("scene", Varchar, _params(length=16, default="")),
    ("reason", Varchar, _params(length=255, default="")),
    ("actor", Varchar, _params(length=64, default="system")),
    ("outcome", Varchar, _params(length=16, default="")),
    ("platform_code", Varchar, _params(length=64, default="")),
    ("created_at", Timestamptz, _params(default=TimestamptzNow(), index=True)),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    for class_name, tablename, name, column_class, params in COLUMNS:
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
    manager.add_table(class_name="ReceiverDecrypt", tablename="receiver_decrypt", schema=None, columns=None)
    for name, column_class, params in DECRYPT_COLUMNS:
        manager.add_column(
            table_class_name="ReceiverDecrypt",
            tablename="receiver_decrypt",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
