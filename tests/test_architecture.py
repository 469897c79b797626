"""The package's import graph: no cycle, and every arrow runs down the layers.

    cli → pipelines → (dataset | models | agent | oracle | plots | report) → (engine | actions)
        → (grid | parallel | io | progress | files | errors)

Every import counts, also one inside a function or under ``TYPE_CHECKING``: a lazy import is
still a dependency. The CLI imports the pipelines and the errors only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gridoracle

PACKAGE = Path(gridoracle.__file__).parent

#: the layer of each top-level part of the package (higher imports lower)
LAYERS = {
    "cli": 5,
    "pipelines": 4,
    "dataset": 3,
    "models": 3,
    "agent": 3,
    "oracle": 3,
    "plots": 3,
    "report": 3,
    "engine": 2,
    "actions": 2,
    "grid": 1,
    "parallel": 1,
    "io": 1,
    "progress": 1,
    "files": 1,
    "errors": 1,
    "": 0,  # gridoracle/__init__.py: the version
}
#: what the CLI may import
CLI_MAY_IMPORT = {"pipelines", "errors", ""}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str) -> set[str]:
    """The gridoracle modules ``path`` imports (absolute or relative, at any depth)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "gridoracle")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "gridoracle":
                continue
            out.add(module)
            for alias in node.names:  # from gridoracle.oracle import kpis: a module too
                out.add(f"{module}.{alias.name}")
    return out


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        graph[name] = {m for m in _imports(path, name) if m in files and m != name}
    return graph


def _part(module: str) -> str:
    """``gridoracle.oracle.core.kpis`` → ``oracle``; ``gridoracle`` → ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


GRAPH = _graph()


def _is_package_face(module: str) -> bool:
    return (PACKAGE.parent / Path(*module.split(".")) / "__init__.py").is_file()


def test_every_part_of_the_package_has_a_layer():
    unknown = sorted({_part(m) for m in GRAPH} - set(LAYERS))
    assert not unknown, f"give these parts a layer in LAYERS: {unknown}"


def test_no_module_imports_a_module_that_imports_it_back():
    # a package's __init__ that re-exports its modules is its face, not a part of a cycle
    graph = {
        m: {d for d in deps if not _is_package_face(d) or _part(d) != _part(m)}
        for m, deps in GRAPH.items()
    }
    assert _cycles(graph) == []


def test_no_cycle_between_parts():
    parts: dict[str, set[str]] = {}
    for module, deps in GRAPH.items():
        parts.setdefault(_part(module), set()).update(
            _part(d) for d in deps if _part(d) != _part(module)
        )
    assert _cycles(parts) == []


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_run_down_the_layers(module):
    layer = LAYERS[_part(module)]
    upward = sorted(
        d for d in GRAPH[module] if _part(d) != _part(module) and LAYERS[_part(d)] > layer
    )
    assert not upward, f"{module} imports a higher layer: {upward}"


def test_the_cli_imports_the_pipelines_and_the_errors_only():
    wrong = {
        module: sorted(d for d in deps if _part(d) not in CLI_MAY_IMPORT | {"cli"})
        for module, deps in GRAPH.items()
        if _part(module) == "cli"
    }
    assert {m: d for m, d in wrong.items() if d} == {}


def test_the_graph_is_read_from_the_code():
    # the reader sees lazy and relative imports (so the checks above cannot pass vacuously)
    assert "gridoracle.errors" in GRAPH["gridoracle.parallel"]
    assert any(
        _part(d) == "pipelines" for m, deps in GRAPH.items() if _part(m) == "cli" for d in deps
    )
