"""The PDA client's camera scan fallback (``server/static/pda/camera.js``) in real headless Chromium: the vendored
barcode-detector polyfill (ZXing-C++ in WebAssembly, its .wasm served next to it) reads Code 128, EAN-13 and QR
pictures to the exact text; the whole camera path runs on Chromium's fake camera playing a Code 128 label; a denied
camera says so in Chinese, and so does a decoder whose .wasm never arrived; on a plain-HTTP address (the usual hub on
a shop's network) the overlay explains that live video needs HTTPS and decodes a photo instead. Never a CSP refusal,
never a request to another host.

The pages are served by a small HTTP server in a thread with the PDA's Content-Security-Policy (no hub needed): the
PDA's directory at ``/pda/``, and a test page importing ``/pda/camera.js`` at ``/t/``. Screenshots go to
``$PDA_SCREENSHOTS`` (default: the test's tmp dir)."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import segno
from PIL import Image, ImageDraw
from reportlab.graphics.barcode import createBarcodeDrawing
from reportlab.graphics.shapes import Group, Rect

from server.pda_pages import PDA_CSP, PDA_DIR
from tests.support.chromium import Browser

CODE128 = "LOC-A01-02-03"
EAN12 = "690123456789"  # the check digit is the barcode's: see _ean13
QR = "TOTE-0042"

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>扫码测试</title>
<link rel="stylesheet" href="/pda/camera.css">
<script type="module" src="/t/page.js"></script>
</head><body><h1>扫码测试</h1></body></html>
"""

# The test page's module: camera.js imported as the PDA's pages import it; what it reports kept on window.
PAGE_JS = """import * as camera from '/pda/camera.js';
window.camera = camera;
window.codes = [];
window.closes = [];
window.scan = async (options = {}) => {
  window.cam = await camera.openCamera(document.body, (code, format) => window.codes.push([code, format]),
    { ...options, onClose: (reason) => window.closes.push(reason) });
  return window.cam.state;
};
window.decode = async (src, options) => {
  const detector = await camera.createDetector(options);
  const img = new Image();
  img.src = src;
  await img.decode();
  const found = await detector.detect(img);
  return { engine: detector.engine, codes: found.map((r) => [r.rawValue, r.format]) };
};
window.ready = true;
"""


def _ean13(twelve: str) -> str:
    odd = sum(int(d) for d in twelve[0::2])
    even = sum(int(d) for d in twelve[1::2])
    return twelve + str((10 - (odd + 3 * even) % 10) % 10)


def _barcode_png(kind: str, value: str, path: Path, *, scale: int = 3) -> Path:
    """reportlab's barcode widget (the labels' own library) rasterised with Pillow: its bars are plain rectangles."""
    drawing = createBarcodeDrawing(kind, value=value, barWidth=1, barHeight=60, humanReadable=False)
    margin = 20
    width, height = int(drawing.width * scale) + 2 * margin, int(drawing.height * scale) + 2 * margin
    image = Image.new("L", (width, height), 255)
    pen = ImageDraw.Draw(image)

    def paint(node: Any) -> None:
        for child in getattr(node, "contents", []):
            if isinstance(child, Group):
                paint(child)
            elif isinstance(child, Rect) and child.fillColor is not None and child.fillColor.red < 0.5:
                x0 = margin + child.x * scale
                y0 = margin + (drawing.height - child.y - child.height) * scale
                pen.rectangle(
                    (round(x0), round(y0), round(x0 + child.width * scale) - 1, round(y0 + child.height * scale) - 1),
                    fill=0,
                )

    for widget in drawing.contents:
        paint(widget.draw())
    image.save(path)
    return path


def _scene(label: Path, size: tuple[int, int]) -> Image.Image:
    """The label on a grey table, as a camera would frame it (a little smaller than the frame, centred)."""
    scene = Image.new("L", size, 96)
    with Image.open(label) as img:
        art = img.convert("L")
    fit = min(size[0] * 0.8 / art.width, size[1] * 0.5 / art.height)
    art = art.resize((int(art.width * fit), int(art.height * fit)), Image.Resampling.BILINEAR)
    scene.paste(art, ((size[0] - art.width) // 2, (size[1] - art.height) // 2))
    return scene


def _y4m(label: Path, path: Path, *, size: tuple[int, int] = (640, 480), frames: int = 10) -> Path:
    """A YUV4MPEG2 clip for Chromium's ``--use-file-for-fake-video-capture``: the scene's frames in I420 (grey, so
    both chroma planes are 128)."""
    luma = np.asarray(_scene(label, size), dtype=np.uint8)
    chroma = np.full((size[1] // 2, size[0] // 2), 128, dtype=np.uint8).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{size[0]} H{size[1]} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + luma.tobytes() + chroma + chroma)
    return path


class _Handler(SimpleHTTPRequestHandler):
    """``/pda/…`` from the PDA's directory, ``/t/…`` from the test's, every answer with the PDA's CSP."""

    def __init__(self, *args: Any, pages: Path, **kwargs: Any) -> None:
        self.pages = pages
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0].split("#", 1)[0]
        if path.startswith("/bare/") and path.endswith(".wasm"):
            return str(self.pages / "missing")  # /bare/: the PDA's files but the decoder's .wasm (never cached)
        for prefix, root in (("/pda/", PDA_DIR), ("/bare/", PDA_DIR), ("/t/", self.pages)):
            if path.startswith(prefix):
                target = (root / path[len(prefix) :]).resolve()
                if target.is_relative_to(root.resolve()):
                    return str(target)
        return str(self.pages / "missing")

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", PDA_CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pda-camera")
    (root / "page.html").write_text(PAGE, encoding="utf-8")
    (root / "page.js").write_text(PAGE_JS, encoding="utf-8")
    (root / "bare.html").write_text(PAGE.replace("/t/page.js", "/t/bare.js"), encoding="utf-8")
    (root / "bare.js").write_text(PAGE_JS.replace("/pda/camera.js", "/bare/camera.js"), encoding="utf-8")
    _barcode_png("Code128", CODE128, root / "code128.png")
    _barcode_png("EAN13", EAN12, root / "ean13.png")
    segno.make_qr(QR, error="m").save(str(root / "qr.png"), scale=8, border=4)
    _y4m(root / "code128.png", root / "code128.y4m")
    # A phone's photo: bigger than a video frame, the label filling less of it.
    _scene(root / "code128.png", (2000, 1500)).save(root / "photo.jpg", quality=85)
    return root


def _serve(pages: Path, host: str) -> Iterator[str]:
    server = ThreadingHTTPServer((host, 0), functools.partial(_Handler, pages=pages))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site(pages: Path) -> Iterator[str]:
    """The pages on 127.0.0.1: a secure context (localhost), where a page may open the camera."""
    yield from _serve(pages, "127.0.0.1")


@pytest.fixture(scope="module")
def lan_site(pages: Path) -> Iterator[str]:
    """The pages on this machine's network address over plain HTTP: not a secure context, as a hub on the shop's
    network is to a phone."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # UDP: no packet leaves; only picks the outgoing interface
            address = probe.getsockname()[0]
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        pytest.skip("no network address other than loopback")
    yield from _serve(pages, address)


def _shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("PDA_SCREENSHOTS") or tmp_path)


def _clean(browser: Browser, origin: str) -> None:
    assert browser.csp == [], browser.csp
    assert browser.errors == [], browser.errors
    others = [u for u in browser.requested if not u.startswith(origin + "/") and not u.startswith(("data:", "blob:"))]
    assert others == [], f"requests to another host: {others}"


def _fake_camera(clip: Path) -> list[str]:
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
        "--autoplay-policy=no-user-gesture-required",
    ]


async def test_the_polyfill_reads_code128_ean13_and_qr_to_the_exact_text(site: str, pages: Path) -> None:
    async with Browser(site) as browser:
        await browser.open(f"{site}/t/page.html")
        await browser.wait_for("window.ready === true")
        cases = [
            ("/t/code128.png", ["code_128"], CODE128, "code_128"),
            ("/t/ean13.png", ["ean_13"], _ean13(EAN12), "ean_13"),
            ("/t/qr.png", ["qr_code"], QR, "qr_code"),
            ("/t/code128.png", None, CODE128, "code_128"),  # every PDA format at once
        ]
        for src, formats, text, fmt in cases:
            options = {"engine": "zxing"} | ({"formats": formats} if formats else {})
            got = await browser.js(f"window.decode({json.dumps(src)}, {json.dumps(options)})")
            assert got == {"engine": "zxing", "codes": [[text, fmt]]}, (src, got)
        # A format not asked for is not read.
        got = await browser.js("window.decode('/t/code128.png', {engine: 'zxing', formats: ['ean_13']})")
        assert got["codes"] == []
        # The .wasm came from the hub's copy, beside the module.
        assert f"{site}/pda/vendor/barcode-detector/zxing_reader.wasm" in browser.requested
        _clean(browser, site)


async def test_the_camera_reads_a_label_on_the_fake_camera(site: str, pages: Path, tmp_path: Path) -> None:
    shots = _shots(tmp_path)
    async with Browser(site, extra_args=_fake_camera(pages / "code128.y4m")) as browser:
        await browser.open(f"{site}/t/page.html")
        await browser.wait_for("window.ready === true")
        assert await browser.js("window.camera.cameraAvailable()") == "live"

        # Asked for QR codes only, it keeps scanning the Code 128 label: the overlay as a picker sees it.
        assert await browser.js("window.scan({formats: ['qr_code']})") == "scanning"
        assert await browser.text(".cam-hint") == "将条码对准框内"
        await browser.wait_for("document.querySelector('.cam-video').videoWidth === 640")
        await asyncio.sleep(1)  # some frames scanned, none read
        assert await browser.js("window.codes") == []
        shot = await browser.screenshot(shots / "pda-camera-overlay-375.png", full_page=False)
        with Image.open(shot) as img:
            # The video plays under the dimmed guide: the label's white shows mid-screen, the black bars too.
            middle = img.convert("L").crop((img.width // 4, img.height * 2 // 5, img.width * 3 // 4, img.height // 2))
            lo, hi = cast(tuple[int, int], middle.getextrema())
            assert lo < 60 and hi > 200, (lo, hi)
        await browser.click(".cam-close")
        assert await browser.js("window.closes") == ["user"]
        assert await browser.js("document.querySelector('.cam-overlay')") is None
        assert await browser.js("window.cam.state") == "closed"

        # Every PDA format: the label is read, once, and the overlay closes by itself.
        await browser.js("window.scan()")
        await browser.wait_for("window.codes.length > 0", timeout=20)
        assert await browser.js("window.codes") == [[CODE128, "code_128"]]
        assert await browser.js("window.closes") == ["user", "code"]
        assert await browser.js("document.querySelector('.cam-overlay')") is None
        engine = await browser.js("'BarcodeDetector' in window ? 'native?' : 'zxing'")
        assert engine in ("zxing", "native?")

        _clean(browser, site)


async def test_a_refused_camera_is_said_in_chinese_with_the_photo_offered(
    site: str, pages: Path, tmp_path: Path
) -> None:
    # A camera, but the site may not use it (what a picker's "不允许" leaves behind).
    async with Browser(site, extra_args=_fake_camera(pages / "code128.y4m")[1:]) as browser:
        await browser.send("Browser.setPermission", permission={"name": "camera"}, setting="denied", origin=site)
        await browser.open(f"{site}/t/page.html")
        await browser.wait_for("window.ready === true")
        assert await browser.js("window.scan()") == "error"
        assert await browser.js("document.querySelector('.cam-overlay').dataset.error") == "denied"
        assert "摄像头权限被拒绝" in (await browser.text(".cam-error") or "")
        assert await browser.js("document.querySelector('.cam-photo').hidden") is False
        await browser.screenshot(_shots(tmp_path) / "pda-camera-denied-375.png", full_page=False)
        await browser.click(".cam-close")
        assert await browser.js("window.closes") == ["user"]
        _clean(browser, site)


async def test_a_decoder_that_cannot_load_is_said_so(site: str, pages: Path) -> None:
    # Offline on the first visit: the camera works but the .wasm never came.
    async with Browser(site, extra_args=_fake_camera(pages / "code128.y4m")) as browser:
        await browser.open(f"{site}/t/bare.html")
        await browser.wait_for("window.ready === true")
        assert await browser.js("window.scan({engine: 'zxing'})") == "error"
        assert await browser.js("document.querySelector('.cam-overlay').dataset.error") == "engine"
        assert "条码识别组件加载失败" in (await browser.text(".cam-error") or "")
        assert await browser.js("document.querySelector('.cam-photo').hidden") is True  # a photo needs it too
        assert any("fetching of the wasm failed" in e for e in browser.errors), browser.errors  # emscripten's log
        await browser.click(".cam-close")
        assert await browser.js("window.closes") == ["user"]
        assert browser.csp == []


async def test_on_plain_http_the_overlay_says_https_and_reads_a_photo(
    lan_site: str, pages: Path, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    async with Browser(lan_site) as browser:
        await browser.open(f"{lan_site}/t/page.html")
        await browser.wait_for("window.ready === true")
        assert await browser.js("window.isSecureContext") is False
        assert await browser.js("window.camera.cameraAvailable()") == "photo"
        assert await browser.js("window.scan()") == "error"
        assert await browser.js("document.querySelector('.cam-overlay').dataset.error") == "insecure"
        assert "需要 HTTPS" in (await browser.text(".cam-error") or "")
        assert await browser.js("document.querySelector('.cam-photo').hidden") is False
        await browser.screenshot(shots / "pda-camera-https-375.png", full_page=False)

        # The phone's camera app hands back a photo (here: set on the file input as a person's choice would be).
        document = await browser.send("DOM.getDocument")
        node = await browser.send("DOM.querySelector", nodeId=document["root"]["nodeId"], selector=".cam-file")
        await browser.send("DOM.setFileInputFiles", files=[str(pages / "photo.jpg")], nodeId=node["nodeId"])
        await browser.wait_for("window.codes.length > 0", timeout=20)
        assert await browser.js("window.codes") == [[CODE128, "code_128"]]
        assert await browser.js("window.closes") == ["code"]
        _clean(browser, lan_site)
