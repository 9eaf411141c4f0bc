"""The console's 财务 page (``/m/#/finance``) in real headless Chromium against a running hub, at a phone's size
(390×844) and a PC's: two shops with fee settings, orders ingested and shipped by hand, settlement lines sent through
the API for yesterday (a shipping subsidy, a line on no order of ours, a refund the hub never heard of, a commission
difference and a penalty). A finance user sees the page; every figure it shows — sales and refund rate per channel,
unsettled orders by age and past the usual delay, fees by type, margin per SKU and channel, settlement lag, the day's
reconciliation with its zh-CN causes — equals the API's answer, formatted from integer fen; nothing overflows the
phone's width; the margins sort; the differences filter by cause; a write-off without a note shows the hub's own
problem+json message, with one the difference leaves the open list. A manager has no 财务 tab, and the page answers
the API's 403 with a zh-CN message. Screenshots go to ``$CONSOLE_SCREENSHOTS`` (default: the test's tmp dir)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from orderhub import clock
from orderhub.finance import reconcile
from tests.integration.test_console import _INKED, _shots, _sign_in
from tests.integration.test_console_approvals import PHONE, _clean, _person
from tests.support.chromium import PC, Browser
from tests.support.factories import Api, create_sku, create_warehouse, order_payload, set_stock, unique, wait_for_orders
from tests.support.hub import Hub

# A page in a browser: the same on both back ends (the API under it is tested on both); the embedded default.
pytestmark = pytest.mark.sqlite_only

FEE_NAMES = {
    "commission": "佣金",
    "service_fee": "平台服务费",
    "payment_fee": "支付手续费",
    "promotion_fee": "推广费",
    "insurance": "运费险",
    "penalty": "罚款",
    "shipping_subsidy": "运费补贴",
    "platform_coupon": "平台优惠券",
    "adjustment": "其他调整",
}

# JS: elements of the page wider than the screen or sticking out of it (a chip bar scrolls by design).
_OVERFLOW = """(() => {
  const w = document.documentElement.clientWidth;
  const bad = [];
  for (const el of document.querySelectorAll('#content *')) {
    if (el.closest('.chips')) continue;
    const r = el.getBoundingClientRect();
    const out = r.width && (r.right > w + 0.5 || r.left < -0.5);
    if (out) bad.push(`${el.tagName}.${el.className} ${Math.round(r.left)}–${Math.round(r.right)}`);
  }
  return { w, scroll: document.documentElement.scrollWidth, bad: bad.slice(0, 12) };
})()"""


def _yuan(fen: int, *, signed: bool = False) -> str:
    """What the page shows for an amount in fen (formatted from the integer, as the page does)."""
    sign = "-" if fen < 0 else "+" if signed and fen > 0 else ""
    return f"{sign}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.1f}%"


def _q(selector: str) -> str:
    return json.dumps(selector)


async def _texts(browser: Browser, selector: str) -> list[str]:
    return list(await browser.js(f"[...document.querySelectorAll({_q(selector)})].map((e) => e.textContent)"))


class Books:
    """Two shops shipping from one warehouse, their orders shipped, yesterday's settlement lines sent."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.day = clock.to_shanghai(clock.now()).date() - timedelta(days=1)
        self.settled_at = datetime.combine(self.day, time(10, 0), tzinfo=clock.SHANGHAI).astimezone(UTC)
        self.shops: dict[str, tuple[str, int, dict[str, int]]] = {}  # key → (code, channel id, external id → order)
        self.sku = ""
        self.stray = unique("NOT-OURS-")

    async def _shop(
        self, client: httpx.AsyncClient, warehouse: str, name: str, fees: dict[str, int]
    ) -> tuple[str, int]:
        code = unique("fin")
        r = await client.post(
            "/api/v1/channels",
            json={"code": code, "platform": "own_store", "name": name, "default_warehouse": warehouse},
        )
        assert r.status_code == 201, r.text
        r = await client.put(f"/api/v1/finance/fees/{code}", json=fees)
        assert r.status_code == 200, r.text
        r = await client.get(f"/api/v1/channels/{code}")
        assert r.status_code == 200, r.text
        return code, int(r.json()["id"])

    async def _ship(self, client: httpx.AsyncClient, code: str, n: int, paid: int) -> dict[str, int]:
        orders = [order_payload(lines=[(self.sku, 1)], paid_amount=paid) for _ in range(n)]
        r = await client.post("/api/v1/orders/ingest", json={"channel": code, "orders": orders})
        assert r.status_code in (200, 202), r.text
        ids = {o["external_id"]: o["order_id"] for o in r.json()["results"]}
        done = await wait_for_orders(self.api, list(ids.values()))
        assert {o["status"] for o in done.values()} == {"ready"}, done
        for order_id in ids.values():
            r = await client.post(f"/api/v1/orders/{order_id}/ship", json={"carrier": "sf", "waybill_no": unique("SF")})
            assert r.status_code == 200, r.text
        return ids

    def _line(self, key: str, external_id: str, kind: str, amount: int) -> dict[str, Any]:
        return {
            "line_key": f"{key}-{self.stray}",
            "external_id": external_id,
            "kind": kind,
            "amount": amount,
            "settled_at": self.settled_at.isoformat(),
            "bill_date": self.day.isoformat(),
        }

    async def setup(self) -> Books:
        warehouse = (await create_warehouse(self.api, name="财务测试仓"))["code"]
        self.sku = await create_sku(self.api, name="保温杯")
        await set_stock(self.api, sku=self.sku, warehouse=warehouse, qty=100)
        async with self.api.client() as client:
            # 天猫: 5 % commission, settles at once (every unsettled order is past its usual delay)
            tmall, tmall_id = await self._shop(
                client, warehouse, "天猫旗舰店", {"commission_bp": 500, "settle_delay_days": 0}
            )
            # 抖店: 6 % commission, the usual 15 days
            douyin, douyin_id = await self._shop(
                client, warehouse, "抖店官方店", {"commission_bp": 600, "settle_delay_days": 15}
            )
            t = await self._ship(client, tmall, 4, 12_000)
            d = await self._ship(client, douyin, 3, 25_900)
            self.shops = {"tmall": (tmall, tmall_id, t), "douyin": (douyin, douyin_id, d)}
            await reconcile.refresh_stale()
            t_ext, d_ext = list(t), list(d)
            lines = []
            for n, ext in enumerate(t_ext[:3]):  # the fourth stays unsettled
                lines += [self._line(f"t{n}s", ext, "sale", 12_000), self._line(f"t{n}c", ext, "commission", -600)]
            lines.append(self._line("t0sub", t_ext[0], "shipping_subsidy", 500))  # 运费补贴未计入 +5 元
            lines.append(self._line("stray", self.stray, "sale", 3_300))  # 无对应订单
            await self._send(client, tmall, lines)
            lines = [
                # a refund the hub never heard of: 退款延迟同步
                self._line("d0s", d_ext[0], "sale", 25_900),
                self._line("d0c", d_ext[0], "commission", -1_554),
                self._line("d0r", d_ext[0], "refund", -25_900),
                # more commission than the rate's, and a penalty
                self._line("d1s", d_ext[1], "sale", 25_900),
                self._line("d1c", d_ext[1], "commission", -1_700),
                self._line("d1p", d_ext[1], "penalty", -1_000),
            ]
            await self._send(client, douyin, lines)
        return self

    async def _send(self, client: httpx.AsyncClient, code: str, lines: list[dict[str, Any]]) -> None:
        r = await client.post(
            "/api/v1/finance/settlements/lines", json={"channel": code, "batch_key": unique("b"), "lines": lines}
        )
        assert r.status_code == 200, r.text

    def id(self, key: str) -> int:
        return self.shops[key][1]


async def _overview(client: httpx.AsyncClient, since: str, until: str) -> dict[str, Any]:
    r = await client.get("/api/v1/finance/overview", params={"since": since, "until": until})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_the_finance_page_shows_the_apis_figures_and_resolves_a_difference(
    api: Api, store: Hub, tmp_path: Path
) -> None:
    books = await Books(api).setup()
    accountant = await _person(api, "finance", "钱会计")
    manager = await _person(api, "manager", "赵主管")
    mine = {books.id("tmall"), books.id("douyin")}

    # The sales trend comes from the order rollups: wait until they carry the orders.
    async with accountant.client() as client:
        until = clock.to_shanghai(clock.now()).date()
        for _ in range(150):
            view = await _overview(client, (until - timedelta(days=29)).isoformat(), until.isoformat())
            trend = {t["channel_id"]: t for t in view["trend"]}
            if all(cid in trend for cid in mine) and [trend[c]["orders"] for c in sorted(mine)] == [4, 3]:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"the overview never showed the shops' orders: {view['trend']}")

    shots = _shots(tmp_path)
    async with Browser(store.url, device=PHONE) as browser:
        await _sign_in(browser, store.url, accountant.username)
        assert await browser.js("!!document.querySelector(\"#tabs .tab[data-tab='finance']\")")
        await browser.click("#tabs .tab[data-tab='finance']")
        await browser.wait_for(f"!!document.querySelector(\"#fin-trend-list li[data-channel='{books.id('douyin')}']\")")
        await browser.wait_for("!!document.querySelector('#fin-recon-table')")
        await browser.wait_for("!!document.querySelector('#fin-diffs li[data-diff]')")
        assert await browser.js("location.hash") == "#/finance"
        page = await browser.js(
            "({since: document.querySelector('#fin-since').value, until: document.querySelector('#fin-until').value})"
        )
        today = clock.to_shanghai(clock.now()).date()
        assert page == {"since": (today - timedelta(days=29)).isoformat(), "until": today.isoformat()}, page
        assert "active" in await browser.js("document.querySelector('#fin-presets [data-days=\"30\"]').className")

        async with accountant.client() as client:
            view = await _overview(client, page["since"], page["until"])
            r = await client.get("/api/v1/finance/reconciliation/daily", params={"day": books.day.isoformat()})
            assert r.status_code == 200, r.text
            daily = r.json()
            r = await client.get("/api/v1/finance/differences", params={"limit": 500})
            open_diffs = r.json()["items"]

        # summary figures: sums of the API's integers
        sales = sum(t["sales"] for t in view["trend"])
        assert await browser.text("#fin-sales .figure-value") == _yuan(sales)
        assert await browser.text("#fin-refunded .figure-value") == _yuan(sum(t["refunded"] for t in view["trend"]))
        unsettled = sum(b["expected"] for u in view["unsettled"] for b in u["buckets"])
        assert await browser.text("#fin-unsettled-total .figure-value") == _yuan(unsettled)

        # sales trend per channel with the refund rate; the chart is drawn
        for t in view["trend"]:
            row = f"#fin-trend-list li[data-channel='{t['channel_id']}']"
            assert await browser.text(f"{row} [data-f=sales]") == _yuan(t["sales"])
            assert await browser.text(f"{row} [data-f=orders]") == f"{t['orders']} 单"
            assert await browser.text(f"{row} [data-f=refund-rate]") == f"退款率 {_pct(t['refund_rate'])}"
        assert (
            await browser.text(f"#fin-trend-list li[data-channel='{books.id('tmall')}'] .legend-name") == "天猫旗舰店"
        )
        assert await browser.js(_INKED % _q("#fin-trend-chart canvas")) > 500

        # unsettled by age, and past the platform's usual delay
        for u in view["unsettled"]:
            if u["channel_id"] not in mine:
                continue
            block = f"#fin-unsettled [data-channel='{u['channel_id']}']"
            for i, b in enumerate(u["buckets"]):
                cell = await browser.text(f"{block} [data-bucket='{i}']")
                assert cell == f"{b['label']}{b['orders']} 单{_yuan(b['expected'])}", cell
            overdue = await browser.text(f"{block} .fin-overdue")
            assert overdue == f"超过通常结算期：{u['overdue_orders']} 单 · {_yuan(u['overdue_expected'])}"
        by_channel = {u["channel_id"]: u for u in view["unsettled"]}
        assert by_channel[books.id("tmall")]["buckets"][0]["orders"] == 1
        assert by_channel[books.id("tmall")]["overdue_orders"] == 1  # settles at once: the unsettled one is late
        assert by_channel[books.id("douyin")]["overdue_orders"] == 0

        # fees by type, zh-CN, totals over the channels
        totals: dict[str, int] = {}
        for f in view["fees"]:
            totals[f["kind"]] = totals.get(f["kind"], 0) + f["amount"]
        assert {"commission", "penalty", "shipping_subsidy"} <= set(totals)
        for kind, amount in totals.items():
            text = await browser.text(f"#fin-fees li[data-kind='{kind}'] .row-main")
            assert text == f"{FEE_NAMES[kind]}{_yuan(amount)}", text
        assert await browser.text("#fin-fees li[data-kind='total'] .row-main") == f"合计{_yuan(sum(totals.values()))}"

        # margin per SKU and channel, sorted by margin (largest first), then the other way round
        for m in view["margins"]:
            row = f"#fin-margins tr[data-channel='{m['channel_id']}'][data-sku='{m['sku']}']"
            if m["channel_id"] in mine:
                assert await browser.text(f"{row} [data-f=margin]") == _yuan(m["margin"])
                assert await browser.text(f"{row} [data-f=revenue]") == _yuan(m["revenue"])
                assert await browser.text(f"{row} [data-f=units]") == str(m["units"])
        shown = await _texts(browser, "#fin-margins tbody [data-f=margin]")
        assert shown == [_yuan(m["margin"]) for m in sorted(view["margins"], key=lambda m: -m["margin"])][: len(shown)]
        await browser.click("#fin-margins [data-sort=margin]")
        await browser.wait_for("document.querySelector('#fin-margins [data-sort=margin]').dataset.dir === 'asc'")
        shown = await _texts(browser, "#fin-margins tbody [data-f=margin]")
        assert shown == [_yuan(m["margin"]) for m in sorted(view["margins"], key=lambda m: m["margin"])][: len(shown)]

        # settlement lag per platform
        for lag in view["lag"]:
            row = f"#fin-lag tr[data-channel='{lag['channel_id']}']"
            assert await browser.text(f"{row} [data-f=p50]") == f"{lag['p50_days']:.1f} 天"
            assert await browser.text(f"{row} [data-f=p90]") == f"{lag['p90_days']:.1f} 天"
        assert mine <= {lag["channel_id"] for lag in view["lag"]}

        # the daily reconciliation: yesterday by default, the seller's columns, causes by their zh-CN names
        assert await browser.js("document.querySelector('#fin-recon-day').value") == books.day.isoformat()
        rows = {r["channel_id"]: r for r in daily["rows"]}
        for cid in mine:
            r = rows[cid]
            tr = f"#fin-recon-table tr[data-channel='{cid}']"
            assert await browser.text(f"{tr} [data-f=orders]") == str(r["orders"])
            assert await browser.text(f"{tr} [data-f=settled]") == _yuan(r["settled"])
            assert await browser.text(f"{tr} [data-f=expected]") == _yuan(r["expected"])
            assert await browser.text(f"{tr} [data-f=difference]") == _yuan(r["difference"], signed=True)
            names = await _texts(browser, f"{tr} [data-f=causes] li span:first-child")
            assert names == [c["name"] for c in r["causes"]][:3], names
        tmall_causes = {c["cause"]: c for c in rows[books.id("tmall")]["causes"]}
        assert tmall_causes["shipping_subsidy"]["name"] == "运费补贴未计入"
        assert tmall_causes["unmatched_line"]["amount"] == 3_300
        assert {c["name"] for c in rows[books.id("douyin")]["causes"]} >= {"退款延迟同步", "平台罚款"}
        if len(daily["rows"]) > 1:
            assert await browser.text("#fin-recon-table tr[data-channel='total'] [data-f=difference]") == _yuan(
                daily["difference"], signed=True
            )

        # the open differences: every one of ours listed, with its amount
        ours = [d for d in open_diffs if d["channel_id"] in mine]
        assert len(ours) == 4, ours
        for d in ours:
            li = f"#fin-diffs li[data-diff='{d['id']}']"
            assert await browser.text(f"{li} [data-f=difference]") == _yuan(d["difference"], signed=True)
            assert d["main_cause_name"] in (await browser.text(f"{li} .tag") or "")

        fit = await browser.js(_OVERFLOW)
        assert fit["scroll"] <= fit["w"] and not fit["bad"], fit
        await browser.screenshot(shots / "console-finance-390.png")

        # filter by cause: only the line on no order of ours is left
        await browser.click("#fin-causes [data-cause='unmatched_line']")
        await browser.wait_for(
            "[...document.querySelectorAll('#fin-diffs li[data-diff]')].every((li) => li.dataset.cause === "
            "'unmatched_line') && !!document.querySelector('#fin-diffs li[data-diff]')"
        )
        stray = next(d for d in ours if d["main_cause"] == "unmatched_line")
        assert stray["external_id"] == books.stray
        li = f"#fin-diffs li[data-diff='{stray['id']}']"
        assert await browser.js(f"!!document.querySelector({_q(li)})")

        # 核销 without a note: the hub's own message, in the sheet; with one the difference leaves the list
        async with accountant.client() as client:
            r = await client.post(
                f"/api/v1/finance/differences/{stray['id']}/resolve", json={"action": "write_off", "note": ""}
            )
            assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
            refusal = r.json()["message"]
        await browser.click(f"{li} [data-resolve]")
        await browser.wait_for("!!document.querySelector('#fin-resolve-form')")
        await browser.click("#fin-resolve-form input[data-action='write_off']")
        await browser.js("document.querySelector('#fin-resolve-form').requestSubmit()")
        await browser.wait_for(f"document.querySelector('#fin-resolve-error').textContent === {_q(refusal)}")
        assert "invalid" in await browser.js("document.querySelector('#fin-resolve-note').closest('.field').className")
        await browser.screenshot(shots / "console-finance-resolve-390.png", full_page=False)
        await browser.fill("#fin-resolve-note", "平台多结算的零星款项，金额小，核销")
        await browser.js("document.querySelector('#fin-resolve-form').requestSubmit()")
        await browser.wait_for("document.querySelector('#sheet').hidden")
        await browser.wait_for(f"!document.querySelector({_q(li)})")
        async with accountant.client() as client:  # other tests' shops may have open unmatched lines of their own
            r = await client.get("/api/v1/finance/differences", params={"cause": "unmatched_line", "limit": 500})
            left = r.json()["items"]
        if not left:
            await browser.wait_for("!!document.querySelector('#fin-diffs-empty')")
        async with accountant.client() as client:
            r = await client.get(f"/api/v1/finance/differences/{stray['id']}")
            assert (r.json()["resolution"], r.json()["resolution_note"]) == (
                "write_off",
                "平台多结算的零星款项，金额小，核销",
            )
            r = await client.get("/api/v1/finance/differences", params={"cause": "unmatched_line", "limit": 500})
            assert stray["id"] not in {d["id"] for d in r.json()["items"]}
        # back to every cause: the others are still open
        await browser.click("#fin-causes [data-cause='all']")
        other = next(d for d in ours if d is not stray)
        await browser.wait_for(f"!!document.querySelector(\"#fin-diffs li[data-diff='{other['id']}']\")")
        assert not await browser.js(f"!!document.querySelector({_q(li)})")

        # the narrowest and widest phones the page is made for: nothing sticks out either
        for width in (375, 414):
            await browser.resize({**PHONE, "width": width})
            await browser.wait_for(f"document.documentElement.clientWidth === {width}")
            fit = await browser.js(_OVERFLOW)
            assert fit["scroll"] <= fit["w"] and not fit["bad"], fit
        await browser.screenshot(shots / "console-finance-414.png", full_page=False)

        # a PC: the same page in columns, the wide tables in full
        await browser.resize(PC)
        await browser.wait_for("getComputedStyle(document.querySelector('#fin-margins th.pc')).display !== 'none'")
        fit = await browser.js(_OVERFLOW)
        assert fit["scroll"] <= fit["w"] and not fit["bad"], fit
        await browser.screenshot(shots / "console-finance-pc.png")
        _clean(browser, store)

    # A manager: no 财务 tab, #/finance falls back to their first page, and the API's 403 reads in zh-CN.
    async with Browser(store.url, device=PHONE) as browser:
        await _sign_in(browser, store.url, manager.username)
        assert not await browser.js("!!document.querySelector(\"#tabs .tab[data-tab='finance']\")")
        await browser.js("location.hash = '#/finance'")
        await browser.wait_for("location.hash !== '#/finance'")
        await browser.js(
            "(async () => { const { finance } = await import('/m/finance.js');"
            " const { app } = await import('/m/app.js');"
            " const box = document.createElement('div'); box.id = 'fin-probe';"
            " document.querySelector('#content').replaceChildren(box);"
            " app.page = finance; finance.enter(box, app); })()"
        )
        await browser.wait_for("!!document.querySelector('#fin-probe #fin-denied')")
        denied = await browser.text("#fin-probe #fin-denied")
        assert denied and "无权查看财务数据" in denied, denied
        await browser.screenshot(shots / "console-finance-manager-403-390.png", full_page=False)
        assert not browser.csp, browser.csp
