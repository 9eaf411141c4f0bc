"""Demo data (placeholder until the full seed lands)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["seed_demo"]


async def seed_demo(data_dir: Path) -> list[tuple[str, str, str]]:
    return []
