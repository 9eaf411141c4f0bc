"""Per-batch read caches: a worker job that processes a batch of orders reads the enabled rules, warehouse
rankings and warehouse codes once for the batch (:func:`batch_scope`); outside a batch every read goes through."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["batch_scope", "cached"]

_batch_cache: ContextVar[dict[Any, Any] | None] = ContextVar("orderhub_pipeline_batch", default=None)


@asynccontextmanager
async def batch_scope() -> AsyncIterator[None]:
    """Within this block rules and warehouse rankings are read once (a batch takes a second or so)."""
    token = _batch_cache.set({})
    try:
        yield
    finally:
        _batch_cache.reset(token)


async def cached(key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
    cache = _batch_cache.get()
    if cache is None:
        return await load()
    if key not in cache:
        cache[key] = await load()
    return cache[key]
