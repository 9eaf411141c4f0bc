"""Threshold alerts through the running hub: a warehouse's backlog rule fires once when crossed, stays quiet while
the backlog stays high, clears below its clear level and fires again on the next crossing; the warehouse's manager
hears it in WeCom (the simulator), the ``alerts`` topic of /ws/dash carries it (and ``alerts:{warehouse_id}``, which
the warehouse's bound manager may watch and another warehouse's may not), acknowledging is idempotent and kept
to the warehouse; parallel evaluations fire a crossing once (PostgreSQL)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from saq.queue.redis import RedisQueue

from orderhub import events
from orderhub import redis as redis_mod
from orderhub.insights import alerts, queries
from sandbox.wechat import WeChatServer, running_wechat
from tests.integration.test_dash_feed import Dash, Shop
from tests.support.factories import Api, unique
from tests.support.hub import Hub


@pytest.fixture(scope="module")
def wechat() -> Iterator[WeChatServer]:
    with running_wechat() as server:
        yield server


@pytest.fixture
def bus() -> Iterator[None]:
    """This process evaluates too (as the worker's cron does): its feed deltas go out through the hub's Redis."""
    previous = events.get_bus()
    events.set_bus(events.EventBus(redis_mod.get_client()))
    try:
        yield
    finally:
        events.set_bus(previous)


async def _manager(api: Api, warehouse: str | None, wecom_userid: str = "") -> Api:
    username = unique("mgr")
    async with api.client() as client:
        r = await client.post("/api/v1/users", json={"username": username, "password": "manager-pass-1",
                                                     "role": "manager", "warehouse": warehouse,
                                                     "wecom_userid": wecom_userid})
        assert r.status_code == 201, r.text
        login = await client.post("/api/v1/auth/login", json={"username": username, "password": "manager-pass-1"})
    assert login.status_code == 200, login.text
    return Api(api.base_url, login.json()["access_token"])


async def _backlog_is(warehouse_id: int, expected: int, timeout: float = 10) -> None:
    """The rollups lag the orders by a moment: wait until the warehouse's backlog reads ``expected``."""
    deadline = time.monotonic() + timeout
    while True:
        counts = await queries.status_counts(warehouse_ids=[warehouse_id])
        now = sum(c.orders for c in counts if c.status in alerts.OPEN_STATUSES)
        if now == expected:
            return
        assert time.monotonic() < deadline, f"backlog {now}, expected {expected}"
        await asyncio.sleep(0.2)


async def _alerts(api: Api, rule_id: int, **params: Any) -> list[dict[str, Any]]:
    async with api.client() as client:
        r = await client.get("/api/v1/alerts", params=params)
    assert r.status_code == 200, r.text
    return [a for a in r.json() if a["rule_id"] == rule_id]


async def _delta(dash: Dash, kind: str, timeout: float = 15, topic: str = "alerts") -> dict[str, Any]:
    """The data of the first delta of this kind on ``topic``."""
    deadline = time.monotonic() + timeout
    while True:
        for m in dash.of(topic, "delta"):
            if m["data"].get("type") == kind:
                return dict(m["data"])
        assert time.monotonic() < deadline, dash.messages
        await asyncio.sleep(0.05)


async def _wecom_cards(wechat: WeChatServer, corp_key: str, userid: str, n: int, timeout: float = 30) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        cards = [m for m in wechat.store.messages_for(corp_key) if userid in m.recipient.split("|")]
        if len(cards) >= n:
            return cards
        assert time.monotonic() < deadline, cards
        await asyncio.sleep(0.3)


async def test_a_backlog_rule_fires_once_per_crossing_reaches_the_manager_and_is_acknowledged(
    api: Api, store: Hub, queue: RedisQueue, wechat: WeChatServer, bus: None
) -> None:
    corp = wechat.store.create_corp()
    boss, elsewhere = unique("boss"), unique("other")
    wechat.store.add_wecom_user(corp.corp_id, boss, elsewhere)
    async with api.client() as client:
        r = await client.put("/api/v1/notify/providers/wecom", json={"config": {
            "corp_id": corp.corp_id, "secret": corp.secret, "agent_id": str(corp.agent_id),
            "base_url": wechat.base_url}})
        assert r.status_code == 200, r.text
    shop, other = await Shop(api).setup(), await Shop(api).setup()
    manager = await _manager(api, shop.warehouse, boss)
    other_manager = await _manager(api, other.warehouse, elsewhere)

    # the warehouse's manager writes the rule; another warehouse's manager may not
    rule = {"name": "华东仓积压", "metric": "backlog", "warehouse_id": shop.warehouse_id, "comparison": "above",
            "threshold": 3, "clear_level": 2}
    async with other_manager.client() as client:
        r = await client.post("/api/v1/alert-rules", json=rule)
        assert r.status_code == 403 and r.json()["code"] == "forbidden_warehouse", r.text
    async with manager.client() as client:
        r = await client.post("/api/v1/alert-rules", json={**rule, "clear_level": 5})
        assert r.status_code == 422 and r.json()["code"] == "alert_bad_clear_level", r.text
        r = await client.post("/api/v1/alert-rules", json=rule)
        assert r.status_code == 201, r.text
        rule_id = r.json()["id"]
        assert r.json()["state"] == "armed"
    async with other_manager.client() as client:
        listed = (await client.get("/api/v1/alert-rules")).json()
        assert rule_id not in [x["id"] for x in listed]
        r = await client.patch(f"/api/v1/alert-rules/{rule_id}", json={"threshold": 1})
        assert r.status_code == 404 and r.json()["code"] == "alert_rule_not_found", r.text

    mine, theirs = f"alerts:{shop.warehouse_id}", f"alerts:{other.warehouse_id}"
    async with (
        Dash(api.base_url, api.token) as dash,
        Dash(api.base_url, manager.token) as own,
        Dash(api.base_url, other_manager.token) as elsewhere_dash,
    ):
        await dash.send(type="subscribe", topics=["alerts"])
        await dash.wait_for(type="snapshot", topic="alerts")
        # a bound manager watches their warehouse's alerts; another warehouse's topic and the hub's are refused
        await own.send(type="subscribe", topics=[mine, theirs, "alerts"])
        await own.wait_for(type="snapshot", topic=mine)
        assert (await own.wait_for(type="error", topic=theirs))["code"] == "forbidden_warehouse"
        assert (await own.wait_for(type="error", topic="alerts"))["code"] == "forbidden_warehouse"
        await elsewhere_dash.send(type="subscribe", topics=[theirs])
        await elsewhere_dash.wait_for(type="snapshot", topic=theirs)

        # 3 orders: at the threshold, not above it
        first = await shop.ready_orders(3)
        await _backlog_is(shop.warehouse_id, 3)
        await alerts.evaluate()
        assert await _alerts(api, rule_id) == []
        # the 4th crosses it: one alert, whoever evaluates (this process or the workers' cron)
        first += await shop.ready_orders(1)
        await _backlog_is(shop.warehouse_id, 4)
        await alerts.evaluate()
        await alerts.evaluate()
        fired = await _alerts(api, rule_id)
        assert len(fired) == 1 and fired[0]["state"] == "open" and fired[0]["value"] == 4, fired
        assert fired[0]["threshold"] == 3 and fired[0]["warehouse_id"] == shop.warehouse_id
        delta = await _delta(dash, "alert.fired")
        assert {k: delta[k] for k in ("type", "alert_id", "rule_id", "value")} == {
            "type": "alert.fired", "alert_id": fired[0]["id"], "rule_id": rule_id, "value": 4}
        assert await _delta(own, "alert.fired", topic=mine) == delta  # the warehouse's manager, on its topic

        # still above, then between the lines: nothing new
        await shop.cancel(first.pop())
        await shop.cancel(first.pop())
        await _backlog_is(shop.warehouse_id, 2)
        await alerts.evaluate()
        assert [a["state"] for a in await _alerts(api, rule_id)] == ["open"]
        # below the clear level: cleared
        await shop.cancel(first.pop())
        await _backlog_is(shop.warehouse_id, 1)
        await alerts.evaluate()
        cleared = await _alerts(api, rule_id)
        assert [(a["state"], a["clear_value"]) for a in cleared] == [("cleared", 1)], cleared
        assert (await _delta(dash, "alert.cleared"))["alert_id"] == fired[0]["id"]
        assert (await _delta(own, "alert.cleared", topic=mine))["alert_id"] == fired[0]["id"]
        assert elsewhere_dash.of(theirs, "delta") == []  # another warehouse's topic carries none of it

        # the next crossing fires again (through the command line this time)
        await shop.ready_orders(3)
        await _backlog_is(shop.warehouse_id, 4)
        out = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "server.cli", "alerts-evaluate"], env=store.env,
            capture_output=True, timeout=120, text=True,
        )
        assert out.returncode == 0 and "alert rules evaluated" in out.stdout, out.stderr
        both = await _alerts(api, rule_id)
        assert [a["state"] for a in both] == ["open", "cleared"], both

    # the warehouse's manager heard both alerts and the clearing in WeCom; the other warehouse's manager nothing
    cards = await _wecom_cards(wechat, corp.key, boss, 3)
    assert sorted(c.content.split("：")[0] for c in cards) == ["告警解除", "指标告警", "指标告警"], cards
    assert any("积压订单当前为 4" in c.content and "高于阈值 3" in c.content for c in cards), cards
    assert not [m for m in wechat.store.messages_for(corp.key) if elsewhere in m.recipient]

    # acknowledging: idempotent, records who, kept to the warehouse
    open_id = both[0]["id"]
    async with other_manager.client() as client:
        r = await client.post(f"/api/v1/alerts/{open_id}/ack")
        assert r.status_code == 404 and r.json()["code"] == "alert_not_found", r.text
        assert open_id not in [a["id"] for a in (await client.get("/api/v1/alerts")).json()]
        r = await client.get("/api/v1/alerts", params={"warehouse_id": shop.warehouse_id})
        assert r.status_code == 403 and r.json()["code"] == "forbidden_warehouse", r.text
    async with manager.client() as client:
        r = await client.post(f"/api/v1/alerts/{open_id}/ack")
        assert r.status_code == 200 and r.json()["state"] == "acknowledged", r.text
        first_ack = r.json()
        assert first_ack["acknowledged_by"] and first_ack["acknowledged_at"].endswith("+08:00")
        r = await client.post(f"/api/v1/alerts/{open_id}/ack")
        assert r.status_code == 200 and r.json() == first_ack, r.text
    assert [a["id"] for a in await _alerts(manager, rule_id, state="acknowledged")] == [open_id]
    assert await _alerts(manager, rule_id, state="open") == []

    # deleting the rule closes its open alert; the history stays
    async with manager.client() as client:
        assert (await client.delete(f"/api/v1/alert-rules/{rule_id}")).status_code == 204
    assert [a["state"] for a in await _alerts(api, rule_id)] == ["cleared", "cleared"]


@pytest.mark.postgres_only
async def test_parallel_evaluations_fire_a_crossing_once(api: Api, store: Hub, bus: None) -> None:
    shop = await Shop(api).setup()
    async with api.client() as client:
        r = await client.post("/api/v1/alert-rules", json={
            "name": "并发", "metric": "backlog", "warehouse_id": shop.warehouse_id, "comparison": "above",
            "threshold": 0})
        assert r.status_code == 201, r.text
        rule_id = r.json()["id"]
    await shop.ready_orders(1)
    await _backlog_is(shop.warehouse_id, 1)
    reports = await asyncio.gather(*(alerts.evaluate() for _ in range(8)))
    fired = [a for report in reports for a in report.fired]
    listed = await _alerts(api, rule_id)
    assert len(listed) == 1, listed
    assert fired in ([], [listed[0]["id"]])  # [] when a worker's cron got there first
