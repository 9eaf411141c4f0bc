"""The shipped default rule packs: ``packs/*.toml`` (one file per destination, ``[[pack]]`` per version, with
their sources and the figures a source could not confirm marked in comments).

They govern a destination while the ``customs_rule_pack`` table holds no version of it; the first version created
through the API writes them into the table first (:mod:`orderhub.customs.packs`), so the history stays whole and
the table alone governs from then on. Read once per process.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

import msgspec

from orderhub.customs.model import RulePack

__all__ = ["PACKS_DIR", "default_destinations", "default_packs", "defaults_for"]

PACKS_DIR = Path(__file__).resolve().parent / "packs"


@functools.cache
def default_packs() -> tuple[RulePack, ...]:
    """Every shipped version of every destination (validated when the tests load them)."""
    packs: list[RulePack] = []
    for path in sorted(PACKS_DIR.glob("*.toml")):
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        packs.extend(msgspec.convert(entry, RulePack) for entry in data.get("pack", []))
    return tuple(packs)


def defaults_for(destination: str) -> list[RulePack]:
    return sorted(
        (p for p in default_packs() if p.destination == destination), key=lambda p: (p.effective_from, p.version)
    )


def default_destinations() -> list[str]:
    return sorted({p.destination for p in default_packs()})
