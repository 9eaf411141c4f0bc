"""Bad input never makes a server error: deep JSON, OPTIONS on guarded paths, a field named like a dependency, ids
past INTEGER — each a problem+json with a stable code — and the OpenAPI documents the error answers really given."""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from tests.support.factories import Api, create_warehouse, unique
from tests.support.hub import ADMIN_PASSWORD, ADMIN_USER, Hub

PROBLEM = "application/problem+json"
DEEP = 1000
DEEP_BODIES = {  # an object at the top, as every endpoint wants (a typed decoder refuses an array at once)
    "objects": '{"a":' * DEEP + "1" + "}" * DEEP,
    "arrays": '{"a":' + "[" * DEEP + "]" * DEEP + "}",
    "unclosed": '{"a":' * DEEP,
}


@cache
def _app() -> Litestar:
    from server.app import create_app  # the hub's route table (this process has the hub's settings)

    return create_app()


def _routes() -> list[tuple[HTTPRoute, HTTPRouteHandler]]:
    return [
        (route, handler)
        for route in _app().routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
    ]


def _problem(r: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, (r.request.method, r.request.url.path, r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    body = r.json()
    assert body["code"] == code and body["status"] == status, body
    if field is not None:
        assert body["field"] == field, body


async def _pda_token(api: Api) -> str:
    """A floor manager's device session: a manager may use every handheld operation (picking and packing)."""
    warehouse = (await create_warehouse(api))["code"]
    username, badge, device = unique("manager"), unique("BADGE-"), unique("DEV-")
    async with api.client() as client:
        r = await client.post(
            "/api/v1/users",
            json={"username": username, "password": "floor-pass-1", "role": "manager", "warehouse": warehouse,
                  "badge": badge},
        )
        assert r.status_code == 201, r.text
        r = await client.post("/api/v1/picking/devices", json={"code": device, "warehouse": warehouse, "kind": "pda"})
        assert r.status_code == 201, r.text
        login = {"device": device, "username": username, "password": "floor-pass-1"}
        r = await client.post("/pda/v1/login", json=login)
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


async def test_json_nested_too_deep_is_a_bad_request_everywhere(api: Api) -> None:
    # msgspec gives up past Python's recursion limit with a RecursionError (not a DecodeError): it was a 500 on every
    # JSON endpoint, whether litestar decodes the body (login, warehouses) or the handler does (ingest).
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as anon, api.client() as admin:
        for name, body in DEEP_BODIES.items():
            for client, path in (
                (anon, "/api/v1/auth/login"),
                (anon, "/pda/v1/login"),
                (admin, "/api/v1/warehouses"),
                (admin, "/api/v1/orders/ingest"),
                (admin, "/api/v1/logistics/carrier-rules"),
            ):
                r = await client.post(path, content=body, headers=headers)
                _problem(r, 400, "json_too_deep")
                assert r.json()["instance"] == path, name
        for body in ("[" * DEEP, "[" * DEEP + "]" * DEEP):  # litestar decodes before it looks at the shape
            _problem(await anon.post("/api/v1/auth/login", content=body, headers=headers), 400, "json_too_deep")
        # the process is fine afterwards
        ok = await anon.post("/api/v1/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert ok.status_code == 200, ok.text


async def test_options_on_guarded_controllers_answer_like_unguarded_paths(store: Hub) -> None:
    # litestar's own OPTIONS answer belongs to the path's controller, so controller-level guards ran on it without
    # authentication (OPTIONS skips it): `connection.user` raised, a 500.
    guarded = sorted(
        {
            route.path: route
            for route, handler in _routes()
            if handler.http_methods == {"OPTIONS"} and handler.resolve_guards()
        }.items()
    )
    assert len(guarded) >= 19, [path for path, _ in guarded]
    async with httpx.AsyncClient(base_url=store.url, timeout=30) as anon:
        unguarded = await anon.options("/api/v1/auth/login")
        assert unguarded.status_code == 204 and unguarded.headers["allow"] == "OPTIONS, POST"
        for template, route in guarded:
            path = template
            for param in route.path_parameters.values():
                path = path.replace(f"{{{param.full}}}", "1" if param.type is int else "x")
            r = await anon.options(path)
            assert r.status_code == 204, (path, r.status_code, r.text)
            # (litestar's Allow can miss a method added to the path by a later handler: as on unguarded paths)
            assert "OPTIONS" in r.headers["allow"] and set(r.headers["allow"].split(", ")) <= route.methods, path
        # the guards still guard everything else
        refused = await anon.get("/api/v1/users")
        _problem(refused, 401, "unauthenticated")


async def test_a_body_field_named_like_a_dependency_is_a_validation_error(api: Api) -> None:
    # litestar filed a body field's error under an app dependency of the same name as the dependency's own failure:
    # carrier rules' `channels` (ChannelsPlugin's dependency key) answered 500.
    async with api.client() as client:
        for channels, field in (("nope", "channels"), ([1], "channels[0]"), (["x" * 40], "channels[0]")):
            r = await client.post(
                "/api/v1/logistics/carrier-rules",
                json={"name": "bad", "carrier": "sf", "effect": "exclude", "channels": channels},
            )
            _problem(r, 422, "validation_error", field)
    # …and no other input can collide: no parameter or top-level body field is named like an app dependency
    dependencies = set(_app().dependencies)
    clashes = []
    for route, handler in _routes():
        for name, param in handler.parsed_fn_signature.parameters.items():
            if name == "data" and isinstance(param.annotation, type) and issubclass(param.annotation, msgspec.Struct):
                fields = set(param.annotation.__struct_encode_fields__)
                clashes += [f"{route.path} body {f}" for f in fields & dependencies]
    assert not clashes, clashes


def _id_paths() -> list[tuple[str, HTTPRoute, str]]:
    """(method, route, its int path parameter) for every operation with an int id in its path."""
    found: list[tuple[str, HTTPRoute, str]] = []
    for route, handler in _routes():
        if not handler.http_methods - {"HEAD", "OPTIONS"}:  # OPTIONS, or HEAD alone (static files)
            continue
        method = str(sorted(handler.http_methods - {"HEAD", "OPTIONS"})[0])
        found += [(method, route, name) for name, param in route.path_parameters.items() if param.type is int]
    return found


async def test_ids_past_integer_in_any_path_are_validation_errors(api: Api) -> None:
    # SQLite refused a task id past its INTEGER (OverflowError: a 500); three path ids had no bound at all
    id_paths = _id_paths()
    assert any("/picking/tasks/" in route.path for _, route, _ in id_paths), id_paths
    pda = {"authorization": f"Bearer {await _pda_token(api)}"}
    async with api.client() as admin:
        for method, route, name in id_paths:
            for big in (2**31, 2**63, 10**30):
                path = route.path
                for other, param in route.path_parameters.items():
                    value = str(big) if other == name else ("1" if param.type is int else "x")
                    path = path.replace(f"{{{param.full}}}", value)
                headers = pda if path.startswith("/pda/") else {}
                kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
                r = await admin.request(method, path, headers=headers, **kwargs)
                _problem(r, 422, "validation_error")


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


async def test_openapi_documents_the_real_error_answers(store: Hub) -> None:
    async with httpx.AsyncClient(base_url=store.url, timeout=30) as anon:
        r = await anon.get("/schema/openapi.json")
    assert r.status_code == 200
    schema = r.json()

    def codes(op: dict[str, Any], status: int) -> set[str]:
        answer = op["responses"].get(str(status))
        assert answer is not None, (op.get("operationId"), status)
        assert list(answer["content"]) == [PROBLEM], answer
        body = _resolve(schema, answer["content"][PROBLEM]["schema"])
        assert {"code", "message", "field", "status"} <= set(body["properties"])
        return set(body["properties"]["code"]["enum"])

    operations = 0
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            operations += 1
            for status, answer in op["responses"].items():  # no error answer in litestar's own (untrue) shape
                if status.startswith("4"):
                    assert list(answer.get("content") or {PROBLEM: 0}) == [PROBLEM], (path, method, status)
            if path.startswith("/api/v1/") and path != "/api/v1/auth/login":
                assert "unauthenticated" in codes(op, 401), (path, method)
            if "{" in path:
                assert "not_found" in codes(op, 404), (path, method)
            if method in ("post", "put", "patch", "delete"):
                assert "conflict" in codes(op, 409), (path, method)
            if op.get("parameters") or op.get("requestBody"):
                assert "validation_error" in codes(op, 422), (path, method)
    assert operations > 100
    users = schema["paths"]["/api/v1/users"]["post"]
    assert "forbidden" in codes(users, 403)
    login = schema["paths"]["/api/v1/auth/login"]["post"]
    assert "invalid_credentials" in codes(login, 401)
    assert {"json_too_deep", "bad_request"} <= codes(login, 400)
