"""A 拼多多 call that meets an expired session refreshes the shop's token once (``pdd.pop.auth.token.refresh`` at the
platform simulator), stores the new tokens sealed on the channel and succeeds — through
:func:`orderhub.channels.service.call_platform`, as the pull runs call the platform."""

from __future__ import annotations

from datetime import timedelta

import httpx
import msgspec
import pytest

from orderhub import db
from orderhub.channels.pdd.connector import PddConnector
from orderhub.channels.port import Credentials, SessionExpired
from orderhub.channels.service import call_platform, connector_credentials
from sandbox.platforms import PlatformServer, running_platforms
from sandbox.platforms.store import SellerAccount
from tests.support.factories import Api, create_warehouse, unique
from tests.support.hub import Hub
from tests.support.simulators import shop_credentials

P = "pinduoduo"
SIMULATOR = running_platforms


async def _channel(api: Api, sim: PlatformServer, seller: SellerAccount) -> int:
    warehouse = (await create_warehouse(api))["code"]
    code = unique("pdd")
    credentials = shop_credentials(sim, P, seller)
    async with api.client() as client:
        r = await client.post(
            "/api/v1/channels",
            json={
                "code": code,
                "platform": "pdd",
                "name": "拼多多测试店",
                "default_warehouse": warehouse,
                "pull_enabled": False,
                "credentials": {
                    "app_key": credentials.app_key,
                    "app_secret": credentials.app_secret,
                    "access_token": credentials.access_token,
                    "refresh_token": credentials.refresh_token,
                    "shop_id": credentials.shop_id,
                    "base_url": credentials.base_url,
                },
            },
        )
    assert r.status_code == 201, r.text
    row = await db.fetch_one_as(db.IdRow, "SELECT id FROM channel WHERE code = {}", code)
    assert row is not None
    return row.id


class _Sealed(msgspec.Struct):
    credentials: str


async def _stored(channel_id: int) -> Credentials:
    row = await db.fetch_one_as(_Sealed, "SELECT credentials FROM channel WHERE id = {}", channel_id)
    assert row is not None
    return connector_credentials(row.credentials)


async def test_an_expired_session_is_refreshed_once_and_the_call_succeeds(
    api: Api, store: Hub, sim: PlatformServer
) -> None:
    seller = sim.store.create_seller(P)
    channel_id = await _channel(api, sim, seller)
    now = sim.store.now().replace(microsecond=0)
    order = sim.store.add_order(P, seller.app_key, updated_at=now - timedelta(minutes=2))
    sim.store.expire_token(P, seller.access_token)

    async with httpx.AsyncClient() as http:
        connector = PddConnector(shop_credentials(sim, P, seller), http)
        page = await call_platform(connector, channel_id, lambda: connector.pull(now - timedelta(minutes=5), now, None))
    assert [o.order.external_id for o in page.orders] == [order.order_id]
    outcomes = [r.outcome for r in sim.store.requests(P) if r.app_key == seller.app_key]
    assert outcomes == ["10019", "ok", "ok"]  # the expired call, pdd.pop.auth.token.refresh, the call again
    stored = await _stored(channel_id)
    assert stored == connector.credentials and connector.credentials.access_token == seller.access_token
    assert connector.credentials.refresh_expires_at is not None


async def test_a_refused_refresh_fails_the_call_with_the_platform_code(
    api: Api, store: Hub, sim: PlatformServer
) -> None:
    seller = sim.store.create_seller(P)
    channel_id = await _channel(api, sim, seller)
    sim.store.expire_token(P, seller.access_token)
    sim.store.expire_refresh_token(P, seller.refresh_token)
    now = sim.store.now()

    async with httpx.AsyncClient() as http:
        connector = PddConnector(shop_credentials(sim, P, seller), http)
        with pytest.raises(SessionExpired) as refused:
            await call_platform(connector, channel_id, lambda: connector.pull(now - timedelta(minutes=5), now, None))
    assert refused.value.platform_code == "10019"
    refreshes = sim.store.requests(P, method="pdd.pop.auth.token.refresh")
    assert [r.outcome for r in refreshes if r.app_key == seller.app_key] == ["10019"]
