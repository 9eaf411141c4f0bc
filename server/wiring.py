"""Explicit wiring: the one place that plugs listeners into the domains' hook points and adapters into the ports.

Every process calls :func:`wire` before it does anything else — the API (``server.app.create_app``), the worker
(``server.worker``), the CLI (``server.cli.main``), benchmarks and the test suite — so an API process and a worker
have the same listeners, and no module registers anything by being imported. :func:`wiring_report` says what is
plugged in (the tests compare it across processes; ``/readyz`` does not need it).
"""

from __future__ import annotations

from notify.providers import aliyun_sms, wechat_subscribe, wechat_template, wecom, wecom_cards, wecom_oa
from orderhub import db, feed
from orderhub.approvals import cards as approval_cards
from orderhub.approvals import inbox as approval_inbox
from orderhub.approvals import kinds as approval_kinds
from orderhub.approvals import live as approvals_live
from orderhub.approvals.card_port import CARD_SENDERS
from orderhub.approvals.oa_port import OA_CLIENTS
from orderhub.approvals.port import KINDS as APPROVAL_KINDS
from orderhub.carriers.jt import adapter as jt
from orderhub.carriers.kuaidi100 import adapter as kuaidi100
from orderhub.carriers.port import CARRIERS, PLATFORM_WAYBILLS, TRACKERS
from orderhub.carriers.sf import adapter as sf
from orderhub.carriers.zto import adapter as zto
from orderhub.channels.douyin import connector as douyin
from orderhub.channels.douyin import settlement as douyin_settlement
from orderhub.channels.douyin import waybill as douyin_waybill
from orderhub.channels.douyin import webhook as douyin_webhook
from orderhub.channels.jd import connector as jd
from orderhub.channels.pdd import connector as pdd
from orderhub.channels.pdd import settlement as pdd_settlement
from orderhub.channels.pdd import waybill as pdd_waybill
from orderhub.channels.port import CONNECTORS, PUSH_RECEIVERS
from orderhub.channels.taobao import connector as taobao
from orderhub.channels.taobao import settlement as taobao_settlement
from orderhub.channels.taobao import waybill as taobao_waybill
from orderhub.channels.wechat_shop import connector as wechat_shop
from orderhub.channels.wechat_shop import settlement as wechat_shop_settlement
from orderhub.events import FEED_MIRRORS, Topic
from orderhub.finance import payouts as finance_payouts
from orderhub.finance.port import SETTLEMENT_SOURCES
from orderhub.insights import alerts as threshold_alerts
from orderhub.insights import live as insights_live
from orderhub.insights import upkeep as insights
from orderhub.logs import redact_url_secrets
from orderhub.notifications import outbox
from orderhub.notifications.port import MINIPROGRAM_IDENTITIES, NOTIFIERS, NotifierChannel
from orderhub.orders import aftersales
from orderhub.orders import live as orders_live
from orderhub.orders.aftersales import APPROVAL_GATES as AFTER_SALE_GATES
from orderhub.orders.service import (
    LEAVING_PICK_FLOW_HOOKS,
    ORDER_EVENT_HOOKS,
    STATUS_CHANGE_HOOKS,
)
from orderhub.orders.surge import SURGE_HOOKS
from orderhub.picking import tasks as picking_tasks
from orderhub.picking.scans import SCAN_HOOKS
from server.piccolo_app import TABLES

__all__ = ["wire", "wiring_report"]

ALERTS_FEED = "alerts"


def register_listeners() -> None:
    """In-process listeners, called inside the transaction of the change they follow."""
    # An order event writes the outbox rows it causes (customer and staff messages) in the same transaction.
    ORDER_EVENT_HOOKS.add(outbox.on_order_event)
    # A shipped or refunded order's expected payout is marked for the next computation (finance).
    ORDER_EVENT_HOOKS.add(finance_payouts.on_order_event)
    # A surge switch or inflow alert tells the managers.
    SURGE_HOOKS.add(outbox.on_surge_event)
    # An order leaving the pick flow (cancelled, held, re-routed) is withdrawn from its pick task.
    LEAVING_PICK_FLOW_HOOKS.add(picking_tasks.withdraw_order)
    # The dashboards' rollups count a PDA scan in its transaction (order events: the catch-up job, insights.upkeep).
    SCAN_HOOKS.add(insights.on_scan)
    # After the rollup catch-up counted new events, the dashboard topics of the warehouses concerned re-read.
    insights.CAUGHT_UP_HOOKS.add(insights_live.after_catch_up)
    # A status change queues its live-dashboard deltas (the ``orders`` feed), published after commit.
    ORDER_EVENT_HOOKS.add(orders_live.on_order_event)
    STATUS_CHANGE_HOOKS.add(orders_live.on_status_change)
    # An order a rule held for an approval flow opens its request in the same transaction (and a person releasing
    # the hold closes it); an order cancelled cancels the approvals still pending about it.
    ORDER_EVENT_HOOKS.add(approval_kinds.on_order_event)
    STATUS_CHANGE_HOOKS.add(approval_kinds.on_status_change)
    # Each approval change writes the WeCom cards it causes (an approver's 同意 / 驳回 card, a copy's notice, a
    # reminder) and marks the cards of closed tasks for their update ("已由张三同意"), in its transaction.
    approvals_live.APPROVAL_HOOKS.add(approval_cards.on_change)
    # A request opened or decided hints the boards that show approvals (strategic card, a warehouse's pending /
    # overdue), after commit and throttled like the rollups' hints.
    approvals_live.APPROVAL_HOOKS.add(insights_live.on_approval_change)


def register_feeds() -> None:
    """Live dashboard topics (``/ws/dash``, docs/live-feed.md): one line per topic family, its scope check and its
    snapshot."""
    feed.FEED_TOPICS.register(
        orders_live.FAMILY, feed.FeedTopic(allow=orders_live.allow, snapshot=orders_live.snapshot)
    )
    # Hub-wide alerts (at risk, surge, short picks, stalled parcels): every Topic.ALERTS event, mirrored; threshold
    # alerts (orderhub.insights.alerts) publish there and, a warehouse's, on ``alerts:{warehouse_id}`` too.
    FEED_MIRRORS.register(Topic.ALERTS.value, feed.mirror_into(ALERTS_FEED))
    feed.FEED_TOPICS.register(
        ALERTS_FEED,
        feed.FeedTopic(
            allow=threshold_alerts.feed_allow(orders_live.WATCHERS), snapshot=threshold_alerts.feed_snapshot
        ),
    )
    # One person's approvals inbox (``approvals:{user_id}``, their own only): counts and pending tasks as snapshot.
    feed.FEED_TOPICS.register(
        approvals_live.FAMILY, feed.FeedTopic(allow=approvals_live.feed_allow, snapshot=approval_inbox.feed_snapshot)
    )
    # The three dashboard tiers: the endpoints' JSON as snapshot, "figures changed" hints after each rollup catch-up.
    feed.FEED_TOPICS.register(
        insights_live.STRATEGIC,
        feed.FeedTopic(allow=insights_live.allow_strategic, snapshot=insights_live.snapshot_strategic),
    )
    feed.FEED_TOPICS.register(
        insights_live.TACTICAL,
        feed.FeedTopic(
            allow=insights_live.allow_warehouse(insights_live.TACTICAL), snapshot=insights_live.snapshot_tactical
        ),
    )
    feed.FEED_TOPICS.register(
        insights_live.OPERATIONS,
        feed.FeedTopic(
            allow=insights_live.allow_warehouse(insights_live.OPERATIONS), snapshot=insights_live.snapshot_operations
        ),
    )


def register_integrations() -> None:
    """Adapters behind the domain ports, by code: one line per adapter (docs/adding-an-integration.md). Carrier
    and platform codes are those of their catalogues (orderhub.carriers.catalogue, orderhub.channels.catalogue)."""
    # Sales platforms: order pull, shipment write-back, stock sync.
    CONNECTORS.register("taobao", taobao.create_connector)
    CONNECTORS.register("tmall", taobao.create_connector)  # Tmall shops use the same TOP API
    CONNECTORS.register("jd", jd.create_connector)
    CONNECTORS.register("pdd", pdd.create_connector)
    CONNECTORS.register("douyin", douyin.create_connector)
    CONNECTORS.register("wechat_shop", wechat_shop.create_connector)
    # Settlement data per platform (orderhub/finance/port.py). 京东 has none: its POP settlement file is imported.
    SETTLEMENT_SOURCES.register("taobao", taobao_settlement.create_settlement_source)
    SETTLEMENT_SOURCES.register("tmall", taobao_settlement.create_settlement_source)  # same Alipay + TOP bills
    SETTLEMENT_SOURCES.register("douyin", douyin_settlement.create_settlement_source)
    SETTLEMENT_SOURCES.register("pdd", pdd_settlement.create_settlement_source)
    SETTLEMENT_SOURCES.register("wechat_shop", wechat_shop_settlement.create_settlement_source)
    # Platform message pushes (webhooks).
    PUSH_RECEIVERS.register("douyin", douyin_webhook.RECEIVER)
    # Carriers: 电子面单 (waybills).
    CARRIERS.register("SF", sf.create_carrier)
    CARRIERS.register("ZTO", zto.create_carrier)
    CARRIERS.register("JT", jt.create_carrier)
    # Sales platforms' own 电子面单 services (they take the platform's receiver ciphertext).
    PLATFORM_WAYBILLS.register("douyin", douyin_waybill.create_waybill_service)
    PLATFORM_WAYBILLS.register("pdd", pdd_waybill.create_waybill_service)
    PLATFORM_WAYBILLS.register("taobao", taobao_waybill.create_waybill_service)  # 菜鸟电子面单 (OAID)
    PLATFORM_WAYBILLS.register("tmall", taobao_waybill.create_waybill_service)
    # Parcel tracking for every carrier.
    TRACKERS.register(kuaidi100.CODE, kuaidi100.TRACKER)
    # Notifiers: customer and staff messages.
    NOTIFIERS.register(NotifierChannel.WECHAT_TEMPLATE.value, wechat_template.create_notifier)
    NOTIFIERS.register(NotifierChannel.WECHAT_SUBSCRIBE.value, wechat_subscribe.create_notifier)
    NOTIFIERS.register(NotifierChannel.SMS.value, aliyun_sms.create_notifier)
    NOTIFIERS.register(NotifierChannel.WECOM.value, wecom.create_notifier)
    MINIPROGRAM_IDENTITIES.register(NotifierChannel.WECHAT_SUBSCRIBE.value, wechat_subscribe.IDENTITY)
    # Approval cards in the approvers' chat app (企业微信 template cards, through the wecom notifier's account).
    CARD_SENDERS.register(NotifierChannel.WECOM.value, wecom_cards.create_card_sender)
    # Flows that run in WeCom's own 审批 app (runs_in: wecom_oa): oa/applyevent, getapprovaldetail, getapprovalinfo.
    OA_CLIENTS.register("wecom_oa", wecom_oa.create_oa_client)


def register_approval_kinds() -> None:
    """The kinds of approval request and what approving or rejecting each does (orderhub/approvals/kinds.py)."""
    APPROVAL_KINDS.register("order_hold", approval_kinds.ORDER_HOLD)
    APPROVAL_KINDS.register("refund_reship", approval_kinds.REFUND_RESHIP)
    APPROVAL_KINDS.register("address_change", approval_kinds.ADDRESS_CHANGE)
    APPROVAL_KINDS.register("stock_writeoff", approval_kinds.STOCK_WRITEOFF)
    APPROVAL_KINDS.register("cancel_after_pick", approval_kinds.CANCEL_AFTER_PICK)
    # After-sale cases made through the API ask for a refund_reship approval where a flow takes them.
    AFTER_SALE_GATES.register(aftersales.GATE, approval_kinds.open_after_sale_request)


def wire() -> None:
    """Register everything a process needs. Idempotent: calling it again changes nothing."""
    db.use_tables(TABLES)
    redact_url_secrets()  # platform clients put access tokens in query strings; no log may carry them
    register_listeners()
    register_integrations()
    register_approval_kinds()
    register_feeds()


def wiring_report() -> dict[str, list[str]]:
    """What is plugged in, by hook point and registry (names only): the same in every process of the hub."""

    def names(hooks: object) -> list[str]:
        return [f"{h.__module__}.{h.__qualname__}" for h in hooks]  # type: ignore[attr-defined]

    return {
        "hooks.order_event": names(ORDER_EVENT_HOOKS),
        "hooks.rollups_caught_up": names(insights.CAUGHT_UP_HOOKS),
        "hooks.surge": names(SURGE_HOOKS),
        "hooks.leaving_pick_flow": names(LEAVING_PICK_FLOW_HOOKS),
        "hooks.pda_scan": names(SCAN_HOOKS),
        "hooks.status_change": names(STATUS_CHANGE_HOOKS),
        "hooks.approval_change": names(approvals_live.APPROVAL_HOOKS),
        "registry.feed_topics": feed.FEED_TOPICS.codes(),
        "registry.feed_mirrors": FEED_MIRRORS.codes(),
        "registry.connectors": CONNECTORS.codes(),
        "registry.push_receivers": PUSH_RECEIVERS.codes(),
        "registry.settlement_sources": SETTLEMENT_SOURCES.codes(),
        "registry.carriers": CARRIERS.codes(),
        "registry.trackers": TRACKERS.codes(),
        "registry.notifiers": NOTIFIERS.codes(),
        "registry.miniprogram_identities": MINIPROGRAM_IDENTITIES.codes(),
        "registry.approval_kinds": APPROVAL_KINDS.codes(),
        "registry.approval_card_senders": CARD_SENDERS.codes(),
        "registry.approval_apps": OA_CLIENTS.codes(),
        "registry.after_sale_gates": AFTER_SALE_GATES.codes(),
        "tables": sorted(t._meta.tablename for t in TABLES),
    }
