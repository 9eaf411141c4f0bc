"""The warehouse-floor websocket for PDAs and pack stations: ``/ws/floor?token=<device session token>``.

On connect the client gets a snapshot — its tasks and the warehouse's open tasks, and the current sequence number
of each of its topics — then every event of its topics as ``{"topic", "seq", "event"}``, numbered per topic. A
client that sees a gap in a topic's numbers (Wi-Fi dropped, backlog overflowed) sends ``{"type": "resync"}`` and
gets a fresh snapshot. Fan-out runs through litestar Channels on Redis pub/sub, so an event published by any API
process or worker reaches every connected device. Closes with 4401 when the token is missing or expired.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.exceptions import WebSocketDisconnect

from orderhub import clock
from orderhub import redis as redis_mod
from orderhub.errors import AuthenticationFailed
from orderhub.picking import tasks
from orderhub.picking.sessions import PdaSession, session_for
from realtime.topics import live_seq_key, picker_topic, warehouse_floor_topic

__all__ = ["floor_socket", "snapshot"]

CLOSE_UNAUTHENTICATED = 4401
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


@websocket("/ws/floor")
async def floor_socket(socket: WebSocket[Any, Any, Any], fanout: ChannelsPlugin) -> None:
    await socket.accept()
    token = socket.query_params.get("token", "")
    try:
        session = await session_for(token)
    except AuthenticationFailed as exc:
        await socket.close(code=CLOSE_UNAUTHENTICATED, reason=exc.code)
        return
    topics = [picker_topic(session.user_id), warehouse_floor_topic(session.warehouse_id)]
    async with fanout.start_subscription(topics) as subscriber:
        await socket.send_data(await snapshot(session, topics), mode="text")
        async with subscriber.run_in_background(lambda data: socket.send_data(data, mode="text")):
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
