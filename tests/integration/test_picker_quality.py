"""The monthly error analysis made fair (issue 20 B4, docs/picking.md#quality) through a real hub: a constructed month
(September 2023, which nothing else in the suite writes) where a picker with 3 lines and 1 error is not ranked worst
over a picker with 2,000 lines and 40 errors, the top "expected A, scanned B" pair with both SKUs' names and pick
faces, a SKU whose errors cluster at one location flagged and a spread-out one not; the same in the weekly report's
PDF; and a wrong-item scan sent by a handheld today recorded with the SKU its barcode belongs to."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orderhub import clock, db
from orderhub.picking import quality
from orderhub.reports import pdf, weekly
from tests.integration.test_picking import Floor, Pda
from tests.support.factories import Api, unique
from tests.support.hub import Hub

MONTH = "2023-09"
AT = datetime(2023, 9, 15, 10, 0, tzinfo=clock.SHANGHAI)


async def _id(sql: str, *args: Any) -> int:
    rows = await db.fetch_as(dict[str, Any], sql, *args)
    return int(rows[0]["id"])


@dataclass
class Month:
    floor: Floor
    warehouse_id: int
    small: str  # picker ids as the report keys them
    big: str
    mid: str
    s1: str
    s2: str
    s3: str
    s4: str
    cluster_location: str  # where s1's errors cluster


async def _picker(floor: Floor, name: str) -> str:
    async with floor.api.client() as client:
        r = await client.post(
            "/api/v1/users",
            json={"username": unique("fair"), "password": "fair-pass-2026", "role": "picker", "display_name": name,
                  "warehouse": floor.warehouse},
        )  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _construct(api: Api, url: str) -> Month:
    floor = await Floor(api, url).setup()
    s1, s2, s3, s4 = floor.codes
    warehouse_id = await _id("SELECT id FROM warehouse WHERE code = {}", floor.warehouse)
    (order_id,) = await floor.orders([(s1, 1)])
    wave_id = int((await floor.wave([order_id]))["wave_id"])
    order_line = await _id('SELECT id FROM order_line WHERE "order" = {}', order_id)
    sku = {code: await _id("SELECT id FROM sku WHERE code = {}", code) for code in floor.codes}

    async def location(code: str) -> int:
        return await _id("SELECT id FROM location WHERE warehouse = {} AND code = {}", warehouse_id, code)

    small = await _picker(floor, "新人小王")
    big = await _picker(floor, "老手老张")
    mid = await _picker(floor, "粗心小赵")

    # Each picker's task and its lines: (sku, location, how many, how many with an error, what the error is).
    # big: 2,000 lines, 40 with an error. s1 picked half at its face A04-10, half at A01-01, and 18 of its 20 errors
    # at A01-01 (wrong items: s2's barcode); s3 picked 600 at A02-08 and 400 at A02-01 with errors in proportion
    # (12 and 8: five wrong items — s4's barcode —, five wrong locations, ten short picks).
    # small: 3 lines of s2, one wrong item (s1's barcode). mid: 400 lines of s4, 20 without the location scan.
    plan: dict[str, list[tuple[str, str, int, list[str]]]] = {
        big: [
            (s1, "A04-10", 500, ["wrong_item:s2"] * 2),
            (s1, "A01-01", 500, ["wrong_item:s2"] * 18),
            (s3, "A02-08", 600, ["wrong_item:s4"] * 5 + ["wrong_location"] * 5 + ["short"] * 2),
            (s3, "A02-01", 400, ["short"] * 8),
        ],
        small: [(s2, "A03-09", 3, ["wrong_item:s1"])],
        mid: [(s4, "A01-07", 400, ["location_not_scanned"] * 20)],
    }
    names = {"s1": s1, "s2": s2, "s3": s3, "s4": s4}
    for picker, stops in plan.items():
        (task,) = await db.execute_returning(
            db.IdRow,
            "INSERT INTO pick_task (wave, warehouse, status, priority, picker, device, route_m, naive_route_m, "
            "created_at, claimed_at, completed_at) VALUES ({}, {}, 'done', 0, {}, 'DEV-FAIR', 0, 0, {}, {}, {}) "
            "RETURNING id",
            wave_id, warehouse_id, int(picker), AT - timedelta(hours=3), AT - timedelta(hours=2), AT,
        )  # fmt: skip
        rows: list[tuple[Any, ...]] = []
        errors: dict[int, str] = {}  # seq → error
        for code, loc, count, errs in stops:
            loc_id = await location(loc)
            for i in range(count):
                seq = len(rows) + 1
                error = errs[i] if i < len(errs) else ""
                if error:
                    errors[seq] = error
                status = "short" if error == "short" else "picked"
                short = status == "short"
                rows.append((task.id, seq, order_id, order_line, sku[code], loc_id, 1, 0 if short else 1, 1, status,
                             "库位无货" if short else "", 0, AT - timedelta(minutes=30)))  # fmt: skip
        per = db.rows_per_statement(13)
        for chunk in db.chunks(rows, per):
            await db.execute(
                'INSERT INTO pick_line (task, seq, "order", order_line, sku, location, qty, picked, tote_slot, status, '
                "short_reason, skipped, picked_at) VALUES "
                + ", ".join(["(" + db.placeholders(13) + ")"] * len(chunk)),
                *[v for row in chunk for v in row],
            )
        line_ids = {
            int(r["seq"]): int(r["id"])
            for r in await db.fetch_as(dict[str, Any], "SELECT id, seq FROM pick_line WHERE task = {}", task.id)
        }
        scans: list[tuple[Any, ...]] = []
        for seq, error in errors.items():
            if error == "short":
                continue  # the line's status says it
            kind, _, scanned = error.partition(":")
            scan_kind = "location" if kind == "wrong_location" else "item"
            scanned_sku = sku[names[scanned]] if scanned else None
            scans.append((kind, scan_kind, line_ids[seq], scanned_sku))
        if picker == big:  # the same line refused twice: still one error line
            scans.append(scans[-1])
        for n, (error, scan_kind, line_id, scanned_sku) in enumerate(scans):
            at = AT - timedelta(minutes=50) + timedelta(seconds=n)
            await db.execute(
                'INSERT INTO pda_scan (device, client_id, picker, warehouse, task, line, "order", sku, kind, barcode, '
                "qty, ok, error, answer, scanned_at, received_at) "
                "VALUES ('DEV-FAIR', {}, {}, {}, {}, {}, {}, {}, {}, 'X', 1, {}, {}, {}, {}, {})",
                uuid.uuid4().hex, int(picker), warehouse_id, task.id, line_id, order_id, scanned_sku, scan_kind,
                False, error, "{}", at, at,
            )  # fmt: skip
    # one wrong-item scan whose barcode belongs to no SKU: in no pair, counted apart
    await db.execute(
        'INSERT INTO pda_scan (device, client_id, picker, warehouse, task, line, "order", sku, kind, barcode, qty, ok, '
        "error, answer, scanned_at, received_at) "
        "VALUES ('DEV-FAIR', {}, {}, {}, NULL, {}, {}, NULL, 'item', '0000', 1, {}, 'wrong_item', {}, {}, {})",
        uuid.uuid4().hex, int(small), warehouse_id, line_ids[1], order_id, False, "{}", AT, AT,
    )  # fmt: skip
    return Month(floor=floor, warehouse_id=warehouse_id, small=small, big=big, mid=mid, s1=s1, s2=s2, s3=s3, s4=s4,
                 cluster_location="A01-01")  # fmt: skip


@pytest.fixture(scope="module")
async def month(api: Api, store: Hub) -> Month:
    return await _construct(api, store.url)


async def _report(api: Api, **params: Any) -> dict[str, Any]:
    async with api.client() as client:
        r = await client.get("/api/v1/picking/quality/errors", params={"month": MONTH, **params})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_picker_with_three_lines_is_not_ranked_worst_over_one_with_two_thousand(
    api: Api, month: Month
) -> None:
    report = await _report(api)
    # what the analysis had stays as it was
    assert {"month", "since", "until", "totals", "scans", "by_picker", "by_sku"} <= report.keys()
    assert report["totals"]["wrong_item"] == 2 + 18 + 5 + 1 + 1 and report["totals"]["short_pick"] == 0
    assert report["min_lines"] == quality.MIN_LINES == 50
    rates = {r["key"]: r for r in report["picker_rates"]}
    small, big, mid = rates[month.small], rates[month.big], rates[month.mid]
    assert (big["lines"], big["error_lines"], big["per_1000"]) == (2000, 40, 20.0)  # a line refused twice: once
    assert (big["low_per_1000"], big["high_per_1000"]) == (14.72, 27.12)
    assert (small["lines"], small["error_lines"], small["per_1000"]) == (3, 1, 333.33)
    assert small["rank"] is None and small["insufficient"] and small["note"] == "样本不足"
    # ranked by the interval's lower bound: 20 of 400 above 40 of 2,000; the 3-line picker after every ranked one
    assert (mid["rank"], big["rank"]) == (1, 2) and mid["low_per_1000"] > big["low_per_1000"]
    keys = [r["key"] for r in report["picker_rates"]]
    assert keys.index(month.big) < keys.index(month.small)
    assert all(r["rank"] is None for r in report["picker_rates"][keys.index(month.small):])

    skus = {r["key"]: r for r in report["sku_rates"]}
    assert (skus[month.s1]["lines"], skus[month.s1]["error_lines"]) == (1000, 20)
    assert skus[month.s2]["insufficient"] and skus[month.s2]["rank"] is None
    assert skus[month.s4]["rank"] == 1  # 20 of 400

    # the threshold can be asked for: with 3 lines enough, the newcomer is ranked (1 of 3 is a lot)
    relaxed = {r["key"]: r for r in (await _report(api, min_lines=3))["picker_rates"]}
    assert relaxed[month.small]["rank"] == 1 and not relaxed[month.small]["insufficient"]
    async with api.client() as client:
        r = await client.get("/api/v1/picking/quality/errors", params={"month": MONTH, "min_lines": 0})
    assert r.status_code == 422 and r.json()["field"] == "min_lines", r.text


async def test_the_most_common_wrong_item_pair_comes_first_with_names_and_pick_faces(
    api: Api, month: Month
) -> None:
    report = await _report(api)
    top = report["confusions"][0]
    assert (top["expected_sku"], top["scanned_sku"], top["count"]) == (month.s1, month.s2, 20)
    faces = month.floor.skus
    assert top["expected_location"] == faces[month.s1]["location"] == "A04-10"
    assert top["scanned_location"] == faces[month.s2]["location"] == "A03-09"
    assert (top["expected_name"], top["scanned_name"]) == ("商品1", "商品2")
    assert top["warehouse"] == month.floor.warehouse
    pairs = [(p["expected_sku"], p["scanned_sku"], p["count"]) for p in report["confusions"]]
    assert pairs == [(month.s1, month.s2, 20), (month.s3, month.s4, 5), (month.s2, month.s1, 1)]
    assert report["unknown_barcodes"] == 1
    assert "储位" in report["confusion_hint"]


async def test_errors_clustered_at_one_location_are_flagged_and_spread_ones_are_not(api: Api, month: Month) -> None:
    report = await _report(api)
    clusters = {c["sku"]: c for c in report["location_clusters"]}
    s1 = clusters[month.s1]
    assert s1["flagged"] and report["location_clusters"][0]["sku"] == month.s1
    assert (s1["location"], s1["location_error_lines"], s1["error_lines"]) == (month.cluster_location, 18, 20)
    assert (s1["error_share"], s1["pick_share"], s1["locations"]) == (0.9, 0.5, 2)
    assert s1["warehouse"] == month.floor.warehouse and "A01-01" in s1["hint"]
    s3 = clusters[month.s3]  # 12 of 20 at a location with 600 of 1,000 picks: as many as its picks explain
    assert not s3["flagged"] and (s3["location"], s3["error_share"], s3["pick_share"]) == ("A02-08", 0.6, 0.6)
    assert not clusters[month.s4]["flagged"]  # one location only


def _pdf_text(pdf_bytes: bytes, source: Path) -> str:
    source.write_bytes(pdf_bytes)
    return subprocess.run(["pdftotext", "-layout", str(source), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
async def test_the_weekly_report_shows_the_rates_pairs_and_clusters(month: Month, tmp_path: Path) -> None:
    data = await weekly.gather(date(2023, 9, 25))  # the week ending Sunday 1 October: October's analysis
    assert data.errors.month == "2023-10" and not data.errors.picker_rates
    data = await weekly.gather(date(2023, 9, 18))
    errors = data.errors
    assert errors.month == MONTH and errors.min_lines == quality.MIN_LINES
    assert [r.key for r in errors.picker_rates if r.rank is not None][:2] == [month.mid, month.big]
    assert errors.confusions[0].expected_sku == month.s1 and errors.confusion_hint
    assert [c.sku for c in errors.clusters] == [month.s1]  # flagged ones only
    text = _pdf_text(pdf.weekly_pdf(data), tmp_path / "weekly.pdf")
    if pdf.font_name() != "Helvetica":
        for heading in ("拣货员差错率", "样本不足", "易混商品", "差错集中在一个库位"):
            assert heading in text, heading
    assert month.s1 in text and "A01-01" in text


async def test_a_wrong_item_scanned_today_keeps_the_sku_its_barcode_belongs_to(api: Api, store: Hub) -> None:
    floor = await Floor(api, store.url).setup()
    s1, s2, *_ = floor.codes
    (order_id,) = await floor.orders([(s1, 1)])
    (task_id,) = (await floor.wave([order_id]))["task_ids"]
    pda = await Pda.sign_in(floor.url, await floor.person("picker"))
    try:
        task = (await pda.http.post(f"/pda/v1/tasks/{task_id}/claim")).json()
        (stop,) = task["stops"]
        r = await pda.scan(task_id, stop["line_id"], "item", barcode=floor.skus[s2]["barcode"],
                           location=stop["location"])  # fmt: skip
        assert r.status_code == 422 and r.json()["code"] == "wrong_item", r.text
    finally:
        await pda.close()
    warehouse_id = await _id("SELECT id FROM warehouse WHERE code = {}", floor.warehouse)
    report = await quality.error_report(f"{clock.to_shanghai(clock.now()):%Y-%m}", warehouse_id=warehouse_id)
    (pair,) = report.confusions
    assert (pair.expected_sku, pair.scanned_sku, pair.count) == (s1, s2, 1)
    assert (pair.expected_location, pair.scanned_location) == (floor.skus[s1]["location"], floor.skus[s2]["location"])
    assert report.unknown_barcodes == 0
    # the task is not finished yet: its line is in no rate until it is
    assert report.picker_rates == []
