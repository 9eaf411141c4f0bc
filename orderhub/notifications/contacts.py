"""How customers can be reached: by mobile number, the WeChat openids we hold and the notices they accepted.

The mini-program writes these when a customer signs in and answers the subscribe dialog (wx.requestSubscribeMessage);
the back office can set them too. SMS is the fallback for everyone with a mainland mobile number who did not opt out.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from orderhub import clock, db
from orderhub.address.phones import mobile_number
from orderhub.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from orderhub.logistics.labels import mask_phone
from orderhub.notifications import config
from orderhub.notifications.errors import NotificationError
from orderhub.notifications.port import MINIPROGRAM_IDENTITIES, NotifierChannel, NotifyError, TransientNotifyError
from orderhub.notifications.tables import NotifyContact
from orderhub.notifications.templates import CUSTOMER_NOTICES, NOTICES, template_for
from orderhub.orders import pii

__all__ = [
    "SUBSCRIBE_ANSWERS",
    "ContactIn",
    "ContactRow",
    "ContactView",
    "MiniProgramSubscription",
    "find_contact",
    "get_contact",
    "mobile_number",
    "put_contact",
    "subscribe_from_miniprogram",
]

# What wx.requestSubscribeMessage answers per template id
SUBSCRIBE_ANSWERS = frozenset({"accept", "reject", "ban", "filter"})


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


class ContactRow(msgspec.Struct, kw_only=True):
    """A ``notify_contact`` row: how one mobile number can be reached."""

    phone: str
    oa_openid: str
    mini_openid: str
    subscribed: str  # JSON list of the customer notices accepted in the subscribe dialog
    sms_opt_out: bool
    updated_at: datetime


class _Consent(msgspec.Struct):
    subscribed: str
    mini_openid: str


async def find_contact(number: str) -> ContactRow | None:
    """The contact of a mobile number (as :func:`mobile_number` gives it), if any."""
    rows = await NotifyContact.select().where(NotifyContact.phone == pii.seal(number))  # sealed at rest
    return db.rows_as(ContactRow, rows)[0] if rows else None


def _phone(phone: str) -> str:
    number = mobile_number(phone)
    if number is None:
        raise ValidationFailed("请填写 11 位手机号", field="phone")
    return number


async def put_contact(phone: str, data: ContactIn) -> ContactView:
    number = _phone(phone)
    unknown = sorted(set(data.subscribed) - CUSTOMER_NOTICES)
    if unknown:
        raise ValidationFailed(f"未知的通知：{'、'.join(unknown)}（可选 {'、'.join(sorted(CUSTOMER_NOTICES))}）",
                               field="subscribed")
    subscribed = msgspec.json.encode(sorted(set(data.subscribed))).decode()
    now = clock.now()
    await db.execute(  # raw: an upsert (the query builder has no ON CONFLICT … DO UPDATE)
        "INSERT INTO notify_contact (phone, oa_openid, mini_openid, subscribed, sms_opt_out, updated_at) "
        "VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT (phone) DO UPDATE SET oa_openid = EXCLUDED.oa_openid, "
        "mini_openid = EXCLUDED.mini_openid, subscribed = EXCLUDED.subscribed, "
        "sms_opt_out = EXCLUDED.sms_opt_out, updated_at = EXCLUDED.updated_at",
        pii.seal(number), data.oa_openid.strip(), data.mini_openid.strip(), subscribed, data.sms_opt_out, now,
    )
    return await get_contact(number)


async def get_contact(phone: str) -> ContactView:
    number = _phone(phone)
    row = await find_contact(number)
    if row is None:
        raise NotFound("没有该手机号的联系方式", code=NotificationError.CONTACT_NOT_FOUND, field="phone")
    return ContactView(
        phone=number,
        oa_openid=row.oa_openid,
        mini_openid=row.mini_openid,
        subscribed=msgspec.json.decode(row.subscribed or "[]", type=list[str]),
        sms_opt_out=row.sms_opt_out,
        updated_at=clock.to_shanghai(row.updated_at),
    )


class MiniProgramSubscription(msgspec.Struct, frozen=True, kw_only=True):
    phone: str  # masked
    subscribed: list[str]  # the customer notices they will get in WeChat from now on
    labels: list[str]  # the same, in zh-CN
    unknown_templates: list[str]  # template ids in the answer that no notice uses


def _wechat_refusal(exc: NotifyError, field: str) -> Exception:
    if isinstance(exc, TransientNotifyError):
        return ServiceUnavailable(NotificationError.WECHAT_UNAVAILABLE, field=field)
    if exc.code in ("40029", "40163"):
        return ValidationFailed(NotificationError.INVALID_WECHAT_CODE, field=field)
    return Conflict(f"微信拒绝了请求（{exc.code} {exc.message}）", code=NotificationError.WECHAT_REFUSED, field=field)


async def subscribe_from_miniprogram(
    *, login_code: str, phone_code: str, answers: dict[str, str]
) -> MiniProgramSubscription:
    """The seller's mini-program after a customer signed in (wx.login), shared their number (getPhoneNumber) and
    answered the subscribe dialog (wx.requestSubscribeMessage): WeChat vouches for the openid and the number, the
    answers say which notices they accept (``accept``) or decline (anything else). The contact keeps its other
    fields; notices not in this dialog keep their earlier answer."""
    provider = await config.provider_config(NotifierChannel.WECHAT_SUBSCRIBE.value)
    if provider is None:
        raise Conflict("尚未配置小程序订阅消息", code=NotificationError.SUBSCRIBE_NOT_CONFIGURED, field="login_code")
    bad = sorted(a for a in answers.values() if a not in SUBSCRIBE_ANSWERS)
    if bad:
        raise ValidationFailed(f"未知的订阅结果 {bad[0]}（应为 accept、reject、ban 或 filter）", field="answers")
    redis = config.token_redis()
    identity = MINIPROGRAM_IDENTITIES.get(NotifierChannel.WECHAT_SUBSCRIBE.value)
    try:
        openid = await identity.openid_of(provider, redis, login_code)
    except NotifyError as exc:
        raise _wechat_refusal(exc, "login_code") from exc
    try:
        shared = await identity.phone_of(provider, redis, phone_code)
    except NotifyError as exc:
        raise _wechat_refusal(exc, "phone_code") from exc
    if not openid:
        raise ValidationFailed("微信没有给出该用户的身份，请重新进入小程序", code=NotificationError.INVALID_WECHAT_CODE,
                               field="login_code")
    number = mobile_number(shared.phone) if shared.country_code == "86" else None
    if number is None:
        raise ValidationFailed("目前只支持中国大陆手机号", code=NotificationError.UNSUPPORTED_PHONE, field="phone_code")
    by_template: dict[str, str] = {}
    for event in sorted(CUSTOMER_NOTICES):
        template = await template_for(event, NotifierChannel.WECHAT_SUBSCRIBE.value)
        if template is not None and template.template_id:
            by_template[template.template_id] = event
    accepted = {by_template[t] for t, answer in answers.items() if t in by_template and answer == "accept"}
    declined = {by_template[t] for t, answer in answers.items() if t in by_template and answer != "accept"}
    async with db.transaction():
        # the row first, then locked: two dialogs answered at once both land (neither overwrites the other)
        await db.execute(  # raw: INSERT … ON CONFLICT DO NOTHING (the contact may be there already)
            "INSERT INTO notify_contact (phone, oa_openid, mini_openid, subscribed, sms_opt_out, updated_at) "
            "VALUES ({}, '', '', '[]', {}, {}) ON CONFLICT (phone) DO NOTHING",
            pii.seal(number), False, clock.now(),
        )
        row = await db.fetch_one_as(  # raw: the query builder has no FOR UPDATE (a row lock on PostgreSQL)
            _Consent,
            "SELECT subscribed, mini_openid FROM notify_contact WHERE phone = {}" + db.for_update(),
            pii.seal(number),
        )
        earlier: set[str] = set()
        if row is not None and row.mini_openid == openid:  # another WeChat user's consent is not this one's
            earlier = set(msgspec.json.decode(row.subscribed or "[]", type=list[str]))
        subscribed = sorted((earlier | accepted) - declined)
        await NotifyContact.update(
            {
                NotifyContact.mini_openid: openid,
                NotifyContact.subscribed: msgspec.json.encode(subscribed).decode(),
                NotifyContact.updated_at: clock.now(),
            }
        ).where(NotifyContact.phone == pii.seal(number))
    return MiniProgramSubscription(
        phone=mask_phone(number),
        subscribed=subscribed,
        labels=[NOTICES[event].label for event in subscribed],
        unknown_templates=sorted(t for t in answers if t not in by_template),
    )
