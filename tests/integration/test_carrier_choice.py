"""Carrier choice, batch waybills for a wave and the wave's label PDF, and the parcels' journeys — through the running
hub and the SF, ZTO, J&T and 快递100 simulators (real HTTP, real digests and signs)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orderhub.logistics import tracking
from sandbox.carriers.server import CarrierServer
from sandbox.kuaidi100 import Kuaidi100Server
from tests.integration.test_picking import Floor, Pda
from tests.integration.test_waybills import _tool
from tests.support.factories import Api, order_payload, unique
from tests.support.hub import Hub


async def _pick_and_pack(floor: Floor, order_ids: list[int], packs: dict[int, int] | None = None) -> int:
    """One wave of the orders, each picked and packed (verified and weighed); returns the wave id. ``packs``, when
    given, receives each order's pack id (for the pack station's own waybill and handover)."""
    wave = await floor.wave(order_ids)
    picker = await Pda.sign_in(floor.url, await floor.person("picker"))
    for task_id in wave["task_ids"]:
        task = (await picker.http.post(f"/pda/v1/tasks/{task_id}/claim")).json()
        for stop in task["stops"]:
            sku = next(code for code, s in floor.skus.items() if s["location"] == stop["location"])
            r = await picker.scan(
                task_id, stop["line_id"], "item", barcode=floor.skus[sku]["barcode"], qty=stop["qty"],
                location=stop["location"],
            )
            assert r.status_code == 200, r.text
        assert (await picker.http.post(f"/pda/v1/tasks/{task_id}/complete")).status_code == 200
    await picker.close()
    station = await Pda.sign_in(floor.url, await floor.person("packer"))
    for order_id in order_ids:
        pack = (await station.http.post("/pda/v1/pack", json={"code": str(order_id)})).json()
        if packs is not None:
            packs[order_id] = int(pack["id"])
        for item in pack["items"]:
            for _ in range(item["qty"]):
                body = {"client_id": uuid.uuid4().hex, "barcode": floor.skus[item["sku"]]["barcode"]}
                r = await station.http.post(f"/pda/v1/pack/{pack['id']}/scans", json=body)
                assert r.status_code == 200, r.text
        body = {"client_id": uuid.uuid4().hex, "weight_g": pack["expected_g"]}
        r = await station.http.post(f"/pda/v1/pack/{pack['id']}/weigh", json=body)
        assert r.status_code == 200, r.text
    await station.close()
    return int(wave["wave_id"])


def _barcodes_on_every_page(pdf: bytes, workdir: Path) -> list[list[str]]:
    """Each page of the PDF rendered (pdftoppm, 300 dpi) and its Code128 barcodes decoded (zbar)."""
    source = workdir / "wave.pdf"
    source.write_bytes(pdf)
    subprocess.run([_tool("pdftoppm"), "-r", "300", "-png", str(source), str(workdir / "p")], check=True, timeout=120)
    pages = sorted(workdir.glob("p*.png"))
    found = []
    for page in pages:
        out = subprocess.run(
            [_tool("zbarimg"), "--raw", "-q", "-Sdisable", "-Scode128.enable", str(page)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        found.append(out.stdout.split())
    return found


async def _configure(
    api: Api, floor: Floor, carriers: CarrierServer, kd100: Kuaidi100Server, url: str
) -> dict[str, dict[str, str]]:
    """Tracking, the warehouse's address, an account and rate card per carrier; returns the accounts' credentials."""
    kd_account = kd100.store.create_account()
    accounts: dict[str, dict[str, str]] = {}
    async with api.client() as client:
        r = await client.put(
            "/api/v1/logistics/tracking-provider",
            json={"key": kd_account.key, "customer": kd_account.customer, "base_url": kd100.base_url,
                  "callback_base_url": url},
        )
        assert r.status_code == 204, r.text
        address = {"address": "上海市青浦区华新镇华志路 1 号"}
        r = await client.patch(f"/api/v1/warehouses/{floor.warehouse}", json=address)
        assert r.status_code == 200, r.text
        for carrier in ("SF", "ZTO", "JT"):
            accounts[carrier] = carriers.new_account(carrier)
            r = await client.post(
                "/api/v1/carrier-accounts",
                json={"code": unique(f"{carrier}-")[:32], "carrier": carrier, "warehouse": floor.warehouse,
                      "sender_name": "华东仓", "sender_phone": "02112345678", "credentials": accounts[carrier]},
            )
            assert r.status_code == 201, r.text
        # what each carrier charges from this warehouse (fen): J&T cheapest, ZTO next, SF dearest
        cards = {
            "SF": {"rows": [{"provinces": ["*"], "first_fen": 1200, "additional_fen": 300, "transit_days": 1}],
                   "pickups": ["18:00"]},
            "ZTO": {"rows": [{"provinces": ["上海市", "江苏省"], "first_fen": 500, "additional_fen": 100},
                             {"provinces": ["*"], "first_fen": 800, "additional_fen": 200}], "pickups": ["17:00"]},
            "JT": {"rows": [{"provinces": ["*"], "first_fen": 450, "additional_fen": 100, "transit_days": 3}],
                   "pickups": ["17:30"], "max_weight_g": 5000},
        }
        for carrier, card in cards.items():
            r = await client.put(f"/api/v1/logistics/rate-cards/{floor.warehouse}/{carrier}", json=card)
            assert r.status_code == 200, r.text
        # J&T does not take parcels for 北京市 from this warehouse
        r = await client.post(
            "/api/v1/logistics/carrier-rules",
            json={"name": "极兔不发北京", "carrier": "JT", "effect": "exclude", "warehouses": [floor.warehouse],
                  "provinces": ["北京市"]},
        )
        assert r.status_code == 201, r.text
    return accounts


def _carrier_orders(carriers: CarrierServer, order_id: int) -> list[str]:
    """Which carriers hold an order for this hub order (its order_ref is OH{order}-W{warehouse})."""
    ref = f"OH{order_id}-W"
    held = [("SF", o.order_id) for o in carriers.sf.orders.values()]
    held += [("ZTO", o.partner_order_code) for o in carriers.zto.orders.values()]
    held += [("JT", o.txlogistic_id) for o in carriers.jt.orders.values()]
    return sorted(carrier for carrier, reference in held if reference.startswith(ref))


async def _ingest(floor: Floor, *orders: dict[str, Any]) -> list[int]:
    from tests.support.factories import wait_for_orders

    async with floor.api.client() as client:
        r = await client.post("/api/v1/orders/ingest", json={"channel": floor.channel, "orders": list(orders)})
    assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
    ids = [int(res["order_id"]) for res in r.json()["results"]]
    done = await wait_for_orders(floor.api, ids)
    assert all(o["status"] == "ready" for o in done.values()), done
    return ids


async def test_cheapest_carrier_in_time_wave_waybills_one_pdf_and_journeys(
    api: Api, store: Hub, carriers: CarrierServer, kd100: Kuaidi100Server, tmp_path: Path
) -> None:
    floor = await Floor(api, store.url).setup(pick_mode="order")
    await _configure(api, floor, carriers, kd100, store.url)
    rule_id = None
    async with api.client() as client:
        # the customer asks for 顺丰 in the memo → a pipeline rule makes SF the preferred carrier
        r = await client.post(
            "/api/v1/rules",
            json={"name": unique("指定顺丰"),
                  "conditions": [{"field": "channel", "op": "in", "value": [floor.channel]},
                                 {"field": "buyer_memo", "op": "contains", "value": "顺丰"}],
                  "actions": [{"type": "prefer_carrier", "carrier": "SF"}]},
        )
        assert r.status_code == 201, r.text
        rule_id = r.json()["id"]
    sku = floor.codes[0]
    shanghai, beijing, wants_sf = await _ingest(
        floor,
        order_payload(lines=[(sku, 1)]),
        order_payload(lines=[(sku, 1)], receiver={"name": "李四", "phone": f"138{uuid.uuid4().int % 10**8:08d}",
                                                  "address": "北京市朝阳区建国路 88 号"}),
        order_payload(lines=[(sku, 1)], buyer_memo="请发顺丰，谢谢"),
    )
    try:
        wave_id = await _pick_and_pack(floor, [shanghai, beijing, wants_sf])
        async with api.client() as client:
            quote = await client.get(f"/api/v1/logistics/quote/{beijing}")
            assert quote.status_code == 200, quote.text
            options = {o["carrier"]: o for o in quote.json()["options"]}
            assert options["JT"]["excluded"] == "规则排除" and options["JT"]["price_fen"] is None
            assert quote.json()["carrier"] == "ZTO"

            # the whole wave at once, pressed twice: one waybill per order, at the carrier chosen for it
            first, second = await asyncio.gather(
                client.post(f"/api/v1/picking/waves/{wave_id}/waybills"),
                client.post(f"/api/v1/picking/waves/{wave_id}/waybills"),
            )
            assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
            issued = {r["order_id"]: r["waybill"] for r in first.json()}
            assert all(r["error"] is None for r in first.json() + second.json())
            assert {r["order_id"]: r["waybill"]["waybill_no"] for r in second.json()} == {
                k: v["waybill_no"] for k, v in issued.items()
            }
            assert issued[shanghai]["carrier"] == "JT" and issued[shanghai]["price_fen"] == 450
            assert issued[shanghai]["reason"].startswith("赶得上发货时限的最便宜快递：JT ¥4.50（次选 ZTO ¥5.00）")
            assert issued[beijing]["carrier"] == "ZTO" and issued[beijing]["price_fen"] == 800
            assert issued[wants_sf]["carrier"] == "SF" and issued[wants_sf]["reason"].startswith("客户指定SF")
            order = (await client.get(f"/api/v1/orders/{shanghai}")).json()
            recorded = [e for e in order["events"] if e["type"] == "order.waybill_issued"]
            assert len(recorded) == 1 and recorded[0]["data"]["reason"] == issued[shanghai]["reason"]
            # each parcel is one order at one carrier: the one chosen for it (four presses at once, one ask each)
            for order_id in (shanghai, beijing, wants_sf):
                assert _carrier_orders(carriers, order_id) == [issued[order_id]["carrier"]]

            # one PDF for the wave: a 76 × 130 mm page per parcel, each barcode scanning as its waybill
            pdf = await client.get(f"/api/v1/picking/waves/{wave_id}/labels")
            zpl = await client.get(f"/api/v1/picking/waves/{wave_id}/labels", params={"format": "zpl"})
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf", pdf.text
        assert len(re.findall(rb"/Type /Page\b", pdf.content)) == 3
        pages = _barcodes_on_every_page(pdf.content, tmp_path)
        assert pages == [[issued[i]["waybill_no"]] for i in sorted(issued)]
        assert zpl.status_code == 200 and zpl.text.count("^XA") == 3

        # handed over (the pack station's PDA can fetch the wave's labels too), then the journeys
        station = await Pda.sign_in(floor.url, await floor.person("packer"))
        pda_pdf = await station.http.get(f"/pda/v1/waves/{wave_id}/labels")
        assert pda_pdf.status_code == 200 and pda_pdf.content.startswith(b"%PDF-")
        await station.close()
        async with api.client() as client:
            for order_id in issued:
                r = await client.post(f"/api/v1/orders/{order_id}/handover")
                assert r.status_code == 200, r.text
        numbers = {order_id: w["waybill_no"] for order_id, w in issued.items()}
        for _ in range(150):
            if all(n in kd100.store.subscriptions for n in numbers.values()):
                break
            await asyncio.sleep(0.1)
        assert all(n in kd100.store.subscriptions for n in numbers.values())
        companies = {kd100.store.subscriptions[n].company for n in numbers.values()}
        assert companies == {"jtexpress", "zhongtong", "shunfeng"}

        # the simulator's clock: two parcels make the whole trip, the SF one is collected and then goes quiet
        start = datetime.now(UTC)
        for order_id, number in numbers.items():
            if order_id == wants_sf:
                kd100.store.script_journey(number, start=start, steps=(
                    (0.5, "1", "【上海市】顺丰速运 已收取快件", "上海市"),
                ))
            else:
                to = "北京市" if order_id == beijing else "上海市"
                kd100.store.script_journey(number, start=start, destination=to)
        replies = await kd100.store.advance_async(start + timedelta(hours=10))
        assert set(replies) == set(numbers.values())
        assert all(r == {"result": True, "returnCode": "200", "message": "成功"} for r in replies.values())
        async with api.client() as client:
            mid = (await client.get(f"/api/v1/orders/{beijing}/tracking")).json()
        assert mid["state"] == "in_transit" and len(mid["events"]) == 3
        await kd100.store.advance_async(start + timedelta(hours=30))
        async with api.client() as client:
            done = {i: (await client.get(f"/api/v1/orders/{i}")).json() for i in numbers}
        assert done[shanghai]["status"] == "delivered" and done[beijing]["status"] == "delivered"
        states = [e["data"]["state"] for e in done[beijing]["events"] if e["type"] == "order.parcel_updated"]
        assert states == ["collected", "in_transit", "out_for_delivery", "signed"]
        assert done[wants_sf]["status"] == "shipped"

        # 48 h without movement: the quiet parcel becomes an exception, on the parcel and in the order's log
        await tracking.poll_parcels(now=start + timedelta(hours=49))
        async with api.client() as client:
            quiet = (await client.get(f"/api/v1/orders/{wants_sf}/tracking")).json()
            order = (await client.get(f"/api/v1/orders/{wants_sf}")).json()
            stalled = (await client.get("/api/v1/logistics/parcels", params={"stalled": "true"})).json()
            delivered = (await client.get(f"/api/v1/orders/{shanghai}/tracking")).json()
        assert quiet["stalled"] is True and quiet["state"] == "exception"
        assert [e["reason"] for e in order["events"] if e["type"] == "order.parcel_stalled"] == ["no_movement_48h"]
        assert numbers[wants_sf] in {p["waybill_no"] for p in stalled}
        assert numbers[shanghai] not in {p["waybill_no"] for p in stalled}
        assert delivered["stalled"] is False and delivered["state"] == "signed"
    finally:
        async with api.client() as client:
            await client.delete(f"/api/v1/rules/{rule_id}")


def _card(first_fen: int = 1000, *provinces: str, **extra: Any) -> dict[str, Any]:
    return {"rows": [{"provinces": list(provinces or ["*"]), "first_fen": first_fen, "additional_fen": 200}], **extra}


async def test_a_retry_after_a_lost_answer_asks_the_same_carrier_even_when_prices_moved(
    api: Api, store: Hub, carriers: CarrierServer, kd100: Kuaidi100Server
) -> None:
    """J&T issues the waybill but its answer is lost; before the packer presses again ZTO becomes the cheapest.
    The retry must go back to J&T (which answers the same waybill for the same order_ref), or the parcel would hold
    two live waybills."""
    floor = await Floor(api, store.url).setup(pick_mode="order")
    accounts = await _configure(api, floor, carriers, kd100, store.url)
    (order_id,) = await _ingest(floor, order_payload(lines=[(floor.codes[0], 1)]))
    await _pick_and_pack(floor, [order_id])
    carriers.jt.lose_answers = 1
    async with api.client() as client:
        lost = await client.post(f"/api/v1/orders/{order_id}/waybill")
        assert lost.status_code == 503 and lost.json()["carrier_code"] == "http_504", lost.text
        assert _carrier_orders(carriers, order_id) == ["JT"]  # issued at J&T all the same
        r = await client.put(
            f"/api/v1/logistics/rate-cards/{floor.warehouse}/ZTO",
            json={"rows": [{"provinces": ["*"], "first_fen": 100, "additional_fen": 10}], "pickups": ["17:00"]},
        )
        assert r.status_code == 200, r.text
        assert (await client.get(f"/api/v1/logistics/quote/{order_id}")).json()["carrier"] == "ZTO"
        # J&T refuses the repeated ask (its privateKey was rotated meanwhile): that frees nothing — the first ask issued
        jt_account = carriers.jt.accounts[accounts["JT"]["partner_id"]]
        private_key = jt_account.private_key
        jt_account.private_key = "rotated-" + private_key
        try:
            refused = await client.post(f"/api/v1/orders/{order_id}/waybill")
        finally:
            jt_account.private_key = private_key
        assert refused.status_code == 422 and refused.json()["code"] == "carrier_digest_rejected", refused.text
        again = await client.post(f"/api/v1/orders/{order_id}/waybill")
        assert again.status_code == 200, again.text
    assert again.json()["carrier"] == "JT" and again.json()["price_fen"] == 450
    [jt_order] = [o for o in carriers.jt.orders.values() if o.txlogistic_id.startswith(f"OH{order_id}-W")]
    assert again.json()["waybill_no"] == jt_order.bill_code
    assert _carrier_orders(carriers, order_id) == ["JT"]

    # a carrier's refusal issues nothing, so the next press chooses afresh: ZTO (now the cheapest) has run out of
    # waybills; once J&T is the cheaper again, the next press goes to J&T
    (refused_id,) = await _ingest(floor, order_payload(lines=[(floor.codes[0], 1)]))
    await _pick_and_pack(floor, [refused_id])
    carriers.zto.set_quota(accounts["ZTO"]["partner_id"], 0)
    async with api.client() as client:
        r = await client.post(f"/api/v1/orders/{refused_id}/waybill")
        assert r.status_code == 422 and r.json()["code"] == "carrier_quota_exhausted", r.text
        r = await client.put(
            f"/api/v1/logistics/rate-cards/{floor.warehouse}/ZTO",
            json={"rows": [{"provinces": ["*"], "first_fen": 900, "additional_fen": 10}], "pickups": ["17:00"]},
        )
        assert r.status_code == 200, r.text
        r = await client.post(f"/api/v1/orders/{refused_id}/waybill")
    assert r.status_code == 200 and r.json()["carrier"] == "JT", r.text
    assert _carrier_orders(carriers, refused_id) == ["JT"]

    # a request that never got an answer, at an account since stopped: the press says why, and a manager frees
    # the choice (after checking at the carrier)
    (stuck_id,) = await _ingest(floor, order_payload(lines=[(floor.codes[0], 1)]))
    await _pick_and_pack(floor, [stuck_id])
    carriers.jt.lose_answers = 1
    async with api.client() as client:
        assert (await client.post(f"/api/v1/orders/{stuck_id}/waybill")).status_code == 503
        jt_code = next(a["code"] for a in (await client.get("/api/v1/carrier-accounts")).json()
                       if a["carrier"] == "JT" and a["warehouse"] == floor.warehouse)
        stopped = await client.patch(f"/api/v1/carrier-accounts/{jt_code}", json={"active": False})
        assert stopped.status_code == 200 and stopped.json()["active"] is False, stopped.text
        held = await client.post(f"/api/v1/orders/{stuck_id}/waybill")
        assert held.status_code == 409 and held.json()["code"] == "held_carrier_inactive", held.text
        resumed = await client.patch(f"/api/v1/carrier-accounts/{jt_code}", json={"active": True, "priority": 5})
        assert resumed.json()["active"] is True and resumed.json()["priority"] == 5, resumed.text
        missing = await client.patch("/api/v1/carrier-accounts/nope", json={"active": False})
        assert missing.status_code == 404 and missing.json()["code"] == "carrier_account_not_found"
        assert (await client.delete(f"/api/v1/orders/{stuck_id}/waybill-request")).status_code == 204
        again = await client.delete(f"/api/v1/orders/{stuck_id}/waybill-request")
        assert again.status_code == 404 and again.json()["code"] == "no_pending_request", again.text
        events = [e["type"] for e in (await client.get(f"/api/v1/orders/{stuck_id}")).json()["events"]]
        assert "order.waybill_choice_released" in events
        r = await client.post(f"/api/v1/orders/{stuck_id}/waybill")
    assert r.status_code == 200 and r.json()["carrier"] == "JT", r.text


async def test_carrier_choice_inputs_are_validated(api: Api, store: Hub) -> None:
    floor = await Floor(api, store.url).setup()
    async with api.client() as client:
        url = f"/api/v1/logistics/rate-cards/{floor.warehouse}"
        bad_time = await client.put(f"{url}/SF", json=_card(pickups=["25:00"]))
        assert bad_time.status_code == 422 and bad_time.json()["field"] == "pickups"
        twice = {"rows": [*_card(1, "上海市")["rows"], *_card(2, "上海市")["rows"]]}
        r = await client.put(f"{url}/SF", json=twice)
        assert r.status_code == 422 and r.json()["field"] == "rows[1].provinces"
        negative = await client.put(f"{url}/SF", json=_card(-1))
        assert negative.status_code == 422 and negative.headers["content-type"].startswith("application/problem+json")
        unknown = await client.put(f"{url}/UPS", json=_card())
        assert unknown.status_code == 422 and unknown.json()["field"] == "carrier"
        no_wh = await client.put("/api/v1/logistics/rate-cards/NOPE/SF", json=_card())
        assert no_wh.status_code == 404 and no_wh.json()["field"] == "warehouse"
        ok = await client.put(f"{url}/sf", json=_card(1000))
        assert ok.status_code == 200 and ok.json()["carrier"] == "SF" and ok.json()["pickups"] == ["17:00"]
        replaced = await client.put(f"{url}/SF", json=_card(900))
        assert replaced.json()["rows"][0]["first_fen"] == 900
        cards = (await client.get("/api/v1/logistics/rate-cards", params={"warehouse": floor.warehouse})).json()
        assert [c["carrier"] for c in cards] == ["SF"]  # replaced, not added
        rules = "/api/v1/logistics/carrier-rules"
        rule = {"name": "x", "carrier": "SF", "effect": "exclude"}
        r = await client.post(rules, json={**rule, "min_weight_g": 9, "max_weight_g": 1})
        assert r.status_code == 422 and r.json()["field"] == "min_weight_g"
        r = await client.post(rules, json={**rule, "effect": "maybe"})
        assert r.status_code == 422 and r.json()["field"] == "effect"
        assert (await client.delete(f"{url}/SF")).status_code == 204
        assert (await client.delete(f"{url}/SF")).json()["code"] == "rate_card_not_found"
        # a batch names each order's refusal and carries on
        (ready,) = await floor.orders([(floor.codes[0], 1)])
        nobody = 2**31 - 1
        batch = await client.post("/api/v1/waybills/batch", json={"order_ids": [ready, nobody]})
        assert batch.status_code == 200, batch.text
        assert {r["order_id"]: r["error"]["code"] for r in batch.json()} == {ready: "not_packed", nobody: "not_found"}
        assert (await client.post("/api/v1/waybills/batch", json={"order_ids": []})).status_code == 422
        assert (await client.get("/api/v1/picking/waves/999999999/labels")).json()["code"] == "wave_not_found"
