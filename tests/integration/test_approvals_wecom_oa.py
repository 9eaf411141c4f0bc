"""Approvals that run in WeCom's own 审批 app (``runs_in: wecom_oa``), through the running hub (API + workers) and the
simulator of WeCom's side (``sandbox/wecom_oa.py``, written from WeCom's docs): a rule-held 5,001 元 order opens its
request, the worker submits it once with ``oa/applyevent`` (the regional manager as approver, production copied, the
order number, amount and reason in the template's controls), the manager approves in WeCom, WeCom's encrypted
``sys_approval_change`` reaches the hub and the order is released to ``ready`` — decided by the manager, in the
order's log and the request's trail; a rejection cancels the order; the same callback three times at once is one
decision; a lost callback is caught by the reconciliation (``oa/getapprovaldetail``); forged callbacks change nothing;
an attempt whose answer was lost — or that was cut short before it stored WeCom's answer — is found again by its
reference instead of submitted twice, the last attempt included; a number another request holds is never adopted;
WeCom's refusal cancels the request with a zh-CN reason; the day's quota waits for midnight; an effect refused for now
(a waybill request in flight) is applied later, one refused for good closes the request with why."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as day_time
from typing import Any

import msgspec
import pytest
from saq.queue.redis import RedisQueue

from orderhub import clock, db
from orderhub.approvals import engine, flows, inbox, oa
from orderhub.approvals.engine import NewRequest
from orderhub.catalog.service import NewSku, create_sku
from orderhub.errors import OrderHubError
from orderhub.inventory.service import NewWarehouse, adjust_stock, create_warehouse
from orderhub.notifications import config
from orderhub.queue import JobName, enqueue
from sandbox.wechat import WeChatServer, running_wechat
from sandbox.wecom_oa import OaApproval, OaDesk, OaTemplate, oa_desk
from tests.integration.test_picking import Floor
from tests.integration.test_waybills import _packed_order
from tests.support.factories import Api, create_channel, unique, wait_for_orders
from tests.support.hub import Hub
from tests.support.wecom import WeComApp, hold_big_order, on_hand, open_writeoff, stock_to_write_off

CALLBACK = "/api/v1/wecom/approvals/callback"
ORDER_NO, AMOUNT, REASON, REF = "Text-1590000001", "Money-1590000002", "Textarea-1590000003", "Text-1590000004"


@pytest.fixture(scope="module")
def wechat() -> Iterator[WeChatServer]:
    with running_wechat() as server:
        yield server


@dataclass
class WeComOa(WeComApp):
    """The hub's WeCom app at the simulator (callback URL pointing at the hub) and the corp's 审批 app."""

    template: OaTemplate

    @property
    def desk(self) -> OaDesk:
        return oa_desk(self.sim.store)

    def creator(self) -> str:
        """A WeCom member who submits the requests rules open (the flow's creator_userid)."""
        userid = unique("sub").lower()
        self.sim.store.add_wecom_user(self.app.corp_id, userid)
        return userid

    async def act(self, action: str, sp_no: str, userid: str | None, **kwargs: Any) -> Any:
        call = getattr(self.desk, action)
        return await asyncio.to_thread(call, sp_no, userid, **kwargs)


class _Userid(msgspec.Struct):
    wecom_userid: str


@pytest.fixture(scope="module")
async def wecom(api: Api, store: Hub, wechat: WeChatServer) -> AsyncIterator[WeComOa]:
    app = wechat.store.create_corp()
    wechat.store.set_callback(app.corp_id, app.agent_id, f"{store.url}{CALLBACK}")
    await WeComApp(wechat, app, api).configure()
    # One corp holds the whole staff: everyone earlier tests gave a WeCom userid is a member here too (a role in a
    # region can name managers other modules created).
    known = await db.fetch_as(_Userid, "SELECT wecom_userid FROM app_user WHERE wecom_userid <> ''")
    wechat.store.add_wecom_user(app.corp_id, *(row.wecom_userid for row in known))
    template = oa_desk(wechat.store).add_template(
        app.corp_id,
        name="订单审批",
        controls=[
            (ORDER_NO, "Text", "订单号", True),
            (AMOUNT, "Money", "金额", True),
            (REASON, "Textarea", "审批原因", True),
            (REF, "Text", "中枢单号", False),
        ],
    )
    yield WeComOa(wechat, app, api, template)


def _settings(template: OaTemplate, **extra: Any) -> dict[str, Any]:
    return {
        "template_id": template.template_id,
        "controls": [
            {"id": ORDER_NO, "value": "order_no"},
            {"id": AMOUNT, "control": "Money", "value": "amount"},
            {"id": REASON, "control": "Textarea", "value": "reason"},
            {"id": REF, "value": "ref"},
        ],
        "summary": ["subject", "amount", "reason"],
        **extra,
    }


async def _native_flow(wecom: WeComOa, approvers: list[int], kinds: list[str], mode: str = "any") -> str:
    code = unique("oa-flow-")
    step = {"name": "主管审批", "approvers": [{"by": "user", "user_ids": approvers}], "mode": mode}
    definition = {"kinds": kinds, "steps": [step], "runs_in": "wecom_oa", "wecom_oa": _settings(wecom.template)}
    await flows.create_flow(flows.NewFlow(code=code, name="企业微信审批", definition=definition), actor="test")
    return code


async def _writeoff_flow(wecom: WeComOa, approvers: list[int], mode: str = "any") -> tuple[str, str, str]:
    """A write-off flow that runs in WeCom's 审批 app, and a stock row to write off: (flow, warehouse, sku)."""
    code = await _native_flow(wecom, approvers, ["stock_writeoff"], mode)
    warehouse, sku = await stock_to_write_off()
    return code, warehouse, sku


async def _submitted(request_id: int, timeout: float = 30) -> str:
    """The request's WeCom approval number, once the worker submitted it."""
    deadline = time.monotonic() + timeout
    while True:
        view = await oa.get_oa(request_id)
        assert view is not None, request_id
        if view.status == "submitted" and view.sp_no:
            return view.sp_no
        assert view.status not in ("failed", "superseded"), (view.status, view.error_code, view.error_message)
        assert time.monotonic() < deadline, (view.status, view.error_code, view.error_message)
        await asyncio.sleep(0.2)


async def _status(request_id: int, wanted: str, timeout: float = 30) -> inbox.RequestView:
    deadline = time.monotonic() + timeout
    while True:
        view = await inbox.get_request(request_id)
        if view.status == wanted:
            return view
        assert time.monotonic() < deadline, (view.status, wanted, [e.action for e in view.trail])
        await asyncio.sleep(0.2)


def _decisions(view: inbox.RequestView) -> int:
    return [e.action for e in view.trail].count("decided")


class _Key(msgspec.Struct):
    idem_key: str


async def _keys(request_id: int) -> list[str]:
    rows = await db.fetch_as(
        _Key, "SELECT idem_key FROM approval_action WHERE request = {} AND idem_key IS NOT NULL", request_id
    )
    return [r.idem_key for r in rows]


async def _held_order(wecom: WeComOa, api: Api, region_manager: bool = True) -> dict[str, Any]:
    """A flow that runs in WeCom's 审批 app for orders over 5,000 元, a rule holding them for it, and a 5,001 元 order
    held: {order_id, request_id, sp_no, manager…}."""
    warehouse = await create_warehouse(NewWarehouse(code=unique("WH"), name="华东仓", region="华东"))
    channel, _ = await create_channel(api, warehouse=warehouse.code)
    manager, manager_wx, manager_name = await wecom.person("manager", warehouse=warehouse.code)
    production, production_wx, _ = await wecom.person("approver")
    creator = wecom.creator()
    flow = unique("oa-big-")
    await flows.create_flow(
        flows.NewFlow(
            code=flow,
            name="大额订单审批（企业微信）",
            definition={
                "kinds": ["order_hold"],
                "entry": [{"field": "paid_amount", "op": ">", "value": 500000}],
                "runs_in": "wecom_oa",
                "wecom_oa": _settings(wecom.template, creator_userid=creator),
                "steps": [
                    {
                        "name": "区域经理审批",
                        "approvers": [{"by": "role_in_region", "role": "manager"}],
                        "mode": "any",
                        "cc": [{"by": "user", "user_ids": [production]}],
                    }
                ],
            },
        ),
        actor="admin",
    )
    sku = (await create_sku(NewSku(code=unique("OC-"), name="定制保温杯"))).code
    await adjust_stock(sku=sku, warehouse=warehouse.code, delta=None, set_to=20, reason="盘点", actor="test")
    rule_id, order_id, order = await hold_big_order(api, channel=channel, flow=flow, sku=sku)
    held = (await wait_for_orders(api, [order_id]))[order_id]
    assert (held["status"], held["hold_queue"]) == ("held", "approval"), held
    (summary,) = await inbox.list_requests(order_id=order_id, kind="order_hold")
    return {
        "order_id": order_id,
        "external_id": order["external_id"],
        "channel": channel,
        "rule_id": rule_id,
        "request_id": summary.id,
        "sp_no": await _submitted(summary.id),
        "manager": manager,
        "manager_wx": manager_wx,
        "manager_name": manager_name,
        "production_wx": production_wx,
        "creator": creator,
    }


async def _drop_rule(api: Api, rule_id: int) -> None:
    async with api.client() as client:
        assert (await client.delete(f"/api/v1/rules/{rule_id}")).status_code == 204


async def _order(api: Api, order_id: int) -> dict[str, Any]:
    async with api.client() as client:
        r = await client.get(f"/api/v1/orders/{order_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())


# ------------------------------------------------------------------------------------------------------- tests


async def test_a_held_order_is_approved_in_wecoms_approval_app_and_released(
    wecom: WeComOa, api: Api, queue: RedisQueue
) -> None:
    held = await _held_order(wecom, api)
    try:
        request_id, sp_no = held["request_id"], held["sp_no"]
        # Submitted once, as the flow's submitter, to the regional manager, production copied, the order's facts in
        # the template's controls.
        approval = wecom.desk.approval(sp_no)
        assert approval.creator == held["creator"] and approval.template_id == wecom.template.template_id
        # One 或签 node of the region's managers (earlier tests' managers in 华东 among them).
        ((attr, approvers),) = [(n.attr, [d.userid for d in n.details]) for n in approval.nodes]
        assert attr == 1 and held["manager_wx"] in approvers
        assert approval.notifyer == [held["production_wx"]]
        assert approval.field_value(ORDER_NO) == {"text": f"{held['channel']}/{held['external_id']}"}
        assert approval.field_value(AMOUNT) == {"new_money": "5001.00"}
        assert "要求审批" in approval.field_value(REASON)["text"]
        assert approval.field_value(REF) == {"text": f"订单中枢 #{request_id}"}
        assert approval.summary[1] == "金额：¥5,001.00" and all(len(line) <= 20 for line in approval.summary)
        assert len([a for a in wecom.desk.approvals_of(wecom.app.corp_id) if a.creator == held["creator"]]) == 1
        pending = await inbox.get_request(request_id)
        assert pending.status == "pending" and pending.tasks == []  # nobody decides it in the hub
        assert "sent_to_wecom" in [e.action for e in pending.trail]

        # The hub refuses to decide or withdraw it: WeCom does. Its detail says so, and offers no such button.
        async with api.client() as client:
            r = await client.post(f"/api/v1/approvals/requests/{request_id}/approve")
            assert r.status_code == 409 and r.json()["code"] == "approval_runs_in_wecom", r.text
            detail = (await client.get(f"/api/v1/approvals/requests/{request_id}")).json()
            assert (detail["runs_in"], detail["wecom_sp_no"]) == ("wecom_oa", sp_no)
            assert detail["my_actions"] == ["comment", "remind"]
        with pytest.raises(OrderHubError) as refused:
            await engine.withdraw(request_id, held["manager"])
        assert refused.value.code == "approval_withdraw_in_wecom"

        # 同意 in WeCom: the callback arrives, the order goes on to ready, decided by the manager.
        result = await wecom.act("approve", sp_no, held["manager_wx"], speech="可以发")
        assert result.accepted and all(d.status == 200 for d in result.deliveries), result.deliveries
        ready = (await wait_for_orders(api, [held["order_id"]], done=frozenset({"ready"})))[held["order_id"]]
        assert ready["status"] == "ready"
        done = await inbox.get_request(request_id)
        assert (done.status, done.decided_by_id, done.decided_by_name) == (
            "approved",
            held["manager"],
            held["manager_name"],
        )
        assert done.outcome_reason == "企业微信审批通过：可以发" and _decisions(done) == 1
        (decided,) = [e for e in done.trail if e.action == "decided_in_wecom"]
        assert decided.data["sp_no"] == sp_no and decided.data["wecom_userid"] == held["manager_wx"]
        order = await _order(api, held["order_id"])
        (logged,) = [e for e in order["events"] if e["type"] == "order.approval_decided"]
        assert logged["data"]["by_user_id"] == held["manager"] and logged["data"]["request_id"] == request_id
        assert (await oa.get_oa(request_id)).wecom_status == 2  # type: ignore[union-attr]
    finally:
        await _drop_rule(api, held["rule_id"])


async def test_a_rejection_in_wecom_cancels_the_held_order(wecom: WeComOa, api: Api, queue: RedisQueue) -> None:
    held = await _held_order(wecom, api)
    try:
        result = await wecom.act("reject", held["sp_no"], held["manager_wx"], speech="价格不对")
        assert result.accepted
        cancelled = (await wait_for_orders(api, [held["order_id"]], done=frozenset({"cancelled"})))[held["order_id"]]
        assert cancelled["status"] == "cancelled"
        done = await _status(held["request_id"], "rejected")
        assert done.decided_by_id == held["manager"] and done.outcome_reason == "企业微信驳回：价格不对"
    finally:
        await _drop_rule(api, held["rule_id"])


async def test_the_same_callback_three_times_at_once_is_one_decision(wecom: WeComOa, queue: RedisQueue) -> None:
    (approver, approver_wx, name), (requester, requester_wx, _) = [await wecom.person() for _ in range(2)]
    flow, warehouse, sku = await _writeoff_flow(wecom, [approver])
    request_id = await open_writeoff(flow, warehouse, sku, requester)
    sp_no = await _submitted(request_id)
    assert wecom.desk.approval(sp_no).creator == requester_wx  # the requester submits it in WeCom
    result = await wecom.act("approve", sp_no, approver_wx, duplicate=3, concurrent=True)
    assert [d.status for d in result.deliveries] == [200, 200, 200], result.deliveries
    view = await _status(request_id, "approved")
    assert (_decisions(view), view.decided_by_name) == (1, name)
    assert await on_hand(warehouse, sku) == 9  # the write-off made once
    assert await _keys(request_id) == [f"wecom_oa:{sp_no}:2"]
    # Delivered again later, and an older state (审批中) arriving after it: nothing more happens.
    again = await asyncio.to_thread(wecom.desk.redeliver, sp_no)
    assert again.accepted
    final = await inbox.get_request(request_id)
    assert _decisions(final) == 1 and len(final.trail) == len(view.trail) and await on_hand(warehouse, sku) == 9

    # The requester revokes in WeCom (撤销): the request is withdrawn, nothing written off.
    request_id = await open_writeoff(flow, warehouse, sku, requester)
    sp_no = await _submitted(request_id)
    assert (await wecom.act("revoke", sp_no, requester_wx)).accepted
    withdrawn = await _status(request_id, "withdrawn")
    assert withdrawn.decided_by_id == requester and await on_hand(warehouse, sku) == 9


async def test_a_lost_callback_is_caught_by_the_reconciliation(wecom: WeComOa, queue: RedisQueue) -> None:
    (approver, approver_wx, _), (requester, _, _) = [await wecom.person() for _ in range(2)]
    flow, warehouse, sku = await _writeoff_flow(wecom, [approver])
    request_id = await open_writeoff(flow, warehouse, sku, requester)
    sp_no = await _submitted(request_id)
    view = await oa.get_oa(request_id)
    assert view is not None and view.check_at is not None and view.check_at > clock.now()
    assert (await wecom.act("approve", sp_no, approver_wx, deliver=False)).deliveries == []  # WeCom's call is lost
    await asyncio.sleep(1)
    assert (await inbox.get_request(request_id)).status == "pending"
    # A while later (the check is due now), the worker's reconciliation reads it from WeCom and decides.
    await db.execute("UPDATE approval_oa SET check_at = {} WHERE request = {}", clock.now(), request_id)
    await enqueue(JobName.RECONCILE_APPROVAL_OA, key=unique("reconcile-"))
    done = await _status(request_id, "approved")
    (decided,) = [e for e in done.trail if e.action == "decided_in_wecom"]
    assert decided.data["source"] == "reconcile" and done.decided_by_id == approver
    assert await on_hand(warehouse, sku) == 9
    # The callback arriving late after all: one decision still.
    assert (await asyncio.to_thread(wecom.desk.redeliver, sp_no)).accepted
    assert _decisions(await inbox.get_request(request_id)) == 1 and await on_hand(warehouse, sku) == 9


async def test_forged_callbacks_change_nothing(wecom: WeComOa, queue: RedisQueue) -> None:
    (approver, _, _), (requester, _, _) = [await wecom.person() for _ in range(2)]
    flow, warehouse, sku = await _writeoff_flow(wecom, [approver])
    request_id = await open_writeoff(flow, warehouse, sku, requester)
    sp_no = await _submitted(request_id)
    before = await inbox.get_request(request_id)
    for tamper in ("signature", "key", "receiveid"):
        forged = await asyncio.to_thread(wecom.desk.forge, sp_no, tamper=tamper)
        assert forged.status == 403, (tamper, forged.status, forged.answer)
    after = await inbox.get_request(request_id)
    assert after.status == "pending" and len(after.trail) == len(before.trail)
    assert await on_hand(warehouse, sku) == 10 and wecom.desk.approval(sp_no).status == 1


async def test_an_attempt_whose_answer_was_lost_is_found_not_submitted_twice(wecom: WeComOa, queue: RedisQueue) -> None:
    (approver, approver_wx, _), (requester, requester_wx, _) = [await wecom.person() for _ in range(2)]
    flow, warehouse, sku = await _writeoff_flow(wecom, [approver])
    wecom.desk.lose_next_answers(1)  # WeCom creates the approval, the hub gets an HTTP 502
    request_id = await open_writeoff(flow, warehouse, sku, requester)
    deadline = time.monotonic() + 30
    while not ((view := await oa.get_oa(request_id)) and view.uncertain and view.status == "pending"):
        assert time.monotonic() < deadline, view
        await asyncio.sleep(0.2)
    # The retry (due now rather than after its backoff) looks first, and finds it.
    await db.execute("UPDATE approval_oa SET not_before = {} WHERE request = {}", clock.now(), request_id)
    await enqueue(JobName.RECONCILE_APPROVAL_OA, key=unique("reconcile-"))
    sp_no = await _submitted(request_id)
    mine = [a for a in wecom.desk.approvals_of(wecom.app.corp_id) if a.creator == requester_wx]
    assert [a.sp_no for a in mine] == [sp_no]
    view = await oa.get_oa(request_id)
    assert view is not None and view.error_code == "oa_found_after_retry" and not view.uncertain
    assert (await wecom.act("approve", sp_no, approver_wx)).accepted
    await _status(request_id, "approved")


async def test_wecoms_refusal_cancels_the_request(wecom: WeComOa, queue: RedisQueue) -> None:
    (approver, _, _), (requester, _, _) = [await wecom.person() for _ in range(2)]
    flow, warehouse, sku = await _writeoff_flow(wecom, [approver])
    wecom.desk.disable(wecom.app.corp_id)  # 301056 审批应用已停用
    try:
        request_id = await open_writeoff(flow, warehouse, sku, requester)
        cancelled = await _status(request_id, "cancelled")
    finally:
        wecom.desk.disable(wecom.app.corp_id, False)
    # People read why in zh-CN; WeCom's English errmsg is kept on the submission (and in the logs) only.
    assert cancelled.outcome_reason == "企业微信审批提交失败（301056）：企业微信审批应用已停用"
    view = await oa.get_oa(request_id)
    assert view is not None and (view.status, view.error_code) == ("failed", "301056")
    assert view.error_message.startswith("approval app is disabled")
    assert await on_hand(warehouse, sku) == 10


async def test_a_native_flow_is_checked_when_saved(wecom: WeComOa, api: Api) -> None:
    step = {"name": "审批", "approvers": [{"by": "role", "role": "manager"}]}
    settings = _settings(wecom.template)
    cases = [
        ({"kinds": ["stock_writeoff"], "steps": [step], "runs_in": "wecom_oa"}, "definition.wecom_oa"),
        ({"kinds": ["stock_writeoff"], "steps": [step], "wecom_oa": settings}, "definition.wecom_oa"),
        (
            {"kinds": ["order_hold"], "steps": [step], "runs_in": "wecom_oa", "wecom_oa": settings},
            "definition.wecom_oa.creator_userid",
        ),
        (
            {
                "kinds": ["stock_writeoff"],
                "steps": [{**step, "mode": "n_of_m", "n": 1}],
                "runs_in": "wecom_oa",
                "wecom_oa": settings,
            },
            "definition.steps[0].mode",
        ),
        (
            {
                "kinds": ["stock_writeoff"],
                "steps": [{**step, "time_limit_s": 3600}],
                "runs_in": "wecom_oa",
                "wecom_oa": settings,
            },
            "definition.steps[0].time_limit_s",
        ),
        (
            {
                "kinds": ["stock_writeoff"],
                "steps": [step],
                "runs_in": "wecom_oa",
                "wecom_oa": {**settings, "controls": [{"id": REASON, "control": "Money", "value": "reason"}]},
            },
            "definition.wecom_oa.controls[0].value",
        ),
        (
            {
                "kinds": ["stock_writeoff"],
                "steps": [step],
                "runs_in": "wecom_oa",
                "wecom_oa": {**settings, "summary": ["subject", "amount", "reason", "ref"]},
            },
            "definition.wecom_oa.summary",
        ),
        (  # no control carries the hub's reference: a lost submission could not be told from the others
            {
                "kinds": ["stock_writeoff"],
                "steps": [step],
                "runs_in": "wecom_oa",
                "wecom_oa": {**settings, "controls": [c for c in settings["controls"] if c["value"] != "ref"]},
            },
            "definition.wecom_oa.controls",
        ),
    ]
    async with api.client() as client:
        for definition, field in cases:
            r = await client.post(
                "/api/v1/approvals/flows",
                json={"code": unique("bad-"), "name": "企业微信审批", "definition": definition},
            )
            assert r.status_code == 422, (definition, r.text)
            assert (r.json()["code"], r.json()["field"]) == ("approval_bad_definition", field), r.text
        good = {"kinds": ["stock_writeoff"], "steps": [step], "runs_in": "wecom_oa", "wecom_oa": settings}
        r = await client.post(
            "/api/v1/approvals/flows", json={"code": unique("ok-"), "name": "企业微信审批", "definition": good}
        )
        assert r.status_code == 201, r.text
        assert r.json()["definition"]["runs_in"] == "wecom_oa"
        assert r.json()["definition"]["wecom_oa"]["template_id"] == wecom.template.template_id


# ------------------------------------------------------------------------------------ submissions cut short, lost


def _mine(wecom: WeComOa, creator: str) -> list[OaApproval]:
    return [a for a in wecom.desk.approvals_of(wecom.app.corp_id) if a.creator == creator]


async def _reconcile() -> None:
    await enqueue(JobName.RECONCILE_APPROVAL_OA, key=unique("reconcile-"))


async def test_an_attempt_cut_short_after_wecom_answered_is_found_not_submitted_again(
    wecom: WeComOa, queue: RedisQueue
) -> None:
    (approver, approver_wx, _), (requester, requester_wx, _) = [await wecom.person() for _ in range(2)]
    flow, warehouse, sku = await _writeoff_flow(wecom, [approver])
    request_id = await open_writeoff(flow, warehouse, sku, requester)
    sp_no = await _submitted(request_id)
    # As if the worker had been cut short after WeCom answered and before the number was stored (its job cancelled
    # inside the call — SIGTERM, the job's timeout —, or the database failing then): the row left submitting, not
    # marked uncertain, until its lease ran out.
    await db.execute("UPDATE approval_request SET sp_no = NULL WHERE id = {}", request_id)
    await db.execute(
        "UPDATE approval_oa SET status = 'submitting', claim = 'cut-short', uncertain = {}, lease_until = {}, "
        "submitted_at = NULL, check_at = NULL, error_code = '' WHERE request = {}",
        False,
        clock.now() - timedelta(seconds=1),
        request_id,
    )
    await _reconcile()  # the next worker takes the row over: it looks first, and finds WeCom's approval
    assert await _submitted(request_id) == sp_no
    assert [a.sp_no for a in _mine(wecom, requester_wx)] == [sp_no]  # never two approvals for one request
    view = await oa.get_oa(request_id)
    assert view is not None and view.error_code == "oa_found_after_retry" and not view.uncertain
    assert (await wecom.act("approve", sp_no, approver_wx)).accepted
    await _status(request_id, "approved")


async def test_the_last_attempt_looks_once_more_before_giving_up(wecom: WeComOa, queue: RedisQueue) -> None:
    (approver, _, _), (requester, requester_wx, _) = [await wecom.person() for _ in range(2)]
    flow, warehouse, sku = await _writeoff_flow(wecom, [approver])
    wecom.desk.fail_next(errcode=-1)  # 系统繁忙: the first attempt fails for sure, retried with backoff
    request_id = await open_writeoff(flow, warehouse, sku, requester)
    deadline = time.monotonic() + 30
    while not ((view := await oa.get_oa(request_id)) and view.status == "pending" and view.error_code == "-1"):
        assert time.monotonic() < deadline, view
        await asyncio.sleep(0.2)
    # The next attempt is the last; WeCom creates the approval and its answer is lost.
    last = (await config.load_settings()).max_attempts
    wecom.desk.lose_next_answers(1)
    await db.execute(
        "UPDATE approval_oa SET attempts = {}, not_before = {} WHERE request = {}", last - 1, clock.now(), request_id
    )
    await _reconcile()
    sp_no = await _submitted(request_id)  # found by one last look, not cancelled
    assert [a.sp_no for a in _mine(wecom, requester_wx)] == [sp_no]
    view = await oa.get_oa(request_id)
    assert view is not None and (view.attempts, view.error_code) == (last, "oa_found_after_retry")
    assert (await inbox.get_request(request_id)).status == "pending"


async def test_a_number_another_request_holds_is_never_adopted(wecom: WeComOa, queue: RedisQueue) -> None:
    (approver, _, _), (requester, requester_wx, _) = [await wecom.person() for _ in range(2)]
    flow, warehouse, sku = await _writeoff_flow(wecom, [approver])
    first = await open_writeoff(flow, warehouse, sku, requester)
    sku2 = await create_sku(NewSku(code=unique("OS-"), name="企微审批商品二"))
    await adjust_stock(sku=sku2.code, warehouse=warehouse, delta=None, set_to=10, reason="盘点", actor="test")
    second = await open_writeoff(flow, warehouse, sku2.code, requester)
    first_no, second_no = await _submitted(first), await _submitted(second)
    # The second's number lost again, its row held by a worker that (racing another look) matched the first's
    # approval: storing it is refused by the unique number, nothing written.
    await db.execute("UPDATE approval_request SET sp_no = NULL WHERE id = {}", second)
    await db.execute(
        "UPDATE approval_oa SET status = 'submitting', claim = 'racing', lease_until = {} WHERE request = {}",
        clock.now() + timedelta(seconds=60),
        second,
    )
    row = await db.fetch_one_as(oa._Row, f"SELECT {oa._COLUMNS} FROM approval_oa WHERE request = {{}}", second)
    assert row is not None
    assert await oa._store(row, first_no, clock.now(), found=True) is False
    assert (await oa.get_oa(second)).sp_no is None  # type: ignore[union-attr]
    # Its lease over, the next worker looks (the same submitter's two approvals in the span) and keeps its own:
    # recognised by its reference, 订单中枢 #<id>.
    await db.execute("UPDATE approval_oa SET lease_until = {} WHERE request = {}", clock.now(), second)
    await _reconcile()
    assert await _submitted(second) == second_no
    assert sorted(a.sp_no for a in _mine(wecom, requester_wx)) == sorted([first_no, second_no])


async def test_the_days_quota_waits_for_midnight(wecom: WeComOa, queue: RedisQueue) -> None:
    (approver, _, _), (requester, _, _) = [await wecom.person() for _ in range(2)]
    flow, warehouse, sku = await _writeoff_flow(wecom, [approver])
    wecom.desk.fail_next(errcode=45009)  # 接口调用超过限制 (90313): the day's quota
    request_id = await open_writeoff(flow, warehouse, sku, requester)
    deadline = time.monotonic() + 30
    while not ((view := await oa.get_oa(request_id)) and view.status == "pending" and view.error_code == "45009"):
        assert time.monotonic() < deadline, view
        await asyncio.sleep(0.2)
    assert view.attempts == 0  # not counted
    row = await db.fetch_one_as(_NotBefore, "SELECT not_before FROM approval_oa WHERE request = {}", request_id)
    assert row is not None
    tomorrow = clock.to_shanghai(clock.now()).date() + timedelta(days=1)
    assert row.not_before >= datetime.combine(tomorrow, day_time(0), tzinfo=clock.SHANGHAI)
    await db.execute("UPDATE approval_oa SET not_before = {} WHERE request = {}", clock.now(), request_id)
    await _reconcile()
    await _submitted(request_id)


class _NotBefore(msgspec.Struct):
    not_before: datetime


# ------------------------------------------------------------------------------------- effects refused in the hub


async def test_an_effect_refused_for_good_closes_the_request_with_why(wecom: WeComOa, queue: RedisQueue) -> None:
    (approver, approver_wx, _), (requester, _, _) = [await wecom.person() for _ in range(2)]
    flow, warehouse, sku = await _writeoff_flow(wecom, [approver])
    request_id = await open_writeoff(flow, warehouse, sku, requester)
    sp_no = await _submitted(request_id)
    # Meanwhile the stock was counted at 0: writing one more off would go below what is reserved.
    await adjust_stock(sku=sku, warehouse=warehouse, delta=None, set_to=0, reason="盘点", actor="test")
    result = await wecom.act("approve", sp_no, approver_wx)
    assert result.accepted and all(d.status == 200 for d in result.deliveries), result.deliveries
    cancelled = await _status(request_id, "cancelled")
    assert cancelled.outcome_reason.startswith("企业微信审批通过，但无法执行：调整后库存不能低于已占用数量")
    (refused,) = [e for e in cancelled.trail if e.action == "wecom_effect_refused"]
    assert refused.data["code"] == "stock_below_reserved" and refused.data["sp_no"] == sp_no
    assert await on_hand(warehouse, sku) == 0
    # WeCom delivering it again changes nothing.
    assert (await asyncio.to_thread(wecom.desk.redeliver, sp_no)).accepted
    assert len((await inbox.get_request(request_id)).trail) == len(cancelled.trail)


async def test_an_effect_refused_for_now_is_applied_later(
    api: Api, store: Hub, wecom: WeComOa, queue: RedisQueue
) -> None:
    floor = await Floor(api, store.url).setup(pick_mode="order")
    order_id, station, _ = await _packed_order(floor)
    await station.close()
    (approver, approver_wx, name), (requester, _, _) = [await wecom.person() for _ in range(2)]
    flow = await _native_flow(wecom, [approver], ["cancel_after_pick"])
    request_id = await engine.open_request(
        NewRequest(
            kind="cancel_after_pick",
            order_id=order_id,
            flow=flow,
            requester_id=requester,
            payload={"reason": "客户不要了"},
            reason="客户不要了",
        )
    )
    sp_no = await _submitted(request_id)
    # A packer's waybill request for the order is in flight (no answer yet): its waybill cannot be voided now.
    await _waybill_in_flight(order_id, floor.warehouse)
    result = await wecom.act("approve", sp_no, approver_wx)
    assert result.accepted and all(d.status == 200 for d in result.deliveries), result.deliveries
    waiting = await inbox.get_request(request_id)
    assert waiting.status == "pending" and "wecom_effect_refused" not in [e.action for e in waiting.trail]
    view = await oa.get_oa(request_id)
    assert view is not None and view.error_code == "waybill_request_pending" and view.check_at is not None
    assert view.check_at <= clock.now() + timedelta(seconds=31)  # read again soon, not in ten minutes
    assert (await _order(api, order_id))["status"] == "packed"
    # Someone checked at the carrier and released the request; the next read applies WeCom's approval.
    async with api.client() as client:
        r = await client.delete(f"/api/v1/orders/{order_id}/waybill-request")
        assert r.status_code in (200, 204), r.text
    await db.execute("UPDATE approval_oa SET check_at = {} WHERE request = {}", clock.now(), request_id)
    await _reconcile()
    done = await _status(request_id, "approved")
    assert (done.decided_by_id, done.decided_by_name) == (approver, name)
    (decided,) = [e for e in done.trail if e.action == "decided_in_wecom"]
    assert decided.data["source"] == "reconcile"
    cancelled = (await wait_for_orders(api, [order_id], done=frozenset({"cancelled"})))[order_id]
    assert cancelled["status"] == "cancelled"


class _Id(msgspec.Struct):
    id: int


async def _waybill_in_flight(order_id: int, warehouse: str) -> None:
    """A waybill request for the order sent to the carrier and not answered yet (status requesting)."""
    (wh,) = await db.fetch_as(_Id, "SELECT id FROM warehouse WHERE code = {}", warehouse)
    (account,) = await db.execute_returning(
        _Id,
        "INSERT INTO carrier_account (code, carrier, warehouse, credentials, sender_name, sender_phone, priority, "
        "active, created_at) VALUES ({}, 'SF', {}, '', '', '', 0, {}, {}) RETURNING id",
        unique("oa-sf-"),
        wh.id,
        False,
        clock.now(),
    )
    await db.execute(
        'INSERT INTO waybill (order_ref, "order", warehouse, account, carrier, waybill_no, sort_code, '
        "destination_code, reason, price_fen, weight_g, status, created_by, created_at) "
        "VALUES ({}, {}, {}, {}, 'SF', '', '', '', '', NULL, 0, 'requesting', 'test', {})",
        f"OH{order_id}-W{wh.id}",
        order_id,
        wh.id,
        account.id,
        clock.now(),
    )
