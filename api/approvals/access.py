"""What a caller may see and do with approvals, shared by the back office (``api.approvals``) and the staff
mini-program (``miniprogram_api.staff``): the domain reads requests for anyone; this is where a viewer's scope is
applied, where a client's ``Idempotency-Key`` becomes the engine's ``key``, and where a new request is checked
against a bound user's warehouse.

Who sees a request: the requester, everyone with a task on it (approvers, past and present, and the people copied),
an admin or manager bound to no warehouse (every request), and an admin or manager bound to a warehouse (that
warehouse's requests). Anyone else is answered ``approval_not_found`` (404), as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from orderhub.approvals import engine, inbox
from orderhub.approvals.engine import NewRequest
from orderhub.approvals.errors import ApprovalError
from orderhub.auth.service import Role, UserView
from orderhub.errors import CommonError, NotFound, OrderHubError, PermissionDenied, ValidationFailed
from orderhub.orders import service as orders
from orderhub.orders.commands import OrderView

__all__ = [
    "KEY_HEADER",
    "MAX_KEY",
    "actions_for",
    "check_visible",
    "engine_key",
    "idempotent",
    "open_request",
    "order_of",
    "parse_cursor",
    "sees_everything",
    "visible_request",
    "visible_requests",
]

KEY_HEADER = "Idempotency-Key"
MAX_KEY = 100  # the engine keeps 128: ours is prefixed with the surface and the caller
_MANAGING = frozenset({Role.ADMIN.value, Role.MANAGER.value})

T = TypeVar("T")


def sees_everything(user: UserView) -> bool:
    """An admin or manager bound to no warehouse sees every request."""
    return user.role in _MANAGING and user.warehouse_id is None


def _may_see(user: UserView, view: inbox.RequestView) -> bool:
    if sees_everything(user) or view.requester_id == user.id:
        return True
    if any(task.assignee_id == user.id for task in view.tasks):
        return True
    return user.role in _MANAGING and view.warehouse_id is not None and view.warehouse_id == user.warehouse_id


async def visible_request(user: UserView, request_id: int, *, trail: bool = True) -> inbox.RequestView:
    """The request with its tasks (and trail), when the user may see it; ``approval_not_found`` otherwise."""
    view = await inbox.get_request(request_id, trail=trail)
    if not _may_see(user, view):
        raise NotFound(ApprovalError.APPROVAL_NOT_FOUND, field="request_id")
    return view


async def check_visible(user: UserView, request_id: int) -> None:
    """Before an action: a request the user may not see answers 404, whatever the action."""
    await visible_request(user, request_id, trail=False)


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 10 or int(cursor) < 1:
        raise ValidationFailed(ApprovalError.APPROVAL_BAD_CURSOR, field="cursor")
    return int(cursor)


async def visible_requests(
    user: UserView,
    *,
    order_id: int | None,
    status: str | None,
    kind: str | None,
    cursor: str | None,
    limit: int,
    requester: int | None = None,
) -> tuple[list[inbox.RequestView], str | None]:
    """The requests the user may see (of ``requester`` only, when given), newest first, a page at a time: the page
    and the next page's cursor."""
    scoped: dict[str, Any] = {}
    if not sees_everything(user):
        scoped["involving"] = user.id
        if user.role in _MANAGING:
            scoped["or_warehouse"] = user.warehouse_id
    rows = await inbox.list_requests(
        order_id=order_id,
        status=status,
        kind=kind,
        requester=requester,
        before_id=parse_cursor(cursor),
        limit=limit + 1,
        **scoped,
    )
    page = rows[:limit]
    return page, (str(page[-1].id) if len(rows) > limit and page else None)


def actions_for(user: UserView, view: inbox.RequestView) -> list[str]:
    """What the user may do on the request now (for a client's buttons); the engine decides in the end."""
    if view.status != "pending":
        return ["comment"]
    if view.runs_in != "hub":  # decided (and withdrawn) in WeCom's 审批 app; the engine refuses the rest
        return ["comment", "remind"]
    mine = [t for t in view.tasks if t.assignee_id == user.id and t.role == "approver" and t.status == "pending"]
    found = ["approve", "reject", "add_signer", "transfer"] if mine else []
    if view.requester_id == user.id:
        found.append("withdraw")
    found += ["comment", "remind"]
    return found


async def order_of(view: inbox.RequestView) -> OrderView | None:
    """The order a request is about (read once the request was found visible), or None."""
    if view.order_id is None:
        return None
    try:
        return await orders.get_order(view.order_id)
    except NotFound:
        return None


async def idempotent(call: Awaitable[T], *, fields: dict[str, str] | None = None) -> T:
    """An action whose refusal names the client's own field: the key's problem the header it came in, and
    ``fields`` (the engine's name → the body's) the others."""
    try:
        return await call
    except OrderHubError as exc:
        renamed = {"key": KEY_HEADER, **(fields or {})}
        if exc.field in renamed:
            exc.field = renamed[exc.field]
        raise


def engine_key(surface: str, user: UserView, key: str | None) -> str | None:
    """The engine's idempotency key for a client's ``Idempotency-Key``: the same key from the same person on the
    same surface is the same tap; another person's key never collides with it (nor with a WeCom TaskId)."""
    return None if key is None else f"{surface}:{user.id}:{key}"


async def open_request(
    user: UserView,
    *,
    kind: str,
    order_id: int | None,
    payload: dict[str, Any],
    flow: str | None,
    reason: str,
) -> inbox.RequestView:
    """Open a request as the user. A user bound to a warehouse asks only about that warehouse's orders (another
    one's, or one not yet routed, answers 404) and stock (``forbidden_warehouse``)."""
    if user.warehouse_id is not None:
        if order_id is not None:
            await orders.ensure_in_scope(order_id, user.warehouse_id)
        elif payload.get("warehouse") not in (None, user.warehouse):
            raise PermissionDenied(
                f"只能申请本仓库（{user.warehouse}）的库存调整",
                code=CommonError.FORBIDDEN_WAREHOUSE,
                field="payload.warehouse",
            )
    request_id = await engine.open_request(
        NewRequest(kind=kind, order_id=order_id, payload=payload, flow=flow, requester_id=user.id, reason=reason)
    )
    return await inbox.get_request(request_id)
