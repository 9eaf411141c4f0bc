"""拼多多 (Pinduoduo) channel adapter: :mod:`.client` (POP gateway, signing), :mod:`.mapper` (order payload →
``PlatformOrder``, carrier ids), :mod:`.connector` (the ``ChannelConnector`` port, registered as ``"pdd"``
by ``server.wiring``)."""

from __future__ import annotations

__all__: list[str] = []
