"""What the layers above hear of approvals.

* :data:`APPROVAL_HOOKS` — in-process listeners, called once per change inside its transaction with an
  :class:`ApprovalChange` (who now has a task to decide, whose tasks closed, who was copied or reminded): the WeCom
  notifier writes its cards there, so a card exists exactly when the change that causes it commits.
* The live feed family ``approvals`` (``orderhub.feed``, served on ``/ws/dash``): ``approvals:{user_id}`` is one
  person's inbox; every change publishes, after commit, a small delta to each person it concerns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import msgspec

from orderhub import feed
from orderhub.errors import CommonError, PermissionDenied, ValidationFailed
from orderhub.registry import Hooks

__all__ = [
    "APPROVAL_HOOKS",
    "FAMILY",
    "ApprovalChange",
    "TaskRef",
    "feed_allow",
    "publish",
    "user_topic",
]

FAMILY = "approvals"


class TaskRef(msgspec.Struct, frozen=True, kw_only=True):
    task_id: int
    user_id: int
    user_name: str
    role: str  # approver, cc
    status: str  # the task's status after the change
    step: int
    step_name: str
    due_at: datetime | None = None


class ApprovalChange(msgspec.Struct, frozen=True, kw_only=True):
    """One change to a request (one action, one expiry, its opening)."""

    request_id: int
    kind: str
    title: str
    order_id: int | None
    amount: int  # fen
    reason: str  # why it needs approval
    status: str  # the request's status after the change
    action: str  # opened, approved, rejected, signer_added, transferred, commented, withdrawn, reminded,
    # escalated, expired, cancelled
    actor_id: int | None  # None: the hub
    actor_name: str
    at: datetime
    comment: str = ""
    opened: list[TaskRef] = []  # tasks now up to decide (send them a card)
    closed: list[TaskRef] = []  # tasks no longer up to decide (update their card)
    told: list[TaskRef] = []  # copies (知会) made now
    reminded: list[TaskRef] = []  # pending tasks whose holder is reminded
    requester_id: int | None = None
    decided_by_name: str = ""  # when the request was decided by this change


ChangeHook = Callable[[ApprovalChange], Awaitable[None]]
APPROVAL_HOOKS: Hooks[ChangeHook] = Hooks("approval change")


def user_topic(user_id: int) -> str:
    return feed.topic_for(FAMILY, user_id)


def publish(change: ApprovalChange) -> None:
    """Queue the change's delta, after commit, on the inbox topic of everyone it concerns."""
    users: set[int] = {
        ref.user_id for refs in (change.opened, change.closed, change.told, change.reminded) for ref in refs
    }
    if change.requester_id is not None:
        users.add(change.requester_id)
    if change.actor_id is not None:
        users.add(change.actor_id)
    data: dict[str, Any] = {
        "type": "approval.changed",
        "request_id": change.request_id,
        "kind": change.kind,
        "title": change.title,
        "action": change.action,
        "status": change.status,
        "at": change.at.isoformat(),
    }
    for user_id in sorted(users):
        feed.publish_after_commit(user_topic(user_id), data)


async def feed_allow(viewer: feed.Viewer, arg: str | None) -> None:
    """``approvals:{user_id}``: one's own inbox only."""
    if arg is None or not arg.isdigit() or len(arg) > 9:
        raise ValidationFailed(f"审批频道应为 {FAMILY}:<用户ID>", field="topics")
    if int(arg) != viewer.id:
        raise PermissionDenied(
            f"只能订阅自己的审批（{FAMILY}:{viewer.id}）", code=CommonError.FORBIDDEN, field="topics"
        )
