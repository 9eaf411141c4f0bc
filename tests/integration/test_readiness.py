"""/readyz tells the truth: 503 naming the broken store when Redis goes away, while /healthz stays up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.hub import Hub, provision, running


@pytest.fixture
def embedded_hub(tmp_path: Path) -> Iterator[Hub]:
    with running(provision("sqlite", tmp_path / "hub", redis_db=0)) as hub:
        hub.start_api()
        yield hub


def test_readyz_is_503_when_redis_is_down(embedded_hub: Hub) -> None:
    assert httpx.get(f"{embedded_hub.url}/readyz").status_code == 200
    assert embedded_hub.embedded is not None
    embedded_hub.embedded.stop()
    deadline = time.monotonic() + 15
    while True:
        ready = httpx.get(f"{embedded_hub.url}/readyz", timeout=10)
        if ready.status_code == 503 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["redis"].startswith("error") and checks["queue"].startswith("error")
    assert ready.json()["status"] == "unavailable"
    assert httpx.get(f"{embedded_hub.url}/healthz").status_code == 200
