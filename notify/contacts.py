"""How customers can be reached: by mobile number, the WeChat openids we hold and the notices they accepted.

The mini-program writes these when a customer signs in and answers the subscribe dialog (wx.requestSubscribeMessage);
the back office can set them too. SMS is the fallback for everyone with a mainland mobile number who did not opt out.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from notify.templates import CUSTOMER_NOTICES
from orderhub import clock, db
from orderhub.errors import NotFound, ValidationFailed

__all__ = ["ContactIn", "ContactView", "get_contact", "put_contact"]


class ContactIn(msgspec.Struct, frozen=True, kw_only=True):
    oa_openid: str = ""
    mini_openid: str = ""
    subscribed: list[str] = []  # customer notices accepted in the subscribe dialog
    sms_opt_out: bool = False


class ContactView(msgspec.Struct, frozen=True, kw_only=True):
    phone: str
    oa_openid: str
    mini_openid: str
    subscribed: list[str]
    sms_opt_out: bool
    updated_at: datetime


def _phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) != 11 or not digits.startswith("1"):
        raise ValidationFailed("请填写 11 位手机号", field="phone")
    return digits


async def put_contact(phone: str, data: ContactIn) -> ContactView:
    number = _phone(phone)
    unknown = sorted(set(data.subscribed) - CUSTOMER_NOTICES)
    if unknown:
        raise ValidationFailed(f"未知的通知：{'、'.join(unknown)}（可选 {'、'.join(sorted(CUSTOMER_NOTICES))}）",
                               field="subscribed")
    subscribed = msgspec.json.encode(sorted(set(data.subscribed))).decode()
    now = clock.now()
    await db.fetch(
        "INSERT INTO notify_contact (phone, oa_openid, mini_openid, subscribed, sms_opt_out, updated_at) "
        "VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT (phone) DO UPDATE SET oa_openid = EXCLUDED.oa_openid, "
        "mini_openid = EXCLUDED.mini_openid, subscribed = EXCLUDED.subscribed, "
        "sms_opt_out = EXCLUDED.sms_opt_out, updated_at = EXCLUDED.updated_at",
        number, data.oa_openid.strip(), data.mini_openid.strip(), subscribed, data.sms_opt_out, now,
    )
    return await get_contact(number)


async def get_contact(phone: str) -> ContactView:
    number = _phone(phone)
    rows = await db.fetch("SELECT * FROM notify_contact WHERE phone = {}", number)
    if not rows:
        raise NotFound("没有该手机号的联系方式", code="contact_not_found", field="phone")
    row = rows[0]
    return ContactView(
        phone=number,
        oa_openid=str(row["oa_openid"]),
        mini_openid=str(row["mini_openid"]),
        subscribed=msgspec.json.decode(row["subscribed"] or "[]", type=list[str]),
        sms_opt_out=bool(row["sms_opt_out"]),
        updated_at=clock.to_shanghai(clock.from_db(row["updated_at"])),
    )
