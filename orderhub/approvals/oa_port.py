"""How a request reaches an approval app outside the hub (WeCom's own 审批 app, docs/approvals.md#wecoms-own-审批-app):
the :class:`OaClient` port (submit a request, read an approval's state, find an approval an earlier attempt may have
created), the :data:`OA_CLIENTS` registry filled by ``server.wiring.wire()`` (``notify/providers/wecom_oa.py``), and
the hub's own shapes of what goes out (:class:`OaSubmission`) and what comes back (:class:`OaState`, from the
callback or from a read) — nothing vendor-shaped passes the adapter.

Errors are the notifiers' (:mod:`orderhub.notifications.port`): transient ones are retried with backoff, throttled
ones wait, permanent ones end the submission. :class:`OaUncertain` is a transient failure after which the request may
nevertheless have been created (a timeout, a lost answer): the next attempt looks for it before submitting again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

import msgspec

from orderhub.notifications.port import TransientNotifyError
from orderhub.registry import Registry

__all__ = [
    "FINAL",
    "OA_CLIENTS",
    "OaClient",
    "OaClientFactory",
    "OaDecision",
    "OaField",
    "OaNode",
    "OaState",
    "OaSubmission",
    "OaUncertain",
    "Status",
]

# 申请单状态 (审批申请状态变化回调通知 https://developer.work.weixin.qq.com/document/path/91815, 获取审批申请详情
# https://developer.work.weixin.qq.com/document/path/91983): 1 审批中, 2 已通过, 3 已驳回, 4 已撤销, 6 通过后撤销,
# 7 已删除, 10 已支付. The hub's names for them:
Status = Literal["pending", "approved", "rejected", "withdrawn", "withdrawn_after_approval", "deleted", "paid"]
FINAL = frozenset({"approved", "rejected", "withdrawn", "withdrawn_after_approval", "deleted", "paid"})


class OaNode(msgspec.Struct, frozen=True, kw_only=True):
    """One approval node: its people (the app's user ids) and how they decide (``any`` 或签, ``all`` 会签)."""

    step: int  # the flow's step it comes from
    name: str
    mode: Literal["any", "all"]
    userids: list[str]


class OaField(msgspec.Struct, frozen=True, kw_only=True):
    """One control of the app's form, filled: its id, type (Text, Textarea, Number, Money) and value as text."""

    id: str
    control: str
    title: str
    value: str


class OaSubmission(msgspec.Struct, frozen=True, kw_only=True):
    """What is submitted for one request, fixed when the request opens (a retry submits the same)."""

    template_id: str
    creator: str  # the app's user id the approval is submitted as
    use_template_approver: bool  # the app's own process decides who approves (nodes unused)
    nodes: list[OaNode]
    notify: list[str]  # copied (抄送)
    notify_type: int  # 1 when submitted, 2 once approved, 3 both
    fields: list[OaField]
    summary: list[str]  # ≤ 3 lines of ≤ 20 characters, shown on the app's cards and lists
    # The control (one of ``fields``) holding the hub's reference, 订单中枢 #<request id>: what a lost submission is
    # recognised by (every native flow maps one since the reference became required; "" in older rows).
    ref_control: str = ""


class OaDecision(msgspec.Struct, frozen=True, kw_only=True):
    """One approver's part: ``status`` 1 deciding, 2 approved, 3 rejected, 4 handed on (转审)."""

    userid: str
    status: int
    speech: str = ""  # their comment
    at: int = 0  # when (seconds; 0: not yet)


class OaState(msgspec.Struct, frozen=True, kw_only=True):
    """An approval as the app reports it (its callback, or a read)."""

    sp_no: str
    status: Status
    raw_status: int  # the app's own number (1, 2, 3, 4, 6, 7, 10)
    creator: str = ""
    template_id: str = ""
    decisions: list[OaDecision] = []  # every approver of every node, in order
    change: int = 0  # what changed (the callback's StatuChangeEvent; 0 for a read)
    fields: dict[str, str] = {}  # control id → the value as text (from a read)
    applied_at: int = 0  # when it was submitted (seconds)


class OaUncertain(TransientNotifyError):
    """The call failed in a way that does not tell whether it took effect (timeout, lost answer, the app's internal
    error): retried, but only after looking for what the first attempt may have created."""


class OaClient(Protocol):
    async def submit(self, submission: OaSubmission) -> str:
        """Submit; the app's approval number (sp_no)."""
        ...

    async def state(self, sp_no: str) -> OaState:
        """The approval's state now."""
        ...

    async def find(self, submission: OaSubmission, *, since: datetime, until: datetime, budget: float) -> list[str]:
        """The approvals (sp_no) created from ``submission`` between ``since`` and ``until`` — those whose reference
        control holds the submission's reference —: what an earlier attempt whose answer was lost may have created.
        Gives up after about ``budget`` seconds with a transient error (it could not look everywhere: not found is
        not to be concluded)."""
        ...


# A factory makes a client from the provider's configuration (as strings) and the process's sync Redis client.
OaClientFactory = Callable[[Mapping[str, str], Any], OaClient]

# Filled by the composition root: where the flow runs ("wecom_oa") → factory.
OA_CLIENTS: Registry[OaClientFactory] = Registry("approval app client")
