"""The add-on offers' effect on the managers' console (``/m/``, the 战略 page's 加购优惠效果 card) in headless Chromium:
the attach rate of buyers shown the offer against the hold-out, the difference with its 95 % interval and the zh-CN
reading, as ``GET /api/v1/dash/offers`` gives them. Screenshots go to ``$CONSOLE_SCREENSHOTS`` (default: the test's tmp
dir)."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orderhub.offers.model import derive_holdout_key, in_holdout
from tests.support.chromium import Browser
from tests.support.factories import Api, create_channel, create_sku, create_warehouse, order_payload, set_stock, unique
from tests.support.hub import Hub

# A page in a browser: the same on both back ends (the API under it is tested on both); the embedded default.
pytestmark = pytest.mark.sqlite_only

PASSWORD = "console-pass-1"


def _buyers(store: Hub, channel: str, offer_id: int, n: int) -> tuple[list[str], list[str]]:
    """``n`` buyers shown the offer and ``n`` held out, by the hub's keyed hash."""
    key = derive_holdout_key(store.env["ORDERHUB_SECRET_KEY"])
    shown: list[str] = []
    held: list[str] = []
    for i in itertools.count():
        name = f"控制台买家{i}"
        (held if in_holdout(key, channel, name, offer_id, 0.5) else shown).append(name)
        if len(shown) >= n and len(held) >= n:
            return shown[:n], held[:n]
    raise AssertionError("unreachable")


async def test_the_strategic_page_shows_the_offers_effect(api: Api, store: Hub, tmp_path: Path) -> None:
    warehouse = (await create_warehouse(api))["code"]
    chips, cola = [await create_sku(api, name=name) for name in ("薯片", "可乐")]
    for sku in (chips, cola):
        await set_stock(api, sku=sku, warehouse=warehouse, qty=200)
    channel, _ = await create_channel(api, warehouse=warehouse)
    username = unique("manager")
    async with api.client() as client:
        r = await client.post(
            "/api/v1/offers",
            json={
                "trigger_skus": [chips],
                "offer_sku": cola,
                "price": 500,
                "holdout_share": 0.5,
                "name": "满 1 件薯片加购可乐 5 元",
            },
        )
        assert r.status_code == 201, r.text
        offer_id = r.json()["id"]
        assert (await client.post(f"/api/v1/offers/{offer_id}/enable")).status_code == 200
        user = await client.post(
            "/api/v1/users", json={"username": username, "password": PASSWORD, "role": "manager", "warehouse": None}
        )
        assert user.status_code == 201, user.text
    try:
        shown, held = _buyers(store, channel, offer_id, 6)
        placed = datetime.now(UTC).isoformat()

        def order(buyer: str, attach: bool) -> dict[str, Any]:
            lines = [(chips, 1), (cola, 1)] if attach else [(chips, 1)]
            return order_payload(lines=lines, buyer={"nick": buyer, "phone": ""}, created_at=placed)

        # shown: 5 of 6 buyers add cola; held out: 1 of 6
        orders = [order(b, i < 5) for i, b in enumerate(shown)] + [order(b, i < 1) for i, b in enumerate(held)]
        async with api.client() as client:
            r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": orders})
            assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
            board = (await client.get("/api/v1/dash/offers")).json()
        mine = next(o for o in board if o["offer_id"] == offer_id)
        assert (mine["treatment"]["hits"], mine["treatment"]["n"]) == (5, 6)
        assert (mine["holdout"]["hits"], mine["holdout"]["n"]) == (1, 6)

        shots = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
        async with Browser(store.url) as browser:
            await browser.open(f"{store.url}/m/")
            await browser.wait_for("!!document.querySelector('#login-form')")
            await browser.fill("#username", username)
            await browser.fill("#password", PASSWORD)
            await browser.js("document.querySelector('#login-form').requestSubmit()")
            await browser.wait_for("!!document.querySelector('#tabs')")
            row = f"#offers-effect tr[data-offer='{offer_id}']"
            await browser.wait_for(f'!!document.querySelector("{row}")')
            assert "满 1 件薯片加购可乐 5 元" in (await browser.text(f"{row} td") or "")
            assert "83.3%" in (await browser.text(f"{row} .offer-treatment") or "")  # 5 / 6
            assert "5/6 人" in (await browser.text(f"{row} .offer-treatment") or "")
            assert "16.7%" in (await browser.text(f"{row} .offer-holdout") or "")  # 1 / 6
            effect = await browser.text(f"{row} .offer-effect") or ""
            estimate = f"{(5 / 6 - 1 / 6) * 100:+.1f} 点"
            assert estimate in effect and "95% 区间" in effect, effect
            note = await browser.text(f"#offers-effect li[data-offer='{offer_id}']") or ""
            assert "有效" in note or "尚无定论" in note, note
            await browser.js("document.querySelector('#offers-effect').scrollIntoView()")
            await browser.screenshot(shots / "console-offers-375.png", full_page=False)
            assert not browser.csp, browser.csp
            assert not browser.errors, browser.errors
    finally:
        async with api.client() as client:
            assert (await client.post(f"/api/v1/offers/{offer_id}/disable")).status_code == 200
            users = (await client.get("/api/v1/users")).json()
            for u in users if isinstance(users, list) else users.get("items", []):
                if u["username"] == username:
                    await client.patch(f"/api/v1/users/{u['id']}", json={"active": False})
