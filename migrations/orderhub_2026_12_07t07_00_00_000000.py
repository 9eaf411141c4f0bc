"""Approvals in WeCom's own 审批 app (issue 17, docs/approvals.md#wecoms-own-审批-app): ``approval_request.sp_no`` (the
approval's number at WeCom, unique: stored once, a retry never submits twice) and ``approval_oa`` — per native request
what is submitted, its queue, and the reconciliation's timer."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, Integer, SmallInt, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "approvals in WeCom's 审批 app: approval_request.sp_no, approval_oa"

TABLE = "approval_oa"


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
    ("request", Integer, _params(default=0, unique=True)),
    ("status", Varchar, _params(length=12, default="", index=True)),
    ("submission", Text, _params(default="{}")),
    ("attempts", Integer, _params(default=0)),
    ("not_before", Timestamptz, _params(default=TimestamptzNow(), index=True)),
    ("lease_until", Timestamptz, _params(default=None, null=True)),
    ("claim", Varchar, _params(length=32, default="")),
    ("uncertain", Boolean, _params(default=False)),
    ("first_try_at", Timestamptz, _params(default=None, null=True)),
    ("wecom_status", SmallInt, _params(default=0)),
    ("check_at", Timestamptz, _params(default=None, null=True, index=True)),
    ("checks", Integer, _params(default=0)),
    ("error_code", Varchar, _params(length=64, default="")),
    ("error_message", Varchar, _params(length=255, default="")),
    ("created_at", Timestamptz, _params(default=TimestamptzNow())),
    ("submitted_at", Timestamptz, _params(default=None, null=True)),
    ("updated_at", Timestamptz, _params(default=TimestamptzNow())),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
    # Nullable and without UNIQUE here (SQLite cannot add a UNIQUE column): the next migration makes the unique index
    # (raw steps run before a migration's own, so after the column exists).
    manager.add_column(
        table_class_name="ApprovalRequest",
        tablename="approval_request",
        column_name="sp_no",
        db_column_name="sp_no",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=64, default=None, null=True),
        schema=None,
    )
    manager.add_table(class_name="ApprovalOa", tablename=TABLE, schema=None, columns=None)
    for name, column_class, params in COLUMNS:
        manager.add_column(
            table_class_name="ApprovalOa",
            tablename=TABLE,
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )

    return manager
