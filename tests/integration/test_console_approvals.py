"""The console's 审批 page (``/m/#/approvals``) in real headless Chromium against a running hub: a manager named by
an approval flow sees the tab's badge and the order a rule held, a second order held while the page is open arrives
live, the request's details (amount in ¥, reason, order lines, steps, trail, Shanghai times), one tap on 同意
releases the order, 驳回 without a reason shows the hub's problem+json message in the sheet and with one cancels
the order; 评论, 加签 and 转交 (picking people), 催办 and the requester's 撤回; the PC layout (list beside the request).
Screenshots at a phone's width (390×844) and a PC's go to ``$CONSOLE_SCREENSHOTS`` (default: the test's tmp dir)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_console import PASSWORD, _shots, _sign_in
from tests.support.chromium import PC, Browser
from tests.support.factories import Api, create_channel, create_sku, order_payload, set_stock, unique, wait_for_orders
from tests.support.hub import Hub

# A page in a browser: the same on both back ends (the API under it is tested on both); the embedded default.
pytestmark = pytest.mark.sqlite_only

PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
AMOUNT = 500100  # fen: ¥5,001.00, over the rule's 5000 元


class Person:
    def __init__(self, user_id: int, username: str, name: str, base_url: str, token: str) -> None:
        self.id, self.username, self.name = user_id, username, name
        self.base_url, self.token = base_url, token

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30, headers={"Authorization": f"Bearer {self.token}"})


async def _person(api: Api, role: str, name: str) -> Person:
    username = unique(role[:4])
    async with api.client() as client:
        r = await client.post(
            "/api/v1/users",
            json={"username": username, "password": PASSWORD, "role": role, "display_name": name, "warehouse": None},
        )
        assert r.status_code == 201, r.text
        login = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.text
    return Person(int(r.json()["id"]), username, name, api.base_url, login.json()["access_token"])


async def _flow(api: Api, kinds: list[str], approver: int, *, cc: int | None = None, **extra: Any) -> str:
    step: dict[str, Any] = {
        "name": "主管审批",
        "approvers": [{"by": "user", "user_ids": [approver]}],
        "mode": "any",
        "time_limit_s": 4 * 3600,
    }
    if cc is not None:
        step["cc"] = [{"by": "user", "user_ids": [cc]}]
    code = unique("console-flow-")
    body = {"code": code, "name": "大额订单审批", "definition": {"kinds": kinds, "steps": [step], **extra}}
    async with api.client() as client:
        r = await client.post("/api/v1/approvals/flows", json=body)
    assert r.status_code == 201, r.text
    return code


class Shop:
    """A warehouse with stock of one SKU and a channel; a rule holding its orders over 5000 元 for a flow."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.warehouse, self.channel, self.sku = "", "", ""
        self.rules: list[int] = []

    async def setup(self) -> Shop:
        async with self.api.client() as client:
            r = await client.post("/api/v1/warehouses", json={"code": unique("AC"), "name": "审批仓", "region": "华东"})
        assert r.status_code == 201, r.text
        self.warehouse = r.json()["code"]
        self.channel, _ = await create_channel(self.api, warehouse=self.warehouse)
        self.sku = await create_sku(self.api, name="定制保温杯")
        await set_stock(self.api, sku=self.sku, warehouse=self.warehouse, qty=50)
        return self

    async def hold_for(self, flow: str) -> None:
        rule = {
            "name": unique("大额审批"),
            "conditions": [
                {"field": "channel", "op": "in", "value": [self.channel]},
                {"field": "paid_amount", "op": ">", "value": 500000},
            ],
            "actions": [{"type": "require_approval", "flow": flow}],
        }
        async with self.api.client() as client:
            r = await client.post("/api/v1/rules", json=rule)
        assert r.status_code == 201, r.text
        self.rules.append(int(r.json()["id"]))

    async def drop_rules(self) -> None:
        async with self.api.client() as client:
            for rule_id in self.rules:
                assert (await client.delete(f"/api/v1/rules/{rule_id}")).status_code == 204
        self.rules.clear()

    async def held_order(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """An order of ¥5,001.00, held for approval: the order and its approval request (read as the admin)."""
        order = order_payload(lines=[(self.sku, 1)], paid_amount=AMOUNT)
        order["lines"][0]["unit_price"] = AMOUNT
        async with self.api.client() as client:
            r = await client.post("/api/v1/orders/ingest", json={"channel": self.channel, "orders": [order]})
            assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
            order_id = int(r.json()["results"][0]["order_id"])
            held = (await wait_for_orders(self.api, [order_id]))[order_id]
            assert (held["status"], held["hold_queue"]) == ("held", "approval"), held
            listed = await client.get("/api/v1/approvals/requests", params={"order_id": order_id})
        assert listed.status_code == 200, listed.text
        [request] = listed.json()["items"]
        return held, request


def _badge(n: int) -> str:
    """JS: the 审批 tab's badge shows n (hidden at 0)."""
    if n == 0:
        return "(() => { const b = document.querySelector('#badge-approvals'); return !!b && b.hidden; })()"
    return (
        "(() => { const b = document.querySelector('#badge-approvals'); "
        f"return !!b && !b.hidden && b.textContent === '{n}'; }})()"
    )


def _status(state: str) -> str:
    """JS: the request shown has this status."""
    return f"(document.querySelector('#ap-status') || {{dataset: {{}}}}).dataset.state === '{state}'"


def _shanghai(iso: str) -> str:
    """An API time (+08:00) as the console shows it with its day: "MM/DD HH:MM"."""
    at = datetime.fromisoformat(iso)
    offset = at.utcoffset()
    assert offset is not None and offset.total_seconds() == 8 * 3600, iso
    return at.strftime("%m/%d %H:%M")


async def _order(api: Api, order_id: int, statuses: frozenset[str]) -> dict[str, Any]:
    return (await wait_for_orders(api, [order_id], done=statuses, timeout=30))[order_id]


def _clean(browser: Browser, store: Hub) -> None:
    assert not browser.csp, browser.csp
    assert not browser.errors, browser.errors
    elsewhere = [u for u in browser.requested if not u.startswith((store.url, "ws://127.0.0.1", "data:", "about:"))]
    assert not elsewhere, elsewhere


async def test_a_manager_approves_and_rejects_held_orders_in_the_console(api: Api, store: Hub, tmp_path: Path) -> None:
    shop = await Shop(api).setup()
    manager = await _person(api, "manager", "王主管")
    copied = await _person(api, "approver", "生产部小李")
    await shop.hold_for(await _flow(api, ["order_hold"], manager.id, cc=copied.id))
    shots = _shots(tmp_path)
    try:
        first, first_request = await shop.held_order()
        async with Browser(store.url, device=PHONE) as browser:
            await _sign_in(browser, store.url, manager.username)
            # The badge shows on whatever page opens first (a manager's: 战略).
            assert await browser.js("location.hash") == "#/strategic"
            await browser.wait_for(_badge(1))
            await browser.click("#tabs .tab[data-tab='approvals']")
            first_row = f"#approvals-list li[data-request='{first_request['id']}']"
            await browser.wait_for(f'!!document.querySelector("{first_row}")')
            assert "¥5,001.00" in (await browser.text(first_row) or "")
            assert await browser.text("#box-count-pending") == "1"

            # Live: an order held while the page is open arrives with the badge, without a reload.
            second, second_request = await shop.held_order()
            second_row = f"#approvals-list li[data-request='{second_request['id']}']"
            await browser.wait_for(f'!!document.querySelector("{second_row}")')
            await browser.wait_for(_badge(2))
            await browser.screenshot(shots / "console-approvals-list-390.png")
            await browser.resize(PC)  # nothing chosen yet: the list and an empty pane
            await browser.screenshot(shots / "console-approvals-list-pc.png")
            await browser.resize(PHONE)

            # The request: the order, why, the step and its approver, the trail; times in Asia/Shanghai.
            await browser.click(f"{first_row} .ap-item")
            await browser.wait_for("!!document.querySelector('#ap-approve')")
            assert await browser.js("location.hash") == f"#/approvals/{first_request['id']}"
            assert await browser.text("#ap-amount") == "¥5,001.00"
            assert first_request["reason"] and first_request["reason"] in (await browser.text("#ap-reason") or "")
            assert shop.sku in (await browser.text("#ap-lines") or "")
            assert first["external_id"] in (await browser.text("#approval-detail") or "")
            steps = await browser.text("#ap-steps") or ""
            assert "主管审批" in steps and "王主管" in steps and "待审批" in steps and "生产部小李" in steps, steps
            assert "发起审批" in (await browser.text("#ap-trail") or "")
            assert _shanghai(first_request["created_at"]) in (await browser.text("#approval-detail") or "")
            assert await browser.js("getComputedStyle(document.querySelector('.ap-list')).display") == "none"
            await browser.screenshot(shots / "console-approval-detail-390.png")
            await browser.screenshot(shots / "console-approval-detail-390-screen.png", full_page=False)

            # One tap on 同意: the order is released into the pipeline.
            await browser.click("#ap-approve")
            await browser.wait_for(_status("approved"))
            assert "王主管" in (await browser.text("#ap-outcome") or "")
            assert not await browser.js("!!document.querySelector('#ap-approve')")
            released = await _order(api, int(first["id"]), frozenset({"ready"}))
            assert any(e["type"] == "order.approval_decided" for e in released["events"])
            await browser.wait_for(_badge(1))

            # 驳回 without a reason: the hub's message (problem+json, zh-CN) in the sheet, next to the field.
            await browser.js(f"location.hash = '#/approvals/{second_request['id']}'")
            await browser.wait_for("!!document.querySelector('#ap-reject')")
            await browser.click("#ap-reject")
            await browser.wait_for("!!document.querySelector('#sheet-form')")
            await browser.click("#sheet-submit")
            error = await browser.wait_for("(document.querySelector('#sheet-error') || {}).textContent")
            assert error == "驳回需要填写原因", error
            assert await browser.js(
                "document.querySelector('#sheet-reason').closest('.field').classList.contains('invalid')"
            )
            assert await browser.js("!document.querySelector('#sheet').hidden")
            await browser.screenshot(shots / "console-approval-reject-390.png", full_page=False)
            await browser.fill("#sheet-reason", "金额与合同不符")
            await browser.click("#sheet-submit")
            await browser.wait_for("document.querySelector('#sheet').hidden")
            await browser.wait_for(_status("rejected"))
            assert "金额与合同不符" in (await browser.text("#ap-outcome") or "")
            assert "金额与合同不符" in (await browser.text("#ap-trail") or "")
            cancelled = await _order(api, int(second["id"]), frozenset({"cancelled"}))
            assert cancelled["status"] == "cancelled"
            await browser.wait_for(_badge(0))

            # 我已处理: both, with what the manager did.
            await browser.js("location.hash = '#/approvals'")
            await browser.wait_for("getComputedStyle(document.querySelector('.ap-list')).display !== 'none'")
            await browser.click("#approval-boxes [data-box='done']")
            await browser.wait_for(
                f'!!document.querySelector("{first_row}") && !!document.querySelector("{second_row}")'
            )
            assert "已同意" in (await browser.text(first_row) or "")
            assert "已驳回" in (await browser.text(second_row) or "")
            await browser.screenshot(shots / "console-approvals-done-390.png")

            # A PC: the list beside the request.
            await browser.resize(PC)
            await browser.js(f"location.hash = '#/approvals/{first_request['id']}'")
            await browser.wait_for(_status("approved"))
            side = await browser.js(
                "(() => { const l = document.querySelector('.ap-list').getBoundingClientRect(); "
                "const d = document.querySelector('.ap-detail').getBoundingClientRect(); "
                "return l.width > 300 && d.width > 400 && d.left >= l.right && Math.abs(d.top - l.top) < 4; })()"
            )
            assert side, "the list and the request are not side by side on a PC"
            await browser.screenshot(shots / "console-approvals-pc.png")
            _clean(browser, store)
    finally:
        await shop.drop_rules()


async def test_comment_transfer_remind_and_withdraw_in_the_console(api: Api, store: Hub, tmp_path: Path) -> None:
    requester = await _person(api, "manager", "赵经理")
    approver = await _person(api, "approver", "钱审核")
    other = await _person(api, "approver", unique("孙审核"))
    signer = await _person(api, "approver", unique("周审核"))
    flow = await _flow(api, ["stock_writeoff"], approver.id)
    shop = await Shop(api).setup()
    async with requester.client() as client:
        r = await client.post(
            "/api/v1/approvals/requests",
            json={
                "kind": "stock_writeoff",
                "flow": flow,
                "reason": "仓内破损",
                "payload": {"warehouse": shop.warehouse, "sku": shop.sku, "delta": -3, "reason": "破损核销"},
            },
        )
    assert r.status_code == 201, r.text
    request_id = int(r.json()["id"])
    shots = _shots(tmp_path)

    async with Browser(store.url, device=PHONE) as browser:
        await _sign_in(browser, store.url, approver.username)
        # An approver's first tab is 审批 (they have no dashboards).
        assert await browser.js("location.hash") == "#/approvals"
        await browser.wait_for(_badge(1))
        await browser.js(f"location.hash = '#/approvals/{request_id}'")
        await browser.wait_for("!!document.querySelector('#ap-transfer')")
        assert "-3" in (await browser.text("#approval-detail") or "")

        # 评论: empty is refused in the sheet; then it is in the trail.
        await browser.click("#ap-comment")
        await browser.wait_for("!!document.querySelector('#sheet-text')")
        await browser.click("#sheet-submit")
        assert await browser.wait_for("(document.querySelector('#sheet-error') || {}).textContent") == "请填写评论内容"
        await browser.fill("#sheet-text", "请附上破损照片")
        await browser.click("#sheet-submit")
        await browser.wait_for("(document.querySelector('#ap-trail') || {}).textContent?.includes('请附上破损照片')")

        # 加签 beside the approver (并加签): the person added decides alongside.
        await browser.click("#ap-sign")
        await browser.wait_for("document.querySelectorAll('#people-list input').length > 0")
        await browser.click("#sheet-form input[name=position][value=parallel]")
        await browser.fill("#sheet-form input[type=search]", signer.name)
        await browser.wait_for("document.querySelectorAll('#people-list input').length === 1")
        await browser.click(f"#people-list input[value='{signer.id}']")
        await browser.screenshot(shots / "console-approval-sign-390.png", full_page=False)
        await browser.click("#sheet-submit")
        await browser.wait_for("document.querySelector('#sheet').hidden")
        added = f"#ap-steps li[data-user='{signer.id}']"
        await browser.wait_for(f'!!document.querySelector("{added}")')
        assert "并加签" in (await browser.text(added) or "") and "待审批" in (await browser.text(added) or "")

        # 转交: pick the other approver from the people list (searched by name).
        await browser.click("#ap-transfer")
        await browser.wait_for("document.querySelectorAll('#people-list input').length > 0")
        await browser.fill("#sheet-form input[type=search]", other.name)
        await browser.wait_for(f"!!document.querySelector('#people-list input[value=\"{other.id}\"]')")
        assert await browser.js("document.querySelectorAll('#people-list input').length") == 1
        await browser.screenshot(shots / "console-approval-transfer-390.png", full_page=False)
        await browser.click(f"#people-list input[value='{other.id}']")
        await browser.fill("#sheet-comment", "请孙审核处理")
        await browser.click("#sheet-submit")
        await browser.wait_for("document.querySelector('#sheet').hidden")
        await browser.wait_for("!document.querySelector('#ap-approve') && !!document.querySelector('#ap-comment')")
        await browser.wait_for(_badge(0))
        assert "已转交" in (await browser.text("#ap-steps") or "")
        _clean(browser, store)

    async with other.client() as client:
        inbox = (await client.get("/api/v1/approvals/inbox", params={"box": "pending"})).json()
    assert [i["request_id"] for i in inbox["items"]] == [request_id]

    async with Browser(store.url, device=PHONE) as browser:
        await _sign_in(browser, store.url, requester.username)
        # The requester opens their request by its link: 催办 and 撤回 are theirs.
        await browser.js(f"location.hash = '#/approvals/{request_id}'")
        await browser.wait_for("!!document.querySelector('#ap-withdraw')")
        assert not await browser.js("!!document.querySelector('#ap-approve')")
        await browser.screenshot(shots / "console-approval-requester-390.png")
        await browser.click("#ap-remind")
        await browser.wait_for("document.querySelector('#toast').textContent === '已催办'")
        await browser.wait_for("(document.querySelector('#ap-trail') || {}).textContent?.includes('催办')")
        await browser.click("#ap-withdraw")
        await browser.wait_for("!!document.querySelector('#sheet-reason')")
        await browser.fill("#sheet-reason", "数量点错了")
        await browser.click("#sheet-submit")
        await browser.wait_for(_status("withdrawn"))
        _clean(browser, store)

    async with api.client() as client:
        detail = (await client.get(f"/api/v1/approvals/requests/{request_id}")).json()
    assert detail["status"] == "withdrawn" and detail["outcome_reason"] == "数量点错了", detail
