"""Document the error answers every operation really gives in the OpenAPI, once for the whole app.

Each operation lists the problem+json answers it can give — 400 (a malformed body), 401 (no or bad credentials),
403 (role or scope), 404 (a named resource missing), 409 (a state conflict), 422 (an invalid field) — each with the
catalogue's codes that answer with that status (:func:`server.errors_doc.statuses`). Which of them an operation
gives follows from its shape: a body, authentication, guards, path parameters, a changing method, parameters.
The codes are read lazily, when the schema is first built, so starting a process costs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, Literal

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute

from api.security import authorize
from orderhub.auth.policy import ANYONE, Scope, rule_for

__all__ = ["DOCUMENTED", "document_errors", "error_statuses"]

PROBLEM_JSON = "application/problem+json"
DOCUMENTED = (400, 401, 403, 404, 409, 422)
_DESCRIPTIONS = {
    400: "The request is malformed (not JSON, JSON nested too deep …)",
    401: "Not authenticated: no, an expired or a wrong credential (token, device session, signature, password)",
    403: "Authenticated, but this role or warehouse may not do this",
    404: "A resource named in the request does not exist",
    409: "The request conflicts with the resource's state (a duplicate, a wrong status, no stock …)",
    422: "A field is invalid; `field` names it",
}
# Operations anyone may call without any credential (the others answer 401 without one, or check their own).
_OPEN = re.compile(r"^/(healthz|readyz|metrics|schema(/.*)?|t/.*)$")
_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# Handler parameters that are not input (litestar's reserved names and the app's dependencies are added).
_NOT_INPUT = {"request", "socket", "scope", "state", "headers", "cookies", "query", "body", "self"}


@cache
def _codes_by_status() -> dict[int, tuple[str, ...]]:
    from server.errors_doc import statuses

    found: dict[int, set[str]] = {status: set() for status in DOCUMENTED}
    for code, answered in statuses().items():
        for status in answered & set(DOCUMENTED):
            found[status].add(str(code))
    return {status: tuple(sorted(codes)) for status, codes in found.items()}


@cache
def _problem_type(status: int) -> type[msgspec.Struct]:
    codes = _codes_by_status()[status]
    return msgspec.defstruct(
        f"Problem{status}",
        [
            ("type", str),
            ("title", str),
            ("status", int),
            ("code", Literal[codes] if codes else str),
            ("message", str),
            ("field", str | None),
            ("instance", str),
        ],
        kw_only=True,
    )


def _refusable(handler: HTTPRouteHandler, path: str, methods: set[str]) -> bool:
    """Whether an operation can answer 403: its rule in the policy table (orderhub/auth/policy.py) names roles or a
    scope to check, it has guards of its own, or it runs on a device session."""
    template = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)
    rules = [rule_for(method, template) for method in methods - {"OPTIONS", "HEAD"}]
    limited = any(rule is None or rule.scope is not Scope.PUBLIC or rule.roles != ANYONE for rule in rules)
    own_guards = [g for layer in handler.ownership_layers for g in (layer.guards or []) if g is not authorize]
    return limited or path.startswith("/pda/") or bool(own_guards)


def error_statuses(handler: HTTPRouteHandler, path: str, dependencies: set[str]) -> list[int]:
    """The problem statuses an operation can answer with, from its shape."""
    methods = set(handler.http_methods)
    params = set(handler.parsed_fn_signature.parameters)
    inputs = params - _NOT_INPUT - dependencies
    reads_body = bool(methods & _CHANGING and "request" in params)  # a handler that decodes the body itself
    found = []
    if inputs or reads_body:
        found.append(400)  # (this also replaces litestar's own 400 entry, which claims validation errors: 422 here)
    if not _OPEN.match(path):
        found.append(401)
    if _refusable(handler, path, {getattr(method, "value", method) for method in methods}):
        found.append(403)
    if "{" in path:
        found.append(404)
    if methods & _CHANGING:
        found.append(409)
    if inputs or reads_body:
        found.append(422)
    return found


class _Problems(Mapping[int, ResponseSpec]):
    """An operation's error answers, built when the schema is (the codes come from reading the source)."""

    def __init__(self, statuses: list[int], own: Mapping[int, ResponseSpec] | None) -> None:
        self._statuses = statuses
        self._own = dict(own or {})

    def _all(self) -> dict[int, ResponseSpec]:
        specs = {
            status: ResponseSpec(
                data_container=_problem_type(status),
                description=_DESCRIPTIONS[status],
                media_type=PROBLEM_JSON,
                generate_examples=False,
            )
            for status in self._statuses
        }
        return specs | self._own

    def __getitem__(self, status: int) -> ResponseSpec:
        return self._all()[status]

    def __iter__(self) -> Iterator[int]:
        return iter(self._statuses + [s for s in self._own if s not in self._statuses])

    def __len__(self) -> int:
        return len(set(self._statuses) | set(self._own))


def document_errors(app: Litestar) -> None:
    """Give every operation in the schema its error answers (a handler's own ``responses`` win)."""
    dependencies = set(app.dependencies)
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema() or handler.http_methods == {"OPTIONS"}:
                continue
            statuses = error_statuses(handler, route.path, dependencies)
            responses: Any = _Problems(statuses, handler.responses)
            handler.responses = responses
