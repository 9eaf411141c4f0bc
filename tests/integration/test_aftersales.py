"""After-sale cases as records of their own (orderhub.orders.aftersales, /api/v1/aftersales, the PDA's receiving
scan), against a real hub on each back end:

* a partial and then a full refund: the money effect (``order.refund_recorded`` with ``at``, ``after_sale_id``,
  ``source``, ``kind``) written once per case, a refund above what is left refused (``refund_exceeds_paid``) and a
  case refunded twice refused (``after_sale_bad_status``);
* return and refund with receiving scans: good units back to available stock, damaged ones counted, not available;
  a resent scan changes nothing; the refund only once the goods are back;
* an exchange: the goods received, the replacement order made, the case closed;
* a reship through an approval flow: the case waits for the request, approving it makes the replacement order;
  rejecting another rejects its case;
* a platform's refund (a 抖店 售后 push) sent twice makes one case, its refund once;
* PostgreSQL, truly parallel connections: refunds of one order racing never exceed what was paid."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from saq.queue.redis import RedisQueue

from orderhub import db
from orderhub.approvals import engine, flows
from orderhub.auth.service import NewUser, create_user
from orderhub.channels.douyin.webhook import DouyinPushReceiver
from orderhub.errors import OrderHubError
from orderhub.inventory.service import list_stock
from orderhub.orders import aftersales
from orderhub.orders.errors import OrderError
from tests.integration.test_picking import Floor, Pda
from tests.support.factories import Api, unique, wait_for_orders
from tests.support.hub import Hub

PAID = 2 * 1990  # an order of two units at 19.90 元


class _Value(msgspec.Struct):
    value: Any


async def _scalar(sql: str, *args: Any) -> Any:
    row = await db.fetch_one_as(_Value, sql, *args)
    return row.value if row is not None else None


async def _shipped(floor: Floor, sku: str, qty: int = 2) -> int:
    """An order of ``qty`` units of ``sku``, shipped."""
    (order_id,) = await floor.orders([(sku, qty)])
    async with floor.api.client() as client:
        r = await client.post(f"/api/v1/orders/{order_id}/ship", json={"carrier": "SF", "waybill_no": unique("SF")})
    assert r.status_code in (200, 201), r.text
    return order_id


async def _create(api: Api, **body: Any) -> Any:
    async with api.client() as client:
        return await client.post("/api/v1/aftersales", json=body)


async def _act(api: Api, case_id: int, action: str, body: dict[str, Any] | None = None) -> Any:
    async with api.client() as client:
        return await client.post(f"/api/v1/aftersales/{case_id}/{action}", json=body or {})


async def _refunds(api: Api, order_id: int) -> list[dict[str, Any]]:
    async with api.client() as client:
        order = (await client.get(f"/api/v1/orders/{order_id}")).json()
    return [e["data"] for e in order["events"] if e["type"] == "order.refund_recorded"]


async def _stock(sku: str, warehouse: str) -> tuple[int, int]:
    level = (await list_stock(sku=sku, warehouse=warehouse)).items[0]
    return level.on_hand, level.available


@pytest.fixture
async def floor(api: Api, store: Hub) -> Floor:
    return await Floor(api, store.url).setup(pick_mode="order", skus=2)


# ------------------------------------------------------------------------------------------------------ refunds


async def test_partial_then_full_refund_is_recorded_once_and_never_above_what_was_paid(api: Api, floor: Floor) -> None:
    order_id = await _shipped(floor, floor.codes[0])

    first = await _create(api, order_id=order_id, kind="refund_only", refund_amount=1000, reason="少发赠品")
    assert first.status_code == 201, first.text
    case = first.json()
    assert (case["status"], case["source"], case["refunded_amount"], case["request_id"]) == (
        "refunded",
        "api",
        1000,
        None,
    )
    assert case["refunded_at"].endswith("+08:00")  # shown in Asia/Shanghai
    (money,) = await _refunds(api, order_id)
    assert (money["amount"], money["after_sale_id"], money["source"], money["kind"]) == (
        1000,
        case["id"],
        "api",
        "refund_only",
    )
    assert money["refunded_total"] == 1000
    assert abs(datetime.fromisoformat(money["at"]) - datetime.fromisoformat(case["refunded_at"])) < timedelta(seconds=1)

    # refunding the same case again: refused, nothing recorded twice
    again = await _act(api, case["id"], "refund")
    assert again.status_code == 409 and again.json()["code"] == OrderError.AFTER_SALE_BAD_STATUS, again.text

    # above what is left (3,980 − 1,000 = 2,980): refused with its code, no case left behind
    too_much = await _create(api, order_id=order_id, kind="refund_only", refund_amount=2981)
    assert too_much.status_code == 409, too_much.text
    assert (too_much.json()["code"], too_much.json()["field"]) == (OrderError.REFUND_EXCEEDS_PAID, "refund_amount")

    rest = await _create(api, order_id=order_id, kind="refund_only", refund_amount=PAID - 1000, reason="全额退款")
    assert rest.status_code == 201 and rest.json()["status"] == "refunded", rest.text
    assert [m["amount"] for m in await _refunds(api, order_id)] == [1000, PAID - 1000]
    one_fen = await _create(api, order_id=order_id, kind="refund_only", refund_amount=1)
    assert one_fen.status_code == 409 and one_fen.json()["code"] == OrderError.REFUND_EXCEEDS_PAID

    async with api.client() as client:
        listed = (await client.get("/api/v1/aftersales", params={"order_id": order_id})).json()
        assert [c["id"] for c in listed["items"]] == [rest.json()["id"], case["id"]]
        detail = (await client.get(f"/api/v1/aftersales/{case['id']}")).json()
        assert [c["action"] for c in detail["changes"]] == ["created", "approved", "refunded"]
        missing = await client.get("/api/v1/aftersales/2147483000")
        assert missing.status_code == 404 and missing.json()["code"] == OrderError.AFTER_SALE_NOT_FOUND
        bad = await client.post("/api/v1/aftersales", json={"order_id": order_id, "kind": "refund_only"})
        assert bad.status_code == 422 and bad.json()["code"] == OrderError.AFTER_SALE_NO_AMOUNT, bad.text


# ------------------------------------------------------------------------------------------------------ returns


async def test_return_and_refund_puts_good_units_back_and_counts_damaged_ones(
    api: Api, store: Hub, floor: Floor
) -> None:
    sku = floor.codes[0]
    order_id = await _shipped(floor, sku, qty=3)
    before = await _stock(sku, floor.warehouse)
    wrong = await _create(
        api, order_id=order_id, kind="return_refund", refund_amount=1990, lines=[{"sku": sku, "qty": 4}]
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == OrderError.AFTER_SALE_BAD_LINES, wrong.text

    r = await _create(
        api, order_id=order_id, kind="return_refund", refund_amount=2 * 1990, lines=[{"sku": sku, "qty": 2}]
    )
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["status"] == "returning"
    early = await _act(api, case["id"], "refund")  # not before the goods are back
    assert early.status_code == 409 and early.json()["code"] == OrderError.AFTER_SALE_BAD_STATUS

    receiver = await Pda.sign_in(floor.url, await floor.person("packer"))
    url = f"/pda/v1/returns/{case['id']}/receive"
    good = {"client_id": uuid.uuid4().hex, "sku": floor.skus[sku]["barcode"], "qty": 1, "condition": "good"}
    answers = [await receiver.http.post(url, json=good) for _ in range(2)]  # a resent scan: the same, once
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert (answers[0].json()["duplicate"], answers[1].json()["duplicate"]) == (False, True)
    assert await _stock(sku, floor.warehouse) == (before[0] + 1, before[1] + 1)
    reused = await receiver.http.post(url, json={**good, "qty": 2})
    assert reused.status_code == 409 and reused.json()["code"] == OrderError.AFTER_SALE_CLIENT_ID_REUSED
    too_many = await receiver.http.post(url, json={"client_id": uuid.uuid4().hex, "sku": sku, "qty": 2})
    assert too_many.status_code == 409 and too_many.json()["code"] == OrderError.AFTER_SALE_RECEIPT_MISMATCH
    other = await receiver.http.post(url, json={"client_id": uuid.uuid4().hex, "sku": floor.codes[1]})
    assert other.status_code == 409 and other.json()["code"] == OrderError.AFTER_SALE_RECEIPT_MISMATCH

    damaged = {"client_id": uuid.uuid4().hex, "sku": sku, "qty": 1, "condition": "damaged"}
    last = await receiver.http.post(url, json=damaged)
    assert last.status_code == 200, last.text
    assert last.json()["after_sale"]["status"] == "received"
    # the damaged unit is counted, not available
    assert await _stock(sku, floor.warehouse) == (before[0] + 1, before[1] + 1)
    warehouse_id = await _scalar("SELECT id AS value FROM warehouse WHERE code = {}", floor.warehouse)
    assert await aftersales.damaged_count(int(warehouse_id), sku) == 1
    (line,) = last.json()["after_sale"]["lines"]
    assert (line["received_good"], line["received_damaged"]) == (1, 1)
    adjustments = await _scalar(
        "SELECT COUNT(*) AS value FROM stock_adjustment WHERE reason LIKE {}", f"退货入库：售后单 #{case['id']}%"
    )
    assert adjustments == 1
    closed = await receiver.http.post(url, json={"client_id": uuid.uuid4().hex, "sku": sku})
    assert closed.status_code == 409 and closed.json()["code"] == OrderError.AFTER_SALE_NOT_RETURNING

    # less back for the damaged unit: the refund is what the person says, recorded once
    refunded = await _act(api, case["id"], "refund", {"amount": 1990 + 990})
    assert refunded.status_code == 200 and refunded.json()["status"] == "refunded", refunded.text
    (money,) = await _refunds(api, order_id)
    assert (money["amount"], money["kind"], money["after_sale_id"]) == (2980, "return_refund", case["id"])
    await receiver.close()


async def test_an_exchange_sends_the_goods_again_once_they_are_back(api: Api, floor: Floor) -> None:
    sku = floor.codes[1]
    order_id = await _shipped(floor, sku, qty=1)
    r = await _create(api, order_id=order_id, kind="exchange", lines=[{"sku": sku, "qty": 1}], reason="尺码不合适")
    assert r.status_code == 201 and r.json()["status"] == "returning", r.text
    case = r.json()
    receiver = await Pda.sign_in(floor.url, await floor.person("picker"))
    scan = {"client_id": uuid.uuid4().hex, "sku": sku, "qty": 1, "condition": "good"}
    done = await receiver.http.post(f"/pda/v1/returns/{case['id']}/receive", json=scan)
    assert done.status_code == 200, done.text
    after = done.json()["after_sale"]
    assert after["status"] == "closed" and after["reship_order_id"]
    replacement = (await wait_for_orders(api, [after["reship_order_id"]], done=frozenset({"ready"})))[
        after["reship_order_id"]
    ]
    assert replacement["external_id"].endswith(f"-SH{case['id']}") and replacement["paid_amount"] == 0
    assert [(line["sku"], line["qty"]) for line in replacement["lines"]] == [(sku, 1)]
    assert await _refunds(api, order_id) == []  # an exchange moves no money
    await receiver.close()


# ---------------------------------------------------------------------------------------------------- approvals


async def test_a_reship_goes_through_the_approval_flow_configured_for_it(
    api: Api, floor: Floor, queue: RedisQueue
) -> None:
    approver = await create_user(NewUser(username=unique("as-appr"), password="aftersale-1", role="approver"))
    code = unique("as-flow-")
    step = {"name": "售后主管审批", "approvers": [{"by": "user", "user_ids": [approver.id]}], "mode": "any"}
    definition = {
        "kinds": ["refund_reship"],
        "entry": [{"field": "channel", "op": "in", "value": [floor.channel]}],  # this test's orders only
        "steps": [step],
    }
    await flows.create_flow(flows.NewFlow(code=code, name="售后审批", definition=definition), actor="test")
    try:
        order_id = await _shipped(floor, floor.codes[0], qty=1)
        r = await _create(api, order_id=order_id, kind="reship", lines=[{"sku": floor.codes[1], "qty": 1}])
        assert r.status_code == 201, r.text
        case = r.json()
        assert case["status"] == "requested" and case["request_id"], case
        pending = await _act(api, case["id"], "approve")  # decided by the request, not here
        assert pending.status_code == 409 and pending.json()["code"] == OrderError.AFTER_SALE_APPROVAL_PENDING

        result = await engine.approve(case["request_id"], approver.id)
        assert result.status == "approved", result
        async with api.client() as client:
            after = (await client.get(f"/api/v1/aftersales/{case['id']}")).json()
        assert after["status"] == "closed" and after["reship_order_id"], after
        reship = (await wait_for_orders(api, [after["reship_order_id"]], done=frozenset({"ready"})))[
            after["reship_order_id"]
        ]
        assert reship["external_id"].endswith(f"-BF{case['request_id']}")
        assert [c["action"] for c in after["changes"]] == [
            "created",
            "approval_requested",
            "approved",
            "reshipped",
            "closed",
        ]

        # a refund asked for on the same flow and rejected: the case is rejected, no money moves
        second = await _create(api, order_id=order_id, kind="refund_only", refund_amount=500)
        assert second.status_code == 201 and second.json()["status"] == "requested", second.text
        await engine.reject(second.json()["request_id"], approver.id, reason="已补发，不再退款")
        async with api.client() as client:
            rejected = (await client.get(f"/api/v1/aftersales/{second.json()['id']}")).json()
        assert rejected["status"] == "rejected"
        assert await _refunds(api, order_id) == []
    finally:
        await flows.set_active(code, False, actor="test")


# ---------------------------------------------------------------------------------------------------- platforms


def _douyin_push(order_external_id: str, refund_id: int, amount: int, tag: str) -> bytes:
    data = {
        "aftersale_id": refund_id,
        "aftersale_status": 6,
        "aftersale_type": 2,
        "apply_time": 1765000000,
        "p_id": order_external_id,
        "s_id": order_external_id,
        "shop_id": 1,
        "refund_amount": amount,
        "refund_post_amount": 0,
        "reason_code": 1,
        "biz": 2,
    }
    message = {"tag": tag, "msg_id": uuid.uuid4().hex, "data": json.dumps(data)}
    return json.dumps([message]).encode()


async def test_a_platform_refund_sent_again_is_one_case_refunded_once(api: Api, floor: Floor) -> None:
    order_id = await _shipped(floor, floor.codes[0])
    external_id = str(await _scalar("SELECT external_id AS value FROM sales_order WHERE id = {}", order_id))
    channel_id = int(await _scalar("SELECT channel AS value FROM sales_order WHERE id = {}", order_id))
    refund_id = int(uuid.uuid4().int % 10**15)
    receiver = DouyinPushReceiver()

    asked = receiver.read(_douyin_push(external_id, refund_id, 1500, "200"))
    for _ in range(2):  # 抖店 delivers a message at least once
        await aftersales.record_platform_refunds(channel_id, asked.refunds, actor="push:douyin")
    async with api.client() as client:
        (case,) = (await client.get("/api/v1/aftersales", params={"order_id": order_id})).json()["items"]
    assert (case["source"], case["status"], case["platform_refund_id"], case["refund_amount"]) == (
        "platform",
        "requested",
        str(refund_id),
        1500,
    )
    assert await _refunds(api, order_id) == []

    done = receiver.read(_douyin_push(external_id, refund_id, 1500, "207"))  # 退款成功, sent twice too
    counts = [await aftersales.record_platform_refunds(channel_id, done.refunds, actor="push:douyin") for _ in range(2)]
    assert (counts[0]["refunded"], counts[1]["refunded"], counts[1]["unchanged"]) == (1, 0, 1)
    (money,) = await _refunds(api, order_id)
    assert (money["amount"], money["source"], money["after_sale_id"]) == (1500, "platform", case["id"])
    assert datetime.fromisoformat(money["at"]) == datetime(2025, 12, 6, 5, 46, 40, tzinfo=UTC)  # the platform's
    count = await _scalar('SELECT COUNT(*) AS value FROM after_sale WHERE "order" = {}', order_id)
    assert count == 1


# -------------------------------------------------------------------------------------------------- concurrency


@pytest.mark.postgres_only
async def test_parallel_refunds_of_one_order_never_exceed_what_was_paid(api: Api, floor: Floor) -> None:
    order_id = await _shipped(floor, floor.codes[0])  # paid 3,980
    # six refunds of 1,000 fen, each on its own connection at the same time: three fit
    outcomes: list[str] = []

    async def attempt() -> None:
        try:
            await aftersales.create_after_sale(
                aftersales.NewAfterSale(
                    order_id=order_id, kind=aftersales.AfterSaleKind.REFUND_ONLY, refund_amount=1000
                ),
                actor="test",
            )
            outcomes.append("ok")
        except OrderHubError as exc:
            outcomes.append(str(exc.code))

    await asyncio.gather(*(attempt() for _ in range(6)))
    assert sorted(outcomes) == ["ok"] * 3 + [OrderError.REFUND_EXCEEDS_PAID] * 3, outcomes
    amounts = [m["amount"] for m in await _refunds(api, order_id)]
    assert sum(amounts) == 3000 <= PAID and len(amounts) == 3
    refunded = await _scalar(
        "SELECT COUNT(*) AS value FROM after_sale WHERE \"order\" = {} AND status = 'refunded'", order_id
    )
    assert int(refunded) == 3
