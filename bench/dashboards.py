"""Dashboards over a big history: every managers' endpoint timed with 1,000,000 orders in PostgreSQL.

    python -m bench.dashboards --url http://127.0.0.1:8000 --admin-user admin --admin-password … \\
        --database-url postgresql://postgres@127.0.0.1:5432/ohbench [--orders 1000000] [--days 60] [--requests 200]

**Setup** (skipped with ``--no-seed``, e.g. for a second run on the same database): through the admin API four
warehouses in three regions and three channels; then, straight into the database (an API push of a million orders
would take the better part of an hour and measure the pipeline, not the dashboards), ``--orders`` orders spread over
the last ``--days`` days (the newest today, up to now), with the event log a real order leaves: ``order.received``,
``received → ready`` routed to one warehouse, then for most ``ready → shipped`` about two hours later (some late
against their ``ship_by``), some cancelled, some sent to exception with a reason, and today's newest still open. The
rollups are then counted from that log by the hub's own catch-up job (the running workers), and the bench waits until
it has caught up, printing how long that took (events/s of the catch-up).

**Measured**: each endpoint in ``ENDPOINTS`` (the three tiers, the caller's own page, drill-downs, the health index,
the ranking, alerts) is called ``--requests`` times one after another over one keep-alive connection after
``--warmup`` calls, as an unbound admin (hub-wide: the widest scope) and, for the warehouse endpoints, as a manager
bound to one warehouse. Latency = response fully read − request sent. Prints p50 / p90 / p99 / max per endpoint and
the verdict against the issue's goal, **p99 ≤ 50 ms** per endpoint. An endpoint the hub does not have (404) is
reported as such, not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

import asyncpg
import httpx

from bench.ingest import BenchError, Hub, check_local, percentile

GOAL_P99_MS = 50.0
REGIONS = (("华东", "上海市"), ("华东", "江苏省"), ("华南", "广东省"), ("华北", "北京市"))
PLATFORMS = (("tmall", "天猫旗舰店"), ("pdd", "拼多多店"), ("douyin", "抖店"))

# (label, path template, who): {wh} is a warehouse id; who is "admin" or "bound" (a manager bound to {wh}).
ENDPOINTS: tuple[tuple[str, str, str], ...] = (
    ("strategic", "/api/v1/dash/strategic", "admin"),
    ("tactical (all)", "/api/v1/dash/tactical", "admin"),
    ("tactical (one, bound)", "/api/v1/dash/tactical?warehouse_id={wh}", "bound"),
    ("operations (bound)", "/api/v1/dash/operations?warehouse_id={wh}", "bound"),
    ("me", "/api/v1/dash/me", "bound"),
    ("drill shipped", "/api/v1/dash/drill?metric=shipped&limit=50", "admin"),
    ("drill exceptions", "/api/v1/dash/drill?metric=exceptions&limit=50", "admin"),
    ("drill backlog (bound)", "/api/v1/dash/drill?metric=backlog&warehouse_id={wh}&limit=50", "bound"),
    ("health overview", "/api/v1/health/overview", "admin"),
    ("health ranking", "/api/v1/health/ranking?kind=warehouse", "admin"),
    ("alerts", "/api/v1/alerts", "admin"),
)


def _local_dsn(dsn: str) -> None:
    host = urlparse(dsn).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1", ""):
        raise ValueError(f"--database-url must be a local server (got {host!r})")


async def _setup(hub: Hub, tag: str, log: Any) -> tuple[list[str], list[str]]:
    warehouses: list[str] = []
    for i, (region, province) in enumerate(REGIONS, 1):
        code = f"DB{tag}{i}"
        await hub.post(
            "/api/v1/warehouses",
            {"code": code, "name": f"看板压测{region}{i}号仓", "region": region, "provinces": [province]},
        )
        warehouses.append(code)
    channels = []
    for i, (platform, name) in enumerate(PLATFORMS, 1):
        code = f"dash_{tag.lower()}_{i}"
        await hub.create_channel(code, f"看板压测 {name}", warehouses[0], platform)
        channels.append(code)
    log(f"  warehouses {', '.join(warehouses)}; channels {', '.join(channels)}")
    return warehouses, channels


# Seeded orders carry fingerprints as real ones do: a million empty ones made PostgreSQL's generic plan for the
# pipeline's duplicate check (asyncpg prepares it) walk the primary key, 300 ms an order, and the pipeline fell behind.
_ORDERS_SQL = """
INSERT INTO sales_order (channel, external_id, status, exception_reason, goods_amount, paid_amount, placed_at, paid_at,
                         ship_by, warehouse, received_at, updated_at, receiver_province, fingerprint)
SELECT ch.ids[1 + (g % array_length(ch.ids, 1))],
       $1 || g,
       CASE WHEN g % 50 = 0 THEN 'cancelled'
            WHEN g % 97 = 0 THEN 'exception'
            WHEN t > now() - interval '3 hours' THEN (ARRAY['ready', 'picking', 'packed'])[1 + g % 3]
            ELSE 'shipped' END,
       CASE WHEN g % 97 = 0 AND g % 50 <> 0 THEN (ARRAY['out_of_stock', 'bad_address'])[1 + g % 2] END,
       amount, amount, t, t, t + interval '24 hours',
       wh.ids[1 + (g / 7) % array_length(wh.ids, 1)], t, t, '上海市',
       md5($1 || g) || md5(g || $1)  -- every real order has its own content fingerprint (64 hex, like sha256)
FROM generate_series($2::int, $3::int) AS g
CROSS JOIN LATERAL (SELECT now() - (($4::float8 * (1 - g::float8 / $5)) * interval '1 day') AS t,
                           (990 + (g::bigint * 7919) % 30000)::bigint AS amount) AS x
CROSS JOIN (SELECT $6::int[] AS ids) AS ch
CROSS JOIN (SELECT $7::int[] AS ids) AS wh
"""

_EVENTS_SQL = """
INSERT INTO order_event ("order", type, from_status, to_status, reason, data, actor, created_at)
SELECT id, 'order.received', NULL, 'received', NULL, '{}', 'bench', received_at
  FROM sales_order WHERE external_id LIKE $1 AND id BETWEEN $2 AND $3
UNION ALL
SELECT id, 'order.status_changed', 'received', 'ready', NULL, '{"warehouse_ids":[' || warehouse || ']}', 'bench',
       received_at + interval '5 minutes'
  FROM sales_order WHERE external_id LIKE $1 AND id BETWEEN $2 AND $3 AND status <> 'exception'
UNION ALL
SELECT id, 'order.status_changed', 'received', 'exception', exception_reason, '{}', 'bench',
       received_at + interval '5 minutes'
  FROM sales_order WHERE external_id LIKE $1 AND id BETWEEN $2 AND $3 AND status = 'exception'
UNION ALL
SELECT id, 'order.status_changed', 'ready', status, CASE WHEN status = 'cancelled' THEN '买家取消' END, '{}', 'bench',
       received_at + CASE WHEN id % 20 = 0 THEN interval '26 hours' ELSE interval '2 hours' END
  FROM sales_order WHERE external_id LIKE $1 AND id BETWEEN $2 AND $3 AND status IN ('shipped', 'cancelled')
UNION ALL
SELECT id, 'order.status_changed', 'ready', status, NULL, '{}', 'bench', received_at + interval '20 minutes'
  FROM sales_order WHERE external_id LIKE $1 AND id BETWEEN $2 AND $3 AND status IN ('picking', 'packed')
"""


async def _seed(
    dsn: str, tag: str, warehouses: Sequence[str], channels: Sequence[str], cfg: argparse.Namespace, log: Any
) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        wh_ids = [
            r["id"]
            for r in await conn.fetch("SELECT id FROM warehouse WHERE code = ANY($1) ORDER BY id", list(warehouses))
        ]
        ch_ids = [
            r["id"] for r in await conn.fetch("SELECT id FROM channel WHERE code = ANY($1) ORDER BY id", list(channels))
        ]
        prefix = f"DB{tag}-"
        chunk = 100_000
        started = time.monotonic()
        events = 0
        for first in range(1, cfg.orders + 1, chunk):
            last = min(cfg.orders, first + chunk - 1)
            async with conn.transaction():
                before = await conn.fetchval("SELECT COALESCE(max(id), 0) FROM sales_order")
                await conn.execute(_ORDERS_SQL, prefix, first, last, float(cfg.days), float(cfg.orders), ch_ids, wh_ids)
                after = await conn.fetchval("SELECT max(id) FROM sales_order")
            async with conn.transaction():  # this chunk's orders only (nothing else writes orders meanwhile)
                status = await conn.execute(_EVENTS_SQL, prefix + "%", before + 1, after)
                events += int(status.split()[-1])
            log(f"  {last:,} orders, {events:,} events ({time.monotonic() - started:.0f} s)")
        # A bulk load leaves the visibility map unset, so no index-only scan pays off until autovacuum gets to the
        # table (the at-risk counts read a status index and the heap: 25 ms instead of 0.7 ms a warehouse). A hub in
        # steady state has been vacuumed: so is the seeded history.
        await conn.execute("VACUUM ANALYZE sales_order")
        await conn.execute("VACUUM ANALYZE order_event")
        return events
    finally:
        await conn.close()


async def _wait_caught_up(dsn: str, log: Any, timeout: float) -> float:
    conn = await asyncpg.connect(dsn)
    started = time.monotonic()
    try:
        while True:
            behind = await conn.fetchval(
                "SELECT count(*) FROM order_event e, rollup_cursor c WHERE c.name = 'order_events' "
                "AND (e.txid, e.id) > (c.txid, c.event_id)"
            )
            elapsed = time.monotonic() - started
            if behind == 0:
                return elapsed
            if elapsed > timeout:
                raise TimeoutError(f"the rollups were still {behind:,} events behind after {timeout:.0f} s")
            log(f"  rollups {behind:,} events behind ({elapsed:.0f} s)")
            await asyncio.sleep(10)
    finally:
        await conn.close()


async def _bound_manager(hub: Hub, warehouse: str) -> tuple[str, str]:
    username = f"dashmgr_{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12) + "Aa1!"
    await hub.post(
        "/api/v1/users",
        {
            "username": username,
            "password": password,
            "role": "manager",
            "warehouse": warehouse,
            "display_name": "看板压测主管",
        },
    )
    return username, password


async def _time(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], n: int, warmup: int
) -> list[float] | int:
    for _ in range(warmup):
        r = await client.get(path, headers=headers)
        if r.status_code != 200:
            return r.status_code
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = await client.get(path, headers=headers)
        _ = r.content
        samples.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            return r.status_code
    return samples


async def run(cfg: argparse.Namespace) -> int:
    log = lambda line: print(line, flush=True)  # noqa: E731
    tag = f"{int(time.time()) % 10**6:06d}"
    async with httpx.AsyncClient(base_url=cfg.url, timeout=60) as client:
        hub = Hub(client)
        await hub.login(cfg.admin_user, cfg.admin_password)
        admin = hub.auth
        if cfg.no_seed:
            conn = await asyncpg.connect(cfg.database_url)
            code = await conn.fetchval("SELECT code FROM warehouse WHERE code LIKE 'DB%' ORDER BY id DESC LIMIT 1")
            orders = await conn.fetchval("SELECT count(*) FROM sales_order")
            await conn.close()
            warehouse = str(code)
            log(f"no seeding: {orders:,} orders in the database; bound manager on {warehouse}")
        else:
            log(f"setting up {cfg.orders:,} orders over {cfg.days} days …")
            warehouses, channels = await _setup(hub, tag, log)
            started = time.monotonic()
            events = await _seed(cfg.database_url, tag, warehouses, channels, cfg, log)
            log(f"seeded in {time.monotonic() - started:.0f} s; waiting for the rollup catch-up …")
            took = await _wait_caught_up(cfg.database_url, log, cfg.catch_up_timeout)
            log(f"rollups caught up {events:,} events in {took:.0f} s (≈ {events / max(took, 1):,.0f} events/s)")
            warehouse = warehouses[0]
        username, password = await _bound_manager(hub, warehouse)
        bound_hub = Hub(client)
        await bound_hub.login(username, password)
        bound = bound_hub.auth
        conn = await asyncpg.connect(cfg.database_url)
        wh_id = await conn.fetchval("SELECT id FROM warehouse WHERE code = $1", warehouse)
        total_orders = await conn.fetchval("SELECT count(*) FROM sales_order")
        await conn.close()
        print(
            f"\nOrderHub dashboards — {cfg.url}, {total_orders:,} orders in the database; "
            f"{cfg.requests} sequential requests per endpoint after {cfg.warmup} warm-up"
        )
        print(f"  {'endpoint':28} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}  goal p99 ≤ {GOAL_P99_MS:g} ms")
        failed = 0
        for label, template, who in ENDPOINTS:
            if cfg.only and not any(label.startswith(prefix) for prefix in cfg.only.split(",")):
                continue
            path = template.format(wh=wh_id)
            got = await _time(client, path, admin if who == "admin" else bound, cfg.requests, cfg.warmup)
            if isinstance(got, int):
                print(f"  {label:28} HTTP {got} ({path})")
                failed += 1
                continue
            p50, p90, p99 = (percentile(got, p) or 0.0 for p in (50, 90, 99))
            verdict = "met" if p99 <= GOAL_P99_MS else "NOT met"
            failed += verdict != "met"
            print(f"  {label:28} {p50:8.1f} {p90:8.1f} {p99:8.1f} {max(got):8.1f}  {verdict}")
        return 0 if failed == 0 else 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--admin-user", required=True)
    parser.add_argument("--admin-password", required=True)
    parser.add_argument("--database-url", required=True, help="the hub's PostgreSQL database (seeded directly)")
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--no-seed", action="store_true", help="time a database seeded by an earlier run")
    parser.add_argument("--only", default="", help="time only endpoints whose label starts with one of these (a,b)")
    parser.add_argument("--catch-up-timeout", type=float, default=1800.0)
    parser.add_argument("--allow-remote", action="store_true")
    args = parser.parse_args(argv)
    if not args.allow_remote:
        check_local(args.url)
        _local_dsn(args.database_url)
    try:
        return asyncio.run(run(args))
    except (BenchError, httpx.HTTPError, OSError, ValueError, TimeoutError, asyncpg.PostgresError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
