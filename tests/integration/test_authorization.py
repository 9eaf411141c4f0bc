"""The role matrix as a table-driven test: every route of the app is in the policy table
(orderhub/auth/policy.py), and calling it as each role answers as the table says — allowed (anything but 401 /
403: a 404 or 422 has passed authorization), refused by role (403 ``forbidden``), refused to a user bound to a
warehouse (403 ``forbidden_global`` / ``forbidden_warehouse``), or unauthenticated (401). Then the scoped cases
the table's guard cannot see alone (another warehouse's rate card, imports into another warehouse's channel), the
handhelds' picker, the last admin, and ``orderhub migrate`` restoring an admin."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute, WebSocketRoute

from orderhub.auth.policy import POLICY, Rule, Scope, operation_key, rule_for
from orderhub.settings import get_settings
from server.app import create_app
from tests.support.factories import Api, create_channel, create_warehouse, unique
from tests.support.hub import ADMIN_PASSWORD, ADMIN_USER, Hub, provision, running

PASSWORD = "authz-pass-2026"
# The callers: (name, role, bound to warehouse A?)
CALLERS = [
    ("admin", "admin", False),
    ("manager", "manager", False),
    ("manager@A", "manager", True),
    ("picker", "picker", True),
    ("packer", "packer", True),
    ("finance", "finance", False),
    ("approver", "approver", False),
    ("anonymous", "", False),
]
REFUSALS = {"forbidden", "forbidden_global", "forbidden_warehouse"}
NO_SUCH_ID = "2147483000"
_PARAM = re.compile(r"\{([a-z_]+)\}")


@dataclass
class World:
    url: str
    a: str  # warehouse A's code (the bound users')
    b: str  # another warehouse
    device_code: str = ""  # a PDA of warehouse A
    usernames: dict[str, str] = field(default_factory=dict)  # caller → username
    bearer: dict[str, str] = field(default_factory=dict)  # caller → back-office token
    device: dict[str, str] = field(default_factory=dict)  # caller → PDA session token (floor roles)

    def headers(self, caller: str, *, pda: bool = False) -> dict[str, str]:
        token = (self.device if pda else self.bearer).get(caller)
        return {"Authorization": f"Bearer {token}"} if token else {}


@functools.cache
def _operations() -> list[tuple[str, str, str]]:
    """(method, path template, key) of every route of the app, HTTP and websocket."""
    app = create_app(get_settings())
    found: list[tuple[str, str, str]] = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                    found.append((method, route.path_format, operation_key(method, route.path_format)))
        elif isinstance(route, WebSocketRoute):
            found.append(("WEBSOCKET", route.path_format, operation_key("WEBSOCKET", route.path_format)))
        else:  # pragma: no cover - a mounted ASGI app would need its own rule
            raise AssertionError(f"unexpected route {route!r}")
    return found


def _fill(path: str, world: World) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "warehouse":
            return world.a
        if name.endswith("_id") or name == "wave":
            return NO_SUCH_ID
        return {"phone": "13800000000", "carrier": "SF"}.get(name, "no-such-thing")

    return _PARAM.sub(value, path)


def _expected(rule: Rule, role: str, bound: bool) -> set[str]:
    """What a caller may get: {"allowed"}, {"unauthenticated"} or the refusal codes it may be answered with."""
    if rule.scope is Scope.PUBLIC:
        return {"allowed"} if not role or rule.allows(role) else {"forbidden"}
    if not role:
        return {"unauthenticated"}
    if not rule.allows(role):
        return {"forbidden"}
    if bound and rule.scope is Scope.GLOBAL:
        return {"forbidden_global"}
    return {"allowed"}


def _outcome(response: httpx.Response, *, public: bool) -> str:
    if response.status_code == 401 and not public:
        return "unauthenticated"
    if response.status_code == 403:
        code = response.json().get("code")
        return str(code) if code in REFUSALS else f"403 {code}"
    return "allowed"


async def _login(client: httpx.AsyncClient, username: str) -> str:
    r = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def _sign_in(world: World) -> None:
    """Every caller's bearer token, and a device session on warehouse A's PDA for the floor roles."""
    async with httpx.AsyncClient(base_url=world.url, timeout=60) as client:
        for name, role, bound in CALLERS:
            if not role:
                continue
            world.bearer[name] = await _login(client, world.usernames[name])
            if role in ("admin", "manager", "picker", "packer") and (bound or role == "admin"):
                login = {"device": world.device_code, "username": world.usernames[name], "password": PASSWORD}
                r = await client.post("/pda/v1/login", json=login)
                assert r.status_code == 200, r.text
                world.device[name] = str(r.json()["token"])


@pytest.fixture(scope="module")
async def world(api: Api) -> AsyncIterator[World]:
    a, b = (await create_warehouse(api))["code"], (await create_warehouse(api))["code"]
    world = World(url=api.base_url, a=a, b=b, device_code=unique("PDA-"))
    async with api.client() as client:
        device = {"code": world.device_code, "warehouse": a, "kind": "pda"}
        r = await client.post("/api/v1/picking/devices", json=device)
        assert r.status_code == 201, r.text
        for name, role, bound in CALLERS:
            if role:
                world.usernames[name] = username = unique(name.split("@")[0])
                user = {"username": username, "password": PASSWORD, "role": role, "warehouse": a if bound else None}
                r = await client.post("/api/v1/users", json=user)
                assert r.status_code == 201, r.text
    await _sign_in(world)
    yield world


async def test_every_route_has_a_rule(store: Hub) -> None:
    missing = [key for method, path, key in _operations() if rule_for(method, path) is None]
    assert not missing, f"operations without a rule in orderhub/auth/policy.py POLICY: {missing}"
    keys = {key for _, _, key in _operations()}
    stale = [key for key in POLICY if key not in keys]
    assert not stale, f"rules for operations the app does not have: {stale}"


async def _bearer(world: World, caller: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=world.url, headers=world.headers(caller), timeout=60)


RATE_CARD = {"rows": [{"provinces": ["广东省"], "first_fen": 800, "additional_fen": 200}], "pickups": ["17:00"]}


async def test_a_bound_manager_keeps_to_their_warehouses_rate_cards(world: World) -> None:
    async with await _bearer(world, "admin") as admin, await _bearer(world, "manager@A") as manager:
        for warehouse in (world.a, world.b):
            r = await admin.put(f"/api/v1/logistics/rate-cards/{warehouse}/SF", json=RATE_CARD)
            assert r.status_code == 200, r.text
        other = {"rows": [{"provinces": ["广东省"], "first_fen": 1, "additional_fen": 1}]}
        rewrite = await manager.put(f"/api/v1/logistics/rate-cards/{world.b}/SF", json=other)
        remove = await manager.delete(f"/api/v1/logistics/rate-cards/{world.b}/SF")
        peek = await manager.get("/api/v1/logistics/rate-cards", params={"warehouse": world.b})
        own = await manager.put(f"/api/v1/logistics/rate-cards/{world.a}/SF", json=other)
        mine = await manager.get("/api/v1/logistics/rate-cards")
        theirs = await admin.get("/api/v1/logistics/rate-cards", params={"warehouse": world.b})
    for refused in (rewrite, remove, peek):
        assert refused.status_code == 403, refused.text
        assert (refused.json()["code"], refused.json()["field"]) == ("forbidden_warehouse", "warehouse")
        assert refused.json()["message"].startswith("只能操作本仓库")
    assert own.status_code == 200, own.text
    assert {card["warehouse"] for card in mine.json()} == {world.a}
    (card,) = theirs.json()
    assert card["rows"][0]["first_fen"] == 800  # untouched


async def test_a_bound_manager_imports_only_into_their_warehouses_channels(world: World, api: Api) -> None:
    mine, _ = await create_channel(api, warehouse=world.a)
    theirs, _ = await create_channel(api, warehouse=world.b)
    anywhere, _ = await create_channel(api, warehouse=None)  # no default warehouse: its orders go anywhere
    csv = "订单号,收货人\n1,张三\n".encode()
    async with await _bearer(world, "manager@A") as manager, await _bearer(world, "manager") as boss:
        answers = {}
        for code in (theirs, anywhere, mine):
            answers[code] = [
                await manager.post(f"/api/v1/channels/{code}/imports", files={"file": ("a.csv", csv, "text/csv")}),
                await manager.post(
                    f"/api/v1/channels/{code}/imports/preview", files={"file": ("a.csv", csv, "text/csv")}
                ),
                await manager.put(
                    f"/api/v1/channels/{code}/import-mapping", json={"mapping": {"订单号": "external_id"}}
                ),
                await manager.get(f"/api/v1/channels/{code}/import-mapping"),
            ]
        unbound = await boss.post(
            f"/api/v1/channels/{theirs}/imports/preview", files={"file": ("a.csv", csv, "text/csv")}
        )
    for code in (theirs, anywhere):
        for refused in answers[code]:
            assert refused.status_code == 403, refused.text
            assert (refused.json()["code"], refused.json()["field"]) == ("forbidden_warehouse", "code")
    assert all(r.status_code < 300 or r.status_code == 422 for r in answers[mine]), [r.text for r in answers[mine]]
    if answers[mine][0].status_code == 202:
        job = answers[mine][0].json()["id"]
        async with await _bearer(world, "manager@A") as manager:
            assert (await manager.get(f"/api/v1/imports/{job}")).status_code == 200
    assert unbound.status_code == 200, unbound.text


async def test_hub_wide_settings_are_not_a_bound_managers(world: World) -> None:
    marker = unique("authz-")
    rule = {
        "name": marker,
        "conditions": [{"field": "memo", "op": "contains", "value": marker}],
        "actions": [{"type": "add_tag", "tag": "authz"}],
    }
    template = {"title": "发货通知", "text": "您的订单已发货"}
    async with await _bearer(world, "manager@A") as bound, await _bearer(world, "manager") as boss:
        created = await boss.post("/api/v1/rules", json=rule)
        assert created.status_code == 201, created.text
        rule_id = created.json()["id"]
        refused = [
            await bound.post("/api/v1/rules", json=rule),
            await bound.patch(f"/api/v1/rules/{rule_id}", json={"enabled": False}),
            await bound.delete(f"/api/v1/rules/{rule_id}"),
            await bound.post(
                "/api/v1/logistics/carrier-rules", json={"name": marker, "carrier": "SF", "effect": "exclude"}
            ),
            await bound.delete(f"/api/v1/logistics/carrier-rules/{NO_SUCH_ID}"),
            await bound.put("/api/v1/notify/templates/shipped/aliyun_sms", json=template),
            await bound.delete("/api/v1/notify/templates/shipped/aliyun_sms"),
        ]
        readable = await bound.get(f"/api/v1/rules/{rule_id}")
        assert (await boss.delete(f"/api/v1/rules/{rule_id}")).status_code == 204
    for r in refused:
        assert r.status_code == 403 and r.json()["code"] == "forbidden_global", r.text
        assert r.json()["message"].endswith("不能修改全局配置")
    assert readable.status_code == 200 and readable.json()["enabled"] is True


async def test_a_pickers_handheld_session_does_not_pack_or_ship(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.url, headers=world.headers("picker", pda=True)) as pda:
        answers = [
            await pda.post("/pda/v1/pack", json={"code": "1"}),
            await pda.post(f"/pda/v1/pack/{NO_SUCH_ID}/scans", json={"client_id": "x", "barcode": "1"}),
            await pda.post(f"/pda/v1/pack/{NO_SUCH_ID}/weigh", json={"client_id": "x", "weight_g": 1}),
            await pda.post(f"/pda/v1/pack/{NO_SUCH_ID}/waybill"),
            await pda.post(f"/pda/v1/pack/{NO_SUCH_ID}/handover"),
            await pda.get(f"/pda/v1/pack/{NO_SUCH_ID}/label"),
        ]
        picking = await pda.get("/pda/v1/tasks/next")
    async with await _bearer(world, "picker") as back_office:
        handover = await back_office.post(f"/api/v1/orders/{NO_SUCH_ID}/handover")
    for r in [*answers, handover]:
        assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    assert picking.status_code == 200, picking.text
    async with httpx.AsyncClient(base_url=world.url, headers=world.headers("packer", pda=True)) as station:
        assert (await station.post(f"/pda/v1/pack/{NO_SUCH_ID}/handover")).status_code not in (401, 403)


async def test_the_last_admin_in_charge_cannot_leave(world: World, api: Api) -> None:
    async with api.client() as me:
        my_id = (await me.get("/api/v1/auth/me")).json()["id"]
        other = (
            await me.post("/api/v1/users", json={"username": unique("admin"), "password": PASSWORD, "role": "admin"})
        ).json()
        # Everyone else in charge steps down for a moment (the last one allowed to: the test's admin remains).
        stepped_down = [
            user["id"]
            for user in (await me.get("/api/v1/users")).json()
            if user["id"] != my_id and user["role"] == "admin" and user["active"] and user["warehouse"] is None
        ]
        for user_id in stepped_down:
            r = await me.patch(f"/api/v1/users/{user_id}", json={"role": "manager"})
            assert r.status_code == 200, r.text
        refused = [
            await me.patch(f"/api/v1/users/{my_id}", json={"active": False}),
            await me.patch(f"/api/v1/users/{my_id}", json={"role": "manager"}),
            await me.patch(f"/api/v1/users/{my_id}", json={"warehouse": world.a}),
        ]
        still = await me.get("/api/v1/auth/me")
        back = await me.patch(f"/api/v1/users/{other['id']}", json={"role": "admin"})
        assert back.status_code == 200, back.text
        retired = await me.patch(f"/api/v1/users/{other['id']}", json={"active": False})
        for user_id in stepped_down:  # back in charge (their tokens were revoked: the matrix signs in again)
            assert (await me.patch(f"/api/v1/users/{user_id}", json={"role": "admin"})).status_code == 200
    for r, field_name in zip(refused, ("active", "role", "warehouse"), strict=True):
        assert r.status_code == 409, r.text
        assert (r.json()["code"], r.json()["field"]) == ("last_admin", field_name)
    assert still.status_code == 200 and still.json()["role"] == "admin" and still.json()["warehouse"] is None
    assert retired.status_code == 200  # with the test's admin still in charge


@pytest.mark.postgres_only("the role table is the same on both back ends: one run, on the production store")
async def test_every_operation_answers_every_role_as_the_table_says(world: World) -> None:
    operations = [(m, p, k) for m, p, k in _operations() if m != "WEBSOCKET"]
    # Signing out ends the caller's session (the handhelds'), then their tokens: last (and this test runs last).
    operations.sort(key=lambda op: 0 if "logout" not in op[1] else 1 if op[1].startswith("/pda/") else 2)
    await _sign_in(world)  # afresh: an earlier test stepped the admin down and back (their tokens were revoked)
    mismatches: list[str] = []
    async with httpx.AsyncClient(base_url=world.url, timeout=60) as client:

        async def call(method: str, path: str, caller: str, *, pda: bool) -> httpx.Response:
            body = {"content": b"[]", "headers": {"content-type": "application/json"}}
            extra: dict[str, Any] = body if method in ("POST", "PUT", "PATCH") else {}
            headers = {**world.headers(caller, pda=pda), **extra.pop("headers", {})}
            return await client.request(method, _fill(path, world), headers=headers, **extra)

        for method, path, key in operations:
            rule = rule_for(method, path)
            assert rule is not None, key
            pda = rule.scope is Scope.DEVICE
            if "logout" in path:
                await _sign_in(world)  # the sign-out before this one ended the tokens or sessions
            answers = await asyncio.gather(*(call(method, path, name, pda=pda) for name, _, _ in CALLERS))
            for (name, role, bound), response in zip(CALLERS, answers, strict=True):
                if pda and name not in world.device:
                    expected = {"unauthenticated"}  # no device session for this caller
                else:
                    expected = _expected(rule, role, bound)
                got = _outcome(response, public=rule.scope is Scope.PUBLIC)
                if got not in expected:
                    mismatches.append(f"{key} as {name}: {response.status_code} {got}, want {expected}")
    assert not mismatches, "\n".join(mismatches)


_SNIPPET = """
import asyncio, json, sys
from orderhub import db
from orderhub.auth.tables import User
from orderhub.settings import get_settings
from server.wiring import wire

async def main() -> None:
    wire()
    await db.open_engine(get_settings())
    try:
        if sys.argv[1] != "-":
            await User.update(json.loads(sys.argv[1])).where(User.username == sys.argv[2])
        row = await User.select(User.role, User.active, User.warehouse).where(User.username == sys.argv[2]).first()
        print(json.dumps(row))
    finally:
        await db.close()

asyncio.run(main())
"""


def _user_row(hub: Hub, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _SNIPPET, json.dumps(changes) if changes else "-", ADMIN_USER],
        env=hub.env,
        capture_output=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return dict(json.loads(out.stdout.decode().strip().splitlines()[-1]))


def _migrate(hub: Hub) -> str:
    out = subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=hub.env, capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return out.stdout.decode()


def _can_sign_in(hub: Hub) -> bool:
    code = (
        "import asyncio\nfrom orderhub import db\nfrom orderhub.auth.service import authenticate\n"
        "from orderhub.settings import get_settings\n"
        "from server.wiring import wire\n"
        "async def main():\n    wire()\n    await db.open_engine(get_settings())\n"
        f"    user = await authenticate({ADMIN_USER!r}, {ADMIN_PASSWORD!r})\n"
        "    print(user.role, user.active, user.warehouse_id)\n    await db.close()\nasyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=hub.env, capture_output=True, timeout=120)
    return out.returncode == 0 and out.stdout.decode().split() == ["admin", "True", "None"]


def test_migrate_restores_an_admin_when_none_is_in_charge(backend: str, tmp_path: Path) -> None:
    with running(provision(backend, tmp_path / "hub", redis_db=15)) as hub:
        # deactivated (before: migrate did nothing — nobody could sign in again)
        assert _user_row(hub, {"active": False})["active"] in (False, 0)
        assert "created admin user" in _migrate(hub)
        assert _can_sign_in(hub)
        # demoted, deactivated, its password changed (before: migrate crashed on the taken username)
        _user_row(hub, {"role": "picker", "active": False, "password_hash": "scrypt$1$1$1$00$00"})
        _migrate(hub)
        assert _can_sign_in(hub)
        # while an admin is in charge, migrate leaves the accounts alone
        assert "created admin user" not in _migrate(hub)
        assert _can_sign_in(hub)
