"""Regression plumbing: job plan, merged coverage and JUnit output (no simulator needed)."""

import json
import xml.etree.ElementTree as ET

from verif.regress import merge_coverage_files, plan, write_junit, write_testpoint_coverage


def test_plan_covers_every_unit_sign_and_simulator():
    from refmodels.arith import list_units

    n_units = len([u for u in list_units() if u.builtin])
    assert n_units >= 11
    smoke = plan("smoke", ["icarus", "verilator"], None)
    arith = [j for j in smoke if "block" not in j]
    assert len(arith) == n_units * 2 * 2
    assert len([j for j in smoke if j.get("block") == "sbs_update"]) == 2 * 2
    # the layer unit's tests are V2 testpoints (verif/sbs/testplan.yml): nightly only
    assert len([j for j in smoke if j.get("block") == "sbs_layer"]) == 0
    cnn = [j for j in smoke if j.get("block") == "cnn" and not j.get("expect_fail")]
    assert len(cnn) == 6 and {j["sim"] for j in cnn} == {"icarus"}
    # scoreboard sensitivity (V1): a unit and the requantisation unit and MAC array with one
    # planted output-bit fault each, expected to fail
    faults = [j for j in smoke if j.get("expect_fail")]
    assert sorted(j["unit"] for j in faults) == ["cnn_mac:fault", "cnn_requant:fault",
                                                 "drum:k=4,width=8,signed=1,fault"]
    assert all(j.get("broken") is not None and j["sim"] == "icarus" for j in faults)
    assert {j["config"][1].get("mul") for j in cnn if j["config"][0] == "engine"} == {
        "int8", "hf6"}
    # smoke runs the engine's V1 tests only; nightly every test of every stage
    assert {j["test"] for j in cnn if j["config"][0] == "engine"} == {
        "EngineLayerTest,EngineRegTest"}
    nightly = plan("nightly", ["icarus"], 3)
    assert len([j for j in nightly if "block" not in j]) == n_units * 2 * (1 + 3 * 3)
    # 8 configurations x 3 seeds, plus a reset run and a mixed-stress run each
    assert len([j for j in nightly if j.get("block") == "sbs_update"]) == 8 * 3 + 8 * 2
    # digits x 2, mnist, the maxima / reset test under bursty stalls
    assert len([j for j in nightly if j.get("block") == "sbs_layer"]) == 4
    # 5 non-engine blocks once, 9 engine configurations x 3 seeds, MNIST int8 and HF6, two
    # planted faults
    assert len([j for j in nightly if j.get("block") == "cnn"]) == 5 + 9 * 3 + 2 + 2
    # the generator in a throwaway FuseSoC project: lint, sim on both simulators, synth
    assert len([j for j in nightly if j.get("block") == "fusesoc"]) == 1
    assert not [j for j in smoke if j.get("block") == "fusesoc"]
    assert {j["test"] for j in nightly} == {"ArithExhaustiveTest", "ArithRandomTest",
                                            "UpdateRandomTest", "network_end_to_end", "all",
                                            "EngineNetworkTest", "reset_during_traffic",
                                            "layer_maxima_and_reset",
                                            "lint,sim,sim_verilator,synth"}
    names = [j["unit"] + j["sim"] + str(j["seed"]) for j in nightly]
    assert len(names) == len(set(names))


def test_coverage_is_summed_bin_by_bin_and_holes_reported(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"unit": "x", "items": {"arith.result": {"exact": 3, "erroneous": 0}}}))
    b.write_text(json.dumps({"unit": "y", "items": {"arith.result": {"exact": 1, "erroneous": 0},
                                                    "arith.a_class": {"zero": 2}}}))
    merged = merge_coverage_files([a, b, tmp_path / "missing.json"], tmp_path)
    assert merged["arith.result"] == {"exact": 4, "erroneous": 0}
    md = (tmp_path / "coverage.md").read_text()
    assert "| arith.result | 1/2 | erroneous |" in md


def test_junit_counts_failures(tmp_path):
    rows = [dict(unit="u", sim="icarus", test="T", seed=1, ok=True, messages=[], seconds=1.0),
            dict(unit="v", sim="icarus", test="T", seed=1, ok=False, messages=["bad"], seconds=2)]
    write_junit(rows, tmp_path / "j.xml", 3.0)
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"


def test_coverage_per_testpoint_of_the_tier(tmp_path):
    merged = {"pool.mode": {"max": 2, "avg": 0}, "eng.rnd.kind": {"conv": 1}}
    rows = write_testpoint_coverage(merged, "smoke", tmp_path / "tp.md")
    assert {r["stage"] for r in rows} == {"V1"}
    md = (tmp_path / "tp.md").read_text()
    assert "| cnn | pool | pool_bit_exact | V1 | 1/2 | pool.len, " in md
    assert "engine_constrained_random" not in md  # V2: nightly only
    # a testpoint whose cover items no job sampled: 0 bins, the items named
    assert "| cnn | requant | requant_pipeline | V1 | 0/0 | rq.pipe.gap, rq.pipe.in_flight |" \
        in md
    nightly = write_testpoint_coverage(merged, "nightly", tmp_path / "n.md")
    rnd = next(r for r in nightly if r["testpoint"] == "engine_constrained_random")
    assert (rnd["hit"], rnd["bins"]) == (1, 1) and "eng.rnd.zp" in rnd["unmeasured"]
