"""One WeCom member, one window: the approvers' cards (``orderhub.approvals.cards``) and the outbox's staff messages
(``orderhub.notifications.outbox``: alerts, surge warnings …) go through the same app to the same people, and WeCom
silently drops what passes 30 a minute per member (90454; the simulator ``sandbox/wechat.py`` drops it too). Both
take their slot in one Redis window (``orderhub.notifications.wecom_window``): here a manager with a limit of 3 a
minute gets approval cards and threshold alerts in the same minute — the excess of either kind waits for the window,
and every message arrives, none dropped. Also: a message to several members takes a slot of each or of none."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from saq.queue.redis import RedisQueue

from orderhub import clock, db
from orderhub import redis as redis_mod
from orderhub.approvals import cards
from orderhub.inventory.service import NewWarehouse, create_warehouse
from orderhub.notifications import outbox, wecom_window
from sandbox.wechat import CorpApp, WeChatServer, running_wechat
from tests.support.factories import Api, unique
from tests.support.hub import Hub
from tests.support.wecom import WeComApp, open_writeoff, writeoff_flow

CALLBACK = "/api/v1/wecom/approvals/callback"
LIMIT = 3  # a minute, on both sides: the hub's member_per_minute and the simulator's quota


@pytest.fixture(scope="module")
def wechat() -> Iterator[WeChatServer]:
    with running_wechat() as server:
        yield server


class WeCom(WeComApp):
    """The hub's WeCom app at the simulator, and what each member received."""

    def received(self, userid: str) -> list[Any]:
        """What message/send took for ``userid``: delivered, or accepted with errcode 0 and dropped."""
        return [
            m for m in self.store.messages_for(self.app.key) if userid in m.recipient.split("|") or userid in m.dropped
        ]


@pytest.fixture(scope="module")
async def wecom(api: Api, store: Hub, wechat: WeChatServer) -> AsyncIterator[WeCom]:
    app = wechat.store.create_corp()
    wechat.store.set_callback(app.corp_id, app.agent_id, f"{store.url}{CALLBACK}")
    setup = WeCom(wechat, app, api)
    await setup.configure()
    yield setup


async def _until(check: Callable[[], Awaitable[bool]], what: Callable[[], Awaitable[Any]], timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, await what()
        await asyncio.sleep(0.3)


async def _writeoff(approver: int, requester: int) -> int:
    """A write-off request for ``approver`` to decide (its own flow and stock row: one pending per stock row)."""
    flow, warehouse, sku = await writeoff_flow([approver])
    return await open_writeoff(flow, warehouse, sku, requester)


async def _alert(warehouse_id: int) -> str:
    """A threshold alert for the warehouse's supervisors, written as ``orderhub.insights.alerts`` writes it."""
    subject = unique("alert:ww-")
    context = {
        "rule": "待拣积压",
        "scope": "窗口仓 ",
        "metric_text": "待拣订单",
        "value": "120",
        "comparison_text": "高于",
        "threshold": "100",
        "clear_level": "80",
        "fired_at": "12-07 14:00",
    }
    async with db.transaction():
        assert await outbox.write_scope_alert(subject, "staff_alert", warehouse_id, context) == ""
    return subject


async def _pass_hub_window(app: CorpApp, userid: str, seconds: int) -> None:
    """Age the hub's window of one member (``wecom_window``'s Redis sorted set) by ``seconds``."""
    client = redis_mod.get_client()
    key = wecom_window.member_key(f"{app.corp_id}/{app.agent_id}", userid)
    entries = await client.zrange(key, 0, -1, withscores=True)
    assert entries, key
    await client.zadd(key, {member: score - seconds * 1000 for member, score in entries})


async def _in_hub_window(app: CorpApp, userid: str) -> int:
    """The member's reservations in the hub's current minute."""
    now_ms = int(clock.now().timestamp() * 1000)
    key = wecom_window.member_key(f"{app.corp_id}/{app.agent_id}", userid)
    return int(await redis_mod.get_client().zcount(key, now_ms - wecom_window.MINUTE_MS, "+inf"))


async def test_cards_and_staff_alerts_count_in_one_window_and_none_is_dropped(wecom: WeCom, queue: RedisQueue) -> None:
    warehouse = await create_warehouse(NewWarehouse(code=unique("WA"), name="告警仓", region="华东"))
    manager, manager_wx, _ = await wecom.person("manager", warehouse=warehouse.code)
    requester, _, _ = await wecom.person("approver")
    wecom.store.wecom_member_quota_per_minute = LIMIT
    await wecom.configure(member_per_minute=str(LIMIT))
    requests: list[int] = []

    async def card_rows() -> list[cards.CardView]:
        return [c for r in requests for c in await cards.list_cards(r) if c.assignee_id == manager]

    async def alert_rows() -> list[outbox.NotificationView]:
        return [n for n in await outbox.list_notifications(limit=200) if n.recipient == manager_wx]

    async def status() -> tuple[Any, ...]:
        return await card_rows(), await alert_rows(), await _in_hub_window(wecom.app, manager_wx)

    try:
        # Two approval cards: two of the manager's three this minute.
        requests += [await _writeoff(manager, requester) for _ in range(2)]

        async def two_cards_sent() -> bool:
            return [c.status for c in await card_rows()] == ["sent", "sent"]

        await _until(two_cards_sent, status)

        # Three alerts in the same minute: the cards counted, so one goes and two wait for the window.
        for _ in range(3):
            await _alert(warehouse.id)

        async def one_alert_sent_two_wait() -> bool:
            rows = await alert_rows()
            return sorted((n.status, n.error_code) for n in rows) == [
                ("pending", "member_rate"),
                ("pending", "member_rate"),
                ("sent", ""),
            ]

        await _until(one_alert_sent_two_wait, status)
        alerts = await alert_rows()
        sent_at = max(c.sent_at for c in await card_rows() + alerts if c.sent_at is not None)
        waiting = [n for n in alerts if n.status == "pending"]
        # deferred to when the oldest of the minute leaves it, without using up an attempt
        assert all((n.not_before - sent_at).total_seconds() > 50 for n in waiting), waiting
        assert all(n.attempts == 0 for n in waiting), waiting

        # One more card: the alert filled the window, so the card waits as well.
        requests.append(await _writeoff(manager, requester))

        async def third_card_waits() -> bool:
            rows = await card_rows()
            return len(rows) == 3 and sorted((c.status, c.error_code) for c in rows)[0] == (
                "pending",
                "card_member_rate",
            )

        await _until(third_card_waits, status)
        assert await _in_hub_window(wecom.app, manager_wx) == LIMIT  # both kinds, one window
        got = wecom.received(manager_wx)
        assert len(got) == LIMIT and not any(m.dropped for m in got), [(m.msgtype, m.dropped) for m in got]
        assert sorted(m.msgtype for m in got) == ["template_card", "template_card", "text"]

        # A minute passes, on both sides at once (the simulator's quota, the hub's window, the rows' not_before):
        # CI does not wait a real minute.
        wecom.store.pass_member_time(63)
        await _pass_hub_window(wecom.app, manager_wx, 63)
        now = clock.now()
        await db.execute(
            "UPDATE approval_card SET not_before = {} WHERE status = 'pending' AND error_code = 'card_member_rate' "
            "AND wecom_userid = {}",
            now,
            manager_wx,
        )
        await db.execute(
            "UPDATE notification SET not_before = {} WHERE status = 'pending' AND error_code = 'member_rate' "
            "AND recipient = {}",
            now,
            manager_wx,
        )

        async def all_sent() -> bool:
            rows = await card_rows() + await alert_rows()
            return len(rows) == 6 and all(r.status == "sent" for r in rows)

        await _until(all_sent, status, timeout=60)
        # Every message arrived, nothing was dropped: three cards and three alerts.
        got = wecom.received(manager_wx)
        assert len(got) == 6 and not any(m.dropped for m in got), [(m.msgtype, m.dropped) for m in got]
        assert sorted(m.msgtype for m in got) == ["template_card"] * 3 + ["text"] * 3
        assert await _in_hub_window(wecom.app, manager_wx) == LIMIT
    finally:
        wecom.store.wecom_member_quota_per_minute = 30
        await wecom.configure()


async def test_a_message_to_several_members_takes_a_slot_of_each_or_none(store: Hub) -> None:
    """``touser`` ``a|b`` is one WeCom call: it waits, whole, until every member has room, and a member with room
    is not charged meanwhile."""
    app = f"{unique('wwcorp')}/1000002"
    now = clock.now()
    client = redis_mod.get_client()
    for _ in range(LIMIT):
        assert await wecom_window.reserve(app, "Busy", now, LIMIT) is None
    assert await wecom_window.reserve(app, "busy", now, LIMIT) is not None  # userids ignore case
    assert wecom_window.members("free|busy|FREE") == ["free", "busy"]

    wait = await wecom_window.reserve_all(app, wecom_window.members("free|busy"), now, LIMIT)
    assert wait is not None and timedelta(seconds=61) <= wait <= timedelta(milliseconds=wecom_window.MINUTE_MS)
    assert await client.zcard(wecom_window.member_key(app, "free")) == 0  # nothing taken

    later = now + wait + timedelta(milliseconds=1)  # the entry at now counts until the window has passed it
    assert await wecom_window.reserve_all(app, ["free", "busy"], later, LIMIT) is None
    assert await client.zcard(wecom_window.member_key(app, "free")) == 1
    assert await client.zcard(wecom_window.member_key(app, "busy")) == LIMIT + 1  # the hour still holds the first

    # The hour's limit holds too, and @all names nobody in particular: no slot.
    assert await wecom_window.reserve(app, "hourly", now, LIMIT, per_hour=1) is None
    hour_wait = await wecom_window.reserve(app, "hourly", now + timedelta(minutes=5), LIMIT, per_hour=1)
    assert hour_wait is not None and hour_wait > timedelta(minutes=54)
    assert wecom_window.members("@all") == [] and await wecom_window.reserve_all(app, [], now) is None
