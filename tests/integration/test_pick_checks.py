"""The shelf is confirmed before the item (a per-warehouse setting, on by default), and supervisors follow waves:
listed with filters and progress, each named by its number or by the code tasks and the floor show."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.integration.test_picking import Floor, Pda
from tests.support.factories import Api
from tests.support.hub import Hub


@pytest.fixture
async def floor(api: Api, store: Hub) -> AsyncIterator[Floor]:
    yield await Floor(api, store.url).setup()


async def test_an_item_scan_without_the_location_scan_is_refused_unless_the_warehouse_allows_it(floor: Floor) -> None:
    s1, s2, *_ = floor.codes
    (order_id,) = await floor.orders([(s1, 2), (s2, 1)])
    settings_url = f"/api/v1/picking/{floor.warehouse}/settings"
    async with floor.api.client() as client:
        assert (await client.get(settings_url)).json()["require_location_scan"] is True  # the default
    (task_id,) = (await floor.wave([order_id]))["task_ids"]
    pda = await Pda.sign_in(floor.url, await floor.person("picker"))
    task = (await pda.http.post(f"/pda/v1/tasks/{task_id}/claim")).json()
    first, second = (next(s for s in task["stops"] if s["sku"] == sku) for sku in (s1, s2))

    # an item scanned without the shelf: refused, the cursor on the location, the shelf named
    skipped = {
        "client_id": uuid.uuid4().hex,
        "task_id": task_id,
        "line_id": first["line_id"],
        "kind": "item",
        "barcode": floor.skus[s1]["barcode"],
    }
    r = await pda.http.post("/pda/v1/scans", json=skipped)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    refusal = r.json()
    assert refusal["code"] == "location_not_scanned" and refusal["field"] == "location"
    assert refusal["expected"] == {"location": first["location"]}
    assert refusal["message"] == f"请先扫描库位 {first['location']}，再扫描商品"
    assert refusal["line"]["picked"] == 0  # nothing counted

    # a wrong shelf: wrong_location, scanned or named by the item scan
    r = await pda.scan(task_id, first["line_id"], "location", barcode="A99-99")
    assert r.status_code == 422 and r.json()["code"] == "wrong_location"
    r = await pda.scan(task_id, first["line_id"], "item", barcode=floor.skus[s1]["barcode"], location="A99-99")
    assert r.status_code == 422 and r.json()["code"] == "wrong_location", r.text
    assert r.json()["expected"]["location"] == first["location"]

    # the right shelf, then the item: picked
    assert (await pda.scan(task_id, first["line_id"], "location", barcode=first["location"])).status_code == 200
    r = await pda.scan(
        task_id, first["line_id"], "item", barcode=floor.skus[s1]["barcode"], qty=2, location=first["location"].lower()
    )
    assert r.status_code == 200 and r.json()["line"]["status"] == "picked", r.text

    # the warehouse turns the check off: the item alone is accepted
    async with floor.api.client() as client:
        r = await client.patch(settings_url, json={"require_location_scan": False})
        assert r.status_code == 200 and r.json()["require_location_scan"] is False, r.text
        assert (await client.patch(settings_url, json={"require_location_scan": "no"})).status_code == 422
    r = await pda.scan(task_id, second["line_id"], "item", barcode=floor.skus[s2]["barcode"])
    assert r.status_code == 200 and r.json()["line"]["status"] == "picked", r.text

    # a replay (the offline queue sent again) gets the answer it first got, whatever the setting says now
    r = await pda.http.post("/pda/v1/scans", json=skipped)
    assert r.status_code == 422 and r.json()["code"] == "location_not_scanned" and r.json()["replayed"] is True
    assert r.json()["message"] == refusal["message"]
    assert (await pda.http.post(f"/pda/v1/tasks/{task_id}/complete")).status_code == 200
    await pda.close()

    async with floor.api.client() as client:
        report = (await client.get("/api/v1/picking/quality/errors")).json()
    assert report["totals"]["location_not_scanned"] >= 1


async def test_supervisors_list_waves_with_progress_and_name_a_wave_by_number_or_code(floor: Floor) -> None:
    s1, s2, s3, _ = floor.codes
    done_order, waiting_a, waiting_b = await floor.orders([(s1, 2), (s2, 1)], [(s3, 1)], [(s1, 1)])
    done_wave = await floor.wave([done_order])
    open_wave = await floor.wave([waiting_a, waiting_b])
    pda = await Pda.sign_in(floor.url, await floor.person("picker"))
    (task_id,) = done_wave["task_ids"]
    task = (await pda.http.post(f"/pda/v1/tasks/{task_id}/claim")).json()
    assert task["wave"] == done_wave["code"] and task["wave_id"] == done_wave["wave_id"]
    for stop in task["stops"]:
        r = await pda.scan(
            task_id,
            stop["line_id"],
            "item",
            barcode=floor.skus[stop["sku"]]["barcode"],
            qty=stop["qty"],
            location=stop["location"],
        )
        assert r.status_code == 200, r.text
    assert (await pda.http.post(f"/pda/v1/tasks/{task_id}/complete")).status_code == 200

    async with floor.api.client() as client:
        r = await client.get("/api/v1/picking/waves", params={"warehouse": floor.warehouse})
        assert r.status_code == 200, r.text
        page = r.json()
        assert [w["code"] for w in page["items"]] == [open_wave["code"], done_wave["code"]]  # newest first
        assert page["next_cursor"] is None
        done, waiting = page["items"][1], page["items"][0]
        assert done["status"] == "done" and done["warehouse"] == floor.warehouse and done["reason"] == "manual"
        assert done["progress"] == {
            "tasks": 1,
            "tasks_open": 0,
            "tasks_claimed": 0,
            "tasks_done": 1,
            "tasks_withdrawn": 0,
            "orders": 1,
            "orders_withdrawn": 0,
            "lines": 2,
            "lines_picked": 2,
            "lines_short": 0,
            "units": 3,
            "units_picked": 3,
            "percent": 100.0,
        }
        assert waiting["status"] == "released" and waiting["released_orders"] == 2
        assert waiting["progress"]["tasks_open"] == waiting["progress"]["tasks"] == 1
        assert (waiting["progress"]["orders"], waiting["progress"]["units"]) == (2, 2)
        assert (waiting["progress"]["units_picked"], waiting["progress"]["percent"]) == (0, 0.0)
        assert waiting["created_at"].endswith("+08:00")

        # filters and pages
        mine = {"warehouse": floor.warehouse}
        by_status = (await client.get("/api/v1/picking/waves", params={**mine, "status": "done"})).json()
        assert [w["code"] for w in by_status["items"]] == [done_wave["code"]]
        first = (await client.get("/api/v1/picking/waves", params={**mine, "limit": 1})).json()
        assert [w["code"] for w in first["items"]] == [open_wave["code"]]
        assert first["next_cursor"] == open_wave["wave_id"]
        rest = await client.get("/api/v1/picking/waves", params={**mine, "limit": 1, "cursor": first["next_cursor"]})
        assert [w["code"] for w in rest.json()["items"]] == [done_wave["code"]]
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        for days, count in ((0, 2), (-1, 0)):
            day = (today + timedelta(days=days)).isoformat()
            dated = await client.get(f"/api/v1/picking/{floor.warehouse}/waves", params={"created_to": day})
            assert dated.status_code == 200 and len(dated.json()["items"]) == count, (day, dated.text)
        dated = await client.get(f"/api/v1/picking/{floor.warehouse}/waves", params={"created_from": today.isoformat()})
        assert len(dated.json()["items"]) == 2
        r = await client.get("/api/v1/picking/waves", params={"created_from": "2026-12-02", "created_to": "2026-12-01"})
        assert r.status_code == 422 and r.json()["field"] == "created_to"
        r = await client.get("/api/v1/picking/waves", params={"status": "nope"})
        assert r.status_code == 422 and r.json()["field"] == "status"

        # one wave by number, by code, by lower-case code: the same wave, with its tasks
        answers = [
            await client.get(f"/api/v1/picking/waves/{ref}")
            for ref in (done_wave["wave_id"], done_wave["code"], done_wave["code"].lower())
        ]
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        assert {a.json()["id"] for a in answers} == {done_wave["wave_id"]}
        assert [t["id"] for t in answers[0].json()["tasks"]] == [task_id]
        assert answers[0].json()["tasks"][0]["wave_id"] == done_wave["wave_id"]
        for unknown in ("W000000-99999", "99999999999", "2147483647"):
            r = await client.get(f"/api/v1/picking/waves/{unknown}")
            assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "wave_not_found" and r.json()["field"] == "wave", r.text

        # every wave endpoint takes the code: waybills (each order's refusal: not packed yet), labels
        r = await client.post(f"/api/v1/picking/waves/{open_wave['code']}/waybills")
        assert r.status_code == 200, r.text
        refusals = {x["order_id"]: x["error"]["code"] for x in r.json()}
        assert refusals == {waiting_a: "not_packed", waiting_b: "not_packed"}
        r = await client.get(f"/api/v1/picking/waves/{open_wave['code']}/labels")
        assert r.status_code == 404 and r.json()["code"] == "no_waybill"
        r = await client.get("/api/v1/picking/waves/W000000-99999/labels")
        assert r.status_code == 404 and r.json()["code"] == "wave_not_found"
    await pda.close()
    station = await Pda.sign_in(floor.url, await floor.person("packer"))
    r = await station.http.get(f"/pda/v1/waves/{open_wave['code']}/labels")
    assert r.status_code == 404 and r.json()["code"] == "no_waybill", r.text
    r = await station.http.post("/pda/v1/waves/W000000-99999/waybills")
    assert r.status_code == 404 and r.json()["code"] == "wave_not_found", r.text
    await station.close()
