"""The managers' H5 console (``/m/``) in real headless Chromium against a running hub, offline but for the hub:
signing in, today's figures on the 战略 page, charts actually drawn (canvas pixels and a screenshot), the funnel
moving within a second of an order moving, the exception queue's retry, a warehouse-bound manager kept to their
warehouse, and the page's CSP never tripped. Screenshots go to ``$CONSOLE_SCREENSHOTS`` (default: the test's
tmp dir) at a phone's size (375×667) and a PC's."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from server.console import CSP
from tests.support.chromium import PC, Browser
from tests.support.factories import (
    Api,
    create_channel,
    create_sku,
    create_warehouse,
    order_payload,
    set_stock,
    unique,
    wait_for_orders,
)
from tests.support.hub import Hub

# A page in a browser: the same on both back ends (the API under it is tested on both); the embedded default.
pytestmark = pytest.mark.sqlite_only

PASSWORD = "console-pass-1"


class Shop:
    """A warehouse with stock of one SKU and a channel shipping from it."""

    def __init__(self, api: Api, name: str) -> None:
        self.api, self.name = api, name
        self.warehouse, self.warehouse_id, self.channel, self.sku = "", 0, "", ""

    async def setup(self) -> Shop:
        created = await create_warehouse(self.api, name=self.name)
        self.warehouse, self.warehouse_id = created["code"], int(created["id"])
        self.sku = await create_sku(self.api)
        await set_stock(self.api, sku=self.sku, warehouse=self.warehouse, qty=100)
        self.channel, _ = await create_channel(self.api, warehouse=self.warehouse)
        return self

    async def orders(self, n: int, *, sku: str | None = None) -> list[dict[str, Any]]:
        async with self.api.client() as client:
            r = await client.post(
                "/api/v1/orders/ingest",
                json={
                    "channel": self.channel,
                    "orders": [order_payload(lines=[(sku or self.sku, 1)]) for _ in range(n)],
                },
            )
        assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
        done = await wait_for_orders(self.api, [int(res["order_id"]) for res in r.json()["results"]])
        return list(done.values())

    async def cancel(self, order_id: int) -> None:
        async with self.api.client() as client:
            r = await client.post(f"/api/v1/orders/{order_id}/cancel", json={"reason": "买家取消"})
        assert r.status_code == 201 and r.json()["status"] == "cancelled", r.text


async def _user(api: Api, role: str, *, warehouse: str | None) -> str:
    username = unique(role)
    async with api.client() as client:
        r = await client.post(
            "/api/v1/users",
            json={
                "username": username,
                "password": PASSWORD,
                "role": role,
                "display_name": "王主管",
                "warehouse": warehouse,
            },
        )
        assert r.status_code == 201, r.text
    return username


async def _poll(api: Api, path: str, check: Any, timeout: float = 15) -> Any:
    """The endpoint's JSON once ``check`` accepts it (rollups follow the order events by ~0.5 s)."""
    deadline = time.monotonic() + timeout
    async with api.client() as client:
        while True:
            r = await client.get(path)
            assert r.status_code == 200, r.text
            if check(r.json()):
                return r.json()
            assert time.monotonic() < deadline, f"{path}: {r.json()}"
            await asyncio.sleep(0.2)


def _shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)


async def _sign_in(browser: Browser, url: str, username: str) -> None:
    await browser.open(f"{url}/m/")
    await browser.wait_for("!!document.querySelector('#login-form')")
    await browser.fill("#username", username)
    await browser.fill("#password", PASSWORD)
    await browser.js("document.querySelector('#login-form').requestSubmit()")
    await browser.wait_for("!!document.querySelector('#tabs')")
    await browser.wait_for("document.querySelector('#live-status').dataset.state === 'live'")


# Non-blank pixels of every canvas under a selector (uPlot draws on a transparent canvas).
_INKED = """(() => {
  let inked = 0;
  for (const c of document.querySelectorAll(%s)) {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
  }
  return inked;
})()"""


def _colour_share(shot: Path, near: tuple[int, int, int], tolerance: int = 24) -> float:
    from PIL import Image

    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        pixels: Counter[tuple[int, int, int]] = Counter(
            cast(tuple[int, int, int], rgb.getpixel((x, y)))
            for y in range(0, rgb.height, 2)
            for x in range(0, rgb.width, 2)
        )
    close = sum(
        n for rgb_, n in pixels.items() if max(abs(c - w) for c, w in zip(rgb_, near, strict=True)) <= tolerance
    )
    return close / sum(pixels.values())


async def test_the_console_is_served_from_the_hub_with_a_strict_csp(store: Hub) -> None:
    async with httpx.AsyncClient(base_url=store.url) as client:
        page = await client.get("/m/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == CSP and "'unsafe-inline'" not in CSP
        head = page.text
        assert "http://" not in head and "https://" not in head, "the page names another host"
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", head), "an inline script (the CSP would refuse it)"
        for asset in (
            "/m/app.js",
            "/m/pages.js",
            "/m/approvals.js",
            "/m/vendor/uplot/uPlot.iife.min.js",
            "/m/vendor/uplot/LICENSE",
        ):
            r = await client.get(asset)
            assert r.status_code == 200, asset
        assert "uPlot" in (await client.get("/m/vendor/uplot/uPlot.iife.min.js")).text
        assert (await client.get("/m/nothing.js")).status_code == 404


async def test_a_manager_sees_today_live_and_the_charts_drawn(api: Api, store: Hub, tmp_path: Path) -> None:
    shop = await Shop(api, "华东仓").setup()
    orders = await shop.orders(4)
    assert all(o["status"] == "ready" for o in orders)
    await _poll(api, "/api/v1/dash/strategic", lambda b: b["today"]["orders"] >= 4 and b["hourly"])
    username = await _user(api, "manager", warehouse=None)
    shots = _shots(tmp_path)

    async with Browser(store.url) as browser:
        await _sign_in(browser, store.url, username)
        # The token is in sessionStorage, never in the URL.
        assert "token" not in await browser.js("location.href")
        assert await browser.js("sessionStorage.getItem('orderhub.console.token')")

        # 战略: today's figures, the "why" lines, three charts drawn.
        assert await browser.js("location.hash") == "#/strategic"
        figure = await browser.wait_for(
            "(() => { const t = document.querySelector('#today-orders .figure-value'); "
            "return t && /\\d/.test(t.textContent) && t.textContent; })()"
        )
        assert int(figure.replace(",", "")) >= 4
        await browser.wait_for("document.querySelectorAll('#chart-hourly canvas').length > 0")
        for chart in ("#chart-hourly", "#chart-channels", "#chart-aov"):
            inked = await browser.js(_INKED % repr(f"{chart} canvas"))
            assert inked > 500, f"{chart} draws nothing ({inked} pixels)"
        assert await browser.text("#channel-list") and "%" in (await browser.text("#channel-list") or "")
        await browser.wait_for("!!document.querySelector('#flow-ready')")
        phone = await browser.screenshot(shots / "console-strategic-375.png")
        # The hourly bars (uPlot, #1677ff at 75 % on white) and the blue today tile are on the picture.
        assert _colour_share(phone, (0x45, 0x93, 0xFF)) > 0.002, "no hourly bars on the screenshot"

        # Drill-down: tapping today's orders lists them.
        await browser.click("#today-orders")
        await browser.wait_for("document.querySelectorAll('#drill-list li').length >= 4")
        await browser.screenshot(shots / "console-drill-375.png", full_page=False)
        await browser.click("#drill-close")

        # 战术: the warehouse's funnel, live; an order moving shows within a second.
        await browser.js("location.hash = '#/tactical'")
        await browser.wait_for("!!document.querySelector('#tactical-funnel')")
        if await browser.js("!!document.querySelector('#wh-picker')"):  # more than one warehouse on this hub
            await browser.click(f"#wh-picker [data-wh='{shop.warehouse_id}']")
        before = await browser.wait_for(
            "(() => { const t = document.querySelector('#funnel-ready'); return t && Number(t.textContent) >= 4 "
            "&& Number(t.textContent); })()"
        )
        await browser.wait_for("!!document.querySelector('#backlog')")
        waiter = asyncio.create_task(
            browser.js(
                "new Promise((resolve) => { const el = document.querySelector('#tactical-funnel'); "
                "const done = () => { const n = document.querySelector('#funnel-ready'); "
                f"if (n && Number(n.textContent) === {before - 1}) {{ obs.disconnect(); resolve(Date.now()); }} }}; "
                "const obs = new MutationObserver(done); obs.observe(el, {subtree: true, childList: true, "
                "characterData: true}); setTimeout(() => resolve(null), 5000); })"
            )
        )
        await asyncio.sleep(0.2)  # the observer is in place
        moved_at = time.time()
        await shop.cancel(int(orders[0]["id"]))
        shown_at = await waiter
        assert shown_at is not None, "the funnel did not move"
        lag = shown_at / 1000 - moved_at
        assert lag < 1.0, f"the funnel moved {lag:.2f}s after the order"
        await browser.screenshot(shots / "console-tactical-375.png")

        # 执行 and 告警 draw (figures or an empty state, no error).
        await browser.js("location.hash = '#/operations'")
        await browser.wait_for("!document.querySelector('#operators').textContent.includes('加载中')")
        await browser.js("location.hash = '#/alerts'")
        await browser.wait_for("!document.querySelector('#alerts').textContent.includes('加载中')")

        # The PC layout: tabs on top, the grid in columns.
        await browser.resize(PC)
        await browser.js("location.hash = '#/strategic'")
        await browser.wait_for("document.querySelectorAll('#chart-hourly canvas').length > 0")
        await asyncio.sleep(0.3)  # the charts follow the wider container
        wide = await browser.js("document.querySelector('#chart-hourly canvas').getBoundingClientRect().width")
        assert wide > 340
        await browser.screenshot(shots / "console-strategic-pc.png")

        assert not browser.csp, browser.csp
        assert not browser.errors, browser.errors
        elsewhere = [u for u in browser.requested if not u.startswith((store.url, "ws://127.0.0.1", "data:", "about:"))]
        assert not elsewhere, elsewhere


async def test_the_exception_queue_retries_an_order(api: Api, store: Hub, tmp_path: Path) -> None:
    shop = await Shop(api, "异常仓").setup()
    [stuck] = await shop.orders(1, sku=unique("NOSUCH-"))  # an unknown SKU: exception
    assert stuck["status"] == "exception", stuck
    username = await _user(api, "manager", warehouse=None)

    async with Browser(store.url) as browser:
        await _sign_in(browser, store.url, username)
        await browser.js("location.hash = '#/queues'")
        row = f"#queue li[data-order='{stuck['id']}']"
        await browser.wait_for(f'!!document.querySelector("{row}")')
        assert "未知商品" in (await browser.text(row) or "")
        await browser.screenshot(_shots(tmp_path) / "console-queue-375.png")
        await browser.fill(f"{row} .note", "已补录商品")
        await browser.click(f"{row} button.primary")
        await browser.wait_for(f'!document.querySelector("{row}")')
        assert not browser.csp and not browser.errors, (browser.csp, browser.errors)

    async with api.client() as client:
        order = (await client.get(f"/api/v1/orders/{stuck['id']}")).json()
    assert any("已补录商品" in str(e) for e in order["events"]), order["events"]


async def test_a_bound_manager_sees_only_their_warehouse(api: Api, store: Hub, tmp_path: Path) -> None:
    mine, other = await Shop(api, "本仓").setup(), await Shop(api, "别的仓").setup()
    ours = await mine.orders(2)
    theirs = await other.orders(3)
    username = await _user(api, "manager", warehouse=mine.warehouse)

    async with Browser(store.url) as browser:
        await _sign_in(browser, store.url, username)
        tabs = await browser.js("[...document.querySelectorAll('#tabs .tab')].map((b) => b.dataset.tab)")
        assert "strategic" not in tabs, tabs  # hub-wide figures: not for a bound manager
        assert await browser.js("location.hash") == "#/tactical"
        assert await browser.js("!document.querySelector('#wh-picker') && !document.querySelector('#wh-overview')")
        assert "本仓" in (await browser.text(".page-head h1") or "")
        await browser.wait_for("Number((document.querySelector('#funnel-ready') || {}).textContent) === 2")
        await browser.wait_for("!!document.querySelector('#backlog')")
        await browser.screenshot(_shots(tmp_path) / "console-bound-375.png")

        # The drill-down behind the funnel lists our orders, none of theirs.
        await browser.click("#tactical-funnel .funnel-row[data-status='ready']")
        await browser.wait_for("document.querySelectorAll('#drill-list li').length === 2")
        listed = await browser.text("#drill-list") or ""
        assert all(o["external_id"] in listed for o in ours)
        assert not any(o["external_id"] in listed for o in theirs)
        await browser.click("#drill-close")

        # Another warehouse's order moving changes nothing here; ours does.
        await other.cancel(int(theirs[0]["id"]))
        await mine.cancel(int(ours[0]["id"]))
        await browser.wait_for("Number(document.querySelector('#funnel-ready').textContent) === 1")
        await asyncio.sleep(0.5)
        assert await browser.text("#funnel-ready") == "1"
        assert not browser.csp and not browser.errors, (browser.csp, browser.errors)


@pytest.mark.parametrize("code", ["bad-code-for-console"])
async def test_a_wechat_code_in_the_url_is_exchanged_and_removed(store: Hub, code: str) -> None:
    """Inside the mini-program's web-view the page gets ``?code=``; it is spent at once (a bad one shows the
    sign-in form with WeChat's reason) and leaves the address bar."""
    async with Browser(store.url) as browser:
        await browser.open(f"{store.url}/m/?code={code}#/strategic")
        await browser.wait_for("!!document.querySelector('#login-form')")
        assert "code=" not in await browser.js("location.href")
        assert await browser.text("#login-error")
        assert not browser.csp, browser.csp
