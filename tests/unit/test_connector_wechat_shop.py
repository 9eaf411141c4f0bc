"""The 微信小店 connector against the platform simulator (real wire format, real HTTP)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from orderhub.channels.port import (
    AlreadyShipped,
    Credentials,
    InvalidRequest,
    PlatformOrder,
    PlatformOrderState,
    PlatformUnavailable,
    RateLimited,
    ShipmentConfirmation,
    SignatureRejected,
    StockUpdate,
    connector_for,
)
from orderhub.channels.wechat_shop import mapper
from orderhub.channels.wechat_shop.connector import WechatShopConnector
from orderhub.orders.commands import NewOrderLine
from sandbox.platforms import OrderState, PlatformServer, RefundState, SellerAccount, running_platforms
from sandbox.platforms import Receiver as SimReceiver
from tests.support.simulators import shop_credentials

P = "wechat_shop"
TOKEN_PATHS = ("/cgi-bin/token", "/cgi-bin/stable_token")


SIMULATOR = running_platforms  # the module's `sim` (tests/conftest.py)


def token_fetches(sim: PlatformServer, seller: SellerAccount) -> int:
    return len([r for r in sim.store.requests(P) if r.method in TOKEN_PATHS and r.app_key == seller.app_key])


async def pull_all(connector: WechatShopConnector, start: datetime, end: datetime) -> tuple[list[PlatformOrder], int]:
    orders: list[PlatformOrder] = []
    page: str | None = None
    pages = 0
    while True:
        result = await connector.pull(start, end, page)
        pages += 1
        orders += result.orders
        if result.next_page is None:
            return orders, pages
        page = result.next_page


def test_carrier_codes_cover_the_hub_carriers() -> None:
    assert set(mapper.DELIVERY_IDS) == {"SF", "ZTO", "YTO", "STO", "YD", "JT", "EMS", "JD"}
    assert mapper.delivery_id("yd") == "YUNDA" and mapper.delivery_id("JT") == "JTSD"


async def test_pull_pages_through_the_window_and_maps_orders(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = sim.store.now().replace(microsecond=0)
    start, end = now - timedelta(hours=3), now - timedelta(hours=1)
    add = sim.store.add_order
    receiver = SimReceiver(
        name="李四", mobile="13900139000", province="广东省", city="深圳市", district="南山区", detail="科技园 2 栋"
    )
    special = add(
        P,
        seller.app_key,
        lines=[("TEA-LJ-250", 1, 15900), ("CAP-NAVY", 2, 3990)],
        shipping_fee=1000,
        discount=2000,
        receiver=receiver,
        buyer_memo="周末送",
        seller_memo="VIP",
        updated_at=start,
    )
    inside = [add(P, seller.app_key, updated_at=start + timedelta(minutes=10 * i)).order_id for i in range(1, 5)]
    unpaid = add(P, seller.app_key, state=OrderState.PENDING_PAYMENT, updated_at=start + timedelta(minutes=55))
    cancelled = add(P, seller.app_key, state=OrderState.CANCELLED, updated_at=start + timedelta(minutes=60))
    refund = add(P, seller.app_key, refund=RefundState.REQUESTED, updated_at=start + timedelta(minutes=65))
    refunded = add(P, seller.app_key, refund=RefundState.REFUNDED, updated_at=start + timedelta(minutes=70))
    shipped = add(P, seller.app_key, state=OrderState.SHIPPED, updated_at=start + timedelta(minutes=75))
    add(P, seller.app_key, updated_at=start - timedelta(seconds=1))
    add(P, seller.app_key, updated_at=end)  # [start, end): the end belongs to the next window
    add(P, seller.app_key, updated_at=end + timedelta(minutes=5))

    connector = WechatShopConnector(shop_credentials(sim, P, seller, tokens=False), http, page_size=2)
    orders, pages = await pull_all(connector, start, end)

    expected = {special.order_id, *inside, unpaid.order_id, cancelled.order_id, refund.order_id}
    expected |= {refunded.order_id, shipped.order_id}
    assert pages >= 5
    assert len(orders) == len(expected)
    assert {o.order.external_id for o in orders} == expected
    assert all(start <= o.updated_at < end for o in orders)
    assert token_fetches(sim, seller) == 1  # fetched once, then cached

    by_id = {o.order.external_id: o for o in orders}
    got = by_id[special.order_id]
    assert (got.state, got.platform_status, got.updated_at) == (PlatformOrderState.PAID, "20", start)
    assert got.order.lines == (
        NewOrderLine(sku="TEA-LJ-250", qty=1, unit_price=15900),
        NewOrderLine(sku="CAP-NAVY", qty=2, unit_price=3990),
    )
    assert (got.order.shipping_fee, got.order.discount, got.order.paid_amount) == (1000, 2000, 22880)
    r = got.order.receiver
    assert (r.name, r.phone, r.province, r.city, r.district, r.detail) == (
        "李四",
        "13900139000",
        "广东省",
        "深圳市",
        "南山区",
        "科技园 2 栋",
    )
    assert (got.order.buyer_memo, got.order.seller_memo) == ("周末送", "VIP")
    assert got.order.placed_at.tzinfo is not None and got.order.paid_at is not None
    assert got.order.raw["order_id"] == special.order_id

    assert by_id[unpaid.order_id].state == PlatformOrderState.UNPAID
    assert by_id[unpaid.order_id].order.paid_at is None
    assert by_id[cancelled.order_id].state == PlatformOrderState.CANCELLED
    assert by_id[refund.order_id].state == PlatformOrderState.REFUND_REQUESTED
    assert by_id[refunded.order_id].state == PlatformOrderState.CANCELLED
    assert by_id[shipped.order_id].state == PlatformOrderState.SHIPPED
    assert all(by_id[i].state == PlatformOrderState.PAID for i in inside)


async def test_expired_token_is_refreshed_once_transparently(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = sim.store.now()
    sim.store.add_order(P, seller.app_key, updated_at=now - timedelta(minutes=2))
    given = Credentials(
        app_key=seller.app_key,
        app_secret=seller.app_secret,
        access_token=seller.access_token,
        token_expires_at=seller.token_expires_at,
        base_url=sim.url(P),
    )
    connector = WechatShopConnector(given, http)
    original = seller.access_token
    first = await connector.pull(now - timedelta(minutes=10), now, None)
    assert len(first.orders) == 1
    assert token_fetches(sim, seller) == 0  # the stored token was still good

    sim.store.expire_token(P, seller.app_key)
    again = await connector.pull(now - timedelta(minutes=10), now, None)
    assert [o.order.external_id for o in again.orders] == [o.order.external_id for o in first.orders]
    assert token_fetches(sim, seller) == 1
    assert connector.credentials.access_token not in ("", original)
    refused = [r for r in sim.store.requests(P) if r.app_key == seller.app_key and r.outcome == "42001"]
    assert len(refused) == 1

    renewed = await connector.refresh_token()
    assert renewed.access_token and renewed.token_expires_at is not None


async def test_refusals_are_typed(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = sim.store.now()
    with pytest.raises(SignatureRejected) as bad_secret:
        await WechatShopConnector(shop_credentials(sim, P, seller, tokens=False, app_secret="x" * 32), http).pull(
            now - timedelta(hours=1), now, None
        )
    assert bad_secret.value.platform_code == "40125"

    connector = WechatShopConnector(shop_credentials(sim, P, seller, tokens=False), http)
    with pytest.raises(InvalidRequest):
        await connector.pull(now - timedelta(days=7, seconds=1), now, None)
    await connector.pull(now - timedelta(days=7), now, None)  # exactly 7 days is allowed (and caches a token)

    sim.store.inject_rate_limit(P, 1)
    with pytest.raises(RateLimited) as limited:
        await connector.pull(now - timedelta(hours=1), now, None)
    assert limited.value.retryable and limited.value.platform_code == "45009"

    sim.store.inject_http_error(P, 1, status=503)
    with pytest.raises(PlatformUnavailable) as gateway:
        await connector.pull(now - timedelta(hours=1), now, None)
    assert gateway.value.platform_code == "http 503"
    sim.store.inject_error(P, 1)
    with pytest.raises(PlatformUnavailable) as busy:
        await connector.pull(now - timedelta(hours=1), now, None)
    assert busy.value.platform_code == "-1"
    token = connector.credentials.access_token
    assert all(token not in str(e.value) for e in (limited, gateway, busy))


async def test_confirm_shipment_and_stock(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    order = sim.store.add_order(P, seller.app_key, lines=[("MUG-350", 2), ("SOCK-3P", 1)])
    cancelled = sim.store.add_order(P, seller.app_key, state=OrderState.CANCELLED)
    connector = connector_for("wechat_shop", shop_credentials(sim, P, seller, tokens=False), http)
    assert isinstance(connector, WechatShopConnector)

    shipment = ShipmentConfirmation(external_id=order.order_id, carrier="YD", waybill_no="YD4300000001")
    await connector.confirm_shipment(shipment)
    recorded = [s for s in sim.store.shipments(P) if s.order_id == order.order_id]
    assert [(s.company_code, s.tracking_no) for s in recorded] == [("YUNDA", "YD4300000001")]
    parcel = recorded[0].params["delivery_list"][0]
    assert sorted((p["sku_id"], p["product_cnt"]) for p in parcel["product_infos"]) == sorted(
        (line.sku_id, line.qty) for line in order.lines
    )

    with pytest.raises(AlreadyShipped):
        await connector.confirm_shipment(shipment)
    with pytest.raises(InvalidRequest) as not_shippable:
        await connector.confirm_shipment(
            ShipmentConfirmation(external_id=cancelled.order_id, carrier="SF", waybill_no="SF1")
        )
    assert not isinstance(not_shippable.value, AlreadyShipped)

    line = order.lines[0]
    await connector.update_stock(
        [StockUpdate(platform_item_id=line.product_id, platform_sku_id=line.sku_id, quantity=12)]
    )
    update = sim.store.stock_updates(P)[-1]
    assert (update.sku_id, update.mode, update.stock_after) == (line.sku_id, "full", 12)
