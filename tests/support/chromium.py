"""Headless Chromium driven over the DevTools protocol (a websocket; no Playwright or Selenium): open a page at a
phone's or a PC's size, run JavaScript in it, wait for what it shows, take screenshots, and collect what went wrong
(uncaught errors, console errors, Content-Security-Policy refusals, requests to any host but the hub's).

Like ``test_api_docs.py``, every host but the hub's resolves to nothing (offline, or no CDN reachable)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

__all__ = ["Browser", "chromium_path"]

PHONE = {"width": 375, "height": 667, "deviceScaleFactor": 2, "mobile": True}
PC = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required on CI (scripts/test installs it)")
        pytest.skip("chromium is not installed")
    return path


class Browser:
    """One headless Chromium with one page. ``async with Browser(hub_url) as b: await b.open(url)``."""

    def __init__(
        self, hub_url: str, *, device: dict[str, Any] | None = None, extra_args: list[str] | None = None
    ) -> None:
        self.hub_url = hub_url
        self.device = device or PHONE
        self.extra_args = list(extra_args or [])  # more command-line switches (e.g. a fake camera)
        self.proc: asyncio.subprocess.Process | None = None
        self.profile = Path(tempfile.mkdtemp(prefix="orderhub-chromium-"))
        self.conn: Any = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.errors: list[str] = []  # uncaught exceptions and console errors
        self.csp: list[str] = []  # Content-Security-Policy refusals
        self.requested: list[str] = []  # every URL the page asked for

    async def __aenter__(self) -> Browser:
        host = urlsplit(self.hub_url).hostname
        self.proc = await asyncio.create_subprocess_exec(
            *[
                chromium_path(),
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {host}",
                f"--user-data-dir={self.profile}",
                *self.extra_args,
                "about:blank",
            ],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        port = await asyncio.to_thread(_devtools_port, self.profile / "DevToolsActivePort")
        async with httpx.AsyncClient() as client:
            for _ in range(50):
                targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    break
                await asyncio.sleep(0.1)
        self.conn = await websockets.connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024)
        self._reader = asyncio.create_task(self._read())
        for domain in ("Page", "Runtime", "Log", "Network"):
            await self.send(f"{domain}.enable")
        await self.resize(self.device)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.conn is not None:
            await self.conn.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await asyncio.to_thread(shutil.rmtree, self.profile, True)

    async def _read(self) -> None:
        async for raw in self.conn:
            message = json.loads(raw)
            if "id" in message:
                future = self._pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
                continue
            method, params = message.get("method"), message.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                self.errors.append(str(details.get("exception", {}).get("description") or details.get("text")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                self.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
            elif method == "Log.entryAdded":
                entry = params["entry"]
                if "Content Security Policy" in entry.get("text", ""):
                    self.csp.append(entry["text"])
                elif entry.get("level") == "error" and entry.get("source") != "network":
                    self.errors.append(entry.get("text", ""))
            elif method == "Network.requestWillBeSent":
                self.requested.append(params["request"]["url"])

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        await self.conn.send(json.dumps({"id": call_id, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, 60)
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def resize(self, device: dict[str, Any]) -> None:
        self.device = device
        await self.send("Emulation.setDeviceMetricsOverride", **device)
        await self.send("Emulation.setTouchEmulationEnabled", enabled=bool(device.get("mobile")))

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def js(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited if it is a promise)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True, userGesture=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression[:120]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15) -> Any:
        """Polls the expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                seen = await self.js("(document.body && document.body.innerText || '').slice(0, 600)")
                raise AssertionError(f"not true within {timeout}s: {expression}\nerrors: {self.errors}\npage: {seen}")
            await asyncio.sleep(0.05)

    async def text(self, selector: str) -> str | None:
        value = await self.js(f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent ?? null")
        return None if value is None else str(value)

    async def click(self, selector: str) -> None:
        found = await self.js(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)}); if (!el) return false; el.click(); "
            "return true; })()"
        )
        assert found, f"nothing to click at {selector}"

    async def fill(self, selector: str, value: str) -> None:
        await self.js(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)}); el.value = {json.dumps(value)}; "
            "el.dispatchEvent(new Event('input', {bubbles: true})); })()"
        )

    async def wedge(self, code: str, *, interval: float = 0.0) -> None:
        """Keys as a keyboard-wedge scanner types them: each character a key, fast, then Enter (``interval``: a
        pause between keys, e.g. a person typing)."""
        for ch in code:
            await self.send("Input.dispatchKeyEvent", type="keyDown", key=ch, text=ch, unmodifiedText=ch)
            await self.send("Input.dispatchKeyEvent", type="keyUp", key=ch)
            if interval:
                await asyncio.sleep(interval)
        enter = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
        await self.send("Input.dispatchKeyEvent", type="keyDown", text="\r", **enter)
        await self.send("Input.dispatchKeyEvent", type="keyUp", **enter)

    async def offline(self, on: bool) -> None:
        """The browser's offline mode (DevTools): the page's requests fail and ``navigator.onLine`` is false. Its
        service worker's requests are not covered: cut the wire too (``tests.support.netcut``) to test that."""
        await self.send(
            "Network.emulateNetworkConditions", offline=on, latency=0, downloadThroughput=-1, uploadThroughput=-1
        )

    async def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """A PNG of the page at the device's width: the whole page when ``full_page`` (the viewport is stretched to
        the page's height for the shot, so fixed bars sit where a person sees them: at its edges), else the screen."""
        device = self.device
        if full_page:
            height = int(await self.js("Math.ceil(document.documentElement.scrollHeight)"))
            await self.send("Emulation.setDeviceMetricsOverride", **{**device, "height": max(height, device["height"])})
            await asyncio.sleep(0.3)  # the charts follow the layout
        try:
            shot = await self.send("Page.captureScreenshot", format="png")
        finally:
            if full_page:
                await self.send("Emulation.setDeviceMetricsOverride", **device)
        await asyncio.to_thread(_write, path, base64.b64decode(shot["data"]))
        return path


def _devtools_port(port_file: Path) -> str:
    """The port Chromium chose (``--remote-debugging-port=0``), from the file it writes once listening."""
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
        assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
        time.sleep(0.1)
    return port_file.read_text().split("\n")[0].strip()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
