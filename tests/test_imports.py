"""The package's import graph (issue 15): no cycle inside ``xlplan/``, nothing imports the two
front ends (``cli``, ``excel``), and no module takes a private name (``_x``) from another."""

from __future__ import annotations

import ast
from pathlib import Path

import xlplan

PACKAGE = Path(xlplan.__file__).parent
FRONT_ENDS = {"xlplan.cli", "xlplan.excel"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]):
    """(imported module, [names taken]) for every import of an xlplan module in ``path``,
    at any depth (imports inside functions count: they still run)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("xlplan"):
                    yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("xlplan"):
                continue
            names = [a.name for a in node.names]
            # "from . import x" / "from .merge import writer": x is a module, not a name
            modules = [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
            yield from ((m, []) for m in modules)
            yield target, [n for n in names if f"{target}.{n}" not in known]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        graph[name] = {t for t, _ in _imports(name, path, known) if t in known and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            # a package's own __init__ is imported first by its submodules: not a cycle of ours
            if nxt != node and node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_inside_the_package():
    assert _cycle(_graph()) is None


def test_nothing_imports_the_cli_or_the_panel():
    importers = {name: sorted(deps & FRONT_ENDS - {name}) for name, deps in _graph().items()
                 if deps & FRONT_ENDS - {name}}
    assert importers == {}


def test_the_package_layer_knows_nothing_of_plans():
    """``xlplan.ooxml`` (writing and reading workbook packages) imports nothing of xlplan
    outside itself: plans, findings and metadata are the callers' business."""
    outside = {name: sorted(d for d in deps if not d.startswith("xlplan.ooxml"))
               for name, deps in _graph().items() if name.startswith("xlplan.ooxml")}
    assert {name: deps for name, deps in outside.items() if deps} == {}
    assert "xlplan.ooxml.reader" in outside  # the reading side is part of the layer


def test_no_private_name_taken_from_another_module():
    modules = _modules()
    known = set(modules)
    taken = sorted(f"{name} <- {target}.{n}"
                   for name, path in modules.items()
                   for target, names in _imports(name, path, known) if target != name
                   for n in names if n.startswith("_") and not n.startswith("__"))
    assert taken == []


def test_the_checks_see_a_cycle_and_a_private_import():
    """The graph walk itself works: a made-up cycle is found."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
