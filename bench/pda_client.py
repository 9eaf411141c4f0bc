"""The handheld's page in a real browser: how soon a picker hears the beep after the scanner's Enter.

    python -m bench.pda_client --url http://127.0.0.1:8000 --admin-user admin --admin-password … [--scans 40]

**What it measures.** Headless Chromium (Debian's ``chromium``) opens the picker's page ``/pda/`` on a fresh task
(made by :func:`bench.pda.setup`: one handheld, one order, its lines one unit each) and a keyboard-wedge scanner
types each step of the walk — the location, then the item, line after line — as fast keys and Enter. The figure is
the time from the Enter key to the answer band changing on the page (the sound and vibration start in the same
turn), measured inside the page with ``performance.now()``:

- **online**: the scan goes through the outbox (IndexedDB write), ``POST /pda/v1/scans``, the answer, the band;
- **offline** (the browser's offline mode): the outbox write and the device's own judgement of the scan;
- **replay**: the network back, how long the queued scans take to reach the hub and the task to be read again;
- **cold load**: navigation to the sign-in screen, on an empty profile (the page, its modules, the service worker).

It prints p50 / p90 / max (ms) of each. Exit status 0, 1 when the setup or the browser fails. The floor it makes
stays behind (fresh codes each run), as with ``bench.pda``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx

from bench.ingest import BenchError, check_local
from bench.pda import PdaConfig, setup
from tests.support.chromium import Browser  # the suite's DevTools driver (no Playwright or Selenium)

__all__ = ["main"]

DEVICE = {"width": 480, "height": 800, "deviceScaleFactor": 1, "mobile": True}

# Installed before each run: Enter's time on the window (before the page's own listeners), the band's change time.
_PROBE = """
(() => {
  window.__lat = []; let t0 = 0;
  window.addEventListener('keydown', (e) => { if (e.key === 'Enter') t0 = performance.now(); }, true);
  new MutationObserver(() => { if (t0) { window.__lat.push(performance.now() - t0); t0 = 0; } })
    .observe(document.querySelector('#flash'), { childList: true, subtree: true, attributes: true });
  return true;
})()
"""


async def _scan_all(b: Browser, steps: Sequence[tuple[int, str, str, str | None]]) -> list[float]:
    await b.js("window.__lat = []")
    for i, (_line, _kind, barcode, _location) in enumerate(steps, 1):
        await b.wedge(barcode)
        await b.wait_for(f"window.__lat.length >= {i}", 30)
    return [float(v) for v in await b.js("window.__lat.slice()")]


async def measure(url: str, admin_user: str, admin_password: str, scans: int) -> dict[str, Any]:
    cfg = PdaConfig(url=url, admin_user=admin_user, admin_password=admin_password, handhelds=1, rate=1.0,
                    duration=float(scans), warmup=0.0, processes=1, qty=1)
    (spec,) = await setup(cfg)
    walk = spec.steps
    half = max(2, (len(walk) // 2) & ~1)  # whole lines (location + item) online, the rest offline
    session = {"token": spec.token, "expires_in": 3600, "name": "bench", "role": "picker", "warehouse": "",
               "device": spec.device, "expires_at": int(time.time() * 1000) + 3_600_000}
    async with Browser(url, device=DEVICE) as b:
        started = time.perf_counter()
        await b.open(f"{url}/pda/?device={spec.device}")
        await b.wait_for("document.querySelector('#badge-hint') !== null", 30)
        cold_ms = (time.perf_counter() - started) * 1000
        await b.js(f"localStorage.setItem('orderhub.pda.session', {json.dumps(json.dumps(session))})")
        await b.open(f"{url}/pda/?device={spec.device}")
        await b.wait_for("document.querySelector('#claim') !== null", 30)
        await b.click("#claim")
        await b.wait_for("document.querySelector('#stop') !== null", 30)
        await b.js(_PROBE)
        online = await _scan_all(b, walk[:half])
        await b.wait_for("window.orderhubPda.outbox.items.length === 0", 30)
        await b.offline(True)
        await b.wait_for("document.querySelector('#net').dataset.state === 'offline' || !navigator.onLine", 10)
        offline = await _scan_all(b, walk[half:])
        queued = int(await b.js("window.orderhubPda.outbox.items.length"))
        replay_started = time.perf_counter()
        await b.offline(False)
        await b.wait_for("window.orderhubPda.outbox.items.length === 0 && !window.orderhubPda.state.refreshing", 60)
        replay_ms = (time.perf_counter() - replay_started) * 1000
        errors = list(b.errors) + list(b.csp)
    return {"cold_ms": cold_ms, "online": online, "offline": offline, "queued": queued, "replay_ms": replay_ms,
            "errors": errors}


def _fig(values: Sequence[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"n={len(values)}  p50 {statistics.median(ordered):.1f} ms  p90 {p90:.1f} ms  max {ordered[-1]:.1f} ms"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pda_client", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--admin-user", required=True)
    parser.add_argument("--admin-password", required=True)
    parser.add_argument("--scans", type=int, default=40, help="scans in all (half online, half offline)")
    parser.add_argument("--allow-remote", action="store_true")
    args = parser.parse_args(argv)
    try:
        if not args.allow_remote:
            check_local(args.url)
        res = asyncio.run(measure(args.url.rstrip("/"), args.admin_user, args.admin_password, max(4, args.scans)))
    except (BenchError, httpx.HTTPError, OSError, AssertionError) as exc:
        print(f"bench.pda_client: {exc}", file=sys.stderr)
        return 1
    print(f"cold load to the sign-in screen: {res['cold_ms']:.0f} ms")
    print(f"scan → answer band, online (outbox + POST /pda/v1/scans): {_fig(res['online'])}")
    print(f"scan → answer band, offline (outbox + the device's judgement): {_fig(res['offline'])}")
    replay = f"{res['replay_ms']:.0f} ms"
    print(f"replay of {res['queued']} queued scans when the network returns, task read again: {replay}")
    if res["errors"]:
        print(f"page errors: {res['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
