"""Finding orders the way people look for them (docs/back-office.md#finding-and-exporting-orders): every filter, their
combinations, keyset pages (equal timestamps too), refused input, and the CSV / XLSX export."""

from __future__ import annotations

import csv
import importlib
import io
import random
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from openpyxl import load_workbook

from orderhub.errors import ValidationFailed
from orderhub.orders import export
from orderhub.orders.search import OrderFilter
from orderhub.orders.tables import Order
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


def _phone(*, not_ending: str = "") -> str:
    while True:
        phone = f"137{random.randrange(10**8):08d}"
        if not not_ending or not phone.endswith(not_ending):
            return phone


class Shop:
    def __init__(self, api: Api, warehouse: dict[str, Any], channel: str, skus: list[str]) -> None:
        self.api, self.warehouse, self.channel, self.skus = api, warehouse, channel, skus

    async def push(self, *orders: dict[str, Any]) -> list[int]:
        async with self.api.client() as client:
            r = await client.post("/api/v1/orders/ingest", json={"channel": self.channel, "orders": list(orders)})
        assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
        return [int(res["order_id"]) for res in r.json()["results"]]

    async def find(self, **params: Any) -> list[int]:
        """Every page of the search (limit 2, to cross pages), ids in answer order; no id twice."""
        ids: list[int] = []
        query: dict[str, Any] = {"channel": self.channel, "limit": 2, "sort": "created", **params}
        async with self.api.client() as client:
            while True:
                r = await client.get("/api/v1/orders", params=query)
                assert r.status_code == 200, r.text
                ids += [o["id"] for o in r.json()["items"]]
                if not r.json()["next_cursor"]:
                    break
                query["cursor"] = r.json()["next_cursor"]
        assert len(ids) == len(set(ids)), ids
        return ids


async def _shop(api: Api) -> Shop:
    warehouse = await create_warehouse(api)
    skus = [await create_sku(api) for _ in range(2)]
    for sku in skus:
        await set_stock(api, sku=sku, warehouse=warehouse["code"], qty=500)
    channel, _ = await create_channel(api, warehouse=warehouse["code"])
    return Shop(api, warehouse, channel, skus)


@pytest.fixture
async def shop(api: Api) -> Shop:
    return await _shop(api)


async def test_every_filter_alone_and_combined(shop: Shop, store: Hub) -> None:
    a, b = shop.skus
    phone = _phone()
    orders = [
        order_payload(
            lines=[(a, 1)],
            created_at="2026-11-11T00:00:05+08:00",
            paid_at="2026-11-11T00:01:00+08:00",
            receiver={
                "name": "王小明",
                "phone": f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}",
                "address": "上海市浦东新区世纪大道100号",
            },
        ),
        order_payload(
            lines=[(b, 2)],
            created_at="2026-11-12T10:00:00+08:00",
            paid_at="2026-11-12T10:05:00+08:00",
            receiver={"name": "李雷", "phone": _phone(not_ending=phone[-4:]), "address": "上海市浦东新区世纪大道1号"},
        ),
        order_payload(
            lines=[(a, 1), (b, 1)],
            created_at="2026-11-13T09:00:00+08:00",
            paid_at=None,
            receiver={"name": "李雷", "phone": _phone(not_ending=phone[-4:]), "address": "上海市浦东新区世纪大道2号"},
        ),
    ]
    first, second, third = await shop.push(*orders)
    done = await wait_for_orders(shop.api, [first, second, third])
    assert {o["status"] for o in done.values()} == {"ready"}
    await Order.update({Order.tags: msgspec.json.encode(["VIP", "50%_off"]).decode()}).where(Order.id == first)
    await Order.update({Order.tags: msgspec.json.encode(["VIP2"]).decode()}).where(Order.id == second)

    assert await shop.find() == [third, second, first]
    assert await shop.find(sort="received") == sorted([first, second, third], reverse=True)
    # Created and paid ranges: from inclusive, to exclusive; Z and a space for an unencoded "+" are understood.
    assert await shop.find(created_from="2026-11-11T00:00:05+08:00", created_to="2026-11-13T09:00:00+08:00") == [
        second,
        first,
    ]
    assert await shop.find(created_from="2026-11-12T02:00:00Z") == [third, second]
    assert await shop.find(created_to="2026-11-11T00:00:06 08:00") == [first]
    assert await shop.find(paid_from="2026-11-12T00:00:00+08:00") == [second]
    assert await shop.find(paid_to="2026-11-12T00:00:00+08:00") == [first]
    # Platform order number, status, warehouse by code and by id, SKU, tag (a whole tag; % and _ are no wildcards).
    assert await shop.find(external_id=orders[1]["external_id"]) == [second]
    assert await shop.find(status="ready") == [third, second, first]
    assert await shop.find(status="held") == []
    assert await shop.find(warehouse=shop.warehouse["code"]) == [third, second, first]
    assert await shop.find(warehouse=str(shop.warehouse["id"])) == [third, second, first]
    other = await create_warehouse(shop.api)
    assert await shop.find(warehouse=other["code"]) == []
    assert await shop.find(warehouse=unique("NOPE")) == []
    assert await shop.find(sku=a) == [third, first]
    assert await shop.find(sku=b) == [third, second]
    assert await shop.find(sku=a[:-1]) == []
    assert await shop.find(tag="VIP") == [first]
    assert await shop.find(tag="50%_off") == [first]
    assert await shop.find(tag="50%") == [] and await shop.find(tag="VI_") == [] and await shop.find(tag="%") == []
    # The receiver phone: all digits (as written any way) or the last four; never a partial number.
    assert await shop.find(phone=phone) == [first]
    async with shop.api.client() as client:
        alone = (await client.get("/api/v1/orders", params={"phone": f"{phone[:3]} {phone[3:7]} {phone[7:]}"})).json()
    assert [o["id"] for o in alone["items"]] == [first]
    assert await shop.find(phone=phone[-4:]) == [first]
    # Combined: AND.
    assert await shop.find(sku=a, created_from="2026-11-12T00:00:00+08:00") == [third]
    assert await shop.find(sku=a, tag="VIP") == [first]
    assert await shop.find(sku=b, tag="VIP") == []
    assert await shop.find(sku=b, paid_from="2026-11-11T00:00:00+08:00", status="ready") == [second]


async def test_keyset_pages_over_equal_created_times_miss_nothing(shop: Shop) -> None:
    same = "2026-11-20T12:00:00+08:00"
    ids = await shop.push(*[order_payload(lines=[(shop.skus[0], 1)], created_at=same) for _ in range(7)])
    older = await shop.push(order_payload(lines=[(shop.skus[0], 1)], created_at="2026-11-19T12:00:00+08:00"))
    by_created = await shop.find(sort="created")
    assert by_created == [*sorted(ids, reverse=True), *older]
    assert await shop.find(sort="created", created_from=same) == sorted(ids, reverse=True)
    assert await shop.find(sort="received") == sorted([*ids, *older], reverse=True)
    # Orders arriving while someone pages are not repeated and do not shift the pages already read.
    async with shop.api.client() as client:
        page = (
            await client.get("/api/v1/orders", params={"channel": shop.channel, "limit": 3, "sort": "created"})
        ).json()
        await shop.push(order_payload(lines=[(shop.skus[0], 1)], created_at=same))
        rest = (
            await client.get(
                "/api/v1/orders",
                params={"channel": shop.channel, "limit": 200, "sort": "created", "cursor": page["next_cursor"]},
            )
        ).json()
    seen = [o["id"] for o in page["items"]] + [o["id"] for o in rest["items"]]
    assert seen == by_created


async def test_a_corrected_receiver_phone_is_what_search_finds(shop: Shop) -> None:
    (order_id,) = await shop.push(
        order_payload(
            lines=[(shop.skus[0], 1)],
            receiver={"name": "李雷", "phone": "12345", "address": "上海市浦东新区世纪大道100号"},
        )
    )
    held = (await wait_for_orders(shop.api, [order_id]))[order_id]
    assert (held["status"], held["exception_reason"]) == ("exception", "bad_phone")
    phone = _phone()
    async with shop.api.client() as client:
        fixed = await client.patch(
            f"/api/v1/orders/{order_id}/receiver",
            json={"name": "李雷", "phone": phone, "address": "上海市浦东新区世纪大道100号"},
        )
    assert fixed.status_code == 200, fixed.text
    assert await shop.find(phone=phone) == [order_id]
    assert await shop.find(phone=phone[-4:]) == [order_id]
    assert await shop.find(phone="2345") == []


async def test_waybill_number_finds_the_shipped_order(shop: Shop) -> None:
    shipped, other = await shop.push(*[order_payload(lines=[(shop.skus[0], 1)]) for _ in range(2)])
    await wait_for_orders(shop.api, [shipped, other])
    waybill = f"SF{random.randrange(10**12):012d}"
    async with shop.api.client() as client:
        r = await client.post(f"/api/v1/orders/{shipped}/ship", json={"carrier": "SF", "waybill_no": waybill})
        assert r.status_code == 200, r.text
        assert r.json()["waybill_no"] == waybill
        everywhere = (await client.get("/api/v1/orders", params={"waybill_no": waybill})).json()
    assert [o["id"] for o in everywhere["items"]] == [shipped]
    assert await shop.find(waybill_no=waybill[:-1]) == []


async def test_a_user_bound_to_a_warehouse_finds_only_its_orders(shop: Shop) -> None:
    (order_id,) = await shop.push(order_payload(lines=[(shop.skus[0], 1)]))
    await wait_for_orders(shop.api, [order_id])
    other = await create_warehouse(shop.api)
    username, password = unique("mgr"), "pass-word-123"
    async with shop.api.client() as client:
        r = await client.post(
            "/api/v1/users",
            json={"username": username, "password": password, "role": "manager", "warehouse": other["code"]},
        )
        assert r.status_code == 201, r.text
        login = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    bound = Api(shop.api.base_url, login.json()["access_token"])
    async with bound.client() as client:
        mine = (await client.get("/api/v1/orders", params={"channel": shop.channel})).json()
        asked = (
            await client.get("/api/v1/orders", params={"channel": shop.channel, "warehouse": shop.warehouse["code"]})
        ).json()
        exported = await client.get("/api/v1/orders/export", params={"channel": shop.channel})
    assert mine["items"] == [] and asked["items"] == []
    assert exported.status_code == 200 and len(list(csv.reader(io.StringIO(exported.text)))) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"created_from": "2026-11-11T00:00:00"}, "created_from"),  # no offset: refused, not guessed
        ({"paid_to": "2026-11-11"}, "paid_to"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"created_from": "2026-11-12T00:00:00+08:00", "created_to": "2026-11-11T00:00:00+08:00"}, "created_to"),
        ({"paid_from": "1899-01-01T00:00:00+08:00"}, "paid_from"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "bzphYmM"}, "cursor"),  # "o:abc"
        ({"phone": "12"}, "phone"),
        ({"phone": "138001"}, "phone"),
        ({"status": "flying"}, "status"),
        ({"sort": "price"}, "sort"),
        ({"sku": "x" * 65}, "sku"),
    ],
)
async def test_bad_search_input_is_a_422_naming_the_field(api: Api, params: dict[str, str], field: str) -> None:
    paths = ["/api/v1/orders"] + ([] if "cursor" in params else ["/api/v1/orders/export"])
    async with api.client() as client:
        for path in paths:
            r = await client.get(path, params=params)
            assert r.status_code == 422, (path, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["field"] == field, (path, r.json())


async def test_a_cursor_of_one_sort_is_refused_by_the_other(shop: Shop) -> None:
    await shop.push(*[order_payload(lines=[(shop.skus[0], 1)]) for _ in range(3)])
    async with shop.api.client() as client:
        page = (await client.get("/api/v1/orders", params={"channel": shop.channel, "limit": 1})).json()
        r = await client.get(
            "/api/v1/orders",
            params={"channel": shop.channel, "limit": 1, "sort": "created", "cursor": page["next_cursor"]},
        )
        bad_format = await client.get("/api/v1/orders/export", params={"format": "pdf"})
    assert r.status_code == 422 and r.json()["field"] == "cursor"
    assert bad_format.status_code == 422 and bad_format.json()["field"] == "format"


async def _export_shop(shop: Shop) -> tuple[list[int], str]:
    phone = "13712345678"
    ids = await shop.push(
        order_payload(
            lines=[(shop.skus[0], 2), (shop.skus[1], 1)],
            created_at="2026-11-11T00:00:05+08:00",
            paid_at="2026-11-10T16:01:00Z",
            shipping_fee=1000,
            discount=500,
            paid_amount=6470,
            receiver={"name": "王小明", "phone": phone, "address": "上海市浦东新区世纪大道100号"},
            buyer_memo='=HYPERLINK("http://evil","点我")',
            seller_memo="@SUM(A1)",
        ),
        order_payload(lines=[(shop.skus[1], 1)], created_at="2026-11-12T00:00:00+08:00", buyer_memo="-1+2"),
    )
    await wait_for_orders(shop.api, ids)
    return ids, phone


async def test_csv_export_is_excel_ready(shop: Shop) -> None:
    (first, second), _ = await _export_shop(shop)
    async with shop.api.client() as client:
        r = await client.get(
            "/api/v1/orders/export", params={"channel": shop.channel, "format": "csv", "sort": "created"}
        )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment;") and ".csv" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the Chinese right
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == export.HEADERS
    assert [int(row[0]) for row in rows[1:]] == [second, first]
    row = dict(zip(rows[0], rows[2], strict=True))
    assert row["下单时间"] == "2026-11-11 00:00:05"  # Asia/Shanghai
    assert row["付款时间"] == "2026-11-11 00:01:00"
    assert row["状态"] == "待拣货" and row["发货仓"] == shop.warehouse["code"]
    assert row["商品（编码×数量）"] == f"{shop.skus[0]}×2；{shop.skus[1]}×1" and row["件数"] == "3"
    assert (row["商品金额（元）"], row["运费（元）"], row["优惠（元）"], row["实付金额（元）"]) == (
        "59.70",
        "10.00",
        "5.00",
        "64.70",
    )
    assert row["收货人"] == "王*明" and row["收货电话"] == "137****5678"
    assert (row["省"], row["市"], row["区/县"]) == ("上海市", "上海市", "浦东新区")
    # Formula injection: a cell that would run as a formula starts with '.
    assert row["买家留言"] == '\'=HYPERLINK("http://evil","点我")' and row["卖家备注"] == "'@SUM(A1)"
    assert dict(zip(rows[0], rows[1], strict=True))["买家留言"] == "'-1+2"
    assert "13712345678" not in r.text
    # The same filters as the list: one order by its SKU and range.
    async with shop.api.client() as client:
        one = await client.get(
            "/api/v1/orders/export",
            params={"channel": shop.channel, "sku": shop.skus[0], "created_to": "2026-11-12T00:00:00+08:00"},
        )
    assert [line.split(",")[0] for line in one.content.decode("utf-8-sig").splitlines()[1:]] == [str(first)]


async def test_xlsx_export_keeps_types_and_never_formulas(shop: Shop) -> None:
    (first, second), _ = await _export_shop(shop)
    async with shop.api.client() as client:
        r = await client.get(
            "/api/v1/orders/export", params={"channel": shop.channel, "format": "xlsx", "sort": "created"}
        )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows())
    assert tuple(c.value for c in rows[0]) == export.HEADERS
    assert [c[0].value for c in rows[1:]] == [second, first]
    cells = {h: c for h, c in zip(export.HEADERS, rows[2], strict=True)}
    assert cells["下单时间"].value == datetime(2026, 11, 11, 0, 0, 5)
    assert cells["实付金额（元）"].value == pytest.approx(64.70) and cells["实付金额（元）"].number_format == "0.00"
    assert cells["收货电话"].value == "137****5678"
    memo = cells["买家留言"]
    assert memo.value == '=HYPERLINK("http://evil","点我")' and memo.data_type == "s"  # text, not a formula


async def test_export_refuses_a_result_above_the_cap(shop: Shop, store: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    await shop.push(*[order_payload(lines=[(shop.skus[0], 1)]) for _ in range(3)])
    monkeypatch.setattr(export, "MAX_ROWS", 2)
    with pytest.raises(ValidationFailed) as refused:
        await export.prepare_export(OrderFilter(channel=shop.channel), "csv")
    assert refused.value.code == "export_too_large" and refused.value.extra["total"] == 3
    assert await export.prepare_export(OrderFilter(channel=shop.channel, sku=unique("none")), "xlsx") == "xlsx"
    # Streamed a page at a time: more orders than a page still all arrive, once.
    monkeypatch.setattr(export, "PAGE_SIZE", 2)
    chunks = [chunk async for chunk in export.stream_export(OrderFilter(channel=shop.channel), export.ExportFormat.CSV)]
    lines = b"".join(chunks).decode("utf-8-sig").splitlines()
    assert len(lines) == 4 and len({line.split(",")[0] for line in lines[1:]}) == 3


async def test_the_backfill_indexes_orders_stored_before_it(
    shop: Shop, store: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = _phone()
    (order_id,) = await shop.push(
        order_payload(
            lines=[(shop.skus[0], 1)],
            receiver={"name": "韩梅梅", "phone": phone, "address": "上海市浦东新区世纪大道100号"},
        )
    )
    await wait_for_orders(shop.api, [order_id])
    await Order.update({Order.receiver_phone_key: "", Order.receiver_phone_tail: ""}).where(Order.id == order_id)
    assert await shop.find(phone=phone) == []
    monkeypatch.setenv("PICCOLO_CONF", "server.piccolo_conf")  # how `orderhub migrate` runs it
    # This process tests both back ends in turn: the conf module and the migration bind their engine on import,
    # so both are loaded afresh for this hub's database (one `orderhub migrate` process has one database).
    for name in ("server.piccolo_conf", "migrations.orderhub_2026_12_06t19_05_01_000000"):
        sys.modules.pop(name, None)
    migration = importlib.import_module("migrations.orderhub_2026_12_06t19_05_01_000000")
    manager = await migration.forwards()
    for step in manager.raw:
        await step()
    assert await shop.find(phone=phone) == [order_id]
    assert await shop.find(phone=phone[-4:]) == [order_id]


def test_money_in_the_export_is_yuan_with_two_decimals() -> None:
    assert export._yuan(6470) == Decimal("64.70") and export._yuan(1) == Decimal("0.01")


def test_long_numbers_stay_text_in_excel() -> None:
    """A 19-digit 抖店 order number or a long waybill would show as 6.91234E+18 in Excel and lose digits when saved:
    the CSV cell carries a trailing tab, which keeps it text; short numbers and formulas are as before."""
    assert export._csv_text("6912345678901234567") == "6912345678901234567\t"
    assert export._csv_text("SF1234567890123") == "SF1234567890123"
    assert export._csv_text("12345") == "12345"
    assert export._csv_text("=1+2") == "'=1+2"
