"""The SF Express (顺丰) adapter against the carrier simulator: real wire format and digest, real HTTP."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
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
    TimestampExpired,
    TrackingState,
    WaybillItem,
    WaybillRequest,
    carrier_for,
    registered_carriers,
)
from orderhub.carriers.sf import mapper
from orderhub.carriers.sf.adapter import SfCarrier
from orderhub.carriers.sf.client import (
    SfBusinessError,
    SfClient,
    classify_business_error,
    classify_gateway_error,
    java_url_encode,
    msg_digest,
)
from sandbox.carriers import CarrierServer, running_carriers
from sandbox.carriers.sf import digest as simulator_digest
from sandbox.carriers.sf import url_encode_like_java
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


# SF's own worked example, 丰桥「数字签名认证说明」(https://open.sf-express.com/developSupport/976720?activeIndex=641728):
# msgData {"language":"zh-CN","orderId":"QIAO-20200618-004"}, timestamp 12312334453453, checkWord
# fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci → msgDigest IIKJtuLVzoFTu4kHI8M8vA==.
SF_EXAMPLE = (
    '{"language":"zh-CN","orderId":"QIAO-20200618-004"}',
    "12312334453453",
    "fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci",
    "IIKJtuLVzoFTu4kHI8M8vA==",
)

# SF publishes no vector with "*", "~", spaces or Chinese. These expectations were computed with a real JDK (OpenJDK
# 17.0.15): Base64.getEncoder().encodeToString(MessageDigest.getInstance("MD5").digest(
# URLEncoder.encode(msgData + timestamp + checkWord, "UTF-8").getBytes("UTF-8"))) — i.e. java.net.URLEncoder +
# MessageDigest, as SF's own Java sample does — and pasted here as literals.
JDK_VECTORS = [
    (
        '{"contactInfoList":[{"contact":"张*","mobile":"138****0000","address":"世纪大道 100 号"}],'
        '"remark":"易碎*轻放~"}',
        "1700000000000",
        "fc34c561a34f0e6d",
        "6Rhf0snl6SujZ+O6p6NVdg==",
    ),
    ("a*b~c d+e&f=g/h.i-j_k!'()", "1", "x", "aaeQaLkONmyd1lRELb10aw=="),
    ('{"remark":"易碎 & 轻放/~*"}', "1712345678901", "checkWord~*", "rJ5RpY+hwtU5zFVQfpVXbg=="),
]
# URLEncoder.encode(…, "UTF-8") of two of those texts, from the same JDK run.
JDK_ENCODED = [
    ("a*b~c d+e&f=g/h.i-j_k!'()1x", "a*b%7Ec+d%2Be%26f%3Dg%2Fh.i-j_k%21%27%28%291x"),
    (
        '{"remark":"易碎 & 轻放/~*"}1712345678901checkWord~*',
        "%7B%22remark%22%3A%22%E6%98%93%E7%A2%8E+%26+%E8%BD%BB%E6%94%BE%2F%7E*%22%7D1712345678901checkWord%7E*",
    ),
]


@pytest.mark.parametrize("sign", [msg_digest, simulator_digest], ids=["client", "simulator"])
def test_digest_reproduces_sfs_published_example(sign: Callable[[str, str, str], str]) -> None:
    msg_data, timestamp, check_word, expected = SF_EXAMPLE
    assert sign(msg_data, timestamp, check_word) == expected


@pytest.mark.parametrize("sign", [msg_digest, simulator_digest], ids=["client", "simulator"])
@pytest.mark.parametrize(("msg_data", "timestamp", "check_word", "expected"), JDK_VECTORS)
def test_digest_matches_the_jdk_on_star_tilde_space_and_chinese(
    sign: Callable[[str, str, str], str], msg_data: str, timestamp: str, check_word: str, expected: str
) -> None:
    assert sign(msg_data, timestamp, check_word) == expected
    assert len(base64.b64decode(expected)) == 16  # the raw MD5, not its hex


@pytest.mark.parametrize("encode", [java_url_encode, url_encode_like_java], ids=["client", "simulator"])
@pytest.mark.parametrize(("text", "expected"), JDK_ENCODED)
def test_url_encoding_is_javas(encode: Callable[[str], str], text: str, expected: str) -> None:
    assert encode(text) == expected


def test_business_codes_mean_what_sf_documents() -> None:
    """丰桥「速运类接口业务相关错误码」: 1010 寄件地址不能为空, 6150 找不到该订单, 8196 信息异常 (电话),
    20011 产品与定时派送服务时间段不匹配 are refusals of the request as sent — not "out of area" or "no balance";
    8016 is the duplicate."""
    for code, message in [
        ("1010", "寄件地址不能为空"),
        ("6150", "找不到该订单"),
        ("8196", "信息异常"),
        ("20011", "产品与定时派送服务时间段不匹配"),
        ("8016", "重复下单"),
    ]:
        error = classify_business_error(code, message)
        assert type(error) is SfBusinessError and error.carrier_code == code, code
    assert type(classify_business_error("8177", "正值运力高峰期")) is CarrierUnavailable
    # only a code SF does not document falls back to the message
    assert type(classify_business_error("9999", "收件地址不在收派范围")) is OutOfServiceArea
    assert type(classify_business_error("8053", "目的地不在定时派送服务范围内")) is SfBusinessError
    # 3.1 (API)平台结果代码列表
    assert type(classify_gateway_error("A1006", "数字签名无效")) is DigestRejected
    assert type(classify_gateway_error("A1002", "请求时效已过期")) is TimestampExpired
    assert type(classify_gateway_error("A1003", "IP无效")) is DigestRejected
    assert type(classify_gateway_error("A1005", "流量受控")) is CarrierUnavailable
    assert type(classify_gateway_error("A1001", "必传参数不可为空")) is InvalidWaybillRequest


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
    """SF answers an address it cannot serve with filterResult 3 (不可以收派), remark 1 (收方超范围): no error."""
    sim.sf.refuse_area("西藏自治区", "阿里地区")
    account = sim.sf.create_account()
    carrier = SfCarrier(carrier_credentials(sim, "sf", account), http)
    request = waybill_request(province="西藏自治区", city="阿里地区")
    with pytest.raises(OutOfServiceArea) as caught:
        await carrier.create_waybill(request)
    assert (caught.value.carrier_code, caught.value.carrier_message) == ("filterResult=3", "收方超范围")
    (order,) = sim.sf.orders_of(account.partner_id)
    assert (order.filter_result, order.waybill_no) == (3, "")
    with pytest.raises(OutOfServiceArea):  # asked again: 8016, and the order SF holds says the same
        await carrier.create_waybill(request)
    codes = [r.error_code for r in sim.sf.requests if r.partner_id == account.partner_id]
    assert codes == ["S0000", "8016", "S0000"]


async def test_a_card_sf_will_not_ship_on(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    account = sim.sf.create_account(quota=1)
    carrier = SfCarrier(carrier_credentials(sim, "sf", account), http)
    await carrier.create_waybill(waybill_request())
    with pytest.raises(SfBusinessError) as caught:
        await carrier.create_waybill(waybill_request())
    assert (caught.value.carrier_code, caught.value.carrier_message) == ("8114", "传入了不可发货的月结卡号")
    assert len(sim.sf.orders_of(account.partner_id)) == 1


async def test_star_tilde_and_chinese_go_through_the_simulator(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    """End to end: the real client's digest over a receiver "张*", phone "138****0000" and remark "易碎*轻放~"
    passes the simulator's verifier (written from SF's spec, not from the client)."""
    account = sim.sf.create_account()
    carrier = SfCarrier(carrier_credentials(sim, "sf", account), http)
    base = waybill_request()
    receiver = msgspec.structs.replace(base.receiver, name="张*", phone="138****0000", detail="世纪大道 100 号 ~8 楼")
    request = msgspec.structs.replace(base, receiver=receiver, remark="易碎*轻放~")
    waybill = await carrier.create_waybill(request)
    assert waybill.waybill_no.startswith("SF")
    stored = sim.sf.order(request.order_ref, account.partner_id)
    assert stored is not None and stored.msg_data["remark"] == "易碎*轻放~"
    assert stored.msg_data["contactInfoList"][1]["contact"] == "张*"
    assert sim.sf.requests[-1].api_result_code == "A1000"


async def test_cancel(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    account = sim.sf.create_account()
    carrier = SfCarrier(carrier_credentials(sim, "sf", account), http)
    waybill = await carrier.create_waybill(waybill_request())
    await carrier.cancel_waybill(waybill)
    stored = sim.sf.order(waybill.order_ref)
    assert stored is not None and stored.cancelled
    with pytest.raises(InvalidWaybillRequest) as caught:  # a second cancel is refused: 8037 已消单
        await carrier.cancel_waybill(waybill)
    assert caught.value.carrier_code == "8037"


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
