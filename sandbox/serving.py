"""Serve a simulator's ASGI app with uvicorn on a background thread, on a free (or given) local port — for tests,
benchmarks and the demo. Each simulator's server subclasses :class:`BackgroundServer` and builds its app."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any, ClassVar, Self

import uvicorn

__all__ = ["BackgroundServer"]


class BackgroundServer:
    name: ClassVar[str] = "simulator"  # for thread names and errors

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def create_app(self) -> Any:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError(f"the {self.name} is not running")
        return f"http://{self.host}:{self.port}"

    def start(self, *, timeout: float = 10.0) -> Self:
        if self._thread is not None:
            raise RuntimeError("already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.create_app(), lifespan="off", log_level="warning", access_log=False, timeout_keep_alive=30
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self, *, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
        self.port = 0

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
