"""The CNN testplan names only tests and cover points that exist."""

import ast
from pathlib import Path

import yaml

HERE = Path(__file__).parent


def _names(path: Path, kind) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, kind)}


def test_testplan_refers_to_existing_items():
    plan = yaml.safe_load((HERE / "testplan.yml").read_text())
    envs = ("requant_env.py", "mac_env.py", "engine_env.py", "hf6mac_env.py", "pool_env.py",
            "engine_stress.py", "hetero_env.py")
    uvm_tests = set().union(*(_names(HERE / e, ast.ClassDef) for e in envs))
    pytests = set().union(*(_names(HERE / f, ast.FunctionDef)
                            for f in ("test_cnn_rtl.py", "test_hf6mac.py", "test_pool.py",
                                      "test_engine_hetero.py")))
    env_src = "".join((HERE / e).read_text() for e in envs)
    assert plan["testpoints"], "empty testplan"
    for tp in plan["testpoints"]:
        assert tp["desc"].strip() and tp["stage"] in {"V1", "V2", "V3"}
        assert set(tp["tests"]) <= uvm_tests, tp["name"]
        assert set(tp["pytest"]) <= pytests, tp["name"]
        for cg in tp["covergroups"]:
            assert f'"{cg}"' in env_src, f"{tp['name']}: no cover point {cg}"
