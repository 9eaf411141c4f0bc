"""What a person reads when their input is refused is zh-CN: msgspec's and litestar's English validation messages
(produced here by the libraries themselves, not written by hand) are explained in Chinese, with the field apart."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Literal
from uuid import UUID

import msgspec
import pytest

from api.decoding import decode_json, explain
from orderhub.errors import ValidationFailed

ENGLISH = re.compile(r"\b(Expected|Object|Invalid|Missing|got|field|length|matching|parameter)\b")


class Colour(Enum):
    RED = "red"


class Sample(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    qty: int
    bounded: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1
    code: Annotated[str, msgspec.Meta(min_length=2, max_length=3, pattern="^x")] = "xx"
    lines: Annotated[list[int], msgspec.Meta(min_length=1, max_length=2)] = msgspec.field(default_factory=lambda: [1])
    colour: Colour = Colour.RED
    mode: Literal["a", "b"] = "a"
    paid_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    day: date | None = None
    note: int | None = None
    ref: UUID | None = None
    weight: Annotated[float, msgspec.Meta(gt=0, lt=5, multiple_of=0.5)] = 1.0


BAD = {
    "{}": ("qty", "缺少必填字段 qty"),
    '{"qty":"x"}': ("qty", "应为整数，收到的是字符串"),
    '{"qty":null}': ("qty", "应为整数，收到的是null"),
    '{"qty":1,"zzz":2}': ("zzz", "不认识的字段 zzz"),
    '{"qty":1,"bounded":0}': ("bounded", "应为不小于 1 的整数"),
    '{"qty":1,"bounded":11}': ("bounded", "应为不大于 10 的整数"),
    '{"qty":1,"code":"x"}': ("code", "长度应不小于 2"),
    '{"qty":1,"code":"xxxx"}': ("code", "长度应不大于 3"),
    '{"qty":1,"code":"yy"}': ("code", "格式不符合要求（'^x'）"),
    '{"qty":1,"lines":[]}': ("lines", "长度应不小于 1"),
    '{"qty":1,"lines":["x"]}': ("lines[0]", "应为整数，收到的是字符串"),
    '{"qty":1,"colour":"blue"}': ("colour", "不是允许的取值：'blue'"),
    '{"qty":1,"mode":"z"}': ("mode", "不是允许的取值：'z'"),
    '{"qty":1,"paid_at":"2026-01-01T08:00:00"}': ("paid_at", "日期时间须带时区，如 2026-01-01T08:00:00+08:00"),
    '{"qty":1,"paid_at":"soon"}': ("paid_at", "不是合法的日期时间（RFC 3339）"),
    '{"qty":1,"day":"x"}': ("day", "不是合法的日期（RFC 3339）"),
    '{"qty":1,"note":"x"}': ("note", "应为整数或null，收到的是字符串"),
    '{"qty":1,"ref":"x"}': ("ref", "不是合法的 UUID"),
    '{"qty":1,"weight":0}': ("weight", "应为大于 0.0 的数字"),
    '{"qty":1,"weight":1.3}': ("weight", "应为 0.5 的整数倍"),
}


@pytest.mark.parametrize("body", list(BAD))
def test_msgspec_messages_read_in_chinese(body: str) -> None:
    field, text = BAD[body]
    with pytest.raises(ValidationFailed) as info:
        decode_json(body.encode(), Sample)
    assert info.value.field == field
    assert info.value.message == f"字段不合法：{text}"
    assert not ENGLISH.search(info.value.message), info.value.message


def test_litestar_and_unknown_messages() -> None:
    missing = "Missing required query parameter 'warehouse' for path /api/v1/stock?limit=5"
    assert explain(missing) == "缺少必填的查询参数 warehouse"
    assert explain("Something msgspec may say one day") == "取值不合法"
