"""The Taobao/Tmall (TOP) connector against the TOP simulator: pull, write-back, stock, and every refusal."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from orderhub.channels import port
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
from orderhub.channels.taobao import mapper
from orderhub.channels.taobao.client import GATEWAY_URL, SignMethod, TopClient
from orderhub.channels.taobao.connector import REFRESH_METHOD, TaobaoConnector, credentials_from_token
from sandbox.platforms import OrderState, PlatformServer, Receiver, RefundState, SellerAccount, running_platforms
from sandbox.platforms.taobao import make_merchant_backend_app
from tests.support.simulators import shop_credentials

P = "taobao"


SIMULATOR = running_platforms  # the module's `sim` (tests/conftest.py)


def connector(
    sim: PlatformServer, http: httpx.AsyncClient, seller: SellerAccount, *, sign_method: SignMethod = "md5", **kw: Any
) -> TaobaoConnector:
    return TaobaoConnector(shop_credentials(sim, P, seller), http, sign_method=sign_method, **kw)


async def pull_all(conn: TaobaoConnector, start: datetime, end: datetime) -> list[PlatformOrder]:
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
    name="张三", mobile="13800138000", province="浙江省", city="杭州市", district="西湖区", detail="文三路 90 号 501"
)


async def test_multi_page_pull_returns_exactly_the_window(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = second(sim)
    start, end = now - timedelta(hours=3), now - timedelta(hours=1)
    add = sim.store.add_order
    key = seller.app_key
    main = add(
        P,
        key,
        lines=[("TEE-WHT-M", 2, 1230), ("MUG-350", 1, 1999)],
        shipping_fee=800,
        discount=350,
        receiver=RECEIVER,
        buyer_memo="周末送",
        seller_memo="加急",
        updated_at=start,  # the start is inside
        paid_at=start - timedelta(minutes=5),
    )
    unpaid = add(P, key, state=OrderState.PENDING_PAYMENT, updated_at=start + timedelta(minutes=10))
    inside = [add(P, key, updated_at=start + timedelta(minutes=20 + i)) for i in range(4)]
    outside = [
        add(P, key, updated_at=start - timedelta(seconds=1)),
        add(P, key, updated_at=end),  # the end is outside: [start, end)
        add(P, key, updated_at=end + timedelta(minutes=10)),
    ]

    orders = await pull_all(connector(sim, http, seller, page_size=2), start, end)

    ids = [o.order.external_id for o in orders]
    assert sorted(ids) == sorted([main.order_id, unpaid.order_id, *(o.order_id for o in inside)])
    assert not {o.order_id for o in outside} & set(ids)
    calls = [r for r in sim.store.requests(P, method="taobao.trades.sold.increment.get") if r.app_key == key]
    # 7 trades on TOP's inclusive [start, end], 2 a page: page 1 for the total, then pages 4 … 1 (BackwardPages)
    assert [c.params["page_no"] for c in calls] == ["1", "4", "3", "2", "1"]
    got = {o.order.external_id: o for o in orders}
    first = got[main.order_id]
    assert first.state == PlatformOrderState.PAID and first.platform_status == "WAIT_SELLER_SEND_GOODS"
    assert first.updated_at == start and first.updated_at.tzinfo is not None
    assert first.order.paid_at == start - timedelta(minutes=5)
    assert [(line.sku, line.qty, line.unit_price) for line in first.order.lines] == [
        ("TEE-WHT-M", 2, 1230),
        ("MUG-350", 1, 1999),
    ]
    assert first.order.shipping_fee == 800
    assert first.order.discount == 350
    assert first.order.paid_amount == 2 * 1230 + 1999 + 800 - 350
    receiver = first.order.receiver  # an OAID app: masked, the clear one only through taobao.top.oaid.decrypt
    assert (receiver.name, receiver.phone, receiver.province, receiver.city, receiver.district, receiver.detail) == (
        "张*",
        "*******8000",
        "浙江省",
        "杭州市",
        "西湖区",
        "文*路 ** * ***",
    )
    assert receiver.cipher is not None and receiver.cipher.open_id == first.order.raw["oaid"]
    assert (first.order.buyer_memo, first.order.seller_memo) == ("周末送", "加急")
    assert first.order.raw["tid_str"] == main.order_id
    assert got[unpaid.order_id].state == PlatformOrderState.UNPAID
    assert got[unpaid.order_id].order.paid_at is None
    for order in orders:
        assert start <= order.updated_at < end


async def test_list_without_details_falls_back_to_fullinfo(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = second(sim)
    order = sim.store.add_order(P, seller.app_key, lines=[("SOCK-3P", 3, 1990)], updated_at=now - timedelta(minutes=5))
    conn = connector(sim, http, seller)
    conn.list_fields = "tid,modified"
    before = len(sim.store.requests(P, method="taobao.trade.fullinfo.get"))

    page = await conn.pull(now - timedelta(minutes=10), now, None)

    assert len(sim.store.requests(P, method="taobao.trade.fullinfo.get")) == before + 1
    [mapped] = page.orders
    assert mapped.order.external_id == order.order_id
    assert [(line.sku, line.qty, line.unit_price) for line in mapped.order.lines] == [("SOCK-3P", 3, 1990)]
    assert mapped.order.receiver.cipher is not None and mapped.order.receiver.cipher.open_id  # fullinfo's oaid
    assert mapped.order.receiver.name == order.receiver.name[0] + "*" * (len(order.receiver.name) - 1)
    assert page.next_page is None


async def test_states_cancelled_refund_shipped_completed(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = second(sim)
    at = now - timedelta(minutes=30)
    key = seller.app_key
    cancelled = sim.store.add_order(P, key, state=OrderState.CANCELLED, updated_at=at)
    refund = sim.store.add_order(P, key, refund=RefundState.REQUESTED, updated_at=at)
    shipped = sim.store.add_order(P, key, state=OrderState.SHIPPED, updated_at=at)
    completed = sim.store.add_order(P, key, state=OrderState.COMPLETED, updated_at=at)
    closed_unpaid = sim.store.add_order(P, key, state=OrderState.PENDING_PAYMENT, updated_at=at)
    sim.store.update_order(P, closed_unpaid.order_id, state=OrderState.CANCELLED, updated_at=at)

    orders = await pull_all(connector(sim, http, seller), now - timedelta(hours=1), now)

    states = {o.order.external_id: (o.state, o.platform_status) for o in orders}
    assert states == {
        cancelled.order_id: (PlatformOrderState.CANCELLED, "TRADE_CLOSED"),
        refund.order_id: (PlatformOrderState.REFUND_REQUESTED, "WAIT_SELLER_SEND_GOODS"),
        shipped.order_id: (PlatformOrderState.SHIPPED, "WAIT_BUYER_CONFIRM_GOODS"),
        completed.order_id: (PlatformOrderState.COMPLETED, "TRADE_FINISHED"),
        closed_unpaid.order_id: (PlatformOrderState.CANCELLED, "TRADE_CLOSED_BY_TAOBAO"),
    }


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
async def test_every_sign_method_is_accepted(
    sim: PlatformServer, http: httpx.AsyncClient, sign_method: SignMethod
) -> None:
    seller = sim.store.create_seller(P)
    now = second(sim)
    order = sim.store.add_order(P, seller.app_key, updated_at=now - timedelta(minutes=1))
    page = await connector(sim, http, seller, sign_method=sign_method).pull(now - timedelta(minutes=5), now, None)
    assert [o.order.external_id for o in page.orders] == [order.order_id]
    assert sim.store.requests(P)[-1].params["sign_method"] == sign_method


async def test_wrong_secret_is_rejected_and_nothing_secret_is_logged(
    sim: PlatformServer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    seller = sim.store.create_seller(P)
    now = second(sim)
    conn = TaobaoConnector(shop_credentials(sim, P, seller, app_secret="not-the-secret"), http)
    with caplog.at_level(logging.DEBUG, logger="orderhub.channels"), pytest.raises(SignatureRejected) as caught:
        await conn.pull(now - timedelta(minutes=5), now, None)
    assert caught.value.platform_code == "25"
    assert sim.store.requests(P)[-1].outcome == "25"
    logged = caplog.text + repr(conn) + repr(conn.client)
    assert caplog.records
    for secret in ("not-the-secret", seller.app_secret, seller.access_token):
        assert secret not in logged


async def test_an_expired_session_of_a_market_app_is_refreshed(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    """A 服务市场 app: taobao.top.auth.token.refresh (without a session) renews it, once per refresh token."""
    seller = sim.store.create_seller(P)
    first_refresh = seller.refresh_token
    sim.store.expire_token(P, seller.access_token)
    now = second(sim)
    conn = connector(sim, http, seller)
    with pytest.raises(SessionExpired) as caught:
        await conn.pull(now - timedelta(minutes=5), now, None)
    assert caught.value.platform_code == "27/invalid-sessionkey"
    assert conn.can_refresh()

    fresh = await conn.refresh_token()

    shop = sim.store.seller(P, seller.app_key)
    assert (fresh.access_token, fresh.refresh_token) == (shop.access_token, shop.refresh_token)
    assert (
        fresh.token_expires_at is not None and abs(fresh.token_expires_at - shop.token_expires_at).total_seconds() < 1
    )
    assert fresh.refresh_expires_at is not None and fresh.refresh_expires_at > fresh.token_expires_at
    [call] = [r for r in sim.store.requests(P, method=REFRESH_METHOD) if r.app_key == seller.app_key]
    assert "session" not in call.params and call.params["refresh_token"] == first_refresh
    assert (await conn.pull(now - timedelta(minutes=5), now, None)).orders == []  # the new session works

    replay = TaobaoConnector(shop_credentials(sim, P, seller, refresh_token=first_refresh), http)
    with pytest.raises(SessionExpired) as used:
        await replay.refresh_token()
    assert used.value.platform_code == "41/isv.invalid-parameter:refresh_token"


async def test_no_refresh_outside_the_service_market(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    make_merchant_backend_app(sim.store, seller.app_key)  # 商家后台: a fixed-length session
    with pytest.raises(SessionExpired) as refused:
        await connector(sim, http, seller).refresh_token()
    assert "重新授权" in refused.value.message

    calls = len(sim.store.requests(P))
    bare = TaobaoConnector(shop_credentials(sim, P, seller, refresh_token=""), http)
    assert not bare.can_refresh()
    with pytest.raises(SessionExpired) as unsupported:
        await bare.refresh_token()
    assert unsupported.value.platform_code == "refresh_unsupported" and "服务市场" in unsupported.value.message
    assert len(sim.store.requests(P)) == calls  # nothing asked
    lapsed = shop_credentials(sim, P, seller, refresh_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert not TaobaoConnector(lapsed, http).can_refresh()


def test_the_token_answer_fills_the_expiries() -> None:
    """A 商家后台 app's token answer (the shape of a real one: expire_time / refresh_token_valid_time in ms,
    re_expires_in 0) leaves nothing to refresh; a 服务市场 one keeps its refresh token and when it ends."""
    old = Credentials(app_key="k", app_secret="s", access_token="old", refresh_token="r0", shop_id="")
    now = datetime(2026, 1, 8, 6, 0, tzinfo=UTC)
    backend = {
        "w1_expires_in": 31525572,
        "refresh_token_valid_time": 1767841169000,
        "taobao_user_nick": "bagsmart%E6%97%97%E8%88%B0%E5%BA%97",
        "re_expires_in": 0,
        "expire_time": 1799377170000,
        "token_type": "Bearer",
        "access_token": "6201606e950601ZZ",
        "refresh_token": "62027061671e77ZZ",
        "taobao_user_id": "2206890150985",
        "expires_in": 31525571,
    }
    fixed = credentials_from_token(old, json.dumps(backend), now=now)
    assert (fixed.access_token, fixed.refresh_token, fixed.refresh_expires_at) == ("6201606e950601ZZ", "", None)
    assert fixed.token_expires_at == datetime(2027, 1, 8, 2, 59, 30, tzinfo=UTC)  # 1799377170 s (date -u -d @…)
    assert fixed.shop_id == "2206890150985"
    market = {"access_token": "a1", "expires_in": 86400, "refresh_token": "r1", "re_expires_in": 1209600}
    renewed = credentials_from_token(old, market, now=now)
    assert renewed.token_expires_at == now + timedelta(days=1)
    assert (renewed.refresh_token, renewed.refresh_expires_at) == ("r1", now + timedelta(days=14))


async def test_rate_limit_and_outages(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = second(sim)
    conn = connector(sim, http, seller)
    window = (now - timedelta(minutes=5), now, None)
    sim.store.inject_rate_limit(P, 1, method="taobao.trades.sold.increment.get")
    with pytest.raises(RateLimited) as limited:
        await conn.pull(*window)
    assert limited.value.retry_after == 1.0 and limited.value.retryable
    sim.store.inject_error(P, 1, method="taobao.trades.sold.increment.get")
    with pytest.raises(PlatformUnavailable) as remote:
        await conn.pull(*window)
    assert "isp." in remote.value.platform_code
    sim.store.inject_http_error(P, 1, status=502, method="taobao.trades.sold.increment.get")
    with pytest.raises(PlatformUnavailable) as gateway:
        await conn.pull(*window)
    assert gateway.value.platform_code == "http 502"
    assert (await conn.pull(*window)).next_page is None  # and then it works again

    dead = TaobaoConnector(Credentials(app_key="1", app_secret="s", base_url="http://127.0.0.1:9/router/rest"), http)
    with pytest.raises(PlatformUnavailable):
        await dead.pull(*window)


async def test_window_longer_than_a_day_is_refused_before_calling(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = second(sim)
    calls = len(sim.store.requests(P))
    conn = connector(sim, http, seller)
    with pytest.raises(InvalidRequest) as caught:
        await conn.pull(now - timedelta(days=1, seconds=1), now, None)
    assert caught.value.platform_code == "window_too_long"
    with pytest.raises(InvalidRequest):
        await conn.pull(now, now - timedelta(minutes=1), None)
    with pytest.raises(InvalidRequest):
        await conn.pull(now - timedelta(minutes=1), now, "not-a-page")
    assert len(sim.store.requests(P)) == calls
    assert (await conn.pull(now - timedelta(days=1), now, None)).orders == []  # exactly a day is fine


async def test_confirm_shipment_maps_the_carrier_and_second_is_already_shipped(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller(P)
    order = sim.store.add_order(P, seller.app_key, lines=[("CAP-NAVY", 1)])
    conn = connector(sim, http, seller)
    shipment = ShipmentConfirmation(external_id=order.order_id, carrier="YD", waybill_no="4312345678901")

    await conn.confirm_shipment(shipment)

    [recorded] = [s for s in sim.store.shipments(P) if s.app_key == seller.app_key]
    assert (recorded.order_id, recorded.company_code, recorded.tracking_no) == (
        order.order_id,
        "YUNDA",
        "4312345678901",
    )
    assert recorded.method == "taobao.logistics.offline.send"
    with pytest.raises(AlreadyShipped):
        await conn.confirm_shipment(shipment)
    with pytest.raises(AlreadyShipped):  # another waybill: still shipped on the platform
        await conn.confirm_shipment(ShipmentConfirmation(external_id=order.order_id, carrier="SF", waybill_no="SF1"))

    cancelled = sim.store.add_order(P, seller.app_key, state=OrderState.CANCELLED)
    with pytest.raises(InvalidRequest) as refused:
        await conn.confirm_shipment(ShipmentConfirmation(external_id=cancelled.order_id, carrier="SF", waybill_no="1"))
    assert not isinstance(refused.value, AlreadyShipped)
    with pytest.raises(InvalidRequest) as unknown:
        await conn.confirm_shipment(ShipmentConfirmation(external_id=order.order_id, carrier="UPS", waybill_no="1"))
    assert unknown.value.platform_code == "unknown_carrier"


async def test_update_stock_sets_full_quantities(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    white = sim.store.add_product(P, seller.app_key, "TEE-WHT-M", stock=3)
    black = sim.store.add_product(P, seller.app_key, "TEE-BLK-L", stock=3, product_id=white.product_id)
    conn = connector(sim, http, seller)

    await conn.update_stock(
        [
            StockUpdate(platform_item_id=white.product_id, platform_sku_id=white.sku_id, quantity=17),
            StockUpdate(platform_item_id=black.product_id, platform_sku_id=black.sku_id, quantity=0),
        ]
    )

    updates = [u for u in sim.store.stock_updates(P) if u.app_key == seller.app_key]
    assert [(u.sku_code, u.quantity, u.mode, u.stock_after) for u in updates] == [
        ("TEE-WHT-M", 17, "full", 17),
        ("TEE-BLK-L", 0, "full", 0),
    ]
    with pytest.raises(InvalidRequest):
        await conn.update_stock([StockUpdate(platform_item_id="1", platform_sku_id="2", quantity=1)])


async def test_registered_as_taobao(http: httpx.AsyncClient) -> None:
    for platform in ("taobao", "tmall"):  # Tmall shops use the same TOP API
        connector = port.connector_for(platform, Credentials(app_key="k", app_secret="s"), http)
        assert isinstance(connector, TaobaoConnector)
    assert TaobaoConnector.max_window == timedelta(days=1)


async def test_default_gateway_is_the_real_one(http: httpx.AsyncClient) -> None:
    client = TopClient(Credentials(app_key="k", app_secret="s"), http)
    assert client.base_url == GATEWAY_URL == "https://eco.taobao.com/router/rest"


# ------------------------------------------------------------------ pure pieces
# (the signature against TOP's published example: tests/unit/test_top_signature.py)


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [("12.30", 1230), ("0.1", 10), ("19.99", 1999), ("0.29", 29), ("1234567.89", 123456789), ("", 0), (None, 0)],
)
def test_yuan_to_fen_is_exact(yuan: str | None, fen: int) -> None:
    assert mapper.yuan_to_fen(yuan) == fen


def test_mapper_reads_a_top_trade() -> None:
    trade: dict[str, Any] = {
        "tid": 3912345678901234567,
        "tid_str": "3912345678901234567",
        "status": "WAIT_SELLER_SEND_GOODS",
        "created": "2026-03-01 09:00:00",
        "modified": "2026-03-01 10:00:05",
        "pay_time": "2026-03-01 09:01:00",
        "payment": "66.60",
        "post_fee": "6.00",
        "receiver_name": "李四",
        "receiver_phone": "0571-88888888",
        "receiver_state": "北京",
        "receiver_city": "北京市",
        "receiver_district": "朝阳区",
        "receiver_town": "望京街道",
        "receiver_address": "阜通东大街 1 号",
        "orders": {
            "order": [
                {"num_iid": 1, "sku_id": "77", "outer_iid": "TEA", "num": 2, "price": "30.30"},
                {"num_iid": 2, "sku_id": "88", "num": 1, "price": "5.00", "refund_status": "CLOSED"},
            ]
        },
    }
    mapped = mapper.map_trade(trade)
    assert mapped.order.external_id == "3912345678901234567"
    assert mapped.updated_at == datetime(2026, 3, 1, 2, 0, 5, tzinfo=UTC)
    assert [(line.sku, line.qty, line.unit_price) for line in mapped.order.lines] == [("TEA", 2, 3030), ("88", 1, 500)]
    assert (mapped.order.shipping_fee, mapped.order.paid_amount, mapped.order.discount) == (
        600,
        6660,
        6060 + 500 + 600 - 6660,
    )
    assert mapped.order.receiver.phone == "0571-88888888"
    assert mapped.order.receiver.detail == "望京街道阜通东大街 1 号"
    assert mapped.state == PlatformOrderState.PAID  # a withdrawn refund is not active
    trade["orders"]["order"][1]["refund_status"] = "WAIT_SELLER_AGREE"
    assert mapper.map_trade(trade).state == PlatformOrderState.REFUND_REQUESTED
    for status, state in [
        ("WAIT_BUYER_PAY", PlatformOrderState.UNPAID),
        ("PAID_FORBID_CONSIGN", PlatformOrderState.UNPAID),
        ("TRADE_CLOSED_BY_TAOBAO", PlatformOrderState.CANCELLED),
        ("SOMETHING_NEW", PlatformOrderState.UNPAID),
    ]:
        assert mapper.map_trade({**trade, "status": status}).state == state
    assert not mapper.needs_full_info(trade)
    assert mapper.needs_full_info({"tid": 1, "modified": "2026-03-01 10:00:05"})


def test_carrier_codes() -> None:
    assert {c: mapper.company_code(c) for c in ("SF", "ZTO", "YTO", "STO", "YD", "JT", "EMS", "JD")} == {
        "SF": "SF",
        "ZTO": "ZTO",
        "YTO": "YTO",
        "STO": "STO",
        "YD": "YUNDA",
        "JT": "JTSD",
        "EMS": "EMS",
        "JD": "JD",
    }
    with pytest.raises(ValueError):
        mapper.company_code("DHL")
