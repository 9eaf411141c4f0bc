"""The native path's table (docs/approvals.md#wecoms-own-审批-app): one row per request whose flow runs in WeCom's
own 审批 app — what is submitted, the submission's queue (claimed by one conditional UPDATE, retried with backoff,
never twice), and the reconciliation's timer. The approval's number itself is on the request
(``approval_request.sp_no``, unique)."""

from __future__ import annotations

from piccolo.columns import Boolean, Integer, Serial, SmallInt, Text, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["ApprovalOa"]


class ApprovalOa(Table, tablename="approval_oa"):
    """``status``: pending → submitting → submitted; failed (refused for good, or every attempt failed: the request
    was cancelled); superseded (the request closed before it went out). ``uncertain``: an attempt ended without
    knowing whether WeCom created the approval — the next one looks for it first. ``wecom_status`` is the last
    申请单状态 seen (1 审批中 … 10 已支付; 0 none yet); ``check_at`` when the reconciliation reads it next."""

    id: Serial
    request = Integer(unique=True)  # approval_request.id
    status = Varchar(length=12, index=True)
    submission = Text(default="{}")  # orderhub.approvals.oa_port.OaSubmission (JSON)
    attempts = Integer(default=0)
    not_before = Timestamptz(index=True)
    lease_until = Timestamptz(null=True, default=None)
    claim = Varchar(length=32, default="")
    uncertain = Boolean(default=False)
    first_try_at = Timestamptz(null=True, default=None)
    tried_at = Timestamptz(null=True, default=None)  # when the current (or last) attempt started
    # The span in which attempts not yet accounted for may have created the approval (uncertain: searched there)
    look_from = Timestamptz(null=True, default=None)
    look_until = Timestamptz(null=True, default=None)
    wecom_status = SmallInt(default=0)
    check_at = Timestamptz(null=True, default=None, index=True)
    checks = Integer(default=0)
    effect_retries = Integer(default=0)  # the decision's effect refused for now (e.g. a waybill request in flight)
    error_code = Varchar(length=64, default="")
    error_message = Varchar(length=255, default="")
    created_at = Timestamptz()
    submitted_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()
