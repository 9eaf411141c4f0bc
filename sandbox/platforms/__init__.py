"""Local simulators of the e-commerce platforms' open APIs (Taobao/Tmall, 抖店, 拼多多, 京东, 微信小店).

They speak each platform's wire format and verify its real signature, so the hub's production clients can be tested
without the internet::

    from sandbox.platforms import running_platforms

    with running_platforms() as sim:
        seller = sim.store.create_seller("pinduoduo")
        sim.store.add_orders("pinduoduo", seller.app_key, 5)
        ... point the hub's PDD client at sim.url("pinduoduo") with seller.app_key / seller.app_secret ...
        assert sim.store.shipments("pinduoduo")

Production code never imports this package.
"""

from __future__ import annotations

from sandbox.platforms.app import ENDPOINTS, create_app
from sandbox.platforms.server import PlatformServer, running_platforms
from sandbox.platforms.store import (
    OrderState,
    Platform,
    PlatformStore,
    Receiver,
    RefundState,
    SellerAccount,
    Shipment,
    SimOrder,
    StockUpdate,
)

__all__ = [
    "ENDPOINTS",
    "OrderState",
    "Platform",
    "PlatformServer",
    "PlatformStore",
    "Receiver",
    "RefundState",
    "SellerAccount",
    "Shipment",
    "SimOrder",
    "StockUpdate",
    "create_app",
    "running_platforms",
]
