"""Serve the platform simulators in the foreground, with one seeded shop per platform.

    python -m sandbox.platforms [--host 127.0.0.1] [--port 8900] [--orders 10] [--seed 7]
                                [--credentials-file var/platform_shops.json] [--skus-file var/demo_skus.json]
                                [--every 8] [--log-level warning]

Prints (and optionally writes) each shop's keys, secret and access token so a hub can be configured against it.
``--skus-file`` lists the seller's SKU codes (the hub demo's ``demo_skus.json``), so orders use the hub's catalogue;
``--every N`` keeps a new paid order arriving in a random shop every N seconds (the live demo).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn

from sandbox.platforms.app import ENDPOINTS, create_app
from sandbox.platforms.store import Platform, PlatformStore


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.platforms", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--orders", type=int, default=10, help="paid orders per shop, spread over the last hour")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--credentials-file", type=Path, default=None)
    parser.add_argument("--skus-file", type=Path, default=None, help="JSON list of {code, name, price (fen)}")
    parser.add_argument("--every", type=float, default=0.0, help="seconds between new live orders (0: none)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    skus: list[dict[str, Any]] = json.loads(args.skus_file.read_text(encoding="utf-8")) if args.skus_file else []

    store = PlatformStore(seed=args.seed)
    shops: dict[str, dict[str, str]] = {}
    base = f"http://{args.host}:{args.port}"
    for platform in Platform:
        seller = store.create_seller(platform, token_ttl=timedelta(days=30))
        for sku in skus[:30]:
            store.add_product(platform, seller.app_key, str(sku["code"]), title=sku.get("name"), price=sku.get("price"))
        if args.orders:
            hour = timedelta(hours=1)
            store.add_orders(platform, seller.app_key, args.orders, start=store.now() - hour, every=hour / args.orders)
        shops[platform.value] = {
            "url": base + ENDPOINTS[platform.value],
            "app_key": seller.app_key,
            "app_secret": seller.app_secret,
            "shop_id": seller.shop_id,
            "shop_name": seller.shop_name,
            "access_token": seller.access_token,
            "refresh_token": seller.refresh_token,
        }
    text = json.dumps(shops, ensure_ascii=False, indent=2)
    print(text)
    if args.credentials_file is not None:
        args.credentials_file.parent.mkdir(parents=True, exist_ok=True)
        args.credentials_file.write_text(text + "\n", encoding="utf-8")
    sys.stdout.flush()
    if args.every > 0:
        sellers = [(platform, shops[platform.value]["app_key"]) for platform in Platform]
        threading.Thread(target=_live_orders, args=(store, sellers, args.every), daemon=True).start()
    uvicorn.run(create_app(store), host=args.host, port=args.port, log_level=args.log_level, lifespan="off")
    return 0


def _live_orders(store: PlatformStore, sellers: list[tuple[Platform, str]], every: float) -> None:
    """A new paid order in a random shop every ``every`` seconds, for as long as the process lives."""
    rng = random.Random()
    while True:
        time.sleep(every)
        platform, app_key = rng.choice(sellers)
        store.add_order(platform, app_key)


if __name__ == "__main__":
    raise SystemExit(main())
