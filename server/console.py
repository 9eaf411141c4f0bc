"""The managers' H5 console at ``/m/``: static files of the package (``server/static/console/``), no build step.

The pages are plain JavaScript modules and the vendored uPlot (``vendor/uplot/``), all served by the hub, so the
console works offline and inside the WeChat mini-program's ``<web-view>`` with no CDN. Every answer carries a strict
Content-Security-Policy: scripts and styles from the hub only (no inline script or style element), requests to the
hub only (the REST API and the ``/ws/dash`` socket). The pages are public like any login page; what they show comes
from the API with the bearer token the page signs in for. Docs: docs/console.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Response, Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

__all__ = ["CONSOLE_DIR", "CONSOLE_PATH", "CSP", "console_router"]

CONSOLE_DIR = Path(__file__).parent / "static" / "console"
CONSOLE_PATH = "/m"

# Same origin only, nothing inline: the page's scripts are files (no inline bootstrap to allow), its styles are a
# style sheet (uPlot and the page set element styles through the DOM, which CSP allows). connect-src 'self' covers
# the ws:/wss: socket to the same host. Framing only by the hub's own pages.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)


_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the page's address never leaves it (it may have carried a wx.login code)
}


def _secure(response: Response[Any]) -> Response[Any]:
    """Every answer under ``/m`` gets the CSP (the static files' responses take no router-level headers)."""
    for name, value in _HEADERS.items():
        response.headers[name] = value
    return response


def console_router() -> Router:
    """``/m/`` (index.html) and its files, with the CSP, revalidated on every load so a new version shows at once."""
    return create_static_files_router(
        path=CONSOLE_PATH,
        directories=[CONSOLE_DIR],
        html_mode=True,
        name="console",
        cache_control=CacheControlHeader(no_cache=True),  # revalidated (ETag): small files, always the current ones
        after_request=_secure,
        include_in_schema=False,
    )
