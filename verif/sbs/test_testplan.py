"""The SbS testplan names only tests and cover points that exist."""

import ast
from pathlib import Path

import yaml

HERE = Path(__file__).parent


def _defined(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree)
            if isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)}


def _registered(path: Path) -> set[str]:
    """Tests a cocotb module defines, or imports to register (``pyuvm.test()(Cls)``)."""
    tree = ast.parse(path.read_text())
    imported = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                for a in n.names}
    return _defined(path) | imported


def test_testplan_refers_to_existing_items():
    plan = yaml.safe_load((HERE / "testplan.yml").read_text())
    pytests = set().union(*(_defined(p) for p in HERE.glob("test_*.py")))
    sources = "".join(p.read_text() for p in HERE.glob("*.py"))
    assert plan["testpoints"], "empty testplan"
    for tp in plan["testpoints"]:
        assert tp["desc"].strip() and tp["stage"] in {"V1", "V2", "V3"}
        for module, tests in tp["tests"].items():
            assert set(tests) <= _registered(HERE / f"{module}.py"), tp["name"]
        assert set(tp["pytest"]) <= pytests, tp["name"]
        for cg in tp["covergroups"]:
            assert f'"{cg}"' in sources, f"{tp['name']}: no cover point {cg}"
