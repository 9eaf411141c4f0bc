"""Stock reservation under truly parallel database connections (PostgreSQL)."""

from __future__ import annotations

import asyncio
import random

import pytest

from orderhub import db
from orderhub.catalog.service import NewSku, create_sku
from orderhub.inventory.service import NewWarehouse, StockShortage, adjust_stock, create_warehouse, reserve
from orderhub.inventory.tables import StockLevel
from tests.support.factories import unique
from tests.support.hub import Hub

pytestmark = pytest.mark.postgres_only


async def _sku_with_stock(warehouse: str, qty: int) -> tuple[int, str]:
    sku = await create_sku(NewSku(code=unique("PAR-"), name="并发测试商品"))
    await adjust_stock(sku=sku.code, warehouse=warehouse, delta=None, set_to=qty, reason="test", actor="test")
    return sku.id, sku.code


async def test_multi_line_reservations_never_oversell_or_deadlock(store: Hub) -> None:
    warehouse = await create_warehouse(NewWarehouse(code=unique("PW"), name="并发仓"))
    skus = [await _sku_with_stock(warehouse.code, 40) for _ in range(3)]
    codes = dict(skus)
    rng = random.Random(7)
    # 120 orders, each wanting 1–3 units of two or three SKUs listed in random order.
    wants = [{sku_id: rng.randint(1, 3) for sku_id, _ in rng.sample(skus, rng.randint(2, 3))} for _ in range(120)]
    granted: list[dict[int, int]] = []

    async def attempt(want: dict[int, int]) -> None:
        try:
            async with db.transaction():
                await reserve(warehouse.id, want, codes)
            granted.append(want)
        except StockShortage as shortage:
            assert shortage.shortfalls  # every refusal names what was short

    await asyncio.gather(*(attempt(w) for w in wants))
    rows = {
        int(r["sku"]): (int(r["on_hand"]), int(r["reserved"]))
        for r in await StockLevel.select(StockLevel.sku, StockLevel.on_hand, StockLevel.reserved).where(
            StockLevel.warehouse == warehouse.id
        )
    }
    for sku_id, _ in skus:
        expected = sum(w.get(sku_id, 0) for w in granted)
        on_hand, reserved = rows[sku_id]
        assert reserved == expected <= on_hand == 40
    assert granted, "some orders must have been served"
    assert any(rows[s][1] > 30 for s, _ in skus), "stock should be nearly used up by the contention"
