"""Cross-border customs data (issue 20 A2, A3; docs/customs.md): each SKU's declaration data (``sku_customs``, one
row per SKU) and the destinations' rule pack versions (``customs_rule_pack``; its unique (destination, version) index
is the next migration: piccolo runs a migration's raw SQL before its tables).
The shipped default packs are not seeded here: they are read from ``orderhub/customs/packs/`` while a destination
has no stored version (orderhub.customs.packs says why). Written by hand (helper "customs-data", issue 20)."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import BigInt, Date, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.columns.defaults.date import DateNow
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table


class Sku(Table, tablename="sku", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


ID = "2026-12-08T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "customs: sku_customs, customs_rule_pack"


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


SKU_CUSTOMS: list[tuple[str, type, dict[str, Any]]] = [
    (
        "sku",
        ForeignKey,
        _params(
            references=Sku,
            on_delete=OnDelete.cascade,
            on_update=OnUpdate.cascade,
            target_column=None,
            unique=True,
            index=True,
        ),
    ),
    ("hs_code", Varchar, _params(length=10, default="")),
    ("name_en", Varchar, _params(length=200, default="")),
    ("name_zh", Varchar, _params(length=200, default="")),
    ("names", Text, _params(default="{}")),
    ("material", Varchar, _params(length=200, default="")),
    ("usage", Varchar, _params(length=200, default="")),
    ("origin_country", Varchar, _params(length=2, default="")),
    ("unit_value", BigInt, _params(default=0)),
    ("currency", Varchar, _params(length=3, default="CNY")),
    ("certificates", Text, _params(default="{}")),
    ("updated_by", Varchar, _params(length=64, default="system")),
    ("updated_at", Timestamptz, _params(default=TimestamptzNow())),
]

RULE_PACK: list[tuple[str, type, dict[str, Any]]] = [
    ("destination", Varchar, _params(length=2, default="", index=True)),
    ("effective_from", Date, _params(default=DateNow())),
    ("version", Integer, _params(default=1)),
    ("body", Text, _params(default="{}")),
    ("created_by", Varchar, _params(length=64, default="system")),
    ("created_at", Timestamptz, _params(default=TimestamptzNow())),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    for class_name, tablename, columns in (
        ("CustomsSku", "sku_customs", SKU_CUSTOMS),
        ("CustomsRulePack", "customs_rule_pack", RULE_PACK),
    ):
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
