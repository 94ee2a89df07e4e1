"""The module import graph, built from the source (every import: module level, inside functions,
under TYPE_CHECKING): no cycles in the core or the ui, and each core package imports only what its
`__init__` says it may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
CORE = "osteoplan.core"
BASICS = {"errors", "resources", "entry_points", "atomic"}  # shared by every package; they import no other core module
# package -> the core packages it may import (besides the basics); from each package's __init__ docstring
PACKAGE_RULES = {
    "imaging": set(),
    "display": set(),
    "planning": {"imaging"},
    "safety": {"imaging", "display", "planning"},
    "ablation": {"imaging", "planning", "safety"},
    "cement": {"imaging", "planning", "safety"},
    "fluoro": {"imaging", "planning", "safety"},
    "files": {"imaging", "planning", "safety"},
    "proposals": {"imaging", "planning", "safety", "session"},
    "report": {"imaging", "display", "planning", "safety", "ablation", "cement", "fluoro", "files", "session"},
    "session": {"imaging", "display", "planning", "safety", "ablation", "cement", "fluoro", "files"},
}
# The plugin API imports data types only: what a plugin receives and returns, and the loader.
PLUGIN_API_MAY_IMPORT = {f"{CORE}.entry_points", f"{CORE}.errors", f"{CORE}.imaging.volume",
                         f"{CORE}.ablation.zones", f"{CORE}.cement.spread"}


def module_files(root: Path = APP) -> dict[str, tuple[Path, bool]]:
    """{dotted module name: (file, is a package's __init__)} of every module under `root`."""
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def import_graph(root: Path = APP) -> dict[str, set[str]]:
    """{module: the osteoplan modules it imports}, `from package import module` resolved to the module."""
    modules = module_files(root)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    targets.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]], prefix: str) -> list[list[str]]:
    """The strongly connected components of more than one module among the modules under `prefix`."""
    nodes = [n for n in graph if n == prefix or n.startswith(prefix + ".")]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in nodes:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in nodes:
        if node not in index:
            visit(node)
    return found


def core_unit(module: str) -> str | None:
    """The core package (or basic / `session`) a module belongs to; None outside the core."""
    if not module.startswith(CORE + "."):
        return None
    return module[len(CORE) + 1:].split(".")[0]


def rule_violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in graph.items():
        unit = core_unit(module)
        if module == "osteoplan.plugin_api":
            problems += [f"{module} imports {t} (only data types and the loader)"
                         for t in sorted(targets - PLUGIN_API_MAY_IMPORT)]
            continue
        if unit is None:
            continue
        for target in sorted(targets):
            if target.startswith("osteoplan.") and not target.startswith(CORE) and target != "osteoplan":
                problems.append(f"{module} imports {target}: the core imports nothing of the ui, render or cli")
                continue
            other = core_unit(target)
            if other is None or other == unit:
                continue
            if unit in BASICS and other not in BASICS:
                problems.append(f"{module} imports {target}: a shared basic imports no core package")
            elif unit not in BASICS and other not in BASICS and other not in PACKAGE_RULES.get(unit, set()):
                problems.append(f"{module} imports {target}: {unit} may import only "
                                f"{', '.join(sorted(PACKAGE_RULES.get(unit, set()))) or 'the shared basics'}")
    return problems


def test_every_core_module_lies_in_a_package_except_the_session_and_the_basics():
    top_level = {name.split(".")[2] for name in module_files() if core_unit(name) is not None}
    loose = {name for name in top_level if (APP / "osteoplan" / "core" / f"{name}.py").exists()}
    assert loose == BASICS | {"session"}
    assert top_level - loose == set(PACKAGE_RULES) - {"session"}, "a package without a rule, or a rule without a package"


@pytest.mark.parametrize("prefix", ["osteoplan.core", "osteoplan.ui", "osteoplan.render", "osteoplan"])
def test_no_import_cycles(prefix):
    assert cycles(import_graph(), prefix) == []


def test_each_core_package_imports_only_what_its_rule_allows():
    assert rule_violations(import_graph()) == []


def test_each_package_states_its_rule_in_its_docstring():
    for package in set(PACKAGE_RULES) - {"session"}:
        doc = ast.get_docstring(ast.parse((APP / "osteoplan" / "core" / package / "__init__.py").read_text()))
        assert doc and "May import:" in doc, f"osteoplan.core.{package}: say what it is for and what it may import"
        stated = set(doc.split("May import:", 1)[1].replace("`", " ").replace(",", " ").replace(".", " ").replace("(", " ").replace(")", " ").split())
        assert PACKAGE_RULES[package] <= stated, f"osteoplan.core.{package}'s docstring does not name {PACKAGE_RULES[package] - stated}"


def test_the_checks_catch_a_cycle_and_a_broken_rule(tmp_path):
    """The graph sees a cycle through a function-level import and an import a package may not make."""
    core = tmp_path / "osteoplan" / "core"
    for folder in (core / "imaging", core / "safety", core / "ablation"):
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
    (tmp_path / "osteoplan" / "__init__.py").write_text("")
    (core / "__init__.py").write_text("")
    (core / "imaging" / "volume.py").write_text("def f():\n    from osteoplan.core.imaging import case\n")
    (core / "imaging" / "case.py").write_text("from osteoplan.core.imaging.volume import f\n")
    (core / "safety" / "structures.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from osteoplan.core.ablation.zones import Z\n")
    (core / "ablation" / "zones.py").write_text("Z = 1\n")
    graph = import_graph(tmp_path)
    assert cycles(graph, CORE) == [["osteoplan.core.imaging.case", "osteoplan.core.imaging.volume"]]
    assert rule_violations(graph) == [
        "osteoplan.core.safety.structures imports osteoplan.core.ablation.zones: safety may import only "
        "display, imaging, planning"]
