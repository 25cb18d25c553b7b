"""`approxnn cnn hardware`: cycles from RTL simulation, report files, bad input."""

import json

import pytest

from approxnn.cli import main
from approxnn.cnn_hardware import (
    formula_cycles,
    markdown,
    merge_runs,
    parse_configs,
    summarise,
)
from approxnn.eda.sim import simulator_available
from verif.common.tiers import nightly


def test_parse_configs_accepts_and_refuses():
    assert parse_configs("4:int8, 8:drum:k=4,signed=1 8:mitchell,signed=0") == [
        {"lanes": 4, "mul": "int8"}, {"lanes": 8, "mul": "drum:k=4,width=8,signed=1"},
        {"lanes": 8, "mul": "mitchell:width=8,signed=0"}]
    assert parse_configs("4:hf6") == [{"lanes": 4, "mul": "hf6"}]
    for bad in ("5:int8", "8:foo", "int8", "8:drum:k=99", ""):
        with pytest.raises(ValueError):
            parse_configs(bad)


def test_bad_configuration_exits_2(capsys):
    assert main(["cnn", "hardware", "--configs", "3:int8"]) == 2
    err = capsys.readouterr().err
    assert "lanes must be one of (1, 2, 4, 8, 16)" in err
    assert main(["cnn", "hardware", "--configs", "4:nosuchunit"]) == 2
    assert "valid multipliers: exact" in capsys.readouterr().err
    assert main(["cnn", "hardware", "--images", "0"]) == 2
    assert "--images must be at least 1" in capsys.readouterr().err


def test_runs_of_a_layer_are_summed():
    # fc1 with 120 outputs ran as 64 + 56 channels; the second image's runs are not counted
    run = {"layer": "fc1", "kind": "fc", "in": [1, 2, 128], "filter": [1, 2], "image": 0}
    runs = [dict(run, out=[1, 1, 64], macs=64 * 256, cycles=4395),
            dict(run, out=[1, 1, 56], macs=56 * 256, cycles=3882),
            dict(run, out=[1, 1, 64], macs=64 * 256, cycles=4395, image=1)]
    (lay,) = merge_runs(runs, 8, False)
    assert lay["name"] == "fc1" and lay["runs"] == 2 and lay["out"] == [1, 1, 120]
    assert lay["macs"] == 120 * 256 and lay["cycles"] == 4395 + 3882
    assert lay["formula"] == formula_cycles(runs[0], 8) + formula_cycles(runs[1], 8)


def test_formula_and_summary():
    fc = {"name": "fc", "in": [1, 1, 64], "out": [1, 1, 10], "filter": [1, 1], "macs": 640,
          "cycles": 480}
    # 14 + 64 + 3*64 + 3*65 + 4 + 11 (engine README)
    assert formula_cycles(fc, 4) == 480
    assert formula_cycles(fc, 4, hf6=True) == 480
    pool = {"name": "pool1", "kind": "maxpool", "in": [8, 8, 8], "out": [4, 4, 8],
            "filter": [2, 2]}
    # 16 + 512 + 128 windows of 4 taps and a start cycle + 4 (3 for HF6)
    assert formula_cycles(pool, 4) == 1172 and formula_cycles(pool, 4, hf6=True) == 1171
    fc["formula"] = 480
    row = summarise({"lanes": 4, "mul": "int8", "label": "int8 packed", "layers": [fc]})
    assert row["mac_per_cycle"] == round(640 / 480, 3)
    assert row["gops"] == round(2 * 640 / 480 * 0.2, 3) and row["peak_gops"] == 1.6
    text = markdown([row])
    assert "| 4 | int8 packed | fc | 640 | 480 | 480 |" in text
    assert "| 7313 | 10330 | 20 | 15 |" in text and "53200" in text


@pytest.mark.sim
@nightly  # the engine's cycles are checked in the default suite by verif/zynq/test_program.py
def test_cycles_only_report(tmp_path, capsys):
    if not simulator_available("icarus"):
        pytest.skip("needs icarus")
    out = tmp_path / "hw"
    assert main(["cnn", "hardware", "--configs", "16:int8", "--no-synth", "--out",
                 str(out)]) == 0
    data = json.loads((out / "hardware.json").read_text())
    row = data["engines"][0]
    assert row["lanes"] == 16 and [lay["name"] for lay in row["layers"]] == [
        "conv1", "pool1", "conv2", "pool2", "fc"]
    assert [lay["macs"] for lay in row["layers"]] == [4608, 0, 18432, 0, 640]
    # at most P MACs per cycle, the input map loaded first, and the RTL close to the README
    # formula (which assumes T + 1 >= P for the spacing of last taps: a few cycles over here)
    assert 0 < row["mac_per_cycle"] < 16
    for lay in row["layers"]:
        h, w, c = lay["in"]
        assert lay["cycles"] > max(lay["macs"] / 16, h * w * c), lay
        assert abs(lay["cycles"] - lay["formula"]) <= 0.02 * lay["formula"], lay
    assert row["cycles"] == sum(lay["cycles"] for lay in row["layers"])
    assert "cost" not in row and not (out / "hardware_synth.json").exists()
    assert (out / "hardware.csv").read_text().startswith("lanes,mul,label")
    assert (out / "hardware.png").read_bytes()[:4] == b"\x89PNG"
    assert "| 16 | int8 packed | conv2 | 18432 |" in capsys.readouterr().out
