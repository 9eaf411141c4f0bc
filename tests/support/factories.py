"""Keyword-only ``create_*`` helpers that make test data through the real API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

__all__ = [
    "Api",
    "create_channel",
    "create_sku",
    "create_warehouse",
    "order_payload",
    "set_stock",
    "signed_headers",
    "unique",
]


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class Api:
    """A thin httpx wrapper with the admin token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers=self.headers, timeout=60, **kwargs)


async def create_warehouse(api: Api, *, code: str | None = None, name: str = "测试仓") -> dict[str, Any]:
    async with api.client() as client:
        r = await client.post("/api/v1/warehouses", json={"code": code or unique("W"), "name": name})
        assert r.status_code == 201, r.text
        return dict(r.json())


async def create_sku(api: Api, *, code: str | None = None, name: str = "测试商品", weight_g: int = 100) -> str:
    code = code or unique("SKU-")
    async with api.client() as client:
        r = await client.post("/api/v1/skus", json={"code": code, "name": name, "weight_g": weight_g})
        assert r.status_code == 201, r.text
    return code


async def set_stock(api: Api, *, sku: str, warehouse: str, qty: int) -> dict[str, Any]:
    async with api.client() as client:
        r = await client.post(
            "/api/v1/stock/adjustments", json={"sku": sku, "warehouse": warehouse, "set": qty, "reason": "盘点"}
        )
        assert r.status_code == 201, r.text
        return dict(r.json())


async def create_channel(api: Api, *, warehouse: str | None, code: str | None = None) -> tuple[str, str]:
    code = code or unique("ch")
    async with api.client() as client:
        r = await client.post(
            "/api/v1/channels",
            json={"code": code, "platform": "own_store", "name": "测试店铺", "default_warehouse": warehouse},
        )
        assert r.status_code == 201, r.text
        return code, str(r.json()["secret"])


def order_payload(
    *, external_id: str | None = None, lines: list[tuple[str, int]], paid_amount: int | None = None, **extra: Any
) -> dict[str, Any]:
    order: dict[str, Any] = {
        "external_id": external_id or unique("EXT"),
        "created_at": datetime.now(UTC).isoformat(),
        "paid_at": datetime.now(UTC).isoformat(),
        "buyer": {"nick": "买家小王", "phone": "13800138000"},
        # A different phone per order: identical content within 5 minutes is held as a suspected duplicate.
        "receiver": {
            "name": "王小明",
            "phone": f"139{random.randrange(10**8):08d}",
            "address": "上海市浦东新区世纪大道100号",
        },
        "lines": [{"sku": sku, "qty": qty, "unit_price": 1990} for sku, qty in lines],
        "shipping_fee": 0,
        "discount": 0,
        "paid_amount": paid_amount if paid_amount is not None else sum(1990 * q for _, q in lines),
    }
    order.update(extra)
    return order


def signed_headers(channel: str, secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The documented scheme, computed here independently of the server's code."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = hmac.new(secret.encode(), ts.encode() + b"\n" + body, hashlib.sha256).hexdigest()
    return {
        "X-OrderHub-Channel": channel,
        "X-OrderHub-Timestamp": ts,
        "X-OrderHub-Signature": signature,
        "content-type": "application/json",
    }


def body_of(channel: str, orders: list[dict[str, Any]]) -> bytes:
    return json.dumps({"channel": channel, "orders": orders}, ensure_ascii=False).encode()


__all__ += ["body_of"]


async def wait_for_orders(
    api: Api,
    order_ids: list[int],
    *,
    done: frozenset[str] = frozenset({"ready", "exception", "held"}),
    timeout: float = 90,
) -> dict[int, dict[str, Any]]:
    """Poll until every order has left the pipeline (status in ``done``); returns id → order."""
    import asyncio

    deadline = time.monotonic() + timeout
    finished: dict[int, dict[str, Any]] = {}
    async with api.client() as client:
        while True:
            pending = [i for i in order_ids if i not in finished]
            for order_id in pending:
                r = await client.get(f"/api/v1/orders/{order_id}")
                assert r.status_code == 200, r.text
                if r.json()["status"] in done:
                    finished[order_id] = r.json()
            if len(finished) == len(order_ids):
                return finished
            if time.monotonic() > deadline:
                stuck = {i: None for i in order_ids if i not in finished}
                raise AssertionError(f"orders not finished in {timeout}s: {list(stuck)[:20]}")
            await asyncio.sleep(0.3)


__all__ += ["wait_for_orders"]


async def rollups_caught_up() -> None:
    """Count every order event logged so far into the rollups (the worker does it every half second; a run that
    finds the cursor taken by a worker waits for it and tries again)."""
    from orderhub.insights import upkeep

    for _ in range(400):
        if not (await upkeep.catch_up()).busy:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the rollups' cursor stayed taken for 20 s")


KETTLE = {  # an electric kettle's customs data: HS 8516.79 is on Thailand's TIS-mandatory list (the shipped pack)
    "hs_code": "85167990",
    "name_en": "Electric kettle for pets' water",
    "name_zh": "宠物电热水壶",
    "names": {"th": "กาต้มน้ำไฟฟ้าสำหรับสัตว์เลี้ยง"},
    "material": "stainless steel",
    "usage": "heating water",
    "origin_country": "CN",
    "unit_value": 5000,  # 50.00 CNY
    "currency": "CNY",
    "certificates": {"TISI": "TIS 2062-2561/1234"},
}
