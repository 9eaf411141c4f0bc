"""The approval cards' callback URL (the WeCom app's 接收消息 URL; docs/approvals.md#enterprise-wechat-one-tap).

Public: WeCom signs every call with the app's Token (``msg_signature``), which ``notify.providers.wecom_cards``
checks before anything else; a forged, undecryptable or old (replayed) call is refused with nothing changed.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from notify.providers import wecom_cards

__all__ = ["WeComCallbackController"]

Signature = Annotated[
    str, Parameter(min_length=1, max_length=64, description="sha1 over Token, timestamp, nonce, message")
]
Timestamp = Annotated[str, Parameter(min_length=1, max_length=16, description="When WeCom signed the call (seconds)")]
Nonce = Annotated[str, Parameter(min_length=1, max_length=64)]


class WeComCallbackController(Controller):
    path = "/api/v1/wecom/approvals/callback"
    tags = ["webhooks"]

    @get(
        "/",
        summary="WeCom's check of the approval cards' callback URL (echostr)",
        description="Called by WeCom when the app's 接收消息 URL is saved: `echostr` is decrypted with the app's "
        "EncodingAESKey once `msg_signature` matches the Token, and answered as plain text, exactly. 403 when the "
        "signature does not match, the value is not ours or was signed more than five minutes ago; 404 while the "
        "WeCom account has no callback Token and key.",
        media_type="text/plain",
        opt={"public": True},  # no bearer token: WeCom's msg_signature is the key
    )
    async def check(
        self,
        msg_signature: Signature,
        timestamp: Timestamp,
        nonce: Nonce,
        echostr: Annotated[str, Parameter(min_length=1, max_length=1024)],
    ) -> Response[bytes]:
        query = wecom_cards.CallbackQuery(
            msg_signature=msg_signature, timestamp=timestamp, nonce=nonce, echostr=echostr
        )
        plain = await wecom_cards.verify_url(query)
        return Response(plain.encode("utf-8"), media_type="text/plain; charset=utf-8")

    @post(
        "/",
        status_code=200,
        summary="A tap on an approval card in WeCom (template_card_event): the decision, once",
        description="Called by WeCom, not by people: the encrypted XML of a 同意 / 驳回 tap. Verified "
        "(`msg_signature`), decrypted, and decided at once with the tap's ResponseCode as the idempotency key, so "
        "WeCom's retries and duplicate deliveries of one tap make one decision; the cards are updated afterwards by "
        "the queue. Answers 200 with an empty body (also for a tap that came too late: the card says why). 403 for "
        "a forged, undecryptable or replayed old call, with nothing changed.",
        opt={"public": True},  # no bearer token: WeCom's msg_signature is the key
    )
    async def tap(
        self, request: Request[Any, Any, Any], msg_signature: Signature, timestamp: Timestamp, nonce: Nonce
    ) -> Response[bytes]:
        body = await request.body()
        query = wecom_cards.CallbackQuery(msg_signature=msg_signature, timestamp=timestamp, nonce=nonce)
        await wecom_cards.receive_callback(query, body)
        return Response(b"", media_type="text/plain; charset=utf-8")
