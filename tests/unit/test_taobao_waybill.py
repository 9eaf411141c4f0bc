"""菜鸟电子面单 (``cainiao.waybill.ii.get`` / ``.cancel``) through the TOP simulator: a 淘宝 order's receiver goes
as its OAID (+ tid) with the masked forms, never decrypted; the waybill is a privacy one with the print data."""

from __future__ import annotations

import json
from datetime import timedelta

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
from orderhub.channels.taobao.connector import DECRYPT_METHOD, TaobaoConnector
from orderhub.orders.commands import Receiver, ReceiverCipher
from sandbox.platforms import PlatformServer, SellerAccount, running_platforms
from sandbox.platforms import Receiver as SimReceiver
from sandbox.platforms.taobao import top_state
from tests.support.simulators import shop_credentials

P = "taobao"
SIMULATOR = running_platforms
TEMPLATE = "http://cloudprint.cainiao.com/template/standard/101"
SENDER = Party(
    name="上海仓", phone="021-55550000", province="上海市", city="上海市", district="浦东新区", detail="张江路 1 号"
)


def account(sim: PlatformServer, seller: SellerAccount, carrier: str = "YD", **settings: str) -> PlatformWaybillAccount:
    return PlatformWaybillAccount(
        platform="taobao",
        carrier=carrier,
        app_key=seller.app_key,
        app_secret=seller.app_secret,
        access_token=seller.access_token,
        shop_id=seller.shop_id,
        base_url=sim.url(P),
        settings={"template_url": TEMPLATE, **settings},
    )


async def pulled(sim: PlatformServer, http: httpx.AsyncClient, seller: SellerAccount) -> tuple[str, Receiver]:
    now = sim.store.now().replace(microsecond=0)
    order = sim.store.add_order(P, seller.app_key, updated_at=now - timedelta(minutes=1))
    page = await TaobaoConnector(shop_credentials(sim, P, seller), http).pull(now - timedelta(minutes=5), now, None)
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


async def test_a_waybill_for_an_oaid_receiver(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    tid, receiver = await pulled(sim, http, seller)
    assert receiver.cipher is not None and receiver.cipher.open_id
    service = PLATFORM_WAYBILLS.get("taobao")(account(sim, seller), http)  # as server.wiring registers it

    got = await service.create_waybill(parcel(tid, receiver))

    assert (got.carrier, got.order_ref, got.privacy) == ("YD", tid, True) and got.waybill_no
    printed = json.loads(got.print_data)
    assert printed["templateURL"] == TEMPLATE and printed["encryptedData"]
    [issued] = [w for w in top_state(sim.store).waybills if w.app_key == seller.app_key]
    assert (issued.cp_code, issued.tid, issued.oaid, issued.waybill_code) == (
        "YUNDA",
        tid,
        receiver.cipher.open_id,
        got.waybill_no,
    )
    clear = sim.store.order(P, tid).receiver
    sent = json.dumps(issued.recipient, ensure_ascii=False)
    for value in (clear.name, clear.mobile, clear.detail):
        assert value not in sent  # the masked forms and the OAID went, nothing clear
    assert not [r for r in sim.store.requests(P, method=DECRYPT_METHOD) if r.app_key == seller.app_key]

    again = await service.create_waybill(parcel(tid, receiver))  # the same object_id: the same waybill
    assert again.waybill_no == got.waybill_no
    await service.cancel_waybill(got)
    assert issued.cancelled
    with pytest.raises(InvalidWaybillRequest):
        await service.cancel_waybill(got)  # cancel_result false the second time


async def test_a_stale_or_foreign_oaid_is_refused(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    tid, receiver = await pulled(sim, http, seller)
    other_tid, _ = await pulled(sim, http, seller)
    service = PLATFORM_WAYBILLS.get("taobao")(account(sim, seller), http)
    with pytest.raises(InvalidWaybillRequest) as foreign:
        await service.create_waybill(parcel(other_tid, receiver))  # this OAID is not that order's
    assert foreign.value.carrier_code == "15/isv.invalid-parameter:oaid"

    moved = SimReceiver(
        name="王五", mobile="13512345678", province="北京市", city="北京市", district="朝阳区", detail="建国路1号"
    )
    sim.store.update_order(P, tid, receiver=moved)
    with pytest.raises(InvalidWaybillRequest):
        await service.create_waybill(parcel(tid, receiver))  # the receiver changed since: pull the order again

    pdd = Receiver(name="李*", phone="138****0000", detail="x", cipher=ReceiverCipher(platform="pdd", name="~a~"))
    with pytest.raises(InvalidWaybillRequest) as not_ours:
        await service.create_waybill(parcel(tid, pdd))
    assert not_ours.value.carrier_code == "foreign_cipher"


async def test_a_clear_receiver_and_the_settings(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    service = PLATFORM_WAYBILLS.get("taobao")(account(sim, seller, carrier="SF"), http)
    clear = Receiver(
        name="赵六", phone="13700001111", province="江苏省", city="南京市", district="玄武区", detail="中山路 2 号"
    )
    got = await service.create_waybill(parcel("HUB-42", clear))
    [issued] = [w for w in top_state(sim.store).waybills if w.app_key == seller.app_key]
    assert (issued.cp_code, issued.oaid, issued.recipient["name"], got.privacy) == ("SF", "", "赵六", True)

    with pytest.raises(InvalidWaybillRequest) as no_template:
        PLATFORM_WAYBILLS.get("taobao")(account(sim, seller, template_url=""), http)
    assert no_template.value.carrier_code == "no_template"
    with pytest.raises(InvalidWaybillRequest):
        PLATFORM_WAYBILLS.get("taobao")(account(sim, seller, carrier="DHL"), http)
    assert "secret" not in repr(service) and seller.access_token not in repr(service)
