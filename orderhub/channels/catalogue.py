"""The platform catalogue: every sales platform the hub has a connector for, once (code, zh-CN name, whether a
shipped order is confirmed back to it, and the simulator that plays it in tests and the demo).

Adding a platform starts here (see docs/adding-an-integration.md): one :class:`PlatformEntry`, a connector in
``orderhub/channels/<code>/`` and one line in ``server/wiring.py``. Channels of other kinds (``erp``,
``own_store``) have no connector and no entry.
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = ["PLATFORMS", "WRITEBACK_PLATFORMS", "PlatformEntry", "entry"]


class PlatformEntry(msgspec.Struct, frozen=True, kw_only=True):
    code: str  # the hub's platform code, stored on channels ("pdd")
    name: str  # zh-CN (拼多多)
    writeback: bool = True  # a shipped order is confirmed back to the platform (发货回传)
    simulator: str  # the platform's module in sandbox/platforms/ (its own name for itself: "pinduoduo")


PLATFORMS: Final[tuple[PlatformEntry, ...]] = (
    PlatformEntry(code="taobao", name="淘宝", simulator="taobao"),
    PlatformEntry(code="tmall", name="天猫", simulator="taobao"),  # the same TOP API as Taobao
    PlatformEntry(code="jd", name="京东", simulator="jd"),
    PlatformEntry(code="pdd", name="拼多多", simulator="pinduoduo"),
    PlatformEntry(code="douyin", name="抖店", simulator="douyin"),
    PlatformEntry(code="wechat_shop", name="微信小店", simulator="wechat_shop"),
)

_BY_CODE: Final = {p.code: p for p in PLATFORMS}

# Orders from these platforms are confirmed back to the platform when they ship.
WRITEBACK_PLATFORMS: Final = frozenset(p.code for p in PLATFORMS if p.writeback)


def entry(code: str) -> PlatformEntry | None:
    return _BY_CODE.get(code)
