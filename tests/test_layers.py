"""The house's layers, read from every import statement of core/ and backend/ (module level,
inside functions, under TYPE_CHECKING alike): imports go only to the same or a lower layer, only
the command-line entry points reach the commands, and no modules or sibling sub-packages import
each other in a circle, however the import is hidden."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"sketchify.core": ROOT / "core", "sketchify.backend": ROOT / "backend"}

# Lowest first. A module belongs to the first entry its name starts with (the longest prefix).
LAYERS = [
    ("core library", ["sketchify.core"]),
    ("commands", ["sketchify.core.commands"]),
    ("backend base", ["sketchify.backend.limits", "sketchify.backend.storage"]),
    ("executors", ["sketchify.backend.executors", "sketchify.backend.joblog"]),
    # The API's routes hold the Service, so the service sits below the API.
    ("service", ["sketchify.backend.service"]),
    ("api", ["sketchify.backend.api"]),
    ("app", ["sketchify.backend.app", "sketchify.backend.http_server",
             "sketchify.backend.web", "sketchify.backend"]),
    ("entry points", ["sketchify.backend.cli", "sketchify.backend.serve",
                      "sketchify.backend.worker"]),
]
ENTRY_POINTS = LAYERS[-1][1]
COMMANDS = "sketchify.core.commands"


def module_files() -> dict[str, Path]:
    modules = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


MODULES = module_files()


def imports(name: str, path: Path) -> set[str]:
    """Every sketchify module ``name`` names in an import statement anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from package import module` names the module
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: imports(name, path) for name, path in MODULES.items()}


def layer(module: str) -> int:
    prefixes = [(len(p), i) for i, (_, names) in enumerate(LAYERS) for p in names
                if module == p or module.startswith(p + ".")]
    return max(prefixes)[1]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_the_whole_tree():
    # A walk that found nothing would pass everything below.
    assert len(MODULES) > 50
    assert "sketchify.core.optimize" in GRAPH["sketchify.core.engine"]
    assert "sketchify.core.engine" in GRAPH["sketchify.backend.app"]  # inside a function


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_to_the_same_or_a_lower_layer(name):
    upward = {other: LAYERS[layer(other)][0] for other in GRAPH[name]
              if layer(other) > layer(name)}
    assert not upward, f"{name} ({LAYERS[layer(name)][0]}) imports a higher layer"


def test_only_the_entry_points_reach_the_commands():
    reaching = {name for name, targets in GRAPH.items()
                if not (name == COMMANDS or name.startswith(COMMANDS + "."))
                and any(t == COMMANDS or t.startswith(COMMANDS + ".") for t in targets)}
    assert reaching <= set(ENTRY_POINTS)


def test_no_modules_import_each_other_in_a_circle():
    assert cycles(GRAPH) == []


def test_no_sibling_sub_packages_import_each_other_in_a_circle():
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}

    def package_of(module: str) -> str:
        return module if module in packages else module.rpartition(".")[0]

    graph: dict[str, set[str]] = {}
    for name, targets in GRAPH.items():
        for target in targets:
            a, b = package_of(name), package_of(target)
            # Between siblings only: a package holding its sub-package is no circle.
            if a.rpartition(".")[0] == b.rpartition(".")[0] and a != b:
                graph.setdefault(a, set()).add(b)
    assert cycles(graph) == []


def test_the_settings_need_only_the_standard_library():
    # A usage error, the service's limits and the API document read config without torch.
    allowed = {"sketchify.core.errors"}
    for name in ("sketchify.core.config", "sketchify.core.errors"):
        tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
        roots = {alias.name.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.Import) for alias in node.names}
        roots |= {node.module.split(".")[0] for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom) and node.module}
        assert roots - {"sketchify"} <= set(sys.stdlib_module_names) | {"__future__"}
        assert GRAPH[name] <= allowed
