"""The 微信小店 connector against the platform simulator (real wire format, real HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

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
    SessionExpired,
    ShipmentConfirmation,
    SignatureRejected,
    StockUpdate,
    connector_for,
)
from orderhub.channels.wechat_shop import mapper
from orderhub.channels.wechat_shop.client import classify_error
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


async def test_confirm_shipment(sim: PlatformServer, http: httpx.AsyncClient) -> None:
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


# ---------------------------------------------------------------------------------------------------- stock
# 快速更新库存 (developers.weixin.qq.com/doc/store/shop/API/product/stock_update.html): diff_type "1: 增加；2：减少；
# 3：设置。建议使用1或2，不建议使用3，因为使用3在高并发场景可能会出现预期外表现". The connector reads 获取库存 and sends
# the difference with 1 or 2.

STOCK_GET = "/channels/ec/product/stock/get"
STOCK_UPDATE = "/channels/ec/product/stock/update"


def stock_calls(sim: PlatformServer, seller: SellerAccount) -> list[tuple[str, dict[str, Any]]]:
    return [
        (r.method, json.loads(r.params["body"]))
        for r in sim.store.requests(P)
        if r.app_key == seller.app_key and r.method in (STOCK_GET, STOCK_UPDATE)
    ]


async def test_update_stock_adds_or_reduces_the_difference_from_what_the_platform_shows(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller(P)
    mug = sim.store.add_product(P, seller.app_key, "MUG-350", stock=4)
    connector = WechatShopConnector(shop_credentials(sim, P, seller, tokens=False), http)
    sku = {"product_id": mug.product_id, "sku_id": mug.sku_id}

    def to(quantity: int) -> list[StockUpdate]:
        return [StockUpdate(platform_item_id=mug.product_id, platform_sku_id=mug.sku_id, quantity=quantity)]

    await connector.update_stock(to(12))
    await connector.update_stock(to(5))
    await connector.update_stock(to(5))  # already shown: read only (a change of 0 is refused, 10020218)
    await connector.update_stock(to(0))

    assert stock_calls(sim, seller) == [
        (STOCK_GET, sku),
        (STOCK_UPDATE, {**sku, "diff_type": 1, "num": 8}),
        (STOCK_GET, sku),
        (STOCK_UPDATE, {**sku, "diff_type": 2, "num": 7}),
        (STOCK_GET, sku),
        (STOCK_GET, sku),
        (STOCK_UPDATE, {**sku, "diff_type": 2, "num": 5}),
    ]
    updates = [u for u in sim.store.stock_updates(P) if u.app_key == seller.app_key]
    assert [(u.mode, u.quantity, u.stock_after) for u in updates] == [
        ("incremental", 8, 12),
        ("incremental", -7, 5),
        ("incremental", -5, 0),
    ]
    assert "full" not in {u.mode for u in sim.store.stock_updates(P)}  # never diff_type 3


async def test_an_order_between_the_read_and_the_write_keeps_its_units(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    """The race the doc warns about: a buyer orders 3 while the hub is setting the stock to 20. With an increment the
    order's 3 stay taken (17 shown; the hub learns of the order and pushes again); a set of 20 would forget them."""
    seller = sim.store.create_seller(P)
    cap = sim.store.add_product(P, seller.app_key, "CAP-NAVY", stock=10)
    connector = WechatShopConnector(shop_credentials(sim, P, seller, tokens=False), http)

    def buyer_orders(qty: int) -> Callable[[], None]:
        def take() -> None:
            cap.stock -= qty

        return take

    sim.store.after_next_call(P, STOCK_GET, buyer_orders(3))
    await connector.update_stock(
        [StockUpdate(platform_item_id=cap.product_id, platform_sku_id=cap.sku_id, quantity=20)]
    )
    assert cap.stock == 17

    # The simulator's diff_type 3 does what the doc warns of: the same race, a set, the order's units gone.
    token = connector.credentials.access_token
    read = await http.post(
        sim.url(P) + STOCK_GET,
        params={"access_token": token},
        json={"product_id": cap.product_id, "sku_id": cap.sku_id},
    )
    assert read.json()["data"]["normal_stock_num"] == 17
    cap.stock -= 3  # an order right after that read
    await http.post(
        sim.url(P) + STOCK_UPDATE,
        params={"access_token": token},
        json={"product_id": cap.product_id, "sku_id": cap.sku_id, "diff_type": 3, "num": 20},
    )
    assert cap.stock == 20


async def test_a_reduce_refused_for_short_stock_is_read_and_computed_again(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller(P)
    sock = sim.store.add_product(P, seller.app_key, "SOCK-3P", stock=10)
    connector = WechatShopConnector(shop_credentials(sim, P, seller, tokens=False), http)

    def sell_five() -> None:
        sock.stock -= 5

    sim.store.after_next_call(P, STOCK_GET, sell_five)  # the reduce by 8 finds only 5 left
    await connector.update_stock(
        [StockUpdate(platform_item_id=sock.product_id, platform_sku_id=sock.sku_id, quantity=2)]
    )

    assert sock.stock == 2
    outcomes = [r.outcome for r in sim.store.requests(P) if r.app_key == seller.app_key and r.method == STOCK_UPDATE]
    assert outcomes == ["10020219", "ok"]  # 库存不足以减扣, then the reduce by 3


async def test_stock_refusals(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    mug = sim.store.add_product(P, seller.app_key, "MUG-350", stock=1)
    connector = WechatShopConnector(shop_credentials(sim, P, seller, tokens=False), http)
    with pytest.raises(InvalidRequest) as missing:
        await connector.update_stock([StockUpdate(platform_item_id="1", platform_sku_id="2", quantity=3)])
    assert missing.value.platform_code == "10020052"  # 商品不存在

    sim.store.inject_rate_limit(P, 1, method=STOCK_UPDATE)
    with pytest.raises(RateLimited) as limited:
        await connector.update_stock(
            [StockUpdate(platform_item_id=mug.product_id, platform_sku_id=mug.sku_id, quantity=3)]
        )
    assert limited.value.platform_code == "10020112" and limited.value.retryable  # 更新该sku库存频率超限

    with pytest.raises(InvalidRequest) as negative:
        await connector.update_stock(
            [StockUpdate(platform_item_id=mug.product_id, platform_sku_id=mug.sku_id, quantity=-1)]
        )
    assert negative.value.platform_code == "negative_quantity"
    assert mug.stock == 1


@pytest.mark.parametrize(
    ("errcode", "error"),
    [
        (40001, SessionExpired),  # invalid credential, access_token is invalid or not latest
        (41001, SessionExpired),  # access_token missing
        (42001, SessionExpired),  # access_token expired
        (40013, SignatureRejected),  # invalid appid
        (40125, SignatureRejected),  # invalid appsecret
        (61004, SignatureRejected),  # client ip not in ip-white-list
        (45009, RateLimited),  # reach max api daily quota limit
        (45011, RateLimited),  # api minute-quota reach limit
        (10020112, RateLimited),  # 更新该sku库存频率超限
        (-1, PlatformUnavailable),  # system error
        (48001, InvalidRequest),  # api unauthorized
    ],
)
def test_wechat_errcodes(errcode: int, error: type[Exception]) -> None:
    """微信小店「公共错误码」, the token APIs' codes and 快速更新库存's (cited in the client)."""
    failure = classify_error(errcode, "msg rid: 1-2-3")
    assert type(failure) is error and failure.platform_code == str(errcode)
    assert classify_error(45011, "").retry_after == 60.0  # "retry next minute"
