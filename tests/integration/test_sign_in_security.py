"""Sign-in security through the running hub (issue 15 items 13 and 15).

* Guessing is throttled in Redis per account, per client address and per device (429 ``too_many_attempts`` with
  ``Retry-After``); guessing on locks the account (429 ``account_locked``) until a manager unlocks it.
* Answers are uniform: an unknown user, a wrong password and a disabled account answer alike; so do an unknown
  device, a wrong badge and a badge that may not sign in on a device (a manager's: they type their password).
* Password hashing runs off the event loop: ``/healthz`` stays fast under 96 concurrent bad logins.
* Bearer tokens die with what they stand for: a password change, sign-out (this token) and sign-out everywhere.
* The floor websocket takes its token from a header or the first message, refuses one in the URL, and the
  server's log never holds a token sent in a URL.

Each test signs in from its own client address (``X-Forwarded-For``, trusted from 127.0.0.1 as from the proxy), so
the throttles it trips touch no other test.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from typing import Any

import httpx
import websockets

from tests.support.factories import Api, create_warehouse, unique
from tests.support.hub import Hub

PASSWORD = "right-pass-123"


def _address() -> dict[str, str]:
    """A client address of its own (10.x.y.z), as the proxy in front of the hub would pass it on."""
    n = uuid.uuid4().int
    return {"x-forwarded-for": f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"}


async def _user(api: Api, role: str, *, warehouse: str | None = None, badge: str | None = None) -> dict[str, Any]:
    async with api.client() as client:
        body: dict[str, Any] = {"username": unique(role), "password": PASSWORD, "role": role}
        if warehouse:
            body["warehouse"] = warehouse
        if badge:
            body["badge"] = badge
        r = await client.post("/api/v1/users", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _login(url: str, username: str, password: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return await client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}, headers=headers
        )


async def test_guessing_a_password_is_throttled_then_locked_until_a_manager_unlocks(api: Api, store: Hub) -> None:
    warehouse = (await create_warehouse(api))["code"]
    picker = await _user(api, "picker", warehouse=warehouse)
    here = _address()
    answers = []
    async with httpx.AsyncClient(base_url=store.url, timeout=60, headers=here) as client:
        for i in range(200):
            r = await client.post("/api/v1/auth/login", json={"username": picker["username"], "password": f"x{i}"})
            answers.append(r)
    codes = [r.json()["code"] for r in answers]
    assert codes[:5] == ["invalid_credentials"] * 5, codes[:20]
    assert set(codes[5:14]) == {"too_many_attempts"}, codes[:20]
    assert set(codes[14:]) == {"account_locked"}, codes[:20]
    for r in answers[5:]:
        assert r.status_code == 429 and r.headers["content-type"].startswith("application/problem+json")
        assert 0 < int(r.headers["retry-after"]) <= 3600 and r.json()["retry_after"] == int(r.headers["retry-after"])
    assert answers[-1].json()["message"] == "账号已锁定，请联系主管解锁"
    # the right password, from anywhere, while locked: refused the same
    right = await _login(store.url, picker["username"], PASSWORD, _address())
    assert right.status_code == 429 and right.json()["code"] == "account_locked"
    # a manager of another warehouse may not unlock them; the warehouse's manager may
    outsider = await _user(api, "manager", warehouse=(await create_warehouse(api))["code"])
    boss = await _user(api, "manager", warehouse=warehouse)
    for manager, status in ((outsider, 403), (boss, 200)):
        signed_in = await _login(store.url, manager["username"], PASSWORD, _address())
        assert signed_in.status_code == 200, signed_in.text
        async with Api(store.url, signed_in.json()["access_token"]).client() as client:
            r = await client.post(f"/api/v1/users/{picker['id']}/unlock")
        assert r.status_code == status, r.text
    assert r.json() == {"user_id": picker["id"], "username": picker["username"], "was_locked": True}
    assert (await _login(store.url, picker["username"], PASSWORD, _address())).status_code == 200


async def test_sign_in_failures_answer_alike(api: Api, store: Hub) -> None:
    user = await _user(api, "finance")
    disabled = await _user(api, "finance")
    async with api.client() as client:
        assert (await client.patch(f"/api/v1/users/{disabled['id']}", json={"active": False})).status_code == 200
    answers = [
        await _login(store.url, user["username"], "wrong-password", _address()),
        await _login(store.url, unique("nobody"), PASSWORD, _address()),
        await _login(store.url, disabled["username"], PASSWORD, _address()),  # the right password, disabled
    ]
    for r in answers:
        assert r.status_code == 401, r.text
        assert (r.json()["code"], r.json()["message"]) == ("invalid_credentials", "用户名或密码错误")


async def test_guessing_across_usernames_is_throttled_per_client_address(api: Api, store: Hub) -> None:
    user = await _user(api, "finance")
    here = _address()
    codes = [(await _login(store.url, unique("guess"), "guess-pass", here)).json()["code"] for _ in range(31)]
    assert codes[:30] == ["invalid_credentials"] * 30 and codes[30] == "too_many_attempts", codes
    refused = await _login(store.url, user["username"], PASSWORD, here)  # even the right password, from there
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_attempts"
    assert int(refused.headers["retry-after"]) > 0
    assert (await _login(store.url, user["username"], PASSWORD, _address())).status_code == 200  # elsewhere: fine


async def test_badge_guessing_is_throttled_per_device_and_answers_alike(api: Api, store: Hub) -> None:
    warehouse = (await create_warehouse(api))["code"]
    picker = await _user(api, "picker", warehouse=warehouse, badge=unique("BADGE-"))
    boss_badge = unique("BADGE-")
    boss = await _user(api, "manager", warehouse=warehouse, badge=boss_badge)
    devices = [unique("DEV-"), unique("DEV-")]
    async with api.client() as client:
        for device in devices:
            r = await client.post("/api/v1/picking/devices", json={"code": device, "warehouse": warehouse})
            assert r.status_code == 201, r.text

    async def badge_login(device: str, badge: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=store.url, timeout=60, headers=_address()) as client:
            return await client.post("/pda/v1/login", json={"device": device, "badge": badge})

    # an unknown device, a wrong badge, a manager's badge alone: one answer
    unknown_device = await badge_login(unique("NO-SUCH-"), picker["badge"])
    wrong_badge = await badge_login(devices[0], unique("BADGE-"))
    manager_badge = await badge_login(devices[1], boss_badge)
    for r in (unknown_device, wrong_badge, manager_badge):
        assert r.status_code == 401, r.text
        assert (r.json()["code"], r.json()["message"]) == (
            "invalid_badge",
            "工牌或设备无效，请重新扫描，或用账号密码登录",
        )
    # a manager signs in on a device with their password
    async with httpx.AsyncClient(base_url=store.url, timeout=60, headers=_address()) as client:
        r = await client.post(
            "/pda/v1/login", json={"device": devices[1], "username": boss["username"], "password": PASSWORD}
        )
    assert r.status_code == 200 and r.json()["role"] == "manager", r.text
    # badge guesses on one device, each from a different address: the device stops answering them
    codes = [(await badge_login(devices[0], unique("BADGE-"))).json()["code"] for _ in range(10)]
    assert codes[:9] == ["invalid_badge"] * 9 and codes[9] == "too_many_attempts", codes
    refused = await badge_login(devices[0], picker["badge"])
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert (await badge_login(devices[1], picker["badge"])).status_code == 200  # another device: fine


async def test_healthz_stays_fast_while_96_bad_logins_hash(store: Hub) -> None:
    """scrypt runs in worker threads (a few at a time): the event loop keeps answering. Before, each bad login held
    the loop for one hash (~80 ms here), and /healthz waited behind all of them."""

    async def bad_login(client: httpx.AsyncClient) -> int:
        r = await client.post(
            "/api/v1/auth/login", json={"username": unique("nobody"), "password": "wrong-pass"}, headers=_address()
        )
        return r.status_code

    async with httpx.AsyncClient(base_url=store.url, timeout=120, limits=httpx.Limits(max_connections=200)) as client:
        await client.get("/healthz")
        logins = [asyncio.create_task(bad_login(client)) for _ in range(96)]
        await asyncio.sleep(0.3)  # they are queued for hashing now
        latencies: list[float] = []
        async with httpx.AsyncClient(base_url=store.url, timeout=30) as probe:
            while not all(t.done() for t in logins) and len(latencies) < 40:
                started = time.perf_counter()
                assert (await probe.get("/healthz")).status_code == 200
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.02)
        statuses = await asyncio.gather(*logins)
    assert set(statuses) == {401}
    assert len(latencies) >= 5, latencies
    # Generous for a loaded two-core machine: the hash threads compete with the loop for the CPUs, but the loop is
    # never held for a hash (measured here: ~17 ms median now; 2.1 s before, hashing on the loop).
    assert statistics.median(latencies) < 0.1, sorted(latencies)


async def test_a_token_dies_with_a_password_change_logout_and_logout_all(api: Api, store: Hub) -> None:
    user = await _user(api, "finance")

    async def token() -> str:
        r = await _login(store.url, user["username"], PASSWORD, _address())
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    async def me(bearer: str) -> int:
        async with Api(store.url, bearer).client() as client:
            return (await client.get("/api/v1/auth/me")).status_code

    before = await token()
    assert await me(before) == 200
    async with api.client() as client:
        r = await client.patch(f"/api/v1/users/{user['id']}", json={"password": "new-pass-456"})
        assert r.status_code == 200, r.text
    assert await me(before) == 401  # was valid for 12 h after the change
    async with api.client() as client:
        r = await client.patch(f"/api/v1/users/{user['id']}", json={"password": PASSWORD})
    one, other = await token(), await token()
    async with Api(store.url, one).client() as client:
        assert (await client.post("/api/v1/auth/logout")).status_code == 204
        r = await client.get("/api/v1/auth/me")
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert await me(other) == 200  # signing out ends this token only
    async with Api(store.url, other).client() as client:
        assert (await client.post("/api/v1/auth/logout-all")).status_code == 204
    assert await me(other) == 401
    assert await me(await token()) == 200  # signing in again works


async def _pda_token(api: Api, store: Hub) -> str:
    warehouse = (await create_warehouse(api))["code"]
    picker = await _user(api, "picker", warehouse=warehouse, badge=unique("BADGE-"))
    device = unique("DEV-")
    async with api.client() as client:
        r = await client.post("/api/v1/picking/devices", json={"code": device, "warehouse": warehouse})
        assert r.status_code == 201, r.text
    async with httpx.AsyncClient(base_url=store.url, headers=_address()) as client:
        r = await client.post("/pda/v1/login", json={"device": device, "badge": picker["badge"]})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


async def test_the_floor_socket_takes_its_token_from_a_header_or_the_first_message_never_the_url(
    api: Api, store: Hub
) -> None:
    token = await _pda_token(api, store)
    uri = store.url.replace("http://", "ws://") + "/ws/floor"
    async with websockets.connect(uri) as ws:  # a browser: the first message
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv())["type"] == "snapshot"
    async with websockets.connect(uri, additional_headers={"authorization": f"Bearer {token}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
    for bad in ({"type": "auth", "token": "nope"}, {"type": "resync"}):
        async with websockets.connect(uri) as ws:
            await ws.send(json.dumps(bad))
            try:
                await ws.recv()
            except websockets.exceptions.ConnectionClosed:
                pass
            assert ws.close_code == 4401
    async with websockets.connect(f"{uri}?token={token}") as ws:  # a valid token, in the URL: refused
        try:
            await ws.recv()
        except websockets.exceptions.ConnectionClosed:
            pass
        assert ws.close_code == 4401 and ws.close_reason == "token_in_url"
    # the server's log (uvicorn's, the app's) never holds a token that came in a URL
    async with httpx.AsyncClient(base_url=store.url) as client:
        await client.get("/healthz", params={"token": token})
        await client.get("/api/v1/orders", params={"token": token, "access_token": token})
    await asyncio.sleep(0.5)
    log = (store.workdir / "api.log").read_text(errors="replace")
    assert "/ws/floor" in log  # uvicorn logged the connections …
    assert token not in log  # … without the token


async def test_the_command_line_lifts_a_lock_nobody_signed_in_could(api: Api, store: Hub) -> None:
    """Anyone can lock an account by guessing at it; when it is the only account that could lift the lock (the one
    admin), ``orderhub unlock <username>`` on the server does."""
    import os
    import subprocess
    import sys

    user = await _user(api, "finance")
    here = _address()
    for i in range(15):
        await _login(store.url, user["username"], f"wrong-{i}", here)
    locked = await _login(store.url, user["username"], PASSWORD, _address())
    assert locked.status_code == 429 and locked.json()["code"] == "account_locked", locked.text
    env = {**os.environ, **store.env}
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", "unlock", user["username"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{user['username']}: unlocked"
    assert (await _login(store.url, user["username"], PASSWORD, _address())).status_code == 200
