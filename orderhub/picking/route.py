"""Pick paths: the order in which a picker visits a pick list's locations, and how far that walk is.

Walking model — a parallel-aisle ("ladder") warehouse, all lengths in metres:

* Aisles are numbered 0..A-1 from left to right; aisle ``i``'s centre line is at ``x = i × aisle_spacing_m``.
  The picker walks along the centre line and picks from both sides; the shelf level does not change the walk.
* Bays are numbered 1..B along every aisle, starting at the front. Bay ``b``'s pick point is the middle of the bay:
  ``y = (b − 0.5) × bay_length_m``. The aisle ends at ``y = B × bay_length_m``.
* Cross-aisles run perpendicular to the aisles and are modelled as lines of zero width lying on bay boundaries:
  one at the front (``y = 0``), one at the back (``y = B × bay_length_m``), and ``cross_aisles − 2`` middle ones
  splitting the aisles into ``cross_aisles − 1`` blocks: block ``k`` (0 = front) holds bays
  ``⌊k·B/blocks⌋ + 1 .. ⌊(k+1)·B/blocks⌋`` — equal blocks when ``B`` divides evenly, otherwise sizes differ by one.
  Walking happens only along aisles and cross-aisles.
* The depot (start and end of every tour, the pack area) is on the front cross-aisle at ``x = depot_x_m``.

The shortest walk between two pick points is computed analytically (exact for this graph): in the same aisle it
is ``|Δy|``; between different aisles it is ``|Δx|`` plus, when both points lie in the same block, the shorter of
the detours through that block's front or back cross-aisle (``ya + yb − 2·y_front`` or ``2·y_back − ya − yb``),
and plain ``|Δy|`` when they lie in different blocks (a cross-aisle between them gives a monotone path). Between
the depot and a pick point it is the Manhattan distance. Detours through other aisles never help (triangle
inequality), so no graph search is needed.

Heuristic (``plan_route``): stops sharing a bay are merged (distance 0 apart, kept consecutive, in input order).
The S-shape route (Roodbergen & de Koster's multi-block version, below) is built twice — from the leftmost and from
the rightmost aisle holding a stop — and a farthest-insertion tour is added as a third start (it reaches the "out
along the front, back along the back" tours that local search rarely gets to from an S-shape). Each start is
improved by 2-opt and or-opt (moving runs of 1–3 stops elsewhere, either way round) on the exact distance matrix
until neither finds an improving move. The best tour is then perturbed by a few double-bridge moves (20 rounds for
up to 14 positions, down to 2 at 40; each round re-improved, kept only if shorter) — cheap insurance against the
occasional poor local optimum. The random generator has a fixed seed, so the same stops always give the same route.
As a safeguard the location-order tour is compared too, so ``plan_route`` is never longer than ``naive_route``, and
never longer than ``s_shape_route`` (both S-shape orders are starts; local search only ever shortens a tour).

S-shape (described left-first; the mirrored variant swaps left and right): go from the depot to the front of the
leftmost aisle holding a stop and up it to the front of the farthest block holding a stop (picking on the way). In
that block, visit the sub-aisles holding stops left to right, traversing each one entirely and alternating
direction; the last one is traversed if the picker is at the back, or entered and left from the front otherwise, so
the picker ends on the block's front cross-aisle. Then, block by block towards the depot, enter each block from its
back, start at whichever end sub-aisle (leftmost or rightmost holding a stop) is nearer and S-shape through the
block the same way, ending on its front cross-aisle; finally return to the depot. Sub-aisles of the first aisle
below the farthest block were already picked on the way up. With 2
cross-aisles this is the classic S-shape (transversal) policy with the usual "return in the last aisle when the
count is odd" rule.

Exact optimum (``optimal_route``): any walk from the depot through all stops and back can be cut at the first
visit of each stop and every piece replaced by a shortest path without getting longer, so the shortest pick walk
is a shortest travelling-salesman tour over the grid's shortest-path metric (depot included). Held–Karp dynamic
programming over subsets of the distinct stop positions finds it exactly in O(2ⁿ·n²) time; it is a yardstick for
the heuristic (tests, bench) and refuses more than 13 distinct positions.

Every ``Route.length_m`` is ``route_length`` of its order: depot → stops in order → depot with the shortest walk
between consecutive points (so a route built from the S-shape order may be a little shorter than a strict S-shape
walk, which always traverses whole aisles). Lengths are rounded to the micrometre to hide float noise.
"""

from __future__ import annotations

import itertools
import math
import operator
import random
from collections.abc import Sequence
from functools import lru_cache

import msgspec

__all__ = [
    "MAX_OPTIMAL_STOPS",
    "Layout",
    "Route",
    "Stop",
    "naive_route",
    "optimal_route",
    "plan_route",
    "route_length",
    "s_shape_route",
    "walk_distance",
    "walk_to_depot",
]

MAX_OPTIMAL_STOPS = 13  # distinct positions optimal_route accepts (Held–Karp is O(2ⁿ·n²))
_EPS = 1e-9
_DIGITS = 6
_OR_OPT_RUN = 3  # or-opt moves runs of 1..3 stops
_KICK_FROM = 4  # positions needed for a double bridge (4 non-empty pieces of the tour)
_KICKS, _KICKS_MIN, _KICK_BUDGET = 20, 2, 4000  # perturbation rounds: 20 up to 14 positions, 10 at 20, 2 at 40


def _positive_int(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Layout.{name} must be an integer ≥ {minimum}, got {value!r}")


def _positive_float(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"Layout.{name} must be a positive number of metres, got {value!r}")


class Layout(msgspec.Struct, frozen=True, kw_only=True):
    """A parallel-aisle warehouse (see the module docstring for the coordinates)."""

    aisles: int
    bays_per_aisle: int
    aisle_spacing_m: float = 3.0
    bay_length_m: float = 1.0
    cross_aisles: int = 2
    depot_x_m: float = 0.0

    def __post_init__(self) -> None:
        _positive_int("aisles", self.aisles)
        _positive_int("bays_per_aisle", self.bays_per_aisle)
        _positive_float("aisle_spacing_m", self.aisle_spacing_m)
        _positive_float("bay_length_m", self.bay_length_m)
        _positive_int("cross_aisles", self.cross_aisles, minimum=2)
        if self.bays_per_aisle < self.cross_aisles - 1:
            raise ValueError(
                f"Layout: {self.cross_aisles} cross-aisles make {self.cross_aisles - 1} blocks, "
                f"more than the {self.bays_per_aisle} bays per aisle"
            )
        depot = self.depot_x_m
        width = (self.aisles - 1) * self.aisle_spacing_m
        if isinstance(depot, bool) or not isinstance(depot, int | float) or not 0 <= depot <= width:
            raise ValueError(
                f"Layout.depot_x_m must be on the front cross-aisle, between 0 and {width:g} m "
                f"(the first and last aisle), got {depot!r}"
            )

    @property
    def blocks(self) -> int:
        return self.cross_aisles - 1

    @property
    def aisle_length_m(self) -> float:
        return self.bays_per_aisle * self.bay_length_m


class Stop(msgspec.Struct, frozen=True, kw_only=True):
    """A pick location: ``aisle`` is the 0-based aisle index, ``bay`` the 1-based bay number from the front."""

    aisle: int
    bay: int

    def __post_init__(self) -> None:
        for name, value, minimum in (("aisle", self.aisle, 0), ("bay", self.bay, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"Stop.{name} must be an integer ≥ {minimum}, got {value!r}")


class Route(msgspec.Struct, frozen=True, kw_only=True):
    """``order``: indexes into the input stops in visiting order (each exactly once); ``length_m``: the closed
    walk depot → stops → depot."""

    order: list[int]
    length_m: float


class _Geometry(msgspec.Struct, frozen=True):
    x: tuple[float, ...]  # per aisle
    y: tuple[float, ...]  # per bay (index 0 = bay 1)
    block: tuple[int, ...]  # per bay
    front: tuple[float, ...]  # per bay: y of its block's front cross-aisle
    back: tuple[float, ...]  # per bay: y of its block's back cross-aisle
    depot_x: float


@lru_cache(maxsize=128)
def _geometry(layout: Layout) -> _Geometry:
    bays, blocks, bay_m = layout.bays_per_aisle, layout.blocks, layout.bay_length_m
    # Block k holds bays edges[k] + 1 .. edges[k + 1]; the remainder goes to the later blocks.
    edges = [k * bays // blocks for k in range(blocks + 1)]
    block_of: list[int] = []
    for k in range(blocks):
        block_of.extend([k] * (edges[k + 1] - edges[k]))
    return _Geometry(
        x=tuple(i * layout.aisle_spacing_m for i in range(layout.aisles)),
        y=tuple((b + 0.5) * bay_m for b in range(bays)),
        block=tuple(block_of),
        front=tuple(edges[k] * bay_m for k in block_of),
        back=tuple(edges[k + 1] * bay_m for k in block_of),
        depot_x=float(layout.depot_x_m),
    )


def _check(layout: Layout, stop: Stop) -> None:
    if not 0 <= stop.aisle < layout.aisles or not 1 <= stop.bay <= layout.bays_per_aisle:
        raise ValueError(
            f"stop (aisle {stop.aisle}, bay {stop.bay}) is outside the layout "
            f"(aisles 0..{layout.aisles - 1}, bays 1..{layout.bays_per_aisle})"
        )


def _between(g: _Geometry, a: Stop, b: Stop) -> float:
    ya, yb = g.y[a.bay - 1], g.y[b.bay - 1]
    if a.aisle == b.aisle:
        return abs(ya - yb)
    dx = abs(g.x[a.aisle] - g.x[b.aisle])
    if g.block[a.bay - 1] != g.block[b.bay - 1]:
        return dx + abs(ya - yb)
    front, back = g.front[a.bay - 1], g.back[a.bay - 1]
    return dx + min(ya + yb - 2 * front, 2 * back - ya - yb)


def _from_depot(g: _Geometry, a: Stop) -> float:
    return abs(g.depot_x - g.x[a.aisle]) + g.y[a.bay - 1]


def walk_distance(layout: Layout, a: Stop, b: Stop) -> float:
    """Shortest walk in metres between two pick points (0 when they share a bay)."""
    _check(layout, a)
    _check(layout, b)
    return round(_between(_geometry(layout), a, b), _DIGITS)


def route_length(layout: Layout, stops: Sequence[Stop], order: Sequence[int]) -> float:
    """Length of the closed walk depot → ``stops[order[0]]`` → … → ``stops[order[-1]]`` → depot."""
    if sorted(order) != list(range(len(stops))):
        raise ValueError("order must list every stop index exactly once")
    for stop in stops:
        _check(layout, stop)
    if not order:
        return 0.0
    g = _geometry(layout)
    total = _from_depot(g, stops[order[0]]) + _from_depot(g, stops[order[-1]])
    for i, j in itertools.pairwise(order):
        total += _between(g, stops[i], stops[j])
    return round(total, _DIGITS)


def walk_to_depot(layout: Layout, stops: Sequence[Stop]) -> float:
    """Length of the open walk ``stops[0]`` → … → ``stops[-1]`` → depot (what is left of a route once the picker
    heads for its next stop): the shortest walk between consecutive points, as :func:`route_length` counts it."""
    for stop in stops:
        _check(layout, stop)
    if not stops:
        return 0.0
    g = _geometry(layout)
    total = _from_depot(g, stops[-1])
    for a, b in itertools.pairwise(stops):
        total += _between(g, a, b)
    return round(total, _DIGITS)


# ---------------------------------------------------------------------------------------------------------------
# Distinct positions and the distance matrix (node 0 = depot, node p + 1 = position p)


class _Problem:
    __slots__ = ("dist", "groups", "layout", "positions", "stops")

    def __init__(self, layout: Layout, stops: Sequence[Stop]) -> None:
        for stop in stops:
            _check(layout, stop)
        index: dict[tuple[int, int], int] = {}
        groups: list[list[int]] = []
        positions: list[Stop] = []
        for i, stop in enumerate(stops):
            key = (stop.aisle, stop.bay)
            p = index.get(key)
            if p is None:
                index[key] = len(groups)
                groups.append([i])
                positions.append(stop)
            else:
                groups[p].append(i)
        g = _geometry(layout)
        # Same formulas as _between / _from_depot, inlined: this matrix is most of a short route's planning time.
        points = [
            (s.aisle, g.x[s.aisle], g.y[s.bay - 1], g.block[s.bay - 1], g.front[s.bay - 1], g.back[s.bay - 1])
            for s in positions
        ]
        n = len(points) + 1
        dist = [[0.0] * n for _ in range(n)]
        depot_row = dist[0]
        for p, (aisle, x, y, block, front, back) in enumerate(points, start=1):
            row = dist[p]
            row[0] = depot_row[p] = abs(g.depot_x - x) + y
            for q in range(p + 1, n):
                aisle_q, x_q, y_q, block_q, _, _ = points[q - 1]
                if aisle == aisle_q:
                    value = abs(y - y_q)
                elif block != block_q:
                    value = abs(x - x_q) + abs(y - y_q)
                else:
                    value = abs(x - x_q) + min(y + y_q - 2 * front, 2 * back - y - y_q)
                row[q] = dist[q][p] = value
        self.layout, self.stops, self.positions, self.groups, self.dist = layout, stops, positions, groups, dist

    def tour_length(self, nodes: Sequence[int]) -> float:
        """Closed tour length of a visiting order of nodes 1..n (the depot is implicit at both ends)."""
        d = self.dist
        prev, total = 0, 0.0
        for node in nodes:
            total += d[prev][node]
            prev = node
        return total + d[prev][0]

    def route(self, nodes: Sequence[int]) -> Route:
        order = [i for node in nodes for i in self.groups[node - 1]]
        return Route(order=order, length_m=route_length(self.layout, self.stops, order))


# ---------------------------------------------------------------------------------------------------------------
# Constructions (each returns the nodes 1..n in visiting order)


def _s_shape_nodes(problem: _Problem, mirror: bool) -> list[int]:
    """S-shape order, starting at the leftmost (``mirror``: rightmost) aisle holding a stop."""
    g = _geometry(problem.layout)
    side = -1 if mirror else 1
    remaining: dict[int, dict[int, list[int]]] = {}  # block -> aisle -> nodes in that sub-aisle
    for node, pos in enumerate(problem.positions, start=1):
        remaining.setdefault(g.block[pos.bay - 1], {}).setdefault(pos.aisle, []).append(node)

    def y_of(node: int) -> float:
        return g.y[problem.positions[node - 1].bay - 1]

    order: list[int] = []
    first = min((a for sub in remaining.values() for a in sub), key=lambda a: side * a)
    far = max(remaining)
    # Up the first aisle to the front of the farthest block, picking on the way.
    for block in range(far):
        order.extend(sorted(remaining.get(block, {}).pop(first, []), key=y_of))
    current = first
    for block in range(far, -1, -1):
        subs = remaining.get(block, {})
        if not subs:
            continue
        if block == far:  # entered at its front, from the first aisle: carry on in the same direction
            aisles = sorted(subs, key=lambda a: side * a)
            at_back = False
        else:  # entered at its back, where the previous block ended: start at the nearer end
            left, right = min(subs), max(subs)
            near_left = abs(g.x[current] - g.x[left]) <= abs(g.x[current] - g.x[right])
            aisles = sorted(subs, reverse=not near_left)
            at_back = True
        for aisle in aisles:  # up when at the front, down when at the back
            order.extend(sorted(subs[aisle], key=y_of, reverse=at_back))
            at_back = not at_back
        # (Whether the last sub-aisle is traversed or entered and left from the front does not change the order,
        # only the walk, and the walk between consecutive stops is always the shortest one.)
        current = aisles[-1]
    return order


def _farthest_insertion_nodes(problem: _Problem) -> list[int]:
    """Farthest insertion: a different shape of start (often the "out along the front, back along the back" tours
    that local search cannot reach from an S-shape)."""
    d = problem.dist
    tour = [0, 0]
    nearest = list(d[0])  # distance from each node to the tour built so far
    left = set(range(1, len(d)))
    while left:
        node = max(left, key=lambda v: (nearest[v], -v))
        row = d[node]
        at = min(range(len(tour) - 1), key=lambda i: d[tour[i]][node] + row[tour[i + 1]] - d[tour[i]][tour[i + 1]])
        tour.insert(at + 1, node)
        left.remove(node)
        for v in left:
            if row[v] < nearest[v]:
                nearest[v] = row[v]
    return tour[1:-1]


def _naive_nodes(problem: _Problem) -> list[int]:
    positions = problem.positions
    return sorted(range(1, len(positions) + 1), key=lambda n: (positions[n - 1].aisle, positions[n - 1].bay))


# ---------------------------------------------------------------------------------------------------------------
# Local search on a closed tour t (t[0] == t[-1] == 0, the depot); distances are symmetric


def _two_opt(t: list[int], d: list[list[float]]) -> bool:
    """First-improvement 2-opt until no improving reversal is left; True if anything changed."""
    n = len(t)
    changed = False
    improved = True
    while improved:
        improved = False
        for i in range(n - 3):
            a, b = t[i], t[i + 1]
            da, db = d[a], d[b]
            dab = da[b]
            for j in range(i + 2, n - 1):
                c, e = t[j], t[j + 1]
                if da[c] + db[e] - dab - d[c][e] < -_EPS:
                    t[i + 1 : j + 1] = t[j:i:-1]
                    b = t[i + 1]
                    db, dab = d[b], da[b]
                    improved = changed = True
    return changed


def _or_opt(t: list[int], d: list[list[float]]) -> bool:
    """Move the first run of 1.._OR_OPT_RUN stops found a better place for (either way round); True if one moved."""
    n = len(t)
    edge = [d[u][v] for u, v in itertools.pairwise(t)]  # edge[k]: t[k] -> t[k + 1]
    for length in range(1, min(_OR_OPT_RUN, n - 3) + 1):
        for i in range(1, n - length):
            s0, s1 = t[i], t[i + length - 1]
            # Removing the run saves this much (negative possible for a run: its inside is not counted).
            gain = edge[i - 1] + edge[i + length - 1] - d[t[i - 1]][t[i + length]] - _EPS
            if length == 1 and gain <= 0:  # a single stop on a shortest path between its neighbours stays
                continue
            d0, d1 = d[s0], d[s1]
            for k in itertools.chain(range(i - 1), range(i + length, n - 1)):  # edges outside the run
                u, v = t[k], t[k + 1]
                forward = d0[u] + d1[v] - edge[k]
                backward = d1[u] + d0[v] - edge[k]
                if forward < gain or backward < gain:
                    segment = t[i : i + length]
                    if backward < forward:
                        segment.reverse()
                    rest = t[:i] + t[i + length :]
                    at = k + 1 if k < i else k + 1 - length
                    t[:] = [*rest[:at], *segment, *rest[at:]]
                    return True
    return False


def _local_search(nodes: list[int], d: list[list[float]]) -> list[int]:
    t = [0, *nodes, 0]
    _two_opt(t, d)
    while _or_opt(t, d):
        _two_opt(t, d)
    return t[1:-1]


def _kicks(m: int) -> int:
    """Perturbation rounds for m distinct positions: many while a round is cheap, a few for long lists."""
    return min(_KICKS, max(_KICKS_MIN, _KICK_BUDGET // (m * m)))


# ---------------------------------------------------------------------------------------------------------------
# Public routes


def s_shape_route(layout: Layout, stops: Sequence[Stop]) -> Route:
    """The S-shape heuristic alone: the shorter of the left-first and right-first S-shape orders."""
    problem = _Problem(layout, stops)
    if not stops:
        return Route(order=[], length_m=0.0)
    candidates = [_s_shape_nodes(problem, mirror) for mirror in (False, True)]
    return problem.route(min(candidates, key=problem.tour_length))


def naive_route(layout: Layout, stops: Sequence[Stop]) -> Route:
    """Location-code order: sorted by (aisle, bay), input order among equals, shortest walk between stops."""
    for stop in stops:
        _check(layout, stop)
    order = sorted(range(len(stops)), key=lambda i: (stops[i].aisle, stops[i].bay, i))
    return Route(order=order, length_m=route_length(layout, stops, order))


def plan_route(layout: Layout, stops: Sequence[Stop]) -> Route:
    """The planned pick path: S-shape (both ways) and farthest-insertion starts, each improved by 2-opt and or-opt on
    the exact distances, the best one then perturbed (double bridge) and re-improved a few times. Deterministic;
    never longer than ``s_shape_route`` or ``naive_route``."""
    problem = _Problem(layout, stops)
    if not stops:
        return Route(order=[], length_m=0.0)
    d = problem.dist
    m = len(problem.positions)
    best: list[int] = []
    best_length = math.inf
    starts = (_s_shape_nodes(problem, False), _s_shape_nodes(problem, True), _farthest_insertion_nodes(problem))
    for start in dict.fromkeys(tuple(s) for s in starts):  # distinct starts, in order
        nodes = _local_search(list(start), d)
        length = problem.tour_length(nodes)
        if length < best_length - _EPS:
            best, best_length = nodes, length
    if m >= _KICK_FROM:
        rng = random.Random(m)  # fixed seed: same stops, same route
        for _ in range(_kicks(m)):
            a, b, c = sorted(rng.sample(range(1, m), 3))
            nodes = _local_search([*best[:a], *best[b:c], *best[a:b], *best[c:]], d)
            length = problem.tour_length(nodes)
            if length < best_length - _EPS:
                best, best_length = nodes, length
    naive = _naive_nodes(problem)
    if problem.tour_length(naive) < best_length - _EPS:  # (not seen in practice; keeps the promise above)
        best = _local_search(naive, d)
    return problem.route(best)


def optimal_route(layout: Layout, stops: Sequence[Stop]) -> Route:
    """The shortest tour (Held–Karp over the distinct positions); at most ``MAX_OPTIMAL_STOPS`` of them."""
    problem = _Problem(layout, stops)
    n = len(problem.positions)
    if n > MAX_OPTIMAL_STOPS:
        raise ValueError(f"optimal_route handles at most {MAX_OPTIMAL_STOPS} distinct stops, got {n}")
    if n == 0:
        return Route(order=[], length_m=0.0)
    d = problem.dist
    # cost[mask][j]: shortest path from the depot through exactly the positions in mask, ending at position j.
    full = 1 << n
    columns = [[d[i + 1][j + 1] for i in range(n)] for j in range(n)]
    cost: list[list[float]] = [[math.inf] * n for _ in range(full)]
    for j in range(n):
        cost[1 << j][j] = d[0][j + 1]
    add = operator.add
    for mask in range(1, full):
        if mask & (mask - 1) == 0:
            continue
        row = cost[mask]
        for j in range(n):
            bit = 1 << j
            if mask & bit:  # positions outside mask ^ bit have cost inf there, so they never win
                row[j] = min(map(add, cost[mask ^ bit], columns[j]))
    last = cost[full - 1]
    end = min(range(n), key=lambda j: last[j] + d[j + 1][0])
    # Walk back through the table (the same sums, so the equality test is exact).
    nodes = [end]
    mask = full - 1
    while mask & (mask - 1):
        j = nodes[-1]
        prev_mask = mask ^ (1 << j)
        prev, col, target = cost[prev_mask], columns[j], cost[mask][j]
        nodes.append(next(i for i in range(n) if prev_mask >> i & 1 and prev[i] + col[i] == target))
        mask = prev_mask
    nodes.reverse()
    return problem.route([j + 1 for j in nodes])
