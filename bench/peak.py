"""Peak-day replay: push a realistic order mix at a target rate through the ingest API, then check the invariants.

    python -m bench.peak --url http://127.0.0.1:8000 --admin-user admin --admin-password … \\
        --rate 6000 --duration 60 [--batch 50] --setup

The mix, as on 双十一:

- hot SKUs: line SKUs are drawn with Zipf-like weights (rank ``k`` weighs ``1 / k^s``, ``--zipf s``), so a few
  SKUs are in most orders and their stock rows are the contended ones;
- duplicates (``--duplicates``, default 5 % of orders): half re-send an order already acknowledged, same channel
  and same external_id, which must be answered ``duplicate`` with the same order_id; half send the same content
  under a new external_id from another channel within 5 minutes, which the hub holds as a suspected duplicate
  (hold queue ``duplicate``);
- memos from :func:`sandbox.orders.make_order` (some with 发票 / 加急 / 赠品, which the default rules turn into the
  invoice hold queue, urgent priority and the gift tag), receivers in all 31 provinces, split and one-line
  addresses;
- with ``--setup``, a few hot-ish SKUs get only about half the stock the run will ask for, so some orders end in
  exception ``out_of_stock``.

Sending is open loop, as in :mod:`bench.ingest` (request *i* is due at ``start + i × batch × 60 / rate``; ack
latency is measured from that due time). ``--setup`` creates a bench warehouse, ``--setup-skus`` SKUs and three
channels through the admin API (the channel secrets come back from ``POST /api/v1/channels``; pushes are signed
with :func:`sandbox.orders.sign`). Without it, give ``--warehouse``, ``--channel CODE=SECRET`` (2 or more) and the
SKUs, hottest first; the stock check then assumes only those channels ship from that warehouse.

After sending, it waits up to ``--drain`` seconds for the run's orders to leave received/validated/reserved,
then checks, against the hub's own API:

- oversold 0: for every SKU in the bench warehouse (``GET /api/v1/stock``), reserved ≤ on_hand, and reserved
  equals the sum of ``reserved_qty`` over the lines in that warehouse of the channels' ready/reserved orders
  (read from order details);
- duplicated 0: no two stored orders share (channel, external_id), and every re-sent external_id was answered
  ``duplicate`` with the original order_id;
- lost 0: every order answered ``accepted`` is stored under the id it was acknowledged with. An accepted order
  that is stored but still received/validated/reserved after the drain is *in the pipeline*, not lost: it is
  printed on its own line, the pipeline rate becomes a lower bound, and the stock equation is not checked (stock
  is reserved in flight) — only reserved ≤ on_hand is.

Optional: ``--pg-min N`` (or ``--pg-min-run SECONDS``, which runs ``../shared/bench/pg_min.sh`` first) prints the
ratio to the one-order floor measured in the same sitting; ``--database-url`` adds statements and PostgreSQL time per
order from ``pg_stat_statements`` when the server preloads it; CPU ms per order of the hub's processes (``/proc``,
Linux) is printed whenever they can be found (``--hub-pids`` to name them). See :mod:`bench.hub_cost`.

It prints orders/min acknowledged, ack latency, ack → ready (the ``order.status_changed`` event to ready, from the
order details the stock check reads anyway), the pipeline's throughput, counts by status, hold queue and exception
reason, what the memo rules did, and the invariants. The run is bounded: sending stops after ``--duration``
(plus ``--timeout`` for the last answers), draining after ``--drain``, and reading back after ``--check-timeout``
more at most. Only ``--url`` is contacted, and it must be a loopback address unless ``--allow-remote``.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import math
import os
import random
import re
import secrets
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.hub_cost import (
    CpuProbe,
    StatementProbe,
    check_local_database,
    database_name,
    format_cpu,
    format_statements,
)
from bench.ingest import (
    PROCESSING,
    SETUP_STOCK,
    BenchError,
    Hub,
    format_summary,
    load_skus,
    open_loop,
    post_batch,
    problem,
    ready_time,
    run_cli,
    summarise,
)
from sandbox.orders import ingest_body, make_order, sign

__all__ = [
    "Outcome",
    "PeakConfig",
    "PeakResult",
    "check_stock",
    "classify_accepted",
    "main",
    "parse_orders_per_min",
    "report",
    "run",
]

FINAL = frozenset({"ready", "exception", "held"})
COPY_WINDOW_S = 240.0  # cross-channel copies are sent within this of the original's ack (the hub looks back 5 min)
LOW_STOCK_SHARE = 0.5  # a low-stock SKU gets about this share of the units the run will order of it
MEMO_RULES = (("发票", "invoice"), ("加急", "urgent"), ("赠品", "gift"))
SETUP_CHANNELS = (("own_store", "官网"), ("erp", "ERP"), ("own_store", "小程序"))
PROJECT_ROOT = Path(__file__).resolve().parent.parent
PG_MIN_SCRIPT = PROJECT_ROOT.parent / "shared" / "bench" / "pg_min.sh"  # ../shared/bench/pg_min.sh from the root

Log = Callable[[str], None]


@dataclass
class PeakConfig:
    url: str
    rate: float  # orders per minute
    duration: float  # seconds of sending
    admin_user: str
    admin_password: str
    batch: int = 50
    concurrency: int = 32
    setup: bool = False
    setup_skus: int = 200
    low_stock: int = 3
    zipf: float = 1.1
    duplicates: float = 0.05
    warehouse: str | None = None
    channels: dict[str, str] = field(default_factory=dict)  # code → signing secret
    skus: list[str] = field(default_factory=list)  # hottest first
    drain: float = 60.0
    check_timeout: float = 60.0
    timeout: float = 30.0
    seed: int | None = None
    pg_limit: float | None = None  # orders/min from bench/pg_limit.sh, for the ratio
    pg_min: float | None = None  # orders/min from ../shared/bench/pg_min.sh in the same sitting, for the ratio
    pg_min_run: int | None = None  # run pg_min.sh for this many seconds before sending, and use its figure
    pg_min_script: Path = PG_MIN_SCRIPT
    database_url: str | None = None  # the hub's (local) database, for pg_stat_statements
    hub_pids: list[int] | None = None  # the hub's processes for CPU per order (default: found in /proc)


@dataclass
class Shop:
    warehouse: str
    channels: dict[str, str]
    skus: list[str]  # hottest first
    low_stock: dict[str, int]  # SKU → the small stock it was given (setup only)


@dataclass
class _Sent:
    kind: str  # new | resend | copy
    channel: str
    external_id: str
    order: dict[str, Any]
    due: float  # monotonic time its request was due
    original: _Sent | None = None
    sent: float | None = None
    acked: float | None = None
    acked_wall: float | None = None
    status: str = "error"  # accepted | duplicate | rejected | error
    order_id: int | None = None
    error: str | None = None


class HotSkus:
    """SKU codes with Zipf-like weights: the code at rank ``k`` (1-based) weighs ``1 / k^s``."""

    def __init__(self, codes: Sequence[str], s: float) -> None:
        if not codes:
            raise ValueError("no SKU codes")
        self.codes = list(codes)
        self.cumulative = list(itertools.accumulate(1.0 / (k**s) for k in range(1, len(self.codes) + 1)))

    def pick(self, rng: random.Random, k: int) -> list[str]:
        """Up to ``k`` distinct codes, drawn by weight."""
        k = min(k, len(self.codes))
        total = self.cumulative[-1]
        chosen: list[str] = []
        for _ in range(k * 8):
            code = self.codes[bisect.bisect_left(self.cumulative, rng.random() * total)]
            if code not in chosen:
                chosen.append(code)
                if len(chosen) == k:
                    break
        return chosen


def new_order(rng: random.Random, hot: HotSkus, external_id: str) -> dict[str, Any]:
    """One realistic order whose lines come from hot SKUs (make_order picks 1–4 lines among the drawn four)."""
    return make_order(rng, external_id=external_id, skus=hot.pick(rng, 4))


def expected_units(hot: HotSkus, orders: int, seed: int | None, sample: int = 3000) -> dict[str, float]:
    """Units per SKU that ``orders`` new orders will ask for (estimated from a sample of the same generator)."""
    rng = random.Random(f"units-{seed}")
    units: Counter[str] = Counter()
    for i in range(sample):
        for line in new_order(rng, hot, f"estimate-{i}")["lines"]:
            units[line["sku"]] += line["qty"]
    return {code: units[code] * orders / sample for code in hot.codes}


@dataclass
class PeakResult:
    channels: list[str]
    warehouse: str
    sent: int
    sent_by_kind: dict[str, int]
    requests: int
    answers: dict[str, int]
    errors: int
    elapsed: float
    orders_per_min: float
    ack_ms: dict[str, float | None]
    send_to_ack_ms: dict[str, float | None]
    ack_to_ready_ms: dict[str, float | None]
    pipeline_per_min: float | None
    by_status: dict[str, int]
    by_hold_queue: dict[str, int]
    exception_reasons: dict[str, int]
    provinces: int
    hot_share: dict[str, float]
    low_stock: dict[str, int]
    out_of_stock_low: int
    out_of_stock_other: int
    suspected: dict[str, int]
    rules: dict[str, dict[str, int]]
    oversold: int | None
    oversold_detail: list[str]
    stock_checked: str
    duplicated: int
    duplicated_detail: list[str]
    lost: int
    lost_detail: list[str]
    not_acknowledged_stored: int
    anomalies: list[str]
    error_samples: list[str]
    # accepted orders stored but still received / validated / reserved after the drain: not lost, not finished
    in_pipeline: int = 0
    in_pipeline_by_status: dict[str, int] = field(default_factory=dict)
    pipeline_complete: bool = True  # every accepted order finished: the pipeline rate is the whole run's
    stock_equation_checked: bool = True  # reserved == Σ reserved_qty was checked (all settled, all read)
    unsettled: int = 0  # orders of the channels still in received / validated / reserved when read back
    sustained_per_min: float | None = None  # min(achieved, pipeline)
    pg_min: float | None = None  # the one-order floor (pg_min.sh) given or measured
    pg_min_ratio: float | None = None  # sustained / pg_min
    pg_limit_ratio: float | None = None  # sustained / pg_limit
    statements: dict[str, Any] | None = None  # pg_stat_statements figures (bench.hub_cost), or why not
    cpu: dict[str, Any] | None = None  # CPU ms per order by process group (bench.hub_cost), or why not

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def invariants_hold(self) -> bool:
        return self.oversold == 0 and self.duplicated == 0 and self.lost == 0


async def _setup(hub: Hub, cfg: PeakConfig, orders: int, log: Log) -> Shop:
    tag = f"{int(time.time()):x}{secrets.token_hex(2)}".upper()
    warehouse = f"PK{tag}"
    skus = [f"PEAK-{tag}-{i:03d}" for i in range(1, cfg.setup_skus + 1)]
    hot = HotSkus(skus, cfg.zipf)
    # Low-stock SKUs among the hot ones (ranks 3, 8, 19, …), each given about half of what the run will order.
    ranks = sorted({min(len(skus), round(3 * 2.5**i)) for i in range(cfg.low_stock)}) if cfg.low_stock else []
    units = expected_units(hot, orders, cfg.seed)
    low = {skus[r - 1]: max(1, int(units[skus[r - 1]] * LOW_STOCK_SHARE)) for r in ranks}
    log(
        f"setting up: warehouse {warehouse}, {len(skus)} SKUs ({SETUP_STOCK} each; low stock "
        + (", ".join(f"{code} {qty}" for code, qty in low.items()) or "none")
        + f"), {len(SETUP_CHANNELS)} channels …"
    )
    await hub.create_warehouse(warehouse, f"大促压测仓 {tag}")
    await hub.create_skus(warehouse, {code: low.get(code, SETUP_STOCK) for code in skus})
    channels: dict[str, str] = {}
    for i, (platform, name) in enumerate(SETUP_CHANNELS, 1):
        code = f"peak_{tag.lower()}_{i}"
        channels[code] = await hub.create_channel(code, f"大促压测 {name} {tag}", warehouse, platform)
    log(f"  channels {', '.join(channels)}; SKUs {skus[0]} … {skus[-1]}")
    return Shop(warehouse=warehouse, channels=channels, skus=skus, low_stock=low)


class _Pools:
    """Acknowledged new orders that a later request may re-send (same channel) or copy (another channel)."""

    def __init__(self) -> None:
        self.by_channel: dict[str, list[_Sent]] = defaultdict(list)
        self.resent: set[int] = set()
        self.copied: set[int] = set()

    def add(self, sent: _Sent) -> None:
        self.by_channel[sent.channel].append(sent)

    def resend(self, rng: random.Random, channel: str) -> _Sent | None:
        pool = [s for s in self.by_channel.get(channel, [])[-500:] if id(s) not in self.resent]
        if not pool:
            return None
        chosen = rng.choice(pool)
        self.resent.add(id(chosen))
        return chosen

    def copy(self, rng: random.Random, channel: str, now_wall: float) -> _Sent | None:
        pool = [
            s
            for code, sent in self.by_channel.items()
            if code != channel
            for s in sent[-500:]
            if id(s) not in self.copied and s.acked_wall is not None and now_wall - s.acked_wall < COPY_WINDOW_S
        ]
        if not pool:
            return None
        chosen = rng.choice(pool)
        self.copied.add(id(chosen))
        return chosen


async def _send_all(client: httpx.AsyncClient, cfg: PeakConfig, shop: Shop) -> tuple[list[_Sent], float, float, int]:
    """Send the mix; returns (orders as sent, elapsed s, start unix time, requests)."""
    rng = random.Random(cfg.seed)
    hot = HotSkus(shop.skus, cfg.zipf)
    run_id = secrets.token_hex(3)
    channels = list(shop.channels)
    interval = 60.0 * cfg.batch / cfg.rate
    total_requests = max(1, round(cfg.rate * cfg.duration / 60.0 / cfg.batch))
    gate = asyncio.Semaphore(cfg.concurrency)
    pools = _Pools()
    orders: list[_Sent] = []
    used_signatures: set[str] = set()

    def compose(index: int, due: float) -> tuple[str, list[_Sent]]:
        channel = channels[index % len(channels)]
        batch: list[_Sent] = []
        for j in range(cfg.batch):
            roll = rng.random()
            external_id = f"peak-{run_id}-{index:06d}-{j:03d}"
            original: _Sent | None = None
            if roll < cfg.duplicates / 2:
                original = pools.resend(rng, channel)
                if original is not None:
                    batch.append(_Sent("resend", channel, original.external_id, original.order, due, original))
                    continue
            elif roll < cfg.duplicates:
                original = pools.copy(rng, channel, time.time())
                if original is not None:
                    order = dict(original.order, external_id=external_id + "c")
                    batch.append(_Sent("copy", channel, external_id + "c", order, due, original))
                    continue
            batch.append(_Sent("new", channel, external_id, new_order(rng, hot, external_id), due))
        return channel, batch

    def signed(channel: str, body: bytes) -> dict[str, str]:
        # The hub accepts a signature once: a batch of only re-sends could repeat an earlier body in the same second.
        timestamp = int(time.time())
        while True:
            headers = sign(channel, shop.channels[channel], body, timestamp)
            if headers["X-OrderHub-Signature"] not in used_signatures:
                used_signatures.add(headers["X-OrderHub-Signature"])
                return headers
            timestamp -= 1

    async def one(index: int, due: float) -> None:
        channel, batch = compose(index, due)
        orders.extend(batch)
        body = ingest_body(channel, [o.order for o in batch])
        await post_batch(client, gate, body, {"content-type": "application/json", **signed(channel, body)}, batch)
        for o in batch:
            if o.kind == "new" and o.status == "accepted":
                pools.add(o)

    start_wall = time.time()
    start = await open_loop(total_requests, interval, one, timeout=cfg.timeout + 5)
    acks = [o.acked for o in orders if o.acked is not None]
    elapsed = max((max(acks) if acks else time.monotonic()) - start, total_requests * interval)
    return orders, elapsed, start_wall, total_requests


async def _unfinished(hub: Hub, channels: Sequence[str], min_id: int) -> int:
    """Orders of the run still in received/validated/reserved (first page per status: ≥ 200 means 200+)."""
    count = 0
    for channel in channels:
        for status in sorted(PROCESSING):
            params: dict[str, Any] = {"channel": channel, "status": status, "limit": 200}
            response = await hub.client.get("/api/v1/orders", params=params, headers=hub.auth)
            if response.status_code != 200:
                raise BenchError(f"listing orders failed: {problem(response)}")
            count += sum(1 for item in response.json()["items"] if item["id"] >= min_id)
    return count


async def _stock(hub: Hub, warehouse: str) -> dict[str, tuple[int, int]]:
    """SKU → (on_hand, reserved) in ``warehouse``."""
    found: dict[str, tuple[int, int]] = {}
    cursor: int | None = None
    while True:
        params: dict[str, Any] = {"warehouse": warehouse, "limit": 1000}
        if cursor is not None:
            params["cursor"] = cursor
        response = await hub.client.get("/api/v1/stock", params=params, headers=hub.auth)
        if response.status_code != 200:
            raise BenchError(f"listing stock failed: {problem(response)}")
        page = response.json()
        for item in page["items"]:
            found[item["sku"]] = (int(item["on_hand"]), int(item["reserved"]))
        cursor = page.get("next_cursor")
        if cursor is None:
            return found


def _memo(order: dict[str, Any]) -> str:
    return f"{order.get('buyer_memo', '')}\n{order.get('seller_memo', '')}"


@dataclass
class Outcome:
    """Where the run's accepted orders are after the drain."""

    final: list[tuple[_Sent, dict[str, Any]]]  # ready / exception / held (and odd statuses, with an anomaly)
    in_pipeline: list[tuple[_Sent, dict[str, Any]]]  # stored, still received / validated / reserved: not lost
    lost: list[str]  # accepted but not stored, or not under the id it was acknowledged with
    anomalies: list[str]


def classify_accepted(accepted: Sequence[_Sent], stored: Sequence[dict[str, Any]]) -> Outcome:
    """Split the accepted orders into finished, still in the pipeline and lost, from the stored orders as the list
    endpoint returns them (id, channel, external_id, status)."""
    by_id = {int(item["id"]): item for item in stored}
    by_key = {(item["channel"], item["external_id"]): int(item["id"]) for item in stored}
    outcome = Outcome([], [], [], [])
    for o in accepted:
        item = by_id.get(o.order_id) if o.order_id is not None else None
        sent_as = f"{o.channel}/{o.external_id}"
        if item is None or (item["channel"], item["external_id"]) != (o.channel, o.external_id):
            elsewhere = by_key.get((o.channel, o.external_id))
            if elsewhere is not None:
                outcome.lost.append(f"{sent_as} accepted as order {o.order_id} but stored as order {elsewhere}")
            elif item is not None:
                outcome.lost.append(
                    f"{sent_as} accepted as order {o.order_id}, which is {item['channel']}/{item['external_id']}"
                )
            else:
                outcome.lost.append(f"order {o.order_id} ({sent_as}) accepted but not stored")
        elif item["status"] in FINAL:
            outcome.final.append((o, item))
        elif item["status"] in PROCESSING:
            outcome.in_pipeline.append((o, item))
        else:
            outcome.anomalies.append(f"order {o.order_id} is {item['status']} (not a pipeline outcome)")
            outcome.final.append((o, item))
    return outcome


def check_stock(
    stock: dict[str, tuple[int, int]],
    holding: Sequence[dict[str, Any]],
    details: dict[int, dict[str, Any]],
    warehouse: str,
    unsettled: int,
) -> tuple[list[str], str, bool]:
    """The oversold invariant: (problems, what was checked, whether the stock equation was checked).

    reserved ≤ on_hand is checked always. reserved == Σ reserved_qty of the ready/reserved orders' lines in the
    warehouse only when nothing is in flight (``unsettled`` = orders of the channels still received / validated /
    reserved): a worker that has reserved stock but not yet committed the order's new status (or the reverse, read
    at another moment) would show as a mismatch that is not one."""
    problems = [
        f"{sku}: reserved {reserved} > on_hand {on_hand}"
        for sku, (on_hand, reserved) in sorted(stock.items())
        if reserved > on_hand
    ]
    if unsettled:
        return (
            problems,
            f"reserved ≤ on_hand for {len(stock)} SKUs; stock check skipped: {unsettled} orders still in the pipeline",
            False,
        )
    missing = len(holding) - len(details)
    if missing:
        return problems, f"reserved vs order lines NOT checked: {missing} of {len(holding)} order details unread", False
    from_lines: Counter[str] = Counter()
    for found in details.values():
        if found["status"] not in ("ready", "reserved"):
            continue  # moved on since it was listed (another run, a person)
        for line in found.get("lines", []):
            if line.get("warehouse") == warehouse:
                from_lines[line["sku"]] += int(line["reserved_qty"])
    for sku in sorted(set(stock) | set(from_lines)):
        reserved = stock.get(sku, (0, 0))[1]
        if reserved != from_lines[sku]:
            problems.append(f"{sku}: reserved {reserved} but order lines hold {from_lines[sku]}")
    return problems, f"{len(stock)} SKUs vs lines of {len(details)} ready/reserved orders", True


_ORDERS_PER_MIN = re.compile(r"^\s*orders/min\b[^0-9\n]*([0-9][0-9,]*(?:\.[0-9]+)?)\s*$", re.M)


def parse_orders_per_min(output: str) -> float | None:
    """The figure of pg_min.sh's ``  orders/min      N`` line (also pg_limit.sh's ``orders/min the database can
    do: N``); the last one when there are several; None when there is none."""
    found = _ORDERS_PER_MIN.findall(output)
    return float(found[-1].replace(",", "")) if found else None


def _pgurl_for(database_url: str | None) -> str | None:
    """pg_min.sh's PGURL (a server, no database) for the server of ``database_url``."""
    if not database_url:
        return None
    parts = urlsplit(database_url)
    return None if parts.query else f"{parts.scheme}://{parts.netloc}/"


async def run_pg_min(cfg: PeakConfig, log: Log) -> float:
    """Run ``bash pg_min.sh SECONDS`` from the project root (its output goes to ``log``) and return its orders/min."""
    script = cfg.pg_min_script
    if not script.is_file():
        raise BenchError(f"--pg-min-run: {script} not found (give --pg-min-script)")
    seconds = int(cfg.pg_min_run or 0)
    env = dict(os.environ)
    pgurl = _pgurl_for(cfg.database_url)
    if pgurl and "PGURL" not in env:
        env["PGURL"] = pgurl
    log(f"measuring the floor first: bash {script} {seconds} (in {PROJECT_ROOT}) …")
    # its own process group: on a timeout or ^C the whole group (bash, psql, pgbench) gets SIGTERM, and the
    # script's EXIT trap drops its scratch database
    proc = await asyncio.create_subprocess_exec(
        "bash",
        str(script),
        str(seconds),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    lines: list[str] = []

    async def pump() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            lines.append(line)
            log(f"  pg_min | {line}")

    try:
        await asyncio.wait_for(asyncio.gather(pump(), proc.wait()), timeout=seconds + 600)
    except TimeoutError as exc:
        raise BenchError(f"pg_min.sh did not finish within {seconds + 600} s") from exc
    finally:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            await proc.wait()
    if proc.returncode != 0:
        raise BenchError(f"pg_min.sh failed (exit {proc.returncode}); its output is above")
    value = parse_orders_per_min("\n".join(lines))
    if value is None or value <= 0:
        raise BenchError("pg_min.sh printed no orders/min line")
    return value


async def run(cfg: PeakConfig, log: Log = print) -> PeakResult:
    pg_min = cfg.pg_min
    if cfg.pg_min_run:
        pg_min = await run_pg_min(cfg, log)
        log(f"  the floor: {pg_min:.0f} orders/min")
    statements = StatementProbe(cfg.database_url) if cfg.database_url else None
    try:
        if statements is not None:
            await statements.open()
            if not statements.available:
                log(f"statements per order: n/a — {statements.reason}")
        return await _run(cfg, log, pg_min, statements)
    finally:
        if statements is not None:
            await statements.close()


async def _run(cfg: PeakConfig, log: Log, pg_min: float | None, statements: StatementProbe | None) -> PeakResult:
    url = urlsplit(cfg.url)
    cpu = CpuProbe(
        port=url.port or (443 if url.scheme == "https" else 80),
        database=database_name(cfg.database_url) if cfg.database_url else None,
        pids=cfg.hub_pids,
    )
    limits = httpx.Limits(max_connections=cfg.concurrency + 20, max_keepalive_connections=cfg.concurrency + 20)
    async with httpx.AsyncClient(base_url=cfg.url.rstrip("/"), timeout=cfg.timeout, limits=limits) as client:
        hub = Hub(client)
        await hub.login(cfg.admin_user, cfg.admin_password)
        planned = max(1, round(cfg.rate * cfg.duration / 60.0 / cfg.batch)) * cfg.batch
        if cfg.setup:
            shop = await _setup(hub, cfg, round(planned * (1 - cfg.duplicates)), log)
        else:
            if not cfg.warehouse or len(cfg.channels) < 2 or not cfg.skus:
                raise BenchError("without --setup give --warehouse, two or more --channel CODE=SECRET and the SKUs")
            shop = Shop(warehouse=cfg.warehouse, channels=dict(cfg.channels), skus=list(cfg.skus), low_stock={})
        channels = list(shop.channels)

        log(
            f"sending {cfg.rate:g} orders/min for {cfg.duration:g} s (batch {cfg.batch}, concurrency "
            f"{cfg.concurrency}, {cfg.duplicates:.0%} duplicates, Zipf s={cfg.zipf:g} over {len(shop.skus)} SKUs) "
            f"to {cfg.url} …"
        )
        cpu.start()
        if statements is not None:
            await statements.start()
        orders, elapsed, start_wall, requests = await _send_all(client, cfg, shop)
        drain_deadline = time.monotonic() + cfg.drain
        accepted = [o for o in orders if o.status == "accepted" and o.order_id]
        min_id = min((o.order_id for o in accepted if o.order_id), default=0)

        if accepted:
            log(f"waiting up to {cfg.drain:g} s for {len(accepted)} accepted orders to leave the pipeline …")
            last_note = time.monotonic()
            while True:
                try:
                    left = await _unfinished(hub, channels, min_id)
                except httpx.HTTPError as exc:
                    log(f"  listing orders failed ({type(exc).__name__}); retrying")
                    left = -1
                if left == 0 or time.monotonic() >= drain_deadline:
                    break
                if time.monotonic() - last_note >= 10:
                    log(f"  {left} still in received/validated/reserved")
                    last_note = time.monotonic()
                await asyncio.sleep(min(1.0, max(0.0, drain_deadline - time.monotonic())))
        # the window for statements and CPU: sending start → drain end (before the bench reads everything back)
        cpu_figures = cpu.finish(len(accepted))
        statement_figures = await statements.finish(len(accepted)) if statements is not None else None

        log("reading orders, stock and order details back …")
        check_deadline = max(drain_deadline, time.monotonic() + cfg.check_timeout)
        stored: list[dict[str, Any]] = []
        for channel in channels:
            stored += await hub.orders(channel)
        stock = await _stock(hub, shop.warehouse)
        holding = [item for item in stored if item["status"] in ("ready", "reserved")]
        details: dict[int, dict[str, Any]] = {}
        gate = asyncio.Semaphore(16)

        async def detail(order_id: int) -> None:
            async with gate:
                if time.monotonic() >= check_deadline:
                    return
                try:
                    found = await hub.order(order_id)
                except httpx.HTTPError:
                    found = None
                if found is not None:
                    details[order_id] = found

        await asyncio.gather(*(detail(int(item["id"])) for item in holding))

    result = _evaluate(cfg, shop, orders, elapsed, start_wall, requests, stored, stock, holding, details)
    result.statements = statement_figures
    result.cpu = cpu_figures
    result.pg_min = pg_min
    if pg_min and result.sustained_per_min is not None:
        result.pg_min_ratio = round(result.sustained_per_min / pg_min, 4)
    return result


def _evaluate(
    cfg: PeakConfig,
    shop: Shop,
    orders: list[_Sent],
    elapsed: float,
    start_wall: float,
    requests: int,
    stored: list[dict[str, Any]],
    stock: dict[str, tuple[int, int]],
    holding: list[dict[str, Any]],
    details: dict[int, dict[str, Any]],
) -> PeakResult:
    anomalies: list[str] = []
    acked = [o for o in orders if o.acked is not None]
    answers = Counter(o.status for o in orders)
    accepted = [o for o in orders if o.status == "accepted" and o.order_id]

    # --- lost: every accepted order is stored under its id; finished, or still in the pipeline (not lost)
    outcome = classify_accepted(accepted, stored)
    lost_detail = outcome.lost
    final_items = outcome.final
    anomalies += outcome.anomalies
    in_pipeline = Counter(item["status"] for _, item in outcome.in_pipeline)

    # --- duplicated: unique (channel, external_id) among stored; re-sends answered duplicate with the same id
    duplicated_detail: list[str] = []
    pairs = Counter((item["channel"], item["external_id"]) for item in stored)
    for (channel, external_id), n in pairs.items():
        if n > 1:
            duplicated_detail.append(f"{channel}/{external_id} stored {n} times")
    for o in orders:
        if o.kind != "resend" or o.acked is None:
            continue
        assert o.original is not None
        if o.status != "duplicate" or o.order_id != o.original.order_id:
            duplicated_detail.append(
                f"re-sent {o.channel}/{o.external_id} answered {o.status} order {o.order_id} "
                f"(first answer: order {o.original.order_id})"
            )
    for o in orders:
        if o.kind != "resend" and o.status == "duplicate":
            anomalies.append(f"new order {o.channel}/{o.external_id} answered duplicate (order {o.order_id})")
    known = {(o.channel, o.external_id) for o in orders}
    accepted_ids = {o.order_id for o in accepted}
    not_acked_stored = sum(
        1 for item in stored if (item["channel"], item["external_id"]) in known and item["id"] not in accepted_ids
    )
    stranger = sum(1 for item in stored if (item["channel"], item["external_id"]) not in known)
    if stranger and cfg.setup:
        anomalies.append(f"{stranger} stored orders in the bench channels that this run never sent")

    # --- oversold: reserved ≤ on_hand always; reserved == Σ reserved_qty of the lines only once everything settled
    unsettled = sum(1 for item in stored if item["status"] in PROCESSING)
    oversold_detail, stock_checked, stock_equation_checked = check_stock(
        stock, holding, details, shop.warehouse, unsettled
    )
    oversold: int | None = len(oversold_detail)

    # --- figures over this run's accepted orders (in-pipeline ones under their status)
    statuses = Counter(item["status"] for _, item in final_items) + in_pipeline
    queues = Counter(item["hold_queue"] or "?" for _, item in final_items if item["status"] == "held")
    reasons = Counter(item["exception_reason"] or "?" for _, item in final_items if item["status"] == "exception")
    provinces = {item["receiver"]["province"] for _, item in final_items if item["receiver"].get("province")}

    low = set(shop.low_stock)
    oos = [(o, item) for o, item in final_items if item["exception_reason"] == "out_of_stock"]
    oos_low = sum(1 for o, _ in oos if any(line["sku"] in low for line in o.order["lines"]))

    copies = [(o, item) for o, item in final_items if o.kind == "copy"]
    suspected = {
        "copies_accepted": len(copies),
        "copies_held_duplicate": sum(1 for _, item in copies if item["hold_queue"] == "duplicate"),
        "others_held_duplicate": sum(
            1 for o, item in final_items if o.kind != "copy" and item["hold_queue"] == "duplicate"
        ),
    }
    if suspected["copies_held_duplicate"] != suspected["copies_accepted"]:
        anomalies.append(
            f"{suspected['copies_accepted'] - suspected['copies_held_duplicate']} cross-channel copies were not "
            "held in the duplicate queue"
        )
    if suspected["others_held_duplicate"]:
        anomalies.append(f"{suspected['others_held_duplicate']} orders that are not copies held as duplicates")

    # Memo rules: counted over orders the rules ran on (a receiver the hub could not read stops before them).
    ruled = [
        (o, item)
        for o, item in final_items
        if not (item["status"] == "exception" and item["exception_reason"] in ("bad_address", "bad_phone"))
    ]
    rules: dict[str, dict[str, int]] = {}
    for word, name in MEMO_RULES:
        with_word = [(o, item) for o, item in ruled if word in _memo(o.order)]
        if name == "urgent":
            applied = sum(1 for _, item in with_word if item["priority"] == "urgent")
            stray = sum(1 for o, item in ruled if word not in _memo(o.order) and item["priority"] == "urgent")
        else:
            applied = sum(1 for _, item in with_word if name in item["tags"])
            stray = sum(1 for o, item in ruled if word not in _memo(o.order) and name in item["tags"])
        rules[name] = {"memos": len(with_word), "applied": applied, "without_memo": stray}
        if name == "invoice":
            rules[name]["in_invoice_queue"] = sum(1 for _, item in with_word if item["hold_queue"] == "invoice")
            # A copy's first hold is the duplicate one (the invoice hold waits behind it).
            rules[name]["held_as_duplicate"] = sum(1 for _, item in with_word if item["hold_queue"] == "duplicate")

    # --- latency and throughput
    ready_latency: list[float] = []
    for o, item in final_items:
        read = details.get(int(item["id"]))
        at = ready_time(read) if read else None
        if at is not None and o.acked_wall is not None:
            ready_latency.append(at - o.acked_wall)
    finished_at = [datetime.fromisoformat(item["updated_at"]).timestamp() for _, item in final_items]
    pipeline_per_min = None
    if finished_at:  # with orders still in the pipeline: a lower bound (the workers did part of their work too)
        span = max(max(finished_at) - start_wall, elapsed)
        pipeline_per_min = round(len(final_items) / span * 60.0, 1) if span > 0 else None
    orders_per_min = round(len(acked) / elapsed * 60.0, 1) if elapsed > 0 else 0.0
    sustained = min(orders_per_min, pipeline_per_min) if pipeline_per_min is not None else None

    new_orders = [{line["sku"] for line in o.order["lines"]} for o in orders if o.kind == "new"]
    in_orders = Counter(code for codes in new_orders for code in codes)
    top = [code for code, _ in in_orders.most_common(10)]
    share = len(new_orders) or 1
    hot_share = {
        "top1_orders": round(in_orders[top[0]] / share, 3) if top else 0.0,
        "top10_orders": round(sum(1 for codes in new_orders if codes & set(top)) / share, 3),
    }
    if answers.get("rejected"):
        anomalies.append(f"{answers['rejected']} generated orders were rejected")

    errors = [o.error for o in orders if o.error]
    return PeakResult(
        channels=list(shop.channels),
        warehouse=shop.warehouse,
        sent=len(orders),
        sent_by_kind=dict(Counter(o.kind for o in orders)),
        requests=requests,
        answers=dict(answers),
        errors=sum(1 for o in orders if o.acked is None),
        elapsed=round(elapsed, 2),
        orders_per_min=orders_per_min,
        ack_ms=summarise([o.acked - o.due for o in acked if o.acked is not None]),
        send_to_ack_ms=summarise([o.acked - o.sent for o in acked if o.acked is not None and o.sent is not None]),
        ack_to_ready_ms=summarise(ready_latency),
        pipeline_per_min=pipeline_per_min,
        by_status={k: v for k, v in statuses.items() if v},
        by_hold_queue=dict(queues),
        exception_reasons=dict(reasons),
        provinces=len(provinces),
        hot_share=hot_share,
        low_stock=dict(shop.low_stock),
        out_of_stock_low=oos_low,
        out_of_stock_other=len(oos) - oos_low,
        suspected=suspected,
        rules=rules,
        oversold=oversold,
        oversold_detail=oversold_detail[:10],
        stock_checked=stock_checked,
        duplicated=len(duplicated_detail),
        duplicated_detail=duplicated_detail[:10],
        lost=len(lost_detail),
        lost_detail=lost_detail[:10],
        not_acknowledged_stored=not_acked_stored,
        anomalies=anomalies[:20],
        error_samples=sorted(set(errors))[:5],
        in_pipeline=sum(in_pipeline.values()),
        in_pipeline_by_status=dict(in_pipeline),
        pipeline_complete=not in_pipeline,
        stock_equation_checked=stock_equation_checked,
        unsettled=unsettled,
        sustained_per_min=sustained,
        pg_limit_ratio=round(sustained / cfg.pg_limit, 4) if cfg.pg_limit and sustained is not None else None,
    )


def _counts(counter: dict[str, int]) -> str:
    return "   ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"


def _verdict(n: int | None) -> str:
    return "not checked" if n is None else ("0  ✓" if n == 0 else f"{n}  ✗")


def _pipeline_line(result: PeakResult) -> str:
    if result.pipeline_per_min is None:
        return "n/a (no accepted order finished)"
    if result.pipeline_complete:
        return f"{result.pipeline_per_min:.1f} orders/min reached ready/exception/held (first send → last finish)"
    # "N finished orders/min", not "N orders/min": scripts that grep the figure (bench/upkeep_cost.sh) keep
    # treating an unfinished run as having none
    return (
        f"a LOWER BOUND, not every order finished: ≥ {result.pipeline_per_min:.1f} finished orders/min "
        f"({result.in_pipeline} still in the pipeline; first send → last finish)"
    )


def report(cfg: PeakConfig, result: PeakResult) -> str:
    kinds = result.sent_by_kind
    suspected = result.suspected
    lines = [
        "",
        f"OrderHub peak-day benchmark — {cfg.url}  warehouse {result.warehouse}  channels {', '.join(result.channels)}",
        f"  target          {cfg.rate:g} orders/min for {cfg.duration:g} s, batch {cfg.batch}, "
        f"concurrency {cfg.concurrency}",
        f"  sent            {result.sent} orders in {result.requests} requests: new {kinds.get('new', 0)}, "
        f"re-sent {kinds.get('resend', 0)}, cross-channel copies {kinds.get('copy', 0)}",
        f"  answers         {_counts(result.answers)}",
        f"  errors          {result.errors}",
        f"  achieved        {result.orders_per_min:.1f} orders/min acknowledged (over {result.elapsed:.1f} s)",
        f"  ack latency     {format_summary(result.ack_ms)}   [from due time]",
        f"  send → ack      {format_summary(result.send_to_ack_ms)}",
        f"  ack → ready     {format_summary(result.ack_to_ready_ms)}",
        "  pipeline        " + _pipeline_line(result),
    ]
    if result.in_pipeline:
        lines.append(
            f"  NOT FINISHED    {result.in_pipeline} accepted orders still in the pipeline after the {cfg.drain:g} s "
            f"drain ({_counts(result.in_pipeline_by_status)}): stored, not lost — the workers fell behind "
            "(a longer --drain lets them finish)"
        )
    sustained = result.sustained_per_min
    bound = "" if result.pipeline_complete else " at least"
    lower = "" if result.pipeline_complete else "   (a lower bound: not every order finished)"
    kept_up = sustained is not None and sustained >= 0.97 * cfg.rate
    if result.pg_min and sustained is not None:
        floor = "measured just before" if cfg.pg_min_run else "pg_min.sh"
        lines.append(
            f"  vs pg_min       {sustained:.0f} / {result.pg_min:.0f} orders/min (the one-order floor, {floor}) ="
            f"{bound} {sustained / result.pg_min:.3f}   [goal ≥ 0.5]"
            + lower
            + ("   (the hub kept up: raise --rate to find its limit)" if kept_up else "")
        )
    if cfg.pg_limit and sustained is not None:
        lines.append(
            f"  vs pg_limit     {sustained:.0f} / {cfg.pg_limit:.0f} orders/min (the app's own SQL) ="
            f"{bound} {sustained / cfg.pg_limit:.2f}"
            + lower
            + ("   (the hub kept up: raise --rate to find its limit)" if kept_up and not result.pg_min else "")
        )
    lines += [
        f"  by status       {_counts(result.by_status)}",
        f"  hold queues     {_counts(result.by_hold_queue)}",
        f"  exceptions      {_counts(result.exception_reasons)}",
        f"  out of stock    {result.out_of_stock_low} with a low-stock SKU, {result.out_of_stock_other} other"
        + (
            "   [low stock: " + ", ".join(f"{k} {v}" for k, v in result.low_stock.items()) + "]"
            if result.low_stock
            else ""
        ),
        f"  suspected dups  {suspected['copies_held_duplicate']} of {suspected['copies_accepted']} cross-channel "
        f"copies held in the duplicate queue; {suspected['others_held_duplicate']} other orders held there",
        "  memo rules      "
        + "   ".join(
            f"{name} {r['applied']}/{r['memos']}"
            + (
                f" (invoice queue {r['in_invoice_queue']}, duplicate queue {r['held_as_duplicate']})"
                if "in_invoice_queue" in r
                else ""
            )
            + (f" +{r['without_memo']} without memo" if r["without_memo"] else "")
            for name, r in result.rules.items()
        ),
        f"  provinces       {result.provinces} (receiver province as the hub standardised it)",
        f"  hot SKUs        hottest SKU in {result.hot_share['top1_orders']:.0%} of new orders, one of the top 10 in "
        f"{result.hot_share['top10_orders']:.0%}",
    ]
    lines += format_statements(result.statements)
    lines += format_cpu(result.cpu)
    lines += [
        "  invariants",
        f"    oversold      {_verdict(result.oversold)}   [{result.stock_checked}]",
        f"    duplicated    {_verdict(result.duplicated)}",
        f"    lost          {_verdict(result.lost)}   [accepted but not stored under its id]",
        f"    in pipeline   {result.in_pipeline}"
        + (
            f"   [not lost, not finished: {_counts(result.in_pipeline_by_status)} after the {cfg.drain:g} s drain]"
            if result.in_pipeline
            else f"   [every accepted order finished within the {cfg.drain:g} s drain]"
        ),
    ]
    lines += [f"      {d}" for d in result.oversold_detail + result.duplicated_detail + result.lost_detail]
    if result.not_acknowledged_stored:
        lines.append(f"  stored without an answer   {result.not_acknowledged_stored} (request failed after commit)")
    lines += [f"  anomaly         {a}" for a in result.anomalies]
    lines += [f"  error sample    {sample}" for sample in result.error_samples]
    return "\n".join(lines) + "\n"


def _channel_arg(value: str) -> tuple[str, str]:
    code, sep, secret = value.partition("=")
    if not sep or not code or not secret:
        raise argparse.ArgumentTypeError("expected CODE=SECRET")
    return code, secret


def _pids_arg(value: str) -> list[int]:
    try:
        pids = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected PID,PID…") from None
    if not pids or any(pid <= 0 for pid in pids):
        raise argparse.ArgumentTypeError("expected PID,PID…")
    return pids


def _parse(argv: Sequence[str] | None) -> tuple[PeakConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench.peak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--admin-user", default=os.environ.get("ORDERHUB_ADMIN_USER"))
    parser.add_argument("--admin-password", default=os.environ.get("ORDERHUB_ADMIN_PASSWORD"))
    parser.add_argument("--rate", type=float, default=6000.0, help="orders per minute")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending")
    parser.add_argument("--batch", type=int, default=50, help="orders per request (1–500)")
    parser.add_argument("--concurrency", type=int, default=32, help="max requests in flight")
    parser.add_argument("--setup", action="store_true", help="create a bench warehouse, SKUs and channels first")
    parser.add_argument("--setup-skus", type=int, default=200, help="SKUs to create with --setup")
    parser.add_argument("--low-stock", type=int, default=3, help="SKUs given too little stock with --setup")
    parser.add_argument("--zipf", type=float, default=1.1, help="SKU popularity exponent (rank k weighs 1/k^s)")
    parser.add_argument("--duplicates", type=float, default=0.05, help="share of duplicate orders (0–0.5)")
    parser.add_argument("--warehouse", help="without --setup: the warehouse the channels ship from")
    parser.add_argument(
        "--channel", type=_channel_arg, action="append", default=[], help="without --setup: CODE=SECRET (repeat)"
    )
    skus = parser.add_mutually_exclusive_group()
    skus.add_argument("--skus-file", type=Path, help="without --setup: JSON list of SKU codes, hottest first")
    skus.add_argument("--sku", action="append", default=[], help="without --setup: a SKU code (repeatable)")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for orders to finish")
    parser.add_argument("--check-timeout", type=float, default=60.0, help="seconds for reading orders back")
    parser.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout per request (s)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for the generated orders")
    parser.add_argument("--pg-limit", type=float, default=None, help="orders/min from bench/pg_limit.sh: print ratio")
    floor = parser.add_mutually_exclusive_group()
    floor.add_argument(
        "--pg-min",
        type=float,
        default=None,
        help="orders/min from ../shared/bench/pg_min.sh in the same sitting: print the ratio to it",
    )
    floor.add_argument(
        "--pg-min-run",
        type=int,
        default=None,
        metavar="SECONDS",
        help="run `bash ../shared/bench/pg_min.sh SECONDS` first (hub idle) and use its orders/min",
    )
    parser.add_argument(
        "--pg-min-script",
        type=Path,
        default=PG_MIN_SCRIPT,
        help=f"pg_min.sh for --pg-min-run (default {PG_MIN_SCRIPT})",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="the hub's local PostgreSQL database: statements and PostgreSQL ms per order from pg_stat_statements",
    )
    parser.add_argument(
        "--hub-pids",
        type=_pids_arg,
        default=None,
        help="PID,PID…: the hub's processes for CPU per order (default: the `orderhub serve` on --url's port and "
        "its workers, found in /proc; children included)",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --url")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    if not 1 <= args.batch <= 500:
        parser.error("--batch must be 1–500")
    if args.concurrency < 1 or args.setup_skus < 10 or args.low_stock < 0:
        parser.error("--concurrency must be ≥ 1, --setup-skus ≥ 10, --low-stock ≥ 0")
    if not 0 <= args.duplicates <= 0.5 or args.zipf <= 0:
        parser.error("--duplicates must be 0–0.5 and --zipf positive")
    if not (args.admin_user and args.admin_password):
        parser.error("the checks read orders back: give --admin-user and --admin-password")
    if not math.isfinite(args.drain + args.check_timeout + args.timeout):
        parser.error("timeouts must be finite")
    if args.pg_min is not None and not (math.isfinite(args.pg_min) and args.pg_min > 0):
        parser.error("--pg-min must be a positive number of orders/min")
    if args.pg_limit is not None and not (math.isfinite(args.pg_limit) and args.pg_limit > 0):
        parser.error("--pg-limit must be a positive number of orders/min")
    if args.pg_min_run is not None and not 1 <= args.pg_min_run <= 3600:
        parser.error("--pg-min-run must be 1–3600 seconds")
    if args.database_url:
        try:
            check_local_database(args.database_url)
        except ValueError as exc:
            parser.error(str(exc))
    cfg = PeakConfig(
        url=args.url,
        rate=args.rate,
        duration=args.duration,
        admin_user=args.admin_user,
        admin_password=args.admin_password,
        batch=args.batch,
        concurrency=args.concurrency,
        setup=args.setup,
        setup_skus=args.setup_skus,
        low_stock=args.low_stock,
        zipf=args.zipf,
        duplicates=args.duplicates,
        warehouse=args.warehouse,
        channels=dict(args.channel),
        skus=load_skus(args.skus_file) if args.skus_file else list(args.sku),
        drain=args.drain,
        check_timeout=args.check_timeout,
        timeout=args.timeout,
        seed=args.seed,
        pg_limit=args.pg_limit,
        pg_min=args.pg_min,
        pg_min_run=args.pg_min_run,
        pg_min_script=args.pg_min_script,
        database_url=args.database_url,
        hub_pids=args.hub_pids,
    )
    return cfg, args


def main(argv: Sequence[str] | None = None) -> int:
    cfg, args = _parse(argv)
    return run_cli(
        cfg, args, run, report, lambda result: 4 if not result.invariants_hold else 0 if result.errors == 0 else 3
    )


if __name__ == "__main__":
    sys.exit(main())
