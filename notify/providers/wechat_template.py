"""公众号模板消息 (Official Account template message) through wechatpy's ``WeChatClient.message.send_template``.

Config keys: ``appid``, ``secret`` (required); ``base_url`` (default ``https://api.weixin.qq.com/``; the
simulator's URL in tests), ``miniprogram_appid`` (optional: a message with a ``page`` then opens that mini-program
page instead of / as well as ``url``), ``timeout`` (seconds, default 10). The access token lives in Redis under
``orderhub:wechatpy:<appid>_access_token``, shared by every process.

Message: ``recipient`` is the OA openid, ``template`` the template id, ``data`` the fields (sent as
``{"key": {"value": "..."}}``), ``url`` the link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notify.providers._wechat import (
    MP_BASE_URL,
    OfficialAccountClient,
    optional_key,
    redis_session,
    required_keys,
    run_wechat,
    timeout_from,
)
from orderhub.notifications.port import Message, NotifierChannel, SendResult

__all__ = ["WeChatTemplateNotifier", "create_notifier"]

CHANNEL = NotifierChannel.WECHAT_TEMPLATE.value


class WeChatTemplateNotifier:
    channel = CHANNEL

    def __init__(self, client: OfficialAccountClient, *, miniprogram_appid: str = "") -> None:
        self.client = client
        self.miniprogram_appid = miniprogram_appid

    async def send(self, message: Message) -> SendResult:
        data = {key: {"value": value} for key, value in message.data.items()}
        mini_program: dict[str, str] | None = None
        if message.page and self.miniprogram_appid:
            mini_program = {"appid": self.miniprogram_appid, "pagepath": message.page}

        def call() -> Any:
            return self.client.message.send_template(
                message.recipient, message.template, data, url=message.url or None, mini_program=mini_program
            )

        result = await run_wechat(call)
        return SendResult(provider_id=str(result.get("msgid", "")))


def create_notifier(config: Mapping[str, str], redis: Any) -> WeChatTemplateNotifier:
    keys = required_keys(config, CHANNEL, "appid", "secret")
    client = OfficialAccountClient(
        keys["appid"],
        keys["secret"],
        session=redis_session(redis),
        base_url=optional_key(config, "base_url", MP_BASE_URL),
        timeout=timeout_from(config, CHANNEL),
    )
    return WeChatTemplateNotifier(client, miniprogram_appid=optional_key(config, "miniprogram_appid"))
