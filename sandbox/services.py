"""Serve the carrier simulators (顺丰, 中通, 极兔) and the 快递100 simulator in the foreground, for the demo::

    python -m sandbox.logistics --credentials-file var/logistics.json [--journey-minutes 6]

Opens one account per carrier and one 快递100 account, and writes them (with the gateways' URLs) to the
credentials file so the hub can be pointed at them. Every parcel subscribed at 快递100 gets a scripted journey
(揽收 → 在途 → 派件 → 签收) compressed into ``--journey-minutes``, pushed to the hub's callback as it happens.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sandbox.carriers.server import CarrierServer
from sandbox.kuaidi100 import STANDARD_JOURNEY, Kuaidi100Server

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.logistics", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--credentials-file", type=Path, required=True)
    parser.add_argument("--journey-minutes", type=float, default=6.0, help="how long a demo parcel travels")
    args = parser.parse_args(argv)

    carriers = CarrierServer(host=args.host).start()
    kd100 = Kuaidi100Server(host=args.host)
    journey_hours = max(hours for hours, *_ in STANDARD_JOURNEY)
    kd100.store.auto_journey_scale = args.journey_minutes / 60 / journey_hours
    kd100.start()
    kd_account = kd100.store.create_account()
    accounts = {code: carriers.new_account(code) for code in ("SF", "ZTO", "JT")}
    text = json.dumps(
        {"carriers": accounts, "kuaidi100": {"key": kd_account.key, "customer": kd_account.customer,
                                             "base_url": kd100.base_url}},
        ensure_ascii=False,
        indent=2,
    )
    args.credentials_file.parent.mkdir(parents=True, exist_ok=True)
    partial = args.credentials_file.with_suffix(".tmp")
    partial.write_text(text + "\n", encoding="utf-8")
    partial.chmod(0o600)
    partial.replace(args.credentials_file)  # whole or not at all: the hub reads it as soon as it appears

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(3.0):  # the demo's clock: scripted steps happen and are pushed as real time passes
        try:
            kd100.store.advance(datetime.now(UTC))
        except Exception as exc:  # the hub may be restarting; its 30-minute poll catches the parcel up
            print(f"kuaidi100 push failed: {exc!r}", flush=True)
    kd100.stop()
    carriers.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
