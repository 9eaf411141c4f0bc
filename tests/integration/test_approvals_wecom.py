"""Approvals decided with one tap in 企业微信, through the running hub (API + workers) and the WeCom simulator
(``sandbox/wechat.py``, written from WeCom's docs): the seed's example end to end (a 5,001 元 order with a 定制 SKU →
the regional manager's 同意 / 驳回 card, production copied → a tap on 同意 → the order reaches ``ready`` and every
card says "已由…同意"); two approvers tapping at once while one tap is delivered three times → one decision; forged
callbacks and replayed ones (verbatim, and signed long ago) refused with nothing changed; WeCom's echostr check of
the callback URL; and the per-member limit (30 a minute) queueing cards instead of letting WeCom drop them."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import pytest
from saq.queue.redis import RedisQueue

from orderhub import clock, db
from orderhub import redis as redis_mod
from orderhub.approvals import cards, engine, flows, inbox
from orderhub.catalog.service import NewSku, create_sku
from orderhub.inventory.service import NewWarehouse, adjust_stock, create_warehouse
from sandbox.wechat import CorpApp, WeChatServer, running_wechat
from sandbox.wecom_callback import CallbackRequest, envelope_xml, send_once
from tests.support.factories import Api, create_channel, unique, wait_for_orders
from tests.support.hub import Hub
from tests.support.wecom import WeComApp, hold_big_order, on_hand, open_writeoff, writeoff_flow

CALLBACK = "/api/v1/wecom/approvals/callback"


@pytest.fixture(scope="module")
def wechat() -> Iterator[WeChatServer]:
    with running_wechat() as server:
        yield server


class WeCom(WeComApp):
    """The hub's WeCom app at the simulator, with its callback URL pointing at the hub; its approval cards."""

    async def card(self, request_id: int, user_id: int, *, kind: str = "decide", timeout: float = 30) -> cards.CardView:
        """The person's card of the request, once sent."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in await cards.list_cards(request_id) if c.assignee_id == user_id and c.kind == kind]
            if found and found[0].status not in ("pending", "sending"):
                assert found[0].status == "sent", found[0]
                return found[0]
            assert time.monotonic() < deadline, (request_id, user_id, found)
            await asyncio.sleep(0.2)

    async def click(self, userid: str, card_id: str, action: str, task_id: int, **kwargs: Any) -> Any:
        return await asyncio.to_thread(
            self.store.click,
            self.app.corp_id,
            self.app.agent_id,
            userid,
            card_id,
            cards.button_key(action, task_id),
            **kwargs,
        )

    def state(self, card: cards.CardView) -> Any:
        return self.store.card_state(self.app.corp_id, self.app.agent_id, card.card_id, card.wecom_userid)

    async def shows(self, card: cards.CardView, text: str, timeout: float = 30) -> None:
        """Wait until the card's buttons are greyed out with ``text`` at WeCom."""
        deadline = time.monotonic() + timeout
        while self.state(card).replace_name != text:
            assert time.monotonic() < deadline, (
                self.state(card).replace_name,
                text,
                await cards.list_cards(card.request_id),
            )
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
async def wecom(api: Api, store: Hub, wechat: WeChatServer) -> AsyncIterator[WeCom]:
    app = wechat.store.create_corp()
    wechat.store.set_callback(app.corp_id, app.agent_id, f"{store.url}{CALLBACK}")
    setup = WeCom(wechat, app, api)
    await setup.configure()
    async with api.client() as client:
        r = await client.patch("/api/v1/notify/settings", json={"public_base_url": "https://hub.example.com"})
        assert r.status_code == 200, r.text
    yield setup


def _decisions(view: inbox.RequestView) -> int:
    return [e.action for e in view.trail].count("decided")


# ------------------------------------------------------------------------------------------------------- tests


async def test_the_callback_url_answers_wecoms_echostr_check(wecom: WeCom, store: Hub) -> None:
    result = await asyncio.to_thread(wecom.store.verify_url, wecom.app.corp_id, wecom.app.agent_id)
    assert result.ok and result.delivery.status == 200 and result.delivery.answer == result.echostr.encode()
    assert result.delivery.elapsed < 1.0  # 90930: within 1 s
    # The same check with a signature that is not WeCom's: refused, nothing decrypted.
    bad = dict(result.delivery.request.query)
    bad["msg_signature"] = secrets.token_hex(20)
    async with httpx.AsyncClient(base_url=store.url, timeout=10) as anon:
        r = await anon.get(CALLBACK, params=bad)
        missing = await anon.post(CALLBACK, content=b"<xml/>")
    assert r.status_code == 403 and r.json()["code"] == "approval_wecom_bad_signature", r.text
    assert result.echostr not in r.text
    assert missing.status_code == 422 and missing.json()["code"] == "validation_error", missing.text  # unsigned


async def test_seed_example_one_tap_in_wecom_releases_the_order(wecom: WeCom, api: Api, queue: RedisQueue) -> None:
    """5,001 元 with a 定制 SKU → the regional manager's card (production copied) → 同意 in WeCom → ready."""
    warehouse = await create_warehouse(NewWarehouse(code=unique("WH"), name="华东仓", region="华东"))
    channel, _ = await create_channel(api, warehouse=warehouse.code)
    manager, manager_wx, manager_name = await wecom.person("manager", warehouse=warehouse.code)
    production, production_wx, _ = await wecom.person("approver")
    flow = unique("big-custom-")
    await flows.create_flow(
        flows.NewFlow(
            code=flow,
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
    sku = (await create_sku(NewSku(code=unique("CS-"), name="定制刻字保温杯"))).code
    await adjust_stock(sku=sku, warehouse=warehouse.code, delta=None, set_to=20, reason="盘点", actor="test")
    rule_id, order_id, _ = await hold_big_order(api, channel=channel, flow=flow, sku=sku)
    try:
        held = (await wait_for_orders(api, [order_id]))[order_id]
        assert (held["status"], held["hold_queue"]) == ("held", "approval")
        (summary,) = await inbox.list_requests(order_id=order_id, kind="order_hold")
        request = await inbox.get_request(summary.id)

        # The manager's card: a button_interaction template card with the order, the amount, the reason.
        card = await wecom.card(request.id, manager)
        sim_card = wecom.store.card(wecom.app.corp_id, wecom.app.agent_id, card.card_id)
        sent = sim_card.card
        assert sim_card.card_type == "button_interaction" and sent["task_id"] == card.card_id
        assert sent["main_title"]["title"] == "订单审批" and sent["main_title"]["desc"] == "区域经理审批"
        assert request.reason and request.reason in sent["sub_title_text"]
        rows = {row["keyname"]: row["value"] for row in sent["horizontal_content_list"]}
        assert rows["金额"] == "¥5,001.00" and "定制刻字保温杯" in rows["商品"], rows
        buttons = [(b["text"], b.get("key", ""), b.get("url", "")) for b in sent["button_list"]]
        (task_id,) = [t.id for t in request.tasks if t.assignee_id == manager]
        assert buttons == [
            ("同意", f"oh:approve:{task_id}", ""),
            ("驳回", f"oh:reject:{task_id}", ""),
            ("转交…", "", f"https://hub.example.com/m/#/approvals/{request.id}"),
        ]
        assert sent["button_selection"]["question_key"] == "reject_reason"
        stored = await db.fetch_one_as(_Codes, "SELECT response_code FROM approval_card WHERE id = {}", card.id)
        assert stored is not None and stored.response_code == sim_card.response_code  # kept per (task, person)
        # Production is copied (知会): a read-only notice that opens the request, no buttons.
        copy = await wecom.card(request.id, production, kind="cc")
        (notice,) = [m for m in wecom.store.messages_for(wecom.app.key) if m.recipient == production_wx]
        assert notice.msgtype == "template_card" and notice.body["template_card"]["card_type"] == "text_notice"
        assert "知会" in notice.title and copy.card_id

        # 同意 in WeCom: accepted within WeCom's 5 s, the order goes on to ready.
        click = await wecom.click(manager_wx, card.card_id, "approve", task_id)
        assert click.accepted and all(d.elapsed < 5 for d in click.deliveries), click.deliveries
        ready = (await wait_for_orders(api, [order_id], done=frozenset({"ready"})))[order_id]
        assert ready["status"] == "ready"
        done = await inbox.get_request(request.id)
        assert (done.status, done.decided_by_id, _decisions(done)) == ("approved", manager, 1)
        # Every approver's card of the request now says who decided.
        decided = [c for c in await cards.list_cards(request.id) if c.kind == "decide" and c.status == "sent"]
        assert card.id in [c.id for c in decided]
        for each in decided:
            await wecom.shows(each, f"已由{manager_name}同意")
            assert not wecom.state(each).clickable
        assert manager_wx not in [c.wecom_userid for c in await cards.list_cards(request.id) if c.status == "failed"]
    finally:
        async with api.client() as client:
            assert (await client.delete(f"/api/v1/rules/{rule_id}")).status_code == 204


class _Codes(msgspec.Struct):
    response_code: str | None


async def test_two_approvers_at_once_and_one_tap_delivered_three_times_make_one_decision(
    wecom: WeCom, queue: RedisQueue
) -> None:
    (a, a_wx, a_name), (b, b_wx, b_name), (requester, _, _) = [await wecom.person() for _ in range(3)]
    flow, warehouse, sku = await writeoff_flow([a, b])
    request_id = await open_writeoff(flow, warehouse, sku, requester)
    card_a, card_b = await wecom.card(request_id, a), await wecom.card(request_id, b)
    taps = await asyncio.gather(
        wecom.click(a_wx, card_a.card_id, "approve", card_a.task_id, duplicate=3, concurrent=True),
        wecom.click(b_wx, card_b.card_id, "reject", card_b.task_id, selected={"reject_reason": ["stock"]}),
    )
    for tap in taps:
        assert all(d.status == 200 for d in tap.deliveries), tap.deliveries  # WeCom need not retry any of them
    assert len(taps[0].deliveries) == 3
    view = await inbox.get_request(request_id)
    assert _decisions(view) == 1 and view.status in ("approved", "rejected")
    decided = [t for t in view.tasks if t.status in ("approved", "rejected")]
    assert len(decided) == 1, view.tasks
    if view.status == "approved":
        assert await on_hand(warehouse, sku) == 9
        text = f"已由{a_name}同意"
    else:
        assert await on_hand(warehouse, sku) == 10 and view.outcome_reason == "企业微信驳回：库存或货源不足"
        text = f"已由{b_name}驳回"
    # One action per tap however often it came: the three deliveries of a's tap share one key.
    actions = await db.fetch_as(
        _Key, "SELECT idem_key FROM approval_action WHERE request = {} AND idem_key IS NOT NULL", request_id
    )
    assert len(actions) <= 2 and len({x.idem_key for x in actions}) == len(actions)
    assert all(
        x.idem_key.startswith(f"wecom:{card_a.card_id}:") or x.idem_key.startswith(f"wecom:{card_b.card_id}:")
        for x in actions
    )
    for card in (card_a, card_b):
        await wecom.shows(card, text)

    # The same tap delivered three times at once, nobody else tapping: one approval, the other two answered alike.
    request_id = await open_writeoff(flow, warehouse, sku, requester)
    card_a = await wecom.card(request_id, a)
    tap = await wecom.click(a_wx, card_a.card_id, "approve", card_a.task_id, duplicate=3, concurrent=True)
    assert [d.status for d in tap.deliveries] == [200, 200, 200], tap.deliveries
    view = await inbox.get_request(request_id)
    assert (view.status, _decisions(view), [e.action for e in view.trail].count("approved")) == ("approved", 1, 1)
    actions = await db.fetch_as(
        _Key, "SELECT idem_key FROM approval_action WHERE request = {} AND idem_key IS NOT NULL", request_id
    )
    assert len(actions) == 1 and actions[0].idem_key.startswith(f"wecom:{card_a.card_id}:")
    await wecom.shows(card_a, f"已由{a_name}同意")


class _Key(msgspec.Struct):
    idem_key: str


async def test_forged_and_replayed_callbacks_change_nothing(wecom: WeCom, store: Hub, queue: RedisQueue) -> None:
    (approver, approver_wx, name), (requester, _, _) = [await wecom.person() for _ in range(2)]
    flow, warehouse, sku = await writeoff_flow([approver])
    request_id = await open_writeoff(flow, warehouse, sku, requester)
    card = await wecom.card(request_id, approver)
    before = await inbox.get_request(request_id)
    corp, agent = wecom.app.corp_id, wecom.app.agent_id
    for tamper in ("signature", "key", "receiveid"):
        forged = await asyncio.to_thread(
            wecom.store.forge,
            corp,
            agent,
            approver_wx,
            card.card_id,
            cards.button_key("approve", card.task_id),
            tamper=tamper,
        )
        assert forged.status == 403, (tamper, forged.status, forged.answer)
    after = await inbox.get_request(request_id)
    assert after.status == "pending" and len(after.trail) == len(before.trail) and wecom.state(card).clickable

    # A real tap on 驳回 with no reason picked: rejected as 企业微信驳回 (the token expired meanwhile: refreshed).
    fetches = wecom.store.fetches(wecom.app.key)
    wecom.store.expire_tokens()
    tap = await wecom.click(approver_wx, card.card_id, "reject", card.task_id)
    assert tap.accepted
    decided = await inbox.get_request(request_id)
    assert (decided.status, decided.outcome_reason, _decisions(decided)) == ("rejected", "企业微信驳回", 1)
    await wecom.shows(card, f"已由{name}驳回")
    assert wecom.store.fetches(wecom.app.key) > fetches  # 42001 → a new token, the update retried once

    # The same delivery again, verbatim: answered, no second decision.
    first = tap.deliveries[0]
    again = await asyncio.to_thread(wecom.store.replay, first)
    assert again.status == 200
    # The same tap re-signed as if long ago (an old capture): refused as stale.
    crypto = wecom.store.callback_crypto(corp, agent)
    old = str(int(time.time()) - 3600)
    encrypt = crypto.encrypt(first.plaintext)
    stale = CallbackRequest(
        method="POST",
        url=first.request.url,
        query=(("msg_signature", crypto.signature(old, "42", encrypt)), ("timestamp", old), ("nonce", "42")),
        body=envelope_xml(corp, encrypt, agent).encode("utf-8"),
    )
    status, answer, _, _, _ = await asyncio.to_thread(send_once, stale, timeout=5)
    assert status == 403 and b"approval_wecom_stale" in answer, answer
    final = await inbox.get_request(request_id)
    assert _decisions(final) == 1 and len(final.trail) == len(decided.trail)
    assert await on_hand(warehouse, sku) == 10


async def test_a_reminder_and_a_transfer_reach_wecom(wecom: WeCom, queue: RedisQueue) -> None:
    """催办 reaches the approver as a notice; 转交 (done on the request's page) greys the old card out with who has it
    now and gives the new approver a card of their own, whose tap decides."""
    (a, a_wx, _), (b, b_wx, b_name), (requester, _, _) = [await wecom.person() for _ in range(3)]
    flow, warehouse, sku = await writeoff_flow([a])
    request_id = await open_writeoff(flow, warehouse, sku, requester)
    card_a = await wecom.card(request_id, a)
    await engine.remind(request_id, requester)
    await wecom.card(request_id, a, kind="remind")
    (reminder,) = [m for m in wecom.store.messages_for(wecom.app.key) if m.recipient == a_wx and "催办" in m.title]
    assert reminder.body["template_card"]["card_action"]["url"].endswith(f"/m/#/approvals/{request_id}")

    await engine.transfer(request_id, a, to_user_id=b, comment="我出差，请代批")
    await wecom.shows(card_a, f"已转交给{b_name}")
    card_b = await wecom.card(request_id, b)
    assert (await wecom.click(b_wx, card_b.card_id, "approve", card_b.task_id)).accepted
    await wecom.shows(card_b, f"已由{b_name}同意")
    assert (await inbox.get_request(request_id)).status == "approved" and await on_hand(warehouse, sku) == 9
    # The old card keeps saying who took it over: final for its holder, nothing left owing on it.
    (old,) = [c for c in await cards.list_cards(request_id) if c.id == card_a.id]
    assert (old.shown_text, old.update_status) == (f"已转交给{b_name}", "done")
    assert wecom.state(card_a).replace_name == f"已转交给{b_name}"


async def _pass_hub_member_window(app: CorpApp, userid: str, seconds: int) -> None:
    """Age the hub's sliding window of one member (``orderhub.approvals.cards``' Redis sorted set) by ``seconds``."""
    client = redis_mod.get_client()
    key = f"orderhub:wecom:member:{app.corp_id}/{app.agent_id}:{userid.lower()}"
    entries = await client.zrange(key, 0, -1, withscores=True)
    assert entries, key
    await client.zadd(key, {member: score - seconds * 1000 for member, score in entries})


async def test_the_member_limit_queues_cards_instead_of_dropping_them(wecom: WeCom, queue: RedisQueue) -> None:
    """WeCom silently drops what passes a member's per-minute quota: the hub holds the rest back until the window
    has room (here 3 a minute, on both sides), and every card arrives."""
    approver, approver_wx, _ = await wecom.person()
    requester, _, _ = await wecom.person()
    wecom.store.wecom_member_quota_per_minute = 3
    await wecom.configure(member_per_minute="3")
    try:
        requests = []
        for _ in range(5):
            flow, warehouse, sku = await writeoff_flow([approver])
            requests.append(await open_writeoff(flow, warehouse, sku, requester))
        deadline = time.monotonic() + 30
        while True:
            rows = [c for r in requests for c in await cards.list_cards(r)]
            sent = [c for c in rows if c.status == "sent"]
            waiting = [c for c in rows if c.status == "pending" and c.error_code == "card_member_rate"]
            if len(sent) == 3 and len(waiting) == 2:
                break
            assert time.monotonic() < deadline, rows
            await asyncio.sleep(0.3)
        assert all((c.not_before - min(s.sent_at for s in sent if s.sent_at)).total_seconds() > 55 for c in waiting)
        # A minute passes, on both sides at once: the simulator's quota window, the hub's Redis window of that
        # member and the cards' not_before (CI does not wait a real minute).
        wecom.store.pass_member_time(61)
        await _pass_hub_member_window(wecom.app, approver_wx, 61)
        await db.execute(
            "UPDATE approval_card SET not_before = {} WHERE status = 'pending' AND error_code = 'card_member_rate'",
            clock.now(),
        )
        # Everything arrives, nothing is dropped.
        deadline = time.monotonic() + 60
        while len([c for r in requests for c in await cards.list_cards(r) if c.status == "sent"]) < 5:
            assert time.monotonic() < deadline
            await asyncio.sleep(1)
        mine = [m for m in wecom.store.messages_for(wecom.app.key) if approver_wx in m.recipient.split("|")]
        assert len(mine) == 5 and not any(m.dropped for m in mine), [(m.recipient, m.dropped) for m in mine]
    finally:
        wecom.store.wecom_member_quota_per_minute = 30
        await wecom.configure()
