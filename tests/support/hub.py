"""A real hub for tests: migrated database, real Redis, API and worker as separate OS processes."""

from __future__ import annotations

import functools
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from orderhub.redis import EmbeddedRedis

__all__ = ["ADMIN_PASSWORD", "ADMIN_USER", "Hub", "free_port", "postgres_unavailable", "provision", "running"]

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-test-pass"
PG_ADMIN_DSN = os.environ.get("ORDERHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("ORDERHUB_TEST_REDIS", "redis://127.0.0.1:6379")


@functools.cache
def postgres_unavailable() -> str | None:
    """Why the ``postgres`` back end cannot run here (PostgreSQL or its Redis not reachable), or None.

    Probed once per test session, with short timeouts, the first time a ``[postgres]`` case asks."""
    import asyncpg
    import redis

    async def connect() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
        await conn.close()

    try:
        _run_in_thread(connect)
    except Exception as exc:
        return f"PostgreSQL is not reachable at {PG_ADMIN_DSN} ({type(exc).__name__}: {exc})"
    try:
        redis.Redis.from_url(REDIS_BASE, socket_connect_timeout=3, socket_timeout=3).ping()
    except Exception as exc:
        return f"Redis is not reachable at {REDIS_BASE} ({type(exc).__name__}: {exc})"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _psql(sql: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run()) if not _in_loop() else _run_in_thread(run)


def _in_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run_in_thread(factory) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import threading

    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(factory())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@dataclass
class Hub:
    backend: str
    workdir: Path
    env: dict[str, str]
    port: int = 0
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    embedded: EmbeddedRedis | None = None
    database: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.procs[name] = proc
        return proc

    def migrate(self) -> None:
        out = subprocess.run(
            [sys.executable, "-m", "server.cli", "migrate"], env=self.env, capture_output=True, timeout=120
        )
        if out.returncode != 0:
            raise RuntimeError(f"migrate failed: {out.stdout.decode()} {out.stderr.decode()}")

    def start_api(self, workers: int = 1) -> None:
        self.port = free_port()
        self._spawn("api", "serve", "--port", str(self.port), "--workers", str(workers))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.procs["api"].poll() is not None:
                raise RuntimeError(f"API exited: {self.log_tail('api')}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"API not ready: {self.log_tail('api')}")

    def start_worker(self, name: str = "worker", concurrency: int = 10, role: str = "all") -> subprocess.Popen[bytes]:
        """``orderhub worker``: by default both queues' workers (``--role all``), as ``orderhub run`` starts it."""
        return self._spawn(name, "worker", "--role", role, "--concurrency", str(concurrency))

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.workdir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()
        if self.embedded is not None:
            self.embedded.stop()
        if self.database:
            _psql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


@contextmanager
def running(hub: Hub) -> Iterator[Hub]:
    """Stop the hub's processes (and drop its database) on exit; print their logs if starting failed."""
    try:
        yield hub
    except BaseException:
        for name in list(hub.procs):
            print(f"--- {name} log ---\n{hub.log_tail(name)}")
        raise
    finally:
        hub.stop()


def provision(backend: str, workdir: Path, *, redis_db: int, extra_env: dict[str, str] | None = None) -> Hub:
    """A fresh database (and Redis db) for ``backend``, migrated, with the bootstrap admin."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERHUB_", "PROMETHEUS_"))}
    env.update(
        ORDERHUB_DATA_DIR=str(workdir / "data"),
        ORDERHUB_SECRET_KEY=secrets.token_urlsafe(48),
        ORDERHUB_ADMIN_USER=ADMIN_USER,
        ORDERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        ORDERHUB_LOG_LEVEL="INFO",
        ORDERHUB_QUEUE_NAME=f"orderhub-test-{uuid.uuid4().hex[:8]}",
        ORDERHUB_PRINTER_ALLOW_LOOPBACK="1",  # the tests' label printer simulators listen on 127.0.0.1
        ORDERHUB_SWEEPER_CRON="* * * * * */2",
        ORDERHUB_WAVE_CRON="0 0 1 1 *",  # waves are built by the tests (the same code through the API)
        ORDERHUB_TRACKING_CRON="0 0 1 1 *",  # tracking polls are run by the tests
        ORDERHUB_AWAITING_STOCK_RETRY_SECONDS="2",
        # Tests push orders in bursts: surge mode only where a test turns it on (through the API).
        ORDERHUB_SURGE_THRESHOLD_PER_MIN="1000000",
        ORDERHUB_SURGE_ALERT_PER_MIN="1000000",
        ORDERHUB_SURGE_CHECK_SECONDS="1",
        ORDERHUB_PULL_RETRY_SECONDS="0.2",  # platform retries back off from 0.2 s instead of 2 s
    )
    metrics_dir = workdir / "metrics"  # API and worker processes aggregate their metrics here
    metrics_dir.mkdir(exist_ok=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    hub = Hub(backend=backend, workdir=workdir, env=env)
    if backend == "postgres":
        name = f"orderhub_test_{uuid.uuid4().hex[:10]}"
        _psql(f'CREATE DATABASE "{name}"')
        hub.database = name
        env["ORDERHUB_DATABASE_URL"] = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
        env["ORDERHUB_REDIS_URL"] = f"{REDIS_BASE}/{redis_db}"
        import redis

        redis.Redis.from_url(env["ORDERHUB_REDIS_URL"]).flushdb()
    else:
        hub.embedded = EmbeddedRedis(workdir / "redis")
        env["ORDERHUB_REDIS_URL"] = hub.embedded.start()
    env.update(extra_env or {})
    hub.migrate()
    return hub
