"""抖店 encrypted receivers against the 抖店 simulator: the mapper keeps the cipher, ``order.batchDecrypt`` (batch
limit, daily quota, audit fields, order binding), ``order.BatchSearchIndex`` and 抖音电子面单 with a ciphertext
receiver."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from orderhub.carriers.port import (
    PLATFORM_WAYBILLS,
    InvalidWaybillRequest,
    Party,
    PlatformWaybillAccount,
    WaybillItem,
    WaybillRequest,
)
from orderhub.channels.douyin.client import DouyinClient
from orderhub.channels.douyin.connector import DECRYPT_BATCH_LIMIT, DouyinConnector
from orderhub.channels.douyin.waybill import DouyinWaybillService
from orderhub.channels.port import (
    Credentials,
    DecryptRefused,
    EncryptedReceiver,
    InvalidRequest,
    PlatformOrder,
    RateLimited,
    ReceiverDecryptor,
)
from orderhub.orders.commands import Receiver, ReceiverCipher
from sandbox.platforms import OrderState, PlatformServer, running_platforms
from sandbox.platforms import Receiver as SimReceiver
from sandbox.platforms.douyin import (
    cipher_text,
    ebills,
    search_index,
    send_clear_receivers,
    set_decrypt_quota,
)
from sandbox.platforms.store import SellerAccount, SimOrder
from tests.support.simulators import shop_credentials

SIMULATOR = running_platforms

ZHANG = SimReceiver(
    name="张三", mobile="13800138000", province="浙江省", city="杭州市", district="西湖区", detail="文三路100号"
)


async def pulled(sim: PlatformServer, http: httpx.AsyncClient, seller: SellerAccount) -> dict[str, PlatformOrder]:
    end = sim.store.now().replace(microsecond=0) - timedelta(minutes=1)
    connector = DouyinConnector(shop_credentials(sim, "douyin", seller), http)
    page = await connector.pull(end - timedelta(hours=1), end, None)
    assert page.next_page is None
    return {p.order.external_id: p for p in page.orders}


def add(sim: PlatformServer, seller: SellerAccount, receiver: SimReceiver = ZHANG, **kwargs: Any) -> SimOrder:
    at = sim.store.now() - timedelta(minutes=30)
    return sim.store.add_order("douyin", seller.app_key, receiver=receiver, updated_at=at, **kwargs)


def cipher_of(order: PlatformOrder) -> ReceiverCipher:
    cipher = order.order.receiver.cipher
    assert cipher is not None
    return cipher


# --------------------------------------------------------------------------- the order as 抖店 sends it


async def test_orders_come_encrypted_and_the_mapper_keeps_cipher_and_masked_forms(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller("douyin")
    order = add(sim, seller)
    got = (await pulled(sim, http, seller))[order.order_id]

    raw = json.dumps(got.order.raw, ensure_ascii=False)
    for clear in ("张三", "13800138000", "文三路100号"):
        assert clear not in raw  # no clear name, phone or address anywhere in what 抖店 sent
    receiver = got.order.receiver
    assert (receiver.name, receiver.phone, receiver.detail) == ("张*", "138****8000", "文三路1****")
    assert receiver.address == "浙江省杭州市西湖区文三路1****"
    cipher = cipher_of(got)
    assert cipher.phone == cipher_text(seller, order.order_id, "tel", "13800138000")
    assert cipher.name == cipher_text(seller, order.order_id, "name", "张三")
    assert cipher.detail == cipher_text(seller, order.order_id, "addr", "文三路100号")
    assert (cipher.name_masked, cipher.phone_masked, cipher.detail_masked) == ("张*", "138****8000", "文三路1****")
    assert cipher.phone_index == search_index(seller, "tel", "13800138000")

    # the same phone in another order of the shop has the same index (duplicate detection, 合单) …
    again = add(sim, seller)
    assert cipher_of((await pulled(sim, http, seller))[again.order_id]).phone_index == cipher.phone_index
    # … which order.BatchSearchIndex also gives for the clear number
    connector = DouyinConnector(shop_credentials(sim, "douyin", seller), http)
    assert await connector.phone_search_indexes(["13800138000", " "]) == {"13800138000": cipher.phone_index}


async def test_a_clear_text_shop_gives_clear_values_and_the_cipher_too(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller("douyin")
    send_clear_receivers(sim.store, seller.app_key)
    order = add(sim, seller)
    got = (await pulled(sim, http, seller))[order.order_id]
    receiver = got.order.receiver
    assert (receiver.name, receiver.phone, receiver.detail) == ("张三", "13800138000", "文三路100号")
    assert cipher_of(got).phone == cipher_text(seller, order.order_id, "tel", "13800138000")


# --------------------------------------------------------------------------- order.batchDecrypt


async def test_decrypt_in_batches_of_the_documented_limit(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller("douyin")
    people = [
        SimReceiver(
            name=f"顾客{i}",
            mobile=f"139{i:08d}",
            province="上海市",
            city="上海市",
            district="徐汇区",
            detail=f"漕溪北路{i}号",
        )
        for i in range(20)
    ]
    orders = [add(sim, seller, receiver=p) for p in people]
    mapped = await pulled(sim, http, seller)
    connector = DouyinConnector(shop_credentials(sim, "douyin", seller), http)
    assert isinstance(connector, ReceiverDecryptor)
    wanted = [EncryptedReceiver(external_id=o.order_id, cipher=cipher_of(mapped[o.order_id])) for o in orders]
    sim.store.clear_requests()

    results = await connector.decrypt_receivers(wanted, scene="waybill")

    assert [(r.external_id, r.name, r.phone, r.detail, r.error_code) for r in results] == [
        (o.order_id, p.name, p.mobile, p.detail, "") for o, p in zip(orders, people, strict=True)
    ]
    calls = sim.store.requests("douyin", method="order.batchDecrypt")
    sizes = [len(json.loads(c.params["param_json"])["cipher_infos"]) for c in calls]
    assert sizes == [DECRYPT_BATCH_LIMIT, 60 - DECRYPT_BATCH_LIMIT]  # 20 receivers × 3 ciphertexts
    sent = json.loads(calls[0].params["param_json"])
    assert (sent["account_id"], sent["account_type"]) == (seller.shop_id, "main_account")
    shown = repr(results)
    assert not any(p.name in shown or p.mobile in shown or p.detail in shown for p in people)  # never printed


async def test_the_daily_quota_used_up_is_a_decrypt_refusal(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller("douyin")
    set_decrypt_quota(sim.store, seller.app_key, 4)
    first, second = add(sim, seller), add(sim, seller)
    mapped = await pulled(sim, http, seller)
    connector = DouyinConnector(shop_credentials(sim, "douyin", seller), http)

    ok = await connector.decrypt_receivers(
        [EncryptedReceiver(external_id=first.order_id, cipher=cipher_of(mapped[first.order_id]))], scene="view"
    )
    assert ok[0].phone == "13800138000"  # 3 of the 4 spent
    with pytest.raises(DecryptRefused) as refused:
        await connector.decrypt_receivers(
            [EncryptedReceiver(external_id=second.order_id, cipher=cipher_of(mapped[second.order_id]))], scene="view"
        )
    assert refused.value.platform_code.startswith("90000") and not refused.value.retryable
    assert refused.value.platform_message == "已达到店铺解密上限"


async def test_a_ciphertext_decrypts_only_with_its_own_order_as_auth_id(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller("douyin")
    mine, other = add(sim, seller), add(sim, seller)
    mapped = await pulled(sim, http, seller)
    connector = DouyinConnector(shop_credentials(sim, "douyin", seller), http)
    with pytest.raises(InvalidRequest) as refused:
        await connector.decrypt_receivers(
            [EncryptedReceiver(external_id=other.order_id, cipher=cipher_of(mapped[mine.order_id]))], scene="view"
        )
    assert refused.value.platform_code == "40004/isv.parameter-invalid"

    # another shop cannot decrypt it either
    stranger = sim.store.create_seller("douyin")
    foreign = DouyinConnector(shop_credentials(sim, "douyin", stranger), http)
    with pytest.raises(InvalidRequest):
        await foreign.decrypt_receivers(
            [EncryptedReceiver(external_id=mine.order_id, cipher=cipher_of(mapped[mine.order_id]))], scene="view"
        )


async def test_a_decrypt_without_the_account_fields_or_over_the_limit_is_refused(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller("douyin")
    order = add(sim, seller)
    cipher = cipher_text(seller, order.order_id, "tel", ZHANG.mobile)
    client = DouyinClient(shop_credentials(sim, "douyin", seller), http)
    info = {"auth_id": order.order_id, "cipher_text": cipher}
    with pytest.raises(InvalidRequest) as missing:
        await client.call("order.batchDecrypt", {"cipher_infos": [info]})
    assert missing.value.platform_code == "40002/isv.parameter-missing"
    with pytest.raises(InvalidRequest) as bad_type:
        await client.call("order.batchDecrypt", {"cipher_infos": [info], "account_id": "1", "account_type": "boss"})
    assert bad_type.value.platform_code == "40004/isv.parameter-invalid"
    with pytest.raises(InvalidRequest) as too_many:
        params = {"cipher_infos": [info] * 51, "account_id": "1", "account_type": "main_account"}
        await client.call("order.batchDecrypt", params)
    assert "50" in too_many.value.platform_message


async def test_per_item_refusals_and_whole_call_refusals_as_documented() -> None:
    """抖店's own answers (not the simulator's): an item with ``err_no`` ≠ 0 is a result with that code; a
    ``custom_err`` or the risk-control code 80000 refuses the call."""
    cipher = ReceiverCipher(platform="douyin", name="~a~b~1~~", phone="$c$d$1$$", detail="#e#f#1##")
    answers: list[dict[str, object]] = [
        {
            "code": 10000,
            "msg": "success",
            "data": {
                "decrypt_infos": [
                    {"auth_id": "1", "cipher_text": "~a~b~1~~", "decrypt_text": "王五", "err_no": 0},
                    {
                        "auth_id": "1",
                        "cipher_text": "$c$d$1$$",
                        "decrypt_text": "",
                        "err_no": 300008,
                        "err_msg": "风控拦截",
                    },
                    {"auth_id": "1", "cipher_text": "#e#f#1##", "decrypt_text": "某路1号", "err_no": 0},
                ],
                "custom_err": {"err_code": 0, "err_msg": ""},
            },
        },
        {"code": 10000, "msg": "success", "data": {"decrypt_infos": [], "custom_err": {"err_code": 9, "err_msg": "x"}}},
        {"code": 80000, "msg": "您的环境存在安全风险，请稍后再试", "sub_code": "", "sub_msg": ""},
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers.pop(0))

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        connector = DouyinConnector(Credentials(app_key="k", app_secret="s", access_token="t"), http)
        wanted = [EncryptedReceiver(external_id="1", cipher=cipher)]
        (result,) = await connector.decrypt_receivers(wanted, scene="view")
        assert (result.error_code, result.error_message, result.phone) == ("300008", "风控拦截", "")
        with pytest.raises(DecryptRefused):
            await connector.decrypt_receivers(wanted, scene="view")
        with pytest.raises(RateLimited):
            await connector.decrypt_receivers(wanted, scene="view")


# --------------------------------------------------------------------------- 抖音电子面单


SENDER = Party(
    name="王仓管",
    phone="13912345678",
    province="上海市",
    city="上海市",
    district="闵行区",
    detail="莘庄工业区申富路1号",
)


def service(
    sim: PlatformServer, http: httpx.AsyncClient, seller: SellerAccount, carrier: str = "ZTO", **settings: str
) -> DouyinWaybillService:
    account = PlatformWaybillAccount(
        platform="douyin",
        carrier=carrier,
        app_key=seller.app_key,
        app_secret=seller.app_secret,
        access_token=seller.access_token,
        shop_id=seller.shop_id,
        base_url=sim.url("douyin"),
        settings=dict(settings),
    )
    made = PLATFORM_WAYBILLS.get("douyin")(account, http)
    assert isinstance(made, DouyinWaybillService)
    return made


def party(receiver: Receiver) -> Party:
    return Party(
        name=receiver.name,
        phone=receiver.phone,
        province=receiver.province,
        city=receiver.city,
        district=receiver.district,
        detail=receiver.detail,
        cipher=receiver.cipher,
    )


def request(order_ref: str, receiver: Party) -> WaybillRequest:
    return WaybillRequest(
        order_ref=order_ref,
        sender=SENDER,
        receiver=receiver,
        weight_g=800,
        items=[WaybillItem(name="纯棉短袖T恤", qty=2)],
    )


async def test_an_e_waybill_for_a_ciphertext_receiver(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller("douyin")
    order = add(sim, seller)
    got = (await pulled(sim, http, seller))[order.order_id]
    zto = service(sim, http, seller, net_code="021001", user_id=seller.shop_id)

    waybill = await zto.create_waybill(request(order.order_id, party(got.order.receiver)))

    assert waybill.carrier == "ZTO" and waybill.waybill_no.startswith("7") and waybill.privacy
    assert waybill.sort_code and waybill.order_ref == order.order_id
    printing = json.loads(waybill.print_data)
    assert printing["print_data"] and printing["sign"]
    (issued,) = ebills(sim.store, seller.app_key)
    assert (issued.order_id, issued.logistics_code, issued.track_no) == (
        order.order_id,
        "zhongtong",
        waybill.waybill_no,
    )
    sent = issued.receiver
    assert sent["contact"] == {"name": cipher_of(got).name, "mobile": cipher_of(got).phone}  # ciphertexts, as given
    assert sent["address"]["detail_address"] == cipher_of(got).detail
    assert sent["address"]["province_name"] == "浙江省"
    call = json.loads(sim.store.requests("douyin", method="logistics.newCreateOrder")[-1].params["param_json"])
    assert call["order_infos"][0]["net_info"] == {"net_code": "021001"} and call["user_id"] == int(seller.shop_id)
    assert "13800138000" not in json.dumps(call, ensure_ascii=False)

    # asking again (a retry after a lost answer) gives the same waybill; cancelling frees it, once
    assert (await zto.create_waybill(request(order.order_id, party(got.order.receiver)))).waybill_no == (
        waybill.waybill_no
    )
    await zto.cancel_waybill(waybill)
    assert ebills(sim.store, seller.app_key)[0].cancelled
    with pytest.raises(InvalidWaybillRequest):
        await zto.cancel_waybill(waybill)


async def test_the_service_refuses_a_ciphertext_of_another_order(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller("douyin")
    mine, other = add(sim, seller), add(sim, seller)
    got = (await pulled(sim, http, seller))[mine.order_id]
    with pytest.raises(InvalidWaybillRequest) as refused:
        await service(sim, http, seller).create_waybill(request(other.order_id, party(got.order.receiver)))
    assert "密文" in refused.value.carrier_message
    assert ebills(sim.store, seller.app_key) == []


async def test_clear_receivers_unknown_carriers_and_cancelled_orders(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller("douyin")
    order = add(sim, seller)
    clear = Party(
        name="张三", phone="13800138000", province="浙江省", city="杭州市", district="西湖区", detail="文三路100号"
    )
    sf = await service(sim, http, seller, "SF").create_waybill(request(order.order_id, clear))
    assert sf.carrier == "SF" and sf.waybill_no.startswith("SF")
    assert ebills(sim.store, seller.app_key)[0].receiver["contact"] == {"name": "张三", "mobile": "13800138000"}

    with pytest.raises(InvalidWaybillRequest):
        service(sim, http, seller, "XX")
    with pytest.raises(InvalidWaybillRequest):  # not a 抖店 order id
        await service(sim, http, seller).create_waybill(request("OH12-W3", clear))
    cancelled = add(sim, seller, state=OrderState.CANCELLED)
    with pytest.raises(InvalidWaybillRequest) as refused:
        await service(sim, http, seller).create_waybill(request(cancelled.order_id, clear))
    assert refused.value.carrier_code == "50002"
