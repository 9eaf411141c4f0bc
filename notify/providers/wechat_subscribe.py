"""小程序订阅消息 (mini-program subscribe message) through wechatpy's ``client.wxa.send_subscribe_message``.

Config keys: ``appid``, ``secret`` (required); ``base_url`` (default ``https://api.weixin.qq.com/``),
``miniprogram_state`` (``formal`` / ``trial`` / ``developer``: which version the message opens; WeChat's default
is formal), ``lang`` (``zh_CN`` default, ``en_US``, ``zh_HK``, ``zh_TW``), ``timeout`` (seconds, default 10).

Message: ``recipient`` is the mini-program openid, ``template`` the subscribe template id, ``data`` the fields
(sent as ``{"key": {"value": "..."}}``), ``page`` the page opened. 43101 (the user did not accept, or used up,
the subscription) raises :class:`notify.port.RecipientRefused`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notify.port import Message, NotifierChannel, SendResult, register
from notify.providers._wechat import (
    MP_BASE_URL,
    MiniProgramClient,
    optional_key,
    redis_session,
    required_keys,
    run_wechat,
    timeout_from,
)

__all__ = ["LANGS", "MINIPROGRAM_STATES", "WeChatSubscribeNotifier", "create_notifier"]

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


def create_notifier(config: Mapping[str, str], redis: Any) -> WeChatSubscribeNotifier:
    keys = required_keys(config, CHANNEL, "appid", "secret")
    state = optional_key(config, "miniprogram_state")
    if state and state not in MINIPROGRAM_STATES:
        raise ValueError(f"{CHANNEL} notifier config: miniprogram_state must be one of formal, trial, developer")
    lang = optional_key(config, "lang", "zh_CN")
    if lang not in LANGS:
        raise ValueError(f"{CHANNEL} notifier config: lang must be one of {', '.join(sorted(LANGS))}")
    client = MiniProgramClient(
        keys["appid"],
        keys["secret"],
        session=redis_session(redis),
        base_url=optional_key(config, "base_url", MP_BASE_URL),
        timeout=timeout_from(config, CHANNEL),
    )
    return WeChatSubscribeNotifier(client, miniprogram_state=state, lang=lang)


register(CHANNEL, create_notifier)
