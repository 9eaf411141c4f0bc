"""The README says what the demo has: its counts, its users and roles, its channels, its handheld and badge. Drift
between the two (the README said one thing, the demo did another) fails here instead of confusing a new seller."""

from __future__ import annotations

import re
from pathlib import Path

from server.demo.seed import (
    DEMO_BADGES,
    DEMO_CHANNELS,
    DEMO_PLATFORM_CHANNELS,
    DEMO_USERS,
    DEMO_WAREHOUSES,
    demo_catalog,
)

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _banner() -> str:
    found = re.search(r"```\nOrderHub 订单中枢 is running.*?```", README, re.S)
    assert found, "the README shows the run banner"
    return found.group(0)


def test_the_counts_are_the_demos() -> None:
    assert f"{len(DEMO_WAREHOUSES)} warehouses" in README
    approx = re.search(r"~(\d+) SKUs", README)
    assert approx and abs(int(approx.group(1)) - len(demo_catalog())) <= len(demo_catalog()) // 10


def test_every_demo_user_is_shown_with_its_password_and_role() -> None:
    rows = re.findall(r"^    (\S+)\s+(\S+)\s+(\S+)$", _banner(), re.M)
    assert rows == [(u, p, r.value) for u, p, r, _, _ in DEMO_USERS]


def test_the_tour_names_what_the_demo_has() -> None:
    channels = {code for code, *_ in DEMO_CHANNELS} | {code for code, *_ in DEMO_PLATFORM_CHANNELS}
    for code in re.findall(r"/api/v1/channels/([a-z_]+)/", README):
        assert code in channels, code
    for warehouse in re.findall(r"warehouse=([A-Z]+)", README):
        assert warehouse in {w.code for w in DEMO_WAREHOUSES}, warehouse
    logins = re.findall(r'"device":"([^"]+)","badge":"([^"]+)"', README)
    assert logins, "the tour signs in a handheld"
    for device, badge in logins:
        assert device.split("-PDA-")[0] in {w.code for w in DEMO_WAREHOUSES}, device
        assert badge in DEMO_BADGES.values(), badge
