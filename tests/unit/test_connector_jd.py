"""The 京东 JOS connector against the JOS simulator: pull, write-back, stock, and every refusal."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from orderhub.channels import port
from orderhub.channels.jd import mapper
from orderhub.channels.jd.client import GATEWAY_URL, JosClient, sign
from orderhub.channels.jd.connector import JdConnector
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
)
from sandbox.platforms import OrderState, PlatformServer, Receiver, RefundState, SellerAccount, running_platforms
from tests.support.simulators import shop_credentials

P = "jd"


SIMULATOR = running_platforms  # the module's `sim` (tests/conftest.py)


def connector(sim: PlatformServer, http: httpx.AsyncClient, seller: SellerAccount, **kw: Any) -> JdConnector:
    return JdConnector(shop_credentials(sim, P, seller), http, **kw)


async def pull_all(conn: JdConnector, start: datetime, end: datetime) -> list[PlatformOrder]:
    orders: list[PlatformOrder] = []
    page: str | None = None
    for _ in range(50):
        result = await conn.pull(start, end, page)
        orders += result.orders
        page = result.next_page
        if page is None:
            return orders
    raise AssertionError("pull never reached the last page")


def second(sim: PlatformServer) -> datetime:
    return sim.store.now().replace(microsecond=0)


RECEIVER = Receiver(
    name="王五",
    mobile="13900139000",
    province="广东省",
    city="深圳市",
    district="南山区",
    town="粤海街道",
    detail="科技园 8 栋 1203",
)


async def test_multi_page_pull_returns_exactly_the_window(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = second(sim)
    start, end = now - timedelta(days=2), now - timedelta(days=1)
    add = sim.store.add_order
    key = seller.app_key
    main = add(
        P,
        key,
        lines=[("TEA-LJ-250", 1, 15900), ("MUG-350", 3, 1230)],
        shipping_fee=1000,
        discount=2000,
        receiver=RECEIVER,
        buyer_memo="送公司前台",
        seller_memo="老客户",
        updated_at=start,  # the start is inside
        paid_at=start - timedelta(minutes=1),
    )
    inside = [add(P, key, updated_at=start + timedelta(hours=1, minutes=i)) for i in range(4)]
    outside = [
        add(P, key, updated_at=start - timedelta(seconds=1)),
        add(P, key, updated_at=end),  # the end is outside: [start, end)
        add(P, key, updated_at=end + timedelta(hours=1)),
    ]

    orders = await pull_all(connector(sim, http, seller, page_size=2), start, end)

    ids = [o.order.external_id for o in orders]
    assert sorted(ids) == sorted([main.order_id, *(o.order_id for o in inside)])
    assert not {o.order_id for o in outside} & set(ids)
    calls = [r for r in sim.store.requests(P, method="jingdong.pop.order.search") if r.app_key == key]
    # 6 orders on JOS's inclusive [start, end], 2 a page: page 1 for the total, then pages 3, 2, 1 (BackwardPages)
    assert [json.loads(c.params["360buy_param_json"])["page"] for c in calls] == ["1", "3", "2", "1"]
    biz = json.loads(calls[0].params["360buy_param_json"])
    assert biz["dateType"] == "0" and "WAIT_SELLER_STOCK_OUT" in biz["order_state"]
    first = next(o for o in orders if o.order.external_id == main.order_id)
    assert first.state == PlatformOrderState.PAID and first.platform_status == "WAIT_SELLER_STOCK_OUT"
    assert first.updated_at == start and first.updated_at.tzinfo is not None
    assert first.order.paid_at == start - timedelta(minutes=1)
    assert [(line.sku, line.qty, line.unit_price) for line in first.order.lines] == [
        ("TEA-LJ-250", 1, 15900),
        ("MUG-350", 3, 1230),
    ]
    assert (first.order.shipping_fee, first.order.discount) == (1000, 2000)
    assert first.order.paid_amount == 15900 + 3 * 1230 + 1000 - 2000
    receiver = first.order.receiver
    assert (receiver.name, receiver.phone, receiver.province, receiver.city, receiver.district) == (
        "王五",
        "13900139000",
        "广东省",
        "深圳市",
        "南山区",
    )
    assert receiver.detail == "粤海街道科技园 8 栋 1203"
    assert receiver.address == "广东省深圳市南山区粤海街道科技园 8 栋 1203"
    assert (first.order.buyer_memo, first.order.seller_memo) == ("送公司前台", "老客户")
    assert first.order.raw["orderId"] == main.order_id
    for order in orders:
        assert start <= order.updated_at < end


async def test_states_cancelled_locked_shipped_completed(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = second(sim)
    at = now - timedelta(minutes=30)
    key = seller.app_key
    cancelled = sim.store.add_order(P, key, state=OrderState.CANCELLED, updated_at=at)
    locked = sim.store.add_order(P, key, refund=RefundState.REQUESTED, updated_at=at)
    shipped = sim.store.add_order(P, key, state=OrderState.SHIPPED, updated_at=at)
    completed = sim.store.add_order(P, key, state=OrderState.COMPLETED, updated_at=at)

    orders = await pull_all(connector(sim, http, seller), now - timedelta(hours=1), now)

    assert {o.order.external_id: (o.state, o.platform_status) for o in orders} == {
        cancelled.order_id: (PlatformOrderState.CANCELLED, "TRADE_CANCELED"),
        locked.order_id: (PlatformOrderState.REFUND_REQUESTED, "LOCKED"),
        shipped.order_id: (PlatformOrderState.SHIPPED, "WAIT_GOODS_RECEIVE_CONFIRM"),
        completed.order_id: (PlatformOrderState.COMPLETED, "FINISHED_L"),
    }


async def test_wrong_secret_is_rejected_and_nothing_secret_is_logged(
    sim: PlatformServer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    seller = sim.store.create_seller(P)
    now = second(sim)
    conn = JdConnector(shop_credentials(sim, P, seller, app_secret="not-the-secret"), http)
    with caplog.at_level(logging.DEBUG, logger="orderhub.channels"), pytest.raises(SignatureRejected) as caught:
        await conn.pull(now - timedelta(minutes=5), now, None)
    assert caught.value.platform_code == "12"
    assert sim.store.requests(P)[-1].outcome == "12"
    logged = caplog.text + repr(conn) + repr(conn.client)
    assert caplog.records
    for secret in ("not-the-secret", seller.app_secret, seller.access_token):
        assert secret not in logged


async def test_expired_token(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    sim.store.expire_token(P, seller.access_token)
    now = second(sim)
    with pytest.raises(SessionExpired) as caught:
        await connector(sim, http, seller).pull(now - timedelta(minutes=5), now, None)
    assert caught.value.platform_code == "19"
    with pytest.raises(SessionExpired):
        await connector(sim, http, seller).refresh_token()


async def test_rate_limit_and_outages(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = second(sim)
    conn = connector(sim, http, seller)
    window = (now - timedelta(minutes=5), now, None)
    sim.store.inject_rate_limit(P, 1, method="jingdong.pop.order.search")
    with pytest.raises(RateLimited) as limited:
        await conn.pull(*window)
    assert limited.value.platform_code == "2" and limited.value.retryable
    sim.store.inject_error(P, 1, method="jingdong.pop.order.search")
    with pytest.raises(PlatformUnavailable) as remote:
        await conn.pull(*window)
    assert remote.value.platform_code == "67"
    sim.store.inject_http_error(P, 1, status=503, method="jingdong.pop.order.search")
    with pytest.raises(PlatformUnavailable) as gateway:
        await conn.pull(*window)
    assert gateway.value.platform_code == "http 503"
    assert (await conn.pull(*window)).next_page is None  # and then it works again


async def test_window_longer_than_max_is_refused_before_calling(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = second(sim)
    calls = len(sim.store.requests(P))
    conn = connector(sim, http, seller)
    with pytest.raises(InvalidRequest) as caught:
        await conn.pull(now - JdConnector.max_window - timedelta(seconds=1), now, None)
    assert caught.value.platform_code == "window_too_long"
    with pytest.raises(InvalidRequest):
        await conn.pull(now - timedelta(minutes=1), now, "-1")
    assert len(sim.store.requests(P)) == calls


async def test_confirm_shipment_maps_the_carrier_and_second_is_already_shipped(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller(P)
    order = sim.store.add_order(P, seller.app_key, lines=[("SOCK-3P", 2)])
    conn = connector(sim, http, seller)
    shipment = ShipmentConfirmation(external_id=order.order_id, carrier="SF", waybill_no="SF1400000000001")

    await conn.confirm_shipment(shipment)

    [recorded] = [s for s in sim.store.shipments(P) if s.app_key == seller.app_key]
    assert (recorded.order_id, recorded.company_code, recorded.tracking_no) == (
        order.order_id,
        "467",
        "SF1400000000001",
    )
    assert recorded.method == "jingdong.pop.order.shipment"
    with pytest.raises(AlreadyShipped) as again:
        await conn.confirm_shipment(shipment)
    assert again.value.platform_code == "10100005"

    cancelled = sim.store.add_order(P, seller.app_key, state=OrderState.CANCELLED)
    with pytest.raises(InvalidRequest) as refused:
        await conn.confirm_shipment(ShipmentConfirmation(external_id=cancelled.order_id, carrier="YD", waybill_no="1"))
    assert not isinstance(refused.value, AlreadyShipped)
    with pytest.raises(InvalidRequest) as unknown:
        await conn.confirm_shipment(ShipmentConfirmation(external_id=order.order_id, carrier="UPS", waybill_no="1"))
    assert unknown.value.platform_code == "unknown_carrier"


async def test_update_stock_sets_full_quantities(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    mug = sim.store.add_product(P, seller.app_key, "MUG-350", stock=4)
    cap = sim.store.add_product(P, seller.app_key, "CAP-NAVY", stock=4)
    conn = connector(sim, http, seller)

    await conn.update_stock(
        [
            StockUpdate(platform_item_id=mug.product_id, platform_sku_id=mug.sku_id, quantity=25),
            StockUpdate(platform_item_id=cap.product_id, platform_sku_id=cap.sku_id, quantity=0),
        ]
    )

    updates = [u for u in sim.store.stock_updates(P) if u.app_key == seller.app_key]
    assert [(u.sku_code, u.quantity, u.mode, u.stock_after) for u in updates] == [
        ("MUG-350", 25, "full", 25),
        ("CAP-NAVY", 0, "full", 0),
    ]
    with pytest.raises(InvalidRequest) as refused:
        await conn.update_stock(
            [
                StockUpdate(platform_item_id="1", platform_sku_id="999", quantity=1),
                StockUpdate(platform_item_id=mug.product_id, platform_sku_id=mug.sku_id, quantity=3),
            ]
        )
    assert refused.value.platform_code == "2"
    assert sim.store.stock_updates(P)[-1].stock_after == 3  # the good one still went through


async def test_registered_as_jd(http: httpx.AsyncClient) -> None:
    assert isinstance(port.connector_for("jd", Credentials(app_key="k", app_secret="s"), http), JdConnector)


async def test_default_gateway_is_the_real_one(http: httpx.AsyncClient) -> None:
    client = JosClient(Credentials(app_key="k", app_secret="s"), http)
    assert client.base_url == GATEWAY_URL == "https://api.jd.com/routerjson"


# ------------------------------------------------------------------ pure pieces


async def test_sign_and_signed_params(http: httpx.AsyncClient) -> None:
    params = {"method": "jingdong.pop.order.get", "app_key": "K", "v": "2.0", "360buy_param_json": "{}"}
    joined = "360buy_param_json{}app_keyKmethodjingdong.pop.order.getv2.0"
    assert sign({**params, "sign": "x"}, "S") == hashlib.md5(f"S{joined}S".encode()).hexdigest().upper()

    at = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    client = JosClient(Credentials(app_key="K", app_secret="S", access_token="T"), http, clock=lambda: at)
    fields = client.signed_params("jingdong.pop.order.get", {"order_id": "1", "skip": None, "名": "值"})
    assert fields["timestamp"] == "2026-05-01 20:00:00"
    assert json.loads(fields["360buy_param_json"]) == {"order_id": "1", "名": "值"}
    assert fields["sign"] == sign(fields, "S")


@pytest.mark.parametrize(("yuan", "fen"), [("12.30", 1230), ("0.07", 7), ("19.99", 1999), ("100", 10000), ("", 0)])
def test_yuan_to_fen_is_exact(yuan: str, fen: int) -> None:
    assert mapper.yuan_to_fen(yuan) == fen


def test_mapper_reads_a_jos_order() -> None:
    order: dict[str, Any] = {
        "orderId": "301234567890",
        "orderState": "WAIT_SELLER_STOCK_OUT",
        "orderPayment": "88.80",
        "freightPrice": "0.00",
        "sellerDiscount": "10.00",
        "orderStartTime": "2026-04-01 08:00:00",
        "paymentConfirmTime": "0001-01-01 00:00:00",
        "modified": "2026-04-01 08:30:00",
        "pin": "jd_buyer",
        "consigneeInfo": {
            "fullname": "赵六",
            "mobile": "",
            "telephone": "010-12345678",
            "province": "北京",
            "city": "朝阳区",
            "county": "三环以内",
            "fullAddress": "北京朝阳区三环以内建国路 1 号",
        },
        "itemInfoList": [
            {"skuId": "100011", "outerSkuId": "", "jdPrice": "49.40", "itemTotal": "2"},
        ],
    }
    mapped = mapper.map_order(order)
    assert mapped.updated_at == datetime(2026, 4, 1, 0, 30, tzinfo=UTC)
    assert mapped.order.paid_at is None
    assert [(line.sku, line.qty, line.unit_price) for line in mapped.order.lines] == [("100011", 2, 4940)]
    assert (mapped.order.paid_amount, mapped.order.discount) == (8880, 1000)
    receiver = mapped.order.receiver
    assert (receiver.phone, receiver.detail, receiver.address) == (
        "010-12345678",
        "建国路 1 号",
        "北京朝阳区三环以内建国路 1 号",
    )
    for status, state in [
        ("LOCKED", PlatformOrderState.REFUND_REQUESTED),
        ("TRADE_CANCELED", PlatformOrderState.CANCELLED),
        ("WAIT_GOODS_RECEIVE_CONFIRM", PlatformOrderState.SHIPPED),
        ("FINISHED_L", PlatformOrderState.COMPLETED),
        ("PAUSE", PlatformOrderState.UNPAID),
        ("SOMETHING_NEW", PlatformOrderState.UNPAID),
    ]:
        assert mapper.map_order({**order, "orderState": status}).state == state


def test_carrier_ids() -> None:
    assert {c: mapper.logistics_id(c) for c in ("SF", "ZTO", "YTO", "STO", "YD", "EMS", "JD")} == {
        "SF": "467",
        "ZTO": "1499",
        "YTO": "463",
        "STO": "470",
        "YD": "1327",
        "EMS": "465",
        "JD": "2087",
    }
    assert mapper.logistics_id("3046") == "3046"  # a vendor-specific id passes through
    with pytest.raises(ValueError):
        mapper.logistics_id("JT")
