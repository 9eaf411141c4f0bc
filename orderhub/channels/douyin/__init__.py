"""抖店 (Douyin shop) adapter: ``client`` (wire format + signing), ``mapper`` (payload → hub terms), ``connector``
(the :class:`~orderhub.channels.port.ChannelConnector`, registered as ``"douyin"`` by ``server.wiring``) and ``webhook``
(message push verification and parsing: the port's ``PushReceiver``)."""

from __future__ import annotations

__all__: list[str] = []
