"""The layers, read from the source: the API's modules import each other as a tree, and the domain
never imports the API or Strawberry.

The import graph is built from each module's syntax (nothing is imported): an import at a module's top
level (in a class body, an ``if`` or a ``try`` too) runs when the module is loaded; one inside a function
runs when the function does; one under ``if TYPE_CHECKING:`` never runs. Run this file as a script to
print the API's graph and its cycles.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The command line defers the demo and the server's modules to the commands that use them, so that the
# other commands start without loading the GraphQL stack; those imports break no cycle.
DEFERRED_FOR_START_UP = ("api.cli",)


@dataclass
class Module:
    name: str
    path: Path
    at_load: set[str] = field(default_factory=set)  # modules imported when this one is loaded
    in_functions: set[str] = field(default_factory=set)  # modules imported when a function runs


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    """The dotted names an import statement loads: ``from a.b import c`` gives ``a.b.c``, which is the
    submodule ``c`` if there is one, else a name of ``a.b``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    for alias in node.names:
        yield f"{base}.{alias.name}"


def _imports(tree: ast.Module, module: str, is_package: bool) -> tuple[set[str], set[str]]:
    """(names imported when the module loads, names imported inside its functions)."""
    at_load: set[str] = set()
    in_functions: set[str] = set()

    def visit(statements: list[ast.stmt], into: set[str]) -> None:
        for statement in statements:
            if isinstance(statement, ast.Import | ast.ImportFrom):
                into.update(_imported(statement, module, is_package))
            elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(statement.body, in_functions)
            elif isinstance(statement, ast.If) and _is_type_checking(statement.test):
                visit(statement.orelse, into)
            else:
                for child in ast.iter_child_nodes(statement):
                    if isinstance(child, ast.stmt):
                        visit([child], into)
                    elif isinstance(child, ast.excepthandler | ast.match_case):
                        visit(child.body, into)

    visit(tree.body, at_load)
    return at_load, in_functions


def modules(package: str) -> dict[str, Module]:
    """The package's modules, each with the modules of the same package it imports."""
    found = {_module_name(path): Module(_module_name(path), path) for path in (ROOT / package).rglob("*.py")}

    def target(name: str) -> str | None:
        # The longest known module a dotted name starts with.
        while name and name not in found:
            name = name.rpartition(".")[0]
        return name or None

    def loaded(name: str, importer: str) -> set[str]:
        # The module and the packages it is loaded through (those with an __init__.py), less the
        # importer's own packages: those are loading already when the importer runs.
        own = {importer.rsplit(".", depth)[0] for depth in range(importer.count(".") + 1)}
        parts = name.split(".")
        return ({".".join(parts[:n]) for n in range(1, len(parts) + 1)} & found.keys()) - own

    for module in found.values():
        tree = ast.parse(module.path.read_text(), str(module.path))
        at_load, in_functions = _imports(tree, module.name, module.path.name == "__init__.py")
        module.at_load = {m for t in filter(None, map(target, at_load)) for m in loaded(t, module.name)}
        # An import inside a function is judged by the module it names.
        module.in_functions = set(filter(None, map(target, in_functions))) - {module.name}
    return found


def cycles(graph: dict[str, Module]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for other in sorted(graph[name].at_load):
            if other not in index:
                connect(other)
                low[name] = min(low[name], low[other])
            elif other in on_stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == name:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            connect(name)
    return found


def reaches(graph: dict[str, Module], start: str, goal: str) -> bool:
    """Whether loading ``start`` loads ``goal``."""
    seen = {start}
    todo = [start]
    while todo:
        for other in graph[todo.pop()].at_load:
            if other == goal:
                return True
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return False


def test_the_api_modules_import_each_other_without_a_cycle() -> None:
    found = cycles(modules("api"))

    assert found == [], "modules of api/ that import each other when loaded:\n" + "\n".join(map(str, found))


def test_an_import_inside_a_function_breaks_a_cycle() -> None:
    """An import waits for the call only where the module imported loads the importer: anywhere else it
    belongs at the top, where the reader looks for it."""
    graph = modules("api")
    needless = sorted(
        f"{module.name} imports {other} inside a function"
        for module in graph.values()
        if not any(module.name == p or module.name.startswith(f"{p}.") for p in DEFERRED_FOR_START_UP)
        for other in module.in_functions
        if not reaches(graph, other, module.name)
    )

    assert needless == [], "import these at the top of the module:\n" + "\n".join(needless)


def test_lazy_annotations_are_written_only_in_api_refs() -> None:
    spelled = sorted(
        f"{module.name}:{node.lineno}"
        for module in modules("api").values()
        if module.name != "api.refs"
        for node in ast.walk(ast.parse(module.path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "lazy"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "strawberry"
    )

    assert spelled == [], "use a reference of api.refs instead of strawberry.lazy:\n" + "\n".join(spelled)


def test_the_domain_imports_neither_the_api_nor_strawberry() -> None:
    found = []
    for path in sorted((ROOT / "domain").rglob("*.py")):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in _imported(node, module, path.name == "__init__.py"):
                    if name.split(".")[0] in ("api", "strawberry"):
                        found.append(f"{module}:{node.lineno} imports {name}")

    assert found == [], "the domain imports the edge:\n" + "\n".join(sorted(set(found)))


if __name__ == "__main__":
    graph = modules("api")
    for name, module in sorted(graph.items()):
        print(name, "->", ", ".join(sorted(module.at_load)) or "-")
        for other in sorted(module.in_functions):
            print("   ", "in a function:", other)
    print("cycles:", cycles(graph) or "none")
