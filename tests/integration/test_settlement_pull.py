"""Settlement pulled from the platforms through the hub (``POST /api/v1/finance/settlements/pull``, what the hourly
cron runs per due day) against the simulators, on each back end: a Taobao shop's Alipay account bill (RSA2, the
short-lived URL to a zip of GBK CSVs) and a 抖店 shop's settled-order bill over several pages and its account items;
the lines are matched to the shop's shipped orders and reconciled, a day pulled again changes nothing, and a day the
platform has not produced yet is reported as not ready."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from orderhub.clock import SHANGHAI
from orderhub.finance import reconcile
from sandbox.platforms import PlatformServer, running_platforms
from tests.support.factories import Api, create_sku, create_warehouse, order_payload, set_stock, unique, wait_for_orders

SIMULATOR = running_platforms


async def _shop(api: Api, sim: PlatformServer, platform: str, sim_name: str, warehouse: str) -> tuple[str, Any]:
    seller = sim.store.create_seller(sim_name)
    code = unique(platform[:4])
    async with api.client() as client:
        r = await client.post(
            "/api/v1/channels",
            json={
                "code": code,
                "platform": platform,
                "name": f"{platform} 对账店",
                "default_warehouse": warehouse,
                "credentials": {
                    "app_key": seller.app_key,
                    "app_secret": seller.app_secret,
                    "access_token": seller.access_token,
                    "refresh_token": seller.refresh_token,
                    "shop_id": seller.shop_id,
                    "base_url": sim.url(sim_name),
                },
                "pull_enabled": False,
            },
        )
        assert r.status_code == 201, r.text
        r = await client.put(f"/api/v1/finance/fees/{code}", json={"commission_bp": 500})
        assert r.status_code == 200, r.text
    return code, seller


async def _shipped(api: Api, channel: str, sku: str, external_ids: list[str], paid: int) -> None:
    orders = [order_payload(external_id=e, lines=[(sku, 1)], paid_amount=paid) for e in external_ids]
    async with api.client() as client:
        r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": orders})
        assert r.status_code in (200, 202), r.text
        ids = [o["order_id"] for o in r.json()["results"]]
        done = await wait_for_orders(api, ids)
        assert {o["status"] for o in done.values()} == {"ready"}, done
        gate = asyncio.Semaphore(8)

        async def ship(order_id: int) -> None:
            async with gate:
                r = await client.post(
                    f"/api/v1/orders/{order_id}/ship", json={"carrier": "sf", "waybill_no": unique("SF")}
                )
                assert r.status_code == 200, r.text

        await asyncio.gather(*(ship(order_id) for order_id in ids))
    await reconcile.refresh_stale()


async def _pull(api: Api, channel: str, day: Any) -> dict[str, Any]:
    async with api.client() as client:
        r = await client.post("/api/v1/finance/settlements/pull", json={"channel": channel, "day": day.isoformat()})
        assert r.status_code == 200, r.text
        return dict(r.json())


async def _day(api: Api, channel: str, day: Any) -> dict[str, Any]:
    async with api.client() as client:
        r = await client.get(
            "/api/v1/finance/reconciliation/daily", params={"day": day.isoformat(), "channel": channel}
        )
        assert r.status_code == 200, r.text
        rows = r.json()["rows"]
        assert len(rows) == 1, rows
        return dict(rows[0])


async def _alipay_settings(api: Api, sim: PlatformServer, code: str, app: Any, **more: str) -> dict[str, Any]:
    """The shop's Alipay app (id and keys) and Alipay's public key at the simulator, saved for the settlement pull."""
    extra = {
        "alipay_app_id": app.app_id,
        "alipay_private_key": app.app_private_key_pem,
        "alipay_public_key": sim.store.alipay_public_key_pem,
        "alipay_gateway": sim.alipay_url,
        **more,
    }
    async with api.client() as client:
        r = await client.put(f"/api/v1/finance/settlement-settings/{code}", json={"extra": extra})
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture(scope="module")
async def floor(store: Any, api: Api) -> tuple[str, str]:
    warehouse = (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    await set_stock(api, sku=sku, warehouse=warehouse, qty=1_000)
    return warehouse, sku


async def test_taobao_alipay_bill_pulled_and_reconciled(api: Api, sim: PlatformServer, floor: tuple[str, str]) -> None:
    warehouse, sku = floor
    code, seller = await _shop(api, sim, "taobao", "taobao", warehouse)
    app = sim.store.create_alipay_app(app_key=seller.app_key)
    saved = await _alipay_settings(api, sim, code, app)
    assert "alipay_private_key" in saved["extra_keys"] and "BEGIN" not in str(saved)  # the keys are never returned
    # switching the pull off and on again keeps them
    async with api.client() as client:
        for enabled in (False, True):
            r = await client.put(f"/api/v1/finance/settlement-settings/{code}", json={"enabled": enabled})
            assert r.status_code == 200 and "alipay_private_key" in r.json()["extra_keys"], r.text
    tids = [str(random.randrange(10**15, 10**16)) for _ in range(3)]
    await _shipped(api, code, sku, tids, 10_000)
    day = datetime.now(UTC).astimezone(SHANGHAI).date() - timedelta(days=2)
    for tid in tids:
        sim.store.add_alipay_bill_row(
            app.app_id, day, {"商户订单号": f"T200P{tid}", "商品名称": "羊毛围巾（灰色）", "收入金额（+元）": 10_000,
                              "业务类型": "交易付款"},
        )  # fmt: skip
    # the last order's buyer was refunded 30 元 on the platform; the hub never heard of it
    sim.store.add_alipay_bill_row(
        app.app_id, day, {"商户订单号": f"T200P{tids[-1]}", "支出金额（-元）": -3_000, "业务类型": "交易退款"}
    )
    outcome = await _pull(api, code, day)
    assert outcome["status"] == "done" and outcome["lines"] == 4, outcome
    row = await _day(api, code, day)
    # Alipay's account bill carries no commission here (it comes with TOP's fee bill): 5 % of each is expected
    assert row["orders"] == 3 and row["settled"] == 30_000 - 3_000
    causes = {c["cause"]: c["amount"] for c in row["causes"]}
    assert causes == {"commission_diff": 1_500, "refund_not_synced": -3_000}, row
    again = await _pull(api, code, day)
    assert again["status"] == "done"
    assert await _day(api, code, day) == row | {"causes": row["causes"]}
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    assert (await _pull(api, code, today))["status"] == "not_ready"


async def test_douyin_settled_orders_pulled_over_pages(api: Api, sim: PlatformServer, floor: tuple[str, str]) -> None:
    warehouse, sku = floor
    code, seller = await _shop(api, sim, "douyin", "douyin", warehouse)
    ids = [str(random.randrange(10**17, 10**18)) for _ in range(120)]
    await _shipped(api, code, sku, ids, 9_900)
    day = datetime.now(UTC).astimezone(SHANGHAI).date() - timedelta(days=2)
    noon = datetime.combine(day, time(12), SHANGHAI)
    for n, shop_order_id in enumerate(ids):
        sim.store.add_douyin_settlement(
            seller.app_key, shop_order_id=shop_order_id, settle_time=noon + timedelta(seconds=n),
            real_pay_amount=9_900, platform_coupon=0, platform_service_fee=495, commission=0,
        )  # fmt: skip
    outcome = await _pull(api, code, day)
    assert outcome["status"] == "done" and outcome["lines"] >= 240, outcome
    row = await _day(api, code, day)
    assert row["orders"] == 120 and row["difference"] == 0 and row["causes"] == [], row


async def test_taobao_commission_from_top_fee_bills(api: Api, sim: PlatformServer, floor: tuple[str, str]) -> None:
    """The shop's commission comes in TOP's fee bill (taobao.bill.bills.get, the second page of a Taobao pull): one
    天猫佣金 bill per order, ``amount`` in fen, positive for a fee charged (the doc: 账单金额，退款时返回的是负数), with
    the Alipay 商户订单号 in ``alipay_outno``. With 5 % expected and 5 % charged there is no commission difference."""
    warehouse, sku = floor
    code, seller = await _shop(api, sim, "taobao", "taobao", warehouse)
    app = sim.store.create_alipay_app(app_key=seller.app_key)
    await _alipay_settings(api, sim, code, app, top_fee_bills="1")  # the fees from TOP's fee bills
    tids = [str(random.randrange(10**15, 10**16)) for _ in range(3)]
    await _shipped(api, code, sku, tids, 10_000)
    day = datetime.now(UTC).astimezone(SHANGHAI).date() - timedelta(days=2)
    noon = datetime.combine(day, time(12), SHANGHAI)
    for n, tid in enumerate(tids):
        sim.store.add_alipay_bill_row(
            app.app_id, day, {"商户订单号": f"T200P{tid}", "收入金额（+元）": 10_000, "业务类型": "交易付款"}
        )
        sim.store.add_top_fee_bill(
            seller.app_key, amount=500, total_amount=10_000, pay_time=noon + timedelta(minutes=n), trade_id=tid,
            account_id=10003011, alipay_outno=f"T200P{tid}",
        )  # fmt: skip
    outcome = await _pull(api, code, day)
    calls = [r for r in sim.store.requests("taobao", method="taobao.bill.bills.get") if r.app_key == seller.app_key]
    assert calls and {c.outcome for c in calls} == {"ok"}, [(c.params, c.outcome) for c in calls]
    assert outcome["status"] == "done" and outcome["lines"] == 6, outcome
    row = await _day(api, code, day)
    assert row["orders"] == 3 and row["settled"] == 30_000 - 1_500, row
    assert row["difference"] == 0 and row["causes"] == [], row


async def test_taobao_two_fee_bills_on_one_trade(api: Api, sim: PlatformServer, floor: tuple[str, str]) -> None:
    """One trade, two fee bills the same day (天猫佣金 and 天猫积分, each its own ``bid``, the same Alipay 商户订单号):
    both are settlement lines."""
    warehouse, _ = floor
    code, seller = await _shop(api, sim, "taobao", "taobao", warehouse)
    app = sim.store.create_alipay_app(app_key=seller.app_key)
    await _alipay_settings(api, sim, code, app, top_fee_bills="1")  # the fees from TOP's fee bills
    day = datetime.now(UTC).astimezone(SHANGHAI).date() - timedelta(days=2)
    noon = datetime.combine(day, time(12), SHANGHAI)
    sim.store.open_alipay_bill(app.app_id, day)
    tid = str(random.randrange(10**15, 10**16))
    sim.store.add_top_fee_bill(seller.app_key, amount=500, pay_time=noon, trade_id=tid, account_id=10003011)
    sim.store.add_top_fee_bill(seller.app_key, amount=100, pay_time=noon, trade_id=tid, account_id=10005011)
    async with api.client() as client:
        r = await client.post("/api/v1/finance/settlements/pull", json={"channel": code, "day": day.isoformat()})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "done" and r.json()["lines"] == 2, r.json()
    assert (await _day(api, code, day))["settled"] == -600
