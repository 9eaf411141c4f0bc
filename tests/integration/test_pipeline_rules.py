"""Rules, gifts, holds, duplicate suspicion and exception retry, through the running hub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.factories import (
    Api,
    create_channel,
    create_sku,
    create_warehouse,
    order_payload,
    set_stock,
    unique,
    wait_for_orders,
)
from tests.support.hub import Hub


class Shop:
    def __init__(self, api: Api, warehouse: str, channel: str, skus: list[str]) -> None:
        self.api, self.warehouse, self.channel, self.skus = api, warehouse, channel, skus
        self.rules: list[int] = []

    async def rule(self, conditions: list[dict[str, Any]], actions: list[dict[str, Any]], **extra: Any) -> int:
        """A rule limited to this shop's channel (rules are global; other tests must not see it)."""
        scoped = [{"field": "channel", "op": "in", "value": [self.channel]}, *conditions]
        async with self.api.client() as client:
            r = await client.post(
                "/api/v1/rules", json={"name": unique("规则"), "conditions": scoped, "actions": actions, **extra}
            )
        assert r.status_code == 201, r.text
        self.rules.append(r.json()["id"])
        return int(r.json()["id"])

    async def push(self, *orders: dict[str, Any], channel: str | None = None) -> list[int]:
        async with self.api.client() as client:
            r = await client.post("/api/v1/orders/ingest", json={"channel": channel or self.channel, "orders": orders})
        assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
        return [res["order_id"] for res in r.json()["results"]]

    async def stock(self, sku: str) -> tuple[int, int]:
        async with self.api.client() as client:
            row = (await client.get("/api/v1/stock", params={"sku": sku, "warehouse": self.warehouse})).json()
        return row["items"][0]["on_hand"], row["items"][0]["reserved"]


@pytest.fixture
async def shop(api: Api) -> AsyncIterator[Shop]:
    warehouse = (await create_warehouse(api))["code"]
    skus = [await create_sku(api) for _ in range(3)]
    for sku in skus:
        await set_stock(api, sku=sku, warehouse=warehouse, qty=50)
    channel, _ = await create_channel(api, warehouse=warehouse)
    shop = Shop(api, warehouse, channel, skus)
    yield shop
    async with api.client() as client:
        for rule_id in shop.rules:
            assert (await client.delete(f"/api/v1/rules/{rule_id}")).status_code == 204


async def test_default_invoice_rule_holds_until_released(shop: Shop) -> None:
    (order_id,) = await shop.push(order_payload(lines=[(shop.skus[0], 1)], buyer_memo="请开发票，加急！"))
    held = (await wait_for_orders(shop.api, [order_id]))[order_id]
    assert (held["status"], held["hold_queue"], held["hold_reason"]) == ("held", "invoice", "invoice_requested")
    assert held["tags"] == ["invoice"] and held["priority"] == "urgent"
    fired = [e["data"]["name"] for e in held["events"] if e["type"] == "order.rule_fired"]
    assert len(fired) == 2 and any("发票" in name for name in fired) and any("加急" in name for name in fired)
    async with shop.api.client() as client:
        queue = (await client.get("/api/v1/orders", params={"status": "held", "hold_queue": "invoice"})).json()
        assert order_id in [o["id"] for o in queue["items"]]
        released = await client.post(f"/api/v1/orders/{order_id}/release", json={"note": "发票已开"})
        assert released.status_code == 201, released.text
        again = await client.post(f"/api/v1/orders/{order_id}/release", json={})
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    ready = (await wait_for_orders(shop.api, [order_id], done=frozenset({"ready"})))[order_id]
    assert ready["tags"] == ["invoice"]  # rules were not applied a second time
    assert len([e for e in ready["events"] if e["type"] == "order.rule_fired"]) == 2
    assert await shop.stock(shop.skus[0]) == (50, 1)


async def test_gifts_scale_with_quantity_and_reserve_stock(shop: Shop) -> None:
    bought, gift, memo_gift = shop.skus
    await shop.rule([], [{"type": "add_gift", "sku": gift, "qty": 1, "per_sku": bought, "per_qty": 2}])
    await shop.rule([], [{"type": "gifts_from_memo"}])
    (order_id,) = await shop.push(order_payload(lines=[(bought, 5)], seller_memo=f"赠品：{memo_gift}×3"))
    order = (await wait_for_orders(shop.api, [order_id]))[order_id]
    assert order["status"] == "ready", order
    lines = {(line["sku"], line["qty"], line["is_gift"], line["unit_price"]) for line in order["lines"]}
    assert lines == {(bought, 5, False, 1990), (gift, 2, True, 0), (memo_gift, 3, True, 0)}
    assert all(line["reserved_qty"] == line["qty"] for line in order["lines"])
    assert await shop.stock(gift) == (50, 2) and await shop.stock(memo_gift) == (50, 3)
    assert order["paid_amount"] == 5 * 1990  # gifts are free


async def test_unknown_gift_sku_is_an_exception_naming_it(shop: Shop) -> None:
    await shop.rule([], [{"type": "add_gift", "sku": "NO-SUCH-GIFT"}])
    (order_id,) = await shop.push(order_payload(lines=[(shop.skus[0], 1)]))
    order = (await wait_for_orders(shop.api, [order_id]))[order_id]
    assert (order["status"], order["exception_reason"]) == ("exception", "unknown_sku")
    assert order["events"][-1]["data"]["gift_skus"] == ["NO-SUCH-GIFT"]


async def test_require_approval_and_several_holds_are_passed_in_turn(shop: Shop) -> None:
    await shop.rule([{"field": "paid_amount", "op": ">=", "value": 10000}], [{"type": "require_approval"}])
    (small, big) = await shop.push(
        order_payload(lines=[(shop.skus[0], 1)]), order_payload(lines=[(shop.skus[0], 6)], seller_memo="要发票")
    )
    orders = await wait_for_orders(shop.api, [small, big])
    assert orders[small]["status"] == "ready"
    assert (orders[big]["hold_queue"], orders[big]["hold_reason"]) == ("invoice", "invoice_requested")
    async with shop.api.client() as client:
        first = await client.post(f"/api/v1/orders/{big}/release", json={"note": "开票"})
        assert (first.json()["status"], first.json()["hold_queue"]) == ("held", "approval")
        assert first.json()["hold_reason"] == "needs_approval"
        await client.post(f"/api/v1/orders/{big}/release", json={"note": "同意"})
    assert (await wait_for_orders(shop.api, [big], done=frozenset({"ready"})))[big]["status"] == "ready"


async def test_same_content_within_minutes_across_channels_is_held_as_duplicate(shop: Shop, api: Api) -> None:
    other_channel, _ = await create_channel(api, warehouse=shop.warehouse)
    order = order_payload(lines=[(shop.skus[0], 2)])
    (first,) = await shop.push(order)
    copy = {**order, "external_id": unique("EXT")}
    (second,) = await shop.push(copy, channel=other_channel)
    orders = await wait_for_orders(shop.api, [first, second])
    assert orders[first]["status"] == "ready"
    held = orders[second]
    assert (held["status"], held["hold_queue"], held["hold_reason"]) == ("held", "duplicate", "suspected_duplicate")
    assert held["events"][-1]["data"]["duplicate_of"] == first
    async with shop.api.client() as client:
        await client.post(f"/api/v1/orders/{second}/release", json={"note": "买家确实下了两单"})
    assert (await wait_for_orders(shop.api, [second], done=frozenset({"ready"})))[second]["status"] == "ready"
    assert await shop.stock(shop.skus[0]) == (50, 4)


async def test_out_of_stock_order_is_retried_once_stock_arrives(shop: Shop) -> None:
    (order_id,) = await shop.push(order_payload(lines=[(shop.skus[1], 60)]))
    assert (await wait_for_orders(shop.api, [order_id]))[order_id]["exception_reason"] == "out_of_stock"
    async with shop.api.client() as client:
        listed = (await client.get("/api/v1/orders", params={"reason": "out_of_stock", "channel": shop.channel})).json()
        assert [o["id"] for o in listed["items"]] == [order_id]
        await set_stock(shop.api, sku=shop.skus[1], warehouse=shop.warehouse, qty=100)
        retried = await client.post(f"/api/v1/orders/{order_id}/retry", json={"note": "补货到了"})
        assert retried.status_code == 201, retried.text
    ready = (await wait_for_orders(shop.api, [order_id], done=frozenset({"ready"})))[order_id]
    assert ready["lines"][0]["reserved_qty"] == 60
    async with shop.api.client() as client:
        again = await client.post(f"/api/v1/orders/{order_id}/retry", json={})
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"


async def test_rules_api_validates_and_orders_by_priority(shop: Shop, api: Api) -> None:
    async with api.client() as client:
        bad = await client.post(
            "/api/v1/rules",
            json={
                "name": "坏规则",
                "conditions": [{"field": "colour", "op": "==", "value": 1}],
                "actions": [{"type": "add_tag", "tag": "x"}],
            },
        )
        rule_id = await shop.rule([], [{"type": "add_tag", "tag": "t"}], priority=5)
        patched = await client.patch(f"/api/v1/rules/{rule_id}", json={"enabled": False, "priority": 1})
        listed = (await client.get("/api/v1/rules")).json()
    assert bad.status_code == 422 and bad.json()["field"] == "conditions[0].field"
    assert patched.json()["enabled"] is False
    priorities = [r["priority"] for r in listed]
    assert priorities == sorted(priorities)
    assert {"备注含“发票”：打发票标签并进入发票队列", "备注含“加急”：优先级设为加急"} <= {r["name"] for r in listed}


async def test_addresses_are_standardised_and_a_bad_one_can_be_fixed(shop: Shop) -> None:
    good = order_payload(
        lines=[(shop.skus[0], 1)],
        receiver={"name": "张三", "phone": "+86 138-0013-8000", "address": "广西南宁市青秀区民族大道100号"},
    )
    privacy = order_payload(
        lines=[(shop.skus[0], 1)],
        receiver={
            "name": "李四",
            "phone": "13800138000-1234",
            "province": "上海",
            "city": "上海市",
            "district": "浦东新区",
            "detail": "世纪大道1号",
        },
    )
    bad = order_payload(
        lines=[(shop.skus[0], 1)], receiver={"name": "王五", "phone": "13900000000", "address": "浙江省火星市某某路1号"}
    )
    ids = await shop.push(good, privacy, bad)
    orders = await wait_for_orders(shop.api, ids)
    g, p, b = (orders[i] for i in ids)
    assert g["status"] == "ready"
    r = g["receiver"]
    assert (r["province"], r["city"], r["district"]) == ("广西壮族自治区", "南宁市", "青秀区")
    assert r["division_code"] == "450103" and r["detail"] == "民族大道100号" and r["phone"] == "13800138000"
    assert (p["receiver"]["division_code"], p["receiver"]["phone"], p["receiver"]["phone_ext"]) == (
        "310115",
        "13800138000",
        "1234",
    )
    assert (b["status"], b["exception_reason"]) == ("exception", "bad_address")
    assert b["events"][-1]["data"]["understood"] == {"province": "浙江省"}
    async with shop.api.client() as client:
        fixed = await client.patch(
            f"/api/v1/orders/{ids[2]}/receiver",
            json={"name": "王五", "phone": "13900000000", "address": "浙江省杭州市西湖区文三路1号"},
        )
        assert fixed.status_code == 200, fixed.text
    ready = (await wait_for_orders(shop.api, [ids[2]], done=frozenset({"ready"})))[ids[2]]
    assert ready["receiver"]["division_code"] == "330106"
    assert "order.receiver_changed" in [e["type"] for e in ready["events"]]


async def test_ship_by_from_channel_sla_or_presale_and_at_risk_alerts(shop: Shop, store: Hub) -> None:
    from datetime import UTC, datetime, timedelta

    import msgspec

    from orderhub.events import Topic
    from orderhub.redis import create_client

    paid = datetime.now(UTC) - timedelta(hours=47)  # the 48 h SLA ends within the hour: at risk
    presale = datetime.now(UTC) + timedelta(days=10)
    redis = create_client(store.env["ORDERHUB_REDIS_URL"])
    pubsub = redis.pubsub()
    await pubsub.subscribe(Topic.ALERTS.value)
    try:
        late, later = await shop.push(
            order_payload(lines=[(shop.skus[0], 1)], paid_at=paid.isoformat()),
            order_payload(lines=[(shop.skus[0], 1)], ship_by=presale.isoformat()),
        )
        orders = await wait_for_orders(shop.api, [late, later])
        assert datetime.fromisoformat(orders[late]["ship_by"]) == paid + timedelta(hours=48)
        assert datetime.fromisoformat(orders[later]["ship_by"]) == presale
        alerts: list[dict[str, Any]] = []
        for _ in range(40):  # the watcher runs with the sweeper (every 2 s in tests)
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message:
                alerts.append(msgspec.json.decode(message["data"]))
            if any(a["order_id"] == late for a in alerts):
                break
    finally:
        await pubsub.aclose()
        await redis.aclose()
    mine = [a for a in alerts if a["order_id"] in (late, later)]
    assert [(a["type"], a["order_id"]) for a in mine] == [("order.at_risk", late)]
    async with shop.api.client() as client:
        at_risk = (await client.get("/api/v1/orders/at-risk")).json()
        detail = (await client.get(f"/api/v1/orders/{late}")).json()
    ids = [o["id"] for o in at_risk]
    assert late in ids and later not in ids
    assert [e["type"] for e in detail["events"]].count("order.at_risk") == 1
