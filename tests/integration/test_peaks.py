"""Time-of-week peaks through a real hub (docs/insights-mining.md#time-of-week-peaks): four weeks of orders written
straight into the tables — a steady trickle plus a planted Friday-evening peak (20:00–22:00 Asia/Shanghai) for one
SKU and a Sunday-morning one for another SKU of the same category — found by the API per SKU and per category."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from orderhub import clock, db
from orderhub.insights import peaks
from tests.support.factories import Api, create_channel, create_sku, unique

SINCE, UNTIL = date(2024, 4, 1), date(2024, 4, 28)  # Monday … Sunday, four weeks


class World:
    friday = ""
    sunday = ""
    category = ""


async def _orders(channel_id: int, sku: str, times: list[tuple[datetime, int]], *, status: str = "shipped") -> None:
    prefix = unique("pk")
    per = db.rows_per_statement(7)
    for chunk in db.chunks(times, per):
        args: list[Any] = []
        for n, (at, _qty) in enumerate(chunk):
            args += [channel_id, f"{prefix}-{n}-{at.timestamp()}", status, at, at, at]
        ids = await db.execute_returning(
            db.IdRow,
            "INSERT INTO sales_order (channel, external_id, status, receiver_name, receiver_phone, placed_at, "
            "received_at, updated_at) VALUES "
            + ", ".join(["({}, {}, {}, '', '', {}, {}, {})"] * len(chunk))
            + " RETURNING id",
            *args,
        )
        lines: list[Any] = []
        for order_id, (_at, qty) in zip(sorted(r.id for r in ids), chunk, strict=True):
            lines += [order_id, sku, qty]
        await db.execute(
            'INSERT INTO order_line ("order", line_no, sku_code, qty) VALUES '
            + ", ".join(["({}, 1, {}, {})"] * (len(lines) // 3)),
            *lines,
        )


def _shanghai(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=clock.SHANGHAI)


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    w = World()
    w.category = unique("零食")
    w.friday = await create_sku(api, name="家庭装薯片")
    w.sunday = await create_sku(api, name="早餐饮料")
    for sku in (w.friday, w.sunday):
        await db.execute("UPDATE sku SET category = {} WHERE code = {}", w.category, sku)
    code, _ = await create_channel(api, warehouse=None)
    channel_id = (await db.fetch_as(db.IdRow, "SELECT id FROM channel WHERE code = {}", code))[0].id
    trickle: list[tuple[datetime, int]] = []
    friday: list[tuple[datetime, int]] = []
    sunday: list[tuple[datetime, int]] = []
    for d in range(28):
        day = SINCE + timedelta(days=d)
        for hour in range(0, 24, 3):  # one unit every three hours, every day
            trickle.append((_shanghai(day, hour, 30), 1))
        if day.isoweekday() == 5:  # Friday 20:00–21:59: 6 orders of 2 units per hour
            friday += [(_shanghai(day, h, m), 2) for h in (20, 21) for m in range(0, 60, 10)]
        if day.isoweekday() == 7:  # Sunday 8:00–8:59: 3 orders of 1 unit
            sunday += [(_shanghai(day, 8, m), 1) for m in (5, 25, 45)]
    await _orders(channel_id, w.friday, trickle + friday)
    await _orders(channel_id, w.sunday, sunday)
    # cancelled orders on Tuesday 03:00 would make a peak if they counted
    tuesday_3am = [(_shanghai(SINCE + timedelta(days=1), 3, m), 50) for m in range(10)]
    await _orders(channel_id, w.friday, tuesday_3am, status="cancelled")
    return w


async def test_a_friday_evening_peak_is_found(api: Api, world: World) -> None:
    async with api.client() as client:
        r = await client.get(
            "/api/v1/insights/peaks",
            params={"sku": world.friday, "since": SINCE.isoformat(), "until": UNTIL.isoformat(), "top": 3},
        )
        assert r.status_code == 200, r.text
        body = r.json()
    assert body["kind"] == "sku" and body["target"] == world.friday
    assert body["units"] == 28 * 8 + 4 * 2 * 6 * 2  # the trickle + the Friday peaks; cancelled not counted
    assert len(body["cells"]) == 168
    assert sum(c["occurrences"] for c in body["cells"]) == 28 * 24
    assert sum(c["share"] for c in body["cells"]) == pytest.approx(1.0)
    best = body["top"][0]
    assert best["label"] == "周五 20–22 点"
    assert (best["weekday"], best["start_hour"], best["hours"]) == (5, 20, 2)
    assert best["units"] == 4 * (24 + 1)  # 12 orders × 2 units a Friday evening, plus the trickle's 21:30 unit
    assert body["peak_ratio"] == pytest.approx(best["ratio"])
    mean = body["units"] / (28 * 24)
    assert best["ratio"] == pytest.approx(((24 + 1) / 2) / mean)
    assert best["ratio"] > 5
    friday_21 = next(c for c in body["cells"] if c["weekday"] == 5 and c["hour"] == 21)
    assert friday_21["units"] == 4 * 13 and friday_21["rate"] == pytest.approx(13)


async def test_a_category_adds_its_skus(api: Api, world: World) -> None:
    result = await peaks.peaks(category=world.category, since=SINCE, until=UNTIL, window=1, top=2)
    assert result.kind == "category"
    assert result.units == 28 * 8 + 96 + 12
    labels = [w.label for w in result.top]
    assert labels[0] in ("周五 20–21 点", "周五 21–22 点")
    sunday_8 = next(c for c in result.cells if c.weekday == 7 and c.hour == 8)
    assert sunday_8.units == 12


async def test_refusals(api: Api, world: World) -> None:
    async with api.client() as client:
        for params, code in (
            ({}, "peaks_bad_target"),
            ({"sku": world.friday, "category": world.category}, "peaks_bad_target"),
            ({"sku": unique("NOSKU")}, "peaks_unknown_sku"),
            ({"category": unique("无类目")}, "peaks_unknown_category"),
            ({"sku": world.friday, "since": "2024-05-01", "until": "2024-04-01"}, "insights_bad_period"),
            ({"sku": world.friday, "since": "0001-01-01", "until": "0001-01-02"}, "insights_bad_period"),
            ({"sku": world.friday, "until": "9999-12-31"}, "insights_bad_period"),
        ):
            r = await client.get("/api/v1/insights/peaks", params=params)
            assert r.status_code == 422, r.text
            assert r.json()["code"] == code, r.text
