"""京东: an access token JOS refuses as expired (19 无效access_token) is refreshed by the shared retry policy
(:func:`orderhub.channels.service.call_platform`) through JD's ``/oauth2/refresh_token``, the call is made again with
the new token, and the new tokens are kept (sealed) on the channel. A refused refresh ends the call as
SessionExpired with JD's code, and nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from orderhub.channels import service
from orderhub.channels.jd.connector import JdConnector
from orderhub.channels.port import Credentials, SessionExpired
from orderhub.channels.tables import Channel
from sandbox.platforms import PlatformServer, SellerAccount, running_platforms
from sandbox.platforms.jd import REFRESH_REFUSED
from tests.support.factories import unique
from tests.support.hub import Hub
from tests.support.simulators import shop_credentials

P = "jd"
SIMULATOR = running_platforms


async def _channel(sim: PlatformServer, seller: SellerAccount) -> int:
    creds = shop_credentials(sim, P, seller)
    view, _ = await service.create_channel(
        service.NewChannel(
            code=unique("jd"),
            platform="jd",
            name="京东 授权刷新",
            credentials={
                "app_key": creds.app_key,
                "app_secret": creds.app_secret,
                "access_token": creds.access_token,
                "refresh_token": creds.refresh_token,
                "shop_id": creds.shop_id,
                "base_url": creds.base_url,
            },
            pull_enabled=False,
        )
    )
    return view.id


async def _stored(channel_id: int) -> Credentials:
    row = await Channel.select(Channel.credentials).where(Channel.id == channel_id).first()
    assert row is not None
    return service.connector_credentials(row["credentials"])


async def test_an_expired_token_is_refreshed_and_the_call_succeeds(
    store: Hub, sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller(P)
    now = sim.store.now().replace(microsecond=0)
    order = sim.store.add_order(P, seller.app_key, updated_at=now - timedelta(minutes=2))
    channel_id = await _channel(sim, seller)
    before = shop_credentials(sim, P, seller)
    sim.store.expire_token(P, seller.access_token)
    connector = JdConnector(before, http)

    page = await service.call_platform(
        connector, channel_id, lambda: connector.pull(now - timedelta(minutes=10), now, None)
    )

    assert [o.order.external_id for o in page.orders] == [order.order_id]
    calls = [(r.method, r.outcome) for r in sim.store.requests(P) if r.app_key == seller.app_key]
    assert calls == [
        ("jingdong.pop.order.search", "19"),  # JOS 19 无效access_token
        ("oauth2/refresh_token", "ok"),
        ("jingdong.pop.order.search", "ok"),
    ]
    stored = await _stored(channel_id)
    assert stored.access_token == connector.credentials.access_token == seller.access_token != before.access_token
    assert stored.refresh_token == seller.refresh_token != before.refresh_token
    assert stored.token_expires_at is not None
    assert abs(stored.token_expires_at - (datetime.now(UTC) + timedelta(days=1))) < timedelta(minutes=1)
    assert (stored.app_key, stored.app_secret, stored.base_url) == (before.app_key, before.app_secret, before.base_url)


async def test_a_refused_refresh_ends_the_call_as_session_expired(
    store: Hub, sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller(P)
    now = sim.store.now().replace(microsecond=0)
    channel_id = await _channel(sim, seller)
    before = shop_credentials(sim, P, seller)
    sim.store.expire_token(P, seller.access_token)
    sim.store.expire_refresh_token(P, seller.refresh_token)
    connector = JdConnector(before, http)

    with pytest.raises(SessionExpired) as caught:
        await service.call_platform(
            connector, channel_id, lambda: connector.pull(now - timedelta(minutes=10), now, None)
        )

    assert caught.value.platform_code == str(REFRESH_REFUSED)
    assert "过期" in caught.value.platform_message
    stored = await _stored(channel_id)
    assert (stored.access_token, stored.refresh_token) == (before.access_token, before.refresh_token)
