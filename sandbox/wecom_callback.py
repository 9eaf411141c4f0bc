"""WeCom (企业微信) callbacks, simulator side: the message encryption and ``msg_signature`` of WeCom's 加解密方案, the
XML WeCom posts, and the HTTP delivery of a callback to an app's URL with WeCom's timeout and retries. Used by
:mod:`sandbox.wechat` (the store's ``set_callback`` / ``click`` / ``forge`` / ``replay`` / ``verify_url`` hooks).

Written from WeCom's documentation, independent of wechatpy (which the hub's client uses) so that the simulator can
catch the client's mistakes instead of repeating them:

* 加解密方案说明, https://developer.work.weixin.qq.com/document/path/90968 — EncodingAESKey is 43 characters of
  [a-zA-Z0-9], AESKey = Base64_Decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC, IV = the AESKey's first 16 bytes,
  PKCS#7 padding to a multiple of 32 bytes; rand_msg = random(16B) + msg_len(4B, network order) + msg + ReceiveId
  (the CorpID for a corp's own app); msg_encrypt = Base64_Encode(AES_Encrypt(rand_msg));
  msg_signature = sha1(sort(token, timestamp, nonce, msg_encrypt)) as lowercase hex.
* 回调配置, https://developer.work.weixin.qq.com/document/path/90930 — URL, Token (letters or digits, at most 32) and
  EncodingAESKey (43) per app; the URL is checked with ``GET url?msg_signature=&timestamp=&nonce=&echostr=`` and must
  answer, within 1 s, the decrypted echostr exactly (no quotes, no BOM, no newline); business data comes as ``POST
  url?msg_signature=&timestamp=&nonce=`` with the encrypted XML envelope.
* 接收消息与事件, https://developer.work.weixin.qq.com/document/path/90238 — WeCom drops the connection when it gets no
  answer within 5 s and sends the request again, three times in all; events are deduplicated by FromUserName +
  CreateTime. (90930: an answer other than HTTP 200 counts as a failure and is retried too.)
* 接收事件 · 模板卡片事件推送, https://developer.work.weixin.qq.com/document/path/90240 — the ``template_card_event``
  XML: ToUserName (CorpID), FromUserName (UserID), CreateTime, MsgType ``event``, Event ``template_card_event``,
  EventKey (the clicked button's key), TaskId, CardType, ResponseCode, AgentID, SelectedItems.

The outer POST envelope, ``<xml><ToUserName/><Encrypt/><AgentID/></xml>``, is the one in Tencent's WXBizMsgCrypt
samples (the 下载地址 of 90968), whose published vectors ``tests/unit/test_sandbox_wecom_cards.py`` checks.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "AES_KEY_LENGTH",
    "BLOCK_SIZE",
    "CallbackCrypto",
    "CallbackDelivery",
    "CallbackRequest",
    "CryptoError",
    "DeliveryKind",
    "deliver",
    "envelope_xml",
    "forged_request",
    "new_token",
    "send_once",
    "template_card_event_xml",
]

AES_KEY_LENGTH = 43  # 90968: EncodingAESKey 长度固定为43个字符
BLOCK_SIZE = 32  # 90968: PKCS#7 填充至32字节的倍数 (not AES's 16)
_ALNUM = string.ascii_letters + string.digits
DeliveryKind = Literal["event", "replay", "forged", "verify"]
Tamper = Literal["signature", "key", "receiveid"]


class CryptoError(ValueError):
    """A ciphertext or key that WeCom's scheme cannot have produced."""


def new_token(length: int = 32) -> str:
    """A callback Token: 90930, 由英文或数字组成且长度不超过32位."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


class CallbackCrypto:
    """WeCom's 加解密方案 (90968) for one app: ``token``, ``encoding_aes_key`` and the ReceiveId (the CorpID)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if len(encoding_aes_key) != AES_KEY_LENGTH or any(c not in _ALNUM for c in encoding_aes_key):
            raise CryptoError("EncodingAESKey must be 43 characters of a-z, A-Z, 0-9")
        key = base64.b64decode(encoding_aes_key + "=")
        if len(key) != 32:  # pragma: no cover - 43 base64 characters always decode to 32 bytes
            raise CryptoError("AESKey must be 32 bytes")
        self.token = token
        self.encoding_aes_key = encoding_aes_key
        self.receive_id = receive_id
        self._key = key

    @staticmethod
    def new_aes_key() -> str:
        """A random EncodingAESKey: 32 random bytes whose base64 form (less its one ``=``) is alphanumeric."""
        while True:
            encoded = base64.b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
            if all(c in _ALNUM for c in encoded):
                return encoded

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """msg_signature = sha1(sort(token, timestamp, nonce, msg_encrypt)), lowercase hex (90968 消息体签名校验)."""
        joined = "".join(sorted([self.token, timestamp, nonce, encrypt]))
        return hashlib.sha1(joined.encode("utf-8")).hexdigest()

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, msg: str | bytes, *, random16: bytes | None = None, receive_id: str | None = None) -> str:
        """msg_encrypt = Base64(AES-256-CBC(random(16B) + msg_len(4B) + msg + ReceiveId), PKCS#7 to 32-byte blocks).
        ``receive_id`` overrides the app's (to forge a message for another corp)."""
        body = msg.encode("utf-8") if isinstance(msg, str) else msg
        prefix = random16 if random16 is not None else secrets.token_bytes(16)
        if len(prefix) != 16:
            raise CryptoError("the random prefix is 16 bytes")
        rid = (self.receive_id if receive_id is None else receive_id).encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + rid
        pad = BLOCK_SIZE - len(plain) % BLOCK_SIZE  # 1..32, a whole block when already aligned
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypt: str) -> tuple[bytes, str]:
        """The reverse of :meth:`encrypt`: ``(msg, ReceiveId)``; :class:`CryptoError` when it does not decode."""
        try:
            data = base64.b64decode(encrypt, validate=True)
        except ValueError as exc:
            raise CryptoError("msg_encrypt is not base64") from exc
        if not data or len(data) % 16:
            raise CryptoError("msg_encrypt is not whole AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK_SIZE or plain[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad PKCS#7 padding")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise CryptoError("too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise CryptoError("msg_len runs past the end")
        msg = plain[20 : 20 + length]
        try:
            receive_id = plain[20 + length :].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CryptoError("ReceiveId is not UTF-8") from exc
        return msg, receive_id


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def template_card_event_xml(
    *,
    corp_id: str,
    userid: str,
    create_time: int,
    event_key: str,
    task_id: str,
    card_type: str,
    response_code: str,
    agent_id: int,
    selected: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The plaintext of a 模板卡片事件推送 (90240), in the documented element order."""
    parts = [
        "<xml>",
        f"<ToUserName>{_cdata(corp_id)}</ToUserName>",
        f"<FromUserName>{_cdata(userid)}</FromUserName>",
        f"<CreateTime>{create_time}</CreateTime>",
        f"<MsgType>{_cdata('event')}</MsgType>",
        f"<Event>{_cdata('template_card_event')}</Event>",
        f"<EventKey>{_cdata(event_key)}</EventKey>",
        f"<TaskId>{_cdata(task_id)}</TaskId>",
        f"<CardType>{_cdata(card_type)}</CardType>",
        f"<ResponseCode>{_cdata(response_code)}</ResponseCode>",
        f"<AgentID>{agent_id}</AgentID>",
    ]
    if selected:
        parts.append("<SelectedItems>")
        for question_key, option_ids in selected.items():
            options = "".join(f"<OptionId>{_cdata(option)}</OptionId>" for option in option_ids)
            parts.append(
                f"<SelectedItem><QuestionKey>{_cdata(question_key)}</QuestionKey>"
                f"<OptionIds>{options}</OptionIds></SelectedItem>"
            )
        parts.append("</SelectedItems>")
    parts.append("</xml>")
    return "".join(parts)


def envelope_xml(corp_id: str, encrypt: str, agent_id: int) -> str:
    """The POST body WeCom sends: ToUserName, Encrypt, AgentID (Tencent's WXBizMsgCrypt sample, see above)."""
    return (
        f"<xml><ToUserName>{_cdata(corp_id)}</ToUserName><Encrypt>{_cdata(encrypt)}</Encrypt>"
        f"<AgentID>{_cdata(str(agent_id))}</AgentID></xml>"
    )


def forged_request(
    url: str, *, token: str, aes_key: str, corp_id: str, agent_id: int, plaintext: str, tamper: Tamper
) -> CallbackRequest:
    """A POST WeCom did not send: ``plaintext`` under a wrong signature (``"signature"``), encrypted with another
    EncodingAESKey but signed with the app's Token (``"key"``), or for another corp's ReceiveId (``"receiveid"``)."""
    crypto = CallbackCrypto(token, aes_key, corp_id)
    if tamper == "key":
        encrypt = CallbackCrypto(token, CallbackCrypto.new_aes_key(), corp_id).encrypt(plaintext)
    elif tamper == "receiveid":
        encrypt = crypto.encrypt(plaintext, receive_id="ww" + secrets.token_hex(8))
    else:
        encrypt = crypto.encrypt(plaintext)
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    signature = secrets.token_hex(20) if tamper == "signature" else crypto.signature(timestamp, nonce, encrypt)
    return CallbackRequest(
        method="POST",
        url=url,
        query=(("msg_signature", signature), ("timestamp", timestamp), ("nonce", nonce)),
        body=envelope_xml(corp_id, encrypt, agent_id).encode("utf-8"),
    )


@dataclass(frozen=True)
class CallbackRequest:
    """One request WeCom makes to an app's callback URL (what a replay sends again verbatim)."""

    method: Literal["GET", "POST"]
    url: str  # the configured callback URL, without WeCom's query
    query: tuple[tuple[str, str], ...]  # msg_signature, timestamp, nonce (and echostr for GET)
    body: bytes = b""

    @property
    def full_url(self) -> str:
        return self.url + ("&" if "?" in self.url else "?") + urlencode(self.query)

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)


@dataclass
class CallbackDelivery:
    """One HTTP attempt at a callback, with what the receiver answered (``status`` None: no answer in time)."""

    kind: DeliveryKind
    app: str  # CorpApp.key
    request: CallbackRequest
    plaintext: str  # the event XML, or the echostr for a URL check
    attempt: int  # 1-based, within its run of retries
    status: int | None = None
    answer: bytes = b""
    elapsed: float = 0.0
    timed_out: bool = False
    error: str = ""
    task_id: str = ""
    userid: str = ""
    response_code: str = ""
    at: float = field(default_factory=time.time)

    @property
    def accepted(self) -> bool:
        """WeCom counts an attempt as received when the URL answers HTTP 200 in time (90930, 90238)."""
        return self.status == 200 and not self.timed_out


def send_once(request: CallbackRequest, *, timeout: float) -> tuple[int | None, bytes, float, bool, str]:
    """Make ``request``; ``(status, answer, elapsed, timed_out, error)``."""
    started = time.monotonic()
    headers = {"Content-Type": "text/xml; charset=utf-8"} if request.method == "POST" else {}
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            response = client.request(request.method, request.full_url, content=request.body or None, headers=headers)
    except httpx.TimeoutException as exc:
        return None, b"", time.monotonic() - started, True, type(exc).__name__
    except httpx.HTTPError as exc:
        return None, b"", time.monotonic() - started, False, f"{type(exc).__name__}: {exc}"
    return response.status_code, response.content, time.monotonic() - started, False, ""


def deliver(
    request: CallbackRequest,
    *,
    kind: DeliveryKind,
    app: str,
    plaintext: str,
    timeout: float,
    max_attempts: int,
    task_id: str = "",
    userid: str = "",
    response_code: str = "",
) -> list[CallbackDelivery]:
    """Send ``request`` until the receiver accepts it (HTTP 200 within ``timeout``) or ``max_attempts`` were made:
    WeCom's 5 s / three tries (90238). Every attempt is returned, first first."""
    attempts: list[CallbackDelivery] = []
    for number in range(1, max(1, max_attempts) + 1):
        status, answer, elapsed, timed_out, error = send_once(request, timeout=timeout)
        attempt = CallbackDelivery(
            kind=kind,
            app=app,
            request=request,
            plaintext=plaintext,
            attempt=number,
            status=status,
            answer=answer,
            elapsed=elapsed,
            timed_out=timed_out,
            error=error,
            task_id=task_id,
            userid=userid,
            response_code=response_code,
        )
        attempts.append(attempt)
        if attempt.accepted:
            break
    return attempts
