"""The engine's layout: importing all of hrm_core loads no Dagster, and the layers only point forward.

Layers, along the data's path: data -> rules -> tokens -> model -> release -> serve, with synth and
agentic beside data (they generate it) and cli on top. A module may import its own layer or an
earlier one; nothing but cli imports cli.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import hrm_core

PACKAGE = Path(hrm_core.__file__).parent
ORDER = {"data": 0, "synth": 1, "rules": 1, "tokens": 2, "model": 3, "release": 4, "agentic": 4}
ORDER |= {"serve": 5, "cli": 6}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("hrm_core.")}


def test_every_module_lives_in_a_layer():
    flat = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert flat == []
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} == set(ORDER)


def test_layers_only_import_backwards_and_nothing_imports_the_cli():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = path.relative_to(PACKAGE).parts[0]
        if layer not in ORDER:
            continue
        for module in _imports(path):
            target = module.split(".")[1]
            if target in ORDER and ORDER[target] > ORDER[layer]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert wrong == []


def test_importing_all_of_hrm_core_loads_no_dagster():
    # A fresh interpreter: the test process itself has Dagster loaded by other tests.
    code = (
        "import importlib, json, pkgutil, sys, hrm_core\n"
        "names = [m.name for m in pkgutil.walk_packages(hrm_core.__path__, 'hrm_core.')]\n"
        "for n in names: importlib.import_module(n)\n"
        "print(json.dumps({'modules': len(names), "
        "'dagster': sorted(m for m in sys.modules if m.split('.')[0].startswith('dagster'))}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["modules"] > 60  # every subpackage and module was imported, not an empty walk
    assert result["dagster"] == []
