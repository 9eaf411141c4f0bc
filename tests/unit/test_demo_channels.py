"""The demo shop pushes into own-store channels only (issue 15, item 3): an order pushed into a platform channel does
not exist on the platform, and confirming its shipment there fails (订单不存在). Platform channels pull."""

from __future__ import annotations

from orderhub.channels.catalogue import WRITEBACK_PLATFORMS
from server.demo.seed import DEMO_CHANNELS, DEMO_PLATFORM_CHANNELS, DEMO_USERS


def test_the_demo_shop_pushes_into_no_channel_the_hub_writes_back_to() -> None:
    pushed = {code: platform for code, platform, _, _ in DEMO_CHANNELS}
    assert pushed and all(platform not in WRITEBACK_PLATFORMS for platform in pushed.values()), pushed
    # the platform channels are the simulators' pull targets, never push targets
    assert not set(pushed) & {code for code, *_ in DEMO_PLATFORM_CHANNELS}


def test_the_demo_manager_is_a_user_name_not_a_password() -> None:
    names = {username for username, *_ in DEMO_USERS}
    passwords = {password for _, password, *_ in DEMO_USERS}
    assert "manager" in names and not names & passwords
