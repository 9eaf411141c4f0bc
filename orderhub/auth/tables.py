"""Staff accounts."""

from __future__ import annotations

from piccolo.columns import Boolean, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

from orderhub.inventory.tables import Warehouse

__all__ = ["User"]


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
