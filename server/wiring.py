"""Explicit wiring: the one place that plugs listeners into the domains' hook points and adapters into the ports.

Every process calls :func:`wire` before it does anything else — the API (``server.app.create_app``), the worker
(``server.worker``), the CLI (``server.cli.main``), benchmarks and the test suite — so an API process and a worker
have the same listeners, and no module registers anything by being imported. :func:`wiring_report` says what is
plugged in (the tests compare it across processes; ``/readyz`` does not need it).
"""

from __future__ import annotations

from notify.providers import aliyun_sms, wechat_subscribe, wechat_template, wecom
from orderhub import db
from orderhub.notifications import outbox
from orderhub.notifications.port import MINIPROGRAM_IDENTITIES, NOTIFIERS, NotifierChannel
from orderhub.orders.service import LEAVING_PICK_FLOW_HOOKS, ORDER_EVENT_HOOKS
from orderhub.orders.surge import SURGE_HOOKS
from orderhub.picking import tasks as picking_tasks
from server.piccolo_app import TABLES

__all__ = ["wire", "wiring_report"]


def register_listeners() -> None:
    """In-process listeners, called inside the transaction of the change they follow."""
    # An order event writes the outbox rows it causes (customer and staff messages) in the same transaction.
    ORDER_EVENT_HOOKS.add(outbox.on_order_event)
    # A surge switch or inflow alert tells the managers.
    SURGE_HOOKS.add(outbox.on_surge_event)
    # An order leaving the pick flow (cancelled, held, re-routed) is withdrawn from its pick task.
    LEAVING_PICK_FLOW_HOOKS.add(picking_tasks.withdraw_order)


def register_integrations() -> None:
    """Adapters behind the domain ports, by code."""
    NOTIFIERS.register(NotifierChannel.WECHAT_TEMPLATE.value, wechat_template.create_notifier)
    NOTIFIERS.register(NotifierChannel.WECHAT_SUBSCRIBE.value, wechat_subscribe.create_notifier)
    NOTIFIERS.register(NotifierChannel.SMS.value, aliyun_sms.create_notifier)
    NOTIFIERS.register(NotifierChannel.WECOM.value, wecom.create_notifier)
    MINIPROGRAM_IDENTITIES.register(NotifierChannel.WECHAT_SUBSCRIBE.value, wechat_subscribe.IDENTITY)


def wire() -> None:
    """Register everything a process needs. Idempotent: calling it again changes nothing."""
    db.use_tables(TABLES)
    register_listeners()
    register_integrations()


def wiring_report() -> dict[str, list[str]]:
    """What is plugged in, by hook point and registry (names only): the same in every process of the hub."""

    def names(hooks: object) -> list[str]:
        return [f"{h.__module__}.{h.__qualname__}" for h in hooks]  # type: ignore[attr-defined]

    return {
        "hooks.order_event": names(ORDER_EVENT_HOOKS),
        "hooks.surge": names(SURGE_HOOKS),
        "hooks.leaving_pick_flow": names(LEAVING_PICK_FLOW_HOOKS),
        "registry.notifiers": NOTIFIERS.codes(),
        "registry.miniprogram_identities": MINIPROGRAM_IDENTITIES.codes(),
        "tables": sorted(t._meta.tablename for t in TABLES),
    }
