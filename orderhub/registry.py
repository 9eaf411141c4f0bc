"""The two small registries every context uses, so there is one way to plug something in.

* :class:`Registry` — adapters of one kind by code (channel connectors by platform, carriers by carrier code,
  trackers, notifiers by channel). Each port declares one; the composition root (``server.wiring``) fills them.
* :class:`Hooks` — in-process listeners a domain calls at a point of its own (an order event recorded, an order
  leaving the pick flow, a surge starting). The domain declares the hook point; ``server.wiring.wire()`` adds the
  listeners.

Nothing registers itself when its module is imported: a process has exactly what ``wire()`` gave it, and a test can
check that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["Hooks", "Registry", "UnknownAdapter"]

F = TypeVar("F")
H = TypeVar("H", bound=Callable[..., Any])


class UnknownAdapter(LookupError):
    """No adapter is registered under that code (a configuration or wiring mistake, not bad input)."""

    def __init__(self, kind: str, code: str, known: list[str]) -> None:
        self.kind = kind
        self.code = code
        super().__init__(f"no {kind} registered for {code!r} (registered: {', '.join(known) or 'none'})")


class Registry(Generic[F]):
    """Factories of one kind of adapter, by code. Registering the same factory twice is a no-op; a second,
    different factory for a code replaces the first (tests swap adapters this way)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, F] = {}

    def register(self, code: str, factory: F) -> None:
        self._items[code] = factory

    def get(self, code: str) -> F:
        try:
            return self._items[code]
        except KeyError:
            raise UnknownAdapter(self.kind, code, self.codes()) from None

    def codes(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, code: object) -> bool:
        return code in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.codes()!r})"


class Hooks(Generic[H]):
    """Listeners at one hook point, called in the order they were added; adding one twice is a no-op."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._hooks: list[H] = []

    def add(self, hook: H) -> None:
        if hook not in self._hooks:
            self._hooks.append(hook)

    def __iter__(self) -> Iterator[H]:
        return iter(tuple(self._hooks))

    def __len__(self) -> int:
        return len(self._hooks)

    def __contains__(self, hook: object) -> bool:
        return hook in self._hooks

    def clear(self) -> None:
        self._hooks.clear()

    def __repr__(self) -> str:
        return f"Hooks({self.name!r}, {[getattr(h, '__qualname__', repr(h)) for h in self._hooks]!r})"
