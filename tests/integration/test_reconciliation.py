"""Settlement reconciliation against a real hub on each back end (issue 18).

A constructed bill day across four platforms' shops, built so the sellers' own reconciliation table comes out right
cause by cause: 运费补贴未计入 +50 元 (淘宝), 退款延迟同步 −10,200 元 (拼多多: three refunds the hub never heard of),
优惠券抵扣方式不同 −7,150 元 (抖店: platform coupons the platform did not pay back), and a 视频号 shop whose line names
no order of ours (无对应订单). Around it: a refund after settlement (the hub records it after the platform paid; the
deduction arrives on a later bill and balances it), a partial refund on one order of a merged shipment, a corrected
bill replacing exactly the line it corrects, and re-running a day changing nothing. Every total equals the sum of its
lines."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from orderhub import clock, db
from orderhub.finance import fees, reconcile
from orderhub.orders import aftersale
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

DAY = date(2026, 11, 30)
SETTLED = datetime.combine(DAY, time(10, 0), tzinfo=clock.SHANGHAI).astimezone(UTC)


async def _shop(client: httpx.AsyncClient, api: Api, warehouse: str, fees: dict[str, Any]) -> str:
    code, _ = await create_channel(api, warehouse=warehouse)
    r = await client.put(f"/api/v1/finance/fees/{code}", json=fees)
    assert r.status_code == 200, r.text
    return code


async def _orders(
    client: httpx.AsyncClient, api: Api, channel: str, orders: list[dict[str, Any]], *, ship: bool = True
) -> dict[str, int]:
    r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": orders})
    assert r.status_code in (200, 202), r.text
    ids = {o["external_id"]: o["order_id"] for o in r.json()["results"]}
    done = await wait_for_orders(api, list(ids.values()))
    assert {o["status"] for o in done.values()} == {"ready"}, done
    for order_id in ids.values() if ship else ():
        r = await client.post(f"/api/v1/orders/{order_id}/ship", json={"carrier": "sf", "waybill_no": unique("SF")})
        assert r.status_code == 200, r.text
    return ids


def _line(key: str, external_id: str, kind: str, amount: int, **extra: Any) -> dict[str, Any]:
    return {
        "line_key": key,
        "external_id": external_id,
        "kind": kind,
        "amount": amount,
        "settled_at": extra.pop("settled_at", SETTLED).isoformat(),
        "bill_date": extra.pop("bill_date", DAY).isoformat(),
        **extra,
    }


async def _send(client: httpx.AsyncClient, channel: str, lines: list[dict[str, Any]], batch: str) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/finance/settlements/lines", json={"channel": channel, "batch_key": batch, "lines": lines}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _report(client: httpx.AsyncClient, channel: str) -> dict[str, Any]:
    r = await client.get("/api/v1/finance/reconciliation/daily", params={"day": DAY.isoformat(), "channel": channel})
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert len(rows) == 1, rows
    row = dict(rows[0])
    assert sum(c["amount"] for c in row["causes"]) == row["difference"] == row["settled"] - row["expected"]
    return row


def _causes(row: dict[str, Any]) -> dict[str, int]:
    return {c["cause"]: c["amount"] for c in row["causes"]}


@pytest.fixture(scope="module")
async def shops(store: Hub, api: Api) -> dict[str, Any]:
    """Four shops with their fee settings and shipped orders."""
    warehouse = (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    await set_stock(api, sku=sku, warehouse=warehouse, qty=500)
    async with api.client() as client:
        taobao = await _shop(client, api, warehouse, {"commission_bp": 500})
        pdd = await _shop(client, api, warehouse, {"commission_bp": 60})
        douyin = await _shop(client, api, warehouse, {"commission_bp": 500, "service_fee_fixed": 0})
        wechat = await _shop(client, api, warehouse, {"commission_bp": 100})

        def orders(n: int, paid: int, **extra: Any) -> list[dict[str, Any]]:
            return [order_payload(lines=[(sku, 1)], paid_amount=paid, **extra) for _ in range(n)]

        shops = {
            "taobao": (taobao, await _orders(client, api, taobao, orders(4, 10_000))),
            "pdd": (pdd, await _orders(client, api, pdd, orders(3, 340_000))),
            "douyin": (douyin, await _orders(client, api, douyin, orders(5, 200_000, platform_discount=143_000))),
            "wechat": (wechat, await _orders(client, api, wechat, orders(3, 50_000))),
        }
        await reconcile.refresh_stale()
        return shops


async def test_the_sellers_table_comes_out_cause_by_cause(api: Api, shops: dict[str, Any]) -> None:
    async with api.client() as client:
        # 淘宝: every order paid in full, 5 % commission; one got a 50 元 shipping subsidy the hub never expects.
        code, ids = shops["taobao"]
        lines = []
        for n, ext in enumerate(ids):
            lines += [_line(f"tb-{n}-s", ext, "sale", 10_000), _line(f"tb-{n}-c", ext, "commission", -500)]
        lines.append(_line("tb-0-sub", next(iter(ids)), "shipping_subsidy", 5_000))
        stored = await _send(client, code, lines, "tb-day")
        assert stored["inserted"] == len(lines) and stored["orders"] == len(ids)
        row = await _report(client, code)
        assert row["orders"] == 4 and row["difference"] == 5_000
        assert _causes(row) == {"shipping_subsidy": 5_000}

        # 拼多多: three refunds of 3,400 元 the platform made that the hub never heard of — 10,200 元 synced late.
        code, ids = shops["pdd"]
        lines = []
        for n, ext in enumerate(ids):
            lines += [
                _line(f"pdd-{n}-s", ext, "sale", 340_000),
                _line(f"pdd-{n}-c", ext, "commission", -2_040),
                _line(f"pdd-{n}-r", ext, "refund", -340_000),
            ]
        await _send(client, code, lines, "pdd-day")
        row = await _report(client, code)
        assert _causes(row) == {"refund_not_synced": -1_020_000}
        assert row["causes"][0]["name"] == "退款延迟同步"

        # 抖店: each order carried a 1,430 元 platform coupon the platform did not pay back: −7,150 元.
        code, ids = shops["douyin"]
        lines = []
        for n, ext in enumerate(ids):
            # commission on goods: (2,000 + 1,430) × 5 % = 171.50 元
            lines += [_line(f"dy-{n}-s", ext, "sale", 200_000), _line(f"dy-{n}-c", ext, "commission", -17_150)]
        await _send(client, code, lines, "dy-day")
        row = await _report(client, code)
        assert _causes(row) == {"coupon_diff": -715_000}
        assert row["causes"][0]["name"] == "优惠券抵扣方式不同"

        # 视频号: balanced orders, and a settled amount that names no order of ours.
        code, ids = shops["wechat"]
        lines = []
        for n, ext in enumerate(ids):
            lines += [_line(f"wx-{n}-s", ext, "sale", 50_000), _line(f"wx-{n}-c", ext, "commission", -500)]
        lines.append(_line("wx-stray", "NOT-OURS-1", "sale", 12_300))
        await _send(client, code, lines, "wx-day")
        row = await _report(client, code)
        assert row["orders"] == 3 and _causes(row) == {"unmatched_line": 12_300} and row["flagged"] == 1

        # The whole day: its totals are its rows' sums.
        r = await client.get("/api/v1/finance/reconciliation/daily", params={"day": DAY.isoformat()})
        report = r.json()
        mine = [row for row in report["rows"] if row["channel_name"]]
        assert report["difference"] == sum(row["difference"] for row in report["rows"])
        assert report["settled"] == sum(row["settled"] for row in mine)


async def test_rerun_changes_nothing_and_a_corrected_bill_replaces_its_line(api: Api, shops: dict[str, Any]) -> None:
    code, ids = shops["taobao"]
    ext = list(ids)[1]
    async with api.client() as client:
        before = await _report(client, code)
        r = await client.post("/api/v1/finance/reconciliation/rerun", json={"channel": code, "day": DAY.isoformat()})
        assert r.status_code == 200, r.text
        again = await _report(client, code)
        assert {k: again[k] for k in ("settled", "expected", "difference", "causes")} == {
            k: before[k] for k in ("settled", "expected", "difference", "causes")
        }
        # The same bill sent again: nothing new.
        stored = await _send(client, code, [_line("tb-1-s", ext, "sale", 10_000)], "tb-day-again")
        assert stored["unchanged"] == 1 and stored["inserted"] == stored["replaced"] == 0
        # The platform corrects one line (commission 5 % → 6 %): that line is replaced, the others stay.
        stored = await _send(client, code, [_line("tb-1-c", ext, "commission", -600)], "tb-correction")
        assert stored["replaced"] == 1 and stored["orders"] == 1
        row = await _report(client, code)
        assert row["settled"] == before["settled"] - 100
        assert _causes(row) == {"shipping_subsidy": 5_000, "commission_diff": -100}
        # put it back as it was
        await _send(client, code, [_line("tb-1-c", ext, "commission", -500)], "tb-correction-2")


async def test_refund_after_settlement_then_its_deduction(api: Api, shops: dict[str, Any]) -> None:
    code, ids = shops["wechat"]
    ext, order_id = next(iter(ids.items()))
    async with api.client() as client:
        # settled in full on DAY; the buyer is refunded 100 元 afterwards
        await aftersale.record_refund(order_id, amount=10_000, reason="质量问题", request_id=None, actor="test")
        await reconcile.refresh_stale()
        r = await client.get("/api/v1/finance/differences", params={"channel": code})
        mine = [d for d in r.json()["items"] if d["external_id"] == ext]
        assert len(mine) == 1, r.json()
        parts = {p["cause"]: p["amount"] for p in mine[0]["parts"]}
        # the platform paid 100 元 more than now expected, and hands back 1 元 of commission with the refund
        assert parts == {"refund_after_settlement": 10_000, "commission_diff": -100}
        # the platform's next bill deducts the refund and returns the commission: the order balances
        later = SETTLED + timedelta(days=3)
        await _send(
            client,
            code,
            [
                _line("wx-0-r", ext, "refund", -10_000, settled_at=later, bill_date=DAY + timedelta(days=3)),
                _line("wx-0-cr", ext, "commission", 100, settled_at=later, bill_date=DAY + timedelta(days=3)),
            ],
            "wx-later",
        )
        r = await client.get(f"/api/v1/finance/differences/{mine[0]['id']}")
        assert r.json()["difference"] == 0 and r.json()["status"] == "balanced"


async def test_resolving_a_difference(api: Api, shops: dict[str, Any]) -> None:
    code, _ = shops["wechat"]
    async with api.client() as client:
        r = await client.get("/api/v1/finance/differences", params={"channel": code, "cause": "unmatched_line"})
        stray = r.json()["items"][0]
        r = await client.post(f"/api/v1/finance/differences/{stray['id']}/resolve", json={"action": "claim"})
        assert r.status_code == 422 and r.json()["field"] == "note"
        r = await client.post(f"/api/v1/finance/differences/{stray['id']}/resolve", json={"action": "pay", "note": "x"})
        assert r.status_code == 422 and r.json()["code"] == "recon_bad_resolution"
        r = await client.post(
            f"/api/v1/finance/differences/{stray['id']}/resolve", json={"action": "claim", "note": "已向平台申诉"}
        )
        assert r.status_code == 200 and r.json()["resolution"] == "claim"
        r = await client.get("/api/v1/finance/differences", params={"channel": code, "cause": "unmatched_line"})
        assert r.json()["items"] == []


async def test_bad_lines_are_refused_whole(api: Api, shops: dict[str, Any]) -> None:
    code, ids = shops["taobao"]
    ext = list(ids)[2]
    async with api.client() as client:
        r = await client.post(
            "/api/v1/finance/settlements/lines",
            json={
                "channel": code,
                "batch_key": "bad",
                "lines": [_line("dup-1", ext, "sale", 1), _line("dup-1", ext, "sale", 2)],
            },
        )
        assert r.status_code == 422 and r.json()["code"] == "settlement_duplicate_line"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == "lines[1].line_key"
        rows = await db.fetch_as(_Count, "SELECT COUNT(*) AS n FROM settlement_line WHERE line_key = {}", "dup-1")
        assert rows[0].n == 0


class _Count(msgspec.Struct):
    n: int


async def test_partial_refund_on_a_merged_shipment(store: Hub, api: Api) -> None:
    """Two orders of one buyer merged into one parcel (合单); one of them is partly refunded: only its payout moves,
    and the platform's bill — a sale per order and the refund on the second — balances both."""
    warehouse = (await create_warehouse(api))["code"]
    skus = [await create_sku(api), await create_sku(api)]
    for sku in skus:
        await set_stock(api, sku=sku, warehouse=warehouse, qty=10)
    receiver = {"name": "合单测试", "phone": "13911112222", "address": "上海市浦东新区世纪大道100号"}
    async with api.client() as client:
        code = await _shop(client, api, warehouse, {"commission_bp": 500})
        orders = [
            order_payload(lines=[(skus[0], 1)], paid_amount=10_000, receiver=receiver),
            order_payload(lines=[(skus[1], 2)], paid_amount=20_000, receiver=receiver),
        ]
        ids = await _orders(client, api, code, orders, ship=False)
        (ext_a, id_a), (ext_b, id_b) = ids.items()
        a = (await client.get(f"/api/v1/orders/{id_a}")).json()
        b = (await client.get(f"/api/v1/orders/{id_b}")).json()
        parcel = {line["shipment"] for line in a["lines"] + b["lines"]}
        assert len(parcel) == 1 and None not in parcel, (a["lines"], b["lines"])  # one parcel
        for order_id in (id_a, id_b):
            r = await client.post(f"/api/v1/orders/{order_id}/ship", json={"carrier": "sf", "waybill_no": "SF-M1"})
            assert r.status_code == 200, r.text
        await aftersale.record_refund(id_b, amount=6_000, reason="少发一件", request_id=None, actor="test")
        await reconcile.refresh_stale()
        lines = [
            _line("m-a-s", ext_a, "sale", 10_000),
            _line("m-a-c", ext_a, "commission", -500),
            _line("m-b-s", ext_b, "sale", 20_000),
            _line("m-b-r", ext_b, "refund", -6_000, refund_before_settle=True),
            _line("m-b-c", ext_b, "commission", -700),  # 5 % of what was kept (140 元)
        ]
        await _send(client, code, lines, "merged")
        row = await _report(client, code)
        assert row["orders"] == 2 and row["difference"] == 0 and row["causes"] == [], row
        assert row["expected"] == 10_000 - 500 + 20_000 - 6_000 - 700


async def test_the_finance_card_and_who_sees_finance(api: Api, shops: dict[str, Any]) -> None:
    async with api.client() as client:
        day = (await client.get("/api/v1/finance/reconciliation/daily", params={"day": DAY.isoformat()})).json()
        r = await client.get("/api/v1/dash/finance", params={"day": DAY.isoformat()})
        assert r.status_code == 200, r.text
        card = r.json()
        assert (card["settled"], card["expected"], card["difference"]) == (
            day["settled"],
            day["expected"],
            day["difference"],
        )
        assert card["top_causes"][0]["cause"] == "refund_not_synced" and card["open_differences"] >= 1
        r = await client.get("/api/v1/finance/overview", params={"since": "2026-11-01", "until": "2026-11-30"})
        assert r.status_code == 200, r.text
        # a manager reads the reconciliation but not the finance view, its card or the fee settings' changes
        name = unique("mgr")
        r = await client.post("/api/v1/users", json={"username": name, "password": "manager-pass-1", "role": "manager"})
        assert r.status_code == 201, r.text
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as anon:
        r = await anon.post("/api/v1/auth/login", json={"username": name, "password": "manager-pass-1"})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert (await anon.get("/api/v1/finance/overview", headers=headers)).status_code == 403
        assert (await anon.get("/api/v1/dash/finance", headers=headers)).status_code == 403
        code, _ = shops["taobao"]
        r = await anon.put(f"/api/v1/finance/fees/{code}", headers=headers, json={"commission_bp": 1})
        assert r.status_code == 403
        r = await anon.get("/api/v1/finance/reconciliation/daily", headers=headers, params={"day": DAY.isoformat()})
        assert r.status_code == 200


@pytest.fixture(scope="module")
async def spare(store: Hub, api: Api) -> tuple[str, int, dict[str, int]]:
    """A shop of its own with six shipped orders of 100 元 and no fees, for the tests that move lines around."""
    warehouse = (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    await set_stock(api, sku=sku, warehouse=warehouse, qty=100)
    async with api.client() as client:
        code = await _shop(client, api, warehouse, {})
        ids = await _orders(client, api, code, [order_payload(lines=[(sku, 1)], paid_amount=10_000) for _ in range(6)])
    channel_id = await fees.channel_id(code)
    await reconcile.refresh_stale()
    return code, channel_id, ids


class _Recon(msgspec.Struct):
    recon_key: str
    settled: int
    difference: int


async def _recon(channel_id: int) -> dict[str, _Recon]:
    rows = await db.fetch_as(
        _Recon, "SELECT recon_key, settled, difference FROM reconciliation WHERE channel = {}", channel_id
    )
    return {row.recon_key: row for row in rows}


async def test_a_corrected_line_moving_to_another_order_leaves_nothing_behind(
    api: Api, spare: tuple[str, int, dict[str, int]]
) -> None:
    code, channel_id, ids = spare
    a, b = list(ids)[:2]
    async with api.client() as client:
        await _send(client, code, [_line("mv-1", a, "sale", 10_000), _line("acct-1", "", "sale", 10_000)], "mv")
        rows = await _recon(channel_id)
        assert rows[f"o:{a}"].difference == 0 and rows["l:acct-1"].settled == 10_000
        # the platform's corrected bill: the first line was B's, and the account line was A's after all
        await _send(client, code, [_line("mv-1", b, "sale", 10_000), _line("acct-1", a, "sale", 10_000)], "mv-fix")
        rows = await _recon(channel_id)
        assert "l:acct-1" not in rows  # no row left for the line on no order
        assert rows[f"o:{a}"].settled == 10_000 and rows[f"o:{b}"].settled == 10_000
        # and when B's line goes away entirely (moved back to A), B's row goes with it
        await _send(client, code, [_line("mv-1", a, "sale", 10_000)], "mv-back")
        rows = await _recon(channel_id)
        assert f"o:{b}" not in rows and rows[f"o:{a}"].settled == 20_000


async def test_a_bill_day_has_one_source(api: Api, spare: tuple[str, int, dict[str, int]]) -> None:
    """The hourly pull stored a day; finance then imports the platform's file for the same day, whose rows are keyed
    another way: the file replaces the pulled day instead of counting its money twice."""
    from orderhub.finance.port import LineKind, SettlementLineIn
    from orderhub.finance.settlements import store_lines

    _, channel_id, ids = spare
    c = list(ids)[2]
    day = DAY + timedelta(days=1)

    def line(key: str) -> SettlementLineIn:
        return SettlementLineIn(line_key=key, external_id=c, kind=LineKind.SALE, amount=10_000, settled_at=SETTLED,
                                bill_date=day)  # fmt: skip

    pulled = await store_lines(channel_id, source="pull", batch_key="pull:day", lines=[line("alipay:1")])
    assert pulled.inserted == 1
    filed = await store_lines(channel_id, source="file", batch_key="file:day", lines=[line("1:in")])
    assert filed.inserted == 1 and filed.superseded == 1
    assert (await _recon(channel_id))[f"o:{c}"].settled == 10_000


@pytest.mark.postgres_only
async def test_parallel_batches_on_one_order_keep_every_line(api: Api, spare: tuple[str, int, dict[str, int]]) -> None:
    """A pull's page and an ERP's lines touching the same orders at the same moment (separate connections): each
    order's row ends with both batches' lines, never only the one that committed last."""
    from orderhub.finance.port import LineKind, SettlementLineIn
    from orderhub.finance.settlements import store_lines

    _, channel_id, ids = spare
    orders = list(ids)[3:6]
    day = DAY + timedelta(days=2)

    def lines(tag: str, kind: LineKind, amount: int) -> list[SettlementLineIn]:
        return [
            SettlementLineIn(
                line_key=f"par-{tag}-{ext}",
                external_id=ext,
                kind=kind,
                amount=amount,
                settled_at=SETTLED,
                bill_date=day,
            )
            for ext in orders
        ]

    for round_ in range(3):
        sales = lines(f"s{round_}", LineKind.SALE, 10_000)
        fees = lines(f"c{round_}", LineKind.COMMISSION, -100)
        await asyncio.gather(
            store_lines(channel_id, source="api", batch_key=f"par-a{round_}", lines=sales),
            store_lines(channel_id, source="api", batch_key=f"par-b{round_}", lines=fees),
        )
        rows = await _recon(channel_id)
        for ext in orders:
            assert rows[f"o:{ext}"].settled == (round_ + 1) * 9_900, (round_, ext, rows[f"o:{ext}"])
