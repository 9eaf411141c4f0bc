"""Approval cards (issue 17 item 4, docs/approvals.md#enterprise-wechat-one-tap): approval_card — one WeCom message per
person and approval task (the 同意 / 驳回 card, a copy's notice, a reminder), its send queue, the response codes
its updates spend, and the text its buttons show."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T04:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "approval cards (WeCom template cards per approval task)"

TABLE = "approval_card"


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
    ("request", Integer, _params(default=0, index=True)),
    ("task", Integer, _params(default=0, index=True)),
    ("kind", Varchar, _params(length=8, default="")),
    ("assignee", Integer, _params(default=0)),
    ("wecom_userid", Varchar, _params(length=64, default="")),
    ("card_id", Varchar, _params(length=128, default="", unique=True)),
    ("status", Varchar, _params(length=12, default="", index=True)),
    ("attempts", Integer, _params(default=0)),
    ("not_before", Timestamptz, _params(default=TimestamptzNow(), index=True)),
    ("lease_until", Timestamptz, _params(default=None, null=True)),
    ("claim", Varchar, _params(length=32, default="")),
    ("msgid", Varchar, _params(length=128, default="")),
    ("response_code", Text, _params(default=None, null=True)),
    ("click_code", Text, _params(default=None, null=True)),
    ("want_text", Varchar, _params(length=64, default="")),
    ("want_final", Boolean, _params(default=False)),
    ("shown_text", Varchar, _params(length=64, default="")),
    ("update_status", Varchar, _params(length=12, default="", index=True)),
    ("update_attempts", Integer, _params(default=0)),
    ("update_not_before", Timestamptz, _params(default=None, null=True)),
    ("error_code", Varchar, _params(length=64, default="")),
    ("error_message", Varchar, _params(length=255, default="")),
    ("created_at", Timestamptz, _params(default=TimestamptzNow())),
    ("sent_at", Timestamptz, _params(default=None, null=True)),
    ("updated_at", Timestamptz, _params(default=TimestamptzNow())),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    manager.add_table(class_name="ApprovalCard", tablename=TABLE, schema=None, columns=None)
    for name, column_class, params in COLUMNS:
        manager.add_column(
            table_class_name="ApprovalCard",
            tablename=TABLE,
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
