"""Local simulators of the express companies' open APIs (顺丰 丰桥 today).

They speak each carrier's wire format and verify its real digest, so the hub's carrier adapters can be tested
without the internet. Production code never imports this package.
"""

from __future__ import annotations

from sandbox.carriers.server import CARRIERS, CarrierServer, create_app, running_carriers
from sandbox.carriers.sf import SfAccount, SfOrder, SfRequest, SfRoute, SfStore

__all__ = [
    "CARRIERS",
    "CarrierServer",
    "SfAccount",
    "SfOrder",
    "SfRequest",
    "SfRoute",
    "SfStore",
    "create_app",
    "running_carriers",
]
