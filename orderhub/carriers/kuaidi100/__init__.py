"""快递100 (kuaidi100) tracking aggregator: subscribe-and-push (订阅推送) plus the real-time query (实时查询).

:mod:`.client` holds the wire format and the signatures; :mod:`.mapper` turns 快递100 payloads into the carrier
port's :class:`~orderhub.carriers.port.TrackingEvent` list; :mod:`.adapter` implements the
:class:`~orderhub.carriers.port.Tracker` port (registered as ``"kuaidi100"`` by ``server.wiring``).
"""

from __future__ import annotations

__all__: list[str] = []
