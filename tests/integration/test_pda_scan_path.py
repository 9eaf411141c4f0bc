"""The scan's short path (issue 22): the replay check asked by the scan's first read, the session from the API
process's own memory — with the answers, conflicts, counts and revocations they had before."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest

from orderhub import db
from orderhub.picking import sessions
from tests.integration.test_picking import Floor, Pda
from tests.support.factories import Api
from tests.support.hub import Hub


@pytest.fixture
async def floor(api: Api, store: Hub) -> AsyncIterator[Floor]:
    yield await Floor(api, store.url).setup()


class _Counts(msgspec.Struct):
    scans: int
    item_scans: int
    units: int


async def _claimed(floor: Floor, qty: int = 3) -> tuple[Pda, dict[str, str], int, dict[str, Any]]:
    code = floor.codes[0]
    (order_id,) = await floor.orders([(code, qty)])
    (task_id,) = (await floor.wave([order_id]))["task_ids"]
    person = await floor.person("picker")
    pda = await Pda.sign_in(floor.url, person)
    task = (await pda.http.post(f"/pda/v1/tasks/{task_id}/claim")).json()
    return pda, person, task_id, task["stops"][0]


async def _user_id(floor: Floor, username: str) -> int:
    async with floor.api.client() as client:
        users = (await client.get("/api/v1/users")).json()
    return int(next(u["id"] for u in users if u["username"] == username))


async def test_copies_of_one_scan_racing_each_other_are_counted_once_and_answered_alike(floor: Floor) -> None:
    """Eight copies of one item scan at once, each on its own connection (both API processes on PostgreSQL): one
    records it, the others answer its answer, marked replayed; one unit counted, one scan in the operator's day."""
    pda, person, task_id, stop = await _claimed(floor)
    assert (await pda.scan(task_id, stop["line_id"], "location", barcode=stop["location"])).status_code == 200
    body = {"client_id": uuid.uuid4().hex, "task_id": task_id, "line_id": stop["line_id"], "kind": "item",
            "barcode": floor.skus[stop["sku"]]["barcode"], "location": stop["location"]}
    headers = {"authorization": f"Bearer {pda.token}"}
    clients = [httpx.AsyncClient(base_url=floor.url, headers=headers, timeout=30) for _ in range(8)]
    try:
        for client in clients:  # connections open (and sessions read) before the race
            assert (await client.get("/pda/v1/tasks/next")).status_code == 200
        answers = await asyncio.gather(*(client.post("/pda/v1/scans", json=body) for client in clients))
    finally:
        for client in clients:
            await client.aclose()
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert sorted(r.json()["replayed"] for r in answers) == [False] + [True] * 7
    first = next(r.json() for r in answers if not r.json()["replayed"])
    for r in answers:
        assert {**r.json(), "replayed": False} == first
    assert first["line"]["picked"] == 1
    task = (await pda.http.get(f"/pda/v1/tasks/{task_id}")).json()
    assert task["stops"][0]["picked"] == 1
    rows = await db.fetch_as(
        db.IdRow, "SELECT id FROM pda_scan WHERE device = {} AND client_id = {}", person["device"], body["client_id"]
    )
    assert len(rows) == 1
    user_id = await _user_id(floor, person["username"])
    counts = await db.fetch_as(
        _Counts, "SELECT scans, item_scans, units FROM rollup_operator_day WHERE user_id = {}", user_id
    )
    assert [(c.scans, c.item_scans, c.units) for c in counts] == [(2, 1, 1)]  # the location scan and one item
    await pda.close()


async def test_item_scans_racing_for_a_lines_last_units_count_them_once(floor: Floor) -> None:
    """Different scans (own client ids) of one line at once, on their own connections: the units counted never pass
    the line's quantity; the scans that came too late are over_pick, each answer says what its scan did, and the
    operator's day counts exactly the units accepted."""
    pda, person, task_id, stop = await _claimed(floor, qty=3)
    barcode = floor.skus[stop["sku"]]["barcode"]
    headers = {"authorization": f"Bearer {pda.token}"}
    clients = [httpx.AsyncClient(base_url=floor.url, headers=headers, timeout=30) for _ in range(6)]
    try:
        for client in clients:
            assert (await client.get("/pda/v1/tasks/next")).status_code == 200
        answers = await asyncio.gather(*(
            client.post("/pda/v1/scans", json={
                "client_id": uuid.uuid4().hex, "task_id": task_id, "line_id": stop["line_id"], "kind": "item",
                "barcode": barcode, "location": stop["location"], "qty": 1,
            })
            for client in clients
        ))
    finally:
        for client in clients:
            await client.aclose()
    accepted = [r.json() for r in answers if r.status_code == 200]
    refused = [r.json() for r in answers if r.status_code != 200]
    assert len(accepted) == 3 and len(refused) == 3, [r.text for r in answers]
    assert sorted(a["line"]["picked"] for a in accepted) == [1, 2, 3]
    assert [a["line"]["status"] for a in accepted if a["line"]["picked"] == 3] == ["picked"]
    assert all(r["code"] == "over_pick" and r["expected"] == {"remaining": 0} for r in refused), refused
    task = (await pda.http.get(f"/pda/v1/tasks/{task_id}")).json()
    assert (task["stops"][0]["picked"], task["stops"][0]["status"]) == (3, "picked")
    user_id = await _user_id(floor, person["username"])
    counts = await db.fetch_as(
        _Counts, "SELECT scans, item_scans, units FROM rollup_operator_day WHERE user_id = {}", user_id
    )
    assert [(c.scans, c.item_scans, c.units) for c in counts] == [(6, 3, 3)]
    await pda.close()


async def test_a_replay_answers_first_whatever_the_line_and_task_have_become(floor: Floor) -> None:
    """The replay check comes before every refusal, as it did when it ran on its own: a client id reused for a line
    that is not there is client_id_reused (not line_not_found), and a scan replayed after the task moved to someone
    else gets its first answer (not task_not_claimed)."""
    pda, _, task_id, stop = await _claimed(floor)
    body = {"client_id": uuid.uuid4().hex, "task_id": task_id, "line_id": stop["line_id"], "kind": "location",
            "barcode": stop["location"]}
    first = await pda.http.post("/pda/v1/scans", json=body)
    assert first.status_code == 200 and first.json()["replayed"] is False, first.text

    r = await pda.http.post("/pda/v1/scans", json={**body, "line_id": 2_000_000_000})
    assert r.status_code == 409 and r.json()["code"] == "client_id_reused" and r.json()["field"] == "client_id"
    # the task is not part of what a scan is about (its line is): a copy naming another task is a replay
    r = await pda.http.post("/pda/v1/scans", json={**body, "task_id": 2_000_000_000})
    assert r.status_code == 200 and r.json() == {**first.json(), "replayed": True}, r.text
    fresh = {**body, "client_id": uuid.uuid4().hex}
    r = await pda.http.post("/pda/v1/scans", json={**fresh, "line_id": 2_000_000_000})
    assert r.status_code == 404 and r.json()["code"] == "line_not_found", r.text
    r = await pda.http.post("/pda/v1/scans", json={**fresh, "task_id": 2_000_000_000})
    assert r.status_code == 404 and r.json()["code"] == "task_not_found", r.text

    other = await floor.person("picker")
    async with floor.api.client() as client:
        moved = await client.post(
            f"/api/v1/picking/tasks/{task_id}/assign", json={"picker": await _user_id(floor, other["username"])}
        )
    assert moved.status_code == 200, moved.text
    again = await pda.http.post("/pda/v1/scans", json=body)
    assert again.status_code == 200 and again.json() == {**first.json(), "replayed": True}
    r = await pda.scan(task_id, stop["line_id"], "location", barcode=stop["location"])
    assert r.status_code == 403 and r.json()["code"] == "task_not_claimed"
    await pda.close()


async def test_a_session_ended_elsewhere_is_refused_at_once_by_every_api_process(floor: Floor) -> None:
    """Sessions are kept in each API process's memory for SESSION_CACHE_SECONDS; ending them publishes their keys,
    and every process drops them at once. Here they are ended by a third process (this one) and by a logout on one
    connection, and every warm connection (both API processes on PostgreSQL) is refused well inside the bound."""
    person = await floor.person("picker")
    bound = sessions.SESSION_CACHE_SECONDS

    async def refused_within(clients: list[httpx.AsyncClient]) -> float:
        started = time.monotonic()
        waiting = list(clients)
        while waiting and time.monotonic() - started < bound:
            answers = await asyncio.gather(*(c.get("/pda/v1/tasks/next") for c in waiting))
            for client, r in zip(list(waiting), answers, strict=True):
                if r.status_code == 401:
                    assert r.json()["code"] == "session_expired", r.text
                    waiting.remove(client)
                else:
                    assert r.status_code == 200, r.text
            if waiting:
                await asyncio.sleep(0.02)
        assert not waiting, "a process still answered the ended session"
        return time.monotonic() - started

    for end in ("elsewhere", "logout"):
        pda = await Pda.sign_in(floor.url, person)
        headers = {"authorization": f"Bearer {pda.token}"}
        clients = [httpx.AsyncClient(base_url=floor.url, headers=headers, timeout=30) for _ in range(6)]
        try:
            for _ in range(3):  # every connection's process has read the session (and keeps it)
                for client in clients:
                    assert (await client.get("/pda/v1/tasks/next")).status_code == 200
            if end == "elsewhere":
                assert await sessions.end_sessions_of(await _user_id(floor, person["username"])) >= 1
            else:
                assert (await clients[0].post("/pda/v1/logout")).status_code in (200, 201, 204)
            took = await refused_within(clients)
            assert took < 1.0, f"{end}: refused after {took:.2f} s"
        finally:
            for client in clients:
                await client.aclose()
            await pda.close()
