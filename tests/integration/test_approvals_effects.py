"""What approving the after-sale kinds does, against a real hub on each back end:

* ``refund_reship`` (HTTP): the refund is recorded on the order in fen (never above what was paid), a replacement
  order (补发单) of the same channel and receiver at price 0 is created once per request, goes through the normal
  pipeline to ready with its stock reserved, names its original (and the original names it), and ships without a
  platform write-back;
* ``cancel_after_pick``: the units already picked become put-back work (返架) the floor sees on its PDAs and the
  back office, closes once (a replay changes nothing), with units not found written off; stock stays right;
  a packed order's waybill is voided and cancelled at the carrier (SF simulator);
* ``address_change`` in the warehouse: while picking the receiver is replaced in place and the floor told; once
  packed the waybill is voided (SF cancels it), the pack station takes a new one for the new address and ships with
  it; shipped orders stay refused;
* the races (PostgreSQL, truly parallel connections): a waybill request and an address change on one packed order
  (the carrier gets the new address, or the change is refused as temporary: ``waybill_request_pending``), a pick scan
  and the cancellation that lists the picked units (counted, or told to put it back);
* a put-back closes with units missing even when other orders reserved the SKU since (what is free is written off,
  the rest recorded and alerted), and refusals carry specific codes (``cause_code`` / ``temporary`` on a refused
  effect)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import msgspec
import pytest
from saq.queue.redis import RedisQueue

from orderhub import clock, db, events
from orderhub import redis as redis_mod
from orderhub.approvals import engine, flows, kinds
from orderhub.approvals.engine import NewRequest
from orderhub.approvals.errors import ApprovalError
from orderhub.auth.service import NewUser, create_user
from orderhub.catalog.service import NewSku, create_sku
from orderhub.errors import OrderHubError
from orderhub.events import Topic
from orderhub.inventory.service import NewWarehouse, adjust_stock, create_warehouse, list_stock
from orderhub.logistics import waybills
from orderhub.logistics.errors import LogisticsError
from orderhub.orders import aftersale
from orderhub.orders.errors import OrderError
from orderhub.picking import putback
from orderhub.picking.errors import PickingError
from sandbox.carriers.server import CarrierServer
from tests.integration.test_picking import Floor, Pda, Socket
from tests.integration.test_waybills import _packed_order, sf_floor
from tests.support.factories import Api, order_payload, unique, wait_for_orders
from tests.support.hub import Hub

PASSWORD = "effects-pass-1"


# ------------------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def bus(store: Hub) -> Iterator[None]:
    """This process decides (as an API process does): the floor notices its transactions queue go out through the
    hub's Redis to the floor websocket."""
    previous = events.get_bus()
    events.set_bus(events.EventBus(redis_mod.get_client()))
    try:
        yield
    finally:
        events.set_bus(previous)


async def _user(role: str = "approver") -> int:
    user = await create_user(
        NewUser(username=unique("fx"), password=PASSWORD, role=role, display_name=unique("审批人"))
    )
    return user.id


async def _flow(approver: int, *kinds: str) -> str:
    code = unique("fx-flow-")
    step = {"name": "主管审批", "approvers": [{"by": "user", "user_ids": [approver]}], "mode": "any"}
    await flows.create_flow(
        flows.NewFlow(code=code, name="售后审批", definition={"kinds": list(kinds), "steps": [step]}), actor="test"
    )
    return code


async def _refused(call: Awaitable[Any], code: str) -> OrderHubError:
    with pytest.raises(OrderHubError) as caught:
        await call
    assert caught.value.code == code, caught.value
    return caught.value


async def _eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def _events(order: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in order["events"] if e["type"] == kind]


async def _order(api: Api, order_id: int) -> dict[str, Any]:
    async with api.client() as client:
        r = await client.get(f"/api/v1/orders/{order_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


class _Value(msgspec.Struct):
    value: Any


async def _scalar(sql: str, *args: Any) -> Any:
    """The one value a query answers (``SELECT … AS value``)."""
    row = await db.fetch_one_as(_Value, sql, *args)
    return row.value if row is not None else None


async def _approve(request_id: int, approver: int) -> None:
    result = await engine.approve(request_id, approver)
    assert result.status == "approved", result


async def _open(kind: str, order_id: int, flow: str, payload: dict[str, Any], requester: int) -> int:
    return await engine.open_request(
        NewRequest(kind=kind, order_id=order_id, flow=flow, requester_id=requester, payload=payload, reason="客户来电")
    )


# -------------------------------------------------------------------------------------------- refund and reship


async def test_refund_reship_records_the_refund_and_ships_a_replacement_order(api: Api, queue: RedisQueue) -> None:
    warehouse = await create_warehouse(NewWarehouse(code=unique("FX"), name="售后仓", region="华东"))
    sku_a = (await create_sku(NewSku(code=unique("FXA-"), name="保温杯"))).code
    sku_b = (await create_sku(NewSku(code=unique("FXB-"), name="杯盖"))).code
    for sku in (sku_a, sku_b):
        await adjust_stock(sku=sku, warehouse=warehouse.code, delta=None, set_to=20, reason="盘点", actor="test")
    channel = unique("tb")
    async with api.client() as client:
        r = await client.post(
            "/api/v1/channels",
            json={
                "code": channel,
                "platform": "taobao",
                "name": "淘宝店",
                "default_warehouse": warehouse.code,
                "pull_enabled": False,
            },
        )
        assert r.status_code == 201, r.text
        order = order_payload(lines=[(sku_a, 2)])  # 2 × 19.90 元: paid 3,980 fen
        r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": [order]})
        assert r.status_code == 202, r.text
        original = int(r.json()["results"][0]["order_id"])
        await wait_for_orders(api, [original], done=frozenset({"ready"}))
        r = await client.post(f"/api/v1/orders/{original}/ship", json={"carrier": "SF", "waybill_no": "SF1000000001"})
        assert r.status_code in (200, 201), r.text

    approver_id = await _user()
    flow = await _flow(approver_id, "refund_reship")
    async with api.client() as client:
        login = await client.post(
            "/api/v1/auth/login", json={"username": await _username(approver_id), "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        approver = {"Authorization": f"Bearer {login.json()['access_token']}"}

        def opening(payload: dict[str, Any]) -> dict[str, Any]:
            return {
                "kind": "refund_reship",
                "order_id": original,
                "flow": flow,
                "reason": "少发一件",
                "payload": payload,
            }

        too_much = await client.post("/api/v1/approvals/requests", json=opening({"refund_amount": 3981}))
        assert too_much.status_code == 422, too_much.text
        assert (too_much.json()["code"], too_much.json()["field"]) == (
            ApprovalError.APPROVAL_BAD_PAYLOAD,
            "payload.refund_amount",
        )
        unknown = await client.post(
            "/api/v1/approvals/requests",
            json=opening({"reship_lines": [{"sku": sku_a, "qty": 1}, {"sku": "NO-SUCH-SKU", "qty": 1}]}),
        )
        assert unknown.status_code == 422, unknown.text
        assert unknown.json()["field"] == "payload.reship_lines[1].sku", unknown.json()

        r = await client.post(
            "/api/v1/approvals/requests",
            json=opening(
                {
                    "refund_amount": 990,
                    "reship_lines": [{"sku": sku_a, "qty": 1}, {"sku": sku_b, "qty": 2}],
                    "note": "补一只杯子",
                }
            ),
        )
        assert r.status_code == 201, r.text
        request_id = int(r.json()["id"])
        r = await client.post(f"/api/v1/approvals/requests/{request_id}/approve", json={}, headers=approver)
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text

    shipped = await _order(api, original)
    reship_number = f"{shipped['external_id']}-BF{request_id}"
    (decided,) = _events(shipped, "order.approval_decided")
    assert decided["data"]["reship_external_id"] == reship_number and decided["data"]["refund_amount"] == 990
    (refund,) = _events(shipped, "order.refund_recorded")
    assert refund["data"]["amount"] == 990 and refund["data"]["request_id"] == request_id
    assert refund["data"]["refunded_total"] == 990 and "少发一件" in refund["data"]["reason"]
    (made,) = _events(shipped, "order.reship_created")
    assert made["data"]["reship_external_id"] == reship_number
    reship_id = int(made["data"]["reship_order_id"])

    # the replacement order went through the normal pipeline: validated, routed, reserved — ready to wave
    reship = (await wait_for_orders(api, [reship_id], done=frozenset({"ready"})))[reship_id]
    assert (reship["channel"], reship["external_id"], reship["warehouse"]) == (channel, reship_number, warehouse.code)
    assert (reship["paid_amount"], reship["goods_amount"], reship["tags"]) == (0, 0, ["补发"])
    assert reship["receiver"]["name"] == shipped["receiver"]["name"]
    assert reship["receiver"]["phone"] == shipped["receiver"]["phone"]
    assert reship["receiver"]["division_code"] == shipped["receiver"]["division_code"]
    assert sorted((line["sku"], line["qty"], line["unit_price"], line["reserved_qty"]) for line in reship["lines"]) == (
        sorted([(sku_a, 1, 0, 1), (sku_b, 2, 0, 2)])
    )
    (why,) = _events(reship, "order.created_as_reship")
    assert why["data"]["original_order_id"] == original and why["data"]["request_id"] == request_id
    assert await _scalar("SELECT reship_of AS value FROM sales_order WHERE id = {}", reship_id) == original

    # once per request: the same reship again is the order made the first time
    again = await aftersale.create_reship(
        original,
        [aftersale.ReshipLine(sku=sku_a, qty=1)],
        request_id=request_id,
        reason="重试",
        approved_by="x",
        actor="test",
    )
    assert (again.order_id, again.created) == (reship_id, False)
    assert await _scalar("SELECT COUNT(*) AS value FROM sales_order WHERE external_id = {}", reship_number) == 1

    # what is left to refund is what was paid less what was refunded
    await _refused(
        engine.open_request(
            NewRequest(
                kind="refund_reship",
                order_id=original,
                flow=flow,
                requester_id=approver_id,
                payload={"refund_amount": 2991},
            )
        ),
        ApprovalError.APPROVAL_BAD_PAYLOAD,
    )

    # the reship ships like any order, but the platform is not told about an order it never had
    async with api.client() as client:
        r = await client.post(f"/api/v1/orders/{reship_id}/ship", json={"carrier": "SF", "waybill_no": "SF1000000002"})
        assert r.status_code in (200, 201), r.text
    assert await _scalar('SELECT COUNT(*) AS value FROM platform_writeback WHERE "order" = {}', original) == 1
    assert await _scalar('SELECT COUNT(*) AS value FROM platform_writeback WHERE "order" = {}', reship_id) == 0
    level = (await list_stock(sku=sku_b, warehouse=warehouse.code)).items[0]
    assert (level.on_hand, level.reserved) == (18, 0)


async def _username(user_id: int) -> str:
    return str(await _scalar("SELECT username AS value FROM app_user WHERE id = {}", user_id))


# ------------------------------------------------------------------------------------------- cancel after picking


async def test_cancel_after_pick_opens_put_back_work_the_floor_closes(
    api: Api, store: Hub, queue: RedisQueue, bus: None
) -> None:
    floor = await Floor(api, store.url).setup(pick_mode="order")
    cup, lid = floor.codes[0], floor.codes[1]
    picked_order, untouched = await floor.orders([(cup, 2), (lid, 1)], [(lid, 1)])
    wave = await floor.wave([picked_order, untouched])
    task_of = {}
    for task_id in wave["task_ids"]:
        async with api.client() as client:
            task = (await client.get(f"/api/v1/picking/tasks/{task_id}")).json()
        task_of[task["orders"][0]["order_id"]] = task_id
    person = await floor.person("picker")
    picker = await Pda.sign_in(floor.url, person)
    other_picker = await Pda.sign_in(floor.url, await floor.person("picker"))
    station = await Pda.sign_in(floor.url, await floor.person("packer"))
    task = (await picker.http.post(f"/pda/v1/tasks/{task_of[picked_order]}/claim")).json()
    assert (await other_picker.http.post(f"/pda/v1/tasks/{task_of[untouched]}/claim")).status_code == 200
    stop = next(s for s in task["stops"] if s["sku"] == cup)
    r = await picker.scan(
        task["id"], stop["line_id"], "item", barcode=floor.skus[cup]["barcode"], qty=2, location=stop["location"]
    )
    assert r.status_code == 200, r.text

    approver = await _user()
    requester = await _user()
    flow = await _flow(approver, "cancel_after_pick")
    async with Socket(store.url, station.token) as socket:
        request_id = await _open("cancel_after_pick", picked_order, flow, {"reason": "客户不要了"}, requester)
        await _approve(request_id, approver)
        notice = await socket.wait_for("putback.created", order_id=picked_order)
    assert notice["event"]["units"] == 2 and "放回原库位" in notice["event"]["message"]

    cancelled = await _order(api, picked_order)
    assert cancelled["status"] == "cancelled" and all(line["reserved_qty"] == 0 for line in cancelled["lines"])
    (made,) = _events(cancelled, "order.putback_created")
    assert made["data"]["units"] == 2 and made["data"]["lines"] == [
        {"sku": cup, "qty": 2, "location": floor.skus[cup]["location"]}
    ]
    for sku in (cup, lid):  # nothing shipped: on hand unchanged, the reservation released
        level = (await list_stock(sku=sku, warehouse=floor.warehouse)).items[0]
        assert (level.on_hand, level.reserved) == (100, 1 if sku == lid else 0), (sku, level)

    # an order claimed but with nothing picked yet needs no put-back
    other = await _open("cancel_after_pick", untouched, flow, {"reason": "重复下单"}, requester)
    await _approve(other, approver)
    assert _events(await _order(api, untouched), "order.putback_created") == []

    # the floor sees it on any PDA of the warehouse, the back office too
    seen = (await picker.http.get("/pda/v1/putbacks")).json()
    assert [p["order_id"] for p in seen] == [picked_order], seen
    (work,) = seen
    (line,) = work["lines"]
    assert (work["status"], work["source"], work["units"], work["request_id"]) == ("open", "tote", 2, request_id)
    assert (line["sku"], line["qty"], line["location"], line["tote"]) == (
        cup,
        2,
        floor.skus[cup]["location"],
        f"T{task['id']}-1",
    )
    assert [p["id"] for p in (await station.http.get("/pda/v1/putbacks")).json()] == [work["id"]]
    async with api.client() as client:
        listed = (await client.get(f"/api/v1/picking/{floor.warehouse}/putbacks")).json()
        assert [p["id"] for p in listed] == [work["id"]]
        bad = await client.post(
            f"/api/v1/picking/putbacks/{work['id']}/done", json={"missing": [{"line_id": line["id"], "qty": 3}]}
        )
        assert bad.status_code == 422 and bad.json()["field"] == "missing", bad.text
        assert bad.json()["code"] == PickingError.PUTBACK_MISSING_OUT_OF_RANGE
        unknown = await client.post(
            f"/api/v1/picking/putbacks/{work['id']}/done", json={"missing": [{"line_id": 2147483000, "qty": 1}]}
        )
        assert unknown.status_code == 422 and unknown.json()["code"] == PickingError.PUTBACK_LINE_UNKNOWN, unknown.text

    # put back, one unit not found: written off (audited); a replayed tap changes nothing
    body = {"missing": [{"line_id": line["id"], "qty": 1}], "note": "少一只"}
    answers = [await picker.http.post(f"/pda/v1/putbacks/{work['id']}/done", json=body) for _ in range(2)]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    done = answers[0].json()
    assert (done["status"], done["lines"][0]["missing"], done["done_by"]) == ("done", 1, f"pda:{person['username']}")
    level = (await list_stock(sku=cup, warehouse=floor.warehouse)).items[0]
    assert (level.on_hand, level.reserved) == (99, 0)
    (closed,) = _events(await _order(api, picked_order), "order.putback_done")
    assert closed["data"]["returned"] == 1 and closed["data"]["written_off"] == [
        {"sku": cup, "location": floor.skus[cup]["location"], "missing": 1, "written_off": 1, "reserved_elsewhere": 0}
    ]
    assert closed["actor"].startswith("pda:")
    assert (await picker.http.get("/pda/v1/putbacks")).json() == []
    async with api.client() as client:
        done_list = (await client.get(f"/api/v1/picking/{floor.warehouse}/putbacks", params={"status": "done"})).json()
        assert work["id"] in [p["id"] for p in done_list]
        assert (await client.get("/api/v1/picking/putbacks/2147483000")).status_code == 404
    for pda in (picker, other_picker, station):
        await pda.close()


# ---------------------------------------------------------------------------- packed orders: waybills at the carrier




async def test_address_change_in_the_warehouse_relabels_a_packed_order(
    api: Api, store: Hub, queue: RedisQueue, carriers: CarrierServer, bus: None
) -> None:
    floor, account = await sf_floor(api, store, carriers)
    approver, requester = await _user(), await _user()
    flow = await _flow(approver, "address_change", "cancel_after_pick")
    beijing = {"name": "李四", "phone": "13912345678", "address": "北京市朝阳区建国路88号"}

    # packed, with a waybill: voided, cancelled at SF, a new one for the new address at the pack station
    order_id, station, pack_id = await _packed_order(floor)
    first = (await station.http.post(f"/pda/v1/pack/{pack_id}/waybill")).json()["waybill_no"]
    await _refused(
        _open("address_change", order_id, flow, {"receiver": {**beijing, "address": "火星基地一号"}}, requester),
        ApprovalError.APPROVAL_BAD_PAYLOAD,
    )
    async with Socket(store.url, station.token) as socket:
        await _approve(await _open("address_change", order_id, flow, {"receiver": beijing}, requester), approver)
        told = await socket.wait_for("order.receiver_changed", order_id=order_id)
    assert told["event"]["voided_waybill"] == first and "重新取号" in told["event"]["message"]
    packed = await _order(api, order_id)
    assert packed["status"] == "packed"
    assert (packed["receiver"]["name"], packed["receiver"]["province"], packed["receiver"]["district"]) == (
        "李四",
        "北京市",
        "朝阳区",
    )
    assert packed["receiver"]["division_code"]  # standardised now: it will not pass validation again
    assert [e["data"]["waybill_no"] for e in _events(packed, "order.waybill_voided")] == [first]
    ref = f"OH{order_id}-W"

    def sf_order(suffix: str = "") -> Any:
        return next(
            o
            for o in carriers.sf.orders_of(account.partner_id)
            if o.order_id.startswith(ref) and o.order_id.endswith(suffix)
        )

    await _eventually(lambda: _true(sf_order().cancelled), "SF to cancel the voided waybill")
    cancelled = await _eventually(
        lambda: _events_of(api, order_id, "order.waybill_cancelled"), "the cancellation on the order's log"
    )
    assert cancelled[0]["data"]["waybill_no"] == first

    refused = await station.http.post(f"/pda/v1/pack/{pack_id}/handover")  # no live waybill: no handover
    assert refused.status_code == 409 and refused.json()["code"] == "no_waybill", refused.text
    second = (await station.http.post(f"/pda/v1/pack/{pack_id}/waybill")).json()
    assert second["waybill_no"] != first and second["status"] == "issued"
    again = sf_order("-R1")
    assert (again.receiver_province, again.cancelled) == ("北京市", False)
    async with api.client() as client:
        zpl = (await client.get(f"/api/v1/orders/{order_id}/label", params={"format": "zpl"})).text
    assert f"^FD{second['waybill_no']}^FS" in zpl and "建国路88号" in zpl and first not in zpl
    shipped = await station.http.post(f"/pda/v1/pack/{pack_id}/handover")
    assert shipped.status_code == 200 and shipped.json()["waybill_no"] == second["waybill_no"], shipped.text
    assert (await _order(api, order_id))["status"] == "shipped"
    late = await _open("address_change", order_id, flow, {"receiver": beijing}, requester)
    await _refused(engine.approve(late, approver), ApprovalError.APPROVAL_EFFECT_REFUSED)

    # being picked: replaced in place, the picker told; the waybill taken at packing uses it
    (picking_id,) = await floor.orders([(floor.codes[1], 1)])
    (task_id,) = (await floor.wave([picking_id]))["task_ids"]
    picker = await Pda.sign_in(floor.url, await floor.person("picker"))
    assert (await picker.http.post(f"/pda/v1/tasks/{task_id}/claim")).status_code == 200
    async with Socket(store.url, picker.token) as socket:
        await _approve(await _open("address_change", picking_id, flow, {"receiver": beijing}, requester), approver)
        told = await socket.wait_for("order.receiver_changed", order_id=picking_id)
    assert told["event"]["status"] == "picking" and told["event"]["voided_waybill"] == ""
    picking = await _order(api, picking_id)
    assert picking["status"] == "picking" and picking["receiver"]["city"] == "北京市"
    assert len(_events(picking, "order.receiver_changed")) == 1
    await picker.close()

    # cancelled once packed: its waybill voided and cancelled at SF, the parcel's units put back from the station
    cancelled_id, station2, pack2 = await _packed_order(floor)
    number = (await station2.http.post(f"/pda/v1/pack/{pack2}/waybill")).json()["waybill_no"]
    await _approve(await _open("cancel_after_pick", cancelled_id, flow, {"reason": "客户拒收"}, requester), approver)
    gone = await _order(api, cancelled_id)
    assert gone["status"] == "cancelled"
    assert [e["data"]["waybill_no"] for e in _events(gone, "order.waybill_voided")] == [number]
    (work,) = [p for p in (await station2.http.get("/pda/v1/putbacks")).json() if p["order_id"] == cancelled_id]
    assert (work["source"], work["units"], work["lines"][0]["tote"]) == ("pack", 2, None)
    await _eventually(
        lambda: _true(
            next(
                o for o in carriers.sf.orders_of(account.partner_id) if o.order_id.startswith(f"OH{cancelled_id}-W")
            ).cancelled
        ),
        "SF to cancel the cancelled order's waybill",
    )
    for pda in (station, station2):
        await pda.close()


async def _true(value: Any) -> Any:
    return value


async def _events_of(api: Api, order_id: int, kind: str) -> list[dict[str, Any]]:
    return _events(await _order(api, order_id), kind)


# ------------------------------------------------------------------------------- missing units already promised


async def _alerts() -> Any:
    pubsub = redis_mod.get_client().pubsub()
    await pubsub.subscribe(Topic.ALERTS.value)
    return pubsub


async def _alert(pubsub: Any, kind: str, **match: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message:
            event = json.loads(message["data"])
            if event.get("type") == kind and all(event.get(k) == v for k, v in match.items()):
                return dict(event)
    raise AssertionError(f"no {kind} alert {match}")


async def test_a_put_back_closes_with_units_missing_that_other_orders_reserved_since(
    api: Api, store: Hub, queue: RedisQueue
) -> None:
    """The cancellation released the picked units; another order reserved them; the floor finds two missing. What
    nobody reserved is written off at once (audited), the rest stays promised to that order: recorded on the put-back,
    alerted, and written off with its reservation when that order's pick finds the shelf short."""
    floor = await Floor(api, store.url).setup(pick_mode="order")
    cup = floor.codes[0]
    await adjust_stock(sku=cup, warehouse=floor.warehouse, delta=None, set_to=3, reason="盘点", actor="test")
    (cancelled,) = await floor.orders([(cup, 2)])
    (task_id,) = (await floor.wave([cancelled]))["task_ids"]
    picker = await Pda.sign_in(floor.url, await floor.person("picker"))
    task = (await picker.http.post(f"/pda/v1/tasks/{task_id}/claim")).json()
    stop = task["stops"][0]
    r = await picker.scan(
        task_id, stop["line_id"], "item", barcode=floor.skus[cup]["barcode"], qty=2, location=stop["location"]
    )
    assert r.status_code == 200, r.text
    approver, requester = await _user(), await _user()
    flow = await _flow(approver, "cancel_after_pick")
    await _approve(await _open("cancel_after_pick", cancelled, flow, {"reason": "客户不要了"}, requester), approver)
    (other,) = await floor.orders([(cup, 2)])  # reserves 2 of the 3 on hand (the put-back's 2 among them)
    level = (await list_stock(sku=cup, warehouse=floor.warehouse)).items[0]
    assert (level.on_hand, level.reserved) == (3, 2)

    (work,) = [p for p in (await picker.http.get("/pda/v1/putbacks")).json() if p["order_id"] == cancelled]
    (line,) = work["lines"]
    pubsub = await _alerts()
    try:
        done = await picker.http.post(
            f"/pda/v1/putbacks/{work['id']}/done", json={"missing": [{"line_id": line["id"], "qty": 2}]}
        )
        assert done.status_code == 200, done.text  # never stock_below_reserved: the close does not roll back
        alert = await _alert(pubsub, "putback.short", putback_id=work["id"])
    finally:
        await pubsub.aclose()
    assert (done.json()["status"], done.json()["lines"][0]["missing"]) == ("done", 2)
    assert (alert["sku"], alert["missing"], alert["written_off"], alert["reserved_elsewhere"]) == (cup, 2, 1, 1)
    assert "盘点" in alert["message"]
    level = (await list_stock(sku=cup, warehouse=floor.warehouse)).items[0]
    assert (level.on_hand, level.reserved) == (2, 2)  # the free unit written off; never below what is reserved
    (closed,) = _events(await _order(api, cancelled), "order.putback_done")
    assert closed["data"]["reserved_elsewhere"] == 1 and closed["data"]["written_off"] == [
        {"sku": cup, "location": stop["location"], "missing": 2, "written_off": 1, "reserved_elsewhere": 1}
    ]
    audited = await _scalar(
        "SELECT COUNT(*) AS value FROM stock_adjustment a JOIN sku s ON s.id = a.sku WHERE s.code = {} "
        "AND a.delta = -1 AND a.reason LIKE {}",
        cup,
        f"%返架单 #{work['id']}%",
    )
    assert audited == 1

    # the other order's pick finds one unit on the shelf and registers the other short: written off with its
    # reservation — the books now hold what the warehouse holds (the unit in the tote)
    (task2,) = (await floor.wave([other]))["task_ids"]
    task = (await picker.http.post(f"/pda/v1/tasks/{task2}/claim")).json()
    stop = task["stops"][0]
    r = await picker.scan(
        task2, stop["line_id"], "item", barcode=floor.skus[cup]["barcode"], qty=1, location=stop["location"]
    )
    assert r.status_code == 200, r.text
    r = await picker.scan(task2, stop["line_id"], "short", reason="库位缺货")
    assert r.status_code == 200, r.text
    level = (await list_stock(sku=cup, warehouse=floor.warehouse)).items[0]
    assert (level.on_hand, level.reserved) == (1, 1)
    await picker.close()


async def test_refusals_name_their_cause(api: Api, store: Hub, queue: RedisQueue) -> None:
    """Stable codes the PDA and the approvals' callers branch on: the put-back's, the reship's, and a refused effect
    carries the refusing error's code and whether trying again shortly may succeed."""
    with pytest.raises(OrderHubError) as caught:
        await putback.list_putbacks(None, status="archived")
    assert (caught.value.code, caught.value.field) == (PickingError.PUTBACK_BAD_STATUS, "status")

    floor = await Floor(api, store.url).setup()
    (order_id,) = await floor.orders([(floor.codes[0], 1)])
    for lines, code, field in [
        ([], OrderError.RESHIP_NO_LINES, "reship_lines"),
        ([aftersale.ReshipLine(sku=floor.codes[0], qty=0)], OrderError.RESHIP_BAD_LINE, "reship_lines[0]"),
        (
            [aftersale.ReshipLine(sku=floor.codes[0], qty=1)] * (aftersale.MAX_RESHIP_LINES + 1),
            OrderError.RESHIP_TOO_MANY_LINES,
            "reship_lines",
        ),
    ]:
        with pytest.raises(OrderHubError) as caught:
            await aftersale.check_reship(order_id, lines)
        assert (caught.value.code, caught.value.field) == (code, field)

    # a refund that fitted when asked, but not once another was recorded meanwhile: refused for good
    paid = (await _order(api, order_id))["paid_amount"]
    approver, requester = await _user(), await _user()
    flow = await _flow(approver, "refund_reship")
    request_id = await _open("refund_reship", order_id, flow, {"refund_amount": paid}, requester)
    await aftersale.record_refund(order_id, amount=1, reason="先退 1 分", request_id=None, actor="test")
    refused = await _refused(engine.approve(request_id, approver), ApprovalError.APPROVAL_EFFECT_REFUSED)
    assert isinstance(refused, kinds.EffectRefused)
    assert (refused.cause_code, refused.temporary) == (OrderError.REFUND_EXCEEDS_PAID, False)
    assert refused.extra["cause_code"] == OrderError.REFUND_EXCEEDS_PAID and refused.extra["temporary"] is False
    assert refused.extra["paid_amount"] == paid  # the refusing error's own details stay


async def test_a_parcel_row_without_a_waybill_does_not_stop_a_void(
    api: Api, store: Hub, queue: RedisQueue, carriers: CarrierServer
) -> None:
    """NOT EXISTS, not NOT IN: a tracking row of the order without a waybill (NULL) must not hide its live waybill."""
    floor, _ = await sf_floor(api, store, carriers)
    approver, requester = await _user(), await _user()
    flow = await _flow(approver, "address_change")
    order_id, station, pack_id = await _packed_order(floor)
    first = (await station.http.post(f"/pda/v1/pack/{pack_id}/waybill")).json()["waybill_no"]
    token = secrets.token_urlsafe(24)
    await db.execute(
        'INSERT INTO parcel_tracking (waybill, "order", carrier, waybill_no, state, events, salt, token, created_at) '
        "VALUES (NULL, {}, 'SF', 'SF-MANUAL', 'pending', '[]', {}, {}, {})",
        order_id,
        secrets.token_hex(16),
        token,
        clock.now(),
    )
    try:
        receiver = {"name": "李四", "phone": "13912345678", "address": "北京市朝阳区建国路88号"}
        await _approve(await _open("address_change", order_id, flow, {"receiver": receiver}, requester), approver)
        assert [e["data"]["waybill_no"] for e in await _events_of(api, order_id, "order.waybill_voided")] == [first]
        second = (await station.http.post(f"/pda/v1/pack/{pack_id}/waybill")).json()["waybill_no"]
        assert second != first
    finally:
        await db.execute("DELETE FROM parcel_tracking WHERE token = {}", token)
        await station.close()


# ------------------------------------------------------------------------------------- races (PostgreSQL only)


class _Gate:
    """Holds a coroutine function at a point: ``reached`` once a call got there, it goes on once ``open()``."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self._go = asyncio.Event()

    def after(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def held(*args: Any, **kwargs: Any) -> Any:
            result = await fn(*args, **kwargs)
            self.reached.set()
            await asyncio.wait_for(self._go.wait(), 60)
            return result

        return held

    def open(self) -> None:
        self._go.set()


async def _blocked_or_done(task: asyncio.Task[Any], statement: str) -> None:
    """Until ``task`` waits in PostgreSQL for a lock the other side holds (expected: in a statement ``LIKE
    statement``; no sleeping and hoping), or has finished. Which lock it waits for is the implementation's business:
    the assertions after say whether the outcome is right."""

    async def settled() -> bool:
        waiting = await _scalar(
            "SELECT COUNT(*) AS value FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        )
        return bool(waiting) or task.done()

    await _eventually(settled, f"a backend to wait for a lock (in {statement!r}) or finish", timeout=10)


def _sf_orders(carriers: CarrierServer, account: Any, order_id: int) -> list[Any]:
    return [o for o in carriers.sf.orders_of(account.partner_id) if o.order_id.startswith(f"OH{order_id}-W")]


@pytest.mark.postgres_only
async def test_an_address_change_and_the_waybill_request_never_interleave(
    api: Api, store: Hub, queue: RedisQueue, carriers: CarrierServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    floor, account = await sf_floor(api, store, carriers)
    approver, requester = await _user(), await _user()
    flow = await _flow(approver, "address_change")
    beijing = {"receiver": {"name": "李四", "phone": "13912345678", "address": "北京市朝阳区建国路88号"}}

    # the change decided first: the request waits for the order's lock, then asks with the new address
    order_id, station, _ = await _packed_order(floor)
    deciding = _Gate()
    monkeypatch.setattr(kinds, "tell_receiver_changed", deciding.after(kinds.tell_receiver_changed))
    request_id = await _open("address_change", order_id, flow, beijing, requester)
    approval = asyncio.create_task(engine.approve(request_id, approver))
    request: asyncio.Task[Any] | None = None
    try:
        await asyncio.wait_for(deciding.reached.wait(), 30)  # receiver replaced, not committed, the order locked
        request = asyncio.create_task(waybills.request_waybill(order_id, actor="test"))
        await _blocked_or_done(request, "SELECT id FROM sales_order WHERE id = % FOR UPDATE")
        assert _sf_orders(carriers, account, order_id) == []  # nothing asked of the carrier meanwhile
    finally:
        deciding.open()
    assert (await approval).status == "approved"
    assert request is not None
    issued = await request
    (asked,) = _sf_orders(carriers, account, order_id)
    assert (asked.waybill_no, asked.receiver_province, asked.cancelled) == (issued.waybill_no, "北京市", False)
    await station.close()

    # the request first: the change waits for the order's lock, then finds the request in flight and is refused as
    # temporary; tried again once the waybill is issued, it voids it and the next request carries the new address
    order_id, station, _ = await _packed_order(floor)
    request_id = await _open("address_change", order_id, flow, beijing, requester)
    choosing, asking = _Gate(), _Gate()
    monkeypatch.setattr(waybills, "order_weight", choosing.after(waybills.order_weight))
    monkeypatch.setattr(waybills, "_sender", asking.after(waybills._sender))
    request = asyncio.create_task(waybills.request_waybill(order_id, actor="test"))
    try:
        await asyncio.wait_for(choosing.reached.wait(), 30)  # the order locked, its receiver read
        approval = asyncio.create_task(engine.approve(request_id, approver))
        await _blocked_or_done(approval, "SELECT status, hold_queue, warehouse, external_id FROM sales_order%")
        choosing.open()
        await asyncio.wait_for(asking.reached.wait(), 30)  # the choice committed, the carrier not yet asked
        with pytest.raises(kinds.EffectRefused) as caught:
            await approval
        assert (caught.value.cause_code, caught.value.temporary) == (LogisticsError.WAYBILL_REQUEST_PENDING, True)
        assert caught.value.extra["temporary"] is True
    finally:
        choosing.open()
        asking.open()
    old = await request
    assert (await _order(api, order_id))["receiver"]["province"] == "上海市"  # refused: nothing changed
    (asked,) = _sf_orders(carriers, account, order_id)
    assert (asked.waybill_no, asked.receiver_province) == (old.waybill_no, "上海市")
    await _approve(request_id, approver)  # the same decision again, a moment later
    new = await waybills.request_waybill(order_id, actor="test")
    assert new.waybill_no != old.waybill_no
    live = [o for o in _sf_orders(carriers, account, order_id) if o.waybill_no == new.waybill_no]
    assert [o.receiver_province for o in live] == ["北京市"]
    await station.close()


@pytest.mark.postgres_only
async def test_a_scan_racing_the_cancellation_is_counted_or_put_back(
    api: Api, store: Hub, queue: RedisQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The put-back list is read with the order's pick lines locked: a scan arriving meanwhile waits, then finds its
    line withdrawn (put it back) — it is never told 已拣 for units no put-back lists."""
    floor = await Floor(api, store.url).setup(pick_mode="order")
    cup = floor.codes[0]
    (order_id,) = await floor.orders([(cup, 3)])
    (task_id,) = (await floor.wave([order_id]))["task_ids"]
    picker = await Pda.sign_in(floor.url, await floor.person("picker"))
    task = (await picker.http.post(f"/pda/v1/tasks/{task_id}/claim")).json()
    stop = task["stops"][0]

    async def scan() -> Any:
        return await picker.scan(
            task_id, stop["line_id"], "item", barcode=floor.skus[cup]["barcode"], qty=1, location=stop["location"]
        )

    assert (await scan()).json()["code"] == "ok"  # 1 of 3 in the tote
    approver, requester = await _user(), await _user()
    flow = await _flow(approver, "cancel_after_pick")
    listing = _Gate()
    monkeypatch.setattr(putback, "picked_units", listing.after(putback.picked_units))
    request_id = await _open("cancel_after_pick", order_id, flow, {"reason": "客户不要了"}, requester)
    approval = asyncio.create_task(engine.approve(request_id, approver))
    late: asyncio.Task[Any] | None = None
    try:
        await asyncio.wait_for(listing.reached.wait(), 30)  # the picked units read, the order not yet withdrawn
        late = asyncio.create_task(scan())  # the hub's API process: its own connection
        await _blocked_or_done(late, "UPDATE pick_line SET picked%")
    finally:
        listing.open()
    assert (await approval).status == "approved"
    assert late is not None
    answer = (await late).json()
    assert (answer["ok"], answer["code"]) == (True, "line_withdrawn"), answer
    assert "放回原库位" in answer["message"]
    (work,) = [p for p in (await picker.http.get("/pda/v1/putbacks")).json() if p["order_id"] == order_id]
    assert work["units"] == 1  # what was in the tote when the list was made; the late unit the PDA sent back
    await picker.close()
