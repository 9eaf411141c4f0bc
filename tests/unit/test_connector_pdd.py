"""The 拼多多 connector against the platform simulator (real wire format and signature, real HTTP)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from orderhub.channels.pdd import mapper
from orderhub.channels.pdd.client import sign
from orderhub.channels.pdd.connector import PddConnector
from orderhub.channels.port import (
    AlreadyShipped,
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
from orderhub.orders.commands import NewOrderLine
from sandbox.platforms import OrderState, PlatformServer, RefundState, running_platforms
from sandbox.platforms import Receiver as SimReceiver
from sandbox.platforms.pinduoduo import render_order
from tests.support.simulators import shop_credentials

P = "pinduoduo"


SIMULATOR = running_platforms  # the module's `sim` (tests/conftest.py)


async def pull_all(connector: PddConnector, start: datetime, end: datetime) -> tuple[list[PlatformOrder], int]:
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


def test_signature_matches_the_documented_example_shape() -> None:
    params = {"type": "pdd.order.information.get", "client_id": "abc", "timestamp": "1700000000", "order_sn": "1"}
    # secret + k1v1… sorted by key + secret, upper-case hex MD5
    plain = "s3cretclient_idabcorder_sn1timestamp1700000000typepdd.order.information.gets3cret"
    assert sign({**params, "sign": "ignored"}, "s3cret") == hashlib.md5(plain.encode()).hexdigest().upper()


def test_money_is_exact_fen() -> None:
    assert mapper.yuan_to_fen("12.30") == 1230
    assert mapper.yuan_to_fen(12.3) == 1230
    assert mapper.yuan_to_fen(19.99) == 1999
    assert mapper.yuan_to_fen(0.07) == 7
    assert mapper.yuan_to_fen(12) == 1200
    assert mapper.yuan_to_fen("") == 0
    assert mapper.parse_time("2024-03-01 08:00:00") == datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
    assert mapper.order_state({"confirm_status": 0, "order_status": 1, "refund_status": 1}) == (
        PlatformOrderState.UNPAID
    )


async def test_pull_pages_through_the_window_and_maps_orders(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = sim.store.now().replace(microsecond=0)
    start, end = now - timedelta(minutes=25), now - timedelta(minutes=5)
    add = sim.store.add_order
    receiver = SimReceiver(
        name="张 三", mobile="13800138000", province="浙江省", city="杭州市", district="西湖区", detail="文三路 1 号"
    )
    special = add(
        P,
        seller.app_key,
        lines=[("TEE-WHT-M", 2, 5990), ("MUG-350", 1, 1230)],
        shipping_fee=800,
        discount=500,
        receiver=receiver,
        buyer_memo="尽快发货",
        seller_memo="送小样",
        updated_at=start,  # the first second of the window is in it
    )
    inside = [add(P, seller.app_key, updated_at=start + timedelta(minutes=3 * i)).order_id for i in range(1, 5)]
    cancelled = add(P, seller.app_key, state=OrderState.CANCELLED, updated_at=start + timedelta(minutes=14))
    refund = add(P, seller.app_key, refund=RefundState.REQUESTED, updated_at=start + timedelta(minutes=15))
    # 拼多多 lists only paid orders: an unpaid one never reaches the connector (nothing is dropped on our side).
    unpaid = add(P, seller.app_key, state=OrderState.PENDING_PAYMENT, updated_at=start + timedelta(minutes=16))
    add(P, seller.app_key, updated_at=start - timedelta(seconds=1))  # before the window
    add(P, seller.app_key, updated_at=end)  # the window is [start, end): its end belongs to the next one
    add(P, seller.app_key, updated_at=end + timedelta(minutes=1))

    connector = PddConnector(shop_credentials(sim, P, seller), http, page_size=2)
    orders, pages = await pull_all(connector, start, end)

    expected = {special.order_id, *inside, cancelled.order_id, refund.order_id}
    assert pages >= 4
    assert [o.order.external_id for o in orders].count(special.order_id) == 1
    assert {o.order.external_id for o in orders} == expected
    assert unpaid.order_id not in {o.order.external_id for o in orders}
    assert all(start <= o.updated_at < end and o.updated_at.tzinfo is not None for o in orders)

    by_id = {o.order.external_id: o for o in orders}
    got = by_id[special.order_id]
    assert got.state == PlatformOrderState.PAID
    assert got.updated_at == start
    assert got.order.lines == (
        NewOrderLine(sku="TEE-WHT-M", qty=2, unit_price=5990),
        NewOrderLine(sku="MUG-350", qty=1, unit_price=1230),
    )
    assert (got.order.shipping_fee, got.order.discount, got.order.paid_amount) == (800, 500, 13510)
    r = got.order.receiver
    assert (r.name, r.phone, r.province, r.city, r.district, r.detail) == (
        "张 三",
        "13800138000",
        "浙江省",
        "杭州市",
        "西湖区",
        "文三路 1 号",
    )
    assert (got.order.buyer_memo, got.order.seller_memo) == ("尽快发货", "送小样")
    assert got.order.paid_at is not None and got.order.placed_at.tzinfo is not None
    assert got.order.raw["order_sn"] == special.order_id
    assert "order_status=1" in got.platform_status

    assert by_id[cancelled.order_id].state == PlatformOrderState.CANCELLED
    assert by_id[refund.order_id].state == PlatformOrderState.REFUND_REQUESTED
    assert all(by_id[i].state == PlatformOrderState.PAID for i in inside)


async def test_refusals_are_typed(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = sim.store.now()
    good = PddConnector(shop_credentials(sim, P, seller), http)

    with pytest.raises(SignatureRejected) as bad_sign:
        await PddConnector(shop_credentials(sim, P, seller, app_secret="0" * 40), http).pull(
            now - timedelta(minutes=5), now, None
        )
    assert bad_sign.value.platform_code == "20004"

    before = len(sim.store.requests(P))
    with pytest.raises(InvalidRequest):
        await good.pull(now - timedelta(minutes=31), now, None)
    assert len(sim.store.requests(P)) == before  # refused before calling the platform
    page = await good.pull(now - timedelta(minutes=30), now, None)  # exactly 30 minutes is allowed
    assert page.next_page is None

    sim.store.inject_rate_limit(P, 1)
    with pytest.raises(RateLimited) as limited:
        await good.pull(now - timedelta(minutes=5), now, None)
    assert limited.value.retryable and limited.value.platform_code == "70031"

    sim.store.inject_http_error(P, 1, status=502)
    with pytest.raises(PlatformUnavailable) as gateway:
        await good.pull(now - timedelta(minutes=5), now, None)
    assert gateway.value.retryable and gateway.value.platform_code == "http 502"
    sim.store.inject_error(P, 1)
    with pytest.raises(PlatformUnavailable):
        await good.pull(now - timedelta(minutes=5), now, None)

    sim.store.expire_token(P, seller.access_token)
    with pytest.raises(SessionExpired) as expired:
        await good.pull(now - timedelta(minutes=5), now, None)
    assert expired.value.platform_code == "10019"
    with pytest.raises(SessionExpired):
        await good.refresh_token()


async def test_confirm_shipment_and_stock(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    order = sim.store.add_order(P, seller.app_key, lines=[("SOCK-3P", 3)])
    cancelled = sim.store.add_order(P, seller.app_key, state=OrderState.CANCELLED)
    connector = connector_for("pdd", shop_credentials(sim, P, seller), http)
    assert isinstance(connector, PddConnector)

    shipment = ShipmentConfirmation(external_id=order.order_id, carrier="ZTO", waybill_no="ZT7300000001")
    await connector.confirm_shipment(shipment)
    recorded = [s for s in sim.store.shipments(P) if s.order_id == order.order_id]
    assert [(s.company_code, s.tracking_no) for s in recorded] == [("115", "ZT7300000001")]

    with pytest.raises(AlreadyShipped):
        await connector.confirm_shipment(shipment)
    with pytest.raises(InvalidRequest) as not_shippable:
        await connector.confirm_shipment(
            ShipmentConfirmation(external_id=cancelled.order_id, carrier="SF", waybill_no="SF1")
        )
    assert not isinstance(not_shippable.value, AlreadyShipped)
    with pytest.raises(InvalidRequest):
        await connector.confirm_shipment(ShipmentConfirmation(external_id=order.order_id, carrier="XX", waybill_no="1"))

    line = order.lines[0]
    await connector.update_stock(
        [StockUpdate(platform_item_id=line.product_id, platform_sku_id=line.sku_id, quantity=37)]
    )
    update = sim.store.stock_updates(P)[-1]
    assert (update.sku_id, update.mode, update.stock_after) == (line.sku_id, "full", 37)


async def test_list_entries_without_details_are_fetched_in_full(sim: PlatformServer) -> None:
    """A list entry lacking what the mapper needs is completed with pdd.order.information.get."""
    seller = sim.store.create_seller(P)
    now = sim.store.now().replace(microsecond=0)
    order = sim.store.add_order(P, seller.app_key, lines=[("CAP-NAVY", 1, 3990)], updated_at=now - timedelta(minutes=3))
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        assert form["sign"] == sign(form, seller.app_secret)
        seen.append(form["type"])
        if form["type"] == "pdd.order.number.list.increment.get":
            body = {"order_sn_list": [{"order_sn": order.order_id}], "total_count": 1}
            return httpx.Response(200, json={"order_sn_increment_get_response": body})
        return httpx.Response(200, json={"order_info_get_response": {"order_info": render_order(order)}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as mock:
        page = await PddConnector(shop_credentials(sim, P, seller), mock).pull(now - timedelta(minutes=10), now, None)
    assert seen == ["pdd.order.number.list.increment.get", "pdd.order.information.get"]
    assert [(o.order.external_id, o.order.paid_amount) for o in page.orders] == [(order.order_id, 3990)]
    assert page.next_page is None


async def test_network_failure_is_platform_unavailable(sim: PlatformServer) -> None:
    seller = sim.store.create_seller(P)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    now = sim.store.now()
    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as mock:
        with pytest.raises(PlatformUnavailable) as failed:
            await PddConnector(shop_credentials(sim, P, seller), mock).pull(now - timedelta(minutes=5), now, None)
    assert failed.value.platform_code == "network"
    assert seller.access_token not in str(failed.value) and seller.app_secret not in str(failed.value)
