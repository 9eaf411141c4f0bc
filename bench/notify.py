"""Notification outbox throughput and the exactly-once claim under duplicate delivery, against the Aliyun SMS simulator.

    python -m bench.notify [--messages 2000] [--concurrency 32] [--copies 3] [--database-url postgresql://…]

Writes ``--messages`` outbox rows (one per phone number), then runs the production send path
(:func:`orderhub.notifications.outbox.send` — claim, rate limits in Redis, render, the real Aliyun SDK call with its
RPC signature, settle) with ``--copies`` concurrent deliveries of every row's job, as a re-delivered or retried job
would. Prints messages/s, per-message latency (p50 / p99) and checks that the simulator received each message
exactly once. A throwaway SQLite database and an embedded redis-server are used unless ``--database-url`` /
``--redis-url`` are given.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]


async def _run(args: argparse.Namespace, data_dir: Path) -> int:
    from orderhub.redis import EmbeddedRedis

    embedded = None
    if not args.redis_url:
        embedded = EmbeddedRedis(data_dir / "redis")
        os.environ["ORDERHUB_REDIS_URL"] = embedded.start()
    else:
        os.environ["ORDERHUB_REDIS_URL"] = args.redis_url
    os.environ["ORDERHUB_DATA_DIR"] = str(data_dir)
    if args.database_url:
        os.environ["ORDERHUB_DATABASE_URL"] = args.database_url
    os.environ["ORDERHUB_LOG_LEVEL"] = "WARNING"

    from orderhub import clock, db
    from orderhub import redis as redis_mod
    from orderhub.notifications import config, outbox, templates
    from orderhub.settings import get_settings
    from sandbox.aliyun_sms import running_aliyun_sms
    from server.migrate import migrate
    from server.wiring import wire

    wire()
    settings = get_settings()
    await db.open_engine(settings)
    await migrate()
    client = redis_mod.create_client(os.environ["ORDERHUB_REDIS_URL"])
    redis_mod.set_client(client)
    try:
        with running_aliyun_sms() as sim:
            sim.store.flow_limit = None
            key_id, secret = sim.store.create_account()
            sim.store.add_sign("订单中枢")
            sim.store.add_template("SMS_10000001", "您的订单${order}已由${carrier}发出，运单号${no}")
            await config.set_provider(
                "aliyun_sms",
                {"access_key_id": key_id, "access_key_secret": secret, "sign_name": "订单中枢",
                 "endpoint": sim.endpoint, "protocol": "http"},
                actor="bench",
            )
            await templates.put_template(
                "shipped", "aliyun_sms",
                templates.TemplateIn(template_id="SMS_10000001",
                                     fields={"order": "{order_no}", "carrier": "{carrier_name}", "no": "{waybill_no}"}),
                actor="bench",
            )
            await config.save_settings(
                config.NotifySettings(quiet_start="00:00", quiet_end="00:00", per_second={"aliyun_sms": 100_000}),
                actor="bench",
            )
            run = time.time_ns()
            ids: list[int] = []
            now = clock.now()
            async with db.transaction():
                for i in range(args.messages):
                    phone = f"13{(run // 1000 + i) % 10**9:09d}"
                    notification_id = await outbox._insert(  # the row the order-event hook writes
                        subject=f"bench:{run}:{i}", order_id=None, event="shipped", audience="customer",
                        channel="aliyun_sms", recipient=phone,
                        context={"order_no": f"B{i:08d}", "carrier": "SF", "waybill_no": f"SF{run % 10**6}{i:07d}"},
                        urgent=True, now=now,
                    )
                    assert notification_id is not None
                    ids.append(notification_id)
            gate = asyncio.Semaphore(args.concurrency)
            latencies: list[float] = []
            outcomes: dict[str, int] = {}

            async def deliver(notification_id: int) -> None:
                async with gate:
                    started = time.perf_counter()
                    outcome = await outbox.send(notification_id)
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
                    if outcome == "sent":
                        latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(deliver(i) for i in ids for _ in range(args.copies)))
            elapsed = time.perf_counter() - started
            received = [s.out_id for s in sim.store.sent]
            mine = {str(i) for i in ids}
            got = [o for o in received if o in mine]
            latencies.sort()
            print(f"backend: {'PostgreSQL' if args.database_url else 'SQLite'}; messages: {args.messages}, "
                  f"deliveries per job: {args.copies}, concurrency: {args.concurrency}")
            print(f"outcomes: {dict(sorted(outcomes.items()))}")
            print(f"throughput: {len(latencies) / elapsed:,.0f} messages/s ({elapsed:.2f} s)")
            if latencies:
                p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
                print(f"send latency: p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
            duplicates = len(got) - len(set(got))
            print(f"received by the simulator: {len(set(got))} of {args.messages}, duplicates: {duplicates}")
            return 0 if len(set(got)) == args.messages and duplicates == 0 else 1
    finally:
        redis_mod.set_client(None)
        await client.aclose()
        await db.close()
        if embedded is not None:
            embedded.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notify", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--copies", type=int, default=3, help="concurrent deliveries of every row's job")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="orderhub-bench-notify-") as tmp:
        return asyncio.run(_run(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
