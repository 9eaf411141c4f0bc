"""Decode JSON bodies with msgspec and turn its errors into our ValidationFailed (with the field path)."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from orderhub.errors import ValidationFailed

__all__ = ["decode_json", "error_field", "validation_error"]

T = TypeVar("T")

_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"(?:missing required|contains unknown) field `(?P<name>[^`]+)`")


def error_field(message: str) -> str | None:
    path_match = _AT.search(message)
    path = path_match.group("path") if path_match else ""
    missing = _MISSING.search(message)
    if missing:
        path = f"{path}.{missing.group('name')}" if path else missing.group("name")
    return path or None


def validation_error(exc: msgspec.MsgspecError, *, prefix: str = "") -> ValidationFailed:
    message = str(exc)
    field = error_field(message)
    if prefix and field:
        field = f"{prefix}.{field}" if not field.startswith("[") else f"{prefix}{field}"
    elif prefix:
        field = prefix
    detail = _AT.sub("", message)
    text = f"字段不合法：{detail}" if isinstance(exc, msgspec.ValidationError) else "请求体不是合法的 JSON"
    return ValidationFailed(text, field=field)


def decode_json(body: bytes | msgspec.Raw, type_: type[T], *, prefix: str = "") -> T:
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.MsgspecError as exc:
        raise validation_error(exc, prefix=prefix) from exc


def peek_field(raw: bytes | msgspec.Raw, name: str) -> Any:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    return value.get(name) if isinstance(value, dict) else None


__all__ += ["peek_field"]
