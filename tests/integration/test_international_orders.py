"""Receivers outside China: accepted by the ingest API and the ERP import beside the 省/市/区县 form, checked per
country (postcode format at least) instead of the Chinese standardisation, and shown with their country."""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from orderhub.clock import SHANGHAI
from tests.support.factories import (
    KETTLE,
    Api,
    create_channel,
    create_sku,
    create_warehouse,
    order_payload,
    set_stock,
    unique,
    wait_for_orders,
)


def thai_receiver(**change: Any) -> dict[str, Any]:
    receiver: dict[str, Any] = {
        "name": "Somchai Jaidee",
        # a different phone per order: the same content within 5 minutes is held as a suspected duplicate
        "phone": f"+66 8{random.randrange(10**8):08d}",
        "country": "TH",
        "address_lines": ["99/1 Sukhumvit Road", "Khlong Toei Nuea"],
        "city": "Watthana",
        "region": "Bangkok",
        "postcode": "10110",
    }
    receiver.update(change)
    return receiver


async def _channel(api: Api) -> tuple[str, str]:
    warehouse = (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    await set_stock(api, sku=sku, warehouse=warehouse, qty=50)
    channel, _ = await create_channel(api, warehouse=warehouse)
    return channel, sku


async def _ingest(api: Api, channel: str, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async with api.client() as client:
        r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": orders})
    assert r.status_code == 202, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


async def test_an_address_abroad_is_checked_against_its_country_not_standardised(api: Api) -> None:
    channel, sku = await _channel(api)
    good = order_payload(lines=[(sku, 1)], receiver=thai_receiver())
    bad_postcode = order_payload(lines=[(sku, 1)], receiver=thai_receiver(postcode="1011"))
    no_postcode = order_payload(lines=[(sku, 1)], receiver=thai_receiver(postcode=""))
    results = await _ingest(api, channel, [good, bad_postcode, no_postcode])
    assert [r["status"] for r in results] == ["accepted"] * 3
    orders = await wait_for_orders(api, [r["order_id"] for r in results])
    first, second, third = (orders[r["order_id"]] for r in results)

    receiver = first["receiver"]
    assert receiver["country"] == "TH" and receiver["postcode"] == "10110"
    assert receiver["province"] == "Bangkok" and receiver["city"] == "Watthana"
    assert receiver["detail"] == "99/1 Sukhumvit Road\nKhlong Toei Nuea"
    assert receiver["district"] == "" and receiver["division_code"] == ""
    assert "10110" in receiver["address"] and receiver["address"].endswith("TH")
    # Not a bad address: whatever comes next (customs data, stock) is about the goods, not the receiver.
    assert first["exception_reason"] not in ("bad_address", "bad_phone")

    for order, field in ((second, "receiver.postcode"), (third, "receiver.postcode")):
        assert order["status"] == "exception" and order["exception_reason"] == "bad_address", order
        data = order["events"][-1]["data"]
        assert data["field"] == field and data["country"] == "TH"
        assert "泰国" in data["message"] and "邮编" in data["message"]


async def test_an_unknown_country_is_refused_naming_the_field(api: Api) -> None:
    channel, sku = await _channel(api)
    results = await _ingest(
        api,
        channel,
        [
            order_payload(lines=[(sku, 1)], receiver=thai_receiver(country="XX")),
            order_payload(lines=[(sku, 1)], receiver=thai_receiver(country="THA")),
            order_payload(lines=[(sku, 1)], receiver=thai_receiver(address_lines=[], detail="")),
        ],
    )
    assert [r["status"] for r in results] == ["rejected"] * 3
    assert results[0]["error"]["field"] == "receiver.country" and "XX" in results[0]["error"]["message"]
    assert results[1]["error"]["field"] == "orders[1].receiver.country" or "country" in results[1]["error"]["field"]
    assert results[2]["error"]["field"] == "receiver.address_lines"


async def test_a_fixed_postcode_sends_the_order_on(api: Api) -> None:
    channel, sku = await _channel(api)
    (result,) = await _ingest(api, channel, [order_payload(lines=[(sku, 1)], receiver=thai_receiver(postcode="1"))])
    order_id = result["order_id"]
    assert (await wait_for_orders(api, [order_id]))[order_id]["exception_reason"] == "bad_address"
    async with api.client() as client:
        r = await client.patch(f"/api/v1/orders/{order_id}/receiver", json=thai_receiver(postcode="10110"))
    assert r.status_code == 200, r.text
    order = (await wait_for_orders(api, [order_id]))[order_id]  # PATCH left it received: the pipeline runs again
    assert order["exception_reason"] != "bad_address", order
    assert order["receiver"]["postcode"] == "10110" and order["receiver"]["country"] == "TH"
    assert order["receiver"]["detail"] == "99/1 Sukhumvit Road\nKhlong Toei Nuea"


async def test_the_erp_import_reads_a_country_and_postcode_column(api: Api) -> None:
    channel, sku = await _channel(api)
    good, bad = unique("ERP-VN"), unique("ERP-XX")
    when = (datetime.now(SHANGHAI) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    content = (
        "订单号,下单时间,收货人,收货电话,国家,城市,省,详细地址,邮编,商家编码,数量,单价,实付金额\r\n"
        f"{good},{when},Nguyen Van A,+84 912 345 678,越南,Hà Nội,Hà Nội,12 Phố Huế,10000,{sku},1,19.90,19.90\r\n"
        f"{bad},{when},Someone,+84 912 345 679,Atlantis,City,,1 Road,10000,{sku},1,19.90,19.90\r\n"
    ).encode()
    files = {"file": ("orders.csv", content, "text/csv")}
    async with api.client() as client:
        preview = await client.post(f"/api/v1/channels/{channel}/imports/preview", files=files)
        assert preview.status_code == 200, preview.text
        mapping = preview.json()["mapping"]
        assert mapping["国家"] == "receiver_country" and mapping["邮编"] == "receiver_postcode", mapping
        assert preview.json()["missing_fields"] == [], preview.json()
        saved = await client.put(f"/api/v1/channels/{channel}/import-mapping", json={"mapping": mapping})
        assert saved.status_code == 200, saved.text
        r = await client.post(f"/api/v1/channels/{channel}/imports", files=files)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        deadline = time.monotonic() + 60
        while (job := (await client.get(f"/api/v1/imports/{job_id}")).json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, job
            await asyncio.sleep(0.2)
        assert (job["orders_new"], job["orders_rejected"]) == (1, 1), job
        assert {(e["row"], e["field"]) for e in job["errors"]} == {(3, "receiver_country")}, job["errors"]
        page = (await client.get("/api/v1/orders", params={"external_id": good})).json()
    (order,) = page["items"]
    assert order["receiver"]["country"] == "VN" and order["receiver"]["postcode"] == "10000"
    assert order["receiver"]["city"] == "Hà Nội" and order["receiver"]["detail"] == "12 Phố Huế"


# ---------------------------------------------------------------- the destination's rule pack in the pipeline


async def _customs(api: Api, sku: str, **change: Any) -> None:
    async with api.client() as client:
        r = await client.put(f"/api/v1/catalog/skus/{sku}/customs", json={**KETTLE, **change})
    assert r.status_code == 200, r.text


async def test_a_thai_order_takes_the_pack_of_its_date_and_lacks_nothing(api: Api) -> None:
    channel, sku = await _channel(api)
    await _customs(api, sku)
    before = order_payload(
        lines=[(sku, 1)], receiver=thai_receiver(phone="+66 81 234 0001"), created_at="2025-12-20T10:00:00+08:00"
    )
    after = order_payload(
        lines=[(sku, 1)], receiver=thai_receiver(phone="+66 81 234 0002"), created_at="2026-01-02T10:00:00+08:00"
    )
    results = await _ingest(api, channel, [before, after])
    orders = await wait_for_orders(api, [r["order_id"] for r in results])
    old, new = (orders[r["order_id"]] for r in results)
    for order in (old, new):
        assert order["status"] == "ready", order
        assert order["customs_estimate"]["currency"] == "THB"
        assert order["customs_estimate"]["vat"] > 0  # 7 % VAT on low-value parcels since 2024-07-05
    # 50 CNY ≈ 244 THB: under the THB 1,500 duty-free threshold until 2025-12-31, dutiable from 2026-01-01
    assert old["customs_estimate"]["duty"] == 0
    assert new["customs_estimate"]["duty"] > 0
    assert new["customs_estimate"]["goods_value"] == old["customs_estimate"]["goods_value"]


async def test_a_missing_tisi_number_stops_the_order_naming_it_until_it_is_filled(api: Api) -> None:
    channel, sku = await _channel(api)
    await _customs(api, sku, certificates={}, names={})
    (result,) = await _ingest(api, channel, [order_payload(lines=[(sku, 2)], receiver=thai_receiver())])
    order_id = result["order_id"]
    order = (await wait_for_orders(api, [order_id]))[order_id]
    assert order["status"] == "exception" and order["exception_reason"] == "customs_data_missing", order
    data = order["events"][-1]["data"]
    assert data["destination"] == "TH"
    assert {(m["sku"], m["field"]) for m in data["missing"]} == {(sku, "certificate:TISI"), (sku, "name_local")}
    assert "TISI" in data["message"] and sku in data["message"]

    await _customs(api, sku)  # the seller fills them in, then retries
    async with api.client() as client:
        r = await client.post(f"/api/v1/orders/{order_id}/retry", json={"note": "已补充报关资料"})
    assert r.status_code in (200, 201), r.text
    order = (await wait_for_orders(api, [order_id]))[order_id]
    assert order["status"] == "ready" and order["customs_estimate"]["currency"] == "THB", order


async def test_a_domestic_order_is_not_asked_for_customs_data(api: Api) -> None:
    channel, sku = await _channel(api)  # no customs data at all
    (result,) = await _ingest(api, channel, [order_payload(lines=[(sku, 1)])])
    order = (await wait_for_orders(api, [result["order_id"]]))[result["order_id"]]
    assert order["status"] == "ready" and order["customs_estimate"] is None
    assert order["receiver"]["country"] == "CN"


async def _login(api: Api, role: str, warehouse: str) -> httpx.AsyncClient:
    username, password = unique(role), "intl-pass-1"
    async with api.client() as client:
        r = await client.post(
            "/api/v1/users",
            json={"username": username, "password": password, "role": role, "display_name": role,
                  "warehouse": warehouse},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    client = httpx.AsyncClient(base_url=api.base_url, timeout=30)
    r = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return client


def _pdf_text(content: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=content, capture_output=True, check=True).stdout.decode()


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")
async def test_the_documents_show_the_receiver_in_clear_to_managers_only(api: Api) -> None:
    warehouse = (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    await set_stock(api, sku=sku, warehouse=warehouse, qty=10)
    channel, _ = await create_channel(api, warehouse=warehouse)
    await _customs(api, sku)
    receiver = thai_receiver(name="Somchai Jaidee")
    (result,) = await _ingest(api, channel, [order_payload(lines=[(sku, 1)], receiver=receiver)])
    order_id = result["order_id"]
    assert (await wait_for_orders(api, [order_id]))[order_id]["status"] == "ready"
    digits = "".join(ch for ch in receiver["phone"] if ch.isdigit())
    async with api.client() as admin:
        clear = await admin.get(f"/api/v1/orders/{order_id}/customs/packing-list.pdf")
    assert clear.status_code == 200, clear.text
    assert "Somchai Jaidee" in _pdf_text(clear.content)
    packer = await _login(api, "packer", warehouse)
    try:
        for path in ("packing-list.pdf", "cn23.pdf"):
            r = await packer.get(f"/api/v1/orders/{order_id}/customs/{path}")
            assert r.status_code == 200, r.text
            text = _pdf_text(r.content)
            assert "Somchai Jaidee" not in text and digits not in "".join(ch for ch in text if ch.isdigit())
            assert "Sukhumvit" in text  # the parcel must still reach the street
    finally:
        await packer.aclose()


async def test_a_suspected_duplicate_abroad_is_still_held_before_its_customs_data_is_asked(api: Api) -> None:
    channel, sku = await _channel(api)
    await _customs(api, sku, certificates={})  # the TISI number is missing for both
    receiver = thai_receiver()
    first, second = (order_payload(lines=[(sku, 1)], receiver=receiver) for _ in range(2))
    results = await _ingest(api, channel, [first])
    results += await _ingest(api, channel, [second])
    orders = await wait_for_orders(api, [r["order_id"] for r in results])
    one, two = (orders[r["order_id"]] for r in results)
    assert one["exception_reason"] == "customs_data_missing", one
    assert two["status"] == "held" and two["hold_reason"] == "suspected_duplicate", two


async def test_country_names_read_as_codes_and_an_empty_country_is_china(api: Api) -> None:
    channel, sku = await _channel(api)
    await _customs(api, sku)
    domestic = {"name": "王小明", "phone": f"139{random.randrange(10**8):08d}", "country": "",
                "address": "上海市浦东新区世纪大道1号"}  # fmt: skip
    results = await _ingest(
        api,
        channel,
        [
            order_payload(lines=[(sku, 1)], receiver=thai_receiver(country="泰国")),
            order_payload(lines=[(sku, 1)], receiver=thai_receiver(country="Thailand")),
            order_payload(lines=[(sku, 1)], receiver=domestic),
        ],
    )
    assert [r["status"] for r in results] == ["accepted"] * 3, results
    orders = await wait_for_orders(api, [r["order_id"] for r in results])
    assert [orders[r["order_id"]]["receiver"]["country"] for r in results] == ["TH", "TH", "CN"]
