"""Secrets in request URLs never reach the logs (orderhub.logs.RedactUrlSecrets): tokens, app secrets and the
mini-program's wx.login ``code``."""

from __future__ import annotations

import logging

import pytest

from orderhub.logs import RedactUrlSecrets


def _redacted(msg: str, *args: object) -> str:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args or None, None)
    assert RedactUrlSecrets().filter(record) is True
    return record.getMessage()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /m/?code=0a1B2c3D4e HTTP/1.1", "GET /m/?code=*** HTTP/1.1"),
        ("GET /m/?from=share&code=0a1B2c3D&x=1 HTTP/1.1", "GET /m/?from=share&code=***&x=1 HTTP/1.1"),
        (
            "GET https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=S&js_code=ABC&grant_type=a",
            "GET https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=S&js_code=***&grant_type=a",
        ),
        ("GET /ws/live?token=eyJabc.def HTTP/1.1", "GET /ws/live?token=*** HTTP/1.1"),
        ("POST /x?access_token=T1&refresh_token=R1", "POST /x?access_token=***&refresh_token=***"),
        ("GET /x?app_secret=S1&client_secret=S2", "GET /x?app_secret=***&client_secret=***"),
        # not secrets: a status or error code field stays readable
        ("done status_code=200 error_code=order_not_found", "done status_code=200 error_code=order_not_found"),
        ("GET /api/v1/orders?page=2 HTTP/1.1", "GET /api/v1/orders?page=2 HTTP/1.1"),
    ],
)
def test_url_secrets_are_masked(line: str, expected: str) -> None:
    assert _redacted(line) == expected


def test_the_access_log_format_with_args_is_masked() -> None:
    # uvicorn's access log passes the path as an argument, not in the format string
    line = _redacted('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/m/?code=081xYz", "1.1", 200)
    assert "081xYz" not in line
    assert line == '127.0.0.1:5000 - "GET /m/?code=*** HTTP/1.1" 200'
