"""The platforms' signature algorithms, as pure functions (the simulators' verifiers).

The hub's own clients implement these independently; these exist so the simulators can check what the clients
send. Every function returns the signature exactly as the platform expects it on the wire (case matters: the
simulators compare strictly).

- Taobao/Tmall TOP: params sorted by name, ``sign`` and empty values left out, concatenated ``k1v1k2v2…``;
  ``md5``: upper hex MD5(secret + s + secret); ``hmac``: upper hex HMAC-MD5(secret, s); ``hmac-sha256``: upper hex
  HMAC-SHA256(secret, s).
- Douyin 抖店: lower hex HMAC-SHA256(secret, secret + "app_key"… + "method"… + "param_json"… + "timestamp"… + "v"… +
  secret) (``md5``: MD5 of the same string); ``param_json`` has its keys sorted (recursively) and no spaces.
- Douyin push: lower hex MD5(app_key + raw body + app_secret) in the ``event-sign`` header.
- Pinduoduo and JD: upper hex MD5(secret + ``k1v1k2v2…`` + secret) over every parameter but ``sign``.
- Alipay OpenAPI (RSA2): every request param but ``sign`` and empty values, sorted by name, joined ``k=v&k=v``
  (values raw, not URL-encoded), encoded in the request ``charset``, signed SHA256withRSA (PKCS#1 v1.5), base64.
  Answers are signed the same way over the exact JSON text of the ``…_response`` node.
  Doc: Alipay 开放平台 接入指南「自行实现签名」(opendocs.alipay.com): "获取所有请求参数，不包括字节类型参数 …
  剔除 sign 字段，剔除值为空的参数，并按照第一个字符的键值 ASCII 码递增排序 … 组合成“参数=参数值”的格式，并且
  把这些参数用 & 字符连接起来"; the worked example there keeps ``sign_type=RSA2`` in the string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "TOP_SIGN_METHODS",
    "alipay_rsa2_sign",
    "alipay_rsa2_verify",
    "alipay_sign_content",
    "canonical_json",
    "douyin_event_sign",
    "douyin_sign",
    "is_canonical_json",
    "jd_sign",
    "pinduoduo_sign",
    "sorted_concat",
    "taobao_sign",
]

TOP_SIGN_METHODS = ("md5", "hmac", "hmac-sha256")


def sorted_concat(params: Mapping[str, str], *, skip_empty: bool) -> str:
    """``k1v1k2v2…`` over the params sorted by name (byte order), without ``sign``."""
    items = sorted((k, v) for k, v in params.items() if k != "sign" and not (skip_empty and v == ""))
    return "".join(f"{k}{v}" for k, v in items)


def _md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def taobao_sign(params: Mapping[str, str], secret: str, sign_method: str = "md5") -> str:
    """TOP signature over all request params (system and business), excluding ``sign`` and empty values."""
    joined = sorted_concat(params, skip_empty=True)
    if sign_method == "md5":
        return _md5_upper(secret + joined + secret)
    if sign_method == "hmac":
        return hmac.new(secret.encode(), joined.encode(), hashlib.md5).hexdigest().upper()
    if sign_method == "hmac-sha256":
        return hmac.new(secret.encode(), joined.encode(), hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unsupported TOP sign_method {sign_method!r}")


def douyin_sign(
    *,
    app_key: str,
    app_secret: str,
    method: str,
    param_json: str,
    timestamp: str,
    v: str = "2",
    sign_method: str = "hmac-sha256",
) -> str:
    """抖店 request signature (lower hex)."""
    plain = f"{app_secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v{v}{app_secret}"
    if sign_method == "hmac-sha256":
        return hmac.new(app_secret.encode(), plain.encode(), hashlib.sha256).hexdigest()
    if sign_method == "md5":
        return hashlib.md5(plain.encode()).hexdigest()
    raise ValueError(f"unsupported Douyin sign_method {sign_method!r}")


def canonical_json(value: Any, *, ensure_ascii: bool = False) -> str:
    """JSON with object keys sorted at every level and no whitespace (抖店's ``param_json`` form)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=ensure_ascii)


def is_canonical_json(raw: str) -> bool:
    """Whether ``raw`` is already in canonical form (non-ASCII may be raw UTF-8 or ``\\u`` escaped)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return False
    return raw in (canonical_json(value), canonical_json(value, ensure_ascii=True))


def douyin_event_sign(app_key: str, body: bytes, app_secret: str) -> str:
    """The ``event-sign`` header of a 抖店 message push (lower hex MD5)."""
    return hashlib.md5(app_key.encode() + body + app_secret.encode()).hexdigest()


def pinduoduo_sign(params: Mapping[str, str], client_secret: str) -> str:
    """拼多多 POP signature over every param but ``sign`` (empty values included, as the SDKs do)."""
    return _md5_upper(client_secret + sorted_concat(params, skip_empty=False) + client_secret)


def jd_sign(params: Mapping[str, str], app_secret: str) -> str:
    """京东 JOS signature over every param but ``sign`` (``360buy_param_json`` and ``access_token`` included)."""
    return _md5_upper(app_secret + sorted_concat(params, skip_empty=False) + app_secret)


def alipay_sign_content(params: Mapping[str, str]) -> str:
    """Alipay's 待签名字符串: params but ``sign`` and empty values, sorted by name, ``k=v`` joined by ``&``."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")


def alipay_rsa2_sign(content: str, private_key_pem: str, charset: str = "utf-8") -> str:
    """Base64 SHA256withRSA signature of ``content`` (encoded in ``charset``)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(content.encode(charset), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def alipay_rsa2_verify(content: str, signature: str, public_key_pem: str, charset: str = "utf-8") -> bool:
    """Whether ``signature`` (base64) is a valid SHA256withRSA signature of ``content`` under the public key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, content.encode(charset), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, LookupError):
        return False
    return True
