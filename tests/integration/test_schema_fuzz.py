"""A bounded schemathesis run over every operation of the OpenAPI document: valid and invalid requests generated
from the schema, sent to a real hub as the bootstrap admin (the PDA's operations with a device session), must never
get a server error, and every error answer is ``application/problem+json``.

The run has a hub of its own: it changes whatever it is allowed to (users, rules, settings, sessions), which must not
leak into the other tests' hub. SQLite only: the claim is about input handling, which both back ends share, and a
second run on PostgreSQL would double the minute it takes (the other integration tests cover the back ends).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation import GenerationMode

from tests.integration.test_picking import Floor
from tests.support.factories import Api
from tests.support.hub import ADMIN_PASSWORD, ADMIN_USER, Hub, provision, running

EXAMPLES = 4  # per operation and mode (valid, invalid): ~1000 requests, about a minute on SQLite
PROBLEM_JSON = "application/problem+json"
# Operations that sign out the caller, or sign in: fuzzed last, so the token the others use stays valid.
_LAST = ("/api/v1/auth/logout", "/api/v1/auth/logout-all", "/api/v1/auth/login", "/pda/v1/logout", "/pda/v1/login")
# Answers that are not ours to shape: the platforms' push endpoints answer in the platform's own format.
_VENDOR_REPLY = ("/api/v1/webhooks/",)


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running(provision("sqlite", tmp_path_factory.mktemp("hub-fuzz"), redis_db=0)) as hub:
        hub.start_api()
        yield hub


async def _sign_in(hub: Hub) -> tuple[str, str, int]:
    """The admin's bearer token, a picker's device session, and a staff account the run may change freely."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        r = await client.post("/api/v1/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        admin = r.json()["access_token"]
    floor = await Floor(Api(hub.url, admin), hub.url).setup(skus=2)
    picker = await floor.person("picker")
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        r = await client.post("/pda/v1/login", json={"device": picker["device"], "badge": picker["badge"]})
        assert r.status_code == 200, r.text
        device = r.json()["token"]
        headers = {"Authorization": f"Bearer {admin}"}
        r = await client.post(
            "/api/v1/users",
            json={"username": "fuzz-target", "password": "fuzz-pass-1", "role": "picker"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
    return admin, device, int(r.json()["id"])


class Run:
    """One bounded run: what it sent and what it found."""

    def __init__(self, url: str, target_user: int) -> None:
        self.url, self.target_user = url, target_user
        self.failures: list[str] = []
        self.sent = 0

    def check(self, case: Any, path: str, token: str) -> None:
        if path == "/api/v1/users/{user_id}" and case.path_parameters:
            case.path_parameters["user_id"] = self.target_user  # never the admin the run signs in as
        response = case.call(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        self.sent += 1
        what = f"{case.method} {case.formatted_path} → {response.status_code}"
        if response.status_code >= 500:
            self.failures.append(f"{what}: {response.text[:300]} (curl: {case.as_curl_command()})")
        elif response.status_code >= 400 and not path.startswith(_VENDOR_REPLY):
            kind = response.headers.get("content-type") or [""]  # schemathesis: a list per header
            kind = kind[0] if isinstance(kind, list) else kind
            if not kind.startswith(PROBLEM_JSON):
                self.failures.append(f"{what}: error answered as {kind!r}, not {PROBLEM_JSON}")

    def operation(self, operation: Any, mode: GenerationMode, token: str) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            self.check(case, operation.path, token)

        try:
            run()
        except Exception as exc:  # a generation error must not hide the other operations' results
            self.failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc!r}"[:500])


def _fuzz(url: str, admin: str, device: str, target_user: int) -> tuple[list[str], int, int]:
    """Run every operation, valid and invalid requests; return the failures, the operations and the requests."""
    schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    operations.sort(key=lambda op: op.path in _LAST)
    run = Run(url, target_user)
    for operation in operations:
        token = device if operation.path.startswith("/pda/") else admin
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run.operation(operation, mode, token)
    return run.failures, len(operations), run.sent


async def test_no_operation_answers_a_server_error(fuzz_hub: Hub) -> None:
    admin, device, target = await _sign_in(fuzz_hub)
    started = time.monotonic()
    failures, operations, sent = await asyncio.to_thread(_fuzz, fuzz_hub.url, admin, device, target)
    elapsed = time.monotonic() - started
    print(f"schemathesis: {operations} operations, {sent} requests, {elapsed:.0f} s")
    assert operations > 100 and sent > operations
    assert not failures, "\n".join(failures[:40])
    log = await asyncio.to_thread(Path(fuzz_hub.workdir / "api.log").read_text, errors="replace")
    assert '"status":500' not in log, "the API log shows a server error"
