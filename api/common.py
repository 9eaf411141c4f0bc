"""Transport helpers shared by the back-office API: presenting domain views, PATCH bodies, problem details."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
from litestar.params import Parameter

from orderhub.clock import to_shanghai

__all__ = [
    "MAX_INT", "Count", "Id", "PathId", "PathWave", "Str16", "Str32", "Str100", "Str255", "changes_of", "present",
]

# PostgreSQL INTEGER: ids, quantities, grams. Bounding inputs here keeps both back ends storing the same values.
MAX_INT = 2**31 - 1
Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_INT)]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)]
# An id in a path: litestar checks Parameter bounds there (msgspec.Meta applies to bodies only); unbounded, a value
# past INTEGER made PostgreSQL fail with a 500.
PathId = Annotated[int, Parameter(ge=1, le=MAX_INT)]
# A wave in a path: its number or its code (W251203-00012, what tasks and the floor show); see picking.wave_views.
PathWave = Annotated[str, Parameter(min_length=1, max_length=32, description="The wave's number or its code")]
# Bounded strings matching their columns.
Str16 = Annotated[str, msgspec.Meta(max_length=16)]
Str32 = Annotated[str, msgspec.Meta(max_length=32)]
Str100 = Annotated[str, msgspec.Meta(max_length=100)]
Str255 = Annotated[str, msgspec.Meta(max_length=255)]

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
