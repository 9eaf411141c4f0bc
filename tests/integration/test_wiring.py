"""Explicit wiring: every process of the hub has every listener and adapter, and the listeners do their work.

No module registers anything by being imported; ``server.wiring.wire()`` is called by the API, the worker, the CLI
and this test process. If an API process were not wired, a handover at the pack station would ship the order and
write no customer message — the second test catches exactly that."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import pytest

from orderhub.approvals.card_port import CARD_SENDERS
from orderhub.approvals.live import APPROVAL_HOOKS
from orderhub.approvals.oa_port import OA_CLIENTS
from orderhub.approvals.port import KINDS as APPROVAL_KINDS
from orderhub.carriers.port import CARRIERS, TRACKERS
from orderhub.channels.port import CONNECTORS, PUSH_RECEIVERS
from orderhub.events import FEED_MIRRORS, Topic
from orderhub.feed import FEED_TOPICS
from orderhub.insights.upkeep import CAUGHT_UP_HOOKS
from orderhub.notifications.port import MINIPROGRAM_IDENTITIES, NOTIFIERS
from orderhub.orders.service import LEAVING_PICK_FLOW_HOOKS, ORDER_EVENT_HOOKS, STATUS_CHANGE_HOOKS
from orderhub.orders.surge import SURGE_HOOKS
from orderhub.registry import Hooks, Registry, UnknownAdapter
from sandbox.aliyun_sms import AliyunSmsServer
from sandbox.carriers.server import CarrierServer
from sandbox.kuaidi100 import Kuaidi100Server
from sandbox.wechat import WeChatServer
from server.wiring import wire, wiring_report
from tests.integration.test_carrier_choice import _ingest, _pick_and_pack
from tests.integration.test_notifications import _carrier_floor, _phone, _settled, _setup_notify, sms, wechat
from tests.integration.test_picking import Pda
from tests.support.factories import Api, order_payload
from tests.support.hub import Hub

__all__ = ["sms", "wechat"]  # the simulators' module fixtures, used here too


def _started(log: str, message: str) -> list[dict[str, Any]]:
    """The wiring each process of one kind logged when it started."""
    found = []
    for line in log.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("msg") == message:
                found.append(record["wiring"])
    return found


def test_no_module_registers_anything_when_imported() -> None:
    """A fresh interpreter that imports every domain and provider module has empty hook points and registries."""
    code = """
import importlib, pkgutil, json
import orderhub, notify
for package in (orderhub, notify):
    for mod in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(mod.name)
from orderhub.orders.service import ORDER_EVENT_HOOKS, LEAVING_PICK_FLOW_HOOKS
from orderhub.orders.surge import SURGE_HOOKS
from orderhub.notifications.port import NOTIFIERS, MINIPROGRAM_IDENTITIES
from orderhub.channels.port import CONNECTORS, PUSH_RECEIVERS
from orderhub.carriers.port import CARRIERS, TRACKERS
from orderhub.orders.service import STATUS_CHANGE_HOOKS
from orderhub.feed import FEED_TOPICS
from orderhub.events import FEED_MIRRORS
from orderhub.approvals.port import KINDS
from orderhub.approvals.live import APPROVAL_HOOKS
from orderhub.approvals.card_port import CARD_SENDERS
from orderhub.approvals.oa_port import OA_CLIENTS
print(json.dumps([len(x) for x in (ORDER_EVENT_HOOKS, LEAVING_PICK_FLOW_HOOKS, SURGE_HOOKS, NOTIFIERS,
                                   MINIPROGRAM_IDENTITIES, CONNECTORS, PUSH_RECEIVERS, CARRIERS, TRACKERS,
                                   STATUS_CHANGE_HOOKS, FEED_TOPICS, FEED_MIRRORS, KINDS, APPROVAL_HOOKS,
                                   CARD_SENDERS, OA_CLIENTS)]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [0] * 16


def test_wire_is_idempotent_and_complete() -> None:
    before = wiring_report()
    wire()
    wire()
    assert wiring_report() == before
    # ORDER_EVENT_HOOKS: the outbox, the orders feed, approvals (an order held for a flow opens its request), finance
    # (a shipped or refunded order's payout is marked for computing).
    assert len(ORDER_EVENT_HOOKS) == 4 and len(SURGE_HOOKS) == 1 and len(LEAVING_PICK_FLOW_HOOKS) == 1
    # The live feed's order deltas (orderhub.orders.live); approvals (an order cancelled cancels its requests).
    assert len(STATUS_CHANGE_HOOKS) == 2
    feeds = ["alerts", "approvals", "dash.operations", "dash.strategic", "dash.tactical", "orders"]
    assert FEED_TOPICS.codes() == feeds
    kinds = ["address_change", "cancel_after_pick", "order_hold", "refund_reship", "stock_writeoff"]
    assert APPROVAL_KINDS.codes() == kinds
    # An approval change writes and updates the approvers' WeCom cards (orderhub.approvals.cards) and hints the
    # boards showing approvals (orderhub.insights.live).
    assert [h.__qualname__ for h in APPROVAL_HOOKS] == ["on_change", "on_approval_change"]
    assert CARD_SENDERS.codes() == ["wecom"]
    assert OA_CLIENTS.codes() == ["wecom_oa"]  # flows that run in WeCom's own 审批 app
    assert FEED_MIRRORS.codes() == [Topic.ALERTS.value]
    assert CAUGHT_UP_HOOKS  # the dashboard topics are told when the rollups moved (orderhub.insights.live)
    assert NOTIFIERS.codes() == ["aliyun_sms", "wechat_subscribe", "wechat_template", "wecom"]
    assert MINIPROGRAM_IDENTITIES.codes() == ["wechat_subscribe"]
    assert CONNECTORS.codes() == ["douyin", "jd", "pdd", "taobao", "tmall", "wechat_shop"]
    assert PUSH_RECEIVERS.codes() == ["douyin"]
    assert CARRIERS.codes() == ["JT", "SF", "ZTO"]
    assert TRACKERS.codes() == ["kuaidi100"]


def test_registry_and_hooks_types() -> None:
    registry: Registry[int] = Registry("thing")
    registry.register("a", 1)
    assert registry.get("a") == 1 and "a" in registry and registry.codes() == ["a"]
    with pytest.raises(UnknownAdapter, match="no thing registered for 'b'"):
        registry.get("b")
    hooks: Hooks[Any] = Hooks("point")

    def listener() -> None: ...

    hooks.add(listener)
    hooks.add(listener)
    assert list(hooks) == [listener]


async def test_api_processes_and_workers_have_every_listener(store: Hub) -> None:
    """What each process of the running hub logged at start-up: the same wiring as this (wired) process."""
    expected = wiring_report()
    assert all(expected.values()), expected  # nothing empty
    deadline = time.monotonic() + 60
    while True:  # a worker may still be starting
        apis = _started(store.log_tail("api", lines=100_000), "api started")
        workers = _started(store.log_tail("worker-1", lines=100_000), "worker started")
        if apis and workers:
            break
        assert time.monotonic() < deadline, (apis, workers)
        await asyncio.sleep(0.2)
    for report in [*apis, *workers]:
        assert report == expected


async def test_a_handover_at_the_pack_station_writes_the_customers_message(
    api: Api, store: Hub, carriers: CarrierServer, kd100: Kuaidi100Server, wechat: WeChatServer,
    sms: AliyunSmsServer,
) -> None:
    """Picked, packed, waybilled and handed over on the PDA only: the API process's outbox listener writes the
    customer's 已发货 row in the handover's transaction, and a worker sends it."""
    floor = await _carrier_floor(api, store, carriers, kd100)
    await _setup_notify(api, wechat, sms, quiet=("00:00", "00:00"))
    phone = _phone()
    (order_id,) = await _ingest(floor, order_payload(
        lines=[(floor.codes[0], 1)], receiver={"name": "赵六", "phone": phone, "address": "上海市徐汇区漕溪北路1号"}
    ))
    packs: dict[int, int] = {}
    await _pick_and_pack(floor, [order_id], packs)
    station = await Pda.sign_in(floor.url, await floor.person("packer"))
    try:
        r = await station.http.post(f"/pda/v1/pack/{packs[order_id]}/waybill")
        assert r.status_code == 200, r.text
        r = await station.http.post(f"/pda/v1/pack/{packs[order_id]}/handover")
        assert r.status_code == 200, r.text
    finally:
        await station.close()
    rows = await _settled(api, order_id, 1)
    assert [(row["event"], row["channel"], row["status"]) for row in rows] == [("shipped", "aliyun_sms", "sent")]
    assert len(sms.store.sent_to(phone)) == 1


def test_every_table_is_in_the_registry() -> None:
    """A table left out of server.piccolo_app.TABLES would not be bound to the engine (nor migrated)."""
    import importlib
    import pkgutil

    from piccolo.table import Table

    import orderhub
    from server.piccolo_app import TABLES

    for mod in pkgutil.walk_packages(orderhub.__path__, "orderhub."):
        if mod.name.rsplit(".", 1)[-1] == "tables":
            importlib.import_module(mod.name)
    defined = {t for t in _subclasses(Table) if t.__module__.startswith("orderhub.")}
    assert defined and defined == set(TABLES), defined ^ set(TABLES)


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found
