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
    "health",
    "analytics",
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
    """Every dotted name an import statement of ``module`` may refer to (absolute form).

    ``from a import b`` names module ``a.b`` when there is one, else a name defined in ``a``:
    it yields ``a.b``, and :func:`import_graph` falls back to ``a`` when ``a.b`` is no module.
    (Importing ``a.b`` runs ``a/__init__.py`` first, as for any submodule: not an edge here.)
    """
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
            yield from (f"{base}.{alias.name}" for alias in node.names)


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


ALLOWED_IMPORTS: dict[str, set[str]] = {
    # Shared contracts: the event schema and its derived forms, the envelope, the log format.
    "schemas": set(),
    # Deployables: each imports the shared contracts and its own package only, the API also
    # the database contract it serves (connection errors, feed SQL), the job its Spark source.
    "source_db": {"schemas"},
    "source_api": {"schemas", "source_db"},
    "producer": {"schemas"},
    "connectors": {"schemas"},
    "streaming": {"schemas", "connectors"},
    # The health checks read every stage from outside (HTTP, Pub/Sub, BigQuery, Cloud
    # Storage), never through the stages' code: deployable alone, in an Airflow image too.
    "health": {"schemas"},
    # The analytics jobs (dimension export, views, dashboard) read PostgreSQL and BigQuery
    # through their own clients and the schemas' dimension definitions: nothing else.
    "analytics": {"schemas"},
    # Tooling for one machine: emulator wrappers need only the process helpers of harness.
    "emulators": {"harness.processes"},
    "harness": {"emulators", "schemas"},
    # The command line gathers every deployable; the benchmarks measure them.
    "olist_cli": {
        "schemas",
        "source_db",
        "source_api",
        "producer",
        "streaming",
        "health",
        "analytics",
        "harness",
    },
    "bench": {
        "schemas",
        "source_db",
        "source_api",
        "producer",
        "connectors",
        "streaming",
        "emulators",
        "harness",
        "analytics",
    },
}
"""Package -> what it may import besides itself (a package, or one module of a package)."""


def forbidden_imports(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """``importer -> imported`` for every import :data:`ALLOWED_IMPORTS` does not allow."""
    found = []
    for module, targets in sorted(graph.items()):
        package = module.split(".")[0]
        allowed = ALLOWED_IMPORTS[package]
        for target in sorted(targets):
            if target.split(".")[0] == package:
                continue
            if not any(target == rule or target.startswith(rule + ".") for rule in allowed):
                found.append(f"{module} -> {target}")
    return found


def test_every_package_has_a_rule() -> None:
    assert set(ALLOWED_IMPORTS) == set(PACKAGES)


def test_each_package_imports_only_what_its_layer_allows() -> None:
    graph = import_graph()
    assert {module.split(".")[0] for module in graph} == set(PACKAGES), "a package went missing"
    assert forbidden_imports({"producer.cli": {"streaming.job"}}) == [
        "producer.cli -> streaming.job"
    ]
    assert forbidden_imports(graph) == []
