"""Alipay OpenAPI (支付宝开放平台) wire format and signing — nothing else.

A Taobao/Tmall shop's money lands in its Alipay account; its bills come from Alipay's own open platform, not TOP.

* One call = one POST of form fields to the gateway (``https://openapi.alipay.com/gateway.do``): the public
  params ``app_id``, ``method``, ``format=JSON``, ``charset=utf-8``, ``sign_type=RSA2``, ``timestamp``
  (``yyyy-MM-dd HH:mm:ss``, Beijing time), ``version=1.0``, optional ``app_auth_token``, the business params as
  one JSON text in ``biz_content``, and ``sign`` (opendocs.alipay.com "公共请求参数").
* ``sign`` (opendocs.alipay.com "自行实现签名"): every param but ``sign``, empty values left out, sorted by name
  (ASCII), joined as ``k1=v1&k2=v2`` with the raw (not URL-encoded) values; signed SHA256withRSA (RSA2) with the
  app's private key, base64. :func:`sign_content` builds that string — tested against the documented example.
* The answer is JSON ``{"<method, dots → '_'>_response": {...}, "sign": "..."}`` (or ``"error_response"``);
  ``sign`` covers the exact text of the ``…_response`` value and is verified with the Alipay public key
  ("同步返回验签"). ``code`` ``10000`` is success; anything else is a failure, mapped by :func:`error_for`.

Keys are accepted as PEM or as the bare base64 body Alipay's key tool prints (PKCS#8 or PKCS#1 private keys).
Secrets never reach a log line or an exception message.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Final

import httpx
import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from orderhub.channels.port import (
    InvalidRequest,
    PlatformError,
    PlatformUnavailable,
    RateLimited,
    SessionExpired,
    SignatureRejected,
)
from orderhub.clock import SHANGHAI
from orderhub.wire import GatewayClient

__all__ = [
    "DEFAULT_TIMEOUT",
    "GATEWAY_URL",
    "SUCCESS_CODE",
    "AlipayClient",
    "AlipaySettings",
    "error_for",
    "load_private_key",
    "load_public_key",
    "response_text",
    "rsa2_sign",
    "rsa2_verify",
    "sign_content",
]

GATEWAY_URL: Final = "https://openapi.alipay.com/gateway.do"
DEFAULT_TIMEOUT: Final = httpx.Timeout(20.0, connect=5.0)
SUCCESS_CODE: Final = "10000"

log = logging.getLogger("orderhub.channels.taobao.alipay")

# Public error codes (opendocs.alipay.com/open/common/105806 "公共错误码"), by what the hub does about them.
_CODE_UNAVAILABLE: Final = "20000"  # 服务不可用: isp.unknow-error / aop.unknow-error — retry later
_CODE_AUTH: Final = (
    "20001"  # 授权权限不足: aop.invalid-auth-token, aop.auth-token-time-out, aop.invalid-app-auth-token…
)
_CODE_MISSING: Final = "40001"  # 缺少必选参数
_CODE_INVALID: Final = "40002"  # 非法的参数: isv.invalid-signature, isv.invalid-app-id … (signature / app identity)
_CODE_BUSINESS: Final = "40004"  # 业务处理失败: the API's own sub_code (bill_not_exist …)
_CODE_PERMISSION: Final = "40006"  # 权限不足: isv.insufficient-isv-permissions / insufficient-user-permissions
# 40002 sub_codes that mean our keys or app id are wrong (same page).
_SIGNATURE_SUB_CODES: Final = frozenset(
    {"isv.invalid-signature", "isv.invalid-signature-type", "isv.invalid-app-id", "isv.missing-signature"}
)


class AlipaySettings(msgspec.Struct, frozen=True, kw_only=True):
    """One Alipay account's open-platform settings (sealed with the channel; never logged)."""

    app_id: str
    private_key: str  # the app's RSA2 private key (PEM, or the bare base64 Alipay's tool prints)
    alipay_public_key: str = ""  # Alipay's public key; responses are verified when it is set
    base_url: str = ""  # the gateway to call instead of production (a simulator, the sandbox)
    app_auth_token: str = ""  # when an ISV app calls for the merchant (第三方应用授权)

    def __repr__(self) -> str:  # never a key
        return f"AlipaySettings(app_id={self.app_id!r}, base_url={self.base_url!r})"


# ------------------------------------------------------------------------------------------------------- signing


def sign_content(params: Mapping[str, str]) -> str:
    """The string Alipay signs: every param but ``sign``, empty values left out, sorted, ``k=v`` joined by ``&``."""
    return "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "sign" and params[key] != "")


def _pem(text: str, kind: str) -> bytes:
    body = text.strip()
    if "-----BEGIN" in body:
        return body.encode()
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n".encode()


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM or a bare base64 body (PKCS#8 or PKCS#1)."""
    body = text.strip()
    if "-----BEGIN" in body:
        key = serialization.load_pem_private_key(body.encode(), password=None)
    else:
        key = serialization.load_der_private_key(base64.b64decode(body), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("支付宝应用私钥不是 RSA 密钥")
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """An RSA public key from PEM or a bare base64 body (SubjectPublicKeyInfo)."""
    key = serialization.load_pem_public_key(_pem(text, "PUBLIC KEY"))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("支付宝公钥不是 RSA 密钥")
    return key


def rsa2_sign(content: str, private_key: rsa.RSAPrivateKey) -> str:
    """SHA256withRSA (PKCS#1 v1.5) of ``content`` (UTF-8), base64."""
    signature = private_key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa2_verify(content: str, signature: str, public_key: rsa.RSAPublicKey) -> bool:
    try:
        public_key.verify(base64.b64decode(signature), content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def response_text(body: str, key: str) -> str | None:
    """The exact JSON text of ``key``'s object value in ``body`` (what Alipay's response ``sign`` covers)."""
    marker = f'"{key}"'
    at = body.find(marker)
    if at < 0:
        return None
    start = body.find("{", at + len(marker))
    if start < 0:
        return None
    depth = 0
    in_string = False
    escaped = False
    for index in range(start, len(body)):
        char = body[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return body[start : index + 1]
    return None


# -------------------------------------------------------------------------------------------------------- errors


def error_for(code: str, msg: str, sub_code: str, sub_msg: str) -> PlatformError:
    """The port error for a failed answer (``code`` ≠ 10000). Codes from "公共错误码" (open/common/105806)."""
    platform_code = f"{code}/{sub_code}" if sub_code else code
    kwargs: dict[str, Any] = {"platform_code": platform_code, "platform_message": sub_msg or msg}
    lowered = sub_code.lower()
    if code == _CODE_UNAVAILABLE:
        return PlatformUnavailable("支付宝服务暂不可用", **kwargs)
    if code == _CODE_AUTH:
        return SessionExpired("支付宝授权令牌无效或已过期，请重新授权", **kwargs)
    if code == _CODE_INVALID and lowered in _SIGNATURE_SUB_CODES:
        return SignatureRejected("支付宝拒绝了请求签名或应用 ID（请检查应用私钥、公钥与 app_id）", **kwargs)
    if code == _CODE_PERMISSION:
        return InvalidRequest("支付宝应用没有该接口的权限（请检查签约与功能包）", **kwargs)
    if lowered.startswith("isp."):
        return PlatformUnavailable("支付宝服务暂不可用", **kwargs)
    return InvalidRequest("支付宝拒绝了请求", **kwargs)


# -------------------------------------------------------------------------------------------------------- client


def _now_text() -> str:
    return datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


class AlipayClient(GatewayClient[AlipaySettings]):
    """Signed calls to the Alipay gateway for one account over the caller's ``httpx.AsyncClient``."""

    repr_fields: ClassVar[dict[str, str]] = {"app_id": "credentials.app_id"}  # never a key
    default_base_url = GATEWAY_URL
    default_timeout = DEFAULT_TIMEOUT

    def __init__(
        self,
        settings: AlipaySettings,
        http: httpx.AsyncClient,
        *,
        timeout: httpx.Timeout | None = None,
        now_text: Callable[[], str] = _now_text,
    ) -> None:
        super().__init__(settings, http, timeout=timeout)
        self._now_text = now_text
        self._private_key: rsa.RSAPrivateKey | None = None
        self._public_key: rsa.RSAPublicKey | None = None

    def _keys(self) -> tuple[rsa.RSAPrivateKey, rsa.RSAPublicKey | None]:
        if self._private_key is None:
            try:
                self._private_key = load_private_key(self.credentials.private_key)
                if self.credentials.alipay_public_key:
                    self._public_key = load_public_key(self.credentials.alipay_public_key)
            except (ValueError, TypeError) as exc:
                raise SignatureRejected(
                    "支付宝密钥无法读取（请检查应用私钥与支付宝公钥）", platform_code="bad_key"
                ) from exc
        return self._private_key, self._public_key

    def signed_params(self, method: str, biz_content: Mapping[str, Any]) -> dict[str, str]:
        """The form fields of one call (public params, ``biz_content`` and ``sign``)."""
        private_key, _ = self._keys()
        fields: dict[str, str] = {
            "app_id": self.credentials.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": self._now_text(),
            "version": "1.0",
            "biz_content": json.dumps(biz_content, ensure_ascii=False, separators=(",", ":")),
        }
        if self.credentials.app_auth_token:
            fields["app_auth_token"] = self.credentials.app_auth_token
        fields["sign"] = rsa2_sign(sign_content(fields), private_key)
        return fields

    async def call(self, method: str, biz_content: Mapping[str, Any]) -> dict[str, Any]:
        """Call ``method``; its ``…_response`` object on success (``code`` 10000), else the port's typed error."""
        fields = self.signed_params(method, biz_content)
        started = time.monotonic()
        try:
            reply = await self._http.post(self.base_url, data=fields, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise PlatformUnavailable(
                "支付宝接口超时", platform_code="timeout", platform_message=type(exc).__name__
            ) from exc
        except httpx.HTTPError as exc:
            raise PlatformUnavailable(
                "无法连接支付宝接口", platform_code="network", platform_message=type(exc).__name__
            ) from exc
        if reply.status_code == 429:
            raise RateLimited(platform_code="http 429", platform_message="Too Many Requests")
        if reply.status_code >= 500:
            raise PlatformUnavailable(
                f"支付宝网关错误（HTTP {reply.status_code}）", platform_code=f"http {reply.status_code}"
            )
        if reply.status_code != 200:
            raise InvalidRequest(
                f"支付宝网关拒绝了请求（HTTP {reply.status_code}）", platform_code=f"http {reply.status_code}"
            )
        text = reply.content.decode(reply.encoding or "utf-8", errors="replace")
        try:
            body = json.loads(text)
        except ValueError:
            raise PlatformUnavailable(
                "支付宝返回的不是 JSON", platform_code="bad_response", platform_message=text[:200]
            ) from None
        if not isinstance(body, dict):
            raise PlatformUnavailable("支付宝返回了无法识别的内容", platform_code="bad_response")
        key = method.replace(".", "_") + "_response"
        if key not in body and "error_response" in body:
            key = "error_response"
        answer = body.get(key)
        if not isinstance(answer, dict):
            raise PlatformUnavailable(
                "支付宝返回了无法识别的内容", platform_code="bad_response", platform_message=f"keys={sorted(body)}"
            )
        self._verify(text, key, body.get("sign"), success=str(answer.get("code") or "") == "10000")
        code = str(answer.get("code", ""))
        elapsed = time.monotonic() - started
        if code != SUCCESS_CODE:
            failure = error_for(
                code, str(answer.get("msg") or ""), str(answer.get("sub_code") or ""), str(answer.get("sub_msg") or "")
            )
            log.info("alipay %s refused (%s) in %.2fs", method, failure.platform_code, elapsed)
            raise failure
        log.debug("alipay %s ok in %.2fs", method, elapsed)
        return answer

    def _verify(self, text: str, key: str, signature: object, *, success: bool) -> None:
        """Check the response ``sign`` with Alipay's public key (when configured). A successful answer must be
        signed — it hands out the bill's download URL; gateway refusals (error_response) may come unsigned."""
        _, public_key = self._keys()
        if public_key is None:
            return
        if not isinstance(signature, str) or not signature:
            if success:
                raise SignatureRejected(
                    "支付宝应答没有签名（已配置支付宝公钥，应答必须验签）", platform_code="response_signature_missing"
                )
            return
        content = response_text(text, key)
        if content is None or not rsa2_verify(content, signature, public_key):
            raise SignatureRejected(
                "支付宝应答验签失败（请检查支付宝公钥）", platform_code="response_signature_invalid"
            )

    async def download(self, url: str) -> httpx.Response:
        """GET a file URL Alipay handed out (no signature: the URL carries its own short-lived token)."""
        try:
            return await self._http.get(url, timeout=self._timeout, follow_redirects=True)
        except httpx.TimeoutException as exc:
            raise PlatformUnavailable(
                "支付宝账单下载超时", platform_code="timeout", platform_message=type(exc).__name__
            ) from exc
        except httpx.HTTPError as exc:
            raise PlatformUnavailable(
                "无法下载支付宝账单", platform_code="network", platform_message=type(exc).__name__
            ) from exc
