"""Outgoing HTTP clients (platforms, carriers, trackers): made with one TLS context per process.

Building a TLS context loads the whole CA bundle: about 10 ms of CPU on a quiet core, measured at over 200 ms on a
loaded 2-core box. A client per call (a stock push, a pull, a write-back, a waybill) paid that every time — during a
peak the background worker's stock sync spent a tenth of its CPU there. A context is meant to be shared by many
connections, so every client here reuses the one :func:`tls_context` makes.
"""

from __future__ import annotations

import functools
import ssl

import httpx

__all__ = ["client", "tls_context"]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS context for outgoing calls (httpx's defaults: certifi's CA bundle, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` when set)."""
    return httpx.create_ssl_context()


def client(*, timeout: httpx.Timeout | float) -> httpx.AsyncClient:
    """A new client for outgoing calls, with the shared TLS context; the caller closes it."""
    return httpx.AsyncClient(timeout=timeout, verify=tls_context())
