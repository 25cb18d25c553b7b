"""The testplan names only cover points that exist (tests and pytest functions are checked
both ways in verif/common/test_testplan.py)."""

from pathlib import Path

import yaml

HERE = Path(__file__).parent


def test_testplan_refers_to_existing_items():
    plan = yaml.safe_load((HERE / "testplan.yml").read_text())
    env_src = (HERE / "env.py").read_text()
    assert plan["testpoints"], "empty testplan"
    for tp in plan["testpoints"]:
        assert tp["desc"].strip() and tp["stage"] in {"V1", "V2", "V3"}
        for cg in tp.get("covergroups", []):
            leaf = cg.split(".", 1)[1]
            assert f'{{prefix}}.{leaf}"' in env_src or f'"{cg}"' in env_src, \
                f"{tp['name']}: no cover point {cg}"
