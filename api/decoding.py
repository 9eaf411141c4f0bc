"""Decode JSON bodies with msgspec and turn its errors into our ValidationFailed (with the field path)."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from orderhub.errors import ValidationFailed

__all__ = ["decode_json", "error_field", "explain", "validation_error"]

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


# msgspec's and litestar's validation messages (their wording, as their code writes it) in zh-CN: a person reads
# the message; the field says where. Anything not listed reads 取值不合法 rather than English.
_TYPES = {
    "int": "整数",
    "float": "数字",
    "str": "字符串",
    "bool": "true 或 false",
    "null": "null",
    "array": "数组",
    "object": "对象",
    "datetime": "日期时间",
    "date": "日期",
    "time": "时间",
    "uuid": "UUID",
    "decimal": "数字",
    "bytes": "base64 字符串",
}
_BOUNDS = {">=": "不小于", "<=": "不大于", ">": "大于", "<": "小于"}
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Object missing required field `(?P<name>[^`]+)`$"), "缺少必填字段 {name}"),
    (re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$"), "不认识的字段 {name}"),
    (re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$"), "应为{want}，收到的是{got}"),
    (re.compile(r"^Expected `(?P<want>[^`]+)` of length (?P<op>>=|<=) (?P<n>\d+)$"), "长度应{op} {n}"),
    (re.compile(r"^Expected `(?P<want>[^`]+)` (?P<op>>=|<=|>|<) (?P<n>[-0-9.e+]+)$"), "应为{op} {n} 的{want}"),
    (re.compile(r"^Expected `(?P<want>[^`]+)` that's a multiple of (?P<n>[-0-9.e+]+)$"), "应为 {n} 的整数倍"),
    (re.compile(r"^Expected `str` matching regex (?P<regex>.+)$"), "格式不符合要求（{regex}）"),
    (re.compile(r"^Invalid enum value (?P<value>.+)$"), "不是允许的取值：{value}"),
    (re.compile(r"^Expected `datetime` with a timezone component$"), "日期时间须带时区，如 2026-01-01T08:00:00+08:00"),
    (re.compile(r"^Expected `datetime` with no timezone component$"), "日期时间不应带时区"),
    (re.compile(r"^Invalid RFC3339 encoded (?P<want>datetime|date|time)$"), "不是合法的{want}（RFC 3339）"),
    (re.compile(r"^Invalid UUID$"), "不是合法的 UUID"),
    (re.compile(r"^Invalid base64 encoded string$"), "不是合法的 base64"),
    (re.compile(r"^Invalid decimal string$"), "不是合法的数字"),
    (re.compile(r"^Missing required (?P<kind>\w+) parameter '(?P<name>[^']+)'.*$"), "缺少必填的{kind}参数 {name}"),
)
_KINDS = {"query": "查询", "path": "路径", "header": "请求头", "cookie": "Cookie"}


def explain(message: str) -> str:
    """A msgspec or litestar validation message (its `` - at `$.path` `` tail removed) in zh-CN."""
    text = _AT.sub("", message).strip()
    for pattern, template in _RULES:
        found = pattern.match(text)
        if found:
            parts = found.groupdict()
            for key in ("want", "got"):
                if key in parts:  # "int | null" → 整数或 null
                    parts[key] = "或".join(_TYPES.get(t.strip(), t.strip()) for t in parts[key].split("|"))
            if "op" in parts:
                parts["op"] = _BOUNDS[parts["op"]]
            if "kind" in parts:
                parts["kind"] = _KINDS.get(parts["kind"], parts["kind"])
            return template.format(**parts)
    return "取值不合法"


def validation_error(exc: msgspec.MsgspecError, *, prefix: str = "") -> ValidationFailed:
    message = str(exc)
    field = error_field(message)
    if prefix and field:
        field = f"{prefix}.{field}" if not field.startswith("[") else f"{prefix}{field}"
    elif prefix:
        field = prefix
    text = f"字段不合法：{explain(message)}" if isinstance(exc, msgspec.ValidationError) else "请求体不是合法的 JSON"
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
