"""Address standardisation benchmark: µs per address on the worker path.

    python -m bench.address [--n 20000] [--seed 1]

The mix (drawn from the division table, every province): 60 % one-line addresses in the spellings buyers use (full
names, short names, no province, no city, spaces and commas), 30 % separate fields as platforms send them, 10 %
failures (no division at all, ambiguous names, a city under the wrong province, no district). Each call is timed on
its own; the one-time index build is measured first and printed separately. Phones are timed too, for reference.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from collections.abc import Sequence

from orderhub.address import get_index, normalise_phone, standardise
from orderhub.address.divisions import MUNICIPALITIES, SARS, Division, load_divisions, short_names

__all__ = ["Case", "main", "make_cases", "percentile", "time_calls"]

Case = tuple[str, dict[str, str]]  # (label, keyword arguments for standardise)

STREETS = ("人民路", "解放路", "中山路", "建设大道", "幸福街", "文化路", "新华路", "长江路", "和平街", "科技园路")
BUILDINGS = ("", "3栋", "A座", "5号楼2单元", "阳光花园7幢", "星河湾小区12栋")


def _detail(rng: random.Random) -> str:
    room = f"{rng.randint(1, 30)}{rng.randint(1, 4):02d}室" if rng.random() < 0.7 else ""
    return f"{rng.choice(STREETS)}{rng.randint(1, 999)}号{rng.choice(BUILDINGS)}{room}"


def make_cases(n: int, seed: int) -> list[Case]:
    """``n`` (label, standardise keyword arguments) pairs in the mix described above."""
    rng = random.Random(seed)
    divisions = load_divisions()
    by_code = {d.code: d for d in divisions}
    districts = [d for d in divisions if d.level == "district" and d.province not in SARS and d.province != "710000"]

    def city_of(d: Division) -> str:
        parent = by_code[d.parent]
        if d.province in MUNICIPALITIES:
            return by_code[d.province].name
        return parent.name if parent.level == "city" else ""

    def one_line(d: Division) -> tuple[str, str]:
        prov, city = by_code[d.province].name, city_of(d)
        style = rng.choice(("full", "full", "short", "no_province", "no_city", "spaced"))
        if style == "short":
            prov = (short_names(prov, "province") or [prov])[0]
            city = (short_names(city, "city") or [city])[0] if city and d.province not in MUNICIPALITIES else city
        elif style == "no_province" and d.province not in MUNICIPALITIES and city:
            prov = ""
        elif style == "no_city" and d.province not in MUNICIPALITIES:
            city = ""
        sep = " " if style == "spaced" else ""
        return style, sep.join(p for p in (prov, city, d.name, _detail(rng)) if p)

    failures = (
        "文三路100号",
        "朝阳区建国路1号",
        "鼓楼区中山路1号",
        "浙江省南京市鼓楼区中山路",
        "浙江省杭州市文三路100号",
        "北京朝阳门内大街1号",
        "江苏省鼓楼区中山路1号",
        "火星基地一号",
    )
    cases: list[Case] = []
    for _ in range(n):
        roll = rng.random()
        d = rng.choice(districts)
        if roll < 0.6:
            style, text = one_line(d)
            cases.append((f"one-line/{style}", {"address": text}))
        elif roll < 0.9:
            fields = {
                "province": by_code[d.province].name,
                "city": city_of(d) or d.name,
                "district": d.name,
                "detail": _detail(rng),
            }
            cases.append(("fields", fields))
        else:
            text = rng.choice(failures)
            cases.append(("failure", {"address": text}))
    return cases


def time_calls(cases: Sequence[Case]) -> tuple[list[float], Counter[str], int]:
    """Per-call µs, the count per label, and how many came back ok."""
    out: list[float] = []
    labels: Counter[str] = Counter()
    ok = 0
    clock = time.perf_counter_ns
    for label, kwargs in cases:
        t0 = clock()
        result = standardise(**kwargs)
        out.append((clock() - t0) / 1000)
        labels[label] += 1
        ok += result.ok
    return out, labels, ok


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="addresses to standardise (default 20000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    index = get_index()
    build_ms = (time.perf_counter() - t0) * 1000
    print(f"index build (once per process): {build_ms:.1f} ms, {len(index.by_code)} divisions")

    cases = make_cases(args.n, args.seed)
    time_calls(cases[: min(len(cases), 1000)])  # warm-up
    micros, labels, ok = time_calls(cases)
    mix = ", ".join(f"{k} {v}" for k, v in sorted(labels.items()))
    print(f"addresses: n={len(micros)} ok={ok} ({mix})")
    print(
        f"µs per address: mean {statistics.fmean(micros):.1f}  p50 {percentile(micros, 50):.1f}  "
        f"p99 {percentile(micros, 99):.1f}  max {max(micros):.1f}"
    )

    rng = random.Random(args.seed)
    phones = [
        rng.choice(
            (
                f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}",
                f"+86 138 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}-{rng.randint(1000, 9999)}",
                f"0755-{rng.randint(20_000_000, 89_999_999)}",
                "138****8000",
            )
        )
        for _ in range(args.n)
    ]
    phone_us: list[float] = []
    phone_ok = 0
    for p in phones:
        t0 = time.perf_counter_ns()
        phone_ok += normalise_phone(p).ok
        phone_us.append((time.perf_counter_ns() - t0) / 1000)
    print(
        f"µs per phone:   mean {statistics.fmean(phone_us):.1f}  p50 {percentile(phone_us, 50):.1f}  "
        f"p99 {percentile(phone_us, 99):.1f}  (ok {phone_ok}/{len(phone_us)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
