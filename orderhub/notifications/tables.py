"""Notification tables: the outbox (one row per message), templates, customers' contacts, providers' settings."""

from __future__ import annotations

from piccolo.columns import Boolean, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from orderhub.orders.tables import Order

__all__ = ["Notification", "NotifyContact", "NotifyDigestItem", "NotifyTemplate"]


class Notification(Table, tablename="notification"):
    """One message to one recipient through one channel, written in the transaction of the change that causes it.

    ``dedup_key`` = ``subject|event|recipient|channel`` is unique: a duplicate event, a retried job or a job
    delivered twice finds the row already there (and already sent). ``status``: pending → sending → sent; failed
    (permanent error, or transient ones past the attempts), fallback (the recipient refused this channel; a row on
    the next channel replaces it, see ``fallback_of``), skipped (no channel reaches the recipient)."""

    id: Serial
    dedup_key = Varchar(length=255, unique=True)
    subject = Varchar(length=48, index=True)  # "order:12", "surge:3"
    order = ForeignKey(references=Order, null=True, index=True)
    warehouse = Integer(null=True, default=None, index=True)  # whose it is (staff scoped to a warehouse see theirs)
    event = Varchar(length=32)  # the notice: shipped, out_for_delivery, signed, delayed, staff_* …
    audience = Varchar(length=8)  # customer, staff
    channel = Varchar(length=24)
    recipient = Varchar(length=128)  # openid, phone, WeCom userid
    context = Text(default="{}")  # the values the template is rendered with
    urgent = Boolean(default=False)
    status = Varchar(length=16, default="pending", index=True)
    attempts = Integer(default=0)
    not_before = Timestamptz(index=True)  # quiet hours, backoff, rate limits
    lease_until = Timestamptz(null=True, default=None)  # a sender holds the row until then
    claim = Varchar(length=32, default="")  # names the sender holding it: only that sender settles the row
    provider_id = Varchar(length=64, default="")  # msgid / BizId
    error_code = Varchar(length=64, default="")
    error_message = Varchar(length=255, default="")
    delivery = Varchar(length=16, default="")  # SMS receipt: waiting, delivered, failed
    fallback_of = Integer(null=True, default=None)
    resends = Integer(default=0)
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class NotifyTemplate(Table, tablename="notify_template"):
    """A notice's wording on one channel (overrides the shipped defaults): the provider's template id, its fields
    as zh-CN text with ``{placeholders}``, the title and text (WeCom, SMS wording), and whether it is urgent
    (urgent customer messages are not held back by quiet hours)."""

    id: Serial
    event = Varchar(length=32)
    channel = Varchar(length=24)
    template_id = Varchar(length=64, default="")
    fields = Text(default="{}")
    title = Varchar(length=100, default="")
    text = Text(default="")
    urgent = Boolean(default=False)
    enabled = Boolean(default=True)
    updated_by = Varchar(length=64, default="system")
    updated_at = Timestamptz()


class NotifyContact(Table, tablename="notify_contact"):
    """How a customer (by mobile number) can be reached: the WeChat openids we hold and what they consented to."""

    id: Serial
    phone = Varchar(length=64, unique=True)  # sealed at rest (orderhub.orders.pii: deterministic, so unique holds)
    oa_openid = Varchar(length=64, default="")  # follows the Official Account (template messages)
    mini_openid = Varchar(length=64, default="")  # uses the mini-program (subscribe messages)
    subscribed = Text(default="[]")  # notices the customer accepted in the mini-program's subscribe dialog
    sms_opt_out = Boolean(default=False)
    updated_at = Timestamptz()


class NotifyDigestItem(Table, tablename="notify_digest_item"):
    """One order in a staff digest (``subject`` = the digest's, e.g. ``at-risk:3:1764720000``), written in the
    transaction of the event: the digest lists exactly what was recorded for it."""

    id: Serial
    subject = Varchar(length=48, index=True)
    order = ForeignKey(references=Order, index=True)
    reason = Varchar(length=32, default="")
    created_at = Timestamptz()
