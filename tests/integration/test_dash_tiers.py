"""The three dashboard tiers through the running hub (docs/dashboards.md): orders pushed and moved (cancelled, shipped
by hand, one past its ship-by, one in exception) show in the strategic and tactical figures once the rollups caught
up; each drill-down returns exactly the orders behind its figure, page by page; a manager bound to warehouse A is
kept to A (403 on B's tiers, never B's orders in a drill-down), a picker gets only their own day; the
``dash.tactical:{id}`` topic's snapshot is the endpoint's JSON, and figure hints are throttled per topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from orderhub.insights import live
from tests.integration.test_dash_feed import Dash
from tests.integration.test_picking import Floor, Pda
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

PASSWORD = "tiers-pass-2026"


class World:
    """Warehouses A (capacity 100) and B, a channel shipping from each, and orders moved in A."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.a: dict[str, Any] = {}
        self.b: dict[str, Any] = {}
        self.channel_a = self.channel_b = self.sku = ""
        self.channel_a_id = 0
        self.orders: dict[str, int] = {}
        self.b_orders: list[int] = []
        self.tokens: dict[str, str] = {}
        self.user_ids: dict[str, int] = {}

    async def _push(self, channel: str, orders: list[dict[str, Any]]) -> list[int]:
        async with self.api.client() as client:
            r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": orders})
        assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
        return [int(res["order_id"]) for res in r.json()["results"]]

    async def _user(self, name: str, role: str, warehouse: str | None) -> None:
        username = unique(role)
        async with self.api.client() as client:
            body = {"username": username, "password": PASSWORD, "role": role, "display_name": f"看板{name}"}
            r = await client.post("/api/v1/users", json={**body, "warehouse": warehouse})
            assert r.status_code == 201, r.text
            self.user_ids[name] = int(r.json()["id"])
            r = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self.tokens[name] = str(r.json()["access_token"])

    def client(self, who: str) -> httpx.AsyncClient:
        token = self.api.token if who == "admin" else self.tokens[who]
        return httpx.AsyncClient(base_url=self.api.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    async def setup(self) -> World:
        self.a, self.b = (
            await create_warehouse(self.api, name="华东仓"),
            await create_warehouse(self.api, name="华南仓"),
        )
        async with self.api.client() as client:
            r = await client.patch(f"/api/v1/warehouses/{self.a['code']}", json={"daily_capacity": 100})
            assert r.status_code == 200 and r.json()["daily_capacity"] == 100, r.text
        self.sku = await create_sku(self.api)
        for warehouse in (self.a, self.b):
            await set_stock(self.api, sku=self.sku, warehouse=warehouse["code"], qty=100)
        self.channel_a, _ = await create_channel(self.api, warehouse=self.a["code"])
        self.channel_b, _ = await create_channel(self.api, warehouse=self.b["code"])
        async with self.api.client() as client:
            r = await client.get(f"/api/v1/channels/{self.channel_a}")
            self.channel_a_id = int(r.json()["id"])

        past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        payloads = [
            order_payload(lines=[(self.sku, 1)], paid_amount=1000),
            order_payload(lines=[(self.sku, 1)], paid_amount=2000),
            order_payload(lines=[(self.sku, 1)], paid_amount=3000, ship_by=past),  # overdue
            order_payload(lines=[(self.sku, 1)], paid_amount=4000),
            order_payload(lines=[("NO-SUCH-SKU", 1)], paid_amount=5000),  # exception: unknown_sku
        ]
        ids = await self._push(self.channel_a, payloads)
        self.b_orders = await self._push(self.channel_b, [order_payload(lines=[(self.sku, 1)]) for _ in range(2)])
        done = await wait_for_orders(self.api, ids + self.b_orders)
        self.orders = dict(zip(("cancelled", "shipped", "overdue", "ready", "exception"), ids, strict=True))
        assert [done[i]["status"] for i in ids] == ["ready"] * 4 + ["exception"], done
        async with self.api.client() as client:
            r = await client.post(f"/api/v1/orders/{self.orders['cancelled']}/cancel", json={"reason": "买家取消"})
            assert r.status_code == 201, r.text
            r = await client.post(
                f"/api/v1/orders/{self.orders['shipped']}/ship", json={"carrier": "SF", "waybill_no": "SF1699000001"}
            )
            assert r.status_code == 200 and r.json()["status"] == "shipped", r.text
        await self._user("manager@A", "manager", self.a["code"])
        await self._user("picker@A", "picker", self.a["code"])
        await self._user("finance", "finance", None)
        return self


@pytest.fixture(scope="module")
async def world(api: Api, store: Hub) -> World:
    return await World(api).setup()


async def eventually(read: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], timeout: float = 10) -> Any:
    """Poll ``read`` until ``check`` holds (the rollups lag the orders by ~0.5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if check(value):
            return value
        assert time.monotonic() < deadline, f"not reached in {timeout}s: {value}"
        await asyncio.sleep(0.2)


async def _get(client: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    r = await client.get(path, params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _drill_all(client: httpx.AsyncClient, **params: Any) -> tuple[list[int], int | None, int]:
    """Every page of a drill-down: the order ids in order, the first page's total, the number of pages."""
    ids: list[int] = []
    cursor, total, pages = None, None, 0
    while True:
        page = await _get(client, "/api/v1/dash/drill", **params, **({"cursor": cursor} if cursor else {}))
        pages += 1
        if total is None:
            total = page["total"]
        else:
            assert page["total"] is None
        ids += [item["order_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids, total, pages


async def test_strategic_figures_and_why(world: World) -> None:
    async with world.client("admin") as admin:
        board = await eventually(
            lambda: _get(admin, "/api/v1/dash/strategic", channel_id=world.channel_a_id),
            lambda b: b["today"]["orders"] == 5 and b["today"]["cancelled"] == 1,
        )
    today = board["today"]
    assert today == {"orders": 5, "gmv_fen": 15000, "aov_fen": 3000, "refund_rate": 0.2, "cancelled": 1}
    assert board["as_of"].endswith("+08:00") and board["hourly"][0]["hour"].endswith("T00:00:00+08:00")
    assert sum(h["orders"] for h in board["hourly"]) == 5
    assert len(board["aov_trend"]) == 7 and board["aov_trend"][-1] == {"day": board["day"], "aov_fen": 3000}
    (channel,) = board["channels"]
    assert (channel["channel_id"], channel["orders"], channel["gmv_fen"], channel["share"]) == (
        world.channel_a_id,
        5,
        15000,
        1.0,
    )
    assert board["last_week_same_time"] == {"orders": 0, "gmv_fen": 0, "aov_fen": None}
    first = board["why"][0]
    assert (first["dimension"], first["id"], first["delta"], first["delta_gmv_fen"]) == (
        "channel",
        world.channel_a_id,
        5,
        15000,
    )
    assert "较上周同期" in first["text"] and "+5 单" in first["text"] and "主要原因" in first["text"]
    routed = [w for w in board["why"] if w["dimension"] == "warehouse"]
    assert [(w["id"], w["delta"]) for w in routed] == [(world.a["id"], 4)]
    # The health index card: the hub's score with the parts that explain it (docs/health.md).
    assert board["health"]["threshold"] == 80.0 and {p["name"] for p in board["health"]["parts"]} >= {"on_time_rate"}


async def test_tactical_figures(world: World) -> None:
    async with world.client("admin") as admin:
        board = await eventually(
            lambda: _get(admin, "/api/v1/dash/tactical", warehouse_id=world.a["id"]),
            lambda b: b["warehouses"][0]["shipped_today"] == 1 and b["warehouses"][0]["backlog"] == 2,
        )
        everything = await _get(admin, "/api/v1/dash/tactical")  # every warehouse, each figure one grouped query
    (a,) = board["warehouses"]
    assert {w["warehouse_id"]: w for w in everything["warehouses"]}[world.a["id"]] == a
    assert (a["warehouse_id"], a["name"], a["capacity"], a["backlog_ratio"]) == (world.a["id"], "华东仓", 100, 0.02)
    assert a["funnel"]["ready"] == 2 and a["funnel"]["picking"] == 0 and a["funnel"]["received"] == 0
    assert a["overdue"] == 1 and a["exceptions_by_reason"] == [] and a["waves"] == []
    assert a["on_time_rate"] in (None, 1.0)


async def test_each_drill_down_returns_exactly_the_orders_behind_its_figure(world: World) -> None:
    o = world.orders
    a = world.a["id"]
    async with world.client("admin") as admin:
        await eventually(
            lambda: _get(admin, "/api/v1/dash/tactical", warehouse_id=a),
            lambda b: b["warehouses"][0]["shipped_today"] == 1,
        )
        ids, total, pages = await _drill_all(admin, metric="orders", channel_id=world.channel_a_id, limit=2)
        assert (sorted(ids), total, pages) == (sorted(o.values()), 5, 3)
        assert ids == sorted(ids, reverse=True)  # newest first, no repeats across pages
        cases = {
            ("cancelled", None): [o["cancelled"]],
            ("shipped", None): [o["shipped"]],
            ("backlog", None): [o["ready"], o["overdue"]],
            ("overdue", None): [o["overdue"]],
            ("status:ready", None): [o["ready"], o["overdue"]],
            ("held", None): [],
        }
        for (metric, _), expected in cases.items():
            ids, total, _ = await _drill_all(admin, metric=metric, warehouse_id=a)
            assert (ids, total) == (sorted(expected, reverse=True), len(expected)), metric
        # The exception happened before routing (no warehouse): by channel and reason.
        for reason, expected in (("unknown_sku", [o["exception"]]), ("out_of_stock", [])):
            ids, total, _ = await _drill_all(admin, metric="exceptions", channel_id=world.channel_a_id, reason=reason)
            assert (ids, total) == (expected, len(expected))
        page = await _get(admin, "/api/v1/dash/drill", metric="overdue", warehouse_id=a)
        item = page["items"][0]
        assert item["external_id"] and item["paid_amount"] == 3000 and item["status"] == "ready"
        assert item["warehouse_id"] == a and item["ship_by"].endswith("+08:00")

        bad = await admin.get("/api/v1/dash/drill", params={"metric": "everything"})
        assert bad.status_code == 422 and bad.json()["code"] == "dash_bad_metric", bad.text
        assert bad.headers["content-type"].startswith("application/problem+json")
        bad = await admin.get("/api/v1/dash/strategic", params={"day": "2026-13-40"})
        assert bad.status_code == 422 and (bad.json()["code"], bad.json()["field"]) == ("dash_bad_day", "day")
        bad = await admin.get("/api/v1/dash/drill", params={"metric": "orders", "cursor": "abc"})
        assert bad.status_code == 422 and bad.json()["code"] == "dash_bad_cursor"
        bad = await admin.get("/api/v1/dash/drill", params={"metric": "operator_tasks"})
        assert bad.status_code == 422 and bad.json()["code"] == "dash_needs_user"
        for path, params in (("/api/v1/dash/drill", {"metric": "orders"}), ("/api/v1/dash/operations", {})):
            missing = await admin.get(path, params={**params, "warehouse_id": 2_000_000_000})
            assert missing.status_code == 404 and missing.json()["code"] == "not_found", missing.text


async def test_a_bound_manager_sees_only_their_warehouse(world: World) -> None:
    a, b = world.a["id"], world.b["id"]
    async with world.client("manager@A") as manager:
        for path in ("/api/v1/dash/tactical", "/api/v1/dash/operations", "/api/v1/dash/drill"):
            r = await manager.get(path, params={"warehouse_id": b, "metric": "orders"})
            assert r.status_code == 403 and r.json()["code"] == "forbidden_warehouse", (path, r.text)
        r = await manager.get("/api/v1/dash/strategic")
        assert r.status_code == 403 and r.json()["code"] == "forbidden_global", r.text
        mine = await _get(manager, "/api/v1/dash/tactical")
        assert [w["warehouse_id"] for w in mine["warehouses"]] == [a]
        ops = await _get(manager, "/api/v1/dash/operations")
        assert ops["warehouse_id"] == a
        for metric in ("orders", "backlog", "status:ready", "shipped"):
            ids, _, _ = await _drill_all(manager, metric=metric)
            assert not set(ids) & set(world.b_orders), metric
            assert all(i in world.orders.values() or i not in world.b_orders for i in ids)
        ids, _, _ = await _drill_all(manager, metric="backlog")
        assert sorted(ids) == sorted([world.orders["ready"], world.orders["overdue"]])
    async with world.client("admin") as admin:  # B's orders are there for a caller who may see them
        ids, _, _ = await _drill_all(admin, metric="backlog", warehouse_id=b)
        assert sorted(ids) == sorted(world.b_orders)
    async with world.client("finance") as finance:
        assert (await finance.get("/api/v1/dash/strategic")).status_code == 200
        assert (await finance.get("/api/v1/dash/tactical")).json()["code"] == "forbidden"


async def test_a_picker_gets_their_own_day_only(world: World) -> None:
    async with world.client("picker@A") as picker:
        me = await _get(picker, "/api/v1/dash/me")
        assert (me["user_id"], me["name"], me["role"]) == (world.user_ids["picker@A"], "看板picker@A", "pick")
        assert me["units"] == 0 and me["current_task"] is None and me["todo"] == [] and me["as_of"].endswith("+08:00")
        for path in ("/api/v1/dash/tactical", "/api/v1/dash/operations", "/api/v1/dash/strategic"):
            r = await picker.get(path)
            assert r.status_code == 403 and r.json()["code"] == "forbidden", (path, r.text)
        r = await picker.get("/api/v1/dash/drill", params={"metric": "operator_tasks", "user_id": 1})
        assert r.status_code == 403, r.text


async def test_the_tactical_topic_snapshot_is_the_endpoint_and_hints_are_throttled(world: World) -> None:
    a, b = world.a["id"], world.b["id"]
    topic = f"dash.tactical:{a}"
    async with world.client("admin") as admin:
        rest = await eventually(
            lambda: _get(admin, "/api/v1/dash/tactical", warehouse_id=a),
            lambda board: board["warehouses"][0]["shipped_today"] == 1,
        )
    async with Dash(world.api.base_url, world.tokens["manager@A"]) as dash:
        await dash.send(type="subscribe", topics=[topic, f"dash.tactical:{b}", f"dash.operations:{a}"])
        snap = await dash.wait_for(type="snapshot", topic=topic)
        data = snap["data"]
        assert data["day"] == rest["day"] and data["as_of"].endswith("+08:00")
        assert data["warehouses"] == rest["warehouses"]
        refused = await dash.wait_for(type="error", topic=f"dash.tactical:{b}")
        assert refused["code"] == "forbidden_warehouse"
        ops = await dash.wait_for(type="snapshot", topic=f"dash.operations:{a}")
        assert ops["data"]["warehouse_id"] == a and isinstance(ops["data"]["operators"], list)

        # Three catch-ups in a row: one hint now, one when the throttle's window ends, none more.
        for _ in range(3):
            await live.after_catch_up({a})
        await asyncio.sleep(1.5)
        hints = [m for m in dash.of(topic, "delta") if m["data"].get("changed") == ["figures"]]
        # At most one now and one trailing (the hub's own catch-up may add one, or have taken the window just
        # before, leaving only the trailing hint).
        assert 1 <= len(hints) <= 3, hints
        assert [m["seq"] for m in hints] == sorted(m["seq"] for m in hints)
        # Watched, so each hint carries the board (computed once for every screen, not re-read by each).
        board = hints[-1]["data"]["board"]
        assert [w["warehouse_id"] for w in board["warehouses"]] == [a] and board["day"] == rest["day"]
    async with Dash(world.api.base_url, world.api.token) as dash:
        await dash.send(type="subscribe", topics=["dash.strategic"])
        snap = await dash.wait_for(type="snapshot", topic="dash.strategic")
        assert {"today", "hourly", "channels", "why"} <= set(snap["data"])
    async with Dash(world.api.base_url, world.tokens["manager@A"]) as dash:
        await dash.send(type="subscribe", topics=["dash.strategic"])
        refused = await dash.wait_for(type="error", topic="dash.strategic")
        assert refused["code"] == "forbidden_warehouse"


async def test_operations_show_each_pickers_work_and_current_task(api: Api, store: Hub) -> None:
    floor = await Floor(api, store.url).setup(pick_mode="order")
    sku, other = floor.codes[0], floor.codes[1]
    first, second = await floor.orders([(sku, 2)], [(sku, 1)])
    person = await floor.person("picker")
    picker = await Pda.sign_in(floor.url, person)
    try:
        (done_task,) = (await floor.wave([first]))["task_ids"]
        (running_task,) = (await floor.wave([second]))["task_ids"]
        task = (await picker.http.post(f"/pda/v1/tasks/{done_task}/claim")).json()
        stop = task["stops"][0]
        wrong = await picker.scan(
            done_task, stop["line_id"], "item", barcode=floor.skus[other]["barcode"], qty=1, location=stop["location"]
        )
        assert wrong.status_code == 422, wrong.text
        ok = await picker.scan(
            done_task, stop["line_id"], "item", barcode=floor.skus[sku]["barcode"], qty=2, location=stop["location"]
        )
        assert ok.status_code == 200 and ok.json()["ok"], ok.text
        assert (await picker.http.post(f"/pda/v1/tasks/{done_task}/complete")).status_code == 200
        assert (await picker.http.post(f"/pda/v1/tasks/{running_task}/claim")).status_code == 200
    finally:
        await picker.close()

    async with httpx.AsyncClient(base_url=store.url, timeout=60) as client:
        login = {"username": person["username"], "password": "floor-pass-1"}
        token = (await client.post("/api/v1/auth/login", json=login)).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        me = await eventually(lambda: _get(client, "/api/v1/dash/me"), lambda m: m["units"] == 2)
    assert (me["role"], me["errors"], me["scans"]) == ("pick", 1, 2)  # the wrong item, then the right one
    assert me["current_task"]["task_id"] == running_task and me["current_task"]["kind"] == "pick"
    assert me["current_task"]["running_s"] >= 0 and me["current_task"]["started_at"].endswith("+08:00")
    assert [(t["kind"], t["id"]) for t in me["todo"]] == [("pick_task", running_task)]

    async with api.client() as admin:
        warehouse_id = (await _get(admin, f"/api/v1/warehouses/{floor.warehouse}"))["id"]
        ops = await _get(admin, "/api/v1/dash/operations", warehouse_id=warehouse_id)
        (row,) = [r for r in ops["operators"] if r["user_id"] == me["user_id"]]
        assert (row["role"], row["units"], row["errors"], row["warehouse_id"]) == ("pick", 2, 1, warehouse_id)
        assert row["current_task"]["task_id"] == running_task and row["name"] == "picker小李"
        # The funnel is a rollup: counted by the catch-up job about half a second after the floor moved.
        board = await eventually(
            lambda: _get(admin, "/api/v1/dash/tactical", warehouse_id=warehouse_id),
            lambda b: b["warehouses"][0]["funnel"]["picking"] >= 1,
        )
        waves = {w["tasks"]: w for w in board["warehouses"][0]["waves"]}
        assert board["warehouses"][0]["funnel"]["picking"] >= 1 and waves
        page = await _get(admin, "/api/v1/dash/drill", metric="operator_tasks", user_id=me["user_id"])
        assert page["total"] == 2 and page["next_cursor"] is None
        assert [(t["item"], t["kind"], t["task_id"], t["status"]) for t in page["items"]] == [
            ("task", "pick", running_task, "claimed"),
            ("task", "pick", done_task, "done"),
        ]
