"""TOP (Taobao/Tmall) request signatures against published vectors — the hub's client (``orderhub.channels.taobao.
client``) and the simulator's verifier (``sandbox.platforms.signing.taobao_sign``), each checked against the same
literals, never against each other.

* md5: TOP「API调用方法详解」§签名算法, worked example (https://open.taobao.com/doc.htm?docId=101617&docType=1, mirrored
  at https://developer.alibaba.com/docs/doc.htm?articleId=101617&docType=1): method taobao.item.seller.get,
  app_key 12345678, session test, timestamp 2016-01-01 12:00:00, format json, v 2.0, sign_method md5,
  fields num_iid,title,nick,price,num, num_iid 11223344, secret helloworld → 66987CB115214E59E6EC978214934FB8.
* md5, the older edition of the same page (as quoted at https://segmentfault.com/q/1010000002569107): method
  taobao.user.seller.get, timestamp 2013-05-06 13:52:03, format xml, app_key test, v 2.0, fields nick, sign_method md5,
  session test, secret test → 72CB4D809B375A54502C09360D879C64.
* hmac / hmac-sha256: the TOP page gives no worked example for them. They are HMAC-MD5 / HMAC-SHA256 keyed with the
  secret over the same ``k1v1k2v2…`` join, so the published RFC 2202 (HMAC-MD5) and RFC 4231 (HMAC-SHA256) test cases
  apply through a parameter set whose join is the RFC's message: {"Hi": " There"} joins to "Hi There" (case 1),
  {"what": " do ya want for nothing?"} to "what do ya want for nothing?" (case 2).
"""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from orderhub.channels.port import Credentials
from orderhub.channels.taobao.client import SignMethod, TopClient, sign
from orderhub.clock import SHANGHAI
from sandbox.platforms.signing import taobao_sign

TOP_EXAMPLE = {
    "method": "taobao.item.seller.get",
    "app_key": "12345678",
    "session": "test",
    "timestamp": "2016-01-01 12:00:00",
    "format": "json",
    "v": "2.0",
    "sign_method": "md5",
    "fields": "num_iid,title,nick,price,num",
    "num_iid": "11223344",
}
TOP_EXAMPLE_SIGN = "66987CB115214E59E6EC978214934FB8"

OLD_TOP_EXAMPLE = {
    "method": "taobao.user.seller.get",
    "timestamp": "2013-05-06 13:52:03",
    "format": "xml",
    "app_key": "test",
    "v": "2.0",
    "fields": "nick",
    "sign_method": "md5",
    "session": "test",
}
OLD_TOP_EXAMPLE_SIGN = "72CB4D809B375A54502C09360D879C64"

# (params, secret, sign_method, published digest, upper-cased as TOP sends it)
VECTORS: list[tuple[dict[str, str], str, SignMethod, str]] = [
    (TOP_EXAMPLE, "helloworld", "md5", TOP_EXAMPLE_SIGN),
    (OLD_TOP_EXAMPLE, "test", "md5", OLD_TOP_EXAMPLE_SIGN),
    # RFC 2202 §2 test case 1: key = 0x0b × 16, data = "Hi There"
    ({"Hi": " There"}, "\x0b" * 16, "hmac", "9294727A3638BB1C13F48EF8158BFC9D"),
    # RFC 2202 §2 test case 2: key = "Jefe", data = "what do ya want for nothing?"
    ({"what": " do ya want for nothing?"}, "Jefe", "hmac", "750C783E6AB0B503EAA86E310A5DB738"),
    # RFC 4231 §4.2 test case 1: key = 0x0b × 20, data = "Hi There"
    (
        {"Hi": " There"},
        "\x0b" * 20,
        "hmac-sha256",
        "B0344C61D8DB38535CA8AFCEAF0BF12B881DC200C9833DA726E9376C2E32CFF7",
    ),
    # RFC 4231 §4.3 test case 2: key = "Jefe", data = "what do ya want for nothing?"
    (
        {"what": " do ya want for nothing?"},
        "Jefe",
        "hmac-sha256",
        "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843",
    ),
]


@pytest.mark.parametrize(("params", "secret", "sign_method", "expected"), VECTORS)
def test_the_client_signs_the_published_vectors(
    params: dict[str, str], secret: str, sign_method: SignMethod, expected: str
) -> None:
    assert sign(params, secret, sign_method) == expected


@pytest.mark.parametrize(("params", "secret", "sign_method", "expected"), VECTORS)
def test_the_simulator_verifies_the_published_vectors(
    params: dict[str, str], secret: str, sign_method: SignMethod, expected: str
) -> None:
    assert taobao_sign(params, secret, sign_method) == expected


@pytest.mark.parametrize("signer", [sign, taobao_sign])
def test_sign_and_empty_values_take_no_part(signer: object) -> None:
    """TOP signs "除去sign参数"; empty values are left out (the SDKs skip them): adding either changes nothing."""
    assert callable(signer)
    extra = {**TOP_EXAMPLE, "sign": "ANYTHING", "partner_id": ""}
    assert signer(extra, "helloworld", "md5") == TOP_EXAMPLE_SIGN


async def test_the_client_composes_the_documented_request() -> None:
    """The client's own system params (format json, v 2.0, the Beijing timestamp format, the session) for the
    documented call give the documented sign."""
    credentials = Credentials(app_key="12345678", app_secret="helloworld", access_token="test")
    async with httpx.AsyncClient() as http:
        client = TopClient(credentials, http, clock=lambda: datetime(2016, 1, 1, 12, 0, tzinfo=SHANGHAI))
        fields = client.signed_params(
            "taobao.item.seller.get", {"fields": "num_iid,title,nick,price,num", "num_iid": 11223344}
        )
    assert {k: v for k, v in fields.items() if k != "sign"} == TOP_EXAMPLE
    assert fields["sign"] == TOP_EXAMPLE_SIGN
