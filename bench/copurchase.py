"""Co-purchase mining over 1,000,000 orders: how long one run takes.

    python -m bench.copurchase [--orders 1000000] [--skus 500] [--pg postgresql://postgres@127.0.0.1:5432/]
                               [--sqlite] [--keep] [--numpy] [--seed 7]

Creates a scratch PostgreSQL database on the local server (dropped at the end unless ``--keep``; ``--sqlite`` uses a
throwaway SQLite file instead), gives it the real schema (``server.migrate``), and writes ``--orders`` orders over 90
days straight into ``sales_order`` / ``order_line`` (COPY on PostgreSQL, multi-row INSERTs on SQLite): 1–6 lines
drawn Zipf-like from ``--skus`` SKUs, 3 % cancelled, some gift lines, and

- a planted pair: ``PAIR-A`` and ``PAIR-B``, bought together (and only together) in 2 % of the orders;
- a planted non-pair: ``HOT-1`` and ``HOT-2``, each in 40 % of the orders, independently (co-count ≈ 16 %, lift ≈ 1);
- a quantity pattern: orders with ≥ 2 of ``CRISPS`` also buy ``DRINK`` four times in five (one in ten otherwise).

Then runs the mining job (:func:`orderhub.insights.copurchase.run_mining`: count, keep the patterns, close the run)
and prints the elapsed time, order lines/s and where the planted patterns ranked. ``--numpy`` also times the
alternative: reading the baskets into Python (COPY out) and counting pairs with numpy (the XᵀX of a sparse
orders × SKUs matrix, done as a sort-and-count of pair keys).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["main"]

T0 = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 90


def _baskets(n_orders: int, n_skus: int, seed: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(orders, lines) as COPY rows. Deterministic for a seed."""
    rng = random.Random(seed)
    skus = [f"SKU-{i:04d}" for i in range(n_skus)]
    weights = [1 / (k + 1) ** 1.05 for k in range(n_skus)]
    cum: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    orders: list[tuple[Any, ...]] = []
    lines: list[tuple[Any, ...]] = []
    span = DAYS * 86400
    for oid in range(1, n_orders + 1):
        placed = T0 + timedelta(seconds=rng.randrange(span))
        status = "cancelled" if rng.random() < 0.03 else "shipped"
        basket: dict[str, int] = {}
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            sku = skus[_bisect(cum, rng.random() * acc)]
            basket[sku] = basket.get(sku, 0) + rng.choice((1, 1, 1, 2))
        if rng.random() < 0.02:
            basket["PAIR-A"] = 1
            basket["PAIR-B"] = 1
        if rng.random() < 0.4:
            basket["HOT-1"] = 1
        if rng.random() < 0.4:
            basket["HOT-2"] = 1
        if rng.random() < 0.1:
            crisps = rng.choice((1, 1, 2, 3))
            basket["CRISPS"] = crisps
            if rng.random() < (0.8 if crisps >= 2 else 0.1):
                basket["DRINK"] = 1
        orders.append((oid, 1, f"B{oid}", status, "", "", 1000, 0, 0, 1000, placed, placed, placed))
        for no, (sku, qty) in enumerate(basket.items(), start=1):
            lines.append((oid, no, sku, qty, 500, 500 * qty, False))
        if rng.random() < 0.05:
            lines.append((oid, len(basket) + 1, "GIFT-BAG", 1, 0, 0, True))
    return orders, lines


def _bisect(cum: list[float], x: float) -> int:
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


ORDER_COLUMNS = [
    "id",
    "channel",
    "external_id",
    "status",
    "receiver_name",
    "receiver_phone",
    "paid_amount",
    "platform_discount",
    "shipping_fee",
    "goods_amount",
    "placed_at",
    "received_at",
    "updated_at",
]
LINE_COLUMNS = ["order", "line_no", "sku_code", "qty", "unit_price", "amount", "is_gift"]


async def _seed_pg(url: str, orders: list[tuple[Any, ...]], lines: list[tuple[Any, ...]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        await conn.execute(
            "INSERT INTO channel (id, code, platform, name, credentials, split_policy, ship_within_hours, active, "
            "created_at, updated_at) VALUES (1, 'bench', 'own_store', '挖掘基准店', '', 'exception', 48, TRUE, $1, $1)",
            now,
        )
        await conn.copy_records_to_table("sales_order", records=orders, columns=ORDER_COLUMNS)
        await conn.execute("SELECT setval(pg_get_serial_sequence('sales_order', 'id'), $1)", len(orders))
        await conn.copy_records_to_table("order_line", records=lines, columns=LINE_COLUMNS)
        await conn.execute("VACUUM ANALYZE sales_order")
        await conn.execute("VACUUM ANALYZE order_line")
    finally:
        await conn.close()


async def _seed_sqlite(orders: list[tuple[Any, ...]], lines: list[tuple[Any, ...]]) -> None:
    from orderhub import db

    now = datetime.now(UTC)
    await db.execute(
        "INSERT INTO channel (id, code, platform, name, credentials, split_policy, ship_within_hours, active, "
        "created_at, updated_at) VALUES (1, 'bench', 'own_store', '挖掘基准店', '', 'exception', 48, TRUE, {}, {})",
        now,
        now,
    )
    for table, columns, rows in (("sales_order", ORDER_COLUMNS, orders), ("order_line", LINE_COLUMNS, lines)):
        quoted = ", ".join(f'"{c}"' for c in columns)
        per = db.rows_per_statement(len(columns))
        row_marks = "(" + ", ".join(["{}"] * len(columns)) + ")"
        async with db.transaction():
            for chunk in db.chunks(rows, per):
                values = ", ".join([row_marks] * len(chunk))
                await db.execute(f"INSERT INTO {table} ({quoted}) VALUES {values}", *[v for row in chunk for v in row])


async def _numpy_count(url: str, min_count: int) -> tuple[float, int]:
    """The alternative: the baskets out of PostgreSQL (COPY … TO STDOUT), pairs counted in numpy. Returns (seconds,
    frequent pairs)."""
    import asyncpg
    import numpy as np

    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    buf = io.BytesIO()
    try:
        await conn.copy_from_query(
            'SELECT l."order", l.sku_code, SUM(l.qty) FROM sales_order so JOIN order_line l ON l."order" = so.id '
            "WHERE so.placed_at >= $1 AND so.placed_at < $2 AND so.status <> 'cancelled' AND so.reship_of IS NULL "
            'AND l.is_gift = FALSE AND l.qty > 0 GROUP BY l."order", l.sku_code ORDER BY l."order"',
            T0,
            T0 + timedelta(days=DAYS),
            output=buf,
            format="csv",
        )
    finally:
        await conn.close()
    read = time.perf_counter() - started
    text = buf.getvalue().decode()
    order_ids, codes = [], []
    for line in text.splitlines():
        order_id, code, _units = line.split(",")
        order_ids.append(int(order_id))
        codes.append(code)
    uniq, sku_idx = np.unique(np.array(codes), return_inverse=True)
    o = np.array(order_ids, dtype=np.int64)
    # rows are ordered by order: the pairs of each order are the (i, j) with i < j inside its run of rows
    longest = int(np.bincount(np.unique(o, return_inverse=True)[1]).max()) if len(o) else 1
    n = len(uniq)
    keys = []
    for gap in range(1, longest):
        left = np.arange(len(o) - gap)
        right = left + gap
        same = o[left] == o[right]
        a, b = sku_idx[left[same]], sku_idx[right[same]]
        keys.append(np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b))
    all_keys = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    _, counts = np.unique(all_keys, return_counts=True)
    frequent = int((counts >= min_count).sum())
    total = time.perf_counter() - started
    print(f"  numpy: baskets read in {read:.1f} s, pairs counted in {total - read:.1f} s", flush=True)
    return total, frequent


async def _run(args: argparse.Namespace, data_dir: Path) -> int:
    os.environ["ORDERHUB_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("ORDERHUB_REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ["ORDERHUB_LOG_LEVEL"] = "WARNING"
    scratch = f"ohcopurchase_{os.getpid()}"
    db_url = ""
    admin: Any = None
    if not args.sqlite:
        import asyncpg

        base = args.pg.rstrip("/")
        host = urlsplit(base).hostname or ""
        if host not in ("127.0.0.1", "localhost", "::1") and not args.allow_remote:
            print(f"refusing a non-local PostgreSQL ({host}); --allow-remote lifts this", file=sys.stderr)
            return 1
        admin = await asyncpg.connect(base + "/postgres")
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        db_url = f"{base}/{scratch}"
        os.environ["ORDERHUB_DATABASE_URL"] = db_url
    try:
        return await _bench(args, db_url)
    finally:
        if admin is not None:
            if not args.keep:
                await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
            else:
                print(f"kept database {scratch}")
            await admin.close()


async def _bench(args: argparse.Namespace, db_url: str) -> int:
    from orderhub import db
    from orderhub.insights import copurchase
    from orderhub.settings import get_settings
    from server.migrate import migrate
    from server.wiring import wire

    wire()
    await db.open_engine(get_settings())
    await migrate()
    print(f"generating {args.orders:,} orders …", flush=True)
    started = time.perf_counter()
    orders, lines = _baskets(args.orders, args.skus, args.seed)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    if db_url:
        await _seed_pg(db_url, orders, lines)
    else:
        await _seed_sqlite(orders, lines)
    print(
        f"generated in {generated:.1f} s, written in {time.perf_counter() - started:.1f} s: "
        f"{len(orders):,} orders, {len(lines):,} lines",
        flush=True,
    )
    del orders
    now = datetime.now(UTC)
    rows = await db.execute_returning(
        db.IdRow,
        "INSERT INTO copurchase_run (status, since, until, channels, region, min_support, min_count, max_qty, "
        "max_patterns, created_by, created_at) VALUES ('queued', {}, {}, '[]', '', {}, {}, 3, 5000, 'bench', {}) "
        "RETURNING id",
        T0,
        T0 + timedelta(days=DAYS),
        args.min_support,
        args.min_count,
        now,
    )
    run_id = rows[0].id
    started = time.perf_counter()
    run = await copurchase.run_mining(run_id)
    elapsed = time.perf_counter() - started
    print(
        f"mined {run.orders:,} orders ({len(lines):,} lines) in {elapsed:.1f} s = {len(lines) / elapsed:,.0f} lines/s, "
        f"{run.orders / elapsed:,.0f} orders/s; {run.pairs:,} frequent pairs, {run.patterns:,} patterns kept "
        f"(goal: 1,000,000 orders in < 60 s)",
        flush=True,
    )
    top = await copurchase.list_patterns(run_id, copurchase.PatternFilter(limit=5000))
    rank = {(tuple(p.antecedent), p.min_qty, p.consequent): n for n, p in enumerate(top, start=1)}
    planted = (
        (("PAIR-A",), 1, "PAIR-B"),
        (("HOT-1",), 1, "HOT-2"),
        (("CRISPS",), 2, "DRINK"),
        (("CRISPS",), 1, "DRINK"),
    )
    for key in planted:
        n = rank.get(key)
        p = top[n - 1] if n else None
        text = f"rank {n}, lift {p.lift:.2f}, confidence {p.confidence:.2f}, orders {p.orders:,}" if p else "not kept"
        print(f"  {' + '.join(key[0])} (≥{key[1]}) → {key[2]}: {text}")
    if args.numpy and db_url:
        seconds, frequent = await _numpy_count(db_url, args.min_count)
        print(f"numpy alternative: {seconds:.1f} s, {frequent:,} pairs with ≥ {args.min_count} orders", flush=True)
    await db.close()
    first = (tuple(top[0].antecedent), top[0].consequent) if top else None
    ok = first in ((("PAIR-A",), "PAIR-B"), (("PAIR-B",), "PAIR-A"))
    return 0 if ok else 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--skus", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--min-count", type=int, default=20)
    parser.add_argument("--min-support", type=float, default=0.0)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/")
    parser.add_argument("--sqlite", action="store_true", help="a throwaway SQLite database instead of PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep the scratch PostgreSQL database")
    parser.add_argument("--numpy", action="store_true", help="also time counting the pairs in numpy")
    parser.add_argument("--allow-remote", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-copurchase-") as tmp:
        return asyncio.run(_run(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
