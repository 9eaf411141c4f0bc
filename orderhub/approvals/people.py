"""Who decides: staff as the approvals see them (id, name, role, warehouse, manager), the resolution of a step's
approver specs into people, the manager chain used for "the requester's manager" and for escalation, and setting
a staff member's manager (never themselves, never a cycle)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from orderhub import db
from orderhub.approvals.errors import ApprovalError
from orderhub.approvals.model import (
    Approvers,
    ByManager,
    ByRole,
    ByRoleInRegion,
    ByRoleInWarehouse,
    ByUser,
    RequestFacts,
    conditions_match,
)
from orderhub.auth.service import Role
from orderhub.auth.tables import User
from orderhub.errors import NotFound, ValidationFailed

__all__ = [
    "MAX_PER_SPEC",
    "ROLES",
    "Person",
    "manager_of",
    "person",
    "persons",
    "resolve",
    "set_manager",
]

ROLES = frozenset(r.value for r in Role)
MAX_PER_SPEC = 50  # people one approver spec may resolve to
_MAX_DEPTH = 50  # manager chains are short; this stops a cycle written around set_manager()


class Person(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    username: str
    display_name: str
    role: str
    warehouse: int | None
    active: bool
    manager: int | None

    @property
    def name(self) -> str:
        return self.display_name or self.username


_COLUMNS = "id, username, display_name, role, warehouse, active, manager"


async def person(user_id: int | None) -> Person | None:
    if user_id is None:
        return None
    return await db.fetch_one_as(Person, f"SELECT {_COLUMNS} FROM app_user WHERE id = {{}}", user_id)


async def persons(user_ids: Sequence[int]) -> dict[int, Person]:
    """The users with these ids (unknown ids left out), read a chunk at a time."""
    found: dict[int, Person] = {}
    ids = sorted(set(user_ids))
    for chunk in db.chunks(ids):
        rows = await db.fetch_as(
            Person, f"SELECT {_COLUMNS} FROM app_user WHERE id IN ({db.placeholders(len(chunk))})", *chunk
        )
        found.update({p.id: p for p in rows})
    return found


async def manager_of(user_id: int) -> Person | None:
    """The nearest active manager above the user (an inactive one is passed over), or None."""
    seen = {user_id}
    current = await person(user_id)
    for _ in range(_MAX_DEPTH):
        if current is None or current.manager is None or current.manager in seen:
            return None
        seen.add(current.manager)
        current = await person(current.manager)
        if current is not None and current.active:
            return current
    return None


async def _manager_at(user_id: int, levels: int) -> Person | None:
    found: Person | None = None
    current = user_id
    for _ in range(levels):
        found = await manager_of(current)
        if found is None:
            return None
        current = found.id
    return found


async def _by_role(role: str, where: str = "", *args: Any) -> list[Person]:
    return await db.fetch_as(
        Person,
        f"SELECT u.id, u.username, u.display_name, u.role, u.warehouse, u.active, u.manager FROM app_user u{where} "
        f"{'AND' if where else 'WHERE'} u.active = {{}} AND u.role = {{}} ORDER BY u.id LIMIT {MAX_PER_SPEC}",
        *args,
        True,
        role,
    )


async def resolve(specs: Sequence[Approvers], facts: RequestFacts, requester: Person | None) -> list[Person]:
    """The active people the specs name for this request, in the specs' order, each once. A spec whose ``when``
    does not match is left out; one that names nobody (no manager, no such role in the region) adds nobody."""
    found: list[Person] = []
    for spec in specs:
        if not conditions_match(facts, spec.when):
            continue
        if isinstance(spec, ByUser):
            people = await persons(spec.user_ids[:MAX_PER_SPEC])
            found += [people[u] for u in spec.user_ids if u in people and people[u].active]
        elif isinstance(spec, ByRole):
            found += await _by_role(spec.role)
        elif isinstance(spec, ByRoleInWarehouse):
            if facts.warehouse_id is not None:
                found += await _by_role(spec.role, " WHERE u.warehouse = {}", facts.warehouse_id)
        elif isinstance(spec, ByRoleInRegion):
            if facts.region:
                found += await _by_role(
                    spec.role, " JOIN warehouse w ON w.id = u.warehouse WHERE w.region = {}", facts.region
                )
        elif isinstance(spec, ByManager):
            if requester is not None:
                boss = await _manager_at(requester.id, spec.levels)
                if boss is not None:
                    found.append(boss)
    unique: dict[int, Person] = {}
    for p in found:
        unique.setdefault(p.id, p)
    return list(unique.values())


async def set_manager(user_id: int, manager_id: int | None) -> None:
    """Set (or clear, with None) a staff member's manager: the "requester's manager" of flows, and where their
    overdue approvals escalate to. Refuses an unknown user, themselves, and a cycle."""
    if await person(user_id) is None:
        raise NotFound("用户不存在", field="user_id")
    async with db.transaction():
        if manager_id is not None:
            if manager_id == user_id or await person(manager_id) is None:
                raise ValidationFailed(ApprovalError.APPROVAL_BAD_MANAGER, field="manager_id")
            # Raw SQL: lock the staff rows (PostgreSQL; a small table) so two changes cannot close a cycle between
            # them; SQLite's write transaction serialises them already.
            await db.fetch_as(db.IdRow, f"SELECT id FROM app_user ORDER BY id{db.for_update()}")
            current: int | None = manager_id
            for _ in range(_MAX_DEPTH):
                above = await person(current)
                if above is None or above.manager is None:
                    break
                if above.manager == user_id:
                    raise ValidationFailed(ApprovalError.APPROVAL_BAD_MANAGER, field="manager_id")
                current = above.manager
        await User.update({User.manager: manager_id}).where(User.id == user_id)
