"""微信小店 / 视频号小店 (WeChat Channels shop) channel adapter: :mod:`.client` (access token, JSON API envelope),
:mod:`.mapper` (order payload → ``PlatformOrder``, delivery ids), :mod:`.connector` (the ``ChannelConnector`` port,
registered as ``"wechat_shop"`` by ``server.wiring``)."""

from __future__ import annotations

__all__: list[str] = []
