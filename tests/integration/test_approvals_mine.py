"""Issue 17's loose ends of approvals, through the running hub: "requested by me" (我发起的) as the inbox's fourth box
(`box=mine`, its count, `requester=me` on the request list, the mini-program's box) a page at a time with each
request's status and current step; a rule naming an approval flow that is unknown, switched off or not for orders
refused when saved (422, the action's field) while rules naming no flow save as before; a staff member's manager
written in the same transaction as their other fields (a bad manager, or a refused field, leaves the account as it
was); and the dashboards' approval figures hinted live on /ws/dash when a request is opened or decided (after commit,
throttled)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from saq.queue.redis import RedisQueue

from sandbox.wechat import WeChatServer, running_wechat
from tests.integration.test_approvals_api import (
    PASSWORD,
    Shop,
    Staff,
    _flow,
    _mp_session,
    _problem,
    _staff,
    _step,
    _writeoff,
)
from tests.integration.test_dash_feed import Dash
from tests.support.factories import Api, unique

SIMULATOR = running_wechat


@pytest.fixture
async def shop(api: Api, queue: RedisQueue) -> AsyncIterator[Shop]:
    shop = await Shop(api).setup()
    yield shop
    await shop.drop_rules()


async def _get(who: Staff | Api, path: str, **params: Any) -> dict[str, Any]:
    async with who.client() as client:
        r = await client.get(path, params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _post(who: Staff, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with who.client() as client:
        r = await client.post(path, json=body or {})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _opened(who: Staff, shop: Shop, flow: str) -> int:
    r = await _writeoff(who, shop, await shop.sku(unique("报损品")), flow)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


# ------------------------------------------------------------------------------------------------ requested by me


async def test_requested_by_me_lists_the_callers_own_requests_with_status_and_step(
    api: Api, shop: Shop, sim: WeChatServer
) -> None:
    requester = await _staff(api, "picker", warehouse=shop.warehouse)
    first, second = await _staff(api), await _staff(api)
    other = await _staff(api, "picker", warehouse=shop.warehouse)
    two_steps = await _flow(api, [_step([first.id], time_limit_s=3600), _step([second.id])], ["stock_writeoff"])
    code = two_steps["code"]
    approved, withdrawn, rejected, at_step_two, pending = [await _opened(requester, shop, code) for _ in range(5)]
    theirs = await _opened(other, shop, code)
    path = "/api/v1/approvals/requests/{}/{}"
    for request_id in (approved, at_step_two):
        await _post(first, path.format(request_id, "approve"))
    await _post(second, path.format(approved, "approve"))
    await _post(requester, path.format(withdrawn, "withdraw"), {"reason": "点错了"})
    await _post(first, path.format(rejected, "reject"), {"reason": "数量不对"})

    # Newest first, two a page, every status, the step each is at; nothing of anyone else's.
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"box": "mine", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await _get(requester, "/api/v1/approvals/inbox", **params)
        pages += 1
        assert page["box"] == "mine" and len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [i["request_id"] for i in seen] == [pending, at_step_two, rejected, withdrawn, approved]
    assert theirs not in [i["request_id"] for i in seen]
    by_id = {i["request_id"]: i for i in seen}
    status = {rid: by_id[rid]["request_status"] for rid in by_id}
    assert status == {
        pending: "pending",
        at_step_two: "pending",
        rejected: "rejected",
        withdrawn: "withdrawn",
        approved: "approved",
    }
    steps = [s["name"] for s in two_steps["definition"]["steps"]]
    assert (by_id[pending]["step"], by_id[pending]["step_name"]) == (0, steps[0])
    assert (by_id[at_step_two]["step"], by_id[at_step_two]["step_name"]) == (1, steps[1])
    first_name = (await _get(first, "/api/v1/approvals/requests/" + str(pending)))["tasks"][0]["assignee_name"]
    assert by_id[pending]["waiting_on"] == [first_name]
    assert by_id[pending]["due_at"].endswith("+08:00")  # step 1 has a time limit; step 2 none
    assert by_id[at_step_two]["waiting_on"] and by_id[at_step_two]["due_at"] is None
    for rid in (rejected, withdrawn, approved):
        item = by_id[rid]
        assert item["waiting_on"] == [] and item["due_at"] is None and item["decided_at"].endswith("+08:00")
    for item in seen:
        assert (item["task_id"], item["role"], item["kind"]) == (None, "requester", "stock_writeoff")
        assert item["created_at"].endswith("+08:00") and item["title"].startswith("库存核销/调整：")
    assert page["counts"]["mine"] == 2

    # The counts: the requester's two pending; the approver's box `mine` is empty.
    assert await _get(requester, "/api/v1/approvals/inbox/counts") == {"pending": 0, "cc": 0, "mine": 2}
    assert (await _get(first, "/api/v1/approvals/inbox/counts"))["mine"] == 0
    assert (await _get(first, "/api/v1/approvals/inbox", box="mine"))["items"] == []
    async with requester.client() as client:
        _problem(
            await client.get("/api/v1/approvals/inbox", params={"box": "mine", "cursor": "x1"}),
            422,
            "approval_bad_cursor",
            "cursor",
        )

    # requester=me on the request list: the caller's own only — also for an admin, who sees everything otherwise.
    listed = await _get(requester, "/api/v1/approvals/requests", requester="me")
    assert [i["id"] for i in listed["items"]] == [pending, at_step_two, rejected, withdrawn, approved]
    only_pending = await _get(requester, "/api/v1/approvals/requests", requester="me", status="pending")
    assert [i["id"] for i in only_pending["items"]] == [pending, at_step_two]
    everything = await _get(api, "/api/v1/approvals/requests", limit=200)
    assert theirs in [i["id"] for i in everything["items"]]
    admins_own = await _get(api, "/api/v1/approvals/requests", requester="me")
    assert not {pending, theirs} & {i["id"] for i in admins_own["items"]}
    async with requester.client() as client:
        bad = await client.get("/api/v1/approvals/requests", params={"requester": "someone"})
    assert bad.status_code == 422 and bad.json()["field"] == "requester", bad.text

    # The mini-program: the same box and count in its own shape.
    phone = await _mp_session(api, sim, requester)
    mp = await _get(phone, "/mp/v1/staff/approvals/inbox", box="mine")
    assert mp["box"] == "mine" and mp["counts"] == {"pending": 0, "cc": 0, "mine": 2}
    assert [i["request_id"] for i in mp["items"]] == [pending, at_step_two, rejected, withdrawn, approved]
    assert mp["items"][0]["waiting_on"] == [first_name] and mp["items"][0]["task_id"] is None
    assert mp["items"][1]["step_name"] == steps[1] and mp["items"][2]["request_status"] == "rejected"

    # Withdrawn from the box: it stays listed, withdrawn; the count drops.
    await _post(requester, path.format(pending, "withdraw"))
    after = await _get(requester, "/api/v1/approvals/inbox", box="mine")
    assert after["items"][0]["request_id"] == pending and after["items"][0]["request_status"] == "withdrawn"
    assert after["counts"]["mine"] == 1


# ------------------------------------------------------------------------------------- rules naming their flows


async def test_a_rule_naming_a_flow_that_cannot_start_is_refused_when_saved(api: Api, shop: Shop) -> None:
    approver = await _staff(api)
    for_orders = (await _flow(api, [_step([approver.id])], ["order_hold"]))["code"]
    for_stock = (await _flow(api, [_step([approver.id])], ["stock_writeoff"]))["code"]
    switched_off = (await _flow(api, [_step([approver.id])], ["order_hold"]))["code"]
    async with api.client() as client:
        r = await client.patch(f"/api/v1/approvals/flows/{switched_off}", json={"active": False})
        assert r.status_code == 200, r.text

    def rule(flow: str | None) -> dict[str, Any]:
        approval: dict[str, Any] = {"type": "require_approval", **({"flow": flow} if flow else {})}
        return {
            "name": unique("审批规则"),
            "conditions": [{"field": "channel", "op": "in", "value": [shop.channel]}],
            "actions": [{"type": "add_tag", "tag": "big"}, approval],
        }

    async with api.client() as client:
        before = len((await client.get("/api/v1/rules")).json())
        unknown = _problem(
            await client.post("/api/v1/rules", json=rule("no-such-flow")),
            422,
            "approval_flow_unknown",
            "actions[1].flow",
        )
        assert "no-such-flow" in unknown["message"]
        _problem(
            await client.post("/api/v1/rules", json=rule(switched_off)),
            422,
            "approval_flow_inactive",
            "actions[1].flow",
        )
        _problem(
            await client.post("/api/v1/rules", json=rule(for_stock)),
            422,
            "approval_flow_wrong_kind",
            "actions[1].flow",
        )
        assert len((await client.get("/api/v1/rules")).json()) == before  # nothing saved
        # A malformed action is still the rules' own refusal.
        bad = await client.post(
            "/api/v1/rules", json={**rule(None), "actions": [{"type": "require_approval", "flow": ""}]}
        )
        _problem(bad, 422, "validation_error", "actions[0].flow")

        # Naming no flow (the first active flow that matches), or an active flow for orders: saved as before.
        no_flow = await client.post("/api/v1/rules", json=rule(None))
        named = await client.post("/api/v1/rules", json=rule(for_orders))
        assert no_flow.status_code == 201 and named.status_code == 201, (no_flow.text, named.text)
        shop.rules += [int(no_flow.json()["id"]), int(named.json()["id"])]
        assert no_flow.json()["actions"][1] == {"type": "require_approval"}
        rule_id = int(named.json()["id"])

        # PATCH: new actions are checked (nothing changes when refused); other fields keep the actions as they are.
        _problem(
            await client.patch(f"/api/v1/rules/{rule_id}", json={"actions": rule("gone-flow")["actions"][1:]}),
            422,
            "approval_flow_unknown",
            "actions[0].flow",
        )
        assert (await client.get(f"/api/v1/rules/{rule_id}")).json()["actions"][1]["flow"] == for_orders
        off = await client.patch(f"/api/v1/approvals/flows/{for_orders}", json={"active": False})
        assert off.status_code == 200, off.text
        disabled = await client.patch(f"/api/v1/rules/{rule_id}", json={"enabled": False, "name": "停用的审批规则"})
        assert disabled.status_code == 200 and disabled.json()["enabled"] is False, disabled.text
        _problem(
            await client.patch(f"/api/v1/rules/{rule_id}", json={"actions": rule(for_orders)["actions"]}),
            422,
            "approval_flow_inactive",
            "actions[1].flow",
        )


# ---------------------------------------------------------------------------------------- a manager, atomically


async def _user(api: Api, user_id: int) -> dict[str, Any]:
    async with api.client() as client:
        users = (await client.get("/api/v1/users")).json()
    return dict(next(u for u in users if u["id"] == user_id))


async def test_a_refused_manager_or_field_leaves_the_whole_account_as_it_was(api: Api, shop: Shop) -> None:
    top = await _staff(api, "manager")
    middle = await _staff(api, "manager", manager_id=top.id)
    worker = await _staff(api, "picker", warehouse=shop.warehouse, manager_id=middle.id)
    other = await _staff(api, "manager")
    kept = {u.id: await _user(api, u.id) for u in (top, middle, worker)}

    async with api.client() as client:
        refusals = [
            # a cycle: top → worker → middle → top; with a name change that must not be applied either
            (top.id, {"manager_id": worker.id, "display_name": "不应改名"}, "approval_bad_manager", "manager_id"),
            # the shortest cycle A → B → A
            (top.id, {"manager_id": middle.id, "display_name": "不应改名"}, "approval_bad_manager", "manager_id"),
            (worker.id, {"manager_id": worker.id, "phone": None}, "approval_bad_manager", "manager_id"),
            (worker.id, {"manager_id": 2147483000, "display_name": "不应改名"}, "approval_bad_manager", "manager_id"),
        ]
        for user_id, body, code, field in refusals:
            _problem(await client.patch(f"/api/v1/users/{user_id}", json=body), 422, code, field)
        # A good manager with a refused field: the manager is not written either (one transaction).
        r = await client.patch(f"/api/v1/users/{worker.id}", json={"manager_id": other.id, "role": "no-such-role"})
        assert r.status_code == 422 and r.json()["field"] == "role", r.text
        r = await client.patch(f"/api/v1/users/{worker.id}", json={"manager_id": other.id, "warehouse": "NOPE-WH"})
        assert r.status_code == 404 and r.json()["field"] == "warehouse", r.text
        # ... and a field refused only inside the account's own transaction (a badge another person holds).
        badge = unique("B-")
        assert (await client.patch(f"/api/v1/users/{other.id}", json={"badge": badge})).status_code == 200
        r = await client.patch(f"/api/v1/users/{worker.id}", json={"manager_id": other.id, "badge": badge})
        assert r.status_code == 409 and r.json()["field"] == "badge", r.text
    for user_id, before in kept.items():
        assert await _user(api, user_id) == before, user_id

    # A new account: refused for its manager, or for a taken username, leaves no account behind.
    async with api.client() as client:
        name = unique("new")
        body = {"username": name, "password": PASSWORD, "role": "picker", "manager_id": 2147483000}
        _problem(await client.post("/api/v1/users", json=body), 422, "approval_bad_manager", "manager_id")
        taken = {**body, "username": worker.username, "manager_id": top.id}
        assert (await client.post("/api/v1/users", json=taken)).status_code == 409
        assert name not in [u["username"] for u in (await client.get("/api/v1/users")).json()]

        # And a good change applies everything at once.
        r = await client.patch(f"/api/v1/users/{worker.id}", json={"manager_id": other.id, "display_name": "改好了"})
        assert r.status_code == 200, r.text
        assert (r.json()["manager_id"], r.json()["display_name"]) == (other.id, "改好了")
        created = await client.post("/api/v1/users", json={**body, "manager_id": top.id})
        assert created.status_code == 201 and created.json()["manager_id"] == top.id, created.text
    assert (await _user(api, worker.id))["manager_id"] == other.id


# ------------------------------------------------------------------------------------------ the boards, live


def _approval_hints(dash: Dash, topic: str) -> list[dict[str, Any]]:
    return [m for m in dash.of(topic, "delta") if "approvals" in m["data"].get("changed", [])]


async def _hint_where(dash: Dash, topic: str, check: Any, timeout: float = 15) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for m in _approval_hints(dash, topic):
            if check(m["data"]):
                return m
        assert asyncio.get_running_loop().time() < deadline, (topic, dash.of(topic, "delta"))
        await asyncio.sleep(0.05)


def _tactical_pending(data: dict[str, Any]) -> int | None:
    board = data.get("board") or {}
    rows = board.get("warehouses") or [{}]
    approvals = rows[0].get("approvals") or {}
    return approvals.get("pending")


async def test_the_boards_approval_figures_are_hinted_live_when_requests_open_and_close(api: Api, shop: Shop) -> None:
    approver, requester = await _staff(api), await _staff(api, "picker", warehouse=shop.warehouse)
    code = (await _flow(api, [_step([approver.id])], ["stock_writeoff"]))["code"]
    tactical = f"dash.tactical:{shop.warehouse_id}"
    skus = [await shop.sku(unique("看板品")) for _ in range(3)]
    async with Dash(api.base_url, api.token) as dash:
        await dash.send(type="subscribe", topics=["dash.strategic", tactical])
        snap = await dash.wait_for(type="snapshot", topic=tactical)
        assert snap["data"]["warehouses"][0]["approvals"] == {"pending": 0, "overdue": 0}
        await dash.wait_for(type="snapshot", topic="dash.strategic")

        # Opened: both boards hear of it, each hint carrying its board (computed once, after the commit).
        opened = await _writeoff(requester, shop, skus[0], code)
        assert opened.status_code == 201, opened.text
        request_id = opened.json()["id"]
        await _hint_where(dash, tactical, lambda d: _tactical_pending(d) == 1)
        strategic = await _hint_where(dash, "dash.strategic", lambda d: "board" in d)
        assert strategic["data"]["board"]["approvals"]["pending"] >= 1

        # A comment moves no figure: no hint on the warehouse's board.
        seen = len(dash.of(tactical, "delta"))
        await _post(approver, f"/api/v1/approvals/requests/{request_id}/comment", {"text": "看一下"})
        await asyncio.sleep(1.5)
        assert len(dash.of(tactical, "delta")) == seen, dash.of(tactical, "delta")[seen:]

        # Decided: pending back to 0.
        await _post(approver, f"/api/v1/approvals/requests/{request_id}/approve")
        await _hint_where(dash, tactical, lambda d: _tactical_pending(d) == 0)

        # Two opened at once: throttled (one hint now, one when the window ends), the last one with both.
        await asyncio.sleep(1.1)  # a fresh window
        seen = len(_approval_hints(dash, tactical))
        burst = await asyncio.gather(*(_writeoff(requester, shop, sku, code) for sku in skus[1:]))
        assert all(r.status_code == 201 for r in burst), [r.text for r in burst]
        await _hint_where(dash, tactical, lambda d: _tactical_pending(d) == 2)
        await asyncio.sleep(1.5)
        hints = _approval_hints(dash, tactical)[seen:]
        assert 1 <= len(hints) <= 2, hints
        assert _tactical_pending(hints[-1]["data"]) == 2
        assert [m["seq"] for m in hints] == sorted(m["seq"] for m in hints)


async def test_an_unknown_box_is_refused(api: Api) -> None:
    async with api.client() as client:
        r = await client.get("/api/v1/approvals/inbox", params={"box": "everything"})
    assert r.status_code == 422 and r.json()["field"] == "box", r.text
