"""The core's import structure: every import follows the layer order of docs/DEVELOPING.md.

The order is written once, in the ``<!-- layers -->`` block of ``docs/DEVELOPING.md``
(bottom layer first); this test parses every module of ``hand_mesh_core`` (imports inside
functions included) and fails for an import of a module that sits on a later line, for a
module of the core on no line, and for an import cycle between modules.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from hand_mesh_core.paths import PACKAGE_DIR, find_repo_root

PACKAGE = "hand_mesh_core"


def _layer_order() -> dict[str, int]:
    root = find_repo_root()
    if root is None or not (root / "docs" / "DEVELOPING.md").is_file():
        pytest.skip("docs/DEVELOPING.md not found (the layer order lives there); run from the repository")
    text = (root / "docs" / "DEVELOPING.md").read_text()
    match = re.search(r"<!-- layers -->\s*```\n(.*?)```", text, re.S)
    assert match, "docs/DEVELOPING.md has no <!-- layers --> block"
    order: dict[str, int] = {}
    for level, line in enumerate(match.group(1).strip().splitlines()):
        for unit in line.split():
            assert unit not in order, f"{unit} is on two lines of the layer order"
            order[unit] = level
    return order


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the package (assets excluded)."""
    out = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
        if "assets" in rel.parts:
            continue
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _unit(module: str) -> str:
    """The layer unit of a dotted module name: its first component below the package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every absolute import of the package in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == PACKAGE:
                found += [(node.lineno, f"{PACKAGE}.{a.name}") for a in node.names]
            elif node.module.startswith(PACKAGE + "."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "<relative>"))
    return found


def test_every_module_of_the_core_is_on_a_line_of_the_layer_order():
    order = _layer_order()
    units = {_unit(m) for m in _modules()}
    assert units - set(order) == set(), "not in the layer order of docs/DEVELOPING.md"
    assert set(order) - units == set(), "in the layer order but not in the package"


def test_no_module_imports_a_module_of_a_later_layer():
    order = _layer_order()
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        here = order[_unit(name)]
        for line, target in _imports(path):
            if target == "<relative>":
                wrong.append(f"{path.name}:{line} relative import (the core uses absolute imports)")
                continue
            unit = _unit(target)
            # ``from hand_mesh_core import X`` names the lazy facade; X may be a module
            if target.count(".") == 1 and unit not in order:
                unit = "__init__"
            if order.get(unit, -1) > here:
                wrong.append(f"{name} (line {line}) imports {target}: {_unit(name)} is below {unit}")
    assert wrong == []


def test_the_modules_import_each_other_without_a_cycle():
    modules = _modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for _, target in _imports(path):
            # a module importing from its own package's __init__ (an ancestor) is no edge
            if target in modules and target != name and not name.startswith(target + "."):
                edges[name].add(target)
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for name in sorted(modules):
        if name not in state:
            visit(name, [])
    assert cycles == []


def test_the_check_catches_an_upward_import(tmp_path):
    """The parser sees imports inside functions and ``from package import module``."""
    path = tmp_path / "probe.py"
    path.write_text("def f():\n    from hand_mesh_core.cli import main\n\nfrom hand_mesh_core import viz\n")
    assert sorted(_imports(path)) == [(2, "hand_mesh_core.cli"), (4, "hand_mesh_core.viz")]
    order = _layer_order()
    assert order["cli"] > order["camera"] and order["network"] < order["single_stage"]
