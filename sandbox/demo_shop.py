"""A gentle stream of demo orders into a running hub, signed like a real store would sign them.

    python -m sandbox.demo_shop --url http://127.0.0.1:8000 --channels-file var/demo_channels.json [--interval 3]

Every few seconds it picks a channel from the channels file (code → signing secret, written by the demo seed: the
seller's own stores only — platform channels get their orders from their simulators, and an order pushed into one
would not exist on the platform when its shipment is confirmed there), builds an order over the SKU codes in
``demo_skus.json`` (next to the channels file unless ``--skus-file`` says otherwise) and POSTs it to
``/api/v1/orders/ingest``. About one push in twenty re-sends an order already sent, to show that ingest is
idempotent (the hub answers "duplicate"). One short line per push, or with ``--summary-every SECONDS`` (what
``orderhub run`` uses) one line of totals that often and a line for each failed push. When the hub is briefly
unreachable the order is kept and tried again on the next tick. SIGINT / SIGTERM stop it cleanly.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sandbox.orders import ingest_body, make_order, sign

__all__ = ["DemoShop", "load_channels", "load_skus", "main"]

INGEST_PATH = "/api/v1/orders/ingest"
RESEND_SHARE = 0.05
_LABELS = {"accepted": "已接收", "duplicate": "重复（幂等）", "rejected": "被拒绝"}


@dataclass(frozen=True)
class _Push:
    channel: str
    order: dict[str, Any]
    resend: bool = False


def load_channels(path: Path) -> dict[str, str]:
    """Channel code → signing secret."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected a JSON object of channel code → secret")
    return {str(code): str(secret) for code, secret in data.items()}


def load_skus(path: Path) -> tuple[list[str], dict[str, int]]:
    """SKU codes, and unit prices (fen) where the file gives them.

    Accepts a JSON list of codes, or of objects with ``code`` and optionally ``price``.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    codes: list[str] = []
    prices: dict[str, int] = {}
    for item in data if isinstance(data, list) else []:
        if isinstance(item, str):
            codes.append(item)
        elif isinstance(item, dict) and isinstance(item.get("code"), str):
            codes.append(item["code"])
            if isinstance(item.get("price"), int):
                prices[item["code"]] = item["price"]
    if not codes:
        raise ValueError(f"{path}: no SKU codes found")
    return codes, prices


def _external_id(rng: random.Random, channel: str, seq: int) -> str:
    """Order numbers that look like the platform's own."""
    if channel.startswith("tmall") or channel.startswith("taobao"):
        return f"{rng.randrange(10**18, 4 * 10**18)}"  # 19-digit Taobao/Tmall trade id
    if channel.startswith("douyin"):
        return f"69{rng.randrange(10**16, 10**17)}"  # Douyin shop order ids start with 69…
    return f"OS{time.strftime('%Y%m%d%H%M%S')}{seq % 100:02d}{rng.randrange(1000, 10000)}"


class DemoShop:
    def __init__(
        self,
        url: str,
        channels_file: Path,
        skus_file: Path,
        *,
        seed: int | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.channels_file = channels_file
        self.skus_file = skus_file
        self.rng = random.Random(seed)
        self.client = httpx.Client(timeout=timeout)
        self.channels: dict[str, str] = {}
        self._channels_mtime = 0.0
        self.skus: list[str] = []
        self.prices: dict[str, int] = {}
        self.sent: deque[_Push] = deque(maxlen=50)
        self.retry: _Push | None = None
        self.seq = 0
        self.quiet = False  # count successful pushes (see summary()) instead of printing each
        self.tally: Counter[str] = Counter()

    def close(self) -> None:
        self.client.close()

    def _reload_channels(self) -> None:
        """Re-read the channels file when it changes (the seed rotates secrets it lost)."""
        mtime = self.channels_file.stat().st_mtime
        if mtime != self._channels_mtime:
            self.channels = load_channels(self.channels_file)
            self._channels_mtime = mtime

    def next_push(self) -> _Push:
        if self.retry is not None:
            return self.retry
        if self.sent and self.rng.random() < RESEND_SHARE:
            previous = self.rng.choice(list(self.sent))
            return _Push(channel=previous.channel, order=previous.order, resend=True)
        channel = self.rng.choice(sorted(self.channels))
        self.seq += 1
        order = make_order(
            self.rng,
            external_id=_external_id(self.rng, channel, self.seq),
            skus=self.skus,
            prices=self.prices,
        )
        return _Push(channel=channel, order=order)

    def tick(self) -> None:
        try:
            self._reload_channels()
        except (OSError, ValueError) as exc:
            print(f"[演示店铺] 读取渠道文件失败，稍后重试：{exc}", flush=True)
            return
        push = self.next_push()
        secret = self.channels.get(push.channel)
        if secret is None:  # the channel vanished from the file
            self.retry = None
            return
        body = ingest_body(push.channel, [push.order])
        headers = {"content-type": "application/json", **sign(push.channel, secret, body)}
        external_id = push.order["external_id"]
        prefix = "[演示店铺] 重发" if push.resend else "[演示店铺] 推送"
        try:
            response = self.client.post(self.url + INGEST_PATH, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self.retry = push
            print(f"{prefix} {push.channel} {external_id} → 中枢暂不可达（{type(exc).__name__}），下次重试", flush=True)
            return
        if response.status_code >= 500 or response.status_code == 429:
            self.retry = push
            print(f"{prefix} {push.channel} {external_id} → HTTP {response.status_code}，下次重试", flush=True)
            return
        self.retry = None
        if response.status_code != 202:
            try:
                problem = response.json()
                detail = f"{problem.get('code')}: {problem.get('message')}"
            except ValueError:
                detail = response.text[:120]
            print(f"{prefix} {push.channel} {external_id} → HTTP {response.status_code} {detail}", flush=True)
            return
        result = response.json()["results"][0]
        status = str(result.get("status"))
        summary = f"{prefix} {push.channel} {external_id} → {_LABELS.get(status, status)} {status}"
        if result.get("order_id"):
            summary += f" #{result['order_id']}"
        if result.get("error"):
            summary += f"（{result['error'].get('message')}）"
        if self.quiet and not result.get("error"):
            self.tally[status] += 1
        else:
            print(summary, flush=True)
        if status == "accepted":
            self.sent.append(push)

    def summary(self, seconds: float) -> str | None:
        """One line of what was pushed since the last summary (None when nothing was), and a fresh count."""
        total = sum(self.tally.values())
        if not total:
            return None
        parts = "，".join(f"{_LABELS.get(status, status)} {n}" for status, n in sorted(self.tally.items()))
        self.tally.clear()
        return f"[演示店铺] 最近 {seconds:g} 秒推送 {total} 单：{parts}"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo_shop", description="演示店铺：定时推送演示订单")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="hub base URL")
    parser.add_argument("--channels-file", required=True, type=Path, help="JSON: channel code → signing secret")
    parser.add_argument(
        "--skus-file",
        type=Path,
        default=None,
        help="JSON list of SKU codes or {code, price} objects (default: demo_skus.json beside the channels file)",
    )
    parser.add_argument("--interval", type=float, default=3.0, help="mean seconds between pushes")
    parser.add_argument("--seed", type=int, default=None, help="random seed (repeatable orders)")
    parser.add_argument("--count", type=int, default=0, help="stop after this many pushes (0 = run until stopped)")
    parser.add_argument(
        "--summary-every",
        type=float,
        default=0.0,
        help="print one line of totals this often instead of a line per push (0 = a line per push)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    skus_file: Path = args.skus_file or args.channels_file.parent / "demo_skus.json"
    try:
        load_channels(args.channels_file)
        codes, prices = load_skus(skus_file)
    except (OSError, ValueError) as exc:
        print(f"[演示店铺] 无法启动：{exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    shop = DemoShop(args.url, args.channels_file, skus_file, seed=args.seed)
    shop.skus, shop.prices = codes, prices
    shop.quiet = args.summary_every > 0
    every = f"，每 {args.summary_every:g} 秒汇总一次" if shop.quiet else ""
    print(f"[演示店铺] 开始推送演示订单到 {shop.url}（约每 {args.interval:g} 秒一单{every}，Ctrl-C 停止）", flush=True)
    pushes = 0
    last_summary = time.monotonic()
    try:
        while not stop.is_set():
            shop.tick()
            pushes += 1
            if shop.quiet and time.monotonic() - last_summary >= args.summary_every:
                last_summary = time.monotonic()
                if line := shop.summary(args.summary_every):
                    print(line, flush=True)
            if args.count and pushes >= args.count:
                break
            stop.wait(max(0.2, shop.rng.uniform(0.5, 1.5) * args.interval))
    finally:
        shop.close()
    print("[演示店铺] 已停止", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
