"""Add-on offers (issue 20 B.2–3, orderhub.offers, docs/offers.md): the offer drafted from a mined co-purchase
pattern or by hand, reviewed and enabled by a manager, and its audit trail. Written by hand (helper "offers")."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Float, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-08T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "add-on offers: offer, offer_log"


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


OFFER_COLUMNS: list[tuple[str, type, dict[str, Any]]] = [
    ("name", Varchar, _params(length=100, default="")),
    ("status", Varchar, _params(length=16, default="draft", index=True)),
    ("trigger_skus", Text, _params(default="[]")),
    ("min_qty", Integer, _params(default=1)),
    ("offer_sku", Varchar, _params(length=64, default="")),
    ("price", Integer, _params(default=0)),
    ("holdout_share", Float, _params(default=0.1)),
    ("pattern_id", Integer, _params(default=0)),
    ("pattern_support", Float, _params(default=None, null=True)),
    ("pattern_confidence", Float, _params(default=None, null=True)),
    ("pattern_lift", Float, _params(default=None, null=True)),
    ("pattern_orders", Integer, _params(default=None, null=True)),
    ("created_by", Varchar, _params(length=64, default="")),
    ("reviewed_by", Varchar, _params(length=64, default="")),
    ("enabled_by", Varchar, _params(length=64, default="")),
    ("enabled_at", Timestamptz, _params(default=None, null=True)),
    ("disabled_by", Varchar, _params(length=64, default="")),
    ("disabled_at", Timestamptz, _params(default=None, null=True)),
    ("gift_rule_id", Integer, _params(default=None, null=True)),
    ("created_at", Timestamptz, _params(default=TimestamptzNow())),
    ("updated_at", Timestamptz, _params(default=TimestamptzNow())),
]

LOG_COLUMNS: list[tuple[str, type, dict[str, Any]]] = [
    ("offer", Integer, _params(default=0, index=True)),
    ("action", Varchar, _params(length=32, default="")),
    ("actor", Varchar, _params(length=64, default="")),
    ("data", Text, _params(default="{}")),
    ("created_at", Timestamptz, _params(default=TimestamptzNow())),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    for class_name, tablename, columns in (("Offer", "offer", OFFER_COLUMNS), ("OfferLog", "offer_log", LOG_COLUMNS)):
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
