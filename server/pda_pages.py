"""The handhelds' H5 client: the picker's pages at ``/pda/`` and the pack station's at ``/pda/pack``, static files of
the package (``server/static/pda/``), plain JavaScript modules with no build step (docs/pda-client.md).

A service worker (``/pda/sw.js``, scope ``/pda/``) keeps the app shell so the pages open with no network; it never
touches the API (``/pda/v1/…``), whose answers only the hub may give. Scans taken offline wait in the device's
IndexedDB. Every answer carries a strict Content-Security-Policy: scripts and styles from the hub only, nothing
inline, WebAssembly for the camera's barcode decoder (``'wasm-unsafe-eval'``), requests to the hub only (the API and
the ``/ws/floor`` socket). SKU pictures may come from the seller's image host, over https or http as the catalog
accepts them (``img-src https: http:``; orderhub.catalog.service.clean_image_url).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.response import File
from litestar.static_files import create_static_files_router

__all__ = ["PDA_CSP", "PDA_DIR", "pda_pages"]

PDA_DIR = Path(__file__).parent / "static" / "pda"

PDA_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' data: blob: https: http:; media-src 'self' blob:; font-src 'self'; connect-src 'self'; "
    "worker-src 'self'; manifest-src 'self'; frame-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'self'"
)

_HEADERS = {
    "Content-Security-Policy": PDA_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _secure(response: Response[Any]) -> Response[Any]:
    for name, value in _HEADERS.items():
        response.headers[name] = value
    return response


@get(
    ["/pda/pack", "/pda/pack/"],
    include_in_schema=False,
    cache_control=CacheControlHeader(no_cache=True),
    after_request=_secure,
    sync_to_thread=False,
)
def pack_station_page() -> File:
    """The pack station's page (the same scripts as the picker's, another screen)."""
    return File(PDA_DIR / "pack.html", media_type="text/html; charset=utf-8", content_disposition_type="inline")


def pda_pages() -> list[Router | Any]:
    """``/pda/`` (index.html) and its files, and ``/pda/pack``; revalidated on every load (ETag) so a new version
    reaches the handhelds at once, and the service worker keeps the last one for when the network is gone."""
    files = create_static_files_router(
        path="/pda",
        directories=[PDA_DIR],
        html_mode=True,
        name="pda_pages",
        cache_control=CacheControlHeader(no_cache=True),
        after_request=_secure,
        include_in_schema=False,
    )
    return [pack_station_page, files]
