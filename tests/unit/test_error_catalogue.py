"""The error codes the API can return form one catalogue: each context declares its codes (``orderhub/**/errors.py``,
an :class:`~orderhub.errors.ErrorCode` per context), every code is unique across contexts and has a zh-CN message,
no production code passes a code as a string literal, and ``docs/errors.md`` is the generated list."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TypeVar

from orderhub.errors import ErrorCode, OrderHubError
from orderhub.notifications.port import NotifyError
from orderhub.picking.errors import REFUSAL_FIELDS, ScanRefusal, refusal_field
from server import app, errors_doc

E = TypeVar("E")
CJK = re.compile(r"[\u4e00-\u9fff]")
CODE = re.compile(r"^[a-z][a-z0-9_]*$")

# Calls whose ``code=`` is not one of our error codes, so a literal is right there:
NOT_ERROR_CODES = {
    "Notice",  # a notification type (orderhub.notifications.templates)
    "Retired",  # an administrative division code (orderhub.address.divisions)
    "CarrierEntry",  # a carrier's code in the carrier catalogue (SF, ZTO …)
    "PlatformEntry",  # a platform's code in the platform catalogue (taobao, jd …)
    "NewWarehouse",  # demo data (server/demo/seed.py): a warehouse's code
}


def _subclasses(cls: type[E]) -> list[type[E]]:
    """The class and every subclass."""
    found: list[type[E]] = [cls]
    for sub in cls.__subclasses__():
        found += _subclasses(sub)
    return found


# Vendor data, deliberately not checked: a carrier's or a platform's own code travels as ``carrier_code=`` /
# ``platform_code=`` (other keywords, so never matched below), and a notifier's error (NotifyError and its
# subclasses) carries the provider's code as it came (e.g. 微信 "43101", 阿里云 "isv.BUSINESS_LIMIT_CONTROL").
VENDOR_CODES = {cls.__name__ for cls in _subclasses(NotifyError)}


def _codes() -> list[ErrorCode]:
    return errors_doc.code_list()


def test_every_context_declares_a_catalogue() -> None:
    modules = {cat.__module__ for cat in errors_doc.load_catalogues()}
    for context in ("orders", "picking", "inventory", "logistics", "notifications", "auth", "channels", "catalog"):
        assert f"orderhub.{context}.errors" in modules
    assert "orderhub.errors" in modules  # the common codes and the app's own


def test_catalogues_import_only_the_platform_errors() -> None:
    for path in sorted((errors_doc.ROOT / "orderhub").rglob("errors.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {node.module or "." for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        allowed = {"__future__", "enum", "typing"} | ({"orderhub.errors"} if path.parent.name != "orderhub" else set())
        assert imported <= allowed, f"{path.relative_to(errors_doc.ROOT)} imports {sorted(imported - allowed)}"


def test_codes_are_unique_across_contexts() -> None:
    for cat in errors_doc.load_catalogues():
        aliases = [name for name, member in cat.__members__.items() if member.name != name]
        assert not aliases, f"{cat.__name__}: {aliases} repeat another member's code"
    seen: dict[str, str] = {}
    for code in _codes():
        owner = f"{type(code).__module__}.{type(code).__name__}"
        assert code.value not in seen, f"{code.value!r} is declared by {seen[code.value]} and {owner}"
        seen[code.value] = owner
    assert len(seen) >= 100


def test_each_code_has_a_zh_cn_message_and_a_description() -> None:
    for code in _codes():
        assert CODE.match(code.value), code.value
        assert code.message.strip() and CJK.search(code.message), f"{code.value}: no zh-CN message"
        assert code.description.strip() and "\n" not in code.description, f"{code.value}: no one-line description"


def test_every_error_class_has_a_catalogued_code_and_its_message() -> None:
    errors_doc.statuses()  # imports every transport, hence every error class
    known = set(_codes())
    for cls in _subclasses(OrderHubError):
        assert isinstance(cls.code, ErrorCode) and cls.code in known, f"{cls.__qualname__}.code is not catalogued"
        assert CJK.search(cls.default_message), cls.__qualname__


def test_a_code_raises_with_its_default_or_a_specific_message() -> None:
    error = OrderHubError(ScanRefusal.WRONG_ITEM, field="barcode")
    assert (error.code, error.message, error.field) == ("wrong_item", ScanRefusal.WRONG_ITEM.message, "barcode")
    error = OrderHubError("别的说明", code=ScanRefusal.WRONG_ITEM)
    assert (error.code, error.message) == ("wrong_item", "别的说明")
    assert OrderHubError().code == "error"


def test_refusals_name_the_input_at_fault() -> None:
    assert set(REFUSAL_FIELDS) <= set(ScanRefusal)
    assert refusal_field("wrong_location") == "location"
    assert refusal_field("weight_mismatch") == "weight_g"
    assert refusal_field("wrong_item") == "barcode"


def _literal(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def test_no_code_is_a_string_literal_in_production_code() -> None:
    found: list[str] = []
    for path in errors_doc.production_files():
        where = path.relative_to(errors_doc.ROOT)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name in NOT_ERROR_CODES or name in VENDOR_CODES:
                    continue
                if any(k.arg == "code" and _literal(k.value) for k in node.keywords):
                    found.append(f"{where}:{node.lineno} {name}(code=…)")
                if name == "_problem" and len(node.args) > 2 and _literal(node.args[2]):
                    found.append(f"{where}:{node.lineno} _problem(…, code)")
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if _literal(key) and key.value == "code" and _literal(value):  # type: ignore[union-attr]
                        found.append(f"{where}:{node.lineno} {{'code': …}}")
            elif isinstance(node, ast.ClassDef):  # an error class's own code
                for stmt in node.body:
                    if isinstance(stmt, ast.Assign | ast.AnnAssign) and _literal(stmt.value):
                        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                        if any(isinstance(t, ast.Name) and t.id == "code" for t in targets):
                            found.append(f"{where}:{stmt.lineno} class {node.name}: code = …")
    assert not found, "use a catalogue member (orderhub/<context>/errors.py) instead:\n" + "\n".join(found)


def test_every_catalogued_code_is_used() -> None:
    members = {(type(code).__name__, code.name) for code in _codes()}
    used: set[tuple[str, str]] = set()
    for path in errors_doc.production_files():
        if path.name in ("errors.py", "errors_doc.py"):  # where the codes are declared and listed, not used
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                used.add((node.value.id, node.attr))
    # The hierarchy's own defaults are used where they are declared.
    used |= {(type(cls.code).__name__, cls.code.name) for cls in _subclasses(OrderHubError)}
    assert sorted(members - used) == []


def test_every_code_the_app_answers_with_is_catalogued() -> None:
    known = set(_codes())
    assert set(errors_doc.statuses()) <= known
    assert {code for code, _ in app._HTTP_CODES.values()} <= known


def test_docs_errors_md_is_up_to_date() -> None:
    doc: Path = errors_doc.DOC
    assert doc.exists(), "run: python -m server.errors_doc"
    assert doc.read_text(encoding="utf-8") == errors_doc.render(), "stale: run python -m server.errors_doc"


def test_the_openapi_description_lists_the_codes() -> None:
    description = app._openapi(None).description or ""  # type: ignore[arg-type]
    assert all(f"`{code.value}`" in description for code in _codes())
