"""顺丰速运 (SF Express) adapter over the 丰桥 open platform: :mod:`.client` → :mod:`.mapper` → :mod:`.adapter`."""

from __future__ import annotations

__all__: list[str] = []
