"""Reconciling one day of settlement: 100,000 lines against their orders.

    python -m bench.reconcile [--lines 100000] [--page 10000] [--database-url postgresql://…]

Seeds a shop with ``lines / 3`` shipped orders (rows written directly: this measures the reconciliation, not intake)
and their expected payouts, then stores a bill day of ``--lines`` settlement lines — sale, commission and, for a
tenth of the orders, a refund the hub never heard of, plus a few lines on no order — in pages of ``--page`` lines
as a settlement pull does (:func:`orderhub.finance.settlements.store_lines`: upsert by line key, then reconcile
every order the page touches, in the page's transaction). Prints lines/s and the total, then re-runs the whole day
(:func:`orderhub.finance.reconcile.reconcile_day`) and checks it changed nothing. The issue's goal: a day of 100,000
lines in under a minute on the 2-CPU box. A throwaway SQLite database unless ``--database-url`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

__all__ = ["main"]


async def _run(args: argparse.Namespace, data_dir: Path) -> int:
    os.environ["ORDERHUB_DATA_DIR"] = str(data_dir)
    if args.database_url:
        os.environ["ORDERHUB_DATABASE_URL"] = args.database_url
    os.environ.setdefault("ORDERHUB_REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ["ORDERHUB_LOG_LEVEL"] = "WARNING"

    import msgspec

    from orderhub import clock, db
    from orderhub.finance import payouts, reconcile
    from orderhub.finance.fees import FeeRates, save_rates
    from orderhub.finance.port import LineKind, SettlementLineIn
    from orderhub.finance.settlements import store_lines
    from orderhub.settings import get_settings
    from server.migrate import migrate
    from server.wiring import wire

    wire()
    await db.open_engine(get_settings())
    await migrate()
    run = time.time_ns() % 10**9
    code = f"bench{run}"
    now = clock.now()
    rows = await db.execute_returning(
        db.IdRow,
        "INSERT INTO channel (code, platform, name, credentials, split_policy, ship_within_hours, active, created_at, "
        "updated_at) "
        "VALUES ({}, 'own_store', {}, '', 'exception', 48, TRUE, {}, {}) RETURNING id",
        code,
        "对账基准店",
        now,
        now,
    )
    channel_id = rows[0].id
    await save_rates(code, FeeRates(commission_bp=500, payment_fee_bp=60), actor="bench")
    orders = max(1, args.lines // 3)
    print(f"seeding {orders:,} shipped orders …", flush=True)
    started = time.perf_counter()
    ids: list[int] = []
    per = db.rows_per_statement(12)
    for start in range(0, orders, per):
        count = min(per, orders - start)
        values = ", ".join(["({}, {}, 'shipped', 'x', '13800000000', 10000, 0, 0, 10000, {}, {}, {})"] * count)
        args_: list[object] = []
        for n in range(start, start + count):
            args_ += [channel_id, f"R{run}-{n}", now, now, now]
        inserted = await db.execute_returning(
            db.IdRow,
            "INSERT INTO sales_order (channel, external_id, status, receiver_name, receiver_phone, paid_amount, "
            f"platform_discount, shipping_fee, goods_amount, placed_at, received_at, updated_at) VALUES {values} "
            "RETURNING id",
            *args_,
        )
        ids += [r.id for r in inserted]
    for start in range(0, len(ids), per):
        chunk = ids[start : start + per]
        await db.execute(
            'INSERT INTO order_line ("order", line_no, sku_code, qty, unit_price, amount) VALUES '
            + ", ".join(["({}, 1, 'SKU-B', 1, 10000, 10000)"] * len(chunk)),
            *chunk,
        )
    seeded = time.perf_counter() - started
    started = time.perf_counter()
    for start in range(0, len(ids), 2_000):
        async with db.transaction():
            await payouts.compute(ids[start : start + 2_000])
    computed = time.perf_counter() - started
    print(f"seeded in {seeded:.1f} s; expected payouts of {len(ids):,} orders computed in {computed:.1f} s", flush=True)

    day = date(2026, 11, 30)
    settled = datetime.combine(day, dtime(10), tzinfo=clock.SHANGHAI).astimezone(UTC)
    lines: list[SettlementLineIn] = []
    for n in range(orders):
        ext = f"R{run}-{n}"
        lines.append(
            SettlementLineIn(
                line_key=f"{ext}-s",
                external_id=ext,
                kind=LineKind.SALE,
                amount=10_000,
                settled_at=settled,
                bill_date=day,
            )
        )
        lines.append(
            SettlementLineIn(
                line_key=f"{ext}-c",
                external_id=ext,
                kind=LineKind.COMMISSION,
                amount=-500,
                settled_at=settled,
                bill_date=day,
            )
        )
        third = (
            SettlementLineIn(
                line_key=f"{ext}-r",
                external_id=ext,
                kind=LineKind.REFUND,
                amount=-2_000,
                settled_at=settled + timedelta(hours=1),
                bill_date=day,
            )
            if n % 10 == 0
            else SettlementLineIn(
                line_key=f"{ext}-p",
                external_id=ext,
                kind=LineKind.PAYMENT_FEE,
                amount=-60,
                settled_at=settled,
                bill_date=day,
            )
        )
        lines.append(third)
    while len(lines) < args.lines:
        k = len(lines)
        lines.append(
            SettlementLineIn(
                line_key=f"stray-{run}-{k}",
                external_id=f"NOPE-{k}",
                kind=LineKind.SALE,
                amount=100,
                settled_at=settled,
                bill_date=day,
            )
        )
    lines = lines[: args.lines]
    started = time.perf_counter()
    stored = 0
    for start in range(0, len(lines), args.page):
        result = await store_lines(
            channel_id, source="pull", batch_key=f"bench:{start}", lines=lines[start : start + args.page]
        )
        stored += result.inserted
    elapsed = time.perf_counter() - started
    print(
        f"stored and reconciled {stored:,} lines in {elapsed:.1f} s = {stored / elapsed:,.0f} lines/s "
        f"(goal: 100,000 in < 60 s)",
        flush=True,
    )

    class _Sum(msgspec.Struct):
        n: int
        difference: int

    before = await db.fetch_one_as(
        _Sum,
        "SELECT COUNT(*) AS n, COALESCE(SUM(difference), 0) AS difference FROM reconciliation WHERE channel = {}",
        channel_id,
    )
    started = time.perf_counter()
    async with db.transaction():
        rerun = await reconcile.reconcile_day(channel_id, day.isoformat())
    again = time.perf_counter() - started
    after = await db.fetch_one_as(
        _Sum,
        "SELECT COUNT(*) AS n, COALESCE(SUM(difference), 0) AS difference FROM reconciliation WHERE channel = {}",
        channel_id,
    )
    print(
        f"re-ran the day ({rerun:,} rows) in {again:.1f} s; rows {before.n if before else 0:,} → "
        f"{after.n if after else 0:,}, difference {before.difference if before else 0} → "
        f"{after.difference if after else 0} fen",
        flush=True,
    )
    await db.close()
    return 0 if before == after else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        return asyncio.run(_run(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
