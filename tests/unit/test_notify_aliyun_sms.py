"""Aliyun SMS notifier against the simulator: the production provider, the real SDK signing, real HTTP."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from aliyunsdkcore.auth.composer import rpc_signature_composer
from aliyunsdkcore.utils import parameter_helper

from notify.providers.aliyun_sms import AliyunSmsNotifier, create_notifier
from orderhub.notifications.port import (
    Message,
    PermanentNotifyError,
    ThrottledNotifyError,
    TransientNotifyError,
    notifier_for,
)
from sandbox.aliyun_sms import (
    AliyunAccount,
    AliyunSmsServer,
    running_aliyun_sms,
    sign,
    signed_params,
    string_to_sign,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
SIGN = "订单中枢"
TEMPLATE = "SMS_465100001"
TEMPLATE_TEXT = "您的订单${order_no}已发货，${carrier}运单号${waybill_no}，查看 ${url}"
DATA = {
    "order_no": "OH 2024*0001~测试",
    "carrier": "顺丰速运",
    "waybill_no": "SF1400000000001",
    "url": "a.cn/t?x=1&y=+",
}


@pytest.fixture(scope="module")
def sim() -> Iterator[AliyunSmsServer]:
    with running_aliyun_sms() as server:
        server.store.add_sign(SIGN)
        server.store.add_sign("未审核签名", approved=False)
        server.store.add_template(TEMPLATE, TEMPLATE_TEXT)
        yield server


@pytest.fixture
def account(sim: AliyunSmsServer) -> tuple[str, str]:
    return sim.store.create_account()


def config_for(sim: AliyunSmsServer, account: tuple[str, str], **overrides: str) -> dict[str, str]:
    return {
        "access_key_id": account[0],
        "access_key_secret": account[1],
        "sign_name": SIGN,
        "endpoint": sim.endpoint,
        "protocol": "http",
        **overrides,
    }


def notifier(sim: AliyunSmsServer, account: tuple[str, str], **overrides: str) -> AliyunSmsNotifier:
    return create_notifier(config_for(sim, account, **overrides), None)


def phone() -> str:
    return f"13{secrets.randbelow(10**9):09d}"


def message(recipient: str, **overrides: object) -> Message:
    fields: dict[str, object] = {
        "channel": "aliyun_sms",
        "recipient": recipient,
        "out_id": str(uuid.uuid4()),
        "template": TEMPLATE,
        "data": DATA,
    }
    fields.update(overrides)
    return Message(**fields)  # type: ignore[arg-type]


# Alibaba Cloud's published example of the RPC signature (SignatureMethod HMAC-SHA1, SignatureVersion 1.0): the
# 短信服务 "HTTP协议及签名" page (https://help.aliyun.com/document_detail/56189.html; English "Signature method",
# https://www.alibabacloud.com/help/en/sms/signature-method) signs this SendSms GET with AccessKeyId testId and
# AccessKeySecret testSecret, and prints the StringToSign and the Signature below.
DOC_PARAMS = {
    "AccessKeyId": "testId",
    "Action": "SendSms",
    "Format": "XML",
    "OutId": "123",
    "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou",
    "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}',
    "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}
DOC_STRING_TO_SIGN = (
    "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers%3D15300000001"
    "%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF"
    "%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1"
    "%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007"
    "%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z"
    "%26Version%3D2017-05-25"
)
DOC_SIGNATURE = "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_sdk_signer_reproduces_the_published_example() -> None:
    """The notifier signs through aliyun-python-sdk-core; its RPC composer, fed the documented parameters, gives the
    documented StringToSign and Signature."""
    compose = getattr(rpc_signature_composer, "__compose_string_to_sign")  # module-private names
    signature = getattr(rpc_signature_composer, "__get_signature")
    assert compose("GET", dict(DOC_PARAMS)) == DOC_STRING_TO_SIGN
    assert signature(DOC_STRING_TO_SIGN, "testSecret") == DOC_SIGNATURE


def test_simulator_verifier_reproduces_the_published_example() -> None:
    assert string_to_sign("GET", {**DOC_PARAMS, "Signature": "ignored"}) == DOC_STRING_TO_SIGN
    assert sign("GET", DOC_PARAMS, "testSecret") == DOC_SIGNATURE
    assert sign("GET", DOC_PARAMS, "testSecret2") != DOC_SIGNATURE


async def test_notifier_signs_the_documented_send_through_our_code_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented SendSms, sent by the notifier with the example's nonce and timestamp pinned. Our request
    differs from the page's in three documented-neutral ways — POST (the page signs a GET), Format JSON, and the SDK's
    empty SignatureType — so its Signature is not the page's; it was computed by hand, outside Python:
      printf '%s' '<STRING_TO_SIGN>' | openssl dgst -sha1 -hmac 'testSecret&' -binary | base64
    (the same command gives zJDF+Lrzhj/ThnlvIToysFRq6t4= for the page's own StringToSign)."""
    expected_string_to_sign = (
        "POST&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DJSON%26OutId%3D123%26PhoneNumbers%3D15300000001"
        "%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4"
        "%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1"
        "%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureType%3D%26SignatureVersion%3D1.0"
        "%26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D"
        "%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25"
    )
    signed: list[tuple[str, str]] = []
    real_signer = rpc_signature_composer.get_signed_url

    def spy(*args: object, **kwargs: object) -> tuple[str, str]:
        url, text = real_signer(*args, **kwargs)
        signed.append((url, text))
        return url, text

    monkeypatch.setattr(rpc_signature_composer, "get_signed_url", spy)
    monkeypatch.setattr(parameter_helper, "get_uuid", lambda: DOC_PARAMS["SignatureNonce"])
    monkeypatch.setattr(parameter_helper, "get_iso_8061_date", lambda: DOC_PARAMS["Timestamp"])
    with running_aliyun_sms() as sim:
        sim.store.accounts["testId"] = AliyunAccount("testId", "testSecret")
        sim.store.add_sign("阿里云短信测试专用")
        sim.store.add_template("SMS_71390007", "尊敬的${customer}，您的订单已发货")
        sim.store.clock = lambda: datetime(2017, 7, 12, 2, 42, 19, tzinfo=UTC)
        config = config_for_endpoint(sim.endpoint, ("testId", "testSecret"), sign_name="阿里云短信测试专用")
        sms = create_notifier(config)
        await sms.send(
            Message(channel="aliyun_sms", recipient="15300000001", out_id="123", template="SMS_71390007",
                    data={"customer": "test"})
        )
        [(url, text)] = signed
        assert text == expected_string_to_sign
        assert "&Signature=WcTo%2BBN8vEfTWw8H4XnmRbpIP58%3D" in url
        [call] = sim.store.calls("SendSms")
        assert (call.http_status, call.code) == (200, "OK")  # the simulator's own check agrees


async def test_sent_sms_arrives_rendered_with_out_id_and_biz_id(sim: AliyunSmsServer, account: tuple[str, str]) -> None:
    to = phone()
    msg = message(to)

    result = await notifier(sim, account).send(msg)

    [sms] = sim.store.sent_to(to)
    rendered = "您的订单OH 2024*0001~测试已发货，顺丰速运运单号SF1400000000001，查看 a.cn/t?x=1&y=+"
    assert sms.content == "【订单中枢】" + rendered
    assert sms.out_id == msg.out_id
    assert sms.biz_id == result.provider_id and result.provider_id.endswith("^0")
    assert (sms.sign_name, sms.template_code, sms.params) == (SIGN, TEMPLATE, DATA)
    assert result.detail["request_id"]
    [call] = [r for r in sim.store.calls("SendSms") if r.params.get("OutId") == msg.out_id]
    assert call.method == "POST" and call.http_status == 200
    assert "测试" in call.params["TemplateParam"]  # ensure_ascii=False on the wire
    assert call.params["AccessKeyId"] == account[0] and call.params["SignatureMethod"] == "HMAC-SHA1"


def test_factory_is_registered_and_checks_its_keys(sim: AliyunSmsServer, account: tuple[str, str]) -> None:
    assert isinstance(notifier_for("aliyun_sms", config_for(sim, account), None), AliyunSmsNotifier)
    config = config_for(sim, account)
    del config["sign_name"]
    with pytest.raises(ValueError, match="sign_name"):
        create_notifier(config, None)


async def test_wrong_secret_is_refused_by_the_simulator(sim: AliyunSmsServer, account: tuple[str, str]) -> None:
    to = phone()
    with pytest.raises(PermanentNotifyError) as refused:
        await notifier(sim, account, access_key_secret="not-the-secret").send(message(to))
    assert refused.value.code == "SignatureDoesNotMatch"
    assert sim.store.sent_to(to) == []
    assert sim.store.requests[-1].http_status == 400


async def test_unknown_access_key_is_refused(sim: AliyunSmsServer, account: tuple[str, str]) -> None:
    with pytest.raises(PermanentNotifyError) as refused:
        await notifier(sim, account, access_key_id="LTAInobody").send(message(phone()))
    assert refused.value.code == "InvalidAccessKeyId.NotFound"
    assert sim.store.requests[-1].http_status == 404


async def test_hand_built_requests_prove_the_simulator_checks_signature_nonce_and_time(
    sim: AliyunSmsServer, account: tuple[str, str]
) -> None:
    key_id, secret = account
    to = phone()
    business = {
        "PhoneNumbers": to,
        "SignName": SIGN,
        "TemplateCode": TEMPLATE,
        "TemplateParam": '{"order_no":"1","carrier":"中通","waybill_no":"7","url":"u"}',
    }

    async def post(params: dict[str, str]) -> httpx.Response:
        system = {k: v for k, v in params.items() if k not in business}
        body = {k: v for k, v in params.items() if k in business}
        async with httpx.AsyncClient(base_url=f"http://{sim.endpoint}") as http:
            return await http.post("/", params=system, data=body)

    tampered = signed_params("SendSms", business, key_id, secret)
    tampered["PhoneNumbers"] = phone()  # signed for `to`, sent elsewhere
    response = await post(tampered)
    assert response.status_code == 400
    assert response.json()["Code"] == "SignatureDoesNotMatch"
    assert set(response.json()) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert sim.store.sent_to(tampered["PhoneNumbers"]) == []

    honest = signed_params("SendSms", business, key_id, secret)
    response = await post(honest)
    assert response.status_code == 200 and response.json()["Code"] == "OK"
    assert len(sim.store.sent_to(to)) == 1

    replay = await post(honest)  # same nonce
    assert (replay.status_code, replay.json()["Code"]) == (400, "SignatureNonceUsed")

    stale = signed_params("SendSms", business, key_id, secret, timestamp=datetime.now(UTC) - timedelta(minutes=16))
    response = await post(stale)
    assert (response.status_code, response.json()["Code"]) == (400, "InvalidTimeStamp.Expired")

    no_method = signed_params("SendSms", business, key_id, secret)
    del no_method["SignatureMethod"]
    response = await post(no_method)
    assert (response.status_code, response.json()["Code"]) == (400, "MissingSignatureMethod")

    wrong_version = signed_params("SendSms", {**business, "Version": "2016-09-27"}, key_id, secret)
    response = await post(wrong_version)
    assert (response.status_code, response.json()["Code"]) == (400, "InvalidVersion")
    unknown_action = signed_params("SendBatchSmsToEveryone", business, key_id, secret)
    response = await post(unknown_action)
    assert (response.status_code, response.json()["Code"]) == (404, "InvalidApi.NotFound")
    assert len(sim.store.sent_to(to)) == 1


@pytest.mark.parametrize(
    ("recipient", "overrides", "sign_name", "code"),
    [
        ("1380013800", {}, SIGN, "isv.MOBILE_NUMBER_ILLEGAL"),
        ("", {}, "未审核签名", "isv.SMS_SIGNATURE_ILLEGAL"),
        ("", {}, "没有这个签名", "isv.SMS_SIGNATURE_ILLEGAL"),
        ("", {"template": "SMS_000000404"}, SIGN, "isv.SMS_TEMPLATE_ILLEGAL"),
        ("", {"data": {"order_no": "OH1"}}, SIGN, "isv.TEMPLATE_MISSING_PARAMETERS"),
    ],
)
async def test_business_errors_are_permanent_with_aliyun_codes(
    sim: AliyunSmsServer,
    account: tuple[str, str],
    recipient: str,
    overrides: dict[str, object],
    sign_name: str,
    code: str,
) -> None:
    msg = message(recipient or phone(), **overrides)
    with pytest.raises(PermanentNotifyError) as refused:
        await notifier(sim, account, sign_name=sign_name).send(msg)
    assert refused.value.code == code
    assert not isinstance(refused.value, TransientNotifyError)
    assert sim.store.sent_to(msg.recipient) == []
    [call] = [r for r in sim.store.calls("SendSms") if r.params.get("OutId") == msg.out_id]
    assert (call.http_status, call.code) == (200, code)  # Aliyun's shape: HTTP 200, Code ≠ OK


async def test_no_balance_is_permanent(sim: AliyunSmsServer) -> None:
    account = sim.store.create_account(has_balance=False)
    to = phone()
    with pytest.raises(PermanentNotifyError) as refused:
        await notifier(sim, account).send(message(to))
    assert refused.value.code == "isv.AMOUNT_NOT_ENOUGH"
    assert sim.store.sent_to(to) == []


async def test_flow_control_is_transient_and_lifts_after_the_window(
    sim: AliyunSmsServer, account: tuple[str, str]
) -> None:
    to = phone()
    sms = notifier(sim, account)
    await sms.send(message(to))

    with pytest.raises(ThrottledNotifyError) as limited:
        await sms.send(message(to))
    assert limited.value.code == "isv.BUSINESS_LIMIT_CONTROL"
    assert (limited.value.retry_after, limited.value.daily) == (60.0, False)  # 分钟级流控: a minute's wait
    assert len(sim.store.sent_to(to)) == 1

    clock = sim.store.clock
    sim.store.clock = lambda: clock() + timedelta(seconds=61)
    try:
        await sms.send(message(to))
    finally:
        sim.store.clock = clock
    assert len(sim.store.sent_to(to)) == 2


async def test_a_retry_after_a_lost_answer_delivers_one_sms(sim: AliyunSmsServer, account: tuple[str, str]) -> None:
    to = phone()
    msg = message(to)
    sms = notifier(sim, account)
    sim.store.fail_next(1)  # accepted, then HTTP 500 isp.SYSTEM_ERROR

    with pytest.raises(TransientNotifyError) as lost:
        await sms.send(msg)
    assert lost.value.code == "isp.SYSTEM_ERROR"
    [accepted] = sim.store.sent_to(to)
    calls = [r for r in sim.store.calls("SendSms") if r.params.get("OutId") == msg.out_id]
    assert [c.http_status for c in calls] == [500]  # the SDK's auto-retry is off: one attempt per send()

    result = await sms.send(msg)  # the outbox's retry: same message, same OutId

    assert result.provider_id == accepted.biz_id
    assert sim.store.sent_to(to) == [accepted]
    calls = [r for r in sim.store.calls("SendSms") if r.params.get("OutId") == msg.out_id]
    assert [c.http_status for c in calls] == [500, 200]


async def test_unreachable_service_is_transient(account: tuple[str, str]) -> None:
    with running_aliyun_sms() as gone:
        endpoint = gone.endpoint
    sms = create_notifier(config_for_endpoint(endpoint, account), None)
    with pytest.raises(TransientNotifyError) as down:
        await sms.send(message(phone()))
    assert down.value.code in {"network", "timeout"}


def config_for_endpoint(endpoint: str, account: tuple[str, str], *, sign_name: str = SIGN) -> dict[str, str]:
    return {
        "access_key_id": account[0],
        "access_key_secret": account[1],
        "sign_name": sign_name,
        "endpoint": endpoint,
        "protocol": "http",
        "connect_timeout": "2",
        "read_timeout": "2",
    }


async def test_query_send_details_answers_receipts_in_utc(sim: AliyunSmsServer, account: tuple[str, str]) -> None:
    sms = notifier(sim, account)
    ok_phone, gone_phone, slow_phone = phone(), phone(), phone()
    sim.store.set_unreachable(gone_phone, "MOBILE_NOT_ON_SERVICE")
    sim.store.set_pending(slow_phone)
    ok_msg, gone_msg, slow_msg = message(ok_phone), message(gone_phone), message(slow_phone)
    ok, gone, _ = await sms.send(ok_msg), await sms.send(gone_msg), await sms.send(slow_msg)
    today = datetime.now(UTC)

    [delivered] = await sms.query_send_details(ok_phone, ok.provider_id, today)
    [failed] = await sms.query_send_details(gone_phone, gone.provider_id, today)
    [waiting] = await sms.query_send_details(slow_phone, "", today)

    [sent_ok] = sim.store.sent_to(ok_phone)
    assert delivered.status == "delivered" and delivered.err_code == "DELIVRD"
    assert (delivered.phone, delivered.biz_id, delivered.out_id) == (ok_phone, ok.provider_id, ok_msg.out_id)
    assert delivered.content == sent_ok.content
    assert sent_ok.received_at is not None
    assert delivered.received_at == sent_ok.received_at.replace(microsecond=0)  # Shanghai wall time → the same UTC
    assert delivered.received_at is not None and delivered.received_at.utcoffset() == timedelta(0)
    assert delivered.sent_at == sent_ok.sent_at.replace(microsecond=0)

    assert failed.status == "failed" and failed.err_code == "MOBILE_NOT_ON_SERVICE"
    assert failed.out_id == gone_msg.out_id
    assert waiting.status == "waiting" and waiting.received_at is None and waiting.out_id == slow_msg.out_id

    [call] = [r for r in sim.store.calls("QuerySendDetails") if r.params.get("BizId") == ok.provider_id]
    assert call.params["SendDate"] == sent_ok.sent_at.astimezone(SHANGHAI).strftime("%Y%m%d")
    assert call.params["PhoneNumber"] == ok_phone and call.http_status == 200

    assert await sms.query_send_details(ok_phone, ok.provider_id, today - timedelta(days=2)) == []
