"""``ORDERHUB_EVENT_LOOP``: which event loop ``serve`` and ``worker`` run on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop

from orderhub.settings import SettingsError, load_settings
from server.cli import _loop_factory


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"ORDERHUB_DATA_DIR": str(tmp_path), "ORDERHUB_SECRET_KEY": "k" * 64, **extra}


def test_auto_is_the_default_and_a_bad_choice_is_refused(tmp_path: Path) -> None:
    assert load_settings(_env(tmp_path)).event_loop == "auto"
    assert load_settings(_env(tmp_path, ORDERHUB_EVENT_LOOP="asyncio")).event_loop == "asyncio"
    with pytest.raises(SettingsError, match="ORDERHUB_EVENT_LOOP must be one of auto, asyncio, uvloop"):
        load_settings(_env(tmp_path, ORDERHUB_EVENT_LOOP="trio"))


def test_the_worker_runs_on_uvloop_unless_asyncio_is_asked_for() -> None:
    for choice in ("auto", "uvloop"):
        factory = _loop_factory(choice)
        assert factory is not None
        with asyncio.Runner(loop_factory=factory) as runner:
            assert isinstance(runner.get_loop(), uvloop.Loop)
    assert _loop_factory("asyncio") is None
