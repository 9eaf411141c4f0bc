"""How a kind of request plugs in: :class:`KindHandler` (validate its payload, read its facts, and what approving,
rejecting or withdrawing it does) in the :data:`KINDS` registry, filled by ``server.wiring.wire()``; and the
:class:`Decision` its effects receive."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from orderhub.approvals.model import RequestFacts
from orderhub.registry import Registry

__all__ = ["KINDS", "Decision", "EffectFn", "FactsFn", "KindHandler"]


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What a kind's effect is told: the request, its outcome and who decided, when and why."""

    request_id: int
    kind: str
    outcome: str  # pending (on_open), approved, rejected, withdrawn
    order_id: int | None
    payload: dict[str, Any]
    reason: str  # the rejection's or withdrawal's reason; for on_open, why it needs approval
    by_user_id: int | None  # None: the hub (a rule, an expiry)
    by_name: str  # for people: "张三", "系统（超时自动同意）"
    actor: str  # for the order's log (order_event.actor): the username, or "system"
    at: datetime
    flow_code: str
    on_reject: str  # the flow's choice for a rejected order hold: cancel, keep_held


# An effect runs inside the decision's transaction; what it returns (a short zh-CN note) goes to the audit trail.
# Raising an OrderHubError refuses the decision (nothing is recorded, the approver sees why).
EffectFn = Callable[[Decision], Awaitable[str | None]]
# (kind, order id, validated payload) → the facts the flow's conditions see.
FactsFn = Callable[[str, int | None, dict[str, Any]], Awaitable[RequestFacts]]


@dataclass(frozen=True)
class KindHandler:
    label: str  # zh-CN, e.g. "订单审批"
    needs_order: bool
    validate: Callable[[dict[str, Any]], dict[str, Any]]  # raises ValidationFailed; returns the payload to keep
    facts: FactsFn
    on_approve: EffectFn
    on_reject: EffectFn
    on_withdraw: EffectFn | None = None
    on_open: EffectFn | None = None
    # One pending request per key (e.g. "address_change:{order_id}"); None: no such limit.
    pending_key: Callable[[str, int | None, dict[str, Any]], str | None] = lambda kind, order_id, payload: (
        f"{kind}:{order_id}" if order_id is not None else None
    )


KINDS: Registry[KindHandler] = Registry("approval kind")
