"""The ``orderhub`` command: run (everything, embedded), serve (API), worker, migrate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["main"]

_T = TypeVar("_T")


def _settings():  # type: ignore[no-untyped-def]
    from orderhub.settings import get_settings, reset_settings

    reset_settings()
    return get_settings()


def _serving_settings():  # type: ignore[no-untyped-def]
    """The settings of a process that signs tokens and seals credentials: its secret key must be strong."""
    from orderhub.settings import check_secret_key

    settings = _settings()
    check_secret_key(settings.secret_key)
    return settings


def _configure_logging() -> None:
    from orderhub.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level, settings.log_json)


async def _bootstrap(admin_user: str | None, admin_password: str | None) -> bool:
    """Migrate, then create the first admin when credentials are given and no admin exists."""
    from orderhub import db
    from orderhub.auth.service import ensure_admin
    from server.migrate import migrate

    settings = _settings()
    await migrate()
    if not (admin_user and admin_password):
        return False
    await db.open_engine(settings)
    try:
        return await ensure_admin(admin_user, admin_password)
    finally:
        await db.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    created = asyncio.run(_bootstrap(settings.admin_user, settings.admin_password))
    if created:
        print(f"created admin user {settings.admin_user}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _serving_settings()
    _configure_logging()
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        # uvloop and httptools where installed ("auto"): a dashboard delta is written to thousands of sockets, and
        # uvloop's transports take a fraction of the standard loop's CPU per write.
        loop=settings.event_loop,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        # PDAs scan every few seconds on one keep-alive connection; uvicorn's 5 s default makes a picker who
        # pauses reconnect (TCP + a Wi-Fi round trip) on the next scan.
        timeout_keep_alive=75,
        # No permessage-deflate on websockets: each socket keeps its own zlib stream, so one dashboard delta fanned out
        # to 2,000 sockets was compressed 2,000 times (and every screen inflated it again). The frames are small JSON;
        # Socket.IO turned it off by default for the same reason.
        ws_per_message_deflate=False,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from orderhub.queue import QueueRole
    from server.worker import run_worker

    _configure_logging()
    settings = _serving_settings()
    if args.role == QueueRole.BACKGROUND.value and settings.background_nice:
        # Below the API's priority (ORDERHUB_BACKGROUND_NICE): a wave build or a rollup catch-up sharing the cores
        # with the API no longer shows up in the handhelds' scan latency (bench.pda under a bench.peak peak).
        lower_priority(settings.background_nice)
    with asyncio.Runner(loop_factory=_loop_factory(settings.event_loop)) as runner:
        runner.run(run_worker(settings, role=args.role, concurrency=args.concurrency))
    return 0


def lower_priority(nice: int, *, autogroup: Path = Path("/proc/self/autogroup")) -> None:
    """Add ``nice`` to this process's CPU niceness. On Linux with autogroup scheduling (the default on most
    distributions) niceness only ranks the processes of one session against each other, and every session competes
    as a group: a worker leading its own session (systemd, ``setsid``) then raises its group's niceness too. A worker
    sharing a session with others (started from one shell with ``serve``) leaves the group alone, or it would lower
    the API's priority with its own."""
    os.nice(nice)
    if os.getsid(0) != os.getpid() or not autogroup.exists():
        return
    try:
        autogroup.write_text(f"{nice}\n")
    except OSError as exc:  # no autogroup support, or not allowed: the process's own niceness stays
        print(f"orderhub worker: could not lower the session's CPU priority ({exc})", file=sys.stderr)


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The worker's event loop, as ``serve`` picks it (``ORDERHUB_EVENT_LOOP``): uvloop when installed, unless
    ``asyncio`` is asked for."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise
        return None
    return uvloop.new_event_loop


def _with_runtime(work: Callable[[], Awaitable[_T]]) -> _T:
    """Run one piece of work with the hub's database and Redis (a one-off command beside a running hub)."""
    from orderhub.runtime import start_runtime

    async def run() -> _T:
        runtime = await start_runtime(_settings())
        try:
            return await work()
        finally:
            await runtime.close()

    return asyncio.run(run())


def cmd_stock_resync(args: argparse.Namespace) -> int:
    """Push every mapped SKU's available stock to its channels now (all channels, or one)."""
    from orderhub.channels import stock_sync

    report = _with_runtime(lambda: stock_sync.resync(args.channel))
    for channel, outcome in sorted(report.items()):
        print(f"{channel}: {outcome}")
    return 1 if any(isinstance(o, dict) and o.get("error") for o in report.values()) else 0


def cmd_rollups_rebuild(args: argparse.Namespace) -> int:
    """Recount every rollup from the order event log and the PDA scan log (docs/insights.md), then the query rate's
    daily counts from its per-order markers (docs/kpis.md#query_rate)."""
    from orderhub.insights.inquiries import rebuild_inquiries
    from orderhub.insights.rebuild import RebuildReport, rebuild_rollups

    async def both() -> tuple[RebuildReport, int]:
        return await rebuild_rollups(), await rebuild_inquiries()

    report, asked = _with_runtime(both)
    print(
        f"rollups rebuilt: {report.orders} orders, {report.order_events} order events, {report.scans} scans "
        f"in {report.seconds:.1f} s; inquiry rollups: {asked} orders asked about"
    )
    return 0


def cmd_alerts_evaluate(args: argparse.Namespace) -> int:
    """Evaluate the threshold alert rules now, as the worker's cron does every 30 s (docs/alerts.md)."""
    from orderhub.insights.alerts import evaluate

    report = _with_runtime(evaluate)
    print(
        f"alert rules evaluated: {report.rules}; fired {report.fired or 'none'}, cleared {report.cleared or 'none'}"
        f"{f', skipped rules {report.skipped}' if report.skipped else ''}"
    )
    return 0


def cmd_tokens_refresh(args: argparse.Namespace) -> int:
    """Look after the shops' authorisations now, as the worker's cron does every 10 minutes: refresh access tokens
    about to expire, tell the staff what the seller must renew (docs/channels.md#authorisation)."""
    from orderhub.channels import tokens

    report = _with_runtime(tokens.run)
    print(
        f"shop authorisations: {report.channels} looked at; refreshed {report.refreshed or 'none'}, refused "
        f"{report.refused or 'none'}, cannot refresh {report.unsupported or 'none'}, failed {report.failed or 'none'};"
        f" {report.notices} notices written"
    )
    return 1 if report.refused or report.failed else 0


def cmd_health_recompute(args: argparse.Namespace) -> int:
    """Score the order health index for a day (default yesterday, Asia/Shanghai): history and rectifications."""
    from datetime import date, timedelta

    from orderhub.insights import health

    day = date.fromisoformat(args.day) if args.day else health.today() - timedelta(days=1)
    report = _with_runtime(lambda: health.recompute(day))
    print(
        f"health index {report.day}: {report.scored} of {report.scopes} scopes scored; rectifications "
        f"{report.opened} opened, {report.updated} updated, {report.closed} closed"
    )
    return 0


def cmd_unlock(args: argparse.Namespace) -> int:
    """Lift a sign-in lock from the command line: the way back in when the locked account is the only one that
    could lift it (an admin locked by someone guessing their password)."""
    from orderhub.auth import throttle

    was_locked = _with_runtime(lambda: throttle.unlock(args.username))
    print(f"{args.username}: {'unlocked' if was_locked else 'was not locked; its failed attempts are cleared'}")
    return 0


def _start_platform_simulators(data_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes] | None:
    """The demo's stand-ins for Taobao/Tmall, 抖店 and 拼多多 (``sandbox.platforms``): shops selling the demo
    catalogue, a new order every few seconds; the demo channels pull from them every minute."""
    import json
    import socket

    from server.demo.seed import PLATFORM_SHOPS_FILE, SKUS_FILE, connect_platform_shops

    shops_file = data_dir / PLATFORM_SHOPS_FILE
    shops_file.unlink(missing_ok=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.platforms",
            "--port",
            str(port),
            "--orders",
            "5",
            "--every",
            "6",
            "--credentials-file",
            str(shops_file),
            "--skus-file",
            str(data_dir / SKUS_FILE),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not shops_file.exists() or not _port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            print("warning: the platform simulators did not start; the demo runs without them", file=sys.stderr)
            if proc.poll() is None:
                proc.terminate()
            return None
        time.sleep(0.2)
    connected = asyncio.run(connect_platform_shops(json.loads(shops_file.read_text(encoding="utf-8"))))
    print(f"platform simulators on http://127.0.0.1:{port}: channels {', '.join(connected)} pull every minute")
    return proc


def _start_service_simulators(data_dir: Path, env: dict[str, str], hub_url: str) -> subprocess.Popen[bytes] | None:
    """The demo's stand-ins for 顺丰 / 中通 / 极兔, 快递100, Aliyun SMS and WeCom (``sandbox.services``): every demo
    warehouse gets an account at each carrier and their rate cards; shipped parcels travel to 签收 in a few minutes
    and their customers get SMS; the demo manager hears alerts in WeCom."""
    import json

    from server.demo.seed import SERVICES_FILE, connect_services

    found_file = data_dir / SERVICES_FILE
    found_file.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.services", "--credentials-file", str(found_file)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not found_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            print("warning: the service simulators did not start; the demo runs without them", file=sys.stderr)
            if proc.poll() is None:
                proc.terminate()
            return None
        time.sleep(0.2)
    accounts = asyncio.run(connect_services(json.loads(found_file.read_text(encoding="utf-8")), hub_url))
    print(
        f"service simulators: {len(accounts)} carrier accounts (SF / ZTO / JT per warehouse), tracking via 快递100, "
        "customer SMS (Aliyun), staff alerts (WeCom)"
    )
    return proc


def _history_per_day() -> int:
    """Orders a day of the demo's past week (``ORDERHUB_DEMO_HISTORY``, default 300; 0: none)."""
    from server.demo.history import HISTORY_PER_DAY

    raw = os.environ.get("ORDERHUB_DEMO_HISTORY", "").strip()
    try:
        return max(0, int(raw)) if raw else HISTORY_PER_DAY
    except ValueError:
        print(f"warning: ORDERHUB_DEMO_HISTORY={raw!r} is not a number; using {HISTORY_PER_DAY}", file=sys.stderr)
        return HISTORY_PER_DAY


def _operators_on(args: argparse.Namespace) -> bool:
    """The simulated floor crew works unless ``--no-operators`` or ``ORDERHUB_DEMO_OPERATORS=0``."""
    if args.no_operators:
        return False
    return os.environ.get("ORDERHUB_DEMO_OPERATORS", "1").strip().lower() not in ("0", "false", "no", "off")


def _crew_size(data_dir: Path) -> int:
    import json

    from server.demo.seed import FLOOR_FILE

    try:
        return len(json.loads((data_dir / FLOOR_FILE).read_text(encoding="utf-8"))["crew"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _start_demo_floor(
    data_dir: Path, env: dict[str, str], base: str, *, operators: bool
) -> subprocess.Popen[bytes] | None:
    """The demo's simulated pickers and packers (``sandbox.demo_floor``): they sign in on their own handhelds and
    move the demo's orders through picking, packing and handover at a human pace, so every dashboard has numbers.
    ``ORDERHUB_DEMO_PACE`` scales their pauses (0.1: ten times faster)."""
    from server.demo.seed import FLOOR_FILE

    floor_file = data_dir / FLOOR_FILE
    if not operators or not floor_file.exists():
        return None
    pace = os.environ.get("ORDERHUB_DEMO_PACE", "").strip() or "1"
    command = [sys.executable, "-m", "sandbox.demo_floor", "--url", base, "--floor-file", str(floor_file)]
    return subprocess.Popen([*command, "--pace", pace, "--summary-every", "60"], env=env)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_http(url: str, timeout: float, procs: list[subprocess.Popen[bytes]]) -> bool:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def cmd_run(args: argparse.Namespace) -> int:
    """Everything a newcomer needs in one process tree; Ctrl-C stops all of it."""
    from orderhub.redis import EmbeddedRedis, RedisNotFound
    from orderhub.settings import private_dir

    # Everything run keeps is private (the database with password hashes and addresses, Redis's AOF, the keys, the
    # demo's secrets): files 0600, directories 0700, for this process and every child it starts.
    os.umask(0o077)
    data_dir = Path(args.data_dir).resolve()
    private_dir(data_dir)
    if data_dir.stat().st_mode & 0o077:
        with contextlib.suppress(OSError):  # not ours to change
            data_dir.chmod(0o700)
    os.environ["ORDERHUB_DATA_DIR"] = str(data_dir)
    _serving_settings()  # a weak configured key stops here, before anything starts
    # People read run's output: text lines, warnings and errors only, unless asked otherwise (serve and worker
    # alone keep JSON at INFO, for machines). The children inherit the choice.
    os.environ["ORDERHUB_LOG_FORMAT"] = args.log_format
    os.environ["ORDERHUB_LOG_LEVEL"] = args.log_level.upper()
    metrics_dir = data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)

    embedded: EmbeddedRedis | None = None
    if not os.environ.get("ORDERHUB_REDIS_URL"):
        embedded = EmbeddedRedis(data_dir / "redis")
        try:
            os.environ["ORDERHUB_REDIS_URL"] = embedded.start()
        except RedisNotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    settings = _settings()
    _configure_logging()

    admin_user = settings.admin_user or "admin"
    admin_password = settings.admin_password
    password_file = data_dir / "admin_password"
    if not admin_password:
        if password_file.exists():
            admin_password = password_file.read_text().strip()
        else:
            admin_password = secrets.token_urlsafe(12)
            password_file.write_text(admin_password)
            password_file.chmod(0o600)

    procs: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        _quietly(lambda: asyncio.run(_bootstrap(admin_user, admin_password)))
        demo_users: list[tuple[str, str, str]] = []
        if not args.no_demo:
            from server.demo.seed import seed_demo

            demo_users = asyncio.run(seed_demo(data_dir, history_per_day=_history_per_day()))
        exe = [sys.executable, "-m", "server.cli"]
        env = dict(os.environ)
        if not args.no_demo:
            simulators = _start_platform_simulators(data_dir, env)
            if simulators is not None:
                procs.append(simulators)
            services = _start_service_simulators(data_dir, env, f"http://{args.host}:{args.port}")
            if services is not None:
                procs.append(services)
        procs.append(subprocess.Popen([*exe, "serve", "--host", args.host, "--port", str(args.port)], env=env))
        procs.append(subprocess.Popen([*exe, "worker", "--role", "all"], env=env))  # both queues, one process
        base = f"http://{args.host}:{args.port}"
        if not _wait_http(f"{base}/healthz", 30, procs):
            print("error: the API did not start; see the log above", file=sys.stderr)
            return 1
        _print_banner(
            base,
            data_dir,
            settings.database_url,
            embedded,
            admin_user,
            None if settings.admin_password else password_file,
            admin_password,
            demo_users,
            operators=_crew_size(data_dir) if not args.no_demo and _operators_on(args) else 0,
        )
        if not args.no_demo:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "sandbox.demo_shop",
                        "--url",
                        base,
                        "--channels-file",
                        str(data_dir / "demo_channels.json"),
                        "--summary-every",
                        "60",
                    ],
                    env=env,
                )
            )
            floor = _start_demo_floor(data_dir, env, base, operators=_operators_on(args))
            if floor is not None:
                procs.append(floor)
        while not stopping:
            for proc in procs:
                if proc.poll() is not None:
                    print(f"error: child {proc.args!r} exited with {proc.returncode}; stopping", file=sys.stderr)
                    stopping, code = True, 1
                    break
            time.sleep(0.3)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if embedded is not None:
            embedded.stop()
        print("OrderHub stopped.")
    return code


def _quietly(step: Callable[[], _T]) -> _T:
    """Run ``step`` with its stdout held back (piccolo prints a line per migration); shown only when it fails."""
    held = io.StringIO()
    try:
        with contextlib.redirect_stdout(held):
            return step()
    except BaseException:
        sys.stderr.write(held.getvalue())
        raise


def _print_banner(
    base: str,
    data_dir: Path,
    database_url: str | None,
    embedded: object,
    admin_user: str,
    password_file: Path | None,
    admin_password: str,
    demo_users: list[tuple[str, str, str]],
    *,
    operators: int = 0,
) -> None:
    """The banner is printed (stdout), never logged. The admin's password appears once, and only on a terminal:
    when stdout is captured (a file, docker or journald) the banner says where the password is kept instead. The
    demo users' passwords are the demo's, printed in the source too. ``operators``: the simulated floor crew's
    size (0: not working)."""
    redis_text = (
        f"embedded redis-server in {data_dir / 'redis'}" if embedded else os.environ.get("ORDERHUB_REDIS_URL", "")
    )
    if password_file is not None:
        kept, password_expr = f"kept in {password_file}", f"$(cat {shlex.quote(str(password_file))})"
    else:
        kept, password_expr = "from ORDERHUB_ADMIN_PASSWORD", "$ORDERHUB_ADMIN_PASSWORD"
    shown = f"{admin_password}    ({kept})" if sys.stdout.isatty() else f"<password {kept}>"
    base = pages = _reachable(base)  # listening on every interface: the address other devices use
    lines = [
        "",
        "OrderHub 订单中枢 is running  (Ctrl-C stops everything)",
        f"  API        {base}      OpenAPI: {base}/schema/swagger",
        f"  health     {base}/readyz    metrics: {base}/metrics",
        f"  console    {base}/m/    managers' live dashboards (phone or PC); sign in as {_console_login(demo_users)}",
        f"  database   {database_url or 'SQLite ' + str(data_dir / 'orderhub.sqlite3')}",
        f"  redis      {redis_text}",
        f"  admin      {admin_user} / {shown}",
    ]
    if demo_users:
        lines.append("  demo users (username / password / role):")
        lines += [f"    {u:<10} {p:<18} {r}" for u, p, r in demo_users]
        lines.append("  demo orders arrive every few seconds through the signed ingest API (totals once a minute).")
        if operators:
            lines.append(
                f"  floor: {operators} simulated pickers and packers (sim-*) work the demo's orders "
                "(totals once a minute; --no-operators: none)."
            )
        from server.demo.seed import DEMO_BADGES

        picker_badge, packer_badge = DEMO_BADGES["picker"], DEMO_BADGES["packer"]
        lines += [
            f"  PDA        {pages}/pda/?device=SH-PDA-01    picker badge {picker_badge} (scan it, or type it)",
            f"  pack       {pages}/pda/pack?device=SH-PACK-01    packer badge {packer_badge}",
            "             waves are released automatically; the API under the pages: /pda/v1 (docs/picking.md)",
        ]
        if pages.startswith("http://") and not pages.startswith(("http://127.", "http://localhost")):
            lines.append(
                "             on a phone on this network: open the PDA address above (the camera and offline use "
                "need HTTPS: see README)"
            )
    login = f'{{\\"username\\":\\"{admin_user}\\",\\"password\\":\\"{password_expr}\\"}}'
    lines += [
        "",
        "Try first (in another terminal):",
        f"  open '{base}/schema/swagger'     every endpoint, with its schema",
        "  sign in as the admin, then list the newest orders:",
        f"  TOKEN=$(curl -s -X POST '{base}/api/v1/auth/login' -H 'content-type: application/json' \\",
        f'      -d "{login}" \\',
        "      | python3 -c 'import sys,json;print(json.load(sys.stdin)[\"access_token\"])')",
        f"  curl -s '{base}/api/v1/orders?limit=5' -H \"Authorization: Bearer $TOKEN\"",
    ]
    print("\n".join(lines) + "\n", flush=True)


def _reachable(base: str) -> str:
    """The address other devices use: listening on every interface (``--host 0.0.0.0``), this machine's address on
    the local network (the one a packet to the outside would leave from; nothing is sent), else ``base``."""
    scheme, _, rest = base.partition("://")
    host, _, port = rest.rpartition(":")
    if host not in ("0.0.0.0", "::", "[::]"):
        return base
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = str(probe.getsockname()[0])
    except OSError:
        address = "127.0.0.1"
    return f"{scheme}://{address}:{port}"


def _console_login(demo_users: list[tuple[str, str, str]]) -> str:
    """Who signs in to the managers' console: the demo manager (username / password), else the admin."""
    manager = next(((u, p) for u, p, r in demo_users if r == "manager"), None)
    return f"{manager[0]} / {manager[1]}" if manager else "the admin"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orderhub", description="OrderHub 订单中枢")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="migrate, seed, and run API + worker on the embedded default")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--data-dir", default=os.environ.get("ORDERHUB_DATA_DIR", "./var"))
    run.add_argument("--no-demo", action="store_true", help="no demo data and no demo order stream")
    run.add_argument(
        "--no-operators",
        action="store_true",
        help="no simulated pickers and packers in the demo (or ORDERHUB_DEMO_OPERATORS=0)",
    )
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get("ORDERHUB_LOG_FORMAT") or "text",
        help="logs of the API, worker and the rest (default: text, or ORDERHUB_LOG_FORMAT)",
    )
    run.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default=(os.environ.get("ORDERHUB_LOG_LEVEL") or "WARNING").upper(),
        help="the lowest level logged (default: WARNING, or ORDERHUB_LOG_LEVEL)",
    )
    run.set_defaults(func=cmd_run)

    serve = sub.add_parser("serve", help="run the API only")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a SAQ worker only")
    worker.add_argument(
        "--role",
        choices=("pipeline", "background", "all"),
        default="all",
        help="the queue(s) served: the order pipeline's, the background jobs' (waves, pulls, stock sync, "
        "notifications, …, and the surge monitor), or both in this process (default)",
    )
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="pipeline jobs run at once (default ORDERHUB_WORKER_CONCURRENCY; the background worker's is "
        "ORDERHUB_BACKGROUND_CONCURRENCY)",
    )
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="apply migrations (and create the first admin if configured)")
    migrate.set_defaults(func=cmd_migrate)

    resync = sub.add_parser("stock-resync", help="push every mapped SKU's available stock to the platforms now")
    resync.add_argument("--channel", default=None, help="only this channel (code)")
    resync.set_defaults(func=cmd_stock_resync)

    rebuild = sub.add_parser("rollups-rebuild", help="recount the dashboards' rollups from the event logs")
    rebuild.set_defaults(func=cmd_rollups_rebuild)

    alerts = sub.add_parser("alerts-evaluate", help="evaluate the threshold alert rules now (the cron does, every 30s)")
    alerts.set_defaults(func=cmd_alerts_evaluate)

    refresh = sub.add_parser("tokens-refresh", help="refresh shop tokens due now (the cron does, every 10 min)")
    refresh.set_defaults(func=cmd_tokens_refresh)

    recompute = sub.add_parser("health-recompute", help="score the order health index for a day (docs/health.md)")
    recompute.add_argument("--day", default=None, help="YYYY-MM-DD, Asia/Shanghai (default yesterday)")
    recompute.set_defaults(func=cmd_health_recompute)

    unlock = sub.add_parser("unlock", help="lift a sign-in lock (too many failed attempts) from an account")
    unlock.add_argument("username")
    unlock.set_defaults(func=cmd_unlock)
    return parser


def main(argv: list[str] | None = None) -> int:
    from orderhub.settings import SettingsError
    from server.wiring import wire

    wire()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:  # a setting that cannot work: say which, do not start
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
