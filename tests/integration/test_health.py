"""The KPIs and the order health index through a real hub (docs/kpis.md, docs/health.md): a constructed day with
known answers for every KPI (rollup rows written directly), the query rate end to end (orders pushed, shipped, an
inquiry logged through the API), a score below 80 opening a rectification for the warehouse's manager that closes
after three good days, and the regional ranking's change since last week."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from orderhub import clock, db
from orderhub.errors import Conflict
from orderhub.insights import health, inquiries
from orderhub.insights.health_settings import HealthSettings, load_settings
from orderhub.insights.kpis import kpis_for_days
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

PASSWORD = "health-pass-2026"
D0 = date(2025, 3, 12)  # a day nothing else in the suite writes rollups for


async def _id_of(code: str) -> int:
    rows = await db.fetch_as(dict[str, Any], "SELECT id FROM warehouse WHERE code = {}", code)
    return int(rows[0]["id"])


async def _write_day(day: date, *, warehouse: int, channel: int, good: bool) -> None:
    """One warehouse's day in the rollups. Bad: 100 shipped, 90 on time, 5 exceptions of 100 routed, 97 of 100
    packed first pass, 8 asked about; the cycle histogram 50 ≤ 60 min, 40 ≤ 120, 10 ≤ 240 (p50 60, p90 120).
    Good: everything on target."""
    at = datetime(day.year, day.month, day.day, 10, 0, tzinfo=clock.SHANGHAI)
    await db.execute(
        "INSERT INTO rollup_order_bucket (bucket_start, channel, warehouse, shard, routed, packed, shipped, "
        "shipped_with_sla, shipped_on_time, exceptions, cycle_count, cycle_seconds, cycle_le_60, cycle_le_120, "
        "cycle_le_240) VALUES ({}, {}, {}, 0, 100, 100, 100, 100, {}, {}, 100, 480000, 50, 40, 10)",
        at,
        channel,
        warehouse,
        90 if not good else 100,
        5 if not good else 0,
    )
    for user, role, packed, ok in ((990001, "pick", 0, 0), (990002, "pack", 100, 97 if not good else 100)):
        start = int(at.timestamp())
        await db.execute(
            "INSERT INTO rollup_operator_day (day, warehouse, user_id, role, scans, orders_packed, first_pass_ok, "
            "first_scan_s, last_scan_s) VALUES ({}, {}, {}, {}, 10, {}, {}, {}, {})",
            day,
            warehouse,
            user,
            role,
            packed,
            ok,
            start,
            start + 8 * 3600,
        )
    if not good:
        await db.execute(
            "INSERT INTO rollup_inquiry_day (day, channel, warehouse, source, orders) VALUES ({}, {}, {}, {}, 8)",
            day,
            channel,
            warehouse,
            "phone",
        )


class World:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.region_a, self.region_b = unique("华东"), unique("华南")

    async def setup(self) -> None:
        self.wa = await create_warehouse(self.api, name="健康A仓")
        self.wb = await create_warehouse(self.api, name="健康B仓")
        self.a, self.b = await _id_of(self.wa["code"]), await _id_of(self.wb["code"])
        await db.execute("UPDATE warehouse SET region = {} WHERE id = {}", self.region_a, self.a)
        await db.execute("UPDATE warehouse SET region = {} WHERE id = {}", self.region_b, self.b)
        self.channel_code, _ = await create_channel(self.api, warehouse=self.wa["code"])
        rows = await db.fetch_as(dict[str, Any], "SELECT id FROM channel WHERE code = {}", self.channel_code)
        self.channel = int(rows[0]["id"])
        self.manager = unique("hm")
        async with self.api.client() as client:
            r = await client.post(
                "/api/v1/users",
                json={"username": self.manager, "password": PASSWORD, "role": "manager", "warehouse": self.wa["code"]},
            )
            assert r.status_code == 201, r.text
            self.manager_id = int(r.json()["id"])


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    w = World(api)
    await w.setup()
    # last week: A good, B bad; D0: A bad, B good; D0+1 … D0+3: A good
    await _write_day(D0 - timedelta(days=7), warehouse=w.a, channel=w.channel, good=True)
    await _write_day(D0 - timedelta(days=7), warehouse=w.b, channel=w.channel, good=False)
    await _write_day(D0, warehouse=w.a, channel=w.channel, good=False)
    await _write_day(D0, warehouse=w.b, channel=w.channel, good=True)
    for n in (1, 2, 3):
        await _write_day(D0 + timedelta(days=n), warehouse=w.a, channel=w.channel, good=True)
    return w


async def _recompute(client: httpx.AsyncClient, day: date) -> dict[str, Any]:
    r = await client.post("/api/v1/health/recompute", json={"day": day.isoformat()})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _rectifications(client: httpx.AsyncClient, scope_id: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/health/rectifications", params={"limit": 200, **params})
    assert r.status_code == 200, r.text
    return [x for x in r.json() if x["scope_id"] == scope_id]


async def test_every_kpi_on_a_constructed_day(world: World) -> None:
    k = await kpis_for_days(D0, D0, warehouse_ids=[world.a])
    assert k["cycle_time"].value == pytest.approx(120.0)
    assert k["cycle_time"].detail["p50"] == pytest.approx(60.0)
    assert k["cycle_time"].detail["mean"] == pytest.approx(80.0)
    assert k["first_pass_accuracy"].value == pytest.approx(0.97)
    assert k["orders_per_person"].value == pytest.approx(50.0)  # 100 packed over two 8-hour days
    assert (k["orders_per_person"].detail["pick"], k["orders_per_person"].detail["pack"]) == (100.0, 100.0)
    assert k["query_rate"].value == pytest.approx(0.08)
    assert k["on_time_rate"].value == pytest.approx(0.9)
    assert k["exception_rate"].value == pytest.approx(0.05)  # 5 of the 100 routed to the warehouse
    both = await kpis_for_days(D0, D0, warehouse_ids=[world.a, world.b])
    assert both["query_rate"].value == pytest.approx(8 / 200)
    by_channel = await kpis_for_days(D0, D0, channel_ids=[world.channel])
    assert by_channel["first_pass_accuracy"].value is None  # operators' days have no channel
    assert by_channel["on_time_rate"].value == pytest.approx(190 / 200)


async def test_a_low_score_opens_a_rectification_that_closes_after_three_good_days(world: World, api: Api) -> None:
    async with api.client() as client:
        await _recompute(client, D0 - timedelta(days=7))
        await _recompute(client, D0)
        r = await client.get(
            "/api/v1/health/scores",
            params={"kind": "warehouse", "id": str(world.a), "since": D0.isoformat(), "until": D0.isoformat()},
        )
        assert r.status_code == 200, r.text
        (day,) = r.json()
        # 100 (cycle) + 77.78 (first pass) + 80 (queries) + 55.56 (on time) + 62.5 (exceptions), over 5
        assert day["score"] == pytest.approx(75.2, abs=0.05)
        parts = {p["name"]: p for p in day["parts"]}
        assert day["parts"][0]["name"] == "on_time_rate"  # the biggest loss first
        assert parts["on_time_rate"]["lost"] == pytest.approx(8.89, abs=0.01)
        assert "扣 8.9 分" in parts["on_time_rate"]["text"] and "10 单发货晚了" in parts["on_time_rate"]["text"]
        assert parts["cycle_time"]["lost"] == 0 and "达标" in parts["cycle_time"]["text"]

        (opened,) = await _rectifications(client, str(world.a), status="open")
        assert opened["scope_kind"] == "warehouse" and opened["assignee_id"] == world.manager_id
        assert opened["opened_day"] == D0.isoformat() and opened["score"] == pytest.approx(75.2, abs=0.05)
        assert opened["metrics"][0]["name"] == "on_time_rate"
        # recomputing the same day opens nothing more
        await _recompute(client, D0)
        assert len(await _rectifications(client, str(world.a))) == 1

        for n in (1, 2):
            await _recompute(client, D0 + timedelta(days=n))
            (still,) = await _rectifications(client, str(world.a))
            assert (still["status"], still["good_days"]) == ("open", n)
        await _recompute(client, D0 + timedelta(days=3))
        (closed,) = await _rectifications(client, str(world.a))
        assert (closed["status"], closed["good_days"]) == ("closed", 3) and closed["closed_at"]

    # the warehouse's manager sees it (and only their warehouse's); a comment
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as client:
        r = await client.post("/api/v1/auth/login", json={"username": world.manager, "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        r = await client.get("/api/v1/health/rectifications", params={"mine": "true"})
        assert r.status_code == 200 and {x["scope_id"] for x in r.json()} == {str(world.a)}, r.text
        r = await client.post(f"/api/v1/health/rectifications/{closed['id']}/comments", json={"body": "已加派人手"})
        assert r.status_code == 200 and r.json()["comments"][-1]["body"] == "已加派人手", r.text
        r = await client.post(f"/api/v1/health/rectifications/{closed['id']}/resolve", json={"note": "x"})
        assert r.status_code == 409 and r.json()["code"] == "rectification_closed", r.text
        assert (await client.get("/api/v1/health/ranking")).json()["code"] == "forbidden_global"


async def test_the_regional_ranking_says_what_changed_since_last_week(world: World, api: Api) -> None:
    async with api.client() as client:
        await _recompute(client, D0 - timedelta(days=7))
        await _recompute(client, D0)
        r = await client.get("/api/v1/health/ranking", params={"kind": "region", "day": D0.isoformat()})
        assert r.status_code == 200, r.text
        rows = {row["id"]: row for row in r.json()}
        a, b = rows[world.region_a], rows[world.region_b]
        assert b["rank"] < a["rank"]
        assert b["score"] == 100.0 and b["change"] == pytest.approx(100.0 - 75.2, abs=0.1)
        assert a["change"] == pytest.approx(75.2 - 100.0, abs=0.1)
        assert a["rank_change"] < 0 < b["rank_change"]
        assert a["worst_metric"] == "on_time_rate"
        bad = await client.get("/api/v1/health/ranking", params={"kind": "planet"})
        assert bad.status_code == 422 and bad.json()["code"] == "health_bad_kind", bad.text


async def test_settings_are_admins_and_checked(api: Api) -> None:
    async with api.client() as client:
        current = (await client.get("/api/v1/health/settings")).json()
        assert current["threshold"] == 80 and current["close_after_days"] == 3
        wrong = {
            **current,
            "metrics": {**current["metrics"], "cycle_time": {"target": 120, "zero_at": 60, "weight": 1}},
        }
        r = await client.put("/api/v1/health/settings", json=wrong)
        assert r.status_code == 422 and r.json()["field"] == "metrics.cycle_time.zero_at", r.text
        r = await client.put("/api/v1/health/settings", json=current)
        assert r.status_code == 200, r.text


async def test_the_query_rate_end_to_end(api: Api) -> None:
    """Orders pushed and shipped through the hub; customer service logs inquiries; the warehouse's query rate."""
    warehouse = await create_warehouse(api, name="查询率仓")
    sku = await create_sku(api)
    await set_stock(api, sku=sku, warehouse=warehouse["code"], qty=50)
    channel, _ = await create_channel(api, warehouse=warehouse["code"])
    wid = await _id_of(warehouse["code"])
    async with api.client() as client:
        r = await client.post(
            "/api/v1/orders/ingest",
            json={"channel": channel, "orders": [order_payload(lines=[(sku, 1)]) for _ in range(2)]},
        )
        assert r.status_code == 202, r.text
        ids = [int(x["order_id"]) for x in r.json()["results"]]
        await wait_for_orders(api, ids)
        early = await client.post(f"/api/v1/orders/{ids[0]}/inquiries", json={"channel": "phone", "note": "催发货"})
        assert early.status_code == 201 and early.json()["counted"] is False, early.text  # not shipped yet
        for order_id in ids:
            r = await client.post(
                f"/api/v1/orders/{order_id}/ship", json={"carrier": "SF", "waybill_no": unique("SF")[:14]}
            )
            assert r.status_code == 200, r.text
        first = await client.post(f"/api/v1/orders/{ids[0]}/inquiries", json={"channel": "im", "note": "到哪了"})
        again = await client.post(f"/api/v1/orders/{ids[0]}/inquiries", json={"channel": "phone"})
        assert first.json()["counted"] is True and again.json()["counted"] is False, (first.text, again.text)
        listed = (await client.get(f"/api/v1/orders/{ids[0]}/inquiries")).json()
        assert [x["source"] for x in listed] == ["phone", "im", "phone"]
    today = clock.to_shanghai(clock.now()).date()
    deadline = time.monotonic() + 10
    while True:  # the shipped counters lag the events by up to ~0.5 s
        k = await kpis_for_days(today, today, warehouse_ids=[wid])
        if k["query_rate"].denominator == 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert (k["query_rate"].numerator, k["query_rate"].denominator, k["query_rate"].value) == (1, 2, 0.5)


async def _login(client: httpx.AsyncClient, username: str) -> None:
    r = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"


async def test_scores_overview_and_ranking_check_their_parameters(world: World, api: Api) -> None:
    tomorrow = (health.today() + timedelta(days=1)).isoformat()
    async with api.client() as client:
        r = await client.get("/api/v1/health/scores", params={"kind": "planet"})
        assert r.status_code == 422 and (r.json()["code"], r.json()["field"]) == ("health_bad_kind", "kind"), r.text
        r = await client.get("/api/v1/health/scores", params={"since": "2025-03-02", "until": "2025-03-01"})
        assert r.status_code == 422 and (r.json()["code"], r.json()["field"]) == ("health_bad_range", "since"), r.text
        for path in ("/api/v1/health/overview", "/api/v1/health/ranking"):
            r = await client.get(path, params={"day": tomorrow})
            assert r.status_code == 422 and (r.json()["code"], r.json()["field"]) == ("dash_bad_day", "day"), r.text
    # a manager bound to warehouse A: A's history (also by default); another warehouse or a wider scope is refused
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as client:
        await _login(client, world.manager)
        span = {"since": (D0 - timedelta(days=7)).isoformat(), "until": D0.isoformat()}
        own = await client.get("/api/v1/health/scores", params={"kind": "warehouse", "id": str(world.a), **span})
        assert own.status_code == 200, own.text
        default = await client.get("/api/v1/health/scores", params=span)
        assert default.status_code == 200 and default.json() == own.json(), default.text
        for params, field in (({"kind": "warehouse", "id": str(world.b)}, "id"), ({"kind": "hub"}, "kind")):
            r = await client.get("/api/v1/health/scores", params=params)
            assert r.status_code == 403 and (r.json()["code"], r.json()["field"]) == ("forbidden_warehouse", field), (
                r.text
            )


async def test_todays_live_scores_are_kept_for_a_minute(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = health.score_scope

    async def counting(scope: health.HealthScope, day: date, settings: HealthSettings) -> health.ScopeScore:
        calls.append(scope.id)
        return await real(scope, day, settings)

    monkeypatch.setattr(health, "score_scope", counting)
    monkeypatch.setattr(health, "_live_cache", {})
    now = [time.monotonic()]
    monkeypatch.setattr(health, "monotonic", lambda: now[0])
    today = health.today()
    first = await health.scores_for("warehouse", today)
    scored = len(calls)
    assert scored >= 2  # every active warehouse, computed live
    again = await health.scores_for("warehouse", today)
    assert len(calls) == scored and [s.id for s in again] == [s.id for s in first]  # from the cache
    other = await load_settings()
    other = msgspec.structs.replace(other, threshold=other.threshold - 1)
    await health.scores_for("warehouse", today, other)
    assert len(calls) == 2 * scored  # other settings: scored again
    now[0] += health.LIVE_TTL_S + 1
    await health.scores_for("warehouse", today)
    assert len(calls) == 3 * scored  # a minute later: scored again
    # a stored day is read from the history, never scored live
    await health.scores_for("warehouse", today - timedelta(days=400))
    assert len(calls) == 3 * scored


async def _open_rectification(scope_id: str) -> int:
    rows = await db.execute_returning(
        dict[str, Any],
        "INSERT INTO rectification (scope_kind, scope_id, scope_name, status, assignee_id, opened_day, last_bad_day, "
        "score, threshold, metrics, order_ids, good_days, note, opened_at, closed_at) VALUES ({}, {}, {}, {}, 0, {}, "
        "{}, 70, 80, '[]', '[]', 0, '', {}, NULL) RETURNING id",
        "channel",
        scope_id,
        "竞争测试",
        "open",
        D0,
        D0,
        clock.now(),
    )
    return int(rows[0]["id"])


async def _resolved_comments(rectification_id: int) -> int:
    rows = await db.fetch_as(
        dict[str, Any],
        "SELECT COUNT(*) AS n FROM rectification_comment WHERE rectification_id = {} AND body LIKE {}",
        rectification_id,
        "已整改%",
    )
    return int(rows[0]["n"])


async def test_two_resolvers_of_one_rectification_one_wins(api: Api) -> None:
    rect = await _open_rectification(unique("race"))
    async with api.client() as client:
        answers = await asyncio.gather(
            *(
                client.post(f"/api/v1/health/rectifications/{rect}/resolve", json={"note": f"第 {n} 人"})
                for n in range(6)
            )
        )
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] + [409] * 5, [r.text for r in answers]
    assert all(r.json()["code"] == "rectification_closed" for r in answers if r.status_code == 409)
    assert await _resolved_comments(rect) == 1


async def test_a_resolver_that_read_it_open_loses_to_one_that_closed_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The read said open, but another resolver (or the recompute) closed it before the UPDATE: refused, nothing
    written."""
    rect = await _open_rectification(unique("stale"))
    seen_open = await health.get_rectification(rect)
    await health.resolve(rect, "先到", author_id=1, author="a")
    real = health.get_rectification

    async def stale(rectification_id: int, *, warehouse_id: int | None = None) -> health.RectificationView:
        await real(rectification_id, warehouse_id=warehouse_id)
        return seen_open  # what a resolver racing the first one read

    monkeypatch.setattr(health, "get_rectification", stale)
    with pytest.raises(Conflict) as refused:
        await health.resolve(rect, "后到", author_id=2, author="b")
    assert refused.value.code == "rectification_closed"
    monkeypatch.undo()
    after = await health.get_rectification(rect)
    assert (after.status, after.note) == ("resolved", "先到") and await _resolved_comments(rect) == 1


async def test_the_inquiry_rollups_are_rebuilt_from_the_markers() -> None:
    """``rebuild_inquiries`` (run by ``orderhub rollups-rebuild``): the daily counts again from the per-order markers,
    a drifted count set right. (Last in this module: it also drops the constructed days' counts, which have no
    markers.)"""
    day, channel = date(2024, 2, 29), 990_100
    base = 9_900_000_000 + int(time.time() * 1000) % 1_000_000 * 10
    for n, source in enumerate(("phone", "phone", "im")):
        await db.execute(
            "INSERT INTO rollup_inquiry_order (order_id, day, channel, warehouse, source) VALUES ({}, {}, {}, 0, {})",
            base + n,
            day,
            channel,
            source,
        )
    await db.execute(
        "INSERT INTO rollup_inquiry_day (day, channel, warehouse, source, orders) VALUES ({}, {}, 0, {}, 5)",
        day,
        channel,
        "phone",
    )
    assert await inquiries.rebuild_inquiries() >= 3
    rows = await db.fetch_as(
        dict[str, Any],
        "SELECT source, orders FROM rollup_inquiry_day WHERE day = {} AND channel = {} ORDER BY source",
        day,
        channel,
    )
    assert [(r["source"], int(r["orders"])) for r in rows] == [("im", 1), ("phone", 2)]
