"""Rules: CRUD, and evaluation of all enabled rules over one order (in priority order)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import NotFound, ValidationFailed
from orderhub.rules.model import (
    Action,
    AddGift,
    AddTag,
    Condition,
    GiftsFromMemo,
    Hold,
    OrderFacts,
    PreferCarrier,
    PreferWarehouse,
    RequireApproval,
    SetPriority,
    decode_actions,
    decode_conditions,
    matches,
)
from orderhub.rules.tables import Rule

__all__ = [
    "FiredRule",
    "GiftLine",
    "HoldRequest",
    "NewRule",
    "RuleOutcome",
    "RuleView",
    "create_rule",
    "delete_rule",
    "evaluate",
    "get_rule",
    "list_rules",
    "load_enabled_rules",
    "memo_gift_candidates",
    "update_rule",
]


class NewRule(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    conditions: list[Any]
    actions: list[Any]
    priority: int = 100
    enabled: bool = True
    stop: bool = False


class RuleView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    priority: int
    enabled: bool
    stop: bool
    conditions: list[Condition]
    actions: list[Action]
    updated_at: datetime


class GiftLine(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    qty: int
    rule_id: int


class HoldRequest(msgspec.Struct, frozen=True, kw_only=True):
    queue: str
    reason: str
    data: dict[str, Any] = {}


class FiredRule(msgspec.Struct, frozen=True, kw_only=True):
    rule_id: int
    name: str
    did: list[str]


class RuleOutcome(msgspec.Struct, kw_only=True):
    tags: list[str]
    priority: str
    holds: list[HoldRequest]
    gifts: list[GiftLine]
    memo_gift_rules: list[int]
    preferred_warehouse: str | None = None
    preferred_carrier: str | None = None
    fired: list[FiredRule] = []


def _view(row: Mapping[str, Any]) -> RuleView:
    return RuleView(
        id=row["id"],
        name=row["name"],
        priority=row["priority"],
        enabled=bool(row["enabled"]),
        stop=bool(row["stop"]),
        conditions=decode_conditions(msgspec.json.decode(row["conditions"])),
        actions=decode_actions(msgspec.json.decode(row["actions"])),
        updated_at=row["updated_at"],
    )


def _validated(name: str, conditions: Any, actions: Any) -> tuple[str, str, str]:
    if not name.strip():
        raise ValidationFailed("规则名称不能为空", field="name")
    c = decode_conditions(conditions)
    a = decode_actions(actions)
    return name.strip(), msgspec.json.encode(c).decode(), msgspec.json.encode(a).decode()


async def create_rule(cmd: NewRule) -> RuleView:
    name, conditions, actions = _validated(cmd.name, cmd.conditions, cmd.actions)
    now = clock.now()
    async with db.transaction():
        inserted = await Rule.insert(
            Rule(
                name=name,
                priority=cmd.priority,
                enabled=cmd.enabled,
                stop=cmd.stop,
                conditions=conditions,
                actions=actions,
                created_at=now,
                updated_at=now,
            )
        ).returning(Rule.id)
    return await get_rule(int(inserted[0]["id"]))


async def get_rule(rule_id: int) -> RuleView:
    row = await Rule.select().where(Rule.id == rule_id).first()
    if row is None:
        raise NotFound("规则不存在", field="id")
    return _view(row)


async def list_rules() -> list[RuleView]:
    return [_view(row) for row in await Rule.select().order_by(Rule.priority).order_by(Rule.id)]


async def update_rule(rule_id: int, changes: Mapping[str, Any]) -> RuleView:
    current = await get_rule(rule_id)
    name, conditions, actions = _validated(
        changes.get("name", current.name),
        changes.get("conditions", msgspec.to_builtins(current.conditions)),
        changes.get("actions", msgspec.to_builtins(current.actions)),
    )
    values: dict[Any, Any] = {
        Rule.name: name,
        Rule.conditions: conditions,
        Rule.actions: actions,
        Rule.updated_at: clock.now(),
    }
    for key, column in (("priority", Rule.priority), ("enabled", Rule.enabled), ("stop", Rule.stop)):
        if key in changes:
            values[column] = changes[key]
    async with db.transaction():
        await Rule.update(values).where(Rule.id == rule_id)
    return await get_rule(rule_id)


async def delete_rule(rule_id: int) -> None:
    async with db.transaction():
        deleted = await Rule.delete().where(Rule.id == rule_id).returning(Rule.id)
    if not deleted:
        raise NotFound("规则不存在", field="id")


async def load_enabled_rules() -> list[RuleView]:
    rows = await Rule.select().where(Rule.enabled == True).order_by(Rule.priority).order_by(Rule.id)  # noqa: E712
    return [_view(row) for row in rows]


def _describe(action: Action) -> str:
    match action:
        case AddTag(tag=tag):
            return f"添加标签 {tag}"
        case SetPriority(priority=priority):
            return f"优先级设为 {priority}"
        case Hold(queue=queue):
            return f"挂起到队列 {queue}"
        case RequireApproval(flow=None):
            return "需要审批（挂起到 approval 队列）"
        case RequireApproval(flow=flow):
            return f"需要审批（挂起到 approval 队列，审批流程 {flow}）"
        case AddGift(sku=sku, qty=qty, per_sku=None):
            return f"赠送 {sku}×{qty}"
        case AddGift(sku=sku, qty=qty, per_sku=per_sku, per_qty=per_qty):
            return f"每买 {per_sku}×{per_qty} 赠送 {sku}×{qty}"
        case GiftsFromMemo():
            return "按备注添加赠品"
        case PreferWarehouse(warehouse=warehouse):
            return f"优先从仓库 {warehouse} 发货"
        case PreferCarrier(carrier=carrier):
            return f"优先使用快递 {carrier}"
    return "?"


def evaluate(facts: OrderFacts, rules: Sequence[RuleView]) -> RuleOutcome:
    """Run enabled rules in order over ``facts`` (which actions update as they go). Pure: no I/O."""
    outcome = RuleOutcome(tags=list(facts.tags), priority=facts.priority, holds=[], gifts=[], memo_gift_rules=[])
    for rule in rules:
        if not matches(facts, rule.conditions):
            continue
        did: list[str] = []
        for action in rule.actions:
            if isinstance(action, AddTag):
                if action.tag not in outcome.tags:
                    outcome.tags.append(action.tag)
            elif isinstance(action, SetPriority):
                outcome.priority = action.priority
            elif isinstance(action, Hold):
                outcome.holds.append(HoldRequest(queue=action.queue, reason=action.reason, data={"rule_id": rule.id}))
            elif isinstance(action, RequireApproval):
                data: dict[str, Any] = {"rule_id": rule.id, **({"flow": action.flow} if action.flow else {})}
                outcome.holds.append(HoldRequest(queue="approval", reason="needs_approval", data=data))
            elif isinstance(action, AddGift):
                if action.per_sku is None:
                    qty = action.qty
                else:
                    qty = facts.sku_qty.get(action.per_sku, 0) // action.per_qty * action.qty
                if qty > 0:
                    outcome.gifts.append(GiftLine(sku=action.sku, qty=qty, rule_id=rule.id))
                else:
                    continue
            elif isinstance(action, GiftsFromMemo):
                outcome.memo_gift_rules.append(rule.id)
            elif isinstance(action, PreferWarehouse):
                outcome.preferred_warehouse = action.warehouse
            elif isinstance(action, PreferCarrier):
                outcome.preferred_carrier = action.carrier
            did.append(_describe(action))
        facts.tags, facts.priority = outcome.tags, outcome.priority
        outcome.fired.append(FiredRule(rule_id=rule.id, name=rule.name, did=did))
        if rule.stop:
            break
    return outcome


_MEMO_GIFT = re.compile(r"(?:赠品|赠送|送)\s*[:：]?\s*([A-Za-z0-9][A-Za-z0-9\-_.]*)\s*(?:[xX×*]\s*(\d{1,4}))?")


def memo_gift_candidates(memo: str) -> list[tuple[str, int]]:
    """``赠品：SKU-1×2`` / ``送 SKU-2`` → [("SKU-1", 2), ("SKU-2", 1)]; the caller keeps known SKU codes only."""
    return [(m.group(1), int(m.group(2) or 1)) for m in _MEMO_GIFT.finditer(memo)]
