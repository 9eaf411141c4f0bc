"""The SF Express (顺丰) adapter against the carrier simulator: real wire format and digest, real HTTP."""

from __future__ import annotations

import base64
import hashlib
import time
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest

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
from orderhub.carriers.sf import mapper
from orderhub.carriers.sf.adapter import SfCarrier
from orderhub.carriers.sf.client import SfClient, msg_digest
from sandbox.carriers import CarrierServer, running_carriers
from tests.support.simulators import carrier_credentials

BEIJING = timedelta(hours=8)


SIMULATOR = running_carriers  # the module's `sim` (tests/conftest.py)


def waybill_request(*, city: str = "上海市", province: str = "上海市", order_ref: str | None = None) -> WaybillRequest:
    return WaybillRequest(
        order_ref=order_ref or f"OH-SF-{uuid.uuid4().hex[:12]}",
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
            phone="021-55550000",
            province=province,
            city=city,
            district="浦东新区",
            detail="世纪大道 100 号 8 楼",
        ),
        weight_g=1250,
        items=[WaybillItem(name="保温杯 & 杯套", qty=2)],
    )


def test_digest_matches_an_independent_computation() -> None:
    msg_data = '{"orderId":"OH 1","remark":"易碎 & 轻放/~*"}'
    timestamp = "1700000000000"
    check_word = "fc34c561a34f"
    quoted = urllib.parse.quote_plus(msg_data + timestamp + check_word, safe="")
    expected = base64.b64encode(hashlib.md5(quoted.encode("utf-8")).digest()).decode()
    assert msg_digest(msg_data, timestamp, check_word) == expected
    assert "+" in quoted and "%E6%98%93" in quoted  # space → "+", UTF-8 percent-encoded
    assert len(base64.b64decode(expected)) == 16  # the raw MD5, not its hex


def test_request_maps_to_sf_create_order() -> None:
    data = mapper.create_order_data(waybill_request(order_ref="R1"), monthly_card="7551234567")
    assert data["orderId"] == "R1" and data["monthlyCard"] == "7551234567"
    assert data["totalWeight"] == 1.25 and data["expressTypeId"] == 1 and data["isReturnRoutelabel"] == 1
    sender, receiver = data["contactInfoList"]
    assert (sender["contactType"], sender["mobile"]) == (1, "13800000001")
    assert (receiver["contactType"], receiver["tel"], receiver["county"]) == (2, "021-55550000", "浦东新区")
    assert data["cargoDetails"] == [{"name": "保温杯 & 杯套", "count": 2}]
    with pytest.raises(InvalidWaybillRequest):
        mapper.create_order_data(msgspec.structs.replace(waybill_request(), weight_g=0), monthly_card="")


async def test_adapter_is_registered(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    assert "SF" in registered_carriers()
    account = sim.sf.create_account()
    carrier = carrier_for("SF", carrier_credentials(sim, "sf", account), http)
    assert isinstance(carrier, SfCarrier)
    assert account.check_word not in repr(carrier) and account.check_word not in repr(carrier.client)


async def test_wrong_check_word_is_refused_with_a1006(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    account = sim.sf.create_account()
    carrier = SfCarrier(carrier_credentials(sim, "sf", account, secret="not-the-check-word"), http)
    with pytest.raises(DigestRejected) as caught:
        await carrier.create_waybill(waybill_request())
    assert caught.value.carrier_code == "A1006"
    assert "not-the-check-word" not in str(caught.value)
    assert sim.sf.requests[-1].api_result_code == "A1006"
    assert not sim.sf.orders_of(account.partner_id)


async def test_unknown_partner_is_refused(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    creds = CarrierCredentials(partner_id="NOBODY", secret="x", base_url=sim.url("sf"))
    with pytest.raises(DigestRejected) as caught:
        await SfCarrier(creds, http).track("SF1400000000001")
    assert caught.value.carrier_code == "A1004"


async def test_expired_timestamp_is_refused(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    account = sim.sf.create_account()
    late = SfClient(carrier_credentials(sim, "sf", account), http, clock=lambda: time.time() - 3600)
    carrier = SfCarrier(carrier_credentials(sim, "sf", account), http, client=late)
    with pytest.raises(TimestampExpired) as caught:
        await carrier.create_waybill(waybill_request())
    assert caught.value.carrier_code == "A1002"


async def test_create_is_idempotent_on_order_ref(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    account = sim.sf.create_account()
    carrier = SfCarrier(carrier_credentials(sim, "sf", account), http)
    request = waybill_request()
    first = await carrier.create_waybill(request)
    assert first.carrier == "SF" and first.order_ref == request.order_ref
    assert first.waybill_no.startswith("SF") and len(first.waybill_no) == 15 and first.waybill_no[2:].isdigit()
    assert first.sort_code.startswith("021") and first.destination_code and first.origin_code == "755"

    again = await carrier.create_waybill(request)
    assert again == first
    assert len(sim.sf.orders_of(account.partner_id)) == 1
    codes = [(r.service_code, r.error_code) for r in sim.sf.requests if r.partner_id == account.partner_id]
    assert codes[-2:] == [("EXP_RECE_CREATE_ORDER", "8016"), ("EXP_RECE_SEARCH_ORDER_RESP", "S0000")]
    stored = sim.sf.order(request.order_ref)
    assert stored is not None and stored.msg_data["monthlyCard"] == account.monthly_card


async def test_out_of_service_area(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    sim.sf.refuse_area("西藏自治区", "阿里地区")
    account = sim.sf.create_account()
    carrier = SfCarrier(carrier_credentials(sim, "sf", account), http)
    with pytest.raises(OutOfServiceArea) as caught:
        await carrier.create_waybill(waybill_request(province="西藏自治区", city="阿里地区"))
    assert caught.value.carrier_code == "8019"
    assert not sim.sf.orders_of(account.partner_id)


async def test_quota_exhausted(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    account = sim.sf.create_account(quota=1)
    carrier = SfCarrier(carrier_credentials(sim, "sf", account), http)
    await carrier.create_waybill(waybill_request())
    with pytest.raises(QuotaExhausted):
        await carrier.create_waybill(waybill_request())
    assert len(sim.sf.orders_of(account.partner_id)) == 1


async def test_cancel(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    account = sim.sf.create_account()
    carrier = SfCarrier(carrier_credentials(sim, "sf", account), http)
    waybill = await carrier.create_waybill(waybill_request())
    await carrier.cancel_waybill(waybill)
    stored = sim.sf.order(waybill.order_ref)
    assert stored is not None and stored.cancelled
    with pytest.raises(InvalidWaybillRequest):  # a second cancel is refused (订单已取消)
        await carrier.cancel_waybill(waybill)


async def test_track_maps_the_scripted_route(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    account = sim.sf.create_account()
    carrier = SfCarrier(carrier_credentials(sim, "sf", account), http)
    waybill = await carrier.create_waybill(waybill_request())
    assert await carrier.track(waybill.waybill_no) == []
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    script = [
        ("50", "顺丰速运 已收取快件", "深圳市"),
        ("30", "快件在【深圳宝安中转场】完成分拣，准备发往下一站", "深圳市"),
        ("31", "快件到达【上海浦东集散中心】", "上海市"),
        ("44", "快件交给李师傅，正在派送途中", "上海市"),
        ("80", "您的快件已签收，如有疑问请电联快递员", "上海市"),
    ]
    for hour, (op_code, remark, address) in enumerate(script):
        sim.sf.add_route(waybill.waybill_no, op_code, remark, at=start + timedelta(hours=hour), address=address)

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
    assert events[0].description == "顺丰速运 已收取快件" and events[-1].location == "上海市"
    # the wire carries Beijing wall-clock time
    wire = mapper.to_events(
        {"routeResps": [{"mailNo": "X", "routes": [{"acceptTime": "2026-03-01 18:00:00", "opCode": "648"}]}]}, "X"
    )
    assert wire[0].at == datetime(2026, 3, 1, 18, 0, tzinfo=UTC) - BEIJING
    assert wire[0].state is TrackingState.RETURNED


async def test_transport_failures_are_unavailable() -> None:
    creds = CarrierCredentials(partner_id="P", secret="s", base_url="http://sf.invalid/std/service")

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(boom)) as broken:
        with pytest.raises(CarrierUnavailable) as caught:
            await SfCarrier(creds, broken).track("SF1")
    assert caught.value.carrier_code == "network" and caught.value.retryable

    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(502))) as bad_gateway:
        with pytest.raises(CarrierUnavailable) as caught:
            await SfCarrier(creds, bad_gateway).track("SF1")
    assert caught.value.carrier_code == "http_502"
