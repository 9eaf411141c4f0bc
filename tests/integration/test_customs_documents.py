"""A Thai order's customs documents through the API: the packing list and the CN 22 (or the CN 23 above Thailand's
CN 22 limit) come back as PDFs whose rendered pages (pdftoppm) carry ink and whose text (pdftotext) has the Thai and
Chinese names, the HS codes and the TISI numbers; a domestic order has none (404 problem+json).

The PNGs are kept under tmp_path (and copied to ``TEST_ARTEFACTS`` when it is set)."""

from __future__ import annotations

import shutil
from pathlib import Path
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
from tests.unit.test_customs_documents import ink, render, thai_key

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")

FEEDER_TH = "เครื่องให้อาหารสัตว์เลี้ยงอัตโนมัติ"
FOUNTAIN_TH = "น้ำพุสำหรับสัตว์เลี้ยง"


def _receiver() -> dict[str, Any]:
    return {
        "name": "สมชาย ใจดี",
        "phone": "+66 81 234 5678",
        "country": "TH",
        "address_lines": ["99/12 ถนนสุขุมวิท ซอย 21", "แขวงคลองเตยเหนือ"],
        "city": "เขตวัฒนา",
        "region": "กรุงเทพมหานคร",
        "postcode": "10110",
    }


@pytest.fixture(scope="module")
async def world(api: Api) -> dict[str, Any]:
    warehouse = (await create_warehouse(api))["code"]
    feeder = await create_sku(api, name="智能宠物喂食器", weight_g=1450)
    fountain = await create_sku(api, name="宠物饮水机", weight_g=980)
    customs = {
        feeder: {
            "hs_code": "8436.80.00",
            "name_en": "Automatic pet feeder",
            "name_zh": "智能宠物喂食器",
            "names": {"th": FEEDER_TH},
            "material": "ABS plastic",
            "usage": "feeding pets",
            "origin_country": "CN",
            "unit_value": 89_900,
            "currency": "THB",
            "certificates": {"TISI": "TIS 1195-2561/0042"},
        },
        fountain: {
            "hs_code": "8413.70.20",
            "name_en": "Pet water fountain",
            "name_zh": "宠物饮水机",
            "names": {"th": FOUNTAIN_TH},
            "material": "PP plastic",
            "usage": "drinking water for pets",
            "origin_country": "CN",
            "unit_value": 45_900,
            "currency": "THB",
            "certificates": {"TISI": "TIS 60335-2-41/0007"},
        },
    }
    async with api.client() as client:
        for sku, record in customs.items():
            r = await client.put(f"/api/v1/catalog/skus/{sku}/customs", json=record)
            assert r.status_code == 200, r.text
    for sku in customs:
        await set_stock(api, sku=sku, warehouse=warehouse, qty=100)
    channel, _ = await create_channel(api, warehouse=warehouse)
    orders = [
        order_payload(external_id=unique("TH-SMALL-"), lines=[(feeder, 2), (fountain, 1)], receiver=_receiver()),
        order_payload(external_id=unique("TH-BIG-"), lines=[(feeder, 20)], receiver=_receiver()),  # 17,980 THB
        order_payload(lines=[(feeder, 1)]),  # Shanghai: domestic
    ]
    async with api.client() as client:
        r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": orders})
    assert r.status_code == 202, r.text
    ids = [result["order_id"] for result in r.json()["results"]]
    await wait_for_orders(api, ids)
    return {"small": ids[0], "big": ids[1], "domestic": ids[2], "feeder": feeder, "fountain": fountain}


async def test_a_thai_orders_documents_show_thai_chinese_and_hs_codes(
    api: Api, world: dict[str, Any], tmp_path: Path
) -> None:
    small = world["small"]
    async with api.client() as client:
        packing = await client.get(f"/api/v1/orders/{small}/customs/packing-list.pdf")
        cn22 = await client.get(f"/api/v1/orders/{small}/customs/cn22.pdf")
        cn23 = await client.get(f"/api/v1/orders/{small}/customs/cn23.pdf")
    for response in (packing, cn22, cn23):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/pdf")
        assert response.content.startswith(b"%PDF")
    assert cn22.headers["x-customs-form"] == "cn22" and cn23.headers["x-customs-form"] == "cn23"
    assert 'filename="packing-list-TH-SMALL-' in packing.headers["content-disposition"]

    pages, text = render(packing.content, tmp_path, "api-packing-list")
    assert pages and ink(pages[0]) > 0.01
    for expected in ("装箱单", "Packing List", "智能宠物喂食器", "宠物饮水机", "84368000", "84137020",
                     "TISI TIS 1195-2561/0042", "TISI TIS 60335-2-41/0007", "2,257.00 THB"):  # fmt: skip
        assert expected in text, expected
    for expected in ("ใบรายการบรรจุสินค้า", FEEDER_TH, FOUNTAIN_TH, "สมชาย ใจดี", "10110"):
        assert thai_key(expected) in thai_key(text), expected

    pages, text = render(cn22.content, tmp_path, "api-cn22")
    assert pages and ink(pages[0]) > 0.01
    for expected in ("CN 22", "84368000", "84137020", "Automatic pet feeder", "Sale of goods"):
        assert expected in text, expected
    assert thai_key(FEEDER_TH) in thai_key(text)

    pages, text = render(cn23.content, tmp_path, "api-cn23")
    assert "CN 23" in text and "Certificate (13)" in text and "TISI TIS 1195-2561/0042" in text


async def test_above_thailands_cn22_limit_the_declaration_is_a_cn23(
    api: Api, world: dict[str, Any], tmp_path: Path
) -> None:
    async with api.client() as client:
        r = await client.get(f"/api/v1/orders/{world['big']}/customs/cn22.pdf")
    assert r.status_code == 200, r.text
    assert r.headers["x-customs-form"] == "cn23" and 'filename="cn23-TH-BIG-' in r.headers["content-disposition"]
    _, text = render(r.content, tmp_path, "api-cn23-big")
    assert "CN 23" in text and "17,980.00" in text


async def test_a_domestic_or_unknown_order_has_no_customs_documents(api: Api, world: dict[str, Any]) -> None:
    async with api.client() as client:
        for url in (
            f"/api/v1/orders/{world['domestic']}/customs/packing-list.pdf",
            f"/api/v1/orders/{world['domestic']}/customs/cn22.pdf",
            "/api/v1/orders/999999999/customs/cn23.pdf",
        ):
            r = await client.get(url)
            assert r.status_code == 404, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert (r.json()["code"], r.json()["field"]) == ("not_found", "order_id"), r.json()
