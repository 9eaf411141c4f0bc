"""Pick-path benchmark: planned routes against the exact optimum, the pure S-shape heuristic and location order.

    python -m bench.pick_path [--seed 7] [--instances 300] [--small-stops 10] [--quick]

Everything runs in-process (``orderhub.picking.route``; no hub, no database) and is seeded, so the route lengths
repeat exactly (timings vary with the machine). ``--quick`` runs a fifth of the instances.

Layouts are drawn like real shelving floors: 8–24 aisles of 20–60 bays, 2 or 3 cross-aisles, aisles 2.5–3.5 m
apart, bays 1.0–1.4 m long, the depot (pack area) at the left end or the middle of the front cross-aisle. Pick
lists come in two kinds, half each: ``uniform`` (any bay equally likely) and ``skewed`` (60 % of the picks among
the fast movers in the first third of the bays, near the front; the rest anywhere). Several picks may share a bay.

It prints three groups:

* ``small`` — ``--instances / 3`` lists of ``--small-stops`` picks against the exact optimum (Held–Karp): mean and
  max ratio to the optimum of the planned route, the pure S-shape and location order; how often the plan is optimal;
  and how much shorter the optimum is than location order — the most any route can save on those lists.
* ``realistic`` — ``--instances`` lists of 5–40 picks, half of each kind: how much shorter the planned route is than
  location order (sorted by aisle then bay, shortest walk between consecutive picks) in % — mean, median and p10
  (one list in ten saves less) — the mean for the pure S-shape, the mean saving against the pick list walked as
  the orders list their lines (``vs list``: what a picker with a paper list and no routing walks), and planning CPU
  time per route (p50/p99 ms; every
  list has a fresh layout, so this includes the per-layout set-up). Rows per kind, per list size, and all together.
* ``40 picks`` — ``--instances / 3`` lists of exactly 40 picks: planning time (p50/p99/max ms), CPU time of the
  planning thread and wall-clock time (the latter also counts time the process spent waiting for a CPU on a busy
  machine).

Then one verdict line per goal: the planned route within 1.05× the optimum (judged on the small group's maximum),
and at least 30 % shorter than naive (judged on the realistic mean) — against both readings of naive: location
order, which already walks each aisle front to back and which even the exact optimum beats by less than 30 % on
these layouts, and the unsorted pick list. The exit code is 0 either way: this
measures, it does not gate.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence
from typing import NamedTuple

from orderhub.picking.route import (
    MAX_OPTIMAL_STOPS,
    Layout,
    Stop,
    naive_route,
    optimal_route,
    plan_route,
    route_length,
    s_shape_route,
)

__all__ = ["KINDS", "Record", "main", "make_layout", "make_stops", "percentile"]

KINDS = ("uniform", "skewed")
FAST_SHARE, FAST_BAYS = 0.6, 1 / 3  # skewed lists: 60 % of picks in the first third of the bays
GOAL_RATIO, GOAL_SAVING = 1.05, 30.0
SIZE_BANDS = ((5, 15), (16, 27), (28, 40))


class Record(NamedTuple):
    kind: str
    picks: int
    saving: float  # % of the location-order walk saved by the planned route
    s_saving: float  # the same for the pure S-shape
    list_saving: float  # % of the walk in pick-list order (as the orders list their lines, no sorting) saved
    ms: float  # planning CPU time


def make_layout(rng: random.Random) -> Layout:
    aisles = rng.randint(8, 24)
    spacing = round(rng.uniform(2.5, 3.5), 2)
    return Layout(
        aisles=aisles,
        bays_per_aisle=rng.randint(20, 60),
        aisle_spacing_m=spacing,
        bay_length_m=round(rng.uniform(1.0, 1.4), 2),
        cross_aisles=rng.choice((2, 3)),
        depot_x_m=rng.choice((0.0, (aisles - 1) // 2 * spacing)),
    )


def make_stops(rng: random.Random, layout: Layout, n: int, kind: str) -> list[Stop]:
    fast = max(1, round(layout.bays_per_aisle * FAST_BAYS))
    stops = []
    for _ in range(n):
        near_front = kind == "skewed" and rng.random() < FAST_SHARE
        bay = rng.randint(1, fast) if near_front else rng.randint(1, layout.bays_per_aisle)
        stops.append(Stop(aisle=rng.randrange(layout.aisles), bay=bay))
    return stops


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def timed_plan(layout: Layout, stops: Sequence[Stop]) -> tuple[float, float, float]:
    """(route length in m, planning CPU time in ms, planning wall time in ms)."""
    w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
    route = plan_route(layout, stops)
    c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
    return route.length_m, (c1 - c0) / 1e6, (w1 - w0) / 1e6


def saving(length: float, naive: float) -> float:
    return 100 * (1 - length / naive) if naive else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--instances", type=int, default=300, help="realistic lists, half of each kind (default 300)")
    parser.add_argument("--small-stops", type=int, default=10, help="picks per list compared with the optimum")
    parser.add_argument("--quick", action="store_true", help="a fifth of the instances")
    args = parser.parse_args(argv)
    if not 1 <= args.small_stops <= MAX_OPTIMAL_STOPS:
        parser.error(f"--small-stops must be 1..{MAX_OPTIMAL_STOPS} (the exact optimum is Held–Karp)")
    instances = max(10, args.instances // 5) if args.quick else args.instances
    warm = random.Random(-1)
    for _ in range(20):  # warm-up, on its own generator so the measured lists do not depend on it
        layout = make_layout(warm)
        plan_route(layout, make_stops(warm, layout, 20, "uniform"))
    rng = random.Random(args.seed)

    # -- small lists against the exact optimum
    plan_ratio: list[float] = []
    s_ratio: list[float] = []
    naive_ratio: list[float] = []
    for i in range(max(2, instances // 3)):
        layout = make_layout(rng)
        stops = make_stops(rng, layout, args.small_stops, KINDS[i % 2])
        best = optimal_route(layout, stops).length_m
        plan_ratio.append(timed_plan(layout, stops)[0] / best)
        s_ratio.append(s_shape_route(layout, stops).length_m / best)
        naive_ratio.append(naive_route(layout, stops).length_m / best)
    optimal_share = 100 * sum(r <= 1 + 1e-9 for r in plan_ratio) / len(plan_ratio)
    print(f"small: {len(plan_ratio)} lists of {args.small_stops} picks (uniform and skewed), vs the exact optimum")
    print(f"  {'route':<10} {'mean ratio':>10} {'max ratio':>10}")
    for name, ratios in (("plan", plan_ratio), ("s-shape", s_ratio), ("naive", naive_ratio)):
        print(f"  {name:<10} {statistics.fmean(ratios):>10.4f} {max(ratios):>10.4f}")
    print(f"  plan optimal in {optimal_share:.0f} % of the lists")
    ceiling = statistics.fmean(saving(1.0, r) for r in naive_ratio)
    print(f"  the optimum itself is {ceiling:.1f} % shorter than location order (mean): no route can save more")

    # -- realistic lists against location order
    print(f"realistic: {instances} lists of 5–40 picks, saving of the route vs location order (aisle, bay)")
    print(
        f"  {'lists':<14} {'n':>4} {'mean %':>7} {'median %':>8} {'p10 %':>6} {'s-shape mean %':>14} "
        f"{'vs list %':>9} {'cpu p50 ms':>10} {'cpu p99 ms':>10}"
    )
    records: list[Record] = []
    for kind in KINDS:
        for _ in range(max(1, instances // len(KINDS))):
            layout = make_layout(rng)
            stops = make_stops(rng, layout, rng.randint(5, 40), kind)
            naive = naive_route(layout, stops).length_m
            length, ms, _ = timed_plan(layout, stops)
            s_saving = saving(s_shape_route(layout, stops).length_m, naive)
            as_listed = route_length(layout, stops, range(len(stops)))
            records.append(Record(kind, len(stops), saving(length, naive), s_saving, saving(length, as_listed), ms))
    rows = [(kind, [r for r in records if r.kind == kind]) for kind in KINDS]
    rows += [(f"{lo}–{hi} picks", [r for r in records if lo <= r.picks <= hi]) for lo, hi in SIZE_BANDS]
    rows.append(("all", records))
    for name, group in rows:
        if not group:
            continue
        sv = [r.saving for r in group]
        tm = [r.ms for r in group]
        print(
            f"  {name:<14} {len(group):>4} {statistics.fmean(sv):>7.1f} {statistics.median(sv):>8.1f} "
            f"{percentile(sv, 10):>6.1f} {statistics.fmean(r.s_saving for r in group):>14.1f} "
            f"{statistics.fmean(r.list_saving for r in group):>9.1f} "
            f"{percentile(tm, 50):>10.2f} {percentile(tm, 99):>10.2f}"
        )
    all_savings = [r.saving for r in records]

    # -- planning time at 40 picks
    cpu40: list[float] = []
    wall40: list[float] = []
    for i in range(max(2, instances // 3)):
        layout = make_layout(rng)
        _, cpu, wall = timed_plan(layout, make_stops(rng, layout, 40, KINDS[i % 2]))
        cpu40.append(cpu)
        wall40.append(wall)
    print(f"40 picks: {len(cpu40)} lists, planning time per route")
    for name, values in (("cpu", cpu40), ("wall", wall40)):
        print(
            f"  {name:<4} ms p50 {percentile(values, 50):.2f}  p99 {percentile(values, 99):.2f}  max {max(values):.2f}"
        )

    worst, mean_ratio = max(plan_ratio), statistics.fmean(plan_ratio)
    mean_saving = statistics.fmean(all_savings)
    print(
        f"goal ≤{GOAL_RATIO:g}× optimum: {'met' if worst <= GOAL_RATIO else 'not met'} "
        f"(max {worst:.4f}, mean {mean_ratio:.4f})"
    )
    print(
        f"goal ≥{GOAL_SAVING:g} % shorter than naive (location order): "
        f"{'met' if mean_saving >= GOAL_SAVING else 'not met'} (mean {mean_saving:.1f} %; the optimum itself saves "
        f"{ceiling:.1f} % on the small lists)"
    )
    list_saving = statistics.fmean(r.list_saving for r in records)
    print(
        f"goal ≥{GOAL_SAVING:g} % shorter than naive (the pick list as the orders list it): "
        f"{'met' if list_saving >= GOAL_SAVING else 'not met'} (mean {list_saving:.1f} %)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
