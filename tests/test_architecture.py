"""The layering of the Python packages, read from the import statements of every module.

Layers, bottom up: the golden models (``refmodels``) and the tool layer (``approxnn.eda``);
the cores (``cores``); the verification (``verif``); the command (the rest of ``approxnn``).
A module imports only from its own layer or below (test modules and cocotb testbenches may
import anything), and no two modules import each other, directly or through others.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = {"refmodels": REPO / "refmodels", "cores": REPO / "cores", "verif": REPO / "verif",
            "approxnn": REPO / "scripts" / "approxnn"}


def layer(module: str) -> int:
    if module.startswith(("refmodels", "approxnn.eda")):
        return 0
    return {"cores": 1, "verif": 2, "approxnn": 3}[module.split(".")[0]]


def modules() -> dict[str, Path]:
    found = {}
    for top, base in PACKAGES.items():
        for path in base.rglob("*.py"):
            parts = [top, *path.relative_to(base).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (anywhere in its body, lazily or not)."""
    mods = modules()

    def resolve(name: str) -> str | None:
        parts = name.split(".")
        while parts:
            if ".".join(parts) in mods:
                return ".".join(parts)
            parts.pop()
        return None

    graph = {}
    for mod, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps.update(filter(None, (resolve(a.name) for a in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
                    pkg = pkg[:len(pkg) - node.level + 1]
                    base = ".".join(pkg + ([base] if base else []))
                for a in node.names:
                    target = resolve(f"{base}.{a.name}") or resolve(base)
                    if target:
                        deps.add(target)
        deps.discard(mod)
        graph[mod] = deps
    return graph


def is_test(module: str) -> bool:
    return module.rsplit(".", 1)[-1].startswith(("test_", "cocotb_", "conftest"))


def test_no_module_imports_a_layer_above_it():
    up = [f"{a} -> {b}" for a, deps in import_graph().items() if not is_test(a)
          for b in deps if layer(b) > layer(a)]
    assert not up, up


def test_no_import_cycles():
    graph = import_graph()
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            # a package and its own submodules (an __init__ re-exporting them) are one unit
            if len(comp) > 1 and not all(c.startswith(min(comp, key=len)) for c in comp):
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_the_graph_sees_known_edges():
    """The parser finds relative, lazy and package imports (so the checks above can fail)."""
    graph = import_graph()
    assert "refmodels.arith.registry" in graph["refmodels.arith.lut"]  # relative
    assert "cores.common.regmap" in graph["cores.cnn.engine.engine"]  # absolute
    assert "approxnn.eda.myhdl" in graph["cores.common"]  # package __init__
    assert layer("approxnn.eda.sim") == 0 and layer("approxnn.cli") == 3
