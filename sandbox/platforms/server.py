"""Run the simulators on a free local port in a background thread (uvicorn), for tests, benchmarks and the demo.

with running_platforms() as sim:
    acct = sim.store.create_seller("taobao")
    client = TopClient(base_url=sim.url("taobao"), ...)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

import uvicorn

from sandbox.platforms.app import ENDPOINTS, create_app
from sandbox.platforms.store import Platform, PlatformLike, PlatformStore

__all__ = ["PlatformServer", "running_platforms"]


class PlatformServer:
    """The simulators served by uvicorn on a background thread. ``base_url`` is known once started."""

    def __init__(self, store: PlatformStore | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = store or PlatformStore()
        self.host = host
        self._requested_port = port
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("the platform simulators are not running")
        return f"http://{self.host}:{self.port}"

    def url(self, platform: PlatformLike) -> str:
        """The platform's gateway URL (Taobao, PDD, JD) or API prefix (抖店, WeChat Shop)."""
        return self.base_url + ENDPOINTS[Platform(platform).value]

    @property
    def taobao_url(self) -> str:
        return self.url(Platform.TAOBAO)

    @property
    def douyin_url(self) -> str:
        return self.url(Platform.DOUYIN)

    @property
    def pinduoduo_url(self) -> str:
        return self.url(Platform.PINDUODUO)

    @property
    def jd_url(self) -> str:
        return self.url(Platform.JD)

    @property
    def wechat_shop_url(self) -> str:
        return self.url(Platform.WECHAT_SHOP)

    def start(self, *, timeout: float = 10.0) -> PlatformServer:
        if self._thread is not None:
            raise RuntimeError("already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.store), lifespan="off", log_level="warning", access_log=False, timeout_keep_alive=30
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="platform-simulators", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the platform simulators did not start")
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

    def __enter__(self) -> PlatformServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def running_platforms(
    store: PlatformStore | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[PlatformServer]:
    """Serve the simulators (over ``store``, or a fresh one) for the duration of the ``with`` block."""
    server = PlatformServer(store, host=host, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
