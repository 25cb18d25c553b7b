"""Every family's testplan checked both ways (verif/common/testplan.py), and the check itself
against planted faults; the regression tiers read from the plans' stages."""

import shutil

import pytest
import yaml

from verif.common import testplan
from verif.common.testplan import VERIF


@pytest.mark.parametrize("family", testplan.FAMILIES)
def test_testplan_maps_both_ways(family):
    assert testplan.problems(family) == []


def _copy(tmp_path, family="cnn"):
    dst = tmp_path / family
    shutil.copytree(VERIF / family, dst, ignore=shutil.ignore_patterns("__pycache__", "*.v"))
    return dst


def _edit_plan(folder, change):
    path = folder / "testplan.yml"
    plan = yaml.safe_load(path.read_text())
    change(plan)
    path.write_text(yaml.safe_dump(plan, sort_keys=False))


def _drop_test(plan, name):
    for tp in plan["testpoints"]:
        tp["tests"] = [t for t in tp["tests"] if t != name]


def test_planted_faults_are_reported(tmp_path):
    folder = _copy(tmp_path)
    # a registered test no testpoint names
    _edit_plan(folder, lambda p: _drop_test(p, "PoolTest"))
    assert "cnn: test PoolTest (cocotb_pool.py) maps to no testpoint" in testplan.problems(
        "cnn", tmp_path)

    def no_cover(plan):  # a testpoint without cover items or a waiver
        tp = next(t for t in plan["testpoints"] if t["name"] == "pool_bit_exact")
        tp["covergroups"] = []

    folder = _copy(tmp_path / "b")
    _edit_plan(folder, no_cover)
    assert "cnn/pool_bit_exact: no cover item (or coverage_waiver with the reason)" in \
        testplan.problems("cnn", tmp_path / "b")

    def ghost(plan):  # a test or pytest function that does not exist, a testpoint without test
        plan["testpoints"][0]["tests"].append("GhostTest")
        plan["testpoints"][0]["pytest"].append("test_ghost")
        plan["testpoints"][1]["tests"] = []

    folder = _copy(tmp_path / "c")
    _edit_plan(folder, ghost)
    found = testplan.problems("cnn", tmp_path / "c")
    name0, name1 = (tp.name for tp in testplan.load("cnn")[:2])
    assert f"cnn/{name0}: test GhostTest is not registered" in found
    assert f"cnn/{name0}: pytest function test_ghost does not exist" in found
    assert f"cnn/{name1}: no cocotb / pyuvm test" in found

    def wrong_block(plan):  # the hf6mac testpoint put on the pooling unit
        tp = next(t for t in plan["testpoints"] if t["name"] == "hf6mac_bit_exact")
        tp["blocks"] = ["pool"]
        plan["testpoints"][0]["blocks"] = ["nosuch"]

    folder = _copy(tmp_path / "e")
    _edit_plan(folder, wrong_block)
    found = testplan.problems("cnn", tmp_path / "e")
    assert "cnn/hf6mac_bit_exact: test Hf6MacTest is not a test of pool" in found
    assert "cnn: block hf6mac has no testpoint" in found
    assert any(p.startswith(f"cnn/{name0}: blocks nosuch have no manifest") for p in found)

    # a new pytest function of a simulation module that the plan does not name
    folder = _copy(tmp_path / "d")
    with open(folder / "test_pool.py", "a") as f:
        f.write("\n\ndef test_unplanned():\n    pass\n")
    assert "cnn: pytest function test_unplanned maps to no testpoint" in testplan.problems(
        "cnn", tmp_path / "d")


def test_tiers_follow_the_stages():
    for family in testplan.FAMILIES:
        points = testplan.load(family)
        smoke, nightly = (testplan.tier_tests(t, family) for t in ("smoke", "nightly"))
        assert smoke == set().union(*(tp.test_names for tp in points if tp.stage == "V1"))
        assert nightly == set().union(*(tp.test_names for tp in points))
        assert smoke <= nightly
    # the engine's random, stress and network tests and the SbS network run are V2: nightly
    assert {"EngineRandomTest", "EngineStressTest", "EngineNetworkTest"} <= (
        testplan.tier_tests("nightly", "cnn") - testplan.tier_tests("smoke", "cnn"))
    assert "network_end_to_end" not in testplan.tier_tests("smoke", "sbs")


def test_coverage_is_reported_per_testpoint():
    merged = {"pool.mode": {"max": 3, "avg": 0}, "pool.len": {"1": 1}}
    rows = {r["testpoint"]: r for r in testplan.coverage_by_testpoint(merged, ["cnn"])}
    pool = rows["pool_bit_exact"]
    assert (pool["bins"], pool["hit"]) == (3, 2)
    assert "pool.clamp" in pool["unmeasured"] and "pool.mode" not in pool["unmeasured"]
    sweep = rows["engine_register_sweep"]
    assert sweep["waiver"] is None and sweep["unmeasured"] == ["eng.reg.access"]
    assert (sweep["bins"], sweep["hit"]) == (0, 0)
