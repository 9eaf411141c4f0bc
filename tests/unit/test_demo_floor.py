"""The demo's simulated floor crew (sandbox/demo_floor.py) and its past week (server/demo/history.py): the pure
parts — what a picker scans for a stop, what the scale shows, and the planned history's shape."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orderhub import clock
from sandbox.demo_floor import SHORT_REASON, Habits, Tally, load_floor, pick_scans, reading, wrong_location
from server.demo.history import HISTORY_DAYS, PlannedOrder, plan_history
from server.demo.seed import DEMO_CREW, DEMO_WAREHOUSES, demo_catalog

BARCODES = {"TS-001-BLK-M": "6900000000011", "CB-101-WHT-1M": "6900000000028", "PB-102-BLK": "6900000000035"}
STOP = {"line_id": 7, "location": "A-01-03-1", "sku": "TS-001-BLK-M", "qty": 3, "picked": 1, "status": "pending"}


def test_a_careful_picker_scans_the_shelf_then_each_unit_left() -> None:
    careful = Habits(wrong_scan=0.0, short_pick=0.0)
    scans = pick_scans(random.Random(1), careful, STOP, BARCODES, sorted(BARCODES.values()))
    assert [(s.kind, s.barcode, s.location, s.ok) for s in scans] == [
        ("location", "A-01-03-1", None, True),
        ("item", "6900000000011", "A-01-03-1", True),
        ("item", "6900000000011", "A-01-03-1", True),
    ]


def test_slips_are_refused_scans_followed_by_the_right_one() -> None:
    clumsy = Habits(wrong_scan=1.0, short_pick=0.0)
    scans = pick_scans(random.Random(2), clumsy, STOP, BARCODES, sorted(BARCODES.values()))
    wrong = [s for s in scans if not s.ok]
    assert [s.kind for s in wrong] == ["location", "item", "item"]
    assert wrong[0].barcode == "A-01-03-2" and wrong[0].barcode != STOP["location"]
    assert all(s.barcode != BARCODES["TS-001-BLK-M"] for s in wrong if s.kind == "item")
    right = [s for s in scans if s.ok]
    assert [s.kind for s in right] == ["location", "item", "item"]


def test_a_short_pick_takes_what_the_shelf_has_then_reports_the_rest() -> None:
    short = Habits(wrong_scan=0.0, short_pick=1.0)
    for seed in range(20):
        scans = pick_scans(random.Random(seed), short, STOP, BARCODES, sorted(BARCODES.values()))
        assert scans[-1].kind == "short" and scans[-1].reason == SHORT_REASON
        assert sum(s.kind == "item" for s in scans) < 2  # fewer than the 2 units left
    assert pick_scans(random.Random(0), short, {**STOP, "picked": 3}, BARCODES, []) == []


def test_the_wrong_shelf_is_a_neighbour() -> None:
    assert wrong_location("B-06-10-3") == "B-06-10-2"
    assert wrong_location("A-01-01-1") == "A-01-01-2"
    assert wrong_location("BULK") != "BULK"


def test_the_scale_reads_within_tolerance_unless_something_lies_on_it() -> None:
    rng = random.Random(3)
    for _ in range(200):
        assert abs(reading(rng, Habits(), 850, 50, slip=False) - 850) <= 50
        assert reading(rng, Habits(), 850, 50, slip=True) - 850 > 50


def test_habits_set_a_human_pace() -> None:
    rng = random.Random(4)
    pauses = [Habits().pause(rng) for _ in range(500)]
    assert 1.0 <= min(pauses) and max(pauses) <= 3.0
    assert max(Habits(pace=0.1).pause(rng) for _ in range(100)) <= 0.3


def test_the_summary_says_what_happened_once() -> None:
    tally = Tally()
    assert tally.summary(60) is None
    tally.counts.update(units=12, tasks=2, packed=3, shipped=2, wrong=1)
    line = tally.summary(60)
    assert line is not None and "拣货 12 件 / 2 个任务" in line and "打包 3 单" in line and "错扫 1 次" in line
    assert tally.summary(60) is None


def test_the_floor_file_names_the_crew(tmp_path: Path) -> None:
    crew = [
        {"username": u, "name": n, "role": r.value, "warehouse": w, "badge": b, "device": d}
        for u, n, r, w, b, d, _ in DEMO_CREW
    ]
    (tmp_path / "floor.json").write_text(json.dumps({"crew": crew, "barcodes": BARCODES}))
    members, barcodes = load_floor(tmp_path / "floor.json")
    assert barcodes == BARCODES
    by_warehouse = Counter((m.warehouse, m.role) for m in members)
    for warehouse in DEMO_WAREHOUSES:
        assert by_warehouse[(warehouse.code, "picker")] == 2 and by_warehouse[(warehouse.code, "packer")] == 1
    assert len({m.badge for m in members}) == len({m.device for m in members}) == len(members)


# ------------------------------------------------------------------------------------------------ history

NOW = datetime(2026, 12, 6, 7, 30, tzinfo=UTC)  # 15:30 in Shanghai
CHANNELS = ["own_store", "own_miniapp", "tmall_flagship", "douyin_live", "pdd_store"]


def _plan() -> list[PlannedOrder]:
    return plan_history(
        NOW,
        channels=CHANNELS,
        warehouses={w.code: list(w.provinces) for w in DEMO_WAREHOUSES},
        catalog=[(s.code, s.price) for s in demo_catalog()],
        per_day=300,
    )


def test_the_past_week_is_about_the_volume_asked_every_day() -> None:
    plan = _plan()
    days = Counter(clock.to_shanghai(o.placed_at).date() for o in plan)
    today = clock.to_shanghai(NOW).date()
    assert len(days) == HISTORY_DAYS + 1 and max(days) == today
    for day, count in days.items():
        if day != today:
            assert 220 <= count <= 420, (day, count)
    assert all(o.placed_at <= NOW - timedelta(hours=3) for o in plan)
    assert {o.channel for o in plan} == set(CHANNELS)
    assert _plan()[100].external_id == plan[100].external_id  # seeded: the same every time


def test_every_past_order_is_finished_and_its_log_ends_where_it_stands() -> None:
    plan = _plan()
    statuses = Counter(o.status for o in plan)
    assert set(statuses) <= {"delivered", "shipped", "cancelled"}
    assert statuses["delivered"] > statuses["shipped"] > statuses["cancelled"] > 0
    ids = [(o.channel, o.external_id) for o in plan]
    assert len(set(ids)) == len(ids)
    for order in plan:
        times = [e.at for e in order.events]
        assert times == sorted(times) and times[-1] <= NOW - timedelta(minutes=2)
        assert order.events[0].type == "order.received"
        changes = [e for e in order.events if e.type == "order.status_changed"]
        assert changes[-1].to_status == order.status
        for before, after in itertools.pairwise(changes):
            assert after.from_status == before.to_status
        routed = [e for e in changes if e.to_status == "ready"]
        if order.status != "cancelled" or routed:
            assert order.warehouse is not None and routed[0].data["warehouse_ids"] == [order.warehouse]
        assert order.paid == order.goods + order.shipping_fee - order.discount > 0


def test_night_orders_are_picked_on_the_morning_shift() -> None:
    for order in _plan():
        for event in order.events:
            if event.to_status in ("picking", "packed"):
                assert 8 <= clock.to_shanghai(event.at).hour < 22, (order.external_id, event)
