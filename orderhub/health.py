"""Readiness checks of the platform's stores (database, Redis, job queue)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from orderhub import db
from orderhub import redis as redis_mod
from orderhub.queue import get_queue

__all__ = ["check_stores", "queue_depth"]

log = logging.getLogger("orderhub.health")


async def _check(name: str, probe: Callable[[], Awaitable[object]], results: dict[str, str]) -> None:
    try:
        await asyncio.wait_for(probe(), timeout=2.0)
        results[name] = "ok"
    except Exception as exc:  # the endpoint is public: name the failure, log the details
        log.warning("readiness check failed", extra={"check": name, "error": repr(exc)})
        results[name] = f"error: {type(exc).__name__}"


async def queue_depth() -> dict[str, int]:
    queue = get_queue()
    queued, active, incomplete = await asyncio.gather(
        queue.count("queued"), queue.count("active"), queue.count("incomplete")
    )
    return {"queued": queued, "active": active, "scheduled": max(incomplete - queued - active, 0)}


async def _redis_ping() -> None:
    await redis_mod.get_client().ping()  # type: ignore[misc]  # redis-py types ping as sync|async


async def check_stores() -> dict[str, str]:
    results: dict[str, str] = {}
    await asyncio.gather(
        _check("database", db.ping, results),
        _check("redis", _redis_ping, results),
        _check("queue", queue_depth, results),
    )
    return results
