"""The carrier simulators (顺丰 today; 中通 / 极兔 mount the same way) in one litestar app, served by uvicorn on a
free local port in a background thread::

    with running_carriers() as sim:
        account = sim.sf.create_account(quota=10)
        credentials = CarrierCredentials(partner_id=account.partner_id, secret=account.check_word,
                                         customer_code=account.monthly_card, base_url=sim.url("sf"))

Each carrier has a module with ``PATH``, a store class and ``route_handlers``; the handlers find their store as
``request.app.state.carrier_stores[<code>]``. Add a carrier by adding it to :data:`CARRIERS`.
"""

from __future__ import annotations

import importlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import uvicorn
from litestar import Litestar, get
from litestar.datastructures import State

from sandbox.carriers import sf

__all__ = ["CARRIERS", "CarrierServer", "CarrierSimulator", "create_app", "running_carriers"]


@dataclass(frozen=True)
class CarrierSimulator:
    path: str  # the gateway path under the server's base URL
    new_store: Callable[[], Any]
    route_handlers: Sequence[Any]


# Each simulator module defines PATH, new_store (a callable returning its store) and route_handlers.
_MODULES = ("sf", "zto", "jt")


def _simulators() -> dict[str, CarrierSimulator]:
    found: dict[str, CarrierSimulator] = {}
    for name in _MODULES:
        try:
            module = importlib.import_module(f"sandbox.carriers.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"sandbox.carriers.{name}":
                continue
            raise
        found[name] = CarrierSimulator(
            path=module.PATH, new_store=module.new_store, route_handlers=module.route_handlers
        )
    return found


CARRIERS: dict[str, CarrierSimulator] = _simulators()


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(stores: dict[str, Any]) -> Litestar:
    handlers: list[Any] = [healthz]
    for simulator in CARRIERS.values():
        handlers += simulator.route_handlers
    return Litestar(route_handlers=handlers, state=State({"carrier_stores": stores}), openapi_config=None, debug=False)


class CarrierServer:
    """The carrier simulators on a background uvicorn thread; ``stores`` by carrier code ("sf", …)."""

    def __init__(self, stores: dict[str, Any] | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.stores: dict[str, Any] = {code: sim.new_store() for code, sim in CARRIERS.items()}
        self.stores.update(stores or {})
        self.host = host
        self._requested_port = port
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def sf(self) -> sf.SfStore:
        store = self.stores["sf"]
        assert isinstance(store, sf.SfStore)
        return store

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("the carrier simulators are not running")
        return f"http://{self.host}:{self.port}"

    def url(self, carrier: str) -> str:
        """The carrier's gateway URL, e.g. ``url("sf")`` → ``http://127.0.0.1:<port>/sf/std/service``."""
        return self.base_url + CARRIERS[carrier.lower()].path

    def start(self, *, timeout: float = 10.0) -> CarrierServer:
        if self._thread is not None:
            raise RuntimeError("already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.stores), lifespan="off", log_level="warning", access_log=False, timeout_keep_alive=30
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="carrier-simulators", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the carrier simulators did not start")
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

    def __enter__(self) -> CarrierServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def running_carriers(
    stores: dict[str, Any] | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[CarrierServer]:
    """Serve the carrier simulators for the duration of the ``with`` block."""
    server = CarrierServer(stores, host=host, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
