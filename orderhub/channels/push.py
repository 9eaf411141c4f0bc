"""Platform pushes (message webhooks): verified with the shop's keys, answered at once, acted on by a pull.

A push says *that* an order changed; the hub does not trust its body for the order itself. Any message that
matters (order paid, cancelled, receiver changed, refund asked …) queues an immediate pull of the channel, which
reads the platform's current truth through the same idempotent intake as the schedule: an order that arrives
by push and by pull is one order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from orderhub.channels.errors import ChannelError
from orderhub.channels.port import PUSH_RECEIVERS
from orderhub.channels.pull import channel_row, enqueue_pull
from orderhub.channels.service import connector_credentials
from orderhub.errors import AuthenticationFailed, NotFound
from orderhub.orders.aftersales import record_platform_refunds

__all__ = ["InvalidPushSignature", "push_reply", "receive_push"]

log = logging.getLogger("orderhub.push")


class InvalidPushSignature(AuthenticationFailed):
    code = ChannelError.INVALID_PUSH_SIGNATURE


async def receive_push(platform: str, code: str, body: bytes, headers: Mapping[str, str]) -> int:
    """Verify and act on a ``platform`` push for channel ``code`` (through the platform's
    :class:`~orderhub.channels.port.PushReceiver`); returns how many messages asked for a pull."""
    if platform not in PUSH_RECEIVERS:
        raise InvalidPushSignature()
    receiver = PUSH_RECEIVERS.get(platform)
    try:
        row = await channel_row(code)
    except NotFound:
        raise InvalidPushSignature() from None  # the same answer as a bad signature: channel codes stay private
    if row["platform"] != platform or not row["active"]:
        raise InvalidPushSignature()
    if not receiver.verify(connector_credentials(row["credentials"]), body, headers):
        raise InvalidPushSignature()
    receipt = receiver.read(body)  # ValidationFailed when it is not the platform's push format
    if receipt.refunds:  # after-sale cases, one per refund id (a refund sent again changes nothing)
        counts = await record_platform_refunds(int(row["id"]), receipt.refunds, actor=f"push:{platform}")
        log.info(f"{platform} push refunds", extra={"channel": code, **counts})
    if receipt.relevant:
        await enqueue_pull(code, trigger="push")
    log.info(f"{platform} push", extra={"channel": code, "messages": receipt.messages, "relevant": receipt.relevant})
    return receipt.relevant


def push_reply(platform: str) -> bytes:
    """What the platform expects as the answer to a delivery it should not retry."""
    return PUSH_RECEIVERS.get(platform).reply
