"""The J&T Express (极兔) adapter against the carrier simulator: real wire format and both digests, real HTTP."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest

from orderhub.carriers.jt import mapper
from orderhub.carriers.jt.adapter import JtCarrier
from orderhub.carriers.jt.client import JtBusinessError, JtClient, business_digest, classify_error, header_digest
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
from sandbox.carriers.jt import CODES, JtStore, business_digest_ok, handle, header_digest_ok
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


# J&T's published example: the SignDemoUtils demo of the J&T open platform (文档中心 › 签名说明) signs with test
# apiAccount 178337126125932605, privateKey 0258d71b55fc45e3ad7a7f38bf4b201a, customerCode J0086474299 and customer
# password H5CD3zE6, and its addOrder sample request carries the resulting business digest
# "customerCode":"J0086474299","digest":"qonqb4O1eNr6VCWS07Ieeg==" (密文 6A272C3DD1F3CD2F92BF567C37040910).
DEMO = CarrierCredentials(
    partner_id="178337126125932605",
    secret="0258d71b55fc45e3ad7a7f38bf4b201a",
    customer_code="J0086474299",
    customer_password="H5CD3zE6",
)
DEMO_BUSINESS_DIGEST = "qonqb4O1eNr6VCWS07Ieeg=="
# J&T publishes no header digest together with its input. This one was computed by hand, outside Python:
#   printf '%s' '<DEMO_BIZ><privateKey>' | openssl dgst -md5 -binary | base64
DEMO_BIZ = (
    '{"customerCode":"J0086474299","digest":"qonqb4O1eNr6VCWS07Ieeg==","billCode":"JT0000000000001",'
    '"remark":"易碎 & 轻放"}'
)
DEMO_HEADER_DIGEST = "mN3letLQqlf9rYtPFXcaZg=="


def test_business_digest_is_j_and_t_published_vector(http: httpx.AsyncClient) -> None:
    assert business_digest(DEMO.customer_code, DEMO.customer_password, DEMO.secret) == DEMO_BUSINESS_DIGEST
    assert JtClient(DEMO, http).customer_auth() == {"customerCode": "J0086474299", "digest": DEMO_BUSINESS_DIGEST}


def test_header_digest_over_the_exact_biz_content(http: httpx.AsyncClient) -> None:
    client = JtClient(DEMO, http, clock=lambda: 1_720_000_000.25)
    biz = {**client.customer_auth(), "billCode": "JT0000000000001", "remark": "易碎 & 轻放"}
    headers, form = client.request_parts(biz)
    assert form == {"bizContent": DEMO_BIZ}
    assert headers == {"apiAccount": "178337126125932605", "digest": DEMO_HEADER_DIGEST, "timestamp": "1720000000250"}
    assert header_digest(DEMO_BIZ, DEMO.secret) == DEMO_HEADER_DIGEST


def test_simulator_verifies_digests_as_published() -> None:
    """The simulator's checks (written from J&T's description, not from our client) accept J&T's own example and
    refuse the smallest change."""
    assert business_digest_ok("J0086474299", "H5CD3zE6", DEMO.secret, DEMO_BUSINESS_DIGEST)
    assert not business_digest_ok("J0086474299", "H5CD3zE7", DEMO.secret, DEMO_BUSINESS_DIGEST)
    assert not business_digest_ok("J0086474299", "H5CD3zE6", DEMO.secret, "6A272C3DD1F3CD2F92BF567C37040910")
    assert header_digest_ok(DEMO_BIZ, DEMO.secret, DEMO_HEADER_DIGEST)
    assert not header_digest_ok(DEMO_BIZ + " ", DEMO.secret, DEMO_HEADER_DIGEST)
    assert not header_digest_ok(DEMO_BIZ, DEMO.secret, "not base64!")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("145003030", DigestRejected),  # headers signature verification failed
        ("145003031", DigestRejected),  # 业务参数签名失败
        ("999001030", DigestRejected),  # customerCode or password is wrong
        ("145003010", DigestRejected),  # API account does not exist
        ("999011010", DigestRejected),  # customer not exist
        ("145005004", OutOfServiceArea),  # delivery address temporarily suspended
        ("145005005", QuotaExhausted),  # billcode acquisition failed
        ("145005000", CarrierUnavailable),  # 系统错误
        ("145003040", CarrierUnavailable),  # 内部调用异常
        ("145003053", JtBusinessError),  # timestamp is empty! — not a stale clock
        ("145003050", JtBusinessError),  # Illegal parameters
    ],
)
def test_documented_codes_classify(code: str, kind: type) -> None:
    error = classify_error(code, "msg")
    assert type(error) is kind and error.carrier_code == code and not isinstance(error, TimestampExpired)


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
    assert header_digest_ok(form["bizContent"], account.private_key, headers["digest"])
    assert biz["customerCode"] == account.customer_code
    assert business_digest_ok(account.customer_code, account.password, account.private_key, biz["digest"])


async def test_wrong_private_key_is_refused(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    account = store.create_account()
    carrier = JtCarrier(carrier_credentials(sim, "jt", account, secret="not-the-private-key"), http)
    with pytest.raises(DigestRejected) as caught:
        await carrier.create_waybill(waybill_request())
    assert caught.value.carrier_code == CODES["header_digest"][0]
    assert "not-the-private-key" not in str(caught.value)
    assert store.requests[-1].code == CODES["header_digest"][0]
    assert not store.orders_of(account.api_account)


async def test_wrong_customer_password_is_refused(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    account = store.create_account()
    carrier = JtCarrier(carrier_credentials(sim, "jt", account, customer_password="wrong-password"), http)
    with pytest.raises(DigestRejected) as caught:
        await carrier.create_waybill(waybill_request())
    assert caught.value.carrier_code == CODES["business_digest"][0] != CODES["header_digest"][0]
    assert "wrong-password" not in str(caught.value)
    assert not store.orders_of(account.api_account)


async def test_unknown_api_account_is_refused(sim: CarrierServer, http: httpx.AsyncClient) -> None:
    creds = CarrierCredentials(partner_id="NOBODY", secret="x", base_url=sim.url("jt"))
    with pytest.raises(DigestRejected) as caught:
        await JtCarrier(creds, http).track("JT3100000000001")
    assert caught.value.carrier_code == CODES["api_account"][0]


def test_missing_headers_are_refused_with_documented_codes(store: JtStore) -> None:
    account = store.create_account()
    form = {"bizContent": '{"billCodes":"JT1"}'}
    complete = {"apiaccount": account.api_account, "digest": "x", "timestamp": "1720000000000"}
    kinds = {"apiaccount": "api_account_empty", "digest": "digest_empty", "timestamp": "timestamp_empty"}
    for missing, kind in kinds.items():
        headers = {name: value for name, value in complete.items() if name != missing}
        answer = json.loads(handle(store, "logistics/trace", headers, form).content)
        assert (answer["code"], answer["msg"]) == CODES[kind]
    answer = json.loads(handle(store, "order/unknownApi", complete, form).content)
    assert answer["code"] == CODES["no_permission"][0]
    assert isinstance(classify_error(answer["code"], answer["msg"]), DigestRejected)


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
    assert caught.value.carrier_code == CODES["out_of_area"][0]
    assert not store.orders_of(account.api_account)


async def test_quota_exhausted(sim: CarrierServer, store: JtStore, http: httpx.AsyncClient) -> None:
    account = store.create_account(quota=1)
    carrier = JtCarrier(carrier_credentials(sim, "jt", account), http)
    await carrier.create_waybill(waybill_request())
    with pytest.raises(QuotaExhausted) as caught:
        await carrier.create_waybill(waybill_request())
    assert caught.value.carrier_code == CODES["quota"][0]
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
    assert caught.value.carrier_code == CODES["cancelled"][0]


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
