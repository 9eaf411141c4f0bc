"""The approvals' tables (docs/approvals.md): flows and their immutable versions, requests, the tasks people decide,
the actions they took (with their idempotency keys), and the hash-chained audit trail.

Ids of other contexts' rows (orders, users, warehouses) are plain integers: an approval's history outlives them and
never blocks their deletion. Composite unique indexes are made by the migration (raw DDL).
"""

from __future__ import annotations

from piccolo.columns import BigInt, Boolean, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

__all__ = [
    "ApprovalAction",
    "ApprovalAudit",
    "ApprovalChain",
    "ApprovalFlow",
    "ApprovalFlowVersion",
    "ApprovalRequest",
    "ApprovalTask",
]


class ApprovalFlow(Table, tablename="approval_flow"):
    """A flow, by code. Its definition lives in versions; ``current_version`` is the one new requests start on."""

    id: Serial
    code = Varchar(length=64, unique=True)
    name = Varchar(length=100)
    active = Boolean(default=True)
    current_version = Integer(default=0)  # the version number (approval_flow_version.version)
    created_by = Varchar(length=64, default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ApprovalFlowVersion(Table, tablename="approval_flow_version"):
    """One version of a flow's definition (JSON, :class:`orderhub.approvals.model.FlowDefinition`): written once,
    never updated. Unique on (flow, version)."""

    id: Serial
    flow = Integer(index=True)
    version = Integer()
    definition = Text()
    created_by = Varchar(length=64, default="")
    created_at = Timestamptz()


class ApprovalRequest(Table, tablename="approval_request"):
    """One request for approval: its kind, the flow version it runs on (for its whole life), the step it is at,
    and its outcome. Every change is a conditional UPDATE that bumps ``version`` while ``status`` is ``pending``.
    ``pending_key`` (unique, null once closed) keeps one pending request per kind and subject."""

    id: Serial
    kind = Varchar(length=32, index=True)
    flow = Integer()
    flow_code = Varchar(length=64)
    flow_version = Integer()  # approval_flow_version.id
    version_no = Integer()  # its version number, for display
    order_id = Integer(null=True, default=None, index=True)
    status = Varchar(length=16, index=True)  # pending, approved, rejected, withdrawn, cancelled
    step = Integer(default=-1)  # the step being decided (index into the definition's steps)
    title = Varchar(length=200)
    reason = Varchar(length=255, default="")  # why it needs approval
    amount = BigInt(default=0)  # fen: the order's paid amount, or what the request is worth
    payload = Text(default="{}")  # the kind's data (JSON)
    facts = Text(default="{}")  # what the conditions saw when it was opened (JSON)
    requester = Integer(null=True, default=None, index=True)  # user id; null: the hub (a rule)
    requester_name = Varchar(length=100, default="")
    warehouse = Integer(null=True, default=None)
    region = Varchar(length=16, default="")
    pending_key = Varchar(length=120, null=True, default=None, unique=True)
    outcome_reason = Text(default="")
    decided_by = Integer(null=True, default=None)
    decided_by_name = Varchar(length=100, default="")
    decided_at = Timestamptz(null=True, default=None)
    reminded_at = Timestamptz(null=True, default=None)
    version = Integer(default=0)
    created_at = Timestamptz(index=True)
    updated_at = Timestamptz()
    # The approval's number in WeCom's 审批 app for a request whose flow runs there (unique; null until submitted,
    # and for requests the hub decides itself): oa/applyevent's sp_no (orderhub.approvals.oa).
    sp_no = Varchar(length=64, null=True, default=None, unique=True)


class ApprovalTask(Table, tablename="approval_task"):
    """One person's part in a step: an approver's task (``waiting`` → ``pending`` → ``approved`` / ``rejected``, or
    handed on: ``transferred``, ``escalated``, or no longer needed: ``cancelled``) or a copy (``role`` ``cc``,
    status ``told``). Tasks of a step are grouped in ``slot``s (one per approver the flow named); within a slot,
    ``seq`` orders signers added before / after, equal ``seq`` decide in parallel."""

    id: Serial
    request = Integer(index=True)
    step = Integer()
    step_name = Varchar(length=100, default="")
    slot = Integer(default=0)
    seq = Integer(default=0)
    role = Varchar(length=8, default="approver")  # approver, cc
    assignee = Integer()  # user id (index with status: the migration)
    assignee_name = Varchar(length=100, default="")
    status = Varchar(length=16)
    origin = Varchar(length=16, default="flow")  # flow, fallback, before, after, parallel, transfer, escalation
    origin_task = Integer(null=True, default=None)
    added_by = Integer(null=True, default=None)
    escalation = Integer(default=0)  # how many escalations led to this task
    due_at = Timestamptz(null=True, default=None, index=True)
    remind_at = Timestamptz(null=True, default=None, index=True)
    comment = Text(default="")
    decided_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ApprovalAction(Table, tablename="approval_action"):
    """What a person did (approve, reject, add_signer, transfer, comment, withdraw, remind) and what came of it.
    ``idem_key`` (unique when set) makes a repeated delivery of the same action answer with the first outcome."""

    id: Serial
    request = Integer(index=True)
    task = Integer(null=True, default=None)
    action = Varchar(length=16)
    actor = Integer(null=True, default=None)
    actor_name = Varchar(length=100, default="")
    idem_key = Varchar(length=128, null=True, default=None, unique=True)
    comment = Text(default="")
    outcome = Text(default="{}")  # the ActionResult (JSON)
    created_at = Timestamptz()


class ApprovalAudit(Table, tablename="approval_audit"):
    """The tamper-evident trail: per chain (``request:{id}``, ``flow:{code}``), entries numbered from 1, each with
    ``hash = sha256(prev_hash + entry)`` where ``entry`` is the canonical JSON of the entry. Unique on (chain, seq)."""

    id: Serial
    chain = Varchar(length=80, index=True)
    seq = Integer()
    request = Integer(null=True, default=None, index=True)
    action = Varchar(length=32)
    actor = Varchar(length=100, default="")
    created_at = Timestamptz()
    entry = Text()
    prev_hash = Varchar(length=64)
    hash = Varchar(length=64)


class ApprovalChain(Table, tablename="approval_chain"):
    """Each chain's head: its last entry's number and hash (a deleted last entry shows as a head that points past
    the trail). Appending updates the head first, which serialises the writers of one chain."""

    id: Serial
    chain = Varchar(length=80, unique=True)
    seq = Integer(default=0)
    head = Varchar(length=64)
    updated_at = Timestamptz()
