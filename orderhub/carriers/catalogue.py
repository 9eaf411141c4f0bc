"""The carrier catalogue: every express company the hub knows, once. Everything that names a carrier reads it —
manual shipping (``orders.shipping``), carrier accounts, rate cards and waybills (``logistics``), labels and
tracking pages (the zh-CN name), 快递100 (its company code) and the platform write-back mappers (their own codes,
keyed by the catalogue's).

Adding a carrier starts here (see docs/adding-an-integration.md): one :class:`CarrierEntry`; ``waybills=True`` once
an adapter in ``orderhub/carriers/<code>/`` can order its 电子面单 and ``server/wiring.py`` registers it.
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = [
    "CATALOGUE",
    "CODES",
    "INTERNATIONAL_CARRIERS",
    "WAYBILL_CARRIERS",
    "CarrierEntry",
    "by_kuaidi100",
    "entry",
    "name_of",
]


class CarrierEntry(msgspec.Struct, frozen=True, kw_only=True):
    code: str  # the hub's carrier code, stored on accounts, waybills, shipments and write-backs ("SF")
    name: str  # zh-CN, as labels, the tracking page and customer messages print it (顺丰速运)
    kuaidi100: str  # 快递100 company code (快递公司编码) for tracking ("shunfeng")
    waybills: bool = False  # the hub orders 电子面单 from it: an adapter in orderhub/carriers/<code lower>/
    # Its adapter can issue waybills to receivers outside China (an international service with a declaration);
    # carrier choice offers only these for a foreign receiver, the others' adapters refuse one.
    international: bool = False


# In this order in every list and message that names them (手工发货: "可选：SF、ZTO、YTO …").
CATALOGUE: Final[tuple[CarrierEntry, ...]] = (
    CarrierEntry(code="SF", name="顺丰速运", kuaidi100="shunfeng", waybills=True, international=True),
    CarrierEntry(code="ZTO", name="中通快递", kuaidi100="zhongtong", waybills=True),
    CarrierEntry(code="YTO", name="圆通速递", kuaidi100="yuantong"),
    CarrierEntry(code="STO", name="申通快递", kuaidi100="shentong"),
    CarrierEntry(code="YD", name="韵达快递", kuaidi100="yunda"),
    CarrierEntry(code="JT", name="极兔速递", kuaidi100="jtexpress", waybills=True),
    CarrierEntry(code="EMS", name="EMS", kuaidi100="ems"),
    CarrierEntry(code="JD", name="京东快递", kuaidi100="jd"),
)

_BY_CODE: Final = {e.code: e for e in CATALOGUE}
_BY_KUAIDI100: Final = {e.kuaidi100: e for e in CATALOGUE}

# Every carrier code the hub accepts (manual shipping, platform write-back).
CODES: Final[tuple[str, ...]] = tuple(e.code for e in CATALOGUE)
# The carriers the hub orders waybills from (carrier accounts, rate cards, carrier choice).
WAYBILL_CARRIERS: Final[tuple[str, ...]] = tuple(e.code for e in CATALOGUE if e.waybills)
# The carriers whose adapters issue waybills to receivers outside China.
INTERNATIONAL_CARRIERS: Final[tuple[str, ...]] = tuple(e.code for e in CATALOGUE if e.waybills and e.international)


def entry(code: str) -> CarrierEntry | None:
    """The catalogue entry for a hub carrier code (None when the hub does not know it)."""
    return _BY_CODE.get(code)


def name_of(code: str) -> str:
    """The name people know a carrier by (顺丰速运), from the hub's carrier code (SF); an unknown code as it is."""
    found = _BY_CODE.get(code)
    return found.name if found else code


def by_kuaidi100(company: str) -> CarrierEntry | None:
    """The entry whose 快递100 company code this is (None when the hub does not know it)."""
    return _BY_KUAIDI100.get(company)
