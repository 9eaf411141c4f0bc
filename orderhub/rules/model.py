"""Rule conditions and actions: their shapes, validation, and evaluation over an order's facts.

A rule fires when all its conditions match. Conditions see the order as it stands after earlier rules
(a tag added by rule 1 can be matched by rule 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from orderhub.errors import ValidationFailed

__all__ = [
    "Action",
    "AddGift",
    "AddTag",
    "Condition",
    "GiftsFromMemo",
    "Hold",
    "OrderFacts",
    "PreferCarrier",
    "PreferWarehouse",
    "RequireApproval",
    "SetPriority",
    "decode_actions",
    "decode_conditions",
    "matches",
]

PRIORITIES = ("urgent", "vip", "normal")


class OrderFacts(msgspec.Struct, kw_only=True):
    """What conditions can look at. Mutable: actions of earlier rules update tags and priority."""

    channel: str
    buyer_nick: str
    buyer_phone: str
    buyer_memo: str
    seller_memo: str
    province: str
    goods_amount: int
    paid_amount: int
    sku_qty: dict[str, int]  # sku code → total quantity (non-gift lines)
    tags: list[str]
    priority: str


class Condition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``field`` ``op`` ``value``; for ``field="sku_qty"`` also ``sku``.

    fields and ops: memo / buyer_memo / seller_memo: contains, contains_any, not_contains ·
    paid_amount / goods_amount (fen) / quantity (total pieces) / sku_qty: >, >=, <, <=, == ·
    channel / province / buyer: in, not_in · sku: contains_any, contains_all · tags: contains, not_contains
    """

    field: str
    op: str
    value: Any
    sku: str | None = None


_TEXT = {"memo", "buyer_memo", "seller_memo"}
_NUMBER = {"paid_amount", "goods_amount", "quantity", "sku_qty"}
_SET = {"channel", "province", "buyer"}
_OPS: dict[str, set[str]] = {
    **{f: {"contains", "contains_any", "not_contains"} for f in _TEXT},
    **{f: {">", ">=", "<", "<=", "=="} for f in _NUMBER},
    **{f: {"in", "not_in"} for f in _SET},
    "sku": {"contains_any", "contains_all"},
    "tags": {"contains", "not_contains"},
}


class AddTag(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="add_tag", forbid_unknown_fields=True):
    tag: str


class SetPriority(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="set_priority", forbid_unknown_fields=True
):
    priority: Literal["urgent", "vip", "normal"]


class Hold(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="hold", forbid_unknown_fields=True):
    queue: str
    reason: str = "held_by_rule"


class RequireApproval(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag_field="type",
    tag="require_approval",
    forbid_unknown_fields=True,
    omit_defaults=True,
):
    """Hold in the ``approval`` queue with reason ``needs_approval``. ``flow`` names the approval flow that decides
    it (``orderhub.approvals``: approved → released into the pipeline, rejected → cancelled); without one, or when
    that flow cannot start, a person releases the order by hand."""

    flow: str | None = None


class AddGift(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="add_gift", forbid_unknown_fields=True):
    """Add ``qty`` of gift ``sku``; with ``per_sku``, scaled: per ``per_qty`` of it bought (buy 2×X → 2×Y)."""

    sku: str
    qty: int = 1
    per_sku: str | None = None
    per_qty: int = 1


class GiftsFromMemo(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="gifts_from_memo", forbid_unknown_fields=True
):
    """Gifts the seller wrote in the memo, e.g. ``赠品：SKU-1×2``, ``送 SKU-2``: known SKU codes only."""


class PreferWarehouse(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="prefer_warehouse", forbid_unknown_fields=True
):
    warehouse: str


class PreferCarrier(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="prefer_carrier", forbid_unknown_fields=True
):
    carrier: str


Action = AddTag | SetPriority | Hold | RequireApproval | AddGift | GiftsFromMemo | PreferWarehouse | PreferCarrier


def _check_condition(index: int, c: Condition) -> None:
    field = f"conditions[{index}]"
    ops = _OPS.get(c.field)
    if ops is None:
        raise ValidationFailed(f"未知的条件字段 {c.field}，可选：{'、'.join(sorted(_OPS))}", field=f"{field}.field")
    if c.op not in ops:
        raise ValidationFailed(f"字段 {c.field} 支持的比较：{'、'.join(sorted(ops))}", field=f"{field}.op")
    if c.field in _NUMBER:
        if not isinstance(c.value, int) or isinstance(c.value, bool):
            raise ValidationFailed("数值条件的值必须是整数（金额单位：分）", field=f"{field}.value")
        if c.field == "sku_qty" and not c.sku:
            raise ValidationFailed("sku_qty 条件需要 sku", field=f"{field}.sku")
    elif c.op in ("contains_any", "contains_all", "in", "not_in"):
        if not isinstance(c.value, list) or not c.value or not all(isinstance(v, str) for v in c.value):
            raise ValidationFailed("该条件的值必须是非空字符串列表", field=f"{field}.value")
    elif not isinstance(c.value, str) or not c.value:
        raise ValidationFailed("该条件的值必须是非空字符串", field=f"{field}.value")


def decode_conditions(raw: Any) -> list[Condition]:
    try:
        conditions = msgspec.convert(raw, list[Condition])
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"条件格式不正确：{exc}", field="conditions") from exc
    for i, c in enumerate(conditions):
        _check_condition(i, c)
    return conditions


def decode_actions(raw: Any) -> list[Action]:
    try:
        actions = msgspec.convert(raw, list[Action])
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"动作格式不正确：{exc}", field="actions") from exc
    if not actions:
        raise ValidationFailed("规则至少需要一个动作", field="actions")
    for i, a in enumerate(actions):
        if isinstance(a, AddGift) and (a.qty < 1 or a.per_qty < 1):
            raise ValidationFailed("赠品数量必须大于 0", field=f"actions[{i}].qty")
        if isinstance(a, AddTag | Hold) and not (a.tag if isinstance(a, AddTag) else a.queue).strip():
            raise ValidationFailed("标签或队列名不能为空", field=f"actions[{i}]")
        if isinstance(a, RequireApproval) and a.flow is not None and not 0 < len(a.flow.strip()) <= 64:
            raise ValidationFailed("审批流程编码不能为空，且不超过 64 个字符", field=f"actions[{i}].flow")
    return actions


def _text(facts: OrderFacts, field: str) -> str:
    if field == "memo":
        return f"{facts.buyer_memo}\n{facts.seller_memo}"
    return str(getattr(facts, field))


def _number(facts: OrderFacts, c: Condition) -> int:
    if c.field == "quantity":
        return sum(facts.sku_qty.values())
    if c.field == "sku_qty":
        return facts.sku_qty.get(c.sku or "", 0)
    return int(getattr(facts, c.field))


def _compare(left: int, op: str, right: int) -> bool:
    return {
        ">": left > right,
        ">=": left >= right,
        "<": left < right,
        "<=": left <= right,
        "==": left == right,
    }[op]


def _matches_one(facts: OrderFacts, c: Condition) -> bool:
    if c.field in _TEXT:
        text = _text(facts, c.field)
        values: Sequence[str] = c.value if isinstance(c.value, list) else [c.value]
        found = any(v in text for v in values)
        return not found if c.op == "not_contains" else found
    if c.field in _NUMBER:
        return _compare(_number(facts, c), c.op, int(c.value))
    if c.field in _SET:
        actual: Mapping[str, str] = {
            "channel": facts.channel,
            "province": facts.province,
        }
        if c.field == "buyer":
            hit = facts.buyer_nick in c.value or (bool(facts.buyer_phone) and facts.buyer_phone in c.value)
        else:
            hit = actual[c.field] in c.value
        return hit if c.op == "in" else not hit
    if c.field == "sku":
        present = [sku in facts.sku_qty for sku in c.value]
        return all(present) if c.op == "contains_all" else any(present)
    if c.field == "tags":
        return (c.value in facts.tags) == (c.op == "contains")
    return False


def matches(facts: OrderFacts, conditions: Sequence[Condition]) -> bool:
    return all(_matches_one(facts, c) for c in conditions)
