"""Alerts that reach nobody say so, and write-backs the platform refuses for good stop and wait for a person — through
the running hub, the PDA API, the WeCom simulator and the platform simulators (issue 15, items 2 and 3).

* A short pick in a warehouse without a manager to tell: the order's log records that nobody was told (in zh-CN)
  and the PDA does not claim 主管已收到提醒; with a manager (WeCom id, WeCom set up) the alert is written for them.
* A shipment confirmation the platform answers "the order does not exist" (an order pushed into a platform channel
  instead of pulled from the platform, as the demo used to do) is tried once, turns ``failed`` with the platform's
  code and message, is flagged on the order and to the warehouse's manager, waits in ``GET /api/v1/writebacks
  ?status=failed`` (warehouse-scoped), and is sent again by a person's retry once the order exists.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.platforms import running_platforms
from sandbox.platforms.server import PlatformServer
from sandbox.platforms.store import ShipOutcome
from sandbox.wechat import WeChatServer, running_wechat
from tests.integration.test_channel_pull import PLATFORMS, SIM_NAME, _shop
from tests.integration.test_picking import Floor, Pda
from tests.support.factories import (
    Api,
    create_sku,
    create_warehouse,
    order_payload,
    set_stock,
    unique,
    wait_for_orders,
)
from tests.support.hub import Hub

SIMULATOR = running_platforms


@pytest.fixture(scope="module")
def wechat() -> Iterator[WeChatServer]:
    with running_wechat() as server:
        yield server


async def _wecom(api: Api, wechat: WeChatServer) -> str:
    """WeCom set up for the hub (staff alerts); returns the corp id."""
    corp = wechat.store.create_corp()
    async with api.client() as client:
        r = await client.put(
            "/api/v1/notify/providers/wecom",
            json={"config": {"corp_id": corp.corp_id, "secret": corp.secret, "agent_id": str(corp.agent_id),
                             "base_url": wechat.base_url}},
        )
    assert r.status_code == 200, r.text
    return corp.corp_id


async def _manager(api: Api, wechat: WeChatServer, corp_id: str, warehouse: str) -> tuple[str, Api]:
    """A manager of the warehouse with a WeCom id; returns the id and the API as they use it."""
    userid, username = unique("boss"), unique("mgr")
    wechat.store.add_wecom_user(corp_id, userid)
    async with api.client() as client:
        r = await client.post("/api/v1/users", json={"username": username, "password": "manager-pass-1",
                                                     "role": "manager", "warehouse": warehouse,
                                                     "wecom_userid": userid})
        assert r.status_code == 201, r.text
        login = await client.post("/api/v1/auth/login", json={"username": username, "password": "manager-pass-1"})
    assert login.status_code == 200, login.text
    return userid, Api(api.base_url, login.json()["access_token"])


async def _order(api: Api, order_id: int) -> dict[str, Any]:
    async with api.client() as client:
        r = await client.get(f"/api/v1/orders/{order_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _notifications(api: Api, order_id: int) -> list[dict[str, Any]]:
    async with api.client() as client:
        r = await client.get(f"/api/v1/orders/{order_id}/notifications")
    assert r.status_code == 200, r.text
    return list(r.json())


async def _short_pick(floor: Floor) -> tuple[int, httpx.Response]:
    """One order waved, claimed on a PDA and its line reported short; the order and the PDA's answer."""
    (order_id,) = await floor.orders([(floor.codes[0], 1)])
    pda = await Pda.sign_in(floor.url, await floor.person("picker"))
    try:
        (task_id,) = (await floor.wave([order_id]))["task_ids"]
        r = await pda.http.post(f"/pda/v1/tasks/{task_id}/claim")
        assert r.status_code == 200, r.text
        line = r.json()["stops"][0]
        answer = await pda.scan(task_id, line["line_id"], "short", reason="库位无货")
    finally:
        await pda.close()
    assert answer.status_code == 200 and answer.json()["line"]["status"] == "short", answer.text
    return order_id, answer


async def test_a_short_pick_nobody_can_hear_is_said_on_the_order_and_not_claimed_on_the_pda(
    api: Api, store: Hub, wechat: WeChatServer
) -> None:
    corp_id = await _wecom(api, wechat)

    # no manager in this warehouse (nor one for every warehouse): nobody is told, and nobody claims otherwise
    lonely = await Floor(api, store.url).setup(skus=1)
    order_id, answer = await _short_pick(lonely)
    message = answer.json()["message"]
    assert "主管已收到提醒" not in message and "未找到可通知的主管" in message, message
    order = await _order(api, order_id)
    assert (order["status"], order["exception_reason"]) == ("exception", "short_picked")
    nobody = [e for e in order["events"] if e["type"] == "order.staff_not_alerted"]
    assert len(nobody) == 1, order["events"]
    assert nobody[0]["data"]["notice"] == "staff_short_pick" and nobody[0]["data"]["code"] == "no_recipient"
    assert "未找到可通知的主管" in nobody[0]["reason"] and "拣货缺货" in nobody[0]["data"]["message"]
    assert not [n for n in await _notifications(api, order_id) if n["event"] == "staff_short_pick"]

    # with the warehouse's manager: as before — the alert is written for them and the PDA says so
    staffed = await Floor(api, store.url).setup(skus=1)
    boss, _ = await _manager(api, wechat, corp_id, staffed.warehouse)
    order_id, answer = await _short_pick(staffed)
    assert answer.json()["message"] == "已登记缺货，订单转异常，主管已收到提醒", answer.text
    order = await _order(api, order_id)
    assert not [e for e in order["events"] if e["type"] == "order.staff_not_alerted"], order["events"]
    alerts = [n for n in await _notifications(api, order_id) if n["event"] == "staff_short_pick"]
    assert [(n["channel"], n["recipient"]) for n in alerts] == [("wecom", boss)], alerts


async def _failed_row(api: Api, order_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        async with api.client() as client:
            r = await client.get("/api/v1/writebacks", params={"status": "failed"})
        assert r.status_code == 200, r.text
        rows = [row for row in r.json() if row["order_id"] == order_id]
        if rows:
            return dict(rows[0])
        assert time.monotonic() < deadline, f"no failed write-back for order {order_id}"
        await asyncio.sleep(0.3)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_write_back_the_platform_refuses_for_good_stops_is_flagged_and_waits_in_the_queue(
    api: Api, sim: PlatformServer, wechat: WeChatServer, platform: str
) -> None:
    warehouse = (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    await set_stock(api, sku=sku, warehouse=warehouse, qty=10)
    shop = await _shop(api, sim, platform, warehouse)
    corp_id = await _wecom(api, wechat)
    boss, manager = await _manager(api, wechat, corp_id, warehouse)

    # pushed into the platform's channel, never sold on the platform: the platform does not know the order
    external_id = str(random.randrange(10**17, 10**18))
    async with api.client() as client:
        r = await client.post("/api/v1/orders/ingest",
                              json={"channel": shop.code,
                                    "orders": [order_payload(external_id=external_id, lines=[(sku, 1)])]})
        assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
        hub_id = int(r.json()["results"][0]["order_id"])
        assert (await wait_for_orders(api, [hub_id]))[hub_id]["status"] == "ready"
        waybill = f"SF{int(time.time() * 1000)}"
        r = await client.post(f"/api/v1/orders/{hub_id}/ship", json={"carrier": "SF", "waybill_no": waybill})
        assert r.status_code == 200 and r.json()["status"] == "shipped", r.text

    # refused for good: one attempt, failed with the platform's own code and message — and no more attempts
    row = await _failed_row(manager, hub_id)
    assert row["attempts"] == 1 and row["channel"] == shop.code and row["platform"] == platform, row
    assert row["last_error"].startswith("platform_invalid_request:"), row
    assert any(text in row["last_error"] for text in ("不存在", "not exist")), row
    await asyncio.sleep(2)
    async with api.client() as client:
        (again,) = [w for w in (await client.get(f"/api/v1/channels/{shop.code}/writebacks")).json()
                    if w["order_id"] == hub_id]
    assert (again["status"], again["attempts"]) == ("failed", 1), again
    tried = [s for s in sim.store.shipments(SIM_NAME[platform], accepted_only=False) if s.order_id == external_id]
    assert [s.outcome for s in tried] in ([ShipOutcome.NOT_FOUND], []), tried  # 微信小店: refused at the order look-up

    # flagged: on the order, and to the warehouse's manager in WeCom
    order = await _order(api, hub_id)
    (flag,) = [e for e in order["events"] if e["type"] == "order.writeback_failed"]
    assert flag["reason"] == "platform_refused" and flag["data"]["waybill_no"] == waybill, flag
    assert "停止重试" in flag["data"]["message"] and flag["data"]["platform_code"], flag
    alerts = [n for n in await _notifications(api, hub_id) if n["event"] == "staff_writeback_failed"]
    assert [(n["channel"], n["recipient"]) for n in alerts] == [("wecom", boss)], alerts

    # warehouse-scoped: another warehouse's manager neither sees nor retries it
    _, outsider = await _manager(api, wechat, corp_id, (await create_warehouse(api))["code"])
    async with outsider.client() as client:
        listed = (await client.get("/api/v1/writebacks", params={"status": "failed"})).json()
        assert hub_id not in {w["order_id"] for w in listed}
        r = await client.post(f"/api/v1/writebacks/{row['id']}/retry")
        assert r.status_code == 404 and r.json()["code"] == "writeback_not_found", r.text

    # a person fixes the cause (the order now exists on the platform) and retries: it goes through
    sim.store.add_order(SIM_NAME[platform], shop.seller.app_key, order_id=external_id, lines=[(sku, 1, 1990)])
    async with manager.client() as client:
        r = await client.post(f"/api/v1/writebacks/{row['id']}/retry")
        assert r.status_code == 200 and r.json()["status"] == "pending", r.text
        deadline = time.monotonic() + 60
        while True:
            (current,) = [w for w in (await client.get("/api/v1/writebacks")).json() if w["id"] == row["id"]]
            if current["status"] == "done":
                break
            assert current["status"] == "pending" and time.monotonic() < deadline, current
            await asyncio.sleep(0.3)
        r = await client.post(f"/api/v1/writebacks/{row['id']}/retry")
        assert r.status_code == 404 and r.json()["code"] == "writeback_not_found", r.text  # done: nothing to retry
    shipped = [s for s in sim.store.shipments(SIM_NAME[platform]) if s.order_id == external_id]
    assert len(shipped) == 1 and shipped[0].tracking_no == waybill, shipped
