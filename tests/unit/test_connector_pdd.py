"""The 拼多多 connector against the platform simulator (real wire format and signature, real HTTP): pulls, write-back,
the token refresh, the encrypted receivers and their decryption."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from orderhub.channels.pdd import mapper
from orderhub.channels.pdd.client import sign
from orderhub.channels.pdd.connector import DECRYPT_API, PddConnector
from orderhub.channels.port import (
    AlreadyShipped,
    DecryptRefused,
    EncryptedReceiver,
    InvalidRequest,
    PlatformOrder,
    PlatformOrderState,
    PlatformUnavailable,
    RateLimited,
    ReceiverDecryptor,
    SessionExpired,
    ShipmentConfirmation,
    SignatureRejected,
    StockUpdate,
    connector_for,
)
from orderhub.orders.commands import NewOrderLine, ReceiverCipher
from sandbox.platforms import OrderState, PlatformServer, RefundState, running_platforms
from sandbox.platforms import Receiver as SimReceiver
from sandbox.platforms.pinduoduo import pdd_state, render_order
from sandbox.platforms.signing import pinduoduo_sign
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


# 拼多多开放平台「API调用指南」§签名算法 / 调用示例 (https://open.pinduoduo.com/application/document/browse?idStr=
# 8EC06C399636041E): these params, client_secret "testSecret" → the published sign below.
DOC_PARAMS = {
    "access_token": "asd78172s8ds9a921j9qqwda12312w1w21211",
    "client_id": "1",
    "data_type": "XML",
    "type": "pdd.order.number.list.get",
    "timestamp": "1480411125",
    "order_status": "1",
    "page": "1",
    "page_size": "10",
}
DOC_SIGN = "E4DE3ED21002510DED352819E7AE6775"


def test_signature_matches_the_published_example() -> None:
    assert sign(DOC_PARAMS, "testSecret") == DOC_SIGN  # the client's signing
    assert sign({**DOC_PARAMS, "sign": DOC_SIGN}, "testSecret") == DOC_SIGN  # ``sign`` itself is not signed
    assert pinduoduo_sign(DOC_PARAMS, "testSecret") == DOC_SIGN  # the simulator's verifier


def test_mapper_keeps_the_ciphertexts_and_shows_the_masked_forms() -> None:
    # Ciphertexts in 拼多多's published form (a pdd.waybill.update request on doc.fw199.com/docs/h7b/pdd-waybill-update;
    # the index of a phone ciphertext as lywzx/pdd-node-sdk's extractIndex test has it).
    assert mapper.search_index("$7AnwZJ1e6BZc$AAAAAADkt0hgZkt6KLklIDxVp+F1wzHsRsPUw0s19fk=$2$$") == "7AnwZJ1e6BZc"
    assert mapper.search_index("~AgAAAADKjN8FgT6V/QApofulPtD+WnmneRmB3ATUQDo=~QfFq~2~~") == "QfFq"
    assert not mapper.is_ciphertext("13800138000") and not mapper.is_ciphertext("张三")
    phone = "$WsuJt4Yh3K7a$AgAAAACjmWAGZ1vG5ABLUicfAzPuXzSdjyz1biPoE6E=$1$$"
    name = "~AgAAAACjmWAFZ1vG5ABcHJJv1G1LcKH2BRzsYjGe/s=~niqTGhCNifXk~1~~"
    detail = (
        "~AgAAAACjmWAIZ1vG5AG+pNSXy3yNfQqkPwX83TI8H0IYyf0f3qi8Bdzs2b5+nfKniLc2NB+tLVUhUMWwHkN8dg=="
        "~4Uc5fqNUxr5Sntd4fXM7UZAPXpVNVVXr~1~~"
    )
    payload = {
        "receiver_name": name,
        "receiver_name_mask": "陈*",
        "receiver_phone": phone,
        "receiver_phone_mask": "138****2363",
        "receiver_address": detail,
        "receiver_address_mask": "东方路****",
        "address": "~AgAAAACjmWAIZ1vG5AG+pNSX~4Uc5~1~~",
        "province": "上海市",
        "city": "上海市",
        "town": "浦东新区",
    }
    r = mapper.receiver(payload)
    assert (r.name, r.phone, r.province, r.city, r.district, r.detail) == (
        "陈*", "138****2363", "上海市", "上海市", "浦东新区", "东方路****"
    )
    assert r.address == "上海市上海市浦东新区东方路****"  # composed from the masked detail, never a ciphertext
    assert r.cipher == ReceiverCipher(
        platform="pdd",
        name=name,
        phone=phone,
        detail=detail,
        name_masked="陈*",
        phone_masked="138****2363",
        detail_masked="东方路****",
        phone_index="WsuJt4Yh3K7a",
        detail_index="4Uc5fqNUxr5Sntd4fXM7UZAPXpVNVVXr",  # the street's index: 合单 tells streets apart by it
    )
    assert r.cipher.match_key() == "pdd:idx:WsuJt4Yh3K7a"
    clear = mapper.receiver({**payload, "receiver_name": "陈先生", "receiver_phone": "13813122363",
                             "receiver_address": "东方路7238", "address": "上海市上海市浦东新区东方路7238"})
    assert (clear.name, clear.phone, clear.detail, clear.cipher) == ("陈先生", "13813122363", "东方路7238", None)


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
    r = got.order.receiver  # encrypted as 拼多多 sends it: masked forms shown, ciphertexts kept, 省市区 clear
    assert (r.name, r.phone, r.province, r.city, r.district, r.detail) == (
        "张**",
        "138****8000",
        "浙江省",
        "杭州市",
        "西湖区",
        "文三路 * 号",
    )
    assert r.address == "浙江省杭州市西湖区文三路 * 号"
    assert r.cipher is not None and r.cipher.platform == "pdd"
    assert all(mapper.is_ciphertext(c) for c in (r.cipher.name, r.cipher.phone, r.cipher.detail))
    assert r.cipher.phone.startswith(f"${r.cipher.phone_index}$") and r.cipher.phone.endswith("$1$$")
    assert "13800138000" not in json.dumps(got.order.raw, ensure_ascii=False)
    assert "张 三" not in json.dumps(got.order.raw, ensure_ascii=False)
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
    with pytest.raises(PlatformUnavailable) as outage:
        await good.pull(now - timedelta(minutes=5), now, None)
    assert outage.value.retryable and outage.value.platform_code == "52103"

    sim.store.expire_token(P, seller.access_token)
    with pytest.raises(SessionExpired) as expired:
        await good.pull(now - timedelta(minutes=5), now, None)
    assert expired.value.platform_code == "10019"


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
        assert form["sign"] == pinduoduo_sign(form, seller.app_secret)  # the simulator's verifier, not the client's
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


# --------------------------------------------------------------------------------------------- token refresh


async def test_refresh_token_renews_the_session(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    now = sim.store.now().replace(microsecond=0)
    order = sim.store.add_order(P, seller.app_key, updated_at=now - timedelta(minutes=2))
    connector = PddConnector(shop_credentials(sim, P, seller), http)
    old = connector.credentials
    sim.store.expire_token(P, seller.access_token)

    fresh = await connector.refresh_token()
    assert fresh.access_token and fresh.access_token != old.access_token
    assert fresh.refresh_token and fresh.refresh_token != old.refresh_token
    assert (fresh.app_key, fresh.app_secret, fresh.shop_id, fresh.base_url) == (
        old.app_key, old.app_secret, seller.shop_id, old.base_url
    )
    token = sim.store.token(P, fresh.access_token)
    assert token is not None and fresh.token_expires_at is not None and fresh.refresh_expires_at is not None
    assert fresh.token_expires_at == token.expires_at.replace(microsecond=0)  # from expires_at (unix seconds)
    assert fresh.refresh_expires_at == token.refresh_expires_at.replace(microsecond=0)
    assert fresh.token_expires_at.tzinfo is not None and fresh.refresh_expires_at > fresh.token_expires_at
    assert connector.credentials == fresh and connector.client.credentials == fresh
    refresh_calls = sim.store.requests(P, method="pdd.pop.auth.token.refresh")
    assert "access_token" not in refresh_calls[-1].params  # the call that replaces a token needs none
    page = await connector.pull(now - timedelta(minutes=5), now, None)
    assert [o.order.external_id for o in page.orders] == [order.order_id]


async def test_a_refused_refresh_is_a_session_to_reauthorise(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    credentials = shop_credentials(sim, P, seller)
    await PddConnector(credentials, http).refresh_token()  # uses the refresh token up (single use)
    with pytest.raises(SessionExpired) as used:
        await PddConnector(credentials, http).refresh_token()
    assert used.value.platform_code == "10019"

    other = sim.store.create_seller(P)
    sim.store.expire_refresh_token(P, other.refresh_token)
    with pytest.raises(SessionExpired) as expired:
        await PddConnector(shop_credentials(sim, P, other), http).refresh_token()
    assert expired.value.platform_code == "10019" and other.refresh_token not in str(expired.value)
    with pytest.raises(SessionExpired):
        await PddConnector(shop_credentials(sim, P, other, refresh_token="not-issued"), http).refresh_token()


# ------------------------------------------------------------------------------------------------- decrypt


async def _pulled_receivers(
    sim: PlatformServer, http: httpx.AsyncClient, connector: PddConnector, count: int
) -> list[tuple[SimReceiver, EncryptedReceiver]]:
    """``count`` new orders of the connector's shop, pulled: (the clear receiver, the encrypted one the hub got)."""
    now = sim.store.now().replace(microsecond=0)
    orders = [
        sim.store.add_order(P, connector.credentials.app_key, updated_at=now - timedelta(minutes=4, seconds=i))
        for i in range(count)
    ]
    pulled: dict[str, PlatformOrder] = {}
    page: str | None = None
    while True:
        result = await connector.pull(now - timedelta(minutes=10), now, page)
        pulled.update({o.order.external_id: o for o in result.orders})
        if (page := result.next_page) is None:
            break
    out = []
    for order in orders:
        cipher = pulled[order.order_id].order.receiver.cipher
        assert cipher is not None
        out.append((order.receiver, EncryptedReceiver(external_id=order.order_id, cipher=cipher)))
    return out


async def test_decrypt_answers_each_receiver_in_order_in_batches_of_100(
    sim: PlatformServer, http: httpx.AsyncClient
) -> None:
    seller = sim.store.create_seller(P)
    connector = PddConnector(shop_credentials(sim, P, seller), http)
    assert isinstance(connector, ReceiverDecryptor)
    pairs = await _pulled_receivers(sim, http, connector, 40)
    before = len(sim.store.requests(P, method=DECRYPT_API))

    results = await connector.decrypt_receivers([encrypted for _, encrypted in pairs], scene="waybill")
    assert [r.external_id for r in results] == [e.external_id for _, e in pairs]
    assert [(r.name, r.phone, r.detail, r.error_code) for r in results] == [
        (clear.name, clear.mobile, clear.detail, "") for clear, _ in pairs
    ]
    calls = sim.store.requests(P, method=DECRYPT_API)[before:]
    sizes = [len(json.loads(call.params["data_list"])) for call in calls]
    assert sizes == [99, 21] and all(call.outcome == "ok" for call in calls)  # 3 ciphertexts a receiver, ≤ 100 a call
    assert "reason" not in calls[0].params  # the API takes no reason; ``scene`` is not sent
    assert all(clear.mobile not in repr(r) for r, (clear, _) in zip(results, pairs, strict=True))


async def test_decrypt_refuses_a_ciphertext_under_another_order(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    connector = PddConnector(shop_credentials(sim, P, seller), http)
    (clear, first), (_, second) = await _pulled_receivers(sim, http, connector, 2)
    swapped = EncryptedReceiver(external_id=second.external_id, cipher=first.cipher)  # data_tag ≠ the cipher's order
    results = await connector.decrypt_receivers([first, swapped], scene="view")
    assert (results[0].name, results[0].error_code) == (clear.name, "")
    assert (results[1].external_id, results[1].error_code, results[1].name) == (second.external_id, "10000", "")

    stranger = sim.store.create_seller(P)
    theirs = PddConnector(shop_credentials(sim, P, stranger), http)
    [refused] = await theirs.decrypt_receivers([first], scene="view")  # another shop's ciphertext
    assert refused.error_code == "10000" and not refused.name


async def test_decrypt_quota_and_batch_limit(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    connector = PddConnector(shop_credentials(sim, P, seller), http)
    pairs = await _pulled_receivers(sim, http, connector, 3)
    state = pdd_state(sim.store)
    quota = state.decrypt_quota
    state.decrypt_quota = 5  # items a shop may decrypt a day
    try:
        [one] = await connector.decrypt_receivers([pairs[0][1]], scene="waybill")  # 3 items: within the quota
        assert one.name == pairs[0][0].name
        with pytest.raises(DecryptRefused) as refused:  # 3 more would make 6 > 5: the whole call is refused
            await connector.decrypt_receivers([pairs[1][1]], scene="waybill")
        assert refused.value.platform_code == "50001" and not refused.value.retryable
        assert "上限" in refused.value.platform_message
    finally:
        state.decrypt_quota = quota

    items = [{"data_tag": pairs[0][1].external_id, "encrypted_data": pairs[0][1].cipher.name}] * 101
    with pytest.raises(InvalidRequest) as too_many:  # the simulator holds the documented batch limit
        await connector.client.call(DECRYPT_API, {"data_list": json.dumps(items)})
    assert too_many.value.platform_code == "10000"


async def test_decrypt_keeps_rate_limits_and_sessions_typed(sim: PlatformServer, http: httpx.AsyncClient) -> None:
    seller = sim.store.create_seller(P)
    connector = PddConnector(shop_credentials(sim, P, seller), http)
    [(_, encrypted)] = await _pulled_receivers(sim, http, connector, 1)
    sim.store.inject_rate_limit(P, 1, method=DECRYPT_API)
    with pytest.raises(RateLimited):
        await connector.decrypt_receivers([encrypted], scene="waybill")
    sim.store.expire_token(P, seller.access_token)
    with pytest.raises(SessionExpired):
        await connector.decrypt_receivers([encrypted], scene="waybill")

