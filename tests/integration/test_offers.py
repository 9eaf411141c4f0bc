"""Add-on offers through the running hub: a draft from a mined pattern, review and enabling, the signed storefront
query (the hold-out buyer gets nothing, a bad signature is refused as ingest refuses it), the gift rule applied to
an ingested order, and the measured effect on the dashboards and in the weekly report."""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.offers.controllers import STOREFRONT_SIGNED_PREFIX
from orderhub.offers.model import derive_holdout_key, in_holdout
from tests.support.factories import (
    Api,
    create_channel,
    create_sku,
    create_warehouse,
    order_payload,
    set_stock,
    signed_headers,
    unique,
    wait_for_orders,
)
from tests.support.hub import Hub


class Shop:
    def __init__(self, api: Api, warehouse: str, channel: str, secret: str, skus: list[str]) -> None:
        self.api, self.warehouse, self.channel, self.secret, self.skus = api, warehouse, channel, secret, skus
        self.offers: list[int] = []
        self.rules: list[int] = []

    async def offer(self, **body: Any) -> dict[str, Any]:
        async with self.api.client() as client:
            r = await client.post("/api/v1/offers", json=body)
        assert r.status_code == 201, r.text
        self.offers.append(r.json()["id"])
        return dict(r.json())

    async def enable(self, offer_id: int) -> dict[str, Any]:
        async with self.api.client() as client:
            r = await client.post(f"/api/v1/offers/{offer_id}/enable")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def storefront(
        self, cart: str, buyer: str, *, secret: str | None = None, timestamp: int | None = None
    ) -> httpx.Response:
        query = urllib.parse.urlencode({"cart": cart, "buyer": buyer, "nonce": unique("")})
        # the method and path, then the raw query string (docs/offers.md#the-storefront)
        signed = STOREFRONT_SIGNED_PREFIX + query.encode()
        headers = signed_headers(self.channel, secret or self.secret, signed, timestamp=timestamp)
        async with httpx.AsyncClient(base_url=self.api.base_url, timeout=30) as client:  # no staff token
            return await client.get(f"/api/v1/offers?{query}", headers=headers)

    async def push(self, *orders: dict[str, Any]) -> list[int]:
        async with self.api.client() as client:
            r = await client.post("/api/v1/orders/ingest", json={"channel": self.channel, "orders": orders})
        assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
        return [res["order_id"] for res in r.json()["results"]]


@pytest.fixture
async def shop(api: Api) -> AsyncIterator[Shop]:
    warehouse = (await create_warehouse(api))["code"]
    skus = [await create_sku(api, name=name) for name in ("薯片", "可乐", "纸巾")]
    for sku in skus:
        await set_stock(api, sku=sku, warehouse=warehouse, qty=100)
    channel, secret = await create_channel(api, warehouse=warehouse)
    shop = Shop(api, warehouse, channel, secret, skus)
    yield shop
    # Tests share one hub: no offer stays enabled, no rule stays behind.
    async with api.client() as client:
        for offer_id in shop.offers:
            if (await client.get(f"/api/v1/offers/{offer_id}")).json()["status"] == "enabled":
                assert (await client.post(f"/api/v1/offers/{offer_id}/disable")).status_code == 200
        for rule_id in shop.rules:
            assert (await client.delete(f"/api/v1/rules/{rule_id}")).status_code in (204, 404)


def _buyers(store: Hub, channel: str, offer_id: int, share: float = 0.1) -> tuple[str, str]:
    """A buyer shown the offer and one held out (by the same keyed hash the hub uses, with the hub's secret)."""
    key = derive_holdout_key(store.env["ORDERHUB_SECRET_KEY"])
    shown = held = None
    for i in itertools.count():
        name = f"买家{i}"
        if in_holdout(key, channel, name, offer_id, share):
            held = held or name
        else:
            shown = shown or name
        if shown and held:
            return shown, held
    raise AssertionError("unreachable")


async def _pattern(store: Hub, antecedent: list[str], min_qty: int, consequent: str) -> int:
    """A mined pattern row, as the co-purchase job writes it (orderhub.insights.pattern_tables)."""
    from orderhub import db
    from orderhub.insights.pattern_tables import CopurchasePattern, CopurchaseRun

    now = datetime.now(UTC)
    async with db.transaction():
        run = await CopurchaseRun.insert(
            CopurchaseRun(status="done", since=now - timedelta(days=28), until=now, created_by="test", created_at=now)
        ).returning(CopurchaseRun.id)
        row = await CopurchasePattern.insert(
            CopurchasePattern(
                run=run[0]["id"],
                antecedent=f'["{antecedent[0]}"]',
                min_qty=min_qty,
                consequent=consequent,
                orders=120,
                antecedent_orders=400,
                consequent_orders=600,
                support=0.012,
                confidence=0.3,
                lift=5.0,
            )
        ).returning(CopurchasePattern.id)
    return int(row[0]["id"])


async def test_draft_from_pattern_review_enable_and_storefront(store: Hub, shop: Shop) -> None:
    chips, cola, _ = shop.skus
    pattern_id = await _pattern(store, [chips], 2, cola)
    async with shop.api.client() as client:
        r = await client.post("/api/v1/offers/from-pattern", json={"pattern_id": pattern_id, "price": 990})
        assert r.status_code == 201, r.text
        draft = r.json()
        shop.offers.append(draft["id"])
        assert (draft["status"], draft["trigger_skus"], draft["min_qty"], draft["offer_sku"], draft["price"]) == (
            "draft",
            [chips],
            2,
            cola,
            990,
        )
        assert (draft["pattern_id"], draft["pattern_lift"], draft["pattern_confidence"]) == (pattern_id, 5.0, 0.3)
        assert draft["holdout_share"] == 0.1 and draft["created_by"] == "user:admin" and draft["enabled_at"] is None
        missing = await client.post("/api/v1/offers/from-pattern", json={"pattern_id": 2**31 - 1, "price": 990})
        assert missing.status_code == 404 and missing.json()["field"] == "pattern_id"
        # review: a manager changes the price and N, then enables it
        r = await client.patch(f"/api/v1/offers/{draft['id']}", json={"price": 890, "min_qty": 2})
        assert r.status_code == 200 and r.json()["price"] == 890 and r.json()["reviewed_by"] == "user:admin"
    offer_id = draft["id"]
    shown, held = _buyers(store, shop.channel, offer_id)
    assert (await shop.storefront(f"{chips}:2", shown)).json() == {"offers": []}  # a draft is not served
    enabled = await shop.enable(offer_id)
    assert enabled["status"] == "enabled" and enabled["enabled_by"] == "user:admin" and enabled["enabled_at"]
    async with shop.api.client() as client:
        again = await client.post(f"/api/v1/offers/{offer_id}/enable")
        assert again.status_code == 409 and again.json()["code"] == "offer_bad_status"
        late = await client.patch(f"/api/v1/offers/{offer_id}", json={"min_qty": 3})
        assert late.status_code == 409 and late.json()["field"] == "min_qty"
        log = (await client.get(f"/api/v1/offers/{offer_id}/log")).json()
        assert [e["action"] for e in log] == ["created", "edited", "enabled"]
        assert all(e["actor"] == "user:admin" for e in log)
        listed = (await client.get("/api/v1/offers/manage", params={"status": "enabled"})).json()
        assert offer_id in [o["id"] for o in listed]

    r = await shop.storefront(f"{chips}:2,{shop.skus[2]}:1", shown)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "offers": [
            {"id": offer_id, "name": enabled["name"], "sku": cola, "price": 890, "trigger_skus": [chips], "min_qty": 2}
        ]
    }
    assert (await shop.storefront(f"{chips}:1", shown)).json() == {"offers": []}  # below N
    held_out = await shop.storefront(f"{chips}:2", held)
    assert held_out.status_code == 200 and held_out.json() == {"offers": []}  # nothing says why
    assert set(held_out.headers) == set(r.headers)

    # a bad signature: the same problem+json as ingest's
    bad = await shop.storefront(f"{chips}:2", shown, secret="not-the-secret")
    body = order_payload(lines=[(chips, 1)])
    raw = json.dumps({"channel": shop.channel, "orders": [body]}).encode()
    async with httpx.AsyncClient(base_url=shop.api.base_url, timeout=30) as client:
        ingest_bad = await client.post(
            "/api/v1/orders/ingest", content=raw, headers=signed_headers(shop.channel, "not-the-secret", raw)
        )
        unsigned = await client.get("/api/v1/offers", params={"cart": f"{chips}:2", "buyer": shown})
        staff_list = await client.get("/api/v1/offers/manage")
    assert bad.status_code == ingest_bad.status_code == 401
    assert bad.headers["content-type"] == ingest_bad.headers["content-type"] == "application/problem+json"
    assert {k: bad.json()[k] for k in ("code", "field")} == {k: ingest_bad.json()[k] for k in ("code", "field")}
    assert bad.json()["code"] == "signature_invalid"
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "signature_missing"
    assert staff_list.status_code == 401  # the back office needs a staff token
    stale = await shop.storefront(f"{chips}:2", shown, timestamp=1)
    assert stale.status_code == 401 and stale.json()["code"] == "signature_expired"
    # the signature covers the query string: a changed cart is refused
    query = urllib.parse.urlencode({"cart": f"{chips}:2", "buyer": shown})
    headers = signed_headers(shop.channel, shop.secret, STOREFRONT_SIGNED_PREFIX + query.encode())
    query_only = signed_headers(shop.channel, shop.secret, query.encode())  # without the method and path
    async with httpx.AsyncClient(base_url=shop.api.base_url, timeout=30) as client:
        assert (await client.get(f"/api/v1/offers?{query}", headers=headers)).status_code == 200
        replay = await client.get(f"/api/v1/offers?{query}", headers=headers)
        unbound = await client.get(f"/api/v1/offers?{query}", headers=query_only)
        tampered = await client.get(
            f"/api/v1/offers?{query.replace('%3A2', '%3A9')}", headers=signed_headers(shop.channel, shop.secret, b"x")
        )
    assert replay.status_code == 401 and replay.json()["code"] == "signature_replayed"
    assert unbound.status_code == 401 and unbound.json()["code"] == "signature_invalid"
    assert tampered.status_code == 401 and tampered.json()["code"] == "signature_invalid"
    bad_cart = await shop.storefront(f"{chips}:two", shown)
    assert bad_cart.status_code == 422 and bad_cart.json()["code"] == "offer_bad_cart"

    async with shop.api.client() as client:
        off = await client.post(f"/api/v1/offers/{offer_id}/disable")
    assert off.status_code == 200 and off.json()["disabled_by"] == "user:admin"
    assert (await shop.storefront(f"{chips}:2", shown)).json() == {"offers": []}


async def test_gift_rule_applies_to_an_ingested_order(shop: Shop) -> None:
    chips, cola, tissue = shop.skus
    offer = await shop.offer(trigger_skus=[chips], min_qty=2, offer_sku=cola, price=990)
    other = await shop.offer(trigger_skus=[chips, tissue], min_qty=1, offer_sku=cola, price=990)
    async with shop.api.client() as client:
        r = await client.post(f"/api/v1/offers/{other['id']}/gift-rule", json={})
        assert r.status_code == 201, r.text
        shop.rules.append(r.json()["rule_id"])
        assert r.json()["rule_enabled"] is False  # for review by default
        assert r.json()["conditions"] == [
            {"field": "sku_qty", "op": ">=", "value": 1, "sku": sku} for sku in sorted([chips, tissue])
        ]
        r = await client.post(
            f"/api/v1/offers/{offer['id']}/gift-rule", json={"enabled": True, "channels": [shop.channel]}
        )
        assert r.status_code == 201, r.text
        rule_id = r.json()["rule_id"]
        shop.rules.append(rule_id)
        assert r.json()["offer"]["gift_rule_id"] == rule_id
        assert r.json()["actions"] == [{"type": "add_gift", "sku": cola, "qty": 1, "per_sku": None, "per_qty": 1}]
        rule = (await client.get(f"/api/v1/rules/{rule_id}")).json()
        assert rule["enabled"] is True
        twice = await client.post(f"/api/v1/offers/{offer['id']}/gift-rule", json={})
        assert twice.status_code == 409 and twice.json()["code"] == "offer_gift_rule_exists"

    two, one = await shop.push(order_payload(lines=[(chips, 2)]), order_payload(lines=[(chips, 1)]))
    done = await wait_for_orders(shop.api, [two, one])
    gifts = [line for line in done[two]["lines"] if line["is_gift"]]
    assert [(g["sku"], g["qty"]) for g in gifts] == [(cola, 1)], done[two]["lines"]
    assert not any(line["is_gift"] for line in done[one]["lines"])


async def test_effect_on_the_dashboard_and_in_the_weekly_report(store: Hub, shop: Shop) -> None:
    chips, cola, _ = shop.skus
    offer = await shop.offer(trigger_skus=[chips], min_qty=1, offer_sku=cola, price=500, name="薯片加购可乐")
    shown, held = _buyers(store, shop.channel, offer["id"])
    await shop.enable(offer["id"])
    placed = datetime.now(UTC)

    def order(buyer: str, lines: list[tuple[str, int]]) -> dict[str, Any]:
        return order_payload(lines=lines, buyer={"nick": buyer, "phone": ""}, created_at=placed.isoformat())

    await shop.push(
        order(shown, [(chips, 1), (cola, 1)]),
        order(shown, [(chips, 2)]),
        order(held, [(chips, 1)]),
        order("", [(chips, 1), (cola, 1)]),
        order(shown, [(cola, 1)]),  # no trigger: not counted
    )
    async with shop.api.client() as client:
        r = await client.get(f"/api/v1/offers/{offer['id']}/effect")
        assert r.status_code == 200, r.text
        effect = r.json()
        board = await client.get("/api/v1/dash/offers")
    # per buyer: `shown` is one unit with two qualifying orders (one attached); the buyer-less order a unit of its own
    assert effect["unit"] == "buyer"
    assert (effect["after"]["hits"], effect["after"]["n"], effect["after"]["orders"]) == (2, 3, 4)
    assert (effect["treatment"]["hits"], effect["treatment"]["n"], effect["treatment"]["orders"]) == (1, 1, 2)
    assert (effect["holdout"]["hits"], effect["holdout"]["n"]) == (0, 1)
    assert effect["unassigned"] == 1 and effect["before"]["n"] == 0 and effect["contaminated"] is False
    assert effect["effect"]["method"] == "newcombe_hybrid_score"
    assert effect["effect"]["low"] <= effect["effect"]["estimate"] == 1.0 <= effect["effect"]["high"]
    assert effect["note"]
    assert board.status_code == 200 and offer["id"] in [o["offer_id"] for o in board.json()]

    from orderhub.reports.pdf import weekly_pdf
    from orderhub.reports.weekly import gather

    data = await gather(datetime.now(UTC).date(), now=datetime.now(UTC))
    mine = [o for o in data.offers if o.offer_id == offer["id"]]
    assert mine and mine[0].treatment.n == 1 and mine[0].treatment.orders == 2
    assert weekly_pdf(data).startswith(b"%PDF")


async def test_two_managers_enabling_at_once_get_one_success(shop: Shop) -> None:
    """Enabling is one conditional UPDATE with its log row: of two parallel requests one enables, one is refused."""
    chips, cola, _ = shop.skus
    offer = await shop.offer(trigger_skus=[chips], min_qty=3, offer_sku=cola, price=100)
    async with shop.api.client() as a, shop.api.client() as b:
        answers = await asyncio.gather(
            a.post(f"/api/v1/offers/{offer['id']}/enable"), b.post(f"/api/v1/offers/{offer['id']}/enable")
        )
        log = (await a.get(f"/api/v1/offers/{offer['id']}/log")).json()
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    assert [e["action"] for e in log] == ["created", "enabled"]


async def test_effect_leaves_out_cancelled_and_reship_orders(shop: Shop) -> None:
    """The effect reads the orders that count as sales (as the co-purchase miner does): a cancelled order and a
    replacement (补发单, ``reship_of`` set) are not counted."""
    from orderhub import db

    chips, cola, _ = shop.skus
    offer = await shop.offer(trigger_skus=[chips], min_qty=1, offer_sku=cola, price=100)
    await shop.enable(offer["id"])
    placed = datetime.now(UTC).isoformat()
    buyer = {"nick": unique("b"), "phone": ""}
    (oid,) = await shop.push(order_payload(lines=[(chips, 1), (cola, 1)], buyer=buyer, created_at=placed))

    async def after() -> tuple[int, int]:
        async with shop.api.client() as client:
            r = await client.get(f"/api/v1/offers/{offer['id']}/effect")
        assert r.status_code == 200, r.text
        return r.json()["after"]["n"], r.json()["after"]["orders"]

    assert await after() == (1, 1)
    await db.execute("UPDATE sales_order SET status = 'cancelled' WHERE id = {}", oid)
    assert await after() == (0, 0)
    # a replacement of the same basket
    await db.execute(
        "INSERT INTO sales_order (channel, external_id, status, receiver_name, receiver_phone, buyer_nick, placed_at, "
        "received_at, updated_at, reship_of) SELECT channel, {}, 'ready', '', '', buyer_nick, placed_at, placed_at, "
        "placed_at, id FROM sales_order WHERE id = {}",
        unique("RS"),
        oid,
    )
    reship = (await db.fetch_as(db.IdRow, "SELECT id FROM sales_order WHERE reship_of = {}", oid))[0].id
    await db.execute(
        'INSERT INTO order_line ("order", line_no, sku_code, qty, is_gift) VALUES ({}, 1, {}, 1, FALSE), '
        "({}, 2, {}, 1, FALSE)",
        reship,
        chips,
        reship,
        cola,
    )
    assert await after() == (0, 0)


async def test_editing_a_draft_races_enabling(shop: Shop) -> None:
    """A PATCH of draft-only fields and an enable in parallel: the edit is written only while the row is still a
    draft (one conditional UPDATE), so an enabled offer never has its trigger or hold-out changed afterwards."""
    chips, cola, tissue = shop.skus
    async with shop.api.client() as a, shop.api.client() as b:
        for _ in range(8):
            offer = await shop.offer(trigger_skus=[chips], offer_sku=cola, price=100)
            edit, enable = await asyncio.gather(
                a.patch(f"/api/v1/offers/{offer['id']}", json={"trigger_skus": [tissue], "holdout_share": 0.5}),
                b.post(f"/api/v1/offers/{offer['id']}/enable"),
            )
            assert enable.status_code == 200, enable.text
            assert edit.status_code in (200, 409), edit.text
            now = (await a.get(f"/api/v1/offers/{offer['id']}")).json()
            log = [e["action"] for e in (await a.get(f"/api/v1/offers/{offer['id']}/log")).json()]
            if edit.status_code == 409:
                assert edit.json()["code"] == "offer_bad_status"
                assert now["trigger_skus"] == [chips] and now["holdout_share"] == 0.1
                assert log == ["created", "enabled"]
            else:
                assert log == ["created", "edited", "enabled"]  # edited while still a draft
                assert now["trigger_skus"] == [tissue]
            assert (await a.post(f"/api/v1/offers/{offer['id']}/disable")).status_code == 200


async def test_parallel_gift_rule_requests_make_one_rule(shop: Shop) -> None:
    chips, cola, _ = shop.skus
    offer = await shop.offer(trigger_skus=[chips], offer_sku=cola, price=100)
    body = {"enabled": False, "channels": [shop.channel]}
    async with shop.api.client() as a, shop.api.client() as b:
        answers = await asyncio.gather(
            *[c.post(f"/api/v1/offers/{offer['id']}/gift-rule", json=body) for c in (a, b, a, b)]
        )
        made = [r.json()["rule_id"] for r in answers if r.status_code == 201]
        shop.rules += made
        assert sorted(r.status_code for r in answers) == [201, 409, 409, 409], [r.text for r in answers]
        assert all(r.json()["code"] == "offer_gift_rule_exists" for r in answers if r.status_code == 409)
        rules = (await a.get("/api/v1/rules")).json()
        mine = [r for r in rules if r["name"].startswith(f"加购优惠 #{offer['id']} ")]
        assert [r["id"] for r in mine] == made
        assert (await a.get(f"/api/v1/offers/{offer['id']}")).json()["gift_rule_id"] == made[0]
        # after the rule is deleted another may be made
        assert (await a.delete(f"/api/v1/rules/{made[0]}")).status_code == 204
        again = await a.post(f"/api/v1/offers/{offer['id']}/gift-rule", json=body)
        assert again.status_code == 201, again.text
        shop.rules.append(again.json()["rule_id"])


async def test_gift_rule_of_a_measured_offer_is_made_off_and_flags_the_effect(shop: Shop) -> None:
    """While an offer is measured its gift rule is made switched off (it would give Y to the hold-out too); switching
    it on anyway marks the effect ``contaminated``."""
    chips, cola, _ = shop.skus
    offer = await shop.offer(trigger_skus=[chips], offer_sku=cola, price=100)
    await shop.enable(offer["id"])
    async with shop.api.client() as client:
        r = await client.post(
            f"/api/v1/offers/{offer['id']}/gift-rule", json={"enabled": True, "channels": [shop.channel]}
        )
        assert r.status_code == 201, r.text
        rule_id = r.json()["rule_id"]
        shop.rules.append(rule_id)
        assert r.json()["rule_enabled"] is False and "对照组" in r.json()["note"]
        assert (await client.get(f"/api/v1/offers/{offer['id']}/effect")).json()["contaminated"] is False
        assert (await client.patch(f"/api/v1/rules/{rule_id}", json={"enabled": True})).status_code == 200
        effect = (await client.get(f"/api/v1/offers/{offer['id']}/effect")).json()
        assert effect["contaminated"] is True and "赠品规则已启用" in effect["note"]
        board = (await client.get("/api/v1/dash/offers")).json()
        assert [o["contaminated"] for o in board if o["offer_id"] == offer["id"]] == [True]
        assert (await client.patch(f"/api/v1/rules/{rule_id}", json={"enabled": False})).status_code == 200


async def test_re_enabled_offer_measures_its_before_window_after_the_last_run(shop: Shop) -> None:
    chips, cola, _ = shop.skus
    offer = await shop.offer(trigger_skus=[chips], offer_sku=cola, price=100)
    await shop.enable(offer["id"])
    async with shop.api.client() as client:
        off = (await client.post(f"/api/v1/offers/{offer['id']}/disable")).json()
        await asyncio.sleep(1.1)
        on = await shop.enable(offer["id"])
        await asyncio.sleep(2.5)
        effect = (await client.get(f"/api/v1/offers/{offer['id']}/effect")).json()
    # the after window (≈ 2.5 s) is longer than the pause (≈ 1.1 s): the before window starts at the last switch-off
    assert effect["enabled_at"] == on["enabled_at"]
    assert datetime.fromisoformat(effect["before_since"]) == datetime.fromisoformat(off["disabled_at"])
