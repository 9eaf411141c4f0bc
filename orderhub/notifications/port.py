"""The notifier port: what the hub needs from a message provider, in the hub's own terms.

Each provider lives in ``notify/providers/<code>.py`` (client + mapper + the :class:`Notifier` implementation; the
wire format and signing are the provider SDK's — wechatpy, aliyun-python-sdk-core); ``server.wiring`` registers its
factory by channel code in :data:`NOTIFIERS` (nothing registers itself on import). The outbox sender only sees
:class:`Message`, :class:`SendResult` and the typed errors below; nothing provider-shaped passes a provider module.

Errors decide what the outbox does with a message:

* :class:`TransientNotifyError` — network, 5xx, throttling, a system busy answer: retried with backoff;
* :class:`PermanentNotifyError` — the provider refused this message (bad template, bad phone, signature not
  approved …): recorded as failed with the provider's code, never retried;
* :class:`RecipientRefused` — a permanent refusal by the recipient (mini-program 43101: the user did not accept
  the subscription): the policy falls back to the next channel (SMS).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Protocol

import msgspec

from orderhub.registry import Registry

__all__ = [
    "MINIPROGRAM_IDENTITIES",
    "NOTIFIERS",
    "Message",
    "MiniProgramIdentity",
    "Notifier",
    "NotifierChannel",
    "NotifierFactory",
    "NotifyError",
    "PermanentNotifyError",
    "RecipientRefused",
    "SendResult",
    "SharedPhone",
    "ThrottledNotifyError",
    "TransientNotifyError",
    "notifier_for",
    "registered_channels",
]


class NotifierChannel(StrEnum):
    WECHAT_TEMPLATE = "wechat_template"  # 公众号模板消息 (recipient: OA openid)
    WECHAT_SUBSCRIBE = "wechat_subscribe"  # 小程序订阅消息 (recipient: mini-program openid)
    SMS = "aliyun_sms"  # 阿里云短信 (recipient: mainland mobile number, 11 digits)
    WECOM = "wecom"  # 企业微信应用消息 (recipient: WeCom userid list "a|b", or "@all")


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """One message to one recipient through one channel.

    ``template`` is the provider's template id (WeChat template / subscribe template id, Aliyun SMS template code;
    empty for WeCom). ``data`` are the template's fields, already rendered to strings (zh-CN). ``url`` is the
    link the message opens (the tracking page), ``page`` a mini-program page path. ``title`` / ``text`` are the
    rendered zh-CN wording: WeCom sends them as a text card (or markdown when ``markdown`` is true).
    ``out_id`` is the outbox row's id: SMS passes it as ``OutId`` so delivery receipts find their row.
    """

    channel: str
    recipient: str
    out_id: str
    template: str = ""
    data: dict[str, str] = {}
    url: str = ""
    page: str = ""
    title: str = ""
    text: str = ""
    markdown: bool = False


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    provider_id: str  # WeChat msgid, Aliyun BizId, WeCom msgid
    detail: dict[str, Any] = {}  # anything else the provider answered that is worth keeping (e.g. invaliduser)


class NotifyError(Exception):
    """A provider said no, or could not be reached. ``code`` is the provider's own code (errcode / Code) or a
    transport code ("timeout", "http_503"); ``message`` what it said."""

    retryable: bool = False

    def __init__(self, code: str, message: str = "") -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}" if message else code)


class TransientNotifyError(NotifyError):
    retryable = True


class ThrottledNotifyError(TransientNotifyError):
    """The provider's own quota or flow control said "not now" (Aliyun isv.BUSINESS_LIMIT_CONTROL, WeChat 45009 …):
    the message waits for the window to pass without using up an attempt. ``retry_after`` is seconds to wait;
    ``daily`` means the quota resets at the next midnight (Asia/Shanghai)."""

    def __init__(self, code: str, message: str = "", *, retry_after: float = 60.0, daily: bool = False) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after
        self.daily = daily


class PermanentNotifyError(NotifyError):
    retryable = False


class RecipientRefused(PermanentNotifyError):
    """The recipient refused this channel (e.g. 43101 user refuse to accept the msg): fall back."""


class Notifier(Protocol):
    channel: str

    async def send(self, message: Message) -> SendResult: ...


# A factory makes a notifier from the provider's configuration (app id, secret, base URLs … as strings) and the
# process's sync Redis client (for shared access tokens); see each provider module for its keys.
NotifierFactory = Callable[[Mapping[str, str], Any], Notifier]

# Filled by the composition root (``server.wiring``): channel code → factory.
NOTIFIERS: Registry[NotifierFactory] = Registry("notifier")


class SharedPhone(msgspec.Struct, frozen=True, kw_only=True):
    phone: str  # the number without its country code (purePhoneNumber)
    country_code: str  # "86" for mainland numbers


class MiniProgramIdentity(Protocol):
    """Who a mini-program user is, as WeChat vouches for it: ``wx.login``'s code → openid (code2Session), the
    getPhoneNumber button's code → the number they chose to share. Refusals raise the notifier errors above."""

    async def openid_of(self, config: Mapping[str, str], redis: Any, login_code: str) -> str: ...

    async def phone_of(self, config: Mapping[str, str], redis: Any, phone_code: str) -> SharedPhone: ...


# Filled by the composition root: notifier channel whose provider config it uses → identity adapter.
MINIPROGRAM_IDENTITIES: Registry[MiniProgramIdentity] = Registry("mini-program identity")


def registered_channels() -> list[str]:
    return NOTIFIERS.codes()


def notifier_for(channel: str, config: Mapping[str, str], redis: Any) -> Notifier:
    return NOTIFIERS.get(channel)(config, redis)
