"""拼多多电子面单 (``pdd.waybill.get`` / ``pdd.waybill.cancel``) through the platform simulator: a 拼多多 order's
receiver goes as the ciphertexts the order came with, and the waybill is a privacy one with the print data."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import msgspec
import pytest

from orderhub.carriers.port import (
    PLATFORM_WAYBILLS,
    CarrierUnavailable,
    InvalidWaybillRequest,
    Party,
    PlatformWaybillAccount,
    Waybill,
    WaybillItem,
    WaybillRequest,
)
from orderhub.channels.pdd import waybill
from orderhub.channels.pdd.connector import PddConnector
from orderhub.orders.commands import Receiver
from sandbox.platforms import PlatformServer, running_platforms
from sandbox.platforms.pinduoduo import pdd_state
from sandbox.platforms.store import SellerAccount
from tests.support.simulators import shop_credentials

P = "pinduoduo"
SIMULATOR = running_platforms

SENDER = Party(
    name="上海仓", phone="021-55550000", province="上海市", city="上海市", district="浦东新区", detail="张江路 1 号"
)


def account(
    sim: PlatformServer, seller: SellerAccount, carrier: str = "ZTO", **settings: str
) -> PlatformWaybillAccount:
    return PlatformWaybillAccount(
        platform="pdd",
        carrier=carrier,
        app_key=seller.app_key,
        app_secret=seller.app_secret,
        access_token=seller.access_token,
        shop_id=seller.shop_id,
        base_url=sim.url(P),
        settings=settings,
    )


async def pulled_receiver(
    sim: PlatformServer, http: httpx.AsyncClient, seller: SellerAccount
) -> tuple[str, Receiver]:
    """A new order of the shop, pulled by the connector: its order_sn and the (encrypted) receiver the hub holds."""
    now = sim.store.now().replace(microsecond=0)
    order = sim.store.add_order(P, seller.app_key, updated_at=now - timedelta(minutes=1))
    page = await PddConnector(shop_credentials(sim, P, seller), http).pull(now - timedelta(minutes=5), now, None)
    [got] = [o for o in page.orders if o.order.external_id == order.order_id]
    return order.order_id, got.order.receiver


def parcel(order_ref: str, receiver: Receiver) -> WaybillRequest:
    return WaybillRequest(
        order_ref=order_ref,
        sender=SENDER,
        receiver=Party(
            name=receiver.name,
            phone=receiver.phone,
            province=receiver.province,
            city=receiver.city,
            district=receiver.district,
            detail=receiver.detail,
            cipher=receiver.cipher,
        ),
        weight_g=800,
        items=[WaybillItem(name="纯棉短袖T恤", qty=2)],
    )


async def test_a_waybill_for_an_encrypted_receiver(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    order_sn, receiver = await pulled_receiver(sim, http, seller)
    assert receiver.cipher is not None
    service = PLATFORM_WAYBILLS.get("pdd")(account(sim, seller), http)  # as server.wiring registers it

    got = await service.create_waybill(parcel(order_sn, receiver))
    assert isinstance(got, Waybill) and (got.carrier, got.order_ref, got.privacy) == ("ZTO", order_sn, True)
    assert got.waybill_no.startswith("7") and len(got.waybill_no) == 12
    printed = json.loads(got.print_data)  # the encrypted print message for 拼多多's print component
    assert printed["templateUrl"] == "https://file-link.pinduoduo.com/zto_std" and printed["encryptedData"]

    issued = pdd_state(sim.store).waybills[got.waybill_no]
    assert (issued.wp_code, issued.object_id, issued.orders) == ("ZTO", order_sn, [order_sn])
    # the ciphertexts went as they came; no clear name, phone or street address left the hub
    assert issued.recipient["name"] == receiver.cipher.name
    assert issued.recipient["mobile"] == receiver.cipher.phone
    assert issued.recipient["address"] == {
        "province": receiver.province, "city": receiver.city, "district": receiver.district,
        "detail": receiver.cipher.detail,
    }
    call = sim.store.requests(P, method=waybill.GET_API)[-1]
    sent = json.loads(call.params["param_waybill_cloud_print_apply_new_request"])
    assert sent["wp_code"] == "ZTO" and sent["need_encrypt"] is True
    order_info = sent["trade_order_info_dtos"][0]["order_info"]
    assert order_info == {"order_channels_type": "PDD", "trade_order_list": [order_sn]}
    clear = sim.store.order(P, order_sn).receiver
    assert clear.mobile not in json.dumps(call.params, ensure_ascii=False)

    again = await service.create_waybill(parcel(order_sn, receiver))  # the same object_id: the same waybill
    assert again.waybill_no == got.waybill_no
    second = await service.create_waybill(parcel(f"{order_sn}/2", receiver))  # a second parcel of the order
    assert second.waybill_no != got.waybill_no

    await service.cancel_waybill(second)
    assert pdd_state(sim.store).waybills[second.waybill_no].cancelled


async def test_a_ciphertext_of_another_order_or_shop_is_refused(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    first_sn, first = await pulled_receiver(sim, http, seller)
    second_sn, _ = await pulled_receiver(sim, http, seller)
    service = waybill.create_waybill_service(account(sim, seller), http)
    with pytest.raises(InvalidWaybillRequest) as mismatch:  # order 2 with order 1's ciphertexts
        await service.create_waybill(parcel(second_sn, first))
    assert mismatch.value.carrier_code == "10000"

    stranger = sim.store.create_seller(P)
    theirs = waybill.create_waybill_service(account(sim, stranger), http)
    with pytest.raises(InvalidWaybillRequest) as foreign:  # another shop's order and ciphertexts
        await theirs.create_waybill(parcel(first_sn, first))
    assert foreign.value.carrier_code == "50001"

    other_platform = msgspec.structs.replace(first.cipher, platform="douyin") if first.cipher else None
    with pytest.raises(InvalidWaybillRequest):  # not a 拼多多 ciphertext: never sent
        await service.create_waybill(parcel(first_sn, msgspec.structs.replace(first, cipher=other_platform)))


async def test_clear_receivers_carrier_codes_and_refusals(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    jt = account(sim, seller, carrier="JT", template_url="https://t.example/jt")
    service = waybill.create_waybill_service(jt, http)
    clear = Receiver(
        name="王五", phone="13900001111", province="江苏省", city="南京市", district="玄武区", detail="中山路 8 号"
    )
    got = await service.create_waybill(parcel("OH9-W1", clear))  # another channel's order: clear fields, OTHERS
    assert got.carrier == "JT" and got.waybill_no.startswith("JT")
    issued = pdd_state(sim.store).waybills[got.waybill_no]
    assert (issued.wp_code, issued.recipient["mobile"]) == ("JTSD", "13900001111")
    assert json.loads(got.print_data)["templateUrl"] == "https://t.example/jt"

    assert waybill.WP_CODES["YD"] == "YUNDA" and waybill.hub_carrier("YUNDA") == "YD"
    assert waybill.hub_carrier("YZXB") is None
    with pytest.raises(InvalidWaybillRequest):  # no 拼多多 wp_code for this carrier
        waybill.create_waybill_service(account(sim, seller, carrier="XX"), http)

    sim.store.inject_error(P, 1, method=waybill.GET_API)
    with pytest.raises(CarrierUnavailable) as outage:
        await service.create_waybill(parcel("OH9-W2", clear))
    assert outage.value.retryable and outage.value.carrier_code == "52103"

    used = await service.create_waybill(parcel("OH9-W3", clear))
    order = sim.store.add_order(P, seller.app_key)
    await PddConnector(shop_credentials(sim, P, seller), http).client.call(
        "pdd.logistics.online.send",
        {"order_sn": order.order_id, "logistics_id": 384, "tracking_number": used.waybill_no},
    )
    with pytest.raises(InvalidWaybillRequest) as shipped:  # a waybill that shipped an order stays
        await service.cancel_waybill(used)
    assert shipped.value.carrier_code == "50001"
    with pytest.raises(InvalidWaybillRequest):
        await service.cancel_waybill(Waybill(carrier="JT", waybill_no="JT0000000000404", order_ref="x"))
