"""京东 JOS (POP seller) adapter of the channel connector port.

``client`` speaks JOS's wire format and signature, ``mapper`` turns a JOS ``OrderSearchInfo`` into the hub's
:class:`~orderhub.channels.port.PlatformOrder`, ``connector`` implements the port (registered as ``"jd"`` by
``server.wiring``).
"""

from __future__ import annotations

__all__: list[str] = []
