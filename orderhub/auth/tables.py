"""Staff accounts."""

from __future__ import annotations

from piccolo.columns import Boolean, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

from orderhub.inventory.tables import Warehouse

__all__ = ["MpBindingCode", "User"]


class User(Table, tablename="app_user"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    username = Varchar(length=64, unique=True, index=True)
    display_name = Varchar(length=100, default="")
    password_hash = Varchar(length=255)
    role = Varchar(length=16)
    # null: all warehouses; else the user sees and acts on this warehouse only.
    warehouse = ForeignKey(references=Warehouse, null=True)
    active = Boolean(default=True)
    # The code on the employee's badge: scanned at a PDA to sign in (unique when set).
    badge = Varchar(length=64, null=True, default=None)  # unique index in a raw migration (SQLite cannot add one)
    # Their 企业微信 (WeCom) userid: staff alerts (surges, at-risk orders, short picks, stalled parcels) go there.
    wecom_userid = Varchar(length=64, default="")
    # Carried in each bearer token; bumped (a password, role, warehouse or active change, sign out everywhere) so
    # that every token issued before stops working.
    token_version = Integer(default=0)
    created_at = Timestamptz()
    # The WeChat mini-program user (openid) this account signs in as there (unique when set: a raw migration's
    # index); null: not bound. Set by a binding code or a matching phone (orderhub/auth/miniprogram.py).
    mp_openid = Varchar(length=64, null=True, default=None)
    # The employee's mobile number, sealed at rest (orderhub.crypto), and its keyed hash to find the account by it
    # (binding by the phone WeChat vouches for). Never logged, never returned whole.
    phone_sealed = Varchar(length=255, default="")
    phone_key = Varchar(length=64, default="", index=True)
    # Their manager (a user id; null: none): "the requester's manager" of approval flows, and where their overdue
    # approvals escalate to (orderhub.approvals.people.set_manager keeps it free of cycles).
    manager = Integer(null=True, default=None, index=True)


class MpBindingCode(Table, tablename="mp_binding_code"):
    """A one-time code a manager hands an employee to bind their WeChat (mini-program) to their account: stored as
    a keyed hash, valid until ``expires_at``, used once (``used_at``)."""

    id: Serial
    code_hash = Varchar(length=64, unique=True)
    user = ForeignKey(references=User, index=True)  # cascade: the codes go with the account
    created_by = Varchar(length=64, default="")  # the issuer's username (audit)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
