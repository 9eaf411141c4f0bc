"""企业微信应用消息 (WeCom app message) through wechatpy's enterprise ``WeChatClient.message``: a text card
(``send_text_card``), markdown (``send_markdown``) when ``message.markdown``, plain text (``send_text``) when the
message has no link.

Config keys: ``corp_id``, ``secret`` (the app's secret), ``agent_id`` (an integer) (required); ``base_url``
(default ``https://qyapi.weixin.qq.com/``), ``timeout`` (seconds, default 10). The token is shared through Redis
under ``orderhub:wechatpy:<corp_id>_<secret[:10]>_access_token``.

Message: ``recipient`` is a ``|``-joined userid list or ``@all``; ``title`` / ``text`` the wording; ``url`` the
card's link. Recipients WeCom did not know (``invaliduser``, ``unlicenseduser``) are listed in
``SendResult.detail``; when none is valid WeCom answers 81013 (a permanent error).

WeCom drops, with errcode 0, what passes 30 messages a minute / 1,000 an hour per member and app
(https://developer.work.weixin.qq.com/document/path/90454): this notifier sends what it is given, and its caller
(the outbox, ``orderhub.notifications.outbox.send``) first takes a slot for every recipient in the members' window
that the approval cards share (``orderhub.notifications.wecom_window``), or defers the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notify.providers._wechat import (
    WECOM_BASE_URL,
    WeComClient,
    optional_key,
    redis_session,
    required_keys,
    run_wechat,
    timeout_from,
)
from orderhub.notifications.port import Message, NotifierChannel, SendResult

__all__ = ["WeComNotifier", "create_notifier"]

CHANNEL = NotifierChannel.WECOM.value
REPORTED = ("invaliduser", "invalidparty", "invalidtag", "unlicenseduser")


class WeComNotifier:
    channel = CHANNEL

    def __init__(self, client: WeComClient, *, agent_id: int) -> None:
        self.client = client
        self.agent_id = agent_id

    async def send(self, message: Message) -> SendResult:
        users = message.recipient.strip()
        api = self.client.message

        def call() -> Any:
            if message.markdown:
                content = f"**{message.title}**\n{message.text}" if message.title else message.text
                return api.send_markdown(self.agent_id, users, content)
            if message.url:
                return api.send_text_card(self.agent_id, users, message.title, message.text, message.url)
            content = f"{message.title}\n{message.text}" if message.title else message.text
            return api.send_text(self.agent_id, users, content)

        result = await run_wechat(call)
        detail = {key: value.split("|") for key in REPORTED if (value := str(result.get(key) or ""))}
        return SendResult(provider_id=str(result.get("msgid", "")), detail=detail)


def create_notifier(config: Mapping[str, str], redis: Any) -> WeComNotifier:
    keys = required_keys(config, CHANNEL, "corp_id", "secret", "agent_id")
    try:
        agent_id = int(keys["agent_id"])
    except ValueError:
        raise ValueError(f"{CHANNEL} notifier config: agent_id must be an integer, not {keys['agent_id']!r}") from None
    client = WeComClient(
        keys["corp_id"],
        keys["secret"],
        session=redis_session(redis),
        base_url=optional_key(config, "base_url", WECOM_BASE_URL),
        timeout=timeout_from(config, CHANNEL),
    )
    return WeComNotifier(client, agent_id=agent_id)
