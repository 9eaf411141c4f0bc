"""Transport helpers shared by the back-office API: presenting domain views, PATCH bodies, problem details."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import msgspec

from orderhub.clock import to_shanghai

__all__ = ["changes_of", "present"]

T = TypeVar("T")


def _shanghai(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_shanghai(value)
    if isinstance(value, dict):
        return {k: _shanghai(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shanghai(v) for v in value]
    return value


def present(view: Any, type_: type[T]) -> T:
    """Convert a domain view into this surface's Struct; times are shown in Asia/Shanghai (+08:00)."""
    builtins = msgspec.to_builtins(view, builtin_types=(datetime,))
    return msgspec.convert(_shanghai(builtins), type_)


def changes_of(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually set (fields left UNSET are not changes)."""
    return {name: getattr(patch, name) for name in patch.__struct_fields__ if getattr(patch, name) is not msgspec.UNSET}
