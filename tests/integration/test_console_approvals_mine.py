"""The console's 审批 page, tab 我发起的 (``/m/#/approvals``, box ``mine``), in real headless Chromium against a running
hub: at a phone's width (390 px) the four tabs fit side by side, readable; the requester's own requests are listed
newest first with their status, the step they are at and whom they wait for; a request decided meanwhile changes
live; 撤回 on a pending one (a sheet with the reason) withdraws it and the tab's count drops; a decided one offers no
撤回. Screenshots go to ``$CONSOLE_SCREENSHOTS`` (default: the test's tmp dir)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_console import _shots, _sign_in
from tests.integration.test_console_approvals import PHONE, Shop, _clean, _flow, _person
from tests.support.chromium import PC, Browser
from tests.support.factories import Api, create_sku, set_stock, unique
from tests.support.hub import Hub

# JS: every tab of the box bar inside the bar (nothing cut off or scrolled away), on one line, text not squeezed.
# A page in a browser: the same on both back ends (the API under it is tested on both); the embedded default.
pytestmark = pytest.mark.sqlite_only

_TABS_FIT = """(() => {
  const bar = document.querySelector('#approval-boxes').getBoundingClientRect();
  const chips = [...document.querySelectorAll('#approval-boxes .chip')];
  const boxes = chips.map((c) => c.getBoundingClientRect());
  const inside = boxes.every((b) => b.left >= bar.left - 0.5 && b.right <= bar.right + 0.5);
  const oneLine = boxes.every((b) => Math.abs(b.top - boxes[0].top) < 1 && b.height < 40);
  const unsqueezed = chips.every((c) => c.scrollWidth <= c.clientWidth + 1);
  const size = parseFloat(getComputedStyle(chips[0]).fontSize);
  const widths = boxes.map((b) => Math.round(b.width));
  return { n: chips.length, inside, oneLine, unsqueezed, size, widths, bar: Math.round(bar.width),
    labels: chips.map((c) => c.textContent) };
})()"""


def _row(request_id: int) -> str:
    return f"#approvals-list li[data-request='{request_id}']"


async def test_requested_by_me_in_the_console_with_withdraw(api: Api, store: Hub, tmp_path: Path) -> None:
    requester = await _person(api, "manager", "吴申请")
    approver = await _person(api, "approver", unique("郑审批"))
    flow = await _flow(api, ["stock_writeoff"], approver.id)
    shop = await Shop(api).setup()

    async def writeoff(delta: int) -> int:
        sku = await create_sku(api, name=unique("破损品"))
        await set_stock(api, sku=sku, warehouse=shop.warehouse, qty=20)
        async with requester.client() as client:
            r = await client.post(
                "/api/v1/approvals/requests",
                json={
                    "kind": "stock_writeoff",
                    "flow": flow,
                    "reason": "仓内破损",
                    "payload": {"warehouse": shop.warehouse, "sku": sku, "delta": delta, "reason": "破损核销"},
                },
            )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    decided, decided_live, kept = await writeoff(-1), await writeoff(-2), await writeoff(-3)
    async with approver.client() as client:
        r = await client.post(f"/api/v1/approvals/requests/{decided}/approve", json={})
        assert r.status_code == 200, r.text

    shots = _shots(tmp_path)
    async with Browser(store.url, device=PHONE) as browser:
        await _sign_in(browser, store.url, requester.username)
        await browser.js("location.hash = '#/approvals'")
        await browser.wait_for("!!document.querySelector('#approval-boxes [data-box=mine]')")
        fit = await browser.js(_TABS_FIT)
        assert fit["n"] == 4 and fit["inside"] and fit["oneLine"] and fit["unsqueezed"], fit
        assert fit["size"] >= 13, fit
        await browser.wait_for("document.querySelector('#box-count-mine').textContent === '2'")
        await browser.wait_for("document.querySelector('#approvals-list').textContent === '没有待审批的事项'")
        # The widest the counts get ("99+" on each of the three), set and measured at once: still side by side.
        widest = await browser.js(
            "(() => { for (const b of ['pending', 'cc', 'mine']) "
            "document.querySelector(`#box-count-${b}`).textContent = '99+'; return " + _TABS_FIT + "; })()"
        )
        assert widest["inside"] and widest["oneLine"] and widest["unsqueezed"], repr(widest)
        await browser.screenshot(shots / "console-approvals-tabs-99-390.png", full_page=False)
        await browser.click("#approval-boxes [data-box='mine']")
        await browser.wait_for(f'!!document.querySelector("{_row(kept)}")')
        order = await browser.js(
            "[...document.querySelectorAll('#approvals-list li[data-request]')].map((li) => +li.dataset.request)"
        )
        assert order[:3] == [kept, decided_live, decided], order
        pending_text = await browser.text(_row(kept)) or ""
        assert "审批中" in pending_text and "主管审批" in pending_text, pending_text
        assert f"等待 {approver.name} 审批" in pending_text, pending_text
        assert "已同意" in (await browser.text(_row(decided)) or "")
        assert await browser.js(f'!!document.querySelector("{_row(kept)} [data-withdraw]")')
        assert not await browser.js(f'!!document.querySelector("{_row(decided)} [data-withdraw]")')
        assert "active" in await browser.js("document.querySelector('#approval-boxes [data-box=mine]').className")
        await browser.screenshot(shots / "console-approvals-mine-390.png", full_page=False)

        # Decided while the tab is open: the row changes without a reload (the requester's approvals topic).
        async with approver.client() as client:
            r = await client.post(f"/api/v1/approvals/requests/{decided_live}/reject", json={"reason": "数量不符"})
            assert r.status_code == 200, r.text
        await browser.wait_for(
            f"(document.querySelector(\"{_row(decided_live)}\") || {{}}).textContent?.includes('已驳回')"
        )
        await browser.wait_for("document.querySelector('#box-count-mine').textContent === '1'")
        assert not await browser.js(f'!!document.querySelector("{_row(decided_live)} [data-withdraw]")')

        # 撤回 from the list: the sheet asks why; the request is withdrawn and leaves the count.
        await browser.click(f"{_row(kept)} [data-withdraw]")
        await browser.wait_for("!!document.querySelector('#sheet-reason')")
        assert await browser.js("location.hash") == "#/approvals"  # the list stays; no detail opened
        await browser.screenshot(shots / "console-approvals-mine-withdraw-390.png", full_page=False)
        await browser.fill("#sheet-reason", "数量点错了")
        await browser.click("#sheet-submit")
        await browser.wait_for("document.querySelector('#sheet').hidden")
        await browser.wait_for(f"(document.querySelector(\"{_row(kept)}\") || {{}}).textContent?.includes('已撤回')")
        await browser.wait_for("document.querySelector('#box-count-mine').textContent === ''")
        assert not await browser.js(f'!!document.querySelector("{_row(kept)} [data-withdraw]")')

        # The row opens the request; on a PC the tab bar and the list sit beside it.
        await browser.click(f"{_row(kept)} .ap-item")
        await browser.wait_for("(document.querySelector('#ap-status') || {dataset: {}}).dataset.state === 'withdrawn'")
        assert "数量点错了" in (await browser.text("#ap-outcome") or "")
        await browser.resize(PC)
        fit = await browser.js(_TABS_FIT)
        assert fit["inside"] and fit["oneLine"], fit
        await browser.screenshot(shots / "console-approvals-mine-pc.png", full_page=False)
        _clean(browser, store)

    async with api.client() as client:
        detail = (await client.get(f"/api/v1/approvals/requests/{kept}")).json()
    assert (detail["status"], detail["outcome_reason"]) == ("withdrawn", "数量点错了"), detail
