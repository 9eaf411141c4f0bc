"""The API docs draw from the hub alone: Swagger UI (``/schema/swagger``) and Redoc (``/schema``) in headless Chromium,
with every host but the hub unresolvable (as offline, or behind a firewall that blocks the CDNs), show every
operation, and the page asks nothing of any other host."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from server.api_docs import ASSETS_PATH
from tests.support.chromium import chromium_path
from tests.support.hub import Hub

# A page in a browser: the same on both back ends (the API under it is tested on both); the embedded default.
pytestmark = pytest.mark.sqlite_only

_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


class Drawn:
    """What headless Chromium made of a page: the DOM after its scripts ran, the URLs the page asked for, the
    Content-Security-Policy violations it reported, and a screenshot."""

    def __init__(self, dom: str, requested: list[str], blocked: list[str], screenshot: Path) -> None:
        self.dom, self.requested, self.blocked, self.screenshot = dom, requested, blocked, screenshot


def _draw(url: str, workdir: Path, *, height: int = 1000) -> Drawn:
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    host = urlsplit(url).hostname
    netlog = workdir / "net.json"
    shot = workdir / "page.png"
    common = [
        chromium_path(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size=1280,{height}",
        "--virtual-time-budget=20000",
        f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {host}",  # offline, except for the hub
        f"--user-data-dir={workdir / 'profile'}",
    ]
    dumped = subprocess.run(
        [*common, f"--log-net-log={netlog}", "--enable-logging=stderr", "--v=0", "--dump-dom", url],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    subprocess.run([*common, f"--screenshot={shot}", url], check=True, capture_output=True, timeout=120)
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    starts = [event.get("params") or {} for event in log["events"] if event["type"] == start_job]
    requested = [
        params["url"]
        for params in starts
        # the page's own requests: the document, and whatever it started (not the browser's background traffic)
        if "url" in params and (params.get("initiator") == origin or params.get("request_type") == "main frame")
    ]
    blocked = [line for line in dumped.stderr.splitlines() if "Content Security Policy" in line]
    return Drawn(dumped.stdout, requested, blocked, shot)


def _operations(schema: dict[str, object]) -> list[dict[str, object]]:
    paths = schema["paths"]
    assert isinstance(paths, dict)
    return [op for item in paths.values() for method, op in item.items() if method in _METHODS]


def _colour_share(shot: Path, colour: tuple[int, int, int]) -> float:
    from PIL import Image

    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        counts = Counter(rgb.getpixel((x, y)) for y in range(0, rgb.height, 2) for x in range(0, rgb.width, 2))
        return counts[colour] / sum(counts.values())


async def _schema(store: Hub) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=store.url) as client:
        r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    schema: dict[str, object] = r.json()
    return schema


def _assert_only_the_hub(page: Drawn, origin: str, asset: str) -> None:
    assert page.requested, "no request seen in Chromium's net log"
    elsewhere = [url for url in page.requested if not url.startswith(origin + "/")]
    assert not elsewhere, f"the page asked other hosts: {elsewhere}"
    assert f"{origin}{ASSETS_PATH}/{asset}" in page.requested, page.requested
    # Nothing the page needs is refused: the only thing the CSP stops is Redoc's "by Redocly" logo (a CDN image).
    assert all("img-src" in line for line in page.blocked), page.blocked


async def test_swagger_ui_draws_every_operation_offline(store: Hub, tmp_path: Path) -> None:
    schema = await _schema(store)
    page = _draw(f"{store.url}/schema/swagger", tmp_path)

    _assert_only_the_hub(page, store.url, "swagger-ui/swagger-ui-bundle.js")
    assert "Failed to load API definition" not in page.dom
    # Every tag is drawn, folded (server/api_docs.py says why); a link to a tag opens it with all its operations.
    tags = {str(tag) for op in _operations(schema) for tag in op.get("tags", [])}  # type: ignore[attr-defined]
    assert {t for t in tags if f'id="operations-tag-{t}"' in page.dom} == tags
    assert "OrderHub 订单中枢 API" in page.dom
    opened: dict[str, Drawn] = {}
    for tag in ("auth", "orders"):
        (tmp_path / tag).mkdir()
        # Tall: Swagger UI scrolls the opened tag's heading into view, and a long page may leave it at the bottom.
        opened[tag] = _draw(f"{store.url}/schema/swagger#/{tag}", tmp_path / tag, height=2400)
        wanted = [op for op in _operations(schema) if tag in op.get("tags", [])]  # type: ignore[operator]
        assert opened[tag].dom.count('class="opblock opblock-') == len(wanted), tag
    assert "Exchange username and password for a bearer token" in opened["auth"].dom
    # Drawn, not blank: an opened tag scrolls to its rows — the blue GET badges of orders, the green POST rows of
    # auth (sign in, sign out) on the screen.
    assert _colour_share(opened["orders"].screenshot, (0x61, 0xAF, 0xFE)) > 0.002, "no GET badge drawn"
    assert _colour_share(opened["auth"].screenshot, (0xEC, 0xFA, 0xF4)) > 0.005, "no POST row drawn"


async def test_redoc_draws_every_operation_offline(store: Hub, tmp_path: Path) -> None:
    schema = await _schema(store)
    page = _draw(f"{store.url}/schema", tmp_path)

    _assert_only_the_hub(page, store.url, "redoc/redoc.standalone.js")
    assert page.dom.count('data-section-id="operation/') == len(_operations(schema))
    assert "Exchange username and password for a bearer token" in page.dom
    assert "fonts.googleapis.com" not in page.dom
    assert _colour_share(page.screenshot, (0x26, 0x32, 0x38)) > 0.2, "Redoc's right-hand panel is not drawn"


async def test_the_docs_pages_name_no_other_host(store: Hub) -> None:
    async with httpx.AsyncClient(base_url=store.url) as client:
        for path in ("/schema", "/schema/redoc", "/schema/swagger"):
            r = await client.get(path)
            assert r.status_code == 200, path
            head = r.text.split("<body", 1)[0]
            assert "http://" not in head and "https://" not in head, f"{path} loads from another host: {head}"
            csp = r.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "img-src 'self' data:" in csp
        asset = await client.get(f"{ASSETS_PATH}/redoc/redoc.standalone.js")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/javascript")
        assert "max-age" in asset.headers["cache-control"]
        assert (await client.get(f"{ASSETS_PATH}/nothing.js")).status_code == 404
