"""The fair part of the monthly error analysis (差错分析), as pure functions: error rates per 1,000 pick lines with
Wilson score intervals, ranked by the interval's lower bound with small samples set apart (样本不足), and the SKUs
whose errors cluster at one location. :mod:`orderhub.picking.quality` reads the counts and calls these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from orderhub.stats import Z_95, wilson_interval

__all__ = [
    "CLUSTER_MIN_ERRORS",
    "CLUSTER_SHARE",
    "INSUFFICIENT",
    "MIN_LINES",
    "Z_95",
    "LineRate",
    "LocationCluster",
    "LocationCount",
    "RateCount",
    "location_clusters",
    "rank_rates",
    "wilson_interval",
]

MIN_LINES = 50  # fewer pick lines in the month than this: 样本不足, listed but not ranked
CLUSTER_SHARE = 0.6  # a SKU's errors "cluster" at a location holding at least this share of them …
CLUSTER_MIN_ERRORS = 3  # … and at least this many of them (one or two errors are no pattern)
INSUFFICIENT = "样本不足"


class RateCount(msgspec.Struct, frozen=True, kw_only=True):
    """A picker's or a SKU's pick lines in the month and how many of them had an error."""

    key: str
    name: str
    lines: int
    error_lines: int


class LineRate(msgspec.Struct, frozen=True, kw_only=True):
    """Error lines per 1,000 pick lines with their 95 % Wilson interval. ``rank`` 1 is the worst by the interval's
    lower bound (the rate it is at least, at 95 %); None with ``insufficient`` when there are fewer than
    ``min_lines`` lines — the interval is too wide to compare (``note`` 样本不足)."""

    key: str
    name: str
    lines: int
    error_lines: int
    per_1000: float
    low_per_1000: float
    high_per_1000: float
    rank: int | None
    insufficient: bool
    note: str = ""


def _per_1000(share: float) -> float:
    return round(share * 1000, 2)


def rank_rates(counts: Iterable[RateCount], *, min_lines: int = MIN_LINES) -> list[LineRate]:
    """Rates with intervals, worst first by the lower bound; those with too few lines after the ranked ones."""
    rows = []
    for c in counts:
        errors = min(c.error_lines, c.lines)  # a line has an error or not: never more error lines than lines
        low, high = wilson_interval(errors, c.lines)
        rows.append(
            (
                low,
                LineRate(
                    key=c.key,
                    name=c.name,
                    lines=c.lines,
                    error_lines=errors,
                    per_1000=_per_1000(errors / c.lines) if c.lines else 0.0,
                    low_per_1000=_per_1000(low),
                    high_per_1000=_per_1000(high),
                    rank=None,
                    insufficient=c.lines < min_lines,
                    note=INSUFFICIENT if c.lines < min_lines else "",
                ),
            )
        )
    rows.sort(key=lambda r: (r[1].insufficient, -r[0], -r[1].per_1000, -r[1].lines, r[1].key))
    out: list[LineRate] = []
    rank = 0
    for _, row in rows:
        if not row.insufficient:
            rank += 1
            row = msgspec.structs.replace(row, rank=rank)
        out.append(row)
    return out


class LocationCount(msgspec.Struct, frozen=True, kw_only=True):
    """One SKU's pick lines at one location in the month, and how many of them had an error."""

    location: str
    warehouse: str = ""
    lines: int
    error_lines: int


class LocationCluster(msgspec.Struct, frozen=True, kw_only=True):
    """A SKU with errors and the location holding most of them. ``error_share`` is that location's share of the
    SKU's error lines (``share_low``–``share_high`` its 95 % Wilson interval), ``pick_share`` its share of the SKU's
    pick lines. ``flagged``: at least ``CLUSTER_SHARE`` of the errors (and ``CLUSTER_MIN_ERRORS``) are there and the
    interval's lower bound is above ``pick_share`` — more errors there than its picks explain."""

    sku: str
    name: str
    lines: int
    error_lines: int
    locations: int  # locations the SKU was picked from in the month
    location: str
    warehouse: str
    location_lines: int
    location_error_lines: int
    error_share: float
    share_low: float
    share_high: float
    pick_share: float
    flagged: bool
    hint: str = ""


def location_clusters(
    skus: Iterable[tuple[str, str, Sequence[LocationCount]]],
    *,
    share: float = CLUSTER_SHARE,
    min_errors: int = CLUSTER_MIN_ERRORS,
) -> list[LocationCluster]:
    """For each SKU with errors (code, name, its counts per location), the location with the most error lines.

    Were errors independent of the location, a SKU's error line would be at a location with that location's share of
    its pick lines (``pick_share``); the count there is then Binomial(errors, pick_share). The location is flagged
    when the Wilson interval of its error share lies above ``pick_share`` (a one-sided test at about 2.5 %) and the
    share is at least ``share``. A SKU picked from one location only can never be flagged (its pick share is 1).
    Flagged first, then most error lines."""
    out = []
    for code, name, counts in skus:
        errors = sum(min(c.error_lines, c.lines) for c in counts)
        lines = sum(c.lines for c in counts)
        if errors == 0 or lines == 0:
            continue
        top = max(counts, key=lambda c: (min(c.error_lines, c.lines), -c.lines, c.location))
        at = min(top.error_lines, top.lines)
        low, high = wilson_interval(at, errors)
        pick_share = top.lines / lines
        flagged = at >= min_errors and at / errors >= share and low > pick_share
        out.append(
            LocationCluster(
                sku=code,
                name=name,
                lines=lines,
                error_lines=errors,
                locations=len(counts),
                location=top.location,
                warehouse=top.warehouse,
                location_lines=top.lines,
                location_error_lines=at,
                error_share=round(at / errors, 4),
                share_low=round(low, 4),
                share_high=round(high, 4),
                pick_share=round(pick_share, 4),
                flagged=flagged,
                hint=(
                    f"{at}/{errors} 次差错发生在库位 {top.location}，而该库位只占拣货行的 {pick_share:.0%}："
                    "请检查该库位的标签、照明、相邻商品或储位是否混放"
                )
                if flagged
                else "",
            )
        )
    return sorted(out, key=lambda c: (not c.flagged, -c.error_lines, -c.location_error_lines, c.sku))
