"""Open and close a process's shared resources: database, Redis, queue, event bus."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from saq import Queue

from orderhub import db, events, queue
from orderhub import redis as redis_mod
from orderhub.settings import Settings

__all__ = ["Runtime", "start_runtime"]


@dataclass
class Runtime:
    settings: Settings
    redis: aioredis.Redis
    queue: Queue

    async def close(self) -> None:
        events.set_bus(None)
        queue.set_queue(None)
        redis_mod.set_client(None)
        try:
            await self.queue.disconnect()
        finally:
            await self.redis.aclose()
            await db.close()


async def start_runtime(settings: Settings, client: aioredis.Redis | None = None) -> Runtime:
    if not settings.redis_url:
        raise RuntimeError(
            "ORDERHUB_REDIS_URL is not set. `orderhub run` starts an embedded redis-server for you; "
            "`orderhub serve` / `orderhub worker` need ORDERHUB_REDIS_URL=redis://host:6379/0"
        )
    await db.open_engine(settings)
    client = client or redis_mod.create_client(settings.redis_url)
    redis_mod.set_client(client)
    q = queue.create_queue(client, settings)
    await q.connect()
    queue.set_queue(q, settings)
    events.set_bus(events.EventBus(client))
    return Runtime(settings=settings, redis=client, queue=q)
