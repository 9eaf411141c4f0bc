"""京东 POP settlement: no settlement source — the POP settlement file is imported instead.

What was checked (2026-12, the JOS API catalogue as mirrored in public SDKs and the vendor docs search): JOS exposes
order, logistics, ware and stock APIs to a POP shop's own app, but no generally available API that hands a shop its
POP settlement bill (结算单 / 钱包流水) per day. The settlement data a seller reconciles is downloaded from the 商家后台
(京麦 → 财务 → 结算单 / 钱包明细) as a spreadsheet; third-party reconciliation tools read it from that export too.

So ``SETTLEMENT_SOURCES`` has no ``jd`` entry: 京东 settlement lines come from the file import (its own module, another
part of the finance work), with a saved column mapping. Should JD open such an API to the shop's app, a
``JdSettlementSource`` goes here on :class:`~orderhub.channels.jd.client.JosClient`.
"""

from __future__ import annotations

__all__: list[str] = []
