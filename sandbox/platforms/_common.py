"""Helpers shared by the platform simulators: reading params, writing JSON, times and money on the wire."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request, Response

from sandbox.platforms.store import SHANGHAI, PlatformStore

__all__ = [
    "JSON_MEDIA_TYPE",
    "Reject",
    "dumps",
    "fmt_time",
    "gateway_error_page",
    "json_response",
    "parse_int",
    "parse_time",
    "read_body_and_params",
    "request_id",
    "store_of",
    "truthy",
    "unix",
    "yuan",
]

JSON_MEDIA_TYPE = "application/json;charset=UTF-8"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class Reject(Exception):
    """A refusal in the platform's own shape: the JSON body to answer and a short label for the request log."""

    def __init__(self, body: Mapping[str, Any], outcome: str, status_code: int = 200) -> None:
        super().__init__(outcome)
        self.body = body
        self.outcome = outcome
        self.status_code = status_code


def store_of(request: Request[Any, Any, Any]) -> PlatformStore:
    store = request.app.state.store
    assert isinstance(store, PlatformStore)
    return store


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_response(body: Any, status_code: int = 200) -> Response[bytes]:
    return Response(content=dumps(body).encode(), status_code=status_code, media_type=JSON_MEDIA_TYPE)


def gateway_error_page(status_code: int) -> Response[bytes]:
    """What an overloaded gateway answers: an HTML page, not the API's JSON."""
    html = f"<html><head><title>{status_code}</title></head><body><center><h1>{status_code}</h1></center>"
    html += "<hr><center>Tengine</center></body></html>"
    return Response(content=html.encode(), status_code=status_code, media_type="text/html")


async def read_body_and_params(request: Request[Any, Any, Any]) -> tuple[bytes, dict[str, str]]:
    """The raw body and the merged params: query string, then a form body (urlencoded or multipart) on top."""
    params: dict[str, str] = {k: str(v) for k, v in request.query_params.items()}
    body = await request.body()
    content_type = request.headers.get("content-type", "").lower()
    if "application/x-www-form-urlencoded" in content_type and body:
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    elif "multipart/form-data" in content_type:
        form = await request.form()
        for key, value in form.items():
            if isinstance(value, str):
                params[key] = value
    return body, params


def request_id() -> str:
    return secrets.token_hex(6) + secrets.token_hex(4)


def fmt_time(value: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in Beijing time (empty for ``None``)."""
    return value.astimezone(SHANGHAI).strftime(TIME_FORMAT) if value is not None else ""


def parse_time(value: str) -> datetime | None:
    """Parse ``YYYY-MM-DD HH:MM:SS`` as Beijing time; ``None`` when malformed."""
    try:
        return datetime.strptime(value.strip(), TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError:
        return None


def unix(value: datetime | None) -> int:
    return int(value.timestamp()) if value is not None else 0


def yuan(fen: int) -> str:
    """Fen to the platforms' money string: ``1230`` → ``"12.30"``."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def parse_int(value: Any) -> int | None:
    """An int from a JSON number or a numeric string (platforms send both); ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)
