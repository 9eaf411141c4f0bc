"""The shared wire helpers (orderhub/wire.py): money, Beijing time, the HTTP reply check, the gateway client base."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from orderhub import wire
from orderhub.carriers.jt.client import JtClient
from orderhub.carriers.port import CarrierCredentials, CarrierUnavailable, InvalidWaybillRequest, reply_error
from orderhub.carriers.sf.client import SfClient
from orderhub.carriers.zto.client import ZtoClient
from orderhub.channels.douyin.client import DouyinClient
from orderhub.channels.jd.client import JosClient
from orderhub.channels.pdd.client import PddClient
from orderhub.channels.port import Credentials, InvalidRequest, PlatformUnavailable, RateLimited, json_reply
from orderhub.channels.taobao.client import TopClient
from orderhub.channels.wechat_shop.client import WechatShopClient


@pytest.mark.parametrize(
    ("value", "fen"), [("12.30", 1230), (12.3, 1230), (19.99, 1999), (0.07, 7), (12, 1200), ("", 0), (None, 0),
                       (" 1.005 ", 101)]
)
def test_yuan_to_fen_is_exact(value: object, fen: int) -> None:
    assert wire.yuan_to_fen(value) == fen


def test_yuan_to_fen_refuses_what_is_not_money() -> None:
    for value in (True, "abc", "NaN", "Infinity"):
        with pytest.raises(wire.NotAnAmount):
            wire.yuan_to_fen(value)
    with pytest.raises(wire.SubFenAmount):
        wire.yuan_to_fen("1.005", exact=True)
    assert wire.yuan_to_fen("1.50", exact=True) == 150


def test_beijing_time() -> None:
    assert wire.beijing_to_utc("2024-03-01 08:00:00") == datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
    assert wire.beijing_text(datetime(2024, 3, 1, 0, 0, tzinfo=UTC)) == "2024-03-01 08:00:00"
    assert wire.beijing_or_none("0001-01-01 00:00:00") is None and wire.beijing_or_none(" ") is None
    assert wire.beijing_or_none("2024-03-01T08:00:00+08:00") == datetime(2024, 3, 1, 0, 0, tzinfo=UTC)

    class BadScan(ValueError): ...

    with pytest.raises(BadScan, match="bad scanTime"):
        wire.beijing_time("yesterday", BadScan, "scanTime")


def _reply(status: int, content: bytes = b"{}", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=content, headers=headers or {})


def test_the_reply_check_reads_the_same_for_carriers_and_platforms() -> None:
    assert wire.reply_fault(200) is None and wire.reply_fault(204) is None
    assert wire.reply_fault(204, only_200=True) is wire.ReplyFault.REFUSED
    assert wire.reply_fault(429) is wire.ReplyFault.RATE_LIMITED
    assert wire.reply_fault(502) is wire.ReplyFault.UNAVAILABLE
    carrier = reply_error("顺丰接口 X")
    with pytest.raises(CarrierUnavailable, match="HTTP 429"):
        wire.json_object(_reply(429), carrier)
    with pytest.raises(InvalidWaybillRequest, match="HTTP 404"):
        wire.json_object(_reply(404), carrier)
    with pytest.raises(CarrierUnavailable, match="无法解析"):
        wire.json_object(_reply(200, b"<html>"), carrier)
    with pytest.raises(CarrierUnavailable, match="意外的结构"):
        wire.json_object(_reply(200, b"[]"), carrier)
    with pytest.raises(RateLimited) as limited:
        json_reply(_reply(429, headers={"retry-after": "3"}), gateway="拼多多", api="pdd.x")
    assert limited.value.retry_after == 3.0
    with pytest.raises(PlatformUnavailable, match="HTTP 503"):
        json_reply(_reply(503), gateway="微信", api="/x")
    with pytest.raises(InvalidRequest, match="HTTP 302"):
        json_reply(_reply(302), gateway="微信", api="/x")
    assert json_reply(_reply(200, b'{"ok": 1}'), gateway="微信", api="/x") == {"ok": 1}


async def test_post_json_turns_transport_failures_into_the_callers_errors() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(CarrierUnavailable, match="无法连接") as failed:
            await wire.post_json(http, "http://127.0.0.1:9/x", reply_error("中通接口"), timeout=httpx.Timeout(2.0))
    assert failed.value.carrier_code == "network"


async def test_no_gateway_client_shows_a_secret_in_its_repr() -> None:
    shop = Credentials(app_key="key-1", app_secret="SECRET-1", access_token="TOKEN-1", refresh_token="REFRESH-1")
    account = CarrierCredentials(partner_id="partner-1", secret="SECRET-2", customer_password="PASSWORD-2")
    async with httpx.AsyncClient() as http:
        clients: list[object] = [
            TopClient(shop, http), JosClient(shop, http), PddClient(shop, http), DouyinClient(shop, http),
            WechatShopClient(shop, http), SfClient(account, http), ZtoClient(account, http), JtClient(account, http),
        ]
        for client in clients:
            text = repr(client)
            assert text.startswith(type(client).__name__ + "(") and "base_url=" in text
            assert ("key-1" in text) or ("partner-1" in text)
            for secret in ("SECRET-1", "TOKEN-1", "REFRESH-1", "SECRET-2", "PASSWORD-2"):
                assert secret not in text
