"""Settlement file import through the HTTP API on a real hub: an Alipay bill (a zip of GBK CSVs) previewed, imported,
imported again changing nothing; a bad file refused whole with its rows; saved mappings created, used, changed and
deleted; a 抖店 bill (UTF-8 with BOM) under a saved mapping."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from orderhub import db
from orderhub.channels.erp_file.settlements import PRESETS
from tests.support import settlement_files as sf
from tests.support.factories import Api, create_channel, unique
from tests.support.hub import Hub


class _Line(msgspec.Struct):
    line_key: str
    external_id: str
    kind: str
    amount: int
    memo: str
    raw: str


async def _channel_id(client: httpx.AsyncClient, api: Api) -> int:
    code, _ = await create_channel(api, warehouse=None)
    r = await client.get(f"/api/v1/channels/{code}")
    assert r.status_code == 200, r.text
    return int(r.json()["id"])


def _rows(prefix: str, tid: str) -> list[list[str]]:
    return [
        [
            f"{prefix}01",
            "B01",
            f"T200P{tid}",
            "羊毛围巾 灰色",
            "2026-12-01 10:00:01",
            "买家",
            "259.00",
            "0.00",
            "1.00",
            "支付宝",
            "交易付款",
            "淘宝交易付款",
        ],
        [
            f"{prefix}02",
            "B02",
            "",
            "",
            "2026-12-01 10:00:05",
            "天猫",
            "0.00",
            "-12.95",
            "1.00",
            "支付宝",
            "收费",
            f"天猫佣金（类目）{{{tid}}}扣款",
        ],
        [
            f"{prefix}03",
            "B03",
            "",
            "",
            "2026-12-01 11:00:00",
            "花呗",
            "0.00",
            "-2.59",
            "1.00",
            "支付宝",
            "收费",
            f"花呗支付服务费({tid})",
        ],
    ]


async def _import(client: httpx.AsyncClient, channel_id: int, content: bytes, name: str, **form: str) -> httpx.Response:
    data = {"channel_id": str(channel_id), **form}
    return await client.post(
        "/api/v1/finance/settlements/import", data=data, files={"file": (name, content, "application/octet-stream")}
    )


async def test_an_alipay_bill_imports_once_and_a_bad_file_stores_nothing(store: Hub, api: Api) -> None:
    prefix, tid = unique("AL"), "3300" + str(int(unique("")[-8:], 16)).rjust(12, "0")
    bill = sf.alipay_zip(_rows(prefix, tid))
    async with api.client() as client:
        channel_id = await _channel_id(client, api)
        r = await _import(client, channel_id, bill, "20881234_20261201.zip", preset="alipay_account_bill", dry_run="1")
        assert r.status_code == 200, r.text
        preview = r.json()
        assert (preview["dry_run"], preview["lines"], preview["total"], preview["batch_id"]) == (True, 3, 24346, None)
        assert preview["preview"][0]["external_id"] == tid and "羊毛围巾 灰色" in preview["preview"][0]["memo"]
        assert preview["preview"][0]["settled_at"].endswith("+08:00") and preview["preview"][0]["row"] == 6

        r = await _import(client, channel_id, bill, "20881234_20261201.zip", preset="alipay_account_bill")
        assert r.status_code == 200, r.text
        first = r.json()
        assert (first["inserted"], first["replaced"], first["unchanged"]) == (3, 0, 0), first
        assert first["batch_key"].startswith("sha256:")

        again = (await _import(client, channel_id, bill, "again.zip", preset="alipay_account_bill")).json()
        assert (again["inserted"], again["replaced"], again["unchanged"]) == (0, 0, 3), again

        bad_rows = _rows(prefix, tid)
        bad_rows[0][6] = "300.00"  # would replace the sale …
        bad_rows[2][4] = "2026-13-45 10:00"  # … but another row is bad: nothing is stored
        r = await _import(client, channel_id, sf.alipay_zip(bad_rows), "bad.zip", preset="alipay_account_bill")
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["code"] == "settlement_file_invalid" and problem["error_count"] == 1, problem
        assert (problem["errors"][0]["row"], problem["errors"][0]["column"]) == (8, "发生时间")
        assert "第 8 行" in problem["message"]

        r = await _import(client, channel_id, bill, "x.csv")
        assert r.status_code == 422 and r.json()["code"] == "settlement_mapping_required", r.text
        r = await _import(client, channel_id, bill, "x.csv", preset="nope")
        assert r.status_code == 422 and r.json()["code"] == "settlement_preset_unknown", r.text
        r = await _import(client, 2_000_000_000, bill, "x.zip", preset="alipay_account_bill")
        assert r.status_code == 404 and r.json()["field"] == "channel_id", r.text

    rows = await db.fetch_as(
        _Line,
        "SELECT line_key, external_id, kind, amount, memo, payload AS raw FROM settlement_line WHERE channel = {} "
        "ORDER BY line_key",
        channel_id,
    )
    assert [(row.line_key, row.external_id, row.kind, row.amount) for row in rows] == [
        (f"{prefix}01:in", tid, "sale", 25900),
        (f"{prefix}02:out", tid, "commission", -1295),
        (f"{prefix}03:out", tid, "payment_fee", -259),
    ]
    assert "羊毛围巾 灰色" in rows[0].memo  # the GBK text, intact
    assert msgspec.json.decode(rows[1].raw)["备注"] == f"天猫佣金（类目）{{{tid}}}扣款"


async def test_saved_mappings_are_created_used_changed_and_deleted(store: Hub, api: Api) -> None:
    name = unique("抖店结算-")
    mapping: dict[str, Any] = msgspec.to_builtins(PRESETS["douyin_settle"].mapping)
    # digits only: a hex id such as 528e5889 reads as scientific notation, which the import rightly refuses
    order, sub = (
        "69" + str(int(unique("")[-8:], 16)).rjust(17, "0"),
        "69" + str(int(unique("")[-8:], 16)).rjust(17, "1"),
    )
    bill = sf.douyin_csv_bom(
        [
            sf.douyin_row(
                settled="2026-12-01 06:00:00",
                order=order,
                sub=sub,
                pay="99.00",
                platform_coupon="10.00",
                service_fee="5.70",
                commission="11.40",
                memo="直播间 专属价",
            )
        ]
    )
    async with api.client() as client:
        r = await client.post(
            "/api/v1/finance/settlement-mappings", json={"name": name, "platform": "douyin", "mapping": mapping}
        )
        assert r.status_code == 201, r.text
        saved = r.json()
        assert saved["name"] == name and saved["mapping"]["settled_at"] == "结算时间"
        r = await client.post("/api/v1/finance/settlement-mappings", json={"name": name, "mapping": mapping})
        assert r.status_code == 409 and r.json()["code"] == "settlement_mapping_name_taken", r.text
        r = await client.post(
            "/api/v1/finance/settlement-mappings", json={"name": unique("坏"), "mapping": {"amounts": []}}
        )
        assert r.status_code == 422 and r.json()["field"].startswith("mapping"), r.text

        assert name in [m["name"] for m in (await client.get("/api/v1/finance/settlement-mappings")).json()]
        presets = (await client.get("/api/v1/finance/settlement-presets")).json()
        assert {p["name"] for p in presets} == set(PRESETS)

        channel_id = await _channel_id(client, api)
        r = await _import(client, channel_id, bill, "抖店结算.csv", mapping_id=str(saved["id"]))
        assert r.status_code == 200, r.text
        result = r.json()
        assert (result["lines"], result["inserted"], result["total"], result["mapping"]) == (
            4,
            4,
            9900 + 1000 - 570 - 1140,
            f"mapping:{saved['id']}",
        ), result

        changed = dict(mapping, skip_zero=False)
        r = await client.put(
            f"/api/v1/finance/settlement-mappings/{saved['id']}",
            json={"name": name, "platform": "douyin", "mapping": changed},
        )
        assert r.status_code == 200 and r.json()["mapping"]["skip_zero"] is False, r.text
        r = await client.delete(f"/api/v1/finance/settlement-mappings/{saved['id']}")
        assert r.status_code == 204, r.text
        r = await client.get(f"/api/v1/finance/settlement-mappings/{saved['id']}")
        assert r.status_code == 404 and r.json()["code"] == "settlement_mapping_not_found", r.text
