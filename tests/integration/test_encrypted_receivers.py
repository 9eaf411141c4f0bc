"""Encrypted receivers end to end (docs/privacy.md): an order from 抖店 and one from 拼多多 arrive with the receiver
as the platform's ciphertext, go through the pipeline, are picked and packed, and get a waybill from the platform's
own e-waybill service with a privacy label — and the clear phone never reaches the hub's database, its logs, or an
answer to anyone. A person's explicit look decrypts through the platform, audited; the platform's quota refuses
beyond it. Clear receivers from other sources are sealed at rest and masked for readers without the right."""

from __future__ import annotations

import asyncio
import importlib
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from orderhub import db
from orderhub.channels.decrypt import decrypts_today
from orderhub.orders import pii
from sandbox.platforms import douyin as douyin_sim
from sandbox.platforms import running_platforms
from sandbox.platforms.server import PlatformServer
from sandbox.platforms.store import Receiver as SimReceiver
from server.piccolo_app import TABLES
from tests.integration.test_picking import Floor, Pda
from tests.support.factories import Api, order_payload, unique, wait_for_orders
from tests.support.hub import Hub

SIMULATOR = running_platforms
SIM_NAME = {"douyin": "douyin", "pdd": "pinduoduo"}
SENDER = "上海市青浦区华新镇华志路 1 号"


def _phone() -> str:
    return "139" + "".join(random.choices("0123456789", k=8))


async def _login(api: Api, role: str, warehouse: str) -> httpx.AsyncClient:
    """A client signed in as a new user with ``role`` (bound to ``warehouse``)."""
    username, password = unique(role), "privacy-pass-1"
    async with api.client() as client:
        r = await client.post(
            "/api/v1/users",
            json={"username": username, "password": password, "role": role, "display_name": role,
                  "warehouse": warehouse},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    client = httpx.AsyncClient(base_url=api.base_url, timeout=30)
    r = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return client


async def _shop(api: Api, sim: PlatformServer, platform: str, warehouse: str) -> tuple[str, Any]:
    seller = sim.store.create_seller(SIM_NAME[platform])
    code = unique(platform[:4])
    async with api.client() as client:
        r = await client.post(
            "/api/v1/channels",
            json={
                "code": code,
                "platform": platform,
                "name": f"{platform} 加密店",
                "default_warehouse": warehouse,
                "credentials": {
                    "app_key": seller.app_key,
                    "app_secret": seller.app_secret,
                    "access_token": seller.access_token,
                    "refresh_token": seller.refresh_token,
                    "shop_id": seller.shop_id,
                    "base_url": sim.url(SIM_NAME[platform]),
                },
                "pull_enabled": False,
            },
        )
    assert r.status_code == 201, r.text
    return code, seller


async def _pull_in(api: Api, code: str, external_id: str) -> int:
    """Pull the shop now; the hub's id of ``external_id`` once it is ready."""
    async with api.client() as client:
        r = await client.post(f"/api/v1/channels/{code}/pull")
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 60
        while True:
            page = (await client.get("/api/v1/orders", params={"channel": code})).json()
            found = [o for o in page["items"] if o["external_id"] == external_id]
            if found:
                break
            assert time.monotonic() < deadline, "the order did not arrive"
            await asyncio.sleep(0.2)
    order_id = int(found[0]["id"])
    done = await wait_for_orders(api, [order_id])
    assert done[order_id]["status"] == "ready", done[order_id]
    return order_id


async def _pack(floor: Floor, order_id: int, sku: str) -> tuple[Pda, int]:
    (task_id,) = (await floor.wave([order_id]))["task_ids"]
    pda = await Pda.sign_in(floor.url, await floor.person("picker"))
    task = (await pda.http.post(f"/pda/v1/tasks/{task_id}/claim")).json()
    stop = task["stops"][0]
    r = await pda.scan(task_id, stop["line_id"], "item", barcode=floor.skus[sku]["barcode"], qty=1,
                       location=stop["location"])  # fmt: skip
    assert r.status_code == 200, r.text
    assert (await pda.http.post(f"/pda/v1/tasks/{task_id}/complete")).status_code == 200
    await pda.close()
    station = await Pda.sign_in(floor.url, await floor.person("packer"))
    pack = (await station.http.post("/pda/v1/pack", json={"code": str(order_id)})).json()
    body = {"client_id": uuid.uuid4().hex, "barcode": floor.skus[sku]["barcode"]}
    assert (await station.http.post(f"/pda/v1/pack/{pack['id']}/scans", json=body)).status_code == 200
    body = {"client_id": uuid.uuid4().hex, "weight_g": pack["expected_g"]}
    assert (await station.http.post(f"/pda/v1/pack/{pack['id']}/weigh", json=body)).status_code == 200
    return station, int(pack["id"])


async def _clear_order(api: Api, floor: Floor, name: str, phone: str, address: str) -> int:
    """An order through the signed-ingest path with a receiver in clear, once it is through the pipeline."""
    async with api.client() as client:
        r = await client.post(
            "/api/v1/orders/ingest",
            json={"channel": floor.channel, "orders": [order_payload(
                lines=[(floor.codes[0], 1)], receiver={"name": name, "phone": phone, "address": address},
            )]},
        )  # fmt: skip
        assert r.status_code == 202, r.text
        order_id = int(r.json()["results"][0]["order_id"])
    await wait_for_orders(api, [order_id])
    return order_id


async def _database_holds(text: str) -> list[str]:
    """Every table (and column) of the hub's database whose rows contain ``text``."""
    found = []
    for table in TABLES:
        for row in await table.select():
            if text in str(row):
                found.append(table._meta.tablename)
                break
    return found


@pytest.mark.parametrize("platform", ["douyin", "pdd"])
async def test_an_encrypted_order_ships_on_a_privacy_waybill_without_the_clear_phone(
    api: Api, store: Hub, sim: PlatformServer, platform: str
) -> None:
    floor = await Floor(api, store.url).setup(pick_mode="order")
    sku = floor.codes[0]
    async with api.client() as client:
        r = await client.patch(f"/api/v1/warehouses/{floor.warehouse}", json={"address": SENDER})
        assert r.status_code == 200, r.text
    code, seller = await _shop(api, sim, platform, floor.warehouse)
    phone = _phone()
    receiver = SimReceiver(name="欧阳小明", mobile=phone, province="浙江省", city="杭州市", district="西湖区",
                           detail="文三路 90 号 7 幢 1203 室")  # fmt: skip
    external_id = sim.store.add_order(
        SIM_NAME[platform], seller.app_key, lines=[(sku, 1, 1990)], receiver=receiver, buyer_memo="", seller_memo="",
        updated_at=datetime.now(UTC) - timedelta(minutes=5),  # inside the pull's window
    ).order_id
    # the platform's own e-waybill service for this shop: ZTO waybills issued through it
    async with api.client() as client:
        r = await client.post(
            "/api/v1/carrier-accounts",
            json={"code": unique(f"{platform}-zto-")[:32], "carrier": "ZTO", "warehouse": floor.warehouse,
                  "via": platform, "channel": code, "credentials": {}, "sender_name": "华东仓发货组",
                  "sender_phone": "02112345678"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        assert (r.json()["via"], r.json()["credential_keys"]) == (platform, [])

    order_id = await _pull_in(api, code, external_id)
    async with api.client() as client:
        seen = (await client.get(f"/api/v1/orders/{order_id}")).json()
    # the admin sees what the hub holds: the platform's masked forms, and that it is encrypted
    assert seen["receiver"]["encrypted"] is True and phone not in str(seen)
    assert seen["receiver"]["phone"].endswith(phone[-4:]) and "*" in seen["receiver"]["phone"]
    assert (seen["receiver"]["province"], seen["receiver"]["city"], seen["receiver"]["district"]) == (
        "浙江省", "杭州市", "西湖区"
    )
    # the last four digits (shown by the masked form) still find it; the full number cannot without decrypting
    async with api.client() as client:
        by_tail = (await client.get("/api/v1/orders", params={"phone": phone[-4:], "channel": code})).json()
    assert [o["id"] for o in by_tail["items"]] == [order_id]

    station, pack_id = await _pack(floor, order_id, sku)
    r = await station.http.post(f"/pda/v1/pack/{pack_id}/waybill")
    assert r.status_code == 200, r.text
    waybill = r.json()
    assert waybill["carrier"] == "ZTO" and waybill["waybill_no"], waybill
    assert phone not in r.text
    label = await station.http.get(f"/pda/v1/pack/{pack_id}/label")
    assert label.status_code == 200 and label.content.startswith(b"%PDF-")
    async with api.client() as client:
        zpl = (await client.get(f"/api/v1/orders/{order_id}/label", params={"format": "zpl"})).text
        decrypts = (await client.get(f"/api/v1/orders/{order_id}/receiver/decrypts")).json()
    await station.close()
    note = "抖音隐私面单" if platform == "douyin" else "拼多多隐私面单"
    assert note in zpl and phone not in zpl and phone[-4:] in zpl and "文三路 90 号" not in zpl
    assert decrypts == []  # the platform printed its own ciphertext: nothing was decrypted

    # nowhere in the hub: not in a table, not in a log line of the API or the workers
    assert await _database_holds(phone) == []
    for name in store.procs:
        assert phone not in store.log_tail(name, lines=100_000), f"the clear phone is in the {name} log"

    # a person with the right asks to see it: decrypted by the platform, recorded, still not stored
    finance = await _login(api, "finance", floor.warehouse)
    try:
        masked = (await finance.get(f"/api/v1/orders/{order_id}")).json()
        assert phone not in str(masked) and masked["receiver"]["masked"] is True
        refused = await finance.post(f"/api/v1/orders/{order_id}/receiver/decrypt", json={"reason": "看看"})
        assert refused.status_code == 403, refused.text
    finally:
        await finance.aclose()
    async with api.client() as client:
        looked = await client.post(f"/api/v1/orders/{order_id}/receiver/decrypt", json={"reason": "客户来电核对地址"})
        assert looked.status_code == 200, looked.text
        assert looked.json()["phone"] == phone and looked.json()["name"] == "欧阳小明"
        assert "文三路 90 号" in looked.json()["detail"]
        trail = (await client.get(f"/api/v1/orders/{order_id}/receiver/decrypts")).json()
    assert [(d["scene"], d["reason"], d["outcome"]) for d in trail] == [("view", "客户来电核对地址", "ok")]
    assert trail[0]["actor"].startswith("user:")
    assert await _database_holds(phone) == []
    for name in store.procs:
        assert phone not in store.log_tail(name, lines=100_000), f"the clear phone is in the {name} log"


async def test_the_platforms_decrypt_quota_refuses_and_says_to_print_through_the_platform(
    api: Api, store: Hub, sim: PlatformServer
) -> None:
    floor = await Floor(api, store.url).setup(pick_mode="order")
    sku = floor.codes[0]
    code, seller = await _shop(api, sim, "douyin", floor.warehouse)
    external_id = sim.store.add_order(
        "douyin", seller.app_key, lines=[(sku, 1, 1990)], buyer_memo="", seller_memo="",
        updated_at=datetime.now(UTC) - timedelta(minutes=5),  # inside the pull's window
    ).order_id
    order_id = await _pull_in(api, code, external_id)
    douyin_sim.set_decrypt_quota(sim.store, seller.app_key, 0)
    async with api.client() as client:
        r = await client.post(f"/api/v1/orders/{order_id}/receiver/decrypt", json={"reason": "核对"})
        assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json"), r.text
        assert r.json()["code"] == "platform_decrypt_refused"
        trail = (await client.get(f"/api/v1/orders/{order_id}/receiver/decrypts")).json()
    assert [(d["outcome"], d["scene"]) for d in trail] == [("refused", "view")]
    channel_id = (await db.fetch_one_as(db.IdRow, "SELECT id FROM channel WHERE code = {}", code))
    assert channel_id is not None and await decrypts_today(channel_id.id) == 1


async def test_without_a_platform_account_the_waybill_decrypts_once_through_the_platform(
    api: Api, store: Hub, sim: PlatformServer
) -> None:
    """No 拼多多电子面单 account in the warehouse: the carrier's own API needs the clear receiver, so the waybill step
    decrypts through 拼多多 (recorded, scene waybill) — and the carrier gets it, the hub keeps none of it."""
    from sandbox.carriers import running_carriers

    floor = await Floor(api, store.url).setup(pick_mode="order")
    sku = floor.codes[0]
    code, seller = await _shop(api, sim, "pdd", floor.warehouse)
    phone = _phone()
    receiver = SimReceiver(name="李雷", mobile=phone, province="江苏省", city="南京市", district="玄武区",
                           detail="中山路 18 号")  # fmt: skip
    external_id = sim.store.add_order(
        "pinduoduo", seller.app_key, lines=[(sku, 1, 990)], receiver=receiver, buyer_memo="", seller_memo="",
        updated_at=datetime.now(UTC) - timedelta(minutes=5),  # inside the pull's window
    ).order_id
    with running_carriers() as carriers:
        account = carriers.sf.create_account(quota=5)
        async with api.client() as client:
            r = await client.patch(f"/api/v1/warehouses/{floor.warehouse}", json={"address": SENDER})
            assert r.status_code == 200, r.text
            r = await client.post(
                "/api/v1/carrier-accounts",
                json={"code": unique("sf-")[:32], "carrier": "SF", "warehouse": floor.warehouse,
                      "sender_name": "华东仓发货组", "sender_phone": "02112345678",
                      "credentials": {"partner_id": account.partner_id, "secret": account.check_word,
                                      "customer_code": account.monthly_card, "base_url": carriers.url("sf")}},
            )  # fmt: skip
            assert r.status_code == 201, r.text
        order_id = await _pull_in(api, code, external_id)
        station, pack_id = await _pack(floor, order_id, sku)
        r = await station.http.post(f"/pda/v1/pack/{pack_id}/waybill")
        await station.close()
        assert r.status_code == 200, r.text
        (sent,) = carriers.sf.orders_of(account.partner_id)
        assert phone in str(sent)  # the carrier got the clear receiver
    async with api.client() as client:
        trail = (await client.get(f"/api/v1/orders/{order_id}/receiver/decrypts")).json()
    assert [(d["scene"], d["outcome"]) for d in trail] == [("waybill", "ok")]
    assert await _database_holds(phone) == []


async def test_clear_receivers_are_sealed_at_rest_and_masked_for_readers_without_the_right(
    api: Api, store: Hub
) -> None:
    floor = await Floor(api, store.url).setup()
    phone = _phone()
    order_id = await _clear_order(api, floor, "韩梅梅", phone, "上海市浦东新区世纪大道 100 号")
    row = await db.fetch_one_as(
        _Sealed, "SELECT receiver_phone, receiver_name, receiver_address, raw_payload FROM sales_order WHERE id = {}",
        order_id,
    )  # fmt: skip
    assert row is not None and all(pii.is_sealed(v) for v in (row.receiver_phone, row.receiver_name, row.raw_payload))
    assert pii.open_(row.receiver_phone) == phone and await _database_holds(phone) == []
    async with api.client() as client:
        admin = (await client.get(f"/api/v1/orders/{order_id}")).json()
        found = (await client.get("/api/v1/orders", params={"phone": phone})).json()
    assert admin["receiver"]["phone"] == phone and admin["receiver"]["masked"] is False
    assert [o["id"] for o in found["items"]] == [order_id]  # the search index still finds it
    approver = await _login(api, "approver", floor.warehouse)
    try:
        shown = (await approver.get(f"/api/v1/orders/{order_id}")).json()
    finally:
        await approver.aclose()
    assert phone not in str(shown) and "韩梅梅" not in str(shown) and shown["receiver"]["name"] == "韩*梅"
    assert shown["receiver"]["masked"] is True and shown["receiver"]["address"].startswith("上海市")


class _Sealed(msgspec.Struct):
    receiver_phone: str
    receiver_name: str
    receiver_address: str
    raw_payload: str


async def test_the_migration_seals_rows_stored_in_clear_before_it(
    api: Api, store: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    floor = await Floor(api, store.url).setup()
    phone = _phone()
    order_id = await _clear_order(api, floor, "李小龙", phone, "广东省深圳市南山区科技园 1 号")
    # as an order stored before sealing existed left it
    await db.execute(
        "UPDATE sales_order SET receiver_phone = {}, receiver_name = {}, buyer_phone = {} WHERE id = {}",
        phone, "李小龙", phone, order_id,
    )  # fmt: skip
    await db.execute(  # an address change recorded before events were masked
        "INSERT INTO order_event (\"order\", type, reason, data, actor, created_at) "
        "VALUES ({}, {}, '', {}, 'test', {})",
        order_id, "order.receiver_changed", '{"address": "广东省深圳市南山区科技园 1 号", "name": "李小龙"}',
        datetime.now(UTC),
    )  # fmt: skip
    assert await _database_holds(phone) == ["sales_order"]
    assert sorted(await _database_holds("李小龙")) == ["order_event", "sales_order"]
    monkeypatch.setenv("PICCOLO_CONF", "server.piccolo_conf")  # how `orderhub migrate` runs it
    for name in ("server.piccolo_conf", "migrations.orderhub_2026_12_08t04_00_01_000000"):
        sys.modules.pop(name, None)
    migration = importlib.import_module("migrations.orderhub_2026_12_08t04_00_01_000000")
    manager = await migration.forwards()
    for step in manager.raw:
        await step()
    assert await _database_holds(phone) == [] and await _database_holds("李小龙") == []
    assert await _database_holds("科技园 1 号") == []
    async with api.client() as client:
        seen = (await client.get(f"/api/v1/orders/{order_id}")).json()
    assert (seen["receiver"]["phone"], seen["receiver"]["name"], seen["buyer_phone"]) == (phone, "李小龙", phone)
