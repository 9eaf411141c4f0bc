"""Who may do what, where: the one table of every HTTP operation's roles and scope.

Each operation (``"METHOD /path/{param}"``, the route's path as litestar formats it) has a :class:`Rule`: the roles
that may call it and its :class:`Scope`. The back office's guard (``api.security.authorize``) and the PDA's
(``pda.controllers``) read this table, nothing else; ``docs/back-office.md#who-may-do-what`` is generated from it
(``python -m orderhub.auth.policy``) and ``tests/integration/test_authorization.py`` calls every operation of the
app as every role and checks the answer against it. An operation missing here is refused (fail closed).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from orderhub.auth.service import Role
from orderhub.errors import CommonError, PermissionDenied

__all__ = [
    "ANYONE",
    "POLICY",
    "PUBLIC_PREFIXES",
    "Rule",
    "Scope",
    "check_role",
    "check_scope",
    "check_warehouse",
    "markdown_table",
    "operation_key",
    "rule_for",
    "with_table",
]


class Scope(StrEnum):
    PUBLIC = "public"  # no staff token: the handler checks its own key (signature, device login, parcel token) or none
    OWN = "own"  # the caller's own account
    SHARED = "shared"  # the same for every warehouse: reading the catalogue, warehouses, hub-wide settings
    GLOBAL = "global"  # changes (or reads) something hub-wide: a user bound to a warehouse is refused
    WAREHOUSE = "warehouse"  # one warehouse's data: a user bound to a warehouse acts on that warehouse's only
    DEVICE = "device"  # a PDA / pack-station session, which is scoped to the device's warehouse
    INVOLVED = "involved"  # approvals: the requests the caller takes part in (api.approvals.access)


SCOPE_TEXT: dict[Scope, str] = {
    Scope.PUBLIC: "no staff token; the handler checks its own key (channel signature, device login, parcel token)",
    Scope.OWN: "the caller's own account",
    Scope.SHARED: "the same for every warehouse; bound users too",
    Scope.GLOBAL: "hub-wide: refused to a user bound to a warehouse (`forbidden_global`)",
    Scope.WAREHOUSE: "a bound user only on their warehouse's data (`forbidden_warehouse`; a record addressed by id "
    "in another warehouse answers 404, lists are filtered)",
    Scope.DEVICE: "a device session of the device's warehouse (the session's role is the badge user's)",
    Scope.INVOLVED: "approval requests the caller asked for, decides or is copied on; an admin or manager also "
    "every request (not bound) or their warehouse's (bound); another request answers 404 `approval_not_found`, "
    "lists are filtered",
}


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    scope: Scope
    # For Scope.WAREHOUSE: where the warehouse comes from — "path" / "query" (checked by the guard from the
    # `warehouse` parameter), "body", "order", "channel" (its default warehouse), "record" (the addressed record's),
    # "filter" (the answer holds the caller's warehouse only).
    warehouse: str = ""

    def allows(self, role: str) -> bool:
        return role in self.roles


def _roles(*roles: Role) -> frozenset[Role]:
    return frozenset(roles)


ANYONE = frozenset(Role)
ADMIN = _roles(Role.ADMIN)
MANAGERS = _roles(Role.ADMIN, Role.MANAGER)
READERS = _roles(Role.ADMIN, Role.MANAGER, Role.FINANCE, Role.APPROVER)
APPROVERS = _roles(Role.ADMIN, Role.MANAGER, Role.APPROVER)
PACKING = _roles(Role.ADMIN, Role.MANAGER, Role.PACKER)  # pack, waybill, label, hand over / ship
PICKING = _roles(Role.ADMIN, Role.MANAGER, Role.PICKER)
ON_THE_FLOOR = _roles(Role.ADMIN, Role.MANAGER, Role.PICKER, Role.PACKER)


def _public(roles: frozenset[Role] = ANYONE) -> Rule:
    return Rule(roles, Scope.PUBLIC)


def _wh(roles: frozenset[Role], where: str) -> Rule:
    return Rule(roles, Scope.WAREHOUSE, where)


def _global(roles: frozenset[Role]) -> Rule:
    return Rule(roles, Scope.GLOBAL)


def _shared(roles: frozenset[Role]) -> Rule:
    return Rule(roles, Scope.SHARED)


def _device(roles: frozenset[Role]) -> Rule:
    return Rule(roles, Scope.DEVICE)


# Paths served by the framework itself (the OpenAPI document and its viewers): public.
PUBLIC_PREFIXES = ("/schema",)

POLICY: dict[str, Rule] = {
    # sign-in
    "POST /api/v1/auth/login": _public(),
    "GET /api/v1/auth/me": Rule(ANYONE, Scope.OWN),
    "POST /api/v1/auth/logout": Rule(ANYONE, Scope.OWN),
    "POST /api/v1/auth/logout-all": Rule(ANYONE, Scope.OWN),
    # staff accounts
    "POST /api/v1/users": _global(ADMIN),
    "GET /api/v1/users": _global(ADMIN),
    "PATCH /api/v1/users/{user_id}": _global(ADMIN),
    "POST /api/v1/users/{user_id}/unlock": _wh(MANAGERS, "record"),
    # the mini-program binding: a manager for the staff below them of their warehouse (orderhub.auth.miniprogram)
    "POST /api/v1/users/{user_id}/mp-binding-code": _wh(MANAGERS, "record"),
    "DELETE /api/v1/users/{user_id}/mp-binding": _wh(MANAGERS, "record"),
    # warehouses, locations, stock
    "POST /api/v1/warehouses": _global(ADMIN),
    "GET /api/v1/warehouses": _shared(ANYONE),
    "GET /api/v1/warehouses/{code}": _shared(ANYONE),
    "PATCH /api/v1/warehouses/{code}": _global(ADMIN),
    "POST /api/v1/locations": _wh(MANAGERS, "body"),
    "GET /api/v1/locations": _wh(ANYONE, "query"),
    "PATCH /api/v1/locations/{location_id}": _wh(MANAGERS, "record"),
    "GET /api/v1/stock": _wh(ANYONE, "query"),
    "POST /api/v1/stock/adjustments": _wh(MANAGERS, "body"),
    # catalogue
    "POST /api/v1/skus": _global(MANAGERS),
    "GET /api/v1/skus": _shared(ANYONE),
    "GET /api/v1/skus/by-barcode/{barcode}": _shared(ANYONE),
    "GET /api/v1/skus/{code}": _shared(ANYONE),
    "PATCH /api/v1/skus/{code}": _global(MANAGERS),
    # customs (docs/customs.md): SKUs' declaration data, destination rule packs
    "GET /api/v1/catalog/skus/{code}/customs": _shared(ANYONE),
    "PUT /api/v1/catalog/skus/{code}/customs": _global(MANAGERS),
    "GET /api/v1/catalog/sku-customs": _shared(ANYONE),
    "POST /api/v1/catalog/sku-customs/import": _global(MANAGERS),
    "GET /api/v1/customs/packs": _shared(ANYONE),
    "GET /api/v1/customs/packs/{destination}": _shared(ANYONE),
    "POST /api/v1/customs/packs/{destination}": _global(MANAGERS),
    "GET /api/v1/customs/packs/{destination}/in-force": _shared(ANYONE),
    "GET /api/v1/customs/packs/{destination}/versions/{version}": _shared(ANYONE),
    # customs documents of an order (packers print them with the label)
    "GET /api/v1/orders/{order_id}/customs/packing-list.pdf": _wh(PACKING, "order"),
    "GET /api/v1/orders/{order_id}/customs/cn22.pdf": _wh(PACKING, "order"),
    "GET /api/v1/orders/{order_id}/customs/cn23.pdf": _wh(PACKING, "order"),
    # channels
    "POST /api/v1/channels": _global(ADMIN),
    "GET /api/v1/channels": _global(ADMIN),
    "GET /api/v1/channels/{code}": _global(ADMIN),
    "PATCH /api/v1/channels/{code}": _global(ADMIN),
    "POST /api/v1/channels/{code}/pull": _global(ADMIN),
    "GET /api/v1/channels/{code}/pulls": _global(ADMIN),
    "GET /api/v1/channels/{code}/skus": _global(ADMIN),
    "PUT /api/v1/channels/{code}/skus": _global(ADMIN),
    "DELETE /api/v1/channels/{code}/skus/{platform_sku_id}": _global(ADMIN),
    "POST /api/v1/channels/{code}/stock-resync": _global(ADMIN),
    "GET /api/v1/channels/{code}/writebacks": _global(ADMIN),
    "POST /api/v1/channels/{code}/writebacks/{writeback_id}/retry": _global(ADMIN),
    "POST /api/v1/channels/{code}/rotate-secret": _global(ADMIN),
    "GET /api/v1/writebacks": _wh(MANAGERS, "filter"),
    "POST /api/v1/writebacks/{writeback_id}/retry": _wh(MANAGERS, "record"),
    # spreadsheet imports (a channel's: the warehouse is the channel's default warehouse)
    "GET /api/v1/imports/fields": _shared(MANAGERS),
    "GET /api/v1/channels/{code}/import-mapping": _wh(MANAGERS, "channel"),
    "PUT /api/v1/channels/{code}/import-mapping": _wh(MANAGERS, "channel"),
    "POST /api/v1/channels/{code}/imports/preview": _wh(MANAGERS, "channel"),
    "POST /api/v1/channels/{code}/imports": _wh(MANAGERS, "channel"),
    "GET /api/v1/imports/{job_id}": _wh(MANAGERS, "channel"),
    # settlement file import (finance): hub-wide, like the finance view
    "GET /api/v1/finance/settlement-presets": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "POST /api/v1/finance/settlements/import": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "GET /api/v1/finance/settlement-mappings": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "POST /api/v1/finance/settlement-mappings": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "GET /api/v1/finance/settlement-mappings/{mapping_id}": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "PUT /api/v1/finance/settlement-mappings/{mapping_id}": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "DELETE /api/v1/finance/settlement-mappings/{mapping_id}": _global(_roles(Role.ADMIN, Role.FINANCE)),
    # reports (orderhub.reports, docs/reports.md): hub-wide; the signed link in the WeCom message needs no sign-in
    "GET /api/v1/finance/reports": _global(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE)),
    "POST /api/v1/finance/reports/weekly": _global(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE)),
    "GET /api/v1/finance/reports/{report_id}/download": _global(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE)),
    "GET /api/v1/finance/reports/{report_id}/file": _public(),
    "GET /api/v1/finance/reconciliation/daily.xlsx": _global(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE)),
    "GET /api/v1/finance/reconciliation/daily.pdf": _global(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE)),
    # orders
    "POST /api/v1/orders/ingest": _public(ADMIN),  # an admin's bearer token, or the channel's signature
    "GET /api/v1/orders": _wh(READERS, "filter"),
    "GET /api/v1/orders/at-risk": _wh(READERS, "filter"),
    "GET /api/v1/orders/export": _wh(READERS, "filter"),
    "GET /api/v1/orders/{order_id}": _wh(READERS, "order"),
    "POST /api/v1/orders/{order_id}/cancel": _wh(MANAGERS, "order"),
    "POST /api/v1/orders/{order_id}/release": _wh(APPROVERS, "order"),
    "POST /api/v1/orders/{order_id}/retry": _wh(MANAGERS, "order"),
    "PATCH /api/v1/orders/{order_id}/receiver": _wh(MANAGERS, "order"),
    # an encrypted receiver decrypted through its platform to look at it (audited): who may read receivers in clear
    "POST /api/v1/orders/{order_id}/receiver/decrypt": _wh(MANAGERS, "order"),
    "GET /api/v1/orders/{order_id}/receiver/decrypts": _wh(MANAGERS, "order"),
    "POST /api/v1/orders/{order_id}/ship": _wh(PACKING, "order"),
    # rules and the pipeline
    "POST /api/v1/rules": _global(MANAGERS),
    "GET /api/v1/rules": _shared(MANAGERS),
    "GET /api/v1/rules/{rule_id}": _shared(MANAGERS),
    "PATCH /api/v1/rules/{rule_id}": _global(MANAGERS),
    "DELETE /api/v1/rules/{rule_id}": _global(MANAGERS),
    # add-on offers (docs/offers.md): the storefront's query is signed with the channel's key
    "GET /api/v1/offers": _public(),
    "GET /api/v1/offers/manage": _shared(MANAGERS),
    "POST /api/v1/offers": _global(MANAGERS),
    "POST /api/v1/offers/from-pattern": _global(MANAGERS),
    "GET /api/v1/offers/{offer_id}": _shared(MANAGERS),
    "PATCH /api/v1/offers/{offer_id}": _global(MANAGERS),
    "POST /api/v1/offers/{offer_id}/enable": _global(MANAGERS),
    "POST /api/v1/offers/{offer_id}/disable": _global(MANAGERS),
    "GET /api/v1/offers/{offer_id}/log": _shared(MANAGERS),
    "POST /api/v1/offers/{offer_id}/gift-rule": _global(MANAGERS),
    "GET /api/v1/offers/{offer_id}/effect": _global(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE)),
    "GET /api/v1/pipeline/surge": _shared(MANAGERS),
    "PUT /api/v1/pipeline/surge": _global(ADMIN),
    "GET /api/v1/pipeline/surge/events": _shared(MANAGERS),
    # picking (back office)
    "GET /api/v1/picking/{warehouse}/settings": _wh(MANAGERS, "path"),
    "PATCH /api/v1/picking/{warehouse}/settings": _wh(MANAGERS, "path"),
    "GET /api/v1/picking/{warehouse}/sku-locations": _wh(MANAGERS, "path"),
    "PUT /api/v1/picking/{warehouse}/sku-locations": _wh(MANAGERS, "path"),
    "POST /api/v1/picking/{warehouse}/waves/run": _wh(MANAGERS, "path"),
    "POST /api/v1/picking/{warehouse}/waves": _wh(MANAGERS, "path"),
    "GET /api/v1/picking/{warehouse}/tasks": _wh(MANAGERS, "path"),
    "GET /api/v1/picking/{warehouse}/waves": _wh(MANAGERS, "path"),
    "GET /api/v1/picking/waves": _wh(MANAGERS, "query"),
    "GET /api/v1/picking/waves/{wave}": _wh(MANAGERS, "record"),
    "POST /api/v1/picking/devices": _wh(MANAGERS, "body"),
    "GET /api/v1/picking/devices": _wh(MANAGERS, "filter"),
    "PATCH /api/v1/picking/devices/{code}": _wh(MANAGERS, "record"),
    "GET /api/v1/picking/tasks/{task_id}": _wh(MANAGERS, "record"),
    "POST /api/v1/picking/tasks/{task_id}/assign": _wh(MANAGERS, "record"),
    "GET /api/v1/picking/{warehouse}/putbacks": _wh(MANAGERS, "path"),
    "GET /api/v1/picking/putbacks/{putback_id}": _wh(MANAGERS, "record"),
    "POST /api/v1/picking/putbacks/{putback_id}/done": _wh(MANAGERS, "record"),
    "GET /api/v1/picking/quality/pickers": _wh(MANAGERS, "filter"),
    "GET /api/v1/picking/quality/skus": _wh(MANAGERS, "filter"),
    "GET /api/v1/picking/quality/errors": _wh(MANAGERS, "filter"),
    # logistics
    "POST /api/v1/carrier-accounts": _global(ADMIN),
    "GET /api/v1/carrier-accounts": _shared(MANAGERS),
    "PATCH /api/v1/carrier-accounts/{code}": _global(ADMIN),
    "POST /api/v1/orders/{order_id}/waybill": _wh(PACKING, "order"),
    "DELETE /api/v1/orders/{order_id}/waybill-request": _wh(MANAGERS, "order"),
    "POST /api/v1/orders/{order_id}/handover": _wh(PACKING, "order"),
    "GET /api/v1/orders/{order_id}/label": _wh(PACKING, "order"),
    "POST /api/v1/waybills/batch": _wh(PACKING, "order"),
    "POST /api/v1/picking/waves/{wave}/waybills": _wh(PACKING, "record"),
    "GET /api/v1/picking/waves/{wave}/labels": _wh(PACKING, "record"),
    "PUT /api/v1/logistics/rate-cards/{warehouse}/{carrier}": _wh(MANAGERS, "path"),
    "DELETE /api/v1/logistics/rate-cards/{warehouse}/{carrier}": _wh(MANAGERS, "path"),
    "GET /api/v1/logistics/rate-cards": _wh(MANAGERS, "query"),
    "POST /api/v1/logistics/carrier-rules": _global(MANAGERS),
    "GET /api/v1/logistics/carrier-rules": _shared(MANAGERS),
    "DELETE /api/v1/logistics/carrier-rules/{rule_id}": _global(MANAGERS),
    "GET /api/v1/logistics/quote/{order_id}": _wh(PACKING, "order"),
    "PUT /api/v1/logistics/tracking-provider": _global(ADMIN),
    "GET /api/v1/logistics/parcels": _wh(MANAGERS, "filter"),
    "GET /api/v1/orders/{order_id}/tracking": _wh(PACKING, "order"),
    # notifications
    "PUT /api/v1/notify/providers/{channel}": _global(ADMIN),
    "GET /api/v1/notify/providers": _shared(MANAGERS),
    "GET /api/v1/notify/templates": _shared(MANAGERS),
    "PUT /api/v1/notify/templates/{event}/{channel}": _global(MANAGERS),
    "DELETE /api/v1/notify/templates/{event}/{channel}": _global(MANAGERS),
    "GET /api/v1/notify/settings": _shared(MANAGERS),
    "PUT /api/v1/notify/settings": _global(ADMIN),
    "PATCH /api/v1/notify/settings": _global(ADMIN),
    "PUT /api/v1/notify/contacts/{phone}": _global(MANAGERS),
    "GET /api/v1/notify/contacts/{phone}": _shared(MANAGERS),
    "GET /api/v1/orders/{order_id}/notifications": _wh(MANAGERS, "order"),
    "GET /api/v1/notifications": _wh(MANAGERS, "filter"),
    "POST /api/v1/notifications/{notification_id}/resend": _wh(MANAGERS, "record"),
    # threshold alerts (orderhub.insights.alerts): a bound manager manages and sees their warehouse's only
    "GET /api/v1/alert-rules": _wh(MANAGERS, "filter"),
    "POST /api/v1/alert-rules": _wh(MANAGERS, "body"),
    "PATCH /api/v1/alert-rules/{rule_id}": _wh(MANAGERS, "record"),
    "DELETE /api/v1/alert-rules/{rule_id}": _wh(MANAGERS, "record"),
    "GET /api/v1/alerts": _wh(READERS, "filter"),
    "POST /api/v1/alerts/{alert_id}/ack": _wh(MANAGERS, "record"),
    # finance (orderhub.finance, docs/finance.md): fee settings and settlement data by finance; the reconciliation
    # and the finance view also read by managers
    "GET /api/v1/finance/fees/{channel}": _global(_roles(Role.ADMIN, Role.FINANCE, Role.MANAGER)),
    "PUT /api/v1/finance/fees/{channel}": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "PUT /api/v1/finance/settlement-settings/{channel}": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "POST /api/v1/finance/settlements/lines": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "POST /api/v1/finance/settlements/pull": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "POST /api/v1/finance/reconciliation/rerun": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "GET /api/v1/finance/reconciliation/daily": _global(_roles(Role.ADMIN, Role.FINANCE, Role.MANAGER)),
    "GET /api/v1/finance/differences": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "GET /api/v1/finance/differences/{recon_id}": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "POST /api/v1/finance/differences/{recon_id}/resolve": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "GET /api/v1/finance/overview": _global(_roles(Role.ADMIN, Role.FINANCE)),
    "GET /api/v1/dash/finance": _global(_roles(Role.ADMIN, Role.FINANCE)),
    # the order health index (orderhub.insights.health): hub-wide views for the strategic tier; rectifications by
    # warehouse for a bound manager; customer-service inquiries on an order (the KPIs' query rate)
    "GET /api/v1/health/overview": _global(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE)),
    "GET /api/v1/health/ranking": _global(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE)),
    "GET /api/v1/health/scores": _wh(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE), "filter"),
    "GET /api/v1/health/settings": _shared(ADMIN),
    "PUT /api/v1/health/settings": _global(ADMIN),
    "POST /api/v1/health/recompute": _global(ADMIN),
    "GET /api/v1/health/rectifications": _wh(MANAGERS, "filter"),
    "POST /api/v1/health/rectifications/{rectification_id}/comments": _wh(MANAGERS, "record"),
    "POST /api/v1/health/rectifications/{rectification_id}/resolve": _wh(MANAGERS, "record"),
    # insights mined from the orders (orderhub.insights.copurchase, .peaks): hub-wide, managers and admins
    "POST /api/v1/insights/copurchase/runs": _global(MANAGERS),
    "GET /api/v1/insights/copurchase/runs": _global(MANAGERS),
    "GET /api/v1/insights/copurchase/runs/{run_id}": _global(MANAGERS),
    "GET /api/v1/insights/copurchase/runs/{run_id}/patterns": _global(MANAGERS),
    "GET /api/v1/insights/copurchase/patterns/{pattern_id}": _global(MANAGERS),
    "GET /api/v1/insights/peaks": _global(MANAGERS),
    "POST /api/v1/orders/{order_id}/inquiries": _wh(APPROVERS, "order"),
    "GET /api/v1/orders/{order_id}/inquiries": _wh(READERS, "order"),
    # platforms' and carriers' pushes, the customer's pages, operations
    "POST /api/v1/webhooks/douyin/{code}": _public(),
    "POST /api/v1/webhooks/kuaidi100/{tracking_id}": _public(),
    # the approval cards' WeCom callback: WeCom's msg_signature is checked by the handler (notify.providers.wecom_cards)
    "GET /api/v1/wecom/approvals/callback": _public(),
    "POST /api/v1/wecom/approvals/callback": _public(),
    "GET /t/{token}": _public(),
    "GET /m": _public(),  # the managers' H5 console (static files, server.console); data via the API
    "GET /m/{file_path}": _public(),
    "GET /pda": _public(),  # the handhelds' H5 client (static files, server.pda_pages); data via /pda/v1
    "GET /pda/{file_path}": _public(),
    "GET /pda/pack": _public(),
    "POST /mp/v1/customer/subscriptions": _public(),
    "GET /mp/v1/customer/parcels/{token}": _public(),
    "POST /mp/v1/auth/login": _public(),  # WeChat's login code; the bound staff account's role and warehouse
    "POST /mp/v1/auth/bind": _public(),  # WeChat's login code + a binding code or the phone WeChat vouches for
    "GET /healthz": _public(),
    "GET /readyz": _public(),
    "GET /metrics": _public(),
    # the handhelds (a device session: the badge user's role, the device's warehouse)
    "POST /pda/v1/login": _public(),  # the sign-in admits the floor roles (picking.sessions)
    "POST /pda/v1/logout": _device(ON_THE_FLOOR),
    "WEBSOCKET /ws/floor": _device(ON_THE_FLOOR),
    # the live dashboards: the bearer token is checked by the handler (header or first message); each topic checks
    # its own roles and warehouse (orderhub.feed.FEED_TOPICS)
    "WEBSOCKET /ws/dash": _public(),
    # the three dashboard tiers (orderhub.insights.tiers): hub-wide figures, a warehouse's, the caller's own
    "GET /api/v1/dash/strategic": _global(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE)),
    "GET /api/v1/dash/tactical": _wh(MANAGERS, "filter"),
    "GET /api/v1/dash/operations": _wh(MANAGERS, "filter"),
    "GET /api/v1/dash/approvals": _wh(MANAGERS, "filter"),
    "GET /api/v1/dash/me": Rule(ANYONE, Scope.OWN),
    "GET /api/v1/dash/offers": _global(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE)),
    "GET /api/v1/dash/drill": _wh(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE), "filter"),
    # approvals (orderhub.approvals, api.approvals): flows are hub-wide; requests are seen and acted on by the people
    # involved (the engine checks who holds a task); anyone may ask, a bound user about their warehouse only
    "GET /api/v1/approvals/flows": _shared(MANAGERS),
    "POST /api/v1/approvals/flows": _global(ADMIN),
    "GET /api/v1/approvals/flows/{code}": _shared(MANAGERS),
    "PATCH /api/v1/approvals/flows/{code}": _global(ADMIN),
    "POST /api/v1/approvals/flows/{code}/versions": _global(ADMIN),
    "POST /api/v1/approvals/requests": _wh(ANYONE, "order"),  # the order's, or the stock's (payload.warehouse)
    "GET /api/v1/approvals/requests": Rule(ANYONE, Scope.INVOLVED),
    "GET /api/v1/approvals/requests/{request_id}": Rule(ANYONE, Scope.INVOLVED),
    "POST /api/v1/approvals/requests/{request_id}/approve": Rule(ANYONE, Scope.INVOLVED),
    "POST /api/v1/approvals/requests/{request_id}/reject": Rule(ANYONE, Scope.INVOLVED),
    "POST /api/v1/approvals/requests/{request_id}/add-signer": Rule(ANYONE, Scope.INVOLVED),
    "POST /api/v1/approvals/requests/{request_id}/transfer": Rule(ANYONE, Scope.INVOLVED),
    "POST /api/v1/approvals/requests/{request_id}/comment": Rule(ANYONE, Scope.INVOLVED),
    "POST /api/v1/approvals/requests/{request_id}/withdraw": Rule(ANYONE, Scope.INVOLVED),
    "POST /api/v1/approvals/requests/{request_id}/remind": Rule(ANYONE, Scope.INVOLVED),
    "GET /api/v1/approvals/inbox": Rule(ANYONE, Scope.OWN),
    "GET /api/v1/approvals/inbox/counts": Rule(ANYONE, Scope.OWN),
    "GET /api/v1/approvals/people": _shared(ANYONE),
    "GET /api/v1/approvals/audit/export": _global(ADMIN),
    "GET /api/v1/approvals/audit/verify": _global(ADMIN),
    # after-sale cases (orderhub.orders.aftersales): hub-wide; managers act, finance reads (no customer-service role)
    "POST /api/v1/aftersales": _global(MANAGERS),
    "GET /api/v1/aftersales": _global(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE)),
    "GET /api/v1/aftersales/{after_sale_id}": _global(_roles(Role.ADMIN, Role.MANAGER, Role.FINANCE)),
    "POST /api/v1/aftersales/{after_sale_id}/approve": _global(MANAGERS),
    "POST /api/v1/aftersales/{after_sale_id}/reject": _global(MANAGERS),
    "POST /api/v1/aftersales/{after_sale_id}/refund": _global(MANAGERS),
    "POST /api/v1/aftersales/{after_sale_id}/close": _global(MANAGERS),
    # the same inbox, detail and one-tap decisions in the staff mini-program (miniprogram_api.staff)
    "GET /mp/v1/staff/approvals/inbox": Rule(ANYONE, Scope.OWN),
    "GET /mp/v1/staff/approvals/{request_id}": Rule(ANYONE, Scope.INVOLVED),
    "POST /mp/v1/staff/approvals/{request_id}/approve": Rule(ANYONE, Scope.INVOLVED),
    "POST /mp/v1/staff/approvals/{request_id}/reject": Rule(ANYONE, Scope.INVOLVED),
    "POST /mp/v1/staff/approvals/{request_id}/transfer": Rule(ANYONE, Scope.INVOLVED),
    "GET /pda/v1/station": _device(ON_THE_FLOOR),
    "GET /pda/v1/tasks/next": _device(PICKING),
    "GET /pda/v1/tasks/{task_id}": _device(PICKING),
    "POST /pda/v1/tasks/{task_id}/claim": _device(PICKING),
    "POST /pda/v1/scans": _device(PICKING),
    "POST /pda/v1/tasks/{task_id}/complete": _device(PICKING),
    "GET /pda/v1/putbacks": _device(ON_THE_FLOOR),
    "POST /pda/v1/putbacks/{putback_id}/done": _device(ON_THE_FLOOR),
    "POST /pda/v1/returns/{after_sale_id}/receive": _device(ON_THE_FLOOR),
    "POST /pda/v1/pack": _device(PACKING),
    "POST /pda/v1/pack/{pack_id}/scans": _device(PACKING),
    "POST /pda/v1/pack/{pack_id}/weigh": _device(PACKING),
    "POST /pda/v1/pack/{pack_id}/waybill": _device(PACKING),
    "POST /pda/v1/pack/{pack_id}/handover": _device(PACKING),
    "GET /pda/v1/pack/{pack_id}/label": _device(PACKING),
    "POST /pda/v1/pack/{pack_id}/print": _device(PACKING),
    "POST /pda/v1/waves/{wave}/waybills": _device(PACKING),
    "GET /pda/v1/waves/{wave}/labels": _device(PACKING),
}


def operation_key(method: str, path_template: str) -> str:
    """``"GET /api/v1/orders/{order_id}"`` — a route's method and its path as litestar formats it."""
    return f"{method.upper()} {path_template}"


def rule_for(method: str, path_template: str) -> Rule | None:
    rule = POLICY.get(operation_key(method, path_template))
    if rule is None and path_template.startswith(PUBLIC_PREFIXES) and method.upper() == "GET":
        return _public()
    return rule


def check_role(rule: Rule | None, role: str, key: str) -> None:
    """Refuse (403 ``forbidden``) a role the operation's rule does not name, and any caller of an unknown one."""
    if rule is None:
        raise PermissionDenied(f"操作 {key} 没有登记权限，已拒绝")
    if not rule.allows(role):
        names = "、".join(sorted(r.value for r in rule.roles))
        raise PermissionDenied(f"需要以下角色之一：{names}", code=CommonError.FORBIDDEN)


def check_scope(rule: Rule, bound_warehouse: str | None, params: Mapping[str, object]) -> None:
    """What the guard can check without a lookup: a bound user on a hub-wide operation, or naming another warehouse
    in the ``warehouse`` path / query parameter."""
    if bound_warehouse is None:
        return
    if rule.scope is Scope.GLOBAL:
        raise PermissionDenied(f"账号绑定了仓库 {bound_warehouse}，不能修改全局配置", code=CommonError.FORBIDDEN_GLOBAL)
    if rule.scope is Scope.WAREHOUSE and rule.warehouse in ("path", "query"):
        named = params.get("warehouse")
        if isinstance(named, str) and named and named != bound_warehouse:
            raise PermissionDenied(
                f"只能操作本仓库（{bound_warehouse}）的数据", code=CommonError.FORBIDDEN_WAREHOUSE, field="warehouse"
            )


def check_warehouse(bound_warehouse_id: int | None, resource_warehouse_id: int | None, *, field: str) -> None:
    """A user bound to a warehouse acts on that warehouse's resources only (a resource of no warehouse — e.g. a
    channel without a default warehouse — is hub-wide: refused too)."""
    if bound_warehouse_id is not None and resource_warehouse_id != bound_warehouse_id:
        raise PermissionDenied(
            "该数据属于其他仓库，只能操作本仓库的数据", code=CommonError.FORBIDDEN_WAREHOUSE, field=field
        )


def _role_cell(roles: Iterable[Role]) -> str:
    names = {r.value for r in roles}
    if names == {r.value for r in Role}:
        return "anyone"
    return ", ".join(r.value for r in Role if r.value in names)


def markdown_table() -> str:
    """The table as docs/back-office.md shows it (between its ``policy`` markers)."""
    lines = ["| operation | roles | scope | warehouse from |", "|---|---|---|---|"]
    for key, rule in POLICY.items():
        lines.append(f"| `{key}` | {_role_cell(rule.roles)} | {rule.scope.value} | {rule.warehouse} |")
    lines += ["", "Scopes:", ""]
    lines += [f"- `{scope.value}` — {text}" for scope, text in SCOPE_TEXT.items()]
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- policy table: python -m orderhub.auth.policy -->", "<!-- end of policy table -->"


def with_table(doc: str) -> str:
    """``doc`` with the text between its policy markers replaced by :func:`markdown_table`."""
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{markdown_table()}{END}{tail}"


if __name__ == "__main__":  # rewrite the table in docs/back-office.md
    path = Path(__file__).resolve().parents[2] / "docs" / "back-office.md"
    path.write_text(with_table(path.read_text()))
    sys.stdout.write(f"wrote {len(POLICY)} operations to {path}\n")
