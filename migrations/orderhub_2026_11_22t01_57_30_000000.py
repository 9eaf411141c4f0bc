"""Shipped default rules (issue 3): 发票 → invoice tag + invoice queue; 赠品 → gift tag; 加急 → urgent.

They are ordinary rules afterwards: sellers may edit, disable or delete them, and they do not come back.
"""

import json

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-22T01:57:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "default order rules"

DEFAULT_RULES = [
    (
        "备注含“发票”：打发票标签并进入发票队列",
        10,
        [{"field": "memo", "op": "contains", "value": "发票"}],
        [{"type": "add_tag", "tag": "invoice"}, {"type": "hold", "queue": "invoice", "reason": "invoice_requested"}],
    ),
    (
        "备注含“赠品”：打赠品标签",
        20,
        [{"field": "memo", "op": "contains", "value": "赠品"}],
        [{"type": "add_tag", "tag": "gift"}],
    ),
    (
        "备注含“加急”：优先级设为加急",
        30,
        [{"field": "memo", "op": "contains", "value": "加急"}],
        [{"type": "set_priority", "priority": "urgent"}],
    ),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orderhub", description=DESCRIPTION)

    async def insert_defaults() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        now = "CURRENT_TIMESTAMP"
        for name, priority, conditions, actions in DEFAULT_RULES:
            values = ", ".join(
                [
                    "'" + name.replace("'", "''") + "'",
                    str(priority),
                    "TRUE" if engine.engine_type != "sqlite" else "1",
                    "FALSE" if engine.engine_type != "sqlite" else "0",
                    "'" + json.dumps(conditions, ensure_ascii=False).replace("'", "''") + "'",
                    "'" + json.dumps(actions, ensure_ascii=False).replace("'", "''") + "'",
                    now,
                    now,
                ]
            )
            await engine.run_ddl(
                "INSERT INTO order_rule (name, priority, enabled, stop, conditions, actions, created_at, updated_at) "
                f"VALUES ({values})"
            )

    manager.add_raw(insert_defaults)
    return manager
