"""Serve the platform simulators in the foreground, with one seeded shop per platform.

    python -m sandbox.platforms [--host 127.0.0.1] [--port 8900] [--orders 10] [--seed 7]
                                [--credentials-file var/platform_shops.json]

Prints (and optionally writes) each shop's keys, secret and access token so a hub can be configured against it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

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
    args = parser.parse_args(argv)

    store = PlatformStore(seed=args.seed)
    shops: dict[str, dict[str, str]] = {}
    base = f"http://{args.host}:{args.port}"
    for platform in Platform:
        seller = store.create_seller(platform, token_ttl=timedelta(days=30))
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
    uvicorn.run(create_app(store), host=args.host, port=args.port, log_level="info", lifespan="off")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
