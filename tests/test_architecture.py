"""The shape of harness/ that keeps it readable: short functions and no import cycles.

Both are read from the source with `ast` (nothing is imported), so the test names the function or
the modules to fix. Imports inside functions count too: a lazy import still ties two modules.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

HARNESS = Path(__file__).parent.parent / "harness"
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(HARNESS.rglob("*.py")):
        name = ".".join(path.relative_to(HARNESS.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = ast.parse(path.read_text(encoding="utf-8"))
    return out


def import_graph(modules: dict[str, ast.Module]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, tree in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module in modules:
                graph[name].add(node.module)
                graph[name].update(f"{node.module}.{a.name}" for a in node.names
                                   if f"{node.module}.{a.name}" in modules)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in modules)
        graph[name].discard(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import each other, directly or through others."""
    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reachable = {m: reach(m) for m in graph}
    groups = {frozenset([m, *(o for o in reachable[m] if m in reachable.get(o, ()))])
              for m in graph if m in reachable[m]}
    return sorted(sorted(g) for g in groups)


def test_no_function_in_harness_is_longer_than_60_lines():
    long = [f"{name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for name, tree in _modules().items() for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


def test_no_import_cycle_inside_harness():
    assert cycles(import_graph(_modules())) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
