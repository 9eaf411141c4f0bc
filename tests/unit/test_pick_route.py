"""Pick-path routing (pure, no database): grid distances, route validity, heuristic quality against the optimum.

Distances are checked twice: against hand-computed values, and against a plain Dijkstra over an explicit graph of
the warehouse (aisle/cross-aisle intersections, stop points, the depot) built here independently of the module's
closed formulas. The exact optimum is checked against brute force on tiny lists before it is used as a yardstick.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import defaultdict
from collections.abc import Sequence

import pytest

from orderhub.picking.route import (
    MAX_OPTIMAL_STOPS,
    Layout,
    Route,
    Stop,
    naive_route,
    optimal_route,
    plan_route,
    route_length,
    s_shape_route,
    walk_distance,
    walk_to_depot,
)

TOL = 1e-6  # lengths are rounded to the micrometre

Point = tuple[float, float]


def S(aisle: int, bay: int) -> Stop:
    return Stop(aisle=aisle, bay=bay)


# --- an independent reference: Dijkstra over the explicit aisle/cross-aisle graph -------------------------------


def _cross_ys(layout: Layout) -> list[float]:
    blocks = layout.cross_aisles - 1
    return [k * layout.bays_per_aisle // blocks * layout.bay_length_m for k in range(blocks + 1)]


def _point(layout: Layout, stop: Stop) -> Point:
    return (stop.aisle * layout.aisle_spacing_m, (stop.bay - 0.5) * layout.bay_length_m)


def graph_distances(layout: Layout, points: Sequence[Point]) -> list[list[float]]:
    """All-pairs shortest walks between ``points`` (on aisles, or the depot on the front cross-aisle)."""
    xs = [i * layout.aisle_spacing_m for i in range(layout.aisles)]
    ys = _cross_ys(layout)
    on_aisle: dict[float, set[float]] = defaultdict(set)
    on_cross: dict[float, set[float]] = defaultdict(set)
    for x in xs:
        for y in ys:
            on_aisle[x].add(y)
            on_cross[y].add(x)
    for x, y in points:
        if y in ys:  # the depot, on the front cross-aisle
            on_cross[y].add(x)
        else:
            on_aisle[x].add(y)
    edges: dict[Point, list[tuple[Point, float]]] = defaultdict(list)
    for x, column in on_aisle.items():
        for y0, y1 in itertools.pairwise(sorted(column)):
            edges[(x, y0)].append(((x, y1), y1 - y0))
            edges[(x, y1)].append(((x, y0), y1 - y0))
    for y, row in on_cross.items():
        for x0, x1 in itertools.pairwise(sorted(row)):
            edges[(x0, y)].append(((x1, y), x1 - x0))
            edges[(x1, y)].append(((x0, y), x1 - x0))

    def dijkstra(source: Point) -> dict[Point, float]:
        best = {source: 0.0}
        heap = [(0.0, source)]
        while heap:
            dist, here = heapq.heappop(heap)
            if dist > best[here]:
                continue
            for there, step in edges[here]:
                if dist + step < best.get(there, math.inf):
                    best[there] = dist + step
                    heapq.heappush(heap, (dist + step, there))
        return best

    return [[dijkstra(p)[q] for q in points] for p in points]


def random_layout(rng: random.Random, *, aisles: tuple[int, int] = (2, 20), bays: tuple[int, int] = (4, 50)) -> Layout:
    n_aisles = rng.randint(*aisles)
    spacing = round(rng.uniform(2.5, 3.5), 2)
    return Layout(
        aisles=n_aisles,
        bays_per_aisle=rng.randint(*bays),
        aisle_spacing_m=spacing,
        bay_length_m=round(rng.uniform(1.0, 1.4), 2),
        cross_aisles=rng.choice((2, 2, 3, 4)),
        depot_x_m=rng.choice((0.0, round(rng.uniform(0, (n_aisles - 1) * spacing), 2))),
    )


def random_stops(rng: random.Random, layout: Layout, n: int) -> list[Stop]:
    return [S(rng.randrange(layout.aisles), rng.randint(1, layout.bays_per_aisle)) for _ in range(n)]


# --- distances ---------------------------------------------------------------------------------------------------

ONE_BLOCK = Layout(aisles=5, bays_per_aisle=10)  # 3 m between aisles, 1 m bays: bay b at y = b - 0.5, back at 10
TWO_BLOCKS = Layout(aisles=5, bays_per_aisle=10, cross_aisles=3)  # middle cross-aisle at y = 5 (bays 1-5 | 6-10)


@pytest.mark.parametrize(
    ("layout", "a", "b", "expected"),
    [
        (ONE_BLOCK, S(1, 2), S(1, 9), 7.0),  # same aisle: |Δy|
        (ONE_BLOCK, S(3, 4), S(3, 4), 0.0),  # same bay
        (ONE_BLOCK, S(0, 2), S(2, 3), 6 + 1.5 + 2.5),  # via the front (4) rather than the back (16)
        (ONE_BLOCK, S(0, 9), S(3, 8), 9 + 1.5 + 2.5),  # via the back: (10 - 8.5) + (10 - 7.5)
        (ONE_BLOCK, S(0, 2), S(1, 9), 3 + 10.0),  # front (1.5 + 8.5) and back (8.5 + 1.5) tie
        (ONE_BLOCK, S(0, 4), S(2, 4), 6 + 7.0),  # no middle cross-aisle: round the front
        (TWO_BLOCKS, S(0, 4), S(2, 4), 6 + 3.0),  # the middle cross-aisle at y = 5 is nearer: 1.5 + 1.5
        (TWO_BLOCKS, S(0, 4), S(2, 7), 6 + 3.0),  # different blocks: straight across the middle, |Δy|
        (TWO_BLOCKS, S(0, 7), S(1, 9), 3 + 5.0),  # back block: middle (1.5 + 3.5) and back (3.5 + 1.5) tie
        (TWO_BLOCKS, S(4, 10), S(0, 9), 12 + 2.0),  # 9.5 and 8.5: back (0.5 + 1.5) beats the middle (4.5 + 3.5)
        (Layout(aisles=3, bays_per_aisle=10, cross_aisles=4), S(0, 3), S(1, 3), 3 + 1.0),  # blocks 1-3|4-6|7-10
        (Layout(aisles=3, bays_per_aisle=10, cross_aisles=4), S(0, 4), S(1, 6), 3 + 3.0),  # 3.5, 5.5 in 3..6
        (Layout(aisles=3, bays_per_aisle=10, aisle_spacing_m=2.5, bay_length_m=1.2), S(0, 1), S(2, 1), 5 + 1.2),
    ],
)
def test_walk_distance_hand_computed(layout: Layout, a: Stop, b: Stop, expected: float) -> None:
    assert walk_distance(layout, a, b) == pytest.approx(expected)
    assert walk_distance(layout, b, a) == pytest.approx(expected)


def test_depot_legs_hand_computed() -> None:
    # A single stop: depot -> stop -> depot, Manhattan along the front cross-aisle then up the aisle.
    assert route_length(ONE_BLOCK, [S(2, 3)], [0]) == pytest.approx(2 * (6 + 2.5))
    at_aisle_2 = Layout(aisles=5, bays_per_aisle=10, depot_x_m=6.0)
    assert route_length(at_aisle_2, [S(2, 3)], [0]) == pytest.approx(2 * 2.5)
    between = Layout(aisles=5, bays_per_aisle=10, depot_x_m=4.5)  # between aisles 1 and 2
    assert route_length(between, [S(1, 1)], [0]) == pytest.approx(2 * (1.5 + 0.5))
    # Two stops: depot (x = 0) -> (0, 9) -> (3, 8) -> depot = 8.5 + 13 + (9 + 7.5).
    assert route_length(ONE_BLOCK, [S(0, 9), S(3, 8)], [0, 1]) == pytest.approx(8.5 + 13 + 16.5)


def test_the_walk_left_is_the_route_without_its_first_leg() -> None:
    # (0, 9) -> (3, 8) -> depot = 13 + 16.5; the whole route adds the depot -> (0, 9) leg, 8.5.
    assert walk_to_depot(ONE_BLOCK, [S(0, 9), S(3, 8)]) == pytest.approx(13 + 16.5)
    assert walk_to_depot(ONE_BLOCK, [S(3, 8)]) == pytest.approx(9 + 7.5)
    assert walk_to_depot(ONE_BLOCK, []) == 0
    rng = random.Random(20261208)
    for _ in range(20):
        layout = random_layout(rng, aisles=(1, 8), bays=(2, 20))
        stops = random_stops(rng, layout, 6)
        route = plan_route(layout, stops)
        ordered = [stops[i] for i in route.order]
        first_leg = route_length(layout, [ordered[0]], [0]) / 2
        assert walk_to_depot(layout, ordered) == pytest.approx(route.length_m - first_leg, abs=TOL)
        # picking a stop never makes the walk left longer (the triangle inequality)
        for k in range(1, len(ordered)):
            assert walk_to_depot(layout, ordered[k:]) <= walk_to_depot(layout, ordered[k - 1 :]) + TOL
    with pytest.raises(ValueError):
        walk_to_depot(ONE_BLOCK, [S(99, 1)])


def test_walk_distance_matches_dijkstra_on_the_explicit_graph() -> None:
    rng = random.Random(20240611)
    for _ in range(40):
        layout = random_layout(rng, aisles=(1, 8), bays=(2, 20))
        stops = random_stops(rng, layout, 8)
        depot = (layout.depot_x_m, 0.0)
        points = [depot, *(_point(layout, s) for s in stops)]
        reference = graph_distances(layout, points)
        for i, a in enumerate(stops, start=1):
            for j, b in enumerate(stops, start=1):
                assert walk_distance(layout, a, b) == pytest.approx(reference[i][j], abs=TOL)
            # depot legs, through a one-stop route
            assert route_length(layout, [a], [0]) == pytest.approx(2 * reference[0][i], abs=TOL)
        order = list(range(len(stops)))
        rng.shuffle(order)
        legs = [0, *(k + 1 for k in order), 0]
        expected = sum(reference[p][q] for p, q in itertools.pairwise(legs))
        assert route_length(layout, stops, order) == pytest.approx(expected, abs=TOL)


def test_stops_outside_the_layout_are_refused() -> None:
    with pytest.raises(ValueError, match="outside the layout"):
        walk_distance(ONE_BLOCK, S(5, 1), S(0, 1))
    with pytest.raises(ValueError, match="outside the layout"):
        plan_route(ONE_BLOCK, [S(0, 11)])
    with pytest.raises(ValueError, match="outside the layout"):
        naive_route(ONE_BLOCK, [S(0, 1), S(9, 1)])
    with pytest.raises(ValueError, match="exactly once"):
        route_length(ONE_BLOCK, [S(0, 1), S(1, 1)], [0, 0])


# --- routes ------------------------------------------------------------------------------------------------------


def assert_valid(layout: Layout, stops: Sequence[Stop], route: Route) -> None:
    assert sorted(route.order) == list(range(len(stops)))
    assert route.length_m == route_length(layout, stops, route.order)
    # stops sharing a bay are consecutive, in input order
    runs: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i in route.order:
        runs[(stops[i].aisle, stops[i].bay)].append(i)
    for indexes in runs.values():
        where = [route.order.index(i) for i in indexes]
        assert where == list(range(where[0], where[0] + len(where)))
        assert indexes == sorted(indexes)


def brute_force(layout: Layout, stops: Sequence[Stop]) -> float:
    return min(route_length(layout, stops, list(p)) for p in itertools.permutations(range(len(stops))))


def test_optimal_route_matches_brute_force_on_tiny_lists() -> None:
    rng = random.Random(7)
    for _ in range(60):
        layout = random_layout(rng)
        stops = random_stops(rng, layout, rng.randint(1, 6))
        best = optimal_route(layout, stops)
        assert_valid(layout, stops, best)
        assert best.length_m == pytest.approx(brute_force(layout, stops), abs=TOL)


def test_plan_is_valid_never_longer_than_naive_or_s_shape_and_within_5_percent_of_optimal() -> None:
    rng = random.Random(42)
    ratios = []
    for _ in range(100):
        layout = random_layout(rng, aisles=(4, 24), bays=(10, 60))
        stops = random_stops(rng, layout, rng.randint(8, 10))
        plan, naive, s_shape, best = (f(layout, stops) for f in (plan_route, naive_route, s_shape_route, optimal_route))
        for route in (plan, naive, s_shape, best):
            assert_valid(layout, stops, route)
        assert best.length_m <= plan.length_m + TOL
        assert plan.length_m <= naive.length_m + TOL
        assert plan.length_m <= s_shape.length_m + TOL
        ratios.append(plan.length_m / best.length_m)
    assert max(ratios) <= 1.05, max(ratios)
    assert sum(ratios) / len(ratios) <= 1.01  # the mean is far tighter than the bound


HARD = [  # lists where 2-opt/or-opt from the starts alone ends > 5 % above the optimum (found by search)
    (
        Layout(aisles=15, bays_per_aisle=28, aisle_spacing_m=2.8, bay_length_m=1.3),
        [(10, 16), (3, 3), (3, 7), (1, 20), (2, 11), (13, 10), (7, 10), (3, 10)],
    ),
    (
        Layout(aisles=12, bays_per_aisle=37, aisle_spacing_m=3.0, bay_length_m=1.2, cross_aisles=3),
        [(3, 3), (10, 2), (9, 8), (0, 17), (3, 16), (10, 37), (3, 27), (3, 29), (4, 8)],
    ),
    (
        Layout(aisles=4, bays_per_aisle=22, aisle_spacing_m=3.2, bay_length_m=1.4),
        [(1, 1), (1, 7), (0, 20), (1, 9), (2, 16), (3, 20), (0, 7), (1, 16), (3, 1), (2, 6)],
    ),
    (  # needs or-opt to move a run whose removal alone saves nothing (its inside is long)
        Layout(aisles=11, bays_per_aisle=54, aisle_spacing_m=3.07, bay_length_m=1.06, cross_aisles=3, depot_x_m=3.34),
        [(5, 35), (0, 46), (0, 53), (2, 8), (6, 29), (4, 2), (5, 40), (2, 27), (5, 50), (2, 27)],
    ),
]


@pytest.mark.parametrize(("layout", "where"), HARD)
def test_plan_on_known_hard_lists(layout: Layout, where: list[tuple[int, int]]) -> None:
    stops = [S(a, b) for a, b in where]
    plan, best = plan_route(layout, stops), optimal_route(layout, stops)
    assert_valid(layout, stops, plan)
    assert plan.length_m <= 1.01 * best.length_m, plan.length_m / best.length_m


def test_plan_beats_location_order_on_a_busy_list() -> None:
    layout = Layout(aisles=16, bays_per_aisle=40, aisle_spacing_m=3.0, bay_length_m=1.2)
    rng = random.Random(3)
    stops = random_stops(rng, layout, 40)
    plan, naive = plan_route(layout, stops), naive_route(layout, stops)
    assert_valid(layout, stops, plan)
    assert plan.length_m <= 0.7 * naive.length_m  # location order walks every aisle back to the front


def test_plan_is_deterministic() -> None:
    rng = random.Random(5)
    layout = random_layout(rng, aisles=(10, 20), bays=(20, 50))
    stops = random_stops(rng, layout, 30)
    assert plan_route(layout, stops) == plan_route(layout, list(stops))


def test_s_shape_order_single_block() -> None:
    # Aisles 0, 2 and 3 hold stops: up aisle 0, down aisle 2, and aisle 3 (third, picker at the front) in and out.
    stops = [S(2, 8), S(0, 7), S(3, 2), S(0, 2), S(2, 3), S(3, 6)]
    route = s_shape_route(ONE_BLOCK, stops)
    assert [(stops[i].aisle, stops[i].bay) for i in route.order] == [(0, 2), (0, 7), (2, 8), (2, 3), (3, 2), (3, 6)]
    assert_valid(ONE_BLOCK, stops, route)


def test_s_shape_order_two_blocks() -> None:
    # Depot at x = 0. Up aisle 0 to the middle cross-aisle (picking (0, 2)); back block left to right: up aisle 0,
    # down aisle 3 (even count, ends at the middle); front block entered from the back at aisle 3: the nearer end
    # is aisle 4 (right), so down aisle 4, then aisle 1 last from the front: in and out.
    stops = [S(1, 4), S(0, 2), S(3, 9), S(0, 8), S(4, 3), S(3, 6)]
    route = s_shape_route(TWO_BLOCKS, stops)
    assert [(stops[i].aisle, stops[i].bay) for i in route.order] == [
        (0, 2),
        (0, 8),
        (3, 9),
        (3, 6),
        (4, 3),
        (1, 4),
    ]


def test_duplicates_share_one_visit() -> None:
    a, b, c = S(1, 5), S(3, 2), S(0, 9)
    stops = [a, b, a, c, a, b]
    for f in (plan_route, naive_route, s_shape_route, optimal_route):
        route = f(ONE_BLOCK, stops)
        assert_valid(ONE_BLOCK, stops, route)
        assert route.length_m == pytest.approx(f(ONE_BLOCK, [a, b, c]).length_m)
    same = plan_route(ONE_BLOCK, [b, b, b])
    assert same.order == [0, 1, 2]
    assert same.length_m == pytest.approx(2 * (9 + 1.5))


def test_single_stop_and_empty_list() -> None:
    for f in (plan_route, naive_route, s_shape_route, optimal_route):
        assert f(ONE_BLOCK, []) == Route(order=[], length_m=0.0)
        one = f(TWO_BLOCKS, [S(4, 10)])
        assert one.order == [0]
        assert one.length_m == pytest.approx(2 * (12 + 9.5))
    assert route_length(ONE_BLOCK, [], []) == 0.0


def test_optimal_route_refuses_too_many_distinct_stops() -> None:
    layout = Layout(aisles=10, bays_per_aisle=10)
    many = [S(i % 10, 1 + i // 10) for i in range(MAX_OPTIMAL_STOPS + 1)]
    with pytest.raises(ValueError, match="at most 13 distinct"):
        optimal_route(layout, many)
    # duplicates do not count
    repeated = [S(i % 3, 1) for i in range(MAX_OPTIMAL_STOPS + 5)]
    assert_valid(layout, repeated, optimal_route(layout, repeated))


# --- layout validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"aisles": 0}, "aisles must be an integer ≥ 1"),
        ({"aisles": 2.5}, "aisles must be an integer"),
        ({"aisles": True}, "aisles must be an integer"),
        ({"bays_per_aisle": 0}, "bays_per_aisle must be an integer ≥ 1"),
        ({"aisle_spacing_m": 0.0}, "aisle_spacing_m must be a positive number"),
        ({"aisle_spacing_m": math.nan}, "aisle_spacing_m must be a positive number"),
        ({"bay_length_m": -1.0}, "bay_length_m must be a positive number"),
        ({"cross_aisles": 1}, "cross_aisles must be an integer ≥ 2"),
        ({"bays_per_aisle": 3, "cross_aisles": 5}, "4 blocks, more than the 3 bays"),
        ({"depot_x_m": -0.5}, "depot_x_m must be on the front cross-aisle"),
        ({"depot_x_m": 12.5}, "depot_x_m must be on the front cross-aisle"),  # last aisle at x = 12
        ({"depot_x_m": math.inf}, "depot_x_m must be on the front cross-aisle"),
    ],
)
def test_layout_validation(fields: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"aisles": 5, "bays_per_aisle": 10}
    with pytest.raises(ValueError, match=message):
        Layout(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(("aisle", "bay"), [(-1, 1), (0, 0), (0, 1.5), (True, 1)])
def test_stop_validation(aisle: object, bay: object) -> None:
    with pytest.raises(ValueError, match=r"Stop\.(aisle|bay) must be an integer"):
        Stop(aisle=aisle, bay=bay)  # type: ignore[arg-type]


def test_layout_accepts_the_edges() -> None:
    Layout(aisles=5, bays_per_aisle=10, depot_x_m=12.0)  # depot at the last aisle
    Layout(aisles=1, bays_per_aisle=1)  # one aisle, one bay
    Layout(aisles=2, bays_per_aisle=3, cross_aisles=4)  # one bay per block
