"""No statement is built from an unbounded list (issue 22, part 3).

A list that grows with the day's data (the ready orders of a peak, a batch's lines, a day's events) bound into one
``IN (…)`` makes a statement with one parameter per item: past PostgreSQL's 32,767 (or SQLite's 32,766) it fails,
and well before that it is one huge statement holding its locks. The engine refuses any statement over
``db.MAX_PARAMS`` at run time (``orderhub.db.BoundedPostgresEngine``, tests/integration/test_statement_bound.py);
this scan finds such lists in the source before a peak does.

Every piccolo ``.is_in(…)`` / ``.not_in(…)`` must be one of:

* over a literal (``[a, b]``, ``(x,)``), a constant (``OPEN_STATUSES``, ``Wave.STATUSES``), or a comprehension
  over one of those (an enum's members);
* inside ``for part in db.chunks(…)`` (or ``chunks(…)``), the loop that binds the list a slice at a time;
* on a line (of the call) carrying ``# bounded: <why>``, saying why the list cannot grow with the data, e.g.
  ``# bounded: one order's lines (≤ MAX_LINES)``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orderhub", "server", "api", "pda", "notify", "realtime", "miniprogram_api")
METHODS = {"is_in", "not_in"}
BOUNDED = re.compile(r"#\s*bounded:\s*\S")
CONSTANT = re.compile(r"^_?[A-Z][A-Z0-9_]*$")


# Calls in files being rewritten when this scan was written (issue 22): each is bounded for the reason given, which
# belongs on the call's line as `# bounded: …` — move it there (and drop the entry) when the file is next edited.
PENDING: dict[tuple[str, str], str] = {}


def _is_chunks(call: ast.expr) -> bool:
    if not isinstance(call, ast.Call):
        return False
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name == "chunks"


def _is_constant(node: ast.expr) -> bool:
    """A module or class constant: ``NAME`` or ``something.NAME`` in capitals, or an enum class (``list(Enum)``)."""
    if isinstance(node, ast.Name):
        return bool(CONSTANT.match(node.id))
    if isinstance(node, ast.Attribute):
        return bool(CONSTANT.match(node.attr))
    return False


def _is_subquery(node: ast.expr) -> bool:
    """``Table.select(…).where(…)``: a sub-select binds its own few parameters, not one per row it yields."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "select":
            return True
        node = node.func.value
    return False


def _obviously_bounded(arg: ast.expr) -> bool:
    if isinstance(arg, ast.List | ast.Tuple | ast.Set):
        return not any(isinstance(element, ast.Starred) for element in arg.elts)
    if _is_constant(arg):
        return True
    if isinstance(arg, ast.ListComp | ast.SetComp | ast.GeneratorExp):
        return all(_is_constant(gen.iter) or _obviously_bounded(gen.iter) for gen in arg.generators)
    if _is_subquery(arg):
        return True
    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id in {"list", "tuple", "set"}:
        return len(arg.args) == 1 and (_is_constant(arg.args[0]) or _obviously_bounded(arg.args[0]))
    return False


class _Scan(ast.NodeVisitor):
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.chunked = 0  # depth of enclosing `for … in chunks(…)` loops
        self.hits: list[tuple[int, str]] = []

    def _loop(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        inside = _is_chunks(node.iter)
        self.chunked += inside
        for child in (node.target, *node.body, *node.orelse):
            self.visit(child)
        self.chunked -= inside

    visit_For = _loop
    visit_AsyncFor = _loop

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        inside = 0  # a generator's iterable is evaluated inside the generators before it
        for gen in node.generators:
            self.visit(gen.iter)
            if _is_chunks(gen.iter):
                inside += 1
                self.chunked += 1
            for cond in gen.ifs:
                self.visit(cond)
        if isinstance(node, ast.DictComp):
            self.visit(node.key)
            self.visit(node.value)
        else:
            self.visit(node.elt)
        self.chunked -= inside

    visit_ListComp = _comprehension
    visit_SetComp = _comprehension
    visit_GeneratorExp = _comprehension
    visit_DictComp = _comprehension

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in METHODS and node.args and not self.chunked:
            span = self.lines[node.lineno - 1 : (node.end_lineno or node.lineno)]
            if not _obviously_bounded(node.args[0]) and not any(BOUNDED.search(line) for line in span):
                self.hits.append((node.lineno, ast.unparse(node)[:100]))
        self.generic_visit(node)


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def unbounded_calls() -> list[str]:
    found: list[str] = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        if ".is_in(" not in text and ".not_in(" not in text:
            continue
        scan = _Scan(text.splitlines())
        scan.visit(ast.parse(text, filename=str(path)))
        where = str(path.relative_to(ROOT))
        found += [f"{where}:{line}: {code}" for line, code in scan.hits if (where, code) not in PENDING]
    return found


def test_no_in_list_is_built_from_an_unbounded_list() -> None:
    hits = unbounded_calls()
    assert not hits, (
        "an IN (…) list that may grow with the data: bind it `for part in db.chunks(items)` at a time, or say why "
        "it cannot grow with `# bounded: <why>` on the call's line:\n" + "\n".join(hits)
    )


def _hits_in(source: str) -> list[int]:
    scan = _Scan(source.splitlines())
    scan.visit(ast.parse(source))
    return [line for line, _ in scan.hits]


def test_the_scan_tells_bounded_from_unbounded() -> None:
    source = """
async def f(ids, order):
    await Order.select().where(Order.id.is_in(ids))
    await Order.select().where(Order.status.is_in([a, b]))
    await Order.select().where(Order.status.not_in(OPEN_STATUSES))
    await Order.select().where(Order.status.is_in([s.value for s in OrderStatus.OPEN]))
    await Line.select().where(Line.id.is_in(order.line_ids))  # bounded: one order's lines
    for part in db.chunks(ids):
        await Order.select().where(Order.id.is_in(part))
    rows = [r async for part in chunks(ids) for r in await Order.select().where(Order.id.is_in(list(part)))]
    await Order.select().where(Order.id.is_in([*ids]))
    await Order.select().where(Order.id.is_in(
        ids,
    ))
    await Line.select().where(Line.order.is_in(Order.select(Order.id).where(Order.warehouse == w)))
"""
    assert _hits_in(source) == [3, 11, 12]
