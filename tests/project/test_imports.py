"""The package's import graph: no cycles, and no module importing one on a higher floor.

Read from the source with ``ast`` (every import, lazy ones inside functions included; only
``if TYPE_CHECKING:`` blocks are left out, since they never run), so a lazy import that closes a
loop is caught as surely as a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import resrank_eval

PACKAGE = "resrank_eval"
ROOT = Path(resrank_eval.__file__).parent

FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "version", "paths", "numeric", "types", "logs", "environment", "jvm", "lazy"),  # leaves
    ("formats", "lucene"),  # read and write files; decide nothing
    ("datasets", "evaluate", "provenance", "parallel", "jobs", "weights"),
    ("model",),
    ("retrieve",),
    ("rerank",),
    ("train", "report", "serve"),
    ("reproduce", "demo"),
    ("cli", "__main__", ""),  # "" is the package top, which re-exports the public API
)
"""Each top-level module or subpackage on its floor, lowest first: a module may import its own floor or lower ones."""

def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (a name imported from a package counts as its submodule when it is one)."""
    known = modules()

    def owner(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        hidden = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                  for node in ast.walk(block)}
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in ast.walk(tree):
            if id(node) in hidden:
                continue
            if isinstance(node, ast.Import):
                targets.update(owner(alias.name) for alias in node.names if alias.name.startswith(PACKAGE))
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
                full = ".".join([*base, node.module] if node.module else base) if node.level else node.module or ""
                if full.split(".")[0] == PACKAGE:
                    targets.update(owner(f"{full}.{alias.name}") if f"{full}.{alias.name}" in known else owner(full)
                                   for alias in node.names)
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def floor(module: str) -> int:
    top = module.removeprefix(PACKAGE).lstrip(".").split(".")[0]
    for level, names in enumerate(FLOORS):
        if top in names:
            return level
    raise AssertionError(f"{module}: on no floor; add {top!r} to FLOORS in {__file__}")


def test_the_import_graph_has_no_cycle() -> None:
    assert cycles(import_graph()) == []


def test_no_module_imports_one_on_a_higher_floor() -> None:
    graph = import_graph()
    assert {(a, b) for a, targets in graph.items() for b in targets if floor(b) > floor(a)} == set()


def test_the_checker_sees_lazy_imports_and_cycles() -> None:
    graph = import_graph()
    assert "resrank_eval.formats.corpus" in graph["resrank_eval.cli.resolve"]  # a top-level import
    assert "resrank_eval.lucene" in graph["resrank_eval.retrieve.search"]  # one inside a function
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
