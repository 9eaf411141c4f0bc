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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State

from sandbox.carriers import jt, sf, zto
from sandbox.serving import BackgroundServer

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


class CarrierServer(BackgroundServer):
    """The carrier simulators on a background uvicorn thread; ``stores`` by carrier code ("sf", …)."""

    name = "carrier simulators"

    def __init__(self, stores: dict[str, Any] | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.stores: dict[str, Any] = {code: sim.new_store() for code, sim in CARRIERS.items()}
        self.stores.update(stores or {})

    def create_app(self) -> Any:
        return create_app(self.stores)

    @property
    def sf(self) -> sf.SfStore:
        store = self.stores["sf"]
        assert isinstance(store, sf.SfStore)
        return store

    @property
    def zto(self) -> zto.ZtoStore:
        store = self.stores["zto"]
        assert isinstance(store, zto.ZtoStore)
        return store

    @property
    def jt(self) -> jt.JtStore:
        store = self.stores["jt"]
        assert isinstance(store, jt.JtStore)
        return store

    def new_account(self, carrier: str, *, quota: int | None = None) -> dict[str, str]:
        """Open an account at the carrier and return it as the hub's carrier-account ``credentials`` (what a
        seller copies from the carrier's portal), pointed at this simulator."""
        code = carrier.lower()
        if code == "sf":
            a = self.sf.create_account(quota=quota)
            keys = {"partner_id": a.partner_id, "secret": a.check_word, "customer_code": a.monthly_card}
        elif code == "zto":
            z = self.zto.create_account(quota=quota)
            keys = {
                "partner_id": z.app_key,
                "secret": z.app_secret,
                "customer_code": z.account_id,
                "customer_password": z.account_password,
            }
        elif code == "jt":
            j = self.jt.create_account(quota=quota)
            keys = {
                "partner_id": j.api_account,
                "secret": j.private_key,
                "customer_code": j.customer_code,
                "customer_password": j.password,
            }
        else:
            raise KeyError(carrier)
        return {**keys, "base_url": self.url(code)}

    def url(self, carrier: str) -> str:
        """The carrier's gateway URL, e.g. ``url("sf")`` → ``http://127.0.0.1:<port>/sf/std/service``."""
        return self.base_url + CARRIERS[carrier.lower()].path


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
