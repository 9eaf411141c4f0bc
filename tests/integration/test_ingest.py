"""Ingest → pipeline → ready, over real HTTP against a running hub (API + worker processes)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from orderhub.channels.service import verify_signature
from orderhub.orders.tables import Order
from orderhub.redis import get_client
from tests.support.factories import (
    Api,
    body_of,
    create_channel,
    create_sku,
    create_warehouse,
    order_payload,
    set_stock,
    signed_headers,
    wait_for_orders,
)


async def _setup(api: Api, stock: dict[str, int] | None = None, n_skus: int = 1) -> tuple[str, str, str, list[str]]:
    warehouse = (await create_warehouse(api))["code"]
    skus = [await create_sku(api) for _ in range(n_skus)]
    for sku in skus:
        await set_stock(api, sku=sku, warehouse=warehouse, qty=(stock or {}).get(sku, 100))
    channel, secret = await create_channel(api, warehouse=warehouse)
    return warehouse, channel, secret, skus


async def _stock(api: Api, sku: str, warehouse: str) -> dict[str, int]:
    async with api.client() as client:
        r = await client.get("/api/v1/stock", params={"sku": sku, "warehouse": warehouse})
        assert r.status_code == 200, r.text
        return dict(r.json()["items"][0])


async def test_signed_order_reaches_ready_with_stock_reserved(api: Api) -> None:
    warehouse, channel, secret, (sku,) = await _setup(api)
    body = body_of(channel, [order_payload(lines=[(sku, 3)])])
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        r = await client.post("/api/v1/orders/ingest", content=body, headers=signed_headers(channel, secret, body))
    assert r.status_code == 202, r.text
    result = r.json()["results"][0]
    assert result["status"] == "accepted" and result["order_id"]
    order = (await wait_for_orders(api, [result["order_id"]]))[result["order_id"]]
    assert order["status"] == "ready"
    assert order["warehouse"] == warehouse
    assert order["lines"][0]["reserved_qty"] == 3
    assert order["received_at"].endswith("+08:00")  # shown in Asia/Shanghai
    path = [(e["from_status"], e["to_status"]) for e in order["events"] if e["type"] == "order.status_changed"]
    # reservation, shipment and READY commit together: there is no separate "reserved" step to see
    assert path == [("received", "validated"), ("validated", "ready")]
    assert {e["type"] for e in order["events"]} >= {"order.received", "order.stock_reserved"}
    stock = await _stock(api, sku, warehouse)
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (100, 3, 97)


async def test_unknown_sku_and_every_shortfall_are_reported(api: Api) -> None:
    warehouse, channel, _, (a, b, c) = await _setup(api, n_skus=3)
    await set_stock(api, sku=a, warehouse=warehouse, qty=1)
    await set_stock(api, sku=b, warehouse=warehouse, qty=2)
    short = order_payload(lines=[(a, 5), (b, 5), (c, 1)])
    unknown = order_payload(lines=[(c, 1), ("NO-SUCH-SKU", 1)])
    async with api.client() as client:
        r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": [short, unknown]})
    assert r.status_code == 202, r.text
    ids = [res["order_id"] for res in r.json()["results"]]
    orders = await wait_for_orders(api, ids)
    short_order, unknown_order = orders[ids[0]], orders[ids[1]]
    assert short_order["status"] == "exception" and short_order["exception_reason"] == "out_of_stock"
    event = short_order["events"][-1]
    assert {s["sku"]: (s["requested"], s["available"]) for s in event["data"]["shortfalls"]} == {a: (5, 1), b: (5, 2)}
    assert unknown_order["exception_reason"] == "unknown_sku"
    assert unknown_order["events"][-1]["data"]["skus"] == ["NO-SUCH-SKU"]
    # all or nothing: c had enough, but nothing was reserved for the failed order
    assert (await _stock(api, c, warehouse))["reserved"] == 0


async def test_bad_orders_are_rejected_alone_with_the_field(api: Api) -> None:
    _, channel, _, (sku,) = await _setup(api)
    good = order_payload(lines=[(sku, 1)])
    receiver = {"name": "张三", "phone": "13800138000", "address": "上海市浦东新区世纪大道1号"}
    bad = {  # expected field → order; each value passes JSON decoding but must not reach the database
        "created_at": order_payload(lines=[(sku, 1)], created_at="2026-11-11T10:00:00"),
        "lines[0].qty": order_payload(lines=[(sku, 0)]),
        "receiver.address": order_payload(lines=[(sku, 1)], receiver={"name": "张三", "phone": "13800138000"}),
        "shipping_fee": order_payload(lines=[(sku, 1)], shipping_fee=18446744073709551615),
        "receiver.name": order_payload(lines=[(sku, 1)], receiver={**receiver, "name": "名" * 101}),
        "seller_memo": order_payload(lines=[(sku, 1)], seller_memo="a\u0000b"),
        "paid_at": order_payload(lines=[(sku, 1)], paid_at="9999-12-31T20:00:00+00:00"),
        "created_at ": order_payload(lines=[(sku, 1)], created_at="0001-01-01T00:00:00+08:00"),
    }
    async with api.client() as client:
        r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": [good, *bad.values()]})
        listing = await client.get("/api/v1/orders", params={"channel": channel})
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (1, len(bad))
    results = body["results"]
    assert results[0]["status"] == "accepted"
    for field, result in zip(bad, results[1:], strict=True):
        assert result["status"] == "rejected", (field, result)
        assert result["error"]["field"] == field.strip(), (field, result)
        assert result["error"]["code"] == "validation_error" and result["error"]["message"]
    assert listing.status_code == 200  # nothing stored that breaks reading the list
    ids = [order["external_id"] for order in bad.values()]
    assert await Order.count().where(Order.external_id.is_in(ids)) == 0


async def test_whole_request_errors_are_problem_json(api: Api) -> None:
    _, channel, _, (sku,) = await _setup(api)
    async with api.client() as client:
        empty = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": []})
        garbage = await client.post("/api/v1/orders/ingest", content=b"{not json")
        unknown = await client.post(
            "/api/v1/orders/ingest", json={"channel": "nope", "orders": [order_payload(lines=[(sku, 1)])]}
        )
        too_many = await client.post(
            "/api/v1/orders/ingest",
            json={"channel": channel, "orders": [order_payload(lines=[(sku, 1)]) for _ in range(501)]},
        )
    for response, status, code, field in [
        (empty, 422, "validation_error", "orders"),
        (garbage, 422, "validation_error", None),
        (unknown, 404, "not_found", "channel"),
        (too_many, 422, "validation_error", "orders"),
    ]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert (problem["code"], problem["field"]) == (code, field)
        assert problem["message"] and problem["status"] == status


async def test_duplicates_in_batch_and_across_pushes_yield_one_order(api: Api) -> None:
    _, channel, _, (sku,) = await _setup(api)
    order = order_payload(lines=[(sku, 1)])
    async with api.client() as client:
        first = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": [order, order]})
        again = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": [order]})
    statuses = [res["status"] for res in first.json()["results"]] + [again.json()["results"][0]["status"]]
    assert statuses == ["accepted", "duplicate", "duplicate"]
    ids = {res["order_id"] for res in first.json()["results"] + again.json()["results"]}
    assert len(ids) == 1


async def test_same_order_pushed_20_times_concurrently_is_one_order(api: Api) -> None:
    _, channel, secret, (sku,) = await _setup(api)
    order = order_payload(lines=[(sku, 2)])
    body = body_of(channel, [order])
    now = int(time.time())

    async def push(i: int) -> httpx.Response:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=60) as client:
            if i % 2:  # half signed by the channel (each with its own timestamp), half with the admin token
                return await client.post(
                    "/api/v1/orders/ingest",
                    content=body,
                    headers=signed_headers(channel, secret, body, timestamp=now - i),
                )
            return await client.post("/api/v1/orders/ingest", content=body, headers=api.headers)

    responses = await asyncio.gather(*(push(i) for i in range(20)))
    assert all(r.status_code == 202 for r in responses), [r.text for r in responses if r.status_code != 202]
    results = [r.json()["results"][0] for r in responses]
    assert sorted(res["status"] for res in results).count("accepted") == 1
    assert len({res["order_id"] for res in results}) == 1
    assert await Order.count().where(Order.external_id == order["external_id"]) == 1
    order_id = results[0]["order_id"]
    done = await wait_for_orders(api, [order_id])
    assert done[order_id]["lines"][0]["reserved_qty"] == 2


async def test_wrong_stale_or_replayed_signature_is_401_and_stores_nothing(api: Api) -> None:
    _, channel, secret, (sku,) = await _setup(api)
    orders = {name: order_payload(lines=[(sku, 1)]) for name in ("wrong", "stale", "future", "replayed", "missing")}
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        body = body_of(channel, [orders["wrong"]])
        wrong = await client.post(
            "/api/v1/orders/ingest", content=body, headers=signed_headers(channel, "not-the-secret", body)
        )
        body = body_of(channel, [orders["stale"]])
        stale = await client.post(
            "/api/v1/orders/ingest",
            content=body,
            headers=signed_headers(channel, secret, body, timestamp=int(time.time()) - 301),
        )
        body = body_of(channel, [orders["future"]])
        future = await client.post(
            "/api/v1/orders/ingest",
            content=body,
            headers=signed_headers(channel, secret, body, timestamp=int(time.time()) + 400),
        )
        body = body_of(channel, [orders["missing"]])
        missing = await client.post("/api/v1/orders/ingest", content=body)
        # a body tampered with after signing
        body = body_of(channel, [orders["wrong"]])
        headers = signed_headers(channel, secret, body)
        tampered = await client.post(
            "/api/v1/orders/ingest", content=body.replace(b'"qty": 1', b'"qty": 9'), headers=headers
        )
        body = body_of(channel, [orders["replayed"]])
        headers = signed_headers(channel, secret, body)
        ok = await client.post("/api/v1/orders/ingest", content=body, headers=headers)
        await Order.delete().where(Order.external_id == orders["replayed"]["external_id"])  # so a replay would show
        replayed = await client.post("/api/v1/orders/ingest", content=body, headers=headers)
    assert ok.status_code == 202, ok.text
    for response, code in [
        (wrong, "signature_invalid"),
        (stale, "signature_expired"),
        (future, "signature_expired"),
        (missing, "signature_missing"),
        (tampered, "signature_invalid"),
        (replayed, "signature_replayed"),
    ]:
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == code
    ids = [o["external_id"] for o in orders.values()]
    assert await Order.count().where(Order.external_id.is_in(ids)) == 0


@pytest.mark.postgres_only(
    "concurrency claim: proven on PostgreSQL (SQLite takes one writer at a time: the 200 requests run in a row, 34 s "
    "of CI for what its BEGIN IMMEDIATE guarantees by itself)"
)
async def test_200_parallel_orders_for_50_in_stock_reserve_exactly_50(api: Api) -> None:
    warehouse, channel, secret, (sku,) = await _setup(api)
    await set_stock(api, sku=sku, warehouse=warehouse, qty=50)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)

    async def push(client: httpx.AsyncClient) -> int:
        body = body_of(channel, [order_payload(lines=[(sku, 1)])])
        r = await client.post("/api/v1/orders/ingest", content=body, headers=signed_headers(channel, secret, body))
        assert r.status_code == 202, r.text
        return int(r.json()["results"][0]["order_id"])

    async with httpx.AsyncClient(base_url=api.base_url, timeout=120, limits=limits) as client:
        ids = await asyncio.gather(*(push(client) for _ in range(200)))
    orders = await wait_for_orders(api, ids, timeout=180)
    statuses = [o["status"] for o in orders.values()]
    assert statuses.count("ready") == 50
    assert statuses.count("exception") == 150
    assert all(o["exception_reason"] == "out_of_stock" for o in orders.values() if o["status"] == "exception")
    stock = await _stock(api, sku, warehouse)
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (50, 50, 0)


async def test_cancel_releases_reserved_stock(api: Api) -> None:
    warehouse, channel, _, (sku,) = await _setup(api)
    async with api.client() as client:
        r = await client.post(
            "/api/v1/orders/ingest", json={"channel": channel, "orders": [order_payload(lines=[(sku, 4)])]}
        )
        order_id = r.json()["results"][0]["order_id"]
        await wait_for_orders(api, [order_id])
        assert (await _stock(api, sku, warehouse))["reserved"] == 4
        cancelled = await client.post(f"/api/v1/orders/{order_id}/cancel", json={"reason": "买家申请退款"})
        assert cancelled.status_code == 201, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert (await _stock(api, sku, warehouse))["reserved"] == 0
        again = await client.post(f"/api/v1/orders/{order_id}/cancel", json={"reason": "再次取消"})
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"


async def test_order_list_filters_and_keyset_pages(api: Api) -> None:
    _, channel, _, (sku,) = await _setup(api)
    orders = [order_payload(lines=[(sku, 1)]) for _ in range(5)]
    async with api.client() as client:
        await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": orders})
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, str | int] = {"channel": channel, "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/v1/orders", params=params)).json()
            seen += [o["id"] for o in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        one = (
            await client.get("/api/v1/orders", params={"channel": channel, "external_id": orders[2]["external_id"]})
        ).json()
        bad = await client.get("/api/v1/orders", params={"status": "flying"})
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    assert [o["external_id"] for o in one["items"]] == [orders[2]["external_id"]]
    assert bad.status_code == 422 and bad.json()["field"] == "status"


@pytest.mark.parametrize("path", ["/api/v1/orders", "/api/v1/stock", "/api/v1/channels"])
async def test_reads_need_a_token(api: Api, path: str) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        r = await client.get(path)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "unauthenticated"


async def test_a_signed_request_refused_before_storing_can_be_sent_again(api: Api) -> None:
    """The replay guard must not burn a signature whose request stored nothing: a corrected retry of the
    same signed bytes is judged on its content again, not refused as a replay."""
    _, channel, secret, _ = await _setup(api)
    body = body_of(channel, [])
    headers = signed_headers(channel, secret, body)
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        first = await client.post("/api/v1/orders/ingest", content=body, headers=headers)
        again = await client.post("/api/v1/orders/ingest", content=body, headers=headers)
    for response in (first, again):
        assert response.status_code == 422 and response.json()["field"] == "orders", response.text


async def test_a_signed_push_whose_api_process_died_is_judged_on_its_content(api: Api) -> None:
    """An API process that verified a signed push and died (before or after storing it) leaves the signature in
    flight, never settled: the identical retry is processed — what was stored answers `duplicate` with its order
    id, what was not is stored now — instead of being refused as a replay for ten minutes. A request that finished
    is still a replay, and the signature still covers every byte of the body."""
    _, channel, secret, (sku,) = await _setup(api)

    async def died_after_verifying(body: bytes, headers: dict[str, str]) -> None:
        # what the dead process did: checked the signature (claiming it in the replay guard), then nothing more
        await verify_signature(
            channel_code=channel,
            timestamp=headers["X-OrderHub-Timestamp"],
            signature=headers["X-OrderHub-Signature"],
            body=body,
        )

    lost = order_payload(lines=[(sku, 1)])
    body = body_of(channel, [lost])
    headers = signed_headers(channel, secret, body)
    await died_after_verifying(body, headers)  # … before storing anything
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        retry = await client.post("/api/v1/orders/ingest", content=body, headers=headers)
        assert retry.status_code == 202, retry.text
        assert retry.json()["results"][0]["status"] == "accepted"
        replay = await client.post("/api/v1/orders/ingest", content=body, headers=headers)
        assert replay.status_code == 401 and replay.json()["code"] == "signature_replayed", replay.text
        forged = body.replace(b'"qty": 1', b'"qty": 9')
        tampered = await client.post("/api/v1/orders/ingest", content=forged, headers=headers)
        assert tampered.status_code == 401 and tampered.json()["code"] == "signature_invalid", tampered.text

        stored = order_payload(lines=[(sku, 1)])
        body = body_of(channel, [stored])
        headers = signed_headers(channel, secret, body)
        first = await client.post("/api/v1/orders/ingest", content=body, headers=headers)
        assert first.status_code == 202 and first.json()["results"][0]["status"] == "accepted", first.text
        # … after storing it, before marking the signature settled (the answer never reached the sender)
        await get_client().delete(f"orderhub:sig:{channel}:{headers['X-OrderHub-Signature']}")
        await died_after_verifying(body, headers)
        retry = await client.post("/api/v1/orders/ingest", content=body, headers=headers)
        assert retry.status_code == 202, retry.text
        assert retry.json()["results"][0] == {**first.json()["results"][0], "status": "duplicate"}
        replay = await client.post("/api/v1/orders/ingest", content=body, headers=headers)
        assert replay.status_code == 401 and replay.json()["code"] == "signature_replayed", replay.text
    assert await Order.count().where(Order.external_id.is_in([lost["external_id"], stored["external_id"]])) == 2
