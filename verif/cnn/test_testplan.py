"""The CNN testplan names only cover points that exist (tests and pytest functions are checked
both ways in verif/common/test_testplan.py)."""

from pathlib import Path

import yaml

HERE = Path(__file__).parent


def test_testplan_refers_to_existing_items():
    plan = yaml.safe_load((HERE / "testplan.yml").read_text())
    envs = ("requant_env.py", "mac_env.py", "hf6mac_env.py", "pool_env.py", "engine_stress.py",
            "engine/coverage.py", "engine/tests.py", "hetero_env.py")
    env_src = "".join((HERE / e).read_text() for e in envs)
    assert plan["testpoints"], "empty testplan"
    for tp in plan["testpoints"]:
        assert tp["desc"].strip() and tp["stage"] in {"V1", "V2", "V3"}
        for cg in tp.get("covergroups", []):
            assert f'"{cg}"' in env_src, f"{tp['name']}: no cover point {cg}"
