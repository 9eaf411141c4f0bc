"""A submission to WeCom's 审批 app whose outcome is unknown is looked for in its own time span only
(docs/approvals.md#wecoms-own-审批-app): ``approval_oa.tried_at`` (when the current or last attempt started),
``look_from`` / ``look_until`` (the span in which the attempts still unaccounted for may have created the approval);
and ``effect_retries``, how many times an approval decided in WeCom met a temporary refusal of its effect (the
reconciliation tries again sooner, backing off)."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T08:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "approval_oa: tried_at, look_from, look_until, effect_retries"

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
    ("tried_at", Timestamptz, _params(default=None, null=True)),
    ("look_from", Timestamptz, _params(default=None, null=True)),
    ("look_until", Timestamptz, _params(default=None, null=True)),
    ("effect_retries", Integer, _params(default=0)),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)
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
