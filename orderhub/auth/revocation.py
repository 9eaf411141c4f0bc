"""Signed-out bearer tokens: a token's id (``jti``) is kept in Redis until the token would have expired anyway.

Signing out everywhere, a password, role, warehouse or active change bump the user's ``token_version`` instead
(:func:`orderhub.auth.service.revoke_tokens`), which every token carries.
"""

from __future__ import annotations

from datetime import datetime

from orderhub import clock
from orderhub import redis as redis_mod

__all__ = ["is_revoked", "revoke"]


def _key(jti: str) -> str:
    return f"orderhub:auth:revoked:{jti[:64]}"


async def revoke(jti: str, expires_at: datetime) -> None:
    remaining = int((expires_at - clock.now()).total_seconds()) + 1
    if remaining > 0:
        await redis_mod.awaited(redis_mod.get_client().set(_key(jti), b"1", ex=remaining))


async def is_revoked(jti: str) -> bool:
    return bool(await redis_mod.awaited(redis_mod.get_client().exists(_key(jti))))
