"""The 抖店 connector against the 抖店 simulator: pull, errors, token refresh, write-back, stock, states, push."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from orderhub.channels import port
from orderhub.channels.douyin import mapper, webhook
from orderhub.channels.douyin.client import DouyinClient, param_json, sign
from orderhub.channels.douyin.connector import DouyinConnector
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
)
from sandbox.platforms import OrderState, PlatformServer, RefundState, running_platforms
from sandbox.platforms import Receiver as SimReceiver
from sandbox.platforms.douyin import (
    TAG_ADDRESS_CHANGED,
    TAG_ORDER_CANCELLED,
    TAG_ORDER_PAID,
    TAG_REFUND_CREATED,
    build_push,
    order_event,
)
from sandbox.platforms.store import SHANGHAI
from tests.support.simulators import shop_credentials

SIMULATOR = running_platforms  # the module's `sim` (tests/conftest.py)


def window(sim: PlatformServer) -> tuple[datetime, datetime]:
    """A one-hour window ending ten minutes ago, on whole seconds."""
    end = sim.store.now().replace(microsecond=0) - timedelta(minutes=10)
    return end - timedelta(hours=1), end


async def pull_all(connector: DouyinConnector, start: datetime, end: datetime) -> list[PlatformOrder]:
    orders: list[PlatformOrder] = []
    page: str | None = None
    for _ in range(100):
        result = await connector.pull(start, end, page)
        orders.extend(result.orders)
        page = result.next_page
        if page is None:
            return orders
    raise AssertionError("pull did not reach the last page")


# --------------------------------------------------------------------------- pull


async def test_multi_page_pull_returns_exactly_the_window(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    store = sim.store
    seller = store.create_seller("douyin")
    start, end = window(sim)
    inside = store.add_orders(
        "douyin", seller.app_key, 7, start=start + timedelta(minutes=1), every=timedelta(minutes=3)
    )
    at_start = store.add_order("douyin", seller.app_key, updated_at=start)
    same_second = [
        store.add_order("douyin", seller.app_key, updated_at=start + timedelta(minutes=30)) for _ in range(4)
    ]
    unpaid = store.add_order(
        "douyin",
        seller.app_key,
        state=OrderState.PENDING_PAYMENT,
        created_at=start + timedelta(minutes=5),
        updated_at=start + timedelta(minutes=5),
    )
    explicit = store.add_order(
        "douyin",
        seller.app_key,
        lines=[("DY-TEE-1", 2, 5900), ("DY-MUG-1", 1, 2990)],
        shipping_fee=800,
        discount=1000,
        receiver=SimReceiver(
            name="张三",
            mobile="13800138000",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            detail="文三路100号",
            town="西溪街道",
        ),
        buyer_memo="请尽快发货",
        seller_memo="送贴纸",
        paid_at=start + timedelta(minutes=20),
        updated_at=start + timedelta(minutes=20),
    )
    outside = [
        store.add_order("douyin", seller.app_key, updated_at=start - timedelta(seconds=1)),
        store.add_order("douyin", seller.app_key, updated_at=end),  # [start, end): the end is out
        store.add_order("douyin", seller.app_key, updated_at=end + timedelta(minutes=5)),
    ]

    connector = DouyinConnector(shop_credentials(sim, "douyin", seller), http, page_size=3)
    store.clear_requests()
    pulled = await pull_all(connector, start, end)

    expected = {o.order_id for o in [*inside, at_start, *same_second, unpaid, explicit]}
    ids = [p.order.external_id for p in pulled]
    assert len(ids) == len(set(ids)), "an order came back twice"
    assert set(ids) == expected
    assert not set(ids) & {o.order_id for o in outside}
    assert len(store.requests("douyin", method="order.searchList")) >= 5  # really paged

    by_id = {p.order.external_id: p for p in pulled}
    assert by_id[unpaid.order_id].state == PlatformOrderState.UNPAID
    assert by_id[unpaid.order_id].order.paid_at is None
    for sim_order in inside:
        mapped = by_id[sim_order.order_id]
        assert mapped.state == PlatformOrderState.PAID
        assert mapped.order.paid_amount == sim_order.paid_amount
        assert mapped.order.shipping_fee == sim_order.shipping_fee
        assert mapped.order.discount == sim_order.discount
        assert [(line.sku, line.qty, line.unit_price) for line in mapped.order.lines] == [
            (line.sku_code, line.qty, line.unit_price) for line in sim_order.lines
        ]
        assert mapped.updated_at == sim_order.updated_at

    got = by_id[explicit.order_id]
    order = got.order
    assert got.state == PlatformOrderState.PAID and got.platform_status == "2"
    assert [(line.sku, line.qty, line.unit_price) for line in order.lines] == [
        ("DY-TEE-1", 2, 5900),
        ("DY-MUG-1", 1, 2990),
    ]
    assert (order.shipping_fee, order.discount, order.paid_amount) == (800, 1000, 2 * 5900 + 2990 + 800 - 1000)
    # 抖店 sends the receiver encrypted: the masked text in the clear fields, the ciphertexts kept beside them
    receiver = order.receiver
    assert (receiver.name, receiver.phone) == ("张*", "138****8000")
    assert (receiver.province, receiver.city, receiver.district) == ("浙江省", "杭州市", "西湖区")
    assert receiver.detail == "西溪街道文三路1****"
    assert receiver.cipher is not None and receiver.cipher.platform == "douyin"
    assert receiver.cipher.phone == order.raw["encrypt_post_tel"] and receiver.cipher.phone.startswith("$")
    assert receiver.cipher.name == order.raw["encrypt_post_receiver"] and receiver.cipher.name.startswith("~")
    assert receiver.cipher.detail == order.raw["post_addr"]["encrypt_detail"] and receiver.cipher.detail[0] == "#"
    assert receiver.cipher.phone_index and receiver.cipher.phone_index == receiver.cipher.phone.split("$")[1]
    (clear,) = await connector.decrypt_receivers(
        [port.EncryptedReceiver(external_id=explicit.order_id, cipher=receiver.cipher)], scene="waybill"
    )
    assert (clear.name, clear.phone, clear.detail, clear.error_code) == ("张三", "13800138000", "文三路100号", "")
    assert (order.buyer_memo, order.seller_memo) == ("请尽快发货", "送贴纸")
    assert order.paid_at == start + timedelta(minutes=20)
    assert order.paid_at is not None and order.paid_at.utcoffset() == timedelta(0)
    assert order.placed_at.tzinfo is not None
    assert got.updated_at == start + timedelta(minutes=20)
    assert order.raw["order_id"] == explicit.order_id


async def test_pull_pages_through_more_orders_in_one_second_than_a_page(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    store = sim.store
    seller = store.create_seller("douyin")
    start, end = window(sim)
    before = store.add_orders("douyin", seller.app_key, 2, start=start + timedelta(minutes=1))
    crowd = [store.add_order("douyin", seller.app_key, updated_at=start + timedelta(minutes=30)) for _ in range(7)]
    after = store.add_orders("douyin", seller.app_key, 2, start=start + timedelta(minutes=40))

    pulled = await pull_all(DouyinConnector(shop_credentials(sim, "douyin", seller), http, page_size=3), start, end)
    ids = [p.order.external_id for p in pulled]
    assert sorted(ids) == sorted(o.order_id for o in [*before, *crowd, *after])
    assert [p.updated_at for p in pulled] == sorted(p.updated_at for p in pulled)


async def test_pull_refuses_a_window_longer_than_max_window(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller("douyin")
    connector = DouyinConnector(shop_credentials(sim, "douyin", seller), http)
    end = datetime.now(UTC)
    with pytest.raises(InvalidRequest):
        await connector.pull(end - DouyinConnector.max_window - timedelta(seconds=1), end, None)
    with pytest.raises(InvalidRequest):
        await connector.pull(end - timedelta(hours=1), end, "not-a-token")


async def test_order_states_cancelled_refunds_shipped(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    store = sim.store
    seller = store.create_seller("douyin")
    start, end = window(sim)
    at = start + timedelta(minutes=10)
    cancelled = store.add_order("douyin", seller.app_key, state=OrderState.CANCELLED, updated_at=at)
    refund_asked = store.add_order("douyin", seller.app_key, refund=RefundState.REQUESTED, updated_at=at)
    refunded = store.add_order("douyin", seller.app_key, refund=RefundState.REFUNDED, updated_at=at)
    shipped = store.add_order("douyin", seller.app_key, state=OrderState.SHIPPED, updated_at=at)
    completed = store.add_order("douyin", seller.app_key, state=OrderState.COMPLETED, updated_at=at)

    pulled = await pull_all(DouyinConnector(shop_credentials(sim, "douyin", seller), http), start, end)
    states = {p.order.external_id: p.state for p in pulled}
    assert states == {
        cancelled.order_id: PlatformOrderState.CANCELLED,
        refund_asked.order_id: PlatformOrderState.REFUND_REQUESTED,
        refunded.order_id: PlatformOrderState.CANCELLED,
        shipped.order_id: PlatformOrderState.SHIPPED,
        completed.order_id: PlatformOrderState.COMPLETED,
    }


# --------------------------------------------------------------------------- errors and tokens


async def test_wrong_secret_is_signature_rejected(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller("douyin")
    connector = DouyinConnector(shop_credentials(sim, "douyin", seller, app_secret="0" * 32), http)
    start, end = window(sim)
    with pytest.raises(SignatureRejected) as caught:
        await connector.pull(start, end, None)
    assert "signature" in caught.value.platform_code
    assert caught.value.platform_message


async def test_expired_token_then_refresh_works_again(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    store = sim.store
    seller = store.create_seller("douyin")
    start, end = window(sim)
    order = store.add_order("douyin", seller.app_key, updated_at=start + timedelta(minutes=1))
    connector = DouyinConnector(shop_credentials(sim, "douyin", seller), http)
    old = connector.credentials
    store.expire_token("douyin", seller.access_token)

    with pytest.raises(SessionExpired) as caught:
        await connector.pull(start, end, None)
    assert "access-token-expired" in caught.value.platform_code

    fresh = await connector.refresh_token()
    assert fresh.access_token and fresh.access_token != old.access_token
    assert fresh.refresh_token and fresh.refresh_token != old.refresh_token
    assert fresh.token_expires_at is not None and fresh.token_expires_at > datetime.now(UTC) + timedelta(days=6)
    assert (fresh.app_key, fresh.app_secret, fresh.base_url, fresh.shop_id) == (
        old.app_key,
        old.app_secret,
        old.base_url,
        seller.shop_id,
    )
    assert connector.credentials == fresh
    page = await connector.pull(start, end, None)
    assert [p.order.external_id for p in page.orders] == [order.order_id]

    # The old refresh token was single use: a refresh with it is a session to re-authorise.
    stale = DouyinConnector(old, http)
    with pytest.raises(SessionExpired):
        await stale.refresh_token()


async def test_rate_limit_and_outages(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    store = sim.store
    seller = store.create_seller("douyin")
    connector = DouyinConnector(shop_credentials(sim, "douyin", seller), http)
    start, end = window(sim)

    store.inject_rate_limit("douyin", 1, method="order.searchList")
    with pytest.raises(RateLimited) as limited:
        await connector.pull(start, end, None)
    assert limited.value.retryable and limited.value.platform_code.startswith("60000")

    store.inject_error("douyin", 1, method="order.searchList")
    with pytest.raises(PlatformUnavailable):
        await connector.pull(start, end, None)

    store.inject_http_error("douyin", 1, status=502, method="order.searchList")
    with pytest.raises(PlatformUnavailable) as gateway:
        await connector.pull(start, end, None)
    assert gateway.value.platform_code == "http_502"

    offline = DouyinConnector(shop_credentials(sim, "douyin", seller, base_url="http://127.0.0.1:9"), http)
    with pytest.raises(PlatformUnavailable):
        await offline.pull(start, end, None)

    assert (await connector.pull(start, end, None)).next_page is None


# --------------------------------------------------------------------------- write-back


async def test_confirm_shipment_then_already_shipped(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    store = sim.store
    seller = store.create_seller("douyin")
    order = store.add_order("douyin", seller.app_key, lines=[("DY-SHIP-1", 1)])
    connector = DouyinConnector(shop_credentials(sim, "douyin", seller), http)
    shipment = ShipmentConfirmation(external_id=order.order_id, carrier="SF", waybill_no="SF1234567890123")

    await connector.confirm_shipment(shipment)
    recorded = [s for s in store.shipments("douyin") if s.order_id == order.order_id]
    assert len(recorded) == 1
    assert (recorded[0].company_code, recorded[0].tracking_no) == ("shunfeng", "SF1234567890123")

    with pytest.raises(AlreadyShipped) as again:
        await connector.confirm_shipment(shipment)
    assert again.value.platform_message

    with pytest.raises(InvalidRequest):
        await connector.confirm_shipment(ShipmentConfirmation(external_id=order.order_id, carrier="XX", waybill_no="1"))


async def test_update_stock_is_recorded(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    store = sim.store
    seller = store.create_seller("douyin")
    tee = store.add_product("douyin", seller.app_key, "DY-STOCK-1", stock=5)
    mug = store.add_product("douyin", seller.app_key, "DY-STOCK-2", stock=5)
    connector = DouyinConnector(shop_credentials(sim, "douyin", seller), http)

    await connector.update_stock(
        [
            StockUpdate(platform_item_id=tee.product_id, platform_sku_id=tee.sku_id, quantity=12),
            StockUpdate(platform_item_id=mug.product_id, platform_sku_id=mug.sku_id, quantity=0),
        ]
    )
    updates = {u.sku_code: u for u in store.stock_updates("douyin") if u.app_key == seller.app_key}
    assert updates["DY-STOCK-1"].stock_after == 12 and updates["DY-STOCK-1"].mode == "full"
    assert updates["DY-STOCK-2"].stock_after == 0


# --------------------------------------------------------------------------- push


def test_push_verifies_and_parses(sim: PlatformServer) -> None:
    store = sim.store
    seller = store.create_seller("douyin")
    order = store.add_order("douyin", seller.app_key)
    events = [
        order_event(TAG_ORDER_PAID, order, seller),
        order_event(TAG_ADDRESS_CHANGED, order, seller),
        order_event(TAG_ORDER_CANCELLED, order, seller),
        order_event(TAG_REFUND_CREATED, order, seller),
    ]
    body, headers = build_push(seller, events)

    assert webhook.verify_push(seller.app_key, seller.app_secret, body, headers)
    lowered = {k.lower(): v for k, v in headers.items()}
    assert webhook.verify_push(seller.app_key, seller.app_secret, body, lowered)
    messages = webhook.parse_push(body)
    assert [m.tag for m in messages] == [str(e["tag"]) for e in events]
    assert [m.msg_id for m in messages] == [e["msg_id"] for e in events]
    assert {m.shop_order_id for m in messages} == {order.order_id}
    assert messages[0].data["pay_amount"] == order.paid_amount
    assert [webhook.push_action(m.tag) for m in messages] == [
        webhook.PushAction.PULL_ORDER,
        webhook.PushAction.ADDRESS_CHANGED,
        webhook.PushAction.ORDER_CANCELLED,
        webhook.PushAction.REFUND_REQUESTED,
    ]
    assert webhook.PUSH_REPLY == b'{"code":0,"msg":"success"}'

    tampered = body.replace(order.order_id.encode(), b"6900000000000000001", 1)
    assert tampered != body
    assert not webhook.verify_push(seller.app_key, seller.app_secret, tampered, headers)
    assert not webhook.verify_push(seller.app_key, "0" * 32, body, headers)
    assert not webhook.verify_push(seller.app_key, seller.app_secret, body, {"app-id": seller.app_key})
    assert not webhook.verify_push("other-app", seller.app_secret, body, headers)


# --------------------------------------------------------------------------- pure pieces


def test_mapper_reads_yuan_strings_local_times_and_sku_fallbacks() -> None:
    payload = {
        "order_id": 6912345678901234567,
        "order_status": 2,
        "create_time": "2024-06-18 09:30:00",
        "update_time": "2024-06-18 10:00:05",
        "pay_time": 1718674260,
        "exp_ship_time": 0,
        "pay_amount": "118.90",
        "post_amount": "8.00",
        "promotion_amount": "0.1",
        "post_receiver": "李四",
        "post_tel": "13900001111-1234",
        "post_addr": {"province": {"name": "北京市"}, "city": {"name": "北京市"}, "town": {"name": "朝阳区"}},
        "sku_order_list": [
            {"out_sku_id": "", "code": "SELLER-CODE", "sku_id": 1, "item_num": 1, "goods_price": 5500},
            {"out_sku_id": "", "code": "", "sku_id": 1789, "item_num": 2, "goods_price": "27.75"},
        ],
    }
    got = mapper.map_order(payload)
    assert got.order.external_id == "6912345678901234567"
    assert (got.order.paid_amount, got.order.shipping_fee, got.order.discount) == (11890, 800, 10)
    assert [(line.sku, line.qty, line.unit_price) for line in got.order.lines] == [
        ("SELLER-CODE", 1, 5500),
        ("1789", 2, 2775),
    ]
    assert got.order.placed_at == datetime(2024, 6, 18, 9, 30, tzinfo=SHANGHAI)
    assert got.updated_at == datetime(2024, 6, 18, 2, 0, 5, tzinfo=UTC)
    assert got.order.paid_at == datetime.fromtimestamp(1718674260, UTC)
    assert got.order.ship_by is None
    assert got.order.receiver.phone == "13900001111-1234"  # as given
    assert mapper.order_state({**payload, "order_status": 105}) == PlatformOrderState.UNPAID
    assert mapper.order_state({**payload, "order_status": 4}) == PlatformOrderState.CANCELLED
    assert mapper.needs_detail({"order_id": "1", "update_time": 1}) is True
    assert mapper.needs_detail(payload) is False
    assert {mapper.carrier_code(c) for c in ("SF", "zto", "JD")} == {"shunfeng", "zhongtong", "jd"}

    # Ciphertext-only receivers (what every app gets): masked text in the clear fields, ciphertexts in the cipher.
    phone_cipher = "$qWq7RkQy0rZ0$AvN0bq8y4m1Kx2N9Z1w5cQ==$1$$"
    encrypted = {
        **payload,
        "post_receiver": "",
        "post_tel": "",
        "post_addr": {
            "province": {"name": "北京市"},
            "city": {"name": "北京市"},
            "town": {"name": "朝阳区"},
            "detail": "",
            "encrypt_detail": "#9Xk2#Lr1mQ0p/Zq==#1##",
        },
        "encrypt_post_tel": phone_cipher,
        "encrypt_post_receiver": "~Pq0z~Vb2k9Q==~1~~",
        "mask_post_receiver": "李*",
        "mask_post_tel": "139****1111",
        "mask_post_addr": {"province": {"name": "北京市"}, "town": {"name": "朝阳区"}, "detail": "建国路****"},
    }
    receiver = mapper.map_order(encrypted).order.receiver
    assert (receiver.name, receiver.phone, receiver.province, receiver.district, receiver.detail) == (
        "李*",
        "139****1111",
        "北京市",
        "朝阳区",
        "建国路****",
    )
    assert receiver.address == "北京市北京市朝阳区建国路****"
    assert receiver.cipher is not None
    assert (receiver.cipher.name, receiver.cipher.phone, receiver.cipher.detail) == (
        "~Pq0z~Vb2k9Q==~1~~",
        phone_cipher,
        "#9Xk2#Lr1mQ0p/Zq==#1##",
    )
    assert (receiver.cipher.name_masked, receiver.cipher.phone_masked, receiver.cipher.detail_masked) == (
        "李*",
        "139****1111",
        "建国路****",
    )
    assert receiver.cipher.phone_index == "qWq7RkQy0rZ0" and receiver.cipher.open_id == ""
    assert receiver.cipher.match_key() == "douyin:idx:qWq7RkQy0rZ0"
    # an old app / test shop also gets the clear values: they are the receiver, the cipher is kept
    both = mapper.map_order({**encrypted, "post_receiver": "李四", "post_tel": "13900001111"}).order.receiver
    assert (both.name, both.phone) == ("李四", "13900001111") and both.cipher == receiver.cipher
    # a ciphertext where a clear value belongs is never taken as clear
    assert mapper.map_order({**encrypted, "post_tel": phone_cipher}).order.receiver.phone == "139****1111"
    assert not mapper.is_cipher("$xyz$") and mapper.cipher_index("139****1111") == ""


# --------------------------------------------------------------------------- signature vectors
#
# 抖店 publishes the signing formula (开发指南 › 签名算法, https://op.jinritemai.com/docs/guide-docs/10/23): lower hex
# HMAC-SHA256(key=app_secret, app_secret + "app_key" + app_key + "method" + method + "param_json" + param_json +
# "timestamp" + timestamp + "v" + v + app_secret), param_json with its keys sorted at every level; its SDKs implement it
# (doudian.com/open/sdk_golang ``utils.Sign``, the PHP SDK's ``SignUtil::sign`` — github.com/westng/doudian-sdk). It
# publishes no worked example with its output: searching the docs, pages, code and issues corpora for "抖店 签名 示例
# sign_method hmac-sha256", "doudian sign example param_json timestamp" found the formula and code, never an
# input → sign pair. So these literals were computed once outside this code base, with
# ``printf '%s' "<secret>app_key…v2<secret>" | openssl dgst -sha256 -hmac "<secret>"`` over the string built by hand;
# the tests check the client, the simulator's verifier and an HMAC written here from the formula against them.

SIGN_VECTORS = [
    # (app_key, app_secret, method, param_json, timestamp, hmac-sha256 sign)
    (
        "7152331588175513101",
        "5d4b2a9e-7f63-4c1e-8b2a-0a1b2c3d4e5f",
        "order.orderDetail",
        '{"shop_order_id":"6919134867211293453"}',
        "1718674260",
        "2bcda36943d1aab70eb3c675f74d92422358dc423ac6dd669843aa45e7d6025e",
    ),
    (  # ciphertext characters (# + / =) go into param_json unescaped
        "7000000000000000000",
        "s3cret",
        "order.batchDecrypt",
        '{"account_id":"1","account_type":"main_account","cipher_infos":[{"auth_id":"6919134867211293453",'
        '"cipher_text":"#3Bc9#X1y/Z+w==#1##"}]}',
        "1718674260",
        "02af179829968d9872f6045f847d6abf4bba1dc643df750586c9b0427ce45e7f",
    ),
    (  # non-ASCII stays raw UTF-8
        "7000000000000000000",
        "s3cret",
        "order.searchList",
        '{"page":0,"remark":"中文","size":1}',
        "1718674260",
        "aa3ed958cc0d7c6b6f553b8e88fb7c4347cf194f4cfc5b4a241ea299682f1cff",
    ),
]


@pytest.mark.parametrize(("app_key", "secret", "method", "body", "timestamp", "expected"), SIGN_VECTORS)
def test_sign_vectors(app_key: str, secret: str, method: str, body: str, timestamp: str, expected: str) -> None:
    import hashlib
    import hmac

    from sandbox.platforms.signing import douyin_sign

    # an HMAC written here from the documented formula (not the client's code) agrees with the literal …
    plain = f"{secret}app_key{app_key}method{method}param_json{body}timestamp{timestamp}v2{secret}"
    assert hmac.new(secret.encode(), plain.encode(), hashlib.sha256).hexdigest() == expected
    # … and so do the client and the simulator's verifier
    assert sign(app_key=app_key, app_secret=secret, method=method, param_json=body, timestamp=timestamp) == expected
    assert (
        douyin_sign(app_key=app_key, app_secret=secret, method=method, param_json=body, timestamp=timestamp) == expected
    )
    # the client's canonical param_json is the signed body
    assert param_json(json.loads(body)) == body


def test_md5_sign_vector_for_the_simulator() -> None:
    """``sign_method=md5`` (the gateway's default when sign_method is left out): MD5 of the same string, computed with
    ``openssl dgst -md5``."""
    from sandbox.platforms.signing import douyin_sign

    app_key, secret, method, body, timestamp, _ = SIGN_VECTORS[0]
    got = douyin_sign(
        app_key=app_key, app_secret=secret, method=method, param_json=body, timestamp=timestamp, sign_method="md5"
    )
    assert got == "bb4e1f27acd91b30c754b897b6c8d52c"


async def test_the_request_on_the_wire_carries_the_vector_sign() -> None:
    app_key, secret, method, body, timestamp, expected = SIGN_VECTORS[0]
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 10000, "msg": "success", "data": {}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        credentials = port.Credentials(app_key=app_key, app_secret=secret, access_token="t0ken")
        await DouyinClient(credentials, client, clock=lambda: int(timestamp)).call(method, json.loads(body))
    (request,) = seen
    assert request.url.path == "/order/orderDetail"
    assert dict(request.url.params) == {
        "app_key": app_key,
        "method": method,
        "access_token": "t0ken",
        "timestamp": timestamp,
        "v": "2",
        "sign_method": "hmac-sha256",
        "sign": expected,
    }
    assert request.content == body.encode()


@pytest.mark.parametrize(
    ("code", "sub_code", "expected"),
    [
        # 平台基础错误码汇总列表 (see orderhub/channels/douyin/client.py)
        (40003, "isv.access-token-expired", SessionExpired),
        (30001, "dop.authorization-no-existed", SessionExpired),
        (30001, "dop.authorization-closed", SessionExpired),
        (30002, "isv.invalid_ip", InvalidRequest),  # the IP whitelist: configuration, not a token problem
        (20000, "dop.service-error", PlatformUnavailable),
        (60000, "", RateLimited),
        # order.batchDecrypt: the shop's daily quota / risk control
        (90000, "", port.DecryptRefused),
        (80000, "", RateLimited),
    ],
)
def test_error_codes_become_typed_errors(code: int, sub_code: str, expected: type[port.PlatformError]) -> None:
    from orderhub.channels.douyin.client import error_for

    error = error_for(code, "msg", sub_code, "sub_msg", log_id="L1")
    assert type(error) is expected and error.extra["log_id"] == "L1"


async def test_registered_and_secrets_never_logged(
    sim: PlatformServer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    seller = sim.store.create_seller("douyin")
    credentials = shop_credentials(sim, "douyin", seller)
    connector = port.connector_for("douyin", credentials, http)
    assert isinstance(connector, DouyinConnector) and connector.platform == "douyin"
    start, end = window(sim)
    with caplog.at_level(logging.DEBUG, logger="orderhub.channels.douyin"):
        await connector.pull(start, end, None)
        sim.store.inject_rate_limit("douyin", 1)
        with pytest.raises(RateLimited):
            await connector.pull(start, end, None)
        with pytest.raises(InvalidRequest):
            await DouyinClient(credentials, http).call("order.orderDetail", {"shop_order_id": "0"})
    assert caplog.records
    for record in caplog.records:
        text = repr(record.__dict__)
        for secret in (seller.app_secret, seller.access_token, seller.refresh_token):
            assert secret not in text
