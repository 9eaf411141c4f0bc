"""SKUs' customs data through the API: read, replace, list, problem details for bad input, and the spreadsheet
import (XLSX and CSV) that applies each row whole or not at all and reports bad rows with their row number."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import openpyxl
import pytest

from orderhub import clock, db
from orderhub.catalog.tables import Sku
from tests.support.factories import Api, create_sku, unique

THAI = "เครื่องให้อาหารสัตว์เลี้ยงอัตโนมัติ"


def _record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "hs_code": "8516.60.00",
        "name_en": "Automatic pet feeder",
        "name_zh": "自动喂食器",
        "names": {"vi": "Máy cho thú cưng ăn", "th": THAI},
        "material": "ABS plastic",
        "usage": "feeding pets",
        "origin_country": "cn",
        "unit_value": 25_000,
        "currency": "CNY",
        "certificates": {"tisi": "TIS 1039-2547/0001"},
    }
    record.update(changes)
    return record


def _problem(response: Any, status: int, code: str, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert (body["code"], body.get("field")) == (code, field), body


async def test_a_skus_customs_data_is_set_read_and_listed(api: Api) -> None:
    sku = await create_sku(api, name="喂食器")
    async with api.client() as client:
        _problem(await client.get(f"/api/v1/catalog/skus/{sku}/customs"), 404, "sku_customs_not_found", "code")
        _problem(await client.get("/api/v1/catalog/skus/NO-SUCH-SKU/customs"), 404, "not_found", "code")

        r = await client.put(f"/api/v1/catalog/skus/{sku}/customs", json=_record())
        assert r.status_code == 200, r.text
        saved = r.json()
        assert saved["hs_code"] == "85166000" and saved["origin_country"] == "CN"
        assert list(saved["names"]) == ["th", "vi"]  # Thai first
        assert saved["certificates"] == {"TISI": "TIS 1039-2547/0001"}
        assert saved["updated_by"].startswith("user:")
        assert (await client.get(f"/api/v1/catalog/skus/{sku}/customs")).json() == saved

        # The whole record is replaced: a field left out is emptied; name_zh falls back to the SKU's name.
        r = await client.put(f"/api/v1/catalog/skus/{sku}/customs", json={"hs_code": "851660", "currency": "THB"})
        assert r.status_code == 200, r.text
        assert (r.json()["names"], r.json()["certificates"], r.json()["name_zh"]) == ({}, {}, "喂食器")
        await client.put(f"/api/v1/catalog/skus/{sku}/customs", json=_record())

        page = (await client.get("/api/v1/catalog/sku-customs", params={"q": sku})).json()
        assert [item["sku"] for item in page["items"]] == [sku]
        page = (await client.get("/api/v1/catalog/sku-customs", params={"q": "pet feeder", "limit": 500})).json()
        assert sku in [item["sku"] for item in page["items"]]
        page = (await client.get("/api/v1/catalog/sku-customs", params={"q": sku, "hs_prefix": "8516.6"})).json()
        assert [item["sku"] for item in page["items"]] == [sku]
        page = (await client.get("/api/v1/catalog/sku-customs", params={"q": sku, "hs_prefix": "9503"})).json()
        assert page["items"] == []
        r = await client.get("/api/v1/catalog/sku-customs", params={"hs_prefix": "85x"})
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "invalid_hs_code", "hs_prefix")


async def test_bad_customs_data_is_refused_with_a_stable_code_and_field(api: Api) -> None:
    sku = await create_sku(api)
    url = f"/api/v1/catalog/skus/{sku}/customs"
    async with api.client() as client:
        _problem(await client.put(url, json=_record(hs_code="85166")), 422, "invalid_hs_code", "hs_code")
        _problem(await client.put(url, json=_record(origin_country="XX")), 422, "invalid_country", "origin_country")
        _problem(await client.put(url, json=_record(currency="RMB")), 422, "invalid_currency", "currency")
        _problem(await client.put(url, json=_record(names={"thai": "x"})), 422, "invalid_language", "names.thai")
        r = await client.put(url, json=_record(unit_value=-1))
        assert r.status_code in (400, 422) and r.headers["content-type"].startswith("application/problem+json")
        # Nothing was written by any of them.
        _problem(await client.get(url), 404, "sku_customs_not_found", "code")
        _problem(await client.put("/api/v1/catalog/skus/NO-SUCH-SKU/customs", json=_record()), 404, "not_found", "code")


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


HEADER = [
    "商家编码",
    "HS编码",
    "英文品名",
    "泰文品名",
    "材质",
    "用途",
    "原产国",
    "申报单价",
    "币种",
    "TISI证书号",
    "备注",
]


async def test_a_spreadsheet_imports_good_rows_and_reports_each_bad_one(api: Api) -> None:
    good, bad_hs, bad_value, other = [await create_sku(api) for _ in range(4)]
    rows: list[list[Any]] = [
        HEADER,
        [good, "8516.60.00", "Pet feeder", THAI, "ABS", "feeding pets", "CN", 250.5, "CNY", "TIS-1", "x"],
        [bad_hs, "85-16", "Pet bowl", THAI, "steel", "feeding", "CN", 10, "CNY", "", ""],
        [unique("NOPE"), "95030000", "Toy", "", "", "", "CN", 1, "", "", ""],
        [good, "95030000", "Again", "", "", "", "", "", "", "", ""],
        [bad_value, "42010000", "Leash", "", "nylon", "walking dogs", "CN", "12.345", "CNY", "", ""],
        [other, "42010000", "Collar", "", "nylon", "", "ZZ", "", "", "", ""],
        ["", "42010000", "No code", "", "", "", "", "", "", "", ""],
    ]
    async with api.client() as client:
        url = "/api/v1/catalog/sku-customs/import"
        dry = await client.post(
            url, files={"file": ("customs.xlsx", _xlsx(rows), "application/octet-stream")}, data={"dry_run": "true"}
        )
        assert dry.status_code == 200, dry.text
        assert (dry.json()["applied"], dry.json()["dry_run"]) == (1, True)
        assert (await client.get(f"/api/v1/catalog/skus/{good}/customs")).status_code == 404  # nothing written

        r = await client.post(url, files={"file": ("customs.xlsx", _xlsx(rows), "application/octet-stream")})
        assert r.status_code == 200, r.text
        result = r.json()
        assert (result["rows"], result["applied"], result["created"], result["updated"]) == (7, 1, 1, 0)
        assert result["ignored_columns"] == ["备注"]
        errors = [(e["row"], e["field"], e["code"]) for e in result["errors"]]
        assert errors == [
            (3, "hs_code", "invalid_hs_code"),
            (4, "sku", "not_found"),
            (5, "sku", "customs_import_duplicate_row"),
            (6, "unit_value", "invalid_unit_value"),
            (7, "origin_country", "invalid_country"),
            (8, "sku", "validation_error"),
        ]
        assert all(e["message"] for e in result["errors"])
        assert result["errors"][0]["column"] == "HS编码"

        saved = (await client.get(f"/api/v1/catalog/skus/{good}/customs")).json()
        assert (saved["hs_code"], saved["names"], saved["unit_value"]) == ("85166000", {"th": THAI}, 25_050)
        assert saved["certificates"] == {"TISI": "TIS-1"}
        # A bad row is never half applied.
        for sku in (bad_hs, bad_value, other):
            assert (await client.get(f"/api/v1/catalog/skus/{sku}/customs")).status_code == 404

        # A CSV that only fills in what was missing: empty cells keep the SKU's values.
        update = [
            [
                "SKU",
                "HS Code",
                "Name EN",
                "name_th",
                "Material",
                "Usage",
                "Origin",
                "Unit value",
                "Currency",
                "cert_TISI",
            ],
            [good, "", "", "", "", "", "", "", "", "TIS-2"],
            [bad_hs, "85166000", "Pet bowl", THAI, "steel", "feeding", "CN", "1,200", "THB", ""],
        ]
        r = await client.post(url, files={"file": ("update.csv", _csv(update), "text/csv")})
        assert r.status_code == 200, r.text
        assert (r.json()["applied"], r.json()["created"], r.json()["updated"], r.json()["errors"]) == (2, 1, 1, [])
        saved = (await client.get(f"/api/v1/catalog/skus/{good}/customs")).json()
        assert (saved["name_en"], saved["certificates"]) == ("Pet feeder", {"TISI": "TIS-2"})
        bowl = (await client.get(f"/api/v1/catalog/skus/{bad_hs}/customs")).json()
        assert (bowl["unit_value"], bowl["currency"]) == (120_000, "THB")


async def test_a_row_changing_the_currency_gives_the_value_in_it_too(api: Api) -> None:
    """250.00 CNY relabelled THB would declare 250 baht (and 25,000 đồng as VND): the row is refused instead."""
    declared, bare = await create_sku(api), await create_sku(api)
    url = "/api/v1/catalog/sku-customs/import"
    async with api.client() as client:
        r = await client.put(f"/api/v1/catalog/skus/{declared}/customs", json=_record(unit_value=25_000))
        assert r.status_code == 200, r.text
        r = await client.put(f"/api/v1/catalog/skus/{bare}/customs", json=_record(unit_value=0))
        assert r.status_code == 200, r.text

        sheet = [["商家编码", "申报单价", "币种"], [declared, "", "THB"], [bare, "", "THB"]]
        r = await client.post(url, files={"file": ("c.csv", _csv(sheet), "text/csv")})
        assert r.status_code == 200, r.text
        assert r.json()["applied"] == 1  # the SKU declaring no value may change its currency alone
        (error,) = r.json()["errors"]
        assert (error["row"], error["sku"], error["field"], error["code"], error["column"]) == (
            2,
            declared,
            "unit_value",
            "customs_import_currency_without_value",
            "申报单价",
        )
        assert "THB" in error["message"]
        # a sheet without a value column names the currency column
        r = await client.post(url, files={"file": ("c.csv", _csv([["SKU", "Currency"], [declared, "VND"]]), "t")})
        assert [(e["field"], e["column"]) for e in r.json()["errors"]] == [("unit_value", "Currency")], r.text
        saved = (await client.get(f"/api/v1/catalog/skus/{declared}/customs")).json()
        assert (saved["unit_value"], saved["currency"]) == (25_000, "CNY")  # untouched

        # the same currency, or the value in the new one, is fine
        sheet = [["SKU", "Unit value", "Currency"], [declared, "", "cny"]]
        r = await client.post(url, files={"file": ("c.csv", _csv(sheet), "text/csv")})
        assert (r.json()["applied"], r.json()["errors"]) == (1, []), r.text
        sheet = [["SKU", "Unit value", "Currency"], [declared, "1,290", "THB"]]
        r = await client.post(url, files={"file": ("c.csv", _csv(sheet), "text/csv")})
        assert (r.json()["applied"], r.json()["errors"]) == (1, []), r.text
        saved = (await client.get(f"/api/v1/catalog/skus/{declared}/customs")).json()
        assert (saved["unit_value"], saved["currency"]) == (129_000, "THB")


@pytest.mark.postgres_only
async def test_imports_of_the_same_skus_in_opposite_orders_do_not_deadlock(api: Api) -> None:
    """Each import upserts in SKU id order, whatever its sheet's: two sheets listing the same SKUs in opposite orders
    lock their rows in one order. 1,600 rows make three upsert statements (769 rows each) per import, so unsorted
    the two transactions each held one end and waited for the other's (PostgreSQL: deadlock detected, a 500)."""
    prefix = unique("DL-")
    codes = [f"{prefix}{i:04d}" for i in range(1_600)]
    now = clock.now()
    for chunk in db.chunks(codes, 500):
        await Sku.insert(*[Sku(code=code, name="死锁测试", created_at=now, updated_at=now) for code in chunk])
    url = "/api/v1/catalog/sku-customs/import"

    def sheet(order: list[str], name: str) -> bytes:
        return _csv([["SKU", "HS Code", "Name EN"], *[[code, "95030000", name] for code in order]])

    async with api.client() as client:
        first = await client.post(url, files={"file": ("c.csv", sheet(codes, "Toy"), "text/csv")})
        assert first.status_code == 200 and first.json()["created"] == 1_600, first.text  # rows to lock from now on
        for round_ in range(3):
            answers = await asyncio.gather(
                *(
                    client.post(url, files={"file": ("c.csv", sheet(order, f"Toy {round_}"), "text/csv")})
                    for order in (codes, codes[::-1])
                )
            )
            assert [r.status_code for r in answers] == [200, 200], [r.text[:300] for r in answers]
            assert all(r.json()["applied"] == 1_600 and r.json()["errors"] == [] for r in answers)


async def test_a_sheet_without_a_sku_column_is_refused(api: Api) -> None:
    async with api.client() as client:
        r = await client.post(
            "/api/v1/catalog/sku-customs/import",
            files={"file": ("c.csv", _csv([["名称", "HS编码"], ["x", "95030000"]]), "text/csv")},
        )
        _problem(r, 422, "customs_import_invalid", "file")
        r = await client.post(
            "/api/v1/catalog/sku-customs/import", files={"file": ("c.xlsx", b"PK\x03\x04 not a workbook", "x")}
        )
        assert r.status_code == 422 and r.json()["field"] == "file"


@pytest.mark.postgres_only
async def test_writers_of_the_same_new_skus_data_at_once_all_succeed(api: Api) -> None:
    sku = await create_sku(api)
    async with api.client() as client:
        answers = await asyncio.gather(
            *(client.put(f"/api/v1/catalog/skus/{sku}/customs", json=_record(name_en=f"Feeder {i}")) for i in range(6))
        )
        assert [r.status_code for r in answers] == [200] * 6, [r.text for r in answers]
        saved = (await client.get(f"/api/v1/catalog/skus/{sku}/customs")).json()
    assert saved["name_en"] in {f"Feeder {i}" for i in range(6)}  # the last writer's
