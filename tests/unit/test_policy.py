"""The policy table (orderhub/auth/policy.py): well-formed, and the one docs/back-office.md shows. That the app
enforces it on every route is tests/integration/test_authorization.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orderhub.auth.policy import POLICY, Rule, Scope, check_role, check_scope, check_warehouse, rule_for, with_table
from orderhub.auth.service import Role
from orderhub.errors import PermissionDenied

DOC = Path(__file__).resolve().parents[2] / "docs" / "back-office.md"
KEY = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|WEBSOCKET) /[^ ]*$")


def test_docs_show_the_table() -> None:
    doc = DOC.read_text()
    assert with_table(doc) == doc, "docs/back-office.md is stale: run python -m orderhub.auth.policy"


def test_every_rule_is_well_formed() -> None:
    for key, rule in POLICY.items():
        assert KEY.match(key), key
        assert rule.roles, key
        if rule.scope is Scope.WAREHOUSE:
            assert rule.warehouse in ("path", "query", "body", "order", "channel", "record", "filter"), key
            if rule.warehouse == "path":
                assert "{warehouse}" in key, key
        else:
            assert rule.warehouse == "", key
        if key.startswith("/pda/", key.index(" ") + 1):
            assert rule.scope in (Scope.DEVICE, Scope.PUBLIC), key


def test_a_picker_on_a_handheld_picks_and_does_not_pack() -> None:
    for key, rule in POLICY.items():
        if key.startswith(("POST /pda/v1/pack", "GET /pda/v1/pack", "POST /pda/v1/waves", "GET /pda/v1/waves")):
            assert not rule.allows(Role.PICKER), key
            assert rule.allows(Role.PACKER), key
    assert POLICY["POST /pda/v1/scans"].allows(Role.PICKER)


def test_unknown_operations_are_refused_and_the_schema_is_public() -> None:
    with pytest.raises(PermissionDenied):
        check_role(rule_for("GET", "/api/v1/no-such-thing"), Role.ADMIN, "GET /api/v1/no-such-thing")
    schema = rule_for("GET", "/schema/openapi.json")
    assert schema is not None and schema.scope is Scope.PUBLIC
    assert rule_for("POST", "/schema/openapi.json") is None


def test_scope_checks() -> None:
    hub_wide = Rule(frozenset({Role.MANAGER}), Scope.GLOBAL)
    check_scope(hub_wide, None, {})
    with pytest.raises(PermissionDenied) as refused:
        check_scope(hub_wide, "WH-A", {})
    assert refused.value.code == "forbidden_global"
    by_path = Rule(frozenset({Role.MANAGER}), Scope.WAREHOUSE, "path")
    check_scope(by_path, "WH-A", {"warehouse": "WH-A"})
    with pytest.raises(PermissionDenied) as refused:
        check_scope(by_path, "WH-A", {"warehouse": "WH-B"})
    assert (refused.value.code, refused.value.field) == ("forbidden_warehouse", "warehouse")
    check_warehouse(None, 7, field="code")
    check_warehouse(7, 7, field="code")
    for other in (8, None):  # another warehouse's channel, or one of no warehouse (hub-wide)
        with pytest.raises(PermissionDenied) as refused:
            check_warehouse(7, other, field="code")
        assert refused.value.code == "forbidden_warehouse"
