"""Picking and packing end to end through the running hub: waves, PDA sign-in, scan-confirmed picking with wrong
scans refused, short picks, offline replays, concurrent claims, the pack station's verify-and-weigh, the live
websocket (snapshot, per-topic sequence, task pushes and withdrawals) and the quality report."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from tests.support.factories import (
    Api,
    create_channel,
    create_warehouse,
    order_payload,
    set_stock,
    unique,
    wait_for_orders,
)
from tests.support.hub import Hub


class Floor:
    """One warehouse with locations, SKUs on pick faces, a channel, a picker and a packer with their devices."""

    def __init__(self, api: Api, url: str) -> None:
        self.api, self.url = api, url
        self.warehouse = ""
        self.channel = ""
        self.skus: dict[str, dict[str, Any]] = {}
        self.rules: list[int] = []

    async def setup(self, *, pick_mode: str = "batch", skus: int = 4) -> Floor:
        self.warehouse = (await create_warehouse(self.api))["code"]
        async with self.api.client() as client:
            for aisle in range(1, 5):
                for bay in range(1, 11):
                    r = await client.post(
                        "/api/v1/locations",
                        json={"warehouse": self.warehouse, "code": f"A{aisle:02d}-{bay:02d}", "zone": "A",
                              "aisle": f"{aisle:02d}", "bay": f"{bay:02d}", "level": "1"},
                    )
                    assert r.status_code == 201, r.text
            faces = []
            for i in range(skus):
                code = unique("SKU-")
                barcode = f"69{uuid.uuid4().int % 10**11:011d}"
                r = await client.post(
                    "/api/v1/skus",
                    json={"code": code, "name": f"商品{i + 1}", "weight_g": 100 * (i + 1), "barcodes": [barcode]},
                )
                assert r.status_code == 201, r.text
                # far apart on purpose: aisle 4 first in code order would be a long walk
                location = f"A{4 - i % 4:02d}-{10 - i:02d}"
                self.skus[code] = {"barcode": barcode, "location": location, "weight": 100 * (i + 1)}
                faces.append({"sku": code, "location": location})
                await set_stock(self.api, sku=code, warehouse=self.warehouse, qty=100)
            r = await client.put(f"/api/v1/picking/{self.warehouse}/sku-locations", json={"items": faces})
            assert r.status_code == 200, r.text
            r = await client.patch(
                f"/api/v1/picking/{self.warehouse}/settings",
                json={"auto_waves": False, "pick_mode": pick_mode, "cart_slots": 6, "packaging_g": 50,
                      "weight_tolerance_g": 20, "weight_tolerance_pct": 2.0},
            )
            assert r.status_code == 200, r.text
        self.channel, _ = await create_channel(self.api, warehouse=self.warehouse)
        return self

    @property
    def codes(self) -> list[str]:
        return list(self.skus)

    async def person(self, role: str) -> dict[str, str]:
        username, badge = unique(role), unique("BADGE-")
        async with self.api.client() as client:
            r = await client.post(
                "/api/v1/users",
                json={"username": username, "password": "floor-pass-1", "role": role, "display_name": f"{role}小李",
                      "warehouse": self.warehouse, "badge": badge},
            )
            assert r.status_code == 201, r.text
            device = unique("DEV-")
            kind = "pack_station" if role == "packer" else "pda"
            r = await client.post(
                "/api/v1/picking/devices", json={"code": device, "warehouse": self.warehouse, "kind": kind}
            )
            assert r.status_code == 201, r.text
        return {"username": username, "badge": badge, "device": device, "id": ""}

    async def orders(self, *line_sets: list[tuple[str, int]]) -> list[int]:
        async with self.api.client() as client:
            r = await client.post(
                "/api/v1/orders/ingest",
                json={"channel": self.channel, "orders": [order_payload(lines=lines) for lines in line_sets]},
            )
        assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
        ids = [int(res["order_id"]) for res in r.json()["results"]]
        done = await wait_for_orders(self.api, ids)
        assert all(o["status"] == "ready" for o in done.values()), done
        return ids

    async def wave(self, order_ids: list[int]) -> dict[str, Any]:
        async with self.api.client() as client:
            r = await client.post(f"/api/v1/picking/{self.warehouse}/waves", json={"order_ids": order_ids})
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def order(self, order_id: int) -> dict[str, Any]:
        async with self.api.client() as client:
            return dict((await client.get(f"/api/v1/orders/{order_id}")).json())


class Pda:
    def __init__(self, url: str, device: str, token: str) -> None:
        self.url, self.device, self.token = url, device, token
        self.http = httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=30)

    @classmethod
    async def sign_in(cls, url: str, person: dict[str, str], *, badge: bool = True) -> Pda:
        body: dict[str, Any] = {"device": person["device"]}
        if badge:
            body["badge"] = person["badge"]
        else:
            body.update(username=person["username"], password="floor-pass-1")
        async with httpx.AsyncClient(base_url=url) as client:
            r = await client.post("/pda/v1/login", json=body)
        assert r.status_code == 200, r.text
        return cls(url, person["device"], r.json()["token"])

    async def scan(self, task: int, line: int, kind: str, **extra: Any) -> httpx.Response:
        body = {"client_id": uuid.uuid4().hex, "task_id": task, "line_id": line, "kind": kind, **extra}
        return await self.http.post("/pda/v1/scans", json=body)

    async def close(self) -> None:
        await self.http.aclose()


class Socket:
    """A websocket client on /ws/floor collecting what it receives."""

    def __init__(self, url: str, token: str) -> None:
        self.uri, self.token = url.replace("http://", "ws://") + "/ws/floor", token
        self.messages: list[dict[str, Any]] = []
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Socket:
        self._conn = await websockets.connect(self.uri)
        await self._conn.send(json.dumps({"type": "auth", "token": self.token}))  # never in the URL (it is logged)
        self.messages.append(json.loads(await self._conn.recv()))  # the snapshot
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for raw in self._conn:
            self.messages.append(json.loads(raw))

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await self._conn.close()

    async def wait_for(self, kind: str, timeout: float = 15, **match: Any) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for message in self.messages:
                event = message.get("event") or {}
                if event.get("type") == kind and all(event.get(k) == v for k, v in match.items()):
                    return message
            assert asyncio.get_running_loop().time() < deadline, f"no {kind} {match}: {self.messages}"
            await asyncio.sleep(0.05)


@pytest.fixture
async def floor(api: Api, store: Hub) -> AsyncIterator[Floor]:
    yield await Floor(api, store.url).setup()


async def _gift_rule(floor: Floor, gift: str) -> None:
    async with floor.api.client() as client:
        r = await client.post(
            "/api/v1/rules",
            json={"name": unique("赠品"), "conditions": [{"field": "channel", "op": "in", "value": [floor.channel]}],
                  "actions": [{"type": "add_gift", "sku": gift, "qty": 1}]},
        )
    assert r.status_code == 201, r.text
    floor.rules.append(int(r.json()["id"]))


async def test_wave_pick_short_pack_end_to_end_with_live_pushes(floor: Floor) -> None:
    s1, s2, s3, gift = floor.codes
    await _gift_rule(floor, gift)
    order_a, order_b = await floor.orders([(s1, 2), (s2, 1)], [(s3, 1)])
    assert any(line["is_gift"] for line in (await floor.order(order_a))["lines"])
    picker, packer = await floor.person("picker"), await floor.person("packer")
    pda = await Pda.sign_in(floor.url, picker)

    async with Socket(floor.url, pda.token) as ws:
        snapshot = ws.messages[0]
        assert snapshot["type"] == "snapshot"
        assert sorted(topic.split(".")[1] for topic in snapshot["seq"]) == ["floor", "picker"]
        wave = await floor.wave([order_a, order_b])
        assert wave["reason"] == "manual" and wave["orders"] == 2 and len(wave["task_ids"]) == 1  # one cart
        released = await ws.wait_for("wave.released", code=wave["code"])
        (task_id,) = wave["task_ids"]

        nxt = (await pda.http.get("/pda/v1/tasks/next")).json()
        assert nxt["task"]["id"] == task_id and nxt["task"]["status"] == "open"
        r = await pda.http.post(f"/pda/v1/tasks/{task_id}/claim")
        assert r.status_code == 200, r.text
        task = r.json()
        assigned = await ws.wait_for("task.assigned", task_id=task_id)
        assert assigned["topic"].startswith("orderhub.") and assigned["seq"] >= 1
        assert (await floor.order(order_a))["status"] == "picking"
        assert task["route_m"] <= task["naive_route_m"] and task["route_m"] > 0

        stops = {(s["sku"], s["order_id"]): s for s in task["stops"]}
        assert {s["tote_slot"] for s in task["stops"]} == {1, 2}
        first = next(s for s in task["stops"] if s["line_id"] == task["next_line"])

        # a wrong location, then a wrong item: refused on the spot, with what was expected
        r = await pda.scan(task_id, first["line_id"], "location", barcode="A99-99")
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "wrong_location" and r.json()["expected"]["location"] == first["location"]
        other = next(code for code in floor.codes if code != first["sku"])
        r = await pda.scan(task_id, first["line_id"], "item", barcode=floor.skus[other]["barcode"],
                           location=first["location"])
        assert r.status_code == 422 and r.json()["code"] == "wrong_item"
        assert r.json()["expected"]["sku"] == first["sku"] and "应拣" in r.json()["message"]

        line_b = stops[(s3, order_b)]
        for stop in task["stops"]:
            if stop["line_id"] == line_b["line_id"]:
                continue
            r = await pda.scan(task_id, stop["line_id"], "location", barcode=stop["location"])
            assert r.status_code == 200 and r.json()["ok"], r.text
            if stop["qty"] > 1:  # unit by unit
                for _ in range(stop["qty"]):
                    r = await pda.scan(task_id, stop["line_id"], "item", barcode=floor.skus[stop["sku"]]["barcode"],
                                       location=stop["location"])
                    assert r.status_code == 200, r.text
            else:  # typed quantity
                r = await pda.scan(task_id, stop["line_id"], "item", barcode=floor.skus[stop["sku"]]["barcode"],
                                   qty=stop["qty"], location=stop["location"])
                assert r.status_code == 200, r.text
            assert r.json()["line"]["status"] == "picked" and f"{stop['tote_slot']} 号格" in r.json()["message"]
        r = await pda.scan(task_id, stops[(s1, order_a)]["line_id"], "item", barcode=floor.skus[s1]["barcode"],
                           location=stops[(s1, order_a)]["location"])
        assert r.status_code == 422 and r.json()["code"] == "over_pick"
        assert r.json()["message"] == "这一行已拣完，请扫下一行"  # a finished line, not "还需 0 件"

        # the shelf is empty for order B's SKU: short pick → B to exception, withdrawn from the task, alerts
        r = await pda.scan(task_id, line_b["line_id"], "short", reason="库位无货")
        assert r.status_code == 200 and r.json()["line"]["status"] == "short", r.text
        withdrawn = await ws.wait_for("task.withdrawn", task_id=task_id)
        assert withdrawn["event"]["order_ids"] == [order_b] and withdrawn["event"]["whole"] is False
        await ws.wait_for("pick.short", order_id=order_b)
        b = await floor.order(order_b)
        assert (b["status"], b["exception_reason"]) == ("exception", "short_picked")
        # the unit that is not on the shelf is written off the books (and out of B's reservation)
        s3_stock = await _stock(floor, s3)
        assert (s3_stock["on_hand"], s3_stock["reserved"]) == (99, 0), s3_stock

        # sequence numbers of the picker's topic have no gap
        mine = [m["seq"] for m in ws.messages if m.get("topic", "").startswith("orderhub.picker.")]
        assert mine == list(range(mine[0], mine[0] + len(mine))), mine
        assert released["topic"].startswith("orderhub.floor.")

        r = await pda.http.post(f"/pda/v1/tasks/{task_id}/complete")
        assert r.status_code == 200 and r.json()["status"] == "done", r.text
    await pda.close()

    # pack station: scan the tote, verify every unit (gift included), weigh
    station = await Pda.sign_in(floor.url, packer, badge=False)
    r = await station.http.post("/pda/v1/pack", json={"code": f"T{task_id}-1"})
    assert r.status_code == 200, r.text
    pack = r.json()
    assert pack["order_id"] == order_a and any(i["is_gift"] for i in pack["items"])
    expected_g = sum(floor.skus[i["sku"]]["weight"] * i["qty"] for i in pack["items"]) + 50
    assert pack["expected_g"] == expected_g and pack["missing"] == 4

    def unit(barcode: str) -> dict[str, str]:
        return {"client_id": uuid.uuid4().hex, "barcode": barcode}

    pack_url = f"/pda/v1/pack/{pack['id']}"
    r = await station.http.post(f"{pack_url}/scans", json=unit(floor.skus[s3]["barcode"]))
    assert r.status_code == 422 and r.json()["code"] == "wrong_item"
    for code in (s1, s1, s2):
        r = await station.http.post(f"{pack_url}/scans", json=unit(floor.skus[code]["barcode"]))
        assert r.status_code == 200, r.text
    r = await station.http.post(f"{pack_url}/scans", json=unit(floor.skus[s1]["barcode"]))
    assert r.status_code == 422 and r.json()["code"] == "extra_item"
    r = await station.http.post(f"{pack_url}/weigh", json={"client_id": uuid.uuid4().hex, "weight_g": expected_g})
    assert r.status_code == 422 and r.json()["code"] == "items_missing", r.text
    assert [m["sku"] for m in r.json()["expected"]["missing"]] == [gift] and r.json()["expected"]["missing"][0]["gift"]
    r = await station.http.post(f"{pack_url}/scans", json=unit(floor.skus[gift]["barcode"]))
    assert r.status_code == 200 and r.json()["pack"]["missing"] == 0, r.text
    r = await station.http.post(f"{pack_url}/weigh", json={"client_id": uuid.uuid4().hex, "weight_g": expected_g + 200})
    assert r.status_code == 422 and r.json()["code"] == "weight_mismatch"
    assert r.json()["expected"] == {"expected_g": expected_g, "measured_g": expected_g + 200, "tolerance_g": 20}
    assert (await floor.order(order_a))["status"] == "picking"  # nothing was packed by the refused weighings
    weighed = expected_g + 12
    r = await station.http.post(f"{pack_url}/weigh", json={"client_id": uuid.uuid4().hex, "weight_g": weighed})
    assert r.status_code == 200 and r.json()["ok"], r.text
    a = await floor.order(order_a)
    assert a["status"] == "packed"
    packed = [e for e in a["events"] if e["type"] == "order.packed"]
    assert packed and packed[0]["data"]["measured_g"] == weighed and packed[0]["data"]["packer"] == packer["username"]
    r = await station.http.post("/pda/v1/pack", json={"code": str(order_b)})
    assert r.status_code == 409 and r.json()["code"] == "order_withdrawn"
    await station.close()

    # the month's error analysis counts them
    async with floor.api.client() as client:
        report = (await client.get("/api/v1/picking/quality/errors")).json()
        pickers = (await client.get("/api/v1/picking/quality/pickers")).json()
    for kind in ("wrong_location", "wrong_item", "over_pick", "short_pick", "extra_item", "items_missing",
                 "weight_mismatch"):
        assert report["totals"][kind] >= 1, (kind, report["totals"])
    row = next(p for p in report["by_picker"] if p["name"] == "picker小李" and p["errors"].get("short_pick"))
    assert row["errors"]["wrong_location"] == 1 and row["errors"]["wrong_item"] == 1
    me = next(p for p in pickers if p["tasks"] >= 1 and p["short_picks"] == 1 and p["wrong_scans"] == 3)
    # A's three lines, B's gift (picked before B's short, then withdrawn) and B's short line with nothing picked
    assert me["lines"] == 5 and me["units"] == 5


async def test_replayed_and_reordered_scans_end_in_the_online_state(floor: Floor) -> None:
    s1, s2, *_ = floor.codes
    online_order, offline_order = await floor.orders([(s1, 3), (s2, 1)], [(s1, 3), (s2, 1)])
    async with floor.api.client() as client:
        await client.patch(f"/api/v1/picking/{floor.warehouse}/settings", json={"pick_mode": "order"})
    wave = await floor.wave([online_order, offline_order])
    picker = await floor.person("picker")
    pda = await Pda.sign_in(floor.url, picker)

    async def walk(task_id: int) -> list[tuple[int, dict[str, Any]]]:
        task = (await pda.http.post(f"/pda/v1/tasks/{task_id}/claim")).json()
        steps = []
        for stop in task["stops"]:
            steps.append((stop["line_id"], {"kind": "location", "barcode": stop["location"]}))
            for _ in range(stop["qty"]):
                steps.append((stop["line_id"], {"kind": "item", "barcode": floor.skus[stop["sku"]]["barcode"],
                                                "location": stop["location"]}))
        return [(line, {**body, "client_id": uuid.uuid4().hex}) for line, body in steps]

    online_task, offline_task = sorted(wave["task_ids"])
    for line, body in await walk(online_task):
        assert (await pda.scan(online_task, line, **body)).status_code == 200

    # offline: the queue is replayed reversed, with every scan twice and an extra replay of the first
    queue = await walk(offline_task)
    replay = list(reversed(queue)) + queue + [queue[0]]
    answers: dict[str, Any] = {}
    for line, body in replay:
        r = await pda.scan(offline_task, line, **body)
        assert r.status_code == 200, r.text
        if body["client_id"] in answers:
            assert r.json()["replayed"] and r.json()["message"] == answers[body["client_id"]]["message"]
        else:
            answers[body["client_id"]] = r.json()

    def state(task: dict[str, Any]) -> list[tuple[str, int, int, str]]:
        return sorted((s["sku"], s["qty"], s["picked"], s["status"]) for s in task["stops"])

    online = (await pda.http.get(f"/pda/v1/tasks/{online_task}")).json()
    offline = (await pda.http.get(f"/pda/v1/tasks/{offline_task}")).json()
    assert state(online) == state(offline) and all(s[3] == "picked" for s in state(offline))
    assert offline["remaining"] == 0
    for task_id in (online_task, offline_task):
        assert (await pda.http.post(f"/pda/v1/tasks/{task_id}/complete")).status_code == 200
    await pda.close()


async def test_two_pdas_claiming_one_task_one_wins(floor: Floor, backend: str) -> None:
    codes = floor.codes
    orders = await floor.orders(*[[(codes[i % 4], 1)] for i in range(6)])
    async with floor.api.client() as client:
        await client.patch(f"/api/v1/picking/{floor.warehouse}/settings", json={"pick_mode": "order"})
    wave = await floor.wave(orders)
    pdas = [await Pda.sign_in(floor.url, await floor.person("picker")) for _ in range(2)]
    for task_id in wave["task_ids"]:  # truly parallel requests (two API processes on PostgreSQL)
        answers = await asyncio.gather(*(p.http.post(f"/pda/v1/tasks/{task_id}/claim") for p in pdas))
        codes_seen = sorted(r.status_code for r in answers)
        assert codes_seen == [200, 409], [r.text for r in answers]
        loser = next(r for r in answers if r.status_code == 409)
        assert loser.json()["code"] == "task_taken" and "已被" in loser.json()["message"]
    for pda in pdas:
        await pda.close()


async def test_cancelling_a_waved_order_withdraws_its_task_live(floor: Floor) -> None:
    (order_id,) = await floor.orders([(floor.codes[0], 2)])
    picker = await floor.person("picker")
    pda = await Pda.sign_in(floor.url, picker)
    async with Socket(floor.url, pda.token) as ws:
        wave = await floor.wave([order_id])
        (task_id,) = wave["task_ids"]
        before = await ws.wait_for("wave.released", code=wave["code"])
        async with floor.api.client() as client:
            r = await client.post(f"/api/v1/orders/{order_id}/cancel", json={"reason": "买家不要了"})
        assert r.status_code in (200, 201), r.text
        gone = await ws.wait_for("task.withdrawn", task_id=task_id)
        assert gone["event"]["whole"] is True and gone["event"]["reason"] == "cancelled"
        assert gone["topic"] == before["topic"] and gone["seq"] == before["seq"] + 1  # no gap on the floor topic
        r = await pda.http.post(f"/pda/v1/tasks/{task_id}/claim")
        assert r.status_code == 409 and r.json()["code"] == "task_withdrawn"
        await ws._conn.send(json.dumps({"type": "resync"}))
        await asyncio.sleep(0.3)
        resync = [m for m in ws.messages if m.get("type") == "snapshot"][-1]
        assert resync["seq"][gone["topic"]] >= gone["seq"]
        assert task_id not in [t["id"] for t in resync["open"]]
    await pda.close()
    stock = await _stock(floor, floor.codes[0])
    assert stock["reserved"] == 0


async def _stock(floor: Floor, sku: str) -> dict[str, Any]:
    async with floor.api.client() as client:
        r = await client.get("/api/v1/stock", params={"sku": sku, "warehouse": floor.warehouse})
    return dict(r.json()["items"][0])


async def test_automatic_waves_follow_the_rules(floor: Floor) -> None:
    s1, s2, *_ = floor.codes
    async with floor.api.client() as client:
        r = await client.patch(
            f"/api/v1/picking/{floor.warehouse}/settings",
            json={"max_orders": 2, "single_item_waves": True, "cutoffs": [], "max_wait_minutes": 600},
        )
        assert r.status_code == 200, r.text
    multi = await floor.orders([(s1, 1), (s2, 1)], [(s1, 2)], [(s2, 3)])
    single = await floor.orders([(s1, 1)], [(s2, 1)])
    async with floor.api.client() as client:
        run = (await client.post(f"/api/v1/picking/{floor.warehouse}/waves/run")).json()
        # full waves only: two multi-item orders, and the two single-item orders (一单一品) apart
        assert sorted((w["reason"], w["orders"]) for w in run) == [("full", 2), ("full", 2)], run
        again = (await client.post(f"/api/v1/picking/{floor.warehouse}/waves/run")).json()
        assert again == []  # the third multi-item order waits for company or its time
        forced = (await client.post(f"/api/v1/picking/{floor.warehouse}/waves/run", params={"force": "true"})).json()
        assert [(w["reason"], w["orders"]) for w in forced] == [("manual", 1)]
        tasks = (await client.get(f"/api/v1/picking/{floor.warehouse}/tasks", params={"status": "open"})).json()
    assert len(tasks) == 3  # batch picking: one cart per wave
    for order_id in multi + single:
        events = [e["type"] for e in (await floor.order(order_id))["events"]]
        assert events.count("order.waved") == 1


async def test_settings_and_bad_input_answer_problem_details(floor: Floor) -> None:
    async with floor.api.client() as client:
        r = await client.patch(f"/api/v1/picking/{floor.warehouse}/settings", json={"cutoffs": ["25:00"]})
        assert r.status_code == 422 and r.json()["field"] == "cutoffs"
        r = await client.patch(f"/api/v1/picking/{floor.warehouse}/settings", json={"pick_mode": "zone"})
        assert r.status_code == 422 and r.json()["field"] == "pick_mode"
        r = await client.post(f"/api/v1/picking/{floor.warehouse}/waves", json={"order_ids": [2_000_000_000]})
        assert r.status_code == 422 and r.json()["code"] == "orders_not_pickable"
    async with httpx.AsyncClient(base_url=floor.url) as anon:
        r = await anon.get("/pda/v1/tasks/next")
        assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
        r = await anon.post("/pda/v1/login", json={"device": "NO-SUCH", "badge": "x"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_badge"  # the same as a wrong badge
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        async with websockets.connect(floor.url.replace("http://", "ws://") + "/ws/floor") as ws:
            await ws.send(json.dumps({"type": "auth", "token": "nope"}))
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_skipped_stop_comes_back_last(floor: Floor) -> None:
    s1, s2, s3, _ = floor.codes
    (order_id,) = await floor.orders([(s1, 1), (s2, 1), (s3, 1)])
    wave = await floor.wave([order_id])
    pda = await Pda.sign_in(floor.url, await floor.person("picker"))
    (task_id,) = wave["task_ids"]
    task = (await pda.http.post(f"/pda/v1/tasks/{task_id}/claim")).json()
    order = [s["line_id"] for s in task["stops"]]
    assert task["next_line"] == order[0]
    r = await pda.scan(task_id, order[0], "skip")
    assert r.status_code == 200 and "跳过" in r.json()["message"]
    task = (await pda.http.get(f"/pda/v1/tasks/{task_id}")).json()
    assert task["next_line"] == order[1]
    r = await pda.http.post(f"/pda/v1/tasks/{task_id}/complete")
    assert r.status_code == 409 and r.json()["code"] == "task_incomplete" and len(r.json()["remaining"]) == 3
    for line in order[1:]:
        stop = next(s for s in task["stops"] if s["line_id"] == line)
        r = await pda.scan(task_id, line, "item", barcode=floor.skus[stop["sku"]]["barcode"], location=stop["location"])
        assert r.status_code == 200, r.text
    task = (await pda.http.get(f"/pda/v1/tasks/{task_id}")).json()
    assert task["next_line"] == order[0] and task["remaining"] == 1
    await pda.close()


async def test_withdrawn_lines_stale_shorts_reused_ids_and_platform_numbers_at_the_pack_station(floor: Floor) -> None:
    s1, s2, *_ = floor.codes
    (shorted,) = await floor.orders([(s1, 1), (s2, 2)])
    async with floor.api.client() as client:
        await client.patch(f"/api/v1/picking/{floor.warehouse}/settings", json={"pick_mode": "order"})
        r = await client.post(
            "/api/v1/orders/ingest",
            json={"channel": floor.channel,
                  "orders": [order_payload(external_id="3541234567890123456", lines=[(s1, 1)])]},
        )
    assert r.status_code == 202, r.text
    taobao_like = int(r.json()["results"][0]["order_id"])
    await wait_for_orders(floor.api, [taobao_like])
    wave = await floor.wave([shorted, taobao_like])
    pda = await Pda.sign_in(floor.url, await floor.person("picker"))
    short_task, other_task = sorted(wave["task_ids"])
    task = (await pda.http.post(f"/pda/v1/tasks/{short_task}/claim")).json()
    line1 = next(s for s in task["stops"] if s["sku"] == s1)
    line2 = next(s for s in task["stops"] if s["sku"] == s2)

    r = await pda.scan(short_task, line1["line_id"], "short", reason="库位无货")
    assert r.status_code == 200 and r.json()["code"] == "ok", r.text
    # the order's other line is withdrawn; a unit scanned there is counted (it is in the tote) and sent back
    r = await pda.scan(
        short_task, line2["line_id"], "item", barcode=floor.skus[s2]["barcode"], location=line2["location"]
    )
    assert r.status_code == 200 and r.json()["code"] == "line_withdrawn", r.text
    assert r.json()["line"]["picked"] == 1 and r.json()["line"]["status"] == "withdrawn"
    # a stale short from the queue changes nothing more
    r = await pda.scan(short_task, line2["line_id"], "short", reason="库位无货")
    assert r.status_code == 200 and r.json()["code"] == "line_withdrawn", r.text
    order = await floor.order(shorted)
    assert order["status"] == "exception"
    assert [e["type"] for e in order["events"]].count("order.short_picked") == 1

    # a client id reused for a different scan is refused, not answered with the old answer
    body = {"client_id": "dup-1", "task_id": short_task, "line_id": line2["line_id"], "kind": "location",
            "barcode": line2["location"]}
    assert (await pda.http.post("/pda/v1/scans", json=body)).status_code == 200
    r = await pda.http.post("/pda/v1/scans", json={**body, "barcode": "A01-01"})
    assert r.status_code == 409 and r.json()["code"] == "client_id_reused" and r.json()["field"] == "client_id"

    # the other order: picked, then found at the pack station by its platform order number (19 digits)
    task = (await pda.http.post(f"/pda/v1/tasks/{other_task}/claim")).json()
    stop = task["stops"][0]
    r = await pda.scan(
        other_task, stop["line_id"], "item", barcode=floor.skus[s1]["barcode"], location=stop["location"]
    )
    assert r.status_code == 200, r.text
    assert (await pda.http.post(f"/pda/v1/tasks/{other_task}/complete")).status_code == 200
    packer = await floor.person("packer")
    station = await Pda.sign_in(floor.url, packer)
    r = await station.http.post("/pda/v1/pack", json={"code": "3541234567890123456"})
    assert r.status_code == 200 and r.json()["order_id"] == taobao_like, r.text
    r = await station.http.post("/pda/v1/pack", json={"code": "99999999999999999999999"})
    assert r.status_code == 404 and r.json()["code"] == "order_not_found"
    await pda.close()
    await station.close()


async def test_a_supervisor_hands_a_claimed_task_to_another_picker(floor: Floor) -> None:
    (order_id,) = await floor.orders([(floor.codes[0], 2)])
    wave = await floor.wave([order_id])
    (task_id,) = wave["task_ids"]
    first, second = await floor.person("picker"), await floor.person("picker")
    pda_a, pda_b = await Pda.sign_in(floor.url, first), await Pda.sign_in(floor.url, second)
    task = (await pda_a.http.post(f"/pda/v1/tasks/{task_id}/claim")).json()
    stop = task["stops"][0]
    item = {"barcode": floor.skus[stop["sku"]]["barcode"], "location": stop["location"]}
    assert (await pda_a.scan(task_id, stop["line_id"], "item", **item)).is_success
    me_b = (await pda_b.http.get("/pda/v1/tasks/next")).json()
    assert me_b["task"] is None or me_b["task"]["id"] != task_id
    async with floor.api.client() as client:
        users = (await client.get("/api/v1/users")).json()
    second_id = next(u["id"] for u in users if u["username"] == second["username"])
    async with Socket(floor.url, pda_a.token) as ws_a:
        async with floor.api.client() as client:
            r = await client.post(f"/api/v1/picking/tasks/{task_id}/assign", json={"picker": second_id})
        assert r.status_code == 200 and r.json()["stops"][0]["picked"] == 1, r.text
        gone = await ws_a.wait_for("task.withdrawn", task_id=task_id)
        assert gone["event"]["reason"] == "reassigned"
    r = await pda_a.scan(task_id, stop["line_id"], "item", **item)
    assert r.status_code == 403 and r.json()["code"] == "task_not_claimed"
    assert (await pda_b.http.get("/pda/v1/tasks/next")).json()["task"]["id"] == task_id
    r = await pda_b.scan(task_id, stop["line_id"], "item", **item)
    assert r.status_code == 200 and r.json()["line"]["status"] == "picked"
    assert (await pda_b.http.post(f"/pda/v1/tasks/{task_id}/complete")).status_code == 200
    await pda_a.close()
    await pda_b.close()


async def test_deactivating_an_employee_ends_their_device_sessions(floor: Floor) -> None:
    person = await floor.person("picker")
    pda = await Pda.sign_in(floor.url, person)
    assert (await pda.http.get("/pda/v1/tasks/next")).status_code == 200
    async with floor.api.client() as client:
        users = (await client.get("/api/v1/users")).json()
        user_id = next(u["id"] for u in users if u["username"] == person["username"])
        assert (await client.patch(f"/api/v1/users/{user_id}", json={"active": False})).status_code == 200
    r = await pda.http.get("/pda/v1/tasks/next")
    assert r.status_code == 401 and r.json()["code"] == "session_expired"
    async with httpx.AsyncClient(base_url=floor.url) as anon:
        r = await anon.post("/pda/v1/login", json={"device": person["device"], "badge": person["badge"]})
    assert r.status_code == 401 and r.json()["code"] == "invalid_badge"  # as an unknown badge: guesses learn nothing
    await pda.close()
