"""淘宝/天猫 encrypted receivers (OAID): the mapper keeps the OAID and the masked forms, and the connector decrypts
through ``taobao.top.oaid.decrypt`` at the TOP simulator (batches of 20, the shop's daily volume, the documented
scene codes, tid ↔ oaid binding, permission)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from orderhub.channels.port import (
    DecryptRefused,
    EncryptedReceiver,
    InvalidRequest,
    PlatformOrder,
    ReceiverDecryptor,
)
from orderhub.channels.taobao import mapper
from orderhub.channels.taobao.connector import DECRYPT_METHOD, TaobaoConnector, top_scene
from orderhub.orders.commands import ReceiverCipher
from sandbox.platforms import PlatformServer, Receiver, SellerAccount, running_platforms
from sandbox.platforms import taobao as top_sim
from tests.support.simulators import shop_credentials

P = "taobao"
SIMULATOR = running_platforms  # the module's `sim` (tests/conftest.py)
RECEIVER = Receiver(
    name="张三丰", mobile="13800138000", province="浙江省", city="杭州市", district="西湖区", detail="文三路 90 号 501"
)


def connector(sim: PlatformServer, http: httpx.AsyncClient, seller: SellerAccount) -> TaobaoConnector:
    return TaobaoConnector(shop_credentials(sim, P, seller), http)


async def pulled(sim: PlatformServer, conn: TaobaoConnector, count: int) -> list[PlatformOrder]:
    now = sim.store.now().replace(microsecond=0)
    orders: list[PlatformOrder] = []
    page: str | None = None
    for _ in range(20):
        result = await conn.pull(now - timedelta(hours=1), now, page)
        orders += result.orders
        page = result.next_page
        if page is None:
            break
    assert len(orders) == count
    return orders


def encrypted(order: PlatformOrder) -> EncryptedReceiver:
    cipher = order.order.receiver.cipher
    assert cipher is not None
    return EncryptedReceiver(external_id=order.order.external_id, cipher=cipher)


def decrypt_queries(sim: PlatformServer, seller: SellerAccount) -> list[list[dict[str, Any]]]:
    calls = [r for r in sim.store.requests(P, method=DECRYPT_METHOD) if r.app_key == seller.app_key]
    return [json.loads(r.params["query_list"]) for r in calls]


# ------------------------------------------------------------------ mapper (pure)


def _trade(**receiver: str) -> dict[str, Any]:
    return {
        "tid": 4012345678901234567,
        "tid_str": "4012345678901234567",
        "status": "WAIT_SELLER_SEND_GOODS",
        "created": "2026-03-01 09:00:00",
        "modified": "2026-03-01 10:00:05",
        "payment": "10.00",
        "receiver_state": "重庆",
        "receiver_city": "重庆市",
        "receiver_district": "渝北区",
        "receiver_town": "龙溪街道",
        "orders": {"order": [{"num_iid": 1, "outer_sku_id": "TEA", "num": 1, "price": "10.00"}]},
        **receiver,
    }


def test_the_mapper_keeps_the_oaid_and_the_masked_forms() -> None:
    # the masked forms as a published TOP taobao.trade.fullinfo.get answer shows them
    trade = _trade(
        oaid="1abcOAID",
        receiver_name="张**",
        receiver_mobile="*******5552",
        receiver_address="龙*街道花**路**号",
    )
    receiver = mapper.map_trade(trade).order.receiver
    assert (receiver.name, receiver.phone, receiver.detail) == ("张**", "*******5552", "龙*街道花**路**号")
    assert (receiver.province, receiver.city, receiver.district) == ("重庆", "重庆市", "渝北区")
    assert receiver.address == "重庆重庆市渝北区龙*街道花**路**号"
    assert receiver.cipher == ReceiverCipher(
        platform="taobao",
        open_id="1abcOAID",
        name_masked="张**",
        phone_masked="*******5552",
        detail_masked="龙*街道花**路**号",
    )
    assert receiver.cipher.match_key() == "taobao:oaid:1abcOAID"
    assert (receiver.cipher.name, receiver.cipher.phone, receiver.cipher.detail) == ("", "", "")


def test_clear_values_beside_an_oaid_are_kept_and_no_oaid_means_no_cipher() -> None:
    clear = _trade(
        oaid="1xyz", receiver_name="李四", receiver_mobile="13900001111", receiver_address="龙溪街道金开大道1号"
    )
    receiver = mapper.map_trade(clear).order.receiver
    assert (receiver.name, receiver.phone, receiver.detail) == ("李四", "13900001111", "龙溪街道金开大道1号")
    assert receiver.cipher == ReceiverCipher(platform="taobao", open_id="1xyz")
    assert receiver.address == ""
    old_app = _trade(receiver_name="李四", receiver_mobile="13900001111", receiver_address="金开大道1号")
    receiver = mapper.map_trade(old_app).order.receiver
    assert receiver.cipher is None and receiver.detail == "龙溪街道金开大道1号"


def test_scenes_are_tops_documented_codes() -> None:
    assert [top_scene(s) for s in ("waybill", "waybill:SF", "waybill:zto", "waybill:YD", "waybill:EMS", "view")] == [
        "1004",
        "1001",
        "1002",
        "1002",
        "1003",
        "2001",
    ]
    with pytest.raises(InvalidRequest):
        top_scene("curiosity")


# ------------------------------------------------------------ at the simulator


async def test_pulled_receivers_are_masked_and_decrypt_gives_them_back(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller(P)
    order = sim.store.add_order(P, seller.app_key, receiver=RECEIVER, updated_at=sim.store.now() - timedelta(minutes=5))
    conn = connector(sim, http, seller)
    assert isinstance(conn, ReceiverDecryptor)

    [got] = await pulled(sim, conn, 1)

    receiver = got.order.receiver
    assert (receiver.name, receiver.phone, receiver.detail) == ("张**", "*******8000", "文*路 ** * ***")
    assert (receiver.province, receiver.city, receiver.district) == ("浙江省", "杭州市", "西湖区")
    assert receiver.cipher is not None and receiver.cipher.open_id
    raw = json.dumps(got.order.raw, ensure_ascii=False)
    for value in ("张三丰", "13800138000", "文三路", "90 号"):
        assert value not in raw

    [clear] = await conn.decrypt_receivers([encrypted(got)], scene="waybill:SF")

    assert clear.external_id == order.order_id and not clear.error_code
    assert (clear.name, clear.phone, clear.detail) == ("张三丰", "13800138000", "文三路 90 号 501")
    assert "13800138000" not in repr(clear)
    assert decrypt_queries(sim, seller)[-1] == [
        {"oaid": receiver.cipher.open_id, "tid": order.order_id, "scene": "1001"}
    ]


async def test_decrypt_goes_twenty_a_call_one_result_per_input_in_order(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller(P)
    at = sim.store.now() - timedelta(minutes=5)
    for i in range(45):
        sim.store.add_order(P, seller.app_key, updated_at=at - timedelta(seconds=i))
    conn = connector(sim, http, seller)
    orders = await pulled(sim, conn, 45)
    inputs = [encrypted(o) for o in orders]
    inputs.insert(7, EncryptedReceiver(external_id="1", cipher=ReceiverCipher(platform="taobao")))  # no OAID

    results = await conn.decrypt_receivers(inputs, scene="view")

    assert [r.external_id for r in results] == [i.external_id for i in inputs]
    assert results[7].error_code == "no_oaid"
    by_id = {o.order_id: o.receiver for o in sim.store.orders(P, seller.app_key)}
    for result in results[:7] + results[8:]:
        assert not result.error_code and result.phone == by_id[result.external_id].mobile
    assert [len(q) for q in decrypt_queries(sim, seller)] == [20, 20, 5]
    assert {q["scene"] for batch in decrypt_queries(sim, seller) for q in batch} == {"2001"}


async def test_the_shops_daily_volume_used_up_is_a_refusal(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    at = sim.store.now() - timedelta(minutes=5)
    for i in range(5):
        sim.store.add_order(P, seller.app_key, updated_at=at - timedelta(seconds=i))
    top_sim.set_decrypt_quota(sim.store, 3, app_key=seller.app_key)
    conn = connector(sim, http, seller)
    orders = [encrypted(o) for o in await pulled(sim, conn, 5)]

    assert all(not r.error_code for r in await conn.decrypt_receivers(orders[:2], scene="waybill"))
    with pytest.raises(DecryptRefused) as refused:
        await conn.decrypt_receivers(orders[2:], scene="waybill")

    assert refused.value.platform_code == "7/accesscontrol.limited-by-app-access-count"
    assert not refused.value.retryable
    assert "解密额度" in refused.value.message
    assert len(await conn.decrypt_receivers(orders[2:3], scene="waybill")) == 1  # one more still fits today


async def test_the_simulator_refuses_what_the_page_forbids(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    order = sim.store.add_order(P, seller.app_key, updated_at=sim.store.now() - timedelta(minutes=5))
    conn = connector(sim, http, seller)
    [got] = await pulled(sim, conn, 1)
    oaid = encrypted(got).cipher.open_id

    async def refusal(queries: list[dict[str, str]]) -> str:
        with pytest.raises(InvalidRequest) as caught:
            await conn.client.call(DECRYPT_METHOD, {"query_list": json.dumps(queries)})
        return caught.value.platform_code

    assert await refusal([{"oaid": oaid}]) == "40/isv.missing-parameter:tid"  # tid 必须
    assert await refusal([{"tid": order.order_id}]) == "40/isv.missing-parameter:oaid"
    assert await refusal([{"oaid": oaid, "tid": order.order_id}] * 21) == "41/isv.invalid-parameter:query_list"
    assert await refusal([{"oaid": oaid, "tid": order.order_id, "scene": "3001"}]) == "41/isv.invalid-parameter:scene"
    other = sim.store.add_order(P, seller.app_key)
    assert await refusal([{"oaid": oaid, "tid": other.order_id}]) == "15/isv.invalid-parameter:oaid"  # not its order

    top_sim.deny_decrypt(sim.store, seller.app_key)
    with pytest.raises(DecryptRefused) as denied:
        await conn.decrypt_receivers([encrypted(got)], scene="waybill")
    assert denied.value.platform_code == "11/isv.permission-api-package-limit"


async def test_a_receiver_changed_since_the_pull_is_refused_per_item(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller(P)
    order = sim.store.add_order(P, seller.app_key, receiver=RECEIVER, updated_at=sim.store.now() - timedelta(minutes=9))
    conn = connector(sim, http, seller)
    [before] = await pulled(sim, conn, 1)
    moved = Receiver(
        name="王五", mobile="13512345678", province="北京市", city="北京市", district="朝阳区", detail="建国路1号"
    )
    sim.store.update_order(P, order.order_id, receiver=moved, updated_at=sim.store.now() - timedelta(minutes=5))

    [stale] = await conn.decrypt_receivers([encrypted(before)], scene="waybill")
    assert stale.error_code == "matched=false" and not (stale.name or stale.phone or stale.detail)

    [after] = await pulled(sim, conn, 1)
    assert encrypted(after).cipher.open_id != encrypted(before).cipher.open_id
    [fresh] = await conn.decrypt_receivers([encrypted(after)], scene="waybill")
    assert (fresh.name, fresh.phone, fresh.detail) == ("王五", "13512345678", "建国路1号")


async def test_one_receiver_one_oaid_per_shop_and_week(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    """Same receiver, same shop, same week: one OAID (合单, duplicate checks); another shop: another OAID."""
    seller, other = sim.store.create_seller(P), sim.store.create_seller(P)
    at = sim.store.now() - timedelta(minutes=5)
    for shop in (seller, seller, other):
        sim.store.add_order(P, shop.app_key, receiver=RECEIVER, created_at=at, updated_at=at)
    mine = {encrypted(o).cipher.open_id for o in await pulled(sim, connector(sim, http, seller), 2)}
    theirs = {encrypted(o).cipher.open_id for o in await pulled(sim, connector(sim, http, other), 1)}
    assert len(mine) == 1 and len(theirs) == 1 and mine != theirs


async def test_an_app_not_on_oaid_reads_receivers_in_clear(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    top_sim.serve_clear_receivers(sim.store, seller.app_key)
    sim.store.add_order(P, seller.app_key, receiver=RECEIVER, updated_at=sim.store.now() - timedelta(minutes=5))
    [got] = await pulled(sim, connector(sim, http, seller), 1)
    receiver = got.order.receiver
    assert (receiver.name, receiver.phone, receiver.detail, receiver.cipher) == (
        "张三丰",
        "13800138000",
        "文三路 90 号 501",
        None,
    )
