"""Layering: no import cycles in fakescope, counted strictly; the generic report never imports a protocol.

The graph is read from the source with :mod:`ast`. Every import statement counts,
wherever it is: at module level, under ``if TYPE_CHECKING:``, inside a function or a
class body. ``from pkg import name`` depends on ``pkg`` and on ``pkg.name`` when that
is a module; and importing any module runs the ``__init__`` of every package above
it, so an import of ``pkg.sub.mod`` is also an edge to ``pkg.sub`` and ``pkg``. Only
fakescope modules are nodes: a lazy import of a third-party library is no edge. A lazy
import of our own module that closes a cycle is a layering error, not an excuse.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fakescope

SRC = Path(fakescope.__file__).parent

#: Registry -> the catalog module that fills it: every module registering into it
#: (``@NAME.register(...)``) must be reachable from its catalog.
CATALOGS = {
    "DETECTORS": "fakescope.detectors.catalog",
    "LOSSES": "fakescope.losses.catalog",
    "register_backbone": "fakescope.models.catalog",
    "LAYOUTS": "fakescope.data.layouts.catalog",
    "PROTOCOLS": "fakescope.eval.catalog",
    "SCORERS": "fakescope.ood.catalog",
    "GENERATORS": "fakescope.forge.generators.catalog",
    "STRATEGIES": "fakescope.continual.catalog",
}


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(src: Path = SRC) -> dict[str, Path]:
    """Every module of the package rooted at ``src``, by dotted name."""
    return {module_name(p, src): p for p in sorted(src.rglob("*.py"))}


def ancestors(name: str) -> list[str]:
    """The packages whose ``__init__`` runs before ``name``: ``a.b.c`` -> ``a``, ``a.b``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that importing ``name`` may import: every import statement
    anywhere in the file, plus the packages above each imported module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    targets: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    out = {t for t in targets if t in known}
    out |= {a for t in out for a in ancestors(t) if a in known}
    return out - {name}


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    found = modules(src)
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


def test_the_parser_sees_every_import(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import fakescope.errors\n"
        "from . import registry\n"
        "if TYPE_CHECKING:\n    from fakescope.eval import report\n"
        "def f():\n    import fakescope.inference.scan\n    import torch\n"
        "try:\n    from fakescope.config import load_config\nexcept ImportError:\n    pass\n"
        "class A:\n    from fakescope.eval.metrics import AUC\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    got = imports_of("fakescope.probe", path, set(modules()))
    assert got == {
        "fakescope",
        "fakescope.errors",
        "fakescope.registry",
        "fakescope.config",
        "fakescope.eval",  # the package of every eval module below
        "fakescope.eval.report",  # under TYPE_CHECKING
        "fakescope.eval.metrics",  # in a class body
        "fakescope.inference",  # the package of ...
        "fakescope.inference.scan",  # ... a function-local import
    }


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_every_kind_of_hidden_import_closes_a_planted_cycle(tmp_path: Path) -> None:
    """A TYPE_CHECKING import, a function-local import and a package ``__init__`` that fills a
    registry each close a cycle; a lazy third-party import is no node, so closes none."""
    write_tree(
        tmp_path,
        {
            "toy/__init__.py": "",
            # a -> b at module level, b -> a only for type checking
            "toy/tc_a.py": "import toy.tc_b\n",
            "toy/tc_b.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from toy import tc_a\n",
            # a -> b at module level, b -> a inside a function
            "toy/lazy_a.py": "from toy.lazy_b import g\n",
            "toy/lazy_b.py": "def g():\n    from toy.lazy_a import x\n    return x\n",
            # the package imports its plug-in; the plug-in imports a sibling, so the package
            "toy/reg/__init__.py": "from toy.reg import plugin\n",
            "toy/reg/base.py": "REG = {}\n",
            "toy/reg/plugin.py": "from toy.reg.base import REG\n",
            # a lazy import of a third-party library that shares a name with nothing here
            "toy/heavy.py": "import toy.light\ndef f():\n    import numpy\n    import torch\n",
            "toy/light.py": "def g():\n    import numpy\n",
        },
    )
    graph = import_graph(tmp_path / "toy")
    assert graph["toy.heavy"] == {"toy", "toy.light"}
    assert graph["toy.reg.plugin"] == {"toy", "toy.reg", "toy.reg.base"}
    assert cycles(graph) == [
        ["toy.lazy_a", "toy.lazy_b"],
        ["toy.reg", "toy.reg.plugin"],
        ["toy.tc_a", "toy.tc_b"],
    ]


def test_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_fakescope() -> None:
    graph = import_graph()
    assert "fakescope.eval.report" in graph and len(graph) > 50
    assert cycles(graph) == []


def test_lower_layers_never_reach_higher_ones() -> None:
    """detectors never reach eval, ood, inference's bundle-level modules, bundle, cli or serve;
    the plug-in packages below detectors never reach detectors; eval never reaches the CLI."""
    graph = import_graph()

    def under(*packages: str) -> set[str]:
        return {m for m in graph if any(m == p or m.startswith(p + ".") for p in packages)}

    higher = under("fakescope.eval", "fakescope.ood", "fakescope.cli", "fakescope.serve")
    higher |= {"fakescope.bundle", "fakescope.inference.verdict", "fakescope.inference.scan"}
    for low in sorted(under("fakescope.detectors")):
        assert not reachable(graph, low) & higher, (low, sorted(reachable(graph, low) & higher))
    detectors = under("fakescope.detectors")
    for low in sorted(under("fakescope.models", "fakescope.losses", "fakescope.data")):
        assert not reachable(graph, low) & detectors, low
    for low in sorted(under("fakescope.eval", "fakescope.ood", "fakescope.inference")):
        assert not reachable(graph, low) & under("fakescope.cli", "fakescope.serve"), low


def test_each_catalog_reaches_every_plugin_of_its_registry() -> None:
    """A plug-in the catalog misses would be silently absent from its filled registry."""
    graph = import_graph()
    for name, path in modules().items():
        text = path.read_text()
        for registry, catalog in CATALOGS.items():
            if f"@{registry}.register(" in text or f"@{registry}(" in text:
                assert name in reachable(graph, catalog), (registry, name, catalog)


def test_report_never_imports_a_protocol_module() -> None:
    """The generic report takes sections; it must not depend on any protocol (or their registry),
    not even lazily, inside a function (what report.py once did for attribution)."""
    graph = import_graph()
    found = modules()
    protocol_modules = {
        name for name, path in found.items() if "PROTOCOLS.register" in path.read_text()
    } | {"fakescope.eval.protocols", "fakescope.eval.catalog"}
    assert {"fakescope.eval.attribution", "fakescope.eval.generalisation"} <= protocol_modules
    for low_level in ("fakescope.eval.report", "fakescope.eval.sections"):
        assert not reachable(graph, low_level) & protocol_modules, low_level


def test_results_and_results_page_import_one_way() -> None:
    graph = import_graph()
    assert "fakescope.eval.results" in graph["fakescope.eval.results_page"]
    # not even through a forwarding function
    assert "fakescope.eval.results_page" not in reachable(graph, "fakescope.eval.results")
