"""Every operation in the OpenAPI document says what it does: a real summary (not litestar's default, the handler's
name in CamelCase such as "ListAll" or "GetOne") and a description."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from orderhub.settings import Settings
from server.app import create_app

_METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # Building the app opens nothing (Redis and the database are opened by the lifespan, which does not run here).
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("openapi")), redis_url="redis://127.0.0.1:1/0", secret_key="k" * 32
    )
    return create_app(settings).openapi_schema.to_schema()


def _operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in _METHODS
    ]


def test_the_document_has_the_operations(schema: dict[str, Any]) -> None:
    assert len(_operations(schema)) > 100


def test_every_operation_has_a_real_summary(schema: dict[str, Any]) -> None:
    default = re.compile(r"[A-Z][A-Za-z0-9]*")  # litestar's fallback: the handler's name, camelized
    missing = [name for name, op in _operations(schema) if default.fullmatch(op.get("summary") or "")]
    assert not missing, f"operations without a summary: {missing}"
    short = [name for name, op in _operations(schema) if len(op["summary"]) < 8 or " " not in op["summary"]]
    assert not short, f"summaries that say nothing: {short}"


def test_every_operation_has_a_description(schema: dict[str, Any]) -> None:
    missing = [name for name, op in _operations(schema) if len((op.get("description") or "").strip()) < 20]
    assert not missing, f"operations without a description: {missing}"


def test_a_description_says_more_than_its_summary(schema: dict[str, Any]) -> None:
    same = [
        name for name, op in _operations(schema) if op["description"].strip().rstrip(".") == op["summary"].rstrip(".")
    ]
    assert not same, f"descriptions that repeat the summary: {same}"
