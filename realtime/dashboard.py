"""The managers' live dashboard websocket: ``/ws/dash``, one socket for all of a user's subscriptions (a WeChat
mini-program may open five sockets at most), built so a mini-program that went to the background and lost its
socket resumes where it stopped.

Authentication: the back-office bearer token in the ``Authorization: Bearer`` header of the upgrade request
(``wx.connectSocket`` can set headers), else in the first message ``{"type":"auth","token":…}`` within
:data:`AUTH_DEADLINE_SECONDS`; a ``?token=`` in the URL is refused with 4401 ``token_in_url`` (URLs are logged).
Then ``{"type":"ready",…}``. The token is checked again at every heartbeat and every client ``ping``: a signed-out,
expired or revoked token (``token_version`` moved: password, role, warehouse or active changed) closes with 4401.

Subscriptions (``orderhub.feed``): ``{"type":"subscribe","topics":[…],"resume":{topic: seq}}`` answers each topic
with a ``snapshot`` (``{"topic","seq","data"}``), or — when ``resume`` names the last ``seq`` the client applied and
the deltas since are still kept — exactly those deltas, in order, then ``{"type":"resumed","topic","seq"}``. After
that, ``{"type":"delta","topic","seq","data"}`` live, ``seq`` + 1 each time; ``{"type":"ping"}`` every
:data:`HEARTBEAT_SECONDS`. A refused topic gets ``{"type":"error","topic","code","message"}`` and the socket stays.

Live deltas come through litestar Channels (Redis pub/sub, ``realtime.fanout``), one pub/sub channel per topic, so
any API process or worker that publishes reaches every process's sockets and 2,000 sockets cost no Redis
connection each (an ``XREAD BLOCK`` per socket would). The Redis Stream is read only to catch a client up: on
resume, when the numbers show a gap (a backlog overflowed), and after the fan-out lost Redis (its ``fanout.resumed``
notice). Docs: docs/live-feed.md.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Protocol

import msgspec
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin, Subscriber
from litestar.exceptions import WebSocketDisconnect

from orderhub import clock, feed
from orderhub.auth.service import UserView
from orderhub.errors import AuthenticationFailed, CommonError, OrderHubError
from orderhub.picking.errors import PickingError
from realtime.fanout import resumed_generation

__all__ = ["AUTH_DEADLINE_SECONDS", "HEARTBEAT_SECONDS", "MAX_TOPICS", "dash_socket"]

log = logging.getLogger("orderhub.dash")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_RECONNECT = 1012  # "service restart": connect again (a snapshot could not be built)
AUTH_DEADLINE_SECONDS = 10
HEARTBEAT_SECONDS = 20  # under the 60 s idle timeout of common proxies and the mini-program's own
# Each beat comes 75-100 % of HEARTBEAT_SECONDS after the last: sockets that connected together (every screen comes
# back at once after a deploy) would otherwise check their tokens together for ever, a burst of a thousand token
# checks a process every 20 s that held live deltas back by a second or more.
HEARTBEAT_SPREAD = 0.25


def _next_beat(now: float) -> float:
    return now + HEARTBEAT_SECONDS * (1 - HEARTBEAT_SPREAD * random.random())

MAX_TOPICS = 16
SNAPSHOT_TRIES = 3  # a snapshot is read between two equal sequence numbers when it can be


class TokenCheck(Protocol):
    """What the app injects as ``tokens`` (``api.security.Tokens``; a transport cannot import another)."""

    async def user_for(self, authorization: str) -> UserView: ...


# Client → server (a tagged union on "type").
class Auth(msgspec.Struct, tag_field="type", tag="auth"):
    token: str


class Subscribe(msgspec.Struct, tag_field="type", tag="subscribe"):
    topics: list[str]
    resume: dict[str, int] = {}


class Unsubscribe(msgspec.Struct, tag_field="type", tag="unsubscribe"):
    topics: list[str]


class Ping(msgspec.Struct, tag_field="type", tag="ping"):
    pass


class Pong(msgspec.Struct, tag_field="type", tag="pong"):
    pass


ClientMessage = Auth | Subscribe | Unsubscribe | Ping | Pong


# Server → client (deltas go out as published: feed.delta_message).
class Ready(msgspec.Struct, tag_field="type", tag="ready"):
    user_id: int
    role: str
    warehouse_id: int | None
    heartbeat: int
    max_topics: int


class Snapshot(msgspec.Struct, tag_field="type", tag="snapshot"):
    topic: str
    seq: int
    data: dict[str, Any]
    at: Any


class Resumed(msgspec.Struct, tag_field="type", tag="resumed"):
    topic: str
    seq: int


class Error(msgspec.Struct, tag_field="type", tag="error", omit_defaults=True):
    code: str
    message: str
    topic: str | None = None


class _Seq(msgspec.Struct):
    seq: int


_PING = b'{"type":"ping"}'
_PONG = b'{"type":"pong"}'


class _Closed(Exception):
    """The socket is gone or was closed by us: stop serving it."""


async def _authorization(socket: WebSocket[Any, Any, Any]) -> str:
    if "token" in socket.query_params or "access_token" in socket.query_params:
        raise AuthenticationFailed(PickingError.TOKEN_IN_URL)
    header = socket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return f"Bearer {token.strip()}"
    try:
        first = await asyncio.wait_for(socket.receive_data(mode="text"), AUTH_DEADLINE_SECONDS)
        return f"Bearer {msgspec.json.decode(first, type=Auth).token}"
    except (TimeoutError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise AuthenticationFailed("请先发送 auth 消息完成登录", code=CommonError.UNAUTHENTICATED) from exc


class _Dash:
    """One connected dashboard: its topics, the last number sent on each, and one lock around every send so
    snapshots, replays and live deltas of a topic go out in order."""

    def __init__(
        self, socket: WebSocket[Any, Any, Any], fanout: ChannelsPlugin, tokens: TokenCheck, user: UserView, auth: str
    ) -> None:
        self.socket, self.fanout, self.tokens, self.user, self.auth = socket, fanout, tokens, user, auth
        self.subs: dict[str, tuple[Subscriber, asyncio.Task[None]]] = {}
        self.last: dict[str, int] = {}
        self.lock = asyncio.Lock()
        self.closed = False

    async def send(self, data: bytes) -> None:
        if self.closed:
            raise _Closed
        try:
            await self.socket.send_data(data, mode="text")
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            self.closed = True
            raise _Closed from exc

    async def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            try:
                await self.socket.close(code=code, reason=reason)
            except (WebSocketDisconnect, RuntimeError, OSError):
                pass

    async def error(self, exc: OrderHubError, topic: str | None = None) -> None:
        await self.send(msgspec.json.encode(Error(code=str(exc.code), message=exc.message, topic=topic)))

    async def still_signed_in(self) -> bool:
        """The token again (signed out, expired, user changed → close 4401). A store that is down keeps the socket:
        we ask again at the next heartbeat."""
        try:
            user = await self.tokens.user_for(self.auth)
        except AuthenticationFailed as exc:
            await self.close(CLOSE_UNAUTHENTICATED, str(exc.code))
            return False
        except Exception as exc:
            log.warning("dashboard token check failed; keeping the socket", extra={"error": repr(exc)})
            return True
        return await self.same_scope(user)

    async def same_scope(self, user: UserView) -> bool:
        """Take ``user`` (the token's account, read again) if it may still watch what this socket watches: the
        same account with the same role and warehouse. Otherwise the topics were allowed to someone else: close
        4401 and let the client sign in and subscribe again (each topic checked anew)."""
        if (user.id, user.role, user.warehouse_id) != (self.user.id, self.user.role, self.user.warehouse_id):
            await self.close(CLOSE_UNAUTHENTICATED, str(CommonError.UNAUTHENTICATED))
            return False
        self.user = user
        return True

    # -- subscriptions --------------------------------------------------------------------------------------------

    async def subscribe(self, message: Subscribe) -> None:
        topics = list(dict.fromkeys(message.topics))
        if len(set(topics) | set(self.subs)) > MAX_TOPICS:
            await self.error(OrderHubError(f"一个连接最多订阅 {MAX_TOPICS} 个频道", code=CommonError.VALIDATION_ERROR))
            return
        for topic in topics:
            try:
                family, arg = feed.parse_topic(topic)
                await family.allow(self.user, arg)
            except OrderHubError as exc:
                await self.error(exc, topic if isinstance(topic, str) else None)
                continue
            async with self.lock:
                if topic not in self.subs:
                    subscriber = await self.fanout.subscribe(feed.channel_for(topic))
                    task = asyncio.create_task(self._pump(topic, subscriber))
                    self.subs[topic] = (subscriber, task)
                await self._catch_up(topic, message.resume.get(topic), family, arg)

    async def unsubscribe(self, topics: list[str]) -> None:
        async with self.lock:
            for topic in topics:
                found = self.subs.pop(topic, None)
                self.last.pop(topic, None)
                if found is not None:
                    found[1].cancel()
                    await self.fanout.unsubscribe(found[0], feed.channel_for(topic))

    async def stop(self) -> None:
        for topic, (subscriber, task) in list(self.subs.items()):
            task.cancel()
            try:
                await self.fanout.unsubscribe(subscriber, feed.channel_for(topic))
            except Exception as exc:
                log.warning("dashboard unsubscribe failed", extra={"error": repr(exc)})
        self.subs.clear()

    async def _catch_up(
        self, topic: str, after: int | None, family: feed.FeedTopic | None = None, arg: str | None = None
    ) -> None:
        """Send what the client lacks after ``after`` (held lock): the missed deltas when all are kept, else a
        snapshot. ``after=None``: a snapshot."""
        if after is not None:
            missed = await feed.since(topic, after)
            if missed is not None:
                for entry in missed:
                    await self.send(feed.delta_message(topic, entry.seq, entry.data))
                self.last[topic] = missed[-1].seq if missed else after
                await self.send(msgspec.json.encode(Resumed(topic=topic, seq=self.last[topic])))
                return
        if family is None:
            family, arg = feed.parse_topic(topic)
        # The number first: a delta published after it reaches the client even when the state read below shows it
        # already. Read again until the number did not move meanwhile (a few tries), so that rarely happens.
        seq = await feed.current_seq(topic)
        for _ in range(SNAPSHOT_TRIES):
            data = await family.snapshot(self.user, arg)
            now = await feed.current_seq(topic)
            if now == seq:
                break
            seq = now
        snapshot = Snapshot(topic=topic, seq=seq, data=data, at=clock.to_shanghai(clock.now()))
        await self.send(msgspec.json.encode(snapshot))
        self.last[topic] = seq

    async def _pump(self, topic: str, subscriber: Subscriber) -> None:
        try:
            async for raw in subscriber.iter_events():
                async with self.lock:
                    if topic not in self.subs or self.closed:
                        return
                    await self._live(topic, raw)
        except _Closed:
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis or the database away while catching up: the client connects again
            log.warning("dashboard catch-up failed", extra={"error": repr(exc), "topic": topic})
            await self.close(CLOSE_RECONNECT, "reconnect")

    async def _live(self, topic: str, raw: bytes) -> None:
        last = self.last.get(topic)
        if last is None:
            return
        if resumed_generation(raw) is not None:  # the fan-out lost Redis a while: take what was published meanwhile
            await self._catch_up(topic, last)
            return
        try:
            seq = msgspec.json.decode(raw, type=_Seq).seq
        except msgspec.DecodeError:
            return
        if seq <= last:
            return  # already sent (in the snapshot's number, or by a catch-up)
        if seq > last + 1:  # a gap (a backlog overflowed): the stream has the rest, in order
            await self._catch_up(topic, last)
            if seq <= self.last[topic]:
                return
        await self.send(raw)
        self.last[topic] = seq


@websocket(
    "/ws/dash",
    summary="Live dashboard feed",
    description="One socket per user for every dashboard topic: bearer token in the Authorization header or the "
    'first message {"type":"auth","token":…} (never in the URL: 4401 token_in_url); subscribe to topics with an '
    "optional resume seq; a snapshot or exactly the missed deltas, then numbered deltas live; heartbeat every 15-20 s; "
    "4401 when the token is revoked or expires. Protocol: docs/live-feed.md.",
)
async def dash_socket(socket: WebSocket[Any, Any, Any], fanout: ChannelsPlugin, tokens: Any) -> None:
    await socket.accept()
    checker: TokenCheck = tokens
    try:
        auth = await _authorization(socket)
        user = await checker.user_for(auth)
    except AuthenticationFailed as exc:
        await socket.close(code=CLOSE_UNAUTHENTICATED, reason=str(exc.code))
        return
    except WebSocketDisconnect:
        return
    dash = _Dash(socket, fanout, checker, user, auth)
    loop = asyncio.get_running_loop()
    try:
        ready = Ready(
            user_id=user.id,
            role=user.role,
            warehouse_id=user.warehouse_id,
            heartbeat=HEARTBEAT_SECONDS,
            max_topics=MAX_TOPICS,
        )
        await dash.send(msgspec.json.encode(ready))
        beat_at = _next_beat(loop.time())
        while not dash.closed:
            try:
                raw = await asyncio.wait_for(socket.receive_data(mode="text"), max(0.0, beat_at - loop.time()))
            except TimeoutError:
                if not await dash.still_signed_in():
                    return
                async with dash.lock:
                    await dash.send(_PING)
                beat_at = _next_beat(loop.time())
                continue
            try:
                message = msgspec.json.decode(raw, type=ClientMessage)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                async with dash.lock:
                    await dash.error(
                        OrderHubError(f"消息格式不正确：{str(exc)[:80]}", code=CommonError.VALIDATION_ERROR)
                    )
                continue
            if isinstance(message, Subscribe):
                if await dash.still_signed_in():
                    await dash.subscribe(message)
            elif isinstance(message, Unsubscribe):
                await dash.unsubscribe(message.topics)
            elif isinstance(message, Ping):
                if await dash.still_signed_in():
                    async with dash.lock:
                        await dash.send(_PONG)
            elif isinstance(message, Auth):  # a fresh token for the same user (the old one is about to expire)
                fresh = f"Bearer {message.token}"
                try:
                    renewed = await checker.user_for(fresh)
                except AuthenticationFailed as exc:
                    await dash.close(CLOSE_UNAUTHENTICATED, str(exc.code))
                    return
                if not await dash.same_scope(renewed):  # another account, or its role or warehouse changed
                    return
                dash.auth = fresh
    except (_Closed, WebSocketDisconnect):
        return
    except Exception as exc:  # Redis or the database away while building a snapshot: the client connects again
        log.warning("dashboard socket failed", extra={"error": repr(exc)})
        await dash.close(CLOSE_RECONNECT, "reconnect")
    finally:
        dash.closed = True
        await dash.stop()
