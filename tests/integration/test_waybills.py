"""Waybills for packed orders through the running hub and the SF simulator (real HTTP, real msgDigest): one waybill
however often it is asked, the label PDF and ZPL, and clear errors."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from orderhub import events as events_mod
from orderhub import redis as redis_mod
from orderhub.events import Topic
from orderhub.logistics import tracking
from sandbox.carriers.server import CarrierServer
from sandbox.kuaidi100 import Kuaidi100Server
from tests.integration.test_picking import Floor, Pda
from tests.support.factories import Api
from tests.support.hub import Hub


async def _packed_order(floor: Floor) -> tuple[int, Pda, int]:
    """An order picked, verified and weighed at the pack station; returns (order id, station, pack id)."""
    sku = floor.codes[0]
    (order_id,) = await floor.orders([(sku, 2)])
    async with floor.api.client() as client:
        await client.patch(f"/api/v1/picking/{floor.warehouse}/settings", json={"pick_mode": "order"})
    (task_id,) = (await floor.wave([order_id]))["task_ids"]
    pda = await Pda.sign_in(floor.url, await floor.person("picker"))
    task = (await pda.http.post(f"/pda/v1/tasks/{task_id}/claim")).json()
    stop = task["stops"][0]
    r = await pda.scan(task_id, stop["line_id"], "item", barcode=floor.skus[sku]["barcode"], qty=2,
                       location=stop["location"])
    assert r.status_code == 200, r.text
    assert (await pda.http.post(f"/pda/v1/tasks/{task_id}/complete")).status_code == 200
    await pda.close()
    station = await Pda.sign_in(floor.url, await floor.person("packer"))
    pack = (await station.http.post("/pda/v1/pack", json={"code": str(order_id)})).json()
    for _ in range(2):
        body = {"client_id": uuid.uuid4().hex, "barcode": floor.skus[sku]["barcode"]}
        assert (await station.http.post(f"/pda/v1/pack/{pack['id']}/scans", json=body)).status_code == 200
    body = {"client_id": uuid.uuid4().hex, "weight_g": pack["expected_g"]}
    assert (await station.http.post(f"/pda/v1/pack/{pack['id']}/weigh", json=body)).status_code == 200
    return order_id, station, int(pack["id"])


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required on CI (scripts/test installs it)")
        pytest.skip(f"{name} is not installed")
    return path


def _code128_in(pdf: bytes, workdir: Path) -> list[str]:
    """Render the label's first page (pdftoppm, 300 dpi) and decode its Code128 barcodes (zbar)."""
    source = workdir / "label.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        [_tool("pdftoppm"), "-r", "300", "-png", "-f", "1", "-l", "1", str(source), str(workdir / "page")],
        check=True,
        timeout=60,
    )
    page = next(workdir.glob("page*.png"))
    found = subprocess.run(
        [_tool("zbarimg"), "--raw", "-q", "-Sdisable", "-Scode128.enable", str(page)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return found.stdout.split()


def _screenshot(url: str, workdir: Path) -> Path:
    """The page as a phone shows it, from headless Chromium."""
    shot = workdir / "page.png"
    subprocess.run(
        [
            _tool("chromium"),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=390,844",
            f"--screenshot={shot}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )
    return shot


async def _sf_account(client: httpx.AsyncClient, floor: Floor, account: Any, carriers: CarrierServer) -> httpx.Response:
    """The floor's warehouse gets a sender address and an SF account at the simulator: the POST's response."""
    r = await client.patch(f"/api/v1/warehouses/{floor.warehouse}", json={"address": "上海市青浦区华新镇华志路 1 号"})
    assert r.status_code == 200, r.text
    return await client.post(
        "/api/v1/carrier-accounts",
        json={
            "code": f"sf-{floor.warehouse}"[:32],
            "carrier": "SF",
            "warehouse": floor.warehouse,
            "sender_name": "华东仓发货组",
            "sender_phone": "02112345678",
            "credentials": {
                "partner_id": account.partner_id,
                "secret": account.check_word,
                "customer_code": account.monthly_card,
                "base_url": carriers.url("sf"),
            },
        },
    )


async def sf_floor(api: Api, store: Hub, carriers: CarrierServer, *, quota: int = 20) -> tuple[Floor, Any]:
    """A floor whose warehouse ships with SF (an account at the carrier simulator): (floor, the SF account)."""
    floor = await Floor(api, store.url).setup()
    account = carriers.sf.create_account(quota=quota)
    async with api.client() as client:
        r = await _sf_account(client, floor, account, carriers)
        assert r.status_code == 201, r.text
    return floor, account


@pytest.mark.postgres_only("a waybill asked for twice at once is one waybill: a concurrency claim")
async def test_a_packed_order_gets_one_waybill_and_a_label(
    api: Api, store: Hub, carriers: CarrierServer, kd100: Kuaidi100Server, tmp_path: Path
) -> None:
    floor = await Floor(api, store.url).setup()
    account = carriers.sf.create_account(quota=10)
    kd_account = kd100.store.create_account()
    async with api.client() as client:
        r = await client.put(
            "/api/v1/logistics/tracking-provider",
            json={
                "key": kd_account.key,
                "customer": kd_account.customer,
                "base_url": kd100.base_url,
                "callback_base_url": store.url,
            },
        )
        assert r.status_code == 204, r.text
        r = await _sf_account(client, floor, account, carriers)
        assert r.status_code == 201, r.text
        assert account.check_word not in r.text and r.json()["credential_keys"] == [
            "base_url",
            "customer_code",
            "partner_id",
            "secret",
        ]
    order_id, station, pack_id = await _packed_order(floor)

    # the pack station presses "waybill" twice at once, and the back office once more: one waybill
    answers = await asyncio.gather(
        station.http.post(f"/pda/v1/pack/{pack_id}/waybill"), station.http.post(f"/pda/v1/pack/{pack_id}/waybill")
    )
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    async with api.client() as client:
        again = await client.post(f"/api/v1/orders/{order_id}/waybill")
        order = (await client.get(f"/api/v1/orders/{order_id}")).json()
        zpl = await client.get(f"/api/v1/orders/{order_id}/label", params={"format": "zpl"})
    numbers = {r.json()["waybill_no"] for r in [*answers, again]}
    assert len(numbers) == 1 and next(iter(numbers)).startswith("SF"), numbers
    (number,) = numbers
    assert len(carriers.sf.orders_of(account.partner_id)) == 1  # the carrier holds one order too
    assert again.json()["reason"].startswith("本仓默认快递 SF")
    assert (again.json()["status"], again.json()["handed_over_at"]) == ("issued", None)  # still on the bench
    assert [e["type"] for e in order["events"]].count("order.waybill_issued") == 1

    label = await station.http.get(f"/pda/v1/pack/{pack_id}/label")
    assert label.status_code == 200 and label.headers["content-type"] == "application/pdf"
    assert label.content.startswith(b"%PDF-") and b"/MediaBox [ 0 0 215.4331 368.5039 ]" in label.content
    assert _code128_in(label.content, tmp_path) == [number]  # the printed barcode scans as the waybill number
    assert zpl.status_code == 200 and f"^FD{number}^FS" in zpl.text
    assert "^FD上海市青浦区华新镇华志路 1 号^FS" in zpl.text and "上海市上海市" not in zpl.text  # 直辖市 once

    # handed to the courier: shipped with that waybill (twice is still once)
    handovers = []
    for _ in range(2):
        r = await station.http.post(f"/pda/v1/pack/{pack_id}/handover")
        assert r.status_code == 200 and r.json()["waybill_no"] == number, r.text
        handovers.append(r.json())
    # the answer says where the parcel is now — with the courier, since when — not the bench's "issued"
    assert all(h["status"] == "handed_over" and h["parcel_state"] == "pending" for h in handovers), handovers
    assert handovers[0]["handed_over_at"] == handovers[1]["handed_over_at"]
    assert handovers[0]["handed_over_at"].endswith("+08:00")
    async with api.client() as client:
        shipped = (await client.get(f"/api/v1/orders/{order_id}")).json()
        asked_again = (await client.post(f"/api/v1/orders/{order_id}/waybill")).json()
        stock = await client.get("/api/v1/stock", params={"sku": floor.codes[0], "warehouse": floor.warehouse})
    assert asked_again["status"] == "handed_over" and asked_again["waybill_no"] == number
    assert shipped["status"] == "shipped"
    events = [e for e in shipped["events"] if e["type"] == "order.shipped"]
    assert len(events) == 1 and events[0]["data"] == {"carrier": "SF", "waybill_no": number}
    level = stock.json()["items"][0]
    assert (level["on_hand"], level["reserved"]) == (98, 0)  # the two units left the warehouse
    await station.close()

    # tracking: subscribed at 快递100 by the worker, with this hub's callback and the parcel's own salt
    for _ in range(300):  # the worker's job, on a box that may be busy
        if number in kd100.store.subscriptions:
            break
        await asyncio.sleep(0.1)
    subscription = kd100.store.subscriptions[number]
    assert subscription.callback_url.startswith(store.url + "/api/v1/webhooks/kuaidi100/")

    # no movement for 48 h: the parcel becomes an exception, with an alert (the cron's code, run here)
    events_mod.set_bus(events_mod.EventBus(redis_mod.get_client()))
    pubsub = redis_mod.get_client().pubsub()
    await pubsub.subscribe(Topic.ALERTS.value)
    try:
        result = await tracking.poll_parcels(now=datetime.now(UTC) + timedelta(hours=49))
        assert result["stalled"] >= 1
        alert = None
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message and json.loads(message["data"]).get("waybill_no") == number:
                alert = json.loads(message["data"])
                break
        assert alert is not None and alert["type"] == "parcel.stalled"
    finally:
        await pubsub.aclose()
        events_mod.set_bus(None)
    async with api.client() as client:
        parcel = (await client.get(f"/api/v1/orders/{order_id}/tracking")).json()
    assert parcel["stalled"] is True and parcel["state"] == "exception"

    # then it moves: pushes (signed with the salt) carry it to 签收 and the order is delivered
    start = datetime.now(UTC) - timedelta(hours=5)
    for hours, (state, text) in enumerate(
        [
            ("1", "顺丰速运 已收取快件"),
            ("0", "快件到达 上海集散中心"),
            ("5", "快件派送中"),
            ("3", "已签收，签收人：本人"),
        ]
    ):
        kd100.store.add_event(number, state, text, at=start + timedelta(hours=hours))
        if state in ("5", "3"):
            reply = await kd100.store.push_async(number)
            assert reply == {"result": True, "returnCode": "200", "message": "成功"}, reply
    bad = await kd100.store.push_async(number, salt="not-the-salt")
    assert bad["result"] is False
    async with api.client() as client:
        parcel = (await client.get(f"/api/v1/orders/{order_id}/tracking")).json()
        delivered = (await client.get(f"/api/v1/orders/{order_id}")).json()
    assert parcel["state"] == "signed" and parcel["stalled"] is False
    assert [e["state"] for e in parcel["events"]] == ["signed", "out_for_delivery", "in_transit", "collected"]
    assert delivered["status"] == "delivered"

    # the customer's page: public, zh-CN, the route newest first, personal data masked
    async with httpx.AsyncClient(base_url=store.url) as anon:
        page = await anon.get(parcel["page"])
        missing = await anon.get("/t/no-such-token")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'lang="zh-CN"' in html and "已签收" in html and number in html and "顺丰速运" in html
    assert html.count("<li") == 4 and html.index("已签收，签收人") < html.index("已收取快件")
    assert "王*明" in html and "王小明" not in html and delivered["receiver"]["phone"] not in html
    assert missing.status_code == 404
    for answer in (page, missing):  # the token is the secret: no referrer, no framing, nothing loaded or run
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]

    # …and in a real browser: the status and the timeline render (green = signed: the status and the latest dot)
    shot = _screenshot(store.url + parcel["page"], tmp_path)
    from PIL import Image

    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        green = [
            (x, y)
            for y in range(0, height, 2)
            for x in range(0, width, 2)
            if _close(rgb.getpixel((x, y)), (0x52, 0xC4, 0x1A))
        ]
        rail = [
            (x, y)
            for y in range(0, height, 2)
            for x in range(0, width, 2)
            if _close(rgb.getpixel((x, y)), (0xE5, 0xE5, 0xE5), tolerance=6)
        ]
    assert green and max(y for _, y in green) > 120, "the latest event's dot is not drawn"
    assert min(y for _, y in green) < 80, "the status is not drawn"
    assert len(rail) > 50, "the timeline's line is not drawn"


async def test_waybill_errors_are_clear(api: Api, store: Hub, carriers: CarrierServer) -> None:
    floor = await Floor(api, store.url).setup()
    async with api.client() as client:
        (order_id,) = await floor.orders([(floor.codes[0], 1)])
        r = await client.post(f"/api/v1/orders/{order_id}/waybill")
        assert r.status_code == 409 and r.json()["code"] == "not_packed"
        bad = await client.post(
            "/api/v1/carrier-accounts",
            json={"code": "x", "carrier": "UPS", "credentials": {"partner_id": "a", "secret": "b"}},
        )
        assert bad.status_code == 422 and bad.json()["field"] == "carrier"
    async with httpx.AsyncClient(base_url=store.url) as anon:
        assert (await anon.post(f"/api/v1/orders/{order_id}/waybill")).status_code == 401


def _close(pixel: object, color: tuple[int, int, int], *, tolerance: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel[:3], color, strict=True))
