"""Platform pushes (message webhooks): verified with the shop's keys, answered at once, acted on by a pull.

A push says *that* an order changed; the hub does not trust its body for the order itself. Any message that
matters (order paid, cancelled, receiver changed, refund asked …) queues an immediate pull of the channel, which
reads the platform's current truth through the same idempotent intake as the schedule: an order that arrives
by push and by pull is one order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from orderhub.channels.douyin.webhook import PushAction, parse_push, push_action, verify_push
from orderhub.channels.pull import channel_row, enqueue_pull
from orderhub.channels.service import connector_credentials
from orderhub.errors import AuthenticationFailed, NotFound

__all__ = ["InvalidPushSignature", "receive_douyin_push"]

log = logging.getLogger("orderhub.push")


class InvalidPushSignature(AuthenticationFailed):
    code = "invalid_signature"
    default_message = "推送签名校验失败"


async def receive_douyin_push(code: str, body: bytes, headers: Mapping[str, str]) -> int:
    """Verify and act on a 抖店 push for channel ``code``; returns how many messages asked for a pull."""
    try:
        row = await channel_row(code)
    except NotFound:
        raise InvalidPushSignature() from None  # the same answer as a bad signature: channel codes stay private
    if row["platform"] != "douyin" or not row["active"]:
        raise InvalidPushSignature()
    credentials = connector_credentials(row["credentials"])
    if not credentials.app_key or not verify_push(credentials.app_key, credentials.app_secret, body, headers):
        raise InvalidPushSignature()
    messages = parse_push(body)  # ValidationFailed when it is not 抖店's message array
    relevant = [m for m in messages if push_action(m.tag) not in (PushAction.IGNORE, PushAction.ORDER_COMPLETED)]
    if relevant:
        await enqueue_pull(code, trigger="push")
    log.info("douyin push", extra={"channel": code, "messages": len(messages), "relevant": len(relevant)})
    return len(relevant)
