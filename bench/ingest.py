"""Ingest benchmark: push orders at a fixed rate into a running hub, then measure how fast they became ready.

    python -m bench.ingest --url http://127.0.0.1:8000 --setup --admin-user admin --admin-password … \\
        --rate 600 --duration 60
    python -m bench.ingest --url … --channel own_store --secret … --skus-file var/demo_skus.json --rate 600

Open loop: request *i* is due at ``start + i × batch × 60 / rate`` whether or not earlier requests have
answered, and its ack latency is measured from that due time, so a slow hub shows up as latency instead of
quietly lowering the rate (no coordinated omission). ``--concurrency`` caps requests in flight; time spent
waiting for a free slot counts as latency too.

Ack time is when the HTTP 202 came back (client clock). Ready time is the ``created_at`` of the order's event
with ``to_status == "ready"`` (server clock; same machine for a local hub). The job is queued when the ingest
transaction commits, before the response is written, so a fast worker can make an order ready a little before
its 202 arrives: ack → ready can be slightly negative. Reading orders back needs an admin
token: ``--admin-user`` / ``--admin-password`` (default: ``ORDERHUB_ADMIN_USER`` / ``ORDERHUB_ADMIN_PASSWORD``).
Without one the run still reports ingest figures.

``--setup`` (needs the admin login) creates a bench warehouse, ``--setup-skus`` SKUs with plenty of stock, and a
bench channel whose default warehouse is that warehouse, and benchmarks through them: one command benchmarks a
fresh hub. The run is bounded: it stops by itself at most ``duration + drain`` seconds after it starts sending
(plus up to 30 s reading finished orders back; ready times of orders not read by then come from ``updated_at``).
Only the ``--url`` given is ever contacted, and it must be a loopback address unless ``--allow-remote``.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import os
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from sandbox.orders import ingest_body, make_order, sign

__all__ = [
    "INGEST",
    "PROCESSING",
    "SETUP_STOCK",
    "BenchConfig",
    "BenchError",
    "BenchResult",
    "Hub",
    "check_local",
    "format_summary",
    "load_skus",
    "main",
    "open_loop",
    "percentile",
    "post_batch",
    "problem",
    "ready_time",
    "run",
    "run_cli",
    "summarise",
]

INGEST = "/api/v1/orders/ingest"
PROCESSING = frozenset({"received", "validated", "reserved"})
SETUP_STOCK = 1_000_000


class BenchError(RuntimeError):
    pass


@dataclass
class BenchConfig:
    url: str
    rate: float  # orders per minute
    duration: float  # seconds of sending
    batch: int = 1
    concurrency: int = 32
    channel: str | None = None
    secret: str | None = None
    admin_user: str | None = None
    admin_password: str | None = None
    skus: list[str] = field(default_factory=list)
    setup: bool = False
    setup_skus: int = 50
    drain: float = 60.0
    timeout: float = 30.0
    seed: int | None = None


@dataclass
class _Order:
    external_id: str
    due: float  # monotonic time its request was due
    sent: float | None = None  # monotonic
    acked: float | None = None  # monotonic
    acked_wall: float | None = None  # unix time of the ack
    status: str = "error"  # accepted | duplicate | rejected | error
    order_id: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Seen:
    status: str
    reason: str | None
    updated_at: float  # unix time


_UNSEEN = _Seen(status="received", reason=None, updated_at=0.0)


@dataclass
class BenchResult:
    channel: str
    sent: int
    accepted: int
    duplicate: int
    rejected: int
    errors: int
    requests: int
    elapsed: float
    orders_per_min: float
    ack_ms: dict[str, float | None]
    send_to_ack_ms: dict[str, float | None]
    ack_to_ready_ms: dict[str, float | None]
    ready: int | None
    exception: int | None
    not_finished: int | None
    other: int | None
    exception_reasons: dict[str, int]
    ready_from_updated_at: int
    error_samples: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (``p`` in 0–100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarise(values_s: Sequence[float]) -> dict[str, float | None]:
    ms = [v * 1000 for v in values_s]

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "n": float(len(ms)),
        "p50": rounded(percentile(ms, 50)),
        "p99": rounded(percentile(ms, 99)),
        "max": rounded(max(ms) if ms else None),
    }


def problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code} {response.text[:200]}"
    if isinstance(body, dict):
        return f"HTTP {response.status_code} {body.get('code')}: {body.get('message')}"
    return f"HTTP {response.status_code}"


def check_local(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise BenchError(f"refusing to load-test {host!r}: only loopback URLs unless --allow-remote")


class Hub:
    """The few hub endpoints the benchmark uses."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.token: str | None = None

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    async def login(self, username: str, password: str) -> None:
        response = await self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        if response.status_code != 200:
            raise BenchError(f"login as {username} failed: {problem(response)}")
        self.token = response.json()["access_token"]

    async def post(self, path: str, body: dict[str, Any], ok: int = 201) -> dict[str, Any]:
        response = await self.client.post(path, json=body, headers=self.auth)
        if response.status_code != ok:
            raise BenchError(f"POST {path} failed: {problem(response)}")
        result: dict[str, Any] = response.json()
        return result

    async def create_warehouse(self, code: str, name: str) -> None:
        await self.post(
            "/api/v1/warehouses",
            {"code": code, "name": name, "region": "压测", "provinces": [], "address": "bench (synthetic)"},
        )

    async def create_skus(self, warehouse: str, stock: dict[str, int]) -> None:
        """Create each SKU code in ``stock`` (in order) and set its on-hand stock in ``warehouse``."""
        gate = asyncio.Semaphore(8)

        async def one(code: str, index: int) -> None:
            async with gate:
                await self.post(
                    "/api/v1/skus",
                    {
                        "code": code,
                        "name": f"压测商品 {index:03d}",
                        "barcodes": [],
                        "weight_g": 100 + index,
                        "volume_cm3": 500,
                    },
                )
                await self.post(
                    "/api/v1/stock/adjustments",
                    {
                        "sku": code,
                        "warehouse": warehouse,
                        "set": stock[code],
                        "reason": "压测：初始库存",
                    },
                )

        await asyncio.gather(*(one(code, i) for i, code in enumerate(stock, 1)))

    async def create_channel(self, code: str, name: str, warehouse: str, platform: str = "own_store") -> str:
        """Create a channel shipping from ``warehouse``; returns its signing secret."""
        created = await self.post(
            "/api/v1/channels",
            {"code": code, "platform": platform, "name": name, "default_warehouse": warehouse},
        )
        return str(created["secret"])

    async def setup(self, sku_count: int) -> tuple[str, str, list[str]]:
        """A bench warehouse, SKUs with plenty of stock, and a channel shipping from that warehouse."""
        tag = f"{int(time.time()):x}{secrets.token_hex(2)}".upper()
        warehouse = f"BN{tag}"
        await self.create_warehouse(warehouse, f"压测仓 {tag}")
        skus = [f"BENCH-{tag}-{i:03d}" for i in range(1, sku_count + 1)]
        await self.create_skus(warehouse, dict.fromkeys(skus, SETUP_STOCK))
        channel = f"bench_{tag.lower()}"
        secret = await self.create_channel(channel, f"压测渠道 {tag}", warehouse)
        return channel, secret, skus

    async def orders(self, channel: str, min_id: int = 0) -> list[dict[str, Any]]:
        """The channel's orders with id ≥ ``min_id`` as the list endpoint returns them (no lines or events),
        newest first; pages stop below ``min_id``."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"channel": channel, "limit": 200}
            if cursor:
                params["cursor"] = cursor
            response = await self.client.get("/api/v1/orders", params=params, headers=self.auth)
            if response.status_code != 200:
                raise BenchError(f"listing orders failed: {problem(response)}")
            page = response.json()
            for item in page["items"]:
                if item["id"] < min_id:
                    return found
                found.append(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    async def statuses(self, channel: str, min_id: int) -> dict[int, _Seen]:
        """Status of the channel's orders with id ≥ ``min_id`` (newest first, stops below ``min_id``)."""
        return {
            item["id"]: _Seen(
                status=item["status"],
                reason=item.get("exception_reason"),
                updated_at=datetime.fromisoformat(item["updated_at"]).timestamp(),
            )
            for item in await self.orders(channel, min_id)
        }

    async def order(self, order_id: int) -> dict[str, Any] | None:
        """One order with its lines and events, or None if it cannot be read."""
        response = await self.client.get(f"/api/v1/orders/{order_id}", headers=self.auth)
        if response.status_code != 200:
            return None
        result: dict[str, Any] = response.json()
        return result

    async def ready_at(self, order_id: int) -> float | None:
        """Unix time of the order's transition to ready (from its event), or None."""
        detail = await self.order(order_id)
        return None if detail is None else ready_time(detail)


def ready_time(detail: dict[str, Any]) -> float | None:
    """Unix time of the order's first ``order.status_changed`` event to ready, or None."""
    for event in detail.get("events", []):
        if event.get("to_status") == "ready":
            return datetime.fromisoformat(event["created_at"]).timestamp()
    return None


async def _send_all(
    client: httpx.AsyncClient, hub: Hub, cfg: BenchConfig, channel: str, secret: str | None, skus: list[str]
) -> tuple[list[_Order], float, int]:
    rng = random.Random(cfg.seed)
    run_id = secrets.token_hex(3)
    interval = 60.0 * cfg.batch / cfg.rate
    total_requests = max(1, round(cfg.rate * cfg.duration / 60.0 / cfg.batch))
    gate = asyncio.Semaphore(cfg.concurrency)
    orders: list[_Order] = []

    async def one(index: int, due: float) -> None:
        batch = [_Order(external_id=f"bench-{run_id}-{index:06d}-{j}", due=due) for j in range(cfg.batch)]
        orders.extend(batch)
        payload = [make_order(rng, external_id=o.external_id, skus=skus) for o in batch]
        body = ingest_body(channel, payload)
        headers = {"content-type": "application/json"}
        headers.update(sign(channel, secret, body) if secret else hub.auth)
        await post_batch(client, gate, body, headers, batch)

    start = await open_loop(total_requests, interval, one, timeout=cfg.timeout + 5)
    acks = [o.acked for o in orders if o.acked is not None]
    # N requests span N intervals (= the duration) when the hub keeps up; longer when acks lag behind.
    elapsed = max((max(acks) if acks else time.monotonic()) - start, total_requests * interval)
    return orders, elapsed, total_requests


async def run(cfg: BenchConfig, log: Any = print) -> BenchResult:
    limits = httpx.Limits(max_connections=cfg.concurrency + 4, max_keepalive_connections=cfg.concurrency + 4)
    async with httpx.AsyncClient(base_url=cfg.url.rstrip("/"), timeout=cfg.timeout, limits=limits) as client:
        hub = Hub(client)
        if cfg.admin_user and cfg.admin_password:
            await hub.login(cfg.admin_user, cfg.admin_password)
        channel, secret, skus = cfg.channel, cfg.secret, list(cfg.skus)
        if cfg.setup:
            if hub.token is None:
                raise BenchError("--setup needs --admin-user and --admin-password")
            log(f"setting up: warehouse, {cfg.setup_skus} SKUs with {SETUP_STOCK} each, channel …")
            channel, secret, skus = await hub.setup(cfg.setup_skus)
            log(f"  channel {channel}, SKUs {skus[0]} … {skus[-1]}")
        if not channel:
            raise BenchError("give --channel (with --secret or admin login), or --setup")
        if not secret and hub.token is None:
            raise BenchError("give --secret (signed ingest) or --admin-user/--admin-password (token ingest)")
        if not skus:
            raise BenchError("give --skus-file or --sku (or --setup)")

        log(
            f"sending {cfg.rate:g} orders/min for {cfg.duration:g} s (batch {cfg.batch}, "
            f"concurrency {cfg.concurrency}) to {cfg.url} channel {channel} …"
        )
        orders, elapsed, requests = await _send_all(client, hub, cfg, channel, secret, skus)
        drain_deadline = time.monotonic() + cfg.drain

        counts = Counter(o.status for o in orders)
        acked = [o for o in orders if o.acked is not None]
        accepted = [o for o in orders if o.status == "accepted" and o.order_id]
        errors = [o.error for o in orders if o.error]

        ready = exception = not_finished = other = None
        reasons: Counter[str] = Counter()
        ready_latency: list[float] = []
        from_updated_at = 0
        if hub.token is not None and accepted:
            log(f"waiting up to {cfg.drain:g} s for {len(accepted)} orders to leave the pipeline …")
            wanted = {o.order_id: o for o in accepted if o.order_id is not None}
            min_id = min(wanted)
            final: dict[int, _Seen] = {}
            while True:
                try:
                    seen = await hub.statuses(channel, min_id)
                except httpx.HTTPError as exc:  # a busy hub may time out a listing: try again next round
                    log(f"  listing orders failed ({type(exc).__name__}); retrying")
                    seen = {i: final[i] for i in final}
                final = {i: seen[i] for i in wanted if i in seen}
                unfinished = [i for i in wanted if final.get(i, _UNSEEN).status in PROCESSING]
                if not unfinished or time.monotonic() >= drain_deadline:
                    break
                await asyncio.sleep(min(1.0, max(0.0, drain_deadline - time.monotonic())))
            statuses = {i: final.get(i, _UNSEEN) for i in wanted}
            ready_ids = [i for i, seen_ in statuses.items() if seen_.status == "ready"]
            ready = len(ready_ids)
            exception = sum(1 for seen_ in statuses.values() if seen_.status == "exception")
            not_finished = sum(1 for seen_ in statuses.values() if seen_.status in PROCESSING)
            other = len(statuses) - ready - exception - not_finished
            reasons.update(seen_.reason or "?" for seen_ in statuses.values() if seen_.status == "exception")

            # Ready time from the order's "→ ready" event. Reading every order back is bounded in time; orders not
            # read by then fall back to updated_at, which is stamped by the same transition (the order is still
            # ready, so nothing has touched it since).
            gate = asyncio.Semaphore(16)
            fetch_deadline = max(drain_deadline, time.monotonic() + 30.0)

            async def latency(order_id: int) -> None:
                nonlocal from_updated_at
                at: float | None = None
                async with gate:
                    if time.monotonic() < fetch_deadline:
                        try:
                            at = await hub.ready_at(order_id)
                        except httpx.HTTPError:
                            at = None
                if at is None:
                    at = statuses[order_id].updated_at
                    from_updated_at += 1
                order = wanted[order_id]
                if order.acked_wall is not None:
                    ready_latency.append(at - order.acked_wall)

            await asyncio.gather(*(latency(i) for i in ready_ids))

    acked_count = len(acked)
    return BenchResult(
        channel=channel,
        sent=len(orders),
        accepted=counts.get("accepted", 0),
        duplicate=counts.get("duplicate", 0),
        rejected=counts.get("rejected", 0),
        errors=sum(1 for o in orders if o.acked is None),
        requests=requests,
        elapsed=round(elapsed, 2),
        orders_per_min=round(acked_count / elapsed * 60.0, 1) if elapsed > 0 else 0.0,
        ack_ms=summarise([o.acked - o.due for o in acked if o.acked is not None]),
        send_to_ack_ms=summarise([o.acked - o.sent for o in acked if o.acked is not None and o.sent is not None]),
        ack_to_ready_ms=summarise(ready_latency),
        ready=ready,
        exception=exception,
        not_finished=not_finished,
        other=other,
        exception_reasons=dict(reasons),
        ready_from_updated_at=from_updated_at,
        error_samples=sorted(set(errors))[:5],
    )


def format_summary(summary: dict[str, float | None]) -> str:
    if not summary.get("n"):
        return "n/a"

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f} ms"

    return f"p50 {ms(summary['p50'])}   p99 {ms(summary['p99'])}   max {ms(summary['max'])}   (n={summary['n']:.0f})"


def report(cfg: BenchConfig, result: BenchResult) -> str:
    lines = [
        "",
        f"OrderHub ingest benchmark — {cfg.url}  channel {result.channel}",
        f"  target          {cfg.rate:g} orders/min for {cfg.duration:g} s, batch {cfg.batch}, "
        f"concurrency {cfg.concurrency}",
        f"  sent            {result.sent} orders in {result.requests} requests",
        f"  accepted        {result.accepted}",
        f"  duplicate       {result.duplicate}",
        f"  rejected        {result.rejected}",
        f"  errors          {result.errors}",
        f"  achieved        {result.orders_per_min:.1f} orders/min acknowledged (over {result.elapsed:.1f} s)",
        f"  ack latency     {format_summary(result.ack_ms)}   [from due time]",
        f"  send → ack      {format_summary(result.send_to_ack_ms)}",
    ]
    if result.ready is None:
        lines.append("  ack → ready     not measured (no admin login, or nothing accepted)")
    else:
        note = f"   [{result.ready_from_updated_at} from updated_at]" if result.ready_from_updated_at else ""
        lines.append(f"  ack → ready     {format_summary(result.ack_to_ready_ms)}{note}")
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(result.exception_reasons.items()))
        lines.append(
            f"  after drain     ready {result.ready}   exception {result.exception}"
            + (f" ({reasons})" if reasons else "")
            + f"   not finished {result.not_finished}"
            + (f"   other {result.other}" if result.other else "")
            + f"   [drain timeout {cfg.drain:g} s]"
        )
    lines += [f"  error sample    {sample}" for sample in result.error_samples]
    return "\n".join(lines) + "\n"


def load_skus(path: Path) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    codes = [item if isinstance(item, str) else item.get("code") for item in data] if isinstance(data, list) else []
    return [code for code in codes if isinstance(code, str) and code]


def _parse(argv: Sequence[str] | None) -> tuple[BenchConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--channel", help="channel code to push as")
    parser.add_argument("--secret", help="the channel's signing secret (else ingest with the admin token)")
    parser.add_argument("--admin-user", default=os.environ.get("ORDERHUB_ADMIN_USER"))
    parser.add_argument("--admin-password", default=os.environ.get("ORDERHUB_ADMIN_PASSWORD"))
    parser.add_argument("--rate", type=float, default=600.0, help="orders per minute")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending")
    parser.add_argument("--batch", type=int, default=1, help="orders per request (1–500)")
    parser.add_argument("--concurrency", type=int, default=32, help="max requests in flight")
    skus = parser.add_mutually_exclusive_group()
    skus.add_argument("--skus-file", type=Path, help="JSON list of SKU codes or of {code: …} objects")
    skus.add_argument("--sku", action="append", default=[], help="a SKU code (repeatable)")
    parser.add_argument("--setup", action="store_true", help="create a bench warehouse, SKUs and channel first")
    parser.add_argument("--setup-skus", type=int, default=50, help="SKUs to create with --setup")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for orders to finish")
    parser.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout per request (s)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for the generated orders")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --url")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    if not 1 <= args.batch <= 500:
        parser.error("--batch must be 1–500")
    if args.concurrency < 1 or args.setup_skus < 1:
        parser.error("--concurrency and --setup-skus must be at least 1")
    cfg = BenchConfig(
        url=args.url,
        rate=args.rate,
        duration=args.duration,
        batch=args.batch,
        concurrency=args.concurrency,
        channel=args.channel,
        secret=args.secret,
        admin_user=args.admin_user,
        admin_password=args.admin_password,
        skus=load_skus(args.skus_file) if args.skus_file else list(args.sku),
        setup=args.setup,
        setup_skus=args.setup_skus,
        drain=args.drain,
        timeout=args.timeout,
        seed=args.seed,
    )
    return cfg, args


async def open_loop(
    total_requests: int,
    interval: float,
    one: Callable[[int, float], Coroutine[Any, Any, None]],
    *,
    timeout: float,
) -> float:
    """Start request ``i`` at ``start + i * interval`` whatever the earlier ones are doing (open loop, so a slow
    hub shows up as latency, not as a lower send rate); wait for them all. Returns the monotonic start."""
    tasks: list[asyncio.Task[None]] = []
    start = time.monotonic()
    for index in range(total_requests):
        due = start + index * interval
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, due)))
    if tasks:
        _, late = await asyncio.wait(tasks, timeout=timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    return start


async def post_batch(
    client: httpx.AsyncClient, gate: asyncio.Semaphore, body: bytes, headers: dict[str, str], batch: Sequence[Any]
) -> None:
    """POST one ingest batch and record on each order when it was sent and acknowledged, and the answer."""
    async with gate:
        sent = time.monotonic()
        for o in batch:
            o.sent = sent
        try:
            response = await client.post(INGEST, content=body, headers=headers)
        except httpx.HTTPError as exc:
            for o in batch:
                o.error = f"{type(exc).__name__}: {exc}"
            return
    acked, acked_wall = time.monotonic(), time.time()
    if response.status_code != 202:
        failure = problem(response)
        for o in batch:
            o.error = failure
        return
    by_id = {r["external_id"]: r for r in response.json()["results"]}
    for o in batch:
        result = by_id.get(o.external_id, {})
        o.acked, o.acked_wall = acked, acked_wall
        o.status = str(result.get("status", "error"))
        o.order_id = result.get("order_id")
        if result.get("error"):
            o.error = f"{result['error'].get('code')}: {result['error'].get('message')}"


def run_cli(
    cfg: Any,
    args: argparse.Namespace,
    run_bench: Callable[..., Coroutine[Any, Any, Any]],
    render: Callable[[Any, Any], str],
    exit_code: Callable[[Any], int],
) -> int:
    """The shared command-line shell of the benchmarks: loopback check, run, report, JSON line, exit code."""
    try:
        if not args.allow_remote:
            check_local(cfg.url)
        result = asyncio.run(run_bench(cfg, log=lambda line: print(line, flush=True)))
    except (BenchError, httpx.HTTPError, OSError, ValueError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    print(render(cfg, result), flush=True)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    return exit_code(result)


def main(argv: Sequence[str] | None = None) -> int:
    cfg, args = _parse(argv)
    return run_cli(cfg, args, run, report, lambda result: 0 if result.errors == 0 else 3)


if __name__ == "__main__":
    sys.exit(main())
