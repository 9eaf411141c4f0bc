"""The live dashboard websocket (/ws/dash) through the running hub: a snapshot on subscribe, a delta within a second
of an order's status change, resuming after a disconnect with exactly the missed deltas in order, a fresh snapshot
when they were trimmed, the token never in the URL, a warehouse-bound manager kept to their warehouse's topics, and
a signed-out token ending the socket."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import websockets

from orderhub import clock, db, events, feed
from orderhub import redis as redis_mod
from orderhub.orders.events import OrderAtRisk
from tests.support.factories import (
    Api,
    create_channel,
    create_sku,
    create_warehouse,
    order_payload,
    set_stock,
    unique,
    wait_for_orders,
)
from tests.support.hub import Hub


class Dash:
    """A /ws/dash client collecting what it receives (the token in the header, or in the first message)."""

    def __init__(self, url: str, token: str, *, header: bool = True) -> None:
        self.uri, self.token, self.header = url.replace("http://", "ws://") + "/ws/dash", token, header
        self.messages: list[dict[str, Any]] = []
        self.conn: Any = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Dash:
        if self.header:
            self.conn = await websockets.connect(self.uri, additional_headers={"authorization": f"Bearer {self.token}"})
        else:
            self.conn = await websockets.connect(self.uri)
            await self.conn.send(json.dumps({"type": "auth", "token": self.token}))
        ready = json.loads(await self.conn.recv())
        assert ready["type"] == "ready", ready
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for raw in self.conn:
                self.messages.append(json.loads(raw))
        except websockets.exceptions.ConnectionClosed:
            pass

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await self.conn.close()

    async def send(self, **message: Any) -> None:
        await self.conn.send(json.dumps(message))

    async def wait_for(self, timeout: float = 15, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages:
                if all(message.get(k) == v for k, v in match.items()):
                    return message
            assert time.monotonic() < deadline, f"no message {match}: {self.messages}"
            await asyncio.sleep(0.02)

    def of(self, topic: str, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("topic") == topic and m["type"] == kind]


class Shop:
    """A warehouse with stock of one SKU and a channel shipping from it."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.warehouse, self.warehouse_id, self.channel, self.sku = "", 0, "", ""

    async def setup(self) -> Shop:
        created = await create_warehouse(self.api)
        self.warehouse, self.warehouse_id = created["code"], int(created["id"])
        self.sku = await create_sku(self.api)
        await set_stock(self.api, sku=self.sku, warehouse=self.warehouse, qty=100)
        self.channel, _ = await create_channel(self.api, warehouse=self.warehouse)
        return self

    @property
    def topic(self) -> str:
        return f"orders:{self.warehouse_id}"

    async def ready_orders(self, n: int) -> list[int]:
        async with self.api.client() as client:
            r = await client.post(
                "/api/v1/orders/ingest",
                json={"channel": self.channel, "orders": [order_payload(lines=[(self.sku, 1)]) for _ in range(n)]},
            )
        assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
        ids = [int(res["order_id"]) for res in r.json()["results"]]
        done = await wait_for_orders(self.api, ids)
        assert all(o["status"] == "ready" for o in done.values()), done
        return ids

    async def cancel(self, order_id: int) -> None:
        async with self.api.client() as client:
            r = await client.post(f"/api/v1/orders/{order_id}/cancel", json={"reason": "买家取消"})
        assert r.status_code == 201 and r.json()["status"] == "cancelled", r.text

    async def user(self, role: str, *, warehouse: str | None) -> str:
        """A new staff account's bearer token."""
        username = unique(role)
        async with self.api.client() as client:
            r = await client.post(
                "/api/v1/users",
                json={
                    "username": username,
                    "password": "dash-pass-1",
                    "role": role,
                    "display_name": "看板小张",
                    "warehouse": warehouse,
                },
            )
            assert r.status_code == 201, r.text
            r = await client.post("/api/v1/auth/login", json={"username": username, "password": "dash-pass-1"})
            assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


@pytest.fixture
async def shop(api: Api, store: Hub) -> Shop:
    return await Shop(api).setup()


async def test_snapshot_then_a_delta_within_a_second(shop: Shop) -> None:
    ids = await shop.ready_orders(2)
    async with Dash(shop.api.base_url, shop.api.token) as dash:
        await dash.send(type="subscribe", topics=[shop.topic, "orders"])
        snap = await dash.wait_for(type="snapshot", topic=shop.topic)
        assert snap["seq"] == await feed.current_seq(shop.topic)
        assert snap["data"]["warehouse_id"] == shop.warehouse_id
        assert snap["data"]["counts"]["ready"] == 2 and snap["data"]["counts"]["received"] == 0
        hub_wide = await dash.wait_for(type="snapshot", topic="orders")
        assert hub_wide["data"]["counts"]["ready"] >= 2

        started = time.monotonic()
        await shop.cancel(ids[0])
        delta = await dash.wait_for(type="delta", topic=shop.topic, seq=snap["seq"] + 1, timeout=5)
        assert time.monotonic() - started < 1.0, "the delta took longer than a second"
        expected = {"order_id": ids[0], "from": "ready", "to": "cancelled", "warehouse_id": shop.warehouse_id}
        assert delta["data"] == expected
        hub_delta = await dash.wait_for(type="delta", topic="orders", timeout=5)
        assert hub_delta["data"]["order_id"] == ids[0]

        # A new order: received (hub-wide, no warehouse yet), then it arrives in the warehouse's topic as ready.
        [new] = await shop.ready_orders(1)
        arrived = await dash.wait_for(type="delta", topic=shop.topic, seq=snap["seq"] + 2)
        assert arrived["data"]["order_id"] == new and arrived["data"]["from"] is None
        assert arrived["data"]["to"] == "ready"
        received = [m for m in dash.of("orders", "delta") if m["data"]["order_id"] == new]
        assert received[0]["data"]["from"] is None and received[0]["data"]["to"] == "received"
        # Applying the deltas to the snapshot gives what a fresh snapshot says.
        counts = dict(snap["data"]["counts"])
        for message in dash.of(shop.topic, "delta"):
            for key, step in (("from", -1), ("to", 1)):
                if message["data"][key] in counts:
                    counts[message["data"][key]] += step
        await dash.send(type="subscribe", topics=[shop.topic])  # again, without resume: a fresh snapshot
        fresh = [m for m in await _eventually(dash, shop.topic, "snapshot", 2)][-1]
        assert fresh["data"]["counts"] == counts and counts["ready"] == 2
        await dash.send(type="ping")
        await dash.wait_for(type="pong")


async def _eventually(dash: Dash, topic: str, kind: str, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while len(dash.of(topic, kind)) < n:
        assert time.monotonic() < deadline, dash.messages
        await asyncio.sleep(0.02)
    return dash.of(topic, kind)


async def test_resume_gives_exactly_the_missed_deltas_and_a_snapshot_when_they_are_gone(shop: Shop) -> None:
    ids = await shop.ready_orders(4)
    async with Dash(shop.api.base_url, shop.api.token) as dash:
        await dash.send(type="subscribe", topics=[shop.topic])
        snap = await dash.wait_for(type="snapshot", topic=shop.topic)
        await shop.cancel(ids[0])
        seen = await dash.wait_for(type="delta", topic=shop.topic, seq=snap["seq"] + 1)
    # The mini-program went to the background: its socket is cut, and orders move meanwhile.
    for order_id in ids[1:]:
        await shop.cancel(order_id)
    last = seen["seq"]
    async with Dash(shop.api.base_url, shop.api.token) as dash:
        await dash.send(type="subscribe", topics=[shop.topic], resume={shop.topic: last})
        resumed = await dash.wait_for(type="resumed", topic=shop.topic)
        assert resumed["seq"] == last + 3
        missed = dash.of(shop.topic, "delta")
        assert [m["seq"] for m in missed] == [last + 1, last + 2, last + 3]
        assert [m["data"]["order_id"] for m in missed] == ids[1:]
        assert all(m["data"]["from"] == "ready" and m["data"]["to"] == "cancelled" for m in missed)
        assert not dash.of(shop.topic, "snapshot")
        assert dash.messages.index(resumed) == len(missed)  # the replay first, then "resumed"
        # ... and live after it, numbered on.
        [new] = await shop.ready_orders(1)
        live = await dash.wait_for(type="delta", topic=shop.topic, seq=last + 4)
        assert live["data"]["order_id"] == new
        newest = live["seq"]

    # Up to date: nothing to replay.
    async with Dash(shop.api.base_url, shop.api.token) as dash:
        await dash.send(type="subscribe", topics=[shop.topic], resume={shop.topic: newest})
        assert (await dash.wait_for(type="resumed", topic=shop.topic))["seq"] == newest
        assert not dash.of(shop.topic, "delta") and not dash.of(shop.topic, "snapshot")

    # Too old: the deltas after the client's number were trimmed from the stream → a fresh snapshot instead.
    await shop.cancel(new)
    client = redis_mod.get_client()
    await client.xtrim(feed.stream_key(shop.topic), maxlen=0, approximate=False)
    async with Dash(shop.api.base_url, shop.api.token) as dash:
        await dash.send(type="subscribe", topics=[shop.topic], resume={shop.topic: newest})
        snap = await dash.wait_for(type="snapshot", topic=shop.topic)
        assert snap["seq"] == newest + 1 and snap["data"]["counts"]["ready"] == 0
        assert not dash.of(shop.topic, "delta")
        # A number the hub never gave (ahead of it, e.g. after Redis lost its data): a snapshot too.
        await dash.send(type="subscribe", topics=[shop.topic], resume={shop.topic: newest + 1000})
        await _eventually(dash, shop.topic, "snapshot", 2)


async def test_feed_since_reads_in_chunks_and_tells_a_trimmed_gap(store: Hub) -> None:
    topic = f"orders:{900_000 + int(time.time() * 1000) % 100_000}"
    numbers = [await feed.publish(topic, {"i": i}) for i in range(1200)]
    assert numbers == list(range(1, 1201))
    entries = await feed.since(topic, 10)
    assert entries is not None and [e.seq for e in entries] == list(range(11, 1201))
    assert json.loads(entries[0].data) == {"i": 10}
    assert await feed.since(topic, 1200) == []
    assert await feed.since(topic, 1300) is None
    assert await feed.since(topic, 0, limit=100) is None  # further behind than the replay limit
    await redis_mod.get_client().xtrim(feed.stream_key(topic), minid="600-0", approximate=False)
    assert await feed.since(topic, 10) is None  # 11 … 599 are gone
    kept = await feed.since(topic, 599)
    assert kept is not None and len(kept) == 601
    await redis_mod.get_client().delete(feed.stream_key(topic), feed.seq_key(topic))


async def test_frames_go_out_uncompressed(shop: Shop) -> None:
    """The hub declines permessage-deflate, which a browser and websockets offer by default: each socket would
    compress every delta again (2,000 screens, 2,000 compressions of one delta)."""
    uri = shop.api.base_url.replace("http://", "ws://") + "/ws/dash"
    async with websockets.connect(uri, compression="deflate") as ws:
        assert ws.request is not None and "permessage-deflate" in ws.request.headers.get("Sec-WebSocket-Extensions", "")
        assert ws.response is not None and "Sec-WebSocket-Extensions" not in ws.response.headers


async def test_the_token_never_in_the_url(shop: Shop) -> None:
    uri = shop.api.base_url.replace("http://", "ws://") + f"/ws/dash?token={shop.api.token}"
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        async with websockets.connect(uri) as ws:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert closed.value.rcvd.reason == "token_in_url"
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        async with websockets.connect(uri.split("?")[0]) as ws:
            await ws.send(json.dumps({"type": "auth", "token": "not-a-token"}))
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_warehouse_manager_watches_only_their_warehouse(shop: Shop, api: Api) -> None:
    other = await create_warehouse(api)
    token = await shop.user("manager", warehouse=shop.warehouse)
    async with Dash(shop.api.base_url, token, header=False) as dash:  # the first-message login
        await dash.send(type="subscribe", topics=[f"orders:{other['id']}", "orders", shop.topic, "nonesuch"])
        refused = await dash.wait_for(type="error", topic=f"orders:{other['id']}")
        assert refused["code"] == "forbidden_warehouse"
        assert (await dash.wait_for(type="error", topic="orders"))["code"] == "forbidden_warehouse"
        assert (await dash.wait_for(type="error", topic="nonesuch"))["code"] == "not_found"
        await dash.wait_for(type="snapshot", topic=shop.topic)
        assert not dash.of(f"orders:{other['id']}", "snapshot") and not dash.of("orders", "snapshot")
    picker = await shop.user("picker", warehouse=shop.warehouse)
    async with Dash(shop.api.base_url, picker) as dash:
        await dash.send(type="subscribe", topics=[shop.topic])
        assert (await dash.wait_for(type="error", topic=shop.topic))["code"] == "forbidden"


async def test_a_signed_out_token_ends_the_socket(shop: Shop) -> None:
    token = await shop.user("manager", warehouse=shop.warehouse)
    async with Dash(shop.api.base_url, token) as dash:
        await dash.send(type="subscribe", topics=[shop.topic])
        await dash.wait_for(type="snapshot", topic=shop.topic)
        async with httpx.AsyncClient(base_url=shop.api.base_url, headers={"authorization": f"Bearer {token}"}) as c:
            assert (await c.post("/api/v1/auth/logout")).status_code == 204
        await dash.send(type="ping")  # the next heartbeat (every 20 s) or ping checks the token again
        deadline = time.monotonic() + 10
        while dash.conn.close_code is None:
            assert time.monotonic() < deadline, dash.messages
            await asyncio.sleep(0.05)
        assert dash.conn.close_code == 4401
        assert not [m for m in dash.messages if m["type"] == "pong"]


async def test_alerts_are_mirrored_onto_the_feed(shop: Shop) -> None:
    async with Dash(shop.api.base_url, shop.api.token) as dash:
        await dash.send(type="subscribe", topics=["alerts"])
        snap = await dash.wait_for(type="snapshot", topic="alerts")
        assert isinstance(snap["data"]["recent"], list)
        # What every alert producer does (SLA, surge, short picks, stalled parcels): an event on Topic.ALERTS.
        previous = events.get_bus()
        events.set_bus(events.EventBus(redis_mod.get_client()))
        try:
            now = clock.now()
            async with db.transaction():
                alert = OrderAtRisk(
                    order_id=1, channel=shop.channel, external_id="X1", status="ready", ship_by=now, at=now
                )
                events.publish_after_commit(alert, events.Topic.ALERTS)
        finally:
            events.set_bus(previous)
        delta = await dash.wait_for(type="delta", topic="alerts", seq=snap["seq"] + 1)
        assert delta["data"]["type"] == "order.at_risk" and delta["data"]["external_id"] == "X1"
    async with Dash(shop.api.base_url, shop.api.token) as dash:
        await dash.send(type="subscribe", topics=["alerts"])
        recent = (await dash.wait_for(type="snapshot", topic="alerts"))["data"]["recent"]
        assert recent[0]["seq"] == snap["seq"] + 1 and recent[0]["data"]["external_id"] == "X1"
    token = await shop.user("manager", warehouse=shop.warehouse)
    async with Dash(shop.api.base_url, token) as dash:
        await dash.send(type="subscribe", topics=["alerts"])
        assert (await dash.wait_for(type="error", topic="alerts"))["code"] == "forbidden_warehouse"


async def test_a_renewed_token_for_another_warehouse_ends_the_socket(shop: Shop) -> None:
    """A manager moved to another warehouse signs in again and sends the fresh token on the open socket: the topics
    it watches were allowed for the old warehouse, so the socket ends (4401) rather than keep streaming them."""
    other = await create_warehouse(shop.api)
    username = unique("manager")
    async with shop.api.client() as client:
        r = await client.post(
            "/api/v1/users",
            json={
                "username": username,
                "password": "dash-pass-1",
                "role": "manager",
                "display_name": "调仓主管",
                "warehouse": shop.warehouse,
            },
        )
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
        login = {"username": username, "password": "dash-pass-1"}
        token = (await client.post("/api/v1/auth/login", json=login)).json()["access_token"]
    async with Dash(shop.api.base_url, token) as dash:
        await dash.send(type="subscribe", topics=[shop.topic])
        await dash.wait_for(type="snapshot", topic=shop.topic)
        async with shop.api.client() as client:
            r = await client.patch(f"/api/v1/users/{user_id}", json={"warehouse": other["code"]})
            assert r.status_code == 200, r.text
            fresh = (await client.post("/api/v1/auth/login", json=login)).json()["access_token"]
        await dash.send(type="auth", token=fresh)
        deadline = time.monotonic() + 10
        while dash.conn.close_code is None:
            assert time.monotonic() < deadline, dash.messages
            await asyncio.sleep(0.05)
        assert dash.conn.close_code == 4401


async def test_a_transactions_deltas_of_one_topic_go_out_numbered_in_order(shop: Shop) -> None:
    """A pipeline batch moves dozens of orders in one transaction: their deltas of a topic go out in one script call,
    numbered one after another in the order they were queued, on the socket and in the stream alike."""
    topic = f"orders:{shop.warehouse_id}"
    async with Dash(shop.api.base_url, shop.api.token) as dash:
        await dash.send(type="subscribe", topics=[topic])
        snap = await dash.wait_for(type="snapshot", topic=topic)
        previous = events.get_bus()
        events.set_bus(events.EventBus(redis_mod.get_client()))  # this process sends what its transactions queue
        try:
            async with db.transaction():
                for n in range(5):
                    feed.publish_after_commit(topic, {"order_id": -n, "from": None, "to": None, "n": n})
                feed.publish_after_commit("orders", {"order_id": -9, "from": None, "to": None})
        finally:
            events.set_bus(previous)
        last = await dash.wait_for(type="delta", topic=topic, seq=snap["seq"] + 5)
        got = [m for m in dash.of(topic, "delta") if m["seq"] > snap["seq"]]
        assert [(m["seq"], m["data"]["n"]) for m in got] == [(snap["seq"] + i + 1, i) for i in range(5)], got
        assert last["data"]["n"] == 4
    kept = await feed.since(topic, snap["seq"])
    assert kept is not None and [json.loads(e.data)["n"] for e in kept] == [0, 1, 2, 3, 4]
    assert [e.seq for e in kept] == [snap["seq"] + i + 1 for i in range(5)]
