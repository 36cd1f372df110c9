"""How the first-party packages depend on each other, read from their source with ``ast``.

:func:`import_graph` maps every module of the packages in :data:`PACKAGES` to the first-party
modules it imports, wherever the import statement sits (module level, inside a function, under
``if TYPE_CHECKING``): a cycle that only a lazy import keeps from failing at import time is
still a cycle between two modules that each need the other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = (
    "schemas",
    "source_api",
    "source_db",
    "producer",
    "connectors",
    "streaming",
    "emulators",
    "harness",
    "olist_cli",
    "bench",
)
"""The first-party packages; one not present in this checkout is skipped."""


def module_files(packages: Iterable[str] = PACKAGES, root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> source file, for every ``.py`` file of the existing ``packages``."""
    modules: dict[str, Path] = {}
    for package in packages:
        if not (root / package / "__init__.py").is_file():
            continue
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterable[str]:
    """Every dotted name an import statement of ``module`` may refer to (absolute form)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            # ``from a import b`` imports module ``a.b`` when there is one, else a name of ``a``.
            yield from (f"{base}.{alias.name}" for alias in node.names)
            yield base


def import_graph(packages: Iterable[str] = PACKAGES, root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the first-party modules it imports (the nearest existing module of each name)."""
    files = module_files(packages, root)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets: set[str] = set()
        for name in _imported_names(tree, module, path.name == "__init__.py"):
            while name and name not in files:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def import_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One cycle ``[a, b, ..., a]`` per group of modules that import each other, or none.

    The groups are the strongly connected components of ``graph`` (Tarjan's algorithm); the
    cycle shown for each starts at its first module by name.
    """
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(module: str) -> None:
        index[module] = lowest[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                connect(target)
                lowest[module] = min(lowest[module], lowest[target])
            elif target in on_stack:
                lowest[module] = min(lowest[module], index[target])
        if lowest[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            if len(group) > 1 or module in graph.get(module, ()):
                groups.append(group)

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return sorted(_cycle_within(graph, group) for group in groups)


def _cycle_within(graph: Mapping[str, Iterable[str]], group: set[str]) -> list[str]:
    """A shortest cycle through the first module of ``group`` that stays inside ``group``."""
    start = min(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(set(graph.get(module, ())) & group):
                if target == start:
                    cycle = [module]
                    while cycle[-1] != start:
                        cycle.append(previous[cycle[-1]])
                    return [*reversed(cycle), start]
                if target not in previous:
                    previous[target] = module
                    following.append(target)
        frontier = following
    raise AssertionError(f"{sorted(group)} is not strongly connected")


def test_the_graph_sees_imports_in_functions_and_type_checking_blocks() -> None:
    graph = import_graph()
    # streaming.job imports streaming.metrics inside run() and under TYPE_CHECKING only.
    assert "streaming.metrics" in graph["streaming.job"]
    assert "schemas.envelope" in graph["connectors.pubsub.records"]
    graph_with_cycles = {"a": {"b"}, "b": {"c", "a"}, "c": {"a"}, "d": {"d", "a"}, "e": set()}
    assert import_cycles(graph_with_cycles) == [["a", "b", "a"], ["d", "d"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others() -> None:
    cycles = import_cycles(import_graph())
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)
