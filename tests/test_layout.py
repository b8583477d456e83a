"""The package's layout is its design (docs/architecture.md section 2): the offline side
(``h2mt.index``) never reaches into the per-question side (``h2mt.query``), neither reaches into the
benchmark or the CLI, the backends sit below the query side, and no modules import each other in a
cycle — type-only imports included, since they tie the modules together just as much."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "core"


def _module_files(root: Path, package: str) -> dict[str, Path]:
    out = {}
    for p in root.rglob("*.py"):
        parts = [package, *p.relative_to(root).with_suffix("").parts]
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement: module level, inside functions and under ``if TYPE_CHECKING:``."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (relative imports resolved; ``from .pkg import name``
    points at ``pkg.name`` when that is a module, else at ``pkg``)."""
    files = _module_files(root, package)
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        here = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deps: set[str] = set()
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name in files}
                continue
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            for a in node.names:
                target = f"{base}.{a.name}"
                deps.add(target if target in files else base)
        graph[mod] = {d for d in deps if d in files and d != mod}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(frozenset(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _in(mod: str, pkg: str) -> bool:
    return mod == pkg or mod.startswith(pkg + ".")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(CORE, "h2mt")


def test_import_graph_sees_relative_function_level_and_type_only_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .b import B\n")
    (pkg / "a.py").write_text("from .sub.b import B\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import A\n\nB = 1\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.sub.b"] == {"pkg.a"} and graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.c"] == {"pkg.a"}
    assert import_cycles(graph) == [frozenset({"pkg.a", "pkg.sub.b"})]


def test_core_has_no_import_cycles(graph):
    cycles = import_cycles(graph)
    assert cycles == [], "import cycles in core/: " + "; ".join(" <-> ".join(sorted(c)) for c in cycles)


# (importer package, packages it must never import)
FORBIDDEN = [
    ("h2mt.index", ("h2mt.query", "h2mt.eval", "h2mt.cli", "h2mt.serve", "h2mt.engine", "h2mt.train")),
    ("h2mt.query", ("h2mt.eval", "h2mt.cli", "h2mt.serve", "h2mt.engine", "h2mt.train")),
    ("h2mt.backends", ("h2mt.query", "h2mt.index", "h2mt.eval", "h2mt.cli", "h2mt.serve", "h2mt.engine")),
    ("h2mt.hmt", ("h2mt.query", "h2mt.eval", "h2mt.cli", "h2mt.serve", "h2mt.engine")),
    ("h2mt.serve", ("h2mt.eval", "h2mt.cli")),
    ("h2mt.train", ("h2mt.cli", "h2mt.serve", "h2mt.engine")),
]


@pytest.mark.parametrize("importer, forbidden", FORBIDDEN, ids=[f[0] for f in FORBIDDEN])
def test_imports_point_one_way(graph, importer, forbidden):
    wrong = sorted(f"{m} -> {d}" for m, deps in graph.items() if _in(m, importer)
                   for d in deps if any(_in(d, f) for f in forbidden))
    assert wrong == [], f"{importer} must not import {', '.join(forbidden)}: " + "; ".join(wrong)


def test_direction_check_would_catch_a_wrong_import(graph):
    """The direction test reads the real graph: a made-up edge index -> query is reported."""
    bad = {**graph, "h2mt.index.chunking": graph["h2mt.index.chunking"] | {"h2mt.query.routing"}}
    assert any(_in(d, "h2mt.query") for d in bad["h2mt.index.chunking"])
    assert "h2mt.index.chunking" in graph and "h2mt.query.routing" in graph


def test_every_prefill_mode_has_its_strategy_module():
    from h2mt.config import PrefillMode
    from h2mt.query.prefill.base import prefill_strategy

    for mode in PrefillMode:
        assert (CORE / "query" / "prefill" / f"{mode.value}.py").is_file(), mode
        assert prefill_strategy(mode).mode == mode
