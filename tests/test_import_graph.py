"""No two packages of ``pipelines`` import each other, even through a function-level import.

``lint-imports`` (``make test``) checks the layer order in pyproject.toml; this test needs nothing but the
AST and also sees the imports ``lint-imports`` is not run on (a test run on its own)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


def _package(module: str) -> str | None:
    """``pipelines.review.store`` → ``review``; ``pipelines.cli`` → ``cli``; else None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "pipelines" and len(parts) > 1 else None


def package_graph() -> dict[str, dict[str, set[str]]]:
    """package → {imported package: {files that import it}}, every import statement included."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(PIPELINES.rglob("*.py")):
        rel = path.relative_to(PIPELINES)
        if rel.parts == ("__init__.py",):
            continue
        src = rel.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for dst in {_package(t) for t in targets} - {None, src}:
                graph[src][dst].add(str(rel))
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_two_packages_import_each_other():
    graph = package_graph()
    assert "review" in graph["coverage"]  # the scan sees coverage reading review's queries
    found = cycles(graph)
    detail = {f"{a} -> {b}": sorted(graph[a][b]) for comp in found for a in comp for b in comp
              if b in graph.get(a, {})}
    assert found == [], detail


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b": {"x"}}, "b": {"c": {"y"}}, "c": {"a": {"z"}}, "d": {"a": {"w"}}}
    assert cycles(graph) == [["a", "b", "c"]]
