"""Apply piccolo migrations from ``migrations/`` to the configured database."""

from __future__ import annotations

import os

__all__ = ["migrate"]


async def migrate() -> None:
    os.environ.setdefault("PICCOLO_CONF", "server.piccolo_conf")
    from piccolo.apps.migrations.commands.forwards import run_forwards

    response = await run_forwards(app_name="orderhub", migration_id="all", fake=False)
    if not response.success:
        raise RuntimeError(f"migration failed: {response.message}")
