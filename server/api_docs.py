"""The API docs at ``/schema``: Redoc (``/schema``, ``/schema/redoc``) and Swagger UI (``/schema/swagger``) drawn from
copies the hub serves itself (``server/static/api-docs/``, under ``/schema/assets/``), never from a CDN.

Litestar's render plugins load Swagger UI, Redoc, Google Fonts and a favicon from public CDNs by default: offline,
or from mainland China, the pages stayed blank. Here every script, style sheet and icon comes from the hub, the
fonts are the system's, and a Content-Security-Policy on every ``/schema`` answer keeps the browser from fetching
anything off the host even where a library would (Redoc's "API docs by Redocly" logo). The vendored versions, their
sources and how to update them: ``server/static/api-docs/README.md``.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RedocRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.serialization import encode_json
from litestar.static_files import create_static_files_router

__all__ = ["ASSETS_DIR", "ASSETS_PATH", "CSP", "docs_router", "render_plugins"]

ASSETS_DIR = Path(__file__).parent / "static" / "api-docs"
ASSETS_PATH = "/schema/assets"  # under /schema: public (api/security.py PUBLIC_PATHS) like the pages themselves

# Same origin only: scripts, styles and images from the hub (plus the pages' inline bootstrap), "Try it out" calls
# to the hub, Redoc's search worker from a blob: URL. Anything else — a CDN, a font service, a logo — is refused.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)

_FAVICON = f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/swagger-ui/favicon-32x32.png'>"
_SANS = (
    '-apple-system, BlinkMacSystemFont, "Segoe UI", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", '
    '"Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", Roboto, "Helvetica Neue", Arial, sans-serif'
)
_MONO = 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", "Noto Sans Mono CJK SC", monospace'
# Redoc's theme: system fonts (its default asks for Roboto and Montserrat from Google Fonts).
_REDOC_OPTIONS: dict[str, Any] = {
    "theme": {
        "typography": {
            "fontFamily": _SANS,
            "headings": {"fontFamily": _SANS},
            "code": {"fontFamily": _MONO},
        }
    },
}


def _script_safe(json: bytes) -> bytes:
    """JSON placed inside a ``<script>``: ``</`` may not appear (a description could close the element)."""
    return json.replace(b"</", b"<\\/")


def _page_start(openapi_schema: dict[str, Any], favicon: str, assets: str, style: str) -> bytes:
    """The page up to ``<body>``: title, favicon, viewport, the vendored assets (``<link>``/``<script>`` tags)."""
    title = escape(str(openapi_schema["info"]["title"]))
    return (
        f"<!DOCTYPE html><html lang='en'><head><title>{title}</title>{favicon}<meta charset='utf-8'/>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>{assets}{style}</head>"
    ).encode()


class OfflineRedoc(RedocRenderPlugin):
    """Redoc from the hub's copy, with system fonts and the page's options."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return b"".join(
            [
                _page_start(openapi_schema, self.favicon, f"<script src='{self.js_url}'></script>", self.style),
                b"<body><div id='redoc-container'></div><script>Redoc.init(",
                _script_safe(self.render_json(request, openapi_schema)),
                b",",
                _script_safe(encode_json(_REDOC_OPTIONS)),
                b",document.getElementById('redoc-container'))</script></body></html>",
            ]
        )


# Tags start folded (a click, or a link to ``/schema/swagger#/<tag>``, opens one) with a filter box: Swagger UI 5
# drawing all of this API's operations unfolded at once stopped after the first tags once they passed ~132 (seen in
# Chromium, with no error), so the whole list is never drawn in one go.
_SWAGGER_OPTIONS = {"deepLinking": True, "docExpansion": "none", "filter": True, "showExtensions": True}


class OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI from the hub's copy: tags folded, a filter box, no CDN."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        assets = (
            f"<link href='{self.css_url}' rel='stylesheet'><script src='{self.js_url}'></script>"
            f"<script src='{self.standalone_preset_js_url}'></script>"
        )
        return b"".join(
            [
                _page_start(openapi_schema, self.favicon, assets, self.style),
                b"<body><div id='swagger-container'></div><script>SwaggerUIBundle(Object.assign({spec:",
                _script_safe(self.render_json(request, openapi_schema)),
                b",dom_id:'#swagger-container',presets:[SwaggerUIBundle.presets.apis,",
                b"SwaggerUIBundle.SwaggerUIStandalonePreset]},",
                _script_safe(encode_json(_SWAGGER_OPTIONS)),
                b"))</script></body></html>",
            ]
        )


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Redoc at ``/schema`` and ``/schema/redoc``, Swagger UI at ``/schema/swagger``, the document as JSON and YAML.
    (Litestar's Stoplight Elements and RapiDoc pages, CDN-only, are not offered.)"""
    return [
        OfflineRedoc(
            path="/redoc",
            js_url=f"{ASSETS_PATH}/redoc/redoc.standalone.js",
            google_fonts=False,
            favicon=_FAVICON,
        ),
        OfflineSwagger(
            path="/swagger",
            js_url=f"{ASSETS_PATH}/swagger-ui/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui/swagger-ui-standalone-preset.js",
            favicon=_FAVICON,
        ),
        JsonRenderPlugin(path="/openapi.json"),
        YamlRenderPlugin(path=["/openapi.yaml", "/openapi.yml"]),
    ]


def docs_router(path: str = "/schema") -> Router:
    """The router litestar adds the docs pages to: the vendored assets beside them, the CSP on every answer."""
    assets = create_static_files_router(
        path=ASSETS_PATH.removeprefix(path),
        directories=[ASSETS_DIR],
        name="api_docs_assets",
        cache_control=CacheControlHeader(max_age=86400, public=True),
        include_in_schema=False,
    )
    return Router(
        path,
        route_handlers=[assets],
        include_in_schema=False,
        response_headers=[
            ResponseHeader(name="Content-Security-Policy", value=CSP),
            ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
        ],
    )
