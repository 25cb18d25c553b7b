"""``approxnn cnn``: unit lists, Pareto front, reports and errors."""

import csv
import json
import re
import subprocess
import sys

import pytest
from approxnn import cli, cnn_cmd


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "approxnn", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_pareto_front_hand_made():
    # (LUTs, accuracy): maximise accuracy, minimise LUTs
    pts = [
        (100, 0.90),  # 0 front: cheapest
        (120, 0.85),  # 1 dominated by 0
        (150, 0.95),  # 2 front
        (150, 0.93),  # 3 dominated by 2 (same cost, less accurate)
        (200, 0.95),  # 4 dominated by 2 (same accuracy, dearer)
        (250, 0.99),  # 5 front
        (90, 0.10),   # 6 front: cheapest of all, however bad
        (100, 0.90),  # 7 duplicate of 0: only the first is kept
    ]
    assert cnn_cmd.pareto_front_max(pts) == [6, 0, 2, 5]
    assert cnn_cmd.pareto_front_max([]) == []
    assert cnn_cmd.pareto_front_max([(5, 0.5)]) == [0]


def test_unit_lists():
    assert cnn_cmd.parse_units("exact,drum:k=4,mitchell") == [
        "exact:width=8,signed=1", "drum:k=4,width=8,signed=1", "mitchell:width=8,signed=1"]
    assert cnn_cmd.parse_units("drum:k=4,width=8,signed=0, trunc:t=8") == [
        "drum:k=4,width=8,signed=0", "trunc:t=8,width=8,signed=1"]
    lib = cnn_cmd.library_units()
    assert len(lib) == len(set(lib)) >= 12
    names = {u.split(":")[0] for u in lib}
    assert names == {"exact", "trunc", "mitchell", "drum", "kulkarni", "etm", "roba"}
    assert all(u.endswith("width=8,signed=1") for u in lib)
    with pytest.raises(ValueError, match="valid multipliers: exact"):
        cnn_cmd.parse_units("exact,wallace")
    with pytest.raises(ValueError, match="8-bit"):
        cnn_cmd.parse_units("drum:k=4,width=12")
    with pytest.raises(ValueError, match="valid: digits"):
        cnn_cmd.resolve_network("cifar")


def test_evaluate_writes_reports(tmp_path, monkeypatch, capsys):
    units = ["exact:width=8,signed=1", "etm:k=4,width=8,signed=1"]
    cache = {"flow": cnn_cmd.SYNTH_FLOW,
             "units": {units[0]: {"luts": 187, "carry4": 12, "depth": 17, "muxf": 33},
                       units[1]: {"luts": 95, "carry4": 10, "depth": 20, "muxf": 15}}}
    (tmp_path / "mul_costs.json").write_text(json.dumps(cache))

    def no_synth(*a, **k):
        raise AssertionError("cached costs must not be synthesised again")

    monkeypatch.setattr("approxnn.eda.synth.synth_cost", no_synth)
    rc = cli.main(["cnn", "evaluate", "digits", "--units", "exact,etm:k=4", "--finetune",
                   "--images", "60", "--train-images", "150", "--epochs", "2",
                   "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr()
    assert "| int8 etm | etm:k=4,width=8,signed=1 | 95 |" in out.out
    assert "[2/2] etm:k=4,width=8,signed=1" in out.err  # progress per unit on stderr
    for name in ("digits_accuracy.csv", "digits_accuracy.md", "digits_pareto.png"):
        assert (tmp_path / name).stat().st_size > 100, name
    assert (tmp_path / "digits_pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((tmp_path / "digits_accuracy.csv").open()))
    assert [r["arithmetic"] for r in rows][:2] == ["float32", "int8 exact (TFLite)"]
    by_unit = {r["unit"]: r for r in rows if r["unit"]}
    assert list(by_unit) == units
    assert all(r["test_images"] == "60" for r in rows)
    assert by_unit[units[1]]["luts"] == "95"
    assert float(by_unit[units[1]]["acc"]) < 0.8  # the bad unit before fine-tuning
    assert float(by_unit[units[1]]["acc_ft"]) > float(by_unit[units[1]]["acc"])
    exact = by_unit[units[0]]
    assert exact["acc"] == rows[1]["acc"]  # the exact signed unit is the TFLite path
    assert json.loads((tmp_path / "mul_costs.json").read_text()) == cache


def test_bad_names_exit_2(tmp_path):
    r = run_cli("cnn", "evaluate", "digits", "--units", "exact,nosuchmul", "--no-synth",
                "--out", tmp_path)
    assert r.returncode == 2, r.stderr
    assert "approxnn: error: unknown multiplier 'nosuchmul'" in r.stderr
    assert "valid multipliers: exact, trunc" in r.stderr
    assert not list(tmp_path.iterdir())
    r = run_cli("cnn", "evaluate", "lenet5", "--no-synth", "--out", tmp_path)
    assert r.returncode == 2 and "unknown network 'lenet5'" in r.stderr
    assert "digits" in r.stderr and "mnist" in r.stderr
    r = run_cli("cnn", "train", "cifar")
    assert r.returncode == 2 and "valid: digits, mnist" in r.stderr
    r = run_cli("cnn", "quantise", "digits", "--to", "int8", "--unit", "drum:k=1")
    assert r.returncode == 2 and "approxnn: error:" in r.stderr
    r = run_cli("cnn")
    assert r.returncode == 2 and "train, quantise, evaluate" in r.stderr


def test_quantise_int8_qat_through_a_unit(tmp_path):
    r = run_cli("cnn", "quantise", "digits", "--to", "int8", "--qat", "--unit", "etm:k=4",
                "--epochs", "2", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "digits_ft_etm_k4_s.json").is_file()
    assert (tmp_path / "digits_ft_etm_k4_s.npz").is_file()
    m = [float(x) for x in re.findall(r"([0-9.]+) %", r.stdout)]
    assert len(m) == 2 and m[1] > m[0]  # PTQ through the unit, then after fine-tuning
