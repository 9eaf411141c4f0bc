"""抖店 (Douyin shop) adapter: ``client`` (wire format + signing), ``mapper`` (payload → hub terms), ``connector``
(the :class:`~orderhub.channels.port.ChannelConnector`, registered as ``"douyin"`` when imported) and ``webhook``
(message push verification and parsing)."""

from __future__ import annotations

__all__: list[str] = []
