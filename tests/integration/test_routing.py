"""Warehouse routing: served provinces, fallback, split / wait / exception policies, packing line."""

from __future__ import annotations

import random
from typing import Any

from tests.support.factories import Api, create_sku, order_payload, set_stock, unique, wait_for_orders


async def _warehouse(api: Api, *, provinces: list[str], region: str) -> str:
    code = unique("R")
    async with api.client() as client:
        r = await client.post(
            "/api/v1/warehouses", json={"code": code, "name": f"{region}仓", "region": region, "provinces": provinces}
        )
    assert r.status_code == 201, r.text
    return code


async def _channel(api: Api, **settings: Any) -> str:
    code = unique("rt")
    async with api.client() as client:
        r = await client.post(
            "/api/v1/channels", json={"code": code, "platform": "own_store", "name": "路由测试", **settings}
        )
    assert r.status_code == 201, r.text
    return code


async def _push(api: Api, channel: str, *orders: dict[str, Any]) -> list[int]:
    async with api.client() as client:
        r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": list(orders)})
    assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
    return [res["order_id"] for res in r.json()["results"]]


def _to(province_address: str, lines: list[tuple[str, int]], phone: str | None = None) -> dict[str, Any]:
    """An order to a receiver of its own (the same receiver twice would be merged into one shipment)."""
    phone = phone or f"137{random.randrange(10**8):08d}"
    return order_payload(lines=lines, receiver={"name": "收货人", "phone": phone, "address": province_address})


GUANGZHOU = "广东省广州市天河区天河路1号"
SHANGHAI = "上海市浦东新区世纪大道1号"
HARBIN = "黑龙江省哈尔滨市南岗区中山路1号"


async def test_orders_go_to_the_warehouse_serving_their_province_else_the_nearest(api: Api) -> None:
    east = await _warehouse(api, provinces=["上海市", "江苏省", "浙江省"], region="华东")
    south = await _warehouse(api, provinces=["广东省", "广西壮族自治区"], region="华南")
    north = await _warehouse(api, provinces=["北京市", "天津市"], region="华北")
    sku, scarce = await create_sku(api), await create_sku(api)
    for wh in (east, south, north):
        await set_stock(api, sku=sku, warehouse=wh, qty=10)
    await set_stock(api, sku=scarce, warehouse=east, qty=5)
    channel = await _channel(api)
    ids = await _push(
        api,
        channel,
        _to(GUANGZHOU, [(sku, 1)]),
        _to(SHANGHAI, [(sku, 1)]),
        _to(HARBIN, [(sku, 1)]),  # 东北: no warehouse serves it; 华北 is one hop away
        _to(GUANGZHOU, [(sku, 1), (scarce, 1)]),  # south lacks `scarce`: the next that has everything
    )
    orders = await wait_for_orders(api, ids)
    assert [orders[i]["warehouse"] for i in ids] == [south, east, north, east]
    assert all(orders[i]["status"] == "ready" and len(orders[i]["shipments"]) == 1 for i in ids)


async def test_split_policy_ships_from_several_warehouses_and_cancel_releases_all(api: Api) -> None:
    east = await _warehouse(api, provinces=["上海市"], region="华东")
    south = await _warehouse(api, provinces=["广东省"], region="华南")
    a, b = await create_sku(api), await create_sku(api)
    await set_stock(api, sku=a, warehouse=east, qty=3)
    await set_stock(api, sku=b, warehouse=south, qty=3)
    split = await _channel(api, split_policy="split")
    refuse = await _channel(api, split_policy="exception")
    (split_id,) = await _push(api, split, _to(SHANGHAI, [(a, 2), (b, 1)]))
    (refused_id,) = await _push(api, refuse, _to(SHANGHAI, [(a, 1), (b, 1)]))
    orders = await wait_for_orders(api, [split_id, refused_id])
    order = orders[split_id]
    assert order["status"] == "ready" and order["warehouse"] is None
    assert {(line["sku"], line["warehouse"]) for line in order["lines"]} == {(a, east), (b, south)}
    assert sorted(s["warehouse"] for s in order["shipments"]) == sorted([east, south])
    assert {line["shipment"] for line in order["lines"]} == {s["id"] for s in order["shipments"]}
    refused = orders[refused_id]
    assert (refused["status"], refused["exception_reason"]) == ("exception", "out_of_stock")
    assert {s["sku"] for s in refused["events"][-1]["data"]["shortfalls"]} == {b}  # against the 华东 warehouse
    async with api.client() as client:
        await client.post(f"/api/v1/orders/{split_id}/cancel", json={"reason": "测试"})
        stock = (await client.get("/api/v1/stock", params={"sku": a})).json()["items"]
        stock += (await client.get("/api/v1/stock", params={"sku": b})).json()["items"]
    assert all(row["reserved"] == 0 for row in stock)


async def test_wait_policy_holds_until_stock_arrives(api: Api) -> None:
    east = await _warehouse(api, provinces=["上海市"], region="华东")
    sku = await create_sku(api)
    await set_stock(api, sku=sku, warehouse=east, qty=1)
    channel = await _channel(api, split_policy="wait")
    (order_id,) = await _push(api, channel, _to(SHANGHAI, [(sku, 3)]))
    held = (await wait_for_orders(api, [order_id]))[order_id]
    assert (held["status"], held["hold_queue"], held["hold_reason"]) == ("held", "awaiting_stock", "out_of_stock")
    await set_stock(api, sku=sku, warehouse=east, qty=10)
    ready = (await wait_for_orders(api, [order_id], done=frozenset({"ready"}), timeout=60))[order_id]
    assert ready["warehouse"] == east and ready["lines"][0]["reserved_qty"] == 3


async def test_packing_line_follows_weight_and_volume(api: Api) -> None:
    east = await _warehouse(api, provinces=["上海市"], region="华东")
    small = await create_sku(api, weight_g=300)
    async with api.client() as client:
        heavy = unique("HEAVY-")
        r = await client.post(
            "/api/v1/skus", json={"code": heavy, "name": "桶装水", "weight_g": 6000, "volume_cm3": 9000}
        )
        assert r.status_code == 201
    for sku in (small, heavy):
        await set_stock(api, sku=sku, warehouse=east, qty=10)
    channel = await _channel(api)
    ids = await _push(api, channel, _to(SHANGHAI, [(small, 2)]), _to(SHANGHAI, [(heavy, 1)]))
    orders = await wait_for_orders(api, ids)
    lines = [orders[i]["shipments"][0]["packing_line"] for i in ids]
    assert lines == ["A", "B"]
    assert orders[ids[1]]["shipments"][0]["weight_g"] == 6000


async def test_orders_for_one_receiver_merge_into_one_shipment(api: Api) -> None:
    east = await _warehouse(api, provinces=["上海市"], region="华东")
    light, heavy = await create_sku(api, weight_g=300), await create_sku(api, weight_g=3000)
    for sku in (light, heavy):
        await set_stock(api, sku=sku, warehouse=east, qty=20)
    shop, sister, loner = await _channel(api, merge_scope="seller"), await _channel(api), await _channel(api)
    async with api.client() as client:
        await client.patch(f"/api/v1/channels/{loner}", json={"merge_scope": "off"})
    phone = f"136{random.randrange(10**8):08d}"
    (first,) = await _push(api, shop, _to(SHANGHAI, [(light, 1)], phone))
    await wait_for_orders(api, [first])
    (second,) = await _push(api, shop, _to(SHANGHAI, [(heavy, 1)], phone))
    # (different quantities: identical content would be held as a suspected duplicate instead)
    (third,) = await _push(api, sister, _to(SHANGHAI, [(light, 2)], phone))  # another shop of the seller
    (apart,) = await _push(api, loner, _to(SHANGHAI, [(light, 3)], phone))  # this shop never merges
    (other,) = await _push(api, shop, _to(SHANGHAI, [(light, 1)]))  # another receiver
    orders = await wait_for_orders(api, [first, second, third, apart, other])
    shipment = orders[second]["shipments"][0]
    assert orders[first]["shipments"][0]["id"] == shipment["id"]
    assert sorted(shipment["order_ids"]) == sorted([first, second])
    assert (shipment["weight_g"], shipment["packing_line"]) == (3300, "A")
    # the sister shop merges within itself only (its scope is "channel"); the loner never merges
    assert orders[third]["shipments"][0]["id"] != shipment["id"]
    assert orders[apart]["shipments"][0]["id"] != shipment["id"]
    assert orders[other]["shipments"][0]["id"] != shipment["id"]
    assert [e["data"]["with"] for e in orders[second]["events"] if e["type"] == "order.merged"] == [[first]]
    async with api.client() as client:
        await client.post(f"/api/v1/orders/{second}/cancel", json={"reason": "买家取消"})
        after = (await client.get(f"/api/v1/orders/{first}")).json()["shipments"][0]
    assert (after["order_ids"], after["weight_g"], after["status"]) == ([first], 300, "open")


async def test_an_orders_events_say_why_it_is_in_its_warehouse(api: Api) -> None:
    """order.routed: the ranking with each warehouse's reasons (rule preference, served province, region distance,
    stock cover) and the decision, in English fields and codes with zh-CN text, through the order's API."""
    preferred = await _warehouse(api, provinces=["北京市"], region="华北")
    east = await _warehouse(api, provinces=["上海市"], region="华东")
    sku, other, nowhere = await create_sku(api), await create_sku(api), await create_sku(api)
    for code in (sku, other):
        await set_stock(api, sku=code, warehouse=east, qty=5)
    await set_stock(api, sku=sku, warehouse=preferred, qty=5)  # the preferred warehouse has half of the order
    channel = await _channel(api, split_policy="exception")
    async with api.client() as client:
        r = await client.post(
            "/api/v1/rules",
            json={
                "name": unique("指定仓"),
                "conditions": [{"field": "channel", "op": "in", "value": [channel]}],
                "actions": [{"type": "prefer_warehouse", "warehouse": preferred}],
            },
        )
        assert r.status_code == 201, r.text
        rule_id = r.json()["id"]
    try:
        routed_id, short_id = await _push(
            api, channel, _to(SHANGHAI, [(sku, 1), (other, 1)]), _to(SHANGHAI, [(sku, 1), (nowhere, 1)])
        )
        orders = await wait_for_orders(api, [routed_id, short_id])
    finally:
        async with api.client() as client:
            assert (await client.delete(f"/api/v1/rules/{rule_id}")).status_code == 204
    order = orders[routed_id]
    assert (order["status"], order["warehouse"]) == ("ready", east)
    (routed,) = [e for e in order["events"] if e["type"] == "order.routed"]
    data = routed["data"]
    assert routed["reason"] == data["reason"] == "first_with_all_stock"
    assert (data["decision"], data["policy"], data["province"]) == ("single", "exception", "上海市")
    assert data["lines"] == {sku: east, other: east} and data["candidates"] >= 2
    ranking = {r["code"]: r for r in data["ranking"]}
    first, chosen = ranking[preferred], ranking[east]
    assert data["ranking"][0] == first and first["rank"] == 1
    assert (first["preferred"], first["serves_province"], first["region_hops"], first["stock"], first["chosen"]) == (
        True,
        False,
        1,
        "partial",
        False,
    )
    assert first["why"] == "规则指定仓库；不服务收货省份，相距 1 个大区（华北）；部分有货（1/2 个 SKU）"
    assert (chosen["preferred"], chosen["serves_province"], chosen["stock"], chosen["chosen"]) == (
        False,
        True,
        "full",
        True,
    )
    assert chosen["why"] == "服务收货省份（上海市）；库存齐全；整单从此仓发出"
    assert data["chosen"] == [chosen["warehouse_id"]]
    assert data["message"].startswith(f"排名更靠前的 {preferred}")
    assert data["message"].endswith(f"{east} 排名第 {chosen['rank']}，库存齐全，整单从此仓发出")
    # not placed: the event says why too, before the order's move to exception
    short = orders[short_id]
    assert (short["status"], short["exception_reason"]) == ("exception", "out_of_stock")
    (why,) = [e for e in short["events"] if e["type"] == "order.routed"]
    assert (why["reason"], why["data"]["decision"], why["data"]["chosen"]) == ("short_no_split", "short", [])
    assert why["data"]["message"] == f"没有一个仓库存齐全（缺 {nowhere}），渠道不拆单：转异常处理"
