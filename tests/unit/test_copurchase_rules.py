"""The pure parts of co-purchase mining and time-of-week peaks: counts → rules (support, confidence, lift, "≥ N of
X"), and the peak windows (docs/insights-mining.md)."""

from __future__ import annotations

from datetime import date

import pytest

from orderhub.insights.copurchase import (
    MAX_ATTEMPTS,
    counts_from_baskets,
    error_message,
    patterns_from_counts,
    support_threshold,
)
from orderhub.insights.peaks import PeakCell, week_slots, windows_from_cells
from orderhub.insights.queries import day_window


def test_support_confidence_and_lift_by_hand() -> None:
    # 10 orders: A in 4, B in 5, A+B in 3; C in 2 with ≥2 units of A in both
    baskets = [
        {"A": 1, "B": 1},
        {"A": 1, "B": 1},
        {"A": 2, "B": 1, "C": 1},
        {"A": 3, "C": 1},
        {"B": 1},
        {"B": 1},
        {"D": 1},
        {"D": 1},
        {"D": 1},
        {"D": 1},
    ]
    counts = counts_from_baskets(baskets, max_qty=2)
    assert counts.orders == 10
    assert counts.items["A"] == [4, 2]
    rules = {
        (r.antecedent, r.min_qty, r.consequent): r
        for r in patterns_from_counts(counts, min_count=1, min_support=0.0, max_patterns=100)
    }
    ab = rules[(("A",), 1, "B")]
    assert (ab.orders, ab.antecedent_orders, ab.consequent_orders) == (3, 4, 5)
    assert ab.support == pytest.approx(0.3)
    assert ab.confidence == pytest.approx(0.75)
    assert ab.lift == pytest.approx(0.75 / 0.5)
    ba = rules[(("B",), 1, "A")]
    assert ba.confidence == pytest.approx(0.6) and ba.lift == pytest.approx(ab.lift)  # lift is symmetric
    a2c = rules[(("A",), 2, "C")]
    assert (a2c.orders, a2c.antecedent_orders) == (2, 2)
    assert a2c.confidence == pytest.approx(1.0) and a2c.lift == pytest.approx(1.0 / 0.2)
    assert rules[(("A",), 1, "C")].lift == pytest.approx(0.5 / 0.2)
    assert (("A",), 2, "B") in rules  # ≥2 of A in one order that also has B
    assert rules[(("A",), 2, "B")].orders == 1
    # thresholds: min_count 3 keeps only A+B both ways; the list is sorted by lift and cut at max_patterns
    kept = patterns_from_counts(counts, min_count=3, min_support=0.0, max_patterns=100)
    assert {(r.antecedent, r.consequent) for r in kept} == {(("A",), "B"), (("B",), "A")}
    assert patterns_from_counts(counts, min_count=1, min_support=0.25, max_patterns=100) == kept
    top = patterns_from_counts(counts, min_count=1, min_support=0.0, max_patterns=1)
    assert len(top) == 1 and top[0].lift == max(r.lift for r in rules.values())


def test_no_orders_no_rules() -> None:
    assert patterns_from_counts(counts_from_baskets([], max_qty=3), min_count=1, min_support=0, max_patterns=9) == []


def test_a_pair_in_exactly_min_support_of_the_orders_is_kept() -> None:
    # 0.07 × 100 is 7.000000000000001 as floats: its ceiling, 8, dropped a pair in exactly 7 % of the orders
    assert 0.07 * 100 > 7
    assert support_threshold(1, 0.07, 100) == 7
    assert support_threshold(1, 0.0701, 100) == 8
    assert support_threshold(9, 0.07, 100) == 9  # min_count still rules when higher
    assert support_threshold(1, 0.001, 970_106) == 971
    assert support_threshold(1, 0.29, 100) == 29 and support_threshold(1, 0.57, 100) == 57  # 28.999…, 56.999… too
    baskets = [{"X": 1, "Y": 1}] * 7 + [{"Z": 1}] * 93
    kept = patterns_from_counts(counts_from_baskets(baskets, max_qty=1), min_count=1, min_support=0.07, max_patterns=9)
    assert {(r.antecedent, r.consequent) for r in kept} == {(("X",), "Y"), (("Y",), "X")}
    assert all(r.orders == 7 and r.support == pytest.approx(0.07) for r in kept)


def test_a_failed_runs_message_says_whether_it_is_tried_again() -> None:
    assert error_message("done", "", 1) == "" and error_message("running", "", 1) == ""
    assert "超时" in error_message("failed", "timeout", 1) and "稍后自动重试" in error_message("failed", "timeout", 1)
    assert "不再重试" in error_message("failed", "timeout", MAX_ATTEMPTS)
    assert "不再重试" in error_message("failed", "too many attempts", MAX_ATTEMPTS)
    assert "中断" in error_message("failed", "interrupted", 1)
    assert error_message("failed", "RuntimeError('x')", 1).startswith("挖掘失败")


def test_week_slots_count_each_weekday_hour_of_the_period() -> None:
    start, end = day_window(date(2024, 4, 1), date(2024, 4, 10))  # Mon … Wed of the next week: 10 days
    slots = week_slots(start, end)
    assert sum(slots.values()) == 240
    assert slots[(1, 0)] == 2 and slots[(3, 23)] == 2 and slots[(4, 12)] == 1 and slots[(7, 5)] == 1


def _cells(rates: dict[tuple[int, int], float]) -> list[PeakCell]:
    return [
        PeakCell(
            weekday=d,
            hour=h,
            units=int(rates.get((d, h), 1)),
            lines=1,
            occurrences=1,
            share=0,
            rate=rates.get((d, h), 1.0),
            ratio=0,
        )
        for d in range(1, 8)
        for h in range(24)
    ]


def test_windows_are_the_best_non_overlapping_runs() -> None:
    cells = _cells({(5, 20): 10, (5, 21): 12, (5, 22): 9, (7, 23): 6, (1, 0): 6})
    windows = windows_from_cells(cells, window=2, top=3, mean_rate=1.0, total=200)
    assert [w.label for w in windows] == ["周五 20–22 点", "周日 23 点–周一 1 点", "周五 22–24 点"]
    assert windows[0].ratio == pytest.approx(11.0)
    assert windows_from_cells(cells, window=2, top=3, mean_rate=0.0, total=0) == []
