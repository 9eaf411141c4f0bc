"""Run the simulators on a free local port in a background thread (uvicorn), for tests, benchmarks and the demo.

with running_platforms() as sim:
    acct = sim.store.create_seller("taobao")
    client = TopClient(base_url=sim.url("taobao"), ...)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sandbox.platforms.app import ENDPOINTS, create_app
from sandbox.platforms.store import Platform, PlatformLike, PlatformStore
from sandbox.serving import BackgroundServer

__all__ = ["PlatformServer", "running_platforms"]


class PlatformServer(BackgroundServer):
    """The simulators served by uvicorn on a background thread. ``base_url`` is known once started."""

    name = "platform simulators"

    def __init__(self, store: PlatformStore | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.store = store or PlatformStore()

    def create_app(self) -> Any:
        return create_app(self.store)

    def url(self, platform: PlatformLike) -> str:
        """The platform's gateway URL (Taobao, PDD, JD, ``"alipay"``) or API prefix (抖店, WeChat Shop)."""
        key = platform.value if isinstance(platform, Platform) else str(platform)
        return self.base_url + ENDPOINTS[key if key == "alipay" else Platform(key).value]

    @property
    def alipay_url(self) -> str:
        """The simulated Alipay OpenAPI gateway (``…/alipay/gateway.do``)."""
        return self.url("alipay")

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
