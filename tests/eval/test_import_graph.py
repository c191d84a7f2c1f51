"""Layering: no import cycles in fakescope; the generic report never imports a protocol.

The graph is read from the source with :mod:`ast`: module-level imports only
(also inside top-level ``if``/``try`` and class bodies), not imports inside
functions nor under ``if TYPE_CHECKING:``. ``from pkg import name`` depends on
``pkg`` (its ``__init__`` runs first) and on ``pkg.name`` when that is a module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import fakescope

SRC = Path(fakescope.__file__).parent
PACKAGE = "fakescope"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for part in (node.body, node.orelse, node.finalbody):
                yield from _module_level(part)
            for handler in node.handlers:
                yield from _module_level(handler.body)
        elif isinstance(node, ast.ClassDef | ast.With):
            yield from _module_level(node.body)


def imports_of(name: str, path: Path, known: set[str], *, everywhere: bool = False) -> set[str]:
    """The fakescope modules ``name`` imports at module level (``everywhere``: also in functions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    nodes = (
        [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        if everywhere
        else list(_module_level(tree.body))
    )
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        out |= {t for t in targets if t in known and t != name}
    return out


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for w in graph[todo.pop()] - seen:
            seen.add(w)
            todo.append(w)
    return seen


def test_the_parser_sees_module_level_imports_only(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import fakescope.errors\n"
        "from . import registry\n"
        "if TYPE_CHECKING:\n    from fakescope.eval import report\n"
        "def f():\n    import fakescope.inference.scan\n"
        "try:\n    from fakescope.config import load_config\nexcept ImportError:\n    pass\n"
        "class A:\n    from fakescope.eval.metrics import AUC\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    known = set(modules())
    got = imports_of("fakescope.probe", path, known)
    expected = {"fakescope", "fakescope.errors", "fakescope.registry", "fakescope.config"}
    assert got == expected | {"fakescope.eval.metrics"}
    everything = imports_of("fakescope.probe", path, known, everywhere=True)
    assert everything == got | {
        "fakescope.inference.scan",
        "fakescope.eval",
        "fakescope.eval.report",
    }


def test_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_fakescope() -> None:
    graph = import_graph()
    assert "fakescope.eval.report" in graph and len(graph) > 50
    assert cycles(graph) == []


def test_report_never_imports_a_protocol_module() -> None:
    """The generic report takes sections; it must not depend on any protocol (or their registry)."""
    graph = import_graph()
    found = modules()
    protocol_modules = {
        name for name, path in found.items() if "PROTOCOLS.register" in path.read_text()
    } | {"fakescope.eval.protocols"}
    assert {"fakescope.eval.attribution", "fakescope.eval.generalisation"} <= protocol_modules
    known = set(found)
    for low_level in ("fakescope.eval.report", "fakescope.eval.sections"):
        assert not reachable(graph, low_level) & protocol_modules, low_level
        assert "fakescope.eval" not in reachable(graph, low_level)  # the package imports them
        # not even lazily, inside a function (what report.py once did for attribution)
        direct = imports_of(low_level, found[low_level], known, everywhere=True)
        lazy = set().union(*(reachable(graph, m) | {m} for m in direct))
        assert not lazy & protocol_modules, (low_level, lazy & protocol_modules)


def test_results_and_results_page_import_one_way() -> None:
    graph = import_graph()
    assert "fakescope.eval.results" in graph["fakescope.eval.results_page"]
    assert "fakescope.eval.results_page" not in reachable(graph, "fakescope.eval.results")
    path = modules()["fakescope.eval.results"]
    lazy = imports_of("fakescope.eval.results", path, set(modules()), everywhere=True)
    assert "fakescope.eval.results_page" not in lazy  # no forwarding function either
