"""The warehouse-floor websocket for PDAs and pack stations: ``/ws/floor``, authenticated by the device session
token in an ``Authorization: Bearer`` header or in the first message, ``{"type": "auth", "token": …}`` (never in the
URL: a ``?token=`` is refused with 4401 ``token_in_url``).

On connect the client gets a snapshot — its tasks and the warehouse's open tasks, and the current sequence number
of each of its topics — then every event of its topics as ``{"topic", "seq", "event"}``, numbered per topic. A
client that sees a gap in a topic's numbers (Wi-Fi dropped, backlog overflowed) sends ``{"type": "resync"}`` and
gets a fresh snapshot. Fan-out runs through litestar Channels on Redis pub/sub, so an event published by any API
process or worker reaches every connected device. When the fan-out reconnects after losing Redis
(:mod:`realtime.fanout`), every client gets a fresh snapshot unasked: events published meanwhile are lost. Closes
with 4401 when the token is missing or expired, 1012 (connect again) when that snapshot cannot be built.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.exceptions import WebSocketDisconnect
from redis.exceptions import RedisError

from orderhub import clock
from orderhub import redis as redis_mod
from orderhub.errors import AuthenticationFailed, CommonError
from orderhub.picking import tasks
from orderhub.picking.errors import PickingError
from orderhub.picking.sessions import PdaSession, session_for
from realtime.fanout import resumed_generation
from realtime.topics import live_seq_key, picker_topic, warehouse_floor_topic

__all__ = ["floor_socket", "snapshot"]

log = logging.getLogger("orderhub.floor")

CLOSE_UNAUTHENTICATED = 4401
AUTH_DEADLINE_SECONDS = 10  # to send the auth message after connecting
CLOSE_RECONNECT = 1012  # "service restart": connect again (the fan-out came back but no snapshot could be built)
SESSION_CHECK_SECONDS = 30  # a logged-out or revoked device stops receiving within this


class Snapshot(msgspec.Struct, kw_only=True, tag_field="type", tag="snapshot"):
    seq: dict[str, int]
    mine: list[tasks.TaskSummary]
    open: list[tasks.TaskSummary]
    user: str
    warehouse: str
    at: Any


async def snapshot(session: PdaSession, topics: list[str]) -> bytes:
    # Sequence numbers first: anything published after them is delivered as an event, even if the state read
    # below already shows it (applying an event twice is harmless; missing one is not).
    values = await redis_mod.awaited(redis_mod.get_client().mget([live_seq_key(t) for t in topics]))
    seq = {topic: int(v or 0) for topic, v in zip(topics, values, strict=True)}
    mine = await tasks.list_tasks(session.warehouse_id, status="claimed", picker_id=session.user_id, limit=20)
    open_tasks = await tasks.list_tasks(session.warehouse_id, status="open", limit=50)
    return msgspec.json.encode(
        Snapshot(
            seq=seq,
            mine=mine,
            open=open_tasks,
            user=session.name,
            warehouse=session.warehouse,
            at=clock.to_shanghai(clock.now()),
        )
    )


class AuthMessage(msgspec.Struct, tag_field="type", tag="auth"):
    token: str


async def _token(socket: WebSocket[Any, Any, Any]) -> str:
    """The device session token: the ``Authorization: Bearer`` header of the upgrade request, else the first
    message, ``{"type": "auth", "token": …}``, within :data:`AUTH_DEADLINE_SECONDS` (a browser cannot set headers).
    Never the query string: URLs are logged (proxies, access logs, browser history), so a token there is refused."""
    if "token" in socket.query_params:
        raise AuthenticationFailed(PickingError.TOKEN_IN_URL)
    scheme, _, header_token = socket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and header_token.strip():
        return header_token.strip()
    try:
        first = await asyncio.wait_for(socket.receive_data(mode="text"), AUTH_DEADLINE_SECONDS)
        return msgspec.json.decode(first, type=AuthMessage).token
    except (TimeoutError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise AuthenticationFailed("请先发送 auth 消息完成登录", code=CommonError.UNAUTHENTICATED) from exc


@websocket("/ws/floor")
async def floor_socket(socket: WebSocket[Any, Any, Any], fanout: ChannelsPlugin) -> None:
    await socket.accept()
    try:
        token = await _token(socket)
        session = await session_for(token)
    except AuthenticationFailed as exc:
        await socket.close(code=CLOSE_UNAUTHENTICATED, reason=exc.code)
        return
    except WebSocketDisconnect:
        return
    topics = [picker_topic(session.user_id), warehouse_floor_topic(session.warehouse_id)]
    resumed = 0

    async def deliver(data: bytes) -> None:
        nonlocal resumed
        generation = resumed_generation(data)
        if generation is None:
            await socket.send_data(data, mode="text")
        elif generation > resumed:  # the fan-out is back after losing Redis: what was published meanwhile is gone
            resumed = generation  # (one notice per topic: one snapshot)
            try:
                fresh = await snapshot(session, topics)
            except Exception as exc:
                log.warning("snapshot after fan-out reconnect failed", extra={"error": repr(exc)})
                await socket.close(code=CLOSE_RECONNECT, reason="reconnect")
                return
            await socket.send_data(fresh, mode="text")

    async with fanout.start_subscription(topics) as subscriber:
        await socket.send_data(await snapshot(session, topics), mode="text")
        async with subscriber.run_in_background(deliver):
            try:
                while True:
                    try:
                        message = await asyncio.wait_for(socket.receive_data(mode="text"), SESSION_CHECK_SECONDS)
                    except TimeoutError:  # nothing from the client: is the session still alive?
                        try:
                            await session_for(token)
                        except AuthenticationFailed as exc:
                            await socket.close(code=CLOSE_UNAUTHENTICATED, reason=exc.code)
                            return
                        except (RedisError, OSError):  # Redis away: keep the socket; ask again next time
                            pass
                        continue
                    try:
                        kind = msgspec.json.decode(message).get("type")
                    except (msgspec.DecodeError, AttributeError):
                        continue
                    if kind == "resync":
                        try:
                            await session_for(token)
                        except AuthenticationFailed as exc:
                            await socket.close(code=CLOSE_UNAUTHENTICATED, reason=exc.code)
                            return
                        await socket.send_data(await snapshot(session, topics), mode="text")
                    elif kind == "ping":
                        await socket.send_data('{"type":"pong"}', mode="text")
            except WebSocketDisconnect:
                return
