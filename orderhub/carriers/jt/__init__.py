"""极兔速递 (J&T Express) adapter over the 极兔开放平台: :mod:`.client` → :mod:`.mapper` → :mod:`.adapter`."""

from __future__ import annotations

__all__: list[str] = []
