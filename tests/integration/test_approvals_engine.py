"""The approvals' domain core against a real hub on each back end: the seed's example (a 5,001 元 order with a 定制
SKU held by a rule → the regional manager approves, production is copied → the order goes on to ready), a rejected
order hold (cancelled, reason kept) and a hold released by hand (its request cancelled), 会签 with one rejection,
N-of-M, 加签 before / after / in parallel, 转交 (the old approver's tap refused), expiry (reminder → escalation to the
manager → final action), a flow edited mid-approval, the inbox and its cursor, the hash-chained trail catching
tampering — and, on PostgreSQL with parallel connections, two approvers at once and one tap delivered three times
yielding one decision."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from saq.queue.redis import RedisQueue

from orderhub import clock, db
from orderhub.approvals import audit, engine, flows, inbox, people
from orderhub.approvals.engine import NewRequest
from orderhub.approvals.errors import ApprovalError
from orderhub.approvals.live import APPROVAL_HOOKS, ApprovalChange
from orderhub.auth.service import NewUser, create_user
from orderhub.catalog.service import NewSku, create_sku
from orderhub.errors import Conflict, OrderHubError, PermissionDenied, ValidationFailed
from orderhub.inventory.service import NewWarehouse, adjust_stock, create_warehouse, list_stock
from orderhub.rules import service as rules
from tests.support.factories import Api, create_channel, order_payload, unique, wait_for_orders
from tests.support.hub import Hub

PASSWORD = "approver-pass-1"


# ------------------------------------------------------------------------------------------------------- helpers


async def _user(role: str = "approver", *, warehouse: str | None = None, manager: int | None = None) -> int:
    user = await create_user(
        NewUser(username=unique("ap"), password=PASSWORD, role=role, warehouse=warehouse, display_name=unique("员工"))
    )
    if manager is not None:
        await people.set_manager(user.id, manager)
    return user.id


async def _flow(steps: list[dict[str, Any]], *, kinds: tuple[str, ...] = ("stock_writeoff",), **extra: Any) -> str:
    code = unique("flow-")
    await flows.create_flow(
        flows.NewFlow(code=code, name="测试流程", definition={"kinds": list(kinds), "steps": steps, **extra}),
        actor="test",
    )
    return code


def _step(approvers: list[int], mode: str = "any", **extra: Any) -> dict[str, Any]:
    return {"name": unique("步骤"), "approvers": [{"by": "user", "user_ids": approvers}], "mode": mode, **extra}


class Stock:
    """A fresh warehouse and SKU with 10 on hand: a write-off request's subject."""

    def __init__(self, warehouse: str, sku: str) -> None:
        self.warehouse, self.sku = warehouse, sku

    async def on_hand(self) -> int:
        return (await list_stock(sku=self.sku, warehouse=self.warehouse)).items[0].on_hand


async def _stock() -> Stock:
    warehouse = await create_warehouse(NewWarehouse(code=unique("AW"), name="审批仓", region="华北"))
    sku = await create_sku(NewSku(code=unique("AS-"), name="审批测试商品"))
    await adjust_stock(sku=sku.code, warehouse=warehouse.code, delta=None, set_to=10, reason="盘点", actor="test")
    return Stock(warehouse.code, sku.code)


async def _writeoff(flow: str, requester: int, stock: Stock | None = None, delta: int = -1) -> tuple[int, Stock]:
    stock = stock or await _stock()
    request_id = await engine.open_request(
        NewRequest(
            kind="stock_writeoff",
            flow=flow,
            requester_id=requester,
            payload={"warehouse": stock.warehouse, "sku": stock.sku, "delta": delta, "reason": "破损核销"},
            reason="破损",
        )
    )
    return request_id, stock


def _tasks(view: inbox.RequestView, user_id: int) -> list[str]:
    return [t.status for t in view.tasks if t.assignee_id == user_id and t.role == "approver"]


async def _refused(call: Any, code: str) -> OrderHubError:
    with pytest.raises(OrderHubError) as caught:
        await call
    assert caught.value.code == code, caught.value
    return caught.value


# ---------------------------------------------------------------------------------------------- the order path


class Shop:
    """A warehouse in 华东 (the receivers are in 上海), a channel shipping from it, stock, and the rules made."""

    def __init__(self, api: Api, warehouse: str, channel: str) -> None:
        self.api, self.warehouse, self.channel = api, warehouse, channel
        self.rules: list[int] = []

    async def sku(self, name: str) -> str:
        code = (await create_sku(NewSku(code=unique("OS-"), name=name))).code
        await adjust_stock(sku=code, warehouse=self.warehouse, delta=None, set_to=20, reason="盘点", actor="test")
        return code

    async def approval_rule(self, flow: str, min_paid: int = 500000) -> None:
        async with self.api.client() as client:
            r = await client.post(
                "/api/v1/rules",
                json={
                    "name": unique("审批规则"),
                    "conditions": [
                        {"field": "channel", "op": "in", "value": [self.channel]},
                        {"field": "paid_amount", "op": ">", "value": min_paid},
                    ],
                    "actions": [{"type": "require_approval", "flow": flow}],
                },
            )
        assert r.status_code == 201, r.text
        assert r.json()["actions"] == [{"type": "require_approval", "flow": flow}]
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

    async def order(self, order_id: int) -> dict[str, Any]:
        async with self.api.client() as client:
            r = await client.get(f"/api/v1/orders/{order_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
async def shop(api: Api, queue: RedisQueue) -> AsyncIterator[Shop]:
    warehouse = await create_warehouse(NewWarehouse(code=unique("AH"), name="华东仓", region="华东"))
    channel, _ = await create_channel(api, warehouse=warehouse.code)
    shop = Shop(api, warehouse.code, channel)
    yield shop
    await shop.drop_rules()


async def _request_of(order_id: int, timeout: float = 20) -> inbox.RequestView:
    deadline = time.monotonic() + timeout
    while True:
        found = await inbox.list_requests(order_id=order_id, kind="order_hold")
        if found:
            return await inbox.get_request(found[0].id)
        assert time.monotonic() < deadline, f"no approval request for order {order_id}"
        await asyncio.sleep(0.2)


async def _seed_flow(production: int) -> str:
    """The seed's flow: over 5,000 元 the regional manager approves (或签); a 定制 SKU copies production."""
    code = unique("big-custom-")
    await flows.create_flow(
        flows.NewFlow(
            code=code,
            name="大额/定制订单审批",
            definition={
                "kinds": ["order_hold"],
                "entry": [{"field": "paid_amount", "op": ">", "value": 500000}],
                "steps": [
                    {
                        "name": "区域经理审批",
                        "approvers": [{"by": "role_in_region", "role": "manager"}],
                        "mode": "any",
                        "cc": [
                            {
                                "by": "user",
                                "user_ids": [production],
                                "when": [{"field": "sku_name", "op": "contains", "value": "定制"}],
                            }
                        ],
                        "time_limit_s": 4 * 3600,
                        "remind_before_s": 1800,
                    }
                ],
            },
        ),
        actor="admin",
    )
    return code


async def test_seed_example_regional_manager_approves_and_the_order_goes_on_to_ready(shop: Shop) -> None:
    manager = await _user("manager", warehouse=shop.warehouse)
    production = await _user("approver")
    await shop.approval_rule(await _seed_flow(production))
    custom = await shop.sku("定制刻字保温杯")
    order_id = await shop.push(custom, unit_price=500100)  # 5,001 元

    held = (await wait_for_orders(shop.api, [order_id]))[order_id]
    assert (held["status"], held["hold_queue"], held["hold_reason"]) == ("held", "approval", "needs_approval")
    request = await _request_of(order_id)
    assert (request.status, request.amount, request.kind) == ("pending", 500100, "order_hold")
    assert request.reason.startswith("规则「") and request.title.startswith("订单审批：订单 ")
    assert _tasks(request, manager) == ["pending"]
    assert [(t.assignee_id, t.status) for t in request.tasks if t.role == "cc"] == [(production, "told")]
    mine = await inbox.inbox(manager, "pending")
    assert request.id in [i.request_id for i in mine.items]
    assert [i.request_id for i in (await inbox.inbox(production, "cc")).items] == [request.id]
    assert (await inbox.inbox_counts(production)) == {"pending": 0, "cc": 1, "mine": 0}
    assert "order.approval_requested" in [e["type"] for e in held["events"]]

    result = await engine.approve(request.id, manager, comment="排产已确认")
    assert (result.status, result.duplicate) == ("approved", False)
    ready = (await wait_for_orders(shop.api, [order_id], done=frozenset({"ready"})))[order_id]
    assert ready["status"] == "ready"
    decided = [e for e in ready["events"] if e["type"] == "order.approval_decided"]
    assert len(decided) == 1 and decided[0]["reason"] == "approved"
    assert decided[0]["data"]["request_id"] == request.id and decided[0]["actor"] != "system"
    released = [e for e in ready["events"] if e["type"] == "order.hold_released"]
    assert released and "审批通过" in released[0]["data"]["note"]
    done = await inbox.get_request(request.id)
    assert done.decided_by_id == manager and [e.action for e in done.trail][-2:] == ["decided", "effect"]
    assert (await audit.verify(request.id)).ok


async def test_a_rejected_order_hold_is_cancelled_with_its_reason_kept(shop: Shop) -> None:
    manager = await _user("manager", warehouse=shop.warehouse)
    await shop.approval_rule(await _seed_flow(await _user()))
    order_id = await shop.push(await shop.sku("普通水杯"), unit_price=600000)
    await wait_for_orders(shop.api, [order_id])
    request = await _request_of(order_id)
    assert [(t.role, t.assignee_id) for t in request.tasks if t.role == "cc"] == []  # no 定制 SKU: nobody copied
    await _refused(engine.reject(request.id, manager, reason="  "), ApprovalError.APPROVAL_REASON_REQUIRED)
    result = await engine.reject(request.id, manager, reason="客户信用不足")
    assert result.status == "rejected"
    order = await shop.order(order_id)
    assert order["status"] == "cancelled"
    cancelled = [e for e in order["events"] if e["to_status"] == "cancelled"]
    assert "客户信用不足" in cancelled[0]["data"]["note"]
    decided = [e for e in order["events"] if e["type"] == "order.approval_decided"]
    assert decided[0]["data"]["reason"] == "客户信用不足" and decided[0]["reason"] == "rejected"


async def test_a_hold_released_by_hand_cancels_its_request_and_an_unknown_flow_is_recorded(shop: Shop) -> None:
    await _user("manager", warehouse=shop.warehouse)
    await shop.approval_rule(await _seed_flow(await _user()))
    order_id = await shop.push(await shop.sku("普通水杯"), unit_price=700000)
    await wait_for_orders(shop.api, [order_id])
    request = await _request_of(order_id)
    async with shop.api.client() as client:
        r = await client.post(f"/api/v1/orders/{order_id}/release", json={"note": "老板电话同意"})
    assert r.status_code == 201, r.text
    closed = await inbox.get_request(request.id)
    assert closed.status == "cancelled" and closed.outcome_reason == "订单已被人工放行"
    assert all(t.status == "cancelled" for t in closed.tasks if t.role == "approver")

    await shop.drop_rules()
    # The rules API refuses a rule naming an unknown flow (approval_flow_unknown: test_approvals_mine.py); a rule
    # saved before that check, written here through the rules service, still holds the order for a person.
    legacy = await rules.create_rule(
        rules.NewRule(
            name=unique("旧审批规则"),
            conditions=[{"field": "channel", "op": "in", "value": [shop.channel]}],
            actions=[{"type": "require_approval", "flow": "no-such-flow"}],
        )
    )
    shop.rules.append(legacy.id)
    other = await shop.push(await shop.sku("普通水杯"), unit_price=900000)
    held = (await wait_for_orders(shop.api, [other]))[other]
    assert held["status"] == "held"
    not_started = [e for e in held["events"] if e["type"] == "order.approval_not_started"]
    assert not_started and not_started[0]["reason"] == ApprovalError.APPROVAL_FLOW_NOT_FOUND


async def test_other_order_kinds_change_the_order_and_a_cancelled_order_cancels_their_requests(shop: Shop) -> None:
    a, requester = await _user(), await _user()
    flow = await _flow([_step([a])], kinds=("address_change", "cancel_after_pick", "refund_reship"))
    sku = await shop.sku("普通水杯")
    first, second, third = [await shop.push(sku, unit_price=1990) for _ in range(3)]
    await wait_for_orders(shop.api, [first, second, third], done=frozenset({"ready"}))

    receiver = {"name": "李四", "phone": "13912345678", "address": "上海市黄浦区南京东路1号"}
    moved = await engine.open_request(
        NewRequest(
            kind="address_change", order_id=first, flow=flow, requester_id=requester, payload={"receiver": receiver}
        )
    )
    await _refused(
        engine.open_request(
            NewRequest(kind="address_change", order_id=first, requester_id=requester, payload={"receiver": receiver})
        ),
        ApprovalError.APPROVAL_ALREADY_PENDING,
    )
    await engine.approve(moved, a)
    order = (await wait_for_orders(shop.api, [first], done=frozenset({"ready"})))[first]
    assert order["receiver"]["name"] == "李四" and "南京东路" in order["receiver"]["address"]
    assert [e["type"] for e in order["events"]].count("order.approval_decided") == 1

    stopped = await engine.open_request(
        NewRequest(
            kind="cancel_after_pick",
            order_id=second,
            flow=flow,
            requester_id=requester,
            payload={"reason": "客户不要了"},
        )
    )
    await engine.approve(stopped, a)
    order = await shop.order(second)
    assert order["status"] == "cancelled" and all(line["reserved_qty"] == 0 for line in order["lines"])

    refund = await engine.open_request(
        NewRequest(
            kind="refund_reship",
            order_id=third,
            flow=flow,
            requester_id=requester,
            payload={"refund_amount": 990, "reship_lines": [{"sku": sku, "qty": 1}]},
        )
    )
    async with shop.api.client() as client:
        r = await client.post(f"/api/v1/orders/{third}/cancel", json={"reason": "平台取消"})
    assert r.status_code in (200, 201), r.text
    view = await inbox.get_request(refund)
    assert (view.status, view.outcome_reason) == ("cancelled", "订单已取消")


# ----------------------------------------------------------------------------------------------------- modes


async def test_all_mode_one_rejection_rejects_and_closes_the_other_tasks(store: Hub) -> None:
    a, b, c, requester = await _user(), await _user(), await _user(), await _user()
    flow = await _flow([_step([a, b, c], "all")])
    request_id, stock = await _writeoff(flow, requester)
    assert (await engine.approve(request_id, a)).status == "pending"
    result = await engine.reject(request_id, b, reason="数量不对")
    assert result.status == "rejected"
    view = await inbox.get_request(request_id)
    assert (_tasks(view, a), _tasks(view, b), _tasks(view, c)) == (["approved"], ["rejected"], ["cancelled"])
    assert view.outcome_reason == "数量不对"
    await _refused(engine.approve(request_id, c), ApprovalError.APPROVAL_CLOSED)
    assert await stock.on_hand() == 10  # nothing written off


async def test_n_of_m_passes_at_n_approvals_and_fails_when_n_is_out_of_reach(store: Hub) -> None:
    a, b, c, requester = await _user(), await _user(), await _user(), await _user()
    flow = await _flow([_step([a, b, c], "n_of_m", n=2)])
    request_id, stock = await _writeoff(flow, requester)
    assert (await engine.reject(request_id, a, reason="不同意")).status == "pending"  # 2 of the 3 still possible
    assert (await engine.approve(request_id, b)).status == "pending"
    assert (await engine.approve(request_id, c)).status == "approved"
    assert await stock.on_hand() == 9

    second, stock = await _writeoff(flow, requester, stock)
    await engine.reject(second, a, reason="不同意")
    assert (await engine.reject(second, b, reason="也不同意")).status == "rejected"  # 2 approvals now impossible
    assert _tasks(await inbox.get_request(second), c) == ["cancelled"]
    assert await stock.on_hand() == 9


async def test_sequential_mode_asks_one_after_the_other(store: Hub) -> None:
    a, b, requester = await _user(), await _user(), await _user()
    request_id, _ = await _writeoff(await _flow([_step([a, b], "sequential")]), requester)
    await _refused(engine.approve(request_id, b), ApprovalError.APPROVAL_TASK_NOT_PENDING)  # not b's turn yet
    await engine.approve(request_id, a)
    assert (await engine.approve(request_id, b)).status == "approved"


async def test_add_signer_before_after_and_in_parallel(store: Hub) -> None:
    a, b, x, y, z, requester = [await _user() for _ in range(6)]
    request_id, stock = await _writeoff(await _flow([_step([a, b], "all")]), requester)
    heard: list[ApprovalChange] = []

    async def listen(change: ApprovalChange) -> None:
        heard.append(change)

    APPROVAL_HOOKS.add(listen)
    try:
        # a asks x first: a's task waits (a cannot decide), x decides, then it is a's turn again.
        await engine.add_signer(request_id, a, user_ids=[x], position="before", comment="请先核对")
        assert [r.user_id for r in heard[-1].opened] == [x] and [r.user_id for r in heard[-1].closed] == [a]
        await _refused(engine.approve(request_id, a), ApprovalError.APPROVAL_TASK_NOT_PENDING)
        await engine.approve(request_id, x)
        assert [r.user_id for r in heard[-1].opened] == [a]
        # a approves and adds y after: y must approve too.
        await engine.add_signer(request_id, a, user_ids=[y], position="after")
        # b adds z alongside: both b and z must approve.
        await engine.add_signer(request_id, b, user_ids=[z], position="parallel")
        await _refused(
            engine.add_signer(request_id, b, user_ids=[y], position="parallel"), ApprovalError.APPROVAL_BAD_SIGNER
        )  # y decides this step already
        assert (await engine.approve(request_id, b)).status == "pending"
        assert (await engine.approve(request_id, y)).status == "pending"
        assert await stock.on_hand() == 10
        result = await engine.approve(request_id, z)
    finally:
        APPROVAL_HOOKS._hooks.remove(listen)
    assert result.status == "approved" and await stock.on_hand() == 9
    view = await inbox.get_request(request_id)
    assert {t.origin for t in view.tasks} == {"flow", "before", "after", "parallel"}
    assert heard[-1].status == "approved" and heard[-1].decided_by_name


async def test_transfer_takes_the_task_away_from_the_old_approver(store: Hub) -> None:
    a, t, requester = await _user(), await _user(), await _user()
    request_id, stock = await _writeoff(await _flow([_step([a])]), requester)
    await _refused(engine.transfer(request_id, a, to_user_id=a), ApprovalError.APPROVAL_BAD_SIGNER)
    await engine.transfer(request_id, a, to_user_id=t, comment="我在休假")
    await _refused(engine.approve(request_id, a), ApprovalError.APPROVAL_TASK_NOT_PENDING)
    await _refused(engine.reject(request_id, a, reason="x"), ApprovalError.APPROVAL_TASK_NOT_PENDING)
    assert [i.task_status for i in (await inbox.inbox(a, "done")).items] == ["transferred"]
    assert [i.request_id for i in (await inbox.inbox(t, "pending")).items] == [request_id]
    assert (await engine.approve(request_id, t)).status == "approved"
    assert await stock.on_hand() == 9


async def test_comment_withdraw_and_remind_are_for_the_people_involved(store: Hub) -> None:
    a, requester, stranger = await _user(), await _user(), await _user()
    request_id, _ = await _writeoff(await _flow([_step([a])]), requester)
    await _refused(engine.comment(request_id, stranger, text="路过"), ApprovalError.APPROVAL_NOT_INVOLVED)
    await engine.comment(request_id, a, text="明天看")
    await engine.remind(request_id, requester)
    await _refused(engine.remind(request_id, requester), ApprovalError.APPROVAL_REMIND_TOO_SOON)
    await _refused(engine.withdraw(request_id, a), ApprovalError.APPROVAL_NOT_REQUESTER)
    assert (await engine.withdraw(request_id, requester, reason="不需要了")).status == "withdrawn"
    await _refused(engine.approve(request_id, a), ApprovalError.APPROVAL_CLOSED)
    trail = [e.action for e in (await inbox.get_request(request_id)).trail]
    assert trail == ["opened", "step_started", "commented", "reminded", "decided"]


async def test_inbox_pages_with_a_cursor(store: Hub) -> None:
    a, requester = await _user(), await _user()
    flow = await _flow([_step([a])])
    ids = [(await _writeoff(flow, requester))[0] for _ in range(3)]
    first = await inbox.inbox(a, "pending", limit=2)
    assert [i.request_id for i in first.items] == ids[::-1][:2] and first.next_cursor is not None
    second = await inbox.inbox(a, "pending", cursor=first.next_cursor, limit=2)
    assert [i.request_id for i in second.items] == [ids[0]] and second.next_cursor is None
    await _refused(inbox.inbox(a, "pending", cursor="abc"), ApprovalError.APPROVAL_BAD_CURSOR)


# ------------------------------------------------------------------------------------------------------ expiry


async def test_expiry_reminds_escalates_to_the_manager_then_applies_the_final_action(store: Hub) -> None:
    boss = await _user("manager")
    a, requester = await _user(manager=boss), await _user()
    flow = await _flow([_step([a], time_limit_s=3600, remind_before_s=600, escalations=1, on_expiry="auto_reject")])
    t0 = clock.now()
    request_id, stock = await _writeoff(flow, requester)

    assert (await engine.sweep_due(t0 + timedelta(seconds=2000))).reminded == 0
    assert (await engine.sweep_due(t0 + timedelta(seconds=3100))).reminded == 1
    assert (await engine.sweep_due(t0 + timedelta(seconds=3200))).reminded == 0  # once
    t1 = t0 + timedelta(seconds=3700)
    assert (await engine.sweep_due(t1)).escalated == 1
    view = await inbox.get_request(request_id)
    assert (_tasks(view, a), _tasks(view, boss)) == (["escalated"], ["pending"])
    await _refused(engine.approve(request_id, a), ApprovalError.APPROVAL_TASK_NOT_PENDING)
    assert (await engine.sweep_due(t1 + timedelta(seconds=3100))).reminded == 1
    report = await engine.sweep_due(t1 + timedelta(seconds=3700))  # the boss has no manager: the final action
    assert (report.auto_rejected, report.escalated) == (1, 0)
    view = await inbox.get_request(request_id)
    assert view.status == "rejected" and "超时自动驳回" in view.outcome_reason
    actions = [e.action for e in view.trail]
    assert actions == [
        "opened",
        "step_started",
        "time_reminder",
        "escalated",
        "time_reminder",
        "auto_reject",
        "step_rejected",
        "decided",
    ]
    assert await stock.on_hand() == 10


async def test_expiry_auto_approve_and_keep_escalating_are_never_silent(store: Hub) -> None:
    a, requester = await _user(), await _user()  # a has no manager
    t0 = clock.now()
    approving = await _flow([_step([a], time_limit_s=600, escalations=2, on_expiry="auto_approve")])
    request_id, stock = await _writeoff(approving, requester)
    assert (await engine.sweep_due(t0 + timedelta(seconds=700))).auto_approved == 1
    assert (await inbox.get_request(request_id)).status == "approved" and await stock.on_hand() == 9

    waiting = await _flow([_step([a], time_limit_s=600, on_expiry="keep_escalating")])
    request_id, _ = await _writeoff(waiting, requester)
    assert (await engine.sweep_due(t0 + timedelta(seconds=700))).kept == 1
    assert (await engine.sweep_due(t0 + timedelta(seconds=800))).kept == 0  # re-armed a period later
    view = await inbox.get_request(request_id)
    assert view.status == "pending" and [e.action for e in view.trail][-1] == "kept_waiting"


# ------------------------------------------------------------------------------------------------ versions


async def test_a_flow_edited_mid_approval_leaves_the_request_on_its_version(store: Hub) -> None:
    a, b, c, requester = await _user(), await _user(), await _user(), await _user()
    code = await _flow([_step([a]), _step([b])])
    old, stock = await _writeoff(code, requester)
    edited = await flows.add_version(code, {"kinds": ["stock_writeoff"], "steps": [_step([c])]}, actor="admin")
    assert edited.version == 2 and len(await flows.list_versions(code)) == 2
    await engine.approve(old, a)
    view = await inbox.get_request(old)
    assert view.flow_version == 1 and _tasks(view, b) == ["pending"] and _tasks(view, c) == []
    await engine.approve(old, b)

    new, _ = await _writeoff(code, requester, stock)
    view = await inbox.get_request(new)
    assert view.flow_version == 2 and _tasks(view, c) == ["pending"]
    assert (await flows.get_version(view.flow_version_id)).version == 2

    await flows.set_active(code, False, actor="admin")
    await _refused(_writeoff(code, requester, await _stock()), ApprovalError.APPROVAL_FLOW_INACTIVE)
    assert (await engine.approve(new, c)).status == "approved"  # in flight: goes on
    await _refused(
        flows.add_version(code, {"kinds": ["stock_writeoff"], "steps": [_step([10**8])]}, actor="admin"),
        ApprovalError.APPROVAL_BAD_DEFINITION,
    )


# --------------------------------------------------------------------------------------------------- the trail


async def test_the_audit_chain_detects_an_edited_or_deleted_entry(store: Hub) -> None:
    a, requester = await _user(), await _user()
    request_id, _ = await _writeoff(await _flow([_step([a])]), requester)
    await engine.comment(request_id, a, text="看过了")
    await engine.approve(request_id, a)
    report = await audit.verify(request_id)
    assert report.ok and report.entries >= 5
    everything = await audit.verify()
    assert everything.ok, everything.problems
    trail = (await audit.export(request_id)).entries
    assert [e.seq for e in trail] == list(range(1, len(trail) + 1))
    assert all(e.hash == audit.entry_hash(e.prev_hash, e.entry) for e in trail)
    chain = audit.request_chain(request_id)

    edited = trail[2].entry.replace("看过了", "没看过")
    await db.execute("UPDATE approval_audit SET entry = {} WHERE chain = {} AND seq = 3", edited, chain)
    problems = (await audit.verify(request_id)).problems
    assert [(p.seq, p.problem) for p in problems] == [(3, "edited")]
    await db.execute("UPDATE approval_audit SET entry = {} WHERE chain = {} AND seq = 3", trail[2].entry, chain)
    assert (await audit.verify(request_id)).ok

    await db.execute("UPDATE approval_audit SET actor = {} WHERE chain = {} AND seq = 2", "someone", chain)
    assert [p.problem for p in (await audit.verify(request_id)).problems] == ["mismatch"]
    await db.execute("UPDATE approval_audit SET actor = {} WHERE chain = {} AND seq = 2", trail[1].actor, chain)

    await db.execute("DELETE FROM approval_audit WHERE chain = {} AND seq = 2", chain)
    assert {p.problem for p in (await audit.verify(request_id)).problems} == {"missing", "broken_link"}
    await db.execute("DELETE FROM approval_audit WHERE chain = {} AND seq > 2", chain)
    assert [p.problem for p in (await audit.verify(request_id)).problems] == ["truncated"]
    assert not (await audit.verify()).ok


# -------------------------------------------------------------------------------------------- one decision


@pytest.mark.postgres_only
async def test_parallel_approvers_and_a_tap_delivered_three_times_yield_one_decision(store: Hub) -> None:
    a, b, requester = await _user(), await _user(), await _user()
    flow = await _flow([_step([a, b], "any")])
    for _ in range(3):  # a few rounds: the race is real on separate pooled connections
        request_id, stock = await _writeoff(flow, requester)
        outcomes = await asyncio.gather(
            engine.approve(request_id, a), engine.approve(request_id, b), return_exceptions=True
        )
        won = [o for o in outcomes if isinstance(o, engine.ActionResult)]
        lost = [o for o in outcomes if isinstance(o, Conflict)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        assert lost[0].code in (ApprovalError.APPROVAL_CLOSED, ApprovalError.APPROVAL_TASK_NOT_PENDING)
        assert await stock.on_hand() == 9
        trail = [e.action for e in (await inbox.get_request(request_id)).trail]
        assert trail.count("approved") == 1 and trail.count("decided") == 1

    request_id, stock = await _writeoff(flow, requester)
    key = unique("wecom:task:") + ":agree"
    taps = await asyncio.gather(
        *(engine.approve(request_id, a, key=key) for _ in range(3)),
        engine.reject(request_id, b, reason="不同意", key=unique("wecom:")),
        return_exceptions=True,
    )
    results = [t for t in taps[:3] if isinstance(t, engine.ActionResult)]
    if isinstance(taps[3], engine.ActionResult):  # b was first: every delivery of a's tap is refused alike
        assert all(isinstance(t, Conflict) for t in taps[:3]) and await stock.on_hand() == 10
    else:
        assert len(results) == 3 and [r.duplicate for r in results].count(False) == 1, taps
        assert {(r.status, r.task_id) for r in results} == {("approved", results[0].task_id)}
        assert isinstance(taps[3], Conflict) and await stock.on_hand() == 9
        # The same key for something else is refused.
        await _refused(engine.reject(request_id, a, reason="x", key=key), ApprovalError.APPROVAL_KEY_REUSED)
    view = await inbox.get_request(request_id)
    assert [e.action for e in view.trail].count("decided") == 1
    assert len([t for t in view.tasks if t.status in ("approved", "rejected")]) == 1


async def test_a_repeated_key_answers_with_the_first_outcome(store: Hub) -> None:
    """The same tap delivered again later (one after the other, on any back end): the first outcome, once."""
    a, requester = await _user(), await _user()
    request_id, stock = await _writeoff(await _flow([_step([a])]), requester)
    key = unique("tap:")
    first = await engine.approve(request_id, a, key=key)
    again = [await engine.approve(request_id, a, key=key) for _ in range(2)]
    assert not first.duplicate and all(r.duplicate for r in again)
    assert {(r.status, r.task_id) for r in again} == {(first.status, first.task_id)}
    assert await stock.on_hand() == 9


# ------------------------------------------------------------------------------------------------ definitions


async def test_definitions_are_checked_and_managers_never_cycle(store: Hub) -> None:
    a = await _user()
    bad: list[dict[str, Any]] = [
        {"kinds": ["stock_writeoff"], "steps": []},
        {"kinds": ["nope"], "steps": [_step([a])]},
        {"kinds": ["stock_writeoff"], "steps": [_step([a], "n_of_m")]},
        {"kinds": ["stock_writeoff"], "steps": [{**_step([a]), "approvers": [{"by": "role", "role": "boss"}]}]},
        {"kinds": ["stock_writeoff"], "steps": [_step([a], time_limit_s=600, remind_before_s=600)]},
        {"kinds": ["stock_writeoff"], "steps": [{**_step([a]), "when": [{"field": "sku_name", "op": "in"}]}]},
    ]
    for definition in bad:
        with pytest.raises(ValidationFailed) as caught:
            await flows.create_flow(flows.NewFlow(code=unique("bad-"), name="坏流程", definition=definition), actor="t")
        assert caught.value.code == ApprovalError.APPROVAL_BAD_DEFINITION, definition
    code = await _flow([_step([a])])
    await _refused(
        flows.create_flow(
            flows.NewFlow(code=code, name="重复", definition=(await flows.get_flow(code)).definition), actor="t"
        ),
        ApprovalError.APPROVAL_FLOW_EXISTS,
    )
    top = await _user("manager")
    middle = await _user(manager=top)
    await _refused(people.set_manager(top, middle), ApprovalError.APPROVAL_BAD_MANAGER)
    await _refused(people.set_manager(top, top), ApprovalError.APPROVAL_BAD_MANAGER)
    assert (await people.manager_of(middle)) is not None
    with pytest.raises(PermissionDenied):
        await engine.approve((await _writeoff(code, a))[0], 10**8)
