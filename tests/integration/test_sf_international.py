"""International waybills through the running hub: a packed order for a Thai receiver gets its SF waybill through the
real 丰桥 client (digest-signed, real HTTP) from the SF simulator, which receives the declaration (HS codes, English
names, currency, postcodes, countries); a carrier without an international service is never asked; what SF refuses
comes back as a clear problem."""

from __future__ import annotations

from typing import Any

import pytest

from orderhub.customs.model import SkuCustoms
from orderhub.orders import pii
from orderhub.orders.tables import Order
from sandbox.carriers.server import CarrierServer
from tests.integration.test_picking import Floor
from tests.integration.test_waybills import _packed_order
from tests.support.factories import Api, unique
from tests.support.hub import Hub

THAI = {
    "receiver_country": "TH",
    "receiver_postcode": "10500",
    "receiver_province": "Bangkok",
    "receiver_city": "Bang Rak",
    "receiver_district": "",
    "receiver_division_code": "",
}
THAI_LINES = "99/1 Silom Road\nSuriyawong"


async def _to_thailand(order_id: int, *, postcode: str = "10500") -> None:
    """The packed order's receiver moved to Bangkok, as intake keeps a foreign receiver (region in province, city,
    the address lines joined with "\\n" in detail, sealed like every receiver's street)."""
    values: dict[Any, Any] = {getattr(Order, name): value for name, value in THAI.items()}
    values[Order.receiver_postcode] = postcode
    values[Order.receiver_detail] = pii.seal(THAI_LINES)
    values[Order.receiver_address] = pii.seal(f"{THAI_LINES.replace(chr(10), ', ')}, Bang Rak, Bangkok {postcode}")
    await Order.update(values).where(Order.id == order_id)


async def _accounts(api: Api, floor: Floor, carriers: CarrierServer, *, sf: bool = True) -> tuple[Any, Any]:
    """The floor's warehouse ships with ZTO (the higher priority) and, with ``sf``, SF whose account knows its
    pick-up postcode (SF wants the sender's postCode on a cross-border order)."""
    sf_account = carriers.sf.create_account(quota=10)
    zto_account = carriers.zto.create_account()
    async with api.client() as client:
        address = {"address": "上海市青浦区华新镇华志路 1 号"}
        r = await client.patch(f"/api/v1/warehouses/{floor.warehouse}", json=address)
        assert r.status_code == 200, r.text
        r = await client.post(
            "/api/v1/carrier-accounts",
            json={
                "code": unique("zto-")[:32],
                "carrier": "ZTO",
                "warehouse": floor.warehouse,
                "sender_name": "华东仓发货组",
                "sender_phone": "02112345678",
                "priority": 10,
                "credentials": {
                    "partner_id": zto_account.app_key,
                    "secret": zto_account.app_secret,
                    "customer_code": zto_account.account_id,
                    "customer_password": zto_account.account_password,
                    "base_url": carriers.url("zto"),
                },
            },
        )
        assert r.status_code == 201, r.text
        if sf:
            r = await client.post(
                "/api/v1/carrier-accounts",
                json={
                    "code": unique("sf-intl-")[:32],
                    "carrier": "SF",
                    "warehouse": floor.warehouse,
                    "sender_name": "华东仓发货组",
                    "sender_phone": "02112345678",
                    "credentials": {
                        "partner_id": sf_account.partner_id,
                        "secret": sf_account.check_word,
                        "customer_code": sf_account.monthly_card,
                        "base_url": carriers.url("sf"),
                        "sender_postcode": "201708",
                    },
                },
            )
            assert r.status_code == 201, r.text
            assert sf_account.check_word not in r.text
    return sf_account, zto_account


async def _declare(floor: Floor, sku: str) -> None:
    from orderhub.customs.skus import put_sku_customs

    await put_sku_customs(
        sku,
        SkuCustoms(
            sku=sku,
            hs_code="8436210000",
            name_en="Automatic pet feeder",
            name_zh="自动喂食器",
            names={"th": "เครื่องให้อาหารสัตว์เลี้ยงอัตโนมัติ"},
            material="ABS plastic",
            usage="feeding pets",
            origin_country="CN",
            unit_value=12900,
            currency="CNY",
            certificates={"TISI": "TIS 1195-2561"},
        ),
        actor="test:sf-intl",
    )


def _declaration_for_exists() -> bool:
    try:
        from orderhub.customs import service
    except ImportError:
        return False
    return hasattr(service, "declaration_for")


async def test_a_thai_order_gets_its_sf_waybill_with_the_declaration(
    api: Api, store: Hub, carriers: CarrierServer
) -> None:
    if not _declaration_for_exists():
        pytest.skip("orderhub.customs.service.declaration_for is not there yet (the customs context writes it)")
    floor = await Floor(api, store.url).setup()
    sf_account, _ = await _accounts(api, floor, carriers)
    order_id, _station, _pack = await _packed_order(floor)
    await _declare(floor, floor.codes[0])
    await _to_thailand(order_id)
    zto_before = len(carriers.zto.requests)

    async with api.client() as client:
        r = await client.post(f"/api/v1/orders/{order_id}/waybill")
    assert r.status_code == 200, r.text
    waybill = r.json()
    assert waybill["carrier"] == "SF" and waybill["waybill_no"].startswith("SF")  # not ZTO, the higher priority
    assert len(carriers.zto.requests) == zto_before

    (order,) = carriers.sf.orders_of(sf_account.partner_id)
    received = order.msg_data
    sender, receiver = received["contactInfoList"]
    assert (receiver["country"], receiver["postCode"], receiver["province"], receiver["city"]) == (
        "TH", "10500", "Bangkok", "Bang Rak"
    )
    assert receiver["address"] == "99/1 Silom Road, Suriyawong"
    assert (sender["country"], sender["postCode"], sender["city"]) == ("CN", "201708", "上海市")
    (cargo,) = received["cargoDetails"]
    assert (cargo["name"], cargo["hsCode"], cargo["sourceArea"], cargo["count"]) == (
        "Automatic pet feeder", "8436210000", "CN", 2
    )
    assert cargo["currency"] and received["customsInfo"]["declaredValueCurrency"] == cargo["currency"]
    assert received["customsInfo"]["declaredValue"] > 0 and received["expressTypeId"] == 24
    assert order.dest_country == "TH" and order.dest_post_code == "10500"


async def test_sfs_refusal_of_a_thai_order_without_postcode_is_a_clear_problem(
    api: Api, store: Hub, carriers: CarrierServer
) -> None:
    if not _declaration_for_exists():
        pytest.skip("orderhub.customs.service.declaration_for is not there yet (the customs context writes it)")
    floor = await Floor(api, store.url).setup()
    sf_account, _ = await _accounts(api, floor, carriers)
    order_id, _station, _pack = await _packed_order(floor)
    await _declare(floor, floor.codes[0])
    await _to_thailand(order_id, postcode="")

    async with api.client() as client:
        r = await client.post(f"/api/v1/orders/{order_id}/waybill")
        assert r.status_code == 422, r.text
        problem = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert problem["code"] == "carrier_customs_incomplete"
        assert problem["carrier_code"] == "6201" and "收件人邮编" in problem["message"]
        assert not carriers.sf.orders_of(sf_account.partner_id)
        # refused on a first ask: nothing was issued, the next press may choose again
        again = await client.post(f"/api/v1/orders/{order_id}/waybill")
        assert again.json()["carrier_code"] == "6201"


async def test_a_warehouse_without_an_international_carrier_refuses_a_thai_order(
    api: Api, store: Hub, carriers: CarrierServer
) -> None:
    floor = await Floor(api, store.url).setup()
    await _accounts(api, floor, carriers, sf=False)
    order_id, _station, _pack = await _packed_order(floor)
    await _to_thailand(order_id)
    before = len(carriers.zto.requests)
    async with api.client() as client:
        r = await client.post(f"/api/v1/orders/{order_id}/waybill")
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "carrier_international_unsupported"
    assert "该承运商不支持国际件" in r.json()["message"]
    assert len(carriers.zto.requests) == before  # ZTO is never sent a Thai address
