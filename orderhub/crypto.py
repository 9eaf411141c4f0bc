"""Secrets at rest: Fernet encryption keyed from ORDERHUB_SECRET_KEY; HMAC signing helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["decrypt", "encrypt", "hmac_sha256_hex", "new_secret", "signatures_equal"]


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(f"orderhub:credentials:{secret_key}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(secret_key: str, plaintext: bytes) -> str:
    return _fernet(secret_key).encrypt(plaintext).decode()


def decrypt(secret_key: str, token: str) -> bytes:
    try:
        return _fernet(secret_key).decrypt(token.encode())
    except InvalidToken as exc:
        raise ValueError("credentials cannot be decrypted with the current ORDERHUB_SECRET_KEY") from exc


def new_secret() -> str:
    return secrets.token_hex(32)


def hmac_sha256_hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def signatures_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.lower().encode(), b.lower().encode())
