"""Wire helpers every integration shares (platform floor: no domain, no provider).

* Money: :func:`yuan_to_fen` — yuan as a vendor writes it (``"12.30"``, ``12.3``) → integer fen, exactly.
* Time: :func:`beijing_to_utc` / :func:`beijing_time` / :func:`beijing_or_none` — the ``yyyy-MM-dd HH:mm:ss`` in
  Beijing time every Chinese platform and carrier writes → aware UTC; :func:`beijing_text` the other way.
* HTTP: :func:`json_object` / :func:`post_json` — a gateway's reply as a JSON object, or the :class:`ReplyFault`
  that went wrong, which the caller's ``fail`` turns into its own typed error (a carrier error, a platform error);
  :func:`retry_after` reads a ``Retry-After`` header.
* :class:`GatewayClient` — the base of a vendor gateway client: the caller's HTTP client, a timeout, and a
  ``repr`` that names the account and the gateway, never a secret or a token.
"""

from __future__ import annotations

import json
import operator
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

import httpx

from orderhub.clock import SHANGHAI

__all__ = [
    "BEIJING_FORMAT",
    "Fail",
    "GatewayClient",
    "NotAnAmount",
    "ReplyFault",
    "SubFenAmount",
    "beijing_or_none",
    "beijing_text",
    "beijing_time",
    "beijing_to_utc",
    "json_object",
    "post_json",
    "reply_fault",
    "retry_after",
    "yuan_to_fen",
]

BEIJING_FORMAT = "%Y-%m-%d %H:%M:%S"
C = TypeVar("C")
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------------------- money


class NotAnAmount(ValueError):
    """The value is not an amount of money."""


class SubFenAmount(NotAnAmount):
    """The amount has digits below the fen (raised only when an exact amount is asked for)."""


def yuan_to_fen(value: object, *, exact: bool = False) -> int:
    """``"12.30"`` / ``12.3`` / ``12`` yuan → ``1230`` fen exactly (``Decimal``; a float goes through its shortest
    decimal text, so ``12.3`` is 1230, never 1229). Empty / missing → 0. Below a fen: half-up, or
    :class:`SubFenAmount` when ``exact``. Not a number (a bool, text, NaN, infinity) → :class:`NotAnAmount`."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise NotAnAmount(f"不是金额: {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise NotAnAmount(f"不是金额: {value!r}") from exc
    if not amount.is_finite():
        raise NotAnAmount(f"不是金额: {value!r}")
    fen = amount * 100
    if exact and fen != fen.to_integral_value():
        raise SubFenAmount(f"金额精度超过分: {value!r}")
    return int(fen.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# ----------------------------------------------------------------------------------------------------------- time


def beijing_to_utc(text: str) -> datetime:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time → aware UTC; ``ValueError`` when the text is not such a time."""
    return datetime.strptime(text, BEIJING_FORMAT).replace(tzinfo=SHANGHAI).astimezone(UTC)


def beijing_text(moment: datetime) -> str:
    """An aware time as a vendor wants it in a request: ``yyyy-MM-dd HH:mm:ss`` in Beijing time."""
    return moment.astimezone(SHANGHAI).strftime(BEIJING_FORMAT)


def beijing_time(value: object, error: type[ValueError], what: str) -> datetime:
    """A required Beijing ``yyyy-MM-dd HH:mm:ss`` (how every Chinese carrier writes its scans) as aware UTC;
    ``error`` (the mapper's payload error) names ``what`` when the value is not such a time."""
    text = "" if value is None else str(value).strip()
    try:
        return beijing_to_utc(text)
    except ValueError:
        raise error(f"bad {what} {text!r}") from None


def beijing_or_none(value: object) -> datetime | None:
    """An optional platform time — Beijing ``YYYY-MM-DD HH:MM:SS``, or ISO 8601 (Beijing when it has no offset) —
    as aware UTC; ``None`` when empty or a placeholder before 2000 (``0001-01-01 00:00:00``). ``ValueError``
    when it is not a time."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError(f"不是时间: {value!r}")
    text = value.strip()
    try:
        parsed = datetime.strptime(text, BEIJING_FORMAT)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"不是时间: {value!r}") from exc
    if parsed.year < 2000:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHANGHAI)
    result = parsed.astimezone(UTC)
    return result if result >= _EARLIEST else None


# ----------------------------------------------------------------------------------------------------------- HTTP


class ReplyFault(StrEnum):
    """What went wrong with a gateway call, before its body is read as the vendor's answer."""

    TIMEOUT = "timeout"  # no reply in time
    NETWORK = "network"  # could not connect / the connection broke
    RATE_LIMITED = "rate_limited"  # HTTP 429
    UNAVAILABLE = "unavailable"  # HTTP 5xx
    REFUSED = "refused"  # any other 4xx (and, for gateways that answer only 200, any other status)
    UNREADABLE = "unreadable"  # the body is not JSON
    NOT_OBJECT = "not_object"  # JSON, but not an object


# The caller's error for a fault: (fault, the reply when there is one, the transport exception when there is one).
Fail = Callable[[ReplyFault, httpx.Response | None, BaseException | None], Exception]


def reply_fault(status: int, *, only_200: bool = False) -> ReplyFault | None:
    """The fault an HTTP status means (None: read the body)."""
    if status == 429:
        return ReplyFault.RATE_LIMITED
    if status >= 500:
        return ReplyFault.UNAVAILABLE
    if status >= 400 or (only_200 and status != 200):
        return ReplyFault.REFUSED
    return None


def json_object(reply: httpx.Response, fail: Fail, *, only_200: bool = False) -> dict[str, Any]:
    """The JSON object a gateway answered, or ``fail``'s error for what went wrong (its status, an unreadable
    body, a body that is not an object). ``only_200``: any status but 200 is a refusal."""
    fault = reply_fault(reply.status_code, only_200=only_200)
    if fault is not None:
        raise fail(fault, reply, None)
    try:
        decoded = json.loads(reply.content)
    except ValueError:
        raise fail(ReplyFault.UNREADABLE, reply, None) from None
    if not isinstance(decoded, dict):
        raise fail(ReplyFault.NOT_OBJECT, reply, None)
    return decoded


async def post_json(
    http: httpx.AsyncClient, url: str, fail: Fail, *, timeout: httpx.Timeout, only_200: bool = False, **request: Any
) -> dict[str, Any]:
    """POST and return the reply's JSON object (:func:`json_object`); timeouts and network failures are
    ``fail``'s errors too."""
    try:
        reply = await http.post(url, timeout=timeout, **request)
    except httpx.TimeoutException as exc:
        raise fail(ReplyFault.TIMEOUT, None, exc) from None
    except httpx.TransportError as exc:
        raise fail(ReplyFault.NETWORK, None, exc) from None
    return json_object(reply, fail, only_200=only_200)


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (None when absent or not a number)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class GatewayClient(Generic[C]):
    """The base of a client for one vendor gateway, one account: ``credentials`` (read at every call, so new ones
    after a token refresh take effect at once), the caller's ``httpx.AsyncClient`` and a timeout.

    A subclass says which of its attributes may be shown (:attr:`repr_fields`: label → dotted attribute path,
    e.g. ``{"app_key": "credentials.app_key"}``); ``repr`` shows those and the gateway's ``base_url`` — never a
    secret, a token or a password, so a client in a log line or a traceback leaks nothing."""

    repr_fields: ClassVar[dict[str, str]] = {}
    default_base_url: ClassVar[str]  # the vendor's production gateway; ``credentials.base_url`` overrides it
    default_timeout: ClassVar[httpx.Timeout] = httpx.Timeout(20.0, connect=5.0)

    def __init__(
        self,
        credentials: C,
        http: httpx.AsyncClient,
        *,
        timeout: httpx.Timeout | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials: C = credentials
        self._http = http
        self._timeout = timeout or self.default_timeout
        self._clock = clock  # unix seconds; tests pin it (signed timestamps, replay windows)

    @property
    def base_url(self) -> str:
        base_url: str = getattr(self.credentials, "base_url", "") or self.default_base_url
        return base_url.rstrip("/")

    def __repr__(self) -> str:
        shown = [f"{label}={operator.attrgetter(path)(self)!r}" for label, path in self.repr_fields.items()]
        return f"{type(self).__name__}({', '.join([*shown, f'base_url={self.base_url!r}'])})"
