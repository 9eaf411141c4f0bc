"""Taobao / Tmall open platform (TOP) adapter of the channel connector port.

``client`` speaks TOP's wire format and signature, ``mapper`` turns a TOP ``Trade`` into the hub's
:class:`~orderhub.channels.port.PlatformOrder`, ``connector`` implements the port (``server.wiring``
registers it as ``"taobao"`` and ``"tmall"``).
"""

from __future__ import annotations

__all__: list[str] = []
