"""ERP / spreadsheet import through the API and the worker: mapping, preview, row errors, idempotent re-upload."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

from orderhub.clock import SHANGHAI
from tests.support.factories import Api, create_channel, create_sku, create_warehouse, set_stock, unique

HEADERS = [
    "原始单号",
    "下单时间",
    "付款时间",
    "收货人",
    "手机",
    "省",
    "市",
    "区",
    "详细地址",
    "商家编码",
    "数量",
    "单价",
    "实付金额",
    "买家留言",
]


def _csv(rows: list[list[str]]) -> bytes:
    lines = [",".join(HEADERS)] + [",".join(row) for row in rows]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")  # Excel's UTF-8 CSV (with BOM)


async def _wait_job(api: Api, job_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    async with api.client() as client:
        while True:
            job = (await client.get(f"/api/v1/imports/{job_id}")).json()
            if job["status"] in ("done", "failed"):
                return dict(job)
            assert time.monotonic() < deadline, job
            await asyncio.sleep(0.2)


async def test_a_sheet_imports_its_orders_reports_bad_rows_and_imports_nothing_twice(api: Api) -> None:
    warehouse = (await create_warehouse(api))["code"]
    tee, mug = await create_sku(api), await create_sku(api)
    for sku in (tee, mug):
        await set_stock(api, sku=sku, warehouse=warehouse, qty=100)
    channel, _ = await create_channel(api, warehouse=warehouse)
    when = (datetime.now(SHANGHAI) - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    a, b, c, d = (unique("ERP") for _ in range(4))
    addr = ["上海市", "上海市", "浦东新区"]
    rows = [
        [a, when, when, "张三", "13800138000", *addr, "世纪大道1号", tee, "2", "59.00", "147.90", "请尽快发货"],
        [a, when, when, "张三", "13800138000", *addr, "世纪大道1号", mug, "1", "29.90", "147.90", ""],
        [b, when, when, "李四", "13900139000", *addr, "世纪大道2号", mug, "3", "29.90", "89.70", ""],
        [c, when, when, "王五", "13700137000", *addr, "世纪大道3号", tee, "abc", "59.00", "59.00", ""],
        [d, when, when, "赵六", "13600136000", *addr, "世纪大道4号", tee, "1", "59.00", "59.00", ""],
    ]
    content = _csv(rows)
    files = {"file": ("orders.csv", content, "text/csv")}
    async with api.client() as client:
        preview = await client.post(f"/api/v1/channels/{channel}/imports/preview", files=files)
        assert preview.status_code == 200, preview.text
        guessed = preview.json()
        assert guessed["row_count"] == 5 and guessed["missing_fields"] == [], guessed
        assert guessed["mapping"]["原始单号"] == "external_id" and guessed["mapping"]["实付金额"] == "paid_amount"
        bad = await client.put(f"/api/v1/channels/{channel}/import-mapping", json={"mapping": {"原始单号": "nonsense"}})
        assert bad.status_code == 422 and bad.json()["field"].startswith("mapping"), bad.text
        saved = await client.put(f"/api/v1/channels/{channel}/import-mapping", json={"mapping": guessed["mapping"]})
        assert saved.status_code == 200, saved.text

        r = await client.post(f"/api/v1/channels/{channel}/imports", files=files)
        assert r.status_code == 202, r.text
    job = await _wait_job(api, r.json()["id"])
    assert job["status"] == "done", job
    assert (job["orders_new"], job["orders_rejected"], job["processed_rows"]) == (3, 1, 5), job
    bad_rows = {(e["row"], e["field"]) for e in job["errors"]}
    assert (5, "qty") in bad_rows, job["errors"]  # the 4th data row is spreadsheet row 5 (the header is row 1)

    async with api.client() as client:
        page = (await client.get("/api/v1/orders", params={"channel": channel, "limit": 50})).json()
        stored = {item["external_id"]: item for item in page["items"]}
        assert sorted(stored) == sorted([a, b, d])
        order_a = (await client.get(f"/api/v1/orders/{stored[a]['id']}")).json()
    assert sorted((line["sku"], line["qty"], line["unit_price"]) for line in order_a["lines"]) == sorted(
        [(tee, 2, 5900), (mug, 1, 2990)]
    )
    assert order_a["paid_amount"] == 14790 and order_a["buyer_memo"] == "请尽快发货"

    async with api.client() as client:  # the same file again: nothing new
        again = await client.post(f"/api/v1/channels/{channel}/imports", files=files)
    job2 = await _wait_job(api, again.json()["id"])
    assert (job2["status"], job2["orders_new"], job2["orders_duplicate"]) == ("done", 0, 3), job2
