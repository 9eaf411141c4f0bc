"""A Thai parcel through the real SF adapter and client (digest-signed form, real HTTP) to the SF simulator, which
checks the cross-border fields as SF's page documents them and keeps what it received."""

from __future__ import annotations

import uuid

import httpx
import msgspec
import pytest

from orderhub.carriers.port import CustomsIncomplete, InternationalUnsupported
from orderhub.carriers.sf.adapter import SfCarrier
from orderhub.carriers.zto.adapter import ZtoCarrier
from sandbox.carriers import CarrierServer, running_carriers
from tests.support.simulators import carrier_credentials
from tests.unit.test_sf_intl_mapper import THAI_RECEIVER, declaration, thai_request

SIMULATOR = running_carriers  # the module's `sim` (tests/conftest.py)


def _ref(tag: str) -> str:
    return f"OH-INTL-{tag}-{uuid.uuid4().hex[:8]}"


async def test_thai_parcel_gets_a_waybill_and_sf_receives_the_declaration(
    sim: CarrierServer, http: httpx.AsyncClient
) -> None:
    account = sim.sf.create_account()
    carrier = SfCarrier(carrier_credentials(sim, "sf", account, sender_postcode="518057"), http)
    ref = _ref("ok")
    waybill = await carrier.create_waybill(thai_request(order_ref=ref))
    assert waybill.carrier == "SF" and waybill.waybill_no.startswith("SF") and waybill.order_ref == ref

    order = sim.sf.order(ref, account.partner_id)
    assert order is not None and order.dest_country == "TH" and order.dest_post_code == "10500"
    received = order.msg_data
    sender, receiver = received["contactInfoList"]
    assert (receiver["country"], receiver["postCode"], receiver["city"]) == ("TH", "10500", "Bang Rak")
    assert (sender["country"], sender["postCode"]) == ("CN", "518057")
    (cargo,) = received["cargoDetails"]
    assert (cargo["name"], cargo["hsCode"], cargo["currency"], cargo["sourceArea"]) == (
        "Automatic pet feeder", "8436210000", "THB", "CN"
    )
    assert received["customsInfo"] == {"declaredValue": 2580.0, "declaredValueCurrency": "THB"}
    assert received["expressTypeId"] == 24

    # asked again (a retry): SF answers 8016 重复下单 and the adapter returns the same waybill
    again = await carrier.create_waybill(thai_request(order_ref=ref))
    assert again.waybill_no == waybill.waybill_no


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("receiver_postcode", "6201"),  # 国际件到方邮编不能为空
        ("sender_postcode", "6200"),  # 国际件寄方邮编不能为空
        ("currency", "6206"),  # 国际件货物币种不能为空
        ("origin", "6207"),  # 国际件原产地不能为空
    ],
)
async def test_a_missing_cross_border_field_is_sfs_documented_refusal(
    sim: CarrierServer, http: httpx.AsyncClient, change: str, code: str
) -> None:
    account = sim.sf.create_account()
    postcode = "" if change == "sender_postcode" else "518057"
    carrier = SfCarrier(carrier_credentials(sim, "sf", account, sender_postcode=postcode), http)
    request = thai_request(order_ref=_ref(code))
    if change == "receiver_postcode":
        request = msgspec.structs.replace(request, receiver=msgspec.structs.replace(THAI_RECEIVER, postcode=""))
    elif change == "currency":
        request = msgspec.structs.replace(request, customs=declaration(currency=""))
    elif change == "origin":
        line = msgspec.structs.replace(declaration().lines[0], origin_country="")
        request = msgspec.structs.replace(request, customs=declaration(lines=[line]))
    with pytest.raises(CustomsIncomplete) as caught:
        await carrier.create_waybill(request)
    assert caught.value.carrier_code == code
    assert caught.value.code == "carrier_customs_incomplete"
    assert sim.sf.requests[-1].error_code == code
    assert not sim.sf.orders_of(account.partner_id)


async def test_zto_refuses_a_thai_receiver_without_calling_zto(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    account = sim.zto.create_account()
    before = len(sim.zto.requests)
    with pytest.raises(InternationalUnsupported):
        await ZtoCarrier(carrier_credentials(sim, "zto", account), http).create_waybill(thai_request())
    assert len(sim.zto.requests) == before
