"""Readiness checks of the platform's stores (database, Redis, job queue)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from orderhub import db
from orderhub import redis as redis_mod
from orderhub.queue import QueueRole, get_queue

__all__ = ["check_stores", "queue_depth", "queue_depths"]

log = logging.getLogger("orderhub.health")


async def _check(name: str, probe: Callable[[], Awaitable[object]], results: dict[str, str]) -> None:
    try:
        await asyncio.wait_for(probe(), timeout=2.0)
        results[name] = "ok"
    except Exception as exc:  # the endpoint is public: name the failure, log the details
        log.warning("readiness check failed", extra={"check": name, "error": repr(exc)})
        results[name] = f"error: {type(exc).__name__}"


async def queue_depth(role: QueueRole = QueueRole.PIPELINE) -> dict[str, int]:
    queue = get_queue(role)
    queued, active, incomplete = await asyncio.gather(
        queue.count("queued"), queue.count("active"), queue.count("incomplete")
    )
    return {"queued": queued, "active": active, "scheduled": max(incomplete - queued - active, 0)}


async def queue_depths() -> dict[QueueRole, dict[str, int]]:
    """Both queues' depth: the pipeline's and the background jobs' (orderhub.queue.JOB_ROLES)."""
    roles = list(QueueRole)
    depths = await asyncio.gather(*(queue_depth(role) for role in roles))
    return dict(zip(roles, depths, strict=True))


async def _redis_ping() -> None:
    await redis_mod.get_client().ping()  # type: ignore[misc]  # redis-py types ping as sync|async


async def check_stores() -> dict[str, str]:
    results: dict[str, str] = {}
    await asyncio.gather(
        _check("database", db.ping, results),
        _check("redis", _redis_ping, results),
        _check("queue", queue_depths, results),  # both queues: one Redis, either may be misconfigured
    )
    return results
