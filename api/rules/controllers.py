"""Order rules (tags, priority, holds, approval, gifts, warehouse/carrier preference)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import Parameter

from api.common import MAX_INT, changes_of, present
from api.security import requires
from orderhub.auth.service import Role
from orderhub.rules import service
from orderhub.rules.service import NewRule

__all__ = ["RuleController"]

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
    guards = [requires(Role.ADMIN, Role.MANAGER)]

    @post("/", summary="Create a rule (evaluated in priority order, lowest first)")
    async def create(self, data: RuleIn) -> RuleOut:
        return present(await service.create_rule(msgspec.convert(msgspec.to_builtins(data), NewRule)), RuleOut)

    @get("/")
    async def list_all(self) -> list[RuleOut]:
        return present(await service.list_rules(), list[RuleOut])

    @get("/{rule_id:int}")
    async def get_one(self, rule_id: RuleId) -> RuleOut:
        return present(await service.get_rule(rule_id), RuleOut)

    @patch("/{rule_id:int}")
    async def update(self, rule_id: RuleId, data: RulePatch) -> RuleOut:
        return present(await service.update_rule(rule_id, changes_of(data)), RuleOut)

    @delete("/{rule_id:int}")
    async def remove(self, rule_id: RuleId) -> None:
        await service.delete_rule(rule_id)
