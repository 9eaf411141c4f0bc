"""SKUs whose available quantity changed and that the platforms have not been told about yet.

Reservations, releases and adjustments mark their SKUs here after they commit (one Redis round trip); the first
mark after a quiet spell schedules one stock-sync job ``debounce`` seconds later, which takes every SKU marked
by then. A burst of reservations therefore becomes one batched push per channel, not one call per order.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from typing import Any

from orderhub import events
from orderhub import redis as redis_mod
from orderhub.queue import JobName, enqueue
from orderhub.settings import get_settings

__all__ = ["DIRTY_KEY", "mark_dirty_after_commit", "put_back", "schedule_sync", "take_dirty"]

log = logging.getLogger("orderhub.stock_sync")

DIRTY_KEY = "orderhub:stock:dirty"
SCHEDULED_KEY = "orderhub:stock:sync-scheduled"


def mark_dirty_after_commit(sku_ids: Iterable[int]) -> None:
    """Mark these SKUs once the current transaction commits, in the same Redis round trip as its events."""
    ids = sorted(set(sku_ids))
    if not ids:
        return
    debounce = max(1, get_settings().stock_sync_debounce_seconds)

    def build(pipe: Any) -> None:
        pipe.sadd(DIRTY_KEY, *ids)
        pipe.set(SCHEDULED_KEY, b"1", nx=True, ex=debounce)

    async def then(results: list[Any]) -> None:
        if results[1]:
            await _enqueue(debounce)

    events.redis_after_commit(build, then)


async def schedule_sync() -> None:
    """Schedule another pass now-ish (used by the sync job when SKUs were marked while it ran or failed)."""
    debounce = max(1, get_settings().stock_sync_debounce_seconds)
    if await redis_mod.awaited(redis_mod.get_client().set(SCHEDULED_KEY, b"1", nx=True, ex=debounce)):
        await _enqueue(debounce)


async def _enqueue(debounce: int) -> None:
    at = math.ceil(time.time()) + debounce
    await enqueue(JobName.SYNC_STOCK, key=f"stock:sync:{at}", scheduled=at, timeout=600, full=False)


async def take_dirty() -> list[int]:
    """Every SKU marked so far (atomically removed from the set). The schedule flag goes first, so a SKU marked
    from now on schedules a new pass instead of waiting for one that already took the set."""
    client = redis_mod.get_client()
    async with client.pipeline(transaction=True) as pipe:
        pipe.delete(SCHEDULED_KEY)
        pipe.smembers(DIRTY_KEY)
        pipe.delete(DIRTY_KEY)
        _, members, _ = await pipe.execute()
    return sorted(int(m) for m in members)


async def put_back(sku_ids: Iterable[int]) -> None:
    ids = sorted(set(sku_ids))
    if ids:
        await redis_mod.awaited(redis_mod.get_client().sadd(DIRTY_KEY, *ids))
