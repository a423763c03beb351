"""The project's import graph, read with ast: no cycle, and the dashboard imported only by itself
and the bench's page timer.

Every import counts, at module level or inside a function: a function-level import is still a
dependency, only a later one. `from package import name` is an edge to package.name when that
is a module of the project, else to the package.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = (
    "ime", "access", "outputs", "devtools", "measures", "etl", "queries", "imestats", "dashboard",
)
# The bench's page timer runs each dashboard page, and its pandas baselines compute the same
# figures with the dashboard's helpers: these two modules alone outside the dashboard import it.
DASHBOARD_IMPORTERS = {"devtools.bench.page_timer", "devtools.bench.pandas_pages"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path
    for package in PACKAGES
    for path in sorted((REPO / package).rglob("*.py"))
}


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project modules an import statement of `module` loads."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            # A package's __init__ is its own first level; a module's is its package.
            parts = module.split(".")
            keep = len(parts) - node.level + (MODULES[module].name == "__init__.py")
            base = ".".join(parts[:keep] + ([base] if base else []))
        names = [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
            for alias in node.names
        ]
    found = []
    for name in names:
        # `import a.b.c` of a name that is an attribute: the longest prefix that is a module.
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.append(name)
    return found


class _Imports(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.function: list[str] = []
        self.edges: list[tuple[str, str, str | None]] = []  # (importer, imported, function)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.function.append(node.name)
        self.generic_visit(node)
        self.function.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        self._add(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._add(node)

    def _add(self, node: ast.Import | ast.ImportFrom) -> None:
        where = self.function[0] if self.function else None
        for target in _imported(self.module, node):
            self.edges.append((self.module, target, where))


def import_edges() -> list[tuple[str, str, str | None]]:
    edges = []
    for module, path in MODULES.items():
        visitor = _Imports(module)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        edges += visitor.edges
    return edges


def cycles(edges: list[tuple[str, str, str | None]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, imported, _ in edges:
        graph[importer].add(imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_reader_finds_a_cycle_it_is_given():
    # A known graph: a -> b -> c -> a is one cycle, and d -> a hangs off it.
    edges = [("a", "b", None), ("b", "c", None), ("c", "a", "f"), ("d", "a", None)]
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles(edges[:2]) == []


def test_the_graph_reader_sees_function_level_and_relative_imports():
    edges = set((a, b) for a, b, _ in import_edges())
    # ime/cli.py imports these inside its command functions only.
    assert ("ime.cli", "etl.load") in edges and ("ime.cli", "devtools.validation") in edges
    assert ("queries", "queries.sqlfile") in edges


def test_no_import_cycle():
    assert cycles(import_edges()) == []


def test_nothing_outside_the_dashboard_imports_it_but_the_bench():
    outside = {
        importer for importer, imported, _ in import_edges()
        if imported.split(".")[0] == "dashboard" and importer.split(".")[0] != "dashboard"
    }
    assert outside <= {"devtools.bench.page_timer", "devtools.bench.pandas_pages"}, sorted(outside)


def test_only_the_bench_page_timer_imports_the_dashboard():
    offending = sorted(
        (importer, function) for importer, imported, function in import_edges()
        if imported.split(".")[0] == "dashboard" and importer.split(".")[0] != "dashboard"
        and importer not in DASHBOARD_IMPORTERS
    )
    assert offending == []
