"""企业微信 approval cards: the :class:`~orderhub.approvals.card_port.CardSender` over wechatpy's WeCom client (shared
token, ``notify/providers/_wechat.py``), and the app's callback — ``msg_signature`` checked, the message decrypted with
wechatpy's WeCom crypto (``wechatpy.enterprise.crypto.WeChatCrypto``, the ``wechatpy.work`` of later releases), the
``template_card_event`` parsed here (wechatpy has no helper for template cards nor their event).

Sources (each errcode acted on cites its page where it is handled):

* 发送应用消息 · 模板卡片消息, https://developer.work.weixin.qq.com/document/path/90236 — ``msgtype: template_card``,
  ``card_type: button_interaction`` (main_title, sub_title_text, horizontal_content_list ≤ 6, card_action,
  button_selection, button_list ≤ 6 with text / style 1–4 / key, or ``type: 1`` + url), ``task_id`` of
  [0-9A-Za-z_-@] ≤ 128 bytes, unique per app; the answer's ``response_code`` (button cards only; once, 72 h);
  ``text_notice`` cards need ``card_action``; ``enable_duplicate_check`` / ``duplicate_check_interval`` (≤ 4 h)
  makes WeCom drop a repeated identical request.
* 更新模版卡片消息, https://developer.work.weixin.qq.com/document/path/94888 — ``userids``, ``agentid``,
  ``response_code`` (from message/send or from a tap's callback; each usable once, within 72 h),
  ``button.replace_name``.
* 接收事件 · 模板卡片事件推送, https://developer.work.weixin.qq.com/document/path/90240 — the decrypted XML: ToUserName,
  FromUserName (the member's UserID), CreateTime, MsgType ``event``, Event ``template_card_event``, EventKey (the
  button's key), TaskId, CardType, ResponseCode, AgentID, SelectedItems.
* 回调配置, https://developer.work.weixin.qq.com/document/path/90930 and 加解密方案说明,
  https://developer.work.weixin.qq.com/document/path/90968 — ``GET url?msg_signature&timestamp&nonce&echostr``
  answers the decrypted echostr exactly; ``POST`` carries ``<xml><ToUserName/><Encrypt/><AgentID/></xml>``;
  ``msg_signature = sha1(sort(token, timestamp, nonce, msg_encrypt))``.
* 接收消息与事件, https://developer.work.weixin.qq.com/document/path/90238 — no answer within 5 s: WeCom drops the
  connection and sends again (three times in all); the answer is HTTP 200 with an empty body (or a passive reply).
* 全局错误码, https://developer.work.weixin.qq.com/document/path/90313.

Config keys (the ``wecom`` notifier's, sealed in the notify settings): ``corp_id``, ``secret``, ``agent_id``;
``callback_token`` and ``callback_aes_key`` (the app's 接收消息 Token and EncodingAESKey: without them the cards are
read-only notices); ``member_per_minute`` (≤ 30), ``base_url``, ``timeout``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import msgspec
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException

from notify.providers import wecom_oa
from notify.providers._wechat import (
    WECOM_BASE_URL,
    WeComClient,
    optional_key,
    redis_session,
    required_keys,
    run_wechat,
    timeout_from,
)
from orderhub.approvals import cards, oa
from orderhub.approvals.card_port import (
    CallbacksUnavailable,
    CardClick,
    CardContent,
    CardIdTaken,
    SentCard,
    UpdateCodeUnusable,
)
from orderhub.approvals.errors import ApprovalError
from orderhub.errors import NotFound, PermissionDenied, ValidationFailed
from orderhub.notifications import config
from orderhub.notifications.port import NotifierChannel, NotifyError

__all__ = [
    "MAX_CALLBACK_AGE",
    "CallbackQuery",
    "WeComCardSender",
    "card_message",
    "create_card_sender",
    "parse_card_event",
    "receive_callback",
    "verify_url",
]

CHANNEL = NotifierChannel.WECOM.value
MAX_CALLBACK_AGE = 300  # seconds: a delivery signed longer ago is an old one replayed (WeCom retries within ~15 s)
MAX_BODY = 64 * 1024  # a template_card_event is well under 2 KB
DUPLICATE_CHECK_S = 1800  # 90236: duplicate_check_interval, default 1800 s (at most 4 h)
# 90236 按钮交互型 / 文本通知型: the suggested lengths (longer text is cut off by the client)
TITLE_MAX, DESC_MAX, SUBTITLE_MAX, KEYNAME_MAX, VALUE_MAX, BUTTON_MAX = 26, 30, 112, 5, 26, 10
MAX_ROWS = 6  # horizontal_content_list: 列表长度不超过6

# 90313: 42014 任务卡片消息的task_id不合法 — message/send answers it for a task_id the app used before.
TASK_ID_TAKEN = 42014
# 90313: 43012 应用需配置回调url — 90236: 没有配置回调接口的应用不可发送支持回调的卡片.
NO_CALLBACK_URL = 43012
# 94888 says a response_code works once and for 72 h but names no errcode for one used or expired; these are
# 90313's: 40058 不合法的参数 (unknown / expired code), 42022 code已经被使用过。只能使用一次 (used).
UPDATE_CODE_UNUSABLE = frozenset({"40058", "42022"})


def _cut(text: str, limit: int) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _card(content: CardContent) -> dict[str, Any]:
    """The ``template_card`` of a ``decide`` (button_interaction) or ``notice`` (text_notice) card (90236)."""
    card: dict[str, Any] = {
        "card_type": "button_interaction" if content.kind == "decide" else "text_notice",
        "source": {"desc": "订单中枢"},
        "main_title": {"title": _cut(content.title, TITLE_MAX), "desc": _cut(content.subtitle, DESC_MAX)},
    }
    if content.summary:
        card["sub_title_text"] = _cut(content.summary, SUBTITLE_MAX)
    if content.rows:
        card["horizontal_content_list"] = [
            {"keyname": _cut(label, KEYNAME_MAX), "value": _cut(value, VALUE_MAX)}
            for label, value in content.rows[:MAX_ROWS]
        ]
    if content.url:
        card["card_action"] = {"type": 1, "url": content.url}  # 1: 跳转url
    if content.kind != "decide":
        return card
    card["task_id"] = content.card_id
    if content.selection_key and content.options:
        card["button_selection"] = {
            "question_key": content.selection_key,
            "title": _cut(content.selection_title, 13),
            "option_list": [{"id": o.id, "text": _cut(o.text, 16)} for o in content.options[:10]],
            "selected_id": content.selected,
        }
    buttons: list[dict[str, Any]] = []
    for button in content.buttons[:6]:
        entry: dict[str, Any] = {"text": _cut(button.text, BUTTON_MAX), "style": button.style}
        if button.key:
            entry["key"] = button.key  # type 0 (or absent): 回调点击事件
        else:
            entry.update(type=1, url=button.url)  # 1: 跳转url
        buttons.append(entry)
    card["button_list"] = buttons
    return card


def card_message(content: CardContent, agent_id: int) -> dict[str, Any]:
    """The message/send body for one card (90236)."""
    body: dict[str, Any] = {"touser": content.recipient, "agentid": agent_id}
    if content.kind == "text":
        body.update(msgtype="text", text={"content": content.text})
    else:
        body.update(msgtype="template_card", template_card=_card(content))
    if content.kind != "decide":  # a card with a task_id is refused when repeated (42014); the others are deduped
        body.update(enable_duplicate_check=1, duplicate_check_interval=DUPLICATE_CHECK_S)
    return body


class WeComCardSender:
    def __init__(self, client: WeComClient, *, agent_id: int) -> None:
        self.client = client
        self.agent_id = agent_id

    async def send(self, card: CardContent) -> SentCard:
        body = card_message(card, self.agent_id)
        try:
            # Token errors (40014 invalid, 42001 expired; 90313) are refreshed once and retried by the client;
            # -1 系统繁忙 is transient, 45009 / 45033 (接口调用超过限制 / 并发) wait; the rest are permanent
            # (81013 user & party & tag all invalid, 40056 invalid agentid, 43012 no callback URL …): _wechat.py.
            result = await run_wechat(lambda: self.client.post("message/send", data=body))
        except NotifyError as exc:
            if exc.code == str(TASK_ID_TAKEN):
                raise CardIdTaken(exc.code, exc.message) from exc
            if exc.code == str(NO_CALLBACK_URL):
                raise CallbacksUnavailable(exc.code, exc.message) from exc
            raise
        refused: list[str] = []
        for key in ("invaliduser", "unlicenseduser"):  # 90236: returned lower-cased, "|"-joined
            refused += [u for u in str(result.get(key) or "").split("|") if u]
        return SentCard(
            message_id=str(result.get("msgid") or ""),
            update_code=str(result.get("response_code") or ""),
            refused=refused,
        )

    async def update(self, *, update_code: str, recipient: str, replace_name: str) -> None:
        body = {
            "userids": [recipient],
            "agentid": self.agent_id,
            "response_code": update_code,
            "button": {"replace_name": replace_name},
        }
        try:
            await run_wechat(lambda: self.client.post("message/update_template_card", data=body))
        except NotifyError as exc:
            if exc.code in UPDATE_CODE_UNUSABLE:
                raise UpdateCodeUnusable(exc.code, exc.message) from exc
            raise


def create_card_sender(config_: Mapping[str, str], redis: Any) -> WeComCardSender:
    keys = required_keys(config_, CHANNEL, "corp_id", "secret", "agent_id")
    try:
        agent_id = int(keys["agent_id"])
    except ValueError:
        raise ValueError(f"{CHANNEL} config: agent_id must be an integer, not {keys['agent_id']!r}") from None
    client = WeComClient(
        keys["corp_id"],
        keys["secret"],
        session=redis_session(redis),
        base_url=optional_key(config_, "base_url", WECOM_BASE_URL),
        timeout=timeout_from(config_, CHANNEL),
    )
    return WeComCardSender(client, agent_id=agent_id)


# --------------------------------------------------------------------------------------------------- callback


class CallbackQuery(msgspec.Struct, frozen=True, kw_only=True):
    msg_signature: str
    timestamp: str
    nonce: str
    echostr: str = ""  # the GET check only


@dataclass(frozen=True)
class _Callback:
    crypto: WeChatCrypto
    token: str
    corp_id: str
    agent_id: str


async def _callback() -> _Callback:
    provider = await config.provider_config(CHANNEL)
    token = (provider or {}).get("callback_token", "")
    aes_key = (provider or {}).get("callback_aes_key", "")
    if provider is None or not token or not aes_key:
        raise NotFound(ApprovalError.APPROVAL_WECOM_NOT_CONFIGURED)
    corp_id = provider.get("corp_id", "")
    return _Callback(
        crypto=WeChatCrypto(token, aes_key, corp_id),
        token=token,
        corp_id=corp_id,
        agent_id=provider.get("agent_id", ""),
    )


def _open(setup: _Callback, query: CallbackQuery, encrypted: str) -> str:
    """The plaintext of a signed, encrypted value (90968), or the refusal: a wrong signature, a value not encrypted
    with our key or not for our corp, a signature older than :data:`MAX_CALLBACK_AGE`."""
    joined = "".join(sorted([setup.token, query.timestamp, query.nonce, encrypted]))
    expected = hashlib.sha1(joined.encode("utf-8", "replace"), usedforsecurity=False).hexdigest()
    # constant-time check first (wechatpy compares with !=); bytes: compare_digest refuses non-ASCII str
    if not hmac.compare_digest(expected.encode("ascii"), query.msg_signature.lower().encode("utf-8", "replace")):
        raise PermissionDenied(ApprovalError.APPROVAL_WECOM_BAD_SIGNATURE, field="msg_signature")
    try:
        plain = setup.crypto.check_signature(query.msg_signature, query.timestamp, query.nonce, encrypted)
    except InvalidSignatureException:
        raise PermissionDenied(ApprovalError.APPROVAL_WECOM_BAD_SIGNATURE, field="msg_signature") from None
    except Exception:  # not our key (garbage after decryption), or another corp's ReceiveId
        raise PermissionDenied(ApprovalError.APPROVAL_WECOM_BAD_MESSAGE, field="body") from None
    try:
        signed_at = int(query.timestamp)
    except ValueError:
        raise ValidationFailed(ApprovalError.APPROVAL_WECOM_MALFORMED, field="timestamp") from None
    if abs(time.time() - signed_at) > MAX_CALLBACK_AGE:
        raise PermissionDenied(ApprovalError.APPROVAL_WECOM_STALE, field="timestamp")
    return str(plain)


def _xml(text: str | bytes) -> ElementTree.Element:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > MAX_BODY or b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise ValidationFailed(ApprovalError.APPROVAL_WECOM_MALFORMED, field="body")
    try:
        return ElementTree.fromstring(raw)
    except ElementTree.ParseError:
        raise ValidationFailed(ApprovalError.APPROVAL_WECOM_MALFORMED, field="body") from None


def _text(root: ElementTree.Element, tag: str) -> str:
    return (root.findtext(tag) or "").strip()


def parse_card_event(plaintext: str, *, agent_id: str = "") -> CardClick | None:
    """A decrypted callback (90240) as a :class:`CardClick`; None when it is another kind of message or event, or
    for another app."""
    root = _xml(plaintext)
    if _text(root, "MsgType") != "event" or _text(root, "Event") != "template_card_event":
        return None
    if agent_id and _text(root, "AgentID") and _text(root, "AgentID") != agent_id:
        return None
    selected: dict[str, list[str]] = {}
    for item in root.iterfind("SelectedItems/SelectedItem"):
        key = _text(item, "QuestionKey")
        if key:
            selected[key] = [(o.text or "").strip() for o in item.iterfind("OptionIds/OptionId") if o.text]
    try:
        created = int(_text(root, "CreateTime") or "0")
    except ValueError:
        created = 0
    task_id = _text(root, "TaskId")
    if not task_id:
        return None
    return CardClick(
        card_id=task_id,
        button_key=_text(root, "EventKey"),
        recipient=_text(root, "FromUserName"),
        update_code=_text(root, "ResponseCode"),
        created_at=created,
        selected=selected,
    )


async def verify_url(query: CallbackQuery) -> str:
    """WeCom's check of the callback URL (90930): the decrypted echostr, to be answered as it is."""
    setup = await _callback()
    if not query.echostr:
        raise ValidationFailed(ApprovalError.APPROVAL_WECOM_MALFORMED, field="echostr")
    return _open(setup, query, query.echostr)


async def receive_callback(query: CallbackQuery, body: bytes) -> cards.ClickOutcome:
    """One POST from WeCom: verified, decrypted, and — a tap on an approval card — decided (quickly: card updates
    are left to the queue). A redelivery of the same tap answers as the first did, with no second decision. A
    ``sys_approval_change`` (an approval in WeCom's own 审批 app) is applied the same way, once."""
    setup = await _callback()
    envelope = _xml(body)
    encrypted = _text(envelope, "Encrypt")
    if not encrypted:
        raise ValidationFailed(ApprovalError.APPROVAL_WECOM_MALFORMED, field="body")
    plaintext = _open(setup, query, encrypted)
    click = parse_card_event(plaintext, agent_id=setup.agent_id)
    if click is None:
        # 审批申请状态变化回调通知 (91815): an approval of a flow that runs in WeCom's 审批 app moved
        # (notify/providers/wecom_oa.py, orderhub/approvals/oa.py): a final state decides its request, once.
        change = wecom_oa.parse_approval_change(_xml(plaintext))
        if change is not None:
            applied = await oa.apply(change, source="callback")
            return cards.ClickOutcome(outcome=applied.outcome, request_id=applied.request_id, status=applied.status)
        return cards.ClickOutcome(outcome="ignored", reason="not_a_card_tap")
    return await cards.on_click(click)
