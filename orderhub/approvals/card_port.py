"""How approval cards reach people's chat app: the :class:`CardSender` port (send an interactive card to one
person, grey out its buttons later), the :data:`CARD_SENDERS` registry filled by ``server.wiring.wire()`` (the WeCom
adapter, ``notify/providers/wecom_cards.py``), and the :class:`CardClick` a sender's callback hands back when a person
taps a button. The engine-facing half — which cards exist, when they are sent and updated, what a tap decides — is
:mod:`orderhub.approvals.cards`.

Errors are the notifiers' (:mod:`orderhub.notifications.port`): transient ones are retried with backoff, throttled
ones wait for the provider's window, permanent ones are recorded. Two refusals matter to the cards themselves:
:class:`CardIdTaken` (the card id was used before — by our own earlier attempt whose answer was lost, or by chance)
and :class:`UpdateCodeUnusable` (the handle an update spends is unknown, used or expired: try the card's other one);
:class:`CallbacksUnavailable` says the app cannot send buttons that call back (a read-only notice goes instead).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

import msgspec

from orderhub.notifications.port import PermanentNotifyError
from orderhub.registry import Registry

__all__ = [
    "CARD_SENDERS",
    "CallbacksUnavailable",
    "CardButton",
    "CardClick",
    "CardContent",
    "CardIdTaken",
    "CardOption",
    "CardSender",
    "CardSenderFactory",
    "SentCard",
    "UpdateCodeUnusable",
]

CardKind = Literal["decide", "notice", "text"]


class CardButton(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    key: str = ""  # a button that calls back (its key comes back in the tap); else a link
    url: str = ""  # a link button (opens the page)
    style: int = 1  # 1 primary, 2 warning, 3 plain (the sender maps it to the vendor's styles)


class CardOption(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    text: str


class CardContent(msgspec.Struct, frozen=True, kw_only=True):
    """One card to one person. ``decide``: buttons that call back (and an optional drop-down submitted with them);
    ``notice``: read-only, opens ``url``; ``text``: a plain text message."""

    kind: CardKind
    card_id: str  # unique forever per app (the vendor refuses a reused one)
    recipient: str  # the person's id in the chat app
    title: str
    subtitle: str = ""
    summary: str = ""  # the line under the title: why it needs approval
    rows: list[tuple[str, str]] = []  # (label, value)
    url: str = ""  # the request's page (card tap, link button)
    buttons: list[CardButton] = []
    selection_key: str = ""  # a drop-down submitted with the buttons ("" for none)
    selection_title: str = ""
    options: list[CardOption] = []
    selected: str = ""
    text: str = ""  # kind "text"


class SentCard(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    update_code: str  # spends once to update the card ("" when the vendor gave none)
    refused: list[str] = []  # recipients the vendor did not deliver to (unknown, unlicensed …)


class CardClick(msgspec.Struct, frozen=True, kw_only=True):
    """A tap on a card's button, as the sender's callback decoded it (authenticated)."""

    card_id: str
    button_key: str
    recipient: str  # who tapped (their id in the chat app)
    update_code: str  # the tap's own update handle (spends once); the same on every redelivery of the tap
    created_at: int  # the vendor's timestamp (seconds)
    selected: dict[str, list[str]] = {}  # drop-down key → chosen option ids


class CardIdTaken(PermanentNotifyError):
    """The card id was used before: our own earlier attempt went through (its answer was lost), or a collision."""


class CallbacksUnavailable(PermanentNotifyError):
    """The app cannot send cards whose buttons call back (no callback URL configured at the provider): send a
    read-only notice instead."""


class UpdateCodeUnusable(PermanentNotifyError):
    """The update handle is unknown, used up or expired: the card's other handle may still work."""


class CardSender(Protocol):
    async def send(self, card: CardContent) -> SentCard: ...

    async def update(self, *, update_code: str, recipient: str, replace_name: str) -> None:
        """Grey out the card's buttons for ``recipient``, showing ``replace_name``."""
        ...


# A factory makes a sender from the provider's configuration (as strings) and the process's sync Redis client.
CardSenderFactory = Callable[[Mapping[str, str], Any], CardSender]

# Filled by the composition root: provider code ("wecom") → factory.
CARD_SENDERS: Registry[CardSenderFactory] = Registry("approval card sender")
