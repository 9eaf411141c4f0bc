"""Open and close a process's shared resources: database, Redis, the two job queues, event bus."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from saq import Queue

from orderhub import db, events, queue
from orderhub import redis as redis_mod
from orderhub.queue import QueueRole
from orderhub.settings import Settings

__all__ = ["Runtime", "start_runtime"]


@dataclass
class Runtime:
    settings: Settings
    redis: aioredis.Redis
    queue: Queue  # the pipeline's
    background: Queue  # everything else's (orderhub.queue.JOB_ROLES)

    def queue_of(self, role: QueueRole) -> Queue:
        return self.queue if role == QueueRole.PIPELINE else self.background

    async def close(self) -> None:
        events.set_bus(None)
        queue.set_queue(None)
        redis_mod.set_client(None)
        try:
            # Each closes its own pub/sub connection and the shared client (RedisQueue.disconnect,
            # saq/queue/redis.py); closing a closed redis-py client again is a no-op.
            await self.queue.disconnect()
            await self.background.disconnect()
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
    q = queue.create_queue(client, settings, QueueRole.PIPELINE)
    bq = queue.create_queue(client, settings, QueueRole.BACKGROUND)
    await q.connect()
    await bq.connect()
    queue.set_queue(q, settings, background=bq)
    events.set_bus(events.EventBus(client))
    return Runtime(settings=settings, redis=client, queue=q, background=bq)
