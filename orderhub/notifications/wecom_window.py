"""The per-member sending window of the hub's WeCom app, shared by everything that sends it application messages.

WeCom drops what passes 30 application messages a minute or 1,000 an hour per member and app, answering errcode 0
(https://developer.work.weixin.qq.com/document/path/90454 发送应用消息频率: 每应用对同一个成员不可超过30次/分钟，
1000次/小时，超过部分会被丢弃不下发). The approvers' cards (:mod:`orderhub.approvals.cards`) and the outbox's staff
messages (:mod:`orderhub.notifications.outbox`: alerts, surge warnings, digests) go to the same people through the
same app, so they count in one window: a sorted set of reservation times per member and app in Redis
(``orderhub:wecom:member:{corp_id}/{agent_id}:{userid, lower case}``), shared by every worker. A sender takes a slot
with :func:`reserve` (or :func:`reserve_all` for a message to several members) before it calls WeCom; when there
is no room it is told how long to wait and reschedules the message — queued, never dropped.

A message to several members (``touser`` ``a|b``) is one WeCom call: it takes a slot of every member at once or of
none (one Lua script), and waits, whole, until all of them have room — sending it to some now and the others later
would mean splitting one outbox row. ``@all`` names nobody in particular and cannot be counted per member: it takes
no slot (the hub never sends it; staff messages go to one userid each).

The minute is counted as 62 s (WeCom counts from when it receives, we from when we reserve); a provider's
``member_per_minute`` (1–30) lowers the 30 for both kinds of message.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from orderhub import redis as redis_mod

__all__ = [
    "HOUR_MS",
    "MEMBER_PER_HOUR",
    "MEMBER_PER_MINUTE",
    "MINUTE_MS",
    "app_of",
    "member_key",
    "members",
    "per_minute_of",
    "reserve",
    "reserve_all",
]

# https://developer.work.weixin.qq.com/document/path/90454 发送应用消息频率: 每应用对同一个成员不可超过30次/分钟，
# 1000次/小时，超过部分会被丢弃不下发 — WeCom answers errcode 0 and drops the message, so we must never pass it.
MEMBER_PER_MINUTE = 30
MEMBER_PER_HOUR = 1000
MINUTE_MS = 62_000  # a minute and a margin: WeCom counts from when it receives, we from when we reserve
HOUR_MS = 3_602_000

# One sliding window per member and app (sorted set of reservation times, ms). A slot is taken in every key only
# when each has room in both the minute and the hour; otherwise nothing is taken and the answer is the wait (ms)
# until the entry that blocks longest leaves its window. With one key: the approval cards' window as it was.
_WINDOW = """
local now = tonumber(ARGV[1])
local minute_ms, hour_ms = tonumber(ARGV[2]), tonumber(ARGV[3])
local per_minute, per_hour = tonumber(ARGV[4]), tonumber(ARGV[5])
local full, wait = false, 0
for _, key in ipairs(KEYS) do
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - hour_ms)
    local in_minute = redis.call('ZCOUNT', key, now - minute_ms, '+inf')
    local in_hour = redis.call('ZCARD', key)
    if in_minute >= per_minute then
        full = true
        local first = redis.call('ZRANGEBYSCORE', key, now - minute_ms, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
        wait = math.max(wait, tonumber(first[2]) + minute_ms - now)
    end
    if in_hour >= per_hour then
        full = true
        local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
        wait = math.max(wait, tonumber(oldest[2]) + hour_ms - now)
    end
end
if full then
    return math.max(wait, 1)
end
for _, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, ARGV[6])
    redis.call('PEXPIRE', key, hour_ms)
end
return 0
"""
_script: Any = None


def app_of(provider: Mapping[str, str]) -> str:
    """The window's app part, ``corp_id/agent_id``, from the ``wecom`` provider's config."""
    return f"{provider.get('corp_id', '')}/{provider.get('agent_id', '')}"


def per_minute_of(provider: Mapping[str, str]) -> int:
    """The provider's ``member_per_minute`` (kept within 1–30; 30 when unset or not a number)."""
    try:
        per_minute = int(provider.get("member_per_minute") or MEMBER_PER_MINUTE)
    except ValueError:
        per_minute = MEMBER_PER_MINUTE
    return max(1, min(per_minute, MEMBER_PER_MINUTE))


def member_key(app: str, userid: str) -> str:
    return f"orderhub:wecom:member:{app}:{userid.lower()}"


def members(touser: str) -> list[str]:
    """The members a ``touser`` names (``a|b``), each once (WeCom userids ignore case); none for ``@all``."""
    if touser.strip() == "@all":
        return []
    seen: dict[str, str] = {}
    for userid in touser.split("|"):
        userid = userid.strip()
        if userid:
            seen.setdefault(userid.lower(), userid)
    return list(seen.values())


async def reserve(
    app: str,
    userid: str,
    now: datetime,
    per_minute: int = MEMBER_PER_MINUTE,
    per_hour: int = MEMBER_PER_HOUR,
) -> timedelta | None:
    """Take a slot in the member's window (None), or say how long until there is one (nothing taken)."""
    return await reserve_all(app, [userid], now, per_minute, per_hour)


async def reserve_all(
    app: str,
    userids: Iterable[str],
    now: datetime,
    per_minute: int = MEMBER_PER_MINUTE,
    per_hour: int = MEMBER_PER_HOUR,
) -> timedelta | None:
    """Take a slot in each member's window, all or none: None when taken (also for no member), else how long until
    every one of them has room."""
    keys = list(dict.fromkeys(member_key(app, userid) for userid in userids))
    if not keys:
        return None
    global _script
    client = redis_mod.get_client()
    if _script is None:
        _script = client.register_script(_WINDOW)
    now_ms = int(now.timestamp() * 1000)
    wait = await _script(
        keys=keys,
        args=[now_ms, MINUTE_MS, HOUR_MS, per_minute, per_hour, f"{now_ms}-{uuid.uuid4().hex[:8]}"],
        client=client,
    )
    return None if int(wait) <= 0 else timedelta(milliseconds=int(wait))
