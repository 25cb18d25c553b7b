"""``approxnn sbs``: report files, progress, errors, training through the command."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from approxnn import cli, sbs_cmd
from refmodels.sbs import load_network


def test_plugin_registered():
    assert "sbs_cmd" in cli.PLUGINS
    assert sbs_cmd.COMMAND == "sbs"
    args = cli.build_parser().parse_args(["sbs", "evaluate", "digits", "--T", "5"])
    assert args.command == "sbs" and args.sbs_command == "evaluate"


def test_evaluate_writes_reports(tmp_path, capsys):
    out = tmp_path / "rep"
    rc = cli.main(["sbs", "evaluate", "digits", "--T", "5,40", "--n", "12",
                   "--formats", "float32,e4m1-fixed", "--noise", "0,50", "--compare-rng",
                   "--noise-formats", "float32,log4",
                   "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    names = {p.name for p in out.iterdir()}
    assert names == {"digits_accuracy.csv", "digits_accuracy.md", "digits_vs_T.png",
                     "digits_vs_noise.png"}
    for png in ("digits_vs_T.png", "digits_vs_noise.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(open(out / "digits_accuracy.csv")))
    # 2 formats x 2 T + 2 noise formats x (2 noise levels + 2 generators)
    assert len(rows) == 12
    assert {r["config"] for r in rows if r["experiment"] == "T"} == {"float32", "e4m1-fixed"}
    assert {r["config"] for r in rows if r["experiment"] != "T"} == {"float32", "log4"}
    assert {r["experiment"] for r in rows} == {"T", "noise", "rng"}
    assert {r["rng"] for r in rows if r["experiment"] == "rng"} == {"xorshift", "mt19937"}
    assert all(r["n"] == "12" and 0 <= float(r["accuracy"]) <= 1 for r in rows)
    md = (out / "digits_accuracy.md").read_text()
    assert "| format | T=5 | T=40 |" in md and "## Accuracy against input noise (T=40)" in md
    assert "| format | xorshift | mt19937 | difference (pp) |" in md
    assert "| log4 |" in md and "| e4m1-fixed |" in md
    assert md in cap.out
    # one progress line per run, on stderr
    assert sum("accuracy" in line for line in cap.err.splitlines()) == 12


@pytest.mark.parametrize("argv, message", [
    (["--formats", "float32,fp8"], "unknown format 'fp8'"),
    (["--formats", "float32-fixed"], "needs a coded weight format"),
    (["--T", "0"], "positive"),
    (["--T", "ten"], "not an integer"),
    (["--noise", "150"], "outside 0..100"),
    (["--rng", "lcg"], "unknown rng"),
    (["--n", "0"], "--n"),
    (["--offset", "359"], "--offset"),
])
def test_evaluate_bad_input_exits_2(argv, message, capsys, tmp_path):
    rc = cli.main(["sbs", "evaluate", "digits", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("approxnn: error: ") and message in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_unknown_network_and_subcommand(capsys, tmp_path):
    assert cli.main(["sbs", "evaluate", "cifar10", "--out", str(tmp_path)]) == 2
    assert "unknown network 'cifar10'" in capsys.readouterr().err
    assert cli.main(["sbs", "train", "cifar10", "--out", str(tmp_path)]) == 2
    assert "unknown network" in capsys.readouterr().err
    assert cli.main(["sbs", "train", "digits", "--quantise", "float32",
                     "--out", str(tmp_path)]) == 2
    assert "coded weight format" in capsys.readouterr().err
    assert cli.main(["sbs", "train", "digits", "--quantise", "e9m9",
                     "--out", str(tmp_path)]) == 2
    capsys.readouterr()
    assert cli.main(["sbs", "train", "digits", "--noise-augment", "0",
                     "--out", str(tmp_path)]) == 2
    assert "--noise-augment" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    assert cli.main(["sbs"]) == 2
    assert "sub-command" in capsys.readouterr().err


def test_train_tiny_subset_then_evaluate_file(tmp_path, capsys):
    rc = cli.main(["sbs", "train", "digits", "--out", str(tmp_path), "--epochs", "1",
                   "--n-train", "100"])
    assert rc == 0, capsys.readouterr().err
    net = load_network(tmp_path / "digits.json")
    assert net.meta["n_train"] == 100
    for lay, w in zip(net.layers, net.weights, strict=True):
        s = w.sum(axis=(0, 1, 2), dtype=np.float64)
        assert np.allclose(s, 1.0, atol=1e-5), lay
        assert np.all(w >= 0)
    capsys.readouterr()
    rc = cli.main(["sbs", "evaluate", str(tmp_path / "digits.json"), "--T", "100", "--n", "30",
                   "--out", str(tmp_path / "rep")])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    rows = list(csv.DictReader(open(tmp_path / "rep" / "digits_accuracy.csv")))
    assert len(rows) == 3 and float(rows[0]["accuracy"]) > 0.5


def test_offset_selects_later_patterns(tmp_path, capsys):
    """--offset K --seed K runs patterns K.. with the spike seeds they have in a full run."""
    from refmodels.sbs.evaluate import accuracy, heldout_split, load_named

    out = tmp_path / "rep"
    rc = cli.main(["sbs", "evaluate", "digits", "--T", "30", "--formats", "float32",
                   "--offset", "7", "--seed", "7", "--n", "9", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    rows = list(csv.DictReader(open(out / "digits_accuracy.csv")))
    assert len(rows) == 1 and rows[0]["n"] == "9"
    net, _ = load_named("digits")
    x, y = heldout_split("digits")
    assert float(rows[0]["accuracy"]) == pytest.approx(accuracy(net, x[7:16], y[7:16], 30,
                                                                seed=7))
