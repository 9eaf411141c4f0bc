"""The published list of error codes: ``python -m server.errors_doc`` writes ``docs/errors.md``.

The codes come from the catalogues (every ``orderhub/**/errors.py`` declares its context's
:class:`~orderhub.errors.ErrorCode`); each code's HTTP status comes from the app's one mapping
(:func:`server.app.status_for`), applied to the error classes the code is raised with — found by reading the
production code (``raise NotFound(PickingError.TASK_NOT_FOUND)``, ``code=…`` keywords, each class's default code),
plus the statuses the app's own handlers answer with. ``tests/unit/test_error_catalogue.py`` fails when the file
is out of date.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections import defaultdict
from pathlib import Path

import orderhub
from orderhub.errors import ErrorCode, OrderHubError, catalogues

__all__ = ["DOC", "PRODUCTION", "ROOT", "code_list", "load_catalogues", "production_files", "render", "statuses"]

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "errors.md"
# The packages whose code answers API requests (or runs behind them).
PRODUCTION = ("server", "orderhub", "api", "pda", "miniprogram_api", "realtime", "notify")


def load_catalogues() -> list[type[ErrorCode]]:
    """Import every context's ``errors`` module; every catalogue, the common ones first."""
    package = Path(orderhub.__file__).resolve().parent
    for path in sorted(package.rglob("errors.py")):
        importlib.import_module(".".join(("orderhub", *path.relative_to(package).with_suffix("").parts)))
    return sorted(catalogues(), key=lambda c: (c.__module__ != "orderhub.errors", c.__module__, c.__qualname__))


def code_list() -> list[ErrorCode]:
    """Every code, catalogue by catalogue."""
    return [member for catalogue in load_catalogues() for member in catalogue]


def production_files() -> list[Path]:
    return sorted(path for package in PRODUCTION for path in (ROOT / package).rglob("*.py"))


def _error_classes() -> dict[str, type[OrderHubError]]:
    found: dict[str, type[OrderHubError]] = {}
    pending: list[type[OrderHubError]] = [OrderHubError]
    while pending:
        cls = pending.pop()
        if found.setdefault(cls.__name__, cls) is not cls:  # raise sites are read by the class's name
            raise RuntimeError(f"two error classes are named {cls.__name__}: rename one")
        pending.extend(cls.__subclasses__())
    return found


def statuses() -> dict[ErrorCode, set[int]]:
    """Each code's HTTP statuses (a code raised with two classes may answer with two). Codes recorded on a resource
    rather than answered (a notification's ``error_code``, a pull run's errors) have none."""
    from orderhub.picking.errors import ScanRefusal
    from pda.controllers import REFUSAL_STATUS
    from server import app  # imports every transport, hence every error class

    members = {(cat.__name__, member.name): member for cat in load_catalogues() for member in cat}
    classes = _error_classes()
    found: dict[ErrorCode, set[int]] = defaultdict(set)
    for cls in classes.values():
        found[cls.code].add(app.status_for(cls))
    for code, _ in app._HTTP_CODES.values():
        found[code].update(status for status, (c, _) in app._HTTP_CODES.items() if c == code)
    for member in members.values():
        if isinstance(member, ScanRefusal):
            found[member].add(REFUSAL_STATUS)

    def member_of(node: ast.expr) -> ErrorCode | None:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return members.get((node.value.id, node.attr))
        return None

    for path in production_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in classes:
                given = next((member_of(k.value) for k in node.keywords if k.arg == "code"), None)
                given = given or (member_of(node.args[0]) if node.args else None)
                found[given or classes[name].code].add(app.status_for(classes[name]))
            elif name == "_problem" and len(node.args) > 2 and isinstance(node.args[1], ast.Constant):
                answered = member_of(node.args[2])
                if answered is not None and isinstance(node.args[1].value, int):
                    found[answered].add(node.args[1].value)
    return dict(found)


def _status_text(code: ErrorCode, found: dict[ErrorCode, set[int]]) -> str:
    from server import app

    if code == app._HTTP_OTHER[0]:
        return "other"
    return " / ".join(str(s) for s in sorted(found.get(code, ()))) or "—"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    found = statuses()
    cats = load_catalogues()
    total = sum(len(c) for c in cats)
    lines = [
        "# Error codes",
        "",
        "<!-- Generated by `python -m server.errors_doc` from the catalogues (`orderhub/**/errors.py`) and the",
        "     status mapping in `server/app.py`. Do not edit by hand (tests/unit/test_error_catalogue.py checks). -->",
        "",
        "Every refusal is answered as `application/problem+json` with a stable English `code` (clients branch on it),",
        "a zh-CN `message` (people read it) and, when one input is at fault, its `field`. The message below is the",
        "code's default; many answers carry a more specific text (which order, which SKU …). A code raised with two",
        "kinds of error lists both statuses; `—` marks a code recorded on a resource (a notification, a pull run,",
        "an import job) rather than answered. A carrier's or a platform's own code travels separately as",
        "`carrier_code` / `platform_code` (vendor data, not listed here).",
        "",
        f"{total} codes in {len(cats)} catalogues. Each context declares its codes next to its code, in its",
        "`errors.py` (see `orderhub/errors.py`).",
    ]
    for cat in cats:
        summary = (cat.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        lines += [
            "",
            f"## `{cat.__module__}.{cat.__qualname__}`",
            "",
            summary,
            "",
            "| code | HTTP | zh-CN message | description |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{m.value}` | {_status_text(m, found)} | {_cell(m.message)} | {_cell(m.description)} |" for m in cat
        ]
    lines += [
        "",
        "A handheld scan that goes through answers 200 with `code` `ok`, or `line_withdrawn` when the order was",
        "withdrawn meanwhile (`orderhub.picking.errors.ScanOutcome`).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {DOC.relative_to(ROOT)}\n")


if __name__ == "__main__":
    main()
