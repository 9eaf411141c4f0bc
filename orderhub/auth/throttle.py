"""Sign-in throttling in Redis, shared by every API process: per account, per device and per client address.

Every sign-in attempt is counted *before* its password or badge is checked (one Lua script, atomic), so parallel
guesses cannot slip past a limit while the first ones are being verified; a successful sign-in takes its attempt
back (the account's counters are cleared, the address's and the device's decremented), so what the counters hold
is failed or refused attempts. Windows are fixed (the first attempt starts one; they never extend).

- **account** (the normalised username, whether or not such a user exists, so the answers tell nothing): more
  than ``account_limit`` attempts in ``account_window`` → 429 ``too_many_attempts`` with ``Retry-After``;
  ``lock_after`` attempts within ``lock_window`` (refused ones included: guessing on after a 429 locks sooner)
  → 429 ``account_locked`` until a manager unlocks it (:func:`unlock`) or ``lock_seconds`` pass.
- **client address**: more than ``address_limit`` in ``address_window`` → 429 (guesses spread over usernames).
- **device** (PDA sign-in): more than ``device_limit`` in ``device_window`` → 429 (badge guessing on one device).
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from orderhub import redis as redis_mod
from orderhub.auth.errors import AuthError
from orderhub.errors import TooManyAttempts

__all__ = ["LIMITS", "Attempt", "Limits", "attempt", "is_locked", "succeeded", "unlock"]

PREFIX = "orderhub:auth:throttle:"


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    account_limit: int = 5
    account_window: int = 300
    lock_after: int = 15
    lock_window: int = 3600
    lock_seconds: int = 3600
    address_limit: int = 30
    address_window: int = 300
    device_limit: int = 10
    device_window: int = 300


LIMITS = Limits()


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    """Who is trying: the username typed (None for a badge), the client's address, the device code (PDA)."""

    username: str | None = None
    address: str | None = None
    device: str | None = None


def _digest(text: str) -> str:
    return hashlib.sha256(text.strip().casefold().encode()).hexdigest()[:32]


def _account(username: str) -> str:
    return _digest(username)


def _lock_key(username: str) -> str:
    return f"{PREFIX}lock:{_account(username)}"


def _counters(who: Attempt, limits: Limits) -> list[tuple[str, int, int]]:
    """(key, limit, window) of each throttle counter the attempt counts on."""
    found = []
    if who.username is not None:
        found.append((f"{PREFIX}account:{_account(who.username)}", limits.account_limit, limits.account_window))
    if who.address is not None:
        found.append((f"{PREFIX}address:{who.address[:64]}", limits.address_limit, limits.address_window))
    if who.device is not None:
        found.append((f"{PREFIX}device:{_digest(who.device)}", limits.device_limit, limits.device_window))
    return found


# KEYS[1]: the account's lock ('' for none), KEYS[2]: its lock counter ('' for none), KEYS[3..]: throttle counters.
# ARGV[1..3]: lock_after, lock_window, lock_seconds; then limit, window per throttle counter.
# Returns {0, 0} allowed, {1, retry_after} throttled, {2, retry_after} locked.
_ATTEMPT = """
if KEYS[1] ~= '' then
  local locked = redis.call('TTL', KEYS[1])
  if locked > 0 then return {2, locked} end
  if locked == -1 then return {2, tonumber(ARGV[3])} end
end
local wait = 0
for i = 3, #KEYS do
  local limit = tonumber(ARGV[2 + (i - 2) * 2])
  local window = tonumber(ARGV[3 + (i - 2) * 2])
  local n = redis.call('INCR', KEYS[i])
  local ttl = redis.call('TTL', KEYS[i])
  if ttl < 0 then redis.call('EXPIRE', KEYS[i], window); ttl = window end
  if n > limit and ttl > wait then wait = ttl end
end
if KEYS[2] ~= '' then
  local m = redis.call('INCR', KEYS[2])
  if m == 1 or redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2])) end
  if m >= tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], '1', 'EX', tonumber(ARGV[3]))
    redis.call('DEL', KEYS[2])
    return {2, tonumber(ARGV[3])}
  end
end
if wait > 0 then return {1, wait} end
return {0, 0}
"""

# Take a successful attempt back: KEYS[1..2] deleted (the account's counters, '' for none), KEYS[3..] decremented.
_SUCCEEDED = """
for i = 1, 2 do
  if KEYS[i] ~= '' then redis.call('DEL', KEYS[i]) end
end
for i = 3, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 1
"""


def _refusal(kind: int, retry_after: int) -> TooManyAttempts:
    extra = {"retry_after": max(1, int(retry_after))}
    if kind == 2:
        return TooManyAttempts(AuthError.ACCOUNT_LOCKED, extra=extra)
    return TooManyAttempts(AuthError.TOO_MANY_ATTEMPTS, extra=extra)


async def attempt(who: Attempt, limits: Limits = LIMITS) -> None:
    """Count a sign-in attempt; raise :class:`TooManyAttempts` (``too_many_attempts`` or ``account_locked``) when
    it may not be checked at all."""
    counters = _counters(who, limits)
    keys = [
        _lock_key(who.username) if who.username is not None else "",
        f"{PREFIX}lock-count:{_account(who.username)}" if who.username is not None else "",
        *(key for key, _, _ in counters),
    ]
    args: list[Any] = [limits.lock_after, limits.lock_window, limits.lock_seconds]
    for _, limit, window in counters:
        args += [limit, window]
    client = redis_mod.get_client()
    kind, retry_after = await redis_mod.awaited(client.eval(_ATTEMPT, len(keys), *keys, *args))
    if int(kind):
        raise _refusal(int(kind), int(retry_after))


async def succeeded(who: Attempt, limits: Limits = LIMITS) -> None:
    """The attempt signed in: clear the account's counters, take the attempt back from the address and device."""
    keys = ["", ""]
    if who.username is not None:
        keys = [f"{PREFIX}account:{_account(who.username)}", f"{PREFIX}lock-count:{_account(who.username)}"]
    keys += [key for key, _, _ in _counters(Attempt(address=who.address, device=who.device), limits)]
    await redis_mod.awaited(redis_mod.get_client().eval(_SUCCEEDED, len(keys), *keys))


async def is_locked(username: str) -> int | None:
    """Seconds the account stays locked, or None."""
    ttl = int(await redis_mod.awaited(redis_mod.get_client().ttl(_lock_key(username))))
    return None if ttl == -2 else max(ttl, 0)


async def unlock(username: str) -> bool:
    """Lift an account's lock and clear its counters (a manager did). True when it was locked."""
    account = _account(username)
    async with redis_mod.get_client().pipeline(transaction=True) as pipe:
        pipe.exists(_lock_key(username))
        pipe.delete(_lock_key(username), f"{PREFIX}account:{account}", f"{PREFIX}lock-count:{account}")
        was_locked, _ = await pipe.execute()
    return bool(was_locked)
