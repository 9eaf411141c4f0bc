"""OrderHub (订单中枢): the domain core and platform services."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
