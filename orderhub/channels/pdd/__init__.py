"""拼多多 (Pinduoduo) channel adapter: :mod:`.client` (POP gateway, signing), :mod:`.mapper` (order payload →
``PlatformOrder``, carrier ids), :mod:`.connector` (the ``ChannelConnector`` port; registers ``"pdd"``)."""

from __future__ import annotations

__all__: list[str] = []
