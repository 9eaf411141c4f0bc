"""中通快递 (ZTO Express) adapter over the 中通开放平台 (ZOP): :mod:`.client` → :mod:`.mapper` → :mod:`.adapter`."""

from __future__ import annotations

__all__: list[str] = []
