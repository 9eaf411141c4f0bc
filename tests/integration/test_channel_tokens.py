"""Shop authorisations over time (orderhub.channels.tokens, docs/channels.md#authorisation), through the running hub
and the platform simulators (real HTTP, real signatures): an access token about to expire is refreshed by the cron
and the new pair stored sealed (the channel view shows the expiries and the outcome, never a token); parallel passes
— in this process and in `orderhub tokens-refresh` processes — spend the single-use refresh token once; a refused
refresh tells the staff in WeCom once; a refresh token about to expire, and a shop whose token cannot be refreshed,
are announced days ahead with the date, once per stage."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from saq.queue.redis import RedisQueue

from orderhub import clock
from orderhub.channels import tokens
from orderhub.channels.service import connector_credentials
from orderhub.channels.tables import Channel
from orderhub.notifications.tables import Notification
from orderhub.notifications.templates import DEFAULTS, render
from sandbox.platforms import running_platforms
from sandbox.platforms.server import PlatformServer
from sandbox.platforms.store import SellerAccount
from sandbox.wechat import WeChatServer, running_wechat
from tests.support.factories import Api, create_warehouse, unique
from tests.support.hub import Hub

SIMULATOR = running_platforms
# our platform code → the simulator's name for it, and the refresh call as the simulator logs it
SIM_NAME = {"douyin": "douyin", "jd": "jd", "pdd": "pinduoduo", "taobao": "taobao"}
REFRESH_CALL = {"douyin": "token.refresh", "jd": "oauth2/refresh_token", "pdd": "pdd.pop.auth.token.refresh"}


@pytest.fixture(scope="module")
def wechat() -> Iterator[WeChatServer]:
    with running_wechat() as server:
        yield server


class Shop(msgspec.Struct):
    code: str
    id: int
    platform: str
    seller: SellerAccount


@pytest.fixture
async def boss(api: Api, wechat: WeChatServer) -> AsyncIterator[tuple[str, str]]:
    """WeCom set up with a fresh corp, and a hub-wide manager in it: (corp app key, the manager's WeCom id). The
    manager is switched off afterwards: the hub is shared, and later tests count on nobody hub-wide hearing."""
    corp = wechat.store.create_corp()
    userid = unique("boss")
    wechat.store.add_wecom_user(corp.corp_id, userid)
    async with api.client() as client:
        r = await client.put("/api/v1/notify/providers/wecom", json={"config": {
            "corp_id": corp.corp_id, "secret": corp.secret, "agent_id": str(corp.agent_id),
            "base_url": wechat.base_url}})
        assert r.status_code == 200, r.text
        r = await client.post("/api/v1/users", json={"username": unique("mgr"), "password": "manager-pass-1",
                                                     "role": "manager", "warehouse": None, "wecom_userid": userid})
        assert r.status_code == 201, r.text
    try:
        yield corp.key, userid
    finally:
        async with api.client() as client:
            off = await client.patch(f"/api/v1/users/{r.json()['id']}", json={"active": False})
            assert off.status_code == 200, off.text


async def _shop(
    api: Api,
    sim: PlatformServer,
    platform: str,
    *,
    expires_in: timedelta,
    refresh_expires_in: timedelta | None = None,
    refresh_token: str | None = None,
) -> Shop:
    seller = sim.store.create_seller(SIM_NAME[platform])
    warehouse = (await create_warehouse(api))["code"]
    credentials = {
        "app_key": seller.app_key,
        "app_secret": seller.app_secret,
        "access_token": seller.access_token,
        "refresh_token": seller.refresh_token if refresh_token is None else refresh_token,
        "token_expires_at": (datetime.now(UTC) + expires_in).isoformat(),
        "shop_id": seller.shop_id,
        "base_url": sim.url(SIM_NAME[platform]),
    }
    if refresh_expires_in is not None:
        credentials["refresh_expires_at"] = (datetime.now(UTC) + refresh_expires_in).isoformat()
    code = unique(platform[:4])
    async with api.client() as client:
        r = await client.post("/api/v1/channels", json={
            "code": code, "platform": platform, "name": f"{platform} 授权测试店", "default_warehouse": warehouse,
            "credentials": credentials, "pull_enabled": False})
    assert r.status_code == 201, r.text
    return Shop(code=code, id=r.json()["channel"]["id"], platform=platform, seller=seller)


async def _view(api: Api, code: str) -> dict[str, Any]:
    async with api.client() as client:
        r = await client.get(f"/api/v1/channels/{code}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _stored(shop: Shop) -> Any:
    row = await Channel.select(Channel.credentials).where(Channel.id == shop.id).first()
    assert row is not None
    return connector_credentials(row["credentials"])


def _refreshes(sim: PlatformServer, shop: Shop) -> list[Any]:
    return [r for r in sim.store.requests(SIM_NAME[shop.platform], method=REFRESH_CALL[shop.platform])
            if r.app_key == shop.seller.app_key]


async def _notices(shop: Shop, userid: str) -> list[dict[str, Any]]:
    """The shop's token notices in the outbox, to this manager."""
    rows = await Notification.select(Notification.subject, Notification.event, Notification.context).where(
        Notification.subject.like(f"token:{shop.id}:%"), Notification.recipient == userid
    ).order_by(Notification.id)
    return [{**row, "context": msgspec.json.decode(row["context"])} for row in rows]


def _text(notice: dict[str, Any]) -> str:
    return render(DEFAULTS[(notice["event"], "wecom")], notice["context"])[2]


def _shanghai(moment: datetime) -> str:
    return clock.to_shanghai(moment).strftime("%Y-%m-%d %H:%M")


async def _card(wechat: WeChatServer, corp_key: str, userid: str, needle: str, timeout: float = 30) -> str:
    """The WeCom message the manager received that says ``needle`` (the hub's workers send the outbox rows)."""
    deadline = time.monotonic() + timeout
    while True:
        for message in wechat.store.messages_for(corp_key):
            if userid in message.recipient.split("|") and needle in message.content:
                return str(message.content)
        assert time.monotonic() < deadline, [m.content for m in wechat.store.messages_for(corp_key)]
        await asyncio.sleep(0.3)


@pytest.mark.parametrize("platform", ["douyin", "jd", "pdd"])
async def test_a_token_about_to_expire_is_refreshed_by_the_cron_and_stored_sealed(
    api: Api, store: Hub, sim: PlatformServer, platform: str
) -> None:
    shop = await _shop(api, sim, platform, expires_in=timedelta(minutes=30))
    old = shop.seller.access_token
    before = await _view(api, shop.code)
    assert before["token"]["last_refresh"] == ""
    assert before["token"]["access_expires_at"].endswith("+08:00")  # shown in Asia/Shanghai

    await tokens.run()  # (a worker's cron may get there first: the outcome is the same)

    assert len(_refreshes(sim, shop)) == 1
    stored = await _stored(shop)
    account = sim.store.seller(SIM_NAME[platform], shop.seller.app_key)
    assert stored.access_token == account.access_token != old  # the new pair, the one the platform issued last
    assert stored.refresh_token == account.refresh_token
    assert stored.token_expires_at is not None and stored.token_expires_at > datetime.now(UTC) + timedelta(hours=12)
    view = await _view(api, shop.code)
    assert view["token"]["last_refresh"] == "refreshed" and view["token"]["last_refresh_error"] == ""
    assert datetime.fromisoformat(view["token"]["access_expires_at"]) == stored.token_expires_at
    assert stored.access_token not in str(view) and stored.refresh_token not in str(view)  # never a token

    await tokens.run()  # not due any more
    assert len(_refreshes(sim, shop)) == 1


@pytest.mark.postgres_only
async def test_parallel_passes_in_several_processes_refresh_once(
    api: Api, store: Hub, sim: PlatformServer
) -> None:
    """The refresh token is single use: three passes here and two `orderhub tokens-refresh` processes at once
    spend it once (the platform's answer is held back for 3 s, so they overlap while the refresh is under way)."""
    shop = await _shop(api, sim, "douyin", expires_in=timedelta(minutes=20))
    sim.store.after_next_call("douyin", "token.refresh", lambda: time.sleep(3))
    commands = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "tokens-refresh", env=store.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    reports = await asyncio.gather(*(tokens.run() for _ in range(3)))
    for command in commands:
        out, err = await asyncio.wait_for(command.communicate(), timeout=120)
        assert b"shop authorisations:" in out, (out, err)

    assert len(_refreshes(sim, shop)) == 1
    assert [r.outcome for r in _refreshes(sim, shop)] == ["ok"]
    assert sum(shop.code in report.refreshed for report in reports) <= 1
    stored = await _stored(shop)
    account = sim.store.seller("douyin", shop.seller.app_key)
    assert (stored.access_token, stored.refresh_token) == (account.access_token, account.refresh_token)
    assert (await _view(api, shop.code))["token"]["last_refresh"] == "refreshed"


async def test_a_refused_refresh_tells_the_managers_once_in_wecom(
    api: Api, store: Hub, queue: RedisQueue, sim: PlatformServer, wechat: WeChatServer, boss: tuple[str, str]
) -> None:
    corp_key, boss_id = boss
    # a refresh token the platform does not know (revoked, or spent by another system)
    shop = await _shop(api, sim, "douyin", expires_in=timedelta(minutes=30), refresh_token=unique("rt-gone-"))

    await tokens.run()
    await tokens.run()  # no second refresh call, no second notice

    assert [r.outcome for r in _refreshes(sim, shop)] == ["50001/dop.token-generate-failed:token-invalid"]
    notices = await _notices(shop, boss_id)
    assert [n["event"] for n in notices] == ["staff_token_refused"], notices
    assert notices[0]["context"]["platform_code"] == "50001/dop.token-generate-failed:token-invalid"
    text = _text(notices[0])
    assert text.startswith(
        "店铺 douyin 授权测试店（抖店）的授权已失效（平台代码 50001/dop.token-generate-failed:"
    ), text
    assert "请到抖店服务市场重新授权" in text
    assert "授权已失效" in await _card(wechat, corp_key, boss_id, "douyin 授权测试店")
    view = (await _view(api, shop.code))["token"]
    assert view["last_refresh"] == "refused" and "token-invalid" in view["last_refresh_error"], view

    # the shop is authorised again: the refusal was about the old credentials
    async with api.client() as client:
        r = await client.patch(f"/api/v1/channels/{shop.code}", json={"credentials": {
            "access_token": shop.seller.access_token, "refresh_token": shop.seller.refresh_token,
            "token_expires_at": (datetime.now(UTC) + timedelta(days=20)).isoformat()}})
        assert r.status_code == 200, r.text
    assert r.json()["token"]["last_refresh"] == ""
    await tokens.run()
    assert len(await _notices(shop, boss_id)) == 1


async def test_a_refresh_token_about_to_expire_is_announced_once_per_stage(
    api: Api, store: Hub, sim: PlatformServer, wechat: WeChatServer, boss: tuple[str, str]
) -> None:
    _, boss_id = boss
    # the access token is far from expiry; the refresh token (拼多多 says when) expires in 5 days
    shop = await _shop(api, sim, "douyin", expires_in=timedelta(days=20), refresh_expires_in=timedelta(days=5))
    refresh_expires = (await _stored(shop)).refresh_expires_at
    assert refresh_expires is not None

    await tokens.run()
    await tokens.run()  # the next pass: nothing new
    notices = await _notices(shop, boss_id)
    assert [(n["event"], n["context"]["days"]) for n in notices] == [("staff_token_expiring", 7)], notices
    assert notices[0]["context"]["expires"] == _shanghai(refresh_expires)
    assert _text(notices[0]) == (
        f"店铺 douyin 授权测试店（抖店）的授权将于 {_shanghai(refresh_expires)} 过期，请在此之前到抖店服务市场重新"
        "授权；过期后将无法拉取订单、回传发货。"
    )
    assert not _refreshes(sim, shop)  # nothing was due a refresh

    # a day before it expires: the last call, once
    later = clock.now() + timedelta(days=4, hours=2)
    await tokens.run(now=later)
    await tokens.run(now=later + timedelta(minutes=10))
    assert [n["context"]["days"] for n in await _notices(shop, boss_id)] == [7, 1]


async def test_a_shop_that_cannot_refresh_is_told_ahead_with_the_date(
    api: Api, store: Hub, sim: PlatformServer, wechat: WeChatServer, boss: tuple[str, str]
) -> None:
    """淘宝 outside 服务市场 (no refresh token): the token cannot be refreshed, so the staff hear 7 days and 1 day
    before it expires when that is, once each."""
    _, boss_id = boss
    shop = await _shop(api, sim, "taobao", expires_in=timedelta(days=3), refresh_token="")
    expires = (await _stored(shop)).token_expires_at
    assert expires is not None

    await tokens.run()
    await tokens.run()
    notices = await _notices(shop, boss_id)
    assert [(n["event"], n["context"]["days"]) for n in notices] == [("staff_token_expiring", 7)], notices
    assert notices[0]["context"]["expires"] == _shanghai(expires)
    assert f"的授权将于 {_shanghai(expires)} 过期" in _text(notices[0])
    assert (await _view(api, shop.code))["token"]["last_refresh"] == "unsupported"

    later = clock.now() + timedelta(days=2, hours=6)
    await tokens.run(now=later)
    await tokens.run(now=later + timedelta(minutes=10))
    assert [n["context"]["days"] for n in await _notices(shop, boss_id)] == [7, 1]
    await tokens.run(now=expires + timedelta(minutes=1))  # expired: nothing more to announce
    assert len(await _notices(shop, boss_id)) == 2
