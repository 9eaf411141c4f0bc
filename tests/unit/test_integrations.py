"""The registry walk: every integration ``server.wiring`` plugs in has what docs/adding-an-integration.md asks for —
a catalogue entry, a simulator in ``sandbox/``, and (for platforms) a carrier table that covers the carrier
catalogue. A new carrier or platform that misses one of them fails here, before anyone greps for it.

This process is wired like the hub (tests/conftest.py calls ``wire()``), so the registries hold what every process
of the hub holds.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import pytest

from orderhub.carriers import catalogue as carriers
from orderhub.carriers.kuaidi100 import mapper as kuaidi100
from orderhub.carriers.port import CARRIERS, TRACKERS
from orderhub.channels import catalogue as platforms
from orderhub.channels.port import CONNECTORS, PUSH_RECEIVERS
from orderhub.logistics import labels, rates
from orderhub.orders import shipping

ROOT = Path(__file__).resolve().parents[2]


def _mapper(platform: str) -> ModuleType:
    """The mapper next to the platform's registered connector (orderhub/channels/<package>/mapper.py)."""
    module = CONNECTORS.get(platform).__module__  # orderhub.channels.<package>.connector
    return importlib.import_module(module.rsplit(".", 1)[0] + ".mapper")


def test_the_registries_are_filled() -> None:
    assert CARRIERS.codes() and CONNECTORS.codes() and TRACKERS.codes() and PUSH_RECEIVERS.codes()


def test_the_carrier_catalogue_is_one_entry_per_carrier() -> None:
    codes = [c.code for c in carriers.CATALOGUE]
    assert len(codes) == len(set(codes)) and all(code == code.upper() for code in codes)
    assert len({c.kuaidi100 for c in carriers.CATALOGUE}) == len(codes)
    assert all(c.name.strip() for c in carriers.CATALOGUE)
    # every place that lists carriers lists the catalogue's
    assert shipping.CARRIERS == carriers.CODES
    assert rates.CARRIERS == carriers.WAYBILL_CARRIERS
    assert all(labels.carrier_name(c.code) == c.name for c in carriers.CATALOGUE)


@pytest.mark.parametrize("code", CARRIERS.codes())
def test_every_registered_carrier_has_a_catalogue_entry_and_a_simulator(code: str) -> None:
    entry = carriers.entry(code)
    assert entry is not None, f"carrier {code} is wired but not in orderhub/carriers/catalogue.py"
    assert entry.waybills, f"carrier {code} is wired but its catalogue entry says the hub orders no waybills from it"
    assert (ROOT / "sandbox" / "carriers" / f"{code.lower()}.py").is_file(), f"no sandbox/carriers/{code.lower()}.py"


def test_every_waybill_carrier_in_the_catalogue_is_wired() -> None:
    assert sorted(carriers.WAYBILL_CARRIERS) == CARRIERS.codes()


def test_the_tracker_knows_every_catalogue_carrier() -> None:
    assert TRACKERS.codes() == ["kuaidi100"]
    assert (ROOT / "sandbox" / "kuaidi100.py").is_file()
    for entry in carriers.CATALOGUE:
        assert kuaidi100.company_for(entry.code) == entry.kuaidi100
        assert kuaidi100.carrier_for_company(entry.kuaidi100) == entry.code
        assert carriers.by_kuaidi100(entry.kuaidi100) == entry


@pytest.mark.parametrize("platform", CONNECTORS.codes())
def test_every_registered_platform_has_a_catalogue_entry_and_a_simulator(platform: str) -> None:
    entry = platforms.entry(platform)
    assert entry is not None, f"platform {platform} is wired but not in orderhub/channels/catalogue.py"
    simulator = ROOT / "sandbox" / "platforms" / f"{entry.simulator}.py"
    assert simulator.is_file(), f"no simulator for {platform}: {simulator.relative_to(ROOT)}"


def test_every_catalogue_platform_is_wired() -> None:
    assert sorted(p.code for p in platforms.PLATFORMS) == CONNECTORS.codes()
    assert set(PUSH_RECEIVERS.codes()) <= set(CONNECTORS.codes())
    assert shipping.PLATFORMS_WITH_WRITEBACK == platforms.WRITEBACK_PLATFORMS


@pytest.mark.parametrize("platform", CONNECTORS.codes())
def test_every_channel_mapper_maps_every_catalogue_carrier(platform: str) -> None:
    """A platform the hub confirms shipments to maps each catalogue carrier to the platform's own code, keyed by
    the catalogue code; a carrier left out on purpose is named in the mapper's UNMAPPED_CARRIERS with the reason."""
    entry = platforms.entry(platform)
    mapper = _mapper(platform)
    table: Mapping[str, object] | None = getattr(mapper, "CARRIER_MAP", None)
    if entry is None or not entry.writeback:
        return
    assert table is not None, f"{mapper.__name__} has no CARRIER_MAP (hub carrier code → the platform's code)"
    gaps: Mapping[str, str] = getattr(mapper, "UNMAPPED_CARRIERS", {})
    unknown = set(table) - set(carriers.CODES)
    assert not unknown, f"{mapper.__name__} maps carrier codes the catalogue does not have: {unknown}"
    assert set(gaps) <= set(carriers.CODES) and not set(gaps) & set(table)
    missing = [code for code in carriers.CODES if code not in table and code not in gaps]
    assert not missing, f"{mapper.__name__} maps no platform code for {missing}"
    assert all(str(value).strip() for value in table.values())
