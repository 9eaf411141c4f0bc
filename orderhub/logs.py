"""Logs on stderr, one line per record: JSON objects (the default, for machines) or text (for people)."""

from __future__ import annotations

import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

import msgspec

__all__ = ["JsonFormatter", "RedactUrlSecrets", "TextFormatter", "configure_logging", "redact_url_secrets"]

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return msgspec.json.encode(payload, enc_hook=repr).decode()


class TextFormatter(logging.Formatter):
    """One line a record for people: ``18:36:03 WARNING orderhub.worker: message key=value …`` (local time; the
    structured fields a JSON line carries follow the message)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname} {record.name}: {record.getMessage()}"
        extras = [
            f"{key}={value}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_") and key != "color_message"
        ]
        if extras:
            line += " " + " ".join(extras)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


# ``code`` / ``js_code``: a wx.login code (the mini-program's ``/m/?code=…`` and WeChat's jscode2session) is a one-time
# credential for the customer's session. ``\b`` keeps ``status_code=`` and ``error_code=`` as they are.
_SECRET_IN_URL = re.compile(
    r"\b((?:access_token|refresh_token|app_secret|client_secret|token|js_code|code)=)[^&\s\"']+"
)


class RedactUrlSecrets(logging.Filter):
    """Masks tokens and secrets in query strings. 抖店 and 视频号小店 (like most Chinese platforms) take
    ``access_token`` in the URL, httpx logs every request URL, a websocket's ``?token=`` and the mini-program's
    ``/m/?code=`` (a wx.login code) reach the access log: none of them may reach the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        if "token=" in message or "secret=" in message or "code=" in message:
            record.msg = _SECRET_IN_URL.sub(r"\1***", message)
            record.args = None
        return True


def redact_url_secrets() -> None:
    """Put the redaction on the loggers that log request URLs (httpx, uvicorn's access log). Idempotent; called by
    :func:`configure_logging` and by ``server.wiring.wire()`` so every process has it, whoever set up its logging."""
    for name in ("httpx", "uvicorn.access"):
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactUrlSecrets) for f in target.filters):
            target.addFilter(RedactUrlSecrets())


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    redact_url_secrets()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactUrlSecrets())
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO, and some platforms put the access token in the query string
    # (抖店, 视频号小店): never log them.
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
