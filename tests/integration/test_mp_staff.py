"""Staff on the WeChat mini-program, through the running hub and the WeChat simulator: a manager's one-time binding
code (or the phone on the account) binds a WeChat user to a staff account; from then on ``wx.login``'s code signs
in with the account's role and warehouse; WeChat's refusals (40029, 45011, 40226) and an unbound WeChat user answer
with codes of their own; deactivating the account, changing its role or unbinding it ends the mini-program's token
at once."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import msgspec
import pytest
from PIL import Image

from orderhub import clock, db
from orderhub.auth.tables import MpBindingCode
from sandbox.wechat import MpApp, WeChatServer, running_wechat
from tests.support.factories import Api, create_warehouse, unique
from tests.support.hub import Hub

SIMULATOR = running_wechat
PASSWORD = "mp-staff-pass-1"


def _address() -> dict[str, str]:
    """A client address of its own (the proxy's X-Forwarded-For), so sign-in throttling touches no other test."""
    n = uuid.uuid4().int
    return {"x-forwarded-for": f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"}


def _openid() -> str:
    return f"o{uuid.uuid4().hex[:27]}"


def _phone() -> str:
    return f"139{uuid.uuid4().int % 10**8:08d}"


class Mp:
    """The mini-program as an employee's phone runs it: wx.login codes for one WeChat user, calls to the hub."""

    def __init__(self, url: str, sim: WeChatServer, app: MpApp) -> None:
        self.url, self.sim, self.app = url, sim, app
        self.headers = _address()

    def code(self, openid: str) -> str:
        return self.sim.store.login_code(self.app.appid, openid)

    async def login(self, openid: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=30, headers=self.headers) as client:
            return await client.post("/mp/v1/auth/login", json={"code": self.code(openid)})

    async def bind(self, openid: str, **how: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=30, headers=self.headers) as client:
            return await client.post("/mp/v1/auth/bind", json={"code": self.code(openid), **how})

    def phone_code(self, phone: str) -> str:
        return self.sim.store.phone_code(self.app.appid, phone)


@pytest.fixture(scope="module")
async def mp(api: Api, sim: WeChatServer) -> AsyncIterator[Mp]:
    app = sim.store.create_mini_app()
    config = {"appid": app.appid, "secret": app.secret, "base_url": sim.base_url}
    async with api.client() as client:
        r = await client.put("/api/v1/notify/providers/wechat_subscribe", json={"config": config})
        assert r.status_code == 200, r.text
    yield Mp(api.base_url, sim, app)


async def _user(api: Api, role: str, warehouse: str | None, *, phone: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"username": unique(role), "password": PASSWORD, "role": role, "warehouse": warehouse}
    if phone:
        body["phone"] = phone
    async with api.client() as client:
        r = await client.post("/api/v1/users", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _bearer(url: str, user: dict[str, Any]) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=_address()) as client:
        r = await client.post("/api/v1/auth/login", json={"username": user["username"], "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _as(url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"})


async def _binding_code(url: str, token: str, user_id: int) -> httpx.Response:
    async with _as(url, token) as client:
        return await client.post(f"/api/v1/users/{user_id}/mp-binding-code")


def _problem(r: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["code"] == code, body
    assert body["message"] and not body["message"].isascii(), body  # zh-CN, for the employee
    if field is not None:
        assert body["field"] == field, body


async def test_a_managers_binding_code_binds_once_and_the_token_acts_with_the_accounts_role_and_scope(
    api: Api, mp: Mp
) -> None:
    a, b = (await create_warehouse(api))["code"], (await create_warehouse(api))["code"]
    manager = await _user(api, "manager", a)
    picker, other_picker, elsewhere = (
        await _user(api, "picker", a),
        await _user(api, "picker", a),
        await _user(api, "picker", b),
    )
    boss = await _bearer(mp.url, manager)
    me, other_me = _openid(), _openid()

    _problem(await mp.login(me), 401, "mp_not_bound", "code")  # not bound yet

    issued = await _binding_code(mp.url, boss, picker["id"])
    assert issued.status_code == 201, issued.text
    out = issued.json()
    assert out["user_id"] == picker["id"] and out["expires_at"].endswith("+08:00")
    assert len(out["code"]) == 10
    assert out["qr_png"].startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(out["qr_png"].split(",", 1)[1])))
    assert image.format == "PNG" and image.size[0] == image.size[1] >= 100

    # the manager may not issue codes for another warehouse's staff, nor for someone at or above them
    _problem(await _binding_code(mp.url, boss, elsewhere["id"]), 403, "forbidden_warehouse", "user_id")
    _problem(await _binding_code(mp.url, boss, manager["id"]), 403, "mp_binding_not_allowed", "user_id")

    # typed with a separator and in lower case: still the code
    typed = f"{out['code'][:4].lower()}-{out['code'][4:]}"
    bound = await mp.bind(me, binding_code=typed)
    assert bound.status_code == 200, bound.text
    session = bound.json()
    assert (session["role"], session["warehouse"], session["username"]) == ("picker", a, picker["username"])
    assert session["token_type"] == "bearer" and session["expires_in"] > 0

    # once only: another WeChat user cannot use it again
    _problem(await mp.bind(other_me, binding_code=out["code"]), 422, "mp_binding_code_invalid", "binding_code")

    # the token is a back-office token of the picker: their own account, their warehouse, their role
    async with _as(mp.url, session["access_token"]) as client:
        who = await client.get("/api/v1/auth/me")
        assert who.status_code == 200 and who.json()["username"] == picker["username"], who.text
        own = await client.get("/api/v1/stock", params={"warehouse": a})
        assert own.status_code == 200, own.text
        _problem(await client.get("/api/v1/stock", params={"warehouse": b}), 403, "forbidden_warehouse")
        _problem(await client.get("/api/v1/users"), 403, "forbidden")

    # from now on wx.login alone signs in
    again = await mp.login(me)
    assert again.status_code == 200 and again.json()["username"] == picker["username"], again.text

    # this WeChat user is the picker's: a code for another account is refused, and stays usable
    second = (await _binding_code(mp.url, boss, other_picker["id"])).json()["code"]
    _problem(await mp.bind(me, binding_code=second), 409, "mp_openid_taken", "code")
    taken = await mp.bind(other_me, binding_code=second)
    assert taken.status_code == 200 and taken.json()["username"] == other_picker["username"], taken.text

    listed = {u["id"]: u for u in (await _list_users(api))}
    assert listed[picker["id"]]["mp_bound"] is True and listed[elsewhere["id"]]["mp_bound"] is False
    assert "mp_openid" not in listed[picker["id"]]


async def _list_users(api: Api) -> list[dict[str, Any]]:
    async with api.client() as client:
        r = await client.get("/api/v1/users")
    assert r.status_code == 200, r.text
    return list(r.json())


async def test_a_binding_code_expires_and_a_newer_one_replaces_it(api: Api, mp: Mp, store: Hub) -> None:
    picker = await _user(api, "picker", None)
    first = (await _binding_code(mp.url, api.token, picker["id"])).json()["code"]
    second = (await _binding_code(mp.url, api.token, picker["id"])).json()["code"]
    _problem(await mp.bind(_openid(), binding_code=first), 422, "mp_binding_code_invalid", "binding_code")
    await MpBindingCode.update({MpBindingCode.expires_at: clock.now() - timedelta(seconds=1)}).where(
        MpBindingCode.user == picker["id"]
    )
    _problem(await mp.bind(_openid(), binding_code=second), 422, "mp_binding_code_invalid", "binding_code")
    third = (await _binding_code(mp.url, api.token, picker["id"])).json()["code"]
    ok = await mp.bind(_openid(), binding_code=third)
    assert ok.status_code == 200, ok.text


async def test_binding_by_phone_needs_the_number_on_the_account(api: Api, mp: Mp, store: Hub) -> None:
    phone = _phone()
    packer = await _user(api, "packer", None, phone=f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}")
    assert packer["phone"] == f"{phone[:3]}****{phone[7:]}"
    me = _openid()
    _problem(await mp.bind(me, phone_code=mp.phone_code(_phone())), 422, "mp_phone_not_matched", "phone_code")
    _problem(await mp.bind(me, phone_code="no-such-code"), 422, "mp_phone_code_invalid", "phone_code")
    _problem(await mp.bind(me), 422, "mp_bind_needs_one")
    bound = await mp.bind(me, phone_code=mp.phone_code(phone))
    assert bound.status_code == 200 and bound.json()["username"] == packer["username"], bound.text
    # another WeChat user with the same number: the account is bound already
    _problem(await mp.bind(_openid(), phone_code=mp.phone_code(phone)), 409, "mp_already_bound", "phone_code")
    # the number is sealed at rest and never logged
    row = await db.fetch_one_as(_Sealed, "SELECT phone_sealed, phone_key FROM app_user WHERE id = {}", packer["id"])
    assert row is not None and phone not in row.phone_sealed and phone not in row.phone_key
    log = (store.workdir / "api.log").read_text(errors="replace")
    assert phone not in log


class _Sealed(msgspec.Struct):
    phone_sealed: str
    phone_key: str


async def test_wechat_refusals_answer_with_codes_of_their_own(api: Api, mp: Mp) -> None:
    async with httpx.AsyncClient(base_url=mp.url, timeout=30, headers=_address()) as client:
        bad = await client.post("/mp/v1/auth/login", json={"code": "not-a-wx-login-code"})  # 40029
        _problem(bad, 401, "mp_code_invalid", "code")
        code = mp.code(_openid())
        await client.post("/mp/v1/auth/login", json={"code": code})
        _problem(await client.post("/mp/v1/auth/login", json={"code": code}), 401, "mp_code_invalid")  # 40163

        risky = _openid()
        mp.sim.store.block_user(mp.app.appid, risky)  # 40226
        _problem(await client.post("/mp/v1/auth/login", json={"code": mp.code(risky)}), 403, "mp_user_blocked")

        mp.sim.store.login_quota_per_minute = 0  # 45011 at once (WeChat: 100 per user per minute)
        try:
            limited = await client.post("/mp/v1/auth/login", json={"code": mp.code(_openid())})
        finally:
            mp.sim.store.login_quota_per_minute = 100
        _problem(limited, 429, "mp_wechat_rate_limited", "code")
        assert limited.headers["retry-after"] == "60"
    errcodes = {call.errcode for call in mp.sim.store.calls_to("/sns/jscode2session", mp.app.appid)}
    assert {40029, 40163, 40226, 45011} <= errcodes


async def test_deactivating_changing_the_role_or_unbinding_ends_the_mini_program_session_at_once(
    api: Api, mp: Mp
) -> None:
    picker = await _user(api, "picker", None)
    me = _openid()
    code = (await _binding_code(mp.url, api.token, picker["id"])).json()["code"]
    token = (await mp.bind(me, binding_code=code)).json()["access_token"]

    async def me_status(bearer: str) -> int:
        async with _as(mp.url, bearer) as client:
            return (await client.get("/api/v1/auth/me")).status_code

    assert await me_status(token) == 200
    async with api.client() as client:
        assert (await client.patch(f"/api/v1/users/{picker['id']}", json={"role": "packer"})).status_code == 200
    assert await me_status(token) == 401  # granted as a picker: ended
    again = await mp.login(me)
    assert again.status_code == 200 and again.json()["role"] == "packer", again.text
    token = again.json()["access_token"]

    # unbinding ends the mini-program's session, not the back office's
    office = await _bearer(mp.url, picker)
    async with api.client() as client:
        r = await client.delete(f"/api/v1/users/{picker['id']}/mp-binding")
        assert r.status_code == 200 and r.json() == {"user_id": picker["id"], "was_bound": True}, r.text
    assert await me_status(token) == 401
    assert await me_status(office) == 200
    _problem(await mp.login(me), 401, "mp_not_bound")

    code = (await _binding_code(mp.url, api.token, picker["id"])).json()["code"]
    token = (await mp.bind(me, binding_code=code)).json()["access_token"]
    assert await me_status(token) == 200
    async with api.client() as client:
        assert (await client.patch(f"/api/v1/users/{picker['id']}", json={"active": False})).status_code == 200
    assert await me_status(token) == 401
    _problem(await mp.login(me), 403, "mp_account_disabled")
