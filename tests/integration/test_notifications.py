"""Notifications through the running hub (API + workers) and the WeChat / WeCom and Aliyun SMS simulators: the outbox
row is written with the order change, one message per notice however often the event or the job repeats, a refused
subscription falls back to SMS, business errors are recorded as failures, quiet hours defer, rate limits queue."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from saq.job import Status
from saq.queue.redis import RedisQueue

from orderhub import clock, db
from orderhub.logistics.tables import ParcelTracking
from orderhub.notifications import outbox
from orderhub.orders.events import OrderEventType
from orderhub.queue import JobName, QueueRole, get_queue
from sandbox.aliyun_sms import AliyunSmsServer, running_aliyun_sms
from sandbox.carriers.server import CarrierServer
from sandbox.kuaidi100 import Kuaidi100Server
from sandbox.wechat import WeChatServer, running_wechat
from tests.integration.test_carrier_choice import _configure, _ingest, _pick_and_pack
from tests.integration.test_picking import Floor
from tests.support.factories import Api, create_warehouse, order_payload, unique, wait_for_orders
from tests.support.hub import Hub

SUBSCRIBE_FIELDS = ["character_string1", "thing2", "character_string3", "thing4"]
SMS_TEXTS = {
    "shipped": "您的订单${order}已由${carrier}发出，运单号${no}，查件${link}",
    "out_for_delivery": "您的包裹${carrier}${no}正在派送",
    "signed": "您的包裹${carrier}${no}已签收",
    "delayed": "您的包裹${carrier}${no}暂无新物流，我们正在跟进",
}


@pytest.fixture(scope="module")
def wechat() -> Iterator[WeChatServer]:
    with running_wechat() as server:
        yield server


@pytest.fixture(scope="module")
def sms() -> Iterator[AliyunSmsServer]:
    with running_aliyun_sms() as server:
        yield server


class Accounts:
    def __init__(self, wechat: WeChatServer, sms: AliyunSmsServer) -> None:
        s = wechat.store
        self.mini = s.create_mini_app()
        self.oa = s.create_oa_app()
        self.corp = s.create_corp()
        self.key_id, self.key_secret = sms.store.create_account()
        self.sign = f"订单中枢{uuid.uuid4().hex[:4]}"
        sms.store.add_sign(self.sign)
        self.tpl = {event: f"TPL_{event.upper()}_{uuid.uuid4().hex[:6]}" for event in SMS_TEXTS}
        self.sms_tpl = {event: f"SMS_{uuid.uuid4().int % 10**8}" for event in SMS_TEXTS}
        for event, text in SMS_TEXTS.items():
            s.add_template(self.mini.appid, self.tpl[event], SUBSCRIBE_FIELDS)
            # the "delayed" SMS template is still waiting for Aliyun's approval: sending it is a business error
            sms.store.add_template(self.sms_tpl[event], text, approved=event != "delayed")


async def _setup_notify(api: Api, wechat: WeChatServer, sms: AliyunSmsServer, quiet: tuple[str, str]) -> Accounts:
    acc = Accounts(wechat, sms)
    sms.store.flow_limit = None  # Aliyun's own 1/min per phone: the hub's gap (3 s here) keeps within it
    async with api.client() as client:
        providers = {
            "wechat_subscribe": {"appid": acc.mini.appid, "secret": acc.mini.secret, "base_url": wechat.base_url},
            "wechat_template": {"appid": acc.oa.appid, "secret": acc.oa.secret, "base_url": wechat.base_url},
            "aliyun_sms": {"access_key_id": acc.key_id, "access_key_secret": acc.key_secret, "sign_name": acc.sign,
                           "endpoint": sms.endpoint, "protocol": "http"},
            "wecom": {"corp_id": acc.corp.corp_id, "secret": acc.corp.secret, "agent_id": str(acc.corp.agent_id),
                      "base_url": wechat.base_url},
        }
        for channel, conf in providers.items():
            r = await client.put(f"/api/v1/notify/providers/{channel}", json={"config": conf})
            assert r.status_code == 200 and acc.key_secret not in r.text, r.text
        for event in SMS_TEXTS:
            r = await client.put(f"/api/v1/notify/templates/{event}/wechat_subscribe",
                                 json={"template_id": acc.tpl[event],
                                       "fields": {"character_string1": "{order_no}", "thing2": "{carrier_name}",
                                                  "character_string3": "{waybill_no}", "thing4": "{shop}"},
                                       "urgent": event == "out_for_delivery"})
            assert r.status_code == 200, r.text
            r = await client.put(f"/api/v1/notify/templates/{event}/aliyun_sms",
                                 json={"template_id": acc.sms_tpl[event], "urgent": event == "out_for_delivery",
                                       "fields": {"order": "{order_no}", "carrier": "{carrier_name}",
                                                  "no": "{waybill_no}", "link": "{tracking_url}"}})
            assert r.status_code == 200, r.text
        r = await client.put("/api/v1/notify/settings",
                             json={"quiet_start": quiet[0], "quiet_end": quiet[1], "phone_per_minute": 20,
                                   "phone_per_hour": 50, "public_base_url": "https://hub.example.com",
                                   "miniprogram_page": "pages/track/index"})
        assert r.status_code == 200, r.text
    return acc


def _phone() -> str:
    return f"139{uuid.uuid4().int % 10**8:08d}"


async def _notifications(api: Api, order_id: int) -> list[dict[str, Any]]:
    async with api.client() as client:
        r = await client.get(f"/api/v1/orders/{order_id}/notifications")
    assert r.status_code == 200, r.text
    return list(r.json())


async def _settled(api: Api, order_id: int, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The order's messages once ``count`` of them are past pending/sending."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await _notifications(api, order_id)
        done = [r for r in rows if r["status"] not in ("pending", "sending")]
        if len(done) >= count:
            return rows
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.3)


async def _manager(api: Api, warehouse: str, wecom_userid: str) -> Api:
    """A manager of one warehouse, with their WeCom id; returns the API as they use it."""
    username = unique("mgr")
    async with api.client() as client:
        r = await client.post("/api/v1/users", json={"username": username, "password": "manager-pass-1",
                                                     "role": "manager", "warehouse": warehouse,
                                                     "wecom_userid": wecom_userid})
        assert r.status_code == 201 and r.json()["wecom_userid"] == wecom_userid, r.text
        login = await client.post("/api/v1/auth/login", json={"username": username, "password": "manager-pass-1"})
    assert login.status_code == 200, login.text
    return Api(api.base_url, login.json()["access_token"])


async def _carrier_floor(api: Api, store: Hub, carriers: CarrierServer, kd100: Kuaidi100Server) -> Floor:
    """A warehouse floor with SF / ZTO / J&T accounts and rate cards, tracked through 快递100."""
    floor = await Floor(api, store.url).setup(pick_mode="order")
    await _configure(api, floor, carriers, kd100, store.url)
    return floor


async def _ship_one(floor: Floor, *, name: str, phone: str, address: str) -> int:
    """One order to this receiver, picked, packed, waybilled and handed over (shipped); its id."""
    (order_id,) = await _ingest(floor, order_payload(
        lines=[(floor.codes[0], 1)], receiver={"name": name, "phone": phone, "address": address}
    ))
    await _pick_and_pack(floor, [order_id])
    async with floor.api.client() as client:
        assert (await client.post(f"/api/v1/orders/{order_id}/waybill")).status_code == 200
        assert (await client.post(f"/api/v1/orders/{order_id}/handover")).status_code == 200
    return order_id


@pytest.mark.postgres_only("each notice once with parallel senders: a concurrency claim")
async def test_each_notice_once_refused_subscription_falls_back_and_failures_are_recorded(
    api: Api, store: Hub, carriers: CarrierServer, kd100: Kuaidi100Server, wechat: WeChatServer,
    sms: AliyunSmsServer, queue: RedisQueue,
) -> None:
    floor = await _carrier_floor(api, store, carriers, kd100)
    acc = await _setup_notify(api, wechat, sms, quiet=("00:00", "00:00"))  # no quiet hours in this test
    boss = unique("zhangsan")
    wechat.store.add_wecom_user(acc.corp.corp_id, boss)
    await _manager(api, floor.warehouse, boss)
    elsewhere = unique("lisi")  # a manager of another warehouse hears nothing of this one
    wechat.store.add_wecom_user(acc.corp.corp_id, elsewhere)
    other_manager = await _manager(api, (await create_warehouse(api))["code"], elsewhere)
    fan, refuser, plain = _phone(), _phone(), _phone()
    fan_openid, refuser_openid = f"o{uuid.uuid4().hex[:27]}", f"o{uuid.uuid4().hex[:27]}"
    wechat.store.add_openid(acc.mini.appid, fan_openid, refuser_openid)
    wechat.store.refuse_subscription(acc.mini.appid, refuser_openid, acc.tpl["shipped"])  # said no in WeChat
    async with api.client() as client:
        for phone, openid in ((fan, fan_openid), (refuser, refuser_openid)):
            r = await client.put(f"/api/v1/notify/contacts/{phone}",
                                 json={"mini_openid": openid, "subscribed": list(SMS_TEXTS)})
            assert r.status_code == 200, r.text
    sku = floor.codes[0]
    address = "上海市浦东新区世纪大道100号"
    orders = await _ingest(floor, *(
        order_payload(lines=[(sku, 1)], receiver={"name": "王小明", "phone": p, "address": address})
        for p in (fan, refuser, plain)
    ))
    a, b, c = orders
    wave_id = await _pick_and_pack(floor, orders)
    async with api.client() as client:
        r = await client.post(f"/api/v1/picking/waves/{wave_id}/waybills")
        assert r.status_code == 200 and all(x["error"] is None for x in r.json()), r.text
        numbers = {x["order_id"]: x["waybill"]["waybill_no"] for x in r.json()}
        for order_id in orders:
            for _ in range(2):  # the button pressed twice: shipped once, told once
                assert (await client.post(f"/api/v1/orders/{order_id}/handover")).status_code == 200

    # a: one subscribe message, with the order's fields
    rows_a = await _settled(api, a, 1)
    assert [(r["event"], r["channel"], r["status"]) for r in rows_a] == [("shipped", "wechat_subscribe", "sent")]
    got = [m for m in wechat.store.messages_for(acc.mini.appid) if m.recipient == fan_openid]
    assert len(got) == 1 and got[0].template == acc.tpl["shipped"]
    assert got[0].data["character_string3"] == numbers[a] and got[0].data["thing2"] == "极兔速递"
    assert got[0].page.startswith("pages/track/index?token=")  # opens the seller's tracking page

    # the event published again, and the send job retried and re-delivered: still one message
    async with db.transaction():
        await outbox.on_order_event(a, OrderEventType.SHIPPED, None, {"carrier": "JT", "waybill_no": numbers[a]})
    assert await outbox.send(rows_a[0]["id"]) == "skipped"
    # a notification is a background job (queue.JOB_ROLES): straight onto that queue, as enqueue() routes it
    background = get_queue(QueueRole.BACKGROUND)
    job = await background.enqueue(JobName.SEND_NOTIFICATION.value, key=f"again:{rows_a[0]['id']}",
                                   notification_id=rows_a[0]["id"])
    assert job is not None
    # a worker runs it, and finds the message sent already. Polled: SAQ's refresh(until_complete=…) listens for the
    # job's next update, and misses it when the worker finishes between its first read and its subscription.
    deadline = time.monotonic() + 30
    while job.status not in (Status.COMPLETE, Status.FAILED, Status.ABORTED) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        await job.refresh()
    assert job.status == Status.COMPLETE and job.result == "skipped", (job.status, job.error)
    assert len(await _notifications(api, a)) == 1
    assert len([m for m in wechat.store.messages_for(acc.mini.appid) if m.recipient == fan_openid]) == 1

    # b: the subscription was refused in WeChat (43101) → the same notice by SMS, once
    rows_b = await _settled(api, b, 2)
    by_channel = {r["channel"]: r for r in rows_b}
    assert by_channel["wechat_subscribe"]["status"] == "fallback"
    assert by_channel["wechat_subscribe"]["error_code"] == "43101"
    assert by_channel["aliyun_sms"]["status"] == "sent"
    assert by_channel["aliyun_sms"]["fallback_of"] == by_channel["wechat_subscribe"]["id"]
    texts = [m.content for m in sms.store.sent_to(refuser)]
    assert len(texts) == 1 and numbers[b] in texts[0] and "https://hub.example.com/t/" in texts[0]
    assert texts[0].startswith(f"【{acc.sign}】")

    # c: no WeChat contact → SMS; two more notices at once queue behind the per-phone gap (3 s here), none dropped
    rows_c = await _settled(api, c, 1)
    assert [(r["channel"], r["status"], r["recipient"]) for r in rows_c] == [
        ("aliyun_sms", "sent", f"{plain[:3]}****{plain[-4:]}")
    ]
    async with db.transaction():
        for state in ("out_for_delivery", "signed"):
            await outbox.on_order_event(c, OrderEventType.PARCEL_UPDATED, state, {"state": state})
    rows_c = await _settled(api, c, 3, timeout=40)
    sent = sorted(datetime.fromisoformat(r["sent_at"]) for r in rows_c if r["event"] in ("out_for_delivery", "signed"))
    assert len(sent) == 2 and all(r["status"] == "sent" for r in rows_c), rows_c
    assert (sent[1] - sent[0]).total_seconds() >= 2.9
    assert len(sms.store.sent_to(plain)) == 3

    # c's parcel stalls: the customer's "delayed" SMS is refused (template not approved) and recorded as failed;
    # the warehouse's manager hears it in WeCom
    start = datetime.now(UTC)
    await tracking_stall(kd100, numbers[c], start)
    rows_c = await _settled(api, c, 5)
    delayed = next(r for r in rows_c if r["event"] == "delayed")
    assert delayed["status"] == "failed" and delayed["error_code"] == "isv.SMS_TEMPLATE_ILLEGAL", delayed
    assert len(sms.store.sent_to(plain)) == 3  # nothing went out for it
    staff = next(r for r in rows_c if r["event"] == "staff_parcel_stalled")
    assert staff["status"] == "sent" and staff["channel"] == "wecom" and staff["recipient"] == boss
    cards = [m for m in wechat.store.messages_for(acc.corp.key) if boss in m.recipient]
    assert len(cards) == 3  # every parcel of the wave went quiet: one message each
    assert not [m for m in wechat.store.messages_for(acc.corp.key) if elsewhere in m.recipient]
    card = [m for m in cards if numbers[c] in m.content]
    assert len(card) == 1 and card[0].content.startswith("包裹 48 小时无轨迹")

    # a manager of another warehouse sees none of this warehouse's messages, labels or waybills
    async with other_manager.client() as client:
        assert (await client.get(f"/api/v1/orders/{c}/notifications")).status_code == 404
        assert (await client.get(f"/api/v1/picking/waves/{wave_id}/labels")).status_code == 404
        assert (await client.get(f"/api/v1/orders/{c}/label")).status_code == 404
        assert (await client.post(f"/api/v1/notifications/{delayed['id']}/resend")).status_code == 404
        batch = (await client.post("/api/v1/waybills/batch", json={"order_ids": [c]})).json()
        assert batch[0]["error"]["code"] == "not_found", batch
        theirs = {r["order_id"] for r in (await client.get("/api/v1/notifications")).json()}
        assert not theirs & set(orders)
        r = await client.get(f"/api/v1/orders/{2**31}/notifications")  # past INTEGER: refused, not a 500
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text

    # the failure is visible in /metrics, and staff resend it once the template is approved
    async with api.client() as client:
        metrics = (await client.get("/metrics")).text
        assert 'orderhub_notifications{channel="aliyun_sms",status="failed"}' in metrics
        sms.store.templates[acc.sms_tpl["delayed"]].approved = True
        r = await client.post(f"/api/v1/notifications/{delayed['id']}/resend")
        assert r.status_code == 200 and r.json()["status"] == "pending", r.text
        again = await client.post(f"/api/v1/notifications/{rows_a[0]['id'] + 10**6}/resend")
        assert again.status_code == 404
    deadline = time.monotonic() + 30
    while (final := next(r for r in await _notifications(api, c) if r["id"] == delayed["id"]))["status"] != "sent":
        assert time.monotonic() < deadline and final["status"] in ("pending", "sending"), final
        await asyncio.sleep(0.3)
    assert final["resends"] == 1 and final["error_code"] == ""
    assert len(sms.store.sent_to(plain)) == 4

    # delivery receipts: QuerySendDetails records what the phone network said
    assert await outbox.collect_receipts() >= 1
    receipts = {r["channel"]: r["delivery"] for r in await _notifications(api, b)}
    assert receipts["aliyun_sms"] == "delivered"


async def tracking_stall(kd100: Kuaidi100Server, waybill_no: str, start: datetime) -> None:
    """Collected, then nothing for 49 hours: the poll (the cron's code, run here) marks the parcel stalled."""
    from orderhub.logistics import tracking

    kd100.store.script_journey(waybill_no, start=start, steps=((0.1, "1", "【上海市】快递员已揽收", "上海市"),))
    await kd100.store.advance_async(start + timedelta(hours=1))
    await tracking.poll_parcels(now=start + timedelta(hours=49))


@pytest.mark.postgres_only("quiet hours are the outbox clock, the same on both back ends: one run")
async def test_quiet_hours_hold_customer_messages_until_morning(
    api: Api, store: Hub, carriers: CarrierServer, kd100: Kuaidi100Server, wechat: WeChatServer,
    sms: AliyunSmsServer, queue: RedisQueue,
) -> None:
    floor = await _carrier_floor(api, store, carriers, kd100)
    local = clock.to_shanghai(datetime.now(UTC))
    quiet = ((local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=1)).strftime("%H:%M"))
    await _setup_notify(api, wechat, sms, quiet=quiet)  # "now" is inside the quiet hours
    phone = _phone()
    order_id = await _ship_one(floor, name="李雷", phone=phone, address="上海市徐汇区漕溪北路 1 号")
    rows: list[dict[str, Any]] = []
    for _ in range(50):
        rows = await _notifications(api, order_id)
        if rows:
            break
        await asyncio.sleep(0.2)
    (row,) = rows
    morning = datetime.fromisoformat(row["not_before"])
    assert row["status"] == "pending" and row["channel"] == "aliyun_sms"
    assert morning.strftime("%H:%M") == quiet[1] and morning > local
    await asyncio.sleep(11)  # the dispatcher (every 10 s) leaves it alone: it is not due
    assert (await _notifications(api, order_id))[0]["status"] == "pending" and not sms.store.sent_to(phone)
    assert await outbox.send(row["id"]) == "skipped"  # not before the morning
    assert await outbox.send(row["id"], now=morning.astimezone(UTC) + timedelta(minutes=1)) == "sent"
    assert len(sms.store.sent_to(phone)) == 1

    # Another parcel shipped in the night is signed before the morning: the held 已发货 is superseded and the
    # customer hears 已签收 alone at 08:00 (issue 15 item 9).
    phone2 = _phone()
    second = await _ship_one(floor, name="韩梅梅", phone=phone2, address="上海市徐汇区漕溪北路 2 号")
    async with db.transaction():
        await outbox.on_order_event(second, OrderEventType.PARCEL_UPDATED, "signed", {"state": "signed"})
    deadline = time.monotonic() + 30
    while len(rows2 := await _notifications(api, second)) < 2:
        assert time.monotonic() < deadline, rows2
        await asyncio.sleep(0.2)
    by_event = {r["event"]: r for r in rows2}
    assert by_event["shipped"]["status"] == "superseded" and by_event["shipped"]["error_code"] == "superseded"
    assert by_event["signed"]["status"] == "pending"
    later = morning.astimezone(UTC) + timedelta(minutes=1)
    assert await outbox.send(by_event["shipped"]["id"], now=later) == "skipped"
    assert await outbox.send(by_event["signed"]["id"], now=later) == "sent"
    texts = [m.content for m in sms.store.sent_to(phone2)]
    assert len(texts) == 1 and "已签收" in texts[0], texts

    async with api.client() as client:  # no quiet hours for the next tests; the other settings stay
        r = await client.patch("/api/v1/notify/settings", json={"quiet_start": "00:00", "quiet_end": "00:00"})
    assert r.status_code == 200 and r.json()["public_base_url"] == "https://hub.example.com", r.text
    assert r.json()["phone_per_minute"] == 20


async def test_notification_setup_is_validated(api: Api, store: Hub) -> None:
    async with api.client() as client:
        r = await client.put("/api/v1/notify/providers/fax", json={"config": {"x": "y"}})
        assert r.status_code == 422 and r.json()["field"] == "channel"
        r = await client.put("/api/v1/notify/providers/aliyun_sms", json={"config": {"access_key_id": "a"}})
        assert r.status_code == 422 and r.json()["field"] == "config.access_key_secret"
        r = await client.put("/api/v1/notify/providers/wecom",
                             json={"config": {"corp_id": "c", "secret": "s", "agent_id": "abc"}})
        assert r.status_code == 422 and r.json()["field"] == "config.agent_id"
        r = await client.put("/api/v1/notify/templates/shipped/wecom", json={"text": "x"})
        assert r.status_code == 422 and r.json()["field"] == "channel"
        r = await client.put("/api/v1/notify/templates/nothing/aliyun_sms", json={})
        assert r.status_code == 404 and r.json()["code"] == "unknown_notice"
        r = await client.put("/api/v1/notify/templates/shipped/aliyun_sms", json={"fields": {"a": "{unclosed"}})
        assert r.status_code == 422 and r.json()["field"] == "fields.a"
        for bad in ("{0}", "{waybill_no:d}", "{receiver!r}", "{order[id]}", "{}"):  # fail (or leak) at render time
            r = await client.put("/api/v1/notify/templates/shipped/aliyun_sms", json={"fields": {"no": bad}})
            assert r.status_code == 422 and r.json()["code"] == "bad_placeholder", (bad, r.text)
            assert r.json()["field"] == "fields.no"
        r = await client.put("/api/v1/notify/templates/staff_surge/wecom", json={"text": "{mode_text.upper}"})
        assert r.status_code == 422 and r.json()["field"] == "text"
        r = await client.patch("/api/v1/notify/settings", json={"phone_per_hour": 0})
        assert r.status_code == 422 and r.json()["field"] == "phone_per_hour", r.text
        r = await client.put("/api/v1/notify/settings", json={"quiet_start": "24:00"})
        assert r.status_code == 422 and r.json()["field"] == "quiet_start"
        r = await client.put("/api/v1/notify/contacts/12345", json={})
        assert r.status_code == 422 and r.json()["field"] == "phone"
        r = await client.put(f"/api/v1/notify/contacts/{_phone()}", json={"subscribed": ["birthday"]})
        assert r.status_code == 422 and r.json()["field"] == "subscribed"
        listed = (await client.get("/api/v1/notify/templates")).json()
        assert {"shipped", "staff_short_pick"} <= {t["event"] for t in listed}
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_provider_flow_control_waits_without_using_attempts_and_parallel_senders_send_once(
    api: Api, store: Hub, carriers: CarrierServer, kd100: Kuaidi100Server, wechat: WeChatServer,
    sms: AliyunSmsServer, queue: RedisQueue,
) -> None:
    floor = await _carrier_floor(api, store, carriers, kd100)
    await _setup_notify(api, wechat, sms, quiet=("00:00", "00:00"))
    phone = _phone()
    order_id = await _ship_one(floor, name="韩梅梅", phone=phone, address="上海市黄浦区南京东路 1 号")
    (shipped,) = await _settled(api, order_id, 1)
    assert shipped["status"] == "sent"
    # the shipped SMS carried the parcel's own tracking link (made in the ship transaction)
    tokens = await ParcelTracking.select(ParcelTracking.token).where(ParcelTracking.order == order_id).output(
        as_list=True
    )
    token = tokens[0]
    assert f"https://hub.example.com/t/{token}" in sms.store.sent_to(phone)[0].content

    # The same "signed" event recorded by eight transactions at once, then eight senders at once (parallel
    # connections on PostgreSQL): one row, one send. Aliyun's own per-phone control (1 a minute) refuses it —
    # the hub's gap (3 s here) is looser — so it waits for Aliyun's window without using up an attempt.
    sms.store.flow_limit = 1

    async def record() -> None:
        async with db.transaction():
            await outbox.on_order_event(order_id, OrderEventType.PARCEL_UPDATED, "signed", {"state": "signed"})

    await asyncio.sleep(3.1)  # past the hub's own per-phone gap
    await asyncio.gather(*(record() for _ in range(8)))
    rows = [r for r in await _notifications(api, order_id) if r["event"] == "signed"]
    assert len(rows) == 1, rows
    row_id = rows[0]["id"]
    outcomes = await asyncio.gather(*(outbox.send(row_id) for _ in range(8)))
    assert sorted(outcomes).count("skipped") >= 7, outcomes
    row = next(r for r in await _notifications(api, order_id) if r["id"] == row_id)
    assert row["status"] == "pending" and row["error_code"] == "isv.BUSINESS_LIMIT_CONTROL", row
    assert row["attempts"] == 0  # waiting for Aliyun's window is not a failed attempt
    wait = datetime.fromisoformat(row["not_before"]) - datetime.now(UTC)
    assert timedelta(seconds=50) < wait <= timedelta(seconds=61), wait
    assert len(sms.store.sent_to(phone)) == 1

    sms.store.flow_limit = None  # (Aliyun's minute has passed)
    await asyncio.sleep(3.1)  # the hub's own per-phone gap is kept in Redis, on the real clock
    later = datetime.now(UTC) + timedelta(seconds=61)
    outcomes = await asyncio.gather(*(outbox.send(row_id, now=later) for _ in range(8)))
    assert sorted(outcomes) == ["sent"] + ["skipped"] * 7, outcomes
    assert len(sms.store.sent_to(phone)) == 2


async def test_the_mini_program_records_consent_and_shows_the_parcel_its_message_opens(
    api: Api, store: Hub, carriers: CarrierServer, kd100: Kuaidi100Server, wechat: WeChatServer,
    sms: AliyunSmsServer, queue: RedisQueue,
) -> None:
    floor = await _carrier_floor(api, store, carriers, kd100)
    acc = await _setup_notify(api, wechat, sms, quiet=("00:00", "00:00"))
    phone, openid = _phone(), f"o{uuid.uuid4().hex[:27]}"
    appid = acc.mini.appid
    login = wechat.store.login_code(appid, openid)
    body = {
        "login_code": login,
        "phone_code": wechat.store.phone_code(appid, phone),
        "answers": {acc.tpl["shipped"]: "accept", acc.tpl["signed"]: "reject", "TPL_NOT_OURS": "accept"},
    }
    async with httpx.AsyncClient(base_url=store.url, timeout=30) as customer:  # no staff login: WeChat vouches
        r = await customer.post("/mp/v1/customer/subscriptions", json=body)
        assert r.status_code == 200, r.text
        assert r.json() == {"phone": f"{phone[:3]}****{phone[-4:]}", "subscribed": ["shipped"],
                            "labels": ["订单已发货"], "unknown_templates": ["TPL_NOT_OURS"]}
        again = await customer.post("/mp/v1/customer/subscriptions", json=body)  # a login code works once
        assert again.status_code == 422 and again.json()["code"] == "invalid_wechat_code", again.text
        assert again.json()["field"] == "login_code"
        abroad = {**body, "login_code": wechat.store.login_code(appid, openid),
                  "phone_code": wechat.store.phone_code(appid, "+852 61234567")}
        r = await customer.post("/mp/v1/customer/subscriptions", json=abroad)
        assert r.status_code == 422 and r.json()["code"] == "unsupported_phone", r.text
        r = await customer.post("/mp/v1/customer/subscriptions", json={**body, "answers": {"x": "maybe"}})
        assert r.status_code == 422 and r.json()["field"].startswith("answers"), r.text
    async with api.client() as client:
        contact = (await client.get(f"/api/v1/notify/contacts/{phone}")).json()
    assert contact["mini_openid"] == openid and contact["subscribed"] == ["shipped"]

    order_id = await _ship_one(floor, name="林小雨", phone=phone, address="上海市静安区南京西路 1 号")
    (shipped,) = await _settled(api, order_id, 1)
    assert (shipped["channel"], shipped["status"]) == ("wechat_subscribe", "sent"), shipped
    [message] = [m for m in wechat.store.messages_for(appid) if m.recipient == openid]
    page, _, token = message.page.partition("?token=")
    assert page == "pages/track/index" and token

    # the page the message opens: the parcel, masked, without the phone number
    async with httpx.AsyncClient(base_url=store.url, timeout=30) as customer:
        r = await customer.get(f"/mp/v1/customer/parcels/{token}")
        assert r.status_code == 200, r.text
        parcel = r.json()
        assert parcel["carrier_name"] == "极兔速递" and parcel["state_text"] == "等待揽收"
        assert parcel["receiver"] == "林*雨（上海市）" and phone not in r.text
        assert (await customer.get("/mp/v1/customer/parcels/not-a-token")).status_code == 404

    # "signed" was declined in WeChat: that notice comes by SMS
    async with db.transaction():
        await outbox.on_order_event(order_id, OrderEventType.PARCEL_UPDATED, "signed", {"state": "signed"})
    rows = await _settled(api, order_id, 2)
    signed = next(r for r in rows if r["event"] == "signed")
    assert (signed["channel"], signed["status"]) == ("aliyun_sms", "sent"), signed


async def test_orders_turning_at_risk_reach_the_manager_as_one_digest_per_window(
    api: Api, store: Hub, wechat: WeChatServer, sms: AliyunSmsServer, queue: RedisQueue,
) -> None:
    from orderhub.orders.service import record_event

    floor = await Floor(api, store.url).setup(pick_mode="order")
    acc = await _setup_notify(api, wechat, sms, quiet=("00:00", "00:00"))
    boss = unique("wangwu")
    wechat.store.add_wecom_user(acc.corp.corp_id, boss)
    manager = await _manager(api, floor.warehouse, boss)
    orders = await _ingest(floor, *(order_payload(lines=[(floor.codes[0], 1)]) for _ in range(3)))
    window = outbox.AT_RISK_WINDOW.total_seconds()
    if window - time.time() % window < 5:  # the three must fall in one window
        await asyncio.sleep(window - time.time() % window + 0.1)
    ship_by = datetime.now(UTC) + timedelta(hours=1)
    for index, order_id in enumerate(orders):  # as the sweeper marks them, each in its own transaction
        async with db.transaction():
            await record_event(order_id, OrderEventType.AT_RISK, reason="overdue" if index == 0 else "due_soon",
                               data={"ship_by": ship_by.isoformat(), "status": "ready"})
    rows = [r for r in await outbox.list_notifications(limit=50) if r.event == "staff_at_risk" and r.recipient == boss]
    assert len(rows) == 1 and rows[0].status == "pending" and rows[0].order_id is None, rows
    due = rows[0].not_before
    assert timedelta(0) < due - datetime.now(UTC) <= outbox.AT_RISK_WINDOW + timedelta(seconds=31)
    async with manager.client() as client:  # the warehouse's manager finds it among their messages
        theirs = (await client.get("/api/v1/notifications")).json()
    assert rows[0].id in {r["id"] for r in theirs}
    async with db.transaction():  # the same order marked again in the window is listed once
        await record_event(orders[1], OrderEventType.AT_RISK, reason="due_soon", data={"status": "ready"})
    assert await outbox.send(rows[0].id) == "skipped"  # not before the window closes
    assert await outbox.send(rows[0].id, now=due.astimezone(UTC) + timedelta(seconds=1)) == "sent"
    [card] = [m for m in wechat.store.messages_for(acc.corp.key) if boss in m.recipient]
    views = (await wait_for_orders(api, orders)).values()
    assert "3 个订单即将超时（其中已超时 1 个）" in card.content, card.content
    assert all(o["external_id"] in card.content for o in views)
    earliest = min(datetime.fromisoformat(o["ship_by"]) for o in views)
    assert f"最早需在 {clock.to_shanghai(earliest).strftime('%m-%d %H:%M')} 前发出" in card.content  # Shanghai time
