"""The J&T Express (极兔) adapter against the carrier simulator: real wire format and both digests, real HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest

from orderhub.carriers.jt import mapper
from orderhub.carriers.jt.adapter import JtCarrier
from orderhub.carriers.jt.client import JtClient, business_digest, header_digest
from orderhub.carriers.port import (
    CarrierCredentials,
    CarrierUnavailable,
    DigestRejected,
    InvalidWaybillRequest,
    OutOfServiceArea,
    Party,
    QuotaExhausted,
    TimestampExpired,
    TrackingState,
    WaybillItem,
    WaybillRequest,
    carrier_for,
    registered_carriers,
)
from sandbox.carriers import CarrierServer, running_carriers
from sandbox.carriers.jt import CODES, JtStore
from tests.support.simulators import carrier_credentials

BEIJING = timedelta(hours=8)


SIMULATOR = running_carriers  # the module's `sim` (tests/conftest.py)


@pytest.fixture
def store(sim: CarrierServer) -> JtStore:
    jt = sim.stores["jt"]
    assert isinstance(jt, JtStore)
    return jt


def waybill_request(*, city: str = "上海市", province: str = "上海市", order_ref: str | None = None) -> WaybillRequest:
    return WaybillRequest(
        order_ref=order_ref or f"OH-JT-{uuid.uuid4().hex[:12]}",
        sender=Party(
            name="王仓管",
            phone="13800000001",
            province="广东省",
            city="深圳市",
            district="南山区",
            detail="科技园 1 号",
        ),
        receiver=Party(
            name="李四",
            phone="13900000002",
            province=province,
            city=city,
            district="浦东新区",
            detail="世纪大道 100 号",
        ),
        weight_g=1250,
        items=[WaybillItem(name="保温杯 & 杯套", qty=2)],
    )


def test_digests_match_an_independent_computation() -> None:
    biz = '{"txlogisticId":"OH 1","remark":"易碎 & 轻放"}'
    key = "a0a1047cce70493c9d5d29704f05d0d9"
    expected_header = base64.b64encode(hashlib.md5((biz + key).encode("utf-8")).digest()).decode()
    assert header_digest(biz, key) == expected_header
    assert len(base64.b64decode(expected_header)) == 16  # the raw MD5, not its hex

    cipher = hashlib.md5(b"Aa123456jadada236t2").hexdigest().upper()
    expected_business = base64.b64encode(hashlib.md5(f"J0086474299{cipher}{key}".encode()).digest()).decode()
    assert business_digest("J0086474299", "Aa123456", key) == expected_business


def test_request_maps_to_jt_add_order() -> None:
    biz = mapper.add_order_biz(waybill_request(order_ref="R1"))
    assert biz["txlogisticId"] == "R1" and biz["expressType"] == "EZ" and biz["payType"] == "PP_PM"
    assert (biz["orderType"], biz["serviceType"], biz["deliveryType"]) == ("1", "01", "04")
    assert biz["weight"] == "1.25"
    assert biz["receiver"] == {
        "name": "李四",
        "mobile": "13900000002",
        "prov": "上海市",
        "city": "上海市",
        "area": "浦东新区",
        "address": "世纪大道 100 号",
    }
    assert biz["items"] == [{"itemName": "保温杯 & 杯套", "number": 2}]
    with pytest.raises(InvalidWaybillRequest):
        mapper.add_order_biz(msgspec.structs.replace(waybill_request(), weight_g=0))


async def test_adapter_is_registered(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    assert "JT" in registered_carriers()
    account = store.create_account()
    carrier = carrier_for("JT", carrier_credentials(sim, "jt", account), http)
    assert isinstance(carrier, JtCarrier)
    for text in (repr(carrier), repr(carrier.client), repr(carrier_credentials(sim, "jt", account))):
        assert account.private_key not in text and account.password not in text


async def test_wire_carries_both_digests(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    account = store.create_account()
    client = JtClient(carrier_credentials(sim, "jt", account), http)
    headers, form = client.request_parts({**client.customer_auth(), "billCode": "JT1"})
    biz = json.loads(form["bizContent"])
    assert headers["apiAccount"] == account.api_account and headers["timestamp"].isdigit()
    assert headers["digest"] == header_digest(form["bizContent"], account.private_key)
    assert biz["customerCode"] == account.customer_code
    assert biz["digest"] == business_digest(account.customer_code, account.password, account.private_key)


async def test_wrong_private_key_is_refused(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    account = store.create_account()
    carrier = JtCarrier(carrier_credentials(sim, "jt", account, secret="not-the-private-key"), http)
    with pytest.raises(DigestRejected) as caught:
        await carrier.create_waybill(waybill_request())
    assert caught.value.carrier_code == CODES["header_digest"]
    assert "not-the-private-key" not in str(caught.value)
    assert store.requests[-1].code == CODES["header_digest"]
    assert not store.orders_of(account.api_account)


async def test_wrong_customer_password_is_refused(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    account = store.create_account()
    carrier = JtCarrier(carrier_credentials(sim, "jt", account, customer_password="wrong-password"), http)
    with pytest.raises(DigestRejected) as caught:
        await carrier.create_waybill(waybill_request())
    assert caught.value.carrier_code == CODES["business_digest"] != CODES["header_digest"]
    assert "wrong-password" not in str(caught.value)
    assert not store.orders_of(account.api_account)


async def test_unknown_api_account_is_refused(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    creds = CarrierCredentials(partner_id="NOBODY", secret="x", base_url=sim.url("jt"))
    with pytest.raises(DigestRejected) as caught:
        await JtCarrier(creds, http).track("JT3100000000001")
    assert caught.value.carrier_code == CODES["api_account"]


async def test_expired_timestamp_is_refused(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    account = store.create_account()
    late = JtClient(carrier_credentials(sim, "jt", account), http, clock=lambda: time.time() - 6 * 60)
    with pytest.raises(TimestampExpired) as caught:
        await JtCarrier(carrier_credentials(sim, "jt", account), http, client=late).create_waybill(waybill_request())
    assert caught.value.carrier_code == CODES["timestamp"]
    assert not store.orders_of(account.api_account)


async def test_create_is_idempotent_on_order_ref(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    account = store.create_account()
    carrier = JtCarrier(carrier_credentials(sim, "jt", account), http)
    request = waybill_request()
    first = await carrier.create_waybill(request)
    assert first.carrier == "JT" and first.order_ref == request.order_ref
    assert first.waybill_no.startswith("JT") and len(first.waybill_no) == 15 and first.waybill_no[2:].isdigit()
    assert first.sort_code.startswith("200-")  # 三段码, Shanghai

    again = await carrier.create_waybill(request)
    assert again == first
    assert len(store.orders_of(account.api_account)) == 1
    stored = store.order(request.order_ref)
    assert stored is not None and stored.biz["customerCode"] == account.customer_code


async def test_out_of_service_area(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    store.refuse_area("西藏自治区", "阿里地区")
    account = store.create_account()
    carrier = JtCarrier(carrier_credentials(sim, "jt", account), http)
    with pytest.raises(OutOfServiceArea) as caught:
        await carrier.create_waybill(waybill_request(province="西藏自治区", city="阿里地区"))
    assert caught.value.carrier_code == CODES["out_of_area"]
    assert not store.orders_of(account.api_account)


async def test_quota_exhausted(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    account = store.create_account(quota=1)
    carrier = JtCarrier(carrier_credentials(sim, "jt", account), http)
    await carrier.create_waybill(waybill_request())
    with pytest.raises(QuotaExhausted) as caught:
        await carrier.create_waybill(waybill_request())
    assert caught.value.carrier_code == CODES["quota"]
    assert len(store.orders_of(account.api_account)) == 1


async def test_print_returns_the_label(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    account = store.create_account()
    carrier = JtCarrier(carrier_credentials(sim, "jt", account), http)
    waybill = await carrier.create_waybill(waybill_request())
    label = await carrier.print_data(waybill.waybill_no)
    assert label["waybill_no"] == waybill.waybill_no and label["sort_code"] == waybill.sort_code
    assert label["pdf"].startswith(b"%PDF") and waybill.waybill_no.encode() in label["pdf"]
    with pytest.raises(InvalidWaybillRequest):  # 订单不存在
        await carrier.print_data("JT9999999999999")


async def test_cancel(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    account = store.create_account()
    carrier = JtCarrier(carrier_credentials(sim, "jt", account), http)
    waybill = await carrier.create_waybill(waybill_request())
    await carrier.cancel_waybill(waybill)
    stored = store.order(waybill.order_ref)
    assert stored is not None and stored.cancelled and stored.cancel_reason
    with pytest.raises(InvalidWaybillRequest) as caught:  # a second cancel is refused (订单已取消)
        await carrier.cancel_waybill(waybill)
    assert caught.value.carrier_code == CODES["cancelled"]


async def test_track_maps_the_scripted_journey(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    account = store.create_account()
    carrier = JtCarrier(carrier_credentials(sim, "jt", account), http)
    waybill = await carrier.create_waybill(waybill_request())
    assert await carrier.track(waybill.waybill_no) == []
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    script = [
        ("快件揽收", "【深圳南山网点】的快递员已取件", "深圳南山网点"),
        ("发件扫描", "快件离开【深圳转运中心】已发往【上海转运中心】", "深圳转运中心"),
        ("到件扫描", "快件到达【上海转运中心】", "上海转运中心"),
        ("派件扫描", "【上海浦东网点】的快递员正在派件", "上海浦东网点"),
        ("快件签收", "快件已签收，签收人：本人", "上海浦东网点"),
    ]
    for hour, (scan_type, desc, site) in enumerate(script):
        store.add_trace(waybill.waybill_no, scan_type, desc, at=start + timedelta(hours=hour), site=site)

    events = await carrier.track(waybill.waybill_no)
    assert [e.state for e in events] == [
        TrackingState.COLLECTED,
        TrackingState.IN_TRANSIT,
        TrackingState.IN_TRANSIT,
        TrackingState.OUT_FOR_DELIVERY,
        TrackingState.SIGNED,
    ]
    assert [e.at for e in events] == [start + timedelta(hours=h) for h in range(5)]
    assert all(e.at.utcoffset() == timedelta(0) for e in events)
    assert events[0].description.startswith("【深圳南山网点】") and events[-1].location == "上海浦东网点"
    # the wire carries Beijing wall-clock time
    wire = mapper.to_events(
        [{"billCode": "X", "details": [{"scanTime": "2026-03-01 18:00:00", "scanType": "退件", "desc": "退回"}]}], "X"
    )
    assert wire[0].at == datetime(2026, 3, 1, 18, 0, tzinfo=UTC) - BEIJING
    assert wire[0].state is TrackingState.RETURNED
    assert mapper.state_for_scan_type("问题件扫描") is TrackingState.EXCEPTION


async def test_transport_failures_are_unavailable() -> None:
    creds = CarrierCredentials(partner_id="P", secret="s", base_url="http://jt.invalid/webopenplatformapi/api")

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(boom)) as broken:
        with pytest.raises(CarrierUnavailable) as caught:
            await JtCarrier(creds, broken).track("JT1")
    assert caught.value.carrier_code == "network" and caught.value.retryable

    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(502))) as bad_gateway:
        with pytest.raises(CarrierUnavailable) as caught:
            await JtCarrier(creds, bad_gateway).track("JT1")
    assert caught.value.carrier_code == "http_502"
