"""Every module sits on exactly one floor of the import-linter layers contract (pyproject.toml), so a new context or
adapter cannot slip past ``lint-imports`` by being in no layer at all."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import notify
import orderhub

ROOT = Path(__file__).resolve().parents[2]
# Packages that only hold floors (their __init__ has no code of its own).
CONTAINERS = {"orderhub", "orderhub.channels", "orderhub.carriers"}


def _layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (floors,) = [c for c in config["contracts"] if c["id"] == "floors"]
    return [[name.strip() for name in layer.replace("|", ":").split(":")] for layer in floors["layers"]]


def test_every_module_is_on_one_floor() -> None:
    layers = _layers()
    names = {"notify", "orderhub"}
    for package in (orderhub, notify):
        names |= {m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")}
    for name in sorted(names - CONTAINERS):
        floors = [i for i, layer in enumerate(layers) for top in layer if name == top or name.startswith(top + ".")]
        assert len(floors) == 1, f"{name} is on floors {floors} of pyproject's floors contract (want exactly one)"


def test_the_floors_are_in_order() -> None:
    tops = [layer[0] for layer in _layers()]
    assert tops[0] == "server" and tops[1] == "api" and tops[2] == "notify"
    assert tops[3] == "orderhub.orders" and tops[4] == "orderhub.settings"
