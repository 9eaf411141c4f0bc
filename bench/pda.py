"""PDA benchmark: many simulated handhelds scanning against a running hub, timing the scan-confirm round trip.

    python -m bench.pda --url http://127.0.0.1:8000 --admin-user admin --admin-password … \\
        [--handhelds 300] [--rate 1] [--duration 60] [--warmup 5] [--processes 2]

**What it measures.** The latency of ``POST /pda/v1/scans`` — the picker scans a location or an item and waits for
the beep — with ``--handhelds`` PDAs each scanning ``--rate`` times a second. The product goal it reports against:
**p99 ≤ 20 ms at 300 handhelds scanning once a second**. It prints p50 / p90 / p99 / max (ms, overall and per scan
kind), achieved scans/s against the offered rate, answers by code (``ok``, the refusals ``wrong_location`` /
``wrong_item`` / ``over_pick``, other HTTP errors, transport failures), late sends, and a final verdict line
``goal p99 ≤ 20 ms at N handhelds × 1/s: met/not met (p99 …)``. Exit status 0 (whatever the verdict), 1 when the
setup fails, 2 on bad arguments.

**Setup** (always; every object gets fresh unique codes, so it can run again on the same hub and leaves what it
made behind): through the admin API a warehouse with one location per SKU, SKUs with barcodes and ample stock on
those pick faces, picking settings ``auto_waves: false, pick_mode: order``, a channel, one order per handheld (all
the SKUs, ``--qty`` units each: enough lines that every handheld makes real item scans for the whole run), waits
until the orders are ``ready``, releases them in manual waves (order picking: one task per order), creates a picker
(with a badge) and a PDA device per handheld — 8 at a time, as users cost a password hash — signs every PDA in by
badge and claims one task each. Progress lines are printed along the way.

**Load model.** Each handheld keeps one persistent keep-alive HTTP/1.1 connection (a PDA on Wi-Fi does) and walks
its task like a picker: a location scan, then item scans unit by unit (``location`` set), line after line; should
the task run out it keeps sending location scans of its last stop (valid, no state change). Every scan has a fresh
``client_id``. Scan *k* of a handheld is due at ``start + phase + k / rate`` (random phase, so the handhelds do not
beat in step). A picker waits for the beep: at most one scan in flight per handheld. When an answer comes back
after the next scan was due, that scan is sent at once and counted as a *late send*; due times passed over
entirely are dropped (*skipped*), so a slow hub shows up as latency, late sends and a lower achieved rate, never
as a growing backlog. Latency = answer fully read − request written. A connection the hub closed while idle
(uvicorn's keep-alive timeout: 75 s with `orderhub serve`) is reopened before the scan, outside the
timed interval, and counted as a *reconnect*. The first ``--warmup`` seconds of sending are excluded from the
figures; sending then goes on for ``--duration`` seconds, and the run stops by itself (answers still missing
``--timeout`` s after the last send count as timeouts). The handhelds are split over ``--processes`` OS processes
(one asyncio loop cannot hold 300 connections on schedule on a 2-CPU box while the hub shares it); the processes
start on a common wall-clock instant and their samples are merged. *client lag* (send time − due time of on-time
sends) shows whether the generator itself kept the schedule. ``--samples FILE`` writes every measured scan (send
time after start, latency, kind, code) as CSV, e.g. to see when the slow ones happened.

On a shared box the figures depend on what else runs: the hub's API, PostgreSQL and this client compete for the
same CPUs, and each scan is a chain of round trips between them, so any other load shows up in the tail.

**Why a hand-written HTTP client for the scans.** At a 20 ms goal the client's own cost matters: httpx adds about
1 ms of Python per request, which would land in every sample. The measured scans go through a minimal asyncio
HTTP/1.1 client instead (``asyncio.open_connection``, one write of a prebuilt request head with Content-Length,
read the status line, headers and Content-Length body, keep the connection). httpx is used for the setup only.

Only the ``--url`` given is contacted, and it must be a loopback address unless ``--allow-remote``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import secrets
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from bench.ingest import BenchError, Hub, check_local, percentile, problem

__all__ = [
    "GOAL_MS",
    "GOAL_RATE",
    "HandheldSpec",
    "PdaConfig",
    "RawHttp",
    "SliceResult",
    "main",
    "report",
    "run",
    "run_slice",
    "setup",
]

GOAL_MS = 20.0
GOAL_RATE = 1.0  # scans per second per handheld in the product goal
GOAL_HANDHELDS = 300
SCANS = "/pda/v1/scans"
SETUP_STOCK = 1_000_000
MAX_LINES = 200  # an order's lines (the ingest contract)
PASSWORD = "bench-pass-pda-1"

T = TypeVar("T")


@dataclass
class PdaConfig:
    url: str
    admin_user: str
    admin_password: str
    handhelds: int = 300
    rate: float = 1.0  # scans per second per handheld
    duration: float = 60.0  # measured seconds of sending
    warmup: float = 5.0  # seconds of sending before the measured window
    processes: int = 2
    qty: int = 3  # units per order line (item scans per line)
    timeout: float = 10.0  # per scan
    setup_timeout: float = 300.0  # waiting for the orders to become ready
    seed: int | None = None


@dataclass
class HandheldSpec:
    """One signed-in PDA with a claimed task and its walk (line_id, kind, barcode, location) in pick-path order."""

    index: int
    device: str
    token: str
    task_id: int
    steps: list[tuple[int, str, str, str | None]]


@dataclass
class SliceResult:
    """What one process measured. Samples: (send time − start s, latency s, kind, code); code "ok" or the
    refusal / error."""

    samples: list[tuple[float, float, str, str]] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)  # (send time − start, what), no answer
    late: int = 0
    skipped: int = 0
    exhausted: int = 0  # handhelds that ran out of item scans and fell back to location scans
    lag: list[float] = field(default_factory=list)  # s, on-time sends in the window
    reconnects: int = 0
    connect_late_s: float = 0.0  # how far past the start instant the last connection of this process was made
    error_samples: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- raw client


class RawHttp:
    """A minimal HTTP/1.1 keep-alive client for one connection: POST a JSON body, read the whole answer."""

    def __init__(self, host: str, port: int, path: str, token: str) -> None:
        self.host, self.port = host, port
        self.head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: "
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    def send(self, body: bytes) -> None:
        """Write one request (the connection must be open and idle)."""
        assert self.writer is not None
        self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def answer(self) -> tuple[int, bytes]:
        """Read one answer: (status, body). Closes the connection when the server says it will."""
        reader = self.reader
        assert reader is not None
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length: int | None = None
        chunked = close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # no trailers expected
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts)
        elif length is not None:
            body = await reader.readexactly(length)
        else:
            body = await reader.read()
            close = True
        if close:
            self.close()
        return status, body


def _code_of(status: int, body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    code = data.get("code") if isinstance(data, dict) else None
    if status == 200:
        return str(code or "ok")
    if status == 422 and code:
        return str(code)
    return f"HTTP {status}" + (f" {code}" if code else "")


# ----------------------------------------------------------------------------------------------- handhelds


async def _handheld(
    spec: HandheldSpec,
    conn: RawHttp,
    *,
    start: float,
    window: tuple[float, float],
    stop: float,
    period: float,
    phase: float,
    timeout: float,
    out: SliceResult,
) -> None:
    """Walk the task on schedule until ``stop`` (monotonic); ``window`` (seconds after start) is measured."""
    due = start + phase
    step = 0
    answered_at = 0.0  # when the previous answer came back (monotonic)
    fell_back = False
    clock = time.monotonic
    while due < stop:
        now = clock()
        if now < due:
            await asyncio.sleep(due - now)
        late = answered_at > due
        if step < len(spec.steps):
            line_id, kind, barcode, location = spec.steps[step]
            step += 1
        else:  # the task ran out: location scans of the last stop (valid, no state change)
            line_id, kind, barcode, location = next(s for s in reversed(spec.steps) if s[1] == "location")
            if not fell_back:
                fell_back = True
                out.exhausted += 1
        scan: dict[str, Any] = {
            "client_id": uuid.uuid4().hex,
            "task_id": spec.task_id,
            "line_id": line_id,
            "kind": kind,
            "barcode": barcode,
        }
        if location is not None:
            scan["location"] = location
        body = json.dumps(scan, separators=(",", ":")).encode()
        sent = clock()
        rel = sent - start
        measured = window[0] <= rel < window[1]
        try:
            if conn.writer is None or conn.reader is None or conn.reader.at_eof():
                # never opened, failed, or closed by the server while idle (keep-alive timeout): a PDA reconnects
                conn.close()
                out.reconnects += 1
                await conn.connect()
                sent = clock()
            if measured:
                if late:
                    out.late += 1
                else:
                    out.lag.append(sent - due)
            async with asyncio.timeout(timeout):
                conn.send(body)
                status, answer = await conn.answer()
            answered_at = clock()
            if measured:
                code = _code_of(status, answer)
                out.samples.append((rel, answered_at - sent, kind, code))
                if code not in ("ok", "line_withdrawn") and len(out.error_samples) < 5:
                    out.error_samples.append(f"{kind} scan: HTTP {status} {answer[:200]!r}")
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            answered_at = clock()
            conn.close()
            if measured:
                what = "timeout" if isinstance(exc, TimeoutError) else f"connection ({type(exc).__name__})"
                out.failures.append((rel, what))
                if len(out.error_samples) < 5:
                    out.error_samples.append(f"{kind} scan: {what}: {exc!r}")
        due += period
        now = clock()
        if now > due + period:  # whole periods passed over while waiting: drop them, keep the grid
            missed = int((now - due) // period)
            due += missed * period
            if window[0] <= due - start < window[1]:
                out.skipped += missed
    conn.close()


async def _run_slice(
    specs: list[HandheldSpec], url: str, rate: float, warmup: float, duration: float, start_at: float,
    timeout: float, seed: int,
) -> SliceResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    out = SliceResult()
    conns = [RawHttp(host, port, parts.path.rstrip("/") + SCANS, spec.token) for spec in specs]
    gate = asyncio.Semaphore(32)

    async def connect(conn: RawHttp) -> None:
        async with gate:
            await conn.connect()

    await asyncio.gather(*(connect(c) for c in conns))
    # the common start instant, in this process's monotonic clock
    start = time.monotonic() + (start_at - time.time())
    out.connect_late_s = max(0.0, time.monotonic() - start)
    period = 1.0 / rate
    rng = random.Random(seed)
    window = (warmup, warmup + duration)
    await asyncio.gather(
        *(
            _handheld(
                spec, conn, start=start, window=window, stop=start + warmup + duration, period=period,
                phase=rng.uniform(0.0, period), timeout=timeout, out=out,
            )
            for spec, conn in zip(specs, conns, strict=True)
        )
    )
    return out


def run_slice(
    specs: list[HandheldSpec], url: str, rate: float, warmup: float, duration: float, start_at: float,
    timeout: float, seed: int,
) -> SliceResult:
    """Run some handhelds in this process (the entry point of each bench process)."""
    return asyncio.run(_run_slice(specs, url, rate, warmup, duration, start_at, timeout, seed))


# --------------------------------------------------------------------------------------------------- setup


def _log(message: str) -> None:
    print(message, flush=True)


async def _bounded(items: Sequence[T], worker: Callable[[int, T], Awaitable[Any]], limit: int,
                   label: str) -> list[Any]:
    """Run ``worker(i, item)`` for every item, ``limit`` at a time, printing progress every ~10 %."""
    gate = asyncio.Semaphore(limit)
    done = 0
    step = max(1, len(items) // 10) if len(items) >= 50 else len(items)
    began = time.monotonic()

    async def one(i: int, item: T) -> Any:
        nonlocal done
        async with gate:
            result = await worker(i, item)
        done += 1
        if done % step == 0 or done == len(items):
            _log(f"  {label}: {done}/{len(items)} ({time.monotonic() - began:.1f} s)")
        return result

    return list(await asyncio.gather(*(one(i, item) for i, item in enumerate(items))))


async def _request(client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None,
                   headers: dict[str, str], ok: int) -> Any:
    response = await client.request(method, path, json=body, headers=headers)
    if response.status_code != ok:
        raise BenchError(f"{method} {path} failed: {problem(response)}")
    return response.json()


def _lines_needed(cfg: PdaConfig) -> int:
    scans = math.ceil(cfg.rate * (cfg.warmup + cfg.duration) * 1.1) + 2
    return max(2, min(MAX_LINES, math.ceil(scans / (1 + cfg.qty))))


async def setup(cfg: PdaConfig) -> list[HandheldSpec]:
    """Create the floor, the orders, the tasks, the pickers and their PDAs; sign in and claim. See the module doc."""
    rng = random.Random(cfg.seed)
    tag = f"{int(time.time()):x}{secrets.token_hex(2)}".upper()
    n, lines = cfg.handhelds, _lines_needed(cfg)
    async with httpx.AsyncClient(base_url=cfg.url.rstrip("/"), timeout=120) as client:
        hub = Hub(client)
        await hub.login(cfg.admin_user, cfg.admin_password)
        auth = hub.auth

        async def call(method: str, path: str, body: dict[str, Any] | None = None, ok: int = 201) -> Any:
            return await _request(client, method, path, body, auth, ok)

        warehouse = f"PD{tag}"
        _log(f"setup {tag}: warehouse {warehouse}, {lines} SKUs on {lines} pick faces, {n} orders of {lines} lines "
             f"× {cfg.qty} units, {n} pickers + PDAs")
        await hub.create_warehouse(warehouse, f"PDA 压测仓 {tag}")
        skus = [f"PDA-{tag}-{i:03d}" for i in range(1, lines + 1)]
        barcodes = {sku: f"69{tag}{i:03d}" for i, sku in enumerate(skus, 1)}
        bays = math.ceil(lines / 4)
        faces = {sku: (1 + i % 4, 1 + i // 4) for i, sku in enumerate(skus)}
        locations = {sku: f"P{aisle:02d}-{bay:02d}" for sku, (aisle, bay) in faces.items()}

        async def make_face(i: int, sku: str) -> None:
            aisle, bay = faces[sku]
            await call("POST", "/api/v1/locations", {
                "warehouse": warehouse, "code": locations[sku], "zone": "P", "aisle": f"{aisle:02d}",
                "bay": f"{bay:02d}", "level": "1",
            })
            await call("POST", "/api/v1/skus", {
                "code": sku, "name": f"PDA 压测商品 {i + 1:03d}", "weight_g": 100 + i, "barcodes": [barcodes[sku]],
            })
            await call("POST", "/api/v1/stock/adjustments", {
                "sku": sku, "warehouse": warehouse, "set": SETUP_STOCK, "reason": "压测：初始库存",
            })

        await _bounded(skus, make_face, 8, f"locations + SKUs ({bays} bays × 4 aisles)")
        await call("PUT", f"/api/v1/picking/{warehouse}/sku-locations",
                   {"items": [{"sku": sku, "location": locations[sku]} for sku in skus]}, ok=200)
        await call("PATCH", f"/api/v1/picking/{warehouse}/settings", {"auto_waves": False, "pick_mode": "order"},
                   ok=200)
        channel = f"pda_{tag.lower()}"
        await hub.create_channel(channel, f"PDA 压测渠道 {tag}", warehouse)

        # one order per handheld; a distinct receiver phone each, or identical orders are held as duplicates
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        phone_base = rng.randrange(10**7, 9 * 10**7)
        orders = [
            {
                "external_id": f"pda-{tag}-{i:05d}",
                "created_at": now,
                "paid_at": now,
                "buyer": {"nick": "压测买家", "phone": "13800138000"},
                "receiver": {"name": "王小明", "phone": f"139{phone_base + i:08d}",
                             "address": "上海市浦东新区世纪大道100号"},
                "lines": [{"sku": sku, "qty": cfg.qty, "unit_price": 1990} for sku in skus],
                "shipping_fee": 0,
                "discount": 0,
                "paid_amount": 1990 * cfg.qty * lines,
            }
            for i in range(n)
        ]
        order_ids: list[int] = []
        for first in range(0, n, 50):
            answer = await call("POST", "/api/v1/orders/ingest",
                                {"channel": channel, "orders": orders[first : first + 50]}, ok=202)
            bad = [r for r in answer["results"] if r["status"] != "accepted"]
            if bad:
                raise BenchError(f"ingest refused {len(bad)} orders, e.g. {bad[0]}")
            order_ids += [int(r["order_id"]) for r in answer["results"]]
        _log(f"  ingested {len(order_ids)} orders; waiting for them to be ready …")
        deadline = time.monotonic() + cfg.setup_timeout
        wanted = set(order_ids)
        while True:
            seen = await hub.statuses(channel, min(wanted))
            statuses = Counter(seen[i].status if i in seen else "received" for i in wanted)
            stuck = {i: seen[i] for i in wanted if i in seen and seen[i].status not in ("received", "validated",
                                                                                        "reserved", "ready")}
            if stuck:
                first_stuck = next(iter(stuck.items()))
                raise BenchError(f"{len(stuck)} orders did not become ready, e.g. order {first_stuck[0]}: "
                                 f"{first_stuck[1].status} {first_stuck[1].reason}")
            if statuses["ready"] == len(wanted):
                break
            if time.monotonic() > deadline:
                raise BenchError(f"orders not ready after {cfg.setup_timeout:g} s: {dict(statuses)}")
            await asyncio.sleep(1.0)
        _log(f"  {len(wanted)} orders ready")

        task_ids: list[int] = []
        for first in range(0, n, 100):
            wave = await call("POST", f"/api/v1/picking/{warehouse}/waves", {"order_ids": order_ids[first:first + 100]})
            task_ids += [int(t) for t in wave["task_ids"]]
        if len(task_ids) != n:
            raise BenchError(f"waves released {len(task_ids)} tasks for {n} orders (order picking should give one "
                             "per order)")
        _log(f"  {len(task_ids)} pick tasks released")

        people = [(f"pda_{tag.lower()}_{i:04d}", f"BADGE-{tag}-{i:04d}", f"PDA-{tag}-{i:04d}") for i in range(n)]

        async def make_person(i: int, person: tuple[str, str, str]) -> None:
            username, badge, device = person
            await call("POST", "/api/v1/users", {
                "username": username, "password": PASSWORD, "role": "picker", "display_name": f"拣货员{i + 1}",
                "warehouse": warehouse, "badge": badge,
            })
            await call("POST", "/api/v1/picking/devices", {"code": device, "warehouse": warehouse, "kind": "pda"})

        await _bounded(people, make_person, 8, "pickers + PDAs")

        async def sign_in_and_claim(i: int, person: tuple[str, str, str]) -> HandheldSpec:
            _, badge, device = person
            login = await _request(client, "POST", "/pda/v1/login", {"device": device, "badge": badge}, {}, 200)
            token = str(login["token"])
            task_id = task_ids[i]
            task = await _request(client, "POST", f"/pda/v1/tasks/{task_id}/claim", None,
                                  {"authorization": f"Bearer {token}"}, 200)
            steps: list[tuple[int, str, str, str | None]] = []
            for stop in task["stops"]:
                steps.append((int(stop["line_id"]), "location", str(stop["location"]), None))
                for _ in range(int(stop["qty"]) - int(stop["picked"])):
                    steps.append((int(stop["line_id"]), "item", barcodes[stop["sku"]], str(stop["location"])))
            return HandheldSpec(index=i, device=device, token=token, task_id=task_id, steps=steps)

        specs: list[HandheldSpec] = await _bounded(people, sign_in_and_claim, 16, "sign in + claim")
    return specs


# ----------------------------------------------------------------------------------------------------- run


@dataclass
class PdaResult:
    handhelds: int
    rate: float
    duration: float
    warmup: float
    processes: int
    lines: int
    scans: int  # answered in the window
    achieved: float  # answered scans per second over the window
    offered: float
    latency_ms: dict[str, float | None]
    by_kind_ms: dict[str, dict[str, float | None]]
    codes: dict[str, int]
    failures: dict[str, int]
    late: int
    skipped: int
    exhausted: int
    reconnects: int
    lag_ms: dict[str, float | None]
    connect_late_s: float
    error_samples: list[str]
    samples: list[tuple[float, float, str, str]] = field(default_factory=list, repr=False)


def _figures(values_s: Sequence[float]) -> dict[str, float | None]:
    ms = sorted(v * 1000.0 for v in values_s)

    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "n": float(len(ms)),
        "p50": r(percentile(ms, 50)),
        "p90": r(percentile(ms, 90)),
        "p99": r(percentile(ms, 99)),
        "max": r(ms[-1] if ms else None),
        "mean": r(sum(ms) / len(ms) if ms else None),
    }


def run(cfg: PdaConfig) -> PdaResult:
    specs = asyncio.run(setup(cfg))
    processes = max(1, min(cfg.processes, len(specs)))
    slices = [specs[p::processes] for p in range(processes)]
    lead = 3.0 + len(specs) / 150.0  # spawn the processes, open the connections
    start_at = time.time() + lead
    seed = cfg.seed if cfg.seed is not None else random.randrange(2**31)
    _log(f"running {len(specs)} handhelds × {cfg.rate:g} scans/s in {processes} process(es): {cfg.warmup:g} s "
         f"warm-up + {cfg.duration:g} s measured, starting in {lead:.1f} s …")
    args = (cfg.url.rstrip("/"), cfg.rate, cfg.warmup, cfg.duration, start_at, cfg.timeout)
    if processes == 1:
        parts = [run_slice(slices[0], *args, seed)]
    else:
        with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(run_slice, s, *args, seed + p) for p, s in enumerate(slices)]
            parts = [f.result() for f in futures]

    samples = [s for part in parts for s in part.samples]
    failures = Counter(what for part in parts for _, what in part.failures)
    codes = Counter(code for *_, code in samples)
    kinds = sorted({kind for _, _, kind, _ in samples})
    return PdaResult(
        handhelds=len(specs),
        rate=cfg.rate,
        duration=cfg.duration,
        warmup=cfg.warmup,
        processes=processes,
        lines=_lines_needed(cfg),
        scans=len(samples),
        achieved=len(samples) / cfg.duration,
        offered=len(specs) * cfg.rate,
        latency_ms=_figures([s[1] for s in samples]),
        by_kind_ms={k: _figures([s[1] for s in samples if s[2] == k]) for k in kinds},
        codes=dict(codes.most_common()),
        failures=dict(failures.most_common()),
        late=sum(p.late for p in parts),
        skipped=sum(p.skipped for p in parts),
        exhausted=sum(p.exhausted for p in parts),
        reconnects=sum(p.reconnects for p in parts),
        lag_ms=_figures([v for p in parts for v in p.lag]),
        connect_late_s=max(p.connect_late_s for p in parts),
        error_samples=[e for p in parts for e in p.error_samples][:8],
        samples=sorted(samples),
    )


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _line(fig: dict[str, float | None]) -> str:
    return (f"p50 {_ms(fig['p50'])}  p90 {_ms(fig['p90'])}  p99 {_ms(fig['p99'])}  max {_ms(fig['max'])}  "
            f"(mean {_ms(fig['mean'])}, n {int(fig['n'] or 0)})")


def report(cfg: PdaConfig, res: PdaResult) -> str:
    p99 = res.latency_ms["p99"]
    errors = sum(n for code, n in res.codes.items() if code not in ("ok", "line_withdrawn")) + sum(
        res.failures.values()
    )
    kept_up = res.achieved >= 0.98 * res.offered
    met = p99 is not None and p99 <= GOAL_MS and kept_up and errors == 0
    out = [
        "",
        f"PDA scan-confirm round trip, {cfg.url}: {res.handhelds} handhelds × {res.rate:g} scans/s, "
        f"{res.duration:g} s measured after {res.warmup:g} s warm-up, {res.processes} client process(es), "
        f"tasks of {res.lines} lines × {cfg.qty} units",
        f"  scans answered   {res.scans} in the window = {res.achieved:.4g} scans/s of {res.offered:g} offered",
        f"  latency ms       {_line(res.latency_ms)}",
    ]
    out += [f"    {kind:<14} {_line(fig)}" for kind, fig in res.by_kind_ms.items()]
    answers = ", ".join(f"{code} {n}" for code, n in res.codes.items()) or "none"
    out.append(f"  answers          {answers}")
    failed = ", ".join(f"{what} {n}" for what, n in res.failures.items()) or "0"
    out.append(f"  no answer        {failed}   (errors in all: {errors})")
    out.append(f"  late sends       {res.late} (the previous answer came after this scan was due); "
               f"skipped due times {res.skipped}; reconnects {res.reconnects}")
    out.append(f"  client lag ms    p50 {_ms(res.lag_ms['p50'])}  p99 {_ms(res.lag_ms['p99'])}  "
               f"max {_ms(res.lag_ms['max'])}  (send − due, on-time sends; the generator's own delay)")
    if res.connect_late_s > 0:
        out.append(f"  warning: a client process was {res.connect_late_s:.2f} s late opening its connections")
    if res.exhausted:
        out.append(f"  note: {res.exhausted} handhelds ran out of item scans and sent location scans after")
    for sample in res.error_samples:
        out.append(f"  e.g. {sample}")
    why = []
    if not kept_up:
        why.append(f"only {res.achieved:.4g} of {res.offered:g} scans/s")
    if errors:
        why.append(f"{errors} errors")
    rate = f"{res.rate:g}/s"
    verdict = "met" if met else "not met"
    detail = f"p99 {_ms(p99)} ms" + (f"; {', '.join(why)}" if why else "")
    out.append(f"goal p99 ≤ {GOAL_MS:g} ms at {res.handhelds} handhelds × {rate}: {verdict} ({detail})")
    if res.handhelds != GOAL_HANDHELDS or res.rate != GOAL_RATE:
        out.append(f"  (the product goal is stated at {GOAL_HANDHELDS} handhelds × {GOAL_RATE:g}/s)")
    return "\n".join(out)


def _parse(argv: Sequence[str] | None) -> tuple[PdaConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench.pda", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--admin-user", default=os.environ.get("ORDERHUB_ADMIN_USER"))
    parser.add_argument("--admin-password", default=os.environ.get("ORDERHUB_ADMIN_PASSWORD"))
    parser.add_argument("--handhelds", type=int, default=300, help="simulated PDAs (default 300)")
    parser.add_argument("--rate", type=float, default=1.0, help="scans per second per handheld (default 1)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds of scanning (default 60)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of scanning before the measured window")
    parser.add_argument("--processes", type=int, default=2, help="client OS processes to split the handhelds over")
    parser.add_argument("--qty", type=int, default=3, help="units per order line = item scans per stop (default 3)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for one scan's answer")
    parser.add_argument("--setup-timeout", type=float, default=300.0, help="seconds to wait for orders to be ready")
    parser.add_argument("--setup", action="store_true", help="accepted for symmetry: setup always runs (fresh codes)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--samples", type=Path, help="also write every measured scan to this CSV file "
                        "(send time after start s, latency ms, kind, code)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --url")
    args = parser.parse_args(argv)
    if not args.admin_user or not args.admin_password:
        parser.error("give --admin-user and --admin-password (or ORDERHUB_ADMIN_USER / ORDERHUB_ADMIN_PASSWORD)")
    if args.handhelds < 1 or args.rate <= 0 or args.duration <= 0 or args.warmup < 0 or args.processes < 1:
        parser.error("--handhelds, --rate, --duration, --processes must be positive (--warmup ≥ 0)")
    if not 1 <= args.qty <= 1000:
        parser.error("--qty must be 1–1000")
    if urlsplit(args.url).scheme != "http":
        parser.error("--url must be http:// (the scan client speaks plain HTTP/1.1)")
    cfg = PdaConfig(
        url=args.url,
        admin_user=args.admin_user,
        admin_password=args.admin_password,
        handhelds=args.handhelds,
        rate=args.rate,
        duration=args.duration,
        warmup=args.warmup,
        processes=args.processes,
        qty=args.qty,
        timeout=args.timeout,
        setup_timeout=args.setup_timeout,
        seed=args.seed,
    )
    return cfg, args


def main(argv: Sequence[str] | None = None) -> int:
    cfg, args = _parse(argv)
    try:
        if not args.allow_remote:
            check_local(cfg.url)
        result = run(cfg)
    except (BenchError, httpx.HTTPError, OSError) as exc:
        print(f"bench.pda: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if args.samples:
        with args.samples.open("w", encoding="utf-8") as f:
            f.write("sent_s,latency_ms,kind,code\n")
            f.writelines(f"{t:.4f},{lat * 1000:.3f},{kind},{code}\n" for t, lat, kind, code in result.samples)
    print(report(cfg, result), flush=True)
    return 0


if __name__ == "__main__":
    # Run through the importable module, so what the client processes receive pickles as bench.pda.*.
    from bench.pda import main as _main

    sys.exit(_main())
