"""Order rules (tags, priority, holds, approval, gifts, warehouse/carrier preference)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import Parameter

from api.common import MAX_INT, changes_of, present
from orderhub.approvals import flows
from orderhub.approvals.errors import ApprovalError
from orderhub.errors import NotFound, ValidationFailed
from orderhub.rules import service
from orderhub.rules.model import RequireApproval, decode_actions
from orderhub.rules.service import NewRule

__all__ = ["RuleController"]

ORDER_HOLD = "order_hold"  # the approval kind a rule's require_approval opens


async def _check_flows(actions: Any) -> None:
    """Each flow a ``require_approval`` action names must exist, be switched on and take order holds — refused
    now (422, ``field`` the action's ``flow``) rather than the order later logging ``order.approval_not_started``.
    An action naming no flow takes the first active flow that matches, as before. Malformed actions are left to
    the rules service, which says what is wrong with them."""
    try:
        decoded = decode_actions(actions)
    except ValidationFailed:
        return
    for index, action in enumerate(decoded):
        if not isinstance(action, RequireApproval) or action.flow is None:
            continue
        field = f"actions[{index}].flow"
        try:
            flow = await flows.get_flow(action.flow)
        except NotFound:
            raise ValidationFailed(
                f"审批流程 {action.flow} 不存在", code=ApprovalError.APPROVAL_FLOW_UNKNOWN, field=field
            ) from None
        if not flow.active:
            raise ValidationFailed(
                f"审批流程 {action.flow} 已停用", code=ApprovalError.APPROVAL_FLOW_INACTIVE, field=field
            )
        if ORDER_HOLD not in flow.definition.kinds:
            raise ValidationFailed(ApprovalError.APPROVAL_FLOW_WRONG_KIND, field=field)


RuleId = Annotated[int, Parameter(ge=1, le=MAX_INT)]
Priority = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)]


class RuleIn(msgspec.Struct, kw_only=True):
    """``conditions``: all must match, e.g. ``{"field": "memo", "op": "contains", "value": "发票"}``.
    ``actions``: e.g. ``{"type": "add_tag", "tag": "invoice"}``, ``{"type": "hold", "queue": "invoice"}``,
    ``{"type": "add_gift", "sku": "G-1", "qty": 1, "per_sku": "A-1", "per_qty": 1}``."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    conditions: list[dict[str, Any]]
    actions: Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1)]
    priority: Priority = 100
    enabled: bool = True
    stop: bool = False


class RulePatch(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | msgspec.UnsetType = msgspec.UNSET
    conditions: list[dict[str, Any]] | msgspec.UnsetType = msgspec.UNSET
    actions: list[dict[str, Any]] | msgspec.UnsetType = msgspec.UNSET
    priority: Priority | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    stop: bool | msgspec.UnsetType = msgspec.UNSET


class RuleOut(msgspec.Struct, kw_only=True):
    id: int
    name: str
    priority: int
    enabled: bool
    stop: bool
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    updated_at: datetime


class RuleController(Controller):
    path = "/api/v1/rules"
    tags = ["rules"]

    @post(
        "/",
        summary="Create a rule (evaluated in priority order, lowest first)",
        description="When every condition matches a new order, its actions apply: tags, priority, holds, approval, "
        "gifts, a preferred warehouse or carrier. `stop: true` ends evaluation after this rule. A "
        "`require_approval` action's `flow` must be an active approval flow that takes order holds: 422 "
        "`approval_flow_unknown`, `approval_flow_inactive` or `approval_flow_wrong_kind`, with `field` "
        "`actions[i].flow`.",
    )
    async def create(self, data: RuleIn) -> RuleOut:
        await _check_flows(data.actions)
        return present(await service.create_rule(msgspec.convert(msgspec.to_builtins(data), NewRule)), RuleOut)

    @get(
        "/",
        summary="List every order rule in evaluation order",
        description="Rules by priority (lowest first), enabled or not, with their conditions and actions.",
    )
    async def list_all(self) -> list[RuleOut]:
        return present(await service.list_rules(), list[RuleOut])

    @get(
        "/{rule_id:int}",
        summary="One order rule",
        description="The rule's conditions, actions, priority and whether it is enabled and stops evaluation.",
    )
    async def get_one(self, rule_id: RuleId) -> RuleOut:
        return present(await service.get_rule(rule_id), RuleOut)

    @patch(
        "/{rule_id:int}",
        summary="Change an order rule",
        description="Only the fields sent change; orders already evaluated keep what the old rule did. `actions` "
        "sent are checked as on creation (the flows they name: 422 `approval_flow_unknown`, "
        "`approval_flow_inactive`, `approval_flow_wrong_kind`); a change without `actions` (switching the rule "
        "off, renaming it) keeps them as they are, even when a flow they name was switched off since.",
    )
    async def update(self, rule_id: RuleId, data: RulePatch) -> RuleOut:
        changes = changes_of(data)
        if "actions" in changes:
            await _check_flows(changes["actions"])
        return present(await service.update_rule(rule_id, changes), RuleOut)

    @delete(
        "/{rule_id:int}",
        summary="Delete an order rule",
        description="New orders are no longer evaluated against it; what it already did to orders stays.",
    )
    async def remove(self, rule_id: RuleId) -> None:
        await service.delete_rule(rule_id)
