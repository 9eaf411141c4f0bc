"""Approvals through the hub's HTTP API, on each back end: a flow made through the API and named by a rule holds an
order, its approver approves over HTTP and the order goes on to ready; a rejection needs a reason (problem+json with
the field); the same Idempotency-Key twice makes one decision; a stranger neither sees nor acts on the request, a
bound manager sees their warehouse's; a transfer leaves the old approver refused; a flow edited mid-approval leaves
the request on its version; staff managers set through the users API approve their staff's requests (no self, no
cycle); the requester's withdraw, comments, reminders, 加签; the audit trail exported as JSON lines chains and
verifies; and the staff mini-program's inbox and one-tap decisions with a real mini-program session."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from saq.queue.redis import RedisQueue

from sandbox.wechat import WeChatServer, running_wechat
from tests.support.factories import Api, create_channel, create_sku, order_payload, set_stock, unique, wait_for_orders
from tests.support.hub import Hub

SIMULATOR = running_wechat
PASSWORD = "approvals-pass-1"
PROBLEM = "application/problem+json"


@dataclass
class Staff:
    id: int
    username: str
    token: str
    base_url: str

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url, timeout=60, headers={"Authorization": f"Bearer {self.token}", **headers}
        )


async def _staff(
    api: Api, role: str = "approver", *, warehouse: str | None = None, manager_id: int | None = None
) -> Staff:
    body: dict[str, Any] = {
        "username": unique(role[:4]),
        "password": PASSWORD,
        "role": role,
        "warehouse": warehouse,
        "display_name": unique("员工"),
    }
    if manager_id is not None:
        body["manager_id"] = manager_id
    async with api.client() as client:
        r = await client.post("/api/v1/users", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["manager_id"] == manager_id
        login = await client.post("/api/v1/auth/login", json={"username": body["username"], "password": PASSWORD})
    assert login.status_code == 200, login.text
    return Staff(int(r.json()["id"]), body["username"], login.json()["access_token"], api.base_url)


def _problem(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    body = dict(r.json())
    assert body["code"] == code, body
    assert body["message"] and not body["message"].isascii(), body  # zh-CN
    if field is not None:
        assert body["field"] == field, body
    return body


def _step(user_ids: list[int], mode: str = "any", **extra: Any) -> dict[str, Any]:
    return {"name": unique("步骤"), "approvers": [{"by": "user", "user_ids": user_ids}], "mode": mode, **extra}


async def _flow(api: Api, steps: list[dict[str, Any]], kinds: list[str], **extra: Any) -> dict[str, Any]:
    code = unique("api-flow-")
    body = {"code": code, "name": "接口测试流程", "definition": {"kinds": kinds, "steps": steps, **extra}}
    async with api.client() as client:
        r = await client.post("/api/v1/approvals/flows", json=body)
    assert r.status_code == 201, r.text
    assert (r.json()["code"], r.json()["version"], r.json()["active"]) == (code, 1, True)
    return dict(r.json())


class Shop:
    """A warehouse in 华东 with stock, a channel shipping from it, through the API."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.warehouse = ""
        self.warehouse_id = 0
        self.channel = ""
        self.rules: list[int] = []

    async def setup(self) -> Shop:
        async with self.api.client() as client:
            r = await client.post("/api/v1/warehouses", json={"code": unique("AP"), "name": "审批仓", "region": "华东"})
        assert r.status_code == 201, r.text
        self.warehouse, self.warehouse_id = r.json()["code"], int(r.json()["id"])
        self.channel, _ = await create_channel(self.api, warehouse=self.warehouse)
        return self

    async def sku(self, name: str = "测试商品", qty: int = 20) -> str:
        code = await create_sku(self.api, name=name)
        await set_stock(self.api, sku=code, warehouse=self.warehouse, qty=qty)
        return code

    async def on_hand(self, sku: str) -> int:
        async with self.api.client() as client:
            r = await client.get("/api/v1/stock", params={"sku": sku, "warehouse": self.warehouse})
        assert r.status_code == 200, r.text
        return int(r.json()["items"][0]["on_hand"])

    async def approval_rule(self, flow: str, min_paid: int = 500000) -> None:
        rule = {
            "name": unique("审批规则"),
            "conditions": [
                {"field": "channel", "op": "in", "value": [self.channel]},
                {"field": "paid_amount", "op": ">", "value": min_paid},
            ],
            "actions": [{"type": "require_approval", "flow": flow}],
        }
        async with self.api.client() as client:
            r = await client.post("/api/v1/rules", json=rule)
        assert r.status_code == 201, r.text
        self.rules.append(int(r.json()["id"]))

    async def push(self, sku: str, *, unit_price: int) -> int:
        order = order_payload(lines=[(sku, 1)], paid_amount=unit_price)
        order["lines"][0]["unit_price"] = unit_price
        async with self.api.client() as client:
            r = await client.post("/api/v1/orders/ingest", json={"channel": self.channel, "orders": [order]})
        assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
        return int(r.json()["results"][0]["order_id"])

    async def drop_rules(self) -> None:
        async with self.api.client() as client:
            for rule_id in self.rules:
                assert (await client.delete(f"/api/v1/rules/{rule_id}")).status_code == 204
        self.rules.clear()


@pytest.fixture
async def shop(api: Api, queue: RedisQueue) -> AsyncIterator[Shop]:
    shop = await Shop(api).setup()
    yield shop
    await shop.drop_rules()


async def _writeoff(who: Staff, shop: Shop, sku: str, flow: str | None, delta: int = -2) -> httpx.Response:
    body: dict[str, Any] = {
        "kind": "stock_writeoff",
        "flow": flow,
        "reason": "仓内破损",
        "payload": {"warehouse": shop.warehouse, "sku": sku, "delta": delta, "reason": "破损核销"},
    }
    async with who.client() as client:
        return await client.post("/api/v1/approvals/requests", json=body)


def _my_task(detail: dict[str, Any], user_id: int) -> list[str]:
    return [t["status"] for t in detail["tasks"] if t["assignee_id"] == user_id and t["role"] == "approver"]


# ------------------------------------------------------------------------------------------------ the order path


async def test_an_order_held_for_a_flow_made_through_the_api_is_approved_over_http(api: Api, shop: Shop) -> None:
    approver, copied, stranger = await _staff(api), await _staff(api), await _staff(api)
    bound_here = await _staff(api, "manager", warehouse=shop.warehouse)
    bound_elsewhere = await _staff(api, "manager", warehouse=(await Shop(api).setup()).warehouse)
    flow = await _flow(
        api,
        [_step([approver.id], cc=[{"by": "user", "user_ids": [copied.id]}], time_limit_s=3600)],
        ["order_hold"],
        entry=[{"field": "paid_amount", "op": ">", "value": 500000}],
    )
    await shop.approval_rule(flow["code"])
    order_id = await shop.push(await shop.sku("定制保温杯"), unit_price=500100)
    held = (await wait_for_orders(api, [order_id]))[order_id]
    assert (held["status"], held["hold_queue"]) == ("held", "approval"), held

    # the approver's inbox has it; the person copied sees it under cc; counts for the badges
    async with approver.client() as client:
        r = await client.get("/api/v1/approvals/inbox", params={"box": "pending"})
        assert r.status_code == 200, r.text
        (item,) = [i for i in r.json()["items"] if i["order_id"] == order_id]
        assert r.json()["counts"]["pending"] >= 1 and item["amount"] == 500100
        assert item["created_at"].endswith("+08:00") and item["due_at"].endswith("+08:00")
        request_id = item["request_id"]
        detail = await client.get(f"/api/v1/approvals/requests/{request_id}")
    assert detail.status_code == 200, detail.text
    view = detail.json()
    assert (view["kind"], view["status"], view["flow_code"], view["flow_version"]) == (
        "order_hold",
        "pending",
        flow["code"],
        1,
    )
    assert view["order"]["id"] == order_id and view["order"]["paid_amount"] == 500100
    assert view["order"]["lines"][0]["qty"] == 1 and "phone" not in json.dumps(view["order"])
    assert _my_task(view, approver.id) == ["pending"] and {"approve", "reject"} <= set(view["my_actions"])
    assert [e["action"] for e in view["trail"]][:2] == ["opened", "step_started"]
    async with copied.client() as client:
        cc = await client.get("/api/v1/approvals/inbox", params={"box": "cc"})
        counts = await client.get("/api/v1/approvals/inbox/counts")
        assert [i["request_id"] for i in cc.json()["items"]] == [request_id]
        assert counts.json() == {"pending": 0, "cc": 1, "mine": 0}
        _problem(
            await client.post(f"/api/v1/approvals/requests/{request_id}/approve", json={}),
            409,
            "approval_task_not_pending",
            "task_id",
        )

    # scoping: a stranger and another warehouse's manager see nothing; this warehouse's manager sees it
    for outsider in (stranger, bound_elsewhere):
        async with outsider.client() as client:
            _problem(await client.get(f"/api/v1/approvals/requests/{request_id}"), 404, "approval_not_found")
            _problem(
                await client.post(f"/api/v1/approvals/requests/{request_id}/approve", json={}),
                404,
                "approval_not_found",
            )
            _problem(
                await client.post(f"/api/v1/approvals/requests/{request_id}/comment", json={"text": "看看"}),
                404,
                "approval_not_found",
            )
            listed = await client.get("/api/v1/approvals/requests", params={"order_id": order_id})
            assert listed.status_code == 200 and listed.json()["items"] == [], listed.text
    async with bound_here.client() as client:
        listed = await client.get("/api/v1/approvals/requests", params={"order_id": order_id})
        assert [i["id"] for i in listed.json()["items"]] == [request_id]
        assert (await client.get(f"/api/v1/approvals/requests/{request_id}")).json()["my_actions"] == [
            "comment",
            "remind",
        ]

    # a rejection needs a reason; then one approval, however many times the same key is sent
    async with approver.client() as client:
        _problem(
            await client.post(f"/api/v1/approvals/requests/{request_id}/reject", json={}),
            422,
            "approval_reason_required",
            "reason",
        )
        _problem(
            await client.post(f"/api/v1/approvals/requests/{request_id}/reject", json={"reason": "   "}),
            422,
            "approval_reason_required",
            "reason",
        )
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = await client.post(
            f"/api/v1/approvals/requests/{request_id}/approve", json={"comment": "可以"}, headers=key
        )
        again = await client.post(
            f"/api/v1/approvals/requests/{request_id}/approve", json={"comment": "可以"}, headers=key
        )
        reused = await client.post(
            f"/api/v1/approvals/requests/{request_id}/reject", json={"reason": "不行"}, headers=key
        )
        late = await client.post(f"/api/v1/approvals/requests/{request_id}/approve")  # no body, no key
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["duplicate"]) == ("approved", False)
    assert again.status_code == 200 and again.json() == {**first.json(), "duplicate": True}, again.text
    _problem(reused, 409, "approval_key_reused", "Idempotency-Key")
    closed = _problem(late, 409, "approval_closed", "request_id")
    assert "已通过" in closed["message"] and closed["decided_by"], closed  # who decided first

    ready = (await wait_for_orders(api, [order_id], done=frozenset({"ready"})))[order_id]
    decided = [e for e in ready["events"] if e["type"] == "order.approval_decided"]
    assert len(decided) == 1 and decided[0]["data"]["request_id"] == request_id
    async with approver.client() as client:
        done = await client.get("/api/v1/approvals/inbox", params={"box": "done"})
        assert request_id in [i["request_id"] for i in done.json()["items"]]
        assert (await client.get(f"/api/v1/approvals/requests/{request_id}")).json()["my_actions"] == ["comment"]

    # the trail: exported as JSON lines, each entry chained to the one before; verified by the hub
    async with api.client() as client:
        lines = await client.get("/api/v1/approvals/audit/export", params={"request_id": request_id, "format": "jsonl"})
        page = await client.get("/api/v1/approvals/audit/export", params={"request_id": request_id, "limit": 2})
        verified = await client.get("/api/v1/approvals/audit/verify", params={"request_id": request_id})
    assert lines.status_code == 200 and lines.headers["content-type"].startswith("application/x-ndjson")
    entries = [json.loads(line) for line in lines.text.splitlines()]
    prev = "0" * 64
    for seq, entry in enumerate(entries, start=1):
        assert (entry["seq"], entry["prev_hash"], entry["chain"]) == (seq, prev, f"request:{request_id}")
        assert hashlib.sha256((prev + entry["entry"]).encode()).hexdigest() == entry["hash"]
        assert entry["at"].endswith("+08:00")
        prev = entry["hash"]
    assert [e["action"] for e in entries][-2:] == ["decided", "effect"]
    assert [e["id"] for e in page.json()["entries"]] == [e["id"] for e in entries[:2]]
    assert page.json()["next_after"] == entries[1]["id"]
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text
    assert verified.json()["heads"] == {f"request:{request_id}": prev}
    async with approver.client() as client:
        _problem(await client.get("/api/v1/approvals/audit/verify"), 403, "forbidden")


# ----------------------------------------------------------------------------------------------------- flows


async def test_flows_through_the_api_are_versioned_and_requests_keep_theirs(api: Api, shop: Shop) -> None:
    first, second, requester = await _staff(api), await _staff(api), await _staff(api)
    manager = await _staff(api, "manager")
    flow = await _flow(api, [_step([first.id])], ["stock_writeoff"])
    code = flow["code"]
    async with api.client() as client:
        _problem(
            await client.post("/api/v1/approvals/flows", json={**flow, "definition": flow["definition"]}),
            409,
            "approval_flow_exists",
            "code",
        )
        bad = {
            "code": unique("bad-"),
            "name": "坏流程",
            "definition": {"kinds": ["stock_writeoff"], "steps": [_step([first.id], "n_of_m")]},
        }
        _problem(
            await client.post("/api/v1/approvals/flows", json=bad),
            422,
            "approval_bad_definition",
            "definition.steps[0].n",
        )
        _problem(await client.get("/api/v1/approvals/flows/no-such-flow"), 404, "approval_flow_not_found")
    async with manager.client() as client:  # managers read flows; only admins change them
        listed = await client.get("/api/v1/approvals/flows")
        assert code in [f["code"] for f in listed.json()], listed.text
        _problem(
            await client.post(f"/api/v1/approvals/flows/{code}/versions", json={"definition": {}}), 403, "forbidden"
        )

    sku = await shop.sku()
    opened = await _writeoff(requester, shop, sku, code)
    assert opened.status_code == 201, opened.text
    old = opened.json()
    assert (old["flow_version"], old["requester_id"], old["status"]) == (1, requester.id, "pending")
    assert "withdraw" in old["my_actions"] and _my_task(old, first.id) == ["pending"]

    # version 2: two steps, another approver; the request in flight stays on version 1
    two = {"kinds": ["stock_writeoff"], "steps": [_step([second.id]), _step([first.id])]}
    async with api.client() as client:
        r = await client.post(f"/api/v1/approvals/flows/{code}/versions", json={"definition": two, "name": "两级"})
        assert r.status_code == 201, r.text
        assert (r.json()["version"], r.json()["name"], len(r.json()["definition"]["steps"])) == (2, "两级", 2)
        detail = await client.get(f"/api/v1/approvals/flows/{code}")
    assert [v["version"] for v in detail.json()["versions"]] == [2, 1]
    async with first.client() as client:
        r = await client.post(f"/api/v1/approvals/requests/{old['id']}/approve", json={})
    assert (r.status_code, r.json()["status"]) == (200, "approved"), r.text  # version 1 had one step
    assert await shop.on_hand(sku) == 18

    newer = await _writeoff(requester, shop, sku, code)
    assert newer.status_code == 201, newer.text
    assert newer.json()["flow_version"] == 2 and _my_task(newer.json(), second.id) == ["pending"]
    assert _my_task(newer.json(), first.id) == []

    # switched off: no new request starts on it; the one under way goes on
    async with api.client() as client:
        off = await client.patch(f"/api/v1/approvals/flows/{code}", json={"active": False})
        assert off.status_code == 200 and off.json()["active"] is False, off.text
        only_on = await client.get("/api/v1/approvals/flows", params={"active": "false"})
        assert code in [f["code"] for f in only_on.json()]
    async with requester.client() as client:
        r = await client.post(f"/api/v1/approvals/requests/{newer.json()['id']}/withdraw", json={"reason": "弄错了"})
        assert (r.status_code, r.json()["status"]) == (200, "withdrawn"), r.text
    _problem(await _writeoff(requester, shop, sku, code), 409, "approval_flow_inactive", "flow")


# ------------------------------------------------------------------------------------------- people and actions


async def test_transfer_leaves_the_old_approver_refused_and_a_bound_requester_keeps_to_their_warehouse(
    api: Api, shop: Shop
) -> None:
    holder, colleague, helper = await _staff(api), await _staff(api), await _staff(api)
    picker = await _staff(api, "picker", warehouse=shop.warehouse)
    elsewhere = await _staff(api, "picker", warehouse=(await Shop(api).setup()).warehouse)
    flow = await _flow(api, [_step([holder.id])], ["stock_writeoff"])
    sku = await shop.sku()
    _problem(await _writeoff(elsewhere, shop, sku, flow["code"]), 403, "forbidden_warehouse", "payload.warehouse")
    opened = await _writeoff(picker, shop, sku, flow["code"])
    assert opened.status_code == 201, opened.text
    request_id = opened.json()["id"]
    _problem(await _writeoff(picker, shop, sku, flow["code"]), 409, "approval_already_pending")

    async with holder.client() as client:
        path = f"/api/v1/approvals/requests/{request_id}"
        _problem(
            await client.post(f"{path}/transfer", json={"to_user_id": holder.id}),
            422,
            "approval_bad_signer",
            "to_user_id",
        )
        key = {"Idempotency-Key": "transfer-1"}
        moved = await client.post(
            f"{path}/transfer", json={"to_user_id": colleague.id, "comment": "我休假"}, headers=key
        )
        twice = await client.post(
            f"{path}/transfer", json={"to_user_id": colleague.id, "comment": "我休假"}, headers=key
        )
        assert moved.status_code == 200 and twice.json()["duplicate"] is True, (moved.text, twice.text)
        _problem(await client.post(f"{path}/approve", json={}), 409, "approval_task_not_pending", "task_id")
        still = await client.get(path)  # the old approver still sees it, with nothing left to decide
        assert still.status_code == 200 and _my_task(still.json(), holder.id) == ["transferred"]
        assert "approve" not in still.json()["my_actions"]

    async with picker.client() as client:  # the requester: no decision, but comments and reminders
        _problem(await client.post(f"{path}/approve", json={}), 409, "approval_task_not_pending")
        assert (await client.post(f"{path}/comment", json={"text": "请尽快"})).status_code == 200
        _problem(await client.post(f"{path}/comment", json={"text": " "}), 422, "approval_text_required", "text")
        assert (await client.post(f"{path}/remind")).status_code == 200
        _problem(await client.post(f"{path}/remind"), 409, "approval_remind_too_soon")
    async with colleague.client() as client:  # 加签 before: the helper decides first, then it comes back
        _problem(await client.post(f"{path}/withdraw", json={}), 403, "approval_not_requester")
        r = await client.post(f"{path}/add-signer", json={"user_ids": [helper.id], "position": "before"})
        assert (r.status_code, r.json()["status"]) == (200, "pending"), r.text
    async with helper.client() as client:
        assert (await client.post(f"{path}/approve", json={"comment": "数量属实"})).status_code == 200
    async with colleague.client() as client:
        r = await client.post(f"{path}/approve", json={})
        assert (r.status_code, r.json()["status"]) == (200, "approved"), r.text
        trail = [e["action"] for e in (await client.get(path)).json()["trail"]]
    assert {"transferred", "commented", "reminded", "signer_added", "decided", "effect"} <= set(trail)
    assert await shop.on_hand(sku) == 18


async def test_staff_managers_set_through_the_users_api_approve_their_staffs_requests(api: Api, shop: Shop) -> None:
    boss = await _staff(api, "manager")
    worker = await _staff(api, "picker", warehouse=shop.warehouse, manager_id=boss.id)
    async with api.client() as client:
        _problem(
            await client.patch(f"/api/v1/users/{worker.id}", json={"manager_id": worker.id}),
            422,
            "approval_bad_manager",
            "manager_id",
        )
        _problem(
            await client.patch(f"/api/v1/users/{boss.id}", json={"manager_id": worker.id}),
            422,
            "approval_bad_manager",
            "manager_id",
        )
        _problem(
            await client.post(
                "/api/v1/users",
                json={"username": unique("x"), "password": PASSWORD, "role": "picker", "manager_id": 2147483000},
            ),
            422,
            "approval_bad_manager",
            "manager_id",
        )
        listed = {u["id"]: u for u in (await client.get("/api/v1/users")).json()}
        assert listed[worker.id]["manager_id"] == boss.id and listed[boss.id]["manager_id"] is None
        people = {p["id"]: p for p in (await client.get("/api/v1/approvals/people")).json()}
        assert (people[worker.id]["role"], people[worker.id]["warehouse"]) == ("picker", shop.warehouse)
        assert set(people[worker.id]) == {"id", "name", "role", "warehouse"}
    flow = await _flow(api, [{"name": "上级审批", "approvers": [{"by": "manager"}]}], ["stock_writeoff"])
    sku = await shop.sku()
    opened = await _writeoff(worker, shop, sku, flow["code"], delta=-5)
    assert opened.status_code == 201, opened.text
    assert _my_task(opened.json(), boss.id) == ["pending"]
    async with boss.client() as client:
        r = await client.post(f"/api/v1/approvals/requests/{opened.json()['id']}/approve", json={})
    assert (r.status_code, r.json()["status"]) == (200, "approved"), r.text
    assert await shop.on_hand(sku) == 15
    async with api.client() as client:  # clearing the manager
        cleared = await client.patch(f"/api/v1/users/{worker.id}", json={"manager_id": None, "display_name": "新名"})
    assert cleared.status_code == 200 and cleared.json()["manager_id"] is None, cleared.text
    assert cleared.json()["display_name"] == "新名"


# ----------------------------------------------------------------------------------------------- mini-program


async def _mp_session(api: Api, sim: WeChatServer, staff: Staff) -> Staff:
    """A real mini-program session for the account: WeChat vouches for its phone, the hub binds and signs in."""
    app = sim.store.create_mini_app()
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    openid = f"o{uuid.uuid4().hex[:27]}"
    async with api.client() as client:
        r = await client.put(
            "/api/v1/notify/providers/wechat_subscribe",
            json={"config": {"appid": app.appid, "secret": app.secret, "base_url": sim.base_url}},
        )
        assert r.status_code == 200, r.text
        r = await client.patch(f"/api/v1/users/{staff.id}", json={"phone": phone})
        assert r.status_code == 200, r.text
    n = uuid.uuid4().int
    address = {"x-forwarded-for": f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"}
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30, headers=address) as client:
        r = await client.post(
            "/mp/v1/auth/bind",
            json={
                "code": sim.store.login_code(app.appid, openid),
                "phone_code": sim.store.phone_code(app.appid, phone),
            },
        )
    assert r.status_code == 200, r.text
    return Staff(staff.id, staff.username, r.json()["access_token"], api.base_url)


async def test_the_mini_program_inbox_detail_and_one_tap_decisions(
    api: Api, shop: Shop, sim: WeChatServer, store: Hub
) -> None:
    approver, other, stranger = await _staff(api), await _staff(api), await _staff(api)
    requester = await _staff(api, "picker", warehouse=shop.warehouse)
    phone = await _mp_session(api, sim, approver)
    flow = await _flow(api, [_step([approver.id])], ["stock_writeoff"])
    sku, spare = await shop.sku("扫码枪"), await shop.sku("打印纸")
    first = (await _writeoff(requester, shop, sku, flow["code"])).json()["id"]
    second = (await _writeoff(requester, shop, spare, flow["code"])).json()["id"]

    async with phone.client() as client:
        inbox = await client.get("/mp/v1/staff/approvals/inbox")
        assert inbox.status_code == 200, inbox.text
        assert [i["request_id"] for i in inbox.json()["items"]][:2] == [second, first]
        assert inbox.json()["counts"] == {"pending": 2, "cc": 0, "mine": 0}
        assert inbox.json()["items"][0]["title"].startswith("库存核销/调整：")
        detail = await client.get(f"/mp/v1/staff/approvals/{first}")
        assert detail.status_code == 200, detail.text
        assert detail.json()["my_actions"] == ["approve", "reject", "transfer"] and detail.json()["order"] is None
        assert detail.json()["payload"]["sku"] == sku and detail.json()["created_at"].endswith("+08:00")
        _problem(
            await client.post(f"/mp/v1/staff/approvals/{first}/reject", json={}),
            422,
            "approval_reason_required",
            "reason",
        )
        key = {"Idempotency-Key": str(uuid.uuid4())}
        tap = await client.post(f"/mp/v1/staff/approvals/{first}/approve", headers=key)
        retap = await client.post(f"/mp/v1/staff/approvals/{first}/approve", headers=key)
        assert tap.status_code == 200 and tap.json() == {
            "request_id": first,
            "action": "approve",
            "status": "approved",
            "duplicate": False,
        }, tap.text
        assert retap.json()["duplicate"] is True
        handed = await client.post(f"/mp/v1/staff/approvals/{second}/transfer", json={"to_user_id": other.id})
        assert handed.status_code == 200, handed.text
        _problem(
            await client.post(f"/mp/v1/staff/approvals/{second}/reject", json={"reason": "不对"}),
            409,
            "approval_task_not_pending",
        )
        after = await client.get("/mp/v1/staff/approvals/inbox")
        assert after.json()["counts"]["pending"] == 0
        done = await client.get("/mp/v1/staff/approvals/inbox", params={"box": "done"})
        assert [i["request_id"] for i in done.json()["items"]][:2] == [second, first]
    async with stranger.client() as client:
        _problem(await client.get(f"/mp/v1/staff/approvals/{second}"), 404, "approval_not_found")
    async with other.client() as client:
        r = await client.post(f"/mp/v1/staff/approvals/{second}/reject", json={"reason": "数量不对，请复核"})
        assert (r.status_code, r.json()["status"]) == (200, "rejected"), r.text
    assert await shop.on_hand(sku) == 18 and await shop.on_hand(spare) == 20
