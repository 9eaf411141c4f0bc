"""Fixtures the unit tests of the integrations share: one HTTP client per test, and the simulator a test module
names.

A module that talks to a simulator says which one at the top — ``SIMULATOR = running_platforms`` (or
``running_carriers``, ``running_kuaidi100`` … from ``sandbox/``) — and takes ``sim``: one simulator for the whole
module, stopped after it. Credentials for the simulators: ``tests.support.simulators``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture(scope="module")
def sim(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The simulator the test module names in ``SIMULATOR``, running for the module."""
    running = getattr(request.module, "SIMULATOR", None)
    assert running is not None, f"{request.module.__name__} takes `sim` but names no SIMULATOR"
    with running() as server:
        yield server
