"""A platform channel's token upkeep (orderhub.channels.tokens, docs/channels.md#authorisation): the last refresh
attempt's outcome, its time and the platform's refusal or the failure. The tokens and their expiry stay sealed in
``channel.credentials``. Written by hand (helper "tokens", issue 19)."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-08T05:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "channel: token_refresh_status, token_refresh_at, token_refresh_error"

TABLE = "channel"


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


COLUMNS: list[tuple[str, type, dict[str, Any]]] = [
    ("token_refresh_status", Varchar, _params(length=16, default="")),
    ("token_refresh_at", Timestamptz, _params(default=None, null=True)),
    ("token_refresh_error", Varchar, _params(length=255, default="")),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    for name, column_class, params in COLUMNS:
        manager.add_column(
            table_class_name="Channel",
            tablename=TABLE,
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
