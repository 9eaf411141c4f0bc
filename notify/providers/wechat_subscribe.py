"""小程序订阅消息 (mini-program subscribe message) through wechatpy's ``client.wxa.send_subscribe_message``.

Config keys: ``appid``, ``secret`` (required); ``base_url`` (default ``https://api.weixin.qq.com/``),
``miniprogram_state`` (``formal`` / ``trial`` / ``developer``: which version the message opens; WeChat's default
is formal), ``lang`` (``zh_CN`` default, ``en_US``, ``zh_HK``, ``zh_TW``), ``timeout`` (seconds, default 10).

Message: ``recipient`` is the mini-program openid, ``template`` the subscribe template id, ``data`` the fields
(sent as ``{"key": {"value": "..."}}``), ``page`` the page opened. 43101 (the user did not accept, or used up,
the subscription) raises :class:`orderhub.notifications.port.RecipientRefused`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notify.providers._wechat import (
    MP_BASE_URL,
    MiniProgramClient,
    optional_key,
    redis_session,
    required_keys,
    run_wechat,
    timeout_from,
)
from orderhub.notifications.port import Message, NotifierChannel, SendResult, SharedPhone

__all__ = [
    "IDENTITY",
    "LANGS",
    "MINIPROGRAM_STATES",
    "SharedPhone",
    "WeChatMiniProgramIdentity",
    "WeChatSubscribeNotifier",
    "create_notifier",
    "openid_of",
    "phone_of",
]

CHANNEL = NotifierChannel.WECHAT_SUBSCRIBE.value
MINIPROGRAM_STATES = frozenset({"formal", "trial", "developer"})
LANGS = frozenset({"zh_CN", "en_US", "zh_HK", "zh_TW"})


class WeChatSubscribeNotifier:
    channel = CHANNEL

    def __init__(self, client: MiniProgramClient, *, miniprogram_state: str = "", lang: str = "zh_CN") -> None:
        self.client = client
        self.miniprogram_state = miniprogram_state
        self.lang = lang

    async def send(self, message: Message) -> SendResult:
        data = {key: {"value": value} for key, value in message.data.items()}

        def call() -> Any:
            return self.client.wxa.send_subscribe_message(
                message.recipient,
                message.template,
                data,
                page=message.page or None,
                miniprogram_state=self.miniprogram_state or None,
                lang=self.lang or None,
            )

        result = await run_wechat(call)
        return SendResult(provider_id=str(result.get("msgid", "")))


def _client(config: Mapping[str, str], redis: Any) -> MiniProgramClient:
    keys = required_keys(config, CHANNEL, "appid", "secret")
    return MiniProgramClient(
        keys["appid"],
        keys["secret"],
        session=redis_session(redis),
        base_url=optional_key(config, "base_url", MP_BASE_URL),
        timeout=timeout_from(config, CHANNEL),
    )


async def openid_of(config: Mapping[str, str], redis: Any, login_code: str) -> str:
    """``wx.login()``'s code → the user's openid (code2Session). WeChat's refusals come back as notifier errors
    (40029 invalid code, 40163 code already used)."""
    client = _client(config, redis)
    session = await run_wechat(lambda: client.wxa.code_to_session(login_code))
    return str(session.get("openid", ""))


async def phone_of(config: Mapping[str, str], redis: Any, phone_code: str) -> SharedPhone:
    """The getPhoneNumber button's code → the number the user chose to share."""
    client = _client(config, redis)
    answer = await run_wechat(lambda: client.wxa.get_phone_number(phone_code))
    info = answer.get("phone_info") or {}
    return SharedPhone(phone=str(info.get("purePhoneNumber", "")), country_code=str(info.get("countryCode", "")))


class WeChatMiniProgramIdentity:
    """The :class:`~orderhub.notifications.port.MiniProgramIdentity` adapter (code2Session, getuserphonenumber)."""

    async def openid_of(self, config: Mapping[str, str], redis: Any, login_code: str) -> str:
        return await openid_of(config, redis, login_code)

    async def phone_of(self, config: Mapping[str, str], redis: Any, phone_code: str) -> SharedPhone:
        return await phone_of(config, redis, phone_code)


IDENTITY = WeChatMiniProgramIdentity()


def create_notifier(config: Mapping[str, str], redis: Any) -> WeChatSubscribeNotifier:
    required_keys(config, CHANNEL, "appid", "secret")
    state = optional_key(config, "miniprogram_state")
    if state and state not in MINIPROGRAM_STATES:
        raise ValueError(f"{CHANNEL} notifier config: miniprogram_state must be one of formal, trial, developer")
    lang = optional_key(config, "lang", "zh_CN")
    if lang not in LANGS:
        raise ValueError(f"{CHANNEL} notifier config: lang must be one of {', '.join(sorted(LANGS))}")
    return WeChatSubscribeNotifier(_client(config, redis), miniprogram_state=state, lang=lang)
