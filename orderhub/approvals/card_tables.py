"""The approval cards' table (docs/approvals.md#enterprise-wechat-one-tap): one row per message to one person about
one approval task — the interactive card an approver decides on, a copy's notice, a reminder — written in the
transaction of the change that causes it and sent by a job after commit (the durable queue)."""

from __future__ import annotations

from piccolo.columns import Boolean, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["ApprovalCard"]


class ApprovalCard(Table, tablename="approval_card"):
    """``status``: pending → sending → sent; failed (refused for good, or transient errors past the attempts);
    superseded (its task closed before it went out: never sent). ``card_id`` is the card's id at the provider (WeCom's
    ``task_id``), unique forever. ``response_code`` is what sending answered, ``click_code`` the last tap's (each
    spends once on an update; null once spent). ``want_text`` is what the buttons should say now (``已由张三同意``),
    ``shown_text`` what an update made them say; ``update_status`` '' → pending → sending → done / failed."""

    id: Serial
    request = Integer(index=True)
    task = Integer(index=True)  # approval_task.id
    kind = Varchar(length=8)  # decide, notice, cc, remind
    assignee = Integer()  # app_user.id
    wecom_userid = Varchar(length=64)
    card_id = Varchar(length=128, unique=True)
    status = Varchar(length=12, index=True)
    attempts = Integer(default=0)
    not_before = Timestamptz(index=True)  # the per-member limit, backoff
    lease_until = Timestamptz(null=True, default=None)
    claim = Varchar(length=32, default="")  # names the job holding the row (send or update)
    msgid = Varchar(length=128, default="")
    response_code = Text(null=True, default=None)
    click_code = Text(null=True, default=None)
    want_text = Varchar(length=64, default="")
    want_final = Boolean(default=False)  # want_text is the request's outcome (no later text will come)
    shown_text = Varchar(length=64, default="")
    update_status = Varchar(length=12, default="", index=True)
    update_attempts = Integer(default=0)
    update_not_before = Timestamptz(null=True, default=None)
    error_code = Varchar(length=64, default="")
    error_message = Varchar(length=255, default="")
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()
