"""Destination rule packs through the API (the shipped defaults, the version in force on a date, new versions and
their validation), an order's check against its destination (service.check_order, what the pipeline calls) and the
declaration drawn from a stored order (service.declaration_for)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import msgspec
import pytest

from orderhub import clock
from orderhub.channels.tables import Channel
from orderhub.customs import service
from orderhub.customs.model import CheckLine
from orderhub.customs.tables import CustomsRulePack
from orderhub.orders import pii
from orderhub.orders.tables import Order, OrderEvent, OrderLine
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

THAI = "เครื่องให้อาหารสัตว์เลี้ยงอัตโนมัติ"


@pytest.fixture
async def my_packs(store: Hub) -> AsyncIterator[None]:
    """Malaysia's packs go back to the shipped defaults afterwards (the hub is shared by the whole session)."""
    try:
        yield
    finally:
        await CustomsRulePack.delete().where(CustomsRulePack.destination == "MY")


def _new_version(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "effective_from": "2099-01-01",
        "name": "马来西亚 测试版本",
        "currency": "MYR",
        "fx_per_cny": 0.62,
        "required_fields": ["hs_code", "name_en"],
        "postcode_pattern": "[0-9]{5}",
        "duty_free_threshold": 50_000,
        "vat_rate_bp": 1000,
        "duty_rates": [{"hs_prefix": "", "rate_bp": 500}, {"hs_prefix": "8516", "rate_bp": 1500}],
        "certificates": [{"scheme": "SIRIM", "hs_prefixes": ["8516"], "note": "测试"}],
        "documents": ["packing_list", "cn22"],
        "sources": ["test"],
    }
    body.update(changes)
    return body


async def test_the_shipped_packs_and_the_version_in_force_on_a_date(api: Api) -> None:
    async with api.client() as client:
        r = await client.get("/api/v1/customs/packs")
        assert r.status_code == 200, r.text
        listed = {d["destination"]: d for d in r.json()}
        assert {"TH", "MY", "VN"} <= set(listed)
        assert listed["TH"]["versions"] == 2 and listed["TH"]["in_force_version"] == 2

        versions = (await client.get("/api/v1/customs/packs/TH")).json()
        assert [(v["version"], v["effective_from"], v["origin"]) for v in versions] == [
            (1, "2024-07-05", "shipped"),
            (2, "2026-01-01", "shipped"),
        ]
        assert versions[1]["pack"]["duty_free_threshold"] == 100 and versions[1]["pack"]["sources"]

        for day, version, threshold in (("2025-12-31", 1, 150_000), ("2026-01-02", 2, 100)):
            r = await client.get("/api/v1/customs/packs/th/in-force", params={"on": day})
            assert r.status_code == 200, r.text
            assert (r.json()["version"], r.json()["pack"]["duty_free_threshold"]) == (version, threshold)

        r = await client.get("/api/v1/customs/packs/SG/in-force")
        assert (r.status_code, r.json()["code"]) == (404, "rule_pack_not_found")
        r = await client.get("/api/v1/customs/packs/XX")
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "invalid_country", "destination")
        r = await client.get("/api/v1/customs/packs/TH/versions/2")
        assert r.json()["effective_from"] == "2026-01-01"
        assert (await client.get("/api/v1/customs/packs/TH/versions/9")).json()["code"] == "rule_pack_not_found"


async def test_a_new_version_is_validated_and_keeps_the_shipped_history(api: Api, my_packs: None) -> None:
    url = "/api/v1/customs/packs/MY"
    async with api.client() as client:
        for body, field in (
            (_new_version(required_fields=["hs_code", "colour"]), "required_fields[1]"),
            (_new_version(postcode_pattern="[0-9{5}"), "postcode_pattern"),
            (_new_version(documents=["invoice"]), "documents[0]"),
            (_new_version(documents=["packing_list", "commercial_invoice"]), "documents[1]"),  # never produced
            (_new_version(threshold_on_cif=True, duty_free_threshold=None), "threshold_on_cif"),
            (_new_version(certificates=[{"scheme": "SIRIM"}]), "certificates[0]"),
            (_new_version(currency="XYZ"), "currency"),
        ):
            r = await client.post(url, json=body)
            assert r.status_code == 422, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["field"] == field, r.json()
            assert r.json()["code"] in ("invalid_rule_pack", "invalid_currency")
        r = await client.post(url, json=_new_version(vat_rate_bp=60_000))
        assert r.status_code in (400, 422)
        assert [v["origin"] for v in (await client.get(url)).json()] == ["shipped"]  # nothing stored

        r = await client.post(url, json=_new_version())
        assert r.status_code == 201, r.text
        created = r.json()
        assert (created["version"], created["origin"], created["pack"]["destination"]) == (2, "stored", "MY")
        assert created["created_by"].startswith("user:")
        versions = (await client.get(url)).json()
        assert [(v["version"], v["origin"], v["created_by"]) for v in versions] == [
            (1, "stored", "shipped"),
            (2, "stored", created["created_by"]),
        ]
        # Today is still governed by version 1; 2099 by the new one.
        assert (await client.get(f"{url}/in-force")).json()["version"] == 1
        assert (await client.get(f"{url}/in-force", params={"on": "2099-06-01"})).json()["version"] == 2
        r = await client.post(url, json=_new_version(effective_from="2099-02-01", threshold_on_cif=True))
        assert (r.json()["version"], r.json()["pack"]["threshold_on_cif"]) == (3, True)
        assert (await client.get(f"{url}/versions/2")).json()["pack"]["threshold_on_cif"] is False


async def test_a_version_number_in_other_digits_is_refused_not_a_server_error(api: Api) -> None:
    """A "²" passes str.isdigit() but int() refuses it; a "٣" (Arabic-Indic 3) int() would read as 3."""
    async with api.client() as client:
        for version in ("²", "٣", "３", "1²"):
            r = await client.get(f"/api/v1/customs/packs/TH/versions/{version}")
            assert r.status_code == 422, (version, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["field"] == "version"
        r = await client.get("/api/v1/customs/packs/TH/versions/99")
        assert r.status_code == 404 and r.json()["code"] == "rule_pack_not_found", r.text
        r = await client.get("/api/v1/customs/packs/TH/versions/2")
        assert r.status_code == 200 and r.json()["pack"]["threshold_on_cif"] is True, r.text


async def test_a_value_declared_in_usd_for_thailand_stops_the_check_instead_of_declaring_zero(api: Api) -> None:
    """The estimate cannot convert USD to THB: a gift declared at USD 30 would have crossed at THB 0."""
    gift = await create_sku(api, name="礼品")
    await _customs(api, gift, unit_value=3_000, currency="USD")
    check = await service.check_order(
        country="TH",
        placed_on=date(2026, 1, 2),
        lines=[CheckLine(sku=gift, qty=1, unit_price=0, is_gift=True)],
        postcode="10330",
        shipping_fen=0,
    )
    assert [(m.sku, m.field, m.message) for m in check.missing] == [
        (gift, "unit_value", "申报币种 USD 无法换算为 THB，请改用 CNY 或 THB")
    ]


async def _customs(api: Api, sku: str, **changes: Any) -> None:
    record: dict[str, Any] = {
        "hs_code": "85166000",
        "name_en": "Automatic pet feeder",
        "name_zh": "自动喂食器",
        "names": {"th": THAI},
        "material": "ABS plastic",
        "usage": "feeding pets",
        "origin_country": "CN",
        "unit_value": 100_000,
        "currency": "THB",
        "certificates": {"TISI": "TIS 1039-2547/0001"},
    }
    record.update(changes)
    async with api.client() as client:
        r = await client.put(f"/api/v1/catalog/skus/{sku}/customs", json=record)
        assert r.status_code == 200, r.text


async def test_an_orders_check_names_what_each_sku_lacks_and_estimates_duty_and_vat(api: Api) -> None:
    feeder = await create_sku(api, name="喂食器")
    bowl = await create_sku(api, name="食盆")
    toy = await create_sku(api, name="逗猫棒")
    await _customs(api, feeder)
    await _customs(api, bowl, certificates={})  # a TIS-mandatory HS code without its number
    await _customs(api, toy, hs_code="95030000", names={}, certificates={}, unit_value=5_000, currency="CNY")
    lines = [
        CheckLine(sku=feeder, qty=1, unit_price=20_000),
        CheckLine(sku=bowl, qty=1, unit_price=20_000),
        CheckLine(sku=toy, qty=1, unit_price=0, is_gift=True),
    ]
    check = await service.check_order(
        country="th", placed_on=date(2026, 1, 2), lines=lines, postcode="10330", shipping_fen=1_000
    )
    assert check.destination == "TH" and check.pack is not None and check.pack.version == 2
    assert [(m.sku, m.field) for m in check.missing] == [
        (bowl, "certificate:TISI"),
        (toy, "name_local"),
        (toy, "certificate:TISI"),  # toys (9503) are TIS-mandatory too
    ]
    assert "缺少 TISI 认证编号" in check.missing[0].message and check.missing[1].message == "缺少泰文品名"
    assert check.estimate is not None
    # 1,000 + 1,000 THB declared + the gift's 50 CNY × 4.8851 = 244.26 THB
    assert check.estimate.goods_value == 200_000 + 24_426
    assert check.estimate.duty == (224_426 * 1000 + 5_000) // 10_000
    assert check.documents == ["packing_list", "cn22"]

    older = await service.check_order(
        country="TH", placed_on=date(2025, 12, 31), lines=lines[:1], postcode="10330", shipping_fen=0
    )
    assert older.pack is not None and older.pack.version == 1
    assert older.estimate is not None and (older.estimate.duty, older.estimate.vat) == (0, 7_000)

    domestic = await service.check_order(
        country="CN", placed_on=date(2026, 1, 2), lines=lines, postcode="", shipping_fen=0
    )
    assert (domestic.pack, domestic.missing, domestic.estimate) == (None, [], None)
    nowhere = await service.check_order(
        country="SG", placed_on=date(2026, 1, 2), lines=lines, postcode="", shipping_fen=0
    )
    # no pack: the declaration is in CNY, and a value declared in THB cannot be converted to it (it would fall back
    # to the price paid, 0 for the gift) — named, not ignored
    assert nowhere.pack is None
    assert [(m.sku, m.field, m.message) for m in nowhere.missing] == [
        (feeder, "unit_value", "申报币种 THB 无法换算为 CNY，请改用 CNY"),
        (bowl, "unit_value", "申报币种 THB 无法换算为 CNY，请改用 CNY"),
    ]


async def test_the_declaration_of_a_stored_thai_order(api: Api, store: Hub) -> None:
    async with api.client() as client:
        wh_code = unique("W")
        r = await client.post(
            "/api/v1/warehouses",
            json={"code": wh_code, "name": "义乌跨境仓", "address": "浙江省金华市义乌市稠城街道1号"},
        )
        assert r.status_code == 201, r.text
        warehouse_id = r.json()["id"]
    feeder = await create_sku(api, name="喂食器", weight_g=800)
    toy = await create_sku(api, name="逗猫棒", weight_g=50)
    await _customs(api, feeder)
    await _customs(api, toy, hs_code="95030000", names={"th": "ของเล่นแมว"}, unit_value=5_000, currency="THB")
    channel_code, _ = await create_channel(api, warehouse=wh_code)
    channel = await Channel.select(Channel.id).where(Channel.code == channel_code).first()
    assert channel is not None
    placed = datetime(2026, 1, 2, 10, 0, tzinfo=clock.SHANGHAI)
    now = clock.now()
    inserted = await Order.insert(
        Order(
            channel=channel["id"],
            external_id=unique("TH"),
            status="cancelled",  # nothing for the pipeline or the floor to pick up
            receiver_name=pii.seal("Somchai Jaidee"),
            receiver_phone=pii.seal("+66812345678"),
            receiver_province="Bangkok",
            receiver_city="Pathum Wan",
            receiver_detail=pii.seal("999 Rama I Road\nSiam Paragon"),
            receiver_address=pii.seal("999 Rama I Road, Siam Paragon, Pathum Wan, Bangkok 10330, TH"),
            receiver_country="TH",
            receiver_postcode="10330",
            goods_amount=40_000,
            shipping_fee=1_000,
            paid_amount=41_000,
            placed_at=placed,
            warehouse=warehouse_id,
            received_at=now,
            updated_at=now,
        )
    ).returning(Order.id)
    order_id = int(inserted[0]["id"])
    await OrderLine.insert(
        OrderLine(order=order_id, line_no=1, sku_code=feeder, qty=2, unit_price=20_000, amount=40_000),
        OrderLine(order=order_id, line_no=2, sku_code=toy, qty=1, unit_price=0, amount=0, is_gift=True),
    )
    from orderhub.catalog.tables import Sku

    for code in (feeder, toy):  # the pipeline resolves the SKU; here by hand
        sku = await Sku.select(Sku.id).where(Sku.code == code).first()
        assert sku is not None
        await OrderLine.update({OrderLine.sku: sku["id"]}).where(
            OrderLine.order == order_id, OrderLine.sku_code == code
        )

    declaration = await service.declaration_for(order_id)
    assert declaration is not None
    assert (declaration.destination, declaration.local_language, declaration.currency) == ("TH", "th", "THB")
    assert declaration.placed_on == date(2026, 1, 2)
    assert (declaration.receiver_name, declaration.receiver_phone) == ("Somchai Jaidee", "+66812345678")
    assert declaration.receiver_address == "999 Rama I Road, Siam Paragon"
    assert (declaration.receiver_city, declaration.receiver_region, declaration.receiver_postcode) == (
        "Pathum Wan",
        "Bangkok",
        "10330",
    )
    assert (declaration.sender_name, declaration.sender_address, declaration.sender_country) == (
        "义乌跨境仓",
        "浙江省金华市义乌市稠城街道1号",
        "CN",
    )
    first, gift = declaration.lines
    assert (first.sku, first.name_zh, first.name_local, first.hs_code, first.qty) == (
        feeder,
        "自动喂食器",
        THAI,
        "85166000",
        2,
    )
    assert (first.unit_value, first.unit_weight_g, first.certificates) == (100_000, 800, {"TISI": "TIS 1039-2547/0001"})
    assert (gift.is_gift, gift.unit_value, gift.name_local) == (True, 5_000, "ของเล่นแมว")  # a gift at its value
    assert declaration.total_value == 205_000 and declaration.total_weight_g == 1_650
    assert declaration.shipping == 4_885  # 10 CNY in satang
    assert declaration.documents == ["packing_list", "cn22"]
    assert declaration.estimate is not None and declaration.estimate.goods_value == 205_000
    assert declaration.category == "sale_of_goods"

    assert await service.declaration_for(2**31 - 1) is None


@pytest.fixture
async def sg_packs(store: Hub) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await CustomsRulePack.delete().where(CustomsRulePack.destination == "SG")


@pytest.mark.postgres_only
async def test_managers_adding_versions_at_once_never_share_a_number(api: Api, sg_packs: None) -> None:
    body = _new_version(currency="SGD", fx_per_cny=0.18, certificates=[], name="新加坡 测试")
    async with api.client() as client:
        answers = await asyncio.gather(*(client.post("/api/v1/customs/packs/SG", json=body) for _ in range(6)))
    created = [r.json()["version"] for r in answers if r.status_code == 201]
    refused = [r for r in answers if r.status_code != 201]
    assert created and len(created) == len(set(created)), [r.text for r in answers]
    assert all(r.status_code == 409 and r.json()["code"] == "duplicate" for r in refused), [r.text for r in refused]
    stored = await CustomsRulePack.select(CustomsRulePack.version).where(CustomsRulePack.destination == "SG")
    assert sorted(row["version"] for row in stored) == sorted(created)


async def test_a_thai_order_missing_a_tisi_number_stops_in_customs_data_missing_naming_it(api: Api) -> None:
    """Through the pipeline: the intake takes the Thai address, the validation step checks the pack in force."""
    warehouse = (await create_warehouse(api))["code"]
    feeder = await create_sku(api, name="喂食器")
    bowl = await create_sku(api, name="食盆")
    for sku in (feeder, bowl):
        await set_stock(api, sku=sku, warehouse=warehouse, qty=10)
    await _customs(api, feeder)
    await _customs(api, bowl, certificates={})
    channel, _ = await create_channel(api, warehouse=warehouse)
    receiver = {
        "name": "Somchai Jaidee",
        "phone": "+66812345678",
        "country": "TH",
        "region": "Bangkok",
        "city": "Pathum Wan",
        "postcode": "10330",
        "address_lines": ["999 Rama I Road"],
    }
    complete = order_payload(lines=[(feeder, 1)], receiver=receiver)
    lacking = order_payload(lines=[(feeder, 1), (bowl, 2)], receiver=receiver)
    async with api.client() as client:
        r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": [complete, lacking]})
        assert r.status_code in (200, 202), r.text
        ids = [int(item["order_id"]) for item in r.json()["results"]]
    done = await wait_for_orders(api, ids)
    assert done[ids[0]]["status"] == "ready", done[ids[0]]
    assert (done[ids[1]]["status"], done[ids[1]]["exception_reason"]) == ("exception", "customs_data_missing")
    event = await (
        OrderEvent.select(OrderEvent.data)
        .where(OrderEvent.order == ids[1], OrderEvent.to_status == "exception")
        .first()
    )
    assert event is not None
    data = msgspec.json.decode(event["data"])
    assert [(m["sku"], m["field"]) for m in data["missing"]] == [(bowl, "certificate:TISI")]
    assert "TISI" in data["message"] and bowl in data["message"]
    stored = await Order.select(Order.customs_estimate).where(Order.id == ids[0]).first()
    assert stored is not None and msgspec.json.decode(stored["customs_estimate"])["currency"] == "THB"
