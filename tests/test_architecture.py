"""The import graph of syndicate has no cycle, between files or between packages.

Every `import` and `from … import` in the package counts, at module level and inside
functions alike (an import inside a function hides a cycle, it does not remove it), and
so do imports under `if TYPE_CHECKING:`. The layers themselves are the import-linter
contract in pyproject.toml (`lint-imports`); this test needs nothing but `ast`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "syndicate"

Graph = Mapping[str, set[str]]


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by its dotted name ("syndicate.web" is its __init__)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported_names(module: str, path: Path) -> Iterable[str]:
    """The dotted names `module` imports, wherever the import statement is."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # `from syndicate.web import archive` runs syndicate/web/__init__.py and reads
            # the name from it, then imports the module syndicate.web.archive: both count.
            # `from syndicate.config import Config` imports the module syndicate.config.
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names)


def import_graph(files: Mapping[str, Path]) -> dict[str, set[str]]:
    """module -> the modules of the package it imports (never itself): each imported
    name is taken as the longest module name it starts with.

    Importing `pkg.sub.mod` also runs pkg/__init__.py and pkg/sub/__init__.py first, so
    those packages are edges too; except the packages the importing module lies in,
    which Python has started before the module itself (unless it names one of them, as
    `from pkg import b` does: that reads a name from pkg/__init__.py, an edge).
    """

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    def run_by_importing(name: str) -> set[str]:
        parts = name.split(".")
        return {".".join(parts[:end]) for end in range(1, len(parts) + 1)} & files.keys()

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        own = run_by_importing(module if path.name == "__init__.py" else module.rpartition(".")[0])
        targets = set()
        for name in imported_names(module, path):
            target = known(name)
            if target:
                targets |= {target} | (run_by_importing(target) - own)
        graph[module] = {target for target in targets if target != module}
    return graph


def package_graphs(graph: Graph) -> dict[str, dict[str, set[str]]]:
    """For each package, the graph between its direct children (modules and subpackages):
    an import from anywhere inside one child to anywhere inside another is an edge."""
    packages = {name.rpartition(".")[0] for name in graph} | {
        name for name in graph if any(other.startswith(name + ".") for other in graph)
    }
    result: dict[str, dict[str, set[str]]] = {}
    for package in sorted(p for p in packages if p):
        prefix = package + "."

        def child(name: str, prefix: str = prefix) -> str | None:
            if not name.startswith(prefix):
                return None
            return prefix + name[len(prefix) :].split(".")[0]

        edges: dict[str, set[str]] = {}
        for source, targets in graph.items():
            here = child(source)
            for target in targets:
                there = child(target)
                if here and there and here != there:
                    edges.setdefault(here, set()).add(there)
        result[package] = edges
    return result


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle of `graph` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_names_a_cycle_and_passes_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_a_function_level_import_is_an_edge_of_the_graph(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def late():\n    from pkg.a import x\n")
    graph = import_graph(module_files(package))
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]


def test_from_a_package_import_a_module_is_an_edge_to_the_package_init(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg.a import x\n")
    (package / "a.py").write_text("from pkg import b\nx = 1\n")
    (package / "b.py").write_text("")
    graph = import_graph(module_files(package))
    assert graph["pkg.a"] == {"pkg", "pkg.b"}
    assert find_cycle(graph) == ["pkg", "pkg.a", "pkg"]


@pytest.mark.parametrize("statement", ["from pkg.sub.mod import x", "import pkg.sub.mod"])
def test_importing_a_module_is_an_edge_to_the_packages_it_runs(
    tmp_path: Path, statement: str
) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(statement + "\n")
    (package / "sub" / "__init__.py").write_text("from pkg.sub import other\n")
    (package / "sub" / "mod.py").write_text("x = 1\n")
    (package / "sub" / "other.py").write_text("import pkg.a\n")
    graph = import_graph(module_files(package))
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.mod"}
    assert "pkg" not in graph["pkg.sub.other"], "a module's own packages run before it"
    assert find_cycle(graph) == ["pkg.a", "pkg.sub", "pkg.sub.other", "pkg.a"]


def test_no_import_cycle_between_files() -> None:
    cycle = find_cycle(import_graph(module_files()))
    assert cycle is None, "import cycle between files: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("package", ["syndicate", "syndicate.channels", "syndicate.delivery"])
def test_the_package_graphs_are_checked(package: str) -> None:
    assert package in package_graphs(import_graph(module_files()))


def test_no_import_cycle_between_packages() -> None:
    found = {
        package: cycle
        for package, edges in package_graphs(import_graph(module_files())).items()
        if (cycle := find_cycle(edges))
    }
    assert not found, "import cycles between packages: " + "; ".join(
        f"in {package}: {' -> '.join(cycle)}" for package, cycle in found.items()
    )
